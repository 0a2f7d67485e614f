/*
 * test_poll.c - waiting on many (SPEC M8), with real processes.
 *
 *  1. ipcx_mailbox_fd() in an epoll loop: quiet when empty (after a receive
 *     answered -EAGAIN), readable once another process sends, readable until
 *     drained, quiet again after -EAGAIN; readable when another process
 *     destroys the mailbox (receives then drain and answer -EIDRM); readable
 *     at once if messages were queued before the first ipcx_mailbox_fd().
 *  2. An epoll loop serving 3 mailboxes that 3 sender processes fill at once
 *     (all received, per-sender order, no stall); two receiver processes
 *     sharing one POLICY_ANY mailbox through its descriptor in poll(2)
 *     loops (each message exactly once); several epoll receivers and a busy
 *     receiver: a destroy wakes every one of them.
 *  3. ipcx_poll() over 2 mailboxes, a channel and the notify mailbox:
 *     revents name exactly the ready items, -EAGAIN, -ETIMEDOUT on time,
 *     wakes on any item, IPCX_POLLHUP for a SIGKILLed peer (with its
 *     latency), also with timeout 0, a closed peer and a destroyed
 *     mailbox; no spinning once nothing is left; bad arguments.
 *  4. Lost wake-ups: a bursty sender and an ipcx_poll()+recv(0) receiver,
 *     named and anonymous mailboxes, with and without spinning.
 *
 * IPCX_TEST_ONLY=substring runs only the subtests whose name has it.
 */
#include "chanutil.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SCALE 5 /* sanitizers are slow: fewer messages */
#else
#define SCALE 1
#endif

#define BOUND TC_BOUND

static const char *top_ns;

/* A namespace of the subtest's own, under the run's. */
static void sub_ns(const char *name)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", top_ns, name);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(setenv("IPCX_DIR", dir, 1) == 0);
}

/* Entries of the current namespace directory ("." and ".." excepted). */
static int count_ns(void)
{
    DIR *d = opendir(getenv("IPCX_DIR"));
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/* epoll_wait() for up to MS milliseconds: how many are ready. */
static int ep_wait(int ep, int ms)
{
    struct epoll_event ev[8];
    int n;
    do {
        n = epoll_wait(ep, ev, 8, ms);
    } while (n < 0 && errno == EINTR);
    CHECK(n >= 0);
    return n;
}

static int ep_new(int fd, uint32_t data)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = data};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    return ep;
}

/* Create mailbox NAME (CAP, 64-byte messages, POLICY) and open it. */
static ipcx_mailbox *mk_open(const char *name, uint32_t cap, uint32_t policy)
{
    ipcx_mailbox_attr a = tu_attr(cap, 64);
    a.policy = policy;
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    return tu_open(name);
}

static void send_u32(ipcx_mailbox *mb, uint32_t v, int64_t timeout)
{
    CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, timeout), 0);
}

static long recv_u32(ipcx_mailbox *mb, uint32_t *v, int64_t timeout)
{
    return ipcx_mailbox_recv(mb, v, sizeof *v, timeout);
}

static void chan_str_poll(ipcx_channel *ch, const char *s)
{
    CHECK_RC(ipcx_channel_send(ch, s, strlen(s) + 1, BOUND), 0);
}

static long long us_since(long long t0)
{
    return (tu_now_ns() - t0) / 1000;
}

/* ==== 1. ipcx_mailbox_fd() in an epoll loop ============================ */

#define FD_ROUNDS 40

struct sh_fd {
    _Atomic int step; /* receiver -> sender: the round to send */
    _Atomic int sent; /* sender -> receiver: rounds sent in full */
};
static struct sh_fd *shf;

static unsigned fd_burst(int round)
{
    return 1 + (unsigned)round % 7;
}

static int fd_sender(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open("fd");
    uint32_t seq = 0;
    for (int r = 1; r <= FD_ROUNDS; r++) {
        tc_wait_step(&shf->step, r);
        if (r % 2 == 0) {
            tu_pause_ms(2); /* let the receiver be asleep first */
        }
        for (unsigned i = 0; i < fd_burst(r); i++) {
            send_u32(mb, seq++, BOUND);
        }
        atomic_store(&shf->sent, r);
    }
    ipcx_mailbox_close(mb);

    /* Destroy the empty mailbox the receiver sleeps on. */
    tc_wait_step(&shf->step, FD_ROUNDS + 1);
    tu_pause_ms(20);
    CHECK_RC(ipcx_mailbox_destroy("fd"), 0);

    /* Send two, then destroy. */
    tc_wait_step(&shf->step, FD_ROUNDS + 2);
    tu_pause_ms(20);
    ipcx_mailbox *m2 = tu_open("fd2");
    send_u32(m2, 100, BOUND);
    send_u32(m2, 101, BOUND);
    ipcx_mailbox_close(m2);
    CHECK_RC(ipcx_mailbox_destroy("fd2"), 0);
    return 0;
}

static void test_fd_epoll(void)
{
    sub_ns(__func__);
    shf = tu_shared_map(sizeof *shf);
    ipcx_mailbox *mb = mk_open("fd", 64, IPCX_POLICY_ANY);
    ipcx_mailbox *m2 = mk_open("fd2", 64, IPCX_POLICY_ANY);
    int fd = ipcx_mailbox_fd(mb);
    CHECK(fd >= 0);
    CHECK(ipcx_mailbox_fd(mb) == fd); /* the handle's one descriptor */
    int ep = ep_new(fd, 0);
    uint32_t v;
    CHECK_RC(recv_u32(mb, &v, 0), -EAGAIN);
    CHECK(ep_wait(ep, 0) == 0);
    CHECK(!tu_readable(fd));

    pid_t s = tc_spawn(fd_sender, NULL);
    uint32_t want = 0;
    long long worst = 0;
    for (int r = 1; r <= FD_ROUNDS; r++) {
        /* Empty and re-armed: quiet until the sender sends. */
        CHECK(ep_wait(ep, r % 4 == 0 ? 5 : 0) == 0);
        long long t0 = tu_now_ns();
        atomic_store(&shf->step, r);
        if (ep_wait(ep, 10000) != 1) {
            fprintf(stderr, "round %d: the fd stayed quiet for 10 s\n", r);
            exit(1);
        }
        long long dt = us_since(t0);
        worst = dt > worst ? dt : worst;
        tc_wait_step(&shf->sent, r);
        for (unsigned i = 0; i < fd_burst(r); i++) {
            /* Readable until drained, however many are left. */
            CHECK(ep_wait(ep, 0) == 1);
            CHECK(tu_readable(fd));
            CHECK_RC(recv_u32(mb, &v, 0), sizeof v);
            CHECK(v == want);
            want++;
        }
        CHECK_RC(recv_u32(mb, &v, 0), -EAGAIN);
        CHECK(ep_wait(ep, 0) == 0);
        CHECK(!tu_readable(fd));
    }
    printf("fd_epoll: %d rounds, slowest wake-up %lld us (incl. 2 ms "
           "pause)\n",
           FD_ROUNDS, worst);

    /* Another process destroys the empty mailbox: the fd turns readable
     * and the receive answers -EIDRM. */
    long long t0 = tu_now_ns();
    atomic_store(&shf->step, FD_ROUNDS + 1);
    if (ep_wait(ep, 10000) != 1) {
        fprintf(stderr, "destroy by another process left the fd quiet\n");
        exit(1);
    }
    printf("fd_epoll: destroy seen after %lld us (incl. 20 ms pause)\n",
           us_since(t0));
    CHECK_RC(recv_u32(mb, &v, 0), -EIDRM);
    ipcx_pollitem it = ipcx_poll_mailbox(mb);
    CHECK_RC(ipcx_poll(&it, 1, 0), 1);
    CHECK(it.revents == (IPCX_POLLIN | IPCX_POLLHUP));
    it.revents = 0;
    CHECK_RC(ipcx_poll(&it, 1, BOUND), 1);
    CHECK(it.revents == (IPCX_POLLIN | IPCX_POLLHUP));
    close(ep);
    ipcx_mailbox_close(mb);

    /* Two messages then a destroy: both received, then -EIDRM. */
    int fd2 = ipcx_mailbox_fd(m2);
    CHECK(fd2 >= 0);
    CHECK_RC(recv_u32(m2, &v, 0), -EAGAIN);
    int ep2 = ep_new(fd2, 0);
    CHECK(ep_wait(ep2, 0) == 0);
    atomic_store(&shf->step, FD_ROUNDS + 2);
    uint32_t got[4];
    int n = 0;
    for (;;) {
        if (ep_wait(ep2, 10000) != 1) {
            fprintf(stderr, "fd2 quiet for 10 s after %d messages\n", n);
            exit(1);
        }
        long rc;
        while ((rc = recv_u32(m2, &v, 0)) == (long)sizeof v) {
            CHECK(n < 4);
            got[n++] = v;
        }
        if (rc == -EIDRM) {
            break;
        }
        CHECK_RC(rc, -EAGAIN);
    }
    CHECK(n == 2 && got[0] == 100 && got[1] == 101);
    close(ep2);
    ipcx_mailbox_close(m2);
    CHECK(tu_wait_bounded(s, 20) == 0);
    /* Destroy took the bells with the names. */
    CHECK(count_ns() == 0);
}

