/*
 * test_policy.c - the receiver policies of M3 between real processes:
 * ANY (each message to exactly one receiver, delivery receipts naming it),
 * EXCLUSIVE (one transferable receive right, released on close, release or
 * death), PAIR (at most two processes).
 *
 * Peers are "agents": forked processes that run one mailbox call per command
 * read from a pipe and write the result back, so the parent can script
 * exactly who does what, in which order, and kill any of them.
 */
#include "testutil.h"

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

/* ---- agents ------------------------------------------------------------- */

enum op {
    OP_OPEN,
    OP_CLOSE,
    OP_SEND,
    OP_SEND_RECEIPT,
    OP_RECV,
    OP_TRANSFER,
    OP_RELEASE,
    OP_EXIT,
};

#define SLOTS 4

struct cmd {
    int op;
    int slot;
    int64_t timeout;
    pid_t pid;
    uint32_t len;
    char name[64];
    char data[128];
};

struct reply {
    long rc;
    pid_t pid; /* receipt */
    uint32_t len;
    long long elapsed_ns;
    char data[128];
};

struct agent {
    pid_t pid;
    int cmd_fd;
    int reply_fd;
};

static void run_cmd(ipcx_mailbox **mbs, const struct cmd *c, struct reply *r)
{
    ipcx_mailbox **mb = &mbs[c->slot];
    long long t0 = tu_now_ns();
    switch (c->op) {
    case OP_OPEN:
        r->rc = ipcx_mailbox_open(c->name, 0, mb);
        break;
    case OP_CLOSE:
        r->rc = ipcx_mailbox_close(*mb);
        *mb = NULL;
        break;
    case OP_SEND:
        r->rc = ipcx_mailbox_send(*mb, c->data, c->len, c->timeout);
        break;
    case OP_SEND_RECEIPT:
        r->rc = ipcx_mailbox_send_ex(*mb, c->data, c->len, c->timeout,
                                     IPCX_SEND_RECEIPT, &r->pid);
        break;
    case OP_RECV:
        r->rc = ipcx_mailbox_recv(*mb, r->data, sizeof r->data, c->timeout);
        r->len = r->rc > 0 ? (uint32_t)r->rc : 0;
        break;
    case OP_TRANSFER:
        r->rc = ipcx_mailbox_transfer(*mb, c->pid);
        break;
    case OP_RELEASE:
        r->rc = ipcx_mailbox_release(*mb);
        break;
    default:
        r->rc = -ENOSYS;
    }
    r->elapsed_ns = tu_now_ns() - t0;
}

