/*
 * test_channel_crash.c - peer death on channels and ports (issue 3, points
 * 2, 8 and 10).  When one end closes, exits or is SIGKILLed, the other
 * end's blocked receive, blocked send (full channel) and blocked
 * ipcx_call() return -EPIPE promptly, after draining what was sent, and so
 * do its later calls; the measured latencies are printed (the issue asks
 * for 100 ms; the asserted bound is a generous 2 s, since the machine may
 * be loaded).  Also: a peer killed in the middle of writing a message; a
 * server with several clients dying; the epoll descriptor turning readable;
 * a stale port left by a killed server; a port closed (or its server
 * killed) while a client waits to be accepted.
 *
 * The parent of each case holds no ipcx handle: it only forks, watches
 * and kills, so no descriptor of a channel outlives its owner by being
 * inherited.
 */
#include "chanutil.h"

#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel/channel.h"

#define BOUND      TC_BOUND
#define BLOCK      IPCX_SEC(20) /* how long a waiter blocks if not woken */
#define LATENCY_OK 2000         /* ms: the asserted bound (goal: 100) */

/* ---- helpers ---- */

static const char *top_ns;

static void sub_ns(const char *name)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", top_ns, name);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(setenv("IPCX_DIR", dir, 1) == 0);
}

/* The scheduler state of thread TID of process PID ('S': asleep). */
static char task_state(pid_t pid, pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return '?';
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' ? p[2] : '?';
}

/* Wait until thread TID of PID sleeps (twice in a row, 20 ms apart): it
 * is blocked in the call, past its spinning. */
static void wait_asleep(pid_t pid, pid_t tid)
{
    for (int i = 0; i < 5000; i++) {
        if (task_state(pid, tid) == 'S') {
            tu_pause_ms(20);
            if (task_state(pid, tid) == 'S') {
                return;
            }
        }
        tu_pause_ms(1);
    }
    fprintf(stderr, "thread %d of %d never went to sleep\n", (int)tid,
            (int)pid);
    exit(1);
}

static void send_seq(ipcx_channel *ch, uint32_t v, int64_t timeout)
{
    CHECK_RC(ipcx_channel_send(ch, &v, sizeof v, timeout), 0);
}

/* Everything a gone peer leaves: -EPIPE for receives, sends, calls and
 * replies, again and again. */
static void expect_all_epipe(ipcx_channel *ch)
{
    char buf[64];
    for (int i = 0; i < 2; i++) {
        CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, 0), -EPIPE);
        CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, BOUND), -EPIPE);
        CHECK_RC(ipcx_channel_send(ch, "x", 1, 0), -EPIPE);
        CHECK_RC(ipcx_channel_send(ch, "x", 1, BOUND), -EPIPE);
        CHECK_RC(ipcx_call(ch, "q", 1, buf, sizeof buf, BOUND), -EPIPE);
        CHECK_RC(ipcx_channel_reply(ch, 1, "r", 1, BOUND), -EPIPE);
    }
    CHECK(ipcx_last_error()[0] != '\0');
}

/* ---- one waiter, one victim ---- */

enum op { OP_RECV, OP_SEND, OP_CALL, OP_CALL_QUEUED };
enum how { HOW_CLOSE, HOW_EXIT, HOW_KILL };
static const char *op_names[] = {"recv", "send (full channel)",
                                 "ipcx_call (request taken)",
                                 "ipcx_call (request queued)"};
static const char *how_names[] = {"closes the channel", "exits",
                                  "is SIGKILLed"};

struct sh {
    _Atomic int waiter_ready; /* the waiter is about to block */
    _Atomic int victim_ready; /* the victim is ready to go */
    _Atomic int go;           /* the victim may go now */
    _Atomic int done;         /* the waiter is done: the victim may end */
    _Atomic pid_t tid[8];
    _Atomic int nthreads;
    _Atomic long long t_event; /* when the victim went (CLOCK_MONOTONIC) */
    _Atomic long long t_woke[8];
    _Atomic long rc[8];
};
static struct sh *sh;

struct plan {
    enum op op;
    enum how how;
    int waiter_is_server;
};

/* Block in PLAN's operation; record when it returned and what with. */
static void block_and_record(ipcx_channel *ch, enum op op, int slot)
{
    char buf[64];
    atomic_store(&sh->tid[slot], gettid());
    long rc;
    switch (op) {
    case OP_RECV:
        rc = ipcx_channel_recv(ch, buf, sizeof buf, BLOCK);
        break;
    case OP_SEND:
        rc = ipcx_channel_send(ch, "blocked", 8, BLOCK);
        break;
    default:
        rc = ipcx_call(ch, "request", 8, buf, sizeof buf, BLOCK);
        break;
    }
    atomic_store(&sh->t_woke[slot], tu_now_ns());
    atomic_store(&sh->rc[slot], rc);
}