static int queue_three(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open("pre");
    for (uint32_t i = 0; i < 3; i++) {
        send_u32(mb, i, 0);
    }
    ipcx_mailbox_close(mb);
    return 0;
}

/* Messages queued before anybody asked for a descriptor never rang: the
 * first ipcx_mailbox_fd() must still start readable. */
static void test_fd_queued_before(void)
{
    sub_ns(__func__);
    ipcx_mailbox_attr a = tu_attr(8, 64);
    CHECK_RC(ipcx_mailbox_create("pre", &a), 0);
    CHECK(tu_wait_bounded(tc_spawn(queue_three, NULL), 10) == 0);
    ipcx_mailbox *mb = tu_open("pre");
    int fd = ipcx_mailbox_fd(mb);
    CHECK(fd >= 0);
    int ep = ep_new(fd, 0);
    CHECK(ep_wait(ep, 1000) == 1);
    uint32_t v;
    for (uint32_t i = 0; i < 3; i++) {
        CHECK(tu_readable(fd));
        CHECK_RC(recv_u32(mb, &v, 0), sizeof v);
        CHECK(v == i);
    }
    CHECK_RC(recv_u32(mb, &v, 0), -EAGAIN);
    CHECK(ep_wait(ep, 0) == 0);
    /* Messages queued meanwhile by this very process ring it too. */
    send_u32(mb, 7, 0);
    CHECK(ep_wait(ep, 1000) == 1);
    CHECK_RC(recv_u32(mb, &v, 0), sizeof v);
    CHECK(v == 7);
    CHECK_RC(recv_u32(mb, &v, 0), -EAGAIN);
    CHECK(!tu_readable(fd));
    close(ep);
    ipcx_mailbox_close(mb);
    CHECK_RC(ipcx_mailbox_destroy("pre"), 0);
}

/* ==== 2. many senders, many receivers =================================== */

#define MS_SENDERS 3
#define MS_BOXES   3
#define MS_PER     (3000 / SCALE) /* per sender and mailbox */

struct ms_msg {
    uint32_t sender, box, seq, sum;
};

static uint32_t ms_sum(const struct ms_msg *m)
{
    return m->sender * 0x9e3779b9u ^ m->box * 0x85ebca6bu ^
           m->seq * 0xc2b2ae35u ^ 0x5bd1e995u;
}

static const char *ms_name(uint32_t b)
{
    static const char *names[MS_BOXES] = {"ms0", "ms1", "ms2"};
    return names[b];
}

static int ms_sender(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    ipcx_mailbox *mb[MS_BOXES];
    for (uint32_t b = 0; b < MS_BOXES; b++) {
        mb[b] = tu_open(ms_name(b));
    }
    uint32_t next[MS_BOXES] = {0};
    unsigned seed = id * 7919u + 1;
    uint32_t left = MS_PER * MS_BOXES;
    while (left > 0) {
        uint32_t b = (uint32_t)rand_r(&seed) % MS_BOXES;
        if (next[b] == MS_PER) {
            continue;
        }
        struct ms_msg m = {id, b, next[b]++, 0};
        m.sum = ms_sum(&m);
        CHECK_RC(ipcx_mailbox_send(mb[b], &m, sizeof m, BOUND), 0);
        left--;
        if (rand_r(&seed) % 512 == 0) {
            tu_pause_us(200); /* let the receiver fall asleep now and then */
        }
    }
    for (uint32_t b = 0; b < MS_BOXES; b++) {
        ipcx_mailbox_close(mb[b]);
    }
    return 0;
}

