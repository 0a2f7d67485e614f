/*
 * test_stress_wakeup.c - lost-wakeup stress (issue 5).  A sleeper that
 * misses the wake meant for it is the classic bug of futex-based queues,
 * and it shows only under load, rarely; so this test runs thousands of
 * short runs between real processes and fails if any run stalls.
 *
 * Variants (every combination):
 *   mechanism  mbox-pingpong  A sends a ping, B answers a pong, 1..200 times
 *                             (two mailboxes, one per direction);
 *              mbox-burst     A sends 1..300 messages, B checks each and
 *                             acknowledges the run;
 *              mbox-multi     4 senders burst 1..300 messages each into one
 *                             mailbox that 2 receivers drain; the receiver
 *                             that completes the run checks that every
 *                             message arrived once and acknowledges it to
 *                             each sender (wake-one / wake-all bugs);
 *              chan-pingpong, chan-burst   the same over an ipcx channel
 *                             (ipcx_port_listen / ipcx_connect / accept);
 *              chan-call      ping-pong as ipcx_call() / ipcx_channel_reply;
 *   capacity   mailboxes 0 (rendezvous), 1, 2, 64, unbounded (mbox-multi:
 *              0, 1, 2, unbounded); channels 1, 2, 64 (chan-call: 1, 64);
 *   pinning    split: the processes alternate between two CPUs; same: all
 *              on one CPU (split is skipped on a machine with one CPU);
 *   spin       IPCX_SPIN_NS unset (the library's default) or 0, set in each
 *              child before its first wait (the library reads it once).
 * Each run draws its size from a seed; a quarter of the runs use a finite
 * timeout (1 s) instead of IPCX_FOREVER on every operation.  Messages have
 * random sizes (0..256 bytes; 16..256 in mbox-multi) and carry their run,
 * sender, sequence number and a checksum; receivers check every message
 * against the one expected (order, content, exactly once).
 *
 * One set of processes serves all the runs of a variant (they are forked
 * per variant), while two unpinned busy-loop "hog" processes are stopped
 * and continued at random (0, 1 or 2 running), so the runs meet changing
 * load.  Failures:
 *   - stall: a run not finished STALL_BOUND (2 s) after the previous one
 *     (runs take milliseconds); the parent prints the variant, run number,
 *     what each process was blocked in, and the mailboxes' counters, then
 *     kills the processes;
 *   - an operation that takes OP_BOUND (0.9 s) or more in all (after
 *     -ETIMEDOUT it is retried; a retried ipcx_call() sends a retry
 *     request that B answers again): a finite wait whose wake-up was lost
 *     succeeds at its deadline (the library's last attempt finds the
 *     message), so only its duration shows the loss;
 *   - any error or wrong message (named by the process that saw it).
 * The test goes on with the other variants and exits 1 at the end.
 *
 * Time during which the machine itself stalled is not held against a run
 * or an operation: a canary process pinned to each CPU wakes every
 * millisecond, and where it woke GAP_MIN (50 ms) late or more, no worker
 * could have run either (on a shared machine, whole-second delays were
 * seen).  Operations so excused are counted and printed.
 *
 * IPCX_STRESS_SECONDS sets the time over all variants (default 30; 20 in a
 * sanitizer build), IPCX_STRESS_SEED the seed (printed), IPCX_STRESS_ONLY a
 * substring of the variant names to run (e.g. "mbox-multi cap=2").
 * scripts/stress.sh runs the long version.  Not labelled concurrency: too
 * slow under ThreadSanitizer.
 */
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define DEFAULT_SECONDS (SANITIZED ? 20 : 30)
#define STALL_BOUND     IPCX_SEC(2)    /* a run longer than this stalled */
#define OP_TIMEOUT      IPCX_SEC(1)    /* the finite timeout of some runs */
#define OP_BOUND        IPCX_MSEC(900) /* an operation this slow stalled */
#define MAX_MSG         256u
#define HDR             16u  /* run, who << 16 | seq, length, checksum */
#define PP_MAX          200u /* round trips of a ping-pong run */
#define BURST_MAX       300u /* messages of a burst (per sender) */
#define NSEND           4    /* mbox-multi senders ... */
#define NRECV           2    /* ... and receivers */
#define MAX_WORKERS     (NSEND + NRECV)
#define NHOGS           2
#define GAP_MIN         IPCX_MSEC(50)  /* a canary this late records a gap */
#define GAP_BIG         IPCX_MSEC(100) /* a machine stall, in the figures */
#define NGAPS           1024
#define HARD_BOUND      IPCX_SEC(30) /* a stall, however the machine fares */
#define MAX_VARIANTS    96
#define MAX_FAILED      5  /* variants; then the test stops early */
#define WHO_RETRY       2u /* chan-call: A asks again (who 0: A, 1: B) */
#define WHO_ACK         0xffffu
#define WHO_STOP        0xfffeu
#define STOP_RUN        0xffffffffu

enum mech {
    MBOX_PINGPONG,
    MBOX_BURST,
    MBOX_MULTI,
    CHAN_PINGPONG,
    CHAN_BURST,
    CHAN_CALL,
};

static const char *const mech_names[] = {
    "mbox-pingpong", "mbox-burst", "mbox-multi",
    "chan-pingpong", "chan-burst", "chan-call",
};

struct variant {
    enum mech mech;
    uint32_t cap;
    int split; /* 1: two CPUs, 0: one */
    int spin0; /* 1: IPCX_SPIN_NS=0, 0: unset */
    char name[64];
};

/* What a worker is doing: the stall report prints it. */
enum op {
    OP_START,
    OP_SEND,
    OP_RECV,
    OP_SEND_ACK,
    OP_RECV_ACK,
    OP_CALL,
    OP_REPLY,
    OP_SEND_STOP,
    OP_DONE,
};

static const char *const op_names[] = {
    "starting (open / connect / accept)",
    "send",
    "recv",
    "send ack",
    "recv ack",
    "ipcx_call",
    "ipcx_channel_reply",
    "send stop",
    "finished",
};

struct wstate {
    _Atomic uint32_t op, run, seq;
    _Atomic int32_t pid;
    char pad[48]; /* one cache line per worker */
};

/* Shared by the parent and the workers of one variant; zeroed for each. */
struct board {
    _Atomic int stop;              /* parent: finish the current run */
    _Atomic int64_t last_progress; /* end of the latest run */
    _Atomic uint64_t runs, msgs;
    _Atomic uint64_t stalls;  /* operations that took OP_BOUND (op_done) */
    _Atomic uint64_t excused; /* ... but only while the machine stalled */
    _Atomic int64_t max_run;  /* longest run, ns */
    _Atomic int64_t max_op;   /* longest single operation, ns */
    /* mbox-multi: written by the receiver that completes a run, read by
     * the others after they received a message of the next run (which
     * happens after its acknowledgements: release/acquire through the
     * mailboxes). */
    _Atomic uint64_t processed; /* messages received and checked, all runs */
    _Atomic uint64_t run_end;   /* value of processed ending cur_run */
    _Atomic uint32_t cur_run;
    _Atomic int64_t run_start;
    _Atomic uint64_t seen[NSEND][(BURST_MAX + 63) / 64];
    struct wstate w[MAX_WORKERS];
};

