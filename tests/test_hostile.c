/*
 * test_hostile.c - a hostile peer (issue 4, item 4; SPEC "Crash, fault and
 * hostile-peer rules").  A process with write access to a mailbox maps its
 * file and writes garbage over it: header counters, queue table, free list,
 * segment headers, slot control words, lengths, payloads, registry entries.
 * The victims may lose messages on that mailbox and see errors; they must
 * never crash, never block past their timeout (plus MARGIN), never get an
 * undocumented error, and a second mailbox they use at the same time must
 * keep working perfectly (exactly once, in order).
 *
 * Part 1 corrupts chosen fields to chosen bad values and checks what each
 * call answers.  Part 2 lets a scribbler write random garbage in a loop
 * while victims send and receive (IPCX_HOSTILE_MS per mailbox kind,
 * default 2500).  Not covered: a peer that ftruncates the file smaller
 * (the survivors' accesses to the cut pages raise SIGBUS; a known open
 * limit, see docs/reliability.md).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailbox/layout.h"
#include "mailbox/mailbox.h"
#include "testutil.h"

#define MAX_MSG 128u
#define MARGIN  IPCX_SEC(3) /* beyond a call's timeout: a hang */
#define Q_CTL(tag, st, h)                                                      \
    (((uint64_t)(uint32_t)(tag) << 32) | ((uint64_t)(st) << 28) |              \
     ((uint64_t)(h)&0x0fffffffu))
#define Q_ENTRY(tag, idx1)                                                     \
    (((uint64_t)(uint32_t)(tag) << 32) | (uint32_t)(idx1))

/* ---- the hostile view of a mailbox file ------------------------------- */

struct map {
    unsigned char *base;
    size_t len;
    struct mbx_header h; /* copy of the immutable part, taken at map time */
};

static void map_file(struct map *m, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.mbox", getenv("IPCX_DIR"), name);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(fstat(fd, &st) == 0);
    CHECK(pread(fd, &m->h, sizeof m->h, 0) == (ssize_t)sizeof m->h);
    m->len = (size_t)st.st_size;
    m->base = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(m->base != MAP_FAILED);
    close(fd);
}

static void unmap_file(struct map *m)
{
    munmap(m->base, m->len);
}

static struct mbx_header *hdr(struct map *m)
{
    return (struct mbx_header *)m->base;
}

static _Atomic uint64_t *entry(struct map *m, uint32_t i)
{
    CHECK(i < m->h.M);
    return (_Atomic uint64_t *)(m->base + m->h.table_off + 8ull * i);
}

static struct ipcx__qseg *segment(struct map *m, uint32_t idx)
{
    uint64_t off = m->h.pool_off + (uint64_t)idx * m->h.seg_bytes;
    CHECK(off + m->h.seg_bytes <= m->len);
    return (struct ipcx__qseg *)(m->base + off);
}

/* The slot of position POS, whose generation must be installed. */
static struct ipcx__qslot *slot_of(struct map *m, uint64_t pos)
{
    uint64_t n = pos >> m->h.kshift;
    uint64_t e = atomic_load(entry(m, (uint32_t)(n % m->h.M)));
    CHECK((uint32_t)(e >> 32) == (uint32_t)n && (uint32_t)e != 0);
    unsigned char *s = (unsigned char *)segment(m, (uint32_t)e - 1);
    uint64_t k = pos & ((1ull << m->h.kshift) - 1);
    return (struct ipcx__qslot *)(s + IPCX__Q_SEG_HDR + k * m->h.stride);
}

/* ---- the results victims may see -------------------------------------- */

/* Documented answers of a send / receive on a mailbox that may be corrupt
 * (include/ipcx/mailbox.h); receive also returns a length >= 0. */
static int send_ok(int rc)
{
    return rc == 0 || rc == -EAGAIN || rc == -ETIMEDOUT || rc == -EPROTO ||
           rc == -ENOSPC || rc == -EIDRM || rc == -EMSGSIZE;
}

static int recv_ok(long rc)
{
    return (rc >= 0 && rc <= (long)MAX_MSG) || rc == -EAGAIN ||
           rc == -ETIMEDOUT || rc == -EPROTO || rc == -EBUSY || rc == -EIDRM ||
           rc == -EMSGSIZE;
}

static const char *rc_name(long rc)
{
    static char buf[32];
    switch (rc) {
    case 0:
        return "0";
    case -EAGAIN:
        return "-EAGAIN";
    case -ETIMEDOUT:
        return "-ETIMEDOUT";
    case -EPROTO:
        return "-EPROTO";
    case -ENOSPC:
        return "-ENOSPC";
    case -EIDRM:
        return "-EIDRM";
    case -EMSGSIZE:
        return "-EMSGSIZE";
    case -EBUSY:
        return "-EBUSY";
    case -EINVAL:
        return "-EINVAL";
    default:
        snprintf(buf, sizeof buf, rc > 0 ? "%ld bytes" : "%ld", rc);
        return buf;
    }
}

/*
 * Run FN(ARG) in a victim process: it must exit 0 within BOUND.  A signal
 * (a crash) or a hang (killed after BOUND) fails the subtest.
 */
static void victim(const char *what, int (*fn)(void *), void *arg,
                   int64_t bound)
{
    pid_t pid = tu_spawn(fn, arg);
    int64_t t0 = tu_now_ns();
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        CHECK(r >= 0);
        if (r == pid) {
            break;
        }
        if (tu_now_ns() - t0 > bound) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fprintf(stderr,
                    "%s: HANG: the victim was still blocked after "
                    "%lld ms\n",
                    what, (long long)(bound / 1000000));
            exit(1);
        }
        tu_pause_us(500);
    }
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "%s: CRASH: the victim died of signal %d (%s)\n", what,
                WTERMSIG(st), strsignal(WTERMSIG(st)));
        exit(1);
    }
    if (WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s: the victim failed (exit %d)\n", what,
                WEXITSTATUS(st));
        exit(1);
    }
}

/* A victim's call: what it answered, checked against the documented set
 * and, unless EXPECT is 1, against EXPECT; and it must return in time. */
