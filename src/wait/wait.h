/*
 * wait.h - internal: every sleep in ipcx happens here.
 *
 * An event is a futex word plus a count of sleepers, both in shared memory.
 * A notifier pays a system call only when the count says somebody sleeps.
 * ipcx__wait() runs an operation until it stops answering -EAGAIN: first a
 * bounded spin (cheap when the peer is running on another CPU), then sleeps
 * on the event until the absolute CLOCK_MONOTONIC deadline.
 */
#ifndef IPCX_WAIT_WAIT_H
#define IPCX_WAIT_WAIT_H

#include <stdatomic.h>
#include <stdint.h>

struct ipcx__event {
    _Atomic uint32_t seq;     /* futex word: bumped by each notify */
    _Atomic uint32_t waiters; /* callers between prepare and finish */
};

/* Deadlines are absolute CLOCK_MONOTONIC nanoseconds; these two are special:
 * IPCX__NOWAIT (try once) and IPCX__NEVER (no deadline). */
#define IPCX__NOWAIT 0
#define IPCX__NEVER  INT64_MAX

int64_t ipcx__now_ns(void);

/* Turn a relative timeout into a deadline; -EINVAL if negative. */
int ipcx__deadline(int64_t timeout_ns, int64_t *deadline);

/*
 * Wake sleepers after a state change the caller has already published.
 * N is how many to wake (INT32_MAX for all).
 */
void ipcx__event_notify(struct ipcx__event *ev, int n);

/*
 * Call TRY(ARG) until it returns anything but -EAGAIN, waiting on EV between
 * attempts, for at most until DEADLINE.  Returns TRY's result, or -EAGAIN
 * (DEADLINE == IPCX__NOWAIT) / -ETIMEDOUT when time runs out.  If WAITING is
 * not NULL it is set to 1 while the caller sleeps (for ipcx stat / ps).
 */
int ipcx__wait(struct ipcx__event *ev, int (*try)(void *), void *arg,
               int64_t deadline, _Atomic uint32_t *waiting);

/* Sleep on EV until it is notified, its value is not EXPECT, or DEADLINE. */
int ipcx__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t deadline);
void ipcx__futex_wake(_Atomic uint32_t *word, int n);

#endif