static int waiter(ipcx_channel *ch, const struct plan *pl)
{
    if (pl->op == OP_SEND) {
        /* Fill our direction: the next send must wait. */
        uint32_t n = 0;
        while (ipcx_channel_send(ch, &n, sizeof n, 0) == 0) {
            n++;
        }
        CHECK(n == 4);
    }
    atomic_store(&sh->nthreads, 1);
    atomic_store(&sh->waiter_ready, 1);
    block_and_record(ch, pl->op, 0);
    /* Later calls fail at once too. */
    expect_all_epipe(ch);
    ipcx_channel_close(ch);
    return 0;
}

static void victim(ipcx_channel *ch, const struct plan *pl)
{
    if (pl->op == OP_CALL) {
        char buf[64];
        ipcx_channel_msg_info info;
        CHECK_RC(ipcx_channel_recv_ex(ch, buf, sizeof buf, BOUND, &info), 8);
        CHECK(info.token != 0); /* taken, never answered */
    }
    atomic_store(&sh->victim_ready, 1);
    if (pl->how == HOW_KILL) {
        pause(); /* the parent kills us */
        _exit(99);
    }
    tc_wait_step(&sh->go, 1);
    atomic_store(&sh->t_event, tu_now_ns());
    if (pl->how == HOW_EXIT) {
        _exit(0); /* without closing anything */
    }
    ipcx_channel_close(ch);
    tc_wait_step(&sh->done, 1); /* alive: the close alone must do */
}

static int crash_server(void *arg)
{
    const struct plan *pl = arg;
    ipcx_port *p = tc_listen("crash", 4, 64, 0);
    ipcx_channel *ch = tc_accept(p);
    if (pl->waiter_is_server) {
        return waiter(ch, pl);
    }
    victim(ch, pl);
    return 0;
}

static int crash_client(void *arg)
{
    const struct plan *pl = arg;
    ipcx_channel *ch = tc_connect("crash");
    if (!pl->waiter_is_server) {
        return waiter(ch, pl);
    }
    victim(ch, pl);
    return 0;
}

/* The victim goes at t_event; report and bound how long the waiter's
 * threads took to notice. */
static void report_latency(const char *what)
{
    long long t0 = atomic_load(&sh->t_event);
    for (int i = 0; i < atomic_load(&sh->nthreads); i++) {
        long rc = atomic_load(&sh->rc[i]);
        double ms = (double)(atomic_load(&sh->t_woke[i]) - t0) / 1e6;
        printf("peer death: %s%s: %s after %.2f ms\n", what,
               atomic_load(&sh->nthreads) > 1 ? " (one of several threads)"
                                              : "",
               rc == -EPIPE ? "-EPIPE" : ipcx_strerror((int)rc), ms);
        CHECK_RC(rc, -EPIPE);
        CHECK(ms >= 0 && ms < LATENCY_OK);
    }
}

/* Let the victim go once every waiting thread sleeps. */
static void strike(pid_t w, pid_t v, enum how how)
{
    tc_wait_step(&sh->waiter_ready, 1);
    tc_wait_step(&sh->victim_ready, 1);
    for (int i = 0; i < atomic_load(&sh->nthreads); i++) {
        while (atomic_load(&sh->tid[i]) == 0) {
            tu_pause_ms(1);
        }
        wait_asleep(w, atomic_load(&sh->tid[i]));
    }
    if (how == HOW_KILL) {
        atomic_store(&sh->t_event, tu_now_ns());
        CHECK(kill(v, SIGKILL) == 0);
    } else {
        atomic_store(&sh->go, 1);
    }
}

static void run_case(const struct plan *pl)
{
    memset(sh, 0, sizeof *sh);
    pid_t s = tc_spawn(crash_server, (void *)pl);
    pid_t c = tc_spawn(crash_client, (void *)pl);
    pid_t w = pl->waiter_is_server ? s : c, v = pl->waiter_is_server ? c : s;
    strike(w, v, pl->how);
    CHECK(tu_wait(w) == 0);
    char what[160];
    snprintf(what, sizeof what, "%s blocked in %s, %s %s",
             pl->waiter_is_server ? "server" : "client", op_names[pl->op],
             pl->waiter_is_server ? "client" : "server", how_names[pl->how]);
    report_latency(what);
    atomic_store(&sh->done, 1);
    int vrc = tu_wait(v);
    CHECK(vrc == (pl->how == HOW_KILL ? 128 + SIGKILL : 0));
}

