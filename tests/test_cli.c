/*
 * test_cli.c - the ipcx command as a user runs it: the real binary
 * (IPCX_TEST_BIN) in a private namespace, its output, exit status and
 * timing checked from outside.
 */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* One finished run of ipcx. */
struct run {
    int status; /* exit code, or 128 + signal */
    double secs;
    char out[65536]; /* standard output, NUL-terminated */
    char err[8192];  /* standard error, NUL-terminated */
};

/* A run still going (started in the background). */
struct bg {
    pid_t pid;
    int out, err;
    long long t0;
};

static const char *ipcx_bin;
static const char *ns_dir;

static int memfd_with(const char *data)
{
    int fd = memfd_create("ipcx-test", MFD_CLOEXEC);
    CHECK(fd >= 0);
    size_t len = data != NULL ? strlen(data) : 0;
    CHECK(write(fd, data != NULL ? data : "", len) == (ssize_t)len);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

static void read_all(int fd, char *buf, size_t cap)
{
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    ssize_t n = read(fd, buf, cap - 1);
    CHECK(n >= 0);
    buf[n] = '\0';
    close(fd);
}

static void exec_ipcx(int in, int out, int err, const char *const *args)
{
    const char *argv[64] = {"ipcx"};
    int n = 1;
    for (; args[n - 1] != NULL && n < 63; n++) {
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    /* A failed CHECK exits the test: take blocked receivers with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
        _exit(126);
    }
    execv(ipcx_bin, (char *const *)argv);
    _exit(127);
}

/* Start ipcx ARGS with IN (NULL: empty) as standard input. */
static struct bg bg_start(const char *in, const char *const *args)
{
    struct bg b = {.out = memfd_with(NULL), .err = memfd_with(NULL)};
    int infd = memfd_with(in);
    fflush(NULL);
    b.t0 = tu_now_ns();
    b.pid = fork();
    CHECK(b.pid >= 0);
    if (b.pid == 0) {
        exec_ipcx(infd, b.out, b.err, args);
    }
    close(infd);
    return b;
}

static void bg_finish(struct bg *b, struct run *r)
{
    r->status = tu_wait(b->pid);
    r->secs = (double)(tu_now_ns() - b->t0) / 1e9;
    read_all(b->out, r->out, sizeof r->out);
    read_all(b->err, r->err, sizeof r->err);
}

static void run_args(struct run *r, const char *in, const char *const *args)
{
    struct bg b = bg_start(in, args);
    bg_finish(&b, r);
}

/* IPCX(&r, stdin_text_or_NULL, "arg", ...) runs ipcx and waits. */
#define IPCX(r, in, ...)                                                       \
    run_args((r), (in), (const char *const[]){__VA_ARGS__, NULL})
#define BG(in, ...) bg_start((in), (const char *const[]){__VA_ARGS__, NULL})

/* Check a run's exit status, showing its output when it is wrong. */
#define CHECK_STATUS(r, want)                                                  \
    do {                                                                       \
        if ((r)->status != (want)) {                                           \
            fprintf(stderr, "stdout: %s\nstderr: %s\n", (r)->out, (r)->err);   \
        }                                                                      \
        CHECK((r)->status == (want));                                          \
    } while (0)

static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == 0)) {
            return true;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    return false;
}

/* Split the ls row of NAME of KIND into whitespace-separated FIELDS; the
 * count (0 if there is no such row). */
static int ls_row(const char *out, const char *name, const char *kind,
                  char fields[][64], int max)
{
    for (const char *p = out; p != NULL && *p != '\0';) {
        char line[512];
        size_t len = strcspn(p, "\n");
        CHECK(len < sizeof line);
        memcpy(line, p, len);
        line[len] = '\0';
        int n = 0;
        for (char *save, *tok = strtok_r(line, " ", &save); tok && n < max;
             tok = strtok_r(NULL, " ", &save)) {
            snprintf(fields[n++], 64, "%s", tok);
        }
        if (n >= 2 && strcmp(fields[0], name) == 0 &&
            strcmp(fields[1], kind) == 0) {
            return n;
        }
        p = p[len] == '\n' ? p + len + 1 : NULL;
    }
    return 0;
}

static const char *my_user(void)
{
    static char name[64];
    const struct passwd *pw = getpwuid(getuid());
    if (pw != NULL) {
        snprintf(name, sizeof name, "%s", pw->pw_name);
    } else {
        snprintf(name, sizeof name, "%lu", (unsigned long)getuid());
    }
    return name;
}

/* The namespace directory's entries, sorted, one per line, into BUF. */
static void dir_snapshot(char *buf, size_t len)
{
    struct dirent **ents;
    int n = scandir(ns_dir, &ents, NULL, alphasort);
    CHECK(n >= 0);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        strncat(buf, ents[i]->d_name, len - strlen(buf) - 2);
        strcat(buf, "\n");
        free(ents[i]);
    }
    free(ents);
}

