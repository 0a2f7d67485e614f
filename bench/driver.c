/*
 * driver.c - runs one benchmark of one mechanism as real processes.
 *
 * The parent maps a shared arena, lets the mechanism set up, forks the
 * senders (role A) and the receiver (role B), starts them together once all
 * have opened their ends, and supervises: a child that fails or a run that
 * stalls (a lost wake-up looks exactly like that) gets every child killed
 * and the run reported as an error, never as a number.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_PROCS       16
#define OPEN_TIMEOUT_NS (30 * 1000000000LL)

/* What one child reports; written by that child only. */
struct child_out {
    int failed;
    char err[200];
    uint64_t count; /* A: round trips or messages sent; B: received */
    int64_t t0, t1; /* B: first data message, last stop message */
    int64_t median, p99, p999, min;
    double mean;
};

/* Shared by the parent and every child of one run. */
struct arena {
    _Atomic int ready;       /* children that opened their end */
    _Atomic int go;          /* set by the parent: start now */
    _Atomic int blocked;     /* BK_IDLE: the receiver is about to block */
    _Atomic int quit;        /* BK_IDLE: the sender may leave */
    _Atomic int b_done;      /* the receiver has everything it expects */
    uint64_t got[MAX_PROCS]; /* B: messages verified, per sender */
    struct child_out out[MAX_PROCS];
};

struct run {
    const struct mech *m;
    const struct bench_cfg *cfg;
    const struct bench_plan *plan;
    struct arena *ar;
    void *shared;
    void *end;
    int nprocs; /* senders + 1; the receiver is the last */
};

static const struct bench_plan *g_plan;

static int fail(struct child_out *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->err, sizeof out->err, fmt, ap);
    va_end(ap);
    out->failed = 1;
    return -1;
}

static void *msg_buf(size_t size)
{
    size_t cap = (size + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, cap);
    if (p != NULL) {
        memset(p, 0x5a, cap); /* fault the pages in before timing */
    }
    return p;
}

/* ---- ping-pong ---- */

static void pp_stats(struct child_out *out, int64_t *lat, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)lat[i];
    }
    sort_i64(lat, n);
    out->count = n;
    out->min = n > 0 ? lat[0] : 0;
    out->median = percentile(lat, n, 50);
    out->p99 = percentile(lat, n, 99);
    out->p999 = percentile(lat, n, 99.9);
    out->mean = n > 0 ? sum / (double)n : 0;
}

/* One round trip with message SEQ; 0 or -1 (reported in OUT). */
static int pp_round(struct run *r, void *buf, void *rbuf, uint64_t seq,
                    struct child_out *out)
{
    size_t size = r->cfg->size;
    msg_stamp(buf, size, 0, seq);
    int rc = r->m->send(r->end, buf, size);
    if (rc < 0) {
        return fail(out, "send: %s", strerror(-rc));
    }
    long len = r->m->recv(r->end, rbuf, size);
    if (len < 0) {
        return fail(out, "recv: %s", strerror((int)-len));
    }
    if (msg_check(rbuf, len, size, 0, seq) != 0) {
        return fail(out, "reply %llu wrong (len %ld, seq %llu)",
                    (unsigned long long)seq, len,
                    (unsigned long long)msg_seq(rbuf, NULL));
    }
    return 0;
}

/* A: time each round trip with one clock read per iteration. */
static int pp_initiator(struct run *r, struct child_out *out)
{
    long warm = g_plan->pp_warmup, iters = g_plan->pp_iters;
    void *buf = msg_buf(r->cfg->size), *rbuf = msg_buf(r->cfg->size);
    int64_t *lat = malloc((size_t)iters * sizeof *lat);
    if (buf == NULL || rbuf == NULL || lat == NULL) {
        return fail(out, "out of memory");
    }
    /* A slow mechanism gets a tenth of the time budget to warm up and
     * the rest to measure; it reports how many round trips it made. */
    int64_t t = now_ns(), warm_end = t + g_plan->pp_max_ns / 10;
    int64_t deadline = t + g_plan->pp_max_ns;
    size_t n = 0;
    int rc = 0;
    uint64_t seq = 0;
    for (long i = 0; i < warm && rc == 0 && t < warm_end; i++) {
        rc = pp_round(r, buf, rbuf, seq++, out);
        t = now_ns();
    }
    while ((long)n < iters && rc == 0 && t < deadline) {
        rc = pp_round(r, buf, rbuf, seq++, out);
        int64_t t2 = now_ns();
        lat[n++] = t2 - t;
        t = t2;
    }
    if (rc == 0) {
        msg_stamp(buf, r->cfg->size, 0, MSG_STOP);
        rc = r->m->send(r->end, buf, r->cfg->size);
        if (rc < 0) {
            fail(out, "send stop: %s", strerror(-rc));
        }
    }
    pp_stats(out, lat, n);
    free(lat);
    free(buf);
    free(rbuf);
    return rc < 0 ? -1 : 0;
}

