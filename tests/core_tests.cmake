ipcx_add_test(test_queue SOURCES test_queue.c TIMEOUT 60)
ipcx_add_test(test_fastpath SOURCES test_fastpath.c TIMEOUT 60)
ipcx_add_test(test_crash SOURCES test_crash.c TIMEOUT 120 LABELS concurrency)
ipcx_add_test(test_faults SOURCES test_faults.c TIMEOUT 60)
# Bad input everywhere: NULL, closed and foreign handles (issue 4, point 6).
ipcx_add_test(test_badinput SOURCES test_badinput.c chanutil.c TIMEOUT 60)
