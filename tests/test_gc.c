/*
 * test_gc.c - cleanup of leftovers (issue 4, point 2): ipcx_gc() and
 * ipcx gc against real processes that create ports, inboxes, temporary
 * regions and mailbox bells and are then SIGKILLed.  gc must remove
 * exactly what the dead left and nothing a live process holds; a dry run
 * removes nothing; a collector looping beside a process that listens and
 * closes over and over never takes the live port's name; restarting a
 * killed server, inbox or temporary region under the same name works
 * without gc.  Each subtest has its own namespace directory.
 */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OTHER_UID 65534
#define OTHER_GID 65534

static const char *base;
static char ns[512];

/* A fresh namespace for the calling subtest. */
static void fresh_ns(const char *sub)
{
    snprintf(ns, sizeof ns, "%s/%s", base, sub);
    CHECK(mkdir(ns, 0700) == 0);
    CHECK(setenv("IPCX_DIR", ns, 1) == 0);
}

static void path_of(const char *file, char *buf, size_t len)
{
    CHECK(snprintf(buf, len, "%s/%s", ns, file) < (int)len);
}

/* Does FILE exist in the namespace (lstat)? */
static int has(const char *file)
{
    char p[768];
    struct stat st;
    path_of(file, p, sizeof p);
    return lstat(p, &st) == 0;
}

static int hasf(const char *fmt, long v)
{
    char file[256];
    snprintf(file, sizeof file, fmt, v);
    return has(file);
}

/* How many files of the namespace start with PREFIX. */
static int count_prefix(const char *prefix)
{
    DIR *d = opendir(ns);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    }
    closedir(d);
    return n;
}

/* Every file of the namespace, sorted, one per line, into BUF. */
static void snapshot(char *buf, size_t len)
{
    struct dirent **v;
    int n = scandir(ns, &v, NULL, alphasort);
    CHECK(n >= 0);
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        off += (size_t)snprintf(buf + off, len - off, "%s\n", v[i]->d_name);
        CHECK(off < len);
        free(v[i]);
    }
    free(v);
}

/* ---- what gc said ---- */

struct seen {
    char items[64][256];
    int n;
};

static void note(ipcx_gc_kind kind, const char *name, void *arg)
{
    struct seen *s = arg;
    CHECK(s->n < 64);
    CHECK(ipcx_gc_kind_name(kind) != NULL);
    snprintf(s->items[s->n++], sizeof s->items[0], "%s %s",
             ipcx_gc_kind_name(kind), name);
}

static int seen_has(const struct seen *s, const char *item)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->items[i], item) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Run ipcx_gc(FLAGS): it must report exactly the N items WANT ("port x",
 * "inbox 123", ...), each once, with matching counts; returns the report. */
static ipcx_gc_report expect_gc_(unsigned flags, const char *const *want, int n,
                                 int line)
{
    struct seen s = {.n = 0};
    ipcx_gc_report rep;
    memset(&rep, 0xa5, sizeof rep);
    int rc = ipcx_gc(flags, note, &s, &rep);
    int ok = rc == n && s.n == n;
    for (int i = 0; ok && i < n; i++) {
        ok = seen_has(&s, want[i]);
    }
    uint32_t sum = 0;
    for (int k = 0; k < IPCX_GC_KINDS; k++) {
        sum += rep.removed[k];
    }
    if (!ok || sum != (uint32_t)n) {
        fprintf(stderr, "line %d: ipcx_gc(%u) = %d (%s), reported:\n", line,
                flags, rc, rc < 0 ? ipcx_last_error() : "");
        for (int i = 0; i < s.n; i++) {
            fprintf(stderr, "  %s\n", s.items[i]);
        }
        fprintf(stderr, "expected:\n");
        for (int i = 0; i < n; i++) {
            fprintf(stderr, "  %s\n", want[i]);
        }
        exit(1);
    }
    return rep;
}
#define EXPECT_GC(flags, ...)                                                  \
    do {                                                                       \
        const char *const w_[] = {__VA_ARGS__};                                \
        expect_gc_((flags), w_ + 1, (int)(sizeof w_ / sizeof *w_) - 1,         \
                   __LINE__);                                                  \
    } while (0)
/* Use as EXPECT_GC(flags, "", "port a", ...): the "" keeps the list
 * non-empty when nothing is expected. */

/* ---- processes that hold things, then die ---- */

/* Fork a child that runs FN(NAME), tells us it is ready, and then waits to
 * be killed (it dies with us, too). */
