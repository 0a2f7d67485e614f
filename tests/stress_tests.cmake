# Lost-wakeup stress (issue 5): see test_stress_wakeup.c.  Thousands of
# short ping-pong and burst runs between forked processes (mailboxes and
# channels, pinned to two CPUs and to one, with and without spinning,
# under changing load); a run unfinished after 2 s, or an operation
# blocked 0.9 s, fails the test (time the whole machine stalled, which
# per-CPU canary processes measure, excepted).  About 30 s (20 s in a
# sanitizer build); IPCX_STRESS_SECONDS sets the time, scripts/stress.sh
# runs the long version.  Not labelled concurrency: too slow under
# ThreadSanitizer.
ipcx_add_test(test_stress_wakeup SOURCES test_stress_wakeup.c TIMEOUT 180)
