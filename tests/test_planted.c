/*
 * test_planted.c - files planted under object names.
 *
 * Whoever may write the namespace directory can put any kind of file where
 * an object's file would be: a FIFO (whose open(2) blocks until a writer
 * comes), a symlink (to another object, to /dev/zero), a directory, a
 * Unix socket, an empty or truncated regular file.  For each kind of
 * object (mailbox, region, port, inbox, a mailbox's bell) and each kind of
 * planted file, the calls that open the object by name must answer at
 * once, with a specific error code and an ipcx_last_error() that says what
 * is there; the ipcx command (IPCX_TEST_BIN) must not hang or crash on
 * them either.  Every call runs in a forked child watched by
 * tu_wait_bounded(): a call that blocks fails the test instead of hanging
 * it.
 */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SENTINEL ((void *)0x5e11)
#define BOUND_S  10 /* a call that takes longer hangs */

static const char *ns;

enum plant {
    P_FIFO,
    P_LINK_VALID,
    P_LINK_ZERO,
    P_DIR,
    P_SOCKET,
    P_EMPTY,
    P_TRUNC,
    P_N
};

static const char *const plant_names[P_N] = {
    "a FIFO",
    "a symlink to a valid object",
    "a symlink to /dev/zero",
    "a directory",
    "a Unix socket",
    "an empty regular file",
    "a truncated file",
};

/* What ipcx_last_error() says the planted file is (ipcx__ns_kind()). */
static const char *const kind_text[P_N] = {
    "a FIFO",   "a symbolic link", "a symbolic link", "a directory",
    "a socket", "a regular file",  "a regular file",
};

static void path_of(char *buf, size_t len, const char *file)
{
    CHECK(snprintf(buf, len, "%s/%s", ns, file) < (int)len);
}

static int present(const char *file)
{
    char path[512];
    struct stat st;
    path_of(path, sizeof path, file);
    return lstat(path, &st) == 0;
}

/* Write the first half of regular file SRC (or, if it has no bytes to
 * halve, 100 bytes of garbage) to the new file DST. */
static void truncated_copy(const char *src, const char *dst)
{
    char buf[65536];
    struct stat st;
    size_t n = 100;
    int in = -1;
    if (stat(src, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 2) {
        n = (size_t)st.st_size / 2;
        in = open(src, O_RDONLY | O_CLOEXEC);
        CHECK(in >= 0);
    }
    int out = open(dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(out >= 0);
    while (n > 0) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        if (in >= 0) {
            CHECK(read(in, buf, k) == (ssize_t)k);
        } else {
            memset(buf, 'x', k);
        }
        CHECK(write(out, buf, k) == (ssize_t)k);
        n -= k;
    }
    close(out);
    if (in >= 0) {
        close(in);
    }
}

/* Plant KIND as FILE.  VALID is the file of a valid object of the same
 * sort: the target of P_LINK_VALID, the source of P_TRUNC. */
static void plant(const char *file, enum plant kind, const char *valid)
{
    char path[512], target[512];
    path_of(path, sizeof path, file);
    path_of(target, sizeof target, valid);
    switch (kind) {
    case P_FIFO:
        CHECK(mkfifo(path, 0600) == 0);
        break;
    case P_LINK_VALID:
        CHECK(symlink(target, path) == 0);
        break;
    case P_LINK_ZERO:
        CHECK(symlink("/dev/zero", path) == 0);
        break;
    case P_DIR:
        CHECK(mkdir(path, 0700) == 0);
        break;
    case P_SOCKET: {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        CHECK(strlen(path) < sizeof sa.sun_path);
        strcpy(sa.sun_path, path);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(s >= 0);
        CHECK(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
        close(s); /* the file stays, nobody listens */
        break;
    }
    case P_EMPTY: {
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        close(fd);
        break;
    }
    case P_TRUNC:
        truncated_copy(target, path);
        break;
    default:
        CHECK(0);
    }
}

/* Remove FILE, whatever it is (never following it); absent is fine. */
static void unplant(const char *file)
{
    char path[512];
    struct stat st;
    path_of(path, sizeof path, file);
    if (lstat(path, &st) < 0) {
        CHECK(errno == ENOENT);
        return;
    }
    CHECK((S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path)) == 0);
}

/* Remove everything from the namespace (what a failed subtest left). */
static void clear_ns(void)
{
    DIR *d = opendir(ns);
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            unplant(e->d_name);
        }
    }
    closedir(d);
}