static pid_t start(int (*fn)(const char *), const char *name)
{
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        int rc = fn(name);
        if (rc != 0) {
            fprintf(stderr, "child %s: %d (%s)\n", name ? name : "", rc,
                    ipcx_last_error());
            _exit(1);
        }
        (void)!write(p[1], "r", 1);
        for (;;) {
            pause();
        }
    }
    close(p[1]);
    char c;
    CHECK(read(p[0], &c, 1) == 1);
    close(p[0]);
    return pid;
}

static void kill_wait(pid_t pid)
{
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(tu_wait(pid) == 128 + SIGKILL);
}

static int fn_port(const char *name)
{
    ipcx_port *p;
    return ipcx_port_listen(name, NULL, &p);
}

/* Listen, waiting out a collector that holds the name lock (-EEXIST for
 * a moment: see test_race). */
static int fn_port_retry_(ipcx_port **p, const char *name)
{
    int rc;
    for (int i = 0;
         (rc = ipcx_port_listen(name, NULL, p)) == -EEXIST && i < 100000; i++) {
    }
    return rc;
}

static int fn_port_retry(const char *name)
{
    ipcx_port *p;
    return fn_port_retry_(&p, name);
}

static int fn_inbox(const char *name)
{
    ipcx_inbox *ib;
    return ipcx_inbox_open(0, &ib);
}

static int fn_temp_region(const char *name)
{
    ipcx_region *r;
    return ipcx_region_create_attach(name, 4096, 0600, IPCX_REGION_TEMPORARY,
                                     &r);
}

static int fn_perm_region(const char *name)
{
    ipcx_region *r;
    return ipcx_region_create_attach(name, 4096, 0600, 0, &r);
}

static int fn_attach(const char *name)
{
    ipcx_region *r;
    return ipcx_region_attach(name, IPCX_REGION_RDONLY, &r);
}

/* Open mailbox NAME and its descriptor: that makes its bell FIFO. */
static int fn_mailbox_fd(const char *name)
{
    ipcx_mailbox *mb;
    int rc = ipcx_mailbox_open(name, 0, &mb);
    return rc < 0 ? rc : ipcx_mailbox_fd(mb) < 0;
}

/* Hold FIFO FILE open as a bell holder does (O_RDWR). */
static int fn_hold_fifo(const char *file)
{
    char p[768];
    path_of(file, p, sizeof p);
    return open(p, O_RDWR | O_NONBLOCK) < 0;
}

/* Connect to socket FILE: 0, or -errno (-ENOENT: the name is gone,
 * -ECONNREFUSED: it is a dead one's). */
static int raw_connect(const char *file)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", ns, file) <
          (int)sizeof sa.sun_path);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CHECK(s >= 0);
    int rc = connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : -errno;
    close(s);
    return rc;
}

/* A socket file FILE that nobody listens on (as a killed server leaves). */
static void dead_socket(const char *file)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", ns, file) <
          (int)sizeof sa.sun_path);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    CHECK(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(s, 4) == 0);
    close(s);
}

static void make_file(const char *file, mode_t type)
{
    char p[768];
    path_of(file, p, sizeof p);
    if (type == S_IFIFO) {
        CHECK(mkfifo(p, 0600) == 0);
    } else if (type == S_IFSOCK) {
        dead_socket(file);
    } else {
        int fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        close(fd);
    }
}

/* A pid that belonged to a process now reaped: no process has it. */
static pid_t dead_pid(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    CHECK(tu_wait(pid) == 0);
    CHECK(kill(pid, 0) < 0 && errno == ESRCH);
    return pid;
}

/* ---- the tests ---- */

static void test_bad_args(void)
{
    fresh_ns("args");
    CHECK_RC(ipcx_gc(0x2, NULL, NULL, NULL), -EINVAL);
    CHECK(strstr(ipcx_last_error(), "flags") != NULL);
    CHECK_RC(ipcx_gc(0, NULL, NULL, NULL), 0);
    CHECK_RC(ipcx_gc(IPCX_GC_DRY_RUN, NULL, NULL, NULL), 0);
    CHECK(ipcx_gc_kind_name((ipcx_gc_kind)IPCX_GC_KINDS) == NULL);
    CHECK(ipcx_gc_kind_name((ipcx_gc_kind)-1) == NULL);
    CHECK(strcmp(ipcx_gc_kind_name(IPCX_GC_PORT), "port") == 0);
    CHECK(strcmp(ipcx_gc_kind_name(IPCX_GC_TEMP), "temporary file") == 0);
    /* An unusable namespace: the error, and nothing else happens. */
    char file[768];
    path_of("not-a-dir", file, sizeof file);
    make_file("not-a-dir", S_IFREG);
    CHECK(setenv("IPCX_DIR", file, 1) == 0);
    CHECK(ipcx_gc(0, NULL, NULL, NULL) < 0);
}

