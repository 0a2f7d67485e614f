/*
 * cmd_mailbox.c - ipcx create, send, recv and rm.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- create ---- */

static const char create_usage[] =
    "usage: ipcx create NAME [--capacity N | --rendezvous | --unbounded]\n"
    "                   [--max-size BYTES] [--mode OCTAL]\n"
    "                   [--policy any|exclusive|pair] [--max-bytes BYTES]\n"
    "\n"
    "Create mailbox NAME: a bounded queue of 64 messages of up to 4096 bytes,\n"
    "mode 600, unless told otherwise.  NAME is 1 to 200 characters of\n"
    "A-Z a-z 0-9 . _ - and does not start with '.'.\n"
    "\n"
    "Options:\n"
    "  -c, --capacity N       up to N messages wait (1 to 1048576); a sender\n"
    "                         waits while all N are taken (0: --rendezvous)\n"
    "  -r, --rendezvous       no buffer: a send completes once a receiver\n"
    "                         has taken the message\n"
    "  -u, --unbounded        a sender never waits; memory grows on demand\n"
    "                         up to --max-bytes\n"
    "  -b, --max-bytes BYTES  memory ceiling of an unbounded mailbox\n"
    "                         (default 64M); past it a send fails\n"
    "  -s, --max-size BYTES   largest message (default 4096, at most 64M)\n"
    "  -m, --mode OCTAL       permission bits of the mailbox (default 600)\n"
    "  -p, --policy POLICY    who receives when several processes do:\n"
    "                           any        each message to one of them\n"
    "                                      (the default)\n"
    "                           exclusive  one process at a time holds\n"
    "                                      the receive right\n"
    "                           pair       at most two processes may open\n"
    "                                      the mailbox\n"
    "  -h, --help             show this help\n"
    "\n"
    "BYTES may end in k, M or G (powers of 1024).\n";

struct create_opts {
    ipcx_mailbox_attr attr;
    const char *buffering; /* the option that chose it, NULL: default */
    bool max_bytes_given;
};

/* --capacity, --rendezvous and --unbounded exclude each other. */
static int set_buffering(const char *opt, uint32_t capacity,
                         struct create_opts *o)
{
    if (o->buffering != NULL && strcmp(o->buffering, opt) != 0) {
        return cli_usage_error(create_usage, "%s and %s exclude each other",
                               o->buffering, opt);
    }
    o->buffering = opt;
    o->attr.capacity = capacity;
    return CLI_CONTINUE;
}

static int create_sizes(int c, const char *arg, struct create_opts *o)
{
    uint64_t v;
    int st;
    if (c == 's') {
        st = cli_parse_size(create_usage, "--max-size", arg, 1,
                            IPCX_MSG_SIZE_MAX, &v);
        if (st == CLI_CONTINUE) {
            o->attr.max_msg_size = (uint32_t)v;
        }
        return st;
    }
    st = cli_parse_size(create_usage, "--max-bytes", arg, 1,
                        IPCX_MAX_BYTES_LIMIT, &v);
    if (st == CLI_CONTINUE) {
        o->attr.max_bytes = v;
        o->max_bytes_given = true;
    }
    return st;
}

static int create_option(const struct cli_spec *spec, void *opts, int c,
                         const char *arg)
{
    struct create_opts *o = opts;
    uint64_t v;
    int st;
    switch (c) {
    case 'c':
        st = cli_parse_u64(create_usage, "--capacity", arg, 0,
                           IPCX_CAPACITY_MAX, &v);
        if (st != CLI_CONTINUE) {
            return st;
        }
        return set_buffering("--capacity", (uint32_t)v, o);
    case 'r':
        return set_buffering("--rendezvous", 0, o);
    case 'u':
        return set_buffering("--unbounded", IPCX_UNBOUNDED, o);
    case 'm':
        return cli_parse_mode(create_usage, "--mode", arg, &o->attr.mode);
    case 'p':
        return cli_parse_policy(create_usage, "--policy", arg, &o->attr.policy);
    default: /* 's' or 'b' */
        return create_sizes(c, arg, o);
    }
}

