/*
 * cmd_show.c - ipcx ls and ipcx stat: what the namespace holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "List the mailboxes of the namespace, one per line, sorted by name:\n"
    "capacity (a number, rendezvous or unbounded), messages queued (depth),\n"
    "largest message in bytes, mode, owner and receiver policy.\n"
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

struct name_list {
    char **v;
    size_t n, cap;
    bool no_memory; /* the walk stopped because we ran out */
};

static int collect_name(const char *name, void *arg)
{
    struct name_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            l->no_memory = true;
            return -ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(name);
    if (l->v[l->n] == NULL) {
        l->no_memory = true;
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

static void free_names(struct name_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int name_width(const struct name_list *l)
{
    size_t w = strlen("NAME");
    for (size_t i = 0; i < l->n; i++) {
        size_t len = strlen(l->v[i]);
        w = len > w ? len : w;
    }
    return (int)w;
}

#define LS_FORMAT "%-*s  %10s  %8s  %8s  %4s  %-10s  %s\n"

static void print_row(const char *name, int width, const ipcx_mailbox_info *st)
{
    char cap[16], depth[24], size[16], mode[8], owner[64], policy[16];
    snprintf(depth, sizeof depth, "%" PRIu64, st->depth);
    snprintf(size, sizeof size, "%" PRIu32, st->max_msg_size);
    snprintf(mode, sizeof mode, "%03o", (unsigned)st->mode & 07777);
    cli_user_name(st->uid, owner, sizeof owner);
    printf(LS_FORMAT, width, name, capacity_text(st->capacity, cap, sizeof cap),
           depth, size, mode, owner,
           policy_text(st->policy, policy, sizeof policy));
}

/* A mailbox removed since the listing is skipped; other errors shown. */
static void print_entry(const char *name, int width)
{
    ipcx_mailbox_info st;
    char what[256], reason[512];
    int rc = ipcx_mailbox_stat_name(name, &st);
    if (rc == 0) {
        print_row(name, width, &st);
    } else if (rc != -ENOENT) {
        snprintf(what, sizeof what, "cannot open mailbox '%s'", name);
        printf("%-*s  error: %s\n", width, name,
               cli_reason(rc, what, reason, sizeof reason));
    }
}

static int run_ls(int argc, char **argv)
{
    struct cli_operands ops;
    struct name_list names = {NULL, 0, 0, false};
    int st = cli_getopt(argc, argv, &ls_spec, NULL, &ops);
    if (st != CLI_CONTINUE) {
        return st;
    }
    int rc = ipcx_mailbox_list(collect_name, &names);
    if (rc < 0) {
        free_names(&names);
        if (names.no_memory) {
            return cli_sys_error(ENOMEM, "cannot list mailboxes");
        }
        return cli_error(rc, "cannot list mailboxes");
    }
    if (names.n > 0) {
        qsort(names.v, names.n, sizeof *names.v, compare_names);
    }
    int width = name_width(&names);
    printf(LS_FORMAT, width, "NAME", "CAPACITY", "DEPTH", "MAX-SIZE", "MODE",
           "OWNER", "POLICY");
    for (size_t i = 0; i < names.n; i++) {
        print_entry(names.v[i], width);
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
