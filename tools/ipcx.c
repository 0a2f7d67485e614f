/*
 * ipcx.c - the ipcx command: create, inspect, send to and receive from
 * mailboxes, and serve and call connection ports, from a shell.  Each
 * subcommand lives in its own file (cmd_*.c); this one dispatches and answers
 * help and version.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char main_usage[] =
    "usage: ipcx COMMAND [ARGS...]\n"
    "       ipcx help [COMMAND] | --help | --version\n"
    "\n"
    "Mailboxes, connection ports, regions and inboxes live in the\n"
    "namespace directory: $IPCX_DIR, or by default $XDG_RUNTIME_DIR/ipcx\n"
    "or /dev/shm/ipcx-<uid>, private to the user.\n"
    "\n"
    "Commands:\n"
    "  create NAME [OPTIONS]   create a mailbox\n"
    "  send NAME [MESSAGE...]  send messages (or each line of stdin)\n"
    "  recv NAME [-n COUNT]    receive messages, one per output line\n"
    "  ls                      list the mailboxes, connection ports,\n"
    "                          regions and inboxes\n"
    "  stat NAME...            show everything about a mailbox\n"
    "  rm NAME...              remove mailboxes\n"
    "  gc [--dry-run]          remove what dead processes left: ports,\n"
    "                          inboxes, temporary regions, stale files\n"
    "  serve NAME --echo       answer the clients of connection port NAME\n"
    "  call NAME MESSAGE       send a request to port NAME, print the reply\n"
    "  demo [OPTIONS]          producer-consumer processes on a mailbox\n"
    "  bench [--duration MS]   time a mailbox against a pipe and a socket\n"
    "\n"
    "'ipcx COMMAND --help' describes a command's options.\n"
    "\n"
    "Exit status:\n"
    "  0  done\n"
    "  1  nothing happened in time (a timeout expired, or --timeout 0\n"
    "     found nothing to do; for call: no reply in time)\n"
    "  2  usage error or invalid name\n"
    "  3  any other failure (stderr says what)\n";

static const struct cli_command *const commands[] = {
    &cli_create_command, &cli_send_command,  &cli_recv_command,
    &cli_ls_command,     &cli_stat_command,  &cli_rm_command,
    &cli_serve_command,  &cli_call_command,  &cli_demo_command,
    &cli_gc_command,     &cli_bench_command,
};

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(commands[i]->name, name) == 0) {
            return commands[i];
        }
    }
    return NULL;
}

static bool is_any(const char *arg, const char *a, const char *b, const char *c)
{
    return strcmp(arg, a) == 0 || strcmp(arg, b) == 0 || strcmp(arg, c) == 0;
}

/* ipcx help [COMMAND] */
static int help(int argc, char **argv)
{
    if (argc < 2) {
        return cli_help(main_usage);
    }
    if (argc > 2) {
        return cli_usage_error(main_usage, "help takes one COMMAND");
    }
    const struct cli_command *cmd = find_command(argv[1]);
    if (cmd == NULL) {
        return cli_usage_error(main_usage, "unknown command '%s'", argv[1]);
    }
    return cli_help(cmd->usage);
}

static int version(void)
{
    printf("ipcx %s\n", ipcx_version());
    return cli_flush(CLI_OK, CLI_OK);
}

int main(int argc, char **argv)
{
    /* A closed output pipe is reported by write() as EPIPE and handled
     * where the write is checked, rather than killing us mid-message. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        return cli_usage_error(main_usage, "no command given");
    }
    const char *name = argv[1];
    if (is_any(name, "help", "--help", "-h")) {
        return help(argc - 1, argv + 1);
    }
    if (is_any(name, "version", "--version", "-V")) {
        return version();
    }
    const struct cli_command *cmd = find_command(name);
    if (cmd == NULL) {
        if (name[0] == '-') {
            return cli_usage_error(main_usage, "unknown option '%s'", name);
        }
        return cli_usage_error(main_usage, "unknown command '%s'", name);
    }
    return cmd->run(argc - 1, argv + 1);
}
