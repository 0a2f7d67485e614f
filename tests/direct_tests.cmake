# Direct communication: inboxes addressed by pid (issue 3, M4).
ipcx_add_test(test_direct SOURCES test_direct.c TIMEOUT 60 LABELS concurrency)
