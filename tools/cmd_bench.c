/*
 * cmd_bench.c - ipcx bench: a quick look at how fast an ipcx mailbox moves
 * small messages between two processes, next to a pipe and a Unix stream
 * socket pair.
 *
 * Each of the six measurements (three mechanisms, two tests) runs in two
 * fresh forked processes, A and B, connected by a "link": two mailboxes
 * (A to B, B to A), two pipes, or one socket pair.  On a machine with two
 * CPUs or more, A and B are pinned to one CPU each, so that neither the
 * scheduler's placement nor a shared core blurs the numbers.
 *
 *   round trip: A sends a 64-byte ping, B echoes it; after a warm-up (a
 *               fifth of the duration), A times every round trip
 *               (CLOCK_MONOTONIC) for the duration, or BENCH_MAX_SAMPLES
 *               of them; the parent sorts the times for the median and p99.
 *   stream:     B says it is ready; A sends numbered 64-byte messages for
 *               the duration, then a stop carrying the count; B checks
 *               every sequence number, so a lost or duplicated message is
 *               caught, and notes the time the stop arrived.  The rate is
 *               the count over A's start to B's stop (one system clock).
 *
 * The parent only supervises: it blocks SIGCHLD and the terminating
 * signals and waits for them with sigtimedwait(), so it sleeps until a
 * child ends, the user interrupts, or the deadline (the duration plus a
 * generous grace) passes.  Any failure kills the other child; either way
 * both are reaped and the mailboxes destroyed before the next measurement.
 * Children record the first failure's text in the shared results mapping,
 * and the parent prints it, so a message never lands in the middle of the
 * progress line.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define BENCH_MSG_SIZE    64
#define BENCH_DEFAULT_MS  300
#define BENCH_MIN_MS      10
#define BENCH_MAX_MS      60000
#define BENCH_MAX_SAMPLES (1u << 21)   /* round trips timed: 16 MiB */
#define BENCH_GRACE_NS    IPCX_SEC(10) /* past that, a child is stuck */
#define BENCH_CLOCK_EVERY 64           /* stream sends per clock read */
#define BENCH_CAPACITY    IPCX_DEFAULT_CAPACITY
#define NSEC_PER_SEC      1000000000ll

static const char bench_usage[] =
    "usage: ipcx bench [--duration MS] [--json]\n"
    "\n"
    "Compare how fast 64-byte messages travel between two processes\n"
    "through an ipcx mailbox (capacity 64, blocking calls), a pipe and a\n"
    "Unix stream socket pair.  The processes are forked, and pinned to two\n"
    "CPUs when there are two or more.  For each mechanism:\n"
    "  round trip  ping-pong after a warm-up; the median and the 99th\n"
    "              percentile of the time there and back, in microseconds\n"
    "  stream      messages sent one way for the duration; messages per\n"
    "              second, every one checked to arrive exactly once\n"
    "The 'x pipe' columns say how many times faster than the pipe each\n"
    "mechanism is (higher is faster).  Progress goes to standard error.\n"
    "The mailboxes, bench-<pid>-..., are removed at the end.  Exit status 3\n"
    "if a measurement fails (a process fails or hangs, a message is lost).\n"
    "\n"
    "Options:\n"
    "  -d, --duration MS  milliseconds for each of the six measurements\n"
    "                     (default 300, 10 to 60000)\n"
    "      --json         print the results as JSON instead of a table\n"
    "  -h, --help         show this help\n";

enum bench_mech { MECH_MAILBOX, MECH_PIPE, MECH_SOCKET, MECH_COUNT };
enum bench_test { TEST_ROUND_TRIP, TEST_STREAM, TEST_COUNT };
enum { MSG_DATA = 1, MSG_STOP = 2, MSG_READY = 3 };

/* Names in the table and progress lines, and keys in the JSON. */
static const char *const mech_names[MECH_COUNT] = {"ipcx mailbox", "pipe",
                                                   "unix socketpair"};
static const char *const mech_keys[MECH_COUNT] = {"mailbox", "pipe",
                                                  "socketpair"};
static const char *const test_names[TEST_COUNT] = {"round trip", "stream"};

struct bench_msg {
    uint32_t kind;
    uint32_t reserved;
    uint64_t seq; /* the ping's number, the data's number, or the count */
    unsigned char fill[BENCH_MSG_SIZE - 16];
};
static_assert(sizeof(struct bench_msg) == BENCH_MSG_SIZE, "64-byte messages");

