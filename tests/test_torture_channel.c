/*
 * test_torture_channel.c - kill -9 torture of channels and connection ports
 * (issue 4, point 3; SPEC "Crash, fault and hostile-peer rules").  The
 * mailbox half is tests/test_torture.c; docs/reliability.md ("Channels")
 * has the figures of the long run and what "lost" means for a channel.
 *
 * Per scenario: one server process listens on a port and serves several
 * client processes at once, each channel with two threads (a receiver that
 * records one-way messages and requests and answers the requests, in any
 * order, with ipcx_channel_recv_ex() / ipcx_channel_reply(); a sender of
 * one-way messages to the client).  A client connects, then on each
 * channel runs three threads: one sends one-way messages and makes
 * ipcx_call()s (one sequence), one makes calls only (a second sequence, so
 * two calls are often outstanding at once), one receives the server's
 * one-way messages.  After a random number of messages the client ends the
 * channel cleanly (BYE, the server's END, close) and connects again.  A
 * controller SIGKILLs random clients and servers after random delays (a
 * quarter under 50 us: kills land in listen, accept, connect, send, call,
 * receive, reply and close) and forks a replacement at once; a replacement
 * server listens on the name its killed predecessor still holds, which must
 * work as soon as the predecessor is gone (-EEXIST until then).
 *
 * Every message names its channel, stream and sequence number, has a
 * length that depends on them and carries a checksum.  Senders record in
 * shared memory, before each send, that the message may be queued, and
 * right after it returned success that it was sent; receivers record the
 * next sequence number they expect right after a receive returned.
 * Checks, by content:
 *   (a) every message is intact, on the channel it was sent on, of the
 *       kind its receive says (one-way or request); no duplicate, no gap:
 *       per stream, what arrives is exactly messages 0, 1, 2, ... in order;
 *   (b) every ipcx_call() returns the reply to its own request (same
 *       channel, stream and sequence number, intact) or -EPIPE;
 *   (c) nothing is received that was not sent (except the one message a
 *       sender was sending when it was killed, or a call whose ipcx_call()
 *       answered -EPIPE: "unconfirmed");
 *   (d) losses (sent, never received) only on a channel whose receiving
 *       end was killed, and then at most what was pending to it: toward a
 *       server, its queue plus the one in its hands (capacity + 1); toward
 *       a client, at most window() = capacity + WINDOW_EXTRA (the server
 *       sends at most that far ahead of what its client has received,
 *       because a client's library may hold one-way messages that a
 *       calling thread took in its in-process stash, which is unbounded by
 *       design).  A channel whose receiver lives, or closed cleanly, loses
 *       nothing;
 *   (e) no survivor blocks past a bound: every blocking call has a
 *       deadline (DEADLINE; reaching it is a failure), a survivor's call
 *       answers -EPIPE within DETECT_BOUND of its peer's kill (measured:
 *       the longest such stall is printed), a connect returns within
 *       DETECT_BOUND, a replacement server listens and a client connects
 *       again within REPLACE_BOUND;
 *   (f) once the kills stop, every client ends its channel cleanly and
 *       exits, then the server; afterwards the only files left in the
 *       namespace are temporary socket names of servers killed inside
 *       ipcx_port_listen() (between bind and rename); a new server listens
 *       on the name, serves a new client and is killed; then ipcx_gc()
 *       removes exactly its port and those temporary names, and the
 *       namespace is empty.
 *
 * IPCX_TORTURE_CHAN_KILLS sets the number of kills over all scenarios
 * (default DEFAULT_KILLS), IPCX_TORTURE_SEED the seed (printed),
 * IPCX_TORTURE_ONLY=<scenario> runs one scenario with all the kills.
 * scripts/torture.sh runs the long version.  Not labelled concurrency:
 * too slow under ThreadSanitizer.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define DEFAULT_KILLS 3000
#define MAX_MSG       256u
#define HDR           32u
#define MAX_INC       (1u << 18) /* incarnations per scenario */
#define MAX_CHAN      (1u << 20) /* channels per scenario */
#define MAX_CLIENTS   6
#define MAX_KIDS      64          /* children not yet reaped */
#define MAX_CONN      16          /* channels one server serves at once */
#define MSG_MAGIC     0x4e414843u /* "CHAN" */
#define WINDOW_EXTRA  4 /* server ahead of a client: capacity + this */

#define DEADLINE      IPCX_SEC(5)  /* every blocking call */
#define DETECT_BOUND  IPCX_SEC(1)  /* a survivor learns of a peer's death */
#define REPLACE_BOUND IPCX_SEC(5)  /* listen -EEXIST, reconnecting */
#define STALL_BOUND   IPCX_SEC(5)  /* no message received anywhere */
#define DRAIN_BOUND   IPCX_SEC(20) /* clients, then the server, end */

enum kind { K_ONEWAY = 1, K_REQ, K_REPLY, K_BYE, K_END };
/* Streams: client to server (thread 1, thread 2), server to client. */
enum { ST_C1 = 0, ST_C2 = 1, ST_S = 2, NSTREAM = 3 };
enum op {
    OP_LISTEN,
    OP_ACCEPT,
    OP_CONNECT,
    OP_SEND,
    OP_CALL,
    OP_RECV,
    OP_REPLY,
    OP_CLOSE,
    NOPS
};
static const char *op_names[NOPS] = {"listen", "accept", "connect", "send",
                                     "call",   "recv",   "reply",   "close"};
enum role { SERVER = 1, CLIENT = 2 };
enum rec_state { REC_LIVE = 0, REC_KILLED = 1, REC_EXITED = 2 };

/* One incarnation of a participant. */
struct rec {
    _Atomic uint32_t state;      /* enum rec_state, set by the controller */
    _Atomic int64_t kill_time;   /* when the controller sent SIGKILL */
    _Atomic int64_t reaped;      /* when the controller reaped it */
    _Atomic uint16_t busy[NOPS]; /* its threads inside each call now */
};

/* One channel, written by its two ends. */
struct chanrec {
    _Atomic uint32_t client_inc, server_inc;
    _Atomic uint32_t tried[NSTREAM]; /* sender: 1 + highest seq maybe queued */
    _Atomic uint32_t sent[NSTREAM];  /* sender: sends that returned success */
    _Atomic uint32_t rx[NSTREAM];    /* receiver: next seq expected */
    _Atomic uint32_t clean;          /* the client got END and closes */
};

/* Shared by the controller of one scenario and its participants. */
struct board {
    _Atomic int stop_clients, stop_server;
    _Atomic uint32_t next_cid;
    _Atomic int64_t last_progress, max_gap;
    _Atomic int64_t max_detect, max_after_reap, max_call, max_connect,
        max_reconnect, max_listen_busy;
    _Atomic uint64_t received, calls_ok, calls_epipe, detects, connects;
    _Atomic uint64_t detect_hist[5]; /* <1 ms, <10 ms, <100 ms, <1 s, more */
    _Atomic uint64_t dup, gap, corrupt, misroute, errors, timeouts;
    _Atomic uint64_t kills_in[NOPS];
    _Atomic uint32_t inc_of_pid[1u << 22]; /* pid_max is at most 2^22 */
    struct rec rec[MAX_INC];
    struct chanrec ch[MAX_CHAN];
};

struct totals {
    _Atomic uint64_t kills, server_kills, channels, sent, received, calls_ok,
        calls_epipe, lost_to_server, lost_to_client, unconfirmed, detects,
        temp_left;
    _Atomic uint64_t kills_in[NOPS], detect_hist[5];
    _Atomic int64_t max_gap, max_detect, max_call, max_connect, max_reconnect,
        max_listen_busy, max_lost_server, max_lost_client, max_after_reap;
};