static int agent_main(void *arg)
{
    int *fds = arg; /* cmd read, reply write, cmd write, reply read */
    /* Never outlive the test: EOF on the command pipe, or its death. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(fds[2]);
    close(fds[3]);
    ipcx_mailbox *mbs[SLOTS] = {NULL};
    struct cmd c;
    while (read(fds[0], &c, sizeof c) == (ssize_t)sizeof c) {
        if (c.op == OP_EXIT) {
            break;
        }
        struct reply r;
        memset(&r, 0, sizeof r);
        if (c.slot < 0 || c.slot >= SLOTS) {
            r.rc = -ENOSYS;
        } else {
            run_cmd(mbs, &c, &r);
        }
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) {
            return 1;
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        ipcx_mailbox_close(mbs[i]);
    }
    return 0;
}

static struct agent agent_start(void)
{
    int cmd[2], rep[2];
    CHECK(pipe(cmd) == 0 && pipe(rep) == 0);
    int child_fds[4] = {cmd[0], rep[1], cmd[1], rep[0]};
    struct agent a;
    a.pid = tu_spawn(agent_main, child_fds);
    close(cmd[0]);
    close(rep[1]);
    a.cmd_fd = cmd[1];
    a.reply_fd = rep[0];
    return a;
}

static void agent_post(struct agent *a, int op, int slot, const char *s,
                       int64_t timeout, pid_t pid)
{
    struct cmd c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.slot = slot;
    c.timeout = timeout;
    c.pid = pid;
    if (op == OP_OPEN) {
        snprintf(c.name, sizeof c.name, "%s", s);
    } else if (s != NULL) {
        c.len = (uint32_t)strlen(s) + 1;
        memcpy(c.data, s, c.len);
    }
    CHECK(write(a->cmd_fd, &c, sizeof c) == (ssize_t)sizeof c);
}

static struct reply agent_reply(struct agent *a)
{
    struct pollfd p = {a->reply_fd, POLLIN, 0};
    int n = poll(&p, 1, 20000);
    if (n != 1) {
        fprintf(stderr, "agent %d did not answer within 20 s\n", (int)a->pid);
        exit(1);
    }
    struct reply r;
    CHECK(read(a->reply_fd, &r, sizeof r) == (ssize_t)sizeof r);
    return r;
}

static struct reply call(struct agent *a, int op, int slot, const char *s,
                         int64_t timeout, pid_t pid)
{
    agent_post(a, op, slot, s, timeout, pid);
    return agent_reply(a);
}

/* The agent's call must return EXPECT. */
#define AGENT_RC(a, op, slot, s, timeout, pid, expect)                         \
    CHECK_RC(call((a), (op), (slot), (s), (timeout), (pid)).rc, (expect))

/* The agent receives and must get the string WANT. */
static void agent_recv_expect(struct agent *a, int slot, int64_t timeout,
                              const char *want)
{
    struct reply r = call(a, OP_RECV, slot, NULL, timeout, 0);
    if (r.rc != (long)strlen(want) + 1 || strcmp(r.data, want) != 0) {
        fprintf(stderr, "agent %d: recv %ld '%.*s', expected '%s'\n",
                (int)a->pid, r.rc, r.rc > 0 ? (int)r.rc : 0, r.data, want);
        exit(1);
    }
}

static void agent_stop(struct agent *a)
{
    agent_post(a, OP_EXIT, 0, NULL, 0, 0);
    CHECK(tu_wait(a->pid) == 0);
    close(a->cmd_fd);
    close(a->reply_fd);
}

static void agent_kill(struct agent *a)
{
    CHECK(kill(a->pid, SIGKILL) == 0);
    CHECK(tu_wait(a->pid) == 128 + SIGKILL);
    close(a->cmd_fd);
    close(a->reply_fd);
}

static void create(const char *name, uint32_t cap, uint32_t policy)
{
    ipcx_mailbox_attr at = tu_attr(cap, 128);
    at.policy = policy;
    CHECK_RC(ipcx_mailbox_create(name, &at), 0);
}

static void send_str(ipcx_mailbox *mb, const char *s)
{
    CHECK_RC(ipcx_mailbox_send(mb, s, strlen(s) + 1, 0), 0);
}

static uint64_t depth_of(const char *name)
{
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name(name, &st), 0);
    return st.depth;
}

static pid_t holder_of(const char *name)
{
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name(name, &st), 0);
    return st.receiver;
}

/* ---- ANY: receipts -------------------------------------------------------
 */

