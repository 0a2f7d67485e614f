/*
 * test_mpmc.c - many producers and consumers on one mailbox (M2, M6, M7,
 * S4): every message arrives exactly once, intact, and the messages of one
 * producer reach each consumer in the order sent.  Producers and consumers
 * are processes (and, in one variant, threads sharing handles); consumers
 * log what they got into shared memory and the parent checks it all.
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define SCALE 2 /* ThreadSanitizer is slow: fewer messages */
#else
#define SCALE 1
#endif

#define MAXP    8
#define HDR     16
#define STOP_ID 0xffffu

struct log {
    uint32_t producers;
    uint32_t per_producer;
    atomic_uint total;
    atomic_uint bad_header;
    atomic_uint bad_payload;
    atomic_uint out_of_order;
    atomic_uint recv_errors;
    atomic_uint send_errors;
    atomic_uchar count[]; /* [producers][per_producer] */
};

static struct log *log_new(uint32_t producers, uint32_t per)
{
    size_t len = sizeof(struct log) + (size_t)producers * per;
    struct log *l = tu_shared_map(len);
    l->producers = producers;
    l->per_producer = per;
    return l;
}

static void log_free(struct log *l)
{
    munmap(l, sizeof(struct log) + (size_t)l->producers * l->per_producer);
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

/* Message length for (p, s), between HDR and MAX, hitting both ends. */
static uint32_t msg_len(uint32_t p, uint32_t s, uint32_t max)
{
    uint32_t r = mix(p * 0x9e3779b9u + s);
    switch (r % 8) {
    case 0:
        return HDR;
    case 1:
        return max;
    default:
        return HDR + (r >> 3) % (max - HDR + 1);
    }
}

static uint32_t checksum(const uint8_t *b, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}

static size_t build(uint8_t *buf, uint32_t p, uint32_t s, uint32_t max)
{
    uint32_t len = msg_len(p, s, max);
    uint32_t seed = mix(p * 131u + s * 7919u);
    for (uint32_t i = HDR; i < len; i++) {
        buf[i] = (uint8_t)(seed >> ((i % 4) * 8)) ^ (uint8_t)i;
    }
    uint32_t h[4] = {p, s, len, checksum(buf + HDR, len - HDR)};
    memcpy(buf, h, HDR);
    return len;
}

/* Check one received message; log it.  LAST is this consumer's view. */
static void take(struct log *l, const uint8_t *buf, long n, int64_t *last,
                 uint32_t max)
{
    uint32_t h[4];
    if (n < HDR) {
        atomic_fetch_add(&l->bad_header, 1);
        return;
    }
    memcpy(h, buf, HDR);
    uint32_t p = h[0], s = h[1];
    if (p >= l->producers || s >= l->per_producer || h[2] != (uint32_t)n ||
        (uint32_t)n != msg_len(p, s, max)) {
        fprintf(stderr, "bad header: p %u s %u len %u n %ld\n", p, s, h[2], n);
        atomic_fetch_add(&l->bad_header, 1);
        return;
    }
    uint32_t seed = mix(p * 131u + s * 7919u);
    for (uint32_t i = HDR; i < (uint32_t)n; i++) {
        if (buf[i] != ((uint8_t)(seed >> ((i % 4) * 8)) ^ (uint8_t)i)) {
            atomic_fetch_add(&l->bad_payload, 1);
            return;
        }
    }
    if (checksum(buf + HDR, (size_t)n - HDR) != h[3]) {
        atomic_fetch_add(&l->bad_payload, 1);
        return;
    }
    if ((int64_t)s <= last[p]) {
        fprintf(stderr, "producer %u: seq %u after %lld\n", p, s,
                (long long)last[p]);
        atomic_fetch_add(&l->out_of_order, 1);
    }
    last[p] = s;
    atomic_fetch_add(&l->count[(size_t)p * l->per_producer + s], 1);
    atomic_fetch_add(&l->total, 1);
}

struct role {
    const char *name;
    ipcx_mailbox *mb; /* threads: a handle to use; processes: NULL */
    struct log *log;
    uint32_t id;
    uint32_t max;
};

static int consume(struct role *r)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    ipcx_mailbox *mb = r->mb;
    if (mb == NULL) {
        mb = tu_open(r->name);
    }
    uint8_t *buf = malloc(r->max);
    CHECK(buf != NULL);
    int64_t last[MAXP];
    for (int i = 0; i < MAXP; i++) {
        last[i] = -1;
    }
    for (;;) {
        long n = ipcx_mailbox_recv(mb, buf, r->max, IPCX_SEC(30));
        if (n < 0) {
            fprintf(stderr, "consumer %u: recv: %s\n", r->id,
                    ipcx_strerror((int)n));
            atomic_fetch_add(&r->log->recv_errors, 1);
            break;
        }
        if (n == 4) {
            uint32_t v;
            memcpy(&v, buf, 4);
            if (v == STOP_ID) {
                break;
            }
        }
        take(r->log, buf, n, last, r->max);
    }
    free(buf);
    if (r->mb == NULL) {
        ipcx_mailbox_close(mb);
    }
    return 0;
}