/*
 * The main case: the dead's port, inbox and temporary region go; a live
 * server's port (another process's and our own), live inboxes, a
 * temporary region another process still has attached, a permanent
 * region and every mailbox (and the bell of one that exists) stay.
 */
static void test_exactly_the_dead(void)
{
    char inbox[64], before[8192], after[8192];
    fresh_ns("exact");
    CHECK_RC(ipcx_mailbox_create("mbox-a", NULL), 0);
    CHECK_RC(ipcx_mailbox_create("mbox-b", NULL), 0);
    pid_t dead_port = start(fn_port, "dead-port");
    pid_t live_port = start(fn_port, "live-port");
    pid_t dead_inbox = start(fn_inbox, NULL);
    pid_t live_inbox = start(fn_inbox, NULL);
    pid_t dead_temp = start(fn_temp_region, "dead-temp");
    pid_t shared_creator = start(fn_temp_region, "shared-temp");
    pid_t shared_user = start(fn_attach, "shared-temp");
    pid_t perm = start(fn_perm_region, "perm");
    pid_t mbox_user = start(fn_mailbox_fd, "mbox-a");
    ipcx_port *own;
    ipcx_inbox *mine;
    CHECK_RC(ipcx_port_listen("own-port", NULL, &own), 0);
    CHECK_RC(ipcx_inbox_open(0, &mine), 0);
    CHECK(has(".mbox-a.mbox.bell"));

    kill_wait(dead_port);
    kill_wait(dead_inbox);
    kill_wait(dead_temp);
    kill_wait(shared_creator);
    kill_wait(perm);
    kill_wait(mbox_user);
    snprintf(inbox, sizeof inbox, "inbox %d", (int)dead_inbox);

    snapshot(before, sizeof before);
    EXPECT_GC(IPCX_GC_DRY_RUN, "", "port dead-port", inbox, "region dead-temp");
    snapshot(after, sizeof after);
    CHECK(strcmp(before, after) == 0); /* a dry run removes nothing */

    EXPECT_GC(0, "", "port dead-port", inbox, "region dead-temp");
    CHECK(!has("dead-port.port") && !has(".dead-port.port.lock"));
    CHECK(!hasf("%ld.inbox", dead_inbox) &&
          !hasf(".%ld.inbox.lock", dead_inbox));
    CHECK(!has("dead-temp.region"));
    /* Everything alive, or persistent, is untouched and works. */
    CHECK(has("live-port.port") && has(".live-port.port.lock"));
    CHECK(has("own-port.port") && has(".own-port.port.lock"));
    CHECK_RC(raw_connect("live-port.port"), 0);
    CHECK_RC(raw_connect("own-port.port"), 0);
    CHECK_RC(ipcx_inbox_alive(live_inbox), 1);
    CHECK_RC(ipcx_inbox_alive(getpid()), 1);
    CHECK(has("shared-temp.region") && has("perm.region"));
    CHECK(has("mbox-a.mbox") && has("mbox-b.mbox") && has(".mbox-a.mbox.bell"));
    ipcx_region *r;
    CHECK_RC(ipcx_region_attach("shared-temp", 0, &r), 0);
    ipcx_region_detach(r);
    EXPECT_GC(0, ""); /* nothing left to do */

    /* Once their last users die, they go too. */
    kill_wait(live_port);
    kill_wait(live_inbox);
    kill_wait(shared_user);
    snprintf(inbox, sizeof inbox, "inbox %d", (int)live_inbox);
    EXPECT_GC(0, "", "port live-port", inbox, "region shared-temp");
    ipcx_port_close(own);
    ipcx_inbox_close(mine);
    EXPECT_GC(0, "");
    /* Mailboxes persist, though nobody has them open. */
    CHECK(has("mbox-a.mbox") && has("mbox-b.mbox") && has("perm.region"));
    ipcx_mailbox *mb = tu_open("mbox-a");
    ipcx_mailbox_close(mb);
}

