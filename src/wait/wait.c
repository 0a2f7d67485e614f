#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wait/wait.h"

int64_t ipcx__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ipcx__deadline_init(struct ipcx__deadline *d, int64_t timeout_ns)
{
    if (timeout_ns < 0) {
        return -EINVAL;
    }
    d->timeout_ns = timeout_ns;
    d->at = -1;
    return 0;
}

/* The absolute deadline, computed on first use. */
int64_t ipcx__deadline_at(struct ipcx__deadline *d)
{
    if (d->at < 0) {
        int64_t now = ipcx__now_ns();
        d->at = d->timeout_ns >= INT64_MAX - now ? IPCX__NEVER
                                                 : now + d->timeout_ns;
    }
    return d->at;
}

int ipcx__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != IPCX__NEVER) {
        ts.tv_sec = deadline / 1000000000;
        ts.tv_nsec = deadline % 1000000000;
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, so a wait
     * restarted after EINTR does not stretch the deadline.  Not PRIVATE: the
     * word is in memory shared between processes. */
    long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expect,
                      tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc < 0 && errno == ETIMEDOUT) {
        return -ETIMEDOUT;
    }
    return 0; /* woken, value changed (EAGAIN) or interrupted: re-check */
}

int ipcx__poll_at(struct pollfd *fds, unsigned n, int64_t at)
{
    struct timespec ts, *tsp = NULL;
    if (at != IPCX__NEVER) {
        int64_t left = at - ipcx__now_ns();
        left = left < 0 ? 0 : left;
        ts.tv_sec = left / 1000000000;
        ts.tv_nsec = left % 1000000000;
        tsp = &ts;
    }
    return ppoll(fds, n, tsp, NULL);
}

int ipcx__poll_deadline(struct pollfd *fds, unsigned n,
                        struct ipcx__deadline *d)
{
    if (d->timeout_ns == 0) {
        return -EAGAIN;
    }
    int64_t at = ipcx__deadline_at(d);
    if (at != IPCX__NEVER && ipcx__now_ns() >= at) {
        return -ETIMEDOUT;
    }
    return ipcx__poll_at(fds, n, at) == 0 ? -ETIMEDOUT : 0;
}

void ipcx__futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

void ipcx__event_notify(struct ipcx__event *ev, int n)
{
    /* The caller's state change (a release store or RMW) must be ordered
     * before our read of `waiters`: this fence pairs with the seq_cst RMW
     * that sets ARMED in announce().  Either the sleeper's re-check sees
     * the new state, or we see ARMED and wake it (Dekker). */
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t w = atomic_load_explicit(&ev->waiters, memory_order_relaxed);
    if (!(w & IPCX__EV_ARMED)) {
        /* Nobody announced since the last wake-all: every sleeper counted
         * was woken by it (and re-arms before sleeping again), and a new
         * one's re-check sees our change.  No system call. */
        return;
    }
    if ((w & IPCX__EV_COUNT) <= (uint32_t)n) {
        /* We wake them all: disarm.  Only the caller that clears ARMED
         * needs to wake; a concurrent notify that lost the race finds it
         * clear and returns, its change seen by the sleepers we wake. */
        w = atomic_fetch_and_explicit(&ev->waiters, ~IPCX__EV_ARMED,
                                      memory_order_relaxed);
        if (!(w & IPCX__EV_ARMED)) {
            return;
        }
    }
    /* Bumping seq makes a sleeper that read the old value and has not yet
     * entered the kernel fail its futex compare instead of sleeping. */
    atomic_fetch_add_explicit(&ev->seq, 1, memory_order_release);
    ipcx__futex_wake(&ev->seq, n);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline void spin_round(void)
{
    /* Two pauses: more made a 64-byte round trip on two CPUs about 30%
     * slower (0.65 against 0.48 us, quick bench), fewer poll the shared
     * line harder for no measured gain. */
    for (int k = 0; k < 2; k++) {
        cpu_relax();
    }
}

/*
 * How many rounds a waiter spins before sleeping.  The budget is a time,
 * IPCX_SPIN_NS (default 20 us; 0 on a single CPU, where the peer needs
 * ours), converted once into rounds: reading the clock inside the loop
 * would itself be a system call on some virtual machines.
 */
static int pending(int rc)
{
    return rc == -EAGAIN || rc == -EINPROGRESS;
}

static int64_t spin_rounds(const struct ipcx__op *op, int *rc)
{
    static _Atomic int64_t rounds = -1;
    int64_t r = atomic_load_explicit(&rounds, memory_order_relaxed);
    if (r >= 0) {
        return r;
    }
    const char *env = getenv("IPCX_SPIN_NS");
    int64_t ns = env != NULL ? atoll(env) : 20000;
    if (ns < 0 || ns > 10000000) {
        ns = 20000;
    }
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        ns = 0;
    }
    if (ns == 0) {
        /* No spin at all: nothing to calibrate (and no calibration spin,
         * which on one CPU would only delay the peer). */
        atomic_store_explicit(&rounds, 0, memory_order_relaxed);
        return 0;
    }
    /* Calibrate on the caller's own operation: time up to 256 rounds.
     * If it succeeds within fewer than 64, the two clock reads (some
     * 300 ns on a VM) would dominate the estimate: one process in three
     * got a budget of 3 us instead of 20, and its round trips fell into
     * the sleeping mode (50 us) for good.  So such a wait, whose spin is
     * over anyway, stores nothing and a later one calibrates. */
    int64_t t0 = ipcx__now_ns();
    int64_t k;
    for (k = 0; k < 256 && pending(*rc); k++) {
        spin_round();
        *rc = op->try(op->arg);
    }
    int64_t per = (ipcx__now_ns() - t0) / (k > 0 ? k : 1);
    if (k < 64) {
        return 0; /* *rc is no longer pending: no budget needed now */
    }
    r = ns / (per > 0 ? per : 1);
    atomic_store_explicit(&rounds, r, memory_order_relaxed);
    return r;
}