/*
 * What the children report, in a MAP_SHARED anonymous mapping.  Each field
 * has one writer; the parent reads only after reaping both children, and
 * waitpid() orders it after everything they wrote.
 */
struct bench_shared {
    int failed;         /* set by the first child to fail */
    char error[256];    /* that child's message */
    uint64_t count;     /* round trips timed, or stream messages received */
    int64_t t_start;    /* stream: A's clock as it began sending */
    int64_t t_end;      /* stream: B's clock when the stop arrived */
    uint64_t samples[]; /* round trips, nanoseconds each */
};

struct bench_opts {
    uint64_t duration_ms;
    bool json;
};

struct bench_result {
    double median_us, p99_us; /* round trip */
    uint64_t round_trips;
    double rate; /* stream: messages per second */
    uint64_t messages;
};

struct bench_run {
    const struct bench_opts *opts;
    int64_t duration_ns, warmup_ns;
    struct bench_shared *sh;
    size_t map_size;
    sigset_t waitset; /* SIGCHLD and the signals that end us */
    sigset_t oldmask; /* the mask to give back (and to the children) */
    pid_t parent;
    bool pinned;
    int cpu[2];      /* A's and B's CPU when pinned */
    bool tty;        /* standard error is a terminal: one updating line */
    bool line_shown; /* the progress line is on the terminal */
    bool masked;     /* waitset is blocked; oldmask to be restored */
    char prefix[48]; /* of the mailbox names */
    struct bench_result res[MECH_COUNT];
};

/*
 * The two directions between A and B.  Pipes: fd[0], fd[1] are the read
 * and write ends of A to B, fd[2], fd[3] of B to A.  Socket pair: fd[0] is
 * A's, fd[1] B's.  Mailboxes: name[0] is A to B, name[1] B to A.
 */
struct bench_link {
    enum bench_mech mech;
    enum bench_test test;
    int fd[4];
    char name[2][64];
    bool created[2];
};

/* Which fd[] a side reads and writes: [mech][side] = {read, write}. */
static const int link_fds[MECH_COUNT][2][2] = {
    [MECH_PIPE] = {{2, 1}, {0, 3}},
    [MECH_SOCKET] = {{0, 0}, {1, 1}},
};

/* One side's end of a link, in a child. */
struct bench_end {
    enum bench_mech mech;
    int rfd, wfd;
    ipcx_mailbox *in, *out;
    struct bench_shared *sh;
    char what[48]; /* "pipe stream", for messages */
};

/* ---- options ---- */

static int bench_option(const struct cli_spec *spec, void *opts, int c,
                        const char *arg)
{
    struct bench_opts *o = opts;
    if (c == 'j') {
        o->json = true;
        return CLI_CONTINUE;
    }
    return cli_parse_u64(bench_usage, "--duration", arg, BENCH_MIN_MS,
                         BENCH_MAX_MS, &o->duration_ms);
}

