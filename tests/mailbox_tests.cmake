# Mailbox and namespace tests (issue 2).  LABELS concurrency: also run
# under ThreadSanitizer.
ipcx_add_test(test_names SOURCES test_names.c TIMEOUT 60)
ipcx_add_test(test_mailbox_basic SOURCES test_mailbox_basic.c TIMEOUT 120)
ipcx_add_test(test_mailbox_perm SOURCES test_mailbox_perm.c TIMEOUT 60)
ipcx_add_test(test_rendezvous SOURCES test_rendezvous.c TIMEOUT 120
              LABELS concurrency)
ipcx_add_test(test_unbounded SOURCES test_unbounded.c TIMEOUT 120)
ipcx_add_test(test_policy SOURCES test_policy.c TIMEOUT 120
              LABELS concurrency)
ipcx_add_test(test_mpmc SOURCES test_mpmc.c TIMEOUT 300
              LABELS concurrency)
