/*
 * cli_util.c - option parsing, number parsing, error messages and output
 * checks shared by the ipcx subcommands.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#define NSEC_PER_SEC 1000000000ull

static const char *const policy_names[] = {
    [IPCX_POLICY_ANY] = "any",
    [IPCX_POLICY_EXCLUSIVE] = "exclusive",
    [IPCX_POLICY_PAIR] = "pair",
};

/* The synopsis is the usage text up to its first blank line. */
static void print_synopsis(const char *usage)
{
    const char *end = strstr(usage, "\n\n");
    int len = end != NULL ? (int)(end - usage) : (int)strlen(usage);
    fprintf(stderr, "%.*s\n", len, usage);
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fputs("ipcx: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    print_synopsis(usage);
    return CLI_USAGE;
}

int cli_help(const char *usage)
{
    fputs(usage, stdout);
    return cli_flush(CLI_OK, CLI_OK);
}

/*
 * getopt_long answered '?' (unknown option) or ':' (missing value).  A
 * missing value is always at the end, so argv[optind - 1] is the option;
 * an unknown long option sets optopt to 0, a short one (or a long one given
 * a value it does not take) to its character.
 */
static int bad_option(const char *usage, int c, char **argv)
{
    const char *arg = argv[optind - 1];
    bool is_long = strncmp(arg, "--", 2) == 0;
    if (c == ':' && is_long) {
        return cli_usage_error(usage, "option '%s' needs a value", arg);
    }
    if (c == ':') {
        return cli_usage_error(usage, "option '-%c' needs a value", optopt);
    }
    if (optopt == 0) {
        return cli_usage_error(usage, "unknown option '%s'", arg);
    }
    if (is_long && strchr(arg, '=') != NULL) {
        return cli_usage_error(usage, "option '%s' takes no value", arg);
    }
    return cli_usage_error(usage, "unknown option '-%c'", optopt);
}

static int check_operands(const struct cli_spec *spec,
                          const struct cli_operands *ops)
{
    if (ops->n < spec->min_operands) {
        return cli_usage_error(spec->usage, ops->n == 0 ? "missing NAME"
                                                        : "missing argument");
    }
    if (spec->max_operands >= 0 && ops->n > spec->max_operands) {
        return cli_usage_error(spec->usage, "unexpected argument '%s'",
                               ops->v[spec->max_operands]);
    }
    return CLI_CONTINUE;
}

int cli_getopt(int argc, char **argv, const struct cli_spec *spec, void *opts,
               struct cli_operands *operands)
{
    int c;
    optind = 0; /* GNU: start afresh, options may follow operands */
    opterr = 0; /* we word the messages ourselves */
    while ((c = getopt_long(argc, argv, spec->shortopts, spec->longopts,
                            NULL)) != -1) {
        if (c == 'h') {
            return cli_help(spec->usage);
        }
        if (c == '?' || c == ':') {
            return bad_option(spec->usage, c, argv);
        }
        int st = spec->option(spec, opts, c, optarg);
        if (st != CLI_CONTINUE) {
            return st;
        }
    }
    operands->v = argv + optind;
    operands->n = argc - optind;
    return check_operands(spec, operands);
}

/*
 * Decimal digits at *S into *OUT, saturating at UINT64_MAX so that an
 * overflow reads as "too large" rather than "not a number".  False if *S
 * does not start with a digit.
 */
static bool scan_u64(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*p)) {
        return false;
    }
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *s = p;
    *out = v;
    return true;
}

static int check_range(const char *usage, const char *opt, const char *arg,
                       uint64_t v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (v < min) {
        return cli_usage_error(usage, "%s %s: must be at least %llu", opt, arg,
                               (unsigned long long)min);
    }
    if (v > max) {
        return cli_usage_error(usage, "%s %s: must be at most %llu", opt, arg,
                               (unsigned long long)max);
    }
    *out = v;
    return CLI_CONTINUE;
}

int cli_parse_u64(const char *usage, const char *opt, const char *arg,
                  uint64_t min, uint64_t max, uint64_t *out)
{
    const char *p = arg;
    uint64_t v;
    if (!scan_u64(&p, &v) || *p != '\0') {
        return cli_usage_error(usage, "%s '%s': not a number", opt, arg);
    }
    return check_range(usage, opt, arg, v, min, max, out);
}

static unsigned suffix_shift(char c)
{
    switch (c) {
    case 'k':
    case 'K':
        return 10;
    case 'M':
        return 20;
    case 'G':
        return 30;
    default:
        return 0;
    }
}

int cli_parse_size(const char *usage, const char *opt, const char *arg,
                   uint64_t min, uint64_t max, uint64_t *out)
{
    const char *p = arg;
    uint64_t v;
    unsigned shift = 0;
    if (scan_u64(&p, &v) && *p != '\0' && p[1] == '\0') {
        shift = suffix_shift(*p);
        p += shift != 0;
    }
    if (p == arg || *p != '\0') {
        return cli_usage_error(usage, "%s '%s': not a size in bytes", opt, arg);
    }
    v = v > UINT64_MAX >> shift ? UINT64_MAX : v << shift;
    return check_range(usage, opt, arg, v, min, max, out);
}

