/*
 * queue.c - the lock-free MPMC queue; see queue.h and docs/design.md.
 *
 * Memory-ordering summary (each site says which store its acquire pairs
 * with):
 *  - the producer fills the payload and metadata, then stores FULL with
 *    release; a consumer's acquire load of FULL sees them;
 *  - the consumer copies the payload, then stores DONE/TAKEN with release;
 *    the acq_rel increment of the segment's `done` chains every finisher's
 *    accesses to the one that frees the segment, and the free list's
 *    acq_rel CAS hands them on to the next installer, so a segment is never
 *    reinitialised while someone still reads or writes it;
 *  - an installer initialises slots, then publishes the table entry with a
 *    release CAS; lookups load entries with acquire;
 *  - a segment is freed after all K slots finished AND head passed its last
 *    position (K + 1 counts on `done`), so consumers never meet a finished
 *    generation that head has not passed.
 * Every value read from shared memory that indexes memory (segment index,
 * length) is range-checked first: a corrupt queue answers -EPROTO.
 */
#include <errno.h>
#include <string.h>

#include "ring/queue.h"

#define TAG(w)    ((uint32_t)((w) >> 32))
#define STATE(w)  ((uint32_t)((w) >> 28) & 0xfu)
#define HOLDER(w) ((uint32_t)(w)&0x0fffffffu)
#define CTL(tag, st, h)                                                        \
    (((uint64_t)(uint32_t)(tag) << 32) | ((uint64_t)(st) << 28) |              \
     ((uint64_t)(h)&0x0fffffffu))

/* Table entry: generation tag in the high half; low half is segment index
 * + 1 while installed, 0 once that generation is finished (free). */
#define ENTRY(tag, idx1) (((uint64_t)(uint32_t)(tag) << 32) | (uint32_t)(idx1))

#define SEG_SLOTS_MAX    64u
#define SEG_BYTES_TARGET (1u << 20)

/* Retries after which a loop concludes that shared memory lies: far beyond
 * what contention between honest processes produces (every failed attempt
 * means another process made progress), small enough that garbage costs a
 * caller milliseconds, not seconds. */
#ifdef IPCX__RETRY_MAX
#define RETRY_MAX IPCX__RETRY_MAX /* the fuzz build gives up sooner */
#else
#define RETRY_MAX (1u << 17)
#endif

static uint32_t floor_log2(uint64_t x)
{
    return x <= 1 ? 0 : 63 - (uint32_t)__builtin_clzll(x);
}

int ipcx__q_geometry(uint32_t cap, uint32_t max_msg, uint64_t max_bytes,
                     struct ipcx__qgeom *g)
{
    uint64_t stride = ((uint64_t)max_msg + IPCX__Q_SLOT_HDR + 63) & ~63ull;
    uint64_t k = SEG_BYTES_TARGET / stride;
    k = k > SEG_SLOTS_MAX ? SEG_SLOTS_MAX : (k == 0 ? 1 : k);
    if (cap == 0) {
        k = k > 16 ? 16 : k; /* rendezvous: few messages wait at once */
    } else if (cap != UINT32_MAX && k > cap) {
        k = cap;
    } else if (cap == UINT32_MAX && k > max_bytes / (4 * stride)) {
        k = max_bytes / (4 * stride); /* at least four segments fit */
    }
    if (k == 0) {
        return -EINVAL;
    }
    g->kshift = floor_log2(k);
    k = 1ull << g->kshift;
    g->stride = (uint32_t)stride;
    g->seg_bytes = IPCX__Q_SEG_HDR + k * stride;
    uint64_t m;
    if (cap == UINT32_MAX) {
        m = max_bytes / g->seg_bytes;
    } else if (cap == 0) {
        m = 8;
    } else {
        /* A backlog of cap positions spans ceil(cap/K) + 1 generations;
         * one more lets a slow finisher lag without stopping producers. */
        m = (cap + k - 1) / k + 2;
    }
    if (m < 2 || m > (1u << 24)) {
        return -EINVAL;
    }
    g->M = g->S = (uint32_t)m;
    return 0;
}

/* May segment IDX (read from shared memory) be touched? */
static int seg_ok(struct ipcx__queue *q, uint64_t idx)
{
    if (idx >= q->S) {
        return 0;
    }
    uint32_t b = atomic_load_explicit(&q->backed, memory_order_relaxed);
    if (idx < b || q->refresh_backed == NULL) {
        return idx < b;
    }
    b = q->refresh_backed(q->ctx); /* the pool grew since we looked */
    atomic_store_explicit(&q->backed, b, memory_order_relaxed);
    return idx < b;
}

