/*
 * test_torture.c - kill -9 torture (issue 4, item 3; SPEC "Crash, fault and
 * hostile-peer rules").  For each receiver policy (any, exclusive, pair) and
 * capacity mode (bounded 4, rendezvous, unbounded with a 64 KiB ceiling),
 * producer and consumer processes run while a controller SIGKILLs random
 * participants after random delays (many of them a few microseconds, so
 * kills land in the middle of sends, receives and opens) and starts
 * replacements at once.
 *
 * Every message names its producer incarnation and sequence number, has a
 * length that depends on both, and carries a checksum of its content.  A
 * producer records in shared memory how many of its sends RETURNED success;
 * a consumer records every message it got right after recv returned (one
 * bit per sequence number: a bit already set is a duplicate).  Checks:
 *   (a) no duplicate, no corrupt message;
 *   (b) per producer incarnation, increasing sequence numbers at each
 *       consumer;
 *   (c) lost messages (send returned 0, no consumer recorded it) at most one
 *       per killed consumer, so at most one per killed process: the one it
 *       was receiving (killed between claiming and recording it);
 *   (d) no stall: the longest time during which no consumer made progress
 *       stays below STALL_BOUND, and once the kills stop every remaining
 *       message is received within DRAIN_BOUND;
 *   exclusive: only the holder of the receive right receives (the time
 *       spans of different consumers' receptions never overlap) and a
 *       survivor takes the right over when its holder dies;
 *   pair: a replacement's open answers -EBUSY only until the dead one's
 *       place is reclaimed (bounded by OPEN_BOUND).
 * Producers also use timeout 0 now and then, and (policy any) delivery
 * receipts; a failed send is retried with the same sequence number, so a
 * failed send that was delivered anyway shows up as a duplicate.
 *
 * Before the random scenarios, targeted regressions reproduce what the
 * random kills (and a read of io.c) found, deterministically.
 *
 * IPCX_TORTURE_KILLS sets the number of kills over all nine scenarios
 * (default DEFAULT_KILLS: 15-25 s normal, 30-40 s under ASan, 2 vCPUs),
 * IPCX_TORTURE_SEED the random seed (printed), IPCX_TORTURE_ONLY=<name>
 * runs one scenario with all the kills (and no regressions).
 * scripts/torture.sh runs the long version.  Not labelled concurrency:
 * too slow under ThreadSanitizer.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailbox/layout.h"
#include "mailbox/mailbox.h"
#include "testutil.h"

#define DEFAULT_KILLS 3600
#define MAX_MSG       256u
#define HDR           32u
#define SEQ_MAX       4096u       /* a producer retires after this many */
#define MAX_INC       (1u << 17)  /* incarnations per scenario */
#define MAX_PART      6           /* participants at a time */
#define MAX_KIDS      64          /* children not yet reaped */
#define MSG_MAGIC     0x54525458u /* "XTRT" */
#define STOP_MAGIC    0x504f5453u /* "STOP" */

#define SEND_TIMEOUT IPCX_SEC(2)
#define RECV_TIMEOUT IPCX_SEC(2)
#define STALL_BOUND  IPCX_SEC(5)  /* no progress at all for this long */
#define OPEN_BOUND   IPCX_SEC(5)  /* pair: -EBUSY must resolve by then */
#define DRAIN_BOUND  IPCX_SEC(15) /* remaining messages received by then */

enum role { PRODUCER = 1, CONSUMER = 2 };
enum rec_state { REC_LIVE = 0, REC_KILLED = 1, REC_EXITED = 2 };

/* One incarnation of a participant. */
struct rec {
    _Atomic uint32_t sent_ok; /* producer: sends that returned 0 */
    _Atomic uint32_t state;   /* enum rec_state, set by the controller */
    _Atomic int64_t first_rx; /* consumer: when it recorded its first */
    _Atomic int64_t last_rx;  /* ... and its latest message */
    _Atomic uint64_t got[SEQ_MAX / 64]; /* producer: seqs received */
};

/* Shared by the controller of one scenario and its participants. */
struct board {
    _Atomic int stop_producers;
    _Atomic int64_t last_progress; /* latest reception, 0 before the first */
    _Atomic int64_t max_gap;       /* longest time between receptions */
    _Atomic int64_t max_call;      /* longest successful blocking call */
    _Atomic int64_t max_open_busy; /* pair: longest -EBUSY streak */
    _Atomic uint64_t received, dup, corrupt, disorder, errors;
    _Atomic uint64_t timeouts, nospc, busy;
    struct rec rec[MAX_INC];
};

/* Totals over all scenarios, for the summary line. */
struct totals {
    _Atomic uint64_t kills, sent, received, lost, unconfirmed;
    _Atomic int64_t max_gap, max_call, max_open_busy, max_drain;
};

struct scenario {
    const char *name;
    uint32_t policy, capacity;
    uint64_t max_bytes;
    int producers, consumers;
};

