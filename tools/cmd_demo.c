/*
 * cmd_demo.c - ipcx demo: the bounded-buffer producer-consumer of the
 * course notes, as real processes on a bounded mailbox, with a check that
 * every message arrived exactly once.
 *
 * P producer processes each send N messages (producer id, sequence number,
 * checksum).  C consumer processes receive until each takes one stop
 * message; the parent sends the C stops once every producer has exited, so
 * the stops queue behind all the data.  Consumers account in a shared
 * anonymous mapping: one bit per (producer, seq), set with an atomic OR, so
 * a duplicate is caught the moment it arrives and a loss is a clear bit at
 * the end; each consumer also checks that every producer's sequence numbers
 * rise.  If any process fails, the parent destroys the mailbox, which wakes
 * everyone blocked on it (-EIDRM), so a failure never leaves a hang behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DEMO_MAX_PROCS 256
#define DEMO_MAX_TOTAL (1ull << 30) /* messages: a 128 MiB bitmap */

static const char demo_usage[] =
    "usage: ipcx demo [--producers P] [--consumers C] [--messages N]\n"
    "                 [--capacity K]\n"
    "\n"
    "The bounded-buffer producer-consumer as real processes: P producers\n"
    "each send N numbered, checksummed messages to a new mailbox of\n"
    "capacity K; C consumers receive them.  Prints the throughput and checks\n"
    "that every message arrived exactly once, in order per producer and\n"
    "consumer, intact (exit status 3 if not).  The mailbox, demo-<pid>-<id>,\n"
    "is removed at the end.\n"
    "\n"
    "Options:\n"
    "  -p, --producers P  producer processes (default 2, at most 256)\n"
    "  -c, --consumers C  consumer processes (default 2, at most 256)\n"
    "  -n, --messages N   messages per producer (default 1000000)\n"
    "  -k, --capacity K   messages the mailbox holds (default 64)\n"
    "  -h, --help         show this help\n";

enum { DEMO_DATA = 1, DEMO_STOP = 2 };

struct demo_msg {
    uint32_t kind;
    uint32_t producer;
    uint64_t seq;
    uint64_t check; /* demo_check() of the fields above */
};

/* What one consumer saw; written by that consumer only, read by the parent
 * after reaping it.  A cache line each, so consumers share none. */
struct demo_tally {
    uint64_t received;  /* intact data messages seen first by us */
    uint64_t corrupt;   /* wrong length, kind, numbers or checksum */
    uint64_t disorder;  /* seq not above the last from that producer */
    uint64_t duplicate; /* (producer, seq) already seen */
} __attribute__((aligned(64)));

struct demo_cfg {
    uint64_t producers, consumers, messages, capacity;
};

struct demo_run {
    const struct demo_cfg *cfg;
    char name[64];
    uint64_t key; /* per run, so no stale message checks out */
    struct demo_tally *tally;
    uint64_t *seen; /* bit producer * messages + seq */
    size_t map_size;
    pid_t *pids; /* consumers, then producers; 0 once reaped */
    uint64_t alive, producers_alive;
    bool created, failed, destroyed;
};

/* The one piece of global state: a signal handler has nowhere else. */
static volatile sig_atomic_t demo_signal;

static void on_signal(int sig)
{
    demo_signal = sig;
}

/* ---- options ---- */

static int demo_option(const struct cli_spec *spec, void *opts, int c,
                       const char *arg)
{
    struct demo_cfg *cfg = opts;
    switch (c) {
    case 'p':
        return cli_parse_u64(demo_usage, "--producers", arg, 1, DEMO_MAX_PROCS,
                             &cfg->producers);
    case 'c':
        return cli_parse_u64(demo_usage, "--consumers", arg, 1, DEMO_MAX_PROCS,
                             &cfg->consumers);
    case 'n':
        return cli_parse_u64(demo_usage, "--messages", arg, 1, DEMO_MAX_TOTAL,
                             &cfg->messages);
    default:
        return cli_parse_u64(demo_usage, "--capacity", arg, 1,
                             IPCX_CAPACITY_MAX, &cfg->capacity);
    }
}