static void test_epoll_many_senders(void)
{
    sub_ns(__func__);
    /* Small bounded (senders block), unbounded, larger bounded. */
    const uint32_t caps[MS_BOXES] = {8, IPCX_UNBOUNDED, 64};
    ipcx_mailbox *mb[MS_BOXES];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    for (uint32_t b = 0; b < MS_BOXES; b++) {
        mb[b] = mk_open(ms_name(b), caps[b], IPCX_POLICY_ANY);
        int fd = ipcx_mailbox_fd(mb[b]);
        CHECK(fd >= 0);
        struct ms_msg m;
        CHECK_RC(ipcx_mailbox_recv(mb[b], &m, sizeof m, 0), -EAGAIN);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = b};
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    }
    pid_t pids[MS_SENDERS];
    long long t0 = tu_now_ns();
    for (uint32_t i = 0; i < MS_SENDERS; i++) {
        pids[i] = tc_spawn(ms_sender, (void *)(uintptr_t)i);
    }
    uint32_t next[MS_BOXES][MS_SENDERS] = {{0}};
    const long want = (long)MS_SENDERS * MS_BOXES * MS_PER;
    long total = 0, wakes = 0, empty = 0;
    const long long deadline = t0 + IPCX_SEC(20);
    while (total < want) {
        if (tu_now_ns() > deadline) {
            fprintf(stderr, "20 s passed with %ld of %ld received\n", total,
                    want);
            exit(1);
        }
        struct epoll_event evs[MS_BOXES];
        int n = epoll_wait(ep, evs, MS_BOXES, 1000);
        CHECK(n >= 0 || errno == EINTR);
        if (n == 0) {
            /* A second of quiet: nothing may wait unannounced.  Allow one
             * more second for a ring racing with the look. */
            for (uint32_t b = 0; b < MS_BOXES; b++) {
                if (tu_stat(mb[b]).depth > 0 && ep_wait(ep, 1000) == 0 &&
                    tu_stat(mb[b]).depth > 0) {
                    fprintf(stderr,
                            "mailbox %u holds messages but its fd stayed "
                            "quiet for 2 s (received %ld of %ld)\n",
                            b, total, want);
                    exit(1);
                }
            }
            continue;
        }
        for (int i = 0; i < n; i++) {
            uint32_t b = evs[i].data.u32;
            CHECK(b < MS_BOXES);
            wakes++;
            long got = 0;
            for (;;) {
                struct ms_msg m;
                long rc = ipcx_mailbox_recv(mb[b], &m, sizeof m, 0);
                if (rc == -EAGAIN) {
                    break;
                }
                CHECK_RC(rc, sizeof m);
                CHECK(m.box == b && m.sender < MS_SENDERS);
                CHECK(m.sum == ms_sum(&m));
                if (m.seq != next[b][m.sender]) {
                    fprintf(stderr,
                            "mailbox %u sender %u: seq %u, expected %u\n", b,
                            m.sender, m.seq, next[b][m.sender]);
                    exit(1);
                }
                next[b][m.sender]++;
                got++;
            }
            total += got;
            empty += got == 0;
        }
    }
    long long ms = (tu_now_ns() - t0) / 1000000;
    printf("epoll_many_senders: %ld messages in %lld ms, %ld wake-ups "
           "(%ld found nothing)\n",
           total, ms, wakes, empty);
    for (uint32_t i = 0; i < MS_SENDERS; i++) {
        CHECK(tu_wait_bounded(pids[i], 20) == 0);
    }
    for (uint32_t b = 0; b < MS_BOXES; b++) {
        struct ms_msg m;
        CHECK_RC(ipcx_mailbox_recv(mb[b], &m, sizeof m, 0), -EAGAIN);
        for (uint32_t s = 0; s < MS_SENDERS; s++) {
            CHECK(next[b][s] == MS_PER);
        }
        ipcx_mailbox_close(mb[b]);
    }
    close(ep);
}

/* -- two receiver processes on one POLICY_ANY mailbox -- */

#define TR_SENDERS 2
#define TR_PER     (6000 / SCALE)

struct sh_tr {
    _Atomic int total;  /* received by both */
    _Atomic int got[2]; /* by each */
    _Atomic unsigned char seen[TR_SENDERS][TR_PER];
};
static struct sh_tr *shr;

static int tr_sender(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    ipcx_mailbox *mb = tu_open("two");
    unsigned seed = id + 77;
    for (uint32_t i = 0; i < TR_PER; i++) {
        uint32_t m[2] = {id, i};
        CHECK_RC(ipcx_mailbox_send(mb, m, sizeof m, BOUND), 0);
        if (rand_r(&seed) % 256 == 0) {
            tu_pause_us(300);
        }
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static int tr_receiver(void *arg)
{
    int me = (int)(intptr_t)arg;
    ipcx_mailbox *mb = tu_open("two");
    int fd = ipcx_mailbox_fd(mb);
    CHECK(fd >= 0);
    int64_t last[TR_SENDERS];
    for (int s = 0; s < TR_SENDERS; s++) {
        last[s] = -1;
    }
    const int want = TR_SENDERS * TR_PER;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, 10000);
        if (n == 0) {
            fprintf(stderr, "receiver %d: fd quiet for 10 s; %d of %d in\n", me,
                    atomic_load(&shr->total), want);
            return 1;
        }
        CHECK(n == 1 || errno == EINTR);
        for (;;) {
            uint32_t m[2];
            long rc = ipcx_mailbox_recv(mb, m, sizeof m, 0);
            if (rc == -EAGAIN) {
                break;
            }
            CHECK_RC(rc, sizeof m);
            if (m[0] == UINT32_MAX) {
                ipcx_mailbox_close(mb); /* the other one finished */
                return 0;
            }
            CHECK(m[0] < TR_SENDERS && m[1] < TR_PER);
            /* Each receiver sees each sender's messages in order. */
            CHECK((int64_t)m[1] > last[m[0]]);
            last[m[0]] = m[1];
            if (atomic_fetch_add(&shr->seen[m[0]][m[1]], 1) != 0) {
                fprintf(stderr, "message %u/%u received twice\n", m[0], m[1]);
                return 1;
            }
            atomic_fetch_add(&shr->got[me], 1);
            if (atomic_fetch_add(&shr->total, 1) + 1 == want) {
                /* Wake the other receiver through the same bell. */
                uint32_t stop[2] = {UINT32_MAX, UINT32_MAX};
                CHECK_RC(ipcx_mailbox_send(mb, stop, sizeof stop, BOUND), 0);
                ipcx_mailbox_close(mb);
                return 0;
            }
        }
    }
}

static void test_two_receivers_one_fd(void)
{
    sub_ns(__func__);
    shr = tu_shared_map(sizeof *shr);
    ipcx_mailbox_attr a = tu_attr(32, 64);
    a.policy = IPCX_POLICY_ANY;
    CHECK_RC(ipcx_mailbox_create("two", &a), 0);
    long long t0 = tu_now_ns();
    pid_t r0 = tc_spawn(tr_receiver, (void *)0);
    pid_t r1 = tc_spawn(tr_receiver, (void *)1);
    pid_t s[TR_SENDERS];
    for (int i = 0; i < TR_SENDERS; i++) {
        s[i] = tc_spawn(tr_sender, (void *)(uintptr_t)i);
    }
    for (int i = 0; i < TR_SENDERS; i++) {
        CHECK(tu_wait_bounded(s[i], 20) == 0);
    }
    CHECK(tu_wait_bounded(r0, 20) == 0);
    CHECK(tu_wait_bounded(r1, 20) == 0);
    int want = TR_SENDERS * TR_PER;
    CHECK(atomic_load(&shr->total) == want);
    for (int i = 0; i < TR_SENDERS; i++) {
        for (int j = 0; j < TR_PER; j++) {
            if (atomic_load(&shr->seen[i][j]) != 1) {
                fprintf(stderr, "message %d/%d received %d times\n", i, j,
                        atomic_load(&shr->seen[i][j]));
                exit(1);
            }
        }
    }
    printf("two_receivers_one_fd: %d messages in %lld ms, split %d / %d\n",
           want, (tu_now_ns() - t0) / 1000000, atomic_load(&shr->got[0]),
           atomic_load(&shr->got[1]));
    ipcx_mailbox *mb = tu_open("two");
    uint32_t m[2];
    CHECK_RC(ipcx_mailbox_recv(mb, m, sizeof m, 0), -EAGAIN);
    ipcx_mailbox_close(mb);
}

/* -- a destroy wakes every epoll receiver, even beside a busy one -- */

