/*
 * test_channel.c - connection ports and channels (issue 3, points 1 and 10).
 *
 * Ports: names, modes, listing, -EEXIST, -ENOENT, timeouts, bad arguments;
 * the handshake's kernel-verified credentials and the check callback;
 * cross-uid refusal by mode and by check (root only); a third process can
 * neither find nor attach the channel's memory and gets a channel of its
 * own when it connects.  Channels: the mailbox semantics (-EAGAIN,
 * -ETIMEDOUT on time, -EMSGSIZE both ways with nothing truncated, FIFO,
 * exactly once with checksums across processes and threads, exactly
 * `capacity` messages fit), no system call on the fast path (seccomp
 * strict), and no descriptor or mapping leaks over thousands of cycles.
 * Peer death is test_channel_crash.c's; msg_rpc and epoll are test_rpc.c's.
 */
#include "chanutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SCALE 5 /* sanitizers are slow: fewer messages */
#else
#define SCALE 1
#endif

#define BOUND     TC_BOUND
#define OTHER_UID 65534
#define OTHER_GID 65534

struct connector {
    const char *name;
    ipcx_channel *ch;
    int rc;
};

static void *connect_thread(void *arg)
{
    struct connector *c = arg;
    c->rc = ipcx_connect(c->name, BOUND, &c->ch);
    return NULL;
}

/* Both ends of a new channel of port P (named NAME) in this process. */
static void local_pair(ipcx_port *p, const char *name, ipcx_channel **srv,
                       ipcx_channel **cli)
{
    struct connector c = {name, NULL, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, connect_thread, &c) == 0);
    CHECK_RC(ipcx_port_accept(p, BOUND, NULL, NULL, srv), 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_RC(c.rc, 0);
    *cli = c.ch;
}

static void send_str(ipcx_channel *ch, const char *s, int64_t timeout)
{
    CHECK_RC(ipcx_channel_send(ch, s, strlen(s) + 1, timeout), 0);
}

/* Entries of directory PATH, "." and ".." excepted (-1 if unreadable). */
static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/*
 * Entries of namespace directory PATH not starting with '.' (-1 if
 * unreadable).  Hidden entries may only be a live port's name lock
 * (".NAME.port.lock", an empty regular file): no temporary socket, nothing
 * with content.
 */
static int count_visible(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *f = e->d_name;
        if (strcmp(f, ".") == 0 || strcmp(f, "..") == 0) {
            continue;
        }
        if (f[0] != '.') {
            n++;
            continue;
        }
        size_t len = strlen(f);
        struct stat st;
        if (len < 11 || strcmp(f + len - 10, ".port.lock") != 0 ||
            fstatat(dirfd(d), f, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_size != 0) {
            fprintf(stderr, "unexpected file '%s' in %s\n", f, path);
            exit(1);
        }
    }
    closedir(d);
    return n;
}

/* Open descriptors of this process (the directory stream's own excepted). */
static int count_fds(void)
{
    int n = count_dir("/proc/self/fd");
    CHECK(n > 0);
    return n - 1;
}

/* Lines of /proc/PID/maps mentioning the channel memfd (-1: unreadable). */
static int count_channel_maps(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        n += strstr(line, "memfd:ipcx-channel") != NULL;
    }
    fclose(f);
    return n;
}

/* Descriptors of process PID that are memfds (-1: cannot look). */
static int count_memfds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char link[400], target[256];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        if (k > 0) {
            target[k] = '\0';
            n += strstr(target, "memfd:") != NULL;
        }
    }
    closedir(d);
    return n;
}

static void leak_check(void)
{
#if defined(__SANITIZE_ADDRESS__)
    CHECK(__lsan_do_recoverable_leak_check() == 0);
#endif
}

static const char *top_ns; /* the run's namespace (tu_private_ns) */

/* Give the calling subtest a namespace of its own, under the run's. */
static const char *sub_ns(const char *name)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", top_ns, name);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(setenv("IPCX_DIR", dir, 1) == 0);
    return dir;
}

static void become(uid_t uid, gid_t gid, int in_root_group)
{
    gid_t root_group = 0;
    CHECK(setgroups(in_root_group ? 1 : 0, &root_group) == 0);
    CHECK(setresgid(gid, gid, gid) == 0);
    CHECK(setresuid(uid, uid, uid) == 0);
    CHECK(geteuid() == uid);
    /* Changing credentials cleared it (see tc_spawn()). */
    CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0);
}

static long long ms_since(long long t0)
{
    return (tu_now_ns() - t0) / 1000000;
}

/* ---- arguments and attributes ---- */

#define SENTINEL_PORT   ((ipcx_port *)(uintptr_t)0x5a5a)
#define SENTINEL_CH     ((ipcx_channel *)(uintptr_t)0x6b6b)
#define SENTINEL_REGION ((ipcx_region *)(uintptr_t)0x7c7c)

static const char *bad_names[] = {"",      ".hidden", "a/b",        "x y", "..",
                                  "tab\t", "é",       "semi;colon", NULL};
#define N_BAD_NAMES (sizeof bad_names / sizeof bad_names[0])

