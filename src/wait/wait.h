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
    _Atomic uint32_t seq; /* futex word: bumped by each waking notify */
    /* Sleepers between announcing themselves and leaving (the low bits),
     * and IPCX__EV_ARMED: some sleeper announced itself since the last
     * notify that woke them all.  A notify that finds it clear makes no
     * system call, so a burst of notifies before the sleepers have run
     * pays for one wake, not one each. */
    _Atomic uint32_t waiters;
};
#define IPCX__EV_ARMED 0x80000000u
/* A channel end in descriptor mode: every notify must ring (channel.c). */
#define IPCX__EV_POLLED 0x40000000u
#define IPCX__EV_COUNT  0x3fffffffu

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
/* The absolute deadline (IPCX__NEVER for none), fixed on first use. */
int64_t ipcx__deadline_at(struct ipcx__deadline *d);

/*
 * Wake sleepers after a state change the caller has already published.
 * N is how many to wake (INT32_MAX for all).  A notify that wakes every
 * sleeper (N at least their number) disarms the event; later notifies are
 * free until a sleeper announces itself again.
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

/*
 * How a waiter sleeps once it has announced itself and re-checked: by
 * default on the event's futex word.  A channel sleeps in poll() instead, so
 * that its peer's death (a socket hang-up) wakes it too.  SLEEP must return
 * by UNTIL, and early if EV's seq is no longer KEY or the peer notified it;
 * spurious returns are harmless (the caller re-checks).
 */
struct ipcx__sleeper {
    void (*sleep)(void *ctx, struct ipcx__event *ev, uint32_t key,
                  int64_t until);
    void *ctx;
};

/* ipcx__wait() sleeping through SL (NULL: the futex). */
int ipcx__wait_with(struct ipcx__event *ev, const struct ipcx__op *op,
                    struct ipcx__deadline *d, _Atomic uint32_t *waiting,
                    const struct ipcx__sleeper *sl);

/*
 * poll() FDS (N of them) until the absolute deadline AT (IPCX__NEVER: no
 * limit): poll()'s count, 0 once AT has passed, -1 if interrupted.
 */
struct pollfd;
int ipcx__poll_at(struct pollfd *fds, unsigned n, int64_t at);

/* ipcx__poll_at() for deadline D: 0 (something is ready, or a signal came:
 * re-check), -EAGAIN (timeout 0) or -ETIMEDOUT. */
int ipcx__poll_deadline(struct pollfd *fds, unsigned n,
                        struct ipcx__deadline *d);

/* Sleep on EV until it is notified, its value is not EXPECT, or DEADLINE. */
int ipcx__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t deadline);
void ipcx__futex_wake(_Atomic uint32_t *word, int n);

#endif
