/*
 * cmd_show.c - ipcx ls and ipcx stat: what the namespace holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* "rendezvous", "unbounded" or the number, into BUF. */
static const char *capacity_text(uint32_t capacity, char *buf, size_t len)
{
    if (capacity == 0) {
        return "rendezvous";
    }
    if (capacity == IPCX_UNBOUNDED) {
        return "unbounded";
    }
    snprintf(buf, len, "%" PRIu32, capacity);
    return buf;
}

static const char *policy_text(uint32_t policy, char *buf, size_t len)
{
    const char *s = cli_policy_name(policy);
    if (s == NULL) {
        snprintf(buf, len, "%" PRIu32 "?", policy);
        s = buf;
    }
    return s;
}

/* Options of commands that have none but --help. */
static int no_option(const struct cli_spec *spec, void *opts, int c,
                     const char *arg)
{
    return CLI_CONTINUE;
}

static const struct option help_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* ---- ls ---- */

static const char ls_usage[] =
    "usage: ipcx ls\n"
    "\n"
    "List what the namespace holds, one object per line, sorted by name:\n"
    "its name, its kind (mailbox, port, region or inbox), then\n"
    "  for a mailbox: capacity (a number, rendezvous or unbounded), messages\n"
    "    queued (depth), largest message in bytes, mode, owner and receiver\n"
    "    policy;\n"
    "  for a connection port: mode (who may connect) and owner;\n"
    "  for a region: its size in bytes (under CAPACITY), mode and owner;\n"
    "  for an inbox (named by its process's pid): mode (who may send),\n"
    "    owner and state: live (the process has it open) or dead (left by\n"
    "    a process that died; sends to that pid fail), '?' if we may not\n"
    "    tell (another user's).\n"
    "A column that does not apply to the kind shows '-'.\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help\n";

static const struct cli_spec ls_spec = {
    .usage = ls_usage,
    .shortopts = ":h",
    .longopts = help_longopts,
    .option = no_option,
    .min_operands = 0,
    .max_operands = 0,
};

/* The kinds of object ls lists, in the order it lists one name's. */
enum ls_kind { LS_MAILBOX, LS_PORT, LS_REGION, LS_INBOX };

static const char *const kind_names[] = {
    [LS_MAILBOX] = "mailbox",
    [LS_PORT] = "port",
    [LS_REGION] = "region",
    [LS_INBOX] = "inbox",
};

/* Each kind's file in the namespace: NAME plus this (see ipcx/channel.h,
 * ipcx/region.h and ipcx/direct.h); a mailbox is stat'ed through the
 * library. */
static const char *const kind_suffixes[] = {
    [LS_MAILBOX] = NULL,
    [LS_PORT] = ".port",
    [LS_REGION] = ".region",
    [LS_INBOX] = ".inbox",
};

struct ls_entry {
    char *name;
    enum ls_kind kind;
};

struct name_list {
    struct ls_entry *v;
    size_t n, cap;
    enum ls_kind kind; /* of the names being collected */
    bool no_memory;    /* the walk stopped because we ran out */
};

static int collect_name(const char *name, void *arg)
{
    struct name_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        struct ls_entry *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            l->no_memory = true;
            return -ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].name = strdup(name);
    l->v[l->n].kind = l->kind;
    if (l->v[l->n].name == NULL) {
        l->no_memory = true;
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

static void free_names(struct name_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
    }
    free(l->v);
}

static int compare_entries(const void *a, const void *b)
{
    const struct ls_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (int)x->kind - (int)y->kind;
}

static int name_width(const struct name_list *l)
{
    size_t w = strlen("NAME");
    for (size_t i = 0; i < l->n; i++) {
        size_t len = strlen(l->v[i].name);
        w = len > w ? len : w;
    }
    return (int)w;
}

/* Collect the names of every kind into L; CLI_CONTINUE or an exit status. */
static int collect_all(struct name_list *l)
{
    static int (*const list[])(int (*)(const char *, void *), void *) = {
        [LS_MAILBOX] = ipcx_mailbox_list,
        [LS_PORT] = ipcx_port_list,
        [LS_REGION] = ipcx_region_list,
        [LS_INBOX] = ipcx_inbox_list,
    };
    static const char *const plural[] = {
        [LS_MAILBOX] = "mailboxes",
        [LS_PORT] = "connection ports",
        [LS_REGION] = "regions",
        [LS_INBOX] = "inboxes",
    };
    for (int k = LS_MAILBOX; k <= LS_INBOX; k++) {
        l->kind = (enum ls_kind)k;
        int rc = list[k](collect_name, l);
        if (rc < 0 && l->no_memory) {
            return cli_sys_error(ENOMEM, "cannot list %s", plural[k]);
        }
        if (rc < 0) {
            return cli_error(rc, "cannot list %s", plural[k]);
        }
    }
    return CLI_CONTINUE;
}

