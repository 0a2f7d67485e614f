/*
 * test_queue.c - the queue protocol on plain memory, one process: ordering
 * across many generations, withdrawn messages (holes), the unbounded
 * ceiling and its recovery, oversize receives, and corrupt shared memory
 * answered with -EPROTO rather than a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring/queue.h"
#include "testutil.h"

struct harness {
    struct ipcx__queue q;
    struct ipcx__qhdr *h;
    void *mem;
};

static void setup(struct harness *t, uint32_t cap, uint32_t max_msg,
                  uint64_t max_bytes)
{
    struct ipcx__qgeom g;
    CHECK_RC(ipcx__q_geometry(cap, max_msg, max_bytes, &g), 0);
    size_t table = (size_t)g.M * 8, pool = (size_t)g.S * g.seg_bytes;
    CHECK(posix_memalign(&t->mem, 64, 64 * 4 + table + pool) == 0);
    memset(t->mem, 0, 64 * 4 + table + pool);
    memset(&t->q, 0, sizeof t->q);
    t->h = t->mem;
    t->q.h = t->h;
    t->q.table = (_Atomic uint64_t *)((char *)t->mem + 64 * 4);
    t->q.pool = (unsigned char *)t->q.table + table;
    t->q.cap = (cap == 0 || cap == UINT32_MAX) ? 0 : cap;
    t->q.seg_bytes = g.seg_bytes;
    t->q.kshift = g.kshift;
    t->q.M = g.M;
    t->q.S = g.S;
    t->q.stride = g.stride;
    t->q.max_msg = max_msg;
    t->q.ceiling_is_error = cap == UINT32_MAX;
    ipcx__q_format(&t->q, cap != UINT32_MAX);
}

static int put(struct harness *t, uint32_t v, uint32_t flags,
               struct ipcx__qref *out)
{
    struct ipcx__qref ref;
    int rc = ipcx__q_claim(&t->q, 7, &ref);
    if (rc == 0) {
        memcpy(ipcx__q_payload(&ref), &v, sizeof v);
        ipcx__q_publish(&t->q, &ref, sizeof v, flags);
        if (out != NULL) {
            *out = ref;
        }
    }
    return rc;
}

static long get(struct harness *t, uint32_t *v)
{
    struct ipcx__qref ref;
    int rc = ipcx__q_take(&t->q, 9, 64, &ref);
    if (rc < 0) {
        return rc;
    }
    memcpy(v, ipcx__q_payload(&ref), sizeof *v);
    ipcx__q_finish(&t->q, &ref, 9, 1234);
    return 0;
}

/* Bounded capacity n: exactly n fit, FIFO holds over many laps. */
static void test_bounded_laps(uint32_t cap)
{
    struct harness t;
    setup(&t, cap, 64, 0);
    uint32_t next_put = 0, next_get = 0, v;
    for (int round = 0; round < 200; round++) {
        while (put(&t, next_put, 0, NULL) == 0) {
            next_put++;
        }
        CHECK(next_put - next_get == cap);
        CHECK_RC(put(&t, 0, 0, NULL), -EAGAIN);
        uint32_t drain = round % 2 ? cap : (cap + 1) / 2;
        for (uint32_t i = 0; i < drain; i++) {
            CHECK_RC(get(&t, &v), 0);
            CHECK(v == next_get++);
        }
    }
    while (get(&t, &v) == 0) {
        CHECK(v == next_get++);
    }
    CHECK(next_get == next_put);
    CHECK_RC(get(&t, &v), -EAGAIN);
    free(t.mem);
}

/* Withdrawn messages leave holes; a generation made only of holes must not
 * stop consumers from reaching the messages behind it. */
static void test_holes(void)
{
    struct harness t;
    setup(&t, 0, 64, 0); /* rendezvous geometry */
    uint32_t k = 1u << t.q.kshift, v;
    for (int round = 0; round < 50; round++) {
        for (uint32_t i = 0; i < k + 3; i++) {
            struct ipcx__qref ref;
            CHECK_RC(put(&t, i, IPCX__Q_FLAG_ACK, &ref), 0);
            CHECK_RC(ipcx__q_cancel(&t.q, &ref), 0);
        }
        struct ipcx__qref ref;
        CHECK_RC(put(&t, 4242, IPCX__Q_FLAG_ACK, &ref), 0);
        CHECK_RC(get(&t, &v), 0);
        CHECK(v == 4242);
        int32_t rcv = 0;
        CHECK_RC(ipcx__q_acked(&t.q, &ref, &rcv), 0);
        CHECK(rcv == 1234);
        CHECK_RC(ipcx__q_cancel(&t.q, &ref), -EALREADY);
        CHECK_RC(get(&t, &v), -EAGAIN);
    }
    free(t.mem);
}

