# Crash-safety and hostile-peer tests (issue 4).  Not labelled concurrency:
# they fork many processes and are too slow under ThreadSanitizer.
# test_torture: IPCX_TORTURE_KILLS sets the number of kills (default 3600);
# test_torture_channel: IPCX_TORTURE_CHAN_KILLS (default 3000);
# scripts/torture.sh runs the long versions.
ipcx_add_test(test_torture SOURCES test_torture.c TIMEOUT 300)
ipcx_add_test(test_torture_channel SOURCES test_torture_channel.c TIMEOUT 300)
ipcx_add_test(test_hostile SOURCES test_hostile.c TIMEOUT 120)