static int produce(struct role *r)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    ipcx_mailbox *mb = r->mb;
    if (mb == NULL) {
        mb = tu_open(r->name);
    }
    uint8_t *buf = malloc(r->max);
    CHECK(buf != NULL);
    for (uint32_t s = 0; s < r->log->per_producer; s++) {
        size_t len = build(buf, r->id, s, r->max);
        int rc = ipcx_mailbox_send(mb, buf, len, IPCX_SEC(30));
        if (rc != 0) {
            fprintf(stderr, "producer %u seq %u: send: %s\n", r->id, s,
                    ipcx_strerror(rc));
            atomic_fetch_add(&r->log->send_errors, 1);
            break;
        }
    }
    free(buf);
    if (r->mb == NULL) {
        ipcx_mailbox_close(mb);
    }
    return 0;
}

static int consume_proc(void *arg)
{
    return consume(arg);
}

static int produce_proc(void *arg)
{
    return produce(arg);
}

static void *consume_thread(void *arg)
{
    consume(arg);
    return NULL;
}

static void *produce_thread(void *arg)
{
    produce(arg);
    return NULL;
}

/* Wait until all messages are logged (or ~60 s), then stop consumers. */
static void finish(ipcx_mailbox *mb, struct log *l, int consumers)
{
    uint32_t want = l->producers * l->per_producer;
    for (int i = 0; i < 60000 && atomic_load(&l->total) < want &&
                    atomic_load(&l->recv_errors) == 0;
         i++) {
        tu_pause_ms(1);
    }
    for (int i = 0; i < consumers; i++) {
        uint32_t stop = STOP_ID;
        CHECK_RC(ipcx_mailbox_send(mb, &stop, sizeof stop, IPCX_SEC(30)), 0);
    }
}

static void verify(struct log *l, const char *what)
{
    int ok = 1;
    unsigned lost = 0, dup = 0;
    for (uint32_t p = 0; p < l->producers; p++) {
        for (uint32_t s = 0; s < l->per_producer; s++) {
            unsigned c = atomic_load(&l->count[p * l->per_producer + s]);
            if (c == 0 && lost++ < 5) {
                fprintf(stderr, "%s: lost producer %u seq %u\n", what, p, s);
            }
            if (c > 1 && dup++ < 5) {
                fprintf(stderr, "%s: producer %u seq %u received %u times\n",
                        what, p, s, c);
            }
        }
    }
    unsigned bh = atomic_load(&l->bad_header);
    unsigned bp = atomic_load(&l->bad_payload);
    unsigned oo = atomic_load(&l->out_of_order);
    unsigned re = atomic_load(&l->recv_errors);
    unsigned se = atomic_load(&l->send_errors);
    if (lost || dup || bh || bp || oo || re || se) {
        fprintf(stderr,
                "%s: lost %u, duplicated %u, bad header %u, bad payload %u, "
                "out of order %u, recv errors %u, send errors %u\n",
                what, lost, dup, bh, bp, oo, re, se);
        ok = 0;
    }
    CHECK(ok);
    CHECK(atomic_load(&l->total) == l->producers * l->per_producer);
}

static void create(const char *name, uint32_t cap, uint32_t max)
{
    ipcx_mailbox_attr a = tu_attr(cap, max);
    if (cap == IPCX_UNBOUNDED) {
        a.max_bytes = 512ull << 20;
    }
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
}

