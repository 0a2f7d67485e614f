/*
 * cmd_channel.c - ipcx serve and ipcx call: connection ports from a shell.
 *
 * serve is one thread running one poll() loop over a signalfd (SIGINT,
 * SIGTERM), the port's listening socket and each client's
 * ipcx_channel_fd().  Why not a thread per client: the echo does no work
 * worth a core, the loop needs no locks, a signal is just another readable
 * descriptor, and stopping closes every channel in one place.  What a
 * single loop must not do is wait on one client while the others starve,
 * so it never waits inside a call: it receives with timeout 0 until
 * -EAGAIN (at most SERVE_BATCH messages per client per round, so a client
 * that keeps sending cannot hold the loop), and it echoes with timeout 0.
 * An echo that finds the client's queue full is held back, the client is
 * not read from until it goes through (retried every SERVE_RETRY_MS), and
 * the other clients carry on: back-pressure on that client alone.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define SERVE_BATCH    64  /* messages per client before the next poll */
#define SERVE_RETRY_MS 10  /* cadence of retrying held echoes */
#define SERVE_PAUSE_MS 100 /* accepting pauses this long after a failure */

#define NSEC_PER_SEC 1000000000ll

/*
 * The reason for the ipcx failure RC: the library's detail when it gave
 * one (it names the port or the peer), else the code's text.
 */
static const char *channel_reason(int rc)
{
    const char *detail = ipcx_last_error();
    return detail[0] != '\0' ? detail : ipcx_strerror(rc);
}

/* As cli_error(), worded for connection ports: "ipcx: WHAT: REASON". */
static int channel_error(int rc, const char *what, const char *name)
{
    if (rc == -EAGAIN || rc == -ETIMEDOUT) {
        return CLI_NOTHING;
    }
    fprintf(stderr, "ipcx: %s '%s': %s\n", what, name, channel_reason(rc));
    return CLI_FAIL;
}

/* ---- serve ---- */

static const char serve_usage[] =
    "usage: ipcx serve NAME --echo [--mode OCTAL] [--capacity N]\n"
    "                  [--max-size BYTES] [--count N]\n"
    "\n"
    "Listen on connection port NAME and serve every client that connects,\n"
    "several at a time, until SIGINT or SIGTERM (or --count): the port is\n"
    "then removed and the exit status is 0.  Each accepted client is logged\n"
    "on standard error with its pid, uid and gid as the kernel reported\n"
    "them, and so is each disconnect.\n"
    "\n"
    "Options:\n"
    "  -e, --echo            answer each request with its own bytes, and send\n"
    "                        each one-way message back as a one-way message\n"
    "                        (required: the only behaviour so far)\n"
    "  -m, --mode OCTAL      who may connect: permission bits of the port\n"
    "                        (default 600; connecting needs write permission)\n"
    "  -c, --capacity N      messages each direction of a channel holds\n"
    "                        (default 64, at most 65536)\n"
    "  -s, --max-size BYTES  largest message (default 4096, at most 64M)\n"
    "  -n, --count N         stop after echoing N messages\n"
    "  -h, --help            show this help\n"
    "\n"
    "BYTES may end in k, M or G (powers of 1024).\n";

struct serve_opts {
    ipcx_port_attr attr;
    uint64_t count; /* 0: no limit */
    bool echo;
};

/* --capacity or --max-size into O->attr. */
static int serve_sizes(int c, const char *arg, struct serve_opts *o)
{
    uint64_t v;
    int st;
    if (c == 'c') {
        st = cli_parse_u64(serve_usage, "--capacity", arg, 1,
                           IPCX_CHANNEL_CAPACITY_MAX, &v);
        if (st == CLI_CONTINUE) {
            o->attr.capacity = (uint32_t)v;
        }
        return st;
    }
    st = cli_parse_size(serve_usage, "--max-size", arg, 1, IPCX_MSG_SIZE_MAX,
                        &v);
    if (st == CLI_CONTINUE) {
        o->attr.max_msg_size = (uint32_t)v;
    }
    return st;
}

static int serve_option(const struct cli_spec *spec, void *opts, int c,
                        const char *arg)
{
    struct serve_opts *o = opts;
    switch (c) {
    case 'e':
        o->echo = true;
        return CLI_CONTINUE;
    case 'm':
        return cli_parse_mode(serve_usage, "--mode", arg, &o->attr.mode);
    case 'n':
        return cli_parse_u64(serve_usage, "--count", arg, 1, UINT64_MAX,
                             &o->count);
    default: /* 'c' or 's' */
        return serve_sizes(c, arg, o);
    }
}