static const struct option create_longopts[] = {
    {"capacity", required_argument, NULL, 'c'},
    {"rendezvous", no_argument, NULL, 'r'},
    {"unbounded", no_argument, NULL, 'u'},
    {"max-bytes", required_argument, NULL, 'b'},
    {"max-size", required_argument, NULL, 's'},
    {"mode", required_argument, NULL, 'm'},
    {"policy", required_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec create_spec = {
    .usage = create_usage,
    .shortopts = ":c:rub:s:m:p:h",
    .longopts = create_longopts,
    .option = create_option,
    .min_operands = 1,
    .max_operands = 1,
};

static int run_create(int argc, char **argv)
{
    struct create_opts o = {.buffering = NULL};
    struct cli_operands ops;
    ipcx_mailbox_attr_init(&o.attr);
    int st = cli_getopt(argc, argv, &create_spec, &o, &ops);
    if (st != CLI_CONTINUE) {
        return st;
    }
    if (o.max_bytes_given && o.attr.capacity != IPCX_UNBOUNDED) {
        return cli_usage_error(create_usage, "--max-bytes needs --unbounded");
    }
    const char *name = ops.v[0];
    st = cli_check_name(name);
    if (st != CLI_CONTINUE) {
        return st;
    }
    int rc = ipcx_mailbox_create(name, &o.attr);
    if (rc < 0) {
        return cli_error(rc, "cannot create mailbox '%s'", name);
    }
    return CLI_OK;
}

const struct cli_command cli_create_command = {
    .name = "create",
    .usage = create_usage,
    .run = run_create,
};

/* ---- what send and recv share ---- */

/* Check NAME and open it; CLI_CONTINUE with *MB set, or an exit status. */
static int open_mailbox(const char *name, ipcx_mailbox **mb)
{
    int st = cli_check_name(name);
    if (st != CLI_CONTINUE) {
        return st;
    }
    int rc = ipcx_mailbox_open(name, 0, mb);
    if (rc < 0) {
        return cli_error(rc, "cannot open mailbox '%s'", name);
    }
    return CLI_CONTINUE;
}

/* ---- send ---- */

static const char send_usage[] =
    "usage: ipcx send NAME [MESSAGE...] [--timeout SECONDS] [--receipt]\n"
    "\n"
    "Send each MESSAGE to mailbox NAME, in order.  Without MESSAGE, send\n"
    "each line of standard input as one message (without its newline).\n"
    "\n"
    "Options:\n"
    "  -t, --timeout SECONDS  wait at most this long for room, per message\n"
    "                         (fractions allowed; 0: do not wait; default:\n"
    "                         wait as long as it takes)\n"
    "  -r, --receipt          wait until a receiver has taken each message\n"
    "                         and print \"delivered to pid N\"\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status 1 if a message found no room (or, with --receipt, no\n"
    "receiver) in time; it is not sent and the rest are not tried.\n";

struct send_opts {
    int64_t timeout;
    bool receipt;
};

static int send_option(const struct cli_spec *spec, void *opts, int c,
                       const char *arg)
{
    struct send_opts *o = opts;
    if (c == 'r') {
        o->receipt = true;
        return CLI_CONTINUE;
    }
    return cli_parse_timeout(send_usage, "--timeout", arg, &o->timeout);
}

static const struct option send_longopts[] = {
    {"timeout", required_argument, NULL, 't'},
    {"receipt", no_argument, NULL, 'r'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec send_spec = {
    .usage = send_usage,
    .shortopts = ":t:rh",
    .longopts = send_longopts,
    .option = send_option,
    .min_operands = 1,
    .max_operands = -1,
};

static int send_failed(int rc, ipcx_mailbox *mb, const char *name, size_t len)
{
    if (rc == -EMSGSIZE) {
        fprintf(stderr,
                "ipcx: cannot send to mailbox '%s': message of %zu bytes is "
                "longer than its maximum of %zu\n",
                name, len, ipcx_mailbox_max_msg_size(mb));
        return CLI_FAIL;
    }
    return cli_error(rc, "cannot send to mailbox '%s'", name);
}

static int send_one(ipcx_mailbox *mb, const char *name,
                    const struct send_opts *o, const void *buf, size_t len)
{
    pid_t receiver = 0;
    int rc;
    if (o->receipt) {
        rc = ipcx_mailbox_send_ex(mb, buf, len, o->timeout, IPCX_SEND_RECEIPT,
                                  &receiver);
    } else {
        rc = ipcx_mailbox_send(mb, buf, len, o->timeout);
    }
    if (rc < 0) {
        return send_failed(rc, mb, name, len);
    }
    if (o->receipt) {
        printf("delivered to pid %ld\n", (long)receiver);
        return cli_flush(CLI_CONTINUE, CLI_OK);
    }
    return CLI_CONTINUE;
}

static int send_lines(ipcx_mailbox *mb, const char *name,
                      const struct send_opts *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int st = CLI_CONTINUE;
    errno = 0;
    while (st == CLI_CONTINUE && (n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') {
            n--;
        }
        st = send_one(mb, name, o, line, (size_t)n);
        errno = 0;
    }
    if (st == CLI_CONTINUE && !feof(stdin)) {
        st = cli_sys_error(errno != 0 ? errno : EIO,
                           "cannot read standard input");
    }
    free(line);
    return st;
}

static int run_send(int argc, char **argv)
{
    struct send_opts o = {.timeout = IPCX_FOREVER};
    struct cli_operands ops;
    ipcx_mailbox *mb;
    int st = cli_getopt(argc, argv, &send_spec, &o, &ops);
    if (st == CLI_CONTINUE) {
        st = open_mailbox(ops.v[0], &mb);
    }
    if (st != CLI_CONTINUE) {
        return st;
    }
    if (ops.n == 1) {
        st = send_lines(mb, ops.v[0], &o);
    }
    for (int i = 1; i < ops.n && st == CLI_CONTINUE; i++) {
        st = send_one(mb, ops.v[0], &o, ops.v[i], strlen(ops.v[i]));
    }
    ipcx_mailbox_close(mb);
    return st == CLI_CONTINUE ? CLI_OK : st;
}

const struct cli_command cli_send_command = {
    .name = "send",
    .usage = send_usage,
    .run = run_send,
};

/* ---- recv ---- */

static const char recv_usage[] =
    "usage: ipcx recv NAME [-n COUNT] [--timeout SECONDS]\n"
    "\n"
    "Receive COUNT messages (default 1) from mailbox NAME and print each\n"
    "one, as it is, followed by a newline.\n"
    "\n"
    "Options:\n"
    "  -n, --count COUNT      receive COUNT messages\n"
    "  -t, --timeout SECONDS  wait at most this long for each message\n"
    "                         (fractions allowed; 0: do not wait; default:\n"
    "                         wait as long as it takes)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status 1 if a message did not come in time (those received before\n"
    "it are printed).\n";

struct recv_opts {
    int64_t timeout;
    uint64_t count;
};

static int recv_option(const struct cli_spec *spec, void *opts, int c,
                       const char *arg)
{
    struct recv_opts *o = opts;
    if (c == 'n') {
        return cli_parse_u64(recv_usage, "-n", arg, 1, UINT64_MAX, &o->count);
    }
    return cli_parse_timeout(recv_usage, "--timeout", arg, &o->timeout);
}

static const struct option recv_longopts[] = {
    {"count", required_argument, NULL, 'n'},
    {"timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec recv_spec = {
    .usage = recv_usage,
    .shortopts = ":n:t:h",
    .longopts = recv_longopts,
    .option = recv_option,
    .min_operands = 1,
    .max_operands = 1,
};

/*
 * Receive and print O->count messages.  Each is flushed before the next is
 * taken, so a reader that goes away (EPIPE) costs at most the one message
 * in hand; we then stop quietly, with status 3 because it was lost.
 */
static int recv_loop(ipcx_mailbox *mb, const char *name,
                     const struct recv_opts *o, char *buf, size_t cap)
{
    int st = CLI_CONTINUE;
    for (uint64_t i = 0; i < o->count && st == CLI_CONTINUE; i++) {
        long n = ipcx_mailbox_recv(mb, buf, cap, o->timeout);
        if (n < 0) {
            return cli_error((int)n, "cannot receive from mailbox '%s'", name);
        }
        fwrite(buf, 1, (size_t)n, stdout);
        putchar('\n');
        st = cli_flush(CLI_CONTINUE, CLI_FAIL);
    }
    return st == CLI_CONTINUE ? CLI_OK : st;
}

static int run_recv(int argc, char **argv)
{
    struct recv_opts o = {.timeout = IPCX_FOREVER, .count = 1};
    struct cli_operands ops;
    ipcx_mailbox *mb;
    int st = cli_getopt(argc, argv, &recv_spec, &o, &ops);
    if (st == CLI_CONTINUE) {
        st = open_mailbox(ops.v[0], &mb);
    }
    if (st != CLI_CONTINUE) {
        return st;
    }
    size_t cap = ipcx_mailbox_max_msg_size(mb);
    char *buf = malloc(cap > 0 ? cap : 1);
    if (buf == NULL) {
        st = cli_sys_error(ENOMEM, "cannot allocate %zu bytes", cap);
    } else {
        st = recv_loop(mb, ops.v[0], &o, buf, cap);
    }
    free(buf);
    ipcx_mailbox_close(mb);
    return st;
}

const struct cli_command cli_recv_command = {
    .name = "recv",
    .usage = recv_usage,
    .run = run_recv,
};

/* ---- rm ---- */

static const char rm_usage[] =
    "usage: ipcx rm [-f] NAME...\n"
    "\n"
    "Remove each mailbox NAME.  Processes that have it open can still\n"
    "receive what is queued; their sends fail at once.\n"
    "\n"
    "Options:\n"
    "  -f, --force  say nothing about a NAME that does not exist\n"
    "  -h, --help   show this help\n";

static int rm_option(const struct cli_spec *spec, void *opts, int c,
                     const char *arg)
{
    *(bool *)opts = true;
    return CLI_CONTINUE;
}

static const struct option rm_longopts[] = {
    {"force", no_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec rm_spec = {
    .usage = rm_usage,
    .shortopts = ":fh",
    .longopts = rm_longopts,
    .option = rm_option,
    .min_operands = 1,
    .max_operands = -1,
};

/* Every name is checked before any is removed: a typo removes nothing. */
static int run_rm(int argc, char **argv)
{
    bool force = false;
    struct cli_operands ops;
    int st = cli_getopt(argc, argv, &rm_spec, &force, &ops);
    if (st != CLI_CONTINUE) {
        return st;
    }
    for (int i = 0; i < ops.n && st == CLI_CONTINUE; i++) {
        st = cli_check_name(ops.v[i]);
    }
    if (st != CLI_CONTINUE) {
        return st;
    }
    st = CLI_OK;
    for (int i = 0; i < ops.n; i++) {
        int rc = ipcx_mailbox_destroy(ops.v[i]);
        if (rc < 0 && !(force && rc == -ENOENT)) {
            st = cli_error(rc, "cannot remove mailbox '%s'", ops.v[i]);
        }
    }
    return st;
}

const struct cli_command cli_rm_command = {
    .name = "rm",
    .usage = rm_usage,
    .run = run_rm,
};