static void test_bad_names(void)
{
    sub_ns(__func__);
    char longname[IPCX_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *ns = getenv("IPCX_DIR");
    for (size_t i = 0; i <= N_BAD_NAMES; i++) {
        const char *name = i < N_BAD_NAMES ? bad_names[i] : longname;
        ipcx_port *p = SENTINEL_PORT;
        ipcx_channel *ch = SENTINEL_CH;
        CHECK_RC(ipcx_port_listen(name, NULL, &p), -EINVAL);
        CHECK(p == SENTINEL_PORT);
        CHECK(ipcx_last_error()[0] != '\0');
        CHECK_RC(ipcx_connect(name, 0, &ch), -EINVAL);
        CHECK(ch == SENTINEL_CH);
        CHECK_RC(ipcx_connect(name, BOUND, &ch), -EINVAL);
        CHECK(ch == SENTINEL_CH);
    }
    /* A name of exactly IPCX_NAME_MAX characters is fine. */
    longname[IPCX_NAME_MAX] = '\0';
    ipcx_port *p = tc_listen(longname, 0, 0, 0);
    CHECK_RC(ipcx_port_close(p), 0);
    CHECK(count_dir(ns) == 0); /* nothing was left behind */
}

static void test_bad_attrs(void)
{
    sub_ns(__func__);
    const char *ns = getenv("IPCX_DIR");
    struct {
        uint32_t mode, capacity, max_msg, reserved0, reserved3;
    } bad[] = {
        {01000, 4, 64, 0, 0},
        {04777, 4, 64, 0, 0},
        {0xffffffffu, 4, 64, 0, 0},
        {0600, IPCX_CHANNEL_CAPACITY_MAX + 1, 64, 0, 0},
        {0600, UINT32_MAX, 64, 0, 0},
        {0600, 4, IPCX_MSG_SIZE_MAX + 1, 0, 0},
        {0600, 4, UINT32_MAX, 0, 0},
        {0600, 4, 64, 1, 0},
        {0600, 4, 64, 0, 1},
        /* Each alone is allowed, together they need 2 x 64 Ki x 1 MiB. */
        {0600, IPCX_CHANNEL_CAPACITY_MAX, 1u << 20, 0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ipcx_port_attr a;
        ipcx_port_attr_init(&a);
        a.mode = bad[i].mode;
        a.capacity = bad[i].capacity;
        a.max_msg_size = bad[i].max_msg;
        a.reserved0 = bad[i].reserved0;
        a.reserved[3] = bad[i].reserved3;
        ipcx_port *p = SENTINEL_PORT;
        int rc = ipcx_port_listen("attr", &a, &p);
        if (rc != -EINVAL) {
            fprintf(stderr, "bad attr #%zu: listen returned %d\n", i, rc);
            exit(1);
        }
        CHECK(p == SENTINEL_PORT);
        CHECK(count_dir(ns) == 0);
    }
    ipcx_port_attr_init(NULL); /* harmless */

    /* The largest allowed values of each alone work. */
    ipcx_port *p = tc_listen("big-cap", IPCX_CHANNEL_CAPACITY_MAX, 16, 0);
    ipcx_port_close(p);
    p = tc_listen("big-msg", 1, IPCX_MSG_SIZE_MAX, 0);
    ipcx_port_close(p);
    CHECK(count_dir(ns) == 0);
}

/* A zeroed attribute block means the documented defaults. */
static void test_default_attrs(void)
{
    sub_ns(__func__);
    ipcx_port_attr a;
    memset(&a, 0, sizeof a);
    ipcx_port *p = NULL;
    CHECK_RC(ipcx_port_listen("defaults", &a, &p), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/defaults.port", getenv("IPCX_DIR"));
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    ipcx_channel *srv, *cli;
    local_pair(p, "defaults", &srv, &cli);
    CHECK_RC(ipcx_channel_max_msg_size(srv), IPCX_DEFAULT_MSG_SIZE);
    CHECK_RC(ipcx_channel_max_msg_size(cli), IPCX_DEFAULT_MSG_SIZE);
    unsigned n = 0;
    while (ipcx_channel_send(cli, "m", 1, 0) == 0) {
        n++;
        CHECK(n <= IPCX_DEFAULT_CAPACITY);
    }
    CHECK(n == IPCX_DEFAULT_CAPACITY);
    ipcx_port_attr b;
    ipcx_port_attr_init(&b);
    CHECK(b.mode == 0600 && b.capacity == IPCX_DEFAULT_CAPACITY &&
          b.max_msg_size == IPCX_DEFAULT_MSG_SIZE && b.reserved0 == 0);
    ipcx_channel_close(cli);
    ipcx_channel_close(srv);
    ipcx_port_close(p);
}

static void test_bad_args(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("args", 4, 64, 0);
    ipcx_port *pout = SENTINEL_PORT;
    ipcx_channel *ch = SENTINEL_CH;
    ipcx_peer peer = {0};
    char buf[64];

    CHECK_RC(ipcx_port_listen("args2", NULL, NULL), -EINVAL);
    CHECK_RC(ipcx_port_accept(NULL, 0, NULL, NULL, &ch), -EINVAL);
    CHECK_RC(ipcx_port_accept(p, 0, NULL, NULL, NULL), -EINVAL);
    CHECK_RC(ipcx_port_accept(p, -1, NULL, NULL, &ch), -EINVAL);
    CHECK_RC(ipcx_port_accept(p, INT64_MIN, NULL, NULL, &ch), -EINVAL);
    CHECK_RC(ipcx_connect("args", 0, NULL), -EINVAL);
    CHECK_RC(ipcx_connect("args", -1, &ch), -EINVAL);
    CHECK_RC(ipcx_connect(NULL, BOUND, &ch), -EINVAL);
    CHECK(ch == SENTINEL_CH && pout == SENTINEL_PORT);
    CHECK_RC(ipcx_port_fd(NULL), -EINVAL);
    CHECK_RC(ipcx_port_list(NULL, NULL), -EINVAL);
    CHECK_RC(ipcx_port_close(NULL), 0);
    CHECK_RC(ipcx_channel_close(NULL), 0);

    ipcx_channel *srv, *cli;
    local_pair(p, "args", &srv, &cli);
    ipcx_channel *ends[2] = {srv, cli};
    for (int e = 0; e < 2; e++) {
        ipcx_channel *c = ends[e];
        CHECK_RC(ipcx_channel_send(NULL, "x", 1, 0), -EINVAL);
        CHECK_RC(ipcx_channel_send(c, NULL, 1, 0), -EINVAL);
        CHECK_RC(ipcx_channel_send(c, "x", 1, -1), -EINVAL);
        CHECK_RC(ipcx_channel_recv(NULL, buf, sizeof buf, 0), -EINVAL);
        CHECK_RC(ipcx_channel_recv(c, NULL, 4, 0), -EINVAL);
        CHECK_RC(ipcx_channel_recv(c, buf, sizeof buf, -1), -EINVAL);
        CHECK_RC(ipcx_channel_recv_ex(NULL, buf, sizeof buf, 0, NULL), -EINVAL);
        CHECK_RC(ipcx_channel_recv_ex(c, buf, sizeof buf, -7, NULL), -EINVAL);
        CHECK_RC(ipcx_call(NULL, "x", 1, buf, sizeof buf, BOUND), -EINVAL);
        CHECK_RC(ipcx_call(c, NULL, 1, buf, sizeof buf, BOUND), -EINVAL);
        CHECK_RC(ipcx_call(c, "x", 1, NULL, 4, BOUND), -EINVAL);
        CHECK_RC(ipcx_call(c, "x", 1, buf, sizeof buf, -1), -EINVAL);
        CHECK(ipcx_last_error()[0] != '\0');
        CHECK_RC(ipcx_channel_reply(c, 0, "x", 1, 0), -EINVAL);
        CHECK_RC(ipcx_channel_reply(NULL, 1, "x", 1, 0), -EINVAL);
        CHECK_RC(ipcx_channel_reply(c, 1, NULL, 1, 0), -EINVAL);
        CHECK_RC(ipcx_channel_reply(c, 1, "x", 1, -1), -EINVAL);
        CHECK_RC(ipcx_channel_peer(NULL, &peer), -EINVAL);
        CHECK_RC(ipcx_channel_peer(c, NULL), -EINVAL);
        CHECK_RC(ipcx_channel_max_msg_size(NULL), -EINVAL);
        CHECK_RC(ipcx_channel_fd(NULL), -EINVAL);
    }
    /* None of the refused calls queued anything. */
    CHECK_RC(ipcx_channel_recv(srv, buf, sizeof buf, 0), -EAGAIN);
    CHECK_RC(ipcx_channel_recv(cli, buf, sizeof buf, 0), -EAGAIN);
    /* NULL with length 0 is an empty message, not an error. */
    CHECK_RC(ipcx_channel_send(cli, NULL, 0, 0), 0);
    CHECK_RC(ipcx_channel_recv(srv, NULL, 0, 0), 0);
    ipcx_channel_close(cli);
    ipcx_channel_close(srv);
    ipcx_port_close(p);
}

/* ---- port files, listing, -EEXIST, -ENOENT ---- */

struct names {
    int n;
    char seen[8][64];
};

static int collect(const char *name, void *arg)
{
    struct names *ns = arg;
    CHECK(ns->n < 8);
    snprintf(ns->seen[ns->n++], sizeof ns->seen[0], "%s", name);
    return 0;
}

static int stop_at_first(const char *name, void *arg)
{
    (*(int *)arg)++;
    return 7;
}

static int listed(const struct names *ns, const char *name)
{
    int k = 0;
    for (int i = 0; i < ns->n; i++) {
        k += strcmp(ns->seen[i], name) == 0;
    }
    return k;
}

static void test_port_files_and_list(void)
{
    sub_ns(__func__);
    const char *ns = getenv("IPCX_DIR");
    umask(077); /* the port's mode must not depend on it */
    ipcx_port *alpha = tc_listen("alpha", 4, 64, 0666);
    ipcx_port *beta = tc_listen("beta", 4, 64, 0);
    ipcx_mailbox_attr ma = tu_attr(4, 64);
    CHECK_RC(ipcx_mailbox_create("gamma", &ma), 0);

    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/alpha.port", ns);
    CHECK(lstat(path, &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0666);
    CHECK(st.st_uid == geteuid());
    snprintf(path, sizeof path, "%s/beta.port", ns);
    CHECK(lstat(path, &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    /* Only the final names: no temporary file stays behind. */
    CHECK(count_visible(ns) == 3);

    /* The port's descriptor is its listening socket, close-on-exec. */
    int fd = ipcx_port_fd(alpha);
    CHECK(fd >= 0);
    CHECK(fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    struct names got = {0};
    CHECK_RC(ipcx_port_list(collect, &got), 0);
    CHECK(got.n == 2);
    CHECK(listed(&got, "alpha") == 1 && listed(&got, "beta") == 1);
    int calls = 0;
    CHECK_RC(ipcx_port_list(stop_at_first, &calls), 7);
    CHECK(calls == 1);

    ipcx_port_close(alpha);
    CHECK(lstat(path, &st) == 0); /* beta untouched */
    snprintf(path, sizeof path, "%s/alpha.port", ns);
    CHECK(lstat(path, &st) < 0 && errno == ENOENT);
    memset(&got, 0, sizeof got);
    CHECK_RC(ipcx_port_list(collect, &got), 0);
    CHECK(got.n == 1 && listed(&got, "beta") == 1);
    ipcx_port_close(beta);
    memset(&got, 0, sizeof got);
    CHECK_RC(ipcx_port_list(collect, &got), 0);
    CHECK(got.n == 0);
    CHECK_RC(ipcx_mailbox_destroy("gamma"), 0);
    CHECK(count_dir(ns) == 0); /* closing left nothing, hidden or not */
}

struct exists_arg {
    const char *name;
};

static int try_listen_child(void *arg)
{
    ipcx_port *p = SENTINEL_PORT;
    CHECK_RC(ipcx_port_listen(arg, NULL, &p), -EEXIST);
    CHECK(p == SENTINEL_PORT);
    CHECK(ipcx_last_error()[0] != '\0');
    return 0;
}

struct sh_exists {
    _Atomic int step;
    _Atomic pid_t client_pid;
};
static struct sh_exists *shx;

static int exists_client(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    atomic_store(&shx->client_pid, getpid());
    send_str(ch, "real client", BOUND);
    tc_recv_str(ch, "welcome", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

static int count_checks(const ipcx_peer *peer, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

/* A live port cannot be taken over, from this process or another one,
 * and the attempts leave it serving its clients normally. */
static void test_listen_exists(void)
{
    sub_ns(__func__);
    shx = tu_shared_map(sizeof *shx);
    ipcx_port *p = tc_listen("dup", 4, 64, 0);
    ipcx_port *q = SENTINEL_PORT;
    CHECK_RC(ipcx_port_listen("dup", NULL, &q), -EEXIST);
    CHECK(q == SENTINEL_PORT);
    CHECK(tu_wait(tc_spawn(try_listen_child, "dup")) == 0);

    pid_t c = tc_spawn(exists_client, "dup");
    int checks = 0;
    ipcx_channel *ch = NULL;
    CHECK_RC(ipcx_port_accept(p, BOUND, count_checks, &checks, &ch), 0);
    tc_recv_str(ch, "real client", BOUND);
    ipcx_peer peer;
    CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
    CHECK(peer.pid == c);
    send_str(ch, "welcome", BOUND);
    CHECK(tu_wait(c) == 0);
    /* Only the real client was presented to the check: telling a live
     * port from a stale one must not connect to it (before a29e0fa the
     * two -EEXIST attempts above reached accept as phantom clients). */
    if (checks != 1) {
        fprintf(stderr, "check callback ran %d times for 1 client\n", checks);
    }
    CHECK(checks == 1);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

static void test_connect_missing(void)
{
    sub_ns(__func__);
    ipcx_channel *ch = SENTINEL_CH;
    CHECK_RC(ipcx_connect("nobody-here", 0, &ch), -ENOENT);
    CHECK_RC(ipcx_connect("nobody-here", IPCX_MSEC(100), &ch), -ENOENT);
    CHECK(ch == SENTINEL_CH);
    CHECK(ipcx_last_error()[0] != '\0');
    /* A mailbox of that name is not a port. */
    ipcx_mailbox_attr ma = tu_attr(4, 64);
    CHECK_RC(ipcx_mailbox_create("nobody-here", &ma), 0);
    CHECK_RC(ipcx_connect("nobody-here", 0, &ch), -ENOENT);
    CHECK(ch == SENTINEL_CH);
    /* Nor is a closed port. */
    ipcx_port *p = tc_listen("closed", 4, 64, 0);
    ipcx_port_close(p);
    CHECK_RC(ipcx_connect("closed", 0, &ch), -ENOENT);
    CHECK(ch == SENTINEL_CH);
}

static int real_client(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    send_str(ch, "hello", BOUND);
    tc_recv_str(ch, "bye", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

/* Timeouts of accept and connect: 0 answers -EAGAIN, a timeout ends on
 * time with -ETIMEDOUT, and the clients that gave up do not disturb the
 * next real one. */
static void test_accept_connect_timeouts(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("slow", 4, 64, 0);
    ipcx_channel *ch = SENTINEL_CH;
    CHECK_RC(ipcx_port_accept(p, 0, NULL, NULL, &ch), -EAGAIN);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_port_accept(p, IPCX_MSEC(100), NULL, NULL, &ch), -ETIMEDOUT);
    long long ms = ms_since(t0);
    printf("accept timeout 100 ms: returned after %lld ms\n", ms);
    CHECK(ms >= 100 && ms < 2000);
    CHECK(ch == SENTINEL_CH);

    /* Nobody accepts (this process is busy connecting). */
    CHECK_RC(ipcx_connect("slow", 0, &ch), -EAGAIN);
    t0 = tu_now_ns();
    CHECK_RC(ipcx_connect("slow", IPCX_MSEC(100), &ch), -ETIMEDOUT);
    ms = ms_since(t0);
    printf("connect timeout 100 ms: returned after %lld ms\n", ms);
    CHECK(ms >= 100 && ms < 2000);
    CHECK(ch == SENTINEL_CH);

    pid_t c = tc_spawn(real_client, "slow");
    CHECK_RC(ipcx_port_accept(p, BOUND, NULL, NULL, &ch), 0);
    ipcx_peer peer;
    CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
    CHECK(peer.pid == c);
    tc_recv_str(ch, "hello", BOUND);
    send_str(ch, "bye", BOUND);
    CHECK(tu_wait(c) == 0);
    ipcx_channel_close(ch);
    CHECK_RC(ipcx_port_accept(p, 0, NULL, NULL, &ch), -EAGAIN);
    ipcx_port_close(p);
}

/* ---- credentials and the check callback ---- */

struct sh_creds {
    _Atomic int step;
    _Atomic pid_t pid;
    _Atomic uid_t uid;
    _Atomic gid_t gid;
    _Atomic int client_rc[4];
    _Atomic pid_t server_seen_pid, server_seen_uid, server_seen_gid;
};
static struct sh_creds *shc;

static void report_and_check_server(ipcx_channel *ch)
{
    ipcx_peer s;
    CHECK_RC(ipcx_channel_peer(ch, &s), 0);
    atomic_store(&shc->server_seen_pid, s.pid);
    atomic_store(&shc->server_seen_uid, (pid_t)s.uid);
    atomic_store(&shc->server_seen_gid, (pid_t)s.gid);
}

static void *thread_connect_creds(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    report_and_check_server(ch);
    send_str(ch, "from a thread", BOUND);
    tc_recv_str(ch, "ok", BOUND);
    ipcx_channel_close(ch);
    return NULL;
}

static int creds_client(void *arg)
{
    atomic_store(&shc->pid, getpid());
    atomic_store(&shc->uid, geteuid());
    atomic_store(&shc->gid, getegid());
    /* Connect from a second thread: the kernel names the process. */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_connect_creds, arg) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    return 0;
}

static int refused_client(void *arg)
{
    int idx = (int)(intptr_t)arg;
    ipcx_channel *ch = SENTINEL_CH;
    int rc;
    rc = ipcx_connect("creds", BOUND, &ch);
    atomic_store(&shc->client_rc[idx], rc);
    if (rc == 0) {
        send_str(ch, "admitted", BOUND);
        tc_recv_str(ch, "ok", BOUND);
        ipcx_channel_close(ch);
    } else {
        CHECK(ch == SENTINEL_CH);
        CHECK(ipcx_last_error()[0] != '\0');
    }
    return 0;
}

struct verdicts {
    pid_t refuse[2];
    int verdict[2];
    int calls;
    ipcx_peer last;
};

static int judge(const ipcx_peer *peer, void *arg)
{
    struct verdicts *v = arg;
    v->calls++;
    v->last = *peer;
    for (int i = 0; i < 2; i++) {
        if (peer->pid == v->refuse[i]) {
            return v->verdict[i];
        }
    }
    return 0;
}

/* The server sees the client's kernel-verified pid, uid and gid (the
 * process's, even when a thread connects); the client sees the server's.
 * A check that refuses makes connect answer -ECONNREFUSED, and accept goes
 * on to the next client. */
static void test_creds_and_check(void)
{
    sub_ns(__func__);
    shc = tu_shared_map(sizeof *shc);
    pid_t c = tc_spawn(creds_client, "creds");
    ipcx_port *p = tc_listen("creds", 4, 64, 0);
    struct verdicts v = {{-1, -1}, {0, 0}, 0, {0}};
    ipcx_channel *ch = NULL;
    CHECK_RC(ipcx_port_accept(p, BOUND, judge, &v, &ch), 0);
    tc_recv_str(ch, "from a thread", BOUND);
    ipcx_peer peer;
    CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
    CHECK(peer.pid == c && peer.pid == atomic_load(&shc->pid));
    CHECK(peer.uid == atomic_load(&shc->uid));
    CHECK(peer.gid == atomic_load(&shc->gid));
    CHECK(v.calls == 1);
    CHECK(v.last.pid == peer.pid && v.last.uid == peer.uid &&
          v.last.gid == peer.gid);
    send_str(ch, "ok", BOUND);
    CHECK(tu_wait(c) == 0);
    CHECK(atomic_load(&shc->server_seen_pid) == getpid());
    CHECK(atomic_load(&shc->server_seen_uid) == (pid_t)geteuid());
    CHECK(atomic_load(&shc->server_seen_gid) == (pid_t)getegid());
    ipcx_channel_close(ch);

    /* Two refused clients (a negative errno and a positive verdict), then
     * one admitted: a single accept skips the refused ones. */
    pid_t r0 = tc_spawn(refused_client, (void *)0);
    pid_t r1 = tc_spawn(refused_client, (void *)1);
    struct verdicts w = {{r0, r1}, {-EACCES, 1}, 0, {0}};
    pid_t ok = tc_spawn(refused_client, (void *)2);
    CHECK_RC(ipcx_port_accept(p, BOUND, judge, &w, &ch), 0);
    CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
    tc_recv_str(ch, "admitted", BOUND);
    send_str(ch, "ok", BOUND);
    CHECK(peer.pid == ok);
    CHECK(tu_wait(ok) == 0);
    /* A refused client that came after the admitted one is still to be
     * judged: accept refuses it and goes on waiting. */
    ipcx_channel *none = SENTINEL_CH;
    for (int i = 0; i < 100 && w.calls < 3; i++) {
        CHECK_RC(ipcx_port_accept(p, IPCX_MSEC(100), judge, &w, &none),
                 -ETIMEDOUT);
    }
    CHECK(none == SENTINEL_CH);
    CHECK(tu_wait(r0) == 0);
    CHECK(tu_wait(r1) == 0);
    CHECK(atomic_load(&shc->client_rc[0]) == -ECONNREFUSED);
    CHECK(atomic_load(&shc->client_rc[1]) == -ECONNREFUSED);
    CHECK(atomic_load(&shc->client_rc[2]) == 0);
    CHECK(w.calls == 3);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* ---- other users (root only) ---- */

struct sh_uid {
    _Atomic int rc;
    _Atomic int euid_only;
    _Atomic int in_root_group;
};
static struct sh_uid *shu;

static int other_user_client(void *arg)
{
    if (atomic_load(&shu->euid_only)) {
        /* Keep the real uid (root), act as nobody. */
        CHECK(setresgid(-1, OTHER_GID, -1) == 0);
        CHECK(setresuid(-1, OTHER_UID, -1) == 0);
        CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0);
    } else {
        become(OTHER_UID, OTHER_GID, atomic_load(&shu->in_root_group));
    }
    ipcx_channel *ch = SENTINEL_CH;
    int rc = ipcx_connect(arg, BOUND, &ch);
    atomic_store(&shu->rc, rc);
    if (rc != 0) {
        CHECK(ch == SENTINEL_CH);
        return 0;
    }
    send_str(ch, "from nobody", BOUND);
    tc_recv_str(ch, "hi nobody", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

static int refuse_nobody(const ipcx_peer *peer, void *arg)
{
    (*(int *)arg)++;
    return peer->uid == OTHER_UID ? -EPERM : 0;
}

/* Listen on NAME with MODE and let a client of another uid try: it must
 * get WANT (0: accepted, as uid 65534).  USE_CHECK: a check callback that
 * refuses uid 65534. */
static void try_other(const char *name, uint32_t mode, int want, int use_check,
                      int in_root_group, int euid_only)
{
    ipcx_port *p = tc_listen(name, 4, 64, mode);
    atomic_store(&shu->rc, 1);
    atomic_store(&shu->in_root_group, in_root_group);
    atomic_store(&shu->euid_only, euid_only);
    pid_t c = tc_spawn(other_user_client, (void *)name);
    int calls = 0;
    ipcx_channel *ch = SENTINEL_CH;
    ipcx_port_check_fn check = use_check ? refuse_nobody : NULL;
    if (want == 0) {
        CHECK_RC(ipcx_port_accept(p, BOUND, check, &calls, &ch), 0);
        ipcx_peer peer;
        CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
        CHECK(peer.pid == c && peer.uid == OTHER_UID && peer.gid == OTHER_GID);
        tc_recv_str(ch, "from nobody", BOUND);
        send_str(ch, "hi nobody", BOUND);
        ipcx_channel_close(ch);
    } else if (use_check) {
        /* Refused clients never come out of accept. */
        for (int i = 0; i < 100 && calls == 0; i++) {
            CHECK_RC(ipcx_port_accept(p, IPCX_MSEC(100), check, &calls, &ch),
                     -ETIMEDOUT);
        }
        CHECK(ch == SENTINEL_CH);
    }
    CHECK(tu_wait(c) == 0);
    if (atomic_load(&shu->rc) != want) {
        fprintf(stderr, "%s (mode %03o): client got %d, expected %d\n", name,
                mode, atomic_load(&shu->rc), want);
        exit(1);
    }
    /* A client the mode kept out never reached the server. */
    CHECK_RC(ipcx_port_accept(p, 0, check, &calls, &ch), -EAGAIN);
    CHECK(calls == (use_check ? 1 : 0));
    ipcx_port_close(p);
}

static void test_other_uid(void)
{
    sub_ns(__func__);
    if (geteuid() != 0) {
        printf("test_other_uid: not root, skipped\n");
        return;
    }
    shu = tu_shared_map(sizeof *shu);
    CHECK(chmod(top_ns, 0711) == 0);
    CHECK(chmod(getenv("IPCX_DIR"), 0711) == 0);
    try_other("private", 0600, -EACCES, 0, 0, 0);
    try_other("readable", 0644, -EACCES, 0, 0, 0);
    try_other("group", 0660, -EACCES, 0, 0, 0);
    try_other("group2", 0660, 0, 0, 1, 0);
    try_other("open", 0666, 0, 0, 0, 0);
    try_other("others", 0602, 0, 0, 0, 0);
    try_other("checked", 0666, -ECONNREFUSED, 1, 0, 0);
    /* Only the effective uid changed: the mode and the server agree on
     * who the client is (SO_PEERCRED reports the effective ids). */
    try_other("euid", 0600, -EACCES, 0, 0, 1);
    try_other("euid2", 0666, 0, 0, 0, 1);
    CHECK(chmod(top_ns, 0700) == 0);
}

/* ---- a third process ---- */

struct sh_iso {
    _Atomic int server_ready;   /* the server has its first channel */
    _Atomic int server_checked; /* ... and the third's left it alone */
    _Atomic int third_done, client_done;
    _Atomic pid_t server, client;
    char nsdir[256];
};
static struct sh_iso *shi;

static void drop_privileges(void)
{
    if (geteuid() == 0) {
        become(OTHER_UID, OTHER_GID, 0);
        /* Dropping root made us undumpable; a normal process of that
         * user is dumpable (so its same-uid peers may read its /proc). */
        CHECK(prctl(PR_SET_DUMPABLE, 1) == 0);
    }
}

static int iso_server(void *arg)
{
    drop_privileges();
    ipcx_port *p = tc_listen("iso", 4, 64, 0666);
    ipcx_channel *c = NULL, *t = NULL;
    CHECK_RC(ipcx_port_accept(p, BOUND, NULL, NULL, &c), 0);
    send_str(c, "to the client", BOUND);
    tc_recv_str(c, "from the client", BOUND);
    /* Neither this process nor its client holds the memfd. */
    CHECK(count_memfds(getpid()) == 0);
    CHECK(count_channel_maps(getpid()) == 1);
    atomic_store(&shi->server_ready, 1);
    CHECK_RC(ipcx_port_accept(p, BOUND, NULL, NULL, &t), 0);
    send_str(t, "to the third", BOUND);
    tc_recv_str(t, "from the third", BOUND);
    char buf[64];
    CHECK_RC(ipcx_channel_recv(c, buf, sizeof buf, IPCX_MSEC(50)), -ETIMEDOUT);
    atomic_store(&shi->server_checked, 1);
    tc_wait_step(&shi->client_done, 1);
    tc_wait_step(&shi->third_done, 1);
    ipcx_channel_close(t);
    ipcx_channel_close(c);
    ipcx_port_close(p);
    return 0;
}

static int iso_client(void *arg)
{
    drop_privileges();
    ipcx_channel *ch = tc_connect("iso");
    tc_recv_str(ch, "to the client", BOUND);
    send_str(ch, "from the client", BOUND);
    CHECK(count_memfds(getpid()) == 0);
    tc_wait_step(&shi->server_checked, 1);
    tc_wait_step(&shi->third_done, 1);
    char buf[64];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, 0), -EAGAIN);
    atomic_store(&shi->client_done, 1);
    ipcx_channel_close(ch);
    return 0;
}

/* The third process may read the server's /proc (same uid), yet finds no
 * memfd among its descriptors and cannot open the mapping through
 * map_files; nothing in the namespace but the port; and connecting gives
 * it a channel of its own. */
static int iso_third(void *arg)
{
    drop_privileges();
    tc_wait_step(&shi->server_ready, 1);
    pid_t s = atomic_load(&shi->server), c = atomic_load(&shi->client);
    CHECK(count_visible(shi->nsdir) == 1); /* iso.port */
    char path[512];
    snprintf(path, sizeof path, "%s/iso.port", shi->nsdir);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK(count_memfds(s) == 0);
    CHECK(count_memfds(c) == 0);
    /* The mapping is there, but map_files needs CAP_SYS_ADMIN. */
    snprintf(path, sizeof path, "/proc/%d/maps", (int)s);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "memfd:ipcx-channel") == NULL) {
            continue;
        }
        found++;
        char range[128];
        CHECK(sscanf(line, "%127s", range) == 1);
        snprintf(path, sizeof path, "/proc/%d/map_files/%s", (int)s, range);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            fprintf(stderr, "third process opened %s\n", path);
            exit(1);
        }
        CHECK(errno == EPERM || errno == EACCES);
    }
    fclose(f);
    CHECK(found >= 1);

    ipcx_channel *ch = tc_connect("iso");
    ipcx_peer peer;
    CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
    CHECK(peer.pid == s);
    tc_recv_str(ch, "to the third", BOUND);
    send_str(ch, "from the third", BOUND);
    char buf[64];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, IPCX_MSEC(50)), -ETIMEDOUT);
    atomic_store(&shi->third_done, 1);
    ipcx_channel_close(ch);
    return 0;
}

/* Another user cannot even look into the server. */
static int iso_stranger(void *arg)
{
    become(OTHER_UID - 1, OTHER_GID - 1, 0);
    pid_t s = atomic_load(&shi->server);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)s);
    CHECK(opendir(path) == NULL && errno == EACCES);
    snprintf(path, sizeof path, "/proc/%d/maps", (int)s);
    CHECK(open(path, O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES);
    ipcx_channel *ch = SENTINEL_CH;
    CHECK_RC(ipcx_connect("iso", 0, &ch), -EACCES);
    CHECK(ch == SENTINEL_CH);
    return 0;
}

static void test_third_process(void)
{
    sub_ns(__func__);
    shi = tu_shared_map(sizeof *shi);
    if (geteuid() == 0) {
        /* All three run as one unprivileged user in a namespace of theirs. */
        snprintf(shi->nsdir, sizeof shi->nsdir, "%s/iso", getenv("IPCX_DIR"));
        CHECK(chmod(top_ns, 0711) == 0);
        CHECK(chmod(getenv("IPCX_DIR"), 0711) == 0);
        CHECK(mkdir(shi->nsdir, 0700) == 0);
        CHECK(chown(shi->nsdir, OTHER_UID, OTHER_GID) == 0);
        setenv("IPCX_DIR", shi->nsdir, 1);
    } else {
        snprintf(shi->nsdir, sizeof shi->nsdir, "%s", getenv("IPCX_DIR"));
    }
    pid_t s = tc_spawn(iso_server, NULL);
    atomic_store(&shi->server, s);
    pid_t c = tc_spawn(iso_client, NULL);
    atomic_store(&shi->client, c);
    pid_t t = tc_spawn(iso_third, NULL);
    if (geteuid() == 0) {
        tc_wait_step(&shi->server_ready, 1);
        CHECK(tu_wait(tc_spawn(iso_stranger, NULL)) == 0);
    }
    CHECK(tu_wait(t) == 0);
    CHECK(tu_wait(c) == 0);
    CHECK(tu_wait(s) == 0);
}

/* ---- the mailbox semantics ---- */

static void expect_timeout_recv(ipcx_channel *ch, const char *what)
{
    char buf[64];
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, IPCX_MSEC(100)),
             -ETIMEDOUT);
    long long ms = ms_since(t0);
    printf("%s: recv timeout 100 ms returned after %lld ms\n", what, ms);
    CHECK(ms >= 100 && ms < 2000);
}

static void expect_timeout_send(ipcx_channel *ch, const char *what)
{
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_channel_send(ch, "x", 1, IPCX_MSEC(100)), -ETIMEDOUT);
    long long ms = ms_since(t0);
    printf("%s: send timeout 100 ms returned after %lld ms\n", what, ms);
    CHECK(ms >= 100 && ms < 2000);
}

/* -EAGAIN with timeout 0, -ETIMEDOUT on time, both ends and both ways. */
static void test_timeouts(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("tmo", 3, 64, 0);
    ipcx_channel *srv, *cli;
    local_pair(p, "tmo", &srv, &cli);
    char buf[64];
    ipcx_channel *ends[2] = {srv, cli};
    const char *names[2] = {"server", "client"};
    for (int e = 0; e < 2; e++) {
        ipcx_channel *me = ends[e], *other = ends[e ^ 1];
        CHECK_RC(ipcx_channel_recv(me, buf, sizeof buf, 0), -EAGAIN);
        CHECK_RC(ipcx_channel_recv_ex(me, buf, sizeof buf, 0, NULL), -EAGAIN);
        expect_timeout_recv(me, names[e]);
        for (int i = 0; i < 3; i++) {
            CHECK_RC(ipcx_channel_send(me, "x", 1, 0), 0);
        }
        CHECK_RC(ipcx_channel_send(me, "x", 1, 0), -EAGAIN);
        expect_timeout_send(me, names[e]);
        for (int i = 0; i < 3; i++) {
            CHECK_RC(ipcx_channel_recv(other, buf, sizeof buf, 0), 1);
        }
        CHECK_RC(ipcx_channel_recv(other, buf, sizeof buf, 0), -EAGAIN);
    }
    ipcx_channel_close(cli);
    ipcx_channel_close(srv);
    ipcx_port_close(p);
}

/* -EMSGSIZE both ways: an oversize send queues nothing; a receive into a
 * short buffer leaves the message first in line and the buffer untouched;
 * nothing is ever truncated. */
static void test_msgsize(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("size", 8, 64, 0);
    ipcx_channel *srv, *cli;
    local_pair(p, "size", &srv, &cli);
    ipcx_channel *ends[2] = {srv, cli};
    unsigned char big[65], buf[128];
    for (int i = 0; i < 65; i++) {
        big[i] = (unsigned char)(i * 7 + 1);
    }
    for (int e = 0; e < 2; e++) {
        ipcx_channel *tx = ends[e], *rx = ends[e ^ 1];
        CHECK_RC(ipcx_channel_max_msg_size(tx), 64);
        CHECK_RC(ipcx_channel_send(tx, big, 65, 0), -EMSGSIZE);
        CHECK_RC(ipcx_channel_send(tx, big, 65, BOUND), -EMSGSIZE);
        CHECK_RC(ipcx_channel_send(tx, big, 1u << 20, 0), -EMSGSIZE);
        CHECK(ipcx_last_error()[0] != '\0');
        CHECK_RC(ipcx_channel_recv(rx, buf, sizeof buf, 0), -EAGAIN);

        CHECK_RC(ipcx_channel_send(tx, "first", 6, 0), 0);
        CHECK_RC(ipcx_channel_send(tx, big, 64, 0), 0);
        CHECK_RC(ipcx_channel_send(tx, "last", 5, 0), 0);
        tc_recv_str(rx, "first", 0);
        for (int k = 0; k < 3; k++) {
            memset(buf, 0xee, sizeof buf);
            int64_t t = k == 0 ? 0 : k == 1 ? BOUND : IPCX_FOREVER;
            CHECK_RC(ipcx_channel_recv(rx, buf, 63, t), -EMSGSIZE);
            for (size_t i = 0; i < sizeof buf; i++) {
                CHECK(buf[i] == 0xee);
            }
        }
        CHECK_RC(ipcx_channel_recv(rx, NULL, 0, 0), -EMSGSIZE);
        ipcx_channel_msg_info info = {.token = 99};
        CHECK_RC(ipcx_channel_recv_ex(rx, buf, 10, 0, &info), -EMSGSIZE);
        CHECK(info.token == 99); /* untouched on failure */
        memset(buf, 0, sizeof buf);
        CHECK_RC(ipcx_channel_recv_ex(rx, buf, 64, 0, &info), 64);
        CHECK(info.token == 0);
        CHECK(memcmp(buf, big, 64) == 0);
        tc_recv_str(rx, "last", 0);
        CHECK_RC(ipcx_channel_recv(rx, buf, sizeof buf, 0), -EAGAIN);
    }
    ipcx_channel_close(cli);
    ipcx_channel_close(srv);
    ipcx_port_close(p);
}

/* Exactly `capacity` messages fit in each direction, independently; then
 * -EAGAIN; taking one makes room for exactly one. */
static void test_capacity(void)
{
    sub_ns(__func__);
    const uint32_t caps[] = {1, 2, 7, 0, 1000, IPCX_CHANNEL_CAPACITY_MAX};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        uint32_t want = caps[i] ? caps[i] : IPCX_DEFAULT_CAPACITY;
        char name[32];
        snprintf(name, sizeof name, "cap%zu", i);
        ipcx_port *p = tc_listen(name, caps[i], 16, 0);
        ipcx_channel *srv, *cli;
        local_pair(p, name, &srv, &cli);
        ipcx_channel *ends[2] = {cli, srv};
        for (int e = 0; e < 2; e++) {
            uint32_t n = 0;
            int rc;
            while ((rc = ipcx_channel_send(ends[e], &n, sizeof n, 0)) == 0) {
                n++;
                CHECK(n <= want);
            }
            CHECK_RC(rc, -EAGAIN);
            if (n != want) {
                fprintf(stderr, "capacity %u: %u messages fit\n", want, n);
                exit(1);
            }
        }
        for (int e = 0; e < 2; e++) {
            uint32_t v = 12345;
            CHECK_RC(ipcx_channel_recv(ends[e ^ 1], &v, sizeof v, 0), 4);
            CHECK(v == 0);
            CHECK_RC(ipcx_channel_send(ends[e], &want, sizeof want, 0), 0);
            CHECK_RC(ipcx_channel_send(ends[e], &want, sizeof want, 0),
                     -EAGAIN);
            for (uint32_t k = 1; k < want; k++) {
                CHECK_RC(ipcx_channel_recv(ends[e ^ 1], &v, sizeof v, 0), 4);
                CHECK(v == k);
            }
            CHECK_RC(ipcx_channel_recv(ends[e ^ 1], &v, sizeof v, 0), 4);
            CHECK(v == want);
            CHECK_RC(ipcx_channel_recv(ends[e ^ 1], &v, sizeof v, 0), -EAGAIN);
        }
        ipcx_channel_close(cli);
        ipcx_channel_close(srv);
        ipcx_port_close(p);
    }
}