static void expect_call(const char *what, long rc, int64_t t0, int64_t timeout,
                        long expect, int is_send)
{
    int64_t took = tu_now_ns() - t0;
    fprintf(stderr, "  %s: %s (%s) in %lld ms\n", what, rc_name(rc),
            rc < 0 ? ipcx_last_error() : "", (long long)(took / 1000000));
    CHECK(is_send ? send_ok((int)rc) : recv_ok(rc));
    if (expect != 1) {
        CHECK(rc == expect);
    }
    CHECK(took <= timeout + MARGIN);
}

static long do_send(ipcx_mailbox *mb, const char *what, int64_t timeout,
                    long expect)
{
    int64_t t0 = tu_now_ns();
    int rc = ipcx_mailbox_send(mb, "garbage?", 9, timeout);
    expect_call(what, rc, t0, timeout, expect, 1);
    return rc;
}

static long do_recv(ipcx_mailbox *mb, const char *what, int64_t timeout,
                    long expect)
{
    char buf[MAX_MSG];
    int64_t t0 = tu_now_ns();
    long rc = ipcx_mailbox_recv(mb, buf, sizeof buf, timeout);
    expect_call(what, rc, t0, timeout, expect, 0);
    return rc;
}

static void create(const char *name, uint32_t capacity, uint32_t policy)
{
    ipcx_mailbox_attr a = tu_attr(capacity, MAX_MSG);
    a.policy = policy;
    if (capacity == IPCX_UNBOUNDED) {
        a.max_bytes = 64u << 10;
    }
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
}

/* After the corruption the mailbox may stay broken; it can be destroyed,
 * and a fresh one with the same name works (nothing else was harmed). */