static void test_blocked_recv(void)
{
    sub_ns(__func__);
    for (int how = HOW_CLOSE; how <= HOW_KILL; how++) {
        for (int ws = 0; ws < 2; ws++) {
            struct plan pl = {OP_RECV, (enum how)how, ws};
            run_case(&pl);
        }
    }
}

static void test_blocked_send(void)
{
    sub_ns(__func__);
    for (int how = HOW_CLOSE; how <= HOW_KILL; how++) {
        for (int ws = 0; ws < 2; ws++) {
            struct plan pl = {OP_SEND, (enum how)how, ws};
            run_case(&pl);
        }
    }
}

/* The server takes the request (or not) and goes without answering. */
static void test_blocked_call(void)
{
    sub_ns(__func__);
    for (int how = HOW_CLOSE; how <= HOW_KILL; how++) {
        struct plan pl = {OP_CALL, (enum how)how, 0};
        run_case(&pl);
    }
    struct plan queued = {OP_CALL_QUEUED, HOW_KILL, 0};
    run_case(&queued);
    /* A server may call its client too. */
    struct plan reverse = {OP_CALL, HOW_KILL, 1};
    run_case(&reverse);
}

/* ---- several threads of the waiter at once ---- */

#define MT_THREADS 6

struct mt_arg {
    ipcx_channel *ch;
    int slot;
    enum op op;
};

static void *mt_thread(void *arg)
{
    struct mt_arg *a = arg;
    block_and_record(a->ch, a->op, a->slot);
    return NULL;
}

static int mt_server(void *arg)
{
    ipcx_port *p = tc_listen("mt", 8, 64, 0);
    ipcx_channel *ch = tc_accept(p);
    (void)ch;
    atomic_store(&sh->victim_ready, 1);
    pause(); /* killed */
    return 99;
}

static int mt_client(void *arg)
{
    ipcx_channel *ch = tc_connect("mt");
    /* Two callers waiting for replies, two receivers, and two senders on
     * a channel the main thread filled once the requests were in. */
    pthread_t t[MT_THREADS];
    struct mt_arg a[MT_THREADS];
    static const enum op ops[MT_THREADS] = {OP_CALL, OP_CALL, OP_RECV,
                                            OP_RECV, OP_SEND, OP_SEND};
    atomic_store(&sh->nthreads, MT_THREADS);
    for (int i = 0; i < MT_THREADS; i++) {
        a[i] = (struct mt_arg){ch, i, ops[i]};
        if (i == 2) {
            for (int k = 0; k < 2; k++) {
                while (atomic_load(&sh->tid[k]) == 0) {
                    tu_pause_ms(1);
                }
                wait_asleep(getpid(), atomic_load(&sh->tid[k]));
            }
            uint32_t n = 0;
            while (ipcx_channel_send(ch, &n, sizeof n, 0) == 0) {
                n++;
            }
            CHECK(n == 6);
        }
        CHECK(pthread_create(&t[i], NULL, mt_thread, &a[i]) == 0);
    }
    atomic_store(&sh->waiter_ready, 1);
    for (int i = 0; i < MT_THREADS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
    }
    ipcx_channel_close(ch);
    return 0;
}

/* Receivers, callers and senders blocked in several threads of one
 * process all return -EPIPE when the peer is killed, not just the thread
 * that happened to be polling the socket. */
static void test_many_threads_blocked(void)
{
    sub_ns(__func__);
    memset(sh, 0, sizeof *sh);
    pid_t s = tc_spawn(mt_server, NULL);
    pid_t c = tc_spawn(mt_client, NULL);
    strike(c, s, HOW_KILL);
    CHECK(tu_wait(c) == 0);
    report_latency("client threads blocked in recv, call and send, server "
                   "is SIGKILLed");
    CHECK(tu_wait(s) == 128 + SIGKILL);
}

/* ---- what was sent before is received first ---- */

#define DRAIN_N 50

struct drain_plan {
    enum how how;
    int sender_is_server;
    int waiter_first; /* the receiver is already receiving */
};