/* Poll ipcx stat (bounded) until NAME shows recv-waiting: 1. */
static void wait_receiver(const char *name)
{
    struct run r;
    for (int i = 0; i < 2000; i++) {
        IPCX(&r, NULL, "stat", name);
        CHECK_STATUS(&r, 0);
        if (has_line(r.out, "recv-waiting: 1")) {
            return;
        }
        tu_pause_ms(2);
    }
    fprintf(stderr, "no receiver ever waited on %s\n", name);
    exit(1);
}

static void test_help(void)
{
    static const char *const cmds[] = {"create", "send", "recv",  "ls",
                                       "stat",   "rm",   "serve", "call",
                                       "demo",   "bench"};
    struct run r;
    char want[64];
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        snprintf(want, sizeof want, "usage: ipcx %s", cmds[i]);
        IPCX(&r, NULL, cmds[i], "--help");
        CHECK_STATUS(&r, 0);
        CHECK(strncmp(r.out, want, strlen(want)) == 0);
        CHECK(r.err[0] == '\0');
        IPCX(&r, NULL, cmds[i], "-h");
        CHECK_STATUS(&r, 0);
        CHECK(strncmp(r.out, want, strlen(want)) == 0);
        IPCX(&r, NULL, "help", cmds[i]);
        CHECK_STATUS(&r, 0);
        CHECK(strncmp(r.out, want, strlen(want)) == 0);
    }
    IPCX(&r, NULL, "--help");
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.out, "usage: ipcx") != NULL);
    IPCX(&r, NULL, "help");
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.out, "Exit status") != NULL);
    IPCX(&r, NULL, "--version");
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.out, ipcx_version()) != NULL);
    IPCX(&r, NULL, "frobnicate");
    CHECK_STATUS(&r, 2);
    CHECK(strncmp(r.err, "ipcx: ", 6) == 0);
}

static void test_ls_empty(void)
{
    struct run r;
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    CHECK(strncmp(r.out, "NAME", 4) == 0);
    CHECK(strchr(r.out, '\n') == r.out + strlen(r.out) - 1); /* header only */
    CHECK(r.err[0] == '\0');
}

static void test_round_trip(void)
{
    struct run r;
    IPCX(&r, NULL, "create", "rt");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "send", "rt", "hello world");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "recv", "rt");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "hello world\n") == 0);

    /* Each stdin line is a message, empty ones included, in order. */
    IPCX(&r, "one\ntwo\n\nthree", "send", "rt");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "--timeout", "5", "recv", "rt", "-n", "3");
    CHECK_STATUS(&r, 2); /* options belong after the subcommand */
    IPCX(&r, NULL, "recv", "--timeout", "5", "rt", "-n", "3");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "one\ntwo\n\n") == 0);
    IPCX(&r, NULL, "recv", "rt", "--timeout=5");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "three\n") == 0);

    /* Several MESSAGE arguments; -n stops after COUNT. */
    IPCX(&r, NULL, "send", "rt", "a", "b", "c");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "recv", "rt", "-n", "2");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "a\nb\n") == 0);
    IPCX(&r, NULL, "recv", "rt", "-n", "2", "--timeout", "0");
    CHECK_STATUS(&r, 1); /* one there, then nothing */
    CHECK(strcmp(r.out, "c\n") == 0);
}

static void test_timeouts(void)
{
    struct run r;
    IPCX(&r, NULL, "create", "slow", "--capacity", "1");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "recv", "slow", "--timeout", "0");
    CHECK_STATUS(&r, 1);
    CHECK(r.out[0] == '\0' && r.err[0] == '\0');

    IPCX(&r, NULL, "recv", "slow", "--timeout", "0.2");
    CHECK_STATUS(&r, 1);
    CHECK(r.secs >= 0.15);
    CHECK(r.secs < 5.0);

    /* A full bounded mailbox: the sender does not wait with timeout 0. */
    IPCX(&r, NULL, "send", "slow", "first");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "send", "slow", "second", "--timeout", "0");
    CHECK_STATUS(&r, 1);
    IPCX(&r, NULL, "send", "slow", "second", "--timeout", ".1");
    CHECK_STATUS(&r, 1);
    CHECK(r.secs >= 0.05);
    IPCX(&r, NULL, "recv", "slow", "-n", "2", "--timeout", "0");
    CHECK_STATUS(&r, 1);
    CHECK(strcmp(r.out, "first\n") == 0);
}

static void test_invalid_names(void)
{
    char long_name[202], before[8192], after[8192];
    memset(long_name, 'x', 201);
    long_name[201] = '\0';
    const char *const names[] = {"../x", "a/b", "", long_name, ".hidden"};
    struct run r;
    dir_snapshot(before, sizeof before);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        IPCX(&r, NULL, "create", names[i]);
        CHECK_STATUS(&r, 2);
        CHECK(strncmp(r.err, "ipcx: ", 6) == 0);
        IPCX(&r, NULL, "create", names[i], "--unbounded");
        CHECK_STATUS(&r, 2);
        IPCX(&r, NULL, "send", names[i], "x");
        CHECK_STATUS(&r, 2);
        IPCX(&r, NULL, "recv", names[i], "--timeout", "0");
        CHECK_STATUS(&r, 2);
        IPCX(&r, NULL, "stat", names[i]);
        CHECK_STATUS(&r, 2);
        IPCX(&r, NULL, "rm", names[i]);
        CHECK_STATUS(&r, 2);
        IPCX(&r, NULL, "serve", names[i], "--echo", "--count", "1");
        CHECK_STATUS(&r, 2);
        IPCX(&r, NULL, "call", names[i], "x", "--timeout", "0");
        CHECK_STATUS(&r, 2);
    }
    IPCX(&r, NULL, "create", "-c", "3", "..");
    CHECK_STATUS(&r, 2);
    dir_snapshot(after, sizeof after);
    CHECK(strcmp(before, after) == 0);
}

