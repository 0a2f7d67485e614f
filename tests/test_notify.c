/*
 * test_notify.c - the notify mailbox (SPEC K3): process exits (children and
 * others), channels whose peer closed or died, destroyed mailboxes, the
 * descriptor for event loops, and the errors.  Every peer is a real forked
 * process.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chanutil.h"
#include "notify/notify.h" /* ipcx__notify_ready(): is an event queued? */

/* Generous bounds: a healthy run is far below them. */
#define EVENT_BOUND      IPCX_SEC(10)
#define NONCHILD_BOUND   IPCX_SEC(2)
#define LATENCY_BOUND_NS 2000000000LL

static ipcx_notify *open_notify(void)
{
    ipcx_notify *n = NULL;
    CHECK_RC(ipcx_notify_open(&n), 0);
    CHECK(n != NULL);
    return n;
}

static ipcx_event recv_event(ipcx_notify *n, int64_t timeout)
{
    ipcx_event ev;
    memset(&ev, 0xa5, sizeof ev);
    CHECK_RC(ipcx_notify_recv(n, &ev, timeout), 0);
    return ev;
}

static void expect_none(ipcx_notify *n)
{
    ipcx_event ev;
    CHECK_RC(ipcx_notify_recv(n, &ev, 0), -EAGAIN);
}

/* Wait until an event is queued (without taking it). */
static void wait_queued(ipcx_notify *n)
{
    for (int i = 0; i < 10000 && !ipcx__notify_ready(n); i++) {
        tu_pause_ms(1);
    }
    CHECK(ipcx__notify_ready(n) == 1);
}

/* Wait until child PID has exited, leaving it a zombie. */
static void wait_zombie(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
    CHECK(si.si_pid == pid);
}

/* ---- children that end when told -------------------------------------- */

/* A child that waits until the parent says "go", then exits with CODE.
 * (Not a pipe: a later child would inherit its write end and hold it.) */
struct gated {
    _Atomic int *go;
    int code;
};

static int gated_child(void *arg)
{
    struct gated *g = arg;
    for (int i = 0; i < 30000 && !atomic_load(g->go); i++) {
        tu_pause_ms(1);
    }
    return g->code;
}

static pid_t spawn_gated(struct gated *g, int code)
{
    g->go = tu_shared_map(sizeof *g->go);
    g->code = code;
    return tc_spawn(gated_child, g);
}

static void release(struct gated *g)
{
    atomic_store(g->go, 1);
    munmap((void *)g->go, sizeof *g->go); /* the child keeps its own map */
}

/* A process that is killed by the test (or gives up after 30 s). */
static void linger(void)
{
    for (int i = 0; i < 300; i++) { /* 30 s at most */
        tu_pause_ms(100);
    }
    _exit(0);
}

static int exit_now(void *arg)
{
    return (int)(intptr_t)arg;
}

/* ---- processes ---------------------------------------------------------- */

