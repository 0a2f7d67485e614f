# The notify mailbox (SPEC K3): process exits, channel peers gone, mailboxes
# destroyed.  LABELS concurrency: also run under ThreadSanitizer.
ipcx_add_test(test_notify SOURCES test_notify.c chanutil.c TIMEOUT 60
              LABELS concurrency)