#define DW_SLEEPERS 2
#define DW_BUSY     2
#define DW_TRIALS   (SCALE > 1 ? 10 : 50)

struct sh_dw {
    _Atomic int trial;      /* the trial under way (its mailbox "dwN") */
    _Atomic int armed;      /* sleepers ready in this trial */
    _Atomic int woke;       /* sleepers that saw the destroy */
    _Atomic int missed;     /* sleepers that did not, within 1 s */
    _Atomic int busy_ready; /* busy receivers ready in this trial */
};
static struct sh_dw *shd;

static void dw_name(int trial, char *buf, size_t len)
{
    snprintf(buf, len, "dw%d", trial);
}

/* An epoll receiver: sleeps on the fd until the destroy. */
static int dw_sleeper(void *arg)
{
    (void)arg;
    for (int t = 1; t <= DW_TRIALS; t++) {
        tc_wait_step(&shd->trial, t);
        char name[32];
        dw_name(t, name, sizeof name);
        ipcx_mailbox *mb = tu_open(name);
        int fd = ipcx_mailbox_fd(mb);
        CHECK(fd >= 0);
        uint32_t v;
        CHECK_RC(recv_u32(mb, &v, 0), -EAGAIN);
        int ep = ep_new(fd, 0);
        atomic_fetch_add(&shd->armed, 1);
        if (ep_wait(ep, 1000) == 1) {
            CHECK_RC(recv_u32(mb, &v, 0), -EIDRM);
            atomic_fetch_add(&shd->woke, 1);
        } else {
            long rc = recv_u32(mb, &v, 0);
            fprintf(stderr,
                    "trial %d: epoll receiver %d slept 1 s through the "
                    "destroy (recv now answers %ld)\n",
                    t, (int)getpid(), rc);
            atomic_fetch_add(&shd->missed, 1);
        }
        close(ep);
        ipcx_mailbox_close(mb);
    }
    return 0;
}

/* A receiver of the same mailbox that polls busily: recv(0) until the
 * destroy, as an event loop with other work does. */
static int dw_busy(void *arg)
{
    (void)arg;
    for (int t = 1; t <= DW_TRIALS; t++) {
        tc_wait_step(&shd->trial, t);
        char name[32];
        dw_name(t, name, sizeof name);
        ipcx_mailbox *mb = tu_open(name);
        CHECK(ipcx_mailbox_fd(mb) >= 0);
        atomic_fetch_add(&shd->busy_ready, 1);
        uint32_t v;
        long rc;
        long long end = tu_now_ns() + IPCX_SEC(10);
        while ((rc = recv_u32(mb, &v, 0)) == -EAGAIN) {
            CHECK(tu_now_ns() < end);
        }
        CHECK_RC(rc, -EIDRM);
        ipcx_mailbox_close(mb);
    }
    return 0;
}

static void test_destroy_wakes_all(void)
{
    sub_ns(__func__);
    shd = tu_shared_map(sizeof *shd);
    pid_t sl[DW_SLEEPERS];
    for (int i = 0; i < DW_SLEEPERS; i++) {
        sl[i] = tc_spawn(dw_sleeper, NULL);
    }
    pid_t busy[DW_BUSY];
    for (int i = 0; i < DW_BUSY; i++) {
        busy[i] = tc_spawn(dw_busy, NULL);
    }
    unsigned seed = 12345;
    int missed_trials = 0;
    for (int t = 1; t <= DW_TRIALS; t++) {
        char name[32];
        dw_name(t, name, sizeof name);
        ipcx_mailbox_attr a = tu_attr(8, 64);
        CHECK_RC(ipcx_mailbox_create(name, &a), 0);
        atomic_store(&shd->armed, 0);
        atomic_store(&shd->busy_ready, 0);
        int missed0 = atomic_load(&shd->missed);
        int woke0 = atomic_load(&shd->woke);
        atomic_store(&shd->trial, t);
        tc_wait_step(&shd->armed, DW_SLEEPERS);
        tc_wait_step(&shd->busy_ready, DW_BUSY);
        tu_pause_us(1000 + rand_r(&seed) % 3000); /* asleep in epoll */
        CHECK_RC(ipcx_mailbox_destroy(name), 0);
        for (int i = 0; i < 5000; i++) {
            if (atomic_load(&shd->woke) + atomic_load(&shd->missed) ==
                woke0 + missed0 + DW_SLEEPERS) {
                break;
            }
            tu_pause_ms(1);
        }
        missed_trials += atomic_load(&shd->missed) != missed0;
    }
    for (int i = 0; i < DW_SLEEPERS; i++) {
        CHECK(tu_wait_bounded(sl[i], 20) == 0);
    }
    for (int i = 0; i < DW_BUSY; i++) {
        CHECK(tu_wait_bounded(busy[i], 20) == 0);
    }
    printf("destroy_wakes_all: %d trials, %d with an epoll receiver that "
           "never woke (%d receivers missed it)\n",
           DW_TRIALS, missed_trials, atomic_load(&shd->missed));
    CHECK(atomic_load(&shd->missed) == 0);
    CHECK(atomic_load(&shd->woke) == DW_TRIALS * DW_SLEEPERS);
}

/* ==== 3. ipcx_poll() over a mix ========================================= */

#define MIX_A    1 /* client sends on mailbox "ma" */
#define MIX_B    2 /* ... on "mb" */
#define MIX_CH   4 /* ... on the channel */
#define MIX_HANG 8 /* client waits to be killed */
#define MIX_MAX  256

struct sh_mix {
    _Atomic int step; /* parent -> client: the command to run */
    _Atomic int done; /* client -> parent: commands run */
    _Atomic int cmd[MIX_MAX];
    _Atomic long delay_us[MIX_MAX];
    _Atomic int kill_go;
    _Atomic pid_t client;
    _Atomic long long kill_ns;
};
static struct sh_mix *shm;

static int mix_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("mix");
    ipcx_mailbox *a = tu_open("ma"), *b = tu_open("mb");
    for (int s = 1; s < MIX_MAX; s++) {
        tc_wait_step(&shm->step, s);
        int c = atomic_load(&shm->cmd[s]);
        if (c & MIX_HANG) {
            atomic_store(&shm->done, s);
            for (;;) {
                pause();
            }
        }
        long d = atomic_load(&shm->delay_us[s]);
        if (d > 0) {
            tu_pause_us(d);
        }
        uint32_t v = (uint32_t)s;
        if (c & MIX_A) {
            send_u32(a, v, BOUND);
        }
        if (c & MIX_B) {
            send_u32(b, v, BOUND);
        }
        if (c & MIX_CH) {
            CHECK_RC(ipcx_channel_send(ch, &v, sizeof v, BOUND), 0);
        }
        atomic_store(&shm->done, s);
    }
    return 1;
}

static int mix_step;

/* Have the client run CMD after DELAY_US; returns at once. */
static void mix_cmd(int cmd, long delay_us)
{
    mix_step++;
    CHECK(mix_step < MIX_MAX);
    atomic_store(&shm->cmd[mix_step], cmd);
    atomic_store(&shm->delay_us[mix_step], delay_us);
    atomic_store(&shm->step, mix_step);
}