struct hdr {
    uint32_t run, who_seq, len, sum;
};

_Static_assert(sizeof(struct hdr) == HDR, "header size");

/* One run's parameters, drawn from the seed, the variant and the run. */
struct runp {
    uint64_t rs; /* the run's own seed */
    uint32_t n;  /* round trips or messages (per sender) */
    int finite;  /* 1: every operation with OP_TIMEOUT */
};

/* The two ends of a pair, a mailbox per direction or one channel. */
struct link {
    ipcx_mailbox *out, *in;
    ipcx_channel *ch;
};

static struct variant variants[MAX_VARIANTS];
static int nvariants;
static const struct variant *cur; /* the variant this process runs */
static int cur_vi;                /* its index (part of every run seed) */
static struct board *bd;

/*
 * A canary per CPU: a process pinned there that wakes every millisecond
 * and records when it woke late (a gap).  Where a canary could not run,
 * a worker could not either: the machine (other load, a hypervisor),
 * not ipcx, held things up, and that time is not held against a run or
 * an operation.  On a shared machine, delays of a second happen.
 */
struct canary {
    _Atomic int64_t beat; /* latest tick */
    _Atomic uint64_t n;   /* gaps recorded; gap[n % NGAPS] is next */
    _Atomic int64_t max_gap;
    _Atomic uint64_t big; /* gaps of GAP_BIG or more */
    struct {
        _Atomic int64_t from, to;
    } gap[NGAPS];
};

static struct canary *canaries; /* one per CPU in cpus[] */
static pid_t canary_pids[2];
static uint64_t seed;
static int cpus[2];  /* the first two CPUs we may use */
static int ncpus;    /* how many of those exist (1 or 2) */
static pid_t parent; /* the test's main process */
static int me = -1;  /* worker index in a worker, -1 in the parent */
static char me_name[32] = "parent";

static pid_t hogs[NHOGS];
static int hog_running[NHOGS];
static pid_t kids[MAX_WORKERS];
static int nkids;

/* ---- helpers -------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t pick(uint64_t rs, uint32_t a, uint32_t b)
{
    return mix64(rs ^ mix64(((uint64_t)a << 32 | b) + 0x9e3779b97f4a7c15ull));
}

static uint32_t fnv(const uint8_t *b, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}

static void max_update(_Atomic int64_t *m, int64_t v)
{
    int64_t c = atomic_load(m);
    while (v > c && !atomic_compare_exchange_weak(m, &c, v)) {
    }
}

static int is_multi(void)
{
    return cur->mech == MBOX_MULTI;
}

static int is_chan(void)
{
    return cur->mech >= CHAN_PINGPONG;
}

static int nworkers(void)
{
    return is_multi() ? MAX_WORKERS : 2;
}

static void worker_name(int idx, char *buf, size_t cap)
{
    if (!is_multi()) {
        snprintf(buf, cap, "%s", idx == 0 ? "A" : "B");
    } else if (idx < NSEND) {
        snprintf(buf, cap, "sender %d", idx);
    } else {
        snprintf(buf, cap, "receiver %d", idx - NSEND);
    }
}

static void mbox_name(char *buf, size_t cap, const char *what)
{
    snprintf(buf, cap, "v%02d-%s", cur_vi, what);
}

/* A worker's failure: say what and where, and exit 1. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));
static void fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "stress: FAIL %s: %s: %s\n", cur->name, me_name, msg);
    _exit(1);
}

static void note(enum op op, uint32_t run, uint32_t seq)
{
    /* Relaxed: only the stall report reads these, long after. */
    struct wstate *w = &bd->w[me];
    atomic_store_explicit(&w->op, op, memory_order_relaxed);
    atomic_store_explicit(&w->run, run, memory_order_relaxed);
    atomic_store_explicit(&w->seq, seq, memory_order_relaxed);
}

static int64_t overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    int64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

/* How long, within [T0, T1], a canary could not run (the worse CPU). */
static int64_t machine_stall(int64_t t0, int64_t t1)
{
    int64_t worst = 0;
    for (int i = 0; i < ncpus; i++) {
        struct canary *c = &canaries[i];
        /* Acquire: pairs with the canary's release of n, so the entries
         * below it are written (a wrapped-around entry may be torn; the
         * figure is a heuristic, and then too small, never too large). */
        uint64_t n = atomic_load_explicit(&c->n, memory_order_acquire);
        int64_t sum = 0;
        for (uint64_t k = n; k > 0 && n - k < NGAPS; k--) {
            int64_t from = atomic_load(&c->gap[(k - 1) % NGAPS].from);
            int64_t to = atomic_load(&c->gap[(k - 1) % NGAPS].to);
            if (to <= t0) {
                break; /* the older ones ended earlier still */
            }
            sum += overlap(from, to, t0, t1);
        }
        int64_t beat = atomic_load(&c->beat);
        if (t1 - beat > GAP_MIN) {
            sum += overlap(beat, t1, t0, t1); /* a gap going on */
        }
        worst = sum > worst ? sum : worst;
    }
    return worst;
}

/* A finite wait answered -ETIMEDOUT: the caller retries; op_done() then
 * judges the whole operation (a second without a machine stall is one). */
static void timed_out(enum op op, uint32_t run, uint32_t seq)
{
    fprintf(stderr,
            "stress: %s: %s: %s of run %u msg %u answered -ETIMEDOUT after "
            "%lld ms; retrying\n",
            cur->name, me_name, op_names[op], run, seq,
            (long long)(OP_TIMEOUT / 1000000));
}

/*
 * An operation that succeeded after blocking since T0 (retries after
 * -ETIMEDOUT included).  Taking OP_BOUND or more, not counting the time
 * the machine stalled, is a stall: every wait here is short, and a finite
 * wait whose wake-up was lost returns success at its deadline (the
 * library's last attempt finds the message), so only its duration shows
 * the loss.
 */
static void op_done(int64_t t0, enum op op, uint32_t run, uint32_t seq)
{
    int64_t t1 = tu_now_ns(), d = t1 - t0;
    max_update(&bd->max_op, d);
    if (d < OP_BOUND) {
        return;
    }
    int64_t m = machine_stall(t0, t1);
    fprintf(stderr,
            "stress: %s %s: %s: %s of run %u msg %u blocked %.0f ms, while "
            "the machine stalled %.0f ms\n",
            d - m >= OP_BOUND ? "STALL" : "excused:", cur->name, me_name,
            op_names[op], run, seq, (double)d / 1e6, (double)m / 1e6);
    atomic_fetch_add(d - m >= OP_BOUND ? &bd->stalls : &bd->excused, 1);
}

/* ---- runs and messages ---------------------------------------------- */

