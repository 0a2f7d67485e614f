#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
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

int ipcx__deadline(int64_t timeout_ns, int64_t *deadline)
{
    if (timeout_ns < 0) {
        return -EINVAL;
    }
    if (timeout_ns == 0) {
        *deadline = IPCX__NOWAIT;
        return 0;
    }
    int64_t now = ipcx__now_ns();
    *deadline = timeout_ns >= INT64_MAX - now ? IPCX__NEVER : now + timeout_ns;
    return 0;
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

void ipcx__futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

void ipcx__event_notify(struct ipcx__event *ev, int n)
{
    /* The caller's state change (a release store or RMW) must be ordered
     * before our read of `waiters`: this fence pairs with the seq_cst
     * increment of `waiters` in sleep_once().  Either the sleeper's re-check
     * sees the new state, or we see its count and wake it (Dekker). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ev->waiters, memory_order_relaxed) == 0) {
        return;
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

/* How long a waiter spins before sleeping: IPCX_SPIN_NS, default 20 us;
 * no spinning at all on a single CPU, where the peer needs ours. */
static int64_t spin_budget_ns(void)
{
    static _Atomic int64_t budget = -1;
    int64_t b = atomic_load_explicit(&budget, memory_order_relaxed);
    if (b >= 0) {
        return b;
    }
    const char *env = getenv("IPCX_SPIN_NS");
    b = env != NULL ? atoll(env) : 20000;
    if (b < 0 || b > 10000000 || sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        b = b < 0 || b > 10000000 ? 20000 : 0;
    }
    atomic_store_explicit(&budget, b, memory_order_relaxed);
    return b;
}

static int spin(int (*try)(void *), void *arg, int64_t deadline)
{
    int64_t budget = spin_budget_ns();
    if (budget == 0) {
        return -EAGAIN;
    }
    int64_t end = ipcx__now_ns() + budget;
    if (end > deadline) {
        end = deadline;
    }
    for (unsigned i = 1;; i++) {
        for (int k = 0; k < 8; k++) {
            cpu_relax();
        }
        int rc = try(arg);
        if (rc != -EAGAIN) {
            return rc;
        }
        if ((i & 15) == 0 && ipcx__now_ns() >= end) {
            return -EAGAIN;
        }
    }
}

/* One sleep: announce ourselves, re-check, then block. */
static int sleep_once(struct ipcx__event *ev, int (*try)(void *), void *arg,
                      int64_t deadline, int *timed_out)
{
    /* Acquire: a notify that bumped seq before this load also published its
     * state change, which the re-check below then sees. */
    uint32_t key = atomic_load_explicit(&ev->seq, memory_order_acquire);
    /* seq_cst RMW pairs with the fence in ipcx__event_notify(). */
    atomic_fetch_add_explicit(&ev->waiters, 1, memory_order_seq_cst);
    int rc = try(arg);
    if (rc == -EAGAIN) {
        *timed_out = ipcx__futex_wait(&ev->seq, key, deadline) == -ETIMEDOUT;
    }
    atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_relaxed);
    return rc;
}

int ipcx__wait(struct ipcx__event *ev, int (*try)(void *), void *arg,
               int64_t deadline, _Atomic uint32_t *waiting)
{
    int rc = try(arg);
    if (rc != -EAGAIN || deadline == IPCX__NOWAIT) {
        return rc;
    }
    rc = spin(try, arg, deadline);
    if (rc != -EAGAIN) {
        return rc;
    }
    if (waiting != NULL) {
        atomic_store_explicit(waiting, 1, memory_order_relaxed);
    }
    int timed_out = 0;
    while ((rc = sleep_once(ev, try, arg, deadline, &timed_out)) == -EAGAIN) {
        if (timed_out ||
            (deadline != IPCX__NEVER && ipcx__now_ns() >= deadline)) {
            /* One last attempt: a message that arrived together with the
             * deadline is delivered rather than reported as a timeout. */
            rc = try(arg);
            rc = rc == -EAGAIN ? -ETIMEDOUT : rc;
            break;
        }
    }
    if (waiting != NULL) {
        atomic_store_explicit(waiting, 0, memory_order_relaxed);
    }
    return rc;
}