/* ---- exactly once, across processes and threads ---- */

#define XHDR 16u

static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static uint64_t fnv(const unsigned char *b, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 1099511628211ull;
    }
    return h;
}

/* Message SEQ of producer TAG: a header (seq, tag, checksum) and a payload
 * whose length and bytes follow from (tag, seq); returns its length. */
static uint32_t make_msg(unsigned char *m, uint32_t tag, uint32_t seq,
                         uint32_t max)
{
    uint32_t r = mix(tag * 0x9e3779b9u + seq);
    uint32_t len = r % 8 == 0   ? XHDR
                   : r % 8 == 1 ? max
                                : XHDR + (r >> 3) % (max - XHDR + 1);
    for (uint32_t i = XHDR; i < len; i++) {
        m[i] = (unsigned char)mix(r + i);
    }
    uint64_t sum = fnv(m + XHDR, len - XHDR);
    memcpy(m, &seq, 4);
    memcpy(m + 4, &tag, 4);
    memcpy(m + 8, &sum, 8);
    return len;
}

/* Check a received message: intact, and next in TAG's sequence. */
static void check_msg(const unsigned char *m, long n, uint32_t *next,
                      uint32_t ntags, uint32_t max)
{
    CHECK(n >= (long)XHDR);
    uint32_t seq, tag;
    uint64_t sum;
    memcpy(&seq, m, 4);
    memcpy(&tag, m + 4, 4);
    memcpy(&sum, m + 8, 8);
    CHECK(tag < ntags);
    if (seq != next[tag]) {
        fprintf(stderr, "producer %u: got #%u, expected #%u\n", tag, seq,
                next[tag]);
        exit(1);
    }
    unsigned char want[1024];
    CHECK(make_msg(want, tag, seq, max) == (uint32_t)n);
    CHECK(fnv(m + XHDR, (size_t)n - XHDR) == sum);
    CHECK(memcmp(m, want, (size_t)n) == 0);
    next[tag]++;
}

