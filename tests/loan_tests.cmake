# Zero-copy loans (issue 5, SPEC M9).
ipcx_add_test(test_loan SOURCES test_loan.c TIMEOUT 120 LABELS concurrency)
