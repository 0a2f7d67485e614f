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

/* Split the ls row of NAME into whitespace-separated FIELDS; count. */
static int ls_row(const char *out, const char *name, char fields[][64], int max)
{
    char line[512] = "";
    size_t nlen = strlen(name);
    for (const char *p = out; p != NULL; p = strchr(p, '\n')) {
        p += *p == '\n';
        if (strncmp(p, name, nlen) == 0 && p[nlen] == ' ') {
            size_t len = strcspn(p, "\n");
            CHECK(len < sizeof line);
            memcpy(line, p, len);
            break;
        }
    }
    int n = 0;
    for (char *save, *tok = strtok_r(line, " ", &save); tok && n < max;
         tok = strtok_r(NULL, " ", &save)) {
        snprintf(fields[n++], 64, "%s", tok);
    }
    return n;
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
    static const char *const cmds[] = {"create", "send", "recv", "ls",
                                       "stat",   "rm",   "demo"};
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
    BAD("demo", "--producers", "0");
    BAD("demo", "--messages", "1e6");
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

static void check_ls_row(const char *out, const char *name,
                         const char *const want[7])
{
    char f[8][64];
    int n = ls_row(out, name, f, 8);
    if (n != 7) {
        fprintf(stderr, "ls row of %s has %d fields:\n%s", name, n, out);
    }
    CHECK(n == 7);
    for (int i = 0; i < 7; i++) {
        if (strcmp(f[i], want[i]) != 0) {
            fprintf(stderr, "ls %s: field %d is '%s', want '%s'\n", name, i,
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
    const char *u = my_user();
    check_ls_row(
        r.out, "lsbox",
        (const char *const[]){"lsbox", "5", "3", "100", "640", u, "exclusive"});
    check_ls_row(r.out, "lsrv",
                 (const char *const[]){"lsrv", "rendezvous", "0", "4096", "600",
                                       u, "any"});
    check_ls_row(r.out, "lsub",
                 (const char *const[]){"lsub", "unbounded", "0", "1024", "604",
                                       u, "pair"});
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
    printf("test_cli: all passed\n");
    return 0;
}