struct scenario {
    const char *name; /* also the port's name */
    uint32_t capacity;
    int clients;
};

static const struct scenario scenarios[] = {
    {"chan-cap1", 1, 4},
    {"chan-cap4", 4, 4},
    {"chan-cap64", 64, 3},
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

static const struct scenario *sc;
static struct board *bd;
static struct totals *tot;
static uint64_t seed;
static int kills_per_scenario;
static uint32_t my_inc; /* in a participant: its incarnation */

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

static uint32_t window(void)
{
    return sc->capacity + WINDOW_EXTRA;
}

/* The identity hashed into a message's length and content. */
static uint32_t ident(uint32_t kind, uint32_t cid, uint32_t st, uint32_t seq)
{
    return mix(cid * 0x9e3779b9u ^ (kind << 28) ^ (st << 24) ^ seq);
}

static uint32_t msg_len(uint32_t id)
{
    switch (id % 8) {
    case 0:
        return HDR;
    case 1:
        return MAX_MSG;
    default:
        return HDR + (id >> 3) % (MAX_MSG - HDR + 1);
    }
}

/* Header words: magic, kind, cid, stream, seq, len, checksum, 0. */
static size_t build(uint8_t *buf, uint32_t kind, uint32_t cid, uint32_t st,
                    uint32_t seq)
{
    uint32_t id = ident(kind, cid, st, seq);
    uint32_t len = kind == K_BYE || kind == K_END ? HDR : msg_len(id);
    for (uint32_t i = HDR; i < len; i++) {
        buf[i] = (uint8_t)(mix(id + i / 4) >> ((i % 4) * 8));
    }
    uint32_t h[8] = {
        MSG_MAGIC, kind, cid, st, seq, len, fnv(buf + HDR, len - HDR)};
    memcpy(buf, h, HDR);
    return len;
}

struct msg {
    uint32_t kind, cid, st, seq;
};

/* Check message BUF of N bytes; 0 and *M if intact. */
static int verify(const uint8_t *buf, long n, struct msg *m)
{
    uint32_t h[8];
    if (n < (long)HDR) {
        fprintf(stderr, "torture %s: corrupt: %ld-byte message\n", sc->name, n);
        return -1;
    }
    memcpy(h, buf, HDR);
    uint32_t id = ident(h[1], h[2], h[3], h[4]);
    uint32_t want = h[1] == K_BYE || h[1] == K_END ? HDR : msg_len(id);
    if (h[0] != MSG_MAGIC || h[1] < K_ONEWAY || h[1] > K_END || h[2] == 0 ||
        h[2] >= MAX_CHAN || h[3] >= NSTREAM || h[5] != (uint32_t)n ||
        h[5] != want) {
        fprintf(stderr,
                "torture %s: corrupt header: magic %08x kind %u cid %u st %u "
                "seq %u len %u, received %ld bytes\n",
                sc->name, h[0], h[1], h[2], h[3], h[4], h[5], n);
        return -1;
    }
    for (uint32_t i = HDR; i < (uint32_t)n; i++) {
        if (buf[i] != (uint8_t)(mix(id + i / 4) >> ((i % 4) * 8))) {
            fprintf(stderr,
                    "torture %s: corrupt payload: cid %u st %u seq %u byte "
                    "%u\n",
                    sc->name, h[2], h[3], h[4], i);
            return -1;
        }
    }
    if (fnv(buf + HDR, (size_t)n - HDR) != h[6]) {
        fprintf(stderr, "torture %s: bad checksum: cid %u st %u seq %u\n",
                sc->name, h[2], h[3], h[4]);
        return -1;
    }
    *m = (struct msg){h[1], h[2], h[3], h[4]};
    return 0;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "torture %s: %s %u: %s\n", sc->name,
            my_inc != 0 ? "participant" : "controller", my_inc, line);
    atomic_fetch_add(&bd->errors, 1);
}

/* An unexpected answer RC of OP on channel CID. */
static void report(const char *op, uint32_t cid, long rc)
{
    if (rc == -ETIMEDOUT) {
        atomic_fetch_add(&bd->timeouts, 1);
    }
    fail("%s on channel %u: %s (%s)", op, cid, ipcx_strerror((int)rc),
         ipcx_last_error());
}

/* The calling thread's latest call, for peer_gone()'s diagnostics. */
static __thread enum op last_op;
static __thread int64_t last_op_t0;

/* A thread of ours enters (D = 1) or leaves (D = -1) call OP. */
static void busy(enum op op, int d)
{
    if (d > 0) {
        last_op = op;
        last_op_t0 = tu_now_ns();
    }
    atomic_fetch_add(&bd->rec[my_inc].busy[op], (uint16_t)d);
}

static void progress(void)
{
    atomic_fetch_add(&bd->received, 1);
    int64_t now = tu_now_ns();
    int64_t prev = atomic_exchange(&bd->last_progress, now);
    if (prev != 0) {
        max_update(&bd->max_gap, now - prev);
    }
}

/*
 * A call answered -EPIPE: the peer (incarnation PEER) is gone.  If it was
 * killed, how long after the kill did we learn it?  (A peer that closed
 * cleanly and was killed only later gives a shorter time, never a longer
 * one.)
 */
static void peer_gone(uint32_t peer)
{
    enum op op = last_op;
    int64_t t0 = last_op_t0;
    int64_t now = tu_now_ns();
    int64_t k = peer != 0 ? atomic_load(&bd->rec[peer].kill_time) : 0;
    if (k == 0 || now < k) {
        return;
    }
    int64_t lat = now - k;
    atomic_fetch_add(&bd->detects, 1);
    int b = lat < IPCX_MSEC(1)     ? 0
            : lat < IPCX_MSEC(10)  ? 1
            : lat < IPCX_MSEC(100) ? 2
            : lat < IPCX_SEC(1)    ? 3
                                   : 4;
    atomic_fetch_add(&bd->detect_hist[b], 1);
    max_update(&bd->max_detect, lat);
    /* From the kill is an upper bound of the time since the death (the
     * kernel may take a while to end the victim on a loaded machine);
     * from its reaping, a lower bound.  A peer not reaped yet: 0. */
    int64_t r = atomic_load(&bd->rec[peer].reaped);
    if (r != 0 && now > r) {
        max_update(&bd->max_after_reap, now - r);
    }
    if (lat > IPCX_MSEC(100)) {
        fprintf(stderr,
                "torture %s: %u: %s answered -EPIPE %lld ms after peer %u "
                "was killed (the call began %lld ms after the kill; the "
                "peer was reaped %lld ms after it)\n",
                sc->name, my_inc, op_names[op], (long long)(lat / 1000000),
                peer, (long long)((t0 - k) / 1000000),
                r != 0 ? (long long)((r - k) / 1000000) : -1ll);
    }
    if (lat > DETECT_BOUND) {
        fail("learnt of peer %u's death %lld ms after the kill", peer,
             (long long)(lat / 1000000));
    }
}