static void drain_sender(ipcx_channel *ch, const struct drain_plan *dp)
{
    /* More than the channel holds when the receiver is there. */
    uint32_t n = dp->waiter_first ? 1000 : DRAIN_N;
    for (uint32_t i = 0; i < n; i++) {
        send_seq(ch, i, BOUND);
    }
    if (dp->how == HOW_CLOSE) {
        ipcx_channel_close(ch);
    }
    atomic_store(&sh->victim_ready, 1);
    if (dp->how == HOW_KILL) {
        pause();
        _exit(99);
    }
    if (dp->how == HOW_EXIT) {
        _exit(0);
    }
    tc_wait_step(&sh->done, 1);
}

static void drain_receiver(ipcx_channel *ch, const struct drain_plan *dp)
{
    uint32_t n = dp->waiter_first ? 1000 : DRAIN_N;
    if (!dp->waiter_first) {
        tc_wait_step(&sh->go, 1); /* the sender is gone */
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = UINT32_MAX;
        long rc = ipcx_channel_recv(ch, &v, sizeof v, BOUND);
        if (rc != sizeof v || v != i) {
            fprintf(stderr, "drain #%u: rc %ld (%s), value %u\n", i, rc,
                    rc < 0 ? ipcx_strerror((int)rc) : "", v);
            exit(1);
        }
    }
    /* Then -EPIPE: at once if the sender is gone, else when it goes. */
    uint32_t v;
    CHECK_RC(ipcx_channel_recv(ch, &v, sizeof v, BOUND), -EPIPE);
    expect_all_epipe(ch);
    ipcx_channel_close(ch);
}

static int drain_server(void *arg)
{
    const struct drain_plan *dp = arg;
    ipcx_port *p = tc_listen("drain", 64, 64, 0);
    ipcx_channel *ch = tc_accept(p);
    if (dp->sender_is_server) {
        drain_sender(ch, dp);
    } else {
        drain_receiver(ch, dp);
    }
    return 0;
}

static int drain_client(void *arg)
{
    const struct drain_plan *dp = arg;
    ipcx_channel *ch = tc_connect("drain");
    if (dp->sender_is_server) {
        drain_receiver(ch, dp);
    } else {
        drain_sender(ch, dp);
    }
    return 0;
}

/* Messages sent before the sender closed, exited or was killed are all
 * received, in order, before -EPIPE; whether the receiver looks only
 * afterwards or was receiving all along. */
static void test_drain_before_epipe(void)
{
    sub_ns(__func__);
    for (int how = HOW_CLOSE; how <= HOW_KILL; how++) {
        for (int ss = 0; ss < 2; ss++) {
            for (int wf = 0; wf < 2; wf++) {
                memset(sh, 0, sizeof *sh);
                struct drain_plan dp = {(enum how)how, ss, wf};
                pid_t s = tc_spawn(drain_server, &dp);
                pid_t c = tc_spawn(drain_client, &dp);
                pid_t tx = ss ? s : c, rx = ss ? c : s;
                tc_wait_step(&sh->victim_ready, 1);
                if (how == HOW_KILL) {
                    CHECK(kill(tx, SIGKILL) == 0);
                }
                if (how != HOW_CLOSE) {
                    CHECK(tu_wait(tx) == (how == HOW_KILL ? 128 + SIGKILL : 0));
                }
                atomic_store(&sh->go, 1);
                CHECK(tu_wait(rx) == 0);
                atomic_store(&sh->done, 1);
                if (how == HOW_CLOSE) {
                    CHECK(tu_wait(tx) == 0);
                }
            }
        }
    }
}

/* ---- killed in the middle of writing ---- */

static int midwrite_server(void *arg)
{
    ipcx_port *p = tc_listen("midwrite", 4, 64, 0);
    ipcx_channel *ch = tc_accept(p);
    for (uint32_t i = 0; i < 2; i++) {
        send_seq(ch, i, BOUND);
    }
    /* Claim the next slot and never publish it, as a sender killed in the
     * middle of its copy would. */
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_claim(&ch->out, (uint32_t)ch->end + 1, &ref), 0);
    atomic_store(&sh->victim_ready, 1);
    pause();
    return 99;
}

static int midwrite_client(void *arg)
{
    ipcx_channel *ch = tc_connect("midwrite");
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t v;
        CHECK_RC(ipcx_channel_recv(ch, &v, sizeof v, BOUND), sizeof v);
        CHECK(v == i);
    }
    atomic_store(&sh->nthreads, 1);
    atomic_store(&sh->waiter_ready, 1);
    block_and_record(ch, OP_RECV, 0);
    expect_all_epipe(ch);
    ipcx_channel_close(ch);
    return 0;
}