/* The calling thread's last error contains every one of the NULL-ended
 * strings that follow. */
static void check_detail_(const char *file, int line, ...)
{
    const char *e = ipcx_last_error();
    va_list ap;
    va_start(ap, line);
    for (const char *want; (want = va_arg(ap, const char *)) != NULL;) {
        if (strstr(e, want) == NULL) {
            fprintf(stderr, "%s:%d: last error \"%s\" lacks \"%s\"\n", file,
                    line, e, want);
            exit(1);
        }
    }
    va_end(ap);
}
#define CHECK_DETAIL(...) check_detail_(__FILE__, __LINE__, __VA_ARGS__, NULL)

/* Run FN(KIND) in a child; fail the test if it fails or does not end
 * within BOUND_S seconds (then it is killed: a blocked open). */
static void bounded(const char *what, void (*fn)(enum plant), enum plant kind)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fn(kind);
        fflush(NULL);
        _exit(0);
    }
    int rc = tu_wait_bounded(pid, BOUND_S);
    if (rc != 0) {
        fprintf(stderr, "%s, with %s planted: %s\n", what, plant_names[kind],
                rc < 0 ? "HUNG (killed after the bound)" : "failed");
        exit(1);
    }
}

/* ---- mailboxes ----------------------------------------------------------- */

/* A working mailbox NAME: a message goes through. */
static void check_mailbox_works(const char *name)
{
    ipcx_mailbox *mb = tu_open(name);
    char buf[16];
    CHECK_RC(ipcx_mailbox_send(mb, "ok", 3, 0), 0);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 3);
    CHECK(strcmp(buf, "ok") == 0);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
}

static void mailbox_case(enum plant kind)
{
    static const char *const what[P_N] = {
        [P_EMPTY] = "not a valid mailbox file (empty)",
        [P_TRUNC] = "not a valid mailbox file (truncated",
    };
    const char *want = what[kind] != NULL ? what[kind] : kind_text[kind];
    ipcx_mailbox *mb = SENTINEL;
    ipcx_mailbox_info st;
    plant("m.mbox", kind, "good.mbox");

    CHECK_RC(ipcx_mailbox_open("m", 0, &mb), -EPROTO);
    CHECK(mb == SENTINEL);
    CHECK_DETAIL("mailbox 'm'", want);
    CHECK_RC(ipcx_mailbox_stat_name("m", &st), -EPROTO);
    CHECK_DETAIL("mailbox 'm'", want);
    CHECK_RC(ipcx_mailbox_create("m", NULL), -EEXIST);
    CHECK_DETAIL("mailbox 'm'", kind == P_EMPTY || kind == P_TRUNC
                                    ? "already exists"
                                    : kind_text[kind]);
    /* Destroying removes what is there (a symlink, not its target), but
     * not a directory with whatever it holds. */
    if (kind == P_DIR) {
        CHECK_RC(ipcx_mailbox_destroy("m"), -EPROTO);
        CHECK_DETAIL("mailbox 'm'", "a directory", "by hand");
        CHECK(present("m.mbox"));
    } else {
        CHECK_RC(ipcx_mailbox_destroy("m"), 0);
        CHECK(!present("m.mbox"));
    }
    CHECK_RC(ipcx_mailbox_open("m", 0, &mb), kind == P_DIR ? -EPROTO : -ENOENT);
    check_mailbox_works("good");
}

static void test_mailbox(void)
{
    clear_ns();
    CHECK_RC(ipcx_mailbox_create("good", NULL), 0);
    for (enum plant k = 0; k < P_N; k++) {
        bounded("mailbox open/stat/create/destroy", mailbox_case, k);
        unplant("m.mbox");
    }
    CHECK_RC(ipcx_mailbox_destroy("good"), 0);
}

/* ---- regions ------------------------------------------------------------- */