/* Receiver side of stream ST on channel CR: message SEQ arrived. */
static int check_seq(struct chanrec *cr, uint32_t cid, uint32_t st,
                     uint32_t seq)
{
    uint32_t want = atomic_load(&cr->rx[st]);
    if (seq == want) {
        atomic_store(&cr->rx[st], want + 1);
        progress();
        return 0;
    }
    if (seq < want) {
        fail("duplicate: channel %u stream %u seq %u (expected %u)", cid, st,
             seq, want);
        atomic_fetch_add(&bd->dup, 1);
    } else {
        fail("gap: channel %u stream %u seq %u, expected %u", cid, st, seq,
             want);
        atomic_fetch_add(&bd->gap, 1);
    }
    return -1;
}

/*
 * Send one-way message SEQ of stream ST on CH: 0, -EPIPE (the peer is
 * gone), or -1 (reported).  Before the send the message may be queued
 * (tried); a failed send queues nothing, so tried goes back.
 */
static int send_oneway(ipcx_channel *ch, struct chanrec *cr, uint32_t cid,
                       uint32_t st, uint32_t seq, uint32_t peer, uint64_t *rs)
{
    uint8_t buf[MAX_MSG];
    size_t len = build(buf, K_ONEWAY, cid, st, seq);
    for (;;) {
        int64_t to = rnd(rs) % 8 == 0 ? 0 : DEADLINE;
        atomic_store(&cr->tried[st], seq + 1);
        int64_t t0 = tu_now_ns();
        busy(OP_SEND, 1);
        int rc = ipcx_channel_send(ch, buf, len, to);
        busy(OP_SEND, -1);
        if (rc == 0) {
            atomic_store(&cr->sent[st], seq + 1);
            if (to != 0) {
                max_update(&bd->max_call, tu_now_ns() - t0);
            }
            return 0;
        }
        atomic_store(&cr->tried[st], seq);
        if (rc == -EAGAIN && to == 0) {
            continue;
        }
        if (rc == -EPIPE) {
            peer_gone(peer);
            return -EPIPE;
        }
        report("send", cid, rc);
        return -1;
    }
}

/* ---- the client ------------------------------------------------------- */

struct cctx {
    ipcx_channel *ch;
    struct chanrec *cr;
    uint32_t cid, server;
    _Atomic int dead;    /* the server is gone (or a failure) */
    _Atomic int stop_t2; /* thread 1 is done: thread 2 stops calling */
    uint64_t rs1, rs2;
};

/* ipcx_call() with request SEQ of stream ST: 0, -EPIPE or -1. */
static int do_call(struct cctx *cx, uint32_t st, uint32_t seq)
{
    uint8_t req[MAX_MSG], rep[MAX_MSG];
    size_t len = build(req, K_REQ, cx->cid, st, seq);
    atomic_store(&cx->cr->tried[st], seq + 1);
    int64_t t0 = tu_now_ns();
    busy(OP_CALL, 1);
    long n = ipcx_call(cx->ch, req, len, rep, sizeof rep, DEADLINE);
    busy(OP_CALL, -1);
    if (n >= 0) {
        struct msg m;
        if (verify(rep, n, &m) < 0) {
            atomic_fetch_add(&bd->corrupt, 1);
            return -1;
        }
        if (m.kind != K_REPLY || m.cid != cx->cid || m.st != st ||
            m.seq != seq) {
            fail("call (channel %u stream %u seq %u) got kind %u channel %u "
                 "stream %u seq %u",
                 cx->cid, st, seq, m.kind, m.cid, m.st, m.seq);
            atomic_fetch_add(&bd->misroute, 1);
            return -1;
        }
        atomic_store(&cx->cr->sent[st], seq + 1);
        atomic_fetch_add(&bd->calls_ok, 1);
        max_update(&bd->max_call, tu_now_ns() - t0);
        return 0;
    }
    if (n == -EPIPE) {
        /* The request may have been received: tried stays. */
        atomic_fetch_add(&bd->calls_epipe, 1);
        peer_gone(cx->server);
        return -EPIPE;
    }
    report("call", cx->cid, n);
    return -1;
}

/* Thread 2: calls only (stream ST_C2), alongside thread 1's. */
static void *client_caller(void *arg)
{
    struct cctx *cx = arg;
    for (uint32_t seq = 0;
         !atomic_load(&cx->stop_t2) && !atomic_load(&cx->dead); seq++) {
        if (do_call(cx, ST_C2, seq) < 0) {
            atomic_store(&cx->dead, 1);
            break;
        }
        uint64_t x = rnd(&cx->rs2);
        if (x % 4 == 0) {
            tu_pause_us((long)((x >> 8) % 200));
        }
    }
    return NULL;
}

/* Thread 3: the server's one-way messages, until END or -EPIPE. */
static void *client_receiver(void *arg)
{
    struct cctx *cx = arg;
    uint8_t buf[MAX_MSG];
    for (;;) {
        ipcx_channel_msg_info info;
        busy(OP_RECV, 1);
        long n = ipcx_channel_recv_ex(cx->ch, buf, sizeof buf, DEADLINE, &info);
        busy(OP_RECV, -1);
        if (n == -EPIPE) {
            peer_gone(cx->server);
            break;
        }
        if (n < 0) {
            report("recv", cx->cid, n);
            break;
        }
        struct msg m;
        if (verify(buf, n, &m) < 0) {
            atomic_fetch_add(&bd->corrupt, 1);
            break;
        }
        if (m.cid != cx->cid || m.st != ST_S ||
            (m.kind != K_ONEWAY && m.kind != K_END) || info.token != 0) {
            fail("client of channel %u received kind %u channel %u stream "
                 "%u seq %u token %llu",
                 cx->cid, m.kind, m.cid, m.st, m.seq,
                 (unsigned long long)info.token);
            atomic_fetch_add(&bd->misroute, 1);
            break;
        }
        if (m.kind == K_END) {
            /* The server's last word: it sent m.seq messages. */
            if (atomic_load(&cx->cr->rx[ST_S]) != m.seq) {
                fail("channel %u: END after %u messages, %u received", cx->cid,
                     m.seq, atomic_load(&cx->cr->rx[ST_S]));
            }
            atomic_store(&cx->cr->clean, 1);
            return NULL;
        }
        if (check_seq(cx->cr, cx->cid, ST_S, m.seq) < 0) {
            break;
        }
    }
    atomic_store(&cx->dead, 1);
    return NULL;
}

/* How many operations thread 1 does on a channel: often few (connects and
 * closes are exercised too), sometimes thousands. */
static uint32_t channel_ops(uint64_t *rs)
{
    uint64_t x = rnd(rs);
    switch (x % 4) {
    case 0:
        return 1 + (uint32_t)((x >> 8) % 16);
    case 1:
    case 2:
        return 16 + (uint32_t)((x >> 8) % 512);
    default:
        return 512 + (uint32_t)((x >> 8) % 4096);
    }
}

/* Thread 1 of a channel: one-way messages and calls in one sequence. */
static void run_channel(struct cctx *cx, uint64_t *rs)
{
    pthread_t t2, t3;
    CHECK(pthread_create(&t2, NULL, client_caller, cx) == 0);
    CHECK(pthread_create(&t3, NULL, client_receiver, cx) == 0);
    uint32_t nops = channel_ops(rs);
    for (uint32_t seq = 0; seq < nops && !atomic_load(&bd->stop_clients) &&
                           !atomic_load(&cx->dead);
         seq++) {
        int rc = rnd(rs) % 4 == 0 ? do_call(cx, ST_C1, seq)
                                  : send_oneway(cx->ch, cx->cr, cx->cid, ST_C1,
                                                seq, cx->server, rs);
        if (rc < 0) {
            atomic_store(&cx->dead, 1);
        }
    }
    atomic_store(&cx->stop_t2, 1);
    CHECK(pthread_join(t2, NULL) == 0);
    if (!atomic_load(&cx->dead)) {
        uint8_t buf[MAX_MSG];
        size_t len = build(buf, K_BYE, cx->cid, ST_C1, 0);
        busy(OP_SEND, 1);
        int rc = ipcx_channel_send(cx->ch, buf, len, DEADLINE);
        busy(OP_SEND, -1);
        if (rc == -EPIPE) {
            peer_gone(cx->server);
        } else if (rc != 0) {
            report("send BYE", cx->cid, rc);
        }
    }
    CHECK(pthread_join(t3, NULL) == 0);
}

