# Shared-memory region tests (S1, S2, S3).
ipcx_add_test(test_region SOURCES test_region.c TIMEOUT 60)