static void test_receipt_errors(void)
{
    create("rcpt-err", 16, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open("rcpt-err");
    send_str(mb, "queued");
    pid_t who = 12345;
    CHECK_RC(ipcx_mailbox_send_ex(mb, "x", 2, 0, IPCX_SEND_RECEIPT, NULL),
             -EINVAL);
    CHECK_RC(ipcx_mailbox_send_ex(mb, "x", 2, 0, 0x2u, &who), -EINVAL);
    CHECK_RC(ipcx_mailbox_send_ex(mb, "x", 2, 0, 0x80000000u, &who), -EINVAL);
    CHECK_RC(ipcx_mailbox_send_ex(mb, "x", 2, 0, ~0u, &who), -EINVAL);
    CHECK_RC(ipcx_mailbox_send_ex(mb, "x", 2, IPCX_FOREVER,
                                  IPCX_SEND_RECEIPT | 0x4u, &who),
             -EINVAL);
    CHECK(who == 12345);
    CHECK(depth_of("rcpt-err") == 1);

    /* No receiver: nothing taken, the message is withdrawn ... */
    CHECK_RC(ipcx_mailbox_send_ex(mb, "r", 2, 0, IPCX_SEND_RECEIPT, &who),
             -EAGAIN);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_mailbox_send_ex(mb, "r", 2, IPCX_MSEC(100), IPCX_SEND_RECEIPT,
                                  &who),
             -ETIMEDOUT);
    long long dt = tu_now_ns() - t0;
    CHECK(dt >= IPCX_MSEC(90) && dt < IPCX_SEC(3));
    CHECK_RC(ipcx_mailbox_send_ex(mb, "r", 2, 0, IPCX_SEND_RECEIPT, &who),
             -EAGAIN);
    CHECK(who == 12345);
    CHECK_RC(ipcx_mailbox_send_ex(mb, "plain", 6, 0, 0, NULL), 0);

    /* No receiver ever sees a withdrawn message. */
    char buf[128];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 7);
    CHECK(strcmp(buf, "queued") == 0);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 6);
    CHECK(strcmp(buf, "plain") == 0);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);

    /* Receive rights belong to exclusive mailboxes only. */
    CHECK_RC(ipcx_mailbox_transfer(mb, getpid()), -EOPNOTSUPP);
    CHECK_RC(ipcx_mailbox_release(mb), -EOPNOTSUPP);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("rcpt-err"), 0);
}

/*
 * Withdrawn receipt messages behind a queued one.  mailbox.h: a withdrawn
 * message "no longer counts against a bounded capacity".
 */
static void test_withdrawn_bounded(void)
{
    create("wd-bounded", 4, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open("wd-bounded");
    char buf[128];
    for (int round = 0; round < 3; round++) {
        send_str(mb, "queued");
        pid_t who = 0;
        for (int i = 0; i < 3; i++) {
            CHECK_RC(
                ipcx_mailbox_send_ex(mb, "gone", 5, 0, IPCX_SEND_RECEIPT, &who),
                -EAGAIN);
        }
        /* One message queued: the other 3 places are free. */
        const char *want[] = {"queued", "one", "two", "three"};
        for (int i = 1; i < 4; i++) {
            int rc = ipcx_mailbox_send(mb, want[i], strlen(want[i]) + 1, 0);
            if (rc != 0) {
                fprintf(stderr,
                        "capacity 4, 1 message and 3 withdrawn, send %d: %d "
                        "(%s); depth %llu\n",
                        i, rc, ipcx_strerror(rc),
                        (unsigned long long)depth_of("wd-bounded"));
                exit(1);
            }
        }
        CHECK_RC(ipcx_mailbox_send(mb, "x", 2, 0), -EAGAIN);
        CHECK(depth_of("wd-bounded") == 4);
        for (int i = 0; i < 4; i++) {
            CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0),
                     strlen(want[i]) + 1);
            CHECK(strcmp(buf, want[i]) == 0);
        }
        CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    }
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("wd-bounded"), 0);
}

/* depth counts messages queued: withdrawn ones are not. */
static void test_withdrawn_depth(void)
{
    create("wd-depth", 8, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open("wd-depth");
    send_str(mb, "queued");
    pid_t who = 0;
    for (int i = 0; i < 3; i++) {
        CHECK_RC(
            ipcx_mailbox_send_ex(mb, "gone", 5, 0, IPCX_SEND_RECEIPT, &who),
            -EAGAIN);
    }
    uint64_t d = depth_of("wd-depth");
    char buf[128];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 7);
    uint64_t d2 = depth_of("wd-depth");
    if (d != 1 || d2 != 0) {
        fprintf(stderr,
                "one message and 3 withdrawn: depth %llu (expected 1); "
                "after receiving it: %llu (expected 0)\n",
                (unsigned long long)d, (unsigned long long)d2);
        exit(1);
    }
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("wd-depth"), 0);
}