static const struct option serve_longopts[] = {
    {"echo", no_argument, NULL, 'e'},
    {"mode", required_argument, NULL, 'm'},
    {"capacity", required_argument, NULL, 'c'},
    {"max-size", required_argument, NULL, 's'},
    {"count", required_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec serve_spec = {
    .usage = serve_usage,
    .shortopts = ":em:c:s:n:h",
    .longopts = serve_longopts,
    .option = serve_option,
    .min_operands = 1,
    .max_operands = 1,
};

/* One connected client. */
struct client {
    ipcx_channel *ch; /* NULL once closed (removed at the end of a round) */
    ipcx_peer peer;
    int fd;         /* ipcx_channel_fd(ch), owned by the channel */
    bool more;      /* stopped before -EAGAIN: read again without waiting */
    bool held;      /* the echo in buf found no room: retry before reading */
    uint64_t token; /* of the message in buf: 0 for one-way */
    size_t len;
    char *buf; /* max_msg bytes */
};

struct server {
    ipcx_port *port;
    int sigfd;
    struct client *c;
    size_t n, cap;
    struct pollfd *pfd; /* sigfd, port, then one per client */
    size_t max_msg;
    uint64_t count, echoed;
    bool stop;
    bool accept_paused; /* skip the port for one poll after a failure */
};

/* "ipcx serve: pid N <what>" on standard error. */
static void log_peer(const ipcx_peer *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_peer(const ipcx_peer *p, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ipcx serve: pid %ld ", (long)p->pid);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void drop_client(struct client *c)
{
    ipcx_channel_close(c->ch);
    free(c->buf);
    c->ch = NULL;
    c->buf = NULL;
}

/* The client's channel failed with RC (-EPIPE: it went away). */
static void client_failed(struct client *c, int rc)
{
    if (rc == -EPIPE) {
        log_peer(&c->peer, "disconnected");
    } else {
        log_peer(&c->peer, "%s; closing its channel", channel_reason(rc));
    }
    drop_client(c);
}

/* Echo what C holds; false if it was held back or the client is gone. */
static bool echo(struct server *s, struct client *c)
{
    int rc = c->token != 0
                 ? ipcx_channel_reply(c->ch, c->token, c->buf, c->len, 0)
                 : ipcx_channel_send(c->ch, c->buf, c->len, 0);
    c->held = rc == -EAGAIN;
    if (rc < 0 && !c->held) {
        client_failed(c, rc);
    }
    if (rc < 0) {
        return false;
    }
    s->echoed++;
    if (s->count != 0 && s->echoed >= s->count) {
        fprintf(stderr, "ipcx serve: echoed %llu message%s, stopping\n",
                (unsigned long long)s->echoed, s->echoed == 1 ? "" : "s");
        s->stop = true;
        return false;
    }
    return true;
}

/* Receive and echo up to SERVE_BATCH messages from C. */
static void serve_client(struct server *s, struct client *c)
{
    for (int i = 0; i < SERVE_BATCH; i++) {
        ipcx_channel_msg_info info;
        long n = ipcx_channel_recv_ex(c->ch, c->buf, s->max_msg, 0, &info);
        if (n == -EAGAIN) {
            c->more = false;
            return;
        }
        if (n < 0) {
            client_failed(c, (int)n);
            return;
        }
        c->len = (size_t)n;
        c->token = info.token;
        if (!echo(s, c)) {
            return;
        }
    }
    c->more = true;
}

static int add_client(struct server *s, const struct client *c)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        struct client *v = realloc(s->c, cap * sizeof *v);
        struct pollfd *p = realloc(s->pfd, (cap + 2) * sizeof *p);
        s->c = v != NULL ? v : s->c;
        s->pfd = p != NULL ? p : s->pfd;
        if (v == NULL || p == NULL) {
            return -ENOMEM;
        }
        s->cap = cap;
    }
    s->c[s->n++] = *c;
    return 0;
}

/* Set up the new channel CH and add it; on failure it is closed. */
static void welcome(struct server *s, ipcx_channel *ch)
{
    /* more: what the client sent before ipcx_channel_fd() switched the
     * channel to signalling may not have signalled; look at once. */
    struct client c = {.ch = ch, .more = true};
    (void)ipcx_channel_peer(ch, &c.peer);
    fprintf(stderr, "ipcx serve: accepted pid %ld uid %lu gid %lu\n",
            (long)c.peer.pid, (unsigned long)c.peer.uid,
            (unsigned long)c.peer.gid);
    c.fd = ipcx_channel_fd(ch);
    if (c.fd < 0) {
        client_failed(&c, c.fd);
        return;
    }
    c.buf = malloc(s->max_msg > 0 ? s->max_msg : 1);
    if (c.buf == NULL || add_client(s, &c) < 0) {
        client_failed(&c, -ENOMEM);
    }
}

/* Accept every client waiting now. */
static void accept_all(struct server *s)
{
    for (;;) {
        ipcx_channel *ch;
        int rc = ipcx_port_accept(s->port, 0, NULL, NULL, &ch);
        if (rc == -EAGAIN) {
            return;
        }
        if (rc < 0) {
            /* Out of descriptors or memory: the client may still be
             * queued, so back off rather than spin on the port. */
            fprintf(stderr, "ipcx serve: cannot accept: %s\n",
                    channel_reason(rc));
            s->accept_paused = true;
            return;
        }
        welcome(s, ch);
    }
}

/* Forget the clients closed during this round. */
static void reap(struct server *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->c[i].ch != NULL) {
            s->c[k++] = s->c[i];
        }
    }
    s->n = k;
}