#define LS_FORMAT "%-*s  %-7s  %10s  %8s  %8s  %4s  %-10s  %-10s  %s\n"

static void print_mailbox(const char *name, int width,
                          const ipcx_mailbox_info *st)
{
    char cap[16], depth[24], size[16], mode[8], owner[64], policy[16];
    snprintf(depth, sizeof depth, "%" PRIu64, st->depth);
    snprintf(size, sizeof size, "%" PRIu32, st->max_msg_size);
    snprintf(mode, sizeof mode, "%03o", (unsigned)st->mode & 07777);
    cli_user_name(st->uid, owner, sizeof owner);
    printf(LS_FORMAT, width, name, "mailbox",
           capacity_text(st->capacity, cap, sizeof cap), depth, size, mode,
           owner, policy_text(st->policy, policy, sizeof policy), "-");
}

/* An inbox's state: whether its process (named by E) has it open. */
static const char *inbox_state(const struct ls_entry *e)
{
    switch (ipcx_inbox_alive((pid_t)strtol(e->name, NULL, 10))) {
    case 1:
        return "live";
    case 0:
        return "dead";
    default:
        return "?"; /* e.g. another user's: its lock is not ours to read */
    }
}

/* A port, region or inbox, from its file's status. */
static void print_file(const struct ls_entry *e, int width,
                       const struct stat *st)
{
    char size[24] = "-", mode[8], owner[64];
    if (e->kind == LS_REGION) {
        snprintf(size, sizeof size, "%lld", (long long)st->st_size);
    }
    snprintf(mode, sizeof mode, "%03o", (unsigned)st->st_mode & 07777);
    cli_user_name(st->st_uid, owner, sizeof owner);
    printf(LS_FORMAT, width, e->name, kind_names[e->kind], size, "-", "-", mode,
           owner, "-", e->kind == LS_INBOX ? inbox_state(e) : "-");
}