/* B: echo every message back until the stop. */
static int pp_echoer(struct run *r, struct child_out *out)
{
    size_t size = r->cfg->size;
    void *buf = msg_buf(size);
    if (buf == NULL) {
        return fail(out, "out of memory");
    }
    int rc = 0;
    for (uint64_t want = 0; rc == 0; want++) {
        long len = r->m->recv(r->end, buf, size);
        if (len < 0) {
            rc = fail(out, "recv: %s", strerror((int)-len));
        } else if (len == (long)size && msg_seq(buf, NULL) == MSG_STOP) {
            break;
        } else if (msg_check(buf, len, size, 0, want) != 0) {
            rc = fail(out, "ping %llu wrong (len %ld)",
                      (unsigned long long)want, len);
        } else {
            int s = r->m->send(r->end, buf, (size_t)len);
            rc = s < 0 ? fail(out, "send: %s", strerror(-s)) : 0;
        }
    }
    free(buf);
    return rc;
}

/* ---- one-way streams (one sender or several) ---- */

static int stream_sender(struct run *r, int index, struct child_out *out)
{
    size_t size = r->cfg->size;
    void *buf = msg_buf(size);
    if (buf == NULL) {
        return fail(out, "out of memory");
    }
    /* Reading the clock costs ~20 ns: for small messages only every 64th. */
    uint64_t mask = size <= 4096 ? 63 : 0;
    int64_t end_at = now_ns() + g_plan->stream_ns;
    uint64_t seq;
    int rc = 0;
    for (seq = 0; rc == 0; seq++) {
        if ((seq & mask) == 0 && now_ns() >= end_at) {
            break;
        }
        msg_stamp(buf, size, (uint32_t)index, seq);
        rc = r->m->send(r->end, buf, size);
    }
    if (rc == 0) {
        msg_stamp(buf, size, (uint32_t)index, MSG_STOP);
        rc = r->m->send(r->end, buf, size);
    }
    out->count = rc == 0 ? seq : 0;
    free(buf);
    return rc < 0 ? fail(out, "send %llu: %s", (unsigned long long)seq,
                         strerror(-rc))
                  : 0;
}

/* Take one message, check it is the next one from its sender. */
static int stream_take(struct run *r, void *buf, int *stops,
                       struct child_out *out)
{
    size_t size = r->cfg->size;
    long len = r->m->recv(r->end, buf, size);
    if (len < 0) {
        return fail(out, "recv: %s", strerror((int)-len));
    }
    uint32_t s;
    uint64_t seq = msg_seq(buf, &s);
    if (len < (long)MSG_MIN || s >= (uint32_t)r->cfg->senders) {
        return fail(out, "message with no valid header (len %ld)", len);
    }
    if (seq == MSG_STOP) {
        out->t1 = now_ns();
        ++*stops;
        return msg_check(buf, len, size, s, MSG_STOP) == 0
                   ? 0
                   : fail(out, "damaged stop from sender %u", s);
    }
    if (msg_check(buf, len, size, s, r->ar->got[s]) != 0) {
        return fail(out,
                    "sender %u: expected message %llu, got %llu (len %ld):"
                    " lost, duplicated, reordered or damaged",
                    s, (unsigned long long)r->ar->got[s],
                    (unsigned long long)seq, len);
    }
    if (out->count++ == 0) {
        out->t0 = now_ns();
    }
    r->ar->got[s]++;
    return 0;
}

static int stream_receiver(struct run *r, struct child_out *out)
{
    void *buf = msg_buf(r->cfg->size);
    if (buf == NULL) {
        return fail(out, "out of memory");
    }
    int stops = 0, rc = 0;
    while (stops < r->cfg->senders && rc == 0) {
        rc = stream_take(r, buf, &stops, out);
    }
    free(buf);
    return rc;
}