static int client(void *arg)
{
    my_inc = *(uint32_t *)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    atomic_store(&bd->inc_of_pid[getpid()], my_inc);
    uint64_t rs = seed ^ ((uint64_t)my_inc * 0x9e3779b97f4a7c15ull) ^ 2;
    while (!atomic_load(&bd->stop_clients)) {
        ipcx_channel *ch = NULL;
        int64_t first_fail = 0;
        for (;;) {
            int64_t t0 = tu_now_ns();
            busy(OP_CONNECT, 1);
            int rc = ipcx_connect(sc->name, DEADLINE, &ch);
            busy(OP_CONNECT, -1);
            int64_t t1 = tu_now_ns();
            max_update(&bd->max_connect, t1 - t0);
            if (t1 - t0 > DETECT_BOUND) {
                fail("connect took %lld ms (%s)",
                     (long long)((t1 - t0) / 1000000), ipcx_strerror(rc));
            }
            if (rc == 0) {
                break;
            }
            /* No server yet (-ENOENT), a dead one's port (-ECONNREFUSED),
             * or it died while we waited (-ECONNRESET): its replacement
             * comes. */
            if (rc != -ENOENT && rc != -ECONNREFUSED && rc != -ECONNRESET) {
                report("connect", 0, rc);
                return 1;
            }
            if (atomic_load(&bd->stop_clients)) {
                return 0;
            }
            if (first_fail == 0) {
                first_fail = t0;
            } else if (t1 - first_fail > REPLACE_BOUND) {
                fail("no server to connect to for %lld ms",
                     (long long)((t1 - first_fail) / 1000000));
                return 1;
            }
            tu_pause_us(200);
        }
        if (first_fail != 0) {
            max_update(&bd->max_reconnect, tu_now_ns() - first_fail);
        }
        atomic_fetch_add(&bd->connects, 1);
        ipcx_peer peer;
        CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
        uint32_t cid = atomic_fetch_add(&bd->next_cid, 1);
        if (cid >= MAX_CHAN) {
            ipcx_channel_close(ch);
            return 0; /* the controller ends the scenario */
        }
        struct cctx cx = {.ch = ch, .cr = &bd->ch[cid], .cid = cid};
        cx.server = atomic_load(&bd->inc_of_pid[peer.pid]);
        cx.rs1 = rnd(&rs);
        cx.rs2 = rnd(&rs) | 1;
        /* Both before our first message: the server checks them. */
        atomic_store(&cx.cr->client_inc, my_inc);
        atomic_store(&cx.cr->server_inc, cx.server);
        run_channel(&cx, &rs);
        busy(OP_CLOSE, 1);
        ipcx_channel_close(ch);
        busy(OP_CLOSE, -1);
    }
    return 0; /* failures are counted in the board */
}

/* ---- the server ------------------------------------------------------- */

struct conn {
    ipcx_channel *ch;
    uint32_t client;      /* the client's incarnation (by its pid) */
    _Atomic uint32_t cid; /* learnt from the client's first message */
    _Atomic int r_done, s_done, stop_s;
    pthread_t r, s;
    int used;
    uint64_t rs;
};

struct pending {
    uint64_t token;
    uint32_t st, seq;
};

/* Answer the held requests, in random order: 0, 1 if the client is gone
 * (what it sent before is still to be received), -1 on a failure. */
static int reply_all(struct conn *c, struct pending *p, int *np)
{
    if (*np == 2 && rnd(&c->rs) % 2 == 0) {
        struct pending t = p[0];
        p[0] = p[1];
        p[1] = t;
    }
    int n = *np;
    *np = 0;
    for (int i = 0; i < n; i++) {
        uint8_t buf[MAX_MSG];
        size_t len =
            build(buf, K_REPLY, atomic_load(&c->cid), p[i].st, p[i].seq);
        busy(OP_REPLY, 1);
        int rc = ipcx_channel_reply(c->ch, p[i].token, buf, len, DEADLINE);
        busy(OP_REPLY, -1);
        if (rc == -EPIPE) {
            peer_gone(c->client);
            return 1;
        }
        if (rc != 0) {
            report("reply", atomic_load(&c->cid), rc);
            return -1;
        }
    }
    return 0;
}

/* A message on a server's channel: record it (and hold a request). */
static int server_got(struct conn *c, const uint8_t *buf, long n,
                      uint64_t token, struct pending *p, int *np)
{
    struct msg m;
    if (verify(buf, n, &m) < 0) {
        atomic_fetch_add(&bd->corrupt, 1);
        return -1;
    }
    uint32_t cid = atomic_load(&c->cid);
    struct chanrec *cr = &bd->ch[m.cid];
    if (cid == 0) {
        /* The client wrote both before its first message. */
        if (atomic_load(&cr->server_inc) != my_inc ||
            atomic_load(&cr->client_inc) != c->client) {
            fail("channel %u of client %u (server %u) reached server %u from "
                 "client %u",
                 m.cid, atomic_load(&cr->client_inc),
                 atomic_load(&cr->server_inc), my_inc, c->client);
            atomic_fetch_add(&bd->misroute, 1);
            return -1;
        }
        atomic_store(&c->cid, m.cid);
        cid = m.cid;
    }
    int want_token = m.kind == K_REQ;
    if (m.cid != cid ||
        (m.kind != K_ONEWAY && m.kind != K_REQ && m.kind != K_BYE) ||
        m.st == ST_S || (token != 0) != want_token) {
        fail("server of channel %u received kind %u channel %u stream %u "
             "seq %u token %llu",
             cid, m.kind, m.cid, m.st, m.seq, (unsigned long long)token);
        atomic_fetch_add(&bd->misroute, 1);
        return -1;
    }
    if (m.kind == K_BYE) {
        atomic_store(&c->stop_s, 1);
        return 0;
    }
    if (check_seq(cr, cid, m.st, m.seq) < 0) {
        return -1;
    }
    if (m.kind == K_REQ) {
        CHECK(*np < 2); /* one call per client thread at a time */
        p[(*np)++] = (struct pending){token, m.st, m.seq};
    }
    return 0;
}

/* A server channel's receiver: one-way messages and requests; requests are
 * held while more messages come at once, then answered in random order.
 * Once a reply answers -EPIPE, requests are no longer answered, but the
 * receiver goes on until its receive answers -EPIPE too: everything the
 * client sent before it went must arrive. */