static void note_backed(struct ipcx__queue *q, uint32_t count)
{
    uint32_t b = atomic_load_explicit(&q->backed, memory_order_relaxed);
    while (b < count && !atomic_compare_exchange_weak_explicit(
                            &q->backed, &b, count, memory_order_relaxed,
                            memory_order_relaxed)) {
    }
}

static struct ipcx__qseg *seg_at(struct ipcx__queue *q, uint32_t idx)
{
    return (struct ipcx__qseg *)(q->pool + (uint64_t)idx * q->seg_bytes);
}

static struct ipcx__qslot *slot_at(struct ipcx__queue *q, struct ipcx__qseg *s,
                                   uint64_t pos)
{
    uint64_t i = pos & ((1ull << q->kshift) - 1);
    return (struct ipcx__qslot *)((unsigned char *)s + IPCX__Q_SEG_HDR +
                                  i * q->stride);
}

static void free_push(struct ipcx__queue *q, uint32_t idx)
{
    struct ipcx__qseg *s = seg_at(q, idx);
    uint64_t top = atomic_load_explicit(&q->h->free_top, memory_order_relaxed);
    do {
        atomic_store_explicit(&s->next_free, (uint32_t)top,
                              memory_order_relaxed);
        /* Release: the link (and everything done with the segment before
         * it was freed) is visible to the popper's acquire. The tag in the
         * high half changes on every push and pop, defeating ABA. */
    } while (!atomic_compare_exchange_weak_explicit(
        &q->h->free_top, &top, ENTRY(TAG(top) + 1, idx + 1),
        memory_order_acq_rel, memory_order_relaxed));
}

/* Pop a free segment: its index, -EAGAIN if the list is empty, -EPROTO. */
static int64_t free_pop(struct ipcx__queue *q)
{
    /* Acquire pairs with free_push's release CAS. */
    uint64_t top = atomic_load_explicit(&q->h->free_top, memory_order_acquire);
    for (;;) {
        uint32_t idx1 = (uint32_t)top;
        if (idx1 == 0) {
            return -EAGAIN;
        }
        if (!seg_ok(q, idx1 - 1)) {
            return -EPROTO;
        }
        /* May read a link another popper is changing: the tagged CAS below
         * then fails and we retry with a fresh top. */
        uint32_t next = atomic_load_explicit(&seg_at(q, idx1 - 1)->next_free,
                                             memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(
                &q->h->free_top, &top, ENTRY(TAG(top) + 1, next),
                memory_order_acq_rel, memory_order_acquire)) {
            return idx1 - 1;
        }
    }
}

/* A segment to install: from the free list, else a new one from the pool. */
static int64_t seg_alloc(struct ipcx__queue *q)
{
    int64_t idx = free_pop(q);
    if (idx != -EAGAIN) {
        return idx;
    }
    /* Grow first, claim second: a failed growth must not use up an index
     * (that would shrink the ceiling for good).  If another process claims
     * the index meanwhile, our growth was harmless (the file only grows)
     * and we try the next one. */
    uint32_t used =
        atomic_load_explicit(&q->h->pool_used, memory_order_relaxed);
    while (used < q->S) {
        int rc = q->grow != NULL ? q->grow(q->ctx, used) : 0;
        if (rc < 0) {
            return rc;
        }
        if (atomic_compare_exchange_weak_explicit(
                &q->h->pool_used, &used, used + 1, memory_order_relaxed,
                memory_order_relaxed)) {
            note_backed(q, used + 1);
            return (int64_t)used;
        }
    }
    return q->ceiling_is_error ? -ENOSPC : -EAGAIN;
}