/* 1: a child's exit code, the cookie, and the zombie left for waitpid. */
static void test_child_exit_status(void)
{
    ipcx_notify *n = open_notify();
    struct gated g;
    pid_t pid = spawn_gated(&g, 7);
    CHECK_RC(ipcx_notify_watch(n, pid, 0xfeedfacecafe0001ull), 0);
    expect_none(n);
    release(&g);
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    CHECK(ev.kind == IPCX_EVENT_PROC_EXIT);
    CHECK(ev.pid == pid);
    CHECK(ev.cookie == 0xfeedfacecafe0001ull);
    CHECK(ev.status_known == 1);
    CHECK(WIFEXITED(ev.status));
    CHECK(WEXITSTATUS(ev.status) == 7);
    CHECK(ev.channel == NULL && ev.mailbox == NULL);
    expect_none(n); /* one event per watch */
    /* Not reaped: the caller's own waitpid() still gets the status. */
    int st;
    CHECK(waitpid(pid, &st, WNOHANG) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    /* The watch ended with its event. */
    CHECK_RC(ipcx_notify_unwatch(n, pid), -ENOENT);
    CHECK_RC(ipcx_notify_close(n), 0);
}

/* 1b: a zombie child counts as ended: the event is there at once. */
static void test_zombie_child(void)
{
    ipcx_notify *n = open_notify();
    pid_t pid = tc_spawn(exit_now, (void *)(intptr_t)3);
    wait_zombie(pid);
    CHECK_RC(ipcx_notify_watch(n, pid, 5), 0);
    ipcx_event ev = recv_event(n, 0);
    CHECK(ev.pid == pid && ev.cookie == 5 && ev.status_known == 1);
    CHECK(WIFEXITED(ev.status) && WEXITSTATUS(ev.status) == 3);
    CHECK(tu_wait(pid) == 3);
    ipcx_notify_close(n);
}

/* 2 and 9: a child killed by SIGKILL; how long the event took. */
static void test_child_killed(void)
{
    ipcx_notify *n = open_notify();
    struct gated g;
    pid_t pid = spawn_gated(&g, 0);
    CHECK_RC(ipcx_notify_watch(n, pid, 2), 0);
    long long t0 = tu_now_ns();
    CHECK(kill(pid, SIGKILL) == 0);
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    long long dt = tu_now_ns() - t0;
    printf("  kill -> PROC_EXIT event: %.3f ms\n", dt / 1e6);
    CHECK(dt < LATENCY_BOUND_NS);
    CHECK(ev.kind == IPCX_EVENT_PROC_EXIT && ev.pid == pid);
    CHECK(ev.status_known == 1);
    CHECK(WIFSIGNALED(ev.status) && WTERMSIG(ev.status) == SIGKILL);
    CHECK(tu_wait(pid) == 128 + SIGKILL);
    release(&g);
    ipcx_notify_close(n);
}

/* A grandchild: its parent exits at once, so it is not ours. */
static int grandchild_parent(void *arg)
{
    _Atomic pid_t *out = arg;
    pid_t pid = fork();
    if (pid == 0) {
        linger();
    }
    atomic_store(out, pid);
    return pid > 0 ? 0 : 1;
}

/* 3: a process that is not our child: the event, without a status. */
static void test_non_child(void)
{
    _Atomic pid_t *gpid = tu_shared_map(sizeof *gpid);
    pid_t mid = tc_spawn(grandchild_parent, (void *)gpid);
    CHECK(tu_wait(mid) == 0);
    pid_t pid = atomic_load(gpid);
    CHECK(pid > 0);
    ipcx_notify *n = open_notify();
    CHECK_RC(ipcx_notify_watch(n, pid, 33), 0);
    expect_none(n);
    long long t0 = tu_now_ns();
    CHECK(kill(pid, SIGKILL) == 0);
    ipcx_event ev = recv_event(n, NONCHILD_BOUND);
    printf("  kill -> PROC_EXIT event (not a child): %.3f ms\n",
           (tu_now_ns() - t0) / 1e6);
    CHECK(ev.kind == IPCX_EVENT_PROC_EXIT && ev.pid == pid);
    CHECK(ev.cookie == 33);
    CHECK(ev.status_known == 0);
    ipcx_notify_close(n);
    munmap((void *)gpid, sizeof *gpid);
}

/* 4: the errors of watch and unwatch. */
static void test_watch_errors(void)
{
    ipcx_notify *n = open_notify();
    CHECK_RC(ipcx_notify_watch(NULL, getpid(), 0), -EINVAL);
    CHECK_RC(ipcx_notify_watch(n, 0, 0), -EINVAL);
    CHECK_RC(ipcx_notify_watch(n, -1, 0), -EINVAL);
    CHECK_RC(ipcx_notify_watch(n, INT_MAX, 0), -ESRCH);
    CHECK(strstr(ipcx_last_error(), "no such process") != NULL);
    CHECK_RC(ipcx_notify_unwatch(n, getpid()), -ENOENT);
    CHECK_RC(ipcx_notify_unwatch(NULL, getpid()), -EINVAL);

    struct gated g;
    pid_t pid = spawn_gated(&g, 0);
    CHECK_RC(ipcx_notify_watch(n, pid, 1), 0);
    CHECK_RC(ipcx_notify_watch(n, pid, 2), -EEXIST);
    CHECK_RC(ipcx_notify_unwatch(n, pid), 0);
    CHECK_RC(ipcx_notify_unwatch(n, pid), -ENOENT);
    CHECK_RC(ipcx_notify_watch(n, pid, 3), 0); /* again after unwatch */
    release(&g);
    /* Unwatch withdraws an event already queued. */
    wait_queued(n);
    CHECK_RC(ipcx_notify_unwatch(n, pid), 0);
    expect_none(n);
    /* Still a zombie: a new watch reports it at once. */
    CHECK_RC(ipcx_notify_watch(n, pid, 4), 0);
    CHECK(recv_event(n, 0).cookie == 4);
    CHECK(tu_wait(pid) == 0);
    ipcx_notify_close(n);
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

/* Closing releases every descriptor, watches still running included. */
static void test_no_fd_leak(void)
{
    int before = count_fds();
    ipcx_notify *n = open_notify();
    struct gated g1, g2;
    pid_t p1 = spawn_gated(&g1, 0), p2 = spawn_gated(&g2, 0);
    CHECK_RC(ipcx_notify_watch(n, p1, 1), 0);
    CHECK_RC(ipcx_notify_watch(n, p2, 2), 0);
    release(&g1);
    wait_queued(n); /* p1's pidfd closed at its event, p2's still open */
    ipcx_notify_close(n);
    release(&g2);
    CHECK(count_fds() == before);
    CHECK(tu_wait(p1) == 0 && tu_wait(p2) == 0);
}

/* 4: open, close, recv arguments. */
static void test_open_errors(void)
{
    ipcx_event ev;
    CHECK_RC(ipcx_notify_open(NULL), -EINVAL);
    ipcx_notify *n = open_notify();
    ipcx_notify *other = (ipcx_notify *)0x1;
    CHECK_RC(ipcx_notify_open(&other), -EBUSY);
    CHECK(other == (ipcx_notify *)0x1); /* untouched on failure */
    CHECK_RC(ipcx_notify_recv(n, NULL, 0), -EINVAL);
    CHECK_RC(ipcx_notify_recv(NULL, &ev, 0), -EINVAL);
    CHECK_RC(ipcx_notify_recv(n, &ev, -1), -EINVAL);
    CHECK_RC(ipcx_notify_recv(n, &ev, 0), -EAGAIN);
    CHECK_RC(ipcx_notify_recv(n, &ev, IPCX_MSEC(20)), -ETIMEDOUT);
    CHECK_RC(ipcx_notify_fd(NULL), -EINVAL);
    CHECK(ipcx_notify_fd(n) >= 0);
    CHECK(fcntl(ipcx_notify_fd(n), F_GETFD) & FD_CLOEXEC);
    CHECK(ipcx__notify_ready(NULL) == 0);

    /* Closing drops pending events and ends the watches. */
    pid_t pid = tc_spawn(exit_now, NULL);
    CHECK_RC(ipcx_notify_watch(n, pid, 9), 0);
    wait_queued(n);
    CHECK_RC(ipcx_notify_close(n), 0);
    CHECK_RC(ipcx_notify_close(NULL), 0);
    n = open_notify(); /* open, close, open */
    expect_none(n);
    CHECK_RC(ipcx_notify_unwatch(n, pid), -ENOENT);
    CHECK(tu_wait(pid) == 0);
    ipcx_notify_close(n);
}

/* A forked child does not inherit the notify mailbox (it shares the
 * parent's epoll set): its calls answer -EBADF, and it may open its own. */
static int child_of_open(void *arg)
{
    ipcx_notify *inherited = arg;
    ipcx_event ev;
    CHECK_RC(ipcx_notify_recv(inherited, &ev, 0), -EBADF);
    CHECK_RC(ipcx_notify_fd(inherited), -EBADF);
    CHECK_RC(ipcx_notify_watch(inherited, getppid(), 0), -EBADF);
    ipcx_notify *mine = open_notify();
    ipcx_notify_close(mine);
    ipcx_notify_close(inherited);
    return 0;
}

static void test_fork(void)
{
    ipcx_notify *n = open_notify();
    struct gated g;
    pid_t other = spawn_gated(&g, 4);
    CHECK_RC(ipcx_notify_watch(n, other, 1), 0);
    pid_t pid = tc_spawn(child_of_open, n);
    CHECK(tu_wait(pid) == 0);
    /* The parent's mailbox is intact. */
    release(&g);
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    CHECK(ev.pid == other && WEXITSTATUS(ev.status) == 4);
    CHECK(tu_wait(other) == 4);
    ipcx_notify_close(n);
}

/* ---- channels ----------------------------------------------------------- */

/* SERVE_FORK: hold the channel and fork a child that holds it too. */
enum { SERVE_CLOSE, SERVE_HOLD, SERVE_FORK };

struct server {
    char name[32];
    int mode;
    struct {
        _Atomic int step;     /* 1: accepted (closed if SERVE_CLOSE); 2: end */
        _Atomic pid_t forked; /* SERVE_FORK: the server's child */
    } * shm;
};

static int server(void *arg)
{
    struct server *s = arg;
    ipcx_port *p = tc_listen(s->name, 0, 0, 0);
    ipcx_channel *ch = tc_accept(p);
    if (s->mode == SERVE_CLOSE) {
        ipcx_channel_close(ch);
    }
    if (s->mode == SERVE_FORK) {
        pid_t pid = fork();
        if (pid == 0) {
            linger();
        }
        atomic_store(&s->shm->forked, pid);
    }
    atomic_store(&s->shm->step, 1);
    tc_wait_step(&s->shm->step, 2);
    if (s->mode == SERVE_HOLD) {
        ipcx_channel_close(ch);
    }
    ipcx_port_close(p);
    return 0;
}

/* Start a server child on a fresh port and connect to it. */
static pid_t serve(struct server *s, int mode, ipcx_channel **ch)
{
    static int seq;
    snprintf(s->name, sizeof s->name, "svc%d.%d", (int)getpid(), seq++);
    s->mode = mode;
    s->shm = tu_shared_map(sizeof *s->shm);
    pid_t pid = tc_spawn(server, s);
    *ch = tc_connect(s->name);
    tc_wait_step(&s->shm->step, 1);
    return pid;
}

static void serve_end(struct server *s, pid_t pid, int code)
{
    atomic_store(&s->shm->step, 2);
    CHECK(tu_wait(pid) == code);
    munmap(s->shm, sizeof *s->shm);
}

static void check_closed(const ipcx_event *ev, ipcx_channel *ch, pid_t pid)
{
    CHECK(ev->kind == IPCX_EVENT_CHANNEL_CLOSED);
    CHECK(ev->channel == ch);
    CHECK(ev->pid == pid);
    CHECK(ev->mailbox == NULL);
}

/* 5: the peer closes its end (and stays alive). */
static void test_channel_peer_closes(void)
{
    ipcx_notify *n = open_notify();
    struct server s;
    ipcx_channel *ch;
    pid_t pid = serve(&s, SERVE_CLOSE, &ch);
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    check_closed(&ev, ch, pid);
    ipcx_event none;
    CHECK_RC(ipcx_notify_recv(n, &none, IPCX_MSEC(50)), -ETIMEDOUT);
    /* The channel is still open and reports the peer gone. */
    char buf[8];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, 0), -EPIPE);
    ipcx_channel_close(ch);
    serve_end(&s, pid, 0);
    ipcx_notify_close(n);
}