static const struct option bench_longopts[] = {
    {"duration", required_argument, NULL, 'd'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec bench_spec = {
    .usage = bench_usage,
    .shortopts = ":d:h",
    .longopts = bench_longopts,
    .option = bench_option,
    .min_operands = 0,
    .max_operands = 0,
};

/* ---- small helpers ---- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/*
 * Write or read all LEN bytes (a stream socket may move fewer at a time):
 * 0, a negative errno, or -EPIPE when the other side closed its end.
 */
static int transfer(int fd, void *buf, size_t len, bool writing)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EPIPE;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* ---- progress on standard error ---- */

static void progress(struct bench_run *run, enum bench_mech mech,
                     enum bench_test test)
{
    int step = (int)mech * TEST_COUNT + (int)test + 1;
    fprintf(stderr, "%s[%d/%d] %s: %s...%s", run->tty ? "\r\033[K" : "", step,
            MECH_COUNT * TEST_COUNT, mech_names[mech], test_names[test],
            run->tty ? "" : "\n");
    run->line_shown = run->tty;
}

/* Take the progress line away (a terminal only) before anything else is
 * written to standard error, or at the end. */
static void progress_clear(struct bench_run *run)
{
    if (run->line_shown) {
        fputs("\r\033[K", stderr);
        run->line_shown = false;
    }
}

/* ---- the link, made by the parent ---- */

static int link_create_mailboxes(struct bench_run *run, struct bench_link *link)
{
    static const char *const dirs[2] = {"ab", "ba"};
    ipcx_mailbox_attr attr;
    ipcx_mailbox_attr_init(&attr);
    attr.capacity = BENCH_CAPACITY;
    attr.max_msg_size = BENCH_MSG_SIZE;
    for (int i = 0; i < 2; i++) {
        snprintf(link->name[i], sizeof link->name[i], "%s-%d-%s", run->prefix,
                 (int)link->test, dirs[i]);
        int rc = ipcx_mailbox_create(link->name[i], &attr);
        if (rc < 0) {
            progress_clear(run);
            return cli_error(rc, "bench: cannot create mailbox '%s'",
                             link->name[i]);
        }
        link->created[i] = true;
    }
    return CLI_CONTINUE;
}

static int link_setup(struct bench_run *run, struct bench_link *link,
                      enum bench_mech mech, enum bench_test test)
{
    memset(link, 0, sizeof *link);
    link->mech = mech;
    link->test = test;
    for (int i = 0; i < 4; i++) {
        link->fd[i] = -1;
    }
    if (mech == MECH_MAILBOX) {
        return link_create_mailboxes(run, link);
    }
    bool made =
        mech == MECH_PIPE
            ? pipe2(link->fd, O_CLOEXEC) == 0 &&
                  pipe2(link->fd + 2, O_CLOEXEC) == 0
            : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, link->fd) == 0;
    if (!made) {
        int err = errno;
        progress_clear(run);
        return cli_sys_error(err, "bench: cannot make a %s", mech_names[mech]);
    }
    return CLI_CONTINUE;
}

static void link_close_fds(struct bench_link *link)
{
    for (int i = 0; i < 4; i++) {
        close_fd(&link->fd[i]);
    }
}

/* Close what is left and remove the mailboxes; false if one would not go. */
static bool link_teardown(struct bench_run *run, struct bench_link *link)
{
    bool ok = true;
    link_close_fds(link);
    for (int i = 0; i < 2; i++) {
        if (!link->created[i]) {
            continue;
        }
        link->created[i] = false;
        int rc = ipcx_mailbox_destroy(link->name[i]);
        if (rc < 0) {
            progress_clear(run);
            cli_error(rc, "bench: cannot remove mailbox '%s'", link->name[i]);
            ok = false;
        }
    }
    return ok;
}

/* ---- one end of the link, in a child ---- */

/*
 * Record the first failure of either child (the other one usually fails
 * only because of it).  The exchange elects one writer; the parent reads
 * the text after reaping, so the ordering waitpid() gives is all it needs.
 */
__attribute__((format(printf, 2, 3))) static int
child_fail(struct bench_shared *sh, const char *fmt, ...)
{
    int expected = 0;
    if (__atomic_compare_exchange_n(&sh->failed, &expected, 1, false,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->error, sizeof sh->error, fmt, ap);
        va_end(ap);
    }
    return CLI_FAIL;
}

/* A failed send or receive (RC), as "<mech> <test>: cannot DO: reason". */
static int end_fail(struct bench_end *e, const char *doing, int rc)
{
    char what[96], reason[256];
    snprintf(what, sizeof what, "%s: cannot %s", e->what, doing);
    if (e->mech == MECH_MAILBOX) {
        cli_reason(rc, what, reason, sizeof reason);
    } else {
        snprintf(reason, sizeof reason, "%s", strerror(-rc));
    }
    return child_fail(e->sh, "%s: %s", what, reason);
}

static int end_open_mailboxes(struct bench_end *e,
                              const struct bench_link *link, int side)
{
    const char *out = link->name[side], *in = link->name[1 - side];
    int rc = ipcx_mailbox_open(out, 0, &e->out);
    if (rc == 0) {
        rc = ipcx_mailbox_open(in, 0, &e->in);
    }
    if (rc < 0) {
        char what[96];
        snprintf(what, sizeof what, "open mailbox '%s'",
                 e->out == NULL ? out : in);
        return end_fail(e, what, rc);
    }
    return CLI_CONTINUE;
}

/*
 * Take SIDE's end of LINK and close every other descriptor, so that when
 * the other child dies its end reads as closed.
 */
static int end_open(struct bench_end *e, struct bench_link *link, int side,
                    struct bench_shared *sh)
{
    memset(e, 0, sizeof *e);
    e->mech = link->mech;
    e->rfd = e->wfd = -1;
    e->sh = sh;
    snprintf(e->what, sizeof e->what, "%s %s", mech_names[link->mech],
             test_names[link->test]);
    if (link->mech == MECH_MAILBOX) {
        return end_open_mailboxes(e, link, side);
    }
    const int *mine = link_fds[link->mech][side];
    e->rfd = link->fd[mine[0]];
    e->wfd = link->fd[mine[1]];
    for (int i = 0; i < 4; i++) {
        if (i != mine[0] && i != mine[1]) {
            close_fd(&link->fd[i]);
        }
    }
    return CLI_CONTINUE;
}

static void end_close(struct bench_end *e)
{
    ipcx_mailbox_close(e->in);
    ipcx_mailbox_close(e->out);
    if (e->rfd >= 0) {
        close(e->rfd);
    }
    if (e->wfd >= 0 && e->wfd != e->rfd) {
        close(e->wfd);
    }
}

/* Send or receive one whole message, blocking; 0 or a negative errno. */
static int end_send(struct bench_end *e, const struct bench_msg *m)
{
    if (e->mech == MECH_MAILBOX) {
        return ipcx_mailbox_send(e->out, m, sizeof *m, IPCX_FOREVER);
    }
    return transfer(e->wfd, (void *)m, sizeof *m, true);
}

static int end_recv(struct bench_end *e, struct bench_msg *m)
{
    if (e->mech != MECH_MAILBOX) {
        return transfer(e->rfd, m, sizeof *m, false);
    }
    long n = ipcx_mailbox_recv(e->in, m, sizeof *m, IPCX_FOREVER);
    if (n < 0) {
        return (int)n;
    }
    return n == (long)sizeof *m ? 0 : -EPROTO;
}

/* ---- the four roles ---- */

/* One round trip of ping SEQ; CLI_CONTINUE or the failure. */
static int ping(struct bench_end *e, uint64_t seq)
{
    struct bench_msg m = {.kind = MSG_DATA, .seq = seq};
    int rc = end_send(e, &m);
    if (rc < 0) {
        return end_fail(e, "send", rc);
    }
    rc = end_recv(e, &m);
    if (rc < 0) {
        return end_fail(e, "receive", rc);
    }
    if (m.kind != MSG_DATA || m.seq != seq) {
        return child_fail(e->sh,
                          "%s: ping %llu came back as message %u/%llu: "
                          "a message was lost or duplicated",
                          e->what, (unsigned long long)seq, m.kind,
                          (unsigned long long)m.seq);
    }
    return CLI_CONTINUE;
}

/* A: warm up, then time each round trip for the duration; then stop B. */
static int round_trip_a(struct bench_end *e, const struct bench_run *run)
{
    struct bench_shared *sh = e->sh;
    uint64_t seq = 0, n = 0;
    int st = CLI_CONTINUE;
    int64_t t = now_ns(), end = t + run->warmup_ns;
    while (st == CLI_CONTINUE && t < end) {
        st = ping(e, seq++);
        t = now_ns();
    }
    end = t + run->duration_ns;
    while (st == CLI_CONTINUE && t < end && n < BENCH_MAX_SAMPLES) {
        /* A fresh start time: storing the last sample may have faulted. */
        int64_t t0 = now_ns();
        st = ping(e, seq++);
        t = now_ns();
        sh->samples[n++] = (uint64_t)(t - t0);
    }
    if (st != CLI_CONTINUE) {
        return st;
    }
    sh->count = n;
    struct bench_msg stop = {.kind = MSG_STOP, .seq = seq};
    int rc = end_send(e, &stop);
    return rc < 0 ? end_fail(e, "send the stop", rc) : CLI_OK;
}

/* B: echo every ping until the stop. */
static int round_trip_b(struct bench_end *e, const struct bench_run *run)
{
    struct bench_msg m;
    for (;;) {
        int rc = end_recv(e, &m);
        if (rc < 0) {
            return end_fail(e, "receive", rc);
        }
        if (m.kind == MSG_STOP) {
            return CLI_OK;
        }
        rc = end_send(e, &m);
        if (rc < 0) {
            return end_fail(e, "send", rc);
        }
    }
}

/* A: once B is ready, send numbered messages for the duration, then stop. */
static int stream_a(struct bench_end *e, const struct bench_run *run)
{
    struct bench_msg m;
    int rc = end_recv(e, &m);
    if (rc < 0 || m.kind != MSG_READY) {
        return rc < 0 ? end_fail(e, "receive", rc)
                      : child_fail(e->sh, "%s: no ready message", e->what);
    }
    int64_t t0 = now_ns(), end = t0 + run->duration_ns;
    uint64_t seq = 0;
    e->sh->t_start = t0;
    m = (struct bench_msg){.kind = MSG_DATA};
    for (;;) {
        m.seq = seq++;
        rc = end_send(e, &m);
        if (rc < 0) {
            return end_fail(e, "send", rc);
        }
        /* The clock now and then only: a read costs a fair share of what a
         * mailbox send does. */
        if (seq % BENCH_CLOCK_EVERY == 0 && now_ns() >= end) {
            break;
        }
    }
    m = (struct bench_msg){.kind = MSG_STOP, .seq = seq};
    rc = end_send(e, &m);
    return rc < 0 ? end_fail(e, "send the stop", rc) : CLI_OK;
}

/* B has the stop after NEXT data messages: was that all A sent? */
static int stream_stopped(struct bench_end *e, const struct bench_msg *stop,
                          uint64_t next)
{
    e->sh->t_end = now_ns();
    e->sh->count = next;
    if (stop->seq == next) {
        return CLI_OK;
    }
    return child_fail(e->sh, "%s: %llu messages sent, %llu received", e->what,
                      (unsigned long long)stop->seq, (unsigned long long)next);
}

/* B: say ready, then count, checking each number, until the stop. */
static int stream_b(struct bench_end *e, const struct bench_run *run)
{
    struct bench_msg m = {.kind = MSG_READY};
    int rc = end_send(e, &m);
    if (rc < 0) {
        return end_fail(e, "send", rc);
    }
    for (uint64_t next = 0;; next++) {
        rc = end_recv(e, &m);
        if (rc < 0) {
            return end_fail(e, "receive", rc);
        }
        if (m.kind == MSG_STOP) {
            return stream_stopped(e, &m, next);
        }
        if (m.kind != MSG_DATA || m.seq != next) {
            return child_fail(e->sh,
                              "%s: message %llu arrived where %llu was due: "
                              "a message was lost or duplicated",
                              e->what, (unsigned long long)m.seq,
                              (unsigned long long)next);
        }
    }
}

/* ---- the children ---- */

typedef int (*bench_role)(struct bench_end *e, const struct bench_run *run);

static const bench_role bench_roles[TEST_COUNT][2] = {
    [TEST_ROUND_TRIP] = {round_trip_a, round_trip_b},
    [TEST_STREAM] = {stream_a, stream_b},
};

static int pin_to(int cpu, struct bench_shared *sh)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        return child_fail(sh, "cannot pin a process to CPU %d: %s", cpu,
                          strerror(errno));
    }
    return CLI_CONTINUE;
}