int cli_parse_mode(const char *usage, const char *opt, const char *arg,
                   uint32_t *out)
{
    const char *p = arg;
    uint32_t v = 0;
    for (; *p >= '0' && *p <= '7' && v <= 0777; p++) {
        v = v * 8 + (uint32_t)(*p - '0');
    }
    if (p == arg || *p != '\0' || v > 0777) {
        return cli_usage_error(
            usage, "%s '%s': not octal permission bits (1 to 777)", opt, arg);
    }
    if (v == 0) {
        return cli_usage_error(usage, "%s 0 would let nobody open it", opt);
    }
    *out = v;
    return CLI_CONTINUE;
}

/*
 * Digits after the decimal point at *S, as nanoseconds (digits past the
 * ninth are dropped).  False if there is no digit.
 */
static bool scan_fraction(const char **s, uint64_t *ns)
{
    const char *start = *s, *p = start;
    uint64_t v = 0, scale = NSEC_PER_SEC / 10;
    for (; isdigit((unsigned char)*p); p++) {
        v += (uint64_t)(*p - '0') * scale;
        scale /= 10;
    }
    *ns = v;
    *s = p;
    return p > start;
}

int cli_parse_timeout(const char *usage, const char *opt, const char *arg,
                      int64_t *out)
{
    const char *p = arg;
    uint64_t sec = 0, frac = 0;
    bool digits = scan_u64(&p, &sec);
    if (*p == '.') {
        p++;
        digits = scan_fraction(&p, &frac) || digits;
    }
    if (!digits || *p != '\0') {
        return cli_usage_error(usage, "%s '%s': not a number of seconds", opt,
                               arg);
    }
    if (sec >= (uint64_t)INT64_MAX / NSEC_PER_SEC) {
        return cli_usage_error(usage, "%s %s: too large", opt, arg);
    }
    *out = (int64_t)(sec * NSEC_PER_SEC + frac);
    return CLI_CONTINUE;
}

int cli_parse_policy(const char *usage, const char *opt, const char *arg,
                     uint32_t *out)
{
    for (uint32_t i = 0; i < sizeof policy_names / sizeof *policy_names; i++) {
        if (strcmp(arg, policy_names[i]) == 0) {
            *out = i;
            return CLI_CONTINUE;
        }
    }
    return cli_usage_error(usage, "%s '%s': not any, exclusive or pair", opt,
                           arg);
}

const char *cli_policy_name(uint32_t policy)
{
    if (policy < sizeof policy_names / sizeof *policy_names) {
        return policy_names[policy];
    }
    return NULL;
}

int cli_check_name(const char *name)
{
    if (ipcx_name_check(name) == 0) {
        return CLI_CONTINUE;
    }
    const char *detail = ipcx_last_error();
    if (strncmp(detail, "invalid name", 12) == 0) {
        fprintf(stderr, "ipcx: %s\n", detail);
    } else if (detail[0] != '\0') {
        fprintf(stderr, "ipcx: invalid name '%s': %s\n", name, detail);
    } else {
        fprintf(stderr, "ipcx: invalid name '%s'\n", name);
    }
    return CLI_USAGE;
}

/* DETAIL without a leading "WHAT: ", which would repeat our message. */
static const char *strip_what(const char *detail, const char *what)
{
    size_t len = strlen(what);
    if (strncmp(detail, what, len) == 0 &&
        strncmp(detail + len, ": ", 2) == 0) {
        return detail + len + 2;
    }
    return detail;
}

const char *cli_reason(int rc, const char *what, char *buf, size_t len)
{
    /* Copied first: the detail is valid only until our next ipcx call. */
    char detail[512];
    snprintf(detail, sizeof detail, "%s", ipcx_last_error());
    const char *text = ipcx_strerror(rc);
    const char *rest = strip_what(detail, what);
    if (rest[0] == '\0' || strcasecmp(rest, text) == 0) {
        snprintf(buf, len, "%s", text);
    } else if (strstr(rest, text) != NULL) {
        snprintf(buf, len, "%s", rest);
    } else if (rc == -ENOENT || rc == -EEXIST || rc == -EACCES) {
        snprintf(buf, len, "%s", text);
    } else {
        snprintf(buf, len, "%s (%s)", text, rest);
    }
    return buf;
}

int cli_error(int rc, const char *fmt, ...)
{
    if (rc == -EAGAIN || rc == -ETIMEDOUT) {
        return CLI_NOTHING;
    }
    char what[512], reason[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ipcx: %s: %s\n", what,
            cli_reason(rc, what, reason, sizeof reason));
    return CLI_FAIL;
}

int cli_sys_error(int err, const char *fmt, ...)
{
    va_list ap;
    fputs("ipcx: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(err));
    return CLI_FAIL;
}

int cli_flush(int ok_status, int epipe_status)
{
    if (fflush(stdout) == 0 && !ferror(stdout)) {
        return ok_status;
    }
    int err = errno;
    if (err == EPIPE) {
        return epipe_status;
    }
    return cli_sys_error(err, "cannot write to standard output");
}

void cli_user_name(uid_t uid, char *buf, size_t len)
{
    const struct passwd *pw = getpwuid(uid);
    if (pw != NULL) {
        snprintf(buf, len, "%s", pw->pw_name);
    } else {
        snprintf(buf, len, "%lu", (unsigned long)uid);
    }
}

void cli_group_name(gid_t gid, char *buf, size_t len)
{
    const struct group *gr = getgrgid(gid);
    if (gr != NULL) {
        snprintf(buf, len, "%s", gr->gr_name);
    } else {
        snprintf(buf, len, "%lu", (unsigned long)gid);
    }
}