/* 5 and 9: the peer is killed; one event for the socket and the pidfd. */
static void test_channel_peer_killed(void)
{
    ipcx_notify *n = open_notify();
    struct server s;
    ipcx_channel *ch;
    pid_t pid = serve(&s, SERVE_HOLD, &ch);
    expect_none(n);
    long long t0 = tu_now_ns();
    CHECK(kill(pid, SIGKILL) == 0);
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    long long dt = tu_now_ns() - t0;
    printf("  kill -> CHANNEL_CLOSED event: %.3f ms\n", dt / 1e6);
    CHECK(dt < LATENCY_BOUND_NS);
    check_closed(&ev, ch, pid);
    CHECK(tu_wait(pid) == 128 + SIGKILL);
    ipcx_event none;
    CHECK_RC(ipcx_notify_recv(n, &none, IPCX_MSEC(50)), -ETIMEDOUT);
    ipcx_channel_close(ch);
    munmap(s.shm, sizeof *s.shm);
    ipcx_notify_close(n);
}

/* 5: the peer dies, but a child it forked keeps the connection open: the
 * socket does not hang up, the peer's pidfd tells. */
static void test_channel_peer_forked(void)
{
    ipcx_notify *n = open_notify();
    struct server s;
    ipcx_channel *ch;
    pid_t pid = serve(&s, SERVE_FORK, &ch);
    pid_t child = atomic_load(&s.shm->forked);
    CHECK(child > 0);
    expect_none(n);
    CHECK(kill(pid, SIGKILL) == 0);
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    check_closed(&ev, ch, pid);
    CHECK(tu_wait(pid) == 128 + SIGKILL);
    CHECK(kill(child, SIGKILL) == 0);
    ipcx_event none;
    CHECK_RC(ipcx_notify_recv(n, &none, IPCX_MSEC(50)), -ETIMEDOUT);
    ipcx_channel_close(ch);
    munmap(s.shm, sizeof *s.shm);
    ipcx_notify_close(n);
}