/* The status of E's file in the namespace directory DFD: 0 or -errno. */
static int stat_file(int dfd, const struct ls_entry *e, struct stat *st)
{
    char file[IPCX_NAME_MAX + 16];
    snprintf(file, sizeof file, "%s%s", e->name, kind_suffixes[e->kind]);
    if (dfd < 0) {
        return dfd;
    }
    return fstatat(dfd, file, st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

/* An object removed since the listing is skipped; other errors shown. */
static void print_entry(const struct ls_entry *e, int width, int dfd)
{
    ipcx_mailbox_info info;
    struct stat st;
    char what[256], reason[512];
    int rc = e->kind == LS_MAILBOX ? ipcx_mailbox_stat_name(e->name, &info)
                                   : stat_file(dfd, e, &st);
    if (rc == 0 && e->kind == LS_MAILBOX) {
        print_mailbox(e->name, width, &info);
    } else if (rc == 0) {
        print_file(e, width, &st);
    } else if (rc != -ENOENT && e->kind == LS_MAILBOX) {
        snprintf(what, sizeof what, "cannot open mailbox '%s'", e->name);
        printf("%-*s  %-7s  error: %s\n", width, e->name, "mailbox",
               cli_reason(rc, what, reason, sizeof reason));
    } else if (rc != -ENOENT) {
        printf("%-*s  %-7s  error: %s\n", width, e->name, kind_names[e->kind],
               ipcx_strerror(rc));
    }
}

/* The namespace directory, to stat ports and regions in; -errno if not. */
static int open_ns(void)
{
    char path[PATH_MAX];
    int rc = ipcx_ns_path(path, sizeof path);
    if (rc < 0) {
        return rc;
    }
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

static int run_ls(int argc, char **argv)
{
    struct cli_operands ops;
    struct name_list names = {.v = NULL};
    int st = cli_getopt(argc, argv, &ls_spec, NULL, &ops);
    if (st == CLI_CONTINUE) {
        st = collect_all(&names);
    }
    if (st != CLI_CONTINUE) {
        free_names(&names);
        return st;
    }
    if (names.n > 0) {
        qsort(names.v, names.n, sizeof *names.v, compare_entries);
    }
    int width = name_width(&names);
    int dfd = open_ns();
    printf(LS_FORMAT, width, "NAME", "KIND", "CAPACITY", "DEPTH", "MAX-SIZE",
           "MODE", "OWNER", "POLICY", "STATE");
    for (size_t i = 0; i < names.n; i++) {
        print_entry(&names.v[i], width, dfd);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    free_names(&names);
    return cli_flush(CLI_OK, CLI_OK);
}

const struct cli_command cli_ls_command = {
    .name = "ls",
    .usage = ls_usage,
    .run = run_ls,
};

/* ---- stat ---- */

static const char stat_usage[] =
    "usage: ipcx stat NAME...\n"
    "\n"
    "Show mailbox NAME as \"key: value\" lines: name, id, capacity, depth\n"
    "(messages queued), max-size, max-bytes (unbounded only), bytes (memory\n"
    "in use), mode, owner, group, policy, open (processes with it open),\n"
    "send-waiting and recv-waiting (processes blocked), sent and received\n"
    "(all time), receiver (exclusive only: pid holding the receive right, or\n"
    "none) and destroyed.  Several NAMEs are separated by an empty line.\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help\n";

static const struct cli_spec stat_spec = {
    .usage = stat_usage,
    .shortopts = ":h",
    .longopts = help_longopts,
    .option = no_option,
    .min_operands = 1,
    .max_operands = -1,
};

static void print_stat_queue(const ipcx_mailbox_info *st)
{
    char cap[16];
    printf("capacity: %s\n", capacity_text(st->capacity, cap, sizeof cap));
    printf("depth: %" PRIu64 "\n", st->depth);
    printf("max-size: %" PRIu32 "\n", st->max_msg_size);
    if (st->capacity == IPCX_UNBOUNDED) {
        printf("max-bytes: %" PRIu64 "\n", st->max_bytes);
    }
    printf("bytes: %" PRIu64 "\n", st->bytes);
}

static void print_stat_access(const ipcx_mailbox_info *st)
{
    char owner[64], group[64], policy[16];
    cli_user_name(st->uid, owner, sizeof owner);
    cli_group_name(st->gid, group, sizeof group);
    printf("mode: %03o\n", (unsigned)st->mode & 07777);
    printf("owner: %s\n", owner);
    printf("group: %s\n", group);
    printf("policy: %s\n", policy_text(st->policy, policy, sizeof policy));
}

static void print_stat_activity(const ipcx_mailbox_info *st)
{
    printf("open: %" PRIu32 "\n", st->nopen);
    printf("send-waiting: %" PRIu32 "\n", st->send_waiting);
    printf("recv-waiting: %" PRIu32 "\n", st->recv_waiting);
    printf("sent: %" PRIu64 "\n", st->sent);
    printf("received: %" PRIu64 "\n", st->received);
    if (st->policy == IPCX_POLICY_EXCLUSIVE && st->receiver != 0) {
        printf("receiver: %ld\n", (long)st->receiver);
    } else if (st->policy == IPCX_POLICY_EXCLUSIVE) {
        printf("receiver: none\n");
    }
    printf("destroyed: %s\n", st->destroyed ? "yes" : "no");
}

static int stat_one(const char *name)
{
    ipcx_mailbox_info st;
    int status = cli_check_name(name);
    if (status != CLI_CONTINUE) {
        return status;
    }
    int rc = ipcx_mailbox_stat_name(name, &st);
    if (rc < 0) {
        return cli_error(rc, "cannot stat mailbox '%s'", name);
    }
    printf("name: %s\n", name);
    printf("id: 0x%016" PRIx64 "\n", st.id);
    print_stat_queue(&st);
    print_stat_access(&st);
    print_stat_activity(&st);
    return CLI_OK;
}

/* Goes on past a failing NAME; exits with the worst status seen. */
static int run_stat(int argc, char **argv)
{
    struct cli_operands ops;
    int worst = cli_getopt(argc, argv, &stat_spec, NULL, &ops);
    if (worst != CLI_CONTINUE) {
        return worst;
    }
    worst = CLI_OK;
    for (int i = 0; i < ops.n; i++) {
        if (i > 0) {
            putchar('\n');
        }
        int st = stat_one(ops.v[i]);
        worst = st > worst ? st : worst;
    }
    return cli_flush(worst, worst);
}

const struct cli_command cli_stat_command = {
    .name = "stat",
    .usage = stat_usage,
    .run = run_stat,
};