static struct runp params(uint32_t run, uint32_t max)
{
    struct runp p;
    p.rs = mix64(seed ^ mix64((uint64_t)(cur_vi + 1) << 32 | run));
    uint32_t r = (uint32_t)(p.rs >> 8);
    /* Half the runs are tiny: run boundaries, where one side goes to
     * sleep on an empty queue, are where wake-ups get lost. */
    p.n = 1 + (p.rs & 1 ? r % 16 : r % max);
    p.finite = (p.rs >> 40) % 4 == 0;
    return p;
}

/* mbox-multi: messages of sender S in the run of seed RS. */
static uint32_t multi_n(uint64_t rs, int s)
{
    return 1 + (uint32_t)(pick(rs, 0x6d756c74u, (uint32_t)s) % BURST_MAX);
}

static uint32_t multi_total(uint64_t rs)
{
    uint32_t t = 0;
    for (int s = 0; s < NSEND; s++) {
        t += multi_n(rs, s);
    }
    return t;
}

/* Length of message (who, seq): MIN..MAX_MSG, often at either end. */
static uint32_t msg_len(uint64_t rs, uint32_t who, uint32_t seq, uint32_t min)
{
    uint32_t r = (uint32_t)pick(rs, who, seq);
    switch (r % 8) {
    case 0:
        return min;
    case 1:
        return MAX_MSG;
    case 2:
        return min + (r >> 3) % (HDR + 1); /* short, maybe headerless */
    default:
        return min + (r >> 3) % (MAX_MSG - min + 1);
    }
}

/*
 * Write message (run, who, seq) of LEN bytes to BUF (MAX_MSG bytes): the
 * header, then bytes drawn from the run seed.  A message shorter than the
 * header is the header's first LEN bytes; its order tells which it is.
 */
static void build(uint8_t *buf, uint64_t rs, uint32_t run, uint32_t who,
                  uint32_t seq, uint32_t len)
{
    uint64_t x = pick(rs, who, seq) | 1;
    for (uint32_t i = HDR; i < len; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        buf[i] = (uint8_t)((x * 0x2545f4914f6cdd1dull) >> 56);
    }
    struct hdr h = {run, who << 16 | seq, len,
                    fnv(buf + HDR, len > HDR ? len - HDR : 0)};
    memcpy(buf, &h, len < HDR ? len : HDR);
}

/* Fail, saying how message BUF (N bytes) differs from WANT, message
 * (run, who, seq) of LEN bytes. */
static void mismatch(const uint8_t *buf, long n, const uint8_t *want,
                     uint32_t len, uint32_t run, uint32_t who, uint32_t seq)
{
    char what[64];
    snprintf(what, sizeof what, "run %u msg %u from %u", run, seq, who);
    if (n >= (long)HDR) {
        struct hdr h;
        memcpy(&h, buf, HDR);
        if (h.run != run || h.who_seq != (who << 16 | seq)) {
            fail("%s: got run %u msg %u from %u instead (lost, duplicated "
                 "or out of order)",
                 what, h.run, h.who_seq & 0xffff, h.who_seq >> 16);
        }
        if (h.len != (uint32_t)n) {
            fail("%s: %ld bytes, its header says %u", what, n, h.len);
        }
        if (h.sum != fnv(buf + HDR, (size_t)n - HDR)) {
            fail("%s: bad checksum", what);
        }
    }
    if (n != (long)len) {
        fail("%s: %ld bytes, expected %u", what, n, len);
    }
    for (uint32_t i = 0; i < len; i++) {
        if (buf[i] != want[i]) {
            fail("%s: byte %u is %#x, expected %#x", what, i, buf[i], want[i]);
        }
    }
}

/* Check that BUF (N bytes) is message (run, who, seq) of length LEN. */
static int is_msg(const uint8_t *buf, long n, uint64_t rs, uint32_t run,
                  uint32_t who, uint32_t seq, uint32_t len)
{
    uint8_t want[MAX_MSG];
    build(want, rs, run, who, seq, len);
    return n == (long)len && memcmp(buf, want, len) == 0;
}

static void expect_len(const uint8_t *buf, long n, uint64_t rs, uint32_t run,
                       uint32_t who, uint32_t seq, uint32_t len)
{
    if (!is_msg(buf, n, rs, run, who, seq, len)) {
        uint8_t want[MAX_MSG];
        build(want, rs, run, who, seq, len);
        mismatch(buf, n, want, len, run, who, seq);
    }
}

static void expect(const uint8_t *buf, long n, uint64_t rs, uint32_t run,
                   uint32_t who, uint32_t seq)
{
    expect_len(buf, n, rs, run, who, seq, msg_len(rs, who, seq, 0));
}

static int is_stop(const uint8_t *buf, long n)
{
    struct hdr h;
    if (n != (long)HDR) {
        return 0;
    }
    memcpy(&h, buf, HDR);
    return h.run == STOP_RUN && h.who_seq >> 16 == WHO_STOP;
}

/* A run ended: count it, and show the parent progress. */
static void finish_run(int64_t t0, uint64_t msgs)
{
    int64_t now = tu_now_ns();
    max_update(&bd->max_run, now - t0);
    atomic_fetch_add(&bd->msgs, msgs);
    atomic_fetch_add(&bd->runs, 1);
    atomic_store(&bd->last_progress, now);
}

/* ---- transport ------------------------------------------------------ */

static int64_t tmo(int finite)
{
    return finite ? OP_TIMEOUT : IPCX_FOREVER;
}

/* Send (a reply when TOKEN != 0); retry after a timeout, counted. */
static void xsend(struct link *l, uint64_t token, const uint8_t *buf,
                  uint32_t len, int finite, enum op op, uint32_t run,
                  uint32_t seq)
{
    note(op, run, seq);
    int64_t t0 = tu_now_ns();
    for (;;) {
        int rc;
        if (token != 0) {
            rc = ipcx_channel_reply(l->ch, token, buf, len, tmo(finite));
        } else if (l->ch != NULL) {
            rc = ipcx_channel_send(l->ch, buf, len, tmo(finite));
        } else {
            rc = ipcx_mailbox_send(l->out, buf, len, tmo(finite));
        }
        if (rc == 0) {
            op_done(t0, op, run, seq);
            return;
        }
        if (rc != -ETIMEDOUT || !finite) {
            fail("%s of run %u msg %u: %s (%s)", op_names[op], run, seq,
                 ipcx_strerror(rc), ipcx_last_error());
        }
        timed_out(op, run, seq);
    }
}