static void region_case(enum plant kind)
{
    ipcx_region *r = SENTINEL;
    plant("r.region", kind, "goodr.region");
    if (kind == P_TRUNC) {
        /* A region has no header: a shorter regular file is a smaller
         * region, nothing to refuse. */
        CHECK_RC(ipcx_region_attach("r", 0, &r), 0);
        CHECK(ipcx_region_size(r) == 4096);
        CHECK_RC(ipcx_region_detach(r), 0);
    } else {
        const char *want = kind == P_EMPTY ? "size 0" : kind_text[kind];
        CHECK_RC(ipcx_region_attach("r", 0, &r), -EPROTO);
        CHECK(r == SENTINEL);
        CHECK_DETAIL("region 'r'", want);
        CHECK_RC(ipcx_region_attach("r", IPCX_REGION_RDONLY, &r), -EPROTO);
        CHECK(r == SENTINEL);
        CHECK_DETAIL("region 'r'", want);
    }
    CHECK_RC(ipcx_region_create("r", 4096, 0600), -EEXIST);
    if (kind == P_DIR) {
        CHECK_RC(ipcx_region_destroy("r"), -EPROTO);
        CHECK_DETAIL("region 'r'", "a directory");
        CHECK(present("r.region"));
    } else {
        CHECK_RC(ipcx_region_destroy("r"), 0);
        CHECK(!present("r.region"));
    }
    /* The symlink's target is untouched. */
    CHECK_RC(ipcx_region_attach("goodr", 0, &r), 0);
    CHECK(ipcx_region_size(r) == 8192);
    CHECK_RC(ipcx_region_detach(r), 0);
}

static void test_region(void)
{
    clear_ns();
    CHECK_RC(ipcx_region_create("goodr", 8192, 0600), 0);
    for (enum plant k = 0; k < P_N; k++) {
        bounded("region attach/create/destroy", region_case, k);
        unplant("r.region");
    }
    CHECK_RC(ipcx_region_destroy("goodr"), 0);
}

/* ---- connection ports ---------------------------------------------------- */

static void port_case(enum plant kind)
{
    ipcx_port *good, *p;
    ipcx_channel *ch = SENTINEL;
    CHECK_RC(ipcx_port_listen("goodp", NULL, &good), 0);

    /* Under the port's name: connecting must not reach the symlink's
     * target, nor say "nobody listens" of a FIFO. */
    plant("p.port", kind, "goodp.port");
    if (kind == P_SOCKET) { /* a socket nobody listens on: a dead port */
        CHECK_RC(ipcx_connect("p", 0, &ch), -ECONNREFUSED);
    } else {
        CHECK_RC(ipcx_connect("p", 0, &ch), -EPROTO);
        CHECK_DETAIL("'p'", kind_text[kind], "not a connection port");
    }
    CHECK(ch == SENTINEL);
    /* Listening replaces it; a directory stays, and says so. */
    if (kind == P_DIR) {
        CHECK_RC(ipcx_port_listen("p", NULL, &p), -EEXIST);
        CHECK_DETAIL("'p'", "a directory");
        CHECK(!present(".p.port.lock")); /* a failed listen leaves none */
        unplant("p.port");
    }
    CHECK_RC(ipcx_port_listen("p", NULL, &p), 0);
    CHECK_RC(ipcx_port_close(p), 0);
    CHECK(!present("p.port") && !present(".p.port.lock"));

    /* Under its name lock: nobody's lock (owners make regular files), so
     * listening replaces it; it must not follow a symlink to a live
     * server's lock (-EEXIST) nor block on a FIFO. */
    plant(".q.port.lock", kind, ".goodp.port.lock");
    if (kind == P_DIR) {
        CHECK_RC(ipcx_port_listen("q", NULL, &p), -EEXIST);
        CHECK_DETAIL("'q'", "a directory");
        unplant(".q.port.lock");
    }
    CHECK_RC(ipcx_port_listen("q", NULL, &p), 0);
    CHECK_RC(ipcx_port_close(p), 0);
    CHECK(!present("q.port") && !present(".q.port.lock"));

    CHECK(present("goodp.port") && present(".goodp.port.lock"));
    CHECK_RC(ipcx_port_close(good), 0);
}

static void test_port(void)
{
    clear_ns();
    for (enum plant k = 0; k < P_N; k++) {
        bounded("port connect/listen", port_case, k);
        unplant("p.port");
        unplant(".q.port.lock");
    }
}

/* ---- inboxes ------------------------------------------------------------- */

#define FAKE_PID 2000000000 /* a pid no process has: only its files count */