static void *server_rx(void *arg)
{
    struct conn *c = arg;
    struct pending p[2];
    int np = 0, held = 0, gone = 0;
    uint8_t buf[MAX_MSG];
    for (;;) {
        ipcx_channel_msg_info info;
        int64_t to = np > 0 ? 0 : DEADLINE;
        busy(OP_RECV, 1);
        long n = ipcx_channel_recv_ex(c->ch, buf, sizeof buf, to, &info);
        busy(OP_RECV, -1);
        int rc = 0;
        if (n >= 0) {
            if (server_got(c, buf, n, info.token, p, &np) < 0) {
                break;
            }
            if (gone) {
                np = 0;
            } else if (np == 2 || (np > 0 && ++held >= 8)) {
                held = 0;
                rc = reply_all(c, p, &np);
            }
        } else if (n == -EAGAIN && to == 0) {
            held = 0;
            rc = reply_all(c, p, &np);
        } else if (n == -EPIPE) {
            peer_gone(c->client);
            break;
        } else {
            report("recv", atomic_load(&c->cid), n);
            break;
        }
        if (rc < 0) {
            break;
        }
        gone |= rc;
    }
    atomic_store(&c->r_done, 1);
    return NULL;
}

/* A server channel's sender: one-way messages, at most window() ahead of
 * what the client has received; END once the client said BYE. */
static void *server_tx(void *arg)
{
    struct conn *c = arg;
    uint32_t cid;
    while ((cid = atomic_load(&c->cid)) == 0 && !atomic_load(&c->r_done)) {
        tu_pause_us(50);
    }
    struct chanrec *cr = &bd->ch[cid];
    for (uint32_t seq = 0; cid != 0;) {
        if (atomic_load(&c->stop_s)) {
            uint8_t buf[MAX_MSG];
            size_t len = build(buf, K_END, cid, ST_S, seq);
            busy(OP_SEND, 1);
            int rc = ipcx_channel_send(c->ch, buf, len, DEADLINE);
            busy(OP_SEND, -1);
            if (rc == -EPIPE) {
                peer_gone(c->client);
            } else if (rc != 0) {
                report("send END", cid, rc);
            }
            break;
        }
        if (atomic_load(&c->r_done)) {
            break; /* the client is gone */
        }
        if (seq >= atomic_load(&cr->rx[ST_S]) + window()) {
            tu_pause_us(20);
            continue;
        }
        if (send_oneway(c->ch, cr, cid, ST_S, seq, c->client, &c->rs) < 0) {
            break;
        }
        seq++;
    }
    atomic_store(&c->s_done, 1);
    return NULL;
}

static ipcx_port *server_listen(void)
{
    ipcx_port_attr a;
    ipcx_port_attr_init(&a);
    a.capacity = sc->capacity;
    a.max_msg_size = MAX_MSG;
    int64_t t0 = tu_now_ns();
    for (;;) {
        ipcx_port *port = NULL;
        busy(OP_LISTEN, 1);
        int rc = ipcx_port_listen(sc->name, &a, &port);
        busy(OP_LISTEN, -1);
        int64_t t = tu_now_ns() - t0;
        if (rc == 0) {
            max_update(&bd->max_listen_busy, t);
            return port;
        }
        /* The predecessor we replace may not be dead yet. */
        if (rc != -EEXIST) {
            report("listen", 0, rc);
            return NULL;
        }
        if (t > REPLACE_BOUND) {
            fail("listen still -EEXIST after %lld ms",
                 (long long)(t / 1000000));
            return NULL;
        }
        tu_pause_us(200);
    }
}

static int server(void *arg)
{
    my_inc = *(uint32_t *)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    atomic_store(&bd->inc_of_pid[getpid()], my_inc);
    uint64_t rs = seed ^ ((uint64_t)my_inc * 0x9e3779b97f4a7c15ull) ^ 1;
    ipcx_port *port = server_listen();
    if (port == NULL) {
        return 1;
    }
    static struct conn conns[MAX_CONN];
    for (;;) {
        int nused = 0, free_slot = -1;
        for (int i = 0; i < MAX_CONN; i++) {
            struct conn *c = &conns[i];
            if (c->used && atomic_load(&c->r_done) && atomic_load(&c->s_done)) {
                CHECK(pthread_join(c->r, NULL) == 0);
                CHECK(pthread_join(c->s, NULL) == 0);
                busy(OP_CLOSE, 1);
                ipcx_channel_close(c->ch);
                busy(OP_CLOSE, -1);
                c->used = 0;
            }
            nused += c->used;
            if (!c->used && free_slot < 0) {
                free_slot = i;
            }
        }
        if (atomic_load(&bd->stop_server) && nused == 0) {
            break;
        }
        if (free_slot < 0) {
            tu_pause_us(1000);
            continue;
        }
        ipcx_channel *ch = NULL;
        busy(OP_ACCEPT, 1);
        int rc = ipcx_port_accept(port, IPCX_MSEC(20), NULL, NULL, &ch);
        busy(OP_ACCEPT, -1);
        if (rc == -ETIMEDOUT || rc == -EAGAIN) {
            continue;
        }
        if (rc != 0) {
            report("accept", 0, rc);
            break;
        }
        ipcx_peer peer;
        CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
        struct conn *c = &conns[free_slot];
        memset(c, 0, sizeof *c);
        c->ch = ch;
        c->used = 1;
        c->client = atomic_load(&bd->inc_of_pid[peer.pid]);
        c->rs = rnd(&rs) | 1;
        CHECK(pthread_create(&c->r, NULL, server_rx, c) == 0);
        CHECK(pthread_create(&c->s, NULL, server_tx, c) == 0);
    }
    busy(OP_CLOSE, 1);
    ipcx_port_close(port);
    busy(OP_CLOSE, -1);
    return 0;
}

/* ---- controller ------------------------------------------------------- */

struct kid {
    pid_t pid;
    uint32_t inc;
    int slot;
    int killed;
};

struct ctl {
    enum role slot_role[1 + MAX_CLIENTS];
    pid_t slot_pid[1 + MAX_CLIENTS];
    int nslots;
    struct kid kids[MAX_KIDS];
    int nkids;
    uint32_t next_inc;
    enum role *inc_role;        /* [MAX_INC] */
    uint8_t *killed_server_pid; /* [1 << 22]: a server with this pid was
                                  killed (its temporary names may remain) */
    int failed;
    uint64_t kills, server_kills;
};

static int spawn(struct ctl *c, int slot)
{
    if (c->next_inc >= MAX_INC || c->nkids >= MAX_KIDS) {
        return -1;
    }
    uint32_t inc = c->next_inc++;
    c->inc_role[inc] = c->slot_role[slot];
    pid_t pid = tu_spawn(c->slot_role[slot] == SERVER ? server : client, &inc);
    c->slot_pid[slot] = pid;
    c->kids[c->nkids++] = (struct kid){pid, inc, slot, 0};
    return 0;
}

static void reaped(struct ctl *c, int k, int status)
{
    struct kid kd = c->kids[k];
    c->kids[k] = c->kids[--c->nkids];
    if (c->slot_pid[kd.slot] == kd.pid) {
        c->slot_pid[kd.slot] = 0;
    }
    struct rec *r = &bd->rec[kd.inc];
    atomic_store(&r->reaped, tu_now_ns());
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && kd.killed) {
        atomic_store(&r->state, REC_KILLED);
        return;
    }
    atomic_store(&r->state, REC_EXITED);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
        atomic_load(&bd->stop_clients)) {
        return;
    }
    fprintf(stderr, "torture %s: %s %u (pid %d) %s %d\n", sc->name,
            c->inc_role[kd.inc] == SERVER ? "server" : "client", kd.inc,
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

static void check_stall(struct ctl *c, int64_t start)
{
    int64_t last = atomic_load(&bd->last_progress);
    int64_t since = tu_now_ns() - (last != 0 ? last : start);
    if (since > STALL_BOUND && !c->failed) {
        fprintf(stderr, "torture %s: STALL: no message received for %lld ms\n",
                sc->name, (long long)(since / 1000000));
        c->failed = 1;
    }
}

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

/* As in test_torture.c: a quarter under 50 us, most under 2 ms. */
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
                    sc->name, left, role == SERVER ? "server" : "client",
                    (long long)(bound / 1000000));
            return -1;
        }
        tu_pause_us(500);
    }
}