/* A server killed between claiming a slot and publishing it: the client,
 * blocked behind the half-written message, still gets -EPIPE promptly. */
static void test_killed_mid_write(void)
{
    sub_ns(__func__);
    memset(sh, 0, sizeof *sh);
    pid_t s = tc_spawn(midwrite_server, NULL);
    pid_t c = tc_spawn(midwrite_client, NULL);
    strike(c, s, HOW_KILL);
    CHECK(tu_wait(c) == 0);
    report_latency("client blocked behind a half-written message, server is "
                   "SIGKILLed");
    CHECK(tu_wait(s) == 128 + SIGKILL);
}

/* ---- a server with several clients ---- */

#define FAN 3

static int fan_server(void *arg)
{
    ipcx_port *p = tc_listen("fan", 4, 64, 0);
    ipcx_channel *ch[FAN];
    for (int i = 0; i < FAN; i++) {
        ch[i] = tc_accept(p);
    }
    (void)ch;
    atomic_store(&sh->victim_ready, 1);
    pause();
    return 99;
}

static int fan_client(void *arg)
{
    int slot = (int)(intptr_t)arg;
    ipcx_channel *ch = tc_connect("fan");
    block_and_record(ch, OP_RECV, slot);
    CHECK_RC(atomic_load(&sh->rc[slot]), -EPIPE);
    ipcx_channel_close(ch);
    return 0;
}

/* A killed server with three clients: all three notice. */
static void test_server_with_clients_killed(void)
{
    sub_ns(__func__);
    memset(sh, 0, sizeof *sh);
    pid_t s = tc_spawn(fan_server, NULL);
    pid_t c[FAN];
    for (intptr_t i = 0; i < FAN; i++) {
        c[i] = tc_spawn(fan_client, (void *)i);
    }
    tc_wait_step(&sh->victim_ready, 1);
    for (int i = 0; i < FAN; i++) {
        while (atomic_load(&sh->tid[i]) == 0) {
            tu_pause_ms(1);
        }
        wait_asleep(c[i], atomic_load(&sh->tid[i]));
    }
    atomic_store(&sh->t_event, tu_now_ns());
    CHECK(kill(s, SIGKILL) == 0);
    for (int i = 0; i < FAN; i++) {
        CHECK(tu_wait(c[i]) == 0);
    }
    atomic_store(&sh->nthreads, FAN);
    report_latency("each of 3 clients blocked in recv, their server is "
                   "SIGKILLed");
    CHECK(tu_wait(s) == 128 + SIGKILL);
}

/* ---- the epoll descriptor ---- */

static int fdwatch_server(void *arg)
{
    ipcx_port *p = tc_listen("fdwatch", 4, 64, 0);
    ipcx_channel *ch = tc_accept(p);
    int fd = ipcx_channel_fd(ch);
    CHECK(fd >= 0);
    char buf[64];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, BOUND), 6);
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, 0), -EAGAIN);
    struct pollfd pf = {fd, POLLIN, 0};
    CHECK(poll(&pf, 1, 0) == 0); /* nothing yet */
    atomic_store(&sh->nthreads, 1);
    atomic_store(&sh->tid[0], gettid());
    atomic_store(&sh->waiter_ready, 1);
    int n = poll(&pf, 1, (int)(BLOCK / 1000000));
    atomic_store(&sh->t_woke[0], tu_now_ns());
    CHECK(n == 1 && (pf.revents & POLLIN));
    /* Readable because the peer is gone: the receive says so. */
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, 0), -EPIPE);
    atomic_store(&sh->rc[0], -EPIPE);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    return 0;
}

static int fdwatch_client(void *arg)
{
    ipcx_channel *ch = tc_connect("fdwatch");
    CHECK_RC(ipcx_channel_send(ch, "hello", 6, BOUND), 0);
    atomic_store(&sh->victim_ready, 1);
    pause();
    return 99;
}

/* The descriptor of ipcx_channel_fd() becomes readable when the peer is
 * killed, and the receive then answers -EPIPE. */
static void test_fd_readable_on_death(void)
{
    sub_ns(__func__);
    memset(sh, 0, sizeof *sh);
    pid_t s = tc_spawn(fdwatch_server, NULL);
    pid_t c = tc_spawn(fdwatch_client, NULL);
    strike(s, c, HOW_KILL);
    CHECK(tu_wait(s) == 0);
    report_latency("server polling the channel's fd, client is SIGKILLed");
    CHECK(tu_wait(c) == 128 + SIGKILL);
}