void ipcx__q_format(struct ipcx__queue *q, int prealloc)
{
    for (uint32_t i = 0; i < q->M; i++) {
        /* Entry i first serves generation i, whose predecessor there is
         * generation i - M: mark that one finished. */
        atomic_store_explicit(&q->table[i], ENTRY(i - q->M, 0),
                              memory_order_relaxed);
    }
    q->static_segs = prealloc;
    if (!prealloc) {
        return;
    }
    /* Static segments: segment i holds generation i - M, finished. */
    atomic_store_explicit(&q->backed, q->S, memory_order_relaxed);
    atomic_store_explicit(&q->h->pool_used, q->S, memory_order_relaxed);
    uint64_t k = 1ull << q->kshift;
    for (uint32_t i = 0; i < q->M; i++) {
        struct ipcx__qseg *s = seg_at(q, i);
        for (uint64_t j = 0; j < k; j++) {
            atomic_store_explicit(&slot_at(q, s, j)->ctl,
                                  CTL(i - q->M, IPCX__Q_DONE, 0),
                                  memory_order_relaxed);
        }
        atomic_store_explicit(&s->done, ENTRY(i - q->M, k + 1),
                              memory_order_relaxed);
    }
}

/* Publish segment IDX for generation N in E's place: release, so the
 * initialised slots are visible to whoever acquires the entry (lookup()). */
static int publish_entry(struct ipcx__queue *q, uint64_t n, uint64_t e,
                         uint32_t idx)
{
    return atomic_compare_exchange_strong_explicit(
        &q->table[n % q->M], &e, ENTRY(n, idx + 1), memory_order_release,
        memory_order_relaxed);
}

/* Prepare popped segment IDX (ours alone) for generation N and try to
 * install it in E's place. */
static void install_popped(struct ipcx__queue *q, uint64_t n, uint64_t e,
                           uint32_t idx)
{
    struct ipcx__qseg *s = seg_at(q, idx);
    uint64_t k = 1ull << q->kshift;
    for (uint64_t i = 0; i < k; i++) {
        struct ipcx__qslot *sl = slot_at(q, s, i);
        atomic_store_explicit(&sl->ctl, CTL(n, IPCX__Q_EMPTY, 0),
                              memory_order_relaxed);
    }
    atomic_store_explicit(&s->done, ENTRY(n, 0), memory_order_relaxed);
    if (!publish_entry(q, n, e, idx)) {
        free_push(q, idx); /* somebody else installed it first */
    }
}

/*
 * Install static segment N % M for generation N.  Several processes may do
 * this at once, so every step is a CAS from generation N - M's finished
 * state: a late installer finds nothing left to change and cannot touch a
 * slot that generation N is already using.
 */
static void install_static(struct ipcx__queue *q, uint64_t n, uint64_t e)
{
    uint32_t idx = (uint32_t)(n % q->M);
    struct ipcx__qseg *s = seg_at(q, idx);
    uint64_t k = 1ull << q->kshift;
    for (uint64_t i = 0; i < k; i++) {
        struct ipcx__qslot *sl = slot_at(q, s, i);
        uint64_t w = atomic_load_explicit(&sl->ctl, memory_order_relaxed);
        if (TAG(w) == (uint32_t)(n - q->M)) {
            atomic_compare_exchange_strong_explicit(
                &sl->ctl, &w, CTL(n, IPCX__Q_EMPTY, 0), memory_order_relaxed,
                memory_order_relaxed);
        }
    }
    uint64_t d = atomic_load_explicit(&s->done, memory_order_relaxed);
    if (TAG(d) == (uint32_t)(n - q->M)) {
        atomic_compare_exchange_strong_explicit(&s->done, &d, ENTRY(n, 0),
                                                memory_order_relaxed,
                                                memory_order_relaxed);
    }
    publish_entry(q, n, e, idx);
}

/* The segment of generation N if installed: 0, or -EAGAIN if the entry
 * holds another generation (*e tells which), -EPROTO if corrupt. */
static int lookup(struct ipcx__queue *q, uint64_t n, uint64_t *e,
                  struct ipcx__qseg **seg)
{
    /* Acquire pairs with install()'s release CAS. */
    *e = atomic_load_explicit(&q->table[n % q->M], memory_order_acquire);
    uint32_t idx1 = (uint32_t)*e;
    if (TAG(*e) != (uint32_t)n || idx1 == 0) {
        return -EAGAIN;
    }
    if (!seg_ok(q, idx1 - 1)) {
        return -EPROTO;
    }
    *seg = seg_at(q, idx1 - 1);
    return 0;
}

/* Producer side: the segment for position P, installing it if needed.
 * -EAGAIN retry (tail moved), -EBUSY full, -ENOSPC, -EPROTO. */