static const struct option demo_longopts[] = {
    {"producers", required_argument, NULL, 'p'},
    {"consumers", required_argument, NULL, 'c'},
    {"messages", required_argument, NULL, 'n'},
    {"capacity", required_argument, NULL, 'k'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec demo_spec = {
    .usage = demo_usage,
    .shortopts = ":p:c:n:k:h",
    .longopts = demo_longopts,
    .option = demo_option,
    .min_operands = 0,
    .max_operands = 0,
};

/* ---- messages ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t demo_check(uint64_t key, const struct demo_msg *m)
{
    uint64_t head = (uint64_t)m->kind << 32 | m->producer;
    return mix64(key ^ mix64(head ^ mix64(m->seq)));
}

static bool demo_valid(const struct demo_run *run, const struct demo_msg *m,
                       long len)
{
    return len == (long)sizeof *m && m->kind == DEMO_DATA &&
           m->producer < run->cfg->producers && m->seq < run->cfg->messages &&
           m->check == demo_check(run->key, m);
}

/* ---- the children ---- */

/* A child's failure, unless it is the parent's destroy ending the run. */
static int child_error(int rc, const char *role, uint64_t id,
                       const struct demo_run *run)
{
    if (rc == -EIDRM) {
        return CLI_FAIL;
    }
    return cli_error(rc, "demo %s %llu: mailbox '%s'", role,
                     (unsigned long long)id, run->name);
}

static int demo_producer(const struct demo_run *run, uint64_t id)
{
    ipcx_mailbox *mb;
    int rc = ipcx_mailbox_open(run->name, 0, &mb);
    if (rc < 0) {
        return child_error(rc, "producer", id, run);
    }
    struct demo_msg m = {.kind = DEMO_DATA, .producer = (uint32_t)id};
    for (uint64_t seq = 0; seq < run->cfg->messages && rc == 0; seq++) {
        m.seq = seq;
        m.check = demo_check(run->key, &m);
        rc = ipcx_mailbox_send(mb, &m, sizeof m, IPCX_FOREVER);
    }
    ipcx_mailbox_close(mb);
    return rc < 0 ? child_error(rc, "producer", id, run) : CLI_OK;
}

/*
 * Account one received message.  NEXT holds, per producer, the lowest
 * sequence number this consumer may see next.  The bitmap OR is relaxed:
 * only its atomicity matters between consumers, and the parent reads the
 * bitmap after waitpid(), which orders it after every consumer's writes.
 */
static void demo_account(const struct demo_run *run, struct demo_tally *t,
                         uint64_t *next, const struct demo_msg *m, long len)
{
    if (!demo_valid(run, m, len)) {
        t->corrupt++;
        return;
    }
    if (m->seq < next[m->producer]) {
        t->disorder++;
    } else {
        next[m->producer] = m->seq + 1;
    }
    uint64_t bit = m->producer * run->cfg->messages + m->seq;
    uint64_t mask = 1ull << (bit % 64);
    if (__atomic_fetch_or(&run->seen[bit / 64], mask, __ATOMIC_RELAXED) &
        mask) {
        t->duplicate++;
    } else {
        t->received++;
    }
}

static bool is_stop(const struct demo_run *run, const struct demo_msg *m,
                    long len)
{
    return len == (long)sizeof *m && m->kind == DEMO_STOP &&
           m->check == demo_check(run->key, m);
}

static long consume(const struct demo_run *run, ipcx_mailbox *mb,
                    struct demo_tally *t, uint64_t *next)
{
    struct demo_msg m;
    for (;;) {
        long n = ipcx_mailbox_recv(mb, &m, sizeof m, IPCX_FOREVER);
        if (n < 0 || is_stop(run, &m, n)) {
            return n < 0 ? n : 0;
        }
        demo_account(run, t, next, &m, n);
    }
}

static int demo_consumer(const struct demo_run *run, uint64_t id)
{
    uint64_t *next = calloc(run->cfg->producers, sizeof *next);
    ipcx_mailbox *mb;
    if (next == NULL) {
        return cli_sys_error(ENOMEM, "demo consumer %llu",
                             (unsigned long long)id);
    }
    long rc = ipcx_mailbox_open(run->name, 0, &mb);
    if (rc == 0) {
        rc = consume(run, mb, &run->tally[id], next);
        ipcx_mailbox_close(mb);
    }
    free(next);
    return rc < 0 ? child_error((int)rc, "consumer", id, run) : CLI_OK;
}

/* ---- the parent ---- */

static void demo_destroy(struct demo_run *run)
{
    if (!run->created || run->destroyed) {
        return;
    }
    run->destroyed = true;
    int rc = ipcx_mailbox_destroy(run->name);
    if (rc < 0) {
        cli_error(rc, "demo: cannot remove mailbox '%s'", run->name);
    }
}

/* Something went wrong: wake everyone blocked on the mailbox (-EIDRM). */
static void demo_fail(struct demo_run *run)
{
    run->failed = true;
    demo_destroy(run);
}

static void demo_check_signal(struct demo_run *run)
{
    if (demo_signal == 0 || run->failed) {
        return;
    }
    demo_fail(run);
    for (uint64_t i = 0; i < run->cfg->consumers + run->cfg->producers; i++) {
        if (run->pids[i] > 0) {
            kill(run->pids[i], SIGTERM);
        }
    }
}

/* A child that exits non-zero has said why; one killed cannot. */
static void demo_reaped(struct demo_run *run, pid_t pid, int status)
{
    uint64_t c = run->cfg->consumers, n = c + run->cfg->producers;
    for (uint64_t i = 0; i < n; i++) {
        if (run->pids[i] != pid) {
            continue;
        }
        run->pids[i] = 0;
        run->alive--;
        run->producers_alive -= i >= c;
        if (WIFSIGNALED(status) && demo_signal == 0) {
            fprintf(stderr,
                    "ipcx: demo: %s %llu (pid %ld) killed by signal %d (%s)\n",
                    i < c ? "consumer" : "producer",
                    (unsigned long long)(i < c ? i : i - c), (long)pid,
                    WTERMSIG(status), strsignal(WTERMSIG(status)));
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        demo_fail(run);
    }
}

/*
 * Reap one child, waiting for it unless FLAGS has WNOHANG.  False when
 * there is nothing (more) to reap now; true after a child or a signal.
 */
static bool demo_reap(struct demo_run *run, int flags)
{
    int status;
    pid_t pid = waitpid(-1, &status, flags);
    if (pid > 0) {
        demo_reaped(run, pid, status);
    }
    demo_check_signal(run);
    return pid > 0 || (pid < 0 && errno == EINTR);
}

static pid_t demo_fork(struct demo_run *run, bool producer, uint64_t id)
{
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    _exit(producer ? demo_producer(run, id) : demo_consumer(run, id));
}

/* Consumers first, so the producers find someone waiting. */
static void demo_start(struct demo_run *run)
{
    uint64_t n = run->cfg->consumers + run->cfg->producers;
    fflush(NULL); /* no buffered output duplicated into the children */
    for (uint64_t i = 0; i < n && !run->failed; i++) {
        bool producer = i >= run->cfg->consumers;
        uint64_t id = producer ? i - run->cfg->consumers : i;
        pid_t pid = demo_fork(run, producer, id);
        if (pid < 0) {
            cli_sys_error(errno, "demo: cannot fork");
            demo_fail(run);
            break;
        }
        run->pids[i] = pid;
        run->alive++;
        run->producers_alive += producer;
    }
}

/* One stop per consumer, sent after every producer has exited. */
static void demo_send_stops(struct demo_run *run)
{
    ipcx_mailbox *mb;
    int rc = ipcx_mailbox_open(run->name, 0, &mb);
    if (rc < 0) {
        cli_error(rc, "demo: cannot open mailbox '%s'", run->name);
        demo_fail(run);
        return;
    }
    struct demo_msg stop = {.kind = DEMO_STOP, .producer = UINT32_MAX};
    stop.check = demo_check(run->key, &stop);
    for (uint64_t sent = 0; sent < run->cfg->consumers && !run->failed;) {
        /* Timed, so that a consumer's death is noticed while we wait. */
        rc = ipcx_mailbox_send(mb, &stop, sizeof stop, IPCX_MSEC(100));
        if (rc == 0) {
            sent++;
        } else if (rc == -ETIMEDOUT) {
            while (demo_reap(run, WNOHANG)) {
            }
        } else {
            cli_error(rc, "demo: cannot send to mailbox '%s'", run->name);
            demo_fail(run);
        }
    }
    ipcx_mailbox_close(mb);
}

static void demo_finish(struct demo_run *run)
{
    while (run->producers_alive > 0 && demo_reap(run, 0)) {
    }
    if (!run->failed) {
        demo_send_stops(run);
    }
    while (run->alive > 0 && demo_reap(run, 0)) {
    }
}

/* ---- setup, report, teardown ---- */

static uint64_t random_key(void)
{
    uint64_t key;
    if (getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        key = mix64((uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32);
    }
    return key;
}

static int demo_map(struct demo_run *run)
{
    const struct demo_cfg *cfg = run->cfg;
    size_t tallies = cfg->consumers * sizeof *run->tally;
    size_t words = (cfg->producers * cfg->messages + 63) / 64;
    size_t size = tallies + words * sizeof *run->seen;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return cli_sys_error(errno, "demo: cannot map %zu bytes", size);
    }
    run->map_size = size;
    run->tally = p;
    run->seen = (uint64_t *)((char *)p + tallies);
    return CLI_CONTINUE;
}

static int demo_setup(struct demo_run *run)
{
    ipcx_mailbox_attr attr;
    ipcx_mailbox_attr_init(&attr);
    attr.capacity = (uint32_t)run->cfg->capacity;
    attr.max_msg_size = sizeof(struct demo_msg);
    run->key = random_key();
    snprintf(run->name, sizeof run->name, "demo-%ld-%08x", (long)getpid(),
             (unsigned)(run->key >> 32));
    run->pids =
        calloc(run->cfg->producers + run->cfg->consumers, sizeof *run->pids);
    if (run->pids == NULL) {
        return cli_sys_error(ENOMEM, "demo");
    }
    int st = demo_map(run);
    if (st != CLI_CONTINUE) {
        return st;
    }
    int rc = ipcx_mailbox_create(run->name, &attr);
    if (rc < 0) {
        return cli_error(rc, "demo: cannot create mailbox '%s'", run->name);
    }
    run->created = true;
    return CLI_CONTINUE;
}

static void demo_teardown(struct demo_run *run)
{
    demo_destroy(run);
    if (run->tally != NULL) {
        munmap(run->tally, run->map_size);
    }
    free(run->pids);
}

/* The first (producer, seq) nobody received, as "producer P seq S". */
static void first_missing(const struct demo_run *run, char *buf, size_t len)
{
    uint64_t total = run->cfg->producers * run->cfg->messages;
    for (uint64_t bit = 0; bit < total; bit++) {
        if (!(run->seen[bit / 64] & (1ull << (bit % 64)))) {
            snprintf(buf, len, "; first lost: producer %llu seq %llu",
                     (unsigned long long)(bit / run->cfg->messages),
                     (unsigned long long)(bit % run->cfg->messages));
            return;
        }
    }
    buf[0] = '\0';
}

static struct demo_tally demo_sum(const struct demo_run *run)
{
    struct demo_tally sum = {0};
    for (uint64_t i = 0; i < run->cfg->consumers; i++) {
        sum.received += run->tally[i].received;
        sum.corrupt += run->tally[i].corrupt;
        sum.disorder += run->tally[i].disorder;
        sum.duplicate += run->tally[i].duplicate;
    }
    return sum;
}

static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static int demo_success(const struct demo_run *run, uint64_t total, double secs)
{
    const struct demo_cfg *c = run->cfg;
    printf("%llu producer%s, %llu consumer%s, capacity %llu: %llu messages "
           "in %.2f s = %.0f msg/s; every message arrived exactly once\n",
           (unsigned long long)c->producers, plural(c->producers),
           (unsigned long long)c->consumers, plural(c->consumers),
           (unsigned long long)c->capacity, (unsigned long long)total, secs,
           secs > 0 ? (double)total / secs : 0.0);
    return cli_flush(CLI_OK, CLI_OK);
}

/* Every bit set by exactly one consumer is what "exactly once" means. */
static int demo_report(const struct demo_run *run, double secs)
{
    uint64_t total = run->cfg->producers * run->cfg->messages;
    struct demo_tally sum = demo_sum(run);
    uint64_t lost = total - sum.received;
    if (demo_signal != 0) {
        fprintf(stderr, "ipcx: demo: interrupted after %llu of %llu messages\n",
                (unsigned long long)sum.received, (unsigned long long)total);
        return CLI_FAIL;
    }
    if (!run->failed && lost == 0 && sum.corrupt == 0 && sum.disorder == 0 &&
        sum.duplicate == 0) {
        return demo_success(run, total, secs);
    }
    char where[96];
    first_missing(run, where, sizeof where);
    fprintf(stderr,
            "ipcx: demo: %s%llu of %llu messages lost, %llu duplicated, "
            "%llu corrupt, %llu out of order%s\n",
            run->failed ? "a process failed; " : "", (unsigned long long)lost,
            (unsigned long long)total, (unsigned long long)sum.duplicate,
            (unsigned long long)sum.corrupt, (unsigned long long)sum.disorder,
            where);
    return CLI_FAIL;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Without SA_RESTART, so that waitpid() returns to look at the flag. */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static int run_demo(int argc, char **argv)
{
    struct demo_cfg cfg = {
        .producers = 2, .consumers = 2, .messages = 1000000, .capacity = 64};
    struct cli_operands ops;
    int st = cli_getopt(argc, argv, &demo_spec, &cfg, &ops);
    if (st != CLI_CONTINUE) {
        return st;
    }
    if (cfg.messages > DEMO_MAX_TOTAL / cfg.producers) {
        return cli_usage_error(demo_usage, "more than %llu messages in all",
                               (unsigned long long)DEMO_MAX_TOTAL);
    }
    struct demo_run run = {.cfg = &cfg};
    struct timespec t0;
    catch_signals();
    st = demo_setup(&run);
    if (st == CLI_CONTINUE) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        demo_start(&run);
        demo_finish(&run);
        st = demo_report(&run, seconds_since(&t0));
    }
    demo_teardown(&run);
    return st;
}

const struct cli_command cli_demo_command = {
    .name = "demo",
    .usage = demo_usage,
    .run = run_demo,
};
