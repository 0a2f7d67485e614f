ipcx_add_test(test_queue SOURCES test_queue.c TIMEOUT 60)