/* Receive into BUF (MAX_MSG); with TOKEN, a channel's request token. */
static long xrecv(struct link *l, uint64_t *token, uint8_t *buf, int finite,
                  enum op op, uint32_t run, uint32_t seq)
{
    note(op, run, seq);
    int64_t t0 = tu_now_ns();
    for (;;) {
        long n;
        if (token != NULL) {
            ipcx_channel_msg_info info;
            n = ipcx_channel_recv_ex(l->ch, buf, MAX_MSG, tmo(finite), &info);
            *token = n >= 0 ? info.token : 0;
        } else if (l->ch != NULL) {
            n = ipcx_channel_recv(l->ch, buf, MAX_MSG, tmo(finite));
        } else {
            n = ipcx_mailbox_recv(l->in, buf, MAX_MSG, tmo(finite));
        }
        if (n >= 0) {
            op_done(t0, op, run, seq);
            return n;
        }
        if (n != -ETIMEDOUT || !finite) {
            fail("%s of run %u msg %u: %s (%s)", op_names[op], run, seq,
                 ipcx_strerror((int)n), ipcx_last_error());
        }
        timed_out(op, run, seq);
    }
}

/* ipcx_call(): a timeout cannot be retried (the peer has the request),
 * so it is counted and ends this worker with status 2. */
/*
 * ipcx_call() of request SEQ of the run of seed RS.  After -ETIMEDOUT the
 * peer has the request (its answer comes too late and is discarded), so
 * the call is made again with a retry message, which B answers again.
 */
static long xcall(struct link *l, const uint8_t *req, uint32_t len,
                  uint8_t *reply, const struct runp *p, uint32_t run,
                  uint32_t seq)
{
    note(OP_CALL, run, seq);
    int64_t t0 = tu_now_ns();
    uint8_t again[MAX_MSG];
    for (;;) {
        long n = ipcx_call(l->ch, req, len, reply, MAX_MSG, tmo(p->finite));
        if (n >= 0) {
            op_done(t0, OP_CALL, run, seq);
            return n;
        }
        if (n != -ETIMEDOUT || !p->finite) {
            fail("ipcx_call of run %u msg %u: %s (%s)", run, seq,
                 ipcx_strerror((int)n), ipcx_last_error());
        }
        timed_out(OP_CALL, run, seq);
        len = msg_len(p->rs, WHO_RETRY, seq, HDR);
        build(again, p->rs, run, WHO_RETRY, seq, len);
        req = again;
    }
}

static void send_stop(struct link *l, uint32_t run)
{
    uint8_t buf[MAX_MSG];
    build(buf, 0, STOP_RUN, WHO_STOP, 0, HDR);
    xsend(l, 0, buf, HDR, 0, OP_SEND_STOP, run, 0);
}

static ipcx_mailbox *xopen(const char *what)
{
    char name[64];
    ipcx_mailbox *mb = NULL;
    mbox_name(name, sizeof name, what);
    int rc = ipcx_mailbox_open(name, 0, &mb);
    if (rc != 0) {
        fail("open mailbox %s: %s (%s)", name, ipcx_strerror(rc),
             ipcx_last_error());
    }
    return mb;
}

/* B listens and accepts; A connects, retrying until B listens. */
static void chan_open(struct link *l, ipcx_port **port)
{
    char name[64];
    mbox_name(name, sizeof name, "port");
    int rc;
    if (me == 1) {
        ipcx_port_attr a;
        ipcx_port_attr_init(&a);
        a.capacity = cur->cap;
        a.max_msg_size = MAX_MSG;
        rc = ipcx_port_listen(name, &a, port);
        if (rc == 0) {
            rc = ipcx_port_accept(*port, IPCX_SEC(10), NULL, NULL, &l->ch);
        }
    } else {
        while ((rc = ipcx_connect(name, IPCX_SEC(10), &l->ch)) == -ENOENT ||
               rc == -ECONNREFUSED) {
            tu_pause_us(200);
        }
    }
    if (rc != 0) {
        fail("%s port %s: %s (%s)", me == 1 ? "listen/accept" : "connect", name,
             ipcx_strerror(rc), ipcx_last_error());
    }
}

static void link_open(struct link *l, ipcx_port **port)
{
    memset(l, 0, sizeof *l);
    *port = NULL;
    if (is_chan()) {
        chan_open(l, port);
    } else {
        l->out = xopen(me == 0 ? "a2b" : "b2a");
        l->in = xopen(me == 0 ? "b2a" : "a2b");
    }
}

static void link_close(struct link *l, ipcx_port *port)
{
    CHECK_RC(ipcx_channel_close(l->ch), 0);
    CHECK_RC(ipcx_port_close(port), 0);
    CHECK_RC(ipcx_mailbox_close(l->out), 0);
    CHECK_RC(ipcx_mailbox_close(l->in), 0);
}

/* ---- the pair workers ----------------------------------------------- */

/* A: starts each run (or ends the variant), pings, checks the pongs. */
static void pingpong_a(struct link *l, int call)
{
    uint8_t out[MAX_MSG], in[MAX_MSG];
    for (uint32_t run = 0;; run++) {
        if (atomic_load_explicit(&bd->stop, memory_order_relaxed)) {
            send_stop(l, run);
            return;
        }
        struct runp p = params(run, PP_MAX);
        int64_t t0 = tu_now_ns();
        for (uint32_t i = 0; i < p.n; i++) {
            uint32_t len = msg_len(p.rs, 0, i, 0);
            build(out, p.rs, run, 0, i, len);
            long n;
            if (call) {
                n = xcall(l, out, len, in, &p, run, i);
            } else {
                xsend(l, 0, out, len, p.finite, OP_SEND, run, i);
                n = xrecv(l, NULL, in, p.finite, OP_RECV, run, i);
            }
            expect(in, n, p.rs, run, 1, i);
        }
        finish_run(t0, 2 * (uint64_t)p.n);
    }
}

/* chan-call: is BUF (N bytes) A's retry of request (RUN, SEQ)? */
static int is_retry(const uint8_t *buf, long n, const struct runp *p,
                    uint32_t run, uint32_t seq)
{
    return is_msg(buf, n, p->rs, run, WHO_RETRY, seq,
                  msg_len(p->rs, WHO_RETRY, seq, HDR));
}

/* B's pong SEQ of RUN: a message, or the reply to request TOKEN. */
static void pong(struct link *l, uint64_t token, const struct runp *p,
                 uint32_t run, uint32_t seq)
{
    uint8_t out[MAX_MSG];
    uint32_t len = msg_len(p->rs, 1, seq, 0);
    build(out, p->rs, run, 1, seq, len);
    xsend(l, token, out, len, p->finite, token ? OP_REPLY : OP_SEND, run, seq);
}

/* B: answers each ping (a request, for chan-call) with its pong; and a
 * retried request (chan-call) again with the pong it already sent. */
static void pingpong_b(struct link *l, int call)
{
    uint8_t in[MAX_MSG];
    struct runp prev = {0, 0, 0}; /* the latest request answered: */
    uint32_t prev_run = STOP_RUN, prev_seq = 0;
    for (uint32_t run = 0;; run++) {
        struct runp p = params(run, PP_MAX);
        for (uint32_t i = 0; i < p.n;) {
            uint64_t token = 0;
            long n =
                xrecv(l, call ? &token : NULL, in, p.finite, OP_RECV, run, i);
            if (i == 0 && is_stop(in, n)) {
                return;
            }
            if (call && token == 0) {
                fail("run %u msg %u: a request without a reply token", run, i);
            }
            if (call && prev_run != STOP_RUN &&
                is_retry(in, n, &prev, prev_run, prev_seq)) {
                pong(l, token, &prev, prev_run, prev_seq);
                continue;
            }
            expect(in, n, p.rs, run, 0, i);
            pong(l, token, &p, run, i);
            prev = p;
            prev_run = run;
            prev_seq = i++;
        }
    }
}