/*
 * Adaptive spinning, per process.  Spinning pays only while the peer that
 * will satisfy us runs on another CPU; on the same CPU (or with more
 * runnable processes than CPUs) it only delays that peer.  So a process
 * that failed FAILS_OFF spins in a row stops spinning, except that one
 * wait in PROBE_EVERY probes; any successful spin turns spinning back on.
 * (Shrinking the budget step by step does not work: a short spin rarely
 * succeeds, so the budget never grows back.)
 *
 * Two processes that both stopped spinning hold each other there: each
 * one's answer comes only after a futex wake of the other (tens of
 * microseconds on a VM), longer than a normal budget, so a probe with it
 * fails.  Round trips then stay some 100x slower than they could be.  So
 * a probe spins PROBE_LONGER budgets, enough to see a sleeping peer wake
 * and answer; and a probe that succeeds keeps that longer budget for the
 * next EXTEND waits, long enough for the peer's own probe to find us
 * spinning, which brings it back too.  On one CPU a probe keeps failing
 * (the peer cannot run while we spin) and costs one long spin in
 * PROBE_EVERY waits.
 *
 * Relaxed atomics: a heuristic, where lost updates between threads are
 * harmless.
 */
#define FAILS_OFF    4
#define PROBE_EVERY  256
#define PROBE_LONGER 5
#define EXTEND       512

static _Atomic unsigned spin_fails;
static _Atomic unsigned spin_probe;
static _Atomic unsigned spin_extended; /* waits left with the long budget */

/* This wait's budget in rounds; *PROBING if it is a probe. */
static int64_t spin_budget(int64_t rounds, int *probing)
{
    *probing = 0;
    if (atomic_load_explicit(&spin_fails, memory_order_relaxed) < FAILS_OFF) {
        unsigned ext =
            atomic_load_explicit(&spin_extended, memory_order_relaxed);
        if (ext == 0) {
            return rounds;
        }
        atomic_store_explicit(&spin_extended, ext - 1, memory_order_relaxed);
        return rounds * PROBE_LONGER;
    }
    unsigned n =
        atomic_fetch_add_explicit(&spin_probe, 1, memory_order_relaxed);
    if (n % PROBE_EVERY != 0) {
        return 0;
    }
    *probing = 1;
    return rounds * PROBE_LONGER;
}

static void spin_learn(int succeeded, int probing)
{
    unsigned f = atomic_load_explicit(&spin_fails, memory_order_relaxed);
    f = succeeded ? 0 : (f < FAILS_OFF ? f + 1 : f);
    atomic_store_explicit(&spin_fails, f, memory_order_relaxed);
    if (succeeded && probing) {
        atomic_store_explicit(&spin_extended, EXTEND, memory_order_relaxed);
    }
}

static int spin(const struct ipcx__op *op, int rc)
{
    int probing;
    int64_t rounds = spin_budget(spin_rounds(op, &rc), &probing);
    if (rounds == 0) {
        return rc;
    }
    for (int64_t i = 0; i < rounds && pending(rc); i++) {
        spin_round();
        rc = op->try(op->arg);
    }
    spin_learn(!pending(rc), probing);
    return rc;
}

