# Cleanup of leftovers: ipcx_gc() and ipcx gc (issue 4, point 2).
ipcx_add_test(test_gc SOURCES test_gc.c TIMEOUT 120 LABELS concurrency)