static void mix_wait(void)
{
    tc_wait_step(&shm->done, mix_step);
}

static void check_revents(const ipcx_pollitem *it, size_t n,
                          const unsigned *want, int line)
{
    for (size_t i = 0; i < n; i++) {
        if (it[i].revents != want[i]) {
            fprintf(stderr, "line %d: item %zu revents 0x%x, expected 0x%x\n",
                    line, i, it[i].revents, want[i]);
            exit(1);
        }
    }
}
#define CHECK_REVENTS(it, n, ...)                                              \
    do {                                                                       \
        const unsigned want_[] = {__VA_ARGS__};                                \
        check_revents((it), (n), want_, __LINE__);                             \
    } while (0)

static void reset(ipcx_pollitem *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        it[i].revents = 0xdead;
    }
}

/* Receive what command CMD sent (value S) and leave all three empty. */
static void mix_drain(ipcx_mailbox *a, ipcx_mailbox *b, ipcx_channel *ch,
                      int cmd, uint32_t s)
{
    uint32_t v;
    if (cmd & MIX_A) {
        CHECK_RC(recv_u32(a, &v, 0), sizeof v);
        CHECK(v == s);
    }
    if (cmd & MIX_B) {
        CHECK_RC(recv_u32(b, &v, 0), sizeof v);
        CHECK(v == s);
    }
    if (cmd & MIX_CH) {
        CHECK_RC(ipcx_channel_recv(ch, &v, sizeof v, 0), sizeof v);
        CHECK(v == s);
    }
    CHECK_RC(recv_u32(a, &v, 0), -EAGAIN);
    CHECK_RC(recv_u32(b, &v, 0), -EAGAIN);
    CHECK_RC(ipcx_channel_recv(ch, &v, sizeof v, 0), -EAGAIN);
}

static int mix_killer(void *arg)
{
    (void)arg;
    tc_wait_step(&shm->kill_go, 1);
    tu_pause_ms(100); /* the parent is asleep in ipcx_poll() by now */
    atomic_store(&shm->kill_ns, tu_now_ns());
    CHECK(kill(atomic_load(&shm->client), SIGKILL) == 0);
    return 0;
}

static int short_lived(void *arg)
{
    (void)arg;
    tu_pause_ms(100);
    return 7;
}

static void mix_notify(ipcx_pollitem *items)
{
    ipcx_notify *n = NULL;
    int rc = ipcx_notify_open(&n);
    if (rc == -ENOSYS) {
        printf("poll_mix: ipcx_notify_open answers -ENOSYS: notify part "
               "skipped\n");
        return;
    }
    CHECK_RC(rc, 0);
    ipcx_pollitem it[4] = {items[0], items[1], items[2], ipcx_poll_notify(n)};
    reset(it, 4);
    CHECK_RC(ipcx_poll(it, 4, 0), -EAGAIN);
    reset(it, 4);
    CHECK_RC(ipcx_poll(it, 4, IPCX_MSEC(20)), -ETIMEDOUT);
    pid_t pid = tc_spawn(short_lived, NULL);
    CHECK_RC(ipcx_notify_watch(n, pid, 42), 0);
    reset(it, 4);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_poll(it, 4, BOUND), 1);
    long long dt = us_since(t0);
    CHECK_REVENTS(it, 4, 0, 0, 0, IPCX_POLLIN);
    printf("poll_mix: notify woke after %lld us (incl. 100 ms life)\n", dt);
    CHECK(dt < 2000000);
    ipcx_event ev;
    CHECK_RC(ipcx_notify_recv(n, &ev, 0), 0);
    CHECK(ev.kind == IPCX_EVENT_PROC_EXIT && ev.pid == pid && ev.cookie == 42);
    CHECK(ev.status_known && WIFEXITED(ev.status) &&
          WEXITSTATUS(ev.status) == 7);
    reset(it, 4);
    CHECK_RC(ipcx_poll(it, 4, 0), -EAGAIN);
    /* Not reaped by the notify mailbox. */
    CHECK(tu_wait(pid) == 7);
    /* A mailbox message with the notify mailbox in the set. */
    mix_cmd(MIX_B, 2000);
    reset(it, 4);
    t0 = tu_now_ns();
    CHECK_RC(ipcx_poll(it, 4, BOUND), 1);
    CHECK(us_since(t0) < 2000000);
    CHECK_REVENTS(it, 4, 0, IPCX_POLLIN, 0, 0);
    mix_wait();
    mix_drain(items[0].handle, items[1].handle, items[2].handle, MIX_B,
              (uint32_t)mix_step);
    ipcx_notify_close(n);
}