struct producer {
    ipcx_channel *ch;
    uint32_t tag, count, max;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    unsigned char m[1024];
    for (uint32_t s = 0; s < pr->count; s++) {
        uint32_t len = make_msg(m, pr->tag, s, pr->max);
        CHECK_RC(ipcx_channel_send(pr->ch, m, len, BOUND), 0);
    }
    return NULL;
}

/* Send THREADS x PER messages on CH from THREADS threads while receiving
 * as many from the peer on this thread; then check nothing more comes. */
static void duplex(ipcx_channel *ch, uint32_t threads, uint32_t per,
                   uint32_t max)
{
    pthread_t t[8];
    struct producer pr[8];
    for (uint32_t i = 0; i < threads; i++) {
        pr[i] = (struct producer){ch, i, per, max};
        CHECK(pthread_create(&t[i], NULL, produce, &pr[i]) == 0);
    }
    uint32_t next[8] = {0};
    unsigned char m[1024];
    for (uint64_t k = 0; k < (uint64_t)threads * per; k++) {
        long n = ipcx_channel_recv(ch, m, sizeof m, BOUND);
        if (n < 0) {
            fprintf(stderr, "recv #%llu: %s\n", (unsigned long long)k,
                    ipcx_strerror((int)n));
            exit(1);
        }
        check_msg(m, n, next, threads, max);
    }
    for (uint32_t i = 0; i < threads; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(next[i] == per);
    }
}