/* Bells: the FIFO of a mailbox that is gone, unless someone holds it. */
static void test_bells(void)
{
    fresh_ns("bells");
    CHECK_RC(ipcx_mailbox_create("gone", NULL), 0);
    CHECK_RC(ipcx_mailbox_create("kept", NULL), 0);
    kill_wait(start(fn_mailbox_fd, "gone"));
    pid_t kept_user = start(fn_mailbox_fd, "kept");
    CHECK(has(".gone.mbox.bell") && has(".kept.mbox.bell"));
    /* As if a destroyer died between removing the mailbox and its bell. */
    char p[768];
    path_of("gone.mbox", p, sizeof p);
    CHECK(unlink(p) == 0);
    make_file(".never.mbox.bell", S_IFIFO);
    make_file(".held.mbox.bell", S_IFIFO);
    pid_t holder = start(fn_hold_fifo, ".held.mbox.bell");
    make_file(".odd.mbox.bell", S_IFREG); /* not a FIFO: not ours */

    EXPECT_GC(IPCX_GC_DRY_RUN, "", "bell gone", "bell never");
    CHECK(has(".gone.mbox.bell") && has(".never.mbox.bell"));
    EXPECT_GC(0, "", "bell gone", "bell never");
    CHECK(!has(".gone.mbox.bell") && !has(".never.mbox.bell"));
    CHECK(has(".kept.mbox.bell") && has(".held.mbox.bell"));
    CHECK(has(".odd.mbox.bell") && has("kept.mbox"));
    CHECK(count_prefix(".gc-") == 0); /* nothing set aside stays */

    kill_wait(holder);
    EXPECT_GC(0, "", "bell held");

    /* The kept mailbox's bell still rings its pollers. */
    ipcx_mailbox *mb = tu_open("kept");
    int fd = ipcx_mailbox_fd(mb);
    CHECK(fd >= 0);
    CHECK_RC(ipcx_mailbox_send(mb, "x", 1, 0), 0);
    struct pollfd pf = {fd, POLLIN, 0};
    CHECK(poll(&pf, 1, 5000) == 1);
    ipcx_mailbox_close(mb);
    kill_wait(kept_user);
    EXPECT_GC(0, ""); /* its mailbox exists: the bell stays */
    CHECK(has(".kept.mbox.bell"));
}

static void age(const char *file, int secs)
{
    char p[768];
    path_of(file, p, sizeof p);
    struct timespec t[2] = {{time(NULL) - secs, 0}, {time(NULL) - secs, 0}};
    CHECK(utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW) == 0);
}

static int fn_nothing(const char *name)
{
    return 0;
}

/* Temporary files of creators that died (or went quiet long ago). */
static void test_temp_files(void)
{
    char f[32][128];
    int n = 0;
    fresh_ns("temps");
    pid_t dead = dead_pid(), me = getpid();
    pid_t live = start(fn_nothing, NULL);
    /* Collected: the dead creator's, of each kind, and a stale one. */
    snprintf(f[n++], 128, ".tmp-%d-0-1f", (int)dead);
    snprintf(f[n++], 128, ".sock-%d-0000abcd", (int)dead);
    snprintf(f[n++], 128, ".gc-%d-00000001", (int)dead);
    snprintf(f[n++], 128, ".tmp-%d-1-4f", (int)live);
    make_file(f[0], S_IFREG);
    make_file(f[1], S_IFSOCK);
    make_file(f[2], S_IFIFO);
    make_file(f[3], S_IFREG);
    age(f[3], 2 * IPCX_GC_TEMP_AGE);
    /* Kept: live creators' fresh files, wrong types, other names. */
    int keep = n;
    snprintf(f[n++], 128, ".tmp-%d-0-2f", (int)me);
    snprintf(f[n++], 128, ".tmp-%d-0-3f", (int)live);
    snprintf(f[n++], 128, ".sock-%d-0000abce", (int)live);
    snprintf(f[n++], 128, ".sock-%d-0000abcf", (int)dead); /* not a socket */
    snprintf(f[n++], 128, ".tmp-%d-x", (int)dead);         /* not our form */
    snprintf(f[n++], 128, ".tmp-0%d-1-1", (int)dead);
    snprintf(f[n++], 128, ".tmp-%d", (int)dead);
    snprintf(f[n++], 128, ".tmpfoo");
    snprintf(f[n++], 128, "tmp-%d-1-1", (int)dead);
    for (int i = keep; i < n; i++) {
        make_file(f[i], i == keep + 2 ? S_IFSOCK : S_IFREG);
    }
    char want[4][160];
    for (int i = 0; i < 4; i++) {
        snprintf(want[i], sizeof want[i], "temporary file %.100s", f[i]);
    }
    EXPECT_GC(IPCX_GC_DRY_RUN, "", want[0], want[1], want[2], want[3]);
    EXPECT_GC(0, "", want[0], want[1], want[2], want[3]);
    for (int i = 0; i < n; i++) {
        if (has(f[i]) != (i >= keep)) {
            fprintf(stderr, "%s: %s\n", f[i], i >= keep ? "gone" : "still");
            exit(1);
        }
    }
    /* Once their creator is dead, its fresh files go too. */
    kill_wait(live);
    snprintf(want[0], sizeof want[0], "temporary file %.100s", f[keep + 1]);
    snprintf(want[1], sizeof want[1], "temporary file %.100s", f[keep + 2]);
    EXPECT_GC(0, "", want[0], want[1]);
}