/* 5: our own close gives no event, and withdraws one already queued. */
static void test_channel_own_close(void)
{
    ipcx_notify *n = open_notify();
    struct server s;
    ipcx_channel *ch;
    pid_t pid = serve(&s, SERVE_HOLD, &ch);
    ipcx_channel_close(ch);
    ipcx_event none;
    CHECK_RC(ipcx_notify_recv(n, &none, IPCX_MSEC(50)), -ETIMEDOUT);
    serve_end(&s, pid, 0);

    pid = serve(&s, SERVE_CLOSE, &ch);
    wait_queued(n);
    ipcx_channel_close(ch);
    expect_none(n);
    serve_end(&s, pid, 0);
    ipcx_notify_close(n);
}

/* ---- mailboxes ---------------------------------------------------------- */

static int destroyer(void *arg)
{
    return ipcx_mailbox_destroy(arg) == 0 ? 0 : 1;
}

static void destroy_elsewhere(const char *name)
{
    CHECK(tu_wait(tc_spawn(destroyer, (void *)name)) == 0);
}

static ipcx_mailbox *create_open(const char *name)
{
    CHECK_RC(ipcx_mailbox_create(name, NULL), 0);
    return tu_open(name);
}

static void check_destroyed(const ipcx_event *ev, ipcx_mailbox *mb)
{
    CHECK(ev->kind == IPCX_EVENT_MAILBOX_DESTROYED);
    CHECK(ev->mailbox == mb);
    CHECK(ev->mailbox_id == tu_stat(mb).id);
    CHECK(ev->channel == NULL);
}