static int child_main(const struct bench_run *run, struct bench_link *link,
                      int side)
{
    int st = run->pinned ? pin_to(run->cpu[side], run->sh) : CLI_CONTINUE;
    if (st != CLI_CONTINUE) {
        return st;
    }
    struct bench_end e;
    st = end_open(&e, link, side, run->sh);
    if (st == CLI_CONTINUE) {
        st = bench_roles[link->test][side](&e, run);
    }
    end_close(&e);
    return st;
}

static _Noreturn void bench_child(const struct bench_run *run,
                                  struct bench_link *link, int side)
{
    /* Die with the parent, so that no child is ever left behind blocked or
     * spinning; if the parent is gone already, stop at once. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != run->parent) {
        _exit(CLI_FAIL);
    }
    /* The parent blocks signals to wait for them; a child takes them the
     * ordinary way, so that a ^C or a kill ends it at once. */
    sigprocmask(SIG_SETMASK, &run->oldmask, NULL);
    _exit(child_main(run, link, side));
}

/* ---- the parent: supervision ---- */

/* The two children of one measurement. */
struct bench_kids {
    pid_t pid[2];     /* 0 once reaped */
    int status[2];    /* wait status once reaped; -1 if waitpid() failed */
    bool killed[2];   /* by us, after something else went wrong */
    bool timed_out;   /* not done BENCH_GRACE_NS after the duration */
    bool interrupted; /* SIGINT, SIGTERM or SIGHUP */
};