/* Sockets and name locks in every odd state a crash or a hand can leave. */
static void test_socket_states(void)
{
    char file[64], inbox[64];
    fresh_ns("sockets");
    /* A dead server's socket whose name lock is gone: judged by
     * connecting (refused). */
    dead_socket("nolock.port");
    /* A name lock with no socket (its owner died while closing). */
    make_file(".orphan.port.lock", S_IFREG);
    /* A dead process's inbox, socket and lock. */
    pid_t dead = dead_pid();
    snprintf(file, sizeof file, "%d.inbox", (int)dead);
    dead_socket(file);
    snprintf(file, sizeof file, ".%d.inbox.lock", (int)dead);
    make_file(file, S_IFREG);
    snprintf(inbox, sizeof inbox, "inbox %d", (int)dead);
    /* A live server whose lock someone removed by hand: connecting finds
     * it alive. */
    pid_t server = start(fn_port, "live-nolock");
    char p[768];
    path_of(".live-nolock.port.lock", p, sizeof p);
    CHECK(unlink(p) == 0);
    /* Not ours: no pid, not a socket. */
    dead_socket("abc.inbox");
    make_file("notsock.port", S_IFREG);

    EXPECT_GC(IPCX_GC_DRY_RUN, "", "port nolock", "port orphan", inbox);
    CHECK(has("nolock.port") && has(".orphan.port.lock"));
    EXPECT_GC(0, "", "port nolock", "port orphan", inbox);
    CHECK(!has("nolock.port") && !has(".nolock.port.lock"));
    CHECK(!has(".orphan.port.lock"));
    CHECK(!hasf("%ld.inbox", dead) && !hasf(".%ld.inbox.lock", dead));
    CHECK(has("live-nolock.port") && !has(".live-nolock.port.lock"));
    CHECK_RC(raw_connect("live-nolock.port"), 0);
    CHECK(has("abc.inbox") && has("notsock.port"));
    kill_wait(server);
    EXPECT_GC(0, "", "port live-nolock");
    CHECK(!has("live-nolock.port") && !has(".live-nolock.port.lock"));
}

/* Restarting under the same names needs no gc. */
static void test_restart(void)
{
    fresh_ns("restart");
    /* A server, killed, replaced: clients reach the new one. */
    kill_wait(start(fn_port, "svc"));
    ipcx_port *p;
    CHECK_RC(ipcx_port_listen("svc", NULL, &p), 0);
    pid_t client = fork();
    CHECK(client >= 0);
    if (client == 0) {
        ipcx_channel *ch;
        int rc = ipcx_connect("svc", IPCX_SEC(5), &ch);
        _exit(rc == 0 && ipcx_channel_send(ch, "hi", 2, IPCX_SEC(5)) == 0 ? 0
                                                                          : 1);
    }
    ipcx_channel *ch;
    char buf[8];
    CHECK_RC(ipcx_port_accept(p, IPCX_SEC(5), NULL, NULL, &ch), 0);
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, IPCX_SEC(5)), 2);
    CHECK(tu_wait(client) == 0);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    CHECK(!has("svc.port") && !has(".svc.port.lock"));

    /* A temporary region, its creator killed: created anew (size shows
     * which one we have), under either kind of create. */
    kill_wait(start(fn_temp_region, "scratch"));
    ipcx_region *r, *r2;
    CHECK_RC(ipcx_region_create_attach("scratch", 8192, 0600,
                                       IPCX_REGION_TEMPORARY, &r),
             0);
    CHECK(ipcx_region_size(r) == 8192 && ipcx_region_is_temporary(r));
    /* A live one is not taken over, by either kind of create. */
    CHECK_RC(ipcx_region_create_attach("scratch", 4096, 0600,
                                       IPCX_REGION_TEMPORARY, &r2),
             -EEXIST);
    CHECK_RC(ipcx_region_create("scratch", 4096, 0600), -EEXIST);
    ipcx_region_detach(r);
    CHECK_RC(ipcx_region_create("scratch", 100, 0600), 0); /* permanent */
    CHECK_RC(ipcx_region_create_attach("scratch", 4096, 0600,
                                       IPCX_REGION_TEMPORARY, &r2),
             -EEXIST); /* a permanent region is never reclaimed */
    CHECK_RC(ipcx_region_attach("scratch", 0, &r), 0);
    CHECK(ipcx_region_size(r) == 100 && !ipcx_region_is_temporary(r));
    ipcx_region_detach(r);

    /* An inbox left under our pid by a dead process (pid reuse). */
    char file[64];
    snprintf(file, sizeof file, "%d.inbox", (int)getpid());
    dead_socket(file);
    snprintf(file, sizeof file, ".%d.inbox.lock", (int)getpid());
    make_file(file, S_IFREG);
    CHECK_RC(ipcx_inbox_alive(getpid()), 0);
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_inbox_alive(getpid()), 1);
    snprintf(file, sizeof file, "%d.inbox", (int)getpid());
    CHECK_RC(raw_connect(file), 0);
    ipcx_inbox_close(ib);
}