static int produce_seg(struct ipcx__queue *q, uint64_t p,
                       struct ipcx__qseg **seg)
{
    uint64_t n = p >> q->kshift, e;
    int rc = lookup(q, n, &e, seg);
    if (rc != -EAGAIN) {
        return rc;
    }
    if (atomic_load_explicit(&q->h->tail, memory_order_acquire) != p) {
        return -EAGAIN; /* stale position */
    }
    if (e == ENTRY(n - q->M, 0)) {
        if (q->static_segs) {
            install_static(q, n, e);
            return -EAGAIN; /* installed (by us or another): look it up */
        }
        int64_t idx = seg_alloc(q);
        if (idx < 0) {
            return idx == -EAGAIN ? -EBUSY : (int)idx;
        }
        install_popped(q, n, e, (uint32_t)idx);
        return -EAGAIN;
    }
    if (TAG(e) == (uint32_t)(n - q->M)) {
        /* Generation n - M still holds the entry.  If consumers have not
         * passed it, the backlog fills the table: the ceiling.  Otherwise a
         * finisher lags: wait for it. */
        uint64_t head = atomic_load_explicit(&q->h->head, memory_order_acquire);
        if (head < ((n - q->M + 1) << q->kshift)) {
            return q->ceiling_is_error ? -ENOSPC : -EBUSY;
        }
        return -EINPROGRESS; /* a slot of n - M is unfinished */
    }
    return -EPROTO;
}

static void help_advance(_Atomic uint64_t *ctr, uint64_t p)
{
    /* Relaxed: the counter is a hint; slot control words carry the data
     * ordering.  A failed CAS means somebody else advanced it. */
    atomic_compare_exchange_strong_explicit(
        ctr, &p, p + 1, memory_order_relaxed, memory_order_relaxed);
}

/* Withdrawn positions ahead of head (never negative to a reader). */
static uint64_t holes(const struct ipcx__queue *q)
{
    int64_t w = atomic_load_explicit(&q->h->withdrawn, memory_order_relaxed);
    return w > 0 ? (uint64_t)w : 0;
}

/*
 * Is position P beyond what a bounded queue may hold?  Withdrawn positions
 * between head and P hold no message, so they do not count.  Head is read
 * first, with acquire: a passer decrements `withdrawn` before its release
 * CAS of head (pass_head()), so seeing the new head implies seeing the
 * decrement, and the sum never admits more than cap messages.
 */
static int over_capacity(struct ipcx__queue *q, uint64_t p)
{
    if (q->cap == 0) {
        return 0;
    }
    uint64_t head = atomic_load_explicit(&q->h->head, memory_order_acquire);
    return (int64_t)(p - head) >= (int64_t)(q->cap + holes(q));
}

int ipcx__q_claim(struct ipcx__queue *q, uint32_t holder,
                  struct ipcx__qref *ref)
{
    for (unsigned tries = 0; tries < RETRY_MAX; tries++) {
        uint64_t p = atomic_load_explicit(&q->h->tail, memory_order_acquire);
        if (over_capacity(q, p)) {
            return -EAGAIN;
        }
        struct ipcx__qseg *seg;
        int rc = produce_seg(q, p, &seg);
        if (rc == -EBUSY) {
            return -EAGAIN;
        }
        if (rc == -EAGAIN) {
            continue;
        }
        if (rc < 0) {
            return rc;
        }
        struct ipcx__qslot *s = slot_at(q, seg, p);
        uint64_t n = p >> q->kshift;
        uint64_t w = atomic_load_explicit(&s->ctl, memory_order_acquire);
        if (w == CTL(n, IPCX__Q_EMPTY, 0)) {
            /* The claim itself: whoever moves EMPTY to WRITING owns p, and
             * the holder is recorded in the same atomic step. */
            if (atomic_compare_exchange_strong_explicit(
                    &s->ctl, &w, CTL(n, IPCX__Q_WRITING, holder),
                    memory_order_acquire, memory_order_relaxed)) {
                help_advance(&q->h->tail, p);
                *ref = (struct ipcx__qref){s, seg, p, 0, 0};
                return 0;
            }
        }
        if (TAG(w) == (uint32_t)n && STATE(w) != IPCX__Q_EMPTY) {
            help_advance(&q->h->tail, p); /* p is taken; move tail on */
        }
    }
    return -EPROTO; /* positions that never settle */
}