/*
 * Unbounded.  mailbox.h: "a withdrawn receipt send keeps its place in that
 * memory until the receivers have passed it" - so withdrawn sends may end
 * in -ENOSPC, but are never received, and once a receiver has passed them
 * the whole ceiling is usable again.
 */
static void test_withdrawn_unbounded(void)
{
    enum { MSG = 4096 };
    const uint64_t max = 1u << 20;
    ipcx_mailbox_attr at = tu_attr(IPCX_UNBOUNDED, MSG);
    at.max_bytes = max;
    CHECK_RC(ipcx_mailbox_create("wd-unbounded", &at), 0);
    ipcx_mailbox *mb = tu_open("wd-unbounded");
    static char big[MSG];
    memset(big, 'b', sizeof big);
    for (int round = 0; round < 3; round++) {
        send_str(mb, "queued");
        pid_t who = 0;
        int withdrawn = 0, rc = 0;
        for (int i = 0; i < 1000; i++) {
            rc =
                ipcx_mailbox_send_ex(mb, "gone", 5, 0, IPCX_SEND_RECEIPT, &who);
            if (rc != -EAGAIN) {
                break;
            }
            withdrawn++;
        }
        CHECK(rc == -EAGAIN || rc == -ENOSPC);
        char buf[MSG];
        CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 7);
        CHECK(strcmp(buf, "queued") == 0);
        CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
        CHECK(depth_of("wd-unbounded") == 0);
        /* Passed: the whole ceiling is there again. */
        uint32_t n = 0;
        while ((rc = ipcx_mailbox_send(mb, big, MSG, 0)) == 0) {
            n++;
            CHECK(n <= max / MSG);
        }
        CHECK_RC(rc, -ENOSPC);
        if ((uint64_t)n * MSG < max / 2) {
            fprintf(stderr,
                    "after %d withdrawn sends were passed, only %u "
                    "messages of %d bytes fit under %llu\n",
                    withdrawn, n, MSG, (unsigned long long)max);
            exit(1);
        }
        for (uint32_t i = 0; i < n; i++) {
            CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), MSG);
            CHECK(buf[0] == 'b' && buf[MSG - 1] == 'b');
        }
        CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    }
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("wd-unbounded"), 0);
}

/* One receiver blocked at a time: the receipt must name that one. */
static void test_receipt_names_receiver(uint32_t cap)
{
    char name[32];
    snprintf(name, sizeof name, "rcpt-%u", cap);
    create(name, cap, IPCX_POLICY_ANY);
    ipcx_mailbox *mb = tu_open(name);
    struct agent ag[3];
    for (int i = 0; i < 3; i++) {
        ag[i] = agent_start();
        AGENT_RC(&ag[i], OP_OPEN, 0, name, 0, 0, 0);
    }
    for (int round = 0; round < 6; round++) {
        struct agent *a = &ag[(round * 2) % 3];
        agent_post(a, OP_RECV, 0, NULL, IPCX_SEC(20), 0);
        ipcx_mailbox_info st;
        TU_WAIT_NAME(name, st, st.recv_waiting == 1);
        char msg[32];
        snprintf(msg, sizeof msg, "receipt %d", round);
        pid_t who = 0;
        CHECK_RC(ipcx_mailbox_send_ex(mb, msg, strlen(msg) + 1, IPCX_SEC(20),
                                      IPCX_SEND_RECEIPT, &who),
                 0);
        struct reply r = agent_reply(a);
        CHECK(r.rc == (long)strlen(msg) + 1);
        CHECK(strcmp(r.data, msg) == 0);
        if (who != a->pid) {
            fprintf(stderr, "receipt names %d, receiver was %d\n", (int)who,
                    (int)a->pid);
            exit(1);
        }
        CHECK(depth_of(name) == 0);
    }
    /* A receipt from another process names this one. */
    agent_post(&ag[1], OP_SEND_RECEIPT, 0, "to parent", IPCX_SEC(20), 0);
    char buf[128];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_SEC(10)), 10);
    struct reply r = agent_reply(&ag[1]);
    CHECK_RC(r.rc, 0);
    CHECK(r.pid == getpid());
    for (int i = 0; i < 3; i++) {
        agent_stop(&ag[i]);
    }
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