/* ---- ports ---- */

static int stale_server(void *arg)
{
    ipcx_port *p = tc_listen("stale", 4, 64, 0);
    (void)p;
    atomic_store(&sh->victim_ready, 1);
    pause();
    return 99;
}

struct names {
    int n;
    int stale;
};

static int count_names(const char *name, void *arg)
{
    struct names *ns = arg;
    ns->n++;
    ns->stale += strcmp(name, "stale") == 0;
    return 0;
}

static int stale_client(void *arg)
{
    ipcx_channel *ch = tc_connect("stale");
    CHECK_RC(ipcx_channel_send(ch, "new server?", 12, BOUND), 0);
    char buf[64];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, BOUND), 4);
    CHECK(strcmp(buf, "yes") == 0);
    ipcx_channel_close(ch);
    return 0;
}

/* A server SIGKILLed leaves its port file: connecting answers
 * -ECONNREFUSED at once (no hang), and the next listen replaces it. */
static void test_stale_port(void)
{
    sub_ns(__func__);
    memset(sh, 0, sizeof *sh);
    pid_t s = tc_spawn(stale_server, NULL);
    tc_wait_step(&sh->victim_ready, 1);
    CHECK(kill(s, SIGKILL) == 0);
    CHECK(tu_wait(s) == 128 + SIGKILL);
    char path[512];
    snprintf(path, sizeof path, "%s/stale.port", getenv("IPCX_DIR"));
    struct stat st0, st1;
    CHECK(lstat(path, &st0) == 0 && S_ISSOCK(st0.st_mode));
    ipcx_channel *ch = NULL;
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_connect("stale", BOUND, &ch), -ECONNREFUSED);
    CHECK_RC(ipcx_connect("stale", 0, &ch), -ECONNREFUSED);
    CHECK((tu_now_ns() - t0) / 1000000 < LATENCY_OK);
    CHECK(ch == NULL);

    ipcx_port *p = tc_listen("stale", 4, 64, 0);
    CHECK(lstat(path, &st1) == 0 && S_ISSOCK(st1.st_mode));
    CHECK(st1.st_ino != st0.st_ino);
    struct names ns = {0, 0};
    CHECK_RC(ipcx_port_list(count_names, &ns), 0);
    CHECK(ns.n == 1 && ns.stale == 1);
    pid_t c = tc_spawn(stale_client, NULL);
    ch = tc_accept(p);
    char buf[64];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, BOUND), 12);
    CHECK_RC(ipcx_channel_send(ch, "yes", 4, BOUND), 0);
    CHECK(tu_wait(c) == 0);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    CHECK(lstat(path, &st1) < 0 && errno == ENOENT);
}

static int pending_server(void *arg)
{
    enum how how = (enum how)(intptr_t)arg;
    ipcx_port *p = tc_listen("pending", 4, 64, 0);
    atomic_store(&sh->victim_ready, 1);
    if (how == HOW_KILL) {
        pause();
        _exit(99);
    }
    tc_wait_step(&sh->go, 1);
    atomic_store(&sh->t_event, tu_now_ns());
    if (how == HOW_EXIT) {
        _exit(0);
    }
    ipcx_port_close(p); /* never accepted anyone */
    tc_wait_step(&sh->done, 1);
    return 0;
}

static int pending_client(void *arg)
{
    tc_wait_step(&sh->victim_ready, 1);
    ipcx_channel *ch = NULL;
    atomic_store(&sh->tid[0], gettid());
    atomic_store(&sh->nthreads, 1);
    atomic_store(&sh->waiter_ready, 1);
    long rc = ipcx_connect("pending", BLOCK, &ch);
    atomic_store(&sh->t_woke[0], tu_now_ns());
    atomic_store(&sh->rc[0], rc);
    CHECK(ch == NULL);
    return 0;
}

/* A client waiting to be accepted when the port is closed, or its server
 * exits or is killed, gets -ECONNRESET promptly rather than hanging. */