void ipcx__q_publish(struct ipcx__queue *q, struct ipcx__qref *ref,
                     uint32_t len, uint32_t flags)
{
    struct ipcx__qslot *s = ref->slot;
    uint64_t n = ref->pos >> q->kshift;
    atomic_store_explicit(&s->len, len, memory_order_relaxed);
    atomic_store_explicit(&s->flags, flags, memory_order_relaxed);
    /* Release: payload and metadata written above are visible to the
     * consumer whose acquire load sees FULL. */
    atomic_store_explicit(&s->ctl, CTL(n, IPCX__Q_FULL, 0),
                          memory_order_release);
}

/* Hand generation N's segment back: the table entry says it is finished
 * and, unless segments are static, the segment joins the free list.  Only
 * the caller whose CAS marks the entry does so, so a segment is never
 * pushed twice.  1 if this call freed it. */
static int free_gen(struct ipcx__queue *q, struct ipcx__qseg *seg, uint64_t n)
{
    uint32_t idx = (uint32_t)(((unsigned char *)seg - q->pool) / q->seg_bytes);
    uint64_t e = ENTRY(n, idx + 1);
    if (!atomic_compare_exchange_strong_explicit(
            &q->table[n % q->M], &e, ENTRY(n, 0), memory_order_release,
            memory_order_relaxed)) {
        return 0;
    }
    if (!q->static_segs) {
        free_push(q, idx);
    }
    return 1;
}

/*
 * One of the K + 1 events that free a generation's segment: each of its K
 * slots finishing, and head passing its last position.  The last event
 * hands the segment back.
 */
static int seg_release(struct ipcx__queue *q, struct ipcx__qseg *seg,
                       uint64_t n)
{
    /* acq_rel: each party releases its accesses to the segment; the last
     * acquires them all before handing the segment back. */
    uint64_t d = atomic_load_explicit(&seg->done, memory_order_acquire);
    do {
        if (TAG(d) != (uint32_t)n) {
            return 0; /* freed by force already: this event is moot */
        }
    } while (!atomic_compare_exchange_weak_explicit(
        &seg->done, &d, d + 1, memory_order_acq_rel, memory_order_acquire));
    if ((uint32_t)d + 1 != (1u << q->kshift) + 1) {
        return 0;
    }
    return free_gen(q, seg, n);
}

/* Finish a slot: EXPECT -> STATE (DONE or WITHDRAWN), by CAS since a
 * reclaimer may race.  1 if that freed the segment, 0 if not, -EALREADY if
 * the slot was not in EXPECT. */
static int finish_slot(struct ipcx__queue *q, struct ipcx__qref *ref,
                       uint64_t expect, uint32_t state)
{
    uint64_t n = ref->pos >> q->kshift;
    /* Release pairs with seg_release()'s acquire chain (file comment). */
    if (!atomic_compare_exchange_strong_explicit(
            &ref->slot->ctl, &expect, CTL(n, state, 0), memory_order_release,
            memory_order_relaxed)) {
        return -EALREADY;
    }
    return seg_release(q, ref->seg, n);
}

/*
 * Help head from P to P + 1; WITHDRAWN says slot P holds a withdrawn
 * message.  The one whose CAS succeeds accounts for the passage: a
 * withdrawn slot leaves the `withdrawn` count (decremented before the CAS,
 * restored if it fails: see over_capacity()), and passing a generation's
 * last position is one of the events that free its segment.
 */
static void pass_head(struct ipcx__queue *q, struct ipcx__qseg *seg, uint64_t p,
                      int withdrawn)
{
    if (withdrawn) {
        atomic_fetch_sub_explicit(&q->h->withdrawn, 1, memory_order_relaxed);
    }
    uint64_t expect = p;
    /* Release: the decrement above is visible to whoever acquires the new
     * head value. */
    if (atomic_compare_exchange_strong_explicit(&q->h->head, &expect, p + 1,
                                                memory_order_release,
                                                memory_order_relaxed)) {
        if (((p + 1) & ((1ull << q->kshift) - 1)) == 0) {
            seg_release(q, seg, p >> q->kshift);
        }
        return;
    }
    if (withdrawn) {
        atomic_fetch_add_explicit(&q->h->withdrawn, 1, memory_order_relaxed);
    }
}