/* A: sends each run's burst, then waits for its acknowledgement. */
static void burst_a(struct link *l)
{
    uint8_t out[MAX_MSG], in[MAX_MSG];
    for (uint32_t run = 0;; run++) {
        if (atomic_load_explicit(&bd->stop, memory_order_relaxed)) {
            send_stop(l, run);
            return;
        }
        struct runp p = params(run, BURST_MAX);
        int64_t t0 = tu_now_ns();
        for (uint32_t i = 0; i < p.n; i++) {
            uint32_t len = msg_len(p.rs, 0, i, 0);
            build(out, p.rs, run, 0, i, len);
            xsend(l, 0, out, len, p.finite, OP_SEND, run, i);
        }
        long n = xrecv(l, NULL, in, p.finite, OP_RECV_ACK, run, p.n);
        expect_len(in, n, 0, run, WHO_ACK, 0, HDR);
        finish_run(t0, p.n + 1);
    }
}

/* B: receives and checks each burst, then acknowledges it. */
static void burst_b(struct link *l)
{
    uint8_t out[MAX_MSG], in[MAX_MSG];
    for (uint32_t run = 0;; run++) {
        struct runp p = params(run, BURST_MAX);
        for (uint32_t i = 0; i < p.n; i++) {
            long n = xrecv(l, NULL, in, p.finite, OP_RECV, run, i);
            if (i == 0 && is_stop(in, n)) {
                return;
            }
            expect(in, n, p.rs, run, 0, i);
        }
        build(out, 0, run, WHO_ACK, 0, HDR);
        xsend(l, 0, out, HDR, p.finite, OP_SEND_ACK, run, p.n);
    }
}

static void pair_worker(void)
{
    struct link l;
    ipcx_port *port;
    link_open(&l, &port);
    int call = cur->mech == CHAN_CALL;
    if (cur->mech == MBOX_BURST || cur->mech == CHAN_BURST) {
        (me == 0 ? burst_a : burst_b)(&l);
    } else if (me == 0) {
        pingpong_a(&l, call);
    } else {
        pingpong_b(&l, call);
    }
    note(OP_DONE, 0, 0);
    link_close(&l, port);
}

/* ---- mbox-multi ----------------------------------------------------- */

static void ack_name(char *buf, size_t cap, int s)
{
    snprintf(buf, cap, "ack%d", s);
}

/* Sender S: its part of each run, then the acknowledgement, which says
 * whether another run follows.  Senders 0..NRECV-1 then stop one
 * receiver each. */
static void multi_sender(int s)
{
    char an[16];
    ack_name(an, sizeof an, s);
    struct link data = {xopen("data"), NULL, NULL};
    struct link ack = {NULL, xopen(an), NULL};
    uint8_t out[MAX_MSG], in[MAX_MSG];
    for (uint32_t run = 0;; run++) {
        struct runp p = params(run, BURST_MAX);
        uint32_t n = multi_n(p.rs, s);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len = msg_len(p.rs, (uint32_t)s, i, HDR);
            build(out, p.rs, run, (uint32_t)s, i, len);
            xsend(&data, 0, out, len, p.finite, OP_SEND, run, i);
        }
        long k = xrecv(&ack, NULL, in, p.finite, OP_RECV_ACK, run, n);
        struct hdr h = {0};
        memcpy(&h, in, k >= (long)HDR ? HDR : 0);
        uint32_t last = k == (long)HDR ? h.who_seq & 1 : 0;
        expect_len(in, k, 0, run, WHO_ACK, last, HDR);
        if (last) {
            if (s < NRECV) {
                send_stop(&data, run + 1);
            }
            break;
        }
    }
    note(OP_DONE, 0, 0);
    CHECK_RC(ipcx_mailbox_close(data.out), 0);
    CHECK_RC(ipcx_mailbox_close(ack.in), 0);
}

/* The receiver that completed RUN: every message came exactly once;
 * then set up the next run and acknowledge this one to each sender. */
static void multi_complete(uint32_t run, uint64_t rs, ipcx_mailbox **acks)
{
    for (int s = 0; s < NSEND; s++) {
        uint32_t n = multi_n(rs, s);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t w = atomic_load(&bd->seen[s][i / 64]);
            if (!(w >> (i % 64) & 1)) {
                fail("run %u: msg %u from sender %d never received", run, i, s);
            }
        }
        for (size_t j = 0; j < (BURST_MAX + 63) / 64; j++) {
            atomic_store(&bd->seen[s][j], 0);
        }
    }
    finish_run(atomic_load(&bd->run_start), multi_total(rs) + NSEND);
    struct runp next = params(run + 1, BURST_MAX);
    atomic_fetch_add(&bd->run_end, multi_total(next.rs));
    atomic_store(&bd->run_start, tu_now_ns());
    atomic_store(&bd->cur_run, run + 1);
    uint32_t last = atomic_load_explicit(&bd->stop, memory_order_relaxed);
    uint8_t out[MAX_MSG];
    build(out, 0, run, WHO_ACK, last, HDR);
    for (int s = 0; s < NSEND; s++) {
        struct link l = {acks[s], NULL, NULL};
        xsend(&l, 0, out, HDR, params(run, BURST_MAX).finite, OP_SEND_ACK, run,
              (uint32_t)s);
    }
}

/* Check one received message of mbox-multi: of the current run, from a
 * sender, intact, after that sender's previous one, not seen before. */
static void multi_check(const uint8_t *buf, long n, uint32_t *last_run,
                        int64_t *last_seq)
{
    uint32_t run = atomic_load(&bd->cur_run);
    struct runp p = params(run, BURST_MAX);
    struct hdr h;
    if (n < (long)HDR) {
        fail("run %u: %ld-byte message, shorter than a header", run, n);
    }
    memcpy(&h, buf, HDR);
    uint32_t s = h.who_seq >> 16, seq = h.who_seq & 0xffff;
    if (h.run != run || s >= NSEND || seq >= multi_n(p.rs, (int)s)) {
        fail("run %u: got a message of run %u from %u msg %u, which is not "
             "part of it",
             run, h.run, s, seq);
    }
    expect_len(buf, n, p.rs, run, s, seq, msg_len(p.rs, s, seq, HDR));
    if (run != *last_run) {
        *last_run = run;
        for (int i = 0; i < NSEND; i++) {
            last_seq[i] = -1;
        }
    }
    if ((int64_t)seq <= last_seq[s]) {
        fail("run %u: msg %u from sender %u after its msg %lld", run, seq, s,
             (long long)last_seq[s]);
    }
    last_seq[s] = seq;
    uint64_t bit = 1ull << (seq % 64);
    if (atomic_fetch_or(&bd->seen[s][seq / 64], bit) & bit) {
        fail("run %u: msg %u from sender %u received twice", run, seq, s);
    }
}