static void recreate_works(const char *name)
{
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
    create(name, 4, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open(name);
    CHECK_RC(ipcx_mailbox_send(mb, "ok", 3, 0), 0);
    char buf[MAX_MSG];
    CHECK(ipcx_mailbox_recv(mb, buf, sizeof buf, 0) == 3);
    ipcx_mailbox_close(mb);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

/* ---- part 1: chosen fields, chosen bad values ------------------------- */

static const char *cur_name; /* the mailbox of the running subtest */

/* A table entry names a segment beyond the pool. */
static int v_seg_index(void *arg)
{
    ipcx_mailbox *mb = tu_open(cur_name);
    do_recv(mb, "recv, segment index S + 7", IPCX_MSEC(100), -EPROTO);
    do_send(mb, "send, segment index S + 7", IPCX_MSEC(100), -EPROTO);
    struct map *m = arg;
    atomic_store(entry(m, 0), Q_ENTRY(0, UINT32_MAX));
    do_recv(mb, "recv, segment index 2^32 - 2", IPCX_MSEC(100), -EPROTO);
    do_send(mb, "send, segment index 2^32 - 2", 0, -EPROTO);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_seg_index_out_of_range(void)
{
    struct map m;
    cur_name = "h-seg";
    create(cur_name, 4, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open(cur_name);
    CHECK_RC(ipcx_mailbox_send(mb, "one", 4, 0), 0);
    map_file(&m, cur_name);
    atomic_store(entry(&m, 0), Q_ENTRY(0, m.h.S + 8));
    victim("segment index out of range", v_seg_index, &m, IPCX_SEC(10));
    unmap_file(&m);
    ipcx_mailbox_close(mb);
    recreate_works(cur_name);
}

/* A message's length is corrupt: it is dropped, the next one is fine. */
static int v_huge_len(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    do_recv(mb, "recv, len 2^32 - 1", IPCX_MSEC(100), -EPROTO);
    do_recv(mb, "recv, len max + 1", IPCX_MSEC(100), -EPROTO);
    do_recv(mb, "recv, the intact third message", IPCX_MSEC(100), 6);
    do_recv(mb, "recv, nothing left", 0, -EAGAIN);
    do_send(mb, "send afterwards", 0, 0);
    do_recv(mb, "recv afterwards", 0, 9);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_huge_len(void)
{
    struct map m;
    cur_name = "h-len";
    create(cur_name, 4, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open(cur_name);
    CHECK_RC(ipcx_mailbox_send(mb, "first", 6, 0), 0);
    CHECK_RC(ipcx_mailbox_send(mb, "secnd", 6, 0), 0);
    CHECK_RC(ipcx_mailbox_send(mb, "third", 6, 0), 0);
    map_file(&m, cur_name);
    atomic_store(&slot_of(&m, 0)->len, UINT32_MAX);
    atomic_store(&slot_of(&m, 1)->len, MAX_MSG + 1);
    victim("huge len", v_huge_len, NULL, IPCX_SEC(10));
    unmap_file(&m);
    ipcx_mailbox_close(mb);
    CHECK_RC(ipcx_mailbox_destroy(cur_name), 0);
}

/* The free list points outside the pool. */
static int v_free_list(void *arg)
{
    struct map *m = arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    /* Generation 0 is installed (position 0 was sent and received); the
     * send that opens generation 1 pops the corrupt free list. */
    uint64_t sends = ((uint64_t)m->h.M + 2) << m->h.kshift;
    long rc = 0;
    for (uint64_t i = 0; i < sends && rc == 0; i++) {
        rc = do_send(mb, "send", 0, 1);
    }
    /* A bounded mailbox has no free list (its segments are static): the
     * corrupt link is never read and the queue simply fills up. */
    CHECK(rc == -EPROTO || (m->h.capacity != IPCX_UNBOUNDED && rc == -EAGAIN));
    do_recv(mb, "recv", 0, 1);
    ipcx_mailbox_close(mb);
    return 0;
}

static void free_list_case(uint32_t capacity, uint64_t top)
{
    struct map m;
    cur_name = "h-free";
    create(cur_name, capacity, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open(cur_name);
    CHECK_RC(ipcx_mailbox_send(mb, "x", 2, 0), 0); /* installs gen 0 */
    char buf[MAX_MSG];
    CHECK(ipcx_mailbox_recv(mb, buf, sizeof buf, 0) == 2);
    map_file(&m, cur_name);
    struct mbx_header *h = hdr(&m);
    atomic_store(&h->q.free_top, top);
    atomic_store(&h->q.pool_used, m.h.S); /* no fresh segment either */
    victim("free list outside the pool", v_free_list, &m, IPCX_SEC(30));
    unmap_file(&m);
    ipcx_mailbox_close(mb);
    recreate_works(cur_name);
}

static void test_free_list_outside(void)
{
    fprintf(stderr, " bounded, free_top = S + 100:\n");
    free_list_case(4, Q_ENTRY(77, 4 + 100));
    fprintf(stderr, " bounded, free_top = 2^32 - 1:\n");
    free_list_case(4, Q_ENTRY(77, UINT32_MAX));
    fprintf(stderr, " unbounded, free_top = S + 1:\n");
    free_list_case(IPCX_UNBOUNDED, Q_ENTRY(5, 64));
}

/* A free segment's link points outside the pool. */
static void test_free_link_outside(void)
{
    struct map m;
    cur_name = "h-link";
    create(cur_name, 4, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open(cur_name);
    map_file(&m, cur_name);
    /* Every free segment links to garbage: installing generation 0 pops
     * segment 0 and leaves its garbage link on top. */
    for (uint32_t i = 0; i < m.h.S; i++) {
        atomic_store(&segment(&m, i)->next_free, 0xfffffff0u);
    }
    CHECK_RC(ipcx_mailbox_send(mb, "x", 2, 0), 0);
    char buf[MAX_MSG];
    CHECK(ipcx_mailbox_recv(mb, buf, sizeof buf, 0) == 2);
    victim("free link outside the pool", v_free_list, &m, IPCX_SEC(30));
    unmap_file(&m);
    ipcx_mailbox_close(mb);
    recreate_works(cur_name);
}

/* Slot control words: a tag that never matches, an unknown state. */
static int v_slot_tag(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    do_recv(mb, "recv, slot 0 tag garbage", IPCX_MSEC(100), 1);
    do_recv(mb, "recv, slot 1 state 13", IPCX_MSEC(100), 1);
    do_recv(mb, "recv again", IPCX_MSEC(100), 1);
    do_send(mb, "send, slot 3 tag garbage", IPCX_MSEC(100), 1);
    do_send(mb, "send again", IPCX_MSEC(100), 1);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_slot_tag_garbage(void)
{
    struct map m;
    cur_name = "h-tag";
    create(cur_name, 8, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open(cur_name);
    CHECK_RC(ipcx_mailbox_send(mb, "zero", 5, 0), 0);
    CHECK_RC(ipcx_mailbox_send(mb, "one", 4, 0), 0);
    CHECK_RC(ipcx_mailbox_send(mb, "two", 4, 0), 0);
    map_file(&m, cur_name);
    atomic_store(&slot_of(&m, 0)->ctl, Q_CTL(0xdeadbeef, IPCX__Q_FULL, 0));
    atomic_store(&slot_of(&m, 1)->ctl, Q_CTL(0, 13, 0x123));
    atomic_store(&slot_of(&m, 3)->ctl, Q_CTL(0xabcdef, IPCX__Q_EMPTY, 0));
    victim("slot tag garbage", v_slot_tag, NULL, IPCX_SEC(10));
    unmap_file(&m);
    ipcx_mailbox_close(mb);
    recreate_works(cur_name);
}

/* Queue counters: head beyond tail, tail near 2^64, withdrawn huge. */
static int v_counters(void *arg)
{
    struct map *m = arg;
    struct mbx_header *h = hdr(m);
    ipcx_mailbox *mb = tu_open(cur_name);
    atomic_store(&h->q.head, atomic_load(&h->q.tail) + 12345);
    do_recv(mb, "recv, head = tail + 12345", IPCX_MSEC(100), 1);
    do_send(mb, "send, head = tail + 12345", IPCX_MSEC(100), 1);
    atomic_store(&h->q.tail, UINT64_MAX - 2);
    do_send(mb, "send, tail = 2^64 - 3", IPCX_MSEC(100), 1);
    do_recv(mb, "recv, tail = 2^64 - 3", IPCX_MSEC(100), 1);
    atomic_store(&h->q.head, 0);
    atomic_store(&h->q.tail, 0);
    atomic_store(&h->q.withdrawn, INT64_MAX);
    for (int i = 0; i < 40; i++) {
        if (do_send(mb, "send, withdrawn = 2^63 - 1", 0, 1) != 0) {
            break;
        }
    }
    atomic_store(&h->q.withdrawn, INT64_MIN);
    do_send(mb, "send, withdrawn = -2^63", 0, 1);
    do_recv(mb, "recv, withdrawn = -2^63", 0, 1);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_counters(void)
{
    struct map m;
    cur_name = "h-ctr";
    create(cur_name, 4, IPCX_POLICY_ANY);
    map_file(&m, cur_name);
    victim("queue counters", v_counters, &m, IPCX_SEC(30));
    unmap_file(&m);
    recreate_works(cur_name);
}

/* The segment's finished count: a generation freed too early or never. */
static int v_done_count(void *arg)
{
    struct map *m = arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    for (int i = 0; i < 40; i++) {
        for (uint32_t s = 0; s < m->h.S; s++) {
            atomic_store(&segment(m, s)->done, i % 2 ? 0 : UINT32_MAX - 1);
        }
        if (do_send(mb, "send, done counts garbage", IPCX_MSEC(20), 1) == 0) {
            do_recv(mb, "recv", IPCX_MSEC(20), 1);
        }
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_done_count(void)
{
    struct map m;
    cur_name = "h-done";
    create(cur_name, 4, IPCX_POLICY_ANY);
    map_file(&m, cur_name);
    victim("segment done counts", v_done_count, &m, IPCX_SEC(60));
    unmap_file(&m);
    recreate_works(cur_name);
}

/* The immutable header is never read again after open: scribbling over
 * it changes nothing for open handles; a new open refuses the file. */
static int v_header(void *arg)
{
    struct map *m = arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    struct mbx_header *h = hdr(m);
    h->magic = 0x4141414141414141ull;
    h->capacity = 7;
    h->max_msg = UINT32_MAX;
    h->kshift = 63;
    h->M = h->S = UINT32_MAX;
    h->stride = 1;
    h->seg_bytes = UINT64_MAX;
    h->table_off = h->proc_off = UINT64_MAX / 2;
    h->max_bytes = UINT64_MAX;
    h->map_size = 1;
    for (int i = 0; i < 20; i++) {
        do_send(mb, "send, header garbage", IPCX_MSEC(50), 1);
        do_recv(mb, "recv, header garbage", IPCX_MSEC(50), 1);
    }
    ipcx_mailbox *other = NULL;
    int rc = ipcx_mailbox_open(cur_name, 0, &other);
    fprintf(stderr, "  open, header garbage: %s\n", rc_name(rc));
    CHECK(rc == -EPROTO);
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name(cur_name, &st), -EPROTO);
    ipcx_mailbox_close(mb);
    return 0;
}

static void header_case(uint32_t capacity)
{
    struct map m;
    cur_name = "h-hdr";
    create(cur_name, capacity, IPCX_POLICY_ANY);
    map_file(&m, cur_name);
    victim("immutable header garbage", v_header, &m, IPCX_SEC(30));
    unmap_file(&m);
    recreate_works(cur_name);
}

static void test_header_garbage(void)
{
    fprintf(stderr, " bounded:\n");
    header_case(4);
    fprintf(stderr, " unbounded:\n");
    header_case(IPCX_UNBOUNDED);
    fprintf(stderr, " rendezvous:\n");
    header_case(0);
}

/*
 * pool_off in the shared header is read again when an unbounded mailbox
 * grows (grow() in src/mailbox/mailbox.c).  A peer that lowers it makes
 * the file grow at the wrong place while the segment is taken as backed:
 * the next access to it is past the end of the file.
 */
static int v_pool_off(void *arg)
{
    struct map *m = arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    hdr(m)->pool_off = 4096; /* after our open validated the header */
    for (int i = 0; i < 200; i++) {
        if (do_send(mb, "send, pool_off = 4096", 0, 1) != 0) {
            break;
        }
    }
    do_recv(mb, "recv, pool_off = 4096", 0, 1);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_pool_off(void)
{
    struct map m;
    cur_name = "h-pool";
    create(cur_name, IPCX_UNBOUNDED, IPCX_POLICY_ANY);
    map_file(&m, cur_name);
    victim("pool_off lowered (unbounded growth)", v_pool_off, &m, IPCX_SEC(30));
    unmap_file(&m);
    recreate_works(cur_name);
}

/* Rights and places: garbage holders, or holders that are alive. */
struct peer_map {
    struct map m;
    uint32_t live; /* holder id of a live peer (the hostile's handle) */
};

static int v_rights(void *arg)
{
    struct peer_map *pm = arg;
    struct mbx_header *h = hdr(&pm->m);
    ipcx_mailbox *mb = tu_open("h-excl");
    atomic_store(&h->rx_owner, 0xffffffffu);
    do_recv(mb, "exclusive recv, rx_owner garbage", 0, -EAGAIN);
    atomic_store(&h->rx_owner, 0x7ff);
    do_recv(mb, "exclusive recv, rx_owner index 2046", 0, -EAGAIN);
    ipcx_mailbox_close(mb);
    return 0;
}

static int v_rights_live(void *arg)
{
    ipcx_mailbox *mb = tu_open("h-excl");
    struct peer_map *pm = arg;
    atomic_store(&hdr(&pm->m)->rx_owner, pm->live);
    do_recv(mb, "exclusive recv, rx_owner a live peer", 0, -EBUSY);
    ipcx_mailbox_close(mb);
    return 0;
}

static int v_pair(void *arg)
{
    struct peer_map *pm = arg;
    struct mbx_header *h = hdr(&pm->m);
    ipcx_mailbox *mb = NULL;
    atomic_store(&h->pair[0], 0xffffffffu);
    atomic_store(&h->pair[1], 0x12345);
    int rc = ipcx_mailbox_open("h-pair", 0, &mb);
    fprintf(stderr, "  pair open, places garbage: %s\n", rc_name(rc));
    CHECK(rc == 0);
    ipcx_mailbox_close(mb);
    atomic_store(&h->pair[0], pm->live);
    atomic_store(&h->pair[1], pm->live);
    rc = ipcx_mailbox_open("h-pair", 0, &mb);
    fprintf(stderr, "  pair open, both places a live peer: %s\n", rc_name(rc));
    CHECK(rc == -EBUSY);
    return 0;
}

static void test_rights(void)
{
    struct peer_map a;
    create("h-excl", 4, IPCX_POLICY_EXCLUSIVE);
    create("h-pair", 4, IPCX_POLICY_PAIR);
    ipcx_mailbox *me = tu_open("h-excl"); /* the hostile is a live peer */
    map_file(&a.m, "h-excl");
    a.live = me->holder;
    victim("rx_owner garbage", v_rights, &a, IPCX_SEC(10));
    victim("rx_owner a live peer", v_rights_live, &a, IPCX_SEC(10));
    unmap_file(&a.m);
    ipcx_mailbox_close(me);
    me = tu_open("h-pair");
    map_file(&a.m, "h-pair");
    a.live = me->holder;
    victim("pair places garbage", v_pair, &a, IPCX_SEC(10));
    unmap_file(&a.m);
    ipcx_mailbox_close(me);
    CHECK_RC(ipcx_mailbox_destroy("h-excl"), 0);
    CHECK_RC(ipcx_mailbox_destroy("h-pair"), 0);
}

/* Registry: every entry says used, with garbage incarnation and pid. */
static int v_registry(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    do_send(mb, "send, registry garbage", 0, 0);
    do_recv(mb, "recv, registry garbage", 0, 9);
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat(mb, &st), 0);
    fprintf(stderr, "  stat, registry garbage: nopen %u\n", st.nopen);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_registry_garbage(void)
{
    struct map m;
    cur_name = "h-reg";
    create(cur_name, 4, IPCX_POLICY_ANY);
    map_file(&m, cur_name);
    for (uint32_t i = 0; i < MBX_NPROC; i++) {
        struct mbx_proc *e =
            (struct mbx_proc *)(m.base + m.h.proc_off + 64ull * i);
        memset(e, 0xa5, sizeof *e);
        atomic_store(&e->used, 1);
    }
    victim("registry garbage", v_registry, NULL, IPCX_SEC(10));
    unmap_file(&m);
    recreate_works(cur_name);
}

/* destroyed flag: senders and receivers answer -EIDRM. */
static int v_destroyed(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    do_send(mb, "send, destroyed = 0xffffffff", IPCX_MSEC(100), -EIDRM);
    do_recv(mb, "recv, destroyed = 0xffffffff", IPCX_MSEC(100), -EIDRM);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_destroyed_flag(void)
{
    struct map m;
    cur_name = "h-idrm";
    create(cur_name, 4, IPCX_POLICY_ANY);
    map_file(&m, cur_name);
    atomic_store(&hdr(&m)->destroyed, 0xffffffffu);
    victim("destroyed flag", v_destroyed, NULL, IPCX_SEC(10));
    unmap_file(&m);
    recreate_works(cur_name);
}

/* A rendezvous send whose message a live peer claims and never finishes
 * (a scribbled READING word, or a receiver suspended mid-copy) must still
 * end within its timeout.  mailbox.h: a message claimed by the deadline
 * counts as taken, so the send succeeds then. */
static int v_claimed(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    do_send(mb, "rendezvous send, message claimed by a live peer",
            IPCX_MSEC(200), 0);
    ipcx_mailbox_close(mb);
    return 0;
}

static int claim_when_queued(void *arg)
{
    struct map *m = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(cur_name);
    ipcx_mailbox_info st;
    TU_WAIT_STAT(mb, st, st.depth == 1);
    uint64_t w = atomic_load(&slot_of(m, 0)->ctl);
    uint64_t full = Q_CTL(0, IPCX__Q_FULL, 0);
    CHECK(w == full);
    /* The peer stays alive (the OFD lock says so) and never finishes. */
    CHECK(atomic_compare_exchange_strong(
        &slot_of(m, 0)->ctl, &full, Q_CTL(0, IPCX__Q_READING, mb->holder)));
    for (;;) {
        pause();
    }
    return 0;
}

static void test_rendezvous_claimed_by_live_peer(void)
{
    struct map m;
    cur_name = "h-rv";
    create(cur_name, 0, IPCX_POLICY_ANY);
    map_file(&m, cur_name);
    pid_t peer = tu_spawn(claim_when_queued, &m);
    victim("rendezvous claimed by a live peer", v_claimed, NULL,
           IPCX_MSEC(200) + MARGIN);
    kill(peer, SIGKILL);
    CHECK(tu_wait(peer) == 128 + SIGKILL);
    unmap_file(&m);
    CHECK_RC(ipcx_mailbox_destroy(cur_name), 0);
}

/*
 * A race, not a chosen value: a peer flips the length of every slot
 * between valid and huge while a victim receives.  A receiver that checks
 * the length and then reads it again from shared memory would copy gigabytes
 * into a small buffer.
 */
struct flip {
    struct map m;
    _Atomic int stop;
};

static int flipper(void *arg)
{
    struct flip *f = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint32_t vals[2] = {9, UINT32_MAX - 7};
    for (uint64_t i = 0; !atomic_load(&f->stop); i++) {
        for (uint32_t s = 0; s < f->m.h.S; s++) {
            unsigned char *seg = (unsigned char *)segment(&f->m, s);
            for (uint32_t k = 0; k < (1u << f->m.h.kshift); k++) {
                struct ipcx__qslot *sl =
                    (struct ipcx__qslot *)(seg + IPCX__Q_SEG_HDR +
                                           (uint64_t)k * f->m.h.stride);
                atomic_store_explicit(&sl->len, vals[(i + k) & 1],
                                      memory_order_relaxed);
            }
        }
    }
    return 0;
}

static int v_len_race(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open(cur_name);
    char buf[16]; /* small on purpose: a re-read length overflows it */
    uint64_t got = 0, proto = 0;
    int64_t end = tu_now_ns() + IPCX_MSEC(1500);
    while (tu_now_ns() < end) {
        int rc = ipcx_mailbox_send(mb, "garbage?", 9, 0);
        CHECK(send_ok(rc));
        long n = ipcx_mailbox_recv(mb, buf, sizeof buf, 0);
        CHECK(n == -EAGAIN || n == -EPROTO || n == -EMSGSIZE ||
              (n >= 0 && n <= (long)sizeof buf));
        got += n >= 0;
        proto += n == -EPROTO;
    }
    fprintf(stderr, "  length race: %llu received, %llu -EPROTO\n",
            (unsigned long long)got, (unsigned long long)proto);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_len_race(void)
{
    struct flip *f = tu_shared_map(sizeof *f);
    cur_name = "h-race";
    create(cur_name, 8, IPCX_POLICY_ANY);
    map_file(&f->m, cur_name);
    pid_t fl = tu_spawn(flipper, f);
    victim("length flipped while received", v_len_race, NULL, IPCX_SEC(20));
    atomic_store(&f->stop, 1);
    CHECK(tu_wait(fl) == 0);
    unmap_file(&f->m);
    recreate_works(cur_name);
}

/* ---- part 2: random garbage while victims work ------------------------ */

#define NVICTIM  4 /* 2 senders, 2 receivers */
#define CLEAN_Q  16
#define NOTE_MAX 134 /* errno values below this */

struct watch { /* what a victim is doing, for the parent's watchdog */
    _Atomic int64_t since;   /* call start, 0 between calls */
    _Atomic int64_t timeout; /* its timeout */
    _Atomic int op;          /* 1 send, 2 recv; +10 on the clean mailbox */
};

struct fuzz {
    _Atomic int stop_scribbler, stop_victims, senders_done, ready;
    _Atomic uint64_t send_rc[NOTE_MAX], recv_rc[NOTE_MAX]; /* by -rc */
    _Atomic uint64_t recv_ok_count, send_ok_count, bad_rc;
    _Atomic uint64_t clean_sent[NVICTIM], clean_received, clean_bad;
    _Atomic uint64_t clean_got[NVICTIM][4096 / 64];
    _Atomic uint64_t writes, restores;
    _Atomic int64_t max_over; /* longest call beyond its timeout */
    struct watch w[NVICTIM];
};

static struct fuzz *fz;
static const char *fz_victim, *fz_clean;
static uint64_t fz_seed;

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void note(_Atomic uint64_t *hist, long rc)
{
    long i = rc >= 0 ? 0 : -rc;
    atomic_fetch_add(&hist[i < NOTE_MAX ? i : NOTE_MAX - 1], 1);
}

static void watch_begin(int id, int op, int64_t timeout)
{
    atomic_store(&fz->w[id].timeout, timeout);
    atomic_store(&fz->w[id].op, op);
    atomic_store(&fz->w[id].since, tu_now_ns());
}

static void watch_end(int id)
{
    int64_t took = tu_now_ns() - atomic_load(&fz->w[id].since);
    int64_t over = took - atomic_load(&fz->w[id].timeout);
    int64_t cur = atomic_load(&fz->max_over);
    while (over > cur &&
           !atomic_compare_exchange_weak(&fz->max_over, &cur, over)) {
    }
    atomic_store(&fz->w[id].since, 0);
}

static int64_t pick_timeout(uint64_t *rs)
{
    static const int64_t t[] = {0, IPCX_MSEC(1), IPCX_MSEC(10), IPCX_MSEC(50)};
    return t[rnd(rs) % 4];
}

/* One operation on the mailbox under attack; any documented answer. */
static void victim_op(int id, ipcx_mailbox *mb, int sending, uint64_t *rs)
{
    uint8_t buf[MAX_MSG];
    int64_t to = pick_timeout(rs);
    if (sending) {
        size_t len = rnd(rs) % (MAX_MSG + 1);
        memset(buf, (int)len, len);
        watch_begin(id, 1, to);
        int rc = ipcx_mailbox_send(mb, buf, len, to);
        watch_end(id);
        note(fz->send_rc, rc);
        if (!send_ok(rc)) {
            fprintf(stderr, "hostile %s: send answered %d (%s)\n", fz_victim,
                    rc, ipcx_strerror(rc));
            atomic_fetch_add(&fz->bad_rc, 1);
        }
        atomic_fetch_add(&fz->send_ok_count, rc == 0);
        return;
    }
    watch_begin(id, 2, to);
    long n = ipcx_mailbox_recv(mb, buf, sizeof buf, to);
    watch_end(id);
    note(fz->recv_rc, n);
    if (!recv_ok(n)) {
        fprintf(stderr, "hostile %s: recv answered %ld (%s)\n", fz_victim, n,
                ipcx_strerror((int)n));
        atomic_fetch_add(&fz->bad_rc, 1);
    }
    atomic_fetch_add(&fz->recv_ok_count, n >= 0);
}

/* Clean mailbox messages: sender id, seq, check word. */
static void clean_send(int id, ipcx_mailbox *mb, uint32_t seq)
{
    uint32_t m[3] = {(uint32_t)id, seq, ((uint32_t)id * 7919u) ^ seq};
    watch_begin(id, 11, IPCX_SEC(5));
    int rc = ipcx_mailbox_send(mb, m, sizeof m, IPCX_SEC(5));
    watch_end(id);
    if (rc != 0) {
        fprintf(stderr, "hostile: clean mailbox send: %s\n", ipcx_strerror(rc));
        atomic_fetch_add(&fz->clean_bad, 1);
        return;
    }
    atomic_store(&fz->clean_sent[id], seq + 1);
}

/* Receive from the clean mailbox if something is there; 1 if got one. */
static int clean_recv(int id, ipcx_mailbox *mb, int64_t *last)
{
    uint32_t m[4];
    watch_begin(id, 12, IPCX_MSEC(5));
    long n = ipcx_mailbox_recv(mb, m, sizeof m, IPCX_MSEC(5));
    watch_end(id);
    if (n == -ETIMEDOUT) {
        return 0;
    }
    if (n != 12 || m[0] >= NVICTIM || m[1] >= 4096 ||
        m[2] != ((m[0] * 7919u) ^ m[1])) {
        fprintf(stderr, "hostile: clean mailbox recv: %ld (%s)\n", n,
                n < 0 ? ipcx_strerror((int)n) : "bad content");
        atomic_fetch_add(&fz->clean_bad, 1);
        return 0;
    }
    uint64_t bit = 1ull << (m[1] % 64);
    if (atomic_fetch_or(&fz->clean_got[m[0]][m[1] / 64], bit) & bit) {
        fprintf(stderr, "hostile: clean mailbox: duplicate %u/%u\n", m[0],
                m[1]);
        atomic_fetch_add(&fz->clean_bad, 1);
    }
    if ((int64_t)m[1] <= last[m[0]]) {
        fprintf(stderr, "hostile: clean mailbox: %u/%u after %lld\n", m[0],
                m[1], (long long)last[m[0]]);
        atomic_fetch_add(&fz->clean_bad, 1);
    }
    last[m[0]] = m[1];
    atomic_fetch_add(&fz->clean_received, 1);
    return 1;
}

static int victim_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    int sender = id < NVICTIM / 2;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint64_t rs = fz_seed ^ (uint64_t)(id + 1) * 0x9e3779b97f4a7c15ull;
    ipcx_mailbox *mb = tu_open(fz_victim);
    ipcx_mailbox *clean = tu_open(fz_clean);
    atomic_fetch_add(&fz->ready, 1); /* opened before the header is garbage */
    int64_t last[NVICTIM];
    for (int i = 0; i < NVICTIM; i++) {
        last[i] = -1;
    }
    uint32_t seq = 0;
    while (!atomic_load(&fz->stop_victims)) {
        victim_op(id, mb, sender, &rs);
        if (sender && seq < 4096) {
            clean_send(id, clean, seq++);
        } else if (!sender) {
            clean_recv(id, clean, last);
        }
    }
    if (!sender) {
        /* Everything the senders sent on the clean mailbox arrives. */
        while (!atomic_load(&fz->senders_done) ||
               atomic_load(&fz->clean_received) <
                   atomic_load(&fz->clean_sent[0]) +
                       atomic_load(&fz->clean_sent[1])) {
            if (atomic_load(&fz->clean_bad) != 0) {
                break;
            }
            clean_recv(id, clean, last);
        }
    }
    ipcx_mailbox_close(clean);
    ipcx_mailbox_close(mb);
    return 0;
}

/* An interesting value for a word that now holds CUR. */
static uint64_t garbage(uint64_t *rs, uint64_t cur)
{
    uint64_t x = rnd(rs);
    switch (x % 8) {
    case 0:
        return 0;
    case 1:
        return UINT64_MAX;
    case 2:
        return (x >> 8) % 64;
    case 3:
        return cur + (x >> 8) % 8 - 4;
    case 4: /* a plausible slot word: nearby tag, any state and holder */
        return Q_CTL((cur >> 32) + (x >> 8) % 5 - 2, (x >> 16) % 16,
                     (x >> 24) % 4096);
    case 5: /* a plausible table entry or free-list top */
        return Q_ENTRY((cur >> 32) + (x >> 8) % 5 - 2, (x >> 16) % 12);
    case 6:
        return cur ^ (1ull << ((x >> 8) % 64));
    default:
        return rnd(rs);
    }
}

/* Write garbage at a random place of the mailbox file. */
static void scribble_once(struct map *m, uint64_t *rs)
{
    uint64_t x = rnd(rs);
    uint64_t off;
    size_t width = 8;
    uint64_t seg_off = 0;
    uint32_t seg = (uint32_t)((x >> 8) % m->h.S);
    uint32_t k = (uint32_t)((x >> 20) % (1u << m->h.kshift));
    seg_off = m->h.pool_off + (uint64_t)seg * m->h.seg_bytes;
    uint64_t slot = seg_off + IPCX__Q_SEG_HDR + (uint64_t)k * m->h.stride;
    switch (x % 16) {
    case 0: /* mutable header: counters, events, rights, places */
    case 1:
    case 2:
        off = offsetof(struct mbx_header, q) +
              ((x >> 8) %
               (sizeof(struct mbx_header) - offsetof(struct mbx_header, q))) /
                  4 * 4;
        width = 4;
        break;
    case 3: /* immutable header: never to be trusted after open */
        off = ((x >> 8) % offsetof(struct mbx_header, q)) / 4 * 4;
        width = 4;
        break;
    case 4: /* registry */
        off = m->h.proc_off + ((x >> 8) % (MBX_NPROC * 64)) / 4 * 4;
        width = 4;
        break;
    case 5: /* queue table */
    case 6:
        off = m->h.table_off + ((x >> 8) % m->h.M) * 8;
        break;
    case 7: /* segment header: done, next_free */
        off = seg_off + ((x >> 40) % 2) * 4;
        width = 4;
        break;
    case 8: /* slot control word */
    case 9:
    case 10:
        off = slot;
        break;
    case 11: /* slot length */
    case 12:
        off = slot + offsetof(struct ipcx__qslot, len);
        width = 4;
        break;
    case 13: /* flags, pid, uid, receiver, sender holder */
        off = slot + offsetof(struct ipcx__qslot, flags) + ((x >> 40) % 5) * 4;
        width = 4;
        break;
    default: /* payload */
        off = slot + IPCX__Q_SLOT_HDR + (x >> 40) % (m->h.stride - 32);
        width = 1;
        break;
    }
    off &= ~(uint64_t)(width - 1);
    if (off + width > m->len) {
        return; /* not backed by the file (yet): would be our SIGBUS */
    }
    unsigned char *p = m->base + off;
    if (width == 8) {
        _Atomic uint64_t *w = (_Atomic uint64_t *)p;
        atomic_store_explicit(w, garbage(rs, atomic_load(w)),
                              memory_order_relaxed);
    } else if (width == 4) {
        _Atomic uint32_t *w = (_Atomic uint32_t *)p;
        atomic_store_explicit(w, (uint32_t)garbage(rs, atomic_load(w)),
                              memory_order_relaxed);
    } else {
        *(volatile unsigned char *)p = (unsigned char)x;
    }
    atomic_fetch_add_explicit(&fz->writes, 1, memory_order_relaxed);
}

/*
 * Writes garbage in bursts.  Every 256 bursts it also puts back the queue
 * as it was at the start (header, table and pool; not the registry, whose
 * entries are the victims' identities): the victims then work on a sane
 * queue for a while before the next garbage lands, in mid-operation.
 */
static int scribbler(void *arg)
{
    (void)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint64_t rs = fz_seed ^ 0x5c7;
    struct map m;
    map_file(&m, fz_victim);
    size_t pristine_len = m.len;
    unsigned char *pristine = malloc(pristine_len);
    CHECK(pristine != NULL);
    memcpy(pristine, m.base, pristine_len);
    for (uint64_t i = 1; !atomic_load(&fz->stop_scribbler); i++) {
        if (i % 4096 == 0) { /* an unbounded file grows: see more of it */
            struct mbx_header first = m.h; /* we scribble over the header */
            unmap_file(&m);
            map_file(&m, fz_victim);
            m.h = first;
        }
        if (i % 256 == 0) {
            memcpy(m.base, pristine, m.h.proc_off);
            memcpy(m.base + m.h.table_off, pristine + m.h.table_off,
                   pristine_len - m.h.table_off);
            atomic_fetch_add(&fz->restores, 1);
        } else if (rnd(&rs) % 16 == 0) {
            /* Take "destroyed" back now and then, or every call would
             * answer -EIDRM from the first time we set it. */
            atomic_store(&hdr(&m)->destroyed, 0);
        }
        int burst = 1 + (int)(rnd(&rs) % 8);
        for (int b = 0; b < burst; b++) {
            scribble_once(&m, &rs);
        }
        tu_pause_us((long)(rnd(&rs) % 200));
    }
    free(pristine);
    unmap_file(&m);
    return 0;
}

static const char *op_name(int op)
{
    switch (op) {
    case 1:
        return "send (attacked mailbox)";
    case 2:
        return "recv (attacked mailbox)";
    case 11:
        return "send (clean mailbox)";
    default:
        return "recv (clean mailbox)";
    }
}

static void print_hist(const char *what, _Atomic uint64_t *hist)
{
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < NOTE_MAX; i++) {
        uint64_t c = atomic_load(&hist[i]);
        if (c != 0) {
            fprintf(stderr, " %s x%llu", i == 0 ? "ok" : rc_name(-i),
                    (unsigned long long)c);
        }
    }
    fprintf(stderr, "\n");
}

static int64_t fuzz_ms(void)
{
    const char *env = getenv("IPCX_HOSTILE_MS");
    long ms = env != NULL ? atol(env) : 2500;
    return ms > 0 ? ms : 2500;
}

static void fuzz_run(const char *victim_name, uint32_t capacity,
                     uint32_t policy)
{
    char clean[64];
    snprintf(clean, sizeof clean, "clean-%s", victim_name);
    fz = tu_shared_map(sizeof *fz);
    fz_victim = victim_name;
    fz_clean = clean;
    create(fz_victim, capacity, policy);
    create(fz_clean, CLEAN_Q, IPCX_POLICY_ANY);
    pid_t pids[NVICTIM];
    for (int i = 0; i < NVICTIM; i++) {
        pids[i] = tu_spawn(victim_main, (void *)(intptr_t)i);
    }
    for (int i = 0; i < 10000 && atomic_load(&fz->ready) < NVICTIM; i++) {
        tu_pause_ms(1);
    }
    CHECK(atomic_load(&fz->ready) == NVICTIM);
    pid_t scr = tu_spawn(scribbler, NULL);
    int failed = 0;
    int64_t t0 = tu_now_ns(), end = t0 + fuzz_ms() * 1000000;
    int done[NVICTIM] = {0};
    int left = NVICTIM;
    while (left > 0 && !failed) {
        int64_t now = tu_now_ns();
        if (now >= end && !atomic_load(&fz->stop_victims)) {
            atomic_store(&fz->stop_scribbler, 1);
            atomic_store(&fz->stop_victims, 1);
        }
        /* The watchdog: a call past its timeout + MARGIN is a hang. */
        for (int i = 0; i < NVICTIM; i++) {
            int64_t since = atomic_load(&fz->w[i].since);
            int64_t to = atomic_load(&fz->w[i].timeout);
            if (!done[i] && since != 0 && now - since > to + MARGIN) {
                fprintf(stderr,
                        "hostile %s: HANG: victim %d blocked in %s for %lld "
                        "ms (timeout %lld ms)\n",
                        fz_victim, i, op_name(atomic_load(&fz->w[i].op)),
                        (long long)((now - since) / 1000000),
                        (long long)(to / 1000000));
                failed = 1;
            }
        }
        if (now - t0 > fuzz_ms() * 1000000 + IPCX_SEC(30)) {
            fprintf(stderr, "hostile %s: victims did not finish\n", fz_victim);
            failed = 1;
        }
        for (int i = 0; i < NVICTIM; i++) {
            int st;
            if (done[i] || waitpid(pids[i], &st, WNOHANG) != pids[i]) {
                continue;
            }
            done[i] = 1;
            left--;
            if (WIFSIGNALED(st)) {
                fprintf(stderr,
                        "hostile %s: CRASH: victim %d died of signal %d "
                        "(%s)\n",
                        fz_victim, i, WTERMSIG(st), strsignal(WTERMSIG(st)));
                failed = 1;
            } else if (WEXITSTATUS(st) != 0) {
                fprintf(stderr, "hostile %s: victim %d exited %d\n", fz_victim,
                        i, WEXITSTATUS(st));
                failed = 1;
            }
        }
        if (done[0] && done[1]) {
            atomic_store(&fz->senders_done, 1);
        }
        tu_pause_us(1000);
    }
    atomic_store(&fz->stop_scribbler, 1);
    for (int i = 0; i < NVICTIM; i++) {
        if (!done[i]) {
            kill(pids[i], SIGKILL);
            tu_wait(pids[i]);
        }
    }
    CHECK(tu_wait(scr) == 0);
    /* The clean mailbox: every message exactly once, in order. */
    uint64_t sent = 0, missing = 0;
    for (int i = 0; i < NVICTIM / 2; i++) {
        uint64_t n = atomic_load(&fz->clean_sent[i]);
        sent += n;
        for (uint64_t s = 0; s < n; s++) {
            missing +=
                !((atomic_load(&fz->clean_got[i][s / 64]) >> (s % 64)) & 1);
        }
    }
    fprintf(stderr,
            "hostile %s: %llu garbage writes, %llu restores; attacked "
            "mailbox: %llu sent, "
            "%llu received; clean mailbox: %llu sent, %llu received, %llu "
            "missing, %llu bad; longest call past its timeout %lld ms\n",
            fz_victim, (unsigned long long)atomic_load(&fz->writes),
            (unsigned long long)atomic_load(&fz->restores),
            (unsigned long long)atomic_load(&fz->send_ok_count),
            (unsigned long long)atomic_load(&fz->recv_ok_count),
            (unsigned long long)sent,
            (unsigned long long)atomic_load(&fz->clean_received),
            (unsigned long long)missing,
            (unsigned long long)atomic_load(&fz->clean_bad),
            (long long)(atomic_load(&fz->max_over) / 1000000));
    print_hist("send answers", fz->send_rc);
    print_hist("recv answers", fz->recv_rc);
    CHECK(!failed);
    CHECK(atomic_load(&fz->bad_rc) == 0);
    CHECK(atomic_load(&fz->clean_bad) == 0);
    CHECK(missing == 0 && atomic_load(&fz->clean_received) == sent);
    CHECK(sent > 0);
    CHECK_RC(ipcx_mailbox_destroy(fz_victim), 0);
    CHECK_RC(ipcx_mailbox_destroy(fz_clean), 0);
    munmap(fz, sizeof *fz);
}

static void test_random_bounded(void)
{
    fuzz_run("rand-bounded", 8, IPCX_POLICY_ANY);
}

static void test_random_unbounded(void)
{
    fuzz_run("rand-unbounded", IPCX_UNBOUNDED, IPCX_POLICY_ANY);
}

static void test_random_rendezvous(void)
{
    fuzz_run("rand-rendezvous", 0, IPCX_POLICY_ANY);
}

static void test_random_exclusive(void)
{
    fuzz_run("rand-exclusive", 8, IPCX_POLICY_EXCLUSIVE);
}

int main(void)
{
    tu_private_ns();
    const char *env = getenv("IPCX_HOSTILE_SEED");
    fz_seed = env != NULL ? strtoull(env, NULL, 0)
                          : (uint64_t)tu_now_ns() ^ (uint64_t)getpid();
    fz_seed |= 1;
    fprintf(stderr, "hostile: seed %llu\n", (unsigned long long)fz_seed);
    TU_RUN(test_seg_index_out_of_range);
    TU_RUN(test_huge_len);
    TU_RUN(test_free_list_outside);
    TU_RUN(test_free_link_outside);
    TU_RUN(test_slot_tag_garbage);
    TU_RUN(test_counters);
    TU_RUN(test_done_count);
    TU_RUN(test_header_garbage);
    TU_RUN(test_pool_off);
    TU_RUN(test_rights);
    TU_RUN(test_registry_garbage);
    TU_RUN(test_destroyed_flag);
    TU_RUN(test_rendezvous_claimed_by_live_peer);
    TU_RUN(test_len_race);
    TU_RUN(test_random_bounded);
    TU_RUN(test_random_unbounded);
    TU_RUN(test_random_rendezvous);
    TU_RUN(test_random_exclusive);
    return tu_failures > 0;
}
