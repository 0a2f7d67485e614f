/*
 * mech_busy.c - the busy-poll reference: the physical limit of this machine.
 *
 * Ping-pong: one shared cache line each way.  The message's own first word
 * (its sequence number) is the flag: the writer fills the other 56 bytes,
 * then stores the word with release; the reader spins on it with acquire.
 * So a round trip moves exactly two cache lines between the CPUs.
 *
 * Streams: a single-producer single-consumer ring of 64 slots in shared
 * memory, head and tail on their own cache lines, both sides spinning.
 *
 * Nobody ever sleeps: an idle receiver burns its whole CPU.  The spin
 * yields the CPU every 256 pauses (see spin_pause()), or two processes
 * pinned to one CPU would take a scheduler tick per message.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define LINE       64
#define RING_SLOTS 64
#define SENTINEL   (MSG_STOP - 1) /* no message has this seq */

struct line {
    _Alignas(128) _Atomic uint64_t seq; /* 128: keep the pair apart */
    char rest[LINE - sizeof(uint64_t)];
};

struct ring {
    _Alignas(128) _Atomic uint64_t head; /* consumer's */
    _Alignas(128) _Atomic uint64_t tail; /* producer's */
    _Alignas(128) char slots[];
};

struct busy_shared {
    size_t map_size;
    size_t stride;
    struct line *lines; /* [0] A to B, [1] B to A */
    struct ring *ring;
};

struct busy_end {
    struct busy_shared *sh;
    int role;
    uint64_t mine;    /* ring: my position (tail or head) */
    uint64_t theirs;  /* ring: last value of the other side's */
    uint64_t last_in; /* line: seq last received */
};

static const char *busy_unsupported(const struct bench_cfg *cfg)
{
    if (cfg->kind == BK_PINGPONG && cfg->size != LINE) {
        return "ping-pong reference is one cache line (64 B)";
    }
    return NULL;
}

static int busy_setup(const struct bench_cfg *cfg, void **shared)
{
    struct busy_shared *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        return -ENOMEM;
    }
    sh->stride = (cfg->size + LINE - 1) & ~(size_t)(LINE - 1);
    sh->map_size =
        2 * sizeof(struct line) + sizeof(struct ring) + sh->stride * RING_SLOTS;
    void *p = mmap(NULL, sh->map_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(sh);
        return -ENOMEM;
    }
    sh->lines = p;
    sh->ring = (struct ring *)(sh->lines + 2);
    atomic_init(&sh->lines[0].seq, SENTINEL);
    atomic_init(&sh->lines[1].seq, SENTINEL);
    *shared = sh;
    return 0;
}

static int busy_open(void *shared, const struct bench_cfg *cfg, int role,
                     int index, void **end)
{
    struct busy_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    e->sh = shared;
    e->role = role;
    e->last_in = SENTINEL;
    *end = e;
    return 0;
}

static int line_send(struct busy_end *e, const void *buf)
{
    struct line *l = &e->sh->lines[e->role == ROLE_A ? 0 : 1];
    uint64_t seq;
    memcpy(&seq, buf, sizeof seq);
    memcpy(l->rest, (const char *)buf + sizeof seq, sizeof l->rest);
    /* Release: publishes rest[] to the acquire load in line_recv(). */
    atomic_store_explicit(&l->seq, seq, memory_order_release);
    return 0;
}

static long line_recv(struct busy_end *e, void *buf)
{
    struct line *l = &e->sh->lines[e->role == ROLE_A ? 1 : 0];
    unsigned spins = 0;
    uint64_t seq;
    while ((seq = atomic_load_explicit(&l->seq, memory_order_acquire)) ==
           e->last_in) {
        spin_pause(&spins);
    }
    e->last_in = seq;
    memcpy(buf, &seq, sizeof seq);
    memcpy((char *)buf + sizeof seq, l->rest, sizeof l->rest);
    return LINE;
}

static int ring_send(struct busy_end *e, const void *buf, size_t len)
{
    struct ring *r = e->sh->ring;
    unsigned spins = 0;
    while (e->mine - e->theirs == RING_SLOTS) {
        /* Acquire: the consumer finished reading the slot it passed. */
        e->theirs = atomic_load_explicit(&r->head, memory_order_acquire);
        if (e->mine - e->theirs == RING_SLOTS) {
            spin_pause(&spins);
        }
    }
    memcpy(r->slots + (e->mine % RING_SLOTS) * e->sh->stride, buf, len);
    /* Release: publishes the slot to ring_recv()'s acquire of tail. */
    atomic_store_explicit(&r->tail, ++e->mine, memory_order_release);
    return 0;
}

static long ring_recv(struct busy_end *e, void *buf, size_t cap)
{
    struct ring *r = e->sh->ring;
    unsigned spins = 0;
    while (e->mine == e->theirs) {
        e->theirs = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (e->mine == e->theirs) {
            spin_pause(&spins);
        }
    }
    memcpy(buf, r->slots + (e->mine % RING_SLOTS) * e->sh->stride, cap);
    atomic_store_explicit(&r->head, ++e->mine, memory_order_release);
    return (long)cap;
}

/* Ping-pong uses the lines; everything else the ring (cap == size). */
static int busy_send(void *end, const void *buf, size_t len)
{
    struct busy_end *e = end;
    return e->sh->ring == NULL ? line_send(e, buf) : ring_send(e, buf, len);
}

static long busy_recv(void *end, void *buf, size_t cap)
{
    struct busy_end *e = end;
    return e->sh->ring == NULL ? line_recv(e, buf) : ring_recv(e, buf, cap);
}

static int busy_setup_kind(const struct bench_cfg *cfg, void **shared)
{
    int rc = busy_setup(cfg, shared);
    if (rc == 0 && cfg->kind == BK_PINGPONG) {
        ((struct busy_shared *)*shared)->ring = NULL; /* lines only */
    }
    return rc;
}

static void busy_close(void *end)
{
    free(end);
}

static void busy_teardown(void *shared)
{
    struct busy_shared *sh = shared;
    munmap(sh->lines, sh->map_size);
    free(sh);
}

const struct mech mech_busy = {
    .name = "busypoll",
    .label = "busy-poll reference",
    .kinds = BK_PINGPONG | BK_STREAM | BK_IDLE,
    .unsupported = busy_unsupported,
    .setup = busy_setup_kind,
    .open = busy_open,
    .send = busy_send,
    .recv = busy_recv,
    .close = busy_close,
    .teardown = busy_teardown,
};