static void run_processes(const char *name, uint32_t cap, uint32_t np,
                          uint32_t per, uint32_t nc, uint32_t max)
{
    long long t0 = tu_now_ns();
    create(name, cap, max);
    ipcx_mailbox *mb = tu_open(name);
    struct log *l = log_new(np, per);
    struct role roles[2 * MAXP];
    pid_t pids[2 * MAXP];
    CHECK(np <= MAXP && nc <= MAXP);
    for (uint32_t i = 0; i < nc; i++) {
        roles[i] = (struct role){name, NULL, l, i, max};
        pids[i] = tu_spawn(consume_proc, &roles[i]);
    }
    for (uint32_t i = 0; i < np; i++) {
        roles[nc + i] = (struct role){name, NULL, l, i, max};
        pids[nc + i] = tu_spawn(produce_proc, &roles[nc + i]);
    }
    for (uint32_t i = 0; i < np; i++) {
        CHECK(tu_wait(pids[nc + i]) == 0);
    }
    finish(mb, l, (int)nc);
    for (uint32_t i = 0; i < nc; i++) {
        CHECK(tu_wait(pids[i]) == 0);
    }
    verify(l, name);
    ipcx_mailbox_info st = tu_stat(mb);
    CHECK(st.depth == 0);
    CHECK(st.sent == (uint64_t)np * per + nc);
    CHECK(st.received == (uint64_t)np * per + nc);
    log_free(l);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
    fprintf(stderr, "%s: %u x %u messages, %u consumers: %lld ms\n", name, np,
            per, nc, (tu_now_ns() - t0) / 1000000);
}

/* Threads in one process; some share a handle, some have their own. */
static void run_threads(const char *name, uint32_t cap, uint32_t np,
                        uint32_t per, uint32_t nc, uint32_t max)
{
    long long t0 = tu_now_ns();
    create(name, cap, max);
    ipcx_mailbox *shared_tx = tu_open(name);
    ipcx_mailbox *shared_rx = tu_open(name);
    ipcx_mailbox *main_mb = tu_open(name);
    ipcx_mailbox *own[2 * MAXP] = {NULL};
    struct log *l = log_new(np, per);
    struct role roles[2 * MAXP];
    pthread_t th[2 * MAXP];
    for (uint32_t i = 0; i < nc + np; i++) {
        int consumer = i < nc;
        uint32_t id = consumer ? i : i - nc;
        ipcx_mailbox *mb = consumer ? shared_rx : shared_tx;
        if (id % 2 == 1) {
            own[i] = tu_open(name);
            mb = own[i];
        }
        roles[i] = (struct role){name, mb, l, id, max};
        CHECK(pthread_create(&th[i], NULL,
                             consumer ? consume_thread : produce_thread,
                             &roles[i]) == 0);
    }
    for (uint32_t i = nc; i < nc + np; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
    }
    finish(main_mb, l, (int)nc);
    for (uint32_t i = 0; i < nc; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
    }
    verify(l, name);
    ipcx_mailbox_info st = tu_stat(main_mb);
    CHECK(st.depth == 0);
    for (uint32_t i = 0; i < nc + np; i++) {
        ipcx_mailbox_close(own[i]);
    }
    ipcx_mailbox_close(shared_tx);
    ipcx_mailbox_close(shared_rx);
    ipcx_mailbox_close(main_mb);
    log_free(l);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
    fprintf(stderr, "%s: %u x %u messages, %u consumers: %lld ms\n", name, np,
            per, nc, (tu_now_ns() - t0) / 1000000);
}

/* One producer, one consumer, every length from 0 to the maximum. */
static uint32_t size_at(uint32_t i, uint32_t max)
{
    uint32_t len = i <= 64 ? i : mix(i) % (max + 1);
    if (i % 97 == 0) {
        len = max - (i % 3);
    }
    return len == 1 ? 2 : len; /* a 1-byte 0xff is the stop message */
}