static void test_poll_mix(void)
{
    sub_ns(__func__);
    shm = tu_shared_map(sizeof *shm);
    ipcx_mailbox *a = mk_open("ma", 16, IPCX_POLICY_ANY);
    ipcx_mailbox *b = mk_open("mb", 16, IPCX_POLICY_ANY);
    ipcx_port *p = tc_listen("mix", 16, 64, 0);
    pid_t client = tc_spawn(mix_client, NULL);
    atomic_store(&shm->client, client);
    ipcx_channel *ch = tc_accept(p);
    ipcx_pollitem it[3] = {ipcx_poll_mailbox(a), ipcx_poll_mailbox(b),
                           ipcx_poll_channel(ch)};

    /* Nothing ready. */
    reset(it, 3);
    CHECK_RC(ipcx_poll(it, 3, 0), -EAGAIN);
    for (int ms = 1; ms <= 100; ms *= 10) {
        reset(it, 3);
        long long t0 = tu_now_ns();
        CHECK_RC(ipcx_poll(it, 3, IPCX_MSEC(ms)), -ETIMEDOUT);
        long long dt = tu_now_ns() - t0;
        printf("poll_mix: timeout %d ms took %lld us\n", ms, dt / 1000);
        CHECK(dt >= IPCX_MSEC(ms));
        CHECK(dt < IPCX_SEC(5));
    }

    /* Wakes on each item; revents name exactly it. */
    static const int one[3] = {MIX_A, MIX_B, MIX_CH};
    for (int i = 0; i < 3; i++) {
        mix_cmd(one[i], 20000);
        reset(it, 3);
        long long t0 = tu_now_ns();
        CHECK_RC(ipcx_poll(it, 3, BOUND), 1);
        long long dt = us_since(t0);
        CHECK(dt >= 20000);
        CHECK(dt < 2000000); /* not found by the deadline's last look */
        unsigned w[3] = {0, 0, 0};
        w[i] = IPCX_POLLIN;
        check_revents(it, 3, w, __LINE__);
        printf("poll_mix: woke on item %d after %lld us (20 ms delay)\n", i,
               dt);
        mix_wait();
        mix_drain(a, b, ch, one[i], (uint32_t)mix_step);
        reset(it, 3);
        CHECK_RC(ipcx_poll(it, 3, 0), -EAGAIN);
    }

    /* Two ready at once: both named, the third not. */
    mix_cmd(MIX_A | MIX_CH, 0);
    mix_wait();
    reset(it, 3);
    CHECK_RC(ipcx_poll(it, 3, 0), 2);
    CHECK_REVENTS(it, 3, IPCX_POLLIN, 0, IPCX_POLLIN);
    reset(it, 3);
    CHECK_RC(ipcx_poll(it, 3, BOUND), 2);
    CHECK_REVENTS(it, 3, IPCX_POLLIN, 0, IPCX_POLLIN);
    mix_drain(a, b, ch, MIX_A | MIX_CH, (uint32_t)mix_step);
    mix_cmd(MIX_A | MIX_B | MIX_CH, 0);
    mix_wait();
    reset(it, 3);
    CHECK_RC(ipcx_poll(it, 3, 0), 3);
    CHECK_REVENTS(it, 3, IPCX_POLLIN, IPCX_POLLIN, IPCX_POLLIN);
    mix_drain(a, b, ch, MIX_A | MIX_B | MIX_CH, (uint32_t)mix_step);

    /* Random items, random delays: every wake names the one item. */
    unsigned seed = 99;
    long long worst = 0;
    for (int r = 0; r < 60; r++) {
        int i = (int)(rand_r(&seed) % 3);
        long d = rand_r(&seed) % 2 ? 0 : 100 + rand_r(&seed) % 3000;
        mix_cmd(one[i], d);
        reset(it, 3);
        long long t0 = tu_now_ns();
        CHECK_RC(ipcx_poll(it, 3, BOUND), 1);
        long long dt = us_since(t0) - d;
        CHECK(dt < 2000000); /* not found by the deadline's last look */
        worst = dt > worst ? dt : worst;
        unsigned w[3] = {0, 0, 0};
        w[i] = IPCX_POLLIN;
        check_revents(it, 3, w, __LINE__);
        mix_wait();
        mix_drain(a, b, ch, one[i], (uint32_t)mix_step);
    }
    printf("poll_mix: 60 random wake-ups, slowest %lld us past the send "
           "delay\n",
           worst);

    mix_notify(it);

    /* The channel's peer is SIGKILLed while we sleep: IPCX_POLLHUP. */
    mix_cmd(MIX_HANG, 0);
    mix_wait();
    pid_t killer = tc_spawn(mix_killer, NULL);
    atomic_store(&shm->kill_go, 1);
    reset(it, 3);
    CHECK_RC(ipcx_poll(it, 3, BOUND), 1);
    long long t1 = tu_now_ns();
    CHECK(atomic_load(&shm->kill_ns) != 0);
    printf("poll_mix: SIGKILLed peer reported %lld us after the kill\n",
           (t1 - atomic_load(&shm->kill_ns)) / 1000);
    CHECK(t1 - atomic_load(&shm->kill_ns) < IPCX_SEC(2));
    CHECK(it[0].revents == 0 && it[1].revents == 0);
    CHECK((it[2].revents & IPCX_POLLHUP) != 0);
    CHECK(tu_wait_bounded(killer, 10) == 0);
    CHECK(tu_wait_bounded(client, 10) == 128 + SIGKILL);
    uint32_t v;
    CHECK_RC(ipcx_channel_recv(ch, &v, sizeof v, 0), -EPIPE);
    reset(it, 3);
    CHECK_RC(ipcx_poll(it, 3, 0), 1);
    CHECK_REVENTS(it, 3, 0, 0, IPCX_POLLIN | IPCX_POLLHUP);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    ipcx_mailbox_close(a);
    ipcx_mailbox_close(b);
}

/* -- a poller that takes one message per wake-up still sleeps -- */

static int one_each(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("sl");
    ipcx_mailbox *mb = tu_open("sa");
    for (uint32_t i = 0; i < 3; i++) {
        send_u32(mb, i, BOUND);
        CHECK_RC(ipcx_channel_send(ch, &i, sizeof i, BOUND), 0);
    }
    ipcx_mailbox_close(mb);
    tc_recv_str(ch, "bye", IPCX_SEC(30));
    ipcx_channel_close(ch);
    return 0;
}

static long long cpu_us(void)
{
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* Receiving one message per wake-up (never until -EAGAIN) leaves the
 * descriptors rung; ipcx_poll() must still sleep, not spin, once nothing
 * is left. */
static void test_poll_sleeps(void)
{
    sub_ns(__func__);
    ipcx_mailbox *mb = mk_open("sa", 8, IPCX_POLICY_ANY);
    ipcx_port *p = tc_listen("sl", 8, 64, 0);
    pid_t c = tc_spawn(one_each, NULL);
    ipcx_channel *ch = tc_accept(p);
    ipcx_pollitem it[2] = {ipcx_poll_mailbox(mb), ipcx_poll_channel(ch)};
    int got_mb = 0, got_ch = 0;
    while (got_mb < 3 || got_ch < 3) {
        CHECK(ipcx_poll(it, 2, BOUND) >= 1);
        uint32_t v;
        if (it[0].revents) {
            CHECK_RC(recv_u32(mb, &v, 0), sizeof v);
            CHECK(v == (uint32_t)got_mb++);
        }
        if (it[1].revents) {
            CHECK_RC(ipcx_channel_recv(ch, &v, sizeof v, 0), sizeof v);
            CHECK(v == (uint32_t)got_ch++);
        }
    }
    long long c0 = cpu_us(), t0 = tu_now_ns();
    CHECK_RC(ipcx_poll(it, 2, IPCX_MSEC(300)), -ETIMEDOUT);
    long long cpu = cpu_us() - c0, wall = us_since(t0);
    printf("poll_sleeps: 300 ms timeout took %lld us wall, %lld us CPU\n", wall,
           cpu);
    CHECK(cpu < 100000);
    chan_str_poll(ch, "bye");
    CHECK(tu_wait_bounded(c, 20) == 0);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    ipcx_mailbox_close(mb);
}

/* -- hang-ups seen without sleeping -- */

static int hup_client(void *arg)
{
    int how = (int)(intptr_t)arg;
    ipcx_channel *ch = tc_connect("hup");
    if (how == 0) {
        for (;;) {
            pause(); /* to be killed */
        }
    }
    const char bye[] = "bye";
    CHECK_RC(ipcx_channel_send(ch, bye, sizeof bye, BOUND), 0);
    ipcx_channel_close(ch);
    return 0;
}

/* A dead peer (reaped, so its socket is closed) is a receive that fails at
 * once: ipcx_poll() with timeout 0 must say IPCX_POLLHUP, not -EAGAIN. */
static void test_poll_hup_killed_timeout0(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("hup", 4, 64, 0);
    pid_t c = tc_spawn(hup_client, (void *)0);
    ipcx_channel *ch = tc_accept(p);
    CHECK(kill(c, SIGKILL) == 0);
    CHECK(tu_wait(c) == 128 + SIGKILL);
    ipcx_pollitem it = ipcx_poll_channel(ch);
    int rc = ipcx_poll(&it, 1, 0);
    char buf[16];
    long r = ipcx_channel_recv(ch, buf, sizeof buf, 0);
    if (rc != 1 || !(it.revents & IPCX_POLLHUP)) {
        fprintf(stderr,
                "ipcx_poll(timeout 0) on a channel whose peer was killed: "
                "%d (%s), revents 0x%x; yet recv(0) answers %ld (%s)\n",
                rc, ipcx_strerror(rc), it.revents, r, ipcx_strerror((int)r));
        exit(1);
    }
    CHECK_RC(r, -EPIPE);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* A closed peer with a message left, and a destroyed mailbox with messages
 * left: IPCX_POLLIN while something remains, then IPCX_POLLIN | POLLHUP. */
static void test_poll_hup_drain(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("hup", 4, 64, 0);
    pid_t c = tc_spawn(hup_client, (void *)1);
    ipcx_channel *ch = tc_accept(p);
    CHECK(tu_wait_bounded(c, 10) == 0);
    ipcx_pollitem it = ipcx_poll_channel(ch);
    CHECK_RC(ipcx_poll(&it, 1, 0), 1);
    CHECK(it.revents == IPCX_POLLIN);
    tc_recv_str(ch, "bye", 0);
    CHECK_RC(ipcx_poll(&it, 1, 0), 1);
    CHECK(it.revents == (IPCX_POLLIN | IPCX_POLLHUP));
    it.revents = 0;
    CHECK_RC(ipcx_poll(&it, 1, BOUND), 1);
    CHECK(it.revents == (IPCX_POLLIN | IPCX_POLLHUP));
    char buf[16];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, 0), -EPIPE);
    ipcx_channel_close(ch);
    ipcx_port_close(p);

    ipcx_mailbox *mb = mk_open("gone", 8, IPCX_POLICY_ANY);
    send_u32(mb, 1, 0);
    send_u32(mb, 2, 0);
    CHECK_RC(ipcx_mailbox_destroy("gone"), 0);
    it = ipcx_poll_mailbox(mb);
    uint32_t v;
    for (uint32_t i = 1; i <= 2; i++) {
        CHECK_RC(ipcx_poll(&it, 1, 0), 1);
        CHECK(it.revents == IPCX_POLLIN);
        CHECK_RC(recv_u32(mb, &v, 0), sizeof v);
        CHECK(v == i);
    }
    CHECK_RC(ipcx_poll(&it, 1, 0), 1);
    CHECK(it.revents == (IPCX_POLLIN | IPCX_POLLHUP));
    CHECK_RC(recv_u32(mb, &v, 0), -EIDRM);
    ipcx_mailbox_close(mb);
}