static void inbox_case(enum plant kind)
{
    char own[64], own_lock[80];
    ipcx_inbox *ib;
    snprintf(own, sizeof own, "%d.inbox", (int)getpid());
    snprintf(own_lock, sizeof own_lock, ".%s.lock", own);

    /* Under our own inbox's name lock, then its socket's name: replaced,
     * except a directory. */
    plant(own_lock, kind, "2.inbox"); /* (no valid target: a dangling link) */
    if (kind == P_DIR) {
        CHECK_RC(ipcx_inbox_open(0, &ib), -EEXIST);
        CHECK_DETAIL("a directory");
        unplant(own_lock);
    }
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_inbox_close(ib), 0);
    CHECK(!present(own) && !present(own_lock));
    plant(own, kind, "2.inbox");
    if (kind == P_DIR) {
        CHECK_RC(ipcx_inbox_open(0, &ib), -EEXIST);
        CHECK_DETAIL("a directory");
        unplant(own);
    }
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);

    /* Under another pid's inbox name: no inbox there, and a symlink to
     * our own must not deliver to us. */
    char fake[64], fake_lock[80];
    snprintf(fake, sizeof fake, "%d.inbox", FAKE_PID);
    snprintf(fake_lock, sizeof fake_lock, ".%s.lock", fake);
    plant(fake, kind, own);
    CHECK_RC(ipcx_send_to(ib, FAKE_PID, "x", 1, 0), -ESRCH);
    if (kind == P_SOCKET) {
        CHECK_DETAIL("has no inbox");
    } else {
        CHECK_DETAIL("has no inbox", kind_text[kind]);
    }
    CHECK_RC(ipcx_inbox_alive(FAKE_PID), 0);
    char buf[8];
    CHECK_RC(ipcx_receive_any(ib, buf, sizeof buf, NULL, 0), -EAGAIN);

    /* A dead inbox's socket with KIND as its name lock: is it alive?  A
     * FIFO there blocked the answer for ever. */
    unplant(fake);
    plant(fake, P_SOCKET, own);
    plant(fake_lock, kind, own_lock);
    CHECK_RC(ipcx_inbox_alive(FAKE_PID), 0);
    CHECK_RC(ipcx_send_to(ib, FAKE_PID, "x", 1, 0), -ESRCH);
    CHECK_RC(ipcx_inbox_close(ib), 0);
}

static void test_inbox(void)
{
    clear_ns();
    char fake[64], fake_lock[80];
    snprintf(fake, sizeof fake, "%d.inbox", FAKE_PID);
    snprintf(fake_lock, sizeof fake_lock, ".%s.lock", fake);
    for (enum plant k = 0; k < P_N; k++) {
        bounded("inbox open/send/alive", inbox_case, k);
        unplant(fake);
        unplant(fake_lock);
    }
}

/* ---- a mailbox's bell (ipcx_mailbox_fd) ---------------------------------- */

static void bell_case(enum plant kind)
{
    ipcx_mailbox *mb = tu_open("bm");
    plant(".bm.mbox.bell", kind, ".good.mbox.bell");
    int fd = ipcx_mailbox_fd(mb);
    if (kind == P_FIFO) {
        CHECK(fd >= 0); /* a FIFO is what a bell is: it works */
    } else {
        CHECK_RC(fd, -EPROTO);
        CHECK_DETAIL("bell", kind_text[kind], "not a FIFO");
    }
    /* Messages flow all the same; only the descriptor is missing. */
    char buf[8];
    CHECK_RC(ipcx_mailbox_send(mb, "b", 2, 0), 0);
    if (fd >= 0) {
        CHECK(tu_readable(fd));
    }
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 2);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
}

static void test_bell(void)
{
    clear_ns();
    /* A real bell, for the symlink to point at. */
    CHECK_RC(ipcx_mailbox_create("good", NULL), 0);
    ipcx_mailbox *good = tu_open("good");
    CHECK(ipcx_mailbox_fd(good) >= 0);
    for (enum plant k = 0; k < P_N; k++) {
        CHECK_RC(ipcx_mailbox_create("bm", NULL), 0);
        bounded("ipcx_mailbox_fd", bell_case, k);
        /* Destroying the mailbox takes what is under the bell's name
         * along, but for a directory. */
        CHECK_RC(ipcx_mailbox_destroy("bm"), 0);
        CHECK(present(".bm.mbox.bell") == (k == P_DIR));
        unplant(".bm.mbox.bell");
    }
    CHECK(present(".good.mbox.bell"));
    CHECK_RC(ipcx_mailbox_close(good), 0);
    CHECK_RC(ipcx_mailbox_destroy("good"), 0);

    /* A bell we make takes the mailbox's mode, now set through the FIFO's
     * descriptor (a chmod by name would follow a symlink swapped in). */
    ipcx_mailbox_attr a;
    ipcx_mailbox_attr_init(&a);
    a.mode = 0640;
    CHECK_RC(ipcx_mailbox_create("mode", &a), 0);
    ipcx_mailbox *mb = tu_open("mode");
    CHECK(ipcx_mailbox_fd(mb) >= 0);
    char path[512];
    struct stat st;
    path_of(path, sizeof path, ".mode.mbox.bell");
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK((st.st_mode & 07777) == 0640);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("mode"), 0);
    CHECK(!present(".mode.mbox.bell"));
}