/* Consumer: inspect position P.  0 claimed, -EAGAIN nothing yet, 1 retry. */
static int take_at(struct ipcx__queue *q, uint64_t p, uint32_t holder,
                   size_t cap, struct ipcx__qref *ref)
{
    uint64_t n = p >> q->kshift, e;
    struct ipcx__qseg *seg;
    int rc = lookup(q, n, &e, &seg);
    if (rc == -EAGAIN) {
        /* Not installed yet: nothing was produced at p.  (A generation is
         * freed only after head passed it, so any other tag means head
         * moved while we looked.) */
        int fresh = TAG(e) == (uint32_t)(n - q->M);
        uint64_t head = atomic_load_explicit(&q->h->head, memory_order_acquire);
        return fresh && head == p ? -EAGAIN : 1;
    }
    if (rc < 0) {
        return rc;
    }
    struct ipcx__qslot *s = slot_at(q, seg, p);
    /* Acquire pairs with ipcx__q_publish()'s release store of FULL. */
    uint64_t w = atomic_load_explicit(&s->ctl, memory_order_acquire);
    if (TAG(w) != (uint32_t)n) {
        return 1; /* recycled since the lookup: look again */
    }
    switch (STATE(w)) {
    case IPCX__Q_EMPTY:
        return -EAGAIN;
    case IPCX__Q_WRITING:
        *ref = (struct ipcx__qref){s, seg, p, HOLDER(w), 0};
        return -EINPROGRESS;
    case IPCX__Q_FULL:
        break;
    case IPCX__Q_READING:
    case IPCX__Q_TAKEN:
    case IPCX__Q_DONE:
        pass_head(q, seg, p, 0);
        return 1;
    case IPCX__Q_WITHDRAWN:
        pass_head(q, seg, p, 1);
        return 1;
    case IPCX__Q_LOST:
        pass_head(q, seg, p, 0);
        return 1;
    default:
        return -EPROTO;
    }
    uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
    if (len <= q->max_msg && len > cap) {
        return -EMSGSIZE;
    }
    if (!atomic_compare_exchange_strong_explicit(
            &s->ctl, &w, CTL(n, IPCX__Q_READING, holder), memory_order_acquire,
            memory_order_relaxed)) {
        return 1;
    }
    pass_head(q, seg, p, 0);
    *ref = (struct ipcx__qref){s, seg, p, 0, len};
    if (len > q->max_msg) {
        /* A length no sender could have written: drop the message. */
        finish_slot(q, ref, CTL(n, IPCX__Q_READING, holder), IPCX__Q_DONE);
        return -EPROTO;
    }
    return 0;
}

int ipcx__q_take(struct ipcx__queue *q, uint32_t holder, size_t cap,
                 struct ipcx__qref *ref)
{
    uint64_t last = UINT64_MAX;
    unsigned same = 0;
    for (;;) {
        uint64_t p = atomic_load_explicit(&q->h->head, memory_order_acquire);
        int rc = take_at(q, p, holder, cap, ref);
        if (rc != 1) {
            return rc;
        }
        /* Retrying at one position forever means the memory lies. */
        same = p == last ? same + 1 : 0;
        last = p;
        if (same > RETRY_MAX) {
            return -EPROTO;
        }
    }
}

int ipcx__q_finish(struct ipcx__queue *q, struct ipcx__qref *ref,
                   uint32_t holder, int32_t rcv_pid)
{
    uint64_t n = ref->pos >> q->kshift;
    uint64_t reading = CTL(n, IPCX__Q_READING, holder);
    uint32_t flags =
        atomic_load_explicit(&ref->slot->flags, memory_order_relaxed);
    if ((flags & IPCX__Q_FLAG_ACK) == 0) {
        return finish_slot(q, ref, reading, IPCX__Q_DONE) == 1;
    }
    atomic_store_explicit(&ref->slot->rcv_pid, rcv_pid, memory_order_relaxed);
    /* Release: rcv_pid is visible to the sender's acquire in q_acked(). */
    atomic_compare_exchange_strong_explicit(
        &ref->slot->ctl, &reading, CTL(n, IPCX__Q_TAKEN, holder),
        memory_order_release, memory_order_relaxed);
    return 1;
}