static void kill_all(struct ctl *c)
{
    for (int k = 0; k < c->nkids; k++) {
        atomic_store(&bd->rec[c->kids[k].inc].kill_time, tu_now_ns());
        kill(c->kids[k].pid, SIGKILL);
        c->kids[k].killed = 1;
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

/* Totals of the per-channel accounting. */
struct account {
    uint64_t channels, sent, lost_to_server, lost_to_client, unconfirmed;
    uint64_t max_lost_server, max_lost_client, phantom, bad_loss;
};

/* One direction of a channel: streams ST..ST+N-1, received by an end that
 * was killed (KILLED) or not; returns what was lost. */
static uint64_t account_dir(uint32_t cid, struct chanrec *cr, uint32_t st,
                            uint32_t n, struct account *a)
{
    uint64_t lost = 0;
    for (uint32_t s = st; s < st + n; s++) {
        uint32_t sent = atomic_load(&cr->sent[s]);
        uint32_t tried = atomic_load(&cr->tried[s]);
        uint32_t rx = atomic_load(&cr->rx[s]);
        a->sent += sent;
        if (rx > tried || rx > sent + 1) {
            fprintf(stderr,
                    "torture %s: channel %u stream %u: %u received, but "
                    "only %u sent (%u maybe queued)\n",
                    sc->name, cid, s, rx, sent, tried);
            a->phantom++;
        } else if (rx > sent) {
            a->unconfirmed++;
        } else {
            lost += sent - rx;
        }
    }
    return lost;
}

static void account(struct account *a)
{
    memset(a, 0, sizeof *a);
    uint32_t n = atomic_load(&bd->next_cid);
    n = n < MAX_CHAN ? n : MAX_CHAN;
    for (uint32_t cid = 1; cid < n; cid++) {
        struct chanrec *cr = &bd->ch[cid];
        uint32_t ci = atomic_load(&cr->client_inc);
        uint32_t si = atomic_load(&cr->server_inc);
        if (ci == 0) {
            continue; /* the client was killed before it wrote anything */
        }
        a->channels++;
        int server_killed =
            si != 0 && atomic_load(&bd->rec[si].state) == REC_KILLED;
        int client_killed = atomic_load(&bd->rec[ci].state) == REC_KILLED;
        uint64_t ls = account_dir(cid, cr, ST_C1, 2, a);
        uint64_t lc = account_dir(cid, cr, ST_S, 1, a);
        a->lost_to_server += ls;
        a->lost_to_client += lc;
        a->max_lost_server = ls > a->max_lost_server ? ls : a->max_lost_server;
        a->max_lost_client = lc > a->max_lost_client ? lc : a->max_lost_client;
        if ((ls > 0 && !server_killed) || ls > sc->capacity + 1u ||
            (lc > 0 && !client_killed) || lc > window()) {
            if (a->bad_loss++ < 10) {
                fprintf(stderr,
                        "torture %s: channel %u (client %u%s, server %u%s, "
                        "%s): lost %llu toward the server, %llu toward the "
                        "client\n",
                        sc->name, cid, ci, client_killed ? " killed" : "", si,
                        server_killed ? " killed" : "",
                        atomic_load(&cr->clean) ? "closed cleanly"
                                                : "not clean",
                        (unsigned long long)ls, (unsigned long long)lc);
                for (uint32_t st = 0; st < NSTREAM; st++) {
                    fprintf(stderr,
                            "  stream %u: sent %u, maybe queued %u, "
                            "received %u\n",
                            st, atomic_load(&cr->sent[st]),
                            atomic_load(&cr->tried[st]),
                            atomic_load(&cr->rx[st]));
                }
            }
        }
    }
}

/* Namespace files left after everyone is gone.  Returns the number not
 * explained by a killed server; *TEMP counts temporary socket names of
 * servers killed inside ipcx_port_listen(). */
static int leftovers(struct ctl *c, uint64_t *temp)
{
    DIR *d = opendir(getenv("IPCX_DIR"));
    int bad = 0;
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        int pid = 0;
        if (sscanf(e->d_name, ".sock-%d-", &pid) == 1 && pid > 0 &&
            pid < (1 << 22) && c->killed_server_pid[pid]) {
            (*temp)++;
            if (*temp <= 3) {
                fprintf(stderr,
                        "torture %s: left over by a server killed in "
                        "listen: %s\n",
                        sc->name, e->d_name);
            }
            continue;
        }
        fprintf(stderr, "torture %s: left over: %s\n", sc->name, e->d_name);
        bad++;
    }
    closedir(d);
    return bad;
}

static int probe_client(void *arg)
{
    (void)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_channel *ch = NULL;
    int rc = -ENOENT;
    for (int i = 0; i < 5000 && rc == -ENOENT; i++) {
        rc = ipcx_connect(sc->name, IPCX_SEC(5), &ch);
        if (rc == -ENOENT) {
            tu_pause_ms(1); /* the probe server is not listening yet */
        }
    }
    if (rc != 0) {
        fprintf(stderr, "torture %s: probe connect: %s\n", sc->name,
                ipcx_strerror(rc));
        return 1;
    }
    char buf[16];
    long n = ipcx_call(ch, "probe", 6, buf, sizeof buf, IPCX_SEC(5));
    ipcx_channel_close(ch);
    return n == 3 && memcmp(buf, "ok", 3) == 0 ? 0 : 1;
}

/* Listens on the name the run used, answers one call, then waits to be
 * killed: its port is left behind for ipcx_gc(). */
static int probe_server(void *arg)
{
    _Atomic int *served = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_port *p = NULL;
    ipcx_channel *ch = NULL;
    ipcx_channel_msg_info info;
    char buf[16];
    int rc = ipcx_port_listen(sc->name, NULL, &p);
    if (rc == 0) {
        rc = ipcx_port_accept(p, IPCX_SEC(5), NULL, NULL, &ch);
    }
    long n = rc == 0
                 ? ipcx_channel_recv_ex(ch, buf, sizeof buf, IPCX_SEC(5), &info)
                 : rc;
    if (n == 6 && info.token != 0) {
        n = ipcx_channel_reply(ch, info.token, "ok", 3, IPCX_SEC(5));
    }
    if (n != 0) {
        fprintf(stderr, "torture %s: probe server: %s\n", sc->name,
                ipcx_strerror((int)n));
    }
    atomic_store(served, n == 0 ? 1 : -1);
    for (;;) {
        pause(); /* until the controller kills us */
    }
    return 1;
}

/*
 * After the run: a new server listens on the name and serves a new client,
 * and is killed; then ipcx_gc() must remove its port and the temporary
 * names of the servers killed in ipcx_port_listen() (*TEMP of them), and
 * the namespace must be empty.  The one exception is ipcx_gc()'s own rule
 * for temporary names: one whose creator's pid is in use again by another
 * process is kept (until it is IPCX_GC_TEMP_AGE old); those are printed,
 * counted in *REUSED and removed by hand.
 */
static int probe_and_gc(uint64_t temp, uint64_t *reused)
{
    _Atomic int *served = tu_shared_map(sizeof *served);
    pid_t srv = tu_spawn(probe_server, (void *)served);
    int code = tu_wait(tu_spawn(probe_client, NULL));
    for (int i = 0; i < 10000 && atomic_load(served) == 0; i++) {
        tu_pause_ms(1);
    }
    int ok = code == 0 && atomic_load(served) == 1;
    CHECK(kill(srv, SIGKILL) == 0);
    CHECK(tu_wait(srv) == 128 + SIGKILL);
    munmap((void *)served, sizeof *served);
    if (!ok) {
        fprintf(stderr, "torture %s: the probe failed (client %d)\n", sc->name,
                code);
        return -1;
    }
    ipcx_gc_report rep;
    int n = ipcx_gc(0, NULL, NULL, &rep);
    DIR *d = opendir(getenv("IPCX_DIR"));
    CHECK(d != NULL);
    int bad = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int pid = 0;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (sscanf(e->d_name, ".sock-%d-", &pid) == 1 && pid > 0 &&
            kill(pid, 0) == 0) {
            fprintf(stderr,
                    "torture %s: kept by ipcx_gc (pid %d is in use again): "
                    "%s\n",
                    sc->name, pid, e->d_name);
            (*reused)++;
            CHECK(unlinkat(dirfd(d), e->d_name, 0) == 0);
            continue;
        }
        fprintf(stderr, "torture %s: left over after ipcx_gc: %s\n", sc->name,
                e->d_name);
        bad++;
    }
    closedir(d);
    if (n < 0 || bad != 0 || rep.removed[IPCX_GC_PORT] != 1 ||
        rep.removed[IPCX_GC_TEMP] + *reused != temp ||
        rep.removed[IPCX_GC_INBOX] != 0 || rep.removed[IPCX_GC_REGION] != 0 ||
        rep.removed[IPCX_GC_BELL] != 0 || rep.skipped != 0) {
        fprintf(stderr,
                "torture %s: ipcx_gc answered %d: removed %u ports, %u "
                "temporary names (expected 1 and %llu), %u inboxes, %u "
                "regions, %u bells, skipped %u; %d files left\n",
                sc->name, n, rep.removed[IPCX_GC_PORT],
                rep.removed[IPCX_GC_TEMP], (unsigned long long)(temp - *reused),
                rep.removed[IPCX_GC_INBOX], rep.removed[IPCX_GC_REGION],
                rep.removed[IPCX_GC_BELL], rep.skipped, bad);
        return -1;
    }
    return 0;
}