/* -- bad input -- */

static void test_poll_bad_input(void)
{
    sub_ns(__func__);
    ipcx_mailbox *mb = mk_open("bad", 4, IPCX_POLICY_ANY);
    ipcx_pollitem good = ipcx_poll_mailbox(mb);
    ipcx_pollitem it[2];
    CHECK_RC(ipcx_poll(NULL, 1, 0), -EINVAL);
    CHECK(ipcx_last_error()[0] != '\0');
    CHECK_RC(ipcx_poll(NULL, 0, 0), -EINVAL);
    CHECK_RC(ipcx_poll(&good, 0, 0), -EINVAL);
    CHECK_RC(ipcx_poll(&good, 0, BOUND), -EINVAL);

    ipcx_pollitem *big = calloc(IPCX_POLL_MAX + 1, sizeof *big);
    CHECK(big != NULL);
    for (size_t i = 0; i <= IPCX_POLL_MAX; i++) {
        big[i] = good;
    }
    CHECK_RC(ipcx_poll(big, IPCX_POLL_MAX + 1, 0), -EINVAL);
    CHECK_RC(ipcx_poll(big, (size_t)-1, 0), -EINVAL);
    /* IPCX_POLL_MAX itself is fine (one handle, many times). */
    CHECK_RC(ipcx_poll(big, IPCX_POLL_MAX, 0), -EAGAIN);
    CHECK_RC(ipcx_poll(big, IPCX_POLL_MAX, IPCX_MSEC(5)), -ETIMEDOUT);
    send_u32(mb, 1, 0);
    CHECK_RC(ipcx_poll(big, IPCX_POLL_MAX, 0), IPCX_POLL_MAX);
    for (size_t i = 0; i < IPCX_POLL_MAX; i++) {
        CHECK(big[i].revents == IPCX_POLLIN);
    }
    free(big);

    /* NULL handles, of each kind. */
    for (uint32_t k = IPCX_POLL_MAILBOX; k <= IPCX_POLL_NOTIFY; k++) {
        it[0] = good;
        it[1] = (ipcx_pollitem){k, 0, NULL};
        CHECK_RC(ipcx_poll(it, 2, 0), -EINVAL);
        CHECK_RC(ipcx_poll(&it[1], 1, BOUND), -EINVAL);
    }
    /* Unknown kinds, even beside a ready item. */
    const uint32_t kinds[] = {0, 4, 0x100, UINT32_MAX};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        it[0] = good;
        it[1] = (ipcx_pollitem){kinds[i], 0, mb};
        CHECK_RC(ipcx_poll(it, 2, 0), -EINVAL);
        CHECK_RC(ipcx_poll(&it[1], 1, BOUND), -EINVAL);
    }
    /* Negative timeouts, even with an item ready. */
    CHECK_RC(ipcx_poll(&good, 1, -1), -EINVAL);
    CHECK_RC(ipcx_poll(&good, 1, INT64_MIN), -EINVAL);
    /* A mailbox handle without the receive right. */
    ipcx_mailbox *anon = NULL;
    CHECK_RC(ipcx_mailbox_allocate(NULL, &anon), 0);
    CHECK_RC(ipcx_mailbox_restrict(anon, IPCX_RIGHT_SEND), 0);
    it[0] = good;
    it[1] = ipcx_poll_mailbox(anon);
    CHECK_RC(ipcx_poll(&it[1], 1, 0), -EPERM);
    CHECK_RC(ipcx_poll(&it[1], 1, IPCX_MSEC(10)), -EPERM);
    CHECK_RC(ipcx_poll(it, 2, 0), -EPERM);
    CHECK(ipcx_last_error()[0] != '\0');
    /* The good item is still as it was: one message waits. */
    CHECK_RC(ipcx_poll(&good, 1, 0), 1);
    CHECK(good.revents == IPCX_POLLIN);
    ipcx_mailbox_close(anon);
    ipcx_mailbox_close(mb);
}

/* ==== 4. lost wake-ups ================================================== */

#define LW_RUN_NS IPCX_MSEC(2000) /* each variant's sender runs this long */

struct lw_cfg {
    int spin0; /* IPCX_SPIN_NS=0 in both processes */
    int anon;  /* an anonymous mailbox handed over a channel */
};

struct sh_lw {
    _Atomic uint64_t sent;     /* the sender's count */
    _Atomic uint64_t received; /* the receiver's */
    _Atomic uint64_t polls, spurious, sleeps;
    _Atomic int failed; /* the receiver gave up */
};
static struct sh_lw *shl;

static void lw_env(const struct lw_cfg *c)
{
    /* Before the first ipcx call: the spin budget is read once. */
    if (c->spin0) {
        CHECK(setenv("IPCX_SPIN_NS", "0", 1) == 0);
    } else {
        CHECK(unsetenv("IPCX_SPIN_NS") == 0);
    }
}

