/*
 * cmd_gc.c - ipcx gc: remove what dead processes left in the namespace.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

static const char gc_usage[] =
    "usage: ipcx gc [--dry-run]\n"
    "\n"
    "Remove from the namespace what no live process uses any more:\n"
    "  port     a connection port whose server died;\n"
    "  inbox    the inbox of a process that died;\n"
    "  region   a temporary region nobody has attached any more;\n"
    "  bell     the descriptor FIFO of a mailbox that was removed;\n"
    "  temporary file  a half-made object's file whose creator died.\n"
    "Mailboxes, and regions not created temporary, are never removed:\n"
    "they persist until removed by name (mailboxes: 'ipcx rm').  Liveness\n"
    "is the kernel's: what a live process holds is never touched.  Prints\n"
    "one line per leftover ('removed port NAME'), then a summary; another\n"
    "user's leftovers, which are not ours to judge, are counted as kept.\n"
    "\n"
    "Options:\n"
    "  -n, --dry-run  only say what would be removed ('would remove ...')\n"
    "  -h, --help     show this help\n";

static int gc_option(const struct cli_spec *spec, void *opts, int c,
                     const char *arg)
{
    *(bool *)opts = true; /* 'n', the only option besides --help */
    return CLI_CONTINUE;
}

static const struct option gc_longopts[] = {
    {"dry-run", no_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_spec gc_spec = {
    .usage = gc_usage,
    .shortopts = ":nh",
    .longopts = gc_longopts,
    .option = gc_option,
    .min_operands = 0,
    .max_operands = 0,
};

static void print_removed(ipcx_gc_kind kind, const char *name, void *arg)
{
    const char *verb = *(const bool *)arg ? "would remove" : "removed";
    if (kind == IPCX_GC_BELL) {
        printf("%s bell of mailbox %s\n", verb, name);
    } else {
        printf("%s %s %s\n", verb, ipcx_gc_kind_name(kind), name);
    }
}

/* "1 port", "2 ports", "0 inboxes", "1 temporary file" ... */
static void print_count(uint32_t n, ipcx_gc_kind kind, const char *sep)
{
    const char *what = ipcx_gc_kind_name(kind);
    const char *plural = kind == IPCX_GC_INBOX ? "es" : "s";
    printf("%" PRIu32 " %s%s%s", n, what, n == 1 ? "" : plural, sep);
}

static int run_gc(int argc, char **argv)
{
    bool dry = false;
    struct cli_operands ops;
    int st = cli_getopt(argc, argv, &gc_spec, &dry, &ops);
    if (st != CLI_CONTINUE) {
        return st;
    }
    ipcx_gc_report rep;
    int n = ipcx_gc(dry ? IPCX_GC_DRY_RUN : 0, print_removed, &dry, &rep);
    if (n < 0) { /* the namespace could not be read: nothing was done */
        return cli_error(n, "cannot clean up the namespace");
    }
    printf("%s %d leftover%s: ", dry ? "would remove" : "removed", n,
           n == 1 ? "" : "s");
    for (int k = 0; k < IPCX_GC_KINDS; k++) {
        print_count(rep.removed[k], (ipcx_gc_kind)k,
                    k + 1 < IPCX_GC_KINDS ? ", " : "");
    }
    if (rep.skipped > 0) {
        printf("; kept %" PRIu32 " not ours to judge or remove", rep.skipped);
    }
    putchar('\n');
    return cli_flush(CLI_OK, CLI_OK);
}

const struct cli_command cli_gc_command = {
    .name = "gc",
    .usage = gc_usage,
    .run = run_gc,
};