/* ---- idle ---- */

static int idle_receiver(struct run *r, struct child_out *out)
{
    size_t size = r->cfg->size;
    void *buf = msg_buf(size);
    if (buf == NULL) {
        return fail(out, "out of memory");
    }
    atomic_store(&r->ar->blocked, 1);
    /* The only message is the stop, sent after the idle window: so the
     * run also shows that a receiver asleep that long still wakes up. */
    long len = r->m->recv(r->end, buf, size);
    int ok = msg_check(buf, len, size, 0, MSG_STOP) == 0;
    free(buf);
    return ok ? 0 : fail(out, "idle receiver got %ld bytes, not the stop", len);
}

static int idle_sender(struct run *r, struct child_out *out)
{
    while (!atomic_load(&r->ar->quit)) {
        usleep(5000);
    }
    size_t size = r->cfg->size;
    void *buf = msg_buf(size);
    if (buf == NULL) {
        return fail(out, "out of memory");
    }
    msg_stamp(buf, size, 0, MSG_STOP);
    int rc = r->m->send(r->end, buf, size);
    free(buf);
    return rc < 0 ? fail(out, "send stop: %s", strerror(-rc)) : 0;
}

/* ---- children ---- */

static int work(struct run *r, int i)
{
    struct child_out *out = &r->ar->out[i];
    int recv_side = i == r->nprocs - 1;
    switch (r->cfg->kind) {
    case BK_PINGPONG:
        return recv_side ? pp_echoer(r, out) : pp_initiator(r, out);
    case BK_STREAM:
    case BK_FANIN:
        return recv_side ? stream_receiver(r, out) : stream_sender(r, i, out);
    case BK_IDLE:
        return recv_side ? idle_receiver(r, out) : idle_sender(r, out);
    }
    return fail(out, "unknown kind");
}

static int child_cpu(const struct bench_cfg *cfg, int role)
{
    switch (cfg->pin) {
    case PIN_SPLIT:
        return role == ROLE_A ? 0 : 1;
    case PIN_SAME:
        return 0;
    default:
        return -1;
    }
}

static void child_main(struct run *r, int i)
{
    struct child_out *out = &r->ar->out[i];
    int role = i == r->nprocs - 1 ? ROLE_B : ROLE_A;
    int cpu = child_cpu(r->cfg, role);
    int rc = cpu >= 0 ? pin_to_cpu(cpu) : 0;
    if (rc < 0) {
        fail(out, "cannot pin to CPU %d: %s", cpu, strerror(-rc));
        _exit(1);
    }
    rc = r->m->open(r->shared, r->cfg, role, role == ROLE_A ? i : 0, &r->end);
    if (rc < 0) {
        fail(out, "open: %s", strerror(-rc));
        _exit(1);
    }
    atomic_fetch_add(&r->ar->ready, 1);
    while (!atomic_load(&r->ar->go)) {
        usleep(100);
    }
    rc = work(r, i);
    if (role == ROLE_B) {
        atomic_store(&r->ar->b_done, 1);
    } else if (rc == 0) {
        /* Closing may drop what is still queued (NNG, ZeroMQ without
         * linger): stay until the receiver has it all. */
        while (!atomic_load(&r->ar->b_done)) {
            usleep(200);
        }
    }
    r->m->close(r->end);
    /* exit(), not _exit(): libraries deregister in their exit handlers
     * (iceoryx tells RouDi the process is gone).  Nothing is buffered:
     * the parent flushed its streams before forking. */
    exit(rc == 0 ? 0 : 1);
}

/* ---- supervision (parent) ---- */

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000,
                          .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void kill_all(const pid_t *pids, const int *alive, int n)
{
    for (int i = 0; i < n; i++) {
        if (alive[i]) {
            kill(pids[i], SIGKILL);
        }
    }
}