static void test_port_gone_while_connecting(void)
{
    sub_ns(__func__);
    for (int how = HOW_CLOSE; how <= HOW_KILL; how++) {
        memset(sh, 0, sizeof *sh);
        pid_t s = tc_spawn(pending_server, (void *)(intptr_t)how);
        pid_t c = tc_spawn(pending_client, NULL);
        strike(c, s, (enum how)how);
        CHECK(tu_wait(c) == 0);
        long rc = atomic_load(&sh->rc[0]);
        double ms =
            (double)(atomic_load(&sh->t_woke[0]) - atomic_load(&sh->t_event)) /
            1e6;
        printf("client waiting to be accepted, server %s: %s after %.2f ms\n",
               how == HOW_CLOSE ? "closes the port" : how_names[how],
               ipcx_strerror((int)rc), ms);
        CHECK_RC(rc, -ECONNRESET);
        CHECK(ms >= 0 && ms < LATENCY_OK);
        atomic_store(&sh->done, 1);
        CHECK(tu_wait(s) == (how == HOW_KILL ? 128 + SIGKILL : 0));
    }
}

/* ---- a child of the server keeps nothing alive ---- */

static int forking_server(void *arg)
{
    ipcx_port *p = tc_listen("forker", 4, 64, 0);
    ipcx_channel *ch = tc_accept(p);
    (void)ch;
    /* A helper process that has nothing to do with ipcx (a worker, or a
     * child about to exec). */
    pid_t helper = fork();
    CHECK(helper >= 0);
    if (helper == 0) {
        sleep(30);
        _exit(0);
    }
    atomic_store(&sh->rc[7], helper);
    atomic_store(&sh->victim_ready, 1);
    pause();
    ipcx_port_close(p);
    return 99;
}

static int forker_client(void *arg)
{
    ipcx_channel *ch = tc_connect("forker");
    atomic_store(&sh->nthreads, 1);
    atomic_store(&sh->waiter_ready, 1);
    block_and_record(ch, OP_RECV, 0);
    ipcx_channel_close(ch);
    return 0;
}

/* A server that forked a helper after accepting, then was killed: the
 * helper inherited the channel's socket and the listening socket, yet the
 * client must notice that its server is gone, and the port must count as
 * stale (-ECONNREFUSED, not a connection nobody will ever accept). */
static void test_server_forked_then_killed(void)
{
    sub_ns(__func__);
    memset(sh, 0, sizeof *sh);
    pid_t s = tc_spawn(forking_server, NULL);
    pid_t c = tc_spawn(forker_client, NULL);
    strike(c, s, HOW_KILL);
    CHECK(tu_wait(s) == 128 + SIGKILL);
    /* The helper holds copies of the server's descriptors (fork() copies
     * them all; only exec closes them): the channel's socket, the port's
     * listening socket and its name lock.  The client must notice the
     * death anyway (the peer's pid is watched too). */
    long long t0 = tu_now_ns();
    while (atomic_load(&sh->t_woke[0]) == 0 && tu_now_ns() - t0 < IPCX_SEC(3)) {
        tu_pause_ms(5);
    }
    int noticed = atomic_load(&sh->t_woke[0]) != 0;
    ipcx_channel *ch = NULL;
    int port_rc = ipcx_connect("forker", 0, &ch);
    ipcx_port *np = NULL;
    int listen_rc = ipcx_port_listen("forker", NULL, &np);
    ipcx_port_close(np);
    pid_t helper = (pid_t)atomic_load(&sh->rc[7]);
    CHECK(kill(helper, SIGKILL) == 0); /* frees the client either way */
    CHECK(tu_wait(c) == 0);
    if (!noticed) {
        fprintf(stderr, "client did not notice its server's death while "
                        "the server's forked helper lived\n");
    }
    printf("dead server's port, its forked helper alive: connect answered "
           "%s, listen %s\n",
           ipcx_strerror(port_rc), ipcx_strerror(listen_rc));
    CHECK(noticed);
    /* Known limit (docs/design.md): the helper inherited the listening
     * socket and the name lock, so to the kernel the port is live.  What
     * must hold is that a client fails rather than hangs. */
    CHECK(port_rc == -ECONNREFUSED || port_rc == -EAGAIN ||
          port_rc == -ETIMEDOUT);
    CHECK(listen_rc == 0 || listen_rc == -EEXIST);
    report_latency("client blocked in recv, server (with a forked helper) "
                   "is SIGKILLed");
}

/* ---- a client in another pid namespace ---- */

struct sh_pidns {
    _Atomic pid_t server;   /* the server's pid (in our namespace) */
    _Atomic int skip;       /* the kernel would not let us set it up */
    _Atomic int decoy_gone; /* the decoy has exited and been reaped */
    _Atomic int done;
    _Atomic long rc; /* the client's receive */
};
static struct sh_pidns *shp;