/* Send V, giving up quietly if the receiver failed already. */
static void lw_send(ipcx_mailbox *mb, uint64_t v)
{
    long long end = tu_now_ns() + BOUND;
    int rc;
    while ((rc = ipcx_mailbox_send(mb, &v, sizeof v, IPCX_MSEC(100))) ==
           -ETIMEDOUT) {
        if (atomic_load(&shl->failed)) {
            exit(2); /* the receiver said why */
        }
        CHECK(tu_now_ns() < end);
    }
    CHECK_RC(rc, 0);
}

static int lw_sender(void *arg)
{
    const struct lw_cfg *c = arg;
    lw_env(c);
    ipcx_mailbox *mb = NULL;
    ipcx_port *p = NULL;
    ipcx_channel *ch = NULL;
    if (c->anon) {
        p = tc_listen("lw", 4, 64, 0);
        ch = tc_accept(p);
        ipcx_mailbox_attr a = tu_attr(16, 64);
        CHECK_RC(ipcx_mailbox_allocate(&a, &mb), 0);
        CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_RECV, BOUND), 0);
        CHECK_RC(ipcx_mailbox_restrict(mb, IPCX_RIGHT_SEND), 0);
    } else {
        mb = tu_open("lw");
    }
    unsigned seed = (unsigned)getpid();
    long long end = tu_now_ns() + LW_RUN_NS;
    uint64_t seq = 0;
    while (tu_now_ns() < end) {
        unsigned burst = 1 + (unsigned)rand_r(&seed) % 8;
        for (unsigned i = 0; i < burst; i++) {
            lw_send(mb, seq);
            seq++;
            atomic_store(&shl->sent, seq);
        }
        int r = rand_r(&seed) % 100;
        if (r < 25) {
            continue; /* back to back */
        }
        tu_pause_us(r < 65 ? 1 + rand_r(&seed) % 50
                           : 50 + rand_r(&seed) % 1500);
    }
    lw_send(mb, UINT64_MAX);
    ipcx_mailbox_close(mb);
    if (c->anon) {
        ipcx_channel_close(ch);
        ipcx_port_close(p);
    }
    return 0;
}

static int lw_receiver(void *arg)
{
    const struct lw_cfg *c = arg;
    lw_env(c);
    ipcx_mailbox *mb = NULL;
    ipcx_channel *ch = NULL;
    if (c->anon) {
        ch = tc_connect("lw");
        CHECK_RC(ipcx_channel_recv_mailbox(ch, &mb, BOUND), 0);
        CHECK(ipcx_mailbox_rights(mb) == IPCX_RIGHT_RECV);
    } else {
        mb = tu_open("lw");
    }
    ipcx_pollitem it = ipcx_poll_mailbox(mb);
    uint64_t want = 0;
    for (;;) {
        long long t0 = tu_now_ns();
        int rc = ipcx_poll(&it, 1, IPCX_SEC(2));
        long long dt = tu_now_ns() - t0;
        atomic_fetch_add(&shl->polls, 1);
        if (dt > 200000) {
            atomic_fetch_add(&shl->sleeps, 1);
        }
        /* The sender never pauses 2 ms: a poll that times out, or that
         * sleeps a second (and finds the message only at its deadline's
         * last look), slept through a send. */
        if (rc == -ETIMEDOUT || dt >= IPCX_SEC(1)) {
            fprintf(stderr,
                    "lost wake-up: ipcx_poll answered %d after %lld ms with "
                    "%llu sent, %llu received\n",
                    rc, dt / 1000000,
                    (unsigned long long)atomic_load(&shl->sent),
                    (unsigned long long)want);
            atomic_store(&shl->failed, 1);
            return 1;
        }
        CHECK_RC(rc, 1);
        CHECK(it.revents == IPCX_POLLIN);
        int got = 0;
        for (;;) {
            uint64_t v;
            long n = ipcx_mailbox_recv(mb, &v, sizeof v, 0);
            if (n == -EAGAIN) {
                break;
            }
            CHECK_RC(n, sizeof v);
            got++;
            if (v == UINT64_MAX) {
                CHECK(want == atomic_load(&shl->sent));
                ipcx_mailbox_close(mb);
                ipcx_channel_close(ch);
                return 0;
            }
            if (v != want) {
                fprintf(stderr, "expected message %llu, got %llu: %s\n",
                        (unsigned long long)want, (unsigned long long)v,
                        v > want ? "messages lost" : "duplicated");
                atomic_store(&shl->failed, 1);
                return 1;
            }
            want++;
            atomic_store(&shl->received, want);
        }
        if (got == 0) {
            atomic_fetch_add(&shl->spurious, 1);
        }
    }
}

static void lw_run(const char *name, int spin0, int anon)
{
    sub_ns(name);
    shl = tu_shared_map(sizeof *shl);
    struct lw_cfg c = {spin0, anon};
    if (!anon) {
        ipcx_mailbox_attr a = tu_attr(16, 64);
        CHECK_RC(ipcx_mailbox_create("lw", &a), 0);
    }
    long long t0 = tu_now_ns();
    pid_t r = tc_spawn(lw_receiver, &c);
    pid_t s = tc_spawn(lw_sender, &c);
    int rs = tu_wait_bounded(s, 30);
    int rr = tu_wait_bounded(r, 30);
    printf("%s: %llu messages in %lld ms, %llu polls (%llu slept, %llu "
           "found nothing)\n",
           name, (unsigned long long)atomic_load(&shl->sent),
           (tu_now_ns() - t0) / 1000000,
           (unsigned long long)atomic_load(&shl->polls),
           (unsigned long long)atomic_load(&shl->sleeps),
           (unsigned long long)atomic_load(&shl->spurious));
    CHECK(rs == 0);
    CHECK(rr == 0);
    CHECK(atomic_load(&shl->received) == atomic_load(&shl->sent));
}

static void test_lost_wakeup_named(void)
{
    lw_run(__func__, 0, 0);
}

static void test_lost_wakeup_named_nospin(void)
{
    lw_run(__func__, 1, 0);
}

static void test_lost_wakeup_anon(void)
{
    lw_run(__func__, 0, 1);
}

static void test_lost_wakeup_anon_nospin(void)
{
    lw_run(__func__, 1, 1);
}

int main(void)
{
    top_ns = tu_private_ns();
    setvbuf(stdout, NULL, _IOLBF, 0);
    TU_RUN(test_fd_epoll);
    TU_RUN(test_fd_queued_before);
    TU_RUN(test_epoll_many_senders);
    TU_RUN(test_two_receivers_one_fd);
    TU_RUN(test_destroy_wakes_all);
    TU_RUN(test_poll_mix);
    TU_RUN(test_poll_sleeps);
    TU_RUN(test_poll_hup_killed_timeout0);
    TU_RUN(test_poll_hup_drain);
    TU_RUN(test_poll_bad_input);
    TU_RUN(test_lost_wakeup_named);
    TU_RUN(test_lost_wakeup_named_nospin);
    TU_RUN(test_lost_wakeup_anon);
    TU_RUN(test_lost_wakeup_anon_nospin);
    return tu_failures > 0;
}