static void add_usage(struct bench_result *res, const struct rusage *ru)
{
    res->child_cpu_ns +=
        (int64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000 +
        (int64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000;
    res->child_csw += (uint64_t)(ru->ru_nvcsw + ru->ru_nivcsw);
}

/* Reap what has exited; -1 if a child failed (RES says which). */
static int reap(const struct run *r, const pid_t *pids, int *alive,
                struct bench_result *res)
{
    for (int i = 0; i < r->nprocs; i++) {
        int st;
        struct rusage ru;
        if (!alive[i] || wait4(pids[i], &st, WNOHANG, &ru) != pids[i]) {
            continue;
        }
        alive[i] = 0;
        add_usage(res, &ru);
        const struct child_out *o = &r->ar->out[i];
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            continue;
        }
        res->status = BS_ERROR;
        if (o->failed) {
            snprintf(res->note, sizeof res->note, "process %d: %s", i, o->err);
        } else {
            snprintf(res->note, sizeof res->note, "process %d died (%s %d)", i,
                     WIFSIGNALED(st) ? "signal" : "status",
                     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        }
        return -1;
    }
    return 0;
}

static int count_alive(const int *alive, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        k += alive[i];
    }
    return k;
}

/* Wait until every child is gone or LIMIT passes. */
static int wait_all(const struct run *r, const pid_t *pids, int *alive,
                    int64_t limit, struct bench_result *res)
{
    while (count_alive(alive, r->nprocs) > 0) {
        if (reap(r, pids, alive, res) < 0) {
            return -1;
        }
        if (now_ns() > limit) {
            res->status = BS_ERROR;
            snprintf(res->note, sizeof res->note,
                     "stalled: no end %.0f s past the plan (lost wake-up?)",
                     (double)g_plan->stall_ns / 1e9);
            return -1;
        }
        sleep_ns(1000000);
    }
    return 0;
}

static int wait_ready(const struct run *r, const pid_t *pids, int *alive,
                      struct bench_result *res)
{
    int64_t limit = now_ns() + OPEN_TIMEOUT_NS;
    while (atomic_load(&r->ar->ready) < r->nprocs) {
        if (reap(r, pids, alive, res) < 0) {
            return -1;
        }
        if (now_ns() > limit) {
            res->status = BS_ERROR;
            snprintf(res->note, sizeof res->note, "open did not finish");
            return -1;
        }
        sleep_ns(1000000);
    }
    return 0;
}

/* BK_IDLE: CPU used by the blocked receiver over the idle window; then
 * the sender may send the stop. */
static int measure_idle(const struct run *r, const pid_t *pids, int *alive,
                        struct bench_result *res)
{
    int b = r->nprocs - 1;
    int64_t limit = now_ns() + OPEN_TIMEOUT_NS;
    while (!atomic_load(&r->ar->blocked) && now_ns() < limit) {
        sleep_ns(100000);
    }
    int64_t c0 = proc_cpu_ns(pids[b]), t0 = now_ns();
    sleep_ns(g_plan->idle_ns);
    int64_t c1 = proc_cpu_ns(pids[b]), t1 = now_ns();
    if (reap(r, pids, alive, res) < 0) {
        return -1;
    }
    res->cpu_ns = c1 - c0;
    res->secs = (double)(t1 - t0) / 1e9;
    if (c0 < 0 || c1 < 0 || !alive[b]) {
        res->status = BS_ERROR;
        snprintf(res->note, sizeof res->note, "receiver CPU unreadable");
        return -1;
    }
    atomic_store(&r->ar->quit, 1);
    return 0;
}

static int64_t planned_ns(const struct bench_cfg *cfg)
{
    switch (cfg->kind) {
    case BK_PINGPONG:
        return g_plan->pp_max_ns;
    case BK_IDLE:
        return g_plan->idle_ns;
    default:
        return g_plan->stream_ns;
    }
}

static int supervise(struct run *r, const pid_t *pids, int *alive,
                     struct bench_result *res)
{
    if (wait_ready(r, pids, alive, res) < 0) {
        return -1;
    }
    atomic_store(&r->ar->go, 1);
    int64_t limit = now_ns() + planned_ns(r->cfg) + g_plan->stall_ns;
    if (r->cfg->kind == BK_IDLE && measure_idle(r, pids, alive, res) < 0) {
        return -1;
    }
    return wait_all(r, pids, alive, limit, res);
}

/* ---- results ---- */

static void collect(const struct run *r, struct bench_result *res)
{
    const struct child_out *a = &r->ar->out[0];
    const struct child_out *b = &r->ar->out[r->nprocs - 1];
    if (r->cfg->kind == BK_PINGPONG) {
        res->n = a->count;
        res->median = a->median;
        res->p99 = a->p99;
        res->p999 = a->p999;
        res->min = a->min;
        res->mean = a->mean;
        return;
    }
    if (r->cfg->kind == BK_IDLE) {
        return;
    }
    res->msgs = b->count;
    res->secs = (double)(b->t1 - b->t0) / 1e9;
    for (int i = 0; i < r->cfg->senders; i++) {
        if (r->ar->got[i] != r->ar->out[i].count) {
            res->status = BS_ERROR;
            snprintf(res->note, sizeof res->note,
                     "sender %d sent %llu messages, receiver verified %llu", i,
                     (unsigned long long)r->ar->out[i].count,
                     (unsigned long long)r->ar->got[i]);
        }
    }
}

static void na(struct bench_result *res, const char *why)
{
    res->status = BS_NA;
    snprintf(res->note, sizeof res->note, "%s", why);
}

static void fork_and_supervise(struct run *r, struct bench_result *res)
{
    pid_t pids[MAX_PROCS];
    int alive[MAX_PROCS] = {0};
    fflush(NULL);
    for (int i = 0; i < r->nprocs; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            child_main(r, i);
        }
        if (pids[i] < 0) {
            res->status = BS_ERROR;
            snprintf(res->note, sizeof res->note, "fork: %s", strerror(errno));
            break;
        }
        alive[i] = 1;
    }
    if (res->status != BS_OK || supervise(r, pids, alive, res) < 0) {
        kill_all(pids, alive, r->nprocs);
    }
    for (int i = 0; i < r->nprocs; i++) {
        if (alive[i]) {
            waitpid(pids[i], NULL, 0);
        }
    }
}