static void check_usage_error(const struct run *r)
{
    CHECK_STATUS(r, 2);
    CHECK(strncmp(r->err, "ipcx: ", 6) == 0);
    CHECK(strstr(r->err, "usage: ipcx") != NULL);
    CHECK(r->out[0] == '\0');
}

#define BAD(...)                                                               \
    do {                                                                       \
        IPCX(&r, NULL, __VA_ARGS__);                                           \
        check_usage_error(&r);                                                 \
    } while (0)

static void test_bad_options(void)
{
    struct run r;
    BAD("create", "x", "--capacity", "abc");
    BAD("create", "x", "--capacity", "-1");
    BAD("create", "x", "--capacity", "99999999999999999999999");
    BAD("create", "x", "--capacity", "2000000");
    BAD("create", "x", "--capacity", "12abc");
    BAD("create", "x", "--capacity");
    BAD("create", "x", "--mode", "0689");
    BAD("create", "x", "--mode", "17777");
    BAD("create", "x", "--mode", "rw");
    BAD("create", "x", "--mode", "4755");
    BAD("create", "x", "--mode", "0");
    BAD("create", "x", "--policy", "random");
    BAD("create", "x", "--max-size", "0");
    BAD("create", "x", "--max-size", "1T");
    BAD("create", "x", "--rendezvous", "--unbounded");
    BAD("create", "x", "--max-bytes", "1M");
    BAD("create", "x", "--bogus");
    BAD("create", "x", "-z");
    BAD("create", "x", "y");
    BAD("create");
    BAD("send", "x", "hi", "--timeout", "-1");
    BAD("send", "x", "hi", "--timeout", "soon");
    BAD("send", "x", "hi", "--timeout", "1.2.3");
    BAD("send", "x", "hi", "--timeout", "");
    BAD("send");
    BAD("recv", "x", "-n", "0");
    BAD("recv", "x", "-n", "two");
    BAD("recv", "x", "y");
    BAD("recv");
    BAD("ls", "extra");
    BAD("stat");
    BAD("rm");
    BAD("serve", "x"); /* no --echo */
    CHECK(strstr(r.err, "--echo") != NULL);
    BAD("serve", "--echo");
    BAD("serve", "x", "y", "--echo");
    BAD("serve", "x", "--echo", "--capacity", "0");
    BAD("serve", "x", "--echo", "--capacity", "65537");
    BAD("serve", "x", "--echo", "--max-size", "0");
    BAD("serve", "x", "--echo", "--mode", "8");
    BAD("serve", "x", "--echo", "--count", "0");
    BAD("call", "x");
    BAD("call", "x", "a", "b");
    BAD("call", "x", "a", "--timeout", "soon");
    BAD("call");
    BAD("demo", "--producers", "0");
    BAD("demo", "--messages", "1e6");
    BAD("bench", "--duration", "0");
    BAD("bench", "--duration", "abc");
    BAD("bench", "--duration", "60001");
    BAD("bench", "--duration");
    BAD("bench", "--bogus");
    BAD("bench", "--json=yes");
    BAD("bench", "extra");
    IPCX(&r, NULL, NULL); /* no command at all */
    check_usage_error(&r);
    /* None of that created mailbox x. */
    IPCX(&r, NULL, "stat", "x");
    CHECK_STATUS(&r, 3);
}

static void test_missing_mailbox(void)
{
    struct run r;
    IPCX(&r, NULL, "recv", "nosuch", "--timeout", "0");
    CHECK_STATUS(&r, 3);
    CHECK(strncmp(r.err, "ipcx: ", 6) == 0);
    CHECK(strstr(r.err, "'nosuch'") != NULL);
    CHECK(strstr(r.err, "No such file or directory") != NULL);
    IPCX(&r, NULL, "send", "nosuch", "x");
    CHECK_STATUS(&r, 3);
    CHECK(strncmp(r.err, "ipcx: ", 6) == 0);
    IPCX(&r, NULL, "rm", "nosuch");
    CHECK_STATUS(&r, 3);
    IPCX(&r, NULL, "rm", "-f", "nosuch");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "create", "twice");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "create", "twice");
    CHECK_STATUS(&r, 3);
    CHECK(strstr(r.err, "File exists") != NULL);
}

/* The columns of an ls row: NAME KIND CAPACITY DEPTH MAX-SIZE MODE OWNER
 * POLICY STATE. */