static void multi_receiver(void)
{
    ipcx_mailbox *acks[NSEND];
    for (int s = 0; s < NSEND; s++) {
        char an[16];
        ack_name(an, sizeof an, s);
        acks[s] = xopen(an);
    }
    struct link data = {NULL, xopen("data"), NULL};
    uint8_t in[MAX_MSG];
    uint32_t last_run = STOP_RUN;
    int64_t last_seq[NSEND] = {0};
    for (;;) {
        /* Relaxed: for the timeout and the stall report only. */
        uint32_t run = atomic_load_explicit(&bd->cur_run, memory_order_relaxed);
        struct runp p = params(run, BURST_MAX);
        uint64_t left =
            atomic_load_explicit(&bd->run_end, memory_order_relaxed) -
            atomic_load_explicit(&bd->processed, memory_order_relaxed);
        long n = xrecv(&data, NULL, in, p.finite, OP_RECV, run,
                       multi_total(p.rs) - (uint32_t)left);
        if (is_stop(in, n)) {
            break;
        }
        multi_check(in, n, &last_run, last_seq);
        /* The message that brings processed to run_end completes the run:
         * all others of the run have been checked by then. */
        run = atomic_load(&bd->cur_run);
        if (atomic_fetch_add(&bd->processed, 1) + 1 ==
            atomic_load(&bd->run_end)) {
            multi_complete(run, params(run, BURST_MAX).rs, acks);
        }
    }
    note(OP_DONE, 0, 0);
    CHECK_RC(ipcx_mailbox_close(data.in), 0);
    for (int s = 0; s < NSEND; s++) {
        CHECK_RC(ipcx_mailbox_close(acks[s]), 0);
    }
}

/* ---- worker processes ----------------------------------------------- */

static int cpu_of(int idx)
{
    return cur->split ? cpus[idx % 2] : cpus[0];
}

static int pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/* A worker: dies with the parent, pinned, with its spin setting. */
static int worker_main(void *arg)
{
    me = (int)(intptr_t)arg;
    worker_name(me, me_name, sizeof me_name);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
        fail("prctl or parent gone");
    }
    if (pin_to(cpu_of(me)) != 0) {
        fail("sched_setaffinity(CPU %d): %s", cpu_of(me), strerror(errno));
    }
    /* Before the first wait: the library reads it once per process. */
    int rc =
        cur->spin0 ? setenv("IPCX_SPIN_NS", "0", 1) : unsetenv("IPCX_SPIN_NS");
    if (rc != 0) {
        fail("setenv IPCX_SPIN_NS: %s", strerror(errno));
    }
    if (!is_multi()) {
        pair_worker();
    } else if (me < NSEND) {
        multi_sender(me);
    } else {
        multi_receiver();
    }
    return 0;
}

/* ---- hogs ----------------------------------------------------------- */

static int hog_main(void *arg)
{
    (void)arg;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
        return 1;
    }
    volatile uint64_t x = 0;
    for (;;) {
        x = x + 1;
    }
}

static struct {
    uint64_t rnd;
    int64_t next, last;
    int64_t time[NHOGS + 1]; /* ns spent with 0, 1, 2 hogs running */
} hs;

static void hogs_start(void)
{
    for (int i = 0; i < NHOGS; i++) {
        hogs[i] = tu_spawn(hog_main, NULL);
        hog_running[i] = 1;
    }
    hs.rnd = seed | 1;
    hs.last = hs.next = tu_now_ns();
}

/* Now and then run a random number of hogs (SIGSTOP / SIGCONT). */
static void hogs_tick(int64_t now)
{
    int running = 0;
    for (int i = 0; i < NHOGS; i++) {
        running += hog_running[i];
    }
    hs.time[running] += now - hs.last;
    hs.last = now;
    if (now < hs.next) {
        return;
    }
    hs.rnd = mix64(hs.rnd);
    int want = (int)(hs.rnd % (NHOGS + 1));
    for (int i = 0; i < NHOGS; i++) {
        int on = i < want;
        if (on != hog_running[i]) {
            CHECK(kill(hogs[i], on ? SIGCONT : SIGSTOP) == 0);
            hog_running[i] = on;
        }
    }
    hs.next = now + IPCX_MSEC(20) + (int64_t)(hs.rnd >> 40) % IPCX_MSEC(200);
}

static void hogs_stop(void)
{
    for (int i = 0; i < NHOGS; i++) {
        if (hogs[i] > 0) {
            CHECK(kill(hogs[i], SIGKILL) == 0);
            tu_wait(hogs[i]);
            hogs[i] = 0;
        }
    }
}

/* ---- canaries ------------------------------------------------------ */

static void canary_gap(struct canary *c, int64_t from, int64_t to)
{
    uint64_t n = atomic_load_explicit(&c->n, memory_order_relaxed);
    atomic_store(&c->gap[n % NGAPS].from, from);
    atomic_store(&c->gap[n % NGAPS].to, to);
    /* Release: the entry is written before readers count it. */
    atomic_store_explicit(&c->n, n + 1, memory_order_release);
    max_update(&c->max_gap, to - from);
    if (to - from >= GAP_BIG) {
        atomic_fetch_add(&c->big, 1);
    }
}

static int canary_main(void *arg)
{
    struct canary *c = &canaries[(intptr_t)arg];
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent ||
        pin_to(cpus[(intptr_t)arg]) != 0) {
        return 1;
    }
    int64_t last = tu_now_ns();
    atomic_store(&c->beat, last);
    for (;;) {
        tu_pause_ms(1);
        int64_t now = tu_now_ns();
        if (now - last > GAP_MIN) {
            canary_gap(c, last, now);
        }
        atomic_store(&c->beat, now);
        last = now;
    }
}

static void canaries_start(void)
{
    canaries = tu_shared_map(2 * sizeof *canaries);
    for (int i = 0; i < ncpus; i++) {
        canary_pids[i] = tu_spawn(canary_main, (void *)(intptr_t)i);
    }
    /* Wait for their first beat, so no start looks like a gap. */
    for (int i = 0; i < ncpus; i++) {
        for (int k = 0; k < 10000 && atomic_load(&canaries[i].beat) == 0; k++) {
            tu_pause_ms(1);
        }
        CHECK(atomic_load(&canaries[i].beat) != 0);
    }
}

static void canaries_stop(void)
{
    for (int i = 0; i < ncpus; i++) {
        CHECK(kill(canary_pids[i], SIGKILL) == 0);
        tu_wait(canary_pids[i]);
        canary_pids[i] = 0;
    }
}