void bench_run(const struct mech *m, const struct bench_cfg *cfg,
               const struct bench_plan *plan, struct bench_result *res)
{
    memset(res, 0, sizeof *res);
    g_plan = plan;
    const char *why = m->unsupported != NULL ? m->unsupported(cfg) : NULL;
    if (!(m->kinds & cfg->kind) || why != NULL) {
        na(res, why != NULL ? why : "not applicable");
        return;
    }
    struct run r = {.m = m, .cfg = cfg, .plan = plan};
    r.nprocs = cfg->senders + 1;
    r.ar = mmap(NULL, sizeof *r.ar, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r.ar == MAP_FAILED || r.nprocs > MAX_PROCS) {
        res->status = BS_ERROR;
        snprintf(res->note, sizeof res->note, "no arena");
        return;
    }
    int rc = m->setup(cfg, &r.shared);
    if (rc < 0) {
        res->status = BS_ERROR;
        snprintf(res->note, sizeof res->note, "setup: %s", strerror(-rc));
    } else {
        fork_and_supervise(&r, res);
        m->teardown(r.shared);
    }
    if (res->status == BS_OK) {
        collect(&r, res);
    }
    munmap(r.ar, sizeof *r.ar);
}

/* ---- memcpy reference ---- */

#define ROTATE_SLOTS 64

static double memcpy_rate(size_t size, int rotate, int64_t dur_ns)
{
    int slots = rotate ? ROTATE_SLOTS : 1;
    char *src = msg_buf(size);
    char *dst = malloc(size * (size_t)slots);
    if (src == NULL || dst == NULL) {
        return -1;
    }
    memset(dst, 1, size * (size_t)slots);
    int64_t t0 = now_ns(), t = t0;
    uint64_t n = 0;
    while (t - t0 < dur_ns) {
        memcpy(dst + size * (n % (uint64_t)slots), src, size);
        /* Keep the copy: the compiler may not drop it. */
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        n++;
        t = now_ns();
    }
    free(src);
    free(dst);
    return (double)n * 1e9 / (double)(t - t0);
}

void bench_memcpy(size_t size, int rotate, int64_t dur_ns,
                  struct bench_result *res)
{
    memset(res, 0, sizeof *res);
    double *rate = mmap(NULL, sizeof *rate, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rate == MAP_FAILED) {
        res->status = BS_ERROR;
        return;
    }
    *rate = -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        pin_to_cpu(0);
        *rate = memcpy_rate(size, rotate, dur_ns);
        _exit(0);
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
    }
    if (*rate <= 0) {
        res->status = BS_ERROR;
        snprintf(res->note, sizeof res->note, "memcpy run failed");
    } else {
        res->msgs = (uint64_t)(*rate * (double)dur_ns / 1e9);
        res->secs = (double)res->msgs / *rate;
    }
    munmap(rate, sizeof *rate);
}