#define LS_FIELDS 9

static void check_ls_row(const char *out, const char *const want[LS_FIELDS])
{
    char f[LS_FIELDS + 1][64];
    int n = ls_row(out, want[0], want[1], f, LS_FIELDS + 1);
    if (n != LS_FIELDS) {
        fprintf(stderr, "ls row of %s %s has %d fields:\n%s", want[1], want[0],
                n, out);
    }
    CHECK(n == LS_FIELDS);
    for (int i = 0; i < LS_FIELDS; i++) {
        if (strcmp(f[i], want[i]) != 0) {
            fprintf(stderr, "ls %s: field %d is '%s', want '%s'\n", want[0], i,
                    f[i], want[i]);
            exit(1);
        }
    }
}

static void test_ls(void)
{
    struct run r;
    IPCX(&r, NULL, "create", "lsbox", "--capacity", "5", "--max-size", "100",
         "--mode", "640", "--policy", "exclusive");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "create", "--rendezvous", "lsrv");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "create", "lsub", "-u", "-b", "1M", "-m", "0604", "-p",
         "pair", "-s", "1k");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "send", "lsbox", "1", "2", "3");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    CHECK(strncmp(r.out, "NAME", 4) == 0);
    CHECK(strstr(r.out, "CAPACITY") && strstr(r.out, "DEPTH"));
    CHECK(strstr(r.out, "POLICY") && strstr(r.out, "STATE"));
    const char *u = my_user();
    check_ls_row(r.out,
                 (const char *const[]){"lsbox", "mailbox", "5", "3", "100",
                                       "640", u, "exclusive", "-"});
    check_ls_row(r.out,
                 (const char *const[]){"lsrv", "mailbox", "rendezvous", "0",
                                       "4096", "600", u, "any", "-"});
    check_ls_row(r.out,
                 (const char *const[]){"lsub", "mailbox", "unbounded", "0",
                                       "1024", "604", u, "pair", "-"});

    /* A region: its size under CAPACITY; a mailbox of the same name
     * is listed first. */
    CHECK_RC(ipcx_region_create("lsbox", 8192, 0640), 0);
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    check_ls_row(r.out, (const char *const[]){"lsbox", "region", "8192", "-",
                                              "-", "640", u, "-", "-"});
    const char *row = strstr(r.out, "\nlsbox ");
    CHECK(row != NULL);
    row += strlen("\nlsbox");
    row += strspn(row, " ");
    CHECK(strncmp(row, "mailbox ", 8) == 0);
    CHECK_RC(ipcx_region_destroy("lsbox"), 0);
}

static void test_stat(void)
{
    struct run r;
    char line[96];
    IPCX(&r, NULL, "stat", "lsbox");
    CHECK_STATUS(&r, 0);
    CHECK(has_line(r.out, "name: lsbox"));
    CHECK(strncmp(strstr(r.out, "id: "), "id: 0x", 6) == 0);
    CHECK(has_line(r.out, "capacity: 5"));
    CHECK(has_line(r.out, "depth: 3"));
    CHECK(has_line(r.out, "max-size: 100"));
    CHECK(has_line(r.out, "mode: 640"));
    snprintf(line, sizeof line, "owner: %s", my_user());
    CHECK(has_line(r.out, line));
    CHECK(has_line(r.out, "policy: exclusive"));
    CHECK(has_line(r.out, "sent: 3"));
    CHECK(has_line(r.out, "received: 0"));
    CHECK(has_line(r.out, "recv-waiting: 0"));
    CHECK(has_line(r.out, "receiver: none"));
    CHECK(has_line(r.out, "destroyed: no"));
    CHECK(strstr(r.out, "max-bytes:") == NULL);

    IPCX(&r, NULL, "stat", "lsub");
    CHECK_STATUS(&r, 0);
    CHECK(has_line(r.out, "capacity: unbounded"));
    CHECK(has_line(r.out, "max-bytes: 1048576"));
    CHECK(has_line(r.out, "policy: pair"));
    CHECK(has_line(r.out, "mode: 604"));
}

static void test_rm(void)
{
    struct run r;
    IPCX(&r, NULL, "create", "gone1");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "create", "gone2");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "rm", "gone1", "gone2");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "stat", "gone1");
    CHECK_STATUS(&r, 3);
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.out, "gone") == NULL);
    IPCX(&r, NULL, "create", "gone1");
    CHECK_STATUS(&r, 0); /* the name is free again */
    /* An invalid name among them: nothing is removed. */
    IPCX(&r, NULL, "rm", "gone1", "../x");
    CHECK_STATUS(&r, 2);
    IPCX(&r, NULL, "stat", "gone1");
    CHECK_STATUS(&r, 0);
}