static void run_scenario(void)
{
    bd = mmap(NULL, sizeof *bd, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(bd != MAP_FAILED);
    atomic_store(&bd->next_cid, 1);
    struct ctl c;
    memset(&c, 0, sizeof c);
    c.inc_role = calloc(MAX_INC, sizeof *c.inc_role);
    c.killed_server_pid = calloc(1u << 22, 1);
    CHECK(c.inc_role != NULL && c.killed_server_pid != NULL);
    c.next_inc = 1;
    c.slot_role[c.nslots++] = SERVER;
    for (int i = 0; i < sc->clients; i++) {
        c.slot_role[c.nslots++] = CLIENT;
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
        if (atomic_load(&bd->next_cid) >= MAX_CHAN - 64) {
            break; /* out of channel records: end the kill phase early */
        }
        wait_us(&c, kill_delay(&rs), start);
        int slot = (int)(rnd(&rs) % (uint64_t)c.nslots);
        pid_t victim = c.slot_pid[slot];
        if (victim == 0) {
            continue;
        }
        uint32_t inc = 0;
        for (int k = 0; k < c.nkids; k++) {
            if (c.kids[k].pid == victim) {
                c.kids[k].killed = 1;
                inc = c.kids[k].inc;
            }
        }
        struct rec *r = &bd->rec[inc];
        for (int op = 0; op < NOPS; op++) {
            if (atomic_load(&r->busy[op]) != 0) {
                atomic_fetch_add(&bd->kills_in[op], 1);
            }
        }
        atomic_store(&r->kill_time, tu_now_ns());
        CHECK(kill(victim, SIGKILL) == 0);
        sent_kills++;
        c.kills++;
        if (c.slot_role[slot] == SERVER) {
            c.server_kills++;
            c.killed_server_pid[victim] = 1;
        }
        c.slot_pid[slot] = 0;
        if (spawn(&c, slot) < 0) {
            fprintf(stderr, "torture %s: out of incarnations after %d kills\n",
                    sc->name, sent_kills);
            break;
        }
    }
    int64_t kill_phase = tu_now_ns() - start;
    /* Clients end their channels cleanly and exit; then the server. */
    int64_t t0 = tu_now_ns();
    atomic_store(&bd->stop_clients, 1);
    if (!c.failed && wait_role_gone(&c, CLIENT, DRAIN_BOUND) < 0) {
        c.failed = 1;
    }
    atomic_store(&bd->stop_server, 1);
    if (!c.failed && wait_role_gone(&c, SERVER, DRAIN_BOUND) < 0) {
        c.failed = 1;
    }
    int64_t drain_ns = tu_now_ns() - t0;
    int drained = !c.failed;
    kill_all(&c);

    struct account a;
    account(&a);
    uint64_t temp = 0;
    uint64_t reused = 0;
    int left = leftovers(&c, &temp);
    int probed = left == 0 ? probe_and_gc(temp, &reused) : -1;
    int64_t gap = atomic_load(&bd->max_gap);
    int64_t detect = atomic_load(&bd->max_detect);
    uint64_t received = atomic_load(&bd->received);
    fprintf(stderr,
            "torture %-10s kills %5llu (%llu servers), channels %6llu, "
            "messages sent %8llu, received %8llu, calls %7llu (+%llu "
            "-EPIPE), lost %llu to servers (max %llu per channel), %llu to "
            "clients (max %llu), unconfirmed %llu, longest detection %lld "
            "ms (%lld after reaping), longest stall %lld ms, call %lld ms, "
            "connect %lld ms, "
            "reconnect %lld ms, listen %lld ms, drain %lld ms, kill phase "
            "%lld ms, temporary names %llu (%llu kept by ipcx_gc: pid in "
            "use)\n",
            sc->name, (unsigned long long)c.kills,
            (unsigned long long)c.server_kills, (unsigned long long)a.channels,
            (unsigned long long)a.sent, (unsigned long long)received,
            (unsigned long long)atomic_load(&bd->calls_ok),
            (unsigned long long)atomic_load(&bd->calls_epipe),
            (unsigned long long)a.lost_to_server,
            (unsigned long long)a.max_lost_server,
            (unsigned long long)a.lost_to_client,
            (unsigned long long)a.max_lost_client,
            (unsigned long long)a.unconfirmed, (long long)(detect / 1000000),
            (long long)(atomic_load(&bd->max_after_reap) / 1000000),
            (long long)(gap / 1000000),
            (long long)(atomic_load(&bd->max_call) / 1000000),
            (long long)(atomic_load(&bd->max_connect) / 1000000),
            (long long)(atomic_load(&bd->max_reconnect) / 1000000),
            (long long)(atomic_load(&bd->max_listen_busy) / 1000000),
            (long long)(drain_ns / 1000000), (long long)(kill_phase / 1000000),
            (unsigned long long)temp, (unsigned long long)reused);
    int ok = !c.failed;
    uint64_t dup = atomic_load(&bd->dup), gaps = atomic_load(&bd->gap);
    uint64_t corrupt = atomic_load(&bd->corrupt);
    uint64_t misroute = atomic_load(&bd->misroute);
    uint64_t errors = atomic_load(&bd->errors);
    if (dup || gaps || corrupt || misroute || a.phantom || errors) {
        fprintf(stderr,
                "torture %s: FAIL: duplicates %llu, gaps %llu, corrupt %llu, "
                "misrouted %llu, received without a send %llu, errors %llu "
                "(timeouts %llu)\n",
                sc->name, (unsigned long long)dup, (unsigned long long)gaps,
                (unsigned long long)corrupt, (unsigned long long)misroute,
                (unsigned long long)a.phantom, (unsigned long long)errors,
                (unsigned long long)atomic_load(&bd->timeouts));
        ok = 0;
    }
    if (!drained) {
        fprintf(stderr, "torture %s: no clean end, losses not checked\n",
                sc->name);
    } else if (a.bad_loss != 0) {
        fprintf(stderr,
                "torture %s: FAIL: %llu channels lost messages beyond what "
                "a killed receiver may lose\n",
                sc->name, (unsigned long long)a.bad_loss);
        ok = 0;
    }
    if (gap > STALL_BOUND || detect > DETECT_BOUND) {
        fprintf(stderr, "torture %s: FAIL: stall %lld ms, detection %lld ms\n",
                sc->name, (long long)(gap / 1000000),
                (long long)(detect / 1000000));
        ok = 0;
    }
    if (left != 0 || probed != 0) {
        fprintf(stderr,
                "torture %s: FAIL: %d unexplained files left, probe %s\n",
                sc->name, left, probed == 0 ? "ok" : "failed");
        ok = 0;
    }
    if (ok && kills_per_scenario > 0 && (c.kills == 0 || c.server_kills == 0)) {
        fprintf(stderr, "torture %s: FAIL: no kill (of a server) landed\n",
                sc->name);
        ok = 0;
    }
    atomic_fetch_add(&tot->kills, c.kills);
    atomic_fetch_add(&tot->server_kills, c.server_kills);
    atomic_fetch_add(&tot->channels, a.channels);
    atomic_fetch_add(&tot->sent, a.sent);
    atomic_fetch_add(&tot->received, received);
    atomic_fetch_add(&tot->calls_ok, atomic_load(&bd->calls_ok));
    atomic_fetch_add(&tot->calls_epipe, atomic_load(&bd->calls_epipe));
    atomic_fetch_add(&tot->lost_to_server, a.lost_to_server);
    atomic_fetch_add(&tot->lost_to_client, a.lost_to_client);
    atomic_fetch_add(&tot->unconfirmed, a.unconfirmed);
    atomic_fetch_add(&tot->detects, atomic_load(&bd->detects));
    atomic_fetch_add(&tot->temp_left, temp);
    for (int i = 0; i < NOPS; i++) {
        atomic_fetch_add(&tot->kills_in[i], atomic_load(&bd->kills_in[i]));
    }
    for (int i = 0; i < 5; i++) {
        atomic_fetch_add(&tot->detect_hist[i],
                         atomic_load(&bd->detect_hist[i]));
    }
    max_update(&tot->max_gap, gap);
    max_update(&tot->max_detect, detect);
    max_update(&tot->max_after_reap, atomic_load(&bd->max_after_reap));
    max_update(&tot->max_call, atomic_load(&bd->max_call));
    max_update(&tot->max_connect, atomic_load(&bd->max_connect));
    max_update(&tot->max_reconnect, atomic_load(&bd->max_reconnect));
    max_update(&tot->max_listen_busy, atomic_load(&bd->max_listen_busy));
    max_update(&tot->max_lost_server, (int64_t)a.max_lost_server);
    max_update(&tot->max_lost_client, (int64_t)a.max_lost_client);
    free(c.inc_role);
    free(c.killed_server_pid);
    munmap(bd, sizeof *bd);
    CHECK(ok);
}

int main(void)
{
    tu_private_ns();
    const char *env = getenv("IPCX_TORTURE_CHAN_KILLS");
    long kills = env != NULL ? atol(env) : DEFAULT_KILLS;
    CHECK(kills >= 0);
    const char *only = getenv("IPCX_TORTURE_ONLY");
    long nscen = only != NULL ? 1 : (long)NSCEN;
    kills_per_scenario = (int)((kills + nscen - 1) / nscen);
    env = getenv("IPCX_TORTURE_SEED");
    seed = env != NULL ? strtoull(env, NULL, 0)
                       : (uint64_t)tu_now_ns() ^ ((uint64_t)getpid() << 32);
    seed |= 1;
    fprintf(stderr, "torture channels: seed %llu, %d kills per scenario\n",
            (unsigned long long)seed, kills_per_scenario);
    tot = tu_shared_map(sizeof *tot);
    int64_t t0 = tu_now_ns();
    int ran = 0;
    for (size_t i = 0; i < NSCEN; i++) {
        sc = &scenarios[i];
        if (only == NULL || strcmp(only, sc->name) == 0) {
            tu_run(sc->name, run_scenario);
            ran++;
        }
    }
    CHECK(ran > 0);
    char where[256];
    size_t off = 0;
    for (int i = 0; i < NOPS; i++) {
        off += (size_t)snprintf(where + off, sizeof where - off, "%s%s %llu",
                                i ? ", " : "", op_names[i],
                                (unsigned long long)tot->kills_in[i]);
    }
    fprintf(
        stderr,
        "torture channels: %llu kills (%llu servers; victim inside: %s), "
        "%llu channels, %llu messages sent, %llu received, %llu calls "
        "answered, %llu -EPIPE, lost %llu toward servers (max %lld per "
        "channel) and %llu toward clients (max %lld), %llu unconfirmed, "
        "%llu deaths learnt (<1 ms %llu, <10 ms %llu, <100 ms %llu, <1 s "
        "%llu, more %llu), longest detection %lld ms after the kill (%lld "
        "ms after the victim was reaped), longest stall %lld "
        "ms, call %lld ms, connect %lld ms, reconnect %lld ms, listen "
        "-EEXIST %lld ms, %llu temporary names of killed servers, %lld "
        "s, seed %llu%s\n",
        (unsigned long long)tot->kills, (unsigned long long)tot->server_kills,
        where, (unsigned long long)tot->channels, (unsigned long long)tot->sent,
        (unsigned long long)tot->received, (unsigned long long)tot->calls_ok,
        (unsigned long long)tot->calls_epipe,
        (unsigned long long)tot->lost_to_server,
        (long long)tot->max_lost_server,
        (unsigned long long)tot->lost_to_client,
        (long long)tot->max_lost_client, (unsigned long long)tot->unconfirmed,
        (unsigned long long)tot->detects,
        (unsigned long long)tot->detect_hist[0],
        (unsigned long long)tot->detect_hist[1],
        (unsigned long long)tot->detect_hist[2],
        (unsigned long long)tot->detect_hist[3],
        (unsigned long long)tot->detect_hist[4],
        (long long)(tot->max_detect / 1000000),
        (long long)(tot->max_after_reap / 1000000),
        (long long)(tot->max_gap / 1000000),
        (long long)(tot->max_call / 1000000),
        (long long)(tot->max_connect / 1000000),
        (long long)(tot->max_reconnect / 1000000),
        (long long)(tot->max_listen_busy / 1000000),
        (unsigned long long)tot->temp_left,
        (long long)((tu_now_ns() - t0) / 1000000000), (unsigned long long)seed,
        tu_failures ? " FAILED" : "");
    return tu_failures > 0;
}