struct xo_arg {
    const char *name;
    uint32_t threads, per, max;
};

static int xo_client(void *arg)
{
    struct xo_arg *a = arg;
    ipcx_channel *ch = tc_connect(a->name);
    duplex(ch, a->threads, a->per, a->max);
    /* Done both ways: a last round trip, then nothing else is queued. */
    send_str(ch, "done", BOUND);
    tc_recv_str(ch, "done", BOUND);
    char buf[16];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, 0), -EAGAIN);
    ipcx_channel_close(ch);
    return 0;
}

static void exactly_once(const char *name, uint32_t capacity, uint32_t threads,
                         uint32_t per)
{
    struct xo_arg a = {name, threads, per, 512};
    ipcx_port *p = tc_listen(name, capacity, a.max, 0);
    pid_t c = tc_spawn(xo_client, &a);
    ipcx_channel *ch = NULL;
    CHECK_RC(ipcx_port_accept(p, BOUND, NULL, NULL, &ch), 0);
    long long t0 = tu_now_ns();
    duplex(ch, threads, per, a.max);
    tc_recv_str(ch, "done", BOUND);
    send_str(ch, "done", BOUND);
    CHECK(tu_wait(c) == 0);
    printf("%s: %u x %u messages each way in %lld ms\n", name, threads, per,
           ms_since(t0));
    char buf[16];
    CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, 0), -EPIPE);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* Both directions at once between two processes, small queue (so both
 * sides block often): every message arrives once, intact, in order. */
static void test_exactly_once_fifo(void)
{
    sub_ns(__func__);
    exactly_once("xo", 8, 1, 40000 / SCALE);
}

/* Four sending threads on each end share one handle: each thread's
 * messages arrive once, intact, in the order it sent them. */
static void test_exactly_once_threads(void)
{
    sub_ns(__func__);
    exactly_once("xo4", 16, 4, 10000 / SCALE);
}

static int big_client(void *arg)
{
    size_t max = *(size_t *)arg;
    ipcx_channel *ch = tc_connect("big");
    unsigned char *m = malloc(max), *r = malloc(max);
    CHECK(m != NULL && r != NULL);
    for (int i = 0; i < 4; i++) {
        size_t len = i == 0 ? max : max - 4093 * (size_t)i;
        for (size_t k = 0; k < len; k++) {
            m[k] = (unsigned char)mix((uint32_t)(k + (size_t)i * 31));
        }
        CHECK_RC(ipcx_channel_send(ch, m, len, BOUND), 0);
        CHECK_RC(ipcx_channel_recv(ch, r, max, BOUND), (long)len);
        CHECK(memcmp(m, r, len) == 0);
    }
    free(m);
    free(r);
    ipcx_channel_close(ch);
    return 0;
}