static void test_rendezvous(void)
{
    struct run r;
    IPCX(&r, NULL, "create", "rv", "--rendezvous");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "send", "rv", "nobody", "--timeout", "0.1");
    CHECK_STATUS(&r, 1);
    IPCX(&r, NULL, "stat", "rv");
    CHECK(has_line(r.out, "depth: 0"));
    IPCX(&r, NULL, "recv", "rv", "--timeout", "0");
    CHECK_STATUS(&r, 1);

    /* With a receiver waiting, the send completes. */
    struct bg b = BG(NULL, "recv", "rv");
    wait_receiver("rv");
    IPCX(&r, NULL, "send", "rv", "taken", "--timeout", "10");
    CHECK_STATUS(&r, 0);
    bg_finish(&b, &r);
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "taken\n") == 0);
}

static void test_receipt(void)
{
    struct run r;
    char want[64];
    IPCX(&r, NULL, "create", "rcpt");
    CHECK_STATUS(&r, 0);
    struct bg b = BG(NULL, "recv", "rcpt");
    wait_receiver("rcpt");
    IPCX(&r, NULL, "send", "rcpt", "--receipt", "signed");
    CHECK_STATUS(&r, 0);
    snprintf(want, sizeof want, "delivered to pid %ld\n", (long)b.pid);
    CHECK(strcmp(r.out, want) == 0);
    bg_finish(&b, &r);
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "signed\n") == 0);

    /* Nobody to take it: no receipt, nothing left queued. */
    IPCX(&r, NULL, "send", "rcpt", "--receipt", "lost", "--timeout", "0.1");
    CHECK_STATUS(&r, 1);
    CHECK(r.out[0] == '\0');
    IPCX(&r, NULL, "stat", "rcpt");
    CHECK(has_line(r.out, "depth: 0"));
}

static void test_exclusive(void)
{
    struct run r;
    char want[64];
    IPCX(&r, NULL, "create", "excl", "--policy", "exclusive");
    CHECK_STATUS(&r, 0);
    struct bg b = BG(NULL, "recv", "excl");
    wait_receiver("excl");
    IPCX(&r, NULL, "stat", "excl");
    snprintf(want, sizeof want, "receiver: %ld", (long)b.pid);
    CHECK(has_line(r.out, want));
    IPCX(&r, NULL, "recv", "excl", "--timeout", "0");
    CHECK_STATUS(&r, 3);
    CHECK(strncmp(r.err, "ipcx: ", 6) == 0);
    CHECK(strstr(r.err, "busy") != NULL);
    IPCX(&r, NULL, "send", "excl", "mine");
    CHECK_STATUS(&r, 0);
    bg_finish(&b, &r);
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "mine\n") == 0);
    /* The holder exited: the right is free again. */
    IPCX(&r, NULL, "recv", "excl", "--timeout", "0");
    CHECK_STATUS(&r, 1);
}

static void test_oversize(void)
{
    struct run r;
    IPCX(&r, NULL, "create", "small", "--max-size", "4");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "send", "small", "12345");
    CHECK_STATUS(&r, 3);
    CHECK(strncmp(r.err, "ipcx: ", 6) == 0);
    IPCX(&r, NULL, "send", "small", "1234");
    CHECK_STATUS(&r, 0);
    IPCX(&r, NULL, "recv", "small");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "1234\n") == 0);
}

/* A reader that went away ends the command quietly, not by a signal. */
static void test_closed_pipe(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[0]);
    int in = memfd_with(NULL), err = memfd_with(NULL);
    char errtext[1024];
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        exec_ipcx(in, p[1], err, (const char *const[]){"ls", NULL});
    }
    close(p[1]);
    close(in);
    CHECK(tu_wait(pid) == 0);
    read_all(err, errtext, sizeof errtext);
    CHECK(errtext[0] == '\0');
}

static void test_demo(void)
{
    struct run r;
    IPCX(&r, NULL, "demo", "--producers", "3", "--consumers", "2", "--messages",
         "20000", "--capacity", "8");
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.out, "exactly once") != NULL);
    CHECK(strstr(r.out, "60000 messages") != NULL);
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.out, "demo-") == NULL); /* removed at the end */
}

/*
 * Run ipcx ARGS as a child of a subreaper: the bench forks its own
 * children, and none of them may outlive it (they would be handed to us);
 * nor may a mailbox be left in the namespace.
 */
static void run_bench(struct run *r, const char *const *args)
{
    char before[4096], after[4096];
    dir_snapshot(before, sizeof before);
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    run_args(r, NULL, args);
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
    dir_snapshot(after, sizeof after);
    CHECK(strcmp(before, after) == 0);
}

/* The table names the three mechanisms; the pipe is the pipe's 1.00. */
static void test_bench_table(void)
{
    struct run r;
    run_bench(&r, (const char *const[]){"bench", "--duration", "20", NULL});
    CHECK_STATUS(&r, 0);
    CHECK(strncmp(r.out, "ipcx bench: 64-byte messages, 20 ms", 35) == 0);
    CHECK(strstr(r.out, "x pipe") != NULL);
    CHECK(strstr(r.out, "\nipcx mailbox ") != NULL);
    CHECK(strstr(r.out, "\nunix socketpair ") != NULL);
    const char *pipe = strstr(r.out, "\npipe ");
    CHECK(pipe != NULL);
    double median, p99, ratio, rate, rate_ratio;
    CHECK(sscanf(pipe, " pipe %lf %lf %lf %lf %lf", &median, &p99, &ratio,
                 &rate, &rate_ratio) == 5);
    CHECK(median > 0 && p99 >= median && rate > 0);
    CHECK(ratio == 1.0 && rate_ratio == 1.0);
    /* Progress on standard error, plain lines when it is not a terminal. */
    CHECK(strstr(r.err, "[1/6] ipcx mailbox: round trip...\n") != NULL);
    CHECK(strstr(r.err, "[6/6] unix socketpair: stream...\n") != NULL);
    CHECK(strchr(r.err, '\r') == NULL);
}

