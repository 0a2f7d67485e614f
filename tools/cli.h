/*
 * cli.h - what the ipcx subcommands share: exit statuses, a getopt driver,
 * number parsing that reports usage errors, error messages and output
 * checks.  Internal to the ipcx tool; it uses only the public ipcx API.
 */
#ifndef IPCX_TOOLS_CLI_H
#define IPCX_TOOLS_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <sys/types.h>

#include <ipcx/ipcx.h>

/* Exit statuses, the same for every subcommand (documented in main_usage). */
enum {
    CLI_OK = 0,      /* done */
    CLI_NOTHING = 1, /* nothing happened in time (-EAGAIN, -ETIMEDOUT) */
    CLI_USAGE = 2,   /* bad command line or invalid name */
    CLI_FAIL = 3,    /* anything else; stderr says what */
};

/*
 * Returned by the helpers below when the command should go on; any other
 * value is the status the command exits with (the message already printed).
 */
#define CLI_CONTINUE (-1)

/* A subcommand; argv[0] of RUN is the subcommand's name. */
struct cli_command {
    const char *name;
    const char *usage;
    int (*run)(int argc, char **argv);
};

extern const struct cli_command cli_create_command;
extern const struct cli_command cli_send_command;
extern const struct cli_command cli_recv_command;
extern const struct cli_command cli_rm_command;
extern const struct cli_command cli_ls_command;
extern const struct cli_command cli_stat_command;
extern const struct cli_command cli_demo_command;
extern const struct cli_command cli_serve_command;
extern const struct cli_command cli_call_command;
extern const struct cli_command cli_gc_command;
extern const struct cli_command cli_bench_command;

/*
 * How a subcommand's command line looks.  SHORTOPTS must start with ':' and
 * hold 'h'; LONGOPTS must map "help" to 'h'.  OPTION handles every other
 * option character and returns CLI_CONTINUE or an exit status.  Operands
 * (NAME, MESSAGE...) may stand before, between or after the options.
 */
struct cli_spec {
    const char *usage;
    const char *shortopts;
    const struct option *longopts;
    int (*option)(const struct cli_spec *spec, void *opts, int c,
                  const char *arg);
    int min_operands;
    int max_operands; /* -1: no limit */
};

/* The operands left once the options are parsed; they point into argv. */
struct cli_operands {
    char **v;
    int n;
};

/*
 * Parse ARGV by SPEC into OPTS and *OPERANDS.  Returns CLI_CONTINUE, or the
 * exit status after printing help (0) or a usage error (2).
 */
int cli_getopt(int argc, char **argv, const struct cli_spec *spec, void *opts,
               struct cli_operands *operands);

/* Print USAGE to standard output; the status to exit with. */
int cli_help(const char *usage);

/* Print "ipcx: <problem>" and USAGE's synopsis to stderr; returns 2. */
int cli_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parsers for option values.  Each stores into *OUT and returns CLI_CONTINUE,
 * or prints a usage error naming OPT and returns 2.
 *   cli_parse_u64: decimal digits only, MIN..MAX.
 *   cli_parse_size: like cli_parse_u64 with an optional suffix k, M or G
 *                   (powers of 1024).
 *   cli_parse_mode: octal permission bits, 1..0777 (what the library
 *                   accepts: no set-id or sticky bits).
 *   cli_parse_timeout: seconds, fraction allowed ("0.5"), into nanoseconds.
 *   cli_parse_policy: any, exclusive or pair.
 */
int cli_parse_u64(const char *usage, const char *opt, const char *arg,
                  uint64_t min, uint64_t max, uint64_t *out);
int cli_parse_size(const char *usage, const char *opt, const char *arg,
                   uint64_t min, uint64_t max, uint64_t *out);
int cli_parse_mode(const char *usage, const char *opt, const char *arg,
                   uint32_t *out);
int cli_parse_timeout(const char *usage, const char *opt, const char *arg,
                      int64_t *out);
int cli_parse_policy(const char *usage, const char *opt, const char *arg,
                     uint32_t *out);

/* ipcx_name_check() NAME; on failure print why and return 2. */
int cli_check_name(const char *name);

/*
 * Report the ipcx failure RC of the call just made: -EAGAIN and -ETIMEDOUT
 * return 1 quietly; anything else prints "ipcx: <what>: <reason>" (with the
 * ipcx_last_error() detail when it adds something) and returns 3.
 */
int cli_error(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The reason for the ipcx failure RC of the call just made, into BUF: the
 * code's text, plus the ipcx_last_error() detail (less a leading "WHAT: ")
 * when it says more.  For -ENOENT, -EEXIST and -EACCES a detail that only
 * rewords the code is dropped: next to WHAT their text says it all.
 */
const char *cli_reason(int rc, const char *what, char *buf, size_t len);

/* Report a failed system call (errno ERR): prints, returns 3. */
int cli_sys_error(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Flush standard output.  Returns OK_STATUS if everything was written;
 * EPIPE_STATUS, quietly, if the reader went away; otherwise prints the
 * write error and returns 3.
 */
int cli_flush(int ok_status, int epipe_status);

/* "any", "exclusive", "pair", or NULL for an unknown policy. */
const char *cli_policy_name(uint32_t policy);

/* The user (group) name of UID (GID), or the number, into BUF. */
void cli_user_name(uid_t uid, char *buf, size_t len);
void cli_group_name(gid_t gid, char *buf, size_t len);

#endif