/* Fill s->pfd; returns the poll() timeout in milliseconds. */
static int poll_setup(struct server *s)
{
    int timeout = s->accept_paused ? SERVE_PAUSE_MS : -1;
    s->pfd[0] = (struct pollfd){s->sigfd, POLLIN, 0};
    s->pfd[1] = (struct pollfd){s->accept_paused ? -1 : ipcx_port_fd(s->port),
                                POLLIN, 0};
    s->accept_paused = false;
    for (size_t i = 0; i < s->n; i++) {
        const struct client *c = &s->c[i];
        /* A negative fd is ignored by poll(): a held client is not read. */
        s->pfd[i + 2] = (struct pollfd){c->held ? -1 : c->fd, POLLIN, 0};
        if (c->held && timeout != 0) {
            timeout = SERVE_RETRY_MS;
        }
        if (c->more && !c->held) {
            timeout = 0;
        }
    }
    return timeout;
}

static void read_signal(struct server *s)
{
    struct signalfd_siginfo si;
    if (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        fprintf(stderr, "ipcx serve: SIG%s, stopping\n",
                sigabbrev_np((int)si.ssi_signo));
        s->stop = true;
    }
}

/* One round: wait, then serve whatever is ready. */
static int serve_round(struct server *s)
{
    int timeout = poll_setup(s);
    if (poll(s->pfd, s->n + 2, timeout) < 0) {
        return errno == EINTR ? CLI_CONTINUE : cli_sys_error(errno, "poll");
    }
    if (s->pfd[0].revents != 0) {
        read_signal(s);
    }
    for (size_t i = 0; i < s->n && !s->stop; i++) {
        struct client *c = &s->c[i];
        if (c->held) {
            /* Through at last: reading resumes in the next round. */
            c->more = echo(s, c);
        } else if (c->more || s->pfd[i + 2].revents != 0) {
            serve_client(s, c);
        }
    }
    reap(s);
    if (!s->stop && s->pfd[1].revents != 0) {
        accept_all(s);
    }
    return CLI_CONTINUE;
}

/* SIGINT and SIGTERM, blocked, as a descriptor; -1 (errno) on failure. */
static int signal_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        return -1;
    }
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int serve_loop(struct server *s)
{
    int st = CLI_CONTINUE;
    s->pfd = malloc(2 * sizeof *s->pfd);
    if (s->pfd == NULL) {
        return cli_sys_error(ENOMEM, "cannot allocate");
    }
    while (st == CLI_CONTINUE && !s->stop) {
        st = serve_round(s);
    }
    for (size_t i = 0; i < s->n; i++) {
        drop_client(&s->c[i]);
    }
    free(s->c);
    free(s->pfd);
    return st == CLI_CONTINUE ? CLI_OK : st;
}