static void test_bench_json(void)
{
    static const char *const keys[] = {
        "\"message_size\": 64",         "\"duration_ms\": 20",
        "\"pinned_cpus\": [",           "\"mechanism\": \"mailbox\"",
        "\"mechanism\": \"pipe\"",      "\"mechanism\": \"socketpair\"",
        "\"round_trip_median_us\": ",   "\"round_trip_p99_us\": ",
        "\"round_trip_x_pipe\": 1.000", "\"stream_msgs_per_sec\": ",
        "\"stream_x_pipe\": 1.000",
    };
    struct run r;
    run_bench(
        &r, (const char *const[]){"bench", "--json", "--duration", "20", NULL});
    CHECK_STATUS(&r, 0);
    CHECK(r.out[0] == '{' && strcmp(r.out + strlen(r.out) - 2, "}\n") == 0);
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        if (strstr(r.out, keys[i]) == NULL) {
            fprintf(stderr, "no %s in:\n%s", keys[i], r.out);
            exit(1);
        }
    }
    CHECK(strstr(r.out, "x pipe") == NULL); /* no table */
}

/* ---- connection ports: serve and call ---- */

/* B's standard error so far, into BUF. */
static void bg_err_now(const struct bg *b, char *buf, size_t cap)
{
    ssize_t n = pread(b->err, buf, cap - 1, 0);
    CHECK(n >= 0);
    buf[n] = '\0';
}

/* Wait (bounded) until B's standard error holds TEXT. */
static void wait_err(const struct bg *b, const char *text)
{
    char buf[8192];
    for (int i = 0; i < 5000; i++) {
        bg_err_now(b, buf, sizeof buf);
        if (strstr(buf, text) != NULL) {
            return;
        }
        tu_pause_ms(2);
    }
    fprintf(stderr, "never saw '%s'; stderr so far:\n%s", text, buf);
    exit(1);
}

/* SERVE("name", "--opt", "value"...) starts ipcx serve NAME --echo with the
 * extra arguments (GNU ##: there may be none) and waits until it listens. */
#define SERVE(name, ...)                                                       \
    serve_start((name), (const char *const[]){"serve", (name), "--echo",       \
                                              ##__VA_ARGS__, NULL})

static struct bg serve_start(const char *name, const char *const *args)
{
    char want[128];
    struct bg b = bg_start(NULL, args);
    snprintf(want, sizeof want, "ipcx serve: listening on '%s'\n", name);
    wait_err(&b, want);
    return b;
}

static bool port_file_exists(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.port", ns_dir, name);
    return access(path, F_OK) == 0;
}

static void test_serve_call(void)
{
    struct run r, s;
    char want[128];
    struct bg srv = SERVE("echo1", "--count", "2");
    IPCX(&r, NULL, "call", "echo1", "hello, world");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "hello, world\n") == 0);
    CHECK(r.err[0] == '\0');
    wait_err(&srv, "disconnected\n");

    /* The log names the caller as the kernel saw it: this very process. */
    struct bg c = BG(NULL, "call", "echo1", "--timeout", "10", "");
    bg_finish(&c, &r);
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "\n") == 0); /* an empty request, an empty reply */
    bg_finish(&srv, &s);
    CHECK_STATUS(&s, 0); /* --count 2 reached */
    snprintf(want, sizeof want, "ipcx serve: accepted pid %ld uid %lu gid %lu",
             (long)c.pid, (unsigned long)getuid(), (unsigned long)getgid());
    CHECK(has_line(s.err, want));
    CHECK(s.out[0] == '\0');
    CHECK(!port_file_exists("echo1"));
}

static void test_serve_ls_term(void)
{
    struct run r;
    const char *u = my_user();
    struct bg srv = SERVE("lsport", "--mode", "660");
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    check_ls_row(r.out, (const char *const[]){"lsport", "port", "-", "-", "-",
                                              "660", u, "-", "-"});
    /* A second server on the same name is refused, and changes nothing. */
    IPCX(&r, NULL, "serve", "lsport", "--echo");
    CHECK_STATUS(&r, 3);
    CHECK(strncmp(r.err, "ipcx: ", 6) == 0);
    CHECK(strstr(r.err, "'lsport'") != NULL);
    CHECK(strstr(r.err, "File exists") != NULL);
    IPCX(&r, NULL, "call", "lsport", "still here");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "still here\n") == 0);

    CHECK(kill(srv.pid, SIGTERM) == 0);
    bg_finish(&srv, &r);
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.err, "SIGTERM") != NULL);
    CHECK(!port_file_exists("lsport"));
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.out, "lsport") == NULL);

    /* SIGINT too. */
    srv = SERVE("intport");
    CHECK(kill(srv.pid, SIGINT) == 0);
    bg_finish(&srv, &r);
    CHECK_STATUS(&r, 0);
    CHECK(!port_file_exists("intport"));
}