/* Several receivers at once: each message to exactly one, receipts true. */
#define ANY_N         400
#define ANY_RECEIVERS 3

struct any_log {
    atomic_int who[ANY_N];   /* pid that received message i */
    atomic_int count[ANY_N]; /* how many times it was received */
    atomic_int bad;
};

static struct any_log *any_log;

static int child_any_receiver(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    const char *name = arg;
    ipcx_mailbox *mb = tu_open(name);
    for (;;) {
        uint32_t m[2];
        long n = ipcx_mailbox_recv(mb, m, sizeof m, IPCX_SEC(20));
        if (n != (long)sizeof m) {
            fprintf(stderr, "any receiver %d: recv %ld\n", (int)getpid(), n);
            return 1;
        }
        if (m[0] == UINT32_MAX) {
            break;
        }
        if (m[0] >= ANY_N || m[1] != m[0] * 40503u) {
            atomic_store(&any_log->bad, 1);
            continue;
        }
        atomic_store(&any_log->who[m[0]], (int)getpid());
        atomic_fetch_add(&any_log->count[m[0]], 1);
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_any_many_receivers(uint32_t cap, int receipts)
{
    char name[32];
    snprintf(name, sizeof name, "any-%u-%d", cap, receipts);
    create(name, cap, IPCX_POLICY_ANY);
    any_log = tu_shared_map(sizeof *any_log);
    ipcx_mailbox *mb = tu_open(name);
    pid_t pids[ANY_RECEIVERS];
    for (int i = 0; i < ANY_RECEIVERS; i++) {
        pids[i] = tu_spawn(child_any_receiver, name);
    }
    ipcx_mailbox_info st;
    TU_WAIT_NAME(name, st, st.recv_waiting >= 2);
    static pid_t receipt[ANY_N];
    for (uint32_t i = 0; i < ANY_N; i++) {
        uint32_t m[2] = {i, i * 40503u};
        if (receipts) {
            CHECK_RC(ipcx_mailbox_send_ex(mb, m, sizeof m, IPCX_SEC(20),
                                          IPCX_SEND_RECEIPT, &receipt[i]),
                     0);
            /* The receipt comes after the taking: the log is written
             * just after the receive returns, so wait for it. */
            for (int k = 0; k < 10000 && atomic_load(&any_log->count[i]) == 0;
                 k++) {
                tu_pause_ms(1);
            }
            CHECK(atomic_load(&any_log->who[i]) == receipt[i]);
        } else {
            CHECK_RC(ipcx_mailbox_send(mb, m, sizeof m, IPCX_SEC(20)), 0);
        }
    }
    /* Every message taken before the stop messages go out. */
    for (int k = 0; k < 20000; k++) {
        int total = 0;
        for (int i = 0; i < ANY_N; i++) {
            total += atomic_load(&any_log->count[i]);
        }
        if (total >= ANY_N) {
            break;
        }
        tu_pause_ms(1);
    }
    for (int i = 0; i < ANY_RECEIVERS; i++) {
        uint32_t stop[2] = {UINT32_MAX, 0};
        CHECK_RC(ipcx_mailbox_send(mb, stop, sizeof stop, IPCX_SEC(20)), 0);
    }
    for (int i = 0; i < ANY_RECEIVERS; i++) {
        CHECK(tu_wait(pids[i]) == 0);
    }
    CHECK(atomic_load(&any_log->bad) == 0);
    for (int i = 0; i < ANY_N; i++) {
        if (atomic_load(&any_log->count[i]) != 1) {
            fprintf(stderr, "message %d received %d times\n", i,
                    atomic_load(&any_log->count[i]));
            exit(1);
        }
        int known = 0;
        for (int k = 0; k < ANY_RECEIVERS; k++) {
            known += atomic_load(&any_log->who[i]) == pids[k];
        }
        CHECK(known == 1);
    }
    CHECK(depth_of(name) == 0);
    munmap(any_log, sizeof *any_log);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

/* ---- EXCLUSIVE ---------------------------------------------------------- */

static void test_exclusive(void)
{
    const char *name = "excl";
    create(name, 16, IPCX_POLICY_EXCLUSIVE);
    ipcx_mailbox *mb = tu_open(name); /* the parent only sends */
    struct agent a = agent_start(), b = agent_start(), c = agent_start();
    struct agent d = agent_start(); /* never opens the mailbox */
    AGENT_RC(&a, OP_OPEN, 0, name, 0, 0, 0);
    AGENT_RC(&b, OP_OPEN, 0, name, 0, 0, 0);
    AGENT_RC(&c, OP_OPEN, 0, name, 0, 0, 0);
    CHECK(holder_of(name) == 0);

    for (int i = 1; i <= 5; i++) {
        char m[8];
        snprintf(m, sizeof m, "m%d", i);
        send_str(mb, m);
    }
    /* The first receive takes the right. */
    agent_recv_expect(&a, 0, 0, "m1");
    CHECK(holder_of(name) == a.pid);
    AGENT_RC(&b, OP_RECV, 0, NULL, 0, 0, -EBUSY);
    struct reply r = call(&b, OP_RECV, 0, NULL, IPCX_SEC(2), 0);
    CHECK_RC(r.rc, -EBUSY);
    char buf[128];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EBUSY);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_MSEC(50)), -EBUSY);
    CHECK(depth_of(name) == 4);
    /* Others cannot give away or drop what they do not hold. */
    AGENT_RC(&b, OP_TRANSFER, 0, NULL, 0, b.pid, -EPERM);
    AGENT_RC(&b, OP_TRANSFER, 0, NULL, 0, c.pid, -EPERM);
    CHECK_RC(ipcx_mailbox_transfer(mb, b.pid), -EPERM);
    AGENT_RC(&b, OP_RELEASE, 0, NULL, 0, 0, 0);
    CHECK(holder_of(name) == a.pid);
    agent_recv_expect(&a, 0, 0, "m2");

    /* Close hands the right back; the next receiver takes it. */
    AGENT_RC(&a, OP_CLOSE, 0, NULL, 0, 0, 0);
    CHECK(holder_of(name) == 0);
    CHECK(depth_of(name) == 3);
    agent_recv_expect(&b, 0, 0, "m3");
    CHECK(holder_of(name) == b.pid);
    AGENT_RC(&c, OP_RECV, 0, NULL, 0, 0, -EBUSY);

    /* Transfer: only to a live process that has the mailbox open. */
    AGENT_RC(&b, OP_TRANSFER, 0, NULL, 0, d.pid, -ESRCH);
    AGENT_RC(&b, OP_TRANSFER, 0, NULL, 0, a.pid, -ESRCH); /* closed it */
    CHECK(holder_of(name) == b.pid);
    AGENT_RC(&b, OP_TRANSFER, 0, NULL, 0, c.pid, 0);
    CHECK(holder_of(name) == c.pid);
    AGENT_RC(&b, OP_RECV, 0, NULL, 0, 0, -EBUSY);
    AGENT_RC(&b, OP_TRANSFER, 0, NULL, 0, b.pid, -EPERM);
    agent_recv_expect(&c, 0, 0, "m4");

    /* The holder dies: the right is free at once for the survivors. */
    agent_kill(&c);
    agent_recv_expect(&b, 0, 0, "m5");
    CHECK(holder_of(name) == b.pid);

    /* Release: 0, the right is free, and the holder may take it again. */
    AGENT_RC(&b, OP_RELEASE, 0, NULL, 0, 0, 0);
    CHECK(holder_of(name) == 0);
    AGENT_RC(&b, OP_RELEASE, 0, NULL, 0, 0, 0);
    AGENT_RC(&a, OP_OPEN, 0, name, 0, 0, 0);
    send_str(mb, "m6");
    agent_recv_expect(&a, 0, 0, "m6");
    CHECK(holder_of(name) == a.pid);
    AGENT_RC(&b, OP_RECV, 0, NULL, 0, 0, -EBUSY);

    /* A holder blocked in receive keeps the right; it gets the message. */
    agent_post(&a, OP_RECV, 0, NULL, IPCX_SEC(20), 0);
    ipcx_mailbox_info st;
    TU_WAIT_NAME(name, st, st.recv_waiting == 1);
    AGENT_RC(&b, OP_RECV, 0, NULL, 0, 0, -EBUSY);
    send_str(mb, "m7");
    r = agent_reply(&a);
    CHECK(r.rc == 3 && strcmp(r.data, "m7") == 0);

    /* Transfer to a process that had it open but died: -ESRCH. */
    struct agent e = agent_start();
    AGENT_RC(&e, OP_OPEN, 0, name, 0, 0, 0);
    pid_t dead = e.pid;
    agent_kill(&e);
    AGENT_RC(&a, OP_TRANSFER, 0, NULL, 0, dead, -ESRCH);
    CHECK(holder_of(name) == a.pid);

    /* Closing the holder leaves the queued messages for the next one. */
    send_str(mb, "m8");
    send_str(mb, "m9");
    AGENT_RC(&a, OP_CLOSE, 0, NULL, 0, 0, 0);
    CHECK(depth_of(name) == 2);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 3); /* the parent */
    CHECK(strcmp(buf, "m8") == 0);
    CHECK(holder_of(name) == getpid());
    AGENT_RC(&b, OP_RECV, 0, NULL, 0, 0, -EBUSY);
    CHECK_RC(ipcx_mailbox_transfer(mb, b.pid), 0);
    agent_recv_expect(&b, 0, 0, "m9");
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EBUSY);

    /* A holder killed while blocked in receive frees the right too. */
    agent_post(&b, OP_RECV, 0, NULL, IPCX_FOREVER, 0);
    TU_WAIT_NAME(name, st, st.recv_waiting == 1);
    agent_kill(&b);
    send_str(mb, "m10");
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 4);
    CHECK(strcmp(buf, "m10") == 0);
    CHECK(holder_of(name) == getpid());

    agent_stop(&a);
    agent_stop(&d);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