/* ---- ipcx_gc() ----------------------------------------------------------- */

/* Where gc looks, and what it may remove there: a file of the type its
 * kind makes, which it cannot tell from a dead object's leftover. */
static const struct {
    const char *file, *valid;
    enum plant removable; /* P_N: none */
} gc_spots[] = {
    {"gm.mbox", "good.mbox", P_N},
    {"gr.region", "goodr.region", P_N},
    {"gp.port", "good.mbox", P_SOCKET},
    {".gq.port.lock", "good.mbox", P_N},
    {".gb.mbox.bell", "good.mbox", P_FIFO},
    {"2000000001.inbox", "good.mbox", P_SOCKET},
};
#define N_SPOTS (sizeof gc_spots / sizeof gc_spots[0])

static void gc_case(enum plant kind)
{
    ipcx_gc_report rep;
    for (size_t i = 0; i < N_SPOTS; i++) {
        plant(gc_spots[i].file, kind, gc_spots[i].valid);
    }
    int n = ipcx_gc(IPCX_GC_DRY_RUN, NULL, NULL, &rep);
    CHECK(n >= 0);
    int removed = ipcx_gc(0, NULL, NULL, &rep);
    CHECK(removed == n);
    for (size_t i = 0; i < N_SPOTS; i++) {
        int gone = !present(gc_spots[i].file);
        /* A regular file at a lock's name is a lock file: gc takes it (a
         * dead owner's, as far as anyone can tell). */
        int may_go = gc_spots[i].removable == kind ||
                     (strstr(gc_spots[i].file, ".lock") != NULL &&
                      (kind == P_EMPTY || kind == P_TRUNC));
        if (gone != may_go) {
            fprintf(stderr, "gc %s %s planted as %s\n",
                    gone ? "removed" : "kept", gc_spots[i].file,
                    plant_names[kind]);
            exit(1);
        }
    }
    CHECK(rep.skipped == 0);
    check_mailbox_works("good");
}

static void test_gc(void)
{
    clear_ns();
    CHECK_RC(ipcx_mailbox_create("good", NULL), 0);
    CHECK_RC(ipcx_region_create("goodr", 8192, 0600), 0);
    for (enum plant k = 0; k < P_N; k++) {
        bounded("ipcx_gc", gc_case, k);
        for (size_t i = 0; i < N_SPOTS; i++) {
            unplant(gc_spots[i].file);
        }
    }
    CHECK_RC(ipcx_mailbox_destroy("good"), 0);
    CHECK_RC(ipcx_region_destroy("goodr"), 0);
}

/* ---- the ipcx command ---------------------------------------------------- */

static const char *ipcx_bin;

struct run {
    int status; /* exit code, 128 + signal, or -1: it hung */
    char out[65536], err[16384];
};

static void read_back(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    CHECK(n >= 0);
    buf[n] = '\0';
    close(fd);
}

/* Run ipcx ARGS (NULL-ended) for at most BOUND_S seconds. */
static void run_ipcx(struct run *r, const char *const *args)
{
    const char *argv[32] = {"ipcx"};
    int n = 1;
    for (; args[n - 1] != NULL && n < 31; n++) {
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    int out = memfd_create("out", MFD_CLOEXEC);
    int err = memfd_create("err", MFD_CLOEXEC);
    CHECK(out >= 0 && err >= 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
            _exit(126);
        }
        execv(ipcx_bin, (char *const *)argv);
        _exit(127);
    }
    r->status = tu_wait_bounded(pid, BOUND_S);
    read_back(out, r->out, sizeof r->out);
    read_back(err, r->err, sizeof r->err);
    if (r->status < 0 || r->status >= 126) {
        fprintf(stderr, "ipcx %s %s: %s\nstdout: %s\nstderr: %s\n", args[0],
                args[1] != NULL ? args[1] : "",
                r->status < 0 ? "HUNG (killed after the bound)"
                              : "crashed or did not run",
                r->out, r->err);
        exit(1);
    }
}
#define IPCX(r, ...) run_ipcx((r), (const char *const[]){__VA_ARGS__, NULL})