/* Count ourselves among EV's sleepers and arm it, in one RMW.  seq_cst
 * pairs with the fence in ipcx__event_notify(): after this, a notify either
 * sees ARMED or published its change before it, which our re-check sees. */
static void announce(struct ipcx__event *ev)
{
    uint32_t w = atomic_load_explicit(&ev->waiters, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &ev->waiters, &w, (w + 1) | IPCX__EV_ARMED, memory_order_seq_cst,
        memory_order_relaxed)) {
    }
}

/* Uncount ourselves; the last sleeper out also disarms, so that the next
 * notify with nobody asleep costs no system call.  Relaxed: only the count
 * matters here, and a stale ARMED costs one needless wake at most. */
static void leave(struct ipcx__event *ev)
{
    uint32_t w = atomic_load_explicit(&ev->waiters, memory_order_relaxed);
    uint32_t next;
    do {
        next = (w & IPCX__EV_COUNT) <= 1 ? w & IPCX__EV_POLLED : w - 1;
    } while (!atomic_compare_exchange_weak_explicit(
        &ev->waiters, &w, next, memory_order_relaxed, memory_order_relaxed));
}

/* One sleep: announce ourselves, re-check, then block until notified or
 * UNTIL.  Returns the re-check's result. */
static int sleep_once(struct ipcx__event *ev, const struct ipcx__op *op,
                      int64_t until, const struct ipcx__sleeper *sl)
{
    /* Acquire: a notify that bumped seq before this load also published its
     * state change, which the re-check below then sees. */
    uint32_t key = atomic_load_explicit(&ev->seq, memory_order_acquire);
    announce(ev);
    int rc = op->try(op->arg);
    if (pending(rc) && sl != NULL) {
        sl->sleep(sl->ctx, ev, key, until);
    } else if (pending(rc)) {
        ipcx__futex_wait(&ev->seq, key, until);
    }
    leave(ev);
    return rc;
}

/* Sleep until notified; while blocked by another process, only for a slice
 * at a time, checking after each whether that process died. */
static int sleep_loop(struct ipcx__event *ev, const struct ipcx__op *op,
                      int64_t deadline, const struct ipcx__sleeper *sl)
{
    for (;;) {
        int64_t until = deadline;
        int rc = op->try(op->arg);
        if (rc == -EINPROGRESS) {
            int64_t slice = ipcx__now_ns() + IPCX__STUCK_CHECK_NS;
            until = slice < deadline ? slice : deadline;
        }
        if (pending(rc)) {
            rc = sleep_once(ev, op, until, sl);
        }
        if (!pending(rc)) {
            return rc;
        }
        if (rc == -EINPROGRESS && op->unstick != NULL) {
            op->unstick(op->arg);
        }
        if (deadline != IPCX__NEVER && ipcx__now_ns() >= deadline) {
            /* One last attempt: a message that arrived together with the
             * deadline is delivered rather than reported as a timeout. */
            rc = op->try(op->arg);
            return pending(rc) ? -ETIMEDOUT : rc;
        }
    }
}

int ipcx__wait(struct ipcx__event *ev, const struct ipcx__op *op,
               struct ipcx__deadline *d, _Atomic uint32_t *waiting)
{
    return ipcx__wait_with(ev, op, d, waiting, NULL);
}

int ipcx__wait_with(struct ipcx__event *ev, const struct ipcx__op *op,
                    struct ipcx__deadline *d, _Atomic uint32_t *waiting,
                    const struct ipcx__sleeper *sl)
{
    int rc = op->try(op->arg);
    if (d->timeout_ns == 0) {
        if (rc == -EINPROGRESS && op->unstick != NULL) {
            op->unstick(op->arg); /* a dead blocker must not stop us */
            rc = op->try(op->arg);
        }
        return pending(rc) ? -EAGAIN : rc;
    }
    if (pending(rc)) {
        rc = spin(op, rc);
    }
    if (!pending(rc)) {
        return rc;
    }
    int64_t deadline = ipcx__deadline_at(d);
    if (waiting != NULL) {
        atomic_fetch_add_explicit(waiting, 1, memory_order_relaxed);
    }
    rc = sleep_loop(ev, op, deadline, sl);
    if (waiting != NULL) {
        atomic_fetch_sub_explicit(waiting, 1, memory_order_relaxed);
    }
    return rc;
}