static bool status_ok(int status)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Reap the children that have ended; true if one of them failed. */
static bool reap_ended(struct bench_kids *k)
{
    bool failed = false;
    for (int i = 0; i < 2; i++) {
        if (k->pid[i] <= 0) {
            continue;
        }
        pid_t r = waitpid(k->pid[i], &k->status[i], WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            continue;
        }
        if (r < 0) {
            k->status[i] = -1;
        }
        k->pid[i] = 0;
        failed |= !status_ok(k->status[i]);
    }
    return failed;
}

static void kill_and_reap(struct bench_kids *k)
{
    for (int i = 0; i < 2; i++) {
        if (k->pid[i] <= 0) {
            continue;
        }
        kill(k->pid[i], SIGKILL);
        k->killed[i] = true;
        while (waitpid(k->pid[i], &k->status[i], 0) < 0 && errno == EINTR) {
        }
        k->pid[i] = 0;
    }
}

/*
 * Wait for a signal of SET until DEADLINE (CLOCK_MONOTONIC): the signal, or
 * 0 once the deadline has passed.  The signals are blocked, so one that
 * came before the call is pending and returned at once: none is missed.
 */
static int next_signal(const sigset_t *set, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ns();
        if (left <= 0) {
            return 0;
        }
        struct timespec ts = {.tv_sec = left / NSEC_PER_SEC,
                              .tv_nsec = left % NSEC_PER_SEC};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0) {
            return sig;
        }
        if (errno == EAGAIN) {
            return 0;
        }
    }
}