static void test_call_no_server(void)
{
    struct run r;
    IPCX(&r, NULL, "call", "nosrv", "hi");
    CHECK_STATUS(&r, 3);
    CHECK(r.out[0] == '\0');
    CHECK(strstr(r.err, "ipcx: cannot connect to 'nosrv': ") == r.err);
    CHECK(strstr(r.err, "no connection port 'nosrv'") != NULL);

    /* A server killed outright leaves its port file: refused, not hung. */
    struct bg srv = SERVE("stale");
    CHECK(kill(srv.pid, SIGKILL) == 0);
    bg_finish(&srv, &r);
    CHECK_STATUS(&r, 128 + SIGKILL);
    CHECK(port_file_exists("stale"));
    IPCX(&r, NULL, "call", "stale", "hi");
    CHECK_STATUS(&r, 3);
    CHECK(strstr(r.err, "'stale'") != NULL);
    CHECK(r.secs < 3.0);
    /* ... and a new server takes the name over. */
    srv = SERVE("stale", "--count", "1");
    IPCX(&r, NULL, "call", "stale", "again");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "again\n") == 0);
    bg_finish(&srv, &r);
    CHECK_STATUS(&r, 0);
}

static void test_call_timeouts(void)
{
    struct run r;
    ipcx_port *port;
    ipcx_channel *ch;
    char buf[64];
    ipcx_channel_msg_info info;
    CHECK_RC(ipcx_port_listen("mute", NULL, &port), 0);

    /* Nobody accepts. */
    IPCX(&r, NULL, "call", "mute", "hello?", "--timeout", "0.3");
    CHECK_STATUS(&r, 1);
    CHECK(r.secs >= 0.25 && r.secs < 5.0);
    CHECK(r.out[0] == '\0');

    /* Accepted, never answered. */
    struct bg c = BG(NULL, "call", "mute", "hello?", "--timeout", ".3");
    CHECK_RC(ipcx_port_accept(port, IPCX_MSEC(5000), NULL, NULL, &ch), 0);
    bg_finish(&c, &r);
    CHECK_STATUS(&r, 1);
    CHECK(r.secs >= 0.25 && r.secs < 5.0);
    CHECK(r.out[0] == '\0');
    ipcx_channel_close(ch);

    /* The server goes away in the middle of the call. */
    c = BG(NULL, "call", "mute", "last words", "--timeout", "20");
    CHECK_RC(ipcx_port_accept(port, IPCX_MSEC(5000), NULL, NULL, &ch), 0);
    CHECK_RC(ipcx_channel_recv_ex(ch, buf, sizeof buf, IPCX_MSEC(5000), &info),
             10);
    CHECK(info.token != 0 && memcmp(buf, "last words", 10) == 0);
    ipcx_channel_close(ch);
    bg_finish(&c, &r);
    CHECK_STATUS(&r, 3);
    CHECK(r.secs < 10.0);
    CHECK(strstr(r.err, "ipcx: no reply from 'mute': ") == r.err);
    ipcx_port_close(port);
}

/* One-way messages come back one-way; several clients at once. */
static void test_serve_oneway_concurrent(void)
{
    struct run r;
    ipcx_channel *a, *b;
    char buf[64];
    struct bg srv = SERVE("multi", "--capacity", "2");
    CHECK_RC(ipcx_connect("multi", IPCX_MSEC(5000), &a), 0);
    CHECK_RC(ipcx_connect("multi", IPCX_MSEC(5000), &b), 0);
    /* A sends four one-way messages and reads none: its echoes fill its
     * two-slot queue, and the server holds the rest back... */
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "oneway %d", i);
        CHECK_RC(ipcx_channel_send(a, buf, strlen(buf), IPCX_MSEC(5000)), 0);
    }
    /* ... while B (and a call from the shell) are answered at once. */
    CHECK_RC(ipcx_call(b, "from b", 6, buf, sizeof buf, IPCX_MSEC(5000)), 6);
    CHECK(memcmp(buf, "from b", 6) == 0);
    IPCX(&r, NULL, "call", "multi", "from the shell");
    CHECK_STATUS(&r, 0);
    CHECK(strcmp(r.out, "from the shell\n") == 0);
    /* A's echoes arrive, all of them, in order, as one-way messages. */
    for (int i = 0; i < 4; i++) {
        char want[32];
        ipcx_channel_msg_info info;
        long n =
            ipcx_channel_recv_ex(a, buf, sizeof buf, IPCX_MSEC(5000), &info);
        snprintf(want, sizeof want, "oneway %d", i);
        CHECK(n == (long)strlen(want) && memcmp(buf, want, (size_t)n) == 0);
        CHECK(info.token == 0);
    }
    CHECK_RC(ipcx_call(a, "a call", 6, buf, sizeof buf, IPCX_MSEC(5000)), 6);
    ipcx_channel_close(a);
    ipcx_channel_close(b);
    CHECK(kill(srv.pid, SIGTERM) == 0);
    bg_finish(&srv, &r);
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.err, "disconnected") != NULL);
}