static int run_serve(int argc, char **argv)
{
    struct serve_opts o = {.count = 0};
    struct cli_operands ops;
    ipcx_port_attr_init(&o.attr);
    int st = cli_getopt(argc, argv, &serve_spec, &o, &ops);
    if (st == CLI_CONTINUE && !o.echo) {
        st = cli_usage_error(serve_usage,
                             "serve needs --echo (the only behaviour so far)");
    }
    if (st == CLI_CONTINUE) {
        st = cli_check_name(ops.v[0]);
    }
    if (st != CLI_CONTINUE) {
        return st;
    }
    const char *name = ops.v[0];
    struct server s = {.count = o.count, .max_msg = o.attr.max_msg_size};
    /* Blocked before the port exists: from the moment a client can see
     * it, a SIGTERM removes it rather than killing us. */
    s.sigfd = signal_fd();
    if (s.sigfd < 0) {
        return cli_sys_error(errno, "cannot set up signal handling");
    }
    int rc = ipcx_port_listen(name, &o.attr, &s.port);
    if (rc < 0) {
        close(s.sigfd);
        return cli_error(rc, "cannot listen on connection port '%s'", name);
    }
    fprintf(stderr, "ipcx serve: listening on '%s'\n", name);
    st = serve_loop(&s);
    ipcx_port_close(s.port);
    close(s.sigfd);
    return st;
}

const struct cli_command cli_serve_command = {
    .name = "serve",
    .usage = serve_usage,
    .run = run_serve,
};

/* ---- call ---- */

static const char call_usage[] =
    "usage: ipcx call NAME MESSAGE [--timeout SECONDS]\n"
    "\n"
    "Connect to connection port NAME, send MESSAGE as a request and print\n"
    "the reply followed by a newline.\n"
    "\n"
    "Options:\n"
    "  -t, --timeout SECONDS  wait at most this long in all, to be accepted\n"
    "                         and for the reply (fractions allowed; default\n"
    "                         5)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status 1 if no reply came in time; 3 if there is no server, it\n"
    "refused us, or it went away before answering.\n";

static int call_option(const struct cli_spec *spec, void *opts, int c,
                       const char *arg)
{
    return cli_parse_timeout(call_usage, "--timeout", arg, opts);
}

static const struct option call_longopts[] = {
    {"timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec call_spec = {
    .usage = call_usage,
    .shortopts = ":t:h",
    .longopts = call_longopts,
    .option = call_option,
    .min_operands = 2,
    .max_operands = 2,
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* What is left of TIMEOUT since START (never negative). */
static int64_t time_left(int64_t start, int64_t timeout)
{
    int64_t spent = now_ns() - start;
    return spent >= timeout ? 0 : timeout - spent;
}

/* Send MSG on CH and print the reply; an exit status. */
static int call_once(ipcx_channel *ch, const char *name, const char *msg,
                     int64_t timeout)
{
    size_t len = strlen(msg);
    long cap = ipcx_channel_max_msg_size(ch);
    if (cap >= 0 && len > (size_t)cap) {
        fprintf(stderr,
                "ipcx: cannot call '%s': message of %zu bytes is longer than "
                "its maximum of %ld\n",
                name, len, cap);
        return CLI_FAIL;
    }
    char *reply = malloc(cap > 0 ? (size_t)cap : 1);
    if (reply == NULL) {
        return cli_sys_error(ENOMEM, "cannot allocate %ld bytes", cap);
    }
    long n = ipcx_call(ch, msg, len, reply, cap > 0 ? (size_t)cap : 0, timeout);
    int st = CLI_OK;
    if (n < 0) {
        st = channel_error((int)n, "no reply from", name);
    } else {
        fwrite(reply, 1, (size_t)n, stdout);
        putchar('\n');
        st = cli_flush(CLI_OK, CLI_FAIL);
    }
    free(reply);
    return st;
}

static int run_call(int argc, char **argv)
{
    int64_t timeout = 5 * NSEC_PER_SEC;
    struct cli_operands ops;
    int st = cli_getopt(argc, argv, &call_spec, &timeout, &ops);
    if (st == CLI_CONTINUE) {
        st = cli_check_name(ops.v[0]);
    }
    if (st != CLI_CONTINUE) {
        return st;
    }
    const char *name = ops.v[0];
    int64_t start = now_ns();
    ipcx_channel *ch;
    int rc = ipcx_connect(name, timeout, &ch);
    if (rc < 0) {
        return channel_error(rc, "cannot connect to", name);
    }
    st = call_once(ch, name, ops.v[1], time_left(start, timeout));
    ipcx_channel_close(ch);
    return st;
}

const struct cli_command cli_call_command = {
    .name = "call",
    .usage = call_usage,
    .run = run_call,
};