/* 6: another process destroys a mailbox we hold open. */
static void test_mailbox_destroyed(void)
{
    ipcx_notify *n = open_notify();
    ipcx_mailbox *mb = create_open("jobs");
    ipcx_mailbox *other = create_open("other");
    /* Metadata changes that are not a destroy give nothing. */
    char path[512];
    snprintf(path, sizeof path, "%s/jobs.mbox", getenv("IPCX_DIR"));
    CHECK(chmod(path, 0640) == 0);
    ipcx_event none;
    CHECK_RC(ipcx_notify_recv(n, &none, IPCX_MSEC(50)), -ETIMEDOUT);
    destroy_elsewhere("jobs");
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    check_destroyed(&ev, mb);
    expect_none(n);
    ipcx_mailbox_close(mb);
    ipcx_mailbox_close(other);
    CHECK_RC(ipcx_mailbox_destroy("other"), 0);
    ipcx_notify_close(n);
}

/* 6: two handles of one mailbox (one inotify watch): one event each; a
 * handle closed before its event is received withdraws it. */
static void test_mailbox_two_handles(void)
{
    ipcx_notify *n = open_notify();
    ipcx_mailbox *a = create_open("shared");
    ipcx_mailbox *b = tu_open("shared");
    ipcx_mailbox *c = tu_open("shared");
    destroy_elsewhere("shared");
    /* One inotify event queues all three at once. */
    wait_queued(n);
    ipcx_mailbox_close(b);
    ipcx_event e1 = recv_event(n, EVENT_BOUND);
    ipcx_event e2 = recv_event(n, EVENT_BOUND);
    CHECK((e1.mailbox == a && e2.mailbox == c) ||
          (e1.mailbox == c && e2.mailbox == a));
    check_destroyed(&e1, e1.mailbox);
    CHECK(e1.mailbox_id == e2.mailbox_id);
    expect_none(n);
    ipcx_mailbox_close(a);
    ipcx_mailbox_close(c);
    ipcx_notify_close(n);
}

/* ---- the descriptor ----------------------------------------------------- */

static int readable(int ep)
{
    struct epoll_event e;
    int k;
    while ((k = epoll_wait(ep, &e, 1, 0)) < 0 && errno == EINTR) {
    }
    return k;
}