static int pidns_server(void *arg)
{
    ipcx_port *p = tc_listen("pidns", 4, 64, 0);
    atomic_store(&shp->server, getpid());
    ipcx_channel *ch = tc_accept(p);
    tc_wait_step(&shp->decoy_gone, 1);
    tu_pause_ms(200);
    /* (-EPIPE if the client wrongly gave up on us: checked by the
     * parent through the client's result.) */
    (void)ipcx_channel_send(ch, "still here", 11, BOUND);
    tc_wait_step(&shp->done, 1);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    return 0;
}

/* Pid 1 of a new pid namespace: a decoy gets the number that is the
 * server's pid outside; then we connect, and the decoy exits. */
static int pidns_init(void)
{
    CHECK(getpid() == 1);
    while (atomic_load(&shp->server) == 0) {
        tu_pause_ms(1);
    }
    pid_t target = atomic_load(&shp->server);
    FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
    if (f == NULL || fprintf(f, "%d", (int)target - 1) < 0 || fclose(f)) {
        atomic_store(&shp->skip, 1);
        return 0;
    }
    int go[2];
    CHECK(pipe(go) == 0);
    pid_t decoy = fork();
    CHECK(decoy >= 0);
    if (decoy == 0) {
        char c;
        (void)!read(go[0], &c, 1); /* until told to go */
        _exit(0);
    }
    if (decoy != target) {
        atomic_store(&shp->skip, 1);
        CHECK(write(go[1], "x", 1) == 1);
        CHECK(tu_wait(decoy) == 0);
        return 0;
    }
    ipcx_channel *ch = tc_connect("pidns");
    CHECK(write(go[1], "x", 1) == 1);
    CHECK(tu_wait(decoy) == 0);
    atomic_store(&shp->decoy_gone, 1);
    char buf[64];
    atomic_store(&shp->rc, ipcx_channel_recv(ch, buf, sizeof buf, BOUND));
    atomic_store(&shp->done, 1);
    ipcx_channel_close(ch);
    return 0;
}

static int pidns_client(void *arg)
{
    if (unshare(CLONE_NEWPID) != 0) {
        atomic_store(&shp->skip, 1);
        return 0;
    }
    pid_t init = fork(); /* pid 1 of the new namespace */
    CHECK(init >= 0);
    if (init == 0) {
        CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0);
        _exit(pidns_init());
    }
    return tu_wait(init);
}

/* A client in a pid namespace of its own (a container) talks to a server
 * outside: the death of an unrelated process of the client's namespace
 * that happens to carry the server's pid number is not its server's. */
static void test_client_in_pid_namespace(void)
{
    sub_ns(__func__);
    if (geteuid() != 0) {
        printf("test_client_in_pid_namespace: not root, skipped\n");
        return;
    }
    shp = tu_shared_map(sizeof *shp);
    pid_t s = tc_spawn(pidns_server, NULL);
    pid_t c = tc_spawn(pidns_client, NULL);
    int crc = tu_wait(c);
    if (atomic_load(&shp->skip)) {
        printf("test_client_in_pid_namespace: no pid namespace, skipped\n");
        kill(s, SIGKILL);
        tu_wait(s);
        return;
    }
    CHECK(crc == 0);
    CHECK(tu_wait(s) == 0);
    long rc = atomic_load(&shp->rc);
    /* The client must watch its server by SO_PEERCRED's pid, which the
     * kernel translates (here: 0, invisible), not by a number the server
     * sent (fixed in 25d2039: the hello's pid, read in the client's
     * namespace, named the decoy, whose exit looked like the server's). */
    if (rc != 11) {
        fprintf(stderr,
                "client in a pid namespace: recv %ld (%s) while its "
                "server was alive\n",
                rc, rc < 0 ? ipcx_strerror((int)rc) : "");
    }
    CHECK(rc == 11);
}

int main(void)
{
    top_ns = tu_private_ns();
    setvbuf(stdout, NULL, _IOLBF, 0);
    sh = tu_shared_map(sizeof *sh);
    TU_RUN(test_blocked_recv);
    TU_RUN(test_blocked_send);
    TU_RUN(test_blocked_call);
    TU_RUN(test_many_threads_blocked);
    TU_RUN(test_drain_before_epipe);
    TU_RUN(test_killed_mid_write);
    TU_RUN(test_server_with_clients_killed);
    TU_RUN(test_fd_readable_on_death);
    TU_RUN(test_stale_port);
    TU_RUN(test_port_gone_while_connecting);
    TU_RUN(test_server_forked_then_killed);
    TU_RUN(test_client_in_pid_namespace);
    return tu_failures > 0;
}