static int sizes_consumer(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    uint32_t max = *(uint32_t *)arg;
    ipcx_mailbox *mb = tu_open("sizes");
    uint8_t *buf = malloc(max);
    CHECK(buf != NULL);
    for (uint32_t i = 0;; i++) {
        long n = ipcx_mailbox_recv(mb, buf, max, IPCX_SEC(30));
        CHECK(n >= 0);
        if (n == 1 && buf[0] == 0xff) {
            break;
        }
        uint32_t want = size_at(i, max);
        if ((uint32_t)n != want) {
            fprintf(stderr, "sizes: message %u: length %ld, expected %u\n", i,
                    n, want);
            return 1;
        }
        for (uint32_t k = 0; k < want; k++) {
            if (buf[k] != (uint8_t)(i + k * 13)) {
                fprintf(stderr, "sizes: message %u corrupt at %u\n", i, k);
                return 1;
            }
        }
    }
    free(buf);
    ipcx_mailbox_close(mb);
    return 0;
}

static void run_sizes(uint32_t cap, uint32_t max, uint32_t count)
{
    create("sizes", cap, max);
    ipcx_mailbox *mb = tu_open("sizes");
    pid_t pid = tu_spawn(sizes_consumer, &max);
    uint8_t *buf = malloc(max);
    CHECK(buf != NULL);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t len = size_at(i, max);
        for (uint32_t k = 0; k < len; k++) {
            buf[k] = (uint8_t)(i + k * 13);
        }
        CHECK_RC(ipcx_mailbox_send(mb, buf, len, IPCX_SEC(30)), 0);
    }
    buf[0] = 0xff;
    CHECK_RC(ipcx_mailbox_send(mb, buf, 1, IPCX_SEC(30)), 0);
    CHECK(tu_wait(pid) == 0);
    free(buf);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("sizes"), 0);
}

/*
 * Receipts and short timeouts racing receivers on a small bounded mailbox:
 * a send that succeeded is received exactly once (by the pid its receipt
 * names), a send that failed is never received, and nothing gets stuck.
 */
#define RR_PRODUCERS 3
#define RR_CONSUMERS 2
#define RR_PER       (3000 / SCALE)

struct rr_log {
    atomic_int ok[RR_PRODUCERS][RR_PER];      /* sender: 1 sent, 0 failed */
    atomic_int receipt[RR_PRODUCERS][RR_PER]; /* sender: receipt pid */
    atomic_int who[RR_PRODUCERS][RR_PER];     /* consumer: its pid */
    atomic_int count[RR_PRODUCERS][RR_PER];
    atomic_int total, expected, errors;
};

static struct rr_log *rr;