static const struct scenario scenarios[] = {
    {"any-bounded", IPCX_POLICY_ANY, 4, 0, 3, 3},
    {"any-rendezvous", IPCX_POLICY_ANY, 0, 0, 3, 3},
    {"any-unbounded", IPCX_POLICY_ANY, IPCX_UNBOUNDED, 64u << 10, 3, 3},
    {"excl-bounded", IPCX_POLICY_EXCLUSIVE, 4, 0, 2, 3},
    {"excl-rendezvous", IPCX_POLICY_EXCLUSIVE, 0, 0, 2, 3},
    {"excl-unbounded", IPCX_POLICY_EXCLUSIVE, IPCX_UNBOUNDED, 64u << 10, 2, 3},
    {"pair-bounded", IPCX_POLICY_PAIR, 4, 0, 1, 1},
    {"pair-rendezvous", IPCX_POLICY_PAIR, 0, 0, 1, 1},
    {"pair-unbounded", IPCX_POLICY_PAIR, IPCX_UNBOUNDED, 64u << 10, 1, 1},
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

static const struct scenario *sc; /* the scenario this process runs */
static struct board *bd;
static struct totals *tot;
static uint64_t seed;
static int kills_per_scenario;

static void dump_queue(void);

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static void max_update(_Atomic int64_t *m, int64_t v)
{
    int64_t cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {
    }
}

static uint32_t fnv(const uint8_t *b, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}

/* Length of message (inc, seq): HDR .. MAX_MSG, often at either end. */
static uint32_t msg_len(uint32_t inc, uint32_t seq)
{
    uint32_t r = mix(inc * 0x9e3779b9u ^ seq);
    switch (r % 8) {
    case 0:
        return HDR;
    case 1:
        return MAX_MSG;
    default:
        return HDR + (r >> 3) % (MAX_MSG - HDR + 1);
    }
}

static uint8_t pattern(uint32_t inc, uint32_t seq, uint32_t i)
{
    return (uint8_t)(mix(inc * 131u + seq * 7919u) >> ((i % 4) * 8)) ^
           (uint8_t)i;
}

/* Header: magic, inc, seq, len, checksum of the payload, reserved. */
static size_t build(uint8_t *buf, uint32_t inc, uint32_t seq)
{
    uint32_t len = msg_len(inc, seq);
    for (uint32_t i = HDR; i < len; i++) {
        buf[i] = pattern(inc, seq, i);
    }
    uint32_t h[8] = {MSG_MAGIC, inc, seq, len, fnv(buf + HDR, len - HDR)};
    memcpy(buf, h, HDR);
    return len;
}

/* Check message BUF of N bytes; 0 and *inc, *seq if intact. */
static int verify(const uint8_t *buf, long n, uint32_t *inc, uint32_t *seq)
{
    uint32_t h[8];
    if (n < (long)HDR) {
        fprintf(stderr, "torture: corrupt: %ld-byte message\n", n);
        return -1;
    }
    memcpy(h, buf, HDR);
    if (h[0] != MSG_MAGIC || h[1] == 0 || h[1] >= MAX_INC || h[2] >= SEQ_MAX ||
        h[3] != (uint32_t)n || h[3] != msg_len(h[1], h[2])) {
        fprintf(stderr,
                "torture: corrupt header: magic %08x inc %u seq %u len %u, "
                "received %ld bytes\n",
                h[0], h[1], h[2], h[3], n);
        return -1;
    }
    for (uint32_t i = HDR; i < (uint32_t)n; i++) {
        if (buf[i] != pattern(h[1], h[2], i)) {
            fprintf(stderr, "torture: corrupt payload: inc %u seq %u byte %u\n",
                    h[1], h[2], i);
            return -1;
        }
    }
    if (fnv(buf + HDR, (size_t)n - HDR) != h[4]) {
        fprintf(stderr, "torture: bad checksum: inc %u seq %u\n", h[1], h[2]);
        return -1;
    }
    *inc = h[1];
    *seq = h[2];
    return 0;
}

static int is_stop(const uint8_t *buf, long n)
{
    uint32_t m;
    if (n != 4) {
        return 0;
    }
    memcpy(&m, buf, 4);
    return m == STOP_MAGIC;
}

static void report(const char *who, uint32_t inc, const char *op, long rc)
{
    fprintf(stderr, "torture %s: %s %u: %s: %s (%s)\n", sc->name, who, inc, op,
            ipcx_strerror((int)rc), ipcx_last_error());
    atomic_fetch_add(&bd->errors, 1);
}

/* ---- participants ----------------------------------------------------- */

struct part {
    enum role role;
    uint32_t inc;
};

/* Open the scenario's mailbox; a pair mailbox answers -EBUSY while the
 * place of a killed process is not yet reclaimable: retry, bounded. */
static ipcx_mailbox *open_mailbox(const char *who, uint32_t inc)
{
    ipcx_mailbox *mb = NULL;
    int64_t t0 = tu_now_ns(), busy_since = 0;
    for (;;) {
        int rc = ipcx_mailbox_open(sc->name, 0, &mb);
        if (rc == 0) {
            if (busy_since != 0) {
                max_update(&bd->max_open_busy, tu_now_ns() - busy_since);
            }
            return mb;
        }
        if (rc != -EBUSY || sc->policy != IPCX_POLICY_PAIR) {
            report(who, inc, "open", rc);
            return NULL;
        }
        if (busy_since == 0) {
            busy_since = tu_now_ns();
        }
        if (tu_now_ns() - t0 > OPEN_BOUND) {
            fprintf(stderr,
                    "torture %s: %s %u: pair open still -EBUSY after "
                    "%lld ms\n",
                    sc->name, who, inc, (long long)(OPEN_BOUND / 1000000));
            atomic_fetch_add(&bd->errors, 1);
            return NULL;
        }
        tu_pause_us(200);
    }
}

static int producer(void *arg)
{
    struct part me = *(struct part *)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint64_t rs = seed ^ ((uint64_t)me.inc * 0x9e3779b97f4a7c15ull) ^ 1;
    ipcx_mailbox *mb = open_mailbox("producer", me.inc);
    if (mb == NULL) {
        return 1;
    }
    struct rec *r = &bd->rec[me.inc];
    uint8_t buf[MAX_MSG];
    uint32_t seq = 0;
    while (seq < SEQ_MAX && !atomic_load(&bd->stop_producers)) {
        size_t len = build(buf, me.inc, seq);
        uint64_t x = rnd(&rs);
        int64_t to = x % 8 == 0 ? 0 : SEND_TIMEOUT;
        int receipt = sc->policy == IPCX_POLICY_ANY && x % 8 == 1;
        pid_t who = 0;
        int64_t t0 = tu_now_ns();
        int rc = receipt ? ipcx_mailbox_send_ex(mb, buf, len, to,
                                                IPCX_SEND_RECEIPT, &who)
                         : ipcx_mailbox_send(mb, buf, len, to);
        if (rc == 0) {
            /* Right after send returned: this message counts as sent. */
            atomic_store(&r->sent_ok, seq + 1);
            seq++;
            if (to != 0) {
                max_update(&bd->max_call, tu_now_ns() - t0);
            }
            if (receipt && who <= 0) {
                fprintf(stderr, "torture %s: receipt names pid %d\n", sc->name,
                        (int)who);
                atomic_fetch_add(&bd->errors, 1);
            }
            continue;
        }
        /* A failed send left nothing behind: send the same seq again. */
        if (rc == -EAGAIN && to == 0) {
            continue;
        }
        if (rc == -ETIMEDOUT) {
            atomic_fetch_add(&bd->timeouts, 1);
        } else if (rc == -ENOSPC && sc->capacity == IPCX_UNBOUNDED) {
            atomic_fetch_add(&bd->nospc, 1);
            tu_pause_us(100);
        } else {
            report("producer", me.inc, "send", rc);
            return 1;
        }
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static void record(uint32_t my_inc, const uint8_t *buf, long n, uint32_t *last)
{
    uint32_t inc, seq;
    if (verify(buf, n, &inc, &seq) < 0) {
        atomic_fetch_add(&bd->corrupt, 1);
        return;
    }
    struct rec *r = &bd->rec[inc];
    uint64_t bit = 1ull << (seq % 64);
    if (atomic_fetch_or(&r->got[seq / 64], bit) & bit) {
        fprintf(stderr, "torture %s: duplicate: inc %u seq %u\n", sc->name, inc,
                seq);
        atomic_fetch_add(&bd->dup, 1);
    }
    if (seq + 1 <= last[inc]) {
        fprintf(stderr,
                "torture %s: consumer %u got inc %u seq %u after seq %u\n",
                sc->name, my_inc, inc, seq, last[inc] - 1);
        atomic_fetch_add(&bd->disorder, 1);
    } else {
        last[inc] = seq + 1;
    }
    atomic_fetch_add(&bd->received, 1);
    int64_t now = tu_now_ns();
    int64_t prev = atomic_exchange(&bd->last_progress, now);
    if (prev != 0) {
        max_update(&bd->max_gap, now - prev);
    }
    struct rec *mine = &bd->rec[my_inc];
    if (atomic_load(&mine->first_rx) == 0) {
        atomic_store(&mine->first_rx, now);
    }
    atomic_store(&mine->last_rx, now);
}

static int consumer(void *arg)
{
    struct part me = *(struct part *)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint64_t rs = seed ^ ((uint64_t)me.inc * 0x9e3779b97f4a7c15ull) ^ 2;
    ipcx_mailbox *mb = open_mailbox("consumer", me.inc);
    if (mb == NULL) {
        return 1;
    }
    /* last[inc]: 1 + the last seq this consumer got from incarnation inc. */
    uint32_t *last = calloc(MAX_INC, sizeof *last);
    CHECK(last != NULL);
    uint8_t buf[MAX_MSG];
    for (;;) {
        int64_t to = rnd(&rs) % 8 == 0 ? 0 : RECV_TIMEOUT;
        int64_t t0 = tu_now_ns();
        long n = ipcx_mailbox_recv(mb, buf, sizeof buf, to);
        if (n >= 0) {
            if (is_stop(buf, n)) {
                break;
            }
            record(me.inc, buf, n, last);
            if (to != 0) {
                max_update(&bd->max_call, tu_now_ns() - t0);
            }
        } else if (n == -EAGAIN && to == 0) {
            continue;
        } else if (n == -ETIMEDOUT) {
            atomic_fetch_add(&bd->timeouts, 1);
        } else if (n == -EBUSY && sc->policy == IPCX_POLICY_EXCLUSIVE) {
            /* Another live consumer holds the receive right. */
            atomic_fetch_add(&bd->busy, 1);
            tu_pause_us(200);
        } else {
            report("consumer", me.inc, "recv", n);
            return 1;
        }
    }
    free(last);
    ipcx_mailbox_close(mb);
    return 0;
}

/* ---- controller ------------------------------------------------------- */

struct kid {
    pid_t pid;
    uint32_t inc;
    int slot;
    int killed; /* we sent it SIGKILL */
};

struct ctl {
    enum role slot_role[MAX_PART];
    uint32_t slot_inc[MAX_PART];
    pid_t slot_pid[MAX_PART];
    int nslots;
    struct kid kids[MAX_KIDS];
    int nkids;
    uint32_t next_inc;
    enum role *inc_role; /* [MAX_INC] */
    int draining;        /* producers are told to stop: no respawns */
    int failed;
    uint64_t kills, consumer_kills, spawned;
};

static int spawn(struct ctl *c, int slot)
{
    if (c->next_inc >= MAX_INC || c->nkids >= MAX_KIDS) {
        return -1;
    }
    struct part p = {c->slot_role[slot], c->next_inc++};
    c->inc_role[p.inc] = p.role;
    pid_t pid = tu_spawn(p.role == PRODUCER ? producer : consumer, &p);
    c->slot_inc[slot] = p.inc;
    c->slot_pid[slot] = pid;
    c->kids[c->nkids++] = (struct kid){pid, p.inc, slot, 0};
    c->spawned++;
    return 0;
}

/* Handle one reaped child. */
static void reaped(struct ctl *c, int k, int status)
{
    struct kid kd = c->kids[k];
    c->kids[k] = c->kids[--c->nkids];
    struct rec *r = &bd->rec[kd.inc];
    int current = c->slot_pid[kd.slot] == kd.pid;
    if (current) {
        c->slot_pid[kd.slot] = 0;
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && kd.killed) {
        atomic_store(&r->state, REC_KILLED);
        c->kills++;
        c->consumer_kills += c->inc_role[kd.inc] == CONSUMER;
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        atomic_store(&r->state, REC_EXITED);
        /* A producer retires after SEQ_MAX messages: replace it. */
        if (current && !c->draining && c->inc_role[kd.inc] == PRODUCER &&
            spawn(c, kd.slot) < 0) {
            c->failed = 1;
        }
        if (c->inc_role[kd.inc] == CONSUMER && !c->draining) {
            fprintf(stderr, "torture %s: consumer %u exited early\n", sc->name,
                    kd.inc);
            c->failed = 1;
        }
        return;
    }
    fprintf(stderr, "torture %s: %s %u (pid %d) %s %d\n", sc->name,
            c->inc_role[kd.inc] == PRODUCER ? "producer" : "consumer", kd.inc,
            (int)kd.pid, WIFSIGNALED(status) ? "died of signal" : "exited",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    c->failed = 1;
}

static void reap(struct ctl *c)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0) {
            return;
        }
        for (int k = 0; k < c->nkids; k++) {
            if (c->kids[k].pid == pid) {
                reaped(c, k, st);
                break;
            }
        }
    }
}

/* Reap the children we killed: SIGKILL always ends them. */
static void reap_killed(struct ctl *c)
{
    for (int k = 0; k < c->nkids;) {
        int st;
        if (!c->kids[k].killed) {
            k++;
            continue;
        }
        pid_t pid = c->kids[k].pid;
        while (waitpid(pid, &st, 0) < 0) {
            CHECK(errno == EINTR);
        }
        reaped(c, k, st); /* moves the last kid into slot k */
    }
}

/* Fail if no consumer has made progress for STALL_BOUND. */
static void check_stall(struct ctl *c, int64_t start)
{
    int64_t last = atomic_load(&bd->last_progress);
    int64_t since = tu_now_ns() - (last != 0 ? last : start);
    if (since > STALL_BOUND && !c->failed) {
        ipcx_mailbox_info st;
        int rc = ipcx_mailbox_stat_name(sc->name, &st);
        fprintf(stderr,
                "torture %s: STALL: no message received for %lld ms "
                "(stat rc %d: depth %llu, nopen %u, send_waiting %u, "
                "recv_waiting %u, receiver %d)\n",
                sc->name, (long long)(since / 1000000), rc,
                (unsigned long long)st.depth, st.nopen, st.send_waiting,
                st.recv_waiting, (int)st.receiver);
        dump_queue();
        c->failed = 1;
    }
}

/* Sleep about US microseconds, reaping and watching for stalls. */
static void wait_us(struct ctl *c, int64_t us, int64_t start)
{
    int64_t until = tu_now_ns() + us * 1000;
    for (;;) {
        reap(c);
        check_stall(c, start);
        int64_t left = (until - tu_now_ns()) / 1000;
        if (left <= 0) {
            return;
        }
        tu_pause_us(left < 1000 ? left : 1000);
    }
}

/* A random delay: a quarter under 50 us (the victim is mid-call or
 * mid-open), most under 2 ms, a few up to 30 ms. */
static int64_t kill_delay(uint64_t *rs)
{
    uint64_t x = rnd(rs);
    switch (x % 8) {
    case 0:
    case 1:
        return (int64_t)((x >> 8) % 50);
    case 2:
    case 3:
    case 4:
        return (int64_t)((x >> 8) % 2000);
    case 5:
    case 6:
        return (int64_t)((x >> 8) % 8000);
    default:
        return (int64_t)((x >> 8) % 30000);
    }
}

/* Wait (reaping) until no child of ROLE is left, or BOUND passes. */
static int wait_role_gone(struct ctl *c, enum role role, int64_t bound)
{
    int64_t t0 = tu_now_ns();
    for (;;) {
        reap(c);
        int left = 0;
        for (int k = 0; k < c->nkids; k++) {
            left += c->inc_role[c->kids[k].inc] == role;
        }
        if (left == 0) {
            return 0;
        }
        if (tu_now_ns() - t0 > bound) {
            fprintf(stderr, "torture %s: %d %ss still running after %lld ms\n",
                    sc->name, left, role == PRODUCER ? "producer" : "consumer",
                    (long long)(bound / 1000000));
            return -1;
        }
        tu_pause_us(500);
    }
}

/* After a failure: end everyone (their in-flight message counts as the
 * one a killed process may lose or leave unconfirmed). */
static void kill_all(struct ctl *c)
{
    for (int k = 0; k < c->nkids; k++) {
        atomic_store(&bd->rec[c->kids[k].inc].state, REC_KILLED);
        kill(c->kids[k].pid, SIGKILL);
    }
    while (c->nkids > 0) {
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            break;
        }
        for (int k = 0; k < c->nkids; k++) {
            if (c->kids[k].pid == pid) {
                c->kids[k] = c->kids[--c->nkids];
                break;
            }
        }
    }
}