/* Large messages (4 MiB) cross intact, echoed back by the server. */
static void test_big_messages(void)
{
    sub_ns(__func__);
    size_t max = 4u << 20;
    ipcx_port *p = tc_listen("big", 2, (uint32_t)max, 0);
    pid_t c = tc_spawn(big_client, &max);
    ipcx_channel *ch = NULL;
    CHECK_RC(ipcx_port_accept(p, BOUND, NULL, NULL, &ch), 0);
    unsigned char *m = malloc(max);
    CHECK(m != NULL);
    for (int i = 0; i < 4; i++) {
        long n = ipcx_channel_recv(ch, m, max, BOUND);
        CHECK(n > 0);
        CHECK_RC(ipcx_channel_send(ch, m, (size_t)n, BOUND), 0);
    }
    CHECK(tu_wait(c) == 0);
    free(m);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* ---- the fast path makes no system call ---- */

/* Rounds of six sends (non-blocking and blocking) and six receives (both
 * kinds, with and without info) from A to B: room and messages are always
 * there. */
static int exercise(ipcx_channel *a, ipcx_channel *b, int rounds)
{
    char buf[64];
    int bad = 0;
    for (int i = 0; i < rounds; i++) {
        for (int k = 0; k < 3; k++) {
            bad |= ipcx_channel_send(a, "0123456789", 10, 0) != 0;
            bad |= ipcx_channel_send(a, "x", 1, IPCX_FOREVER) != 0;
        }
        for (int k = 0; k < 6; k++) {
            ipcx_channel_msg_info info;
            long n = k < 2   ? ipcx_channel_recv(b, buf, sizeof buf,
                                               k % 2 ? IPCX_FOREVER : 0)
                     : k < 4 ? ipcx_channel_recv_ex(b, buf, sizeof buf,
                                                    k % 2 ? BOUND : 0, &info)
                             : ipcx_channel_recv(b, buf, sizeof buf, BOUND);
            bad |= n != (k % 2 ? 1 : 10);
        }
    }
    return bad;
}

static int strict_child(void *arg)
{
    ipcx_port *p = tc_listen("fast", 8, 64, 0);
    ipcx_channel *srv, *cli;
    local_pair(p, "fast", &srv, &cli);
    ipcx_port_close(p);
    if (exercise(cli, srv, 100) != 0 || exercise(srv, cli, 100) != 0) {
        return 1;
    }
    /* A request whose caller gave up at once: it waits in the queue. */
    char buf[64];
    long rc = ipcx_call(cli, "req", 3, buf, sizeof buf, 0);
    if (rc != -EAGAIN && rc != -ETIMEDOUT) {
        return 2;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) {
        return 77;
    }
    /* The server takes the request and answers it, then sends one more
     * message; the client discards the late reply and gets the message. */
    ipcx_channel_msg_info info = {0};
    int bad = ipcx_channel_recv_ex(srv, buf, sizeof buf, 0, &info) != 3;
    bad |= info.token == 0;
    bad |= ipcx_channel_reply(srv, info.token, "late", 4, 0) != 0;
    bad |= ipcx_channel_send(srv, "next", 4, IPCX_FOREVER) != 0;
    bad |= ipcx_channel_recv(cli, buf, sizeof buf, 0) != 4;
    bad |= memcmp(buf, "next", 4) != 0;
    bad |= exercise(cli, srv, 1000);
    bad |= exercise(srv, cli, 1000);
    /* exit_group is not allowed in strict mode; plain exit is. */
    syscall(SYS_exit, bad ? 3 : 0);
    return 1;
}

static void test_fastpath(void)
{
    sub_ns(__func__);
#if defined(__SANITIZE_THREAD__)
    printf("test_fastpath: ThreadSanitizer makes system calls, skipped\n");
    return;
#endif
    int rc = tu_wait(tc_spawn(strict_child, NULL));
    if (rc == 77) {
        printf("seccomp strict mode unavailable: skipped\n");
        return;
    }
    if (rc == 128 + SIGKILL) {
        fprintf(stderr, "the channel fast path made a system call\n");
    }
    CHECK(rc == 0);
}

/* ---- no leaks over thousands of connections ---- */

#define CYCLES  (2000 / SCALE)
#define REFUSED (300 / SCALE)

struct sh_leak {
    _Atomic int step;
    _Atomic int refused;
};
static struct sh_leak *shl;

static int refuse_some(const ipcx_peer *peer, void *arg)
{
    return atomic_fetch_add(&shl->refused, 1) < REFUSED ? -EPERM : 0;
}

/* Which descriptors below 1024 are open now. */
static void open_fds(unsigned char open[1024])
{
    memset(open, 0, 1024);
    for (int fd = 0; fd < 1024; fd++) {
        open[fd] = fcntl(fd, F_GETFD) >= 0;
    }
}

/* Every descriptor opened since OPEN_BEFORE is close-on-exec. */
static void check_cloexec_since(const unsigned char open_before[1024])
{
    for (int fd = 0; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !open_before[fd] && !(fl & FD_CLOEXEC)) {
            fprintf(stderr, "fd %d is not close-on-exec\n", fd);
            exit(1);
        }
    }
}

static int leak_server(void *arg)
{
    unsigned char fds0[1024];
    open_fds(fds0);
    ipcx_port *p = tc_listen("leak", 4, 64, 0);
    int before = count_fds();
    atomic_store(&shl->step, 1);
    for (int i = 0; i < CYCLES; i++) {
        ipcx_channel *ch = NULL;
        CHECK_RC(ipcx_port_accept(p, BOUND, NULL, NULL, &ch), 0);
        int k;
        char buf[64];
        CHECK_RC(ipcx_channel_recv(ch, &k, sizeof k, BOUND), sizeof k);
        CHECK(k == i);
        CHECK_RC(ipcx_channel_send(ch, &k, sizeof k, BOUND), 0);
        if (i == 0) {
            check_cloexec_since(fds0);
        }
        CHECK_RC(ipcx_channel_recv(ch, buf, sizeof buf, BOUND), -EPIPE);
        ipcx_channel_close(ch);
    }
    /* Refused clients, then one admitted. */
    ipcx_channel *ch = NULL;
    CHECK_RC(ipcx_port_accept(p, BOUND, refuse_some, NULL, &ch), 0);
    ipcx_channel_close(ch);
    CHECK(atomic_load(&shl->refused) == REFUSED + 1);
    int after = count_fds();
    if (after != before) {
        fprintf(stderr, "server: %d fds before, %d after\n", before, after);
        exit(1);
    }
    CHECK(count_channel_maps(getpid()) == 0);
    ipcx_port_close(p);
    leak_check();
    return 0;
}

/* Thousands of connect/close cycles (and hundreds of refusals) leave the
 * number of descriptors and of channel mappings where they were in both
 * processes; the memory is checked by LeakSanitizer in the ASan build. */
static void test_no_leaks(void)
{
    sub_ns(__func__);
    shl = tu_shared_map(sizeof *shl);
    pid_t s = tc_spawn(leak_server, NULL);
    tc_wait_step(&shl->step, 1);
    unsigned char fds0[1024];
    open_fds(fds0);
    int before = count_fds();
    long long t0 = tu_now_ns();
    for (int i = 0; i < CYCLES; i++) {
        ipcx_channel *ch = tc_connect("leak");
        CHECK_RC(ipcx_channel_send(ch, &i, sizeof i, BOUND), 0);
        int k = -1;
        CHECK_RC(ipcx_channel_recv(ch, &k, sizeof k, BOUND), sizeof k);
        CHECK(k == i);
        if (i == 0) {
            check_cloexec_since(fds0);
        }
        ipcx_channel_close(ch);
    }
    for (int i = 0; i < REFUSED; i++) {
        ipcx_channel *ch = SENTINEL_CH;
        CHECK_RC(ipcx_connect("leak", BOUND, &ch), -ECONNREFUSED);
        CHECK(ch == SENTINEL_CH);
    }
    ipcx_channel *ch = tc_connect("leak");
    ipcx_channel_close(ch);
    CHECK(tu_wait(s) == 0);
    printf("%d connect/close cycles and %d refusals in %lld ms\n", CYCLES,
           REFUSED, ms_since(t0));
    int after = count_fds();
    if (after != before) {
        fprintf(stderr, "client: %d fds before, %d after\n", before, after);
        exit(1);
    }
    CHECK(count_channel_maps(getpid()) == 0);
    leak_check();
}

/* A port closed by its owner removes only its own name: if the name was
 * removed and taken by a new listener meanwhile, the successor keeps its
 * port, and still owns the name against a third listener. */
static void test_close_removes_only_own(void)
{
    sub_ns(__func__);
    char path[512], lock[512];
    snprintf(path, sizeof path, "%s/mine.port", getenv("IPCX_DIR"));
    snprintf(lock, sizeof lock, "%s/.mine.port.lock", getenv("IPCX_DIR"));
    ipcx_port *a = tc_listen("mine", 4, 64, 0);
    /* Someone cleans the namespace up by hand. */
    CHECK(unlink(path) == 0);
    (void)unlink(lock); /* the name lock, if ports have one */
    ipcx_port *b = tc_listen("mine", 4, 64, 0);
    ipcx_port_close(a);
    struct stat st;
    CHECK(lstat(path, &st) == 0);
    /* A's close must leave B's name lock alone (fixed in 25d2039: the
     * lock file was unlinked by name, and a third listener then took
     * over B's name). */
    ipcx_port *c = SENTINEL_PORT;
    int rc = ipcx_port_listen("mine", NULL, &c);
    if (rc == 0) {
        fprintf(stderr, "a third listener took the name of a live port\n");
        ipcx_port_close(c);
    }
    CHECK_RC(rc, -EEXIST);
    CHECK(c == SENTINEL_PORT);
    ipcx_channel *srv, *cli;
    local_pair(b, "mine", &srv, &cli);
    send_str(cli, "to b", 0);
    tc_recv_str(srv, "to b", 0);
    ipcx_channel_close(cli);
    ipcx_channel_close(srv);
    ipcx_port_close(b);
    CHECK(lstat(path, &st) < 0 && errno == ENOENT);
}

/* ---- regions over a channel ---- */

#define RG_SIZE (4 * 4096)

static unsigned char pattern(size_t i, unsigned seed)
{
    return (unsigned char)(i * 31 + seed * 7 + 1);
}

static void fill(ipcx_region *r, unsigned seed)
{
    unsigned char *m = ipcx_region_addr(r);
    for (size_t i = 0; i < ipcx_region_size(r); i++) {
        m[i] = pattern(i, seed);
    }
}

/* Does R hold the pattern of SEED, but for [SKIP, SKIP + SKIPLEN)? */
static int has_pattern(const ipcx_region *r, unsigned seed, size_t skip,
                       size_t skiplen)
{
    const unsigned char *m = ipcx_region_addr(r);
    for (size_t i = 0; i < ipcx_region_size(r); i++) {
        if ((i < skip || i >= skip + skiplen) && m[i] != pattern(i, seed)) {
            fprintf(stderr, "region byte %zu is %u, wanted %u\n", i, m[i],
                    pattern(i, seed));
            return 0;
        }
    }
    return 1;
}