/* Consume a pending SIGINT, SIGTERM or SIGHUP; true if there was one. */
static bool take_interrupt(void)
{
    sigset_t set;
    struct timespec zero = {0};
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return sigtimedwait(&set, NULL, &zero) > 0;
}

/*
 * Sleep until both children have ended, one fails, the user interrupts or
 * the deadline passes; then kill what is left and reap it.
 */
static void supervise(const struct bench_run *run, struct bench_kids *k)
{
    int64_t deadline =
        now_ns() + run->warmup_ns + run->duration_ns + BENCH_GRACE_NS;
    while (!reap_ended(k) && (k->pid[0] > 0 || k->pid[1] > 0)) {
        int sig = next_signal(&run->waitset, deadline);
        if (sig == 0) {
            k->timed_out = true;
            break;
        }
        if (sig != SIGCHLD) {
            k->interrupted = true;
            break;
        }
    }
    kill_and_reap(k);
    /* A ^C reaches the children too: if they died of it, say so, rather
     * than "killed by signal 2". */
    k->interrupted |= take_interrupt();
}

/* A child ended with STATUS of its own accord, and not well. */
static void report_status(const char *what, int status)
{
    if (status == -1) {
        fprintf(stderr, "ipcx: bench: %s: lost track of a process\n", what);
    } else if (WIFSIGNALED(status)) {
        fprintf(stderr,
                "ipcx: bench: %s: a process was killed by signal %d "
                "(%s)\n",
                what, WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        fprintf(stderr, "ipcx: bench: %s: a process exited with status %d\n",
                what, WEXITSTATUS(status));
    }
}

/*
 * The child that ended badly of its own accord (we kill only after a
 * failure), preferring one a signal killed: the other's failure is then
 * only a consequence.  -1 if none did.
 */
static int culprit(const struct bench_kids *k)
{
    int found = -1;
    for (int i = 0; i < 2; i++) {
        int s = k->status[i];
        if (!k->killed[i] && !status_ok(s) &&
            (found < 0 || s == -1 || WIFSIGNALED(s))) {
            found = i;
        }
    }
    return found;
}

/* Why a measurement failed, on standard error; returns CLI_FAIL. */
static int report_failure(struct bench_run *run, const struct bench_kids *k,
                          const char *what)
{
    int bad = culprit(k);
    progress_clear(run);
    if (k->interrupted) {
        fprintf(stderr, "ipcx: bench: interrupted\n");
    } else if (bad >= 0 && !WIFEXITED(k->status[bad])) {
        report_status(what, k->status[bad]);
    } else if (run->sh->failed) {
        fprintf(stderr, "ipcx: bench: %s\n", run->sh->error);
    } else if (k->timed_out) {
        fprintf(stderr,
                "ipcx: bench: %s: not done %lld s after its %llu ms; "
                "processes killed\n",
                what, (long long)(BENCH_GRACE_NS / NSEC_PER_SEC),
                (unsigned long long)run->opts->duration_ms);
    } else if (bad >= 0) {
        report_status(what, k->status[bad]);
    }
    return CLI_FAIL;
}

/* Fork A and B; the parent then drops its copies of the descriptors. */
static int spawn(struct bench_run *run, struct bench_link *link,
                 struct bench_kids *k)
{
    fflush(NULL); /* nothing buffered is written twice */
    for (int side = 0; side < 2; side++) {
        pid_t pid = fork();
        if (pid == 0) {
            bench_child(run, link, side);
        }
        if (pid < 0) {
            int err = errno;
            kill_and_reap(k);
            progress_clear(run);
            return cli_sys_error(err, "bench: cannot fork");
        }
        k->pid[side] = pid;
    }
    link_close_fds(link);
    return CLI_CONTINUE;
}

/* ---- results ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank PCT percentile of the N sorted values V, in us. */
static double percentile_us(const uint64_t *v, uint64_t n, unsigned pct)
{
    uint64_t rank = (n * pct + 99) / 100;
    return (double)v[rank > 0 ? rank - 1 : 0] / 1e3;
}

static int collect(struct bench_run *run, enum bench_mech mech,
                   enum bench_test test)
{
    struct bench_shared *sh = run->sh;
    struct bench_result *r = &run->res[mech];
    int64_t ns = sh->t_end - sh->t_start;
    if (sh->count == 0 || (test == TEST_STREAM && ns <= 0)) {
        progress_clear(run);
        fprintf(stderr, "ipcx: bench: %s %s: nothing measured\n",
                mech_names[mech], test_names[test]);
        return CLI_FAIL;
    }
    if (test == TEST_ROUND_TRIP) {
        qsort(sh->samples, sh->count, sizeof *sh->samples, cmp_u64);
        r->median_us = percentile_us(sh->samples, sh->count, 50);
        r->p99_us = percentile_us(sh->samples, sh->count, 99);
        r->round_trips = sh->count;
    } else {
        r->messages = sh->count;
        r->rate = (double)sh->count * 1e9 / (double)ns;
    }
    return CLI_CONTINUE;
}

/* One measurement: a fresh link, two fresh children, all cleaned up. */
static int measure(struct bench_run *run, enum bench_mech mech,
                   enum bench_test test)
{
    struct bench_link link;
    struct bench_kids k;
    memset(&k, 0, sizeof k);
    char what[48];
    snprintf(what, sizeof what, "%s %s", mech_names[mech], test_names[test]);
    memset(run->sh, 0, sizeof *run->sh); /* the samples are overwritten */
    progress(run, mech, test);
    int st = link_setup(run, &link, mech, test);
    if (st == CLI_CONTINUE) {
        st = spawn(run, &link, &k);
    }
    if (st == CLI_CONTINUE) {
        supervise(run, &k);
        bool ok =
            status_ok(k.status[0]) && status_ok(k.status[1]) && !k.interrupted;
        st = ok ? CLI_CONTINUE : report_failure(run, &k, what);
    }
    if (!link_teardown(run, &link) && st == CLI_CONTINUE) {
        st = CLI_FAIL;
    }
    return st == CLI_CONTINUE ? collect(run, mech, test) : st;
}

/* ---- output ---- */

static void print_table(const struct bench_run *run)
{
    const struct bench_result *pipe = &run->res[MECH_PIPE];
    printf("ipcx bench: %d-byte messages, %llu ms per measurement, ",
           BENCH_MSG_SIZE, (unsigned long long)run->opts->duration_ms);
    if (run->pinned) {
        printf("pinned to CPUs %d and %d\n\n", run->cpu[0], run->cpu[1]);
    } else {
        printf("not pinned (one CPU)\n\n");
    }
    printf("%-21s%-32s%s\n", "", "round trip (us)", "stream");
    printf("%-16s %8s %8s %8s  %11s %8s\n", "mechanism", "median", "p99",
           "x pipe", "msg/s", "x pipe");
    for (int m = 0; m < MECH_COUNT; m++) {
        const struct bench_result *r = &run->res[m];
        printf("%-16s %8.2f %8.2f %8.2f  %11.0f %8.2f\n", mech_names[m],
               r->median_us, r->p99_us, pipe->median_us / r->median_us, r->rate,
               r->rate / pipe->rate);
    }
    printf("\nx pipe: how many times faster than the pipe (higher is "
           "faster)\n");
}

static void print_json(const struct bench_run *run)
{
    const struct bench_result *pipe = &run->res[MECH_PIPE];
    printf("{\n  \"message_size\": %d,\n  \"duration_ms\": %llu,\n",
           BENCH_MSG_SIZE, (unsigned long long)run->opts->duration_ms);
    if (run->pinned) {
        printf("  \"pinned_cpus\": [%d, %d],\n", run->cpu[0], run->cpu[1]);
    } else {
        printf("  \"pinned_cpus\": [],\n");
    }
    printf("  \"mailbox_capacity\": %u,\n  \"results\": [\n", BENCH_CAPACITY);
    for (int m = 0; m < MECH_COUNT; m++) {
        const struct bench_result *r = &run->res[m];
        printf("    {\"mechanism\": \"%s\", \"round_trip_median_us\": %.3f, "
               "\"round_trip_p99_us\": %.3f, \"round_trips\": %llu, "
               "\"round_trip_x_pipe\": %.3f, \"stream_msgs_per_sec\": %.0f, "
               "\"stream_messages\": %llu, \"stream_x_pipe\": %.3f}%s\n",
               mech_keys[m], r->median_us, r->p99_us,
               (unsigned long long)r->round_trips,
               pipe->median_us / r->median_us, r->rate,
               (unsigned long long)r->messages, r->rate / pipe->rate,
               m + 1 < MECH_COUNT ? "," : "");
    }
    printf("  ]\n}\n");
}

/* ---- setup and the command ---- */

/* Pin to the first two CPUs we may use, if there are two. */
static void choose_cpus(struct bench_run *run)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) {
        return;
    }
    for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            run->cpu[n++] = cpu;
        }
    }
    run->pinned = n == 2;
}