/* atexit: a failing parent leaves no process behind. */
static void kill_all(void)
{
    if (getpid() != parent) {
        return;
    }
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
        }
    }
    for (int i = 0; i < NHOGS; i++) {
        if (hogs[i] > 0) {
            kill(hogs[i], SIGKILL);
        }
    }
    for (int i = 0; i < 2; i++) {
        if (canary_pids[i] > 0) {
            kill(canary_pids[i], SIGKILL);
        }
    }
}

/* ---- the parent ----------------------------------------------------- */

static void add_variant(enum mech m, uint32_t cap, int split, int spin0)
{
    CHECK(nvariants < MAX_VARIANTS);
    struct variant *v = &variants[nvariants++];
    v->mech = m;
    v->cap = cap;
    v->split = split;
    v->spin0 = spin0;
    char c[16];
    if (cap == IPCX_UNBOUNDED) {
        snprintf(c, sizeof c, "unb");
    } else {
        snprintf(c, sizeof c, "%u", cap);
    }
    snprintf(v->name, sizeof v->name, "%s cap=%s pin=%s spin=%s", mech_names[m],
             c, split ? "split" : "same", spin0 ? "0" : "default");
}

static void make_variants(void)
{
    static const struct {
        enum mech m;
        uint32_t caps[6];
    } table[] = {
        {MBOX_PINGPONG, {0, 1, 2, 64, IPCX_UNBOUNDED, 99}},
        {MBOX_BURST, {0, 1, 2, 64, IPCX_UNBOUNDED, 99}},
        {MBOX_MULTI, {0, 1, 2, IPCX_UNBOUNDED, 99}},
        {CHAN_PINGPONG, {1, 2, 64, 99}},
        {CHAN_BURST, {1, 2, 64, 99}},
        {CHAN_CALL, {1, 64, 99}},
    }; /* 99 ends a list */
    for (size_t t = 0; t < sizeof table / sizeof table[0]; t++) {
        for (int k = 0; table[t].caps[k] != 99; k++) {
            for (int split = 1; split >= 0; split--) {
                for (int spin0 = 0; spin0 <= 1; spin0++) {
                    add_variant(table[t].m, table[t].caps[k], split, spin0);
                }
            }
        }
    }
}

static void create_mbox(const char *what, uint32_t cap)
{
    char name[64];
    mbox_name(name, sizeof name, what);
    ipcx_mailbox_attr a = tu_attr(cap, MAX_MSG);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
}

/* The mailboxes of the current variant (WHATS[i]); returns how many. */
static int mbox_list(const char *whats[NSEND + 1])
{
    static const char *const pair[] = {"a2b", "b2a"};
    static const char *const multi[] = {"data", "ack0", "ack1", "ack2", "ack3"};
    _Static_assert(NSEND == 4, "ack names");
    int n = is_chan() ? 0 : is_multi() ? NSEND + 1 : 2;
    for (int i = 0; i < n; i++) {
        whats[i] = is_multi() ? multi[i] : pair[i];
    }
    return n;
}

static void setup_variant(void)
{
    const char *whats[NSEND + 1];
    int n = mbox_list(whats);
    for (int i = 0; i < n; i++) {
        /* mbox-multi acknowledgements: one each, capacity 1 */
        uint32_t cap = is_multi() && i > 0 ? 1 : cur->cap;
        create_mbox(whats[i], cap);
    }
    memset(bd, 0, sizeof *bd);
    atomic_store(&bd->last_progress, tu_now_ns());
    atomic_store(&bd->run_start, tu_now_ns());
    atomic_store(&bd->run_end, multi_total(params(0, BURST_MAX).rs));
}

static void teardown_variant(void)
{
    const char *whats[NSEND + 1];
    int n = mbox_list(whats);
    for (int i = 0; i < n; i++) {
        char name[64];
        mbox_name(name, sizeof name, whats[i]);
        CHECK_RC(ipcx_mailbox_destroy(name), 0);
    }
}

/* A stall: where each worker is, and each mailbox's counters. */
static void report_stall(int64_t since, int64_t machine)
{
    fprintf(stderr,
            "stress: STALL %s: run %llu not finished after %.1f s, while "
            "the machine stalled %.0f ms (seed %#llx)\n",
            cur->name, (unsigned long long)atomic_load(&bd->runs),
            (double)since / 1e9, (double)machine / 1e6,
            (unsigned long long)seed);
    for (int i = 0; i < nkids; i++) {
        char wn[32];
        worker_name(i, wn, sizeof wn);
        struct wstate *w = &bd->w[i];
        uint32_t op = atomic_load(&w->op);
        fprintf(stderr, "stress:   %s (pid %d, CPU %d): %s, run %u msg %u\n",
                wn, (int)atomic_load(&w->pid), cpu_of(i),
                kids[i] <= 0                                ? "exited"
                : op < sizeof op_names / sizeof op_names[0] ? op_names[op]
                                                            : "?",
                atomic_load(&w->run), atomic_load(&w->seq));
    }
    const char *whats[NSEND + 1];
    int n = mbox_list(whats);
    for (int i = 0; i < n; i++) {
        char name[64];
        ipcx_mailbox_info st;
        mbox_name(name, sizeof name, whats[i]);
        if (ipcx_mailbox_stat_name(name, &st) == 0) {
            fprintf(stderr,
                    "stress:   mailbox %s: depth %llu, sent %llu, received "
                    "%llu, send_waiting %u, recv_waiting %u\n",
                    name, (unsigned long long)st.depth,
                    (unsigned long long)st.sent,
                    (unsigned long long)st.received, st.send_waiting,
                    st.recv_waiting);
        }
    }
}

/* Reap the workers that ended; *bad set if one ended badly.  Returns
 * how many still run. */
static int reap(int *bad)
{
    int live = 0;
    for (int i = 0; i < nkids; i++) {
        if (kids[i] <= 0) {
            continue;
        }
        int st;
        pid_t r = waitpid(kids[i], &st, WNOHANG);
        CHECK(r >= 0);
        if (r == 0) {
            live++;
            continue;
        }
        kids[i] = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char wn[32];
            worker_name(i, wn, sizeof wn);
            fprintf(stderr, "stress: FAIL %s: %s ended with %s %d\n", cur->name,
                    wn, WIFEXITED(st) ? "exit status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            *bad = 1;
        }
    }
    return live;
}

/* Stop them all first, so that no survivor wakes to its peer's death
 * and reports it. */
static void kill_kids(void)
{
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            CHECK(kill(kids[i], SIGSTOP) == 0);
        }
    }
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            CHECK(kill(kids[i], SIGKILL) == 0);
        }
    }
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            tu_wait(kids[i]);
            kids[i] = 0;
        }
    }
}

/* Watch the variant's runs for SLICE ns, then stop them.  Returns 0, or
 * 1 if a worker failed or a run stalled (*stalls: how many stalls). */