/* 7: ipcx_notify_fd() in an epoll loop. */
static void test_fd_epoll(void)
{
    ipcx_notify *n = open_notify();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ipcx_notify_fd(n), &e) == 0);
    struct gated g1, g2;
    pid_t p1 = spawn_gated(&g1, 1), p2 = spawn_gated(&g2, 2);
    CHECK_RC(ipcx_notify_watch(n, p1, 1), 0);
    CHECK_RC(ipcx_notify_watch(n, p2, 2), 0);
    CHECK(readable(ep) == 0);
    release(&g1);
    release(&g2);
    /* Readable on an event, before anyone received. */
    CHECK(epoll_wait(ep, &e, 1, 10000) == 1);
    wait_zombie(p1);
    wait_zombie(p2);
    ipcx_event ev = recv_event(n, 0);
    CHECK(readable(ep) == 1); /* the second is still waiting */
    CHECK(readable(ep) == 1); /* level-triggered */
    ipcx_event ev2 = recv_event(n, 0);
    CHECK(ev.cookie + ev2.cookie == 3);
    CHECK(readable(ep) == 0);
    expect_none(n);
    CHECK(readable(ep) == 0);
    CHECK(tu_wait(p1) == 1 && tu_wait(p2) == 2);
    close(ep);
    ipcx_notify_close(n);
}

static void *recv_forever(void *arg)
{
    static ipcx_event ev;
    ev = recv_event(arg, IPCX_FOREVER);
    return &ev;
}

/* 7: a thread blocked in recv wakes for an event. */
static void test_recv_blocks(void)
{
    ipcx_notify *n = open_notify();
    struct gated g;
    pid_t pid = spawn_gated(&g, 0);
    CHECK_RC(ipcx_notify_watch(n, pid, 77), 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, recv_forever, n) == 0);
    tu_pause_ms(50); /* let it sleep (not needed for correctness) */
    CHECK(kill(pid, SIGKILL) == 0);
    void *res;
    CHECK(pthread_join(t, &res) == 0);
    ipcx_event *ev = res;
    CHECK(ev->cookie == 77 && WTERMSIG(ev->status) == SIGKILL);
    CHECK(tu_wait(pid) == 128 + SIGKILL);
    release(&g);
    ipcx_notify_close(n);
}

/* Several threads receive while others track and untrack channels: every
 * exit is received exactly once. */
#define NPROC 24
#define NRECV 4

struct race {
    ipcx_notify *n;
    _Atomic int got;
    _Atomic int seen[NPROC];
    _Atomic int stop;
    const char *port;
};

static void *race_receiver(void *arg)
{
    struct race *r = arg;
    while (atomic_load(&r->got) < NPROC) {
        ipcx_event ev;
        int rc = ipcx_notify_recv(r->n, &ev, IPCX_MSEC(20));
        if (rc == -ETIMEDOUT) {
            continue;
        }
        CHECK_RC(rc, 0);
        if (ev.kind == IPCX_EVENT_CHANNEL_CLOSED) {
            continue; /* a churned channel whose server closed first */
        }
        CHECK(ev.kind == IPCX_EVENT_PROC_EXIT && ev.cookie < NPROC);
        CHECK(atomic_fetch_add(&r->seen[ev.cookie], 1) == 0);
        CHECK(WEXITSTATUS(ev.status) == (int)ev.cookie);
        atomic_fetch_add(&r->got, 1);
    }
    return NULL;
}

/* Connect and close in a loop (track, untrack) while events flow. */
static void *race_churn(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->stop)) {
        ipcx_channel *ch = tc_connect(r->port);
        ipcx_channel_close(ch);
    }
    return NULL;
}

static int race_server(void *arg)
{
    ipcx_port *p = tc_listen(arg, 0, 0, 0);
    for (;;) {
        ipcx_channel *ch = tc_accept(p);
        ipcx_channel_close(ch);
    }
    return 0; /* not reached: killed */
}