static int rr_producer(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    uint32_t p = (uint32_t)(uintptr_t)arg;
    ipcx_mailbox *mb = tu_open("receipt-race");
    for (uint32_t s = 0; s < RR_PER; s++) {
        uint32_t m[3] = {p, s, mix(p * 7 + s)};
        uint32_t r = mix(s * 131 + p);
        int64_t tmo = r % 4 == 0 ? 0 : (int64_t)(r % 200) * 1000;
        pid_t who = 0;
        int rc;
        if (r % 3 == 0) {
            rc = ipcx_mailbox_send(mb, m, sizeof m, tmo);
        } else {
            rc = ipcx_mailbox_send_ex(mb, m, sizeof m, tmo, IPCX_SEND_RECEIPT,
                                      &who);
        }
        if (rc == 0) {
            atomic_store(&rr->receipt[p][s], (int)who);
            atomic_store(&rr->ok[p][s], 1);
            atomic_fetch_add(&rr->expected, 1);
        } else if (rc != -EAGAIN && rc != -ETIMEDOUT) {
            fprintf(stderr, "receipt race: send: %s\n", ipcx_strerror(rc));
            atomic_fetch_add(&rr->errors, 1);
        }
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static int rr_consumer(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    (void)arg;
    ipcx_mailbox *mb = tu_open("receipt-race");
    int64_t last[RR_PRODUCERS] = {-1, -1, -1};
    for (uint32_t i = 0;; i++) {
        uint32_t m[3];
        long n = ipcx_mailbox_recv(mb, m, sizeof m, IPCX_SEC(30));
        if (n != (long)sizeof m) {
            fprintf(stderr, "receipt race: recv %ld\n", n);
            atomic_fetch_add(&rr->errors, 1);
            break;
        }
        if (m[0] == STOP_ID) {
            break;
        }
        if (m[0] >= RR_PRODUCERS || m[1] >= RR_PER ||
            m[2] != mix(m[0] * 7 + m[1]) || (int64_t)m[1] <= last[m[0]]) {
            atomic_fetch_add(&rr->errors, 1);
            continue;
        }
        last[m[0]] = m[1];
        atomic_store(&rr->who[m[0]][m[1]], (int)getpid());
        atomic_fetch_add(&rr->count[m[0]][m[1]], 1);
        atomic_fetch_add(&rr->total, 1);
        if (mix(i) % 5 == 0) {
            /* let some timeouts expire */
            tu_pause_us((long)(mix(i + 1) % 300));
        }
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static void run_receipt_race(uint32_t cap)
{
    create("receipt-race", cap, 64);
    ipcx_mailbox *mb = tu_open("receipt-race");
    rr = tu_shared_map(sizeof *rr);
    pid_t cons[RR_CONSUMERS], prod[RR_PRODUCERS];
    for (int i = 0; i < RR_CONSUMERS; i++) {
        cons[i] = tu_spawn(rr_consumer, NULL);
    }
    for (int i = 0; i < RR_PRODUCERS; i++) {
        prod[i] = tu_spawn(rr_producer, (void *)(uintptr_t)i);
    }
    for (int i = 0; i < RR_PRODUCERS; i++) {
        CHECK(tu_wait(prod[i]) == 0);
    }
    for (int i = 0;
         i < 30000 && atomic_load(&rr->total) < atomic_load(&rr->expected);
         i++) {
        tu_pause_ms(1);
    }
    for (int i = 0; i < RR_CONSUMERS; i++) {
        uint32_t stop[3] = {STOP_ID, 0, 0};
        CHECK_RC(ipcx_mailbox_send(mb, stop, sizeof stop, IPCX_SEC(30)), 0);
    }
    for (int i = 0; i < RR_CONSUMERS; i++) {
        CHECK(tu_wait(cons[i]) == 0);
    }
    CHECK(atomic_load(&rr->errors) == 0);
    int delivered = 0, receipts = 0;
    for (int p = 0; p < RR_PRODUCERS; p++) {
        for (int s = 0; s < RR_PER; s++) {
            int ok = atomic_load(&rr->ok[p][s]);
            int c = atomic_load(&rr->count[p][s]);
            if (c != ok) {
                fprintf(stderr,
                        "cap %u: producer %d seq %d: send %s, received %d "
                        "times\n",
                        cap, p, s, ok ? "succeeded" : "failed", c);
                exit(1);
            }
            int r = atomic_load(&rr->receipt[p][s]);
            if (ok && r != 0) {
                receipts++;
                CHECK(r == atomic_load(&rr->who[p][s]));
            }
            delivered += ok;
        }
    }
    fprintf(stderr,
            "receipt race cap %u: %d delivered (%d with receipt) of %d\n", cap,
            delivered, receipts, RR_PRODUCERS * RR_PER);
    CHECK(delivered > 0);
    ipcx_mailbox_info st = tu_stat(mb);
    CHECK(st.send_waiting == 0);
    uint32_t v;
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EAGAIN);
    munmap(rr, sizeof *rr);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("receipt-race"), 0);
}

int main(void)
{
    tu_private_ns();
    run_sizes(4, 65536, 3000 / SCALE);

    run_processes("proc-bounded", 4, 4, 20000 / SCALE, 3, 256);
    run_processes("proc-unbounded", IPCX_UNBOUNDED, 4, 20000 / SCALE, 3, 256);
    run_processes("proc-cap1", 1, 3, 3000 / SCALE, 2, 64);
    run_processes("proc-big", 8, 2, 400 / SCALE, 2, 65536);

    run_threads("thr-bounded", 4, 3, 10000 / SCALE, 3, 256);
    run_threads("thr-unbounded", IPCX_UNBOUNDED, 3, 10000 / SCALE, 3, 256);

    run_receipt_race(2);
    run_receipt_race(0);
    run_receipt_race(IPCX_UNBOUNDED);
    return 0;
}