static const char *const mbox_names[P_N] = {
    "m-fifo", "m-link", "m-zero", "m-dir", "m-sock", "m-empty", "m-trunc",
};

static void check_has(const char *text, const char *want, const char *what)
{
    if (strstr(text, want) == NULL) {
        fprintf(stderr, "%s: no \"%s\" in:\n%s\n", what, want, text);
        exit(1);
    }
}

static void test_cli(void)
{
    clear_ns();
    static struct run run;
    struct run *r = &run;
    char file[96], fake[64];
    if (ipcx_bin == NULL) {
        printf("test_cli: IPCX_TEST_BIN not set, skipped\n");
        return;
    }
    CHECK_RC(ipcx_mailbox_create("good", NULL), 0);
    CHECK_RC(ipcx_region_create("goodr", 8192, 0600), 0);
    for (enum plant k = 0; k < P_N; k++) {
        snprintf(file, sizeof file, "%s.mbox", mbox_names[k]);
        plant(file, k, "good.mbox");
        snprintf(file, sizeof file, "%s.region", mbox_names[k]);
        plant(file, k, "goodr.region");
    }
    /* An inbox whose name lock is a FIFO: ls asks whether it is alive. */
    snprintf(fake, sizeof fake, "%d.inbox", FAKE_PID);
    plant(fake, P_SOCKET, "good.mbox");
    snprintf(file, sizeof file, ".%s.lock", fake);
    plant(file, P_FIFO, "good.mbox");

    IPCX(r, "ls");
    CHECK(r->status == 0);
    for (enum plant k = 0; k < P_N; k++) {
        check_has(r->out, mbox_names[k], "ipcx ls");
    }
    check_has(r->out, "is a FIFO", "ipcx ls");
    check_has(r->out, "is a symbolic link", "ipcx ls");
    check_has(r->out, "truncated", "ipcx ls");
    check_has(r->out, "good", "ipcx ls");

    for (enum plant k = 0; k < P_N; k++) {
        IPCX(r, "stat", mbox_names[k]);
        CHECK(r->status != 0);
        check_has(r->err,
                  k == P_EMPTY   ? "empty"
                  : k == P_TRUNC ? "truncated"
                                 : kind_text[k],
                  "ipcx stat");
    }
    IPCX(r, "stat", "good");
    CHECK(r->status == 0);

    /* gc leaves what is not its kind's (all of these), and does not hang
     * on the FIFOs. */
    IPCX(r, "gc", "--dry-run");
    CHECK(r->status == 0);
    IPCX(r, "gc");
    CHECK(r->status == 0);
    for (enum plant k = 0; k < P_N; k++) {
        snprintf(file, sizeof file, "%s.mbox", mbox_names[k]);
        CHECK(present(file));
        snprintf(file, sizeof file, "%s.region", mbox_names[k]);
        CHECK(present(file));
    }

    /* rm removes what is planted under a mailbox's name, but a
     * directory, which it names. */
    for (enum plant k = 0; k < P_N; k++) {
        IPCX(r, "rm", mbox_names[k]);
        snprintf(file, sizeof file, "%s.mbox", mbox_names[k]);
        if (k == P_DIR) {
            CHECK(r->status != 0);
            check_has(r->err, "a directory", "ipcx rm");
            CHECK(present(file));
        } else {
            CHECK(r->status == 0);
            CHECK(!present(file));
        }
    }
    IPCX(r, "ls");
    CHECK(r->status == 0);
    check_mailbox_works("good");
}

int main(void)
{
    ns = tu_private_ns();
    ipcx_bin = getenv("IPCX_TEST_BIN");
    if (ipcx_bin != NULL && access(ipcx_bin, X_OK) != 0) {
        fprintf(stderr, "IPCX_TEST_BIN does not name the ipcx binary\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    TU_RUN(test_mailbox);
    TU_RUN(test_region);
    TU_RUN(test_port);
    TU_RUN(test_inbox);
    TU_RUN(test_bell);
    TU_RUN(test_gc);
    TU_RUN(test_cli); /* each run of ipcx is bounded */
    if (tu_failures == 0) {
        printf("test_planted: all passed\n");
    }
    return tu_failures > 0;
}