/*
 * Diagnostics for a report: the queue's shared state as the file holds it
 * (read through the internal layout; only printed, never relied on).
 * Slot states: E empty, W writing, F full, R reading, T taken, D done,
 * X withdrawn, followed by the holder id where there is one.
 */
static void dump_queue(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.mbox", getenv("IPCX_DIR"), sc->name);
    int fd = open(path, O_RDONLY);
    struct stat fst;
    struct mbx_header h;
    if (fd < 0 || fstat(fd, &fst) < 0 ||
        pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        fprintf(stderr, "dump: cannot read %s\n", path);
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    size_t len = (size_t)fst.st_size;
    unsigned char *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        return;
    }
    const struct mbx_header *sh = (const void *)base;
    uint64_t head = atomic_load(&sh->q.head), tail = atomic_load(&sh->q.tail);
    uint64_t top = atomic_load(&sh->q.free_top);
    fprintf(stderr,
            "dump %s: K %u M %u S %u head %llu (gen %llu) tail %llu (gen "
            "%llu) withdrawn %lld free_top %u:%u pool_used %u rx_owner %x\n",
            sc->name, 1u << h.kshift, h.M, h.S, (unsigned long long)head,
            (unsigned long long)(head >> h.kshift), (unsigned long long)tail,
            (unsigned long long)(tail >> h.kshift),
            (long long)atomic_load(&sh->q.withdrawn), (unsigned)(top >> 32),
            (unsigned)top, atomic_load(&sh->q.pool_used),
            atomic_load(&sh->rx_owner));
    const _Atomic uint64_t *table = (const void *)(base + h.table_off);
    for (uint32_t i = 0; i < h.M && h.table_off + 8ull * h.M <= len; i++) {
        uint64_t e = atomic_load(&table[i]);
        uint32_t idx1 = (uint32_t)e;
        fprintf(stderr, "  entry %u: gen %d seg %d", i, (int)(e >> 32),
                (int)idx1 - 1);
        uint64_t off = h.pool_off + (uint64_t)(idx1 - 1) * h.seg_bytes;
        if (idx1 != 0 && idx1 <= h.S && off + h.seg_bytes <= len) {
            const struct ipcx__qseg *seg = (const void *)(base + off);
            uint64_t d = atomic_load(&seg->done);
            fprintf(stderr, " done gen %d count %u:", (int)(d >> 32),
                    (uint32_t)d);
            for (uint32_t k = 0; k < (1u << h.kshift); k++) {
                const struct ipcx__qslot *sl =
                    (const void *)(base + off + IPCX__Q_SEG_HDR +
                                   (uint64_t)k * h.stride);
                uint64_t w = atomic_load(&sl->ctl);
                uint32_t st = (uint32_t)(w >> 28) & 0xf;
                fprintf(stderr, " %c", st < 8 ? "EWFRTDXL"[st] : '?');
                if ((uint32_t)(w >> 32) != (uint32_t)(e >> 32)) {
                    fprintf(stderr, "(gen %u)", (unsigned)(w >> 32));
                }
                if ((w & 0x0fffffff) != 0) {
                    fprintf(stderr, "%x", (unsigned)(w & 0x0fffffff));
                }
            }
        }
        fprintf(stderr, "\n");
    }
    munmap(base, len);
}

