ipcx_add_test(test_queue SOURCES test_queue.c TIMEOUT 60)
ipcx_add_test(test_fastpath SOURCES test_fastpath.c TIMEOUT 60)
ipcx_add_test(test_crash SOURCES test_crash.c TIMEOUT 120 LABELS concurrency)
ipcx_add_test(test_faults SOURCES test_faults.c TIMEOUT 60)