/* The permissions ("rw-s", "r--s") of this process's mapping at ADDR. */
static const char *map_perms(const void *addr)
{
    static char perms[8];
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    perms[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long start;
        char p[8];
        if (sscanf(line, "%lx-%*x %7s", &start, p) == 2 &&
            start == (unsigned long)(uintptr_t)addr) {
            snprintf(perms, sizeof perms, "%s", p);
            break;
        }
    }
    fclose(f);
    return perms;
}

static ipcx_region *anon_region(size_t size, unsigned seed)
{
    ipcx_region *r = NULL;
    CHECK_RC(ipcx_region_create_anon(size, &r), 0);
    fill(r, seed);
    return r;
}

static ipcx_region *recv_region(ipcx_channel *ch, unsigned flags)
{
    ipcx_region *r = NULL;
    CHECK_RC(ipcx_channel_recv_region(ch, flags, &r, BOUND), 0);
    CHECK(r != NULL);
    return r;
}

static int count_names(const char *name, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static const char from_client[] = "from the client";
static const char from_server[] = "from the server";

static int shared_client(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    ipcx_region *r = recv_region(ch, 0);
    CHECK(ipcx_region_size(r) == RG_SIZE);
    CHECK(ipcx_region_is_sealed(r) == 0);
    CHECK(strcmp(map_perms(ipcx_region_addr(r)), "rw-s") == 0);
    CHECK(has_pattern(r, 1, 0, 0));
    unsigned char *m = ipcx_region_addr(r);
    memcpy(m + 100, from_client, sizeof from_client);
    send_str(ch, "written", BOUND);
    tc_recv_str(ch, "look again", BOUND);
    CHECK(memcmp(m + 8192, from_server, sizeof from_server) == 0);
    ipcx_region_detach(r);
    send_str(ch, "done", BOUND);
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, BOUND), -EPIPE);
    ipcx_channel_close(ch);
    return 0;
}

/* An anonymous region handed over a channel is one memory in both
 * processes: the client sees the server's pattern, the server sees what
 * the client writes, and the other way round. */
static void test_region_shared(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("rg", 4, 64, 0);
    pid_t c = tc_spawn(shared_client, "rg");
    ipcx_channel *ch = tc_accept(p);
    ipcx_region *r = anon_region(RG_SIZE, 1);
    CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
    tc_recv_str(ch, "written", BOUND);
    unsigned char *m = ipcx_region_addr(r);
    CHECK(memcmp(m + 100, from_client, sizeof from_client) == 0);
    CHECK(has_pattern(r, 1, 100, sizeof from_client));
    memcpy(m + 8192, from_server, sizeof from_server);
    send_str(ch, "look again", BOUND);
    tc_recv_str(ch, "done", BOUND);
    /* Still ours after the client let go. */
    CHECK(memcmp(m + 100, from_client, sizeof from_client) == 0);
    ipcx_channel_close(ch);
    CHECK(tu_wait(c) == 0);
    ipcx_region_detach(r);
    ipcx_port_close(p);
}

#define RG_COUNT 5

static int fifo_client(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    /* The regions first: their FIFO does not wait for the messages. */
    for (unsigned i = 0; i < RG_COUNT; i++) {
        ipcx_region *r = recv_region(ch, i == 2 ? IPCX_REGION_RDONLY : 0);
        CHECK(ipcx_region_size(r) == (i + 1) * 4096);
        CHECK(has_pattern(r, 10 + i, 0, 0));
        CHECK(strcmp(map_perms(ipcx_region_addr(r)),
                     i == 2 ? "r--s" : "rw-s") == 0);
        ipcx_region_detach(r);
    }
    ipcx_region *r = NULL;
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, 0), -EAGAIN);
    for (unsigned i = 0; i < RG_COUNT; i++) {
        char want[16];
        snprintf(want, sizeof want, "m%u", i);
        tc_recv_str(ch, want, BOUND);
    }
    send_str(ch, "ok", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

/* Several regions arrive in the order sent, each whole, in a FIFO of their
 * own beside the messages; IPCX_REGION_RDONLY maps one read-only. */
static void test_region_fifo(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("rgfifo", 8, 64, 0);
    pid_t c = tc_spawn(fifo_client, "rgfifo");
    ipcx_channel *ch = tc_accept(p);
    for (unsigned i = 0; i < RG_COUNT; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "m%u", i);
        send_str(ch, msg, BOUND);
        ipcx_region *r = anon_region((i + 1) * 4096, 10 + i);
        CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
        ipcx_region_detach(r); /* in flight, the peer's copy lives on */
    }
    tc_recv_str(ch, "ok", BOUND);
    ipcx_channel_close(ch);
    CHECK(tu_wait(c) == 0);
    ipcx_port_close(p);
}

static int sealed_client(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    ipcx_region *r = recv_region(ch, 0); /* asks for read-write */
    CHECK(ipcx_region_is_sealed(r) == 1);
    CHECK(ipcx_region_size(r) == RG_SIZE);
    CHECK(has_pattern(r, 3, 0, 0));
    CHECK(strcmp(map_perms(ipcx_region_addr(r)), "r--s") == 0);
    int fd = ipcx_region_fd(r);
    CHECK(fd >= 0);
    void *w = mmap(NULL, RG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(w == MAP_FAILED && errno == EPERM);
    CHECK(pwrite(fd, "x", 1, 0) < 0 && errno == EPERM);
    CHECK(ftruncate(fd, 4096) < 0 && errno == EPERM);
    CHECK(has_pattern(r, 3, 0, 0));
    send_str(ch, "checked", BOUND);
    /* The sealer's own mapping stays writable: it publishes, we read. */
    tc_recv_str(ch, "look", BOUND);
    const unsigned char *m = ipcx_region_addr(r);
    CHECK(memcmp(m + 300, from_server, sizeof from_server) == 0);
    ipcx_region_detach(r);
    ipcx_channel_close(ch);
    return 0;
}

/* A sealed region arrives read-only, whatever the receiver asks: it cannot
 * map it writable (EPERM), write or shrink it, while the sender's own
 * mapping stays writable. */
static void test_region_sealed(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("rgseal", 4, 64, 0);
    pid_t c = tc_spawn(sealed_client, "rgseal");
    ipcx_channel *ch = tc_accept(p);
    ipcx_region *r = anon_region(RG_SIZE, 3);
    CHECK_RC(ipcx_region_seal(r), 0);
    CHECK(ipcx_region_is_sealed(r) == 1);
    CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
    tc_recv_str(ch, "checked", BOUND);
    unsigned char *m = ipcx_region_addr(r);
    memcpy(m + 300, from_server, sizeof from_server);
    send_str(ch, "look", BOUND);
    CHECK(tu_wait(c) == 0);
    ipcx_channel_close(ch);
    ipcx_region_detach(r);
    ipcx_port_close(p);
}

static int waiting_client(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    ipcx_region *r = SENTINEL_REGION;
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, 0), -EAGAIN);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, IPCX_MSEC(100)), -ETIMEDOUT);
    long long ms = ms_since(t0);
    printf("recv_region timeout 100 ms: returned after %lld ms\n", ms);
    CHECK(ms >= 100 && ms < 5000);
    CHECK(r == SENTINEL_REGION);
    send_str(ch, "ready", BOUND);
    /* The server sends one region and closes: the region is still ours to
     * take, then -EPIPE. */
    r = recv_region(ch, 0);
    CHECK(has_pattern(r, 4, 0, 0));
    ipcx_region_detach(r);
    r = SENTINEL_REGION;
    t0 = tu_now_ns();
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, BOUND), -EPIPE);
    printf("recv_region from a closed peer: -EPIPE after %lld ms\n",
           ms_since(t0));
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, 0), -EPIPE);
    CHECK(r == SENTINEL_REGION);
    ipcx_region *mine = anon_region(4096, 5);
    CHECK_RC(ipcx_channel_send_region(ch, mine, BOUND), -EPIPE);
    ipcx_region_detach(mine);
    ipcx_channel_close(ch);
    return 0;
}

/* Sends a region to the server, then dies by SIGKILL. */
static int dying_client(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    ipcx_region *r = anon_region(2 * 4096, 6);
    CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
    raise(SIGKILL);
    return 1;
}

/* recv_region: timeout 0 with nothing sent answers -EAGAIN, a timeout
 * -ETIMEDOUT; once the peer closed or died, what it sent is still
 * received, then -EPIPE, and sends answer -EPIPE. */
static void test_region_wait_and_gone(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("rgwait", 4, 64, 0);
    pid_t c = tc_spawn(waiting_client, "rgwait");
    ipcx_channel *ch = tc_accept(p);
    tc_recv_str(ch, "ready", BOUND);
    ipcx_region *r = anon_region(RG_SIZE, 4);
    CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
    ipcx_region_detach(r);
    ipcx_channel_close(ch);
    CHECK(tu_wait(c) == 0);

    c = tc_spawn(dying_client, "rgwait");
    ch = tc_accept(p);
    CHECK(tu_wait(c) == 128 + SIGKILL);
    r = recv_region(ch, 0);
    CHECK(ipcx_region_size(r) == 2 * 4096);
    CHECK(has_pattern(r, 6, 0, 0));
    ipcx_region_detach(r);
    ipcx_region *none = SENTINEL_REGION;
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &none, BOUND), -EPIPE);
    CHECK(none == SENTINEL_REGION);
    r = anon_region(4096, 7);
    CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), -EPIPE);
    ipcx_region_detach(r);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

struct sh_rg {
    _Atomic int step;
    char nsdir[512];
};
static struct sh_rg *shr;

static int holding_client(void *arg)
{
    ipcx_channel *ch = tc_connect(arg);
    ipcx_region *r = recv_region(ch, 0);
    atomic_store(&shr->step, 1);
    tc_wait_step(&shr->step, 2);
    CHECK(has_pattern(r, 8, 0, 0)); /* nobody else wrote it */
    ipcx_region_detach(r);
    ipcx_channel_close(ch);
    return 0;
}

/* While the client holds the region: nothing in the namespace names it,
 * and the third's own channel carries no region. */
