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

/*
 * A deadline: the caller's relative timeout, turned into an absolute
 * CLOCK_MONOTONIC time only when a wait really begins, so that an operation
 * that succeeds at once never reads the clock (a system call on some VMs).
 */
struct ipcx__deadline {
    int64_t timeout_ns; /* 0: try once; INT64_MAX: no limit */
    int64_t at;         /* absolute ns once computed, else -1 */
};

#define IPCX__NEVER INT64_MAX

int64_t ipcx__now_ns(void);

/* Start a deadline TIMEOUT_NS from the first wait; -EINVAL if negative. */
int ipcx__deadline_init(struct ipcx__deadline *d, int64_t timeout_ns);

/*
 * Wake sleepers after a state change the caller has already published.
 * N is how many to wake (INT32_MAX for all).
 */
void ipcx__event_notify(struct ipcx__event *ev, int n);

/* How often a caller blocked by another process's unfinished operation
 * checks whether that process died (nobody else would wake it). */
#define IPCX__STUCK_CHECK_NS 20000000

/* An operation to wait for. */
struct ipcx__op {
    /* Try once: a result, -EAGAIN (wait for EV), or -EINPROGRESS (blocked
     * by another process's unfinished operation: wait, and call UNSTICK
     * every IPCX__STUCK_CHECK_NS). */
    int (*try)(void *arg);
    /* Take back what dead processes left unfinished; may be NULL. */
    void (*unstick)(void *arg);
    void *arg;
};

/*
 * Run OP until it returns anything but -EAGAIN / -EINPROGRESS, waiting on EV
 * between attempts, for at most until the deadline D.  Returns the result,
 * or -EAGAIN (timeout 0) / -ETIMEDOUT when time runs out.  WAITING, if not
 * NULL, is incremented while the caller sleeps (for ipcx stat / ps).
 */
int ipcx__wait(struct ipcx__event *ev, const struct ipcx__op *op,
               struct ipcx__deadline *d, _Atomic uint32_t *waiting);

/* Sleep on EV until it is notified, its value is not EXPECT, or DEADLINE. */
int ipcx__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t deadline);
void ipcx__futex_wake(_Atomic uint32_t *word, int n);

#endif