/* ---- inboxes in ls ---- */

/* An inbox owner: REPORT gets the pid of the child it forked (or 0);
 * the child lives until LIFE reads EOF. */
struct holder {
    uint32_t mode;
    bool fork_child;
    int report[2], life[2];
};

/* Open an inbox, fork a child if asked, report, then hold the inbox until
 * killed. */
static int inbox_holder(void *arg)
{
    const struct holder *h = arg;
    ipcx_inbox *ib;
    CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0);
    CHECK_RC(ipcx_inbox_open(h->mode, &ib), 0);
    pid_t c = 0;
    if (h->fork_child && (c = fork()) == 0) {
        char ch;
        close(h->life[1]);
        while (read(h->life[0], &ch, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    CHECK(c >= 0);
    CHECK(write(h->report[1], &c, sizeof c) == (ssize_t)sizeof c);
    pause();
    return 1;
}

static pid_t start_holder(struct holder *h, pid_t *child)
{
    CHECK(pipe2(h->report, O_CLOEXEC) == 0 && pipe2(h->life, O_CLOEXEC) == 0);
    pid_t pid = tu_spawn(inbox_holder, h);
    CHECK(read(h->report[0], child, sizeof *child) == (ssize_t)sizeof *child);
    close(h->report[0]);
    close(h->report[1]);
    close(h->life[0]);
    return pid;
}

/* An inbox row: NAME is the pid; MODE, owner and state. */
static void check_inbox_row(const char *out, pid_t pid, const char *mode,
                            const char *state)
{
    char name[16];
    snprintf(name, sizeof name, "%d", (int)pid);
    check_ls_row(out, (const char *const[]){name, "inbox", "-", "-", "-", mode,
                                            my_user(), "-", state});
}

/* Remove what a killed inbox owner PID left in the namespace. */
static void remove_inbox_files(pid_t pid)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%d.inbox", ns_dir, (int)pid);
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/.%d.inbox.lock", ns_dir, (int)pid);
    CHECK(unlink(path) == 0);
}

/* ls lists inboxes by pid with their state: live while the process has
 * it open, dead once it died, even if a child it forked (without exec)
 * lives on. */
static void test_ls_inboxes(void)
{
    struct run r;
    ipcx_inbox *mine;
    CHECK_RC(ipcx_inbox_open(0640, &mine), 0);
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0); /* to reap the child */
    struct holder h1 = {.mode = 0}, h2 = {.mode = 0620, .fork_child = true};
    pid_t none, child;
    pid_t plain = start_holder(&h1, &none);
    pid_t forking = start_holder(&h2, &child);
    CHECK(none == 0 && child > 0);

    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    check_inbox_row(r.out, getpid(), "640", "live");
    check_inbox_row(r.out, plain, "600", "live");
    check_inbox_row(r.out, forking, "620", "live");

    CHECK(kill(plain, SIGKILL) == 0 && kill(forking, SIGKILL) == 0);
    CHECK(tu_wait(plain) == 128 + SIGKILL);
    CHECK(tu_wait(forking) == 128 + SIGKILL);
    CHECK(kill(child, 0) == 0);
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    check_inbox_row(r.out, getpid(), "640", "live");
    check_inbox_row(r.out, plain, "600", "dead");
    check_inbox_row(r.out, forking, "620", "dead"); /* its child lives */

    ipcx_inbox_close(mine);
    remove_inbox_files(plain);
    remove_inbox_files(forking);
    IPCX(&r, NULL, "ls");
    CHECK_STATUS(&r, 0);
    CHECK(strstr(r.out, "inbox") == NULL);
    close(h1.life[1]);
    close(h2.life[1]);
    CHECK(tu_wait(child) == 0);
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
}

int main(void)
{
    ns_dir = tu_private_ns();
    ipcx_bin = getenv("IPCX_TEST_BIN");
    if (ipcx_bin == NULL || access(ipcx_bin, X_OK) != 0) {
        fprintf(stderr, "IPCX_TEST_BIN does not name the ipcx binary\n");
        return 77;
    }
    test_help();
    test_ls_empty();
    test_round_trip();
    test_timeouts();
    test_invalid_names();
    test_bad_options();
    test_missing_mailbox();
    test_ls();
    test_stat();
    test_rm();
    test_rendezvous();
    test_receipt();
    test_exclusive();
    test_oversize();
    test_closed_pipe();
    test_demo();
    test_bench_table();
    test_bench_json();
    test_serve_call();
    test_serve_ls_term();
    test_ls_inboxes();
    test_call_no_server();
    test_call_timeouts();
    test_serve_oneway_concurrent();
    printf("test_cli: all passed\n");
    return 0;
}