/* A mailbox name prefix no other run shares: our pid and a random word. */
static void choose_prefix(struct bench_run *run)
{
    uint32_t word;
    if (getrandom(&word, sizeof word, 0) != (ssize_t)sizeof word) {
        word = (uint32_t)now_ns();
    }
    snprintf(run->prefix, sizeof run->prefix, "bench-%ld-%08x",
             (long)run->parent, (unsigned)word);
}

static int bench_setup(struct bench_run *run)
{
    run->map_size = sizeof *run->sh + BENCH_MAX_SAMPLES * sizeof(uint64_t);
    void *p = mmap(NULL, run->map_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return cli_sys_error(errno, "bench: cannot map %zu bytes",
                             run->map_size);
    }
    run->sh = p;
    run->parent = getpid();
    run->tty = isatty(STDERR_FILENO) == 1;
    choose_cpus(run);
    choose_prefix(run);
    /* Reaping needs SIGCHLD at its default, whatever we inherited. */
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&run->waitset);
    sigaddset(&run->waitset, SIGCHLD);
    sigaddset(&run->waitset, SIGINT);
    sigaddset(&run->waitset, SIGTERM);
    sigaddset(&run->waitset, SIGHUP);
    sigprocmask(SIG_BLOCK, &run->waitset, &run->oldmask);
    run->masked = true;
    return CLI_CONTINUE;
}