static void test_threads(void)
{
    static struct race r;
    char port[32];
    snprintf(port, sizeof port, "race%d", (int)getpid());
    r.port = port;
    r.n = open_notify();
    pid_t srv = tc_spawn(race_server, port);
    pthread_t recv_t[NRECV], churn_t;
    CHECK(pthread_create(&churn_t, NULL, race_churn, &r) == 0);
    for (int i = 0; i < NRECV; i++) {
        CHECK(pthread_create(&recv_t[i], NULL, race_receiver, &r) == 0);
    }
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        struct gated g;
        pids[i] = spawn_gated(&g, i);
        CHECK_RC(ipcx_notify_watch(r.n, pids[i], (uint64_t)i), 0);
        release(&g);
    }
    for (int i = 0; i < NRECV; i++) {
        CHECK(pthread_join(recv_t[i], NULL) == 0);
    }
    atomic_store(&r.stop, 1);
    CHECK(pthread_join(churn_t, NULL) == 0);
    for (int i = 0; i < NPROC; i++) {
        CHECK(atomic_load(&r.seen[i]) == 1);
        CHECK(tu_wait(pids[i]) == i);
    }
    kill(srv, SIGKILL);
    CHECK(tu_wait(srv) == 128 + SIGKILL);
    ipcx_notify_close(r.n);
}

/* ---- opened late -------------------------------------------------------- */

/* 8: channels and mailboxes opened before the notify mailbox are watched,
 * including one whose event happened before it opened. */
static void test_opened_late(void)
{
    struct server s1, s2;
    ipcx_channel *ch1, *ch2;
    pid_t pid1 = serve(&s1, SERVE_HOLD, &ch1);
    pid_t pid2 = serve(&s2, SERVE_CLOSE, &ch2); /* closed already */
    ipcx_mailbox *gone = create_open("gone");
    ipcx_mailbox *mb = create_open("late");
    destroy_elsewhere("gone"); /* before the notify mailbox */

    ipcx_notify *n = open_notify();
    ipcx_event e1 = recv_event(n, EVENT_BOUND);
    ipcx_event e2 = recv_event(n, EVENT_BOUND);
    if (e1.kind == IPCX_EVENT_CHANNEL_CLOSED) {
        ipcx_event t = e1;
        e1 = e2;
        e2 = t;
    }
    check_destroyed(&e1, gone);
    check_closed(&e2, ch2, pid2);
    expect_none(n);

    CHECK(kill(pid1, SIGKILL) == 0);
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    check_closed(&ev, ch1, pid1);
    destroy_elsewhere("late");
    ev = recv_event(n, EVENT_BOUND);
    check_destroyed(&ev, mb);
    expect_none(n);

    CHECK(tu_wait(pid1) == 128 + SIGKILL);
    serve_end(&s2, pid2, 0);
    ipcx_channel_close(ch1);
    ipcx_channel_close(ch2);
    ipcx_mailbox_close(gone);
    ipcx_mailbox_close(mb);
    ipcx_notify_close(n);
}

/* Closing the notify mailbox and opening another: the tracked channels and
 * mailboxes are watched again, and their events come again. */
static void test_reopen_rewatches(void)
{
    struct server s;
    ipcx_channel *ch;
    pid_t pid = serve(&s, SERVE_CLOSE, &ch);
    ipcx_notify *n = open_notify();
    ipcx_event ev = recv_event(n, EVENT_BOUND);
    check_closed(&ev, ch, pid);
    ipcx_notify_close(n);
    n = open_notify();
    ev = recv_event(n, EVENT_BOUND);
    check_closed(&ev, ch, pid);
    ipcx_notify_close(n);
    ipcx_channel_close(ch);
    serve_end(&s, pid, 0);
}

int main(void)
{
    tu_private_ns();
    TU_RUN(test_child_exit_status);
    TU_RUN(test_zombie_child);
    TU_RUN(test_child_killed);
    TU_RUN(test_non_child);
    TU_RUN(test_watch_errors);
    TU_RUN(test_open_errors);
    TU_RUN(test_no_fd_leak);
    TU_RUN(test_fork);
    TU_RUN(test_channel_peer_closes);
    TU_RUN(test_channel_peer_killed);
    TU_RUN(test_channel_peer_forked);
    TU_RUN(test_channel_own_close);
    TU_RUN(test_mailbox_destroyed);
    TU_RUN(test_mailbox_two_handles);
    TU_RUN(test_fd_epoll);
    TU_RUN(test_recv_blocks);
    TU_RUN(test_threads);
    TU_RUN(test_opened_late);
    TU_RUN(test_reopen_rewatches);
    return tu_failures > 0;
}