/* ---- races ---- */

struct race {
    atomic_int stop;
    atomic_long gcs, removed, listens, eexist, regions, kills;
};

/* The race's processes die with the test, whatever happens to it. */
static void tie_to_parent(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) {
        _exit(1);
    }
}

static int race_gc(void *arg)
{
    struct race *r = arg;
    tie_to_parent();
    while (!atomic_load(&r->stop)) {
        int n = ipcx_gc(0, NULL, NULL, NULL);
        if (n < 0) {
            fprintf(stderr, "gc: %s\n", ipcx_last_error());
            return 1;
        }
        atomic_fetch_add(&r->gcs, 1);
        atomic_fetch_add(&r->removed, n);
    }
    return 0;
}

/* Servers that die on another name, so the collector has work. */
/* Check N times that the port we listen on as FILE has its name: its
 * lock file is there and connecting reaches a listener. */
static void check_own_port(const char *file, const char *lock, int n)
{
    for (int i = 0; i < n; i++) {
        int rc = raw_connect(file);
        if (rc != 0 || !has(lock)) {
            fprintf(stderr, "live port %s lost its name: %s\n", file,
                    rc != 0 ? strerror(-rc) : "no lock file");
            exit(1);
        }
        tu_pause_us(20);
    }
}

/*
 * Servers that die on "victim", so the collector has work, each replaced
 * at once by a listener of our own (which takes the dead one's lock file
 * over, as a restarted server does) while the collector may be at that
 * very lock: our port must keep its name.
 */
static int race_killer(void *arg)
{
    struct race *r = arg;
    tie_to_parent();
    while (!atomic_load(&r->stop)) {
        pid_t pid = start(fn_port_retry, "victim");
        kill_wait(pid);
        atomic_fetch_add(&r->kills, 1);
        ipcx_port *p;
        CHECK_RC(fn_port_retry_(&p, "victim"), 0);
        check_own_port("victim.port", ".victim.port.lock", 5);
        ipcx_port_close(p);
    }
    return 0;
}

/* A temporary region made, checked and dropped over and over: while we
 * hold it, it keeps its name and its file. */
static int race_region(void *arg)
{
    struct race *r = arg;
    char p[768];
    tie_to_parent();
    path_of("tr.region", p, sizeof p);
    while (!atomic_load(&r->stop)) {
        ipcx_region *a, *b;
        struct stat s1, s2, s3;
        int rc = ipcx_region_create_attach("tr", 4096, 0600,
                                           IPCX_REGION_TEMPORARY, &a);
        if (rc != 0) {
            fprintf(stderr, "create: %s\n", ipcx_last_error());
            return 1;
        }
        for (int i = 0; i < 3; i++) {
            CHECK(fstat(ipcx_region_fd(a), &s1) == 0);
            CHECK(stat(p, &s2) == 0);
            CHECK(s1.st_ino == s2.st_ino);
            CHECK_RC(ipcx_region_attach("tr", 0, &b), 0);
            CHECK(fstat(ipcx_region_fd(b), &s3) == 0 && s3.st_ino == s1.st_ino);
            ipcx_region_detach(b);
            tu_pause_us(50);
        }
        ipcx_region_detach(a);
        atomic_fetch_add(&r->regions, 1);
    }
    return 0;
}

/*
 * One process listens and closes on a name, over and over, while another
 * runs gc in a loop (and servers die on another name, so gc finds work):
 * while the port is open its name is its own socket and its lock file is
 * there, every time we look.  The same for our inbox and a temporary
 * region.  A listen may meet the collector holding the name lock for a
 * moment (-EEXIST): retried, and counted.
 */