/* ---- PAIR --------------------------------------------------------------- */

static void test_pair(void)
{
    const char *name = "pair";
    create(name, 4, IPCX_POLICY_PAIR);
    struct agent a = agent_start(), b = agent_start(), c = agent_start();
    ipcx_mailbox_info st;
    /* stat_name takes no place, however often. */
    for (int i = 0; i < 3; i++) {
        CHECK_RC(ipcx_mailbox_stat_name(name, &st), 0);
    }
    CHECK(st.policy == IPCX_POLICY_PAIR);
    AGENT_RC(&a, OP_OPEN, 0, name, 0, 0, 0);
    AGENT_RC(&b, OP_OPEN, 0, name, 0, 0, 0);
    CHECK_RC(ipcx_mailbox_stat_name(name, &st), 0);
    CHECK(st.nopen == 2);
    AGENT_RC(&c, OP_OPEN, 0, name, 0, 0, -EBUSY);
    ipcx_mailbox *out = NULL;
    CHECK_RC(ipcx_mailbox_open(name, 0, &out), -EBUSY);
    CHECK(out == NULL);
    CHECK(ipcx_last_error()[0] != '\0');

    /* The two talk both ways. */
    AGENT_RC(&a, OP_SEND, 0, "ping", 0, 0, 0);
    agent_recv_expect(&b, 0, 0, "ping");
    AGENT_RC(&b, OP_SEND, 0, "pong", 0, 0, 0);
    agent_recv_expect(&a, 0, 0, "pong");
    agent_post(&b, OP_RECV, 0, NULL, IPCX_SEC(20), 0);
    TU_WAIT_NAME(name, st, st.recv_waiting == 1);
    struct reply r = call(&a, OP_SEND_RECEIPT, 0, "sure?", IPCX_SEC(20), 0);
    CHECK_RC(r.rc, 0);
    CHECK(r.pid == b.pid);
    r = agent_reply(&b);
    CHECK(r.rc == 6 && strcmp(r.data, "sure?") == 0);

    AGENT_RC(&c, OP_OPEN, 0, name, 0, 0, -EBUSY);

    /* A place is freed by close ... */
    AGENT_RC(&a, OP_SEND, 0, "left behind", 0, 0, 0);
    AGENT_RC(&a, OP_CLOSE, 0, NULL, 0, 0, 0);
    AGENT_RC(&c, OP_OPEN, 0, name, 0, 0, 0);
    AGENT_RC(&a, OP_OPEN, 0, name, 0, 0, -EBUSY);
    agent_recv_expect(&c, 0, 0, "left behind");

    /* ... and by death. */
    agent_kill(&b);
    AGENT_RC(&a, OP_OPEN, 0, name, 0, 0, 0);
    CHECK_RC(ipcx_mailbox_stat_name(name, &st), 0);
    CHECK(st.nopen == 2);
    AGENT_RC(&a, OP_SEND, 0, "again", 0, 0, 0);
    agent_recv_expect(&c, 0, 0, "again");

    /* Not an exclusive mailbox. */
    AGENT_RC(&a, OP_TRANSFER, 0, NULL, 0, c.pid, -EOPNOTSUPP);
    AGENT_RC(&a, OP_RELEASE, 0, NULL, 0, 0, -EOPNOTSUPP);

    agent_stop(&a);
    agent_stop(&c);
    CHECK_RC(ipcx_mailbox_stat_name(name, &st), 0);
    CHECK(st.nopen == 0);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

/*
 * "at most two processes may have the mailbox open": a process with a
 * place may open a second handle; that takes no other process's place.
 */
static void test_pair_two_handles_one_process(void)
{
    const char *name = "pair2";
    create(name, 4, IPCX_POLICY_PAIR);
    struct agent a = agent_start(), b = agent_start();
    AGENT_RC(&a, OP_OPEN, 0, name, 0, 0, 0);
    AGENT_RC(&a, OP_OPEN, 1, name, 0, 0, 0);
    AGENT_RC(&b, OP_OPEN, 0, name, 0, 0, 0);
    AGENT_RC(&a, OP_SEND, 1, "via second", 0, 0, 0);
    agent_recv_expect(&b, 0, 0, "via second");
    AGENT_RC(&a, OP_CLOSE, 1, NULL, 0, 0, 0);
    AGENT_RC(&a, OP_SEND, 0, "via first", 0, 0, 0);
    agent_recv_expect(&b, 0, 0, "via first");
    agent_stop(&a);
    agent_stop(&b);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

static void test_receipts(void)
{
    test_receipt_names_receiver(4);
    test_receipt_names_receiver(0);
    test_receipt_names_receiver(IPCX_UNBOUNDED);
}

static void test_any(void)
{
    test_any_many_receivers(8, 0);
    test_any_many_receivers(8, 1);
    test_any_many_receivers(0, 0);
    test_any_many_receivers(IPCX_UNBOUNDED, 1);
}

int main(void)
{
    tu_private_ns();
    setvbuf(stderr, NULL, _IONBF, 0);
    TU_RUN(test_receipt_errors);
    TU_RUN(test_withdrawn_bounded);
    TU_RUN(test_withdrawn_depth);
    TU_RUN(test_withdrawn_unbounded);
    TU_RUN(test_receipts);
    TU_RUN(test_any);
    TU_RUN(test_exclusive);
    TU_RUN(test_pair);
    TU_RUN(test_pair_two_handles_one_process);
    return tu_failures > 0;
}