int ipcx__q_acked(struct ipcx__queue *q, struct ipcx__qref *ref,
                  int32_t *rcv_pid)
{
    uint64_t n = ref->pos >> q->kshift;
    /* Acquire pairs with the TAKEN release in ipcx__q_finish(). */
    uint64_t w = atomic_load_explicit(&ref->slot->ctl, memory_order_acquire);
    if (TAG(w) != (uint32_t)n) {
        return -EPROTO;
    }
    switch (STATE(w)) {
    case IPCX__Q_FULL:
        return -EAGAIN;
    case IPCX__Q_READING:
        ref->blocker = HOLDER(w);
        return -EINPROGRESS;
    case IPCX__Q_TAKEN:
        *rcv_pid =
            atomic_load_explicit(&ref->slot->rcv_pid, memory_order_relaxed);
        return finish_slot(q, ref, w, IPCX__Q_DONE) >= 0 ? 0 : -EPROTO;
    case IPCX__Q_LOST:
        /* Its receiver died copying it: finish the slot; send again. */
        finish_slot(q, ref, w, IPCX__Q_DONE);
        return -ECONNRESET;
    default:
        return -EPROTO;
    }
}

/* The state a dead holder's slot in state W is finished with: a message
 * whose sender waits for a receipt becomes LOST, telling that sender to
 * offer it again; anything else is simply DONE. */
static uint32_t reclaimed_state(struct ipcx__qslot *s, uint64_t w)
{
    uint32_t flags = atomic_load_explicit(&s->flags, memory_order_relaxed);
    return STATE(w) == IPCX__Q_READING && (flags & IPCX__Q_FLAG_ACK)
               ? IPCX__Q_LOST
               : IPCX__Q_DONE;
}

/*
 * Take back slot REF, found in state W with a dead holder.  A message whose
 * sender waits for a receipt becomes LOST, which is not finished: its sender
 * sees it, finishes it and offers the message again (or, if that sender is
 * gone too, ipcx__q_unstick_tail() finishes it).  Anything else is DONE.
 * 1 if this call changed the slot.
 */
static int reclaim_word(struct ipcx__queue *q, struct ipcx__qref *ref,
                        uint64_t w)
{
    uint64_t n = ref->pos >> q->kshift;
    if (reclaimed_state(ref->slot, w) == IPCX__Q_DONE) {
        return finish_slot(q, ref, w, IPCX__Q_DONE) >= 0;
    }
    /* Release: pairs with the sender's acquire load in ipcx__q_acked(). */
    return atomic_compare_exchange_strong_explicit(
        &ref->slot->ctl, &w, CTL(n, IPCX__Q_LOST, 0), memory_order_release,
        memory_order_relaxed);
}

int ipcx__q_reclaim(struct ipcx__queue *q, struct ipcx__qref *ref)
{
    uint64_t n = ref->pos >> q->kshift;
    uint64_t w = atomic_load_explicit(&ref->slot->ctl, memory_order_acquire);
    uint32_t st = STATE(w);
    if (TAG(w) != (uint32_t)n || HOLDER(w) != ref->blocker ||
        (st != IPCX__Q_WRITING && st != IPCX__Q_READING)) {
        return -EALREADY;
    }
    /* Not WITHDRAWN: a dead writer's slot is passed like any finished one,
     * and a dead reader's is already behind head. */
    return reclaim_word(q, ref, w) ? 0 : -EALREADY;
}

/* Is slot word W finished for generation N? */
static int finished(uint64_t w, uint64_t n)
{
    uint32_t st = STATE(w);
    return TAG(w) == (uint32_t)n &&
           (st == IPCX__Q_DONE || st == IPCX__Q_WITHDRAWN);
}

/* Would slot S (word W) wait forever on a dead or departed process? */
static int orphaned(struct ipcx__queue *q, struct ipcx__qslot *s, uint64_t w)
{
    switch (STATE(w)) {
    case IPCX__Q_WRITING:
    case IPCX__Q_READING:
        return !q->alive(q->ctx, HOLDER(w));
    case IPCX__Q_TAKEN:
    case IPCX__Q_LOST: {
        /* The sender must collect the receipt (or the news of the loss);
         * 0 means it stopped waiting. */
        uint32_t sender =
            atomic_load_explicit(&s->sender, memory_order_relaxed);
        return sender == 0 || !q->alive(q->ctx, sender);
    }
    default:
        return 0;
    }
}