/* Bounded: a withdrawn message gives its place back at once, even behind
 * a message nobody has received yet. */
static void test_withdrawn_capacity(void)
{
    struct harness t;
    setup(&t, 4, 64, 0);
    uint32_t v;
    for (int round = 0; round < 100; round++) {
        CHECK_RC(put(&t, 100, 0, NULL), 0); /* stays queued a while */
        for (int i = 0; i < 3; i++) {
            struct ipcx__qref ref;
            CHECK_RC(put(&t, 0, IPCX__Q_FLAG_ACK, &ref), 0);
            CHECK_RC(ipcx__q_cancel(&t.q, &ref), 0);
        }
        CHECK(ipcx__q_depth(&t.q) == 1);
        for (uint32_t i = 1; i <= 3; i++) {
            CHECK_RC(put(&t, 100 + i, 0, NULL), 0);
        }
        CHECK_RC(put(&t, 999, 0, NULL), -EAGAIN); /* 4 real: full */
        for (uint32_t i = 0; i <= 3; i++) {
            CHECK_RC(get(&t, &v), 0);
            CHECK(v == 100 + i);
        }
        CHECK_RC(get(&t, &v), -EAGAIN);
        CHECK(ipcx__q_depth(&t.q) == 0);
    }
    free(t.mem);
}

/* Unbounded: the ceiling answers -ENOSPC, and draining a segment's worth of
 * messages makes room again; order survives. */
static void test_ceiling(void)
{
    struct harness t;
    setup(&t, UINT32_MAX, 4096, 1 << 20);
    uint32_t n = 0, got = 0, v;
    int rc;
    while ((rc = put(&t, n, 0, NULL)) == 0) {
        n++;
    }
    CHECK_RC(rc, -ENOSPC);
    CHECK(n >= (1u << 20) / 2 / 4160); /* at least half the ceiling used */
    uint32_t k = 1u << t.q.kshift;
    for (uint32_t i = 0; i < k; i++) {
        CHECK_RC(get(&t, &v), 0);
        CHECK(v == got++);
    }
    CHECK_RC(put(&t, n++, 0, NULL), 0);
    while (get(&t, &v) == 0) {
        CHECK(v == got++);
    }
    CHECK(got == n);
    free(t.mem);
}

/* A message longer than the receiver's buffer stays queued. */
static void test_msgsize(void)
{
    struct harness t;
    setup(&t, 4, 64, 0);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_claim(&t.q, 7, &ref), 0);
    ipcx__q_publish(&t.q, &ref, 40, 0);
    CHECK_RC(ipcx__q_take(&t.q, 9, 39, &ref), -EMSGSIZE);
    CHECK_RC(ipcx__q_take(&t.q, 9, 40, &ref), 0);
    CHECK(ipcx__q_finish(&t.q, &ref, 9, 1) == 0);
    CHECK(ipcx__q_depth(&t.q) == 0);
    free(t.mem);
}

/* Garbage where the queue keeps indices and lengths: errors, no crash. */
static void test_corrupt(void)
{
    struct harness t;
    setup(&t, 8, 64, 0);
    uint32_t v;
    CHECK_RC(put(&t, 1, 0, NULL), 0);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_take(&t.q, 9, 64, &ref), 0);
    ipcx__q_finish(&t.q, &ref, 9, 1);
    CHECK_RC(put(&t, 2, 0, NULL), 0);
    /* A length above the maximum: the message is dropped with -EPROTO. */
    atomic_store(&ref.slot[0].len, 0); /* keep the finished one sane */
    struct ipcx__qslot *s =
        (struct ipcx__qslot *)((unsigned char *)ref.slot + t.q.stride);
    atomic_store(&s->len, 1u << 30);
    CHECK_RC(get(&t, &v), -EPROTO);
    CHECK_RC(get(&t, &v), -EAGAIN);
    /* A table entry naming a segment beyond the pool. */
    atomic_store(&t.q.table[0], ((uint64_t)0 << 32) | (t.q.S + 5));
    CHECK(ipcx__q_take(&t.q, 9, 64, &ref) == -EPROTO ||
          ipcx__q_take(&t.q, 9, 64, &ref) == -EAGAIN);
    /* A free list pointing outside the pool. */
    atomic_store(&t.h->free_top, (uint64_t)t.q.S + 9);
    for (int i = 0; i < 20; i++) {
        int rc = put(&t, 3, 0, NULL);
        CHECK(rc == 0 || rc == -EPROTO || rc == -EAGAIN);
    }
    free(t.mem);
}

int main(void)
{
    uint32_t caps[] = {1, 2, 3, 7, 16, 64, 100};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        test_bounded_laps(caps[i]);
    }
    test_holes();
    test_withdrawn_capacity();
    test_ceiling();
    test_msgsize();
    test_corrupt();
    return 0;
}