static void test_race(void)
{
    fresh_ns("race");
    struct race *r = tu_shared_map(sizeof *r);
    pid_t gc1 = tu_spawn(race_gc, r), gc2 = tu_spawn(race_gc, r);
    pid_t killer = tu_spawn(race_killer, r);
    pid_t region = tu_spawn(race_region, r);
    char inbox[64];
    snprintf(inbox, sizeof inbox, "%d.inbox", (int)getpid());
    long long end = tu_now_ns() + 3000000000LL;
    while (tu_now_ns() < end || atomic_load(&r->kills) < 5) {
        ipcx_port *p;
        int rc;
        while ((rc = ipcx_port_listen("race", NULL, &p)) == -EEXIST) {
            atomic_fetch_add(&r->eexist, 1);
        }
        CHECK_RC(rc, 0);
        check_own_port("race.port", ".race.port.lock", 3);
        ipcx_port_close(p);
        ipcx_inbox *ib;
        while ((rc = ipcx_inbox_open(0, &ib)) == -EEXIST) {
            atomic_fetch_add(&r->eexist, 1);
        }
        CHECK_RC(rc, 0);
        CHECK_RC(raw_connect(inbox), 0);
        CHECK_RC(ipcx_inbox_alive(getpid()), 1);
        ipcx_inbox_close(ib);
        atomic_fetch_add(&r->listens, 1);
    }
    atomic_store(&r->stop, 1);
    CHECK(tu_wait(gc1) == 0 && tu_wait(gc2) == 0);
    CHECK(tu_wait(killer) == 0 && tu_wait(region) == 0);
    fprintf(stderr,
            "race: %ld listens, %ld regions, %ld gc runs removed %ld, "
            "%ld servers killed, %ld -EEXIST from a collector's lock\n",
            atomic_load(&r->listens), atomic_load(&r->regions),
            atomic_load(&r->gcs), atomic_load(&r->removed),
            atomic_load(&r->kills), atomic_load(&r->eexist));
    CHECK(atomic_load(&r->gcs) > 10 && atomic_load(&r->listens) > 10);
    CHECK(atomic_load(&r->removed) > 0);
    /* All quiet: one last gc leaves only what is meant to stay. */
    ipcx_gc(0, NULL, NULL, NULL);
    char snap[4096];
    snapshot(snap, sizeof snap);
    if (strcmp(snap, ".\n..\n") != 0) {
        fprintf(stderr, "left after gc:\n%s", snap);
        exit(1);
    }
    munmap(r, sizeof *r);
}

/* ---- another user's leftovers (as root) ---- */

static int gc_as_other(void *arg)
{
    ipcx_gc_report rep;
    if (setgroups(0, NULL) != 0 || setresgid(OTHER_GID, OTHER_GID, OTHER_GID) ||
        setresuid(OTHER_UID, OTHER_UID, OTHER_UID) != 0) {
        return 2;
    }
    /* Our own dead port goes; root's is not ours to judge. */
    kill_wait(start(fn_port, "mine"));
    struct seen s = {.n = 0};
    int n = ipcx_gc(0, note, &s, &rep);
    if (n != 1 || !seen_has(&s, "port mine") || rep.skipped < 1) {
        fprintf(stderr, "as uid %d: gc %d, skipped %u\n", OTHER_UID, n,
                rep.skipped);
        return 1;
    }
    return 0;
}

static void test_foreign(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_foreign: skipped (needs root)\n");
        return;
    }
    fresh_ns("foreign");
    CHECK(chmod(base, 0711) == 0 && chmod(ns, 0777) == 0);
    kill_wait(start(fn_port, "roots"));
    CHECK(tu_wait(tu_spawn(gc_as_other, NULL)) == 0);
    CHECK(has("roots.port") && has(".roots.port.lock"));
    CHECK(!has("mine.port") && !has(".mine.port.lock"));
    EXPECT_GC(0, "", "port roots");
    CHECK(chmod(base, 0700) == 0);
}

/* ---- the command ---- */

struct run {
    int status;
    char out[8192], err[4096];
};

static void read_back(int fd, char *buf, size_t cap)
{
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    ssize_t n = read(fd, buf, cap - 1);
    CHECK(n >= 0);
    buf[n] = '\0';
    close(fd);
}

