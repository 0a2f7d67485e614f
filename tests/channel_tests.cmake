# Channel, connection port and msg_rpc tests (issue 3).  LABELS concurrency:
# also run under ThreadSanitizer (they fork peers and share handles between
# threads).
ipcx_add_test(test_channel SOURCES test_channel.c chanutil.c TIMEOUT 120
              LABELS concurrency)
ipcx_add_test(test_rpc SOURCES test_rpc.c chanutil.c TIMEOUT 120
              LABELS concurrency)
ipcx_add_test(test_channel_crash SOURCES test_channel_crash.c chanutil.c TIMEOUT 120
              LABELS concurrency)