/* Wait until the mailbox is empty: every remaining message received. */
static int wait_empty(int64_t bound)
{
    int64_t t0 = tu_now_ns();
    ipcx_mailbox_info st;
    for (;;) {
        CHECK_RC(ipcx_mailbox_stat_name(sc->name, &st), 0);
        if (st.depth == 0) {
            return 0;
        }
        if (tu_now_ns() - t0 > bound) {
            fprintf(stderr,
                    "torture %s: STUCK: depth %llu after %lld ms with no "
                    "kills (nopen %u, send_waiting %u, recv_waiting %u, "
                    "receiver %d)\n",
                    sc->name, (unsigned long long)st.depth,
                    (long long)(bound / 1000000), st.nopen, st.send_waiting,
                    st.recv_waiting, (int)st.receiver);
            dump_queue();
            return -1;
        }
        tu_pause_us(500);
    }
}

static int probe_receiver(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open(sc->name);
    char buf[16];
    long n = ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_SEC(5));
    ipcx_mailbox_close(mb);
    return n == 6 && memcmp(buf, "probe", 6) == 0 ? 0 : 1;
}

/* Files of this scenario (or temporary dot-files) left in the namespace. */
static int leftovers(void)
{
    DIR *d = opendir(getenv("IPCX_DIR"));
    int n = 0;
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            (e->d_name[0] == '.' ||
             strncmp(e->d_name, sc->name, strlen(sc->name)) == 0)) {
            fprintf(stderr, "torture %s: left over: %s\n", sc->name, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Exclusive: the spans [first, last reception] of different consumers
 * never overlap (each lies within its holding of the receive right). */
static int check_exclusive(struct ctl *c)
{
    int64_t prev_last = 0;
    uint32_t prev = 0;
    int bad = 0;
    /* Incarnations are spawned in order, and a consumer can only receive
     * after it took the right, so sort by first reception. */
    uint32_t *order = malloc(sizeof *order * c->next_inc);
    CHECK(order != NULL);
    uint32_t n = 0;
    for (uint32_t i = 1; i < c->next_inc; i++) {
        if (c->inc_role[i] == CONSUMER && atomic_load(&bd->rec[i].first_rx)) {
            order[n++] = i;
        }
    }
    for (uint32_t i = 1; i < n; i++) { /* insertion sort by first_rx */
        uint32_t v = order[i], j = i;
        int64_t f = atomic_load(&bd->rec[v].first_rx);
        while (j > 0 && atomic_load(&bd->rec[order[j - 1]].first_rx) > f) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct rec *r = &bd->rec[order[i]];
        if (prev != 0 && atomic_load(&r->first_rx) <= prev_last) {
            fprintf(
                stderr,
                "torture %s: consumers %u and %u both received within "
                "%lld us\n",
                sc->name, prev, order[i],
                (long long)((prev_last - atomic_load(&r->first_rx)) / 1000));
            bad = 1;
        }
        prev = order[i];
        prev_last = atomic_load(&r->last_rx);
    }
    free(order);
    return bad ? -1 : 0;
}

/* After the run: count sent, lost and unexplained messages. */
static void account(struct ctl *c, uint64_t *sent, uint64_t *lost,
                    uint64_t *unconfirmed, uint64_t *phantom)
{
    *sent = *lost = *unconfirmed = *phantom = 0;
    for (uint32_t i = 1; i < c->next_inc; i++) {
        if (c->inc_role[i] != PRODUCER) {
            continue;
        }
        struct rec *r = &bd->rec[i];
        uint32_t ok = atomic_load(&r->sent_ok);
        *sent += ok;
        for (uint32_t s = 0; s < SEQ_MAX; s++) {
            int got = (atomic_load(&r->got[s / 64]) >> (s % 64)) & 1;
            if (s < ok && !got) {
                if (*lost < 10) {
                    fprintf(stderr, "torture %s: lost inc %u seq %u\n",
                            sc->name, i, s);
                }
                (*lost)++;
            } else if (s >= ok && got) {
                /* Delivered although its send never returned 0: only the
                 * one a killed producer was sending when it died. */
                if (s == ok && atomic_load(&r->state) == REC_KILLED) {
                    (*unconfirmed)++;
                } else {
                    fprintf(stderr,
                            "torture %s: received inc %u seq %u, but its "
                            "send did not succeed (sent_ok %u, state %u)\n",
                            sc->name, i, s, ok, atomic_load(&r->state));
                    (*phantom)++;
                }
            }
        }
    }
}

/* Stop everyone cleanly and check nothing is stuck. */
static void drain(struct ctl *c, int64_t *drain_ns)
{
    int64_t t0 = tu_now_ns();
    c->draining = 1;
    atomic_store(&bd->stop_producers, 1);
    reap_killed(c);
    if (wait_role_gone(c, PRODUCER, DRAIN_BOUND) < 0 ||
        wait_empty(DRAIN_BOUND) < 0) {
        c->failed = 1;
        return;
    }
    *drain_ns = tu_now_ns() - t0;
    /* One stop message per consumer still running. */
    ipcx_mailbox *mb = tu_open(sc->name);
    int live = 0;
    for (int k = 0; k < c->nkids; k++) {
        live += c->inc_role[c->kids[k].inc] == CONSUMER;
    }
    for (int i = 0; i < live; i++) {
        uint32_t stop = STOP_MAGIC;
        int rc = ipcx_mailbox_send(mb, &stop, sizeof stop, IPCX_SEC(10));
        if (rc != 0) {
            fprintf(stderr, "torture %s: STUCK: stop message: %s\n", sc->name,
                    ipcx_strerror(rc));
            dump_queue();
            c->failed = 1;
            break;
        }
    }
    if (c->failed || wait_role_gone(c, CONSUMER, DRAIN_BOUND) < 0) {
        c->failed = 1;
        ipcx_mailbox_close(mb);
        return;
    }
    /* Nothing left behind, and the mailbox still works. */
    char buf[MAX_MSG];
    long n = ipcx_mailbox_recv(mb, buf, sizeof buf, 0);
    if (n != -EAGAIN) {
        fprintf(stderr, "torture %s: after the drain recv gave %ld\n", sc->name,
                n);
        c->failed = 1;
    }
    ipcx_mailbox_info st = tu_stat(mb);
    if (st.nopen != 1 || st.depth != 0) {
        fprintf(stderr, "torture %s: after the drain nopen %u depth %llu\n",
                sc->name, st.nopen, (unsigned long long)st.depth);
        c->failed = 1;
    }
    ipcx_mailbox_close(mb);
    pid_t rx = tu_spawn(probe_receiver, NULL);
    mb = tu_open(sc->name);
    int rc = ipcx_mailbox_send(mb, "probe", 6, IPCX_SEC(5));
    ipcx_mailbox_close(mb);
    if (rc != 0 || tu_wait(rx) != 0) {
        fprintf(stderr, "torture %s: probe message failed (send %d)\n",
                sc->name, rc);
        c->failed = 1;
    }
}

static void run_scenario(void)
{
    ipcx_mailbox_attr a = tu_attr(sc->capacity, MAX_MSG);
    a.policy = sc->policy;
    a.max_bytes = sc->max_bytes;
    CHECK_RC(ipcx_mailbox_create(sc->name, &a), 0);
    bd = mmap(NULL, sizeof *bd, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(bd != MAP_FAILED);

    struct ctl c;
    memset(&c, 0, sizeof c);
    c.inc_role = calloc(MAX_INC, sizeof *c.inc_role);
    CHECK(c.inc_role != NULL);
    c.next_inc = 1;
    for (int i = 0; i < sc->producers + sc->consumers; i++) {
        c.slot_role[c.nslots++] = i < sc->producers ? PRODUCER : CONSUMER;
    }
    uint64_t rs = seed ^ (uint64_t)(sc - scenarios + 1) * 0x100000001b3ull;
    int64_t start = tu_now_ns();
    int64_t phase_bound =
        IPCX_SEC(30) + (int64_t)kills_per_scenario * IPCX_MSEC(100);
    for (int s = 0; s < c.nslots; s++) {
        CHECK(spawn(&c, s) == 0);
    }
    int sent_kills = 0;
    while (sent_kills < kills_per_scenario && !c.failed) {
        if (tu_now_ns() - start > phase_bound) {
            fprintf(stderr, "torture %s: kill phase over its time bound\n",
                    sc->name);
            c.failed = 1;
            break;
        }
        wait_us(&c, kill_delay(&rs), start);
        int slot = (int)(rnd(&rs) % (uint64_t)c.nslots);
        pid_t victim = c.slot_pid[slot];
        if (victim == 0) {
            continue; /* a retired producer between reaping and respawn */
        }
        for (int k = 0; k < c.nkids; k++) {
            if (c.kids[k].pid == victim) {
                c.kids[k].killed = 1;
            }
        }
        CHECK(kill(victim, SIGKILL) == 0);
        sent_kills++;
        c.slot_pid[slot] = 0;
        if (spawn(&c, slot) < 0) {
            fprintf(stderr, "torture %s: out of incarnations after %d kills\n",
                    sc->name, sent_kills);
            break;
        }
    }
    int64_t kill_phase = tu_now_ns() - start;
    int64_t drain_ns = 0;
    if (!c.failed) {
        drain(&c, &drain_ns);
    }
    int drained = drain_ns > 0; /* the backlog was received */
    kill_all(&c);

    uint64_t sent, lost, unconfirmed, phantom;
    account(&c, &sent, &lost, &unconfirmed, &phantom);
    uint64_t received = atomic_load(&bd->received);
    uint64_t dup = atomic_load(&bd->dup), corrupt = atomic_load(&bd->corrupt);
    uint64_t disorder = atomic_load(&bd->disorder);
    uint64_t errors = atomic_load(&bd->errors);
    int64_t gap = atomic_load(&bd->max_gap);
    fprintf(stderr,
            "torture %-16s kills %4llu (%llu consumers), sent %8llu, "
            "received %8llu, lost %llu, unconfirmed %llu, longest stall "
            "%lld ms, longest call %lld ms, pair open busy %lld ms, drain "
            "%lld ms, kill phase %lld ms, timeouts %llu\n",
            sc->name, (unsigned long long)c.kills,
            (unsigned long long)c.consumer_kills, (unsigned long long)sent,
            (unsigned long long)received, (unsigned long long)lost,
            (unsigned long long)unconfirmed, (long long)(gap / 1000000),
            (long long)(atomic_load(&bd->max_call) / 1000000),
            (long long)(atomic_load(&bd->max_open_busy) / 1000000),
            (long long)(drain_ns / 1000000), (long long)(kill_phase / 1000000),
            (unsigned long long)atomic_load(&bd->timeouts));
    int ok = !c.failed;
    if (dup || corrupt || disorder || phantom || errors) {
        fprintf(stderr,
                "torture %s: FAIL: duplicates %llu, corrupt %llu, out of "
                "order %llu, received without a send %llu, errors %llu\n",
                sc->name, (unsigned long long)dup, (unsigned long long)corrupt,
                (unsigned long long)disorder, (unsigned long long)phantom,
                (unsigned long long)errors);
        ok = 0;
    }
    /* Without a drain the backlog is still queued: no loss count. */
    if (!drained) {
        fprintf(stderr, "torture %s: no drain, losses not checked\n", sc->name);
    } else if (lost > c.consumer_kills) {
        fprintf(stderr,
                "torture %s: FAIL: %llu messages lost, more than the %llu "
                "killed consumers (%llu kills in all) could lose\n",
                sc->name, (unsigned long long)lost,
                (unsigned long long)c.consumer_kills,
                (unsigned long long)c.kills);
        ok = 0;
    }
    if (gap > STALL_BOUND) {
        fprintf(stderr, "torture %s: FAIL: stall of %lld ms\n", sc->name,
                (long long)(gap / 1000000));
        ok = 0;
    }
    if (sc->policy == IPCX_POLICY_EXCLUSIVE && check_exclusive(&c) < 0) {
        ok = 0;
    }
    if (ok && kills_per_scenario > 0 && c.kills == 0) {
        fprintf(stderr, "torture %s: FAIL: no kill landed\n", sc->name);
        ok = 0;
    }
    /* Whatever happened, leave nothing behind in the namespace. */
    CHECK_RC(ipcx_mailbox_destroy(sc->name), 0);
    int left = leftovers();
    if (left != 0) {
        fprintf(stderr, "torture %s: %d files left in the namespace\n",
                sc->name, left);
        ok = 0;
    }
    atomic_fetch_add(&tot->kills, c.kills);
    atomic_fetch_add(&tot->sent, sent);
    atomic_fetch_add(&tot->received, received);
    atomic_fetch_add(&tot->lost, drained ? lost : 0);
    atomic_fetch_add(&tot->unconfirmed, unconfirmed);
    max_update(&tot->max_gap, gap);
    max_update(&tot->max_call, atomic_load(&bd->max_call));
    max_update(&tot->max_open_busy, atomic_load(&bd->max_open_busy));
    max_update(&tot->max_drain, drain_ns);
    free(c.inc_role);
    munmap(bd, sizeof *bd);
    CHECK(ok);
}

/* ---- targeted regressions ----------------------------------------------
 * Two windows the random kills found, reproduced deterministically with the
 * queue's internal steps (as tests/test_crash.c does): the victim stops
 * exactly where a SIGKILL landed in the torture run.
 */

#define REG_BOUND IPCX_SEC(3) /* a healthy mailbox answers well within */
#define Q_CTL(tag, st, h)                                                      \
    (((uint64_t)(uint32_t)(tag) << 32) | ((uint64_t)(st) << 28) |              \
     ((uint64_t)(h)&0x0fffffffu))

static void reg_die(void)
{
    kill(getpid(), SIGKILL);
    _exit(99);
}

/* Killed inside ipcx__q_finish(): its CAS READING -> DONE happened, the
 * increment of the segment's `done` count (seg_release) did not. */
static int die_between_done_and_count(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(arg);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_take(&mb->q, mb->holder, MAX_MSG, &ref), 0);
    uint64_t n = ref.pos >> mb->q.kshift;
    uint64_t w = Q_CTL(n, IPCX__Q_READING, mb->holder);
    CHECK(atomic_compare_exchange_strong(&ref.slot->ctl, &w,
                                         Q_CTL(n, IPCX__Q_DONE, 0)));
    reg_die();
    return 1;
}

/*
 * Torture: "STUCK: stop message: Connection timed out" in pair-rendezvous
 * and pair-bounded; the dump showed a generation whose K slots were all
 * DONE with done == K, one short of the K + 1 that frees it, and the tail
 * one table round later.  A process killed between a finishing CAS (or
 * the head CAS past a generation's last position) and seg_release()'s
 * increment leaves that generation installed for ever: every later send
 * blocks with -EINPROGRESS, unstick_tail() finds no dead holder, and the
 * mailbox is dead for all survivors.  SPEC: a SIGKILL at any instruction
 * never leaves a mailbox stuck.
 */
static void regress_killed_before_done_count(void)
{
    const char *name = "reg-count";
    ipcx_mailbox_attr a = tu_attr(4, MAX_MSG);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    ipcx_mailbox *mb = tu_open(name);
    CHECK_RC(ipcx_mailbox_send(mb, "lost", 5, 0), 0);
    CHECK(tu_wait(tu_spawn(die_between_done_and_count, (void *)name)) ==
          128 + SIGKILL);
    char buf[MAX_MSG];
    for (int i = 0; i < 64; i++) {
        int rc = ipcx_mailbox_send(mb, &i, sizeof i, REG_BOUND);
        if (rc != 0) {
            fprintf(stderr,
                    "regress_killed_before_done_count: send %d after the "
                    "kill: %s\n",
                    i, ipcx_strerror(rc));
            exit(1);
        }
        long n = ipcx_mailbox_recv(mb, buf, sizeof buf, REG_BOUND);
        CHECK(n == (long)sizeof i && memcmp(buf, &i, sizeof i) == 0);
    }
    ipcx_mailbox_close(mb);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

/* Killed inside install(): its seg_alloc() popped a segment off the free
 * list, the table CAS that would publish it never ran.  (A kill in
 * seg_release() between the table CAS and free_push() leaves the same.) */
static int die_after_pop(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(arg);
    _Atomic uint64_t *top = &mb->hdr->q.free_top;
    uint64_t t = atomic_load(top);
    uint32_t idx1 = (uint32_t)t;
    CHECK(idx1 != 0 && idx1 <= mb->q.S);
    struct ipcx__qseg *seg =
        (struct ipcx__qseg *)(mb->q.pool + (idx1 - 1) * mb->q.seg_bytes);
    uint64_t next = atomic_load(&seg->next_free);
    CHECK(atomic_compare_exchange_strong(
        top, &t, (((t >> 32) + 1) << 32) | (uint32_t)next));
    reg_die();
    return 1;
}

/* Killed mid-copy: claimed the oldest message, never finished it. */
static int die_reading(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(arg);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_take(&mb->q, mb->holder, MAX_MSG, &ref), 0);
    reg_die();
    return 1;
}

/*
 * Torture: "pair-bounded: STUCK: stop message: Connection timed out"; the
 * dump showed an empty free list with pool_used == S, two table entries
 * holding generations with a READING slot of a dead consumer, and the
 * third segment nowhere: leaked by a kill.  The generations of the dead
 * readers are reclaimed only by unstick_tail(), which looks at generation
 * n - M alone, and that one was finished: the producer waits for a free
 * segment that never comes.  Three kills (an installer, two receivers),
 * and a capacity-4 mailbox accepts nothing ever again.
 */
static void regress_killed_installer_leaks_segment(void)
{
    const char *name = "reg-leak";
    ipcx_mailbox_attr a = tu_attr(4, MAX_MSG);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    ipcx_mailbox *mb = tu_open(name);
    uint32_t k = 1u << mb->q.kshift;
    /* Bounded mailboxes now bind segments statically: there is no free
     * list to leak from, but the two dead readers below must still not
     * stop the mailbox. */
    if (!mb->q.static_segs) {
        CHECK(tu_wait(tu_spawn(die_after_pop, (void *)name)) == 128 + SIGKILL);
    }
    char buf[MAX_MSG];
    uint32_t i = 0;
    for (int gen = 0; gen < 2; gen++) {
        CHECK_RC(ipcx_mailbox_send(mb, &i, sizeof i, 0), 0);
        i++;
        CHECK(tu_wait(tu_spawn(die_reading, (void *)name)) == 128 + SIGKILL);
        for (uint32_t j = 1; j < k; j++, i++) {
            CHECK_RC(ipcx_mailbox_send(mb, &i, sizeof i, 0), 0);
            CHECK(ipcx_mailbox_recv(mb, buf, sizeof buf, 0) == sizeof i);
        }
    }
    for (int j = 0; j < 32; j++, i++) {
        int rc = ipcx_mailbox_send(mb, &i, sizeof i, REG_BOUND);
        if (rc != 0) {
            fprintf(stderr,
                    "regress_killed_installer_leaks_segment: send at "
                    "position %u: %s (the mailbox is empty)\n",
                    i, ipcx_strerror(rc));
            exit(1);
        }
        CHECK(ipcx_mailbox_recv(mb, buf, sizeof buf, REG_BOUND) == sizeof i);
    }
    ipcx_mailbox_close(mb);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

static int reg_rendezvous_sender(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(arg);
    int rc = ipcx_mailbox_send(mb, "hello", 6, IPCX_SEC(2));
    if (rc != 0 && rc != -ETIMEDOUT) {
        fprintf(stderr,
                "regress_rendezvous_receiver_reclaimed: send answered %s "
                "(%s)\n",
                ipcx_strerror(rc), ipcx_last_error());
        return 1;
    }
    return 0;
}

/* Claims the oldest message and waits to be killed, mid-copy. */
static int reg_take_and_wait(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(30);
    ipcx_mailbox *mb = tu_open(arg);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_take(&mb->q, mb->holder, MAX_MSG, &ref), 0);
    for (;;) {
        pause();
    }
    return 1;
}

/*
 * Torture: "any-rendezvous: producer: send: Protocol error" with no
 * corruption anywhere.  A rendezvous receiver dies while copying (slot
 * READING).  The design says its sender takes the slot back and offers the
 * message again; but when a producer whose claim waits for that generation
 * runs unstick_tail() first, the slot goes to DONE under the sender, whose
 * next check in ipcx__q_acked() sees neither READING nor TAKEN and answers
 * -EPROTO (later -EPROTO from a recycled tag too).  Expected: the send is
 * retried and succeeds, or it times out; never -EPROTO.
 */
static void regress_rendezvous_receiver_reclaimed(void)
{
    const char *name = "reg-rv";
    ipcx_mailbox_attr a = tu_attr(0, MAX_MSG);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    ipcx_mailbox *mb = tu_open(name);
    pid_t tx = tu_spawn(reg_rendezvous_sender, (void *)name);
    ipcx_mailbox_info st;
    TU_WAIT_STAT(mb, st, st.depth == 1);
    pid_t rx = tu_spawn(reg_take_and_wait, (void *)name);
    TU_WAIT_STAT(mb, st, st.depth == 0);
    /* Withdrawn non-blocking sends move the tail a whole table round on
     * (positions 1 .. M*K - 1), so that the next claim waits for the
     * receiver's generation. */
    uint64_t round = (uint64_t)mb->q.M << mb->q.kshift;
    for (uint64_t i = 1; i < round; i++) {
        CHECK_RC(ipcx_mailbox_send(mb, "x", 2, 0), -EAGAIN);
    }
    CHECK(kill(rx, SIGKILL) == 0);
    CHECK(tu_wait(rx) == 128 + SIGKILL);
    /* This send's unstick finishes the dead receiver's slot at once; the
     * sender looks only every 20 ms. */
    CHECK_RC(ipcx_mailbox_send(mb, "y", 2, 0), -EAGAIN);
    int code = tu_wait(tx);
    ipcx_mailbox_close(mb);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
    CHECK(code == 0);
}

struct slow {
    _Atomic int sender_rc; /* 1 until the send returned */
    _Atomic int received;  /* the slow receiver finished its copy */
    _Atomic int done;      /* the sender may close now */
};
static struct slow *slow;

/* Sends with a short timeout, then keeps its handle open (alive). */
static int reg_slow_sender(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(arg);
    atomic_store(&slow->sender_rc,
                 ipcx_mailbox_send(mb, "hello", 6, IPCX_MSEC(100)));
    for (int i = 0; i < 30000 && !atomic_load(&slow->done); i++) {
        tu_pause_ms(1);
    }
    ipcx_mailbox_close(mb);
    return 0;
}

/* A receiver that is descheduled (or stopped) for 1.5 s mid-copy. */
static int reg_slow_receiver(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(arg);
    ipcx_mailbox_info st;
    TU_WAIT_STAT(mb, st, st.depth == 1);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_take(&mb->q, mb->holder, MAX_MSG, &ref), 0);
    tu_pause_ms(1500); /* the delay under test, not a synchronisation */
    CHECK(memcmp(ipcx__q_payload(&ref), "hello", 6) == 0);
    ipcx__q_finish(&mb->q, &ref, mb->holder, getpid());
    atomic_store(&slow->received, 1);
    ipcx_mailbox_close(mb);
    return 0;
}

static int reg_drain_rendezvous(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(arg);
    char buf[MAX_MSG];
    for (int i = 0; i < 200; i++) {
        long n = ipcx_mailbox_recv(mb, buf, sizeof buf, REG_BOUND);
        if (n != (long)sizeof i || memcmp(buf, &i, sizeof i) != 0) {
            fprintf(stderr, "regress_slow_receiver: recv %d: %ld\n", i, n);
            return 1;
        }
    }
    ipcx_mailbox_close(mb);
    return 0;
}

/*
 * Found reading io.c while writing the torture test, not by a kill: a
 * rendezvous receiver that takes longer than the sender's timeout + 1 s
 * grace to copy (descheduled, SIGSTOPped, swapped out).  The sender gets
 * -ETIMEDOUT, yet the receiver then gets the message (mailbox.h: "a send
 * that fails or times out leaves nothing behind"), and its slot stays
 * TAKEN for a sender that no longer collects the receipt; unstick_tail()
 * will not reclaim it while that sender lives, so one table round later
 * (128 positions) every send on the mailbox blocks.
 */
static void regress_slow_receiver(void)
{
    const char *name = "reg-slow";
    slow = tu_shared_map(sizeof *slow);
    atomic_store(&slow->sender_rc, 1);
    ipcx_mailbox_attr a = tu_attr(0, MAX_MSG);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    pid_t rx = tu_spawn(reg_slow_receiver, (void *)name);
    pid_t tx = tu_spawn(reg_slow_sender, (void *)name);
    CHECK(tu_wait(rx) == 0);
    ipcx_mailbox_info st;
    TU_WAIT_NAME(name, st, atomic_load(&slow->sender_rc) != 1);
    int rc = atomic_load(&slow->sender_rc);
    int ok = 1;
    if (rc != 0 && atomic_load(&slow->received)) {
        fprintf(stderr,
                "regress_slow_receiver: the send answered %s, yet the "
                "receiver got the message\n",
                ipcx_strerror(rc));
        ok = 0;
    }
    /* The mailbox must go on working while that sender lives. */
    pid_t drain = tu_spawn(reg_drain_rendezvous, (void *)name);
    ipcx_mailbox *mb = tu_open(name);
    for (int i = 0; i < 200; i++) {
        int r = ipcx_mailbox_send(mb, &i, sizeof i, REG_BOUND);
        if (r != 0) {
            fprintf(stderr, "regress_slow_receiver: send %d: %s\n", i,
                    ipcx_strerror(r));
            ok = 0;
            kill(drain, SIGKILL);
            break;
        }
    }
    ok &= tu_wait(drain) == 0;
    atomic_store(&slow->done, 1);
    CHECK(tu_wait(tx) == 0);
    ipcx_mailbox_close(mb);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
    CHECK(ok);
}

int main(void)
{
    tu_private_ns();
    const char *env = getenv("IPCX_TORTURE_KILLS");
    long kills = env != NULL ? atol(env) : DEFAULT_KILLS;
    CHECK(kills >= 0);
    const char *only = getenv("IPCX_TORTURE_ONLY"); /* one scenario */
    long nscen = only != NULL ? 1 : (long)NSCEN;
    kills_per_scenario = (int)((kills + nscen - 1) / nscen);
    env = getenv("IPCX_TORTURE_SEED");
    seed = env != NULL ? strtoull(env, NULL, 0)
                       : (uint64_t)tu_now_ns() ^ ((uint64_t)getpid() << 32);
    seed |= 1;
    fprintf(stderr, "torture: seed %llu, %d kills per scenario\n",
            (unsigned long long)seed, kills_per_scenario);
    tot = tu_shared_map(sizeof *tot);
    if (getenv("IPCX_TORTURE_ONLY") == NULL) {
        TU_RUN(regress_killed_before_done_count);
        TU_RUN(regress_killed_installer_leaks_segment);
        TU_RUN(regress_rendezvous_receiver_reclaimed);
        TU_RUN(regress_slow_receiver);
        ipcx_mailbox_destroy("reg-count"); /* if a failure left them */
        ipcx_mailbox_destroy("reg-leak");
        ipcx_mailbox_destroy("reg-rv");
        ipcx_mailbox_destroy("reg-slow");
    }
    int64_t t0 = tu_now_ns();
    for (size_t i = 0; i < NSCEN; i++) {
        sc = &scenarios[i];
        if (only == NULL || strcmp(only, sc->name) == 0) {
            tu_run(sc->name, run_scenario);
        }
    }
    fprintf(stderr,
            "torture: %llu kills, %llu messages sent, %llu received, %llu "
            "lost (drained scenarios), %llu delivered from killed senders, "
            "longest stall %lld ms, "
            "longest call %lld ms, longest pair -EBUSY %lld ms, longest "
            "drain %lld ms, %lld s, seed %llu%s\n",
            (unsigned long long)tot->kills, (unsigned long long)tot->sent,
            (unsigned long long)tot->received, (unsigned long long)tot->lost,
            (unsigned long long)tot->unconfirmed,
            (long long)(tot->max_gap / 1000000),
            (long long)(tot->max_call / 1000000),
            (long long)(tot->max_open_busy / 1000000),
            (long long)(tot->max_drain / 1000000),
            (long long)((tu_now_ns() - t0) / 1000000000),
            (unsigned long long)seed, tu_failures ? " FAILED" : "");
    return tu_failures > 0;
}