static void bench_teardown(struct bench_run *run)
{
    if (run->sh != NULL) {
        munmap(run->sh, run->map_size);
    }
    if (run->masked) {
        sigprocmask(SIG_SETMASK, &run->oldmask, NULL);
    }
}

static int run_bench(int argc, char **argv)
{
    struct bench_opts opts = {.duration_ms = BENCH_DEFAULT_MS};
    struct cli_operands ops;
    int st = cli_getopt(argc, argv, &bench_spec, &opts, &ops);
    if (st != CLI_CONTINUE) {
        return st;
    }
    struct bench_run run = {
        .opts = &opts,
        .duration_ns = IPCX_MSEC(opts.duration_ms),
        .warmup_ns = IPCX_MSEC(opts.duration_ms) / 5,
    };
    st = bench_setup(&run);
    for (int i = 0; i < MECH_COUNT * TEST_COUNT && st == CLI_CONTINUE; i++) {
        st = measure(&run, (enum bench_mech)(i / TEST_COUNT),
                     (enum bench_test)(i % TEST_COUNT));
    }
    progress_clear(&run);
    if (st == CLI_CONTINUE) {
        if (opts.json) {
            print_json(&run);
        } else {
            print_table(&run);
        }
        st = cli_flush(CLI_OK, CLI_OK);
    }
    bench_teardown(&run);
    return st;
}

const struct cli_command cli_bench_command = {
    .name = "bench",
    .usage = bench_usage,
    .run = run_bench,
};