static int third_party(void *arg)
{
    tc_wait_step(&shr->step, 1);
    int n = 0;
    CHECK_RC(ipcx_region_list(count_names, &n), 0);
    CHECK(n == 0);
    CHECK(count_visible(shr->nsdir) == 1); /* the port */
    ipcx_channel *ch = tc_connect(arg);
    ipcx_region *r = SENTINEL_REGION;
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, 0), -EAGAIN);
    CHECK(r == SENTINEL_REGION);
    send_str(ch, "nothing here", BOUND);
    tc_recv_str(ch, "bye", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

/* A third process cannot reach a region handed over a channel: it has no
 * name (ipcx_region_list shows nothing, the namespace holds only the port),
 * and connecting to the same port gives the third a channel of its own. */
static void test_region_unreachable(void)
{
    shr = tu_shared_map(sizeof *shr);
    snprintf(shr->nsdir, sizeof shr->nsdir, "%s", sub_ns(__func__));
    ipcx_port *p = tc_listen("rgiso", 4, 64, 0);
    pid_t c = tc_spawn(holding_client, "rgiso");
    ipcx_channel *ch = tc_accept(p);
    ipcx_region *r = anon_region(RG_SIZE, 8);
    CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
    pid_t t = tc_spawn(third_party, "rgiso");
    ipcx_channel *tch = tc_accept(p);
    tc_recv_str(tch, "nothing here", BOUND);
    send_str(tch, "bye", BOUND);
    CHECK(tu_wait(t) == 0);
    ipcx_region *none = SENTINEL_REGION;
    CHECK_RC(ipcx_channel_recv_region(tch, 0, &none, 0), -EPIPE);
    CHECK(none == SENTINEL_REGION);
    atomic_store(&shr->step, 2);
    CHECK(tu_wait(c) == 0);
    ipcx_channel_close(tch);
    ipcx_channel_close(ch);
    ipcx_region_detach(r);
    ipcx_port_close(p);
}

/* ---- fork() without exec ---- */

/* Is descriptor FD of this process /dev/null (and close-on-exec)? */
static int is_devnull(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) {
        return 0;
    }
    target[n] = '\0';
    int fl = fcntl(fd, F_GETFD);
    return strcmp(target, "/dev/null") == 0 && fl >= 0 && (fl & FD_CLOEXEC);
}

struct sh_fork {
    _Atomic int step;
    _Atomic pid_t child;
    _Atomic int child_ok; /* 1: the child saw its handle dead */
};
static struct sh_fork *shf;

/* The forked child of a server: checks its inherited port is dead, then
 * lives on, holding whatever fork() gave it, until LIFE[0] reads EOF (the
 * test closes the other end, or dies). */
static void forked_child(ipcx_port *p, const int life[2])
{
    close(life[1]);
    ipcx_channel *ch = SENTINEL_CH;
    int rc = ipcx_port_accept(p, IPCX_SEC(1), NULL, NULL, &ch);
    int devnull = is_devnull(ipcx_port_fd(p));
    if (rc != -EBADF || ch != SENTINEL_CH || !devnull) {
        fprintf(stderr, "forked child: accept %s, port fd %s/dev/null\n",
                ipcx_strerror(rc), devnull ? "" : "not ");
    }
    atomic_store(&shf->child, getpid());
    atomic_store(&shf->child_ok,
                 rc == -EBADF && ch == SENTINEL_CH && devnull ? 1 : -1);
    char c;
    while (read(life[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
}

static int forking_server(void *arg)
{
    const int *life = arg;
    ipcx_port *p = tc_listen("forked", 4, 64, 0);
    fflush(NULL);
    pid_t c = fork();
    CHECK(c >= 0);
    if (c == 0) {
        forked_child(p, life);
    }
    close(life[0]);
    close(life[1]);
    /* The parent's port is untouched by the fork. */
    ipcx_channel *ch = tc_accept(p);
    send_str(ch, "from the parent", BOUND);
    ipcx_channel_close(ch);
    atomic_store(&shf->step, 1);
    pause(); /* SIGKILLed */
    return 1;
}

/* A server that forks a child (no exec) and then dies is seen dead at once
 * while the child lives on: clients get -ECONNREFUSED (not -EAGAIN or a
 * timeout), and the name can be listened on again.  Before the fork guard
 * the child shared the listening socket and the name lock. */
static void test_fork_server_dies(void)
{
    sub_ns(__func__);
    shf = tu_shared_map(sizeof *shf);
    /* The child is reparented to us when the server dies, to be reaped. */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    int life[2];
    CHECK(pipe2(life, O_CLOEXEC) == 0);
    pid_t s = tc_spawn(forking_server, life);
    close(life[0]);
    ipcx_channel *ch = tc_connect("forked");
    tc_recv_str(ch, "from the parent", BOUND);
    ipcx_channel_close(ch);
    tc_wait_step(&shf->step, 1);
    for (int i = 0; i < 10000 && atomic_load(&shf->child_ok) == 0; i++) {
        tu_pause_ms(1);
    }
    CHECK(atomic_load(&shf->child_ok) == 1);
    pid_t c = atomic_load(&shf->child);
    CHECK(kill(s, SIGKILL) == 0);
    CHECK(tu_wait(s) == 128 + SIGKILL);
    CHECK(kill(c, 0) == 0); /* alive, holding what fork() gave it */

    ch = SENTINEL_CH;
    long long t0 = tu_now_ns();
    int rc = ipcx_connect("forked", 0, &ch);
    printf("connect (timeout 0) to a dead server whose child lives: %s "
           "after %lld ms\n",
           ipcx_strerror(rc), ms_since(t0));
    CHECK_RC(rc, -ECONNREFUSED);
    t0 = tu_now_ns();
    rc = ipcx_connect("forked", IPCX_SEC(5), &ch);
    printf("connect (timeout 5 s) to it: %s after %lld ms\n", ipcx_strerror(rc),
           ms_since(t0));
    CHECK_RC(rc, -ECONNREFUSED);
    CHECK(ch == SENTINEL_CH);

    /* A new server takes the name over while the child still lives. */
    ipcx_port *p = SENTINEL_PORT;
    CHECK_RC(ipcx_port_listen("forked", NULL, &p), 0);
    CHECK(p != SENTINEL_PORT);
    pid_t cl = tc_spawn(real_client, "forked");
    ch = tc_accept(p);
    tc_recv_str(ch, "hello", BOUND);
    send_str(ch, "bye", BOUND);
    CHECK(tu_wait(cl) == 0);
    ipcx_channel_close(ch);
    CHECK(kill(c, 0) == 0);
    ipcx_port_close(p);

    close(life[1]);
    CHECK(tu_wait(c) == 0);
}

static void *blocked_accept(void *arg)
{
    ipcx_channel *ch = NULL;
    CHECK_RC(ipcx_port_accept(arg, BOUND, NULL, NULL, &ch), 0);
    return ch;
}

/* In the child, the port is dead but harmless: accept answers -EBADF at
 * once, its descriptor is /dev/null under the same number, and closing it
 * leaves the parent's name alone. */
static int port_child(void *arg)
{
    ipcx_port *p = arg;
    int fd = ipcx_port_fd(p);
    CHECK(fd >= 0);
    CHECK(is_devnull(fd));
    ipcx_channel *ch = SENTINEL_CH;
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_port_accept(p, BOUND, NULL, NULL, &ch), -EBADF);
    CHECK(ms_since(t0) < 5000); /* not the 10 s it was given */
    CHECK(ch == SENTINEL_CH);
    CHECK(strstr(ipcx_last_error(), "fork") != NULL);
    CHECK_RC(ipcx_port_close(p), 0);
    CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF); /* closed, once */
    /* The name is still the parent's. */
    ipcx_port *q = SENTINEL_PORT;
    CHECK_RC(ipcx_port_listen("kid", NULL, &q), -EEXIST);
    CHECK(q == SENTINEL_PORT);
    /* This child may serve a port of its own (with a client process: a
     * thread is not for a child of a multi-threaded process, says TSan). */
    q = tc_listen("kids-own", 4, 64, 0);
    pid_t c = tc_spawn(real_client, "kids-own");
    ch = tc_accept(q);
    tc_recv_str(ch, "hello", BOUND);
    send_str(ch, "bye", BOUND);
    CHECK(tu_wait(c) == 0);
    ipcx_channel_close(ch);
    ipcx_port_close(q);
    return 0;
}

/* A fork while another thread waits in accept: fork() does not wait for
 * that accept, the child's handle is dead, the parent's goes on. */
static void test_fork_child_port(void)
{
    sub_ns(__func__);
    char path[512];
    snprintf(path, sizeof path, "%s/kid.port", getenv("IPCX_DIR"));
    ipcx_port *p = tc_listen("kid", 4, 64, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocked_accept, p) == 0);
    tu_pause_ms(20); /* let it block (it need not have) */
    CHECK(tu_wait(tc_spawn(port_child, p)) == 0);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    ipcx_channel *cli = tc_connect("kid");
    void *srv = NULL;
    CHECK(pthread_join(t, &srv) == 0);
    send_str(cli, "still the parent's", 0);
    tc_recv_str(srv, "still the parent's", 0);
    ipcx_channel_close(cli);
    ipcx_channel_close(srv);
    ipcx_port *q = SENTINEL_PORT;
    CHECK_RC(ipcx_port_listen("kid", NULL, &q), -EEXIST);
    ipcx_port_close(p);
    CHECK(lstat(path, &st) < 0 && errno == ENOENT);
}

int main(void)
{
    top_ns = tu_private_ns();
    setvbuf(stdout, NULL, _IOLBF, 0);
    TU_RUN(test_bad_names);
    TU_RUN(test_bad_attrs);
    TU_RUN(test_default_attrs);
    TU_RUN(test_bad_args);
    TU_RUN(test_port_files_and_list);
    TU_RUN(test_listen_exists);
    TU_RUN(test_connect_missing);
    TU_RUN(test_accept_connect_timeouts);
    TU_RUN(test_creds_and_check);
    TU_RUN(test_other_uid);
    TU_RUN(test_third_process);
    TU_RUN(test_timeouts);
    TU_RUN(test_msgsize);
    TU_RUN(test_capacity);
    TU_RUN(test_exactly_once_fifo);
    TU_RUN(test_exactly_once_threads);
    TU_RUN(test_big_messages);
    TU_RUN(test_fastpath);
    TU_RUN(test_no_leaks);
    TU_RUN(test_close_removes_only_own);
    TU_RUN(test_region_shared);
    TU_RUN(test_region_fifo);
    TU_RUN(test_region_sealed);
    TU_RUN(test_region_wait_and_gone);
    TU_RUN(test_region_unreachable);
    TU_RUN(test_fork_server_dies);
    TU_RUN(test_fork_child_port);
    return tu_failures > 0;
}
