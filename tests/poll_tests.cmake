# ipcx_poll(), mailbox descriptors and anonymous mailboxes (SPEC M8, K1).
# LABELS concurrency: also run under ThreadSanitizer.
ipcx_add_test(test_poll SOURCES test_poll.c chanutil.c TIMEOUT 120
              LABELS concurrency)
ipcx_add_test(test_anon SOURCES test_anon.c chanutil.c TIMEOUT 120
              LABELS concurrency)