/* Run ipcx with ARGS (NULL-terminated) and collect what it did. */
static void run_ipcx(struct run *r, const char *const *args)
{
    const char *bin = getenv("IPCX_TEST_BIN");
    CHECK(bin != NULL);
    int out = memfd_create("out", MFD_CLOEXEC);
    int err = memfd_create("err", MFD_CLOEXEC);
    CHECK(out >= 0 && err >= 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        const char *argv[16] = {"ipcx"};
        for (int i = 0; args[i] != NULL && i < 14; i++) {
            argv[i + 1] = args[i];
        }
        dup2(out, 1);
        dup2(err, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    r->status = tu_wait(pid);
    read_back(out, r->out, sizeof r->out);
    read_back(err, r->err, sizeof r->err);
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) {
            return 1;
        }
    }
    return 0;
}

static void check_usage_error(const struct run *r)
{
    CHECK(r->status == 2);
    CHECK(r->out[0] == '\0');
    CHECK(strncmp(r->err, "ipcx: ", 6) == 0);
    CHECK(strstr(r->err, "usage: ipcx gc") != NULL);
}

static void test_cli(void)
{
    struct run r;
    fresh_ns("cli");
    kill_wait(start(fn_port, "p1"));
    kill_wait(start(fn_temp_region, "t1"));
    CHECK_RC(ipcx_mailbox_create("m1", NULL), 0);

    run_ipcx(&r, (const char *[]){"gc", "--dry-run", NULL});
    CHECK(r.status == 0 && r.err[0] == '\0');
    CHECK(has_line(r.out, "would remove port p1"));
    CHECK(has_line(r.out, "would remove region t1"));
    CHECK(has_line(r.out, "would remove 2 leftovers: 1 port, 0 inboxes, "
                          "1 region, 0 bells, 0 temporary files"));
    CHECK(has("p1.port") && has("t1.region"));
    run_ipcx(&r, (const char *[]){"gc", "-n", NULL});
    CHECK(r.status == 0 && has_line(r.out, "would remove port p1"));

    run_ipcx(&r, (const char *[]){"gc", NULL});
    CHECK(r.status == 0 && r.err[0] == '\0');
    CHECK(strcmp(r.out, "removed port p1\nremoved region t1\n"
                        "removed 2 leftovers: 1 port, 0 inboxes, 1 region, "
                        "0 bells, 0 temporary files\n") == 0);
    CHECK(!has("p1.port") && !has("t1.region") && has("m1.mbox"));
    run_ipcx(&r, (const char *[]){"gc", NULL});
    CHECK(r.status == 0);
    CHECK(strcmp(r.out, "removed 0 leftovers: 0 ports, 0 inboxes, 0 regions, "
                        "0 bells, 0 temporary files\n") == 0);

    run_ipcx(&r, (const char *[]){"gc", "--bogus", NULL});
    check_usage_error(&r);
    CHECK(strstr(r.err, "unknown option '--bogus'") != NULL);
    run_ipcx(&r, (const char *[]){"gc", "-x", NULL});
    check_usage_error(&r);
    run_ipcx(&r, (const char *[]){"gc", "extra", NULL});
    check_usage_error(&r);
    run_ipcx(&r, (const char *[]){"gc", "--dry-run=yes", NULL});
    check_usage_error(&r);
    run_ipcx(&r, (const char *[]){"gc", "--help", NULL});
    CHECK(r.status == 0 && strncmp(r.out, "usage: ipcx gc", 14) == 0);
    run_ipcx(&r, (const char *[]){"help", "gc", NULL});
    CHECK(r.status == 0 && strncmp(r.out, "usage: ipcx gc", 14) == 0);
    run_ipcx(&r, (const char *[]){"help", NULL});
    CHECK(r.status == 0 && strstr(r.out, "  gc [--dry-run]") != NULL);

    /* A namespace that cannot be used: exit 3, said on stderr. */
    char file[768];
    path_of("plain", file, sizeof file);
    make_file("plain", S_IFREG);
    CHECK(setenv("IPCX_DIR", file, 1) == 0);
    run_ipcx(&r, (const char *[]){"gc", NULL});
    CHECK(r.status == 3 && r.out[0] == '\0');
    CHECK(strncmp(r.err, "ipcx: cannot clean up the namespace: ", 37) == 0);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"test_bad_args", test_bad_args},
        {"test_exactly_the_dead", test_exactly_the_dead},
        {"test_bells", test_bells},
        {"test_temp_files", test_temp_files},
        {"test_socket_states", test_socket_states},
        {"test_restart", test_restart},
        {"test_race", test_race},
        {"test_foreign", test_foreign},
        {"test_cli", test_cli},
    };
    base = tu_private_ns();
    /* test_gc [NAME]: every subtest, or only NAME. */
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc < 2 || strcmp(argv[1], tests[i].name) == 0) {
            tu_run(tests[i].name, tests[i].fn);
        }
    }
    return tu_failures > 0;
}