static int watch(int64_t slice, uint64_t *stalls)
{
    int64_t stop_at = tu_now_ns() + slice;
    int bad = 0;
    *stalls = 0;
    while (reap(&bad) > 0 && !bad) {
        tu_pause_ms(1);
        int64_t now = tu_now_ns();
        hogs_tick(now);
        if (now >= stop_at) {
            atomic_store(&bd->stop, 1);
        }
        int64_t last = atomic_load(&bd->last_progress);
        if (now - last > STALL_BOUND) {
            /* Not counting the time the machine itself stalled. */
            int64_t m = machine_stall(last, now);
            if (now - last - m > STALL_BOUND || now - last > HARD_BOUND) {
                report_stall(now - last, m);
                *stalls = 1;
                bad = 1;
            }
        }
    }
    kill_kids();
    uint64_t ops = atomic_load(&bd->stalls);
    if (ops > 0) {
        fprintf(stderr,
                "stress: FAIL %s: %llu operations stalled (blocked %lld ms "
                "or more, retries after -ETIMEDOUT included)\n",
                cur->name, (unsigned long long)ops,
                (long long)(OP_BOUND / 1000000));
        *stalls += ops;
        bad = 1;
    }
    return bad;
}

struct totals {
    uint64_t runs, msgs, variants, failed, stalls, excused;
    int64_t max_run, max_op;
    const char *max_run_variant;
};

static void run_variant(int vi, int64_t slice, struct totals *t)
{
    cur = &variants[vi];
    cur_vi = vi;
    setup_variant();
    nkids = nworkers();
    for (int i = 0; i < nkids; i++) {
        kids[i] = tu_spawn(worker_main, (void *)(intptr_t)i);
        atomic_store(&bd->w[i].pid, kids[i]);
    }
    uint64_t stalls;
    int bad = watch(slice, &stalls);
    teardown_variant();
    uint64_t runs = atomic_load(&bd->runs), msgs = atomic_load(&bd->msgs);
    int64_t max_run = atomic_load(&bd->max_run);
    int64_t max_op = atomic_load(&bd->max_op);
    printf("  %-42s %6llu runs %8llu msgs, longest run %6.2f ms, wait "
           "%6.2f ms%s\n",
           cur->name, (unsigned long long)runs, (unsigned long long)msgs,
           (double)max_run / 1e6, (double)max_op / 1e6, bad ? "  FAILED" : "");
    fflush(stdout);
    t->variants++;
    t->runs += runs;
    t->msgs += msgs;
    t->failed += (uint64_t)bad;
    t->stalls += stalls;
    t->excused += atomic_load(&bd->excused);
    t->max_op = max_op > t->max_op ? max_op : t->max_op;
    if (max_run > t->max_run) {
        t->max_run = max_run;
        t->max_run_variant = cur->name;
    }
    if (bad) {
        fprintf(stderr,
                "stress: reproduce: IPCX_STRESS_SEED=%#llx "
                "IPCX_STRESS_ONLY='%s' %s\n",
                (unsigned long long)seed, cur->name,
                "tests/test_stress_wakeup");
    }
}

static void print_totals(const struct totals *t, int64_t elapsed)
{
    printf("stress: %llu variants, %llu runs (%llu per variant), %llu "
           "messages, longest run %.2f ms (%s), longest wait %.2f ms, "
           "stalls %llu, failed variants %llu, %.1f s\n",
           (unsigned long long)t->variants, (unsigned long long)t->runs,
           (unsigned long long)(t->runs / (t->variants ? t->variants : 1)),
           (unsigned long long)t->msgs, (double)t->max_run / 1e6,
           t->max_run_variant ? t->max_run_variant : "-",
           (double)t->max_op / 1e6, (unsigned long long)t->stalls,
           (unsigned long long)t->failed, (double)elapsed / 1e9);
    int64_t all = hs.time[0] + hs.time[1] + hs.time[2];
    all = all > 0 ? all : 1;
    int64_t gap = 0;
    uint64_t big = 0;
    for (int i = 0; i < ncpus; i++) {
        int64_t g = atomic_load(&canaries[i].max_gap);
        gap = g > gap ? g : gap;
        big += atomic_load(&canaries[i].big);
    }
    printf("stress: load: hogs running 0/1/2: %.0f%%/%.0f%%/%.0f%% of the "
           "time; machine stalls (a CPU's canary %lld ms late or more): "
           "%llu, longest %.0f ms; slow operations excused by them: %llu\n",
           100.0 * hs.time[0] / all, 100.0 * hs.time[1] / all,
           100.0 * hs.time[2] / all, (long long)(GAP_BIG / 1000000),
           (unsigned long long)big, (double)gap / 1e6,
           (unsigned long long)t->excused);
}

/* The first two CPUs this process may run on. */
static void find_cpus(void)
{
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    for (int c = 0; c < CPU_SETSIZE && ncpus < 2; c++) {
        if (CPU_ISSET(c, &set)) {
            cpus[ncpus++] = c;
        }
    }
    CHECK(ncpus >= 1);
}

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    return s != NULL && *s != '\0' ? strtol(s, NULL, 0) : dflt;
}

/* The variants to run: those whose name contains IPCX_STRESS_ONLY, and
 * no split pinning on one CPU.  Returns how many are selected. */
static int select_variants(int *sel)
{
    const char *only = getenv("IPCX_STRESS_ONLY");
    int n = 0;
    for (int i = 0; i < nvariants; i++) {
        if ((only == NULL || strstr(variants[i].name, only) != NULL) &&
            (ncpus >= 2 || !variants[i].split)) {
            sel[n++] = i;
        }
    }
    return n;
}

int main(void)
{
    tu_private_ns();
    parent = getpid();
    CHECK(atexit(kill_all) == 0);
    const char *s = getenv("IPCX_STRESS_SEED");
    seed = s != NULL ? strtoull(s, NULL, 0)
                     : (uint64_t)tu_now_ns() ^ (uint64_t)getpid() << 32;
    long seconds = env_long("IPCX_STRESS_SECONDS", DEFAULT_SECONDS);
    CHECK(seconds > 0);
    find_cpus();
    make_variants();
    int sel[MAX_VARIANTS];
    int nsel = select_variants(sel);
    CHECK(nsel > 0);
    int64_t slice = IPCX_SEC(seconds) / nsel;
    bd = tu_shared_map(sizeof *bd);
    printf("stress: seed %#llx, %d variants, %ld s (%.2f s each), CPUs %d "
           "and %d, %d hogs%s%s\n",
           (unsigned long long)seed, nsel, seconds, (double)slice / 1e9,
           cpus[0], cpus[ncpus - 1], NHOGS,
           SANITIZED ? ", sanitizer build" : "",
           ncpus < 2 ? "; one CPU: split pinning skipped" : "");
    int64_t t0 = tu_now_ns();
    canaries_start();
    hogs_start();
    struct totals t = {0};
    for (int i = 0; i < nsel && t.failed < MAX_FAILED; i++) {
        run_variant(sel[i], slice, &t);
    }
    hogs_stop();
    print_totals(&t, tu_now_ns() - t0);
    canaries_stop();
    return t.failed > 0;
}