int ipcx__q_unstick_tail(struct ipcx__queue *q)
{
    uint64_t p = atomic_load_explicit(&q->h->tail, memory_order_acquire);
    uint64_t n = (p >> q->kshift) - q->M, e;
    struct ipcx__qseg *seg;
    if (q->alive == NULL || (p >> q->kshift) < q->M ||
        lookup(q, n, &e, &seg) < 0) {
        return 0;
    }
    int done = 0, all_finished = 1;
    for (uint64_t i = 0; i < (1ull << q->kshift); i++) {
        uint64_t pos = (n << q->kshift) + i;
        struct ipcx__qslot *s = slot_at(q, seg, pos);
        uint64_t w = atomic_load_explicit(&s->ctl, memory_order_acquire);
        /* Twice: a dead reader's LOST slot whose sender is gone too. */
        for (int round = 0; round < 2; round++) {
            if (TAG(w) != (uint32_t)n || !orphaned(q, s, w)) {
                break;
            }
            struct ipcx__qref ref = {s, seg, pos, 0, 0};
            uint32_t st = STATE(w);
            /* The CAS from the exact word we judged: if the slot moved on
             * in the meantime, nothing is taken from anyone. */
            int changed = st == IPCX__Q_TAKEN || st == IPCX__Q_LOST
                              ? finish_slot(q, &ref, w, IPCX__Q_DONE) >= 0
                              : reclaim_word(q, &ref, w);
            done += changed;
            w = atomic_load_explicit(&s->ctl, memory_order_acquire);
        }
        all_finished &= finished(w, n);
    }
    /* Every slot finished and head past the generation, yet the entry is
     * still installed: a process died between finishing its part and
     * counting it.  Nobody can touch the segment any more, so free it. */
    uint64_t head = atomic_load_explicit(&q->h->head, memory_order_acquire);
    if (all_finished && head >= ((n + 1) << q->kshift)) {
        done += free_gen(q, seg, n);
    }
    return done;
}

/* Move head past withdrawn positions at the front, so that a lone
 * withdrawn message is gone from the depth at once. */
static void settle_head(struct ipcx__queue *q)
{
    for (int i = 0; i < 64; i++) {
        uint64_t p = atomic_load_explicit(&q->h->head, memory_order_acquire);
        uint64_t n = p >> q->kshift, e;
        struct ipcx__qseg *seg;
        if (lookup(q, n, &e, &seg) < 0) {
            return;
        }
        uint64_t w = atomic_load_explicit(&slot_at(q, seg, p)->ctl,
                                          memory_order_acquire);
        if (w != CTL(n, IPCX__Q_WITHDRAWN, 0)) {
            return;
        }
        pass_head(q, seg, p, 1);
    }
}

int ipcx__q_cancel(struct ipcx__queue *q, struct ipcx__qref *ref)
{
    uint64_t n = ref->pos >> q->kshift;
    int rc = finish_slot(q, ref, CTL(n, IPCX__Q_FULL, 0), IPCX__Q_WITHDRAWN);
    if (rc >= 0) {
        /* After the state change: a passer that saw WITHDRAWN may already
         * have decremented, so the count can dip below zero for a moment;
         * readers treat that as zero (the cautious side). */
        atomic_fetch_add_explicit(&q->h->withdrawn, 1, memory_order_relaxed);
        settle_head(q);
        return 0;
    }
    return rc;
}

uint64_t ipcx__q_depth(const struct ipcx__queue *q)
{
    uint64_t head = atomic_load_explicit(&q->h->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&q->h->tail, memory_order_acquire);
    uint64_t w = holes(q);
    return tail > head + w ? tail - head - w : 0;
}

int ipcx__q_lent(struct ipcx__queue *q, uintptr_t slot, uint64_t pos,
                 uint32_t state, uint32_t holder, struct ipcx__qref *ref)
{
    uintptr_t pool = (uintptr_t)q->pool;
    if (slot < pool || slot - pool >= (uint64_t)q->S * q->seg_bytes) {
        return -EINVAL;
    }
    uint64_t off = slot - pool;
    uint32_t idx = (uint32_t)(off / q->seg_bytes);
    struct ipcx__qseg *seg = seg_at(q, idx);
    struct ipcx__qslot *s = slot_at(q, seg, pos);
    if ((uintptr_t)s != slot) {
        return -EINVAL; /* not the place of position POS in that segment */
    }
    /* Relaxed: only the holder itself moves a slot out of WRITING or
     * READING while it lives, so this reads our own last store. */
    uint64_t w = atomic_load_explicit(&s->ctl, memory_order_relaxed);
    if (w != CTL(pos >> q->kshift, state, holder)) {
        return -EINVAL;
    }
    *ref = (struct ipcx__qref){s, seg, pos, 0, 0};
    return 0;
}
