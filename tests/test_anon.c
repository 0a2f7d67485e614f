/*
 * test_anon.c - anonymous mailboxes and rights (SPEC K1), with real
 * processes.
 *
 *  5. ipcx_mailbox_allocate(): send and receive in one process; nothing
 *     named appears; attributes checked as ipcx_mailbox_create() checks
 *     them; unbounded, bounded and rendezvous variants.
 *  6. Rights over a channel: a send right lets the client send and nothing
 *     else; ipcx_mailbox_restrict(); moving the receive right; a mailbox
 *     in flight or held by the peer outlives the sender's handle; an
 *     unbounded one grows under a receiver in another process.
 *  7. A third process, without a channel, cannot find or open it; a
 *     process of another user can be handed rights, and hand them back.
 *  8. Regions and mailboxes share one descriptor FIFO: the wrong kind is
 *     -ENOMSG and stays queued; garbage is -EPROTO and dropped; a named
 *     mailbox does not travel.
 *  9. The descriptor (eventfd bell) of a received mailbox works across
 *     processes, both ways.
 * 10. No descriptor, mapping or memory leaks over 2000 hand-overs.
 * 11. Holders in different processes are told apart: stat counts both, an
 *     exclusive right is not stolen from a live holder, and messages being
 *     written or read by a live peer are neither lost nor corrupted.
 *
 * IPCX_TEST_ONLY=substring runs only the subtests whose name has it.
 */
#include "chanutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel/channel.h" /* the socket, for the hostile peer */

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SCALE 5 /* sanitizers are slow: fewer messages */
#else
#define SCALE 1
#endif

#define BOUND      TC_BOUND
#define OTHER_UID  65534
#define OTHER_GID  65534
#define RIGHTS_ALL (IPCX_RIGHT_SEND | IPCX_RIGHT_RECV)

static const char *top_ns;

static void sub_ns(const char *name)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", top_ns, name);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(setenv("IPCX_DIR", dir, 1) == 0);
}

/* Entries of directory PATH ("." and ".." excepted), -1 if unreadable. */
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

static int count_ns(void)
{
    return count_dir(getenv("IPCX_DIR"));
}

/* Open descriptors of this process (the directory stream's own excepted). */
static int count_fds(void)
{
    int n = count_dir("/proc/self/fd");
    CHECK(n > 0);
    return n - 1;
}

/* Lines of /proc/self/maps naming a memfd. */
static int count_memfd_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        n += strstr(line, "memfd:") != NULL;
    }
    fclose(f);
    return n;
}

/* The descriptors open now, as a bitmap of the first 1024. */
struct fdset {
    unsigned char open[1024];
};

static void fd_snapshot(struct fdset *s)
{
    memset(s, 0, sizeof *s);
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd >= 0 && fd < 1024 && fd != dirfd(d)) {
            s->open[fd] = 1;
        }
    }
    closedir(d);
}

/* Descriptors open now that were not in BEFORE: up to MAX into OUT. */
static int fd_new(const struct fdset *before, int *out, int max)
{
    struct fdset now;
    fd_snapshot(&now);
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        if (now.open[fd] && !before->open[fd]) {
            CHECK(n < max);
            out[n++] = fd;
        }
    }
    return n;
}

/* What descriptor FD is (readlink of /proc/self/fd/FD). */
static void fd_target(int fd, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, buf, len - 1);
    CHECK(n > 0);
    buf[n] = '\0';
}

static int readable_within(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    do {
        n = poll(&p, 1, ms);
    } while (n < 0 && errno == EINTR);
    CHECK(n >= 0);
    return n == 1 && (p.revents & POLLIN) != 0;
}

static void send_str(ipcx_mailbox *mb, const char *s)
{
    CHECK_RC(ipcx_mailbox_send(mb, s, strlen(s) + 1, BOUND), 0);
}

static void recv_str(ipcx_mailbox *mb, const char *want, int64_t timeout)
{
    char buf[256];
    long n = ipcx_mailbox_recv(mb, buf, sizeof buf, timeout);
    if (n != (long)strlen(want) + 1 || memcmp(buf, want, (size_t)n) != 0) {
        fprintf(stderr, "mailbox recv: got %ld (%s) '%.*s', wanted '%s'\n", n,
                n < 0 ? ipcx_strerror((int)n) : "", n > 0 ? (int)n : 0, buf,
                want);
        exit(1);
    }
}

static void chan_str(ipcx_channel *ch, const char *s)
{
    CHECK_RC(ipcx_channel_send(ch, s, strlen(s) + 1, BOUND), 0);
}

static ipcx_mailbox *alloc_mb(uint32_t cap, uint32_t max_msg, uint32_t policy)
{
    ipcx_mailbox_attr a = tu_attr(cap, max_msg);
    a.policy = policy;
    ipcx_mailbox *mb = NULL;
    CHECK_RC(ipcx_mailbox_allocate(&a, &mb), 0);
    CHECK(mb != NULL);
    CHECK(ipcx_mailbox_rights(mb) == RIGHTS_ALL);
    return mb;
}

static ipcx_mailbox *recv_mb(ipcx_channel *ch, unsigned rights)
{
    ipcx_mailbox *mb = NULL;
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &mb, BOUND), 0);
    CHECK(mb != NULL);
    if (ipcx_mailbox_rights(mb) != rights) {
        fprintf(stderr, "received rights 0x%x, expected 0x%x\n",
                ipcx_mailbox_rights(mb), rights);
        exit(1);
    }
    return mb;
}

static void leak_check(void)
{
#if defined(__SANITIZE_ADDRESS__)
    CHECK(__lsan_do_recoverable_leak_check() == 0);
#endif
}

/* ==== 5. allocate, in one process ======================================= */

static int count_cb(const char *name, void *arg)
{
    (void)name;
    (*(int *)arg)++;
    return 0;
}

static int list_count(void)
{
    int n = 0;
    CHECK_RC(ipcx_mailbox_list(count_cb, &n), 0);
    return n;
}

#define SENTINEL_MB ((ipcx_mailbox *)0x1)

/* ATTR is refused by ipcx_mailbox_create() and ipcx_mailbox_allocate()
 * alike, and neither leaves anything behind. */
static void refused(const ipcx_mailbox_attr *a, const char *what)
{
    int fds = count_fds(), files = count_ns();
    int rc_create = ipcx_mailbox_create("refused", a);
    ipcx_mailbox *mb = SENTINEL_MB;
    int rc_alloc = ipcx_mailbox_allocate(a, &mb);
    if (rc_create != -EINVAL || rc_alloc != -EINVAL) {
        fprintf(stderr, "%s: create %d (%s), allocate %d (%s); want -EINVAL\n",
                what, rc_create, ipcx_strerror(rc_create), rc_alloc,
                ipcx_strerror(rc_alloc));
        exit(1);
    }
    CHECK(ipcx_last_error()[0] != '\0');
    CHECK(mb == SENTINEL_MB);
    CHECK(count_fds() == fds);
    CHECK(count_ns() == files);
}

struct rv_arg {
    ipcx_mailbox *mb;
    char got[64];
    long rc;
};

static void *rv_receiver(void *p)
{
    struct rv_arg *a = p;
    a->rc = ipcx_mailbox_recv(a->mb, a->got, sizeof a->got, BOUND);
    return NULL;
}

static void test_allocate_local(void)
{
    sub_ns(__func__);
    CHECK_RC(ipcx_mailbox_create("named", NULL), 0);
    CHECK(list_count() == 1);
    int files = count_ns();
    int fds = count_fds();

    ipcx_mailbox *mb = NULL;
    CHECK_RC(ipcx_mailbox_allocate(NULL, &mb), 0);
    CHECK(mb != NULL);
    CHECK(ipcx_mailbox_rights(mb) == RIGHTS_ALL);
    send_str(mb, "hello");
    send_str(mb, "world");
    recv_str(mb, "hello", 0);
    recv_str(mb, "world", 0);
    char buf[8];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_MSEC(5)), -ETIMEDOUT);
    /* The defaults, as for a named mailbox. */
    ipcx_mailbox_info st = tu_stat(mb);
    CHECK(st.capacity == IPCX_DEFAULT_CAPACITY);
    CHECK(st.max_msg_size == IPCX_DEFAULT_MSG_SIZE);
    CHECK(st.policy == IPCX_POLICY_ANY);
    CHECK(st.depth == 0 && st.destroyed == 0);
    /* Nothing named: not listed, nothing in the namespace. */
    CHECK(list_count() == 1);
    CHECK(count_ns() == files);
    /* Nor after its descriptor was asked for (no FIFO for it). */
    CHECK(ipcx_mailbox_fd(mb) >= 0);
    CHECK(count_ns() == files);
    /* A named mailbox reports both rights too. */
    ipcx_mailbox *named = tu_open("named");
    CHECK(ipcx_mailbox_rights(named) == RIGHTS_ALL);
    ipcx_mailbox_close(named);
    CHECK(ipcx_mailbox_rights(NULL) == 0);
    ipcx_mailbox_close(mb);
    CHECK(count_fds() == fds);

    CHECK_RC(ipcx_mailbox_allocate(NULL, NULL), -EINVAL);
    ipcx_mailbox_attr a;
    CHECK_RC(ipcx_mailbox_allocate(&a, NULL), -EINVAL);

    /* Attributes are checked as ipcx_mailbox_create() checks them. */
    a = tu_attr(IPCX_CAPACITY_MAX + 1, 64);
    refused(&a, "capacity above the limit");
    a = tu_attr(8, IPCX_MSG_SIZE_MAX + 1);
    refused(&a, "max_msg_size above the limit");
    a = tu_attr(IPCX_CAPACITY_MAX, IPCX_MSG_SIZE_MAX);
    refused(&a, "capacity x size too large");
    a = tu_attr(8, 64);
    a.policy = IPCX_POLICY_PAIR + 1;
    refused(&a, "unknown policy");
    a = tu_attr(8, 64);
    a.reserved[5] = 1;
    refused(&a, "reserved word");
    a = tu_attr(8, 64);
    a.max_bytes = 1 << 20;
    refused(&a, "max_bytes of a bounded mailbox");
    a = tu_attr(IPCX_UNBOUNDED, 4096);
    a.max_bytes = 4096;
    refused(&a, "max_bytes below four messages");
    a = tu_attr(IPCX_UNBOUNDED, 64);
    a.max_bytes = IPCX_MAX_BYTES_LIMIT + 1;
    refused(&a, "max_bytes above the limit");
    CHECK(list_count() == 1);

    /* The mode is ignored (nobody opens it by name). */
    a = tu_attr(4, 64);
    a.mode = 01777;
    CHECK_RC(ipcx_mailbox_create("badmode", &a), -EINVAL);
    CHECK_RC(ipcx_mailbox_allocate(&a, &mb), 0);
    ipcx_mailbox_close(mb);

    /* Bounded: exactly capacity messages fit. */
    mb = alloc_mb(4, 64, IPCX_POLICY_ANY);
    for (uint32_t i = 0; i < 4; i++) {
        CHECK_RC(ipcx_mailbox_send(mb, &i, sizeof i, 0), 0);
    }
    uint32_t v = 99;
    CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, 0), -EAGAIN);
    CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, IPCX_MSEC(5)), -ETIMEDOUT);
    char big[65] = {0};
    CHECK_RC(ipcx_mailbox_send(mb, big, sizeof big, 0), -EMSGSIZE);
    CHECK(tu_stat(mb).depth == 4);
    for (uint32_t i = 0; i < 4; i++) {
        CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), sizeof v);
        CHECK(v == i);
    }
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EAGAIN);
    ipcx_mailbox_close(mb);

    /* Unbounded: thousands queue without a receiver, in order. */
    mb = alloc_mb(IPCX_UNBOUNDED, 64, IPCX_POLICY_ANY);
    CHECK(tu_stat(mb).capacity == IPCX_UNBOUNDED);
    const uint32_t n = 5000;
    for (uint32_t i = 0; i < n; i++) {
        CHECK_RC(ipcx_mailbox_send(mb, &i, sizeof i, 0), 0);
    }
    CHECK(tu_stat(mb).depth == n);
    for (uint32_t i = 0; i < n; i++) {
        CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), sizeof v);
        CHECK(v == i);
    }
    ipcx_mailbox_close(mb);

    /* Rendezvous: a send succeeds only once a receiver took it. */
    mb = alloc_mb(0, 64, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_mailbox_send(mb, "x", 2, 0), -EAGAIN);
    CHECK_RC(ipcx_mailbox_send(mb, "x", 2, IPCX_MSEC(10)), -ETIMEDOUT);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    struct rv_arg ra = {mb, {0}, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, rv_receiver, &ra) == 0);
    pid_t who = 0;
    CHECK_RC(
        ipcx_mailbox_send_ex(mb, "meet", 5, BOUND, IPCX_SEND_RECEIPT, &who), 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(ra.rc == 5 && strcmp(ra.got, "meet") == 0);
    CHECK(who == getpid());
    ipcx_mailbox_close(mb);

    /* The other policies allocate and work in one process. */
    mb = alloc_mb(8, 64, IPCX_POLICY_PAIR);
    send_str(mb, "pair");
    recv_str(mb, "pair", 0);
    ipcx_mailbox_close(mb);
    mb = alloc_mb(8, 64, IPCX_POLICY_EXCLUSIVE);
    send_str(mb, "excl");
    recv_str(mb, "excl", 0);
    ipcx_mailbox_close(mb);

    CHECK(count_fds() == fds);
    CHECK(list_count() == 1);
    CHECK(count_ns() == files);
    CHECK_RC(ipcx_mailbox_destroy("named"), 0);
    leak_check();
}

/* ==== 6. rights over a channel ========================================== */

#define R6_MSGS 100
#define R6_BIG  (20000 / SCALE) /* unbounded: messages queued at once */

static int rights_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("r6");
    char buf[300];

    /* A send right, and nothing more. */
    ipcx_mailbox *mb = recv_mb(ch, IPCX_RIGHT_SEND);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EPERM);
    CHECK(ipcx_last_error()[0] != '\0');
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_MSEC(5)), -EPERM);
    CHECK_RC(ipcx_mailbox_recv_ex(mb, buf, sizeof buf, 0, NULL), -EPERM);
    CHECK_RC(ipcx_mailbox_fd(mb), -EPERM);
    ipcx_pollitem it = ipcx_poll_mailbox(mb);
    CHECK_RC(ipcx_poll(&it, 1, 0), -EPERM);
    /* Cannot hand on a right it lacks; may hand on the one it has. */
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_RECV, BOUND), -EPERM);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, RIGHTS_ALL, BOUND), -EPERM);
    CHECK_RC(ipcx_mailbox_restrict(mb, IPCX_RIGHT_RECV), -EINVAL);
    CHECK(ipcx_mailbox_rights(mb) == IPCX_RIGHT_SEND);
    for (int i = 0; i < R6_MSGS; i++) {
        snprintf(buf, sizeof buf, "c%d", i);
        send_str(mb, buf);
    }
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    chan_str(ch, "sent");
    ipcx_mailbox_close(mb);

    /* The receive right moved here: what the server sent before and after
     * the move, in order; no send right. */
    tc_recv_str(ch, "moved", BOUND);
    mb = recv_mb(ch, IPCX_RIGHT_RECV);
    CHECK_RC(ipcx_mailbox_send(mb, "x", 2, 0), -EPERM);
    CHECK_RC(ipcx_mailbox_send_ex(mb, "x", 2, 0, 0, NULL), -EPERM);
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "before%d", i);
        recv_str(mb, buf, BOUND);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(buf, sizeof buf, "after%d", i);
        recv_str(mb, buf, BOUND);
    }
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    chan_str(ch, "moved-ok");
    ipcx_mailbox_close(mb);

    /* Handed over, then closed by the server before we even took it:
     * the mailbox and its messages live on with us. */
    tc_recv_str(ch, "orphan", BOUND);
    mb = recv_mb(ch, RIGHTS_ALL);
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "left%d", i);
        recv_str(mb, buf, 0);
    }
    send_str(mb, "still works");
    recv_str(mb, "still works", 0);
    ipcx_mailbox_close(mb);
    chan_str(ch, "orphan-ok");

    /* Unbounded, filled from here while the server waits: it grows. */
    mb = recv_mb(ch, IPCX_RIGHT_SEND);
    for (int i = 0; i < R6_BIG; i++) {
        memset(buf, 'a' + i % 26, 256);
        memcpy(buf, &i, sizeof i);
        CHECK_RC(ipcx_mailbox_send(mb, buf, 256, 0), 0);
    }
    ipcx_mailbox_close(mb);
    chan_str(ch, "filled");

    tc_recv_str(ch, "bye", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

static void test_rights_over_channel(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("r6", 16, 64, 0);
    pid_t c = tc_spawn(rights_client, NULL);
    ipcx_channel *ch = tc_accept(p);
    char buf[300];

    ipcx_mailbox *mb = alloc_mb(R6_MSGS + 10, 64, IPCX_POLICY_ANY);
    /* Bad arguments. */
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, 0, BOUND), -EINVAL);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, 0x4, BOUND), -EINVAL);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND | 0x8, BOUND),
             -EINVAL);
    CHECK_RC(ipcx_channel_send_mailbox(NULL, mb, IPCX_RIGHT_SEND, BOUND),
             -EINVAL);
    CHECK_RC(ipcx_channel_send_mailbox(ch, NULL, IPCX_RIGHT_SEND, BOUND),
             -EINVAL);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, -1), -EINVAL);
    CHECK_RC(ipcx_channel_recv_mailbox(ch, NULL, 0), -EINVAL);
    ipcx_mailbox *none = SENTINEL_MB;
    CHECK_RC(ipcx_channel_recv_mailbox(NULL, &none, 0), -EINVAL);
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &none, -1), -EINVAL);
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &none, 0), -EAGAIN);
    CHECK(none == SENTINEL_MB);

    /* The client gets a send right and uses it. */
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    CHECK(ipcx_mailbox_rights(mb) == RIGHTS_ALL); /* we keep ours */
    tc_recv_str(ch, "sent", BOUND);
    for (int i = 0; i < R6_MSGS; i++) {
        char want[16];
        snprintf(want, sizeof want, "c%d", i);
        recv_str(mb, want, 0);
    }
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    /* The send right it handed back reaches the same mailbox. */
    ipcx_mailbox *back = recv_mb(ch, IPCX_RIGHT_SEND);
    send_str(back, "round trip");
    recv_str(mb, "round trip", 0);
    ipcx_mailbox_close(back);

    /* restrict(). */
    ipcx_mailbox *r = alloc_mb(8, 64, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_mailbox_restrict(NULL, IPCX_RIGHT_SEND), -EINVAL);
    CHECK_RC(ipcx_mailbox_restrict(r, 0), -EINVAL);
    CHECK_RC(ipcx_mailbox_restrict(r, 0x4), -EINVAL);
    CHECK_RC(ipcx_mailbox_restrict(r, IPCX_RIGHT_SEND | 0x4), -EINVAL);
    CHECK_RC(ipcx_mailbox_restrict(r, UINT32_MAX), -EINVAL);
    CHECK(ipcx_mailbox_rights(r) == RIGHTS_ALL);
    CHECK_RC(ipcx_mailbox_restrict(r, RIGHTS_ALL), 0);
    CHECK(ipcx_mailbox_rights(r) == RIGHTS_ALL);
    send_str(r, "queued");
    CHECK_RC(ipcx_mailbox_restrict(r, IPCX_RIGHT_SEND), 0);
    CHECK(ipcx_mailbox_rights(r) == IPCX_RIGHT_SEND);
    CHECK_RC(ipcx_mailbox_recv(r, buf, sizeof buf, 0), -EPERM);
    CHECK_RC(ipcx_mailbox_recv(r, buf, sizeof buf, BOUND), -EPERM);
    CHECK_RC(ipcx_mailbox_fd(r), -EPERM);
    send_str(r, "still sends");
    CHECK_RC(ipcx_mailbox_restrict(r, IPCX_RIGHT_RECV), -EINVAL);
    CHECK(ipcx_mailbox_rights(r) == IPCX_RIGHT_SEND);
    CHECK_RC(ipcx_mailbox_restrict(r, RIGHTS_ALL), 0); /* no way back */
    CHECK(ipcx_mailbox_rights(r) == IPCX_RIGHT_SEND);
    CHECK_RC(ipcx_mailbox_recv(r, buf, sizeof buf, 0), -EPERM);
    CHECK_RC(ipcx_channel_send_mailbox(ch, r, IPCX_RIGHT_RECV, BOUND), -EPERM);
    ipcx_mailbox_close(r);
    /* A receive-only handle. */
    r = alloc_mb(8, 64, IPCX_POLICY_ANY);
    send_str(r, "one");
    CHECK_RC(ipcx_mailbox_restrict(r, IPCX_RIGHT_RECV), 0);
    CHECK(ipcx_mailbox_rights(r) == IPCX_RIGHT_RECV);
    CHECK_RC(ipcx_mailbox_send(r, "x", 2, 0), -EPERM);
    CHECK_RC(ipcx_mailbox_send(r, "x", 2, BOUND), -EPERM);
    CHECK_RC(ipcx_channel_send_mailbox(ch, r, IPCX_RIGHT_SEND, BOUND), -EPERM);
    recv_str(r, "one", 0);
    CHECK(ipcx_mailbox_fd(r) >= 0);
    ipcx_mailbox_close(r);

    /* Moving the receive right. */
    ipcx_mailbox *mv = alloc_mb(64, 64, IPCX_POLICY_ANY);
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "before%d", i);
        send_str(mv, buf);
    }
    CHECK_RC(ipcx_channel_send_mailbox(ch, mv, IPCX_RIGHT_RECV, BOUND), 0);
    CHECK_RC(ipcx_mailbox_restrict(mv, IPCX_RIGHT_SEND), 0);
    CHECK_RC(ipcx_mailbox_recv(mv, buf, sizeof buf, 0), -EPERM);
    for (int i = 0; i < 50; i++) {
        snprintf(buf, sizeof buf, "after%d", i);
        send_str(mv, buf);
    }
    chan_str(ch, "moved");
    tc_recv_str(ch, "moved-ok", BOUND);
    ipcx_mailbox_close(mv);

    /* Closed while in flight. */
    ipcx_mailbox *orphan = alloc_mb(8, 64, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_channel_send_mailbox(ch, orphan, RIGHTS_ALL, BOUND), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "left%d", i);
        send_str(orphan, buf);
    }
    ipcx_mailbox_close(orphan);
    chan_str(ch, "orphan");
    tc_recv_str(ch, "orphan-ok", BOUND);

    /* Unbounded, grown by the client. */
    ipcx_mailbox *ub = alloc_mb(IPCX_UNBOUNDED, 256, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_channel_send_mailbox(ch, ub, IPCX_RIGHT_SEND, BOUND), 0);
    tc_recv_str(ch, "filled", IPCX_SEC(60));
    CHECK(tu_stat(ub).depth == (uint64_t)R6_BIG);
    for (int i = 0; i < R6_BIG; i++) {
        CHECK_RC(ipcx_mailbox_recv(ub, buf, sizeof buf, 0), 256);
        int k;
        memcpy(&k, buf, sizeof k);
        CHECK(k == i);
        CHECK(buf[255] == 'a' + i % 26);
    }
    CHECK_RC(ipcx_mailbox_recv(ub, buf, sizeof buf, 0), -EAGAIN);
    ipcx_mailbox_close(ub);

    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 20) == 0);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    leak_check();
}

/* ==== 7. a third process ================================================ */

#define T7_FDS 8

struct sh_third {
    _Atomic int ready; /* the server handed the mailbox over */
    _Atomic int done;
    _Atomic pid_t server, client;
    _Atomic int nfds;
    _Atomic int fds[T7_FDS]; /* the server's descriptors of the mailbox */
};
static struct sh_third *sht;

static void become_other(void)
{
    CHECK(setgroups(0, NULL) == 0);
    CHECK(setresgid(OTHER_GID, OTHER_GID, OTHER_GID) == 0);
    CHECK(setresuid(OTHER_UID, OTHER_UID, OTHER_UID) == 0);
    CHECK(geteuid() == OTHER_UID);
    CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0);
}

static int t7_namecheck(const char *name, void *arg)
{
    (void)arg;
    fprintf(stderr, "third process found mailbox '%s'\n", name);
    return 1;
}

/* Forked before the mailbox existed; no channel. */
static int t7_third(void *arg)
{
    (void)arg;
    tc_wait_step(&sht->ready, 1);
    /* Nothing in the namespace but the port. */
    CHECK_RC(ipcx_mailbox_list(t7_namecheck, NULL), 0);
    DIR *d = opendir(getenv("IPCX_DIR"));
    CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strstr(e->d_name, "port") == NULL) {
            fprintf(stderr, "third process sees '%s'\n", e->d_name);
            exit(1);
        }
    }
    closedir(d);
    if (geteuid() != 0) {
        atomic_store(&sht->done, 1);
        return 0;
    }
    pid_t s = atomic_load(&sht->server), c = atomic_load(&sht->client);
    char path[128];
    /* The paths are right: root itself may open them. */
    int opened = 0;
    for (int i = 0; i < atomic_load(&sht->nfds); i++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)s,
                 atomic_load(&sht->fds[i]));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        opened += fd >= 0;
        if (fd >= 0) {
            close(fd);
        }
    }
    CHECK(opened >= 1);
    /* Another user cannot reach the server's or the client's
     * descriptors through /proc. */
    become_other();
    pid_t who[2] = {s, c};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "/proc/%d/fd", (int)who[k]);
        DIR *pd = opendir(path);
        CHECK(pd == NULL && errno == EACCES);
    }
    for (int i = 0; i < atomic_load(&sht->nfds); i++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)s,
                 atomic_load(&sht->fds[i]));
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            fprintf(stderr, "uid %d opened %s\n", OTHER_UID, path);
            exit(1);
        }
        CHECK(errno == EACCES || errno == EPERM);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fd < 0 && (errno == EACCES || errno == EPERM));
    }
    snprintf(path, sizeof path, "/proc/%d/map_files", (int)s);
    CHECK(opendir(path) == NULL);
    atomic_store(&sht->done, 1);
    return 0;
}

static int t7_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("t7");
    ipcx_mailbox *mb = recv_mb(ch, IPCX_RIGHT_SEND);
    send_str(mb, "from the client");
    tc_recv_str(ch, "bye", IPCX_SEC(30));
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    return 0;
}

static void test_third_process(void)
{
    sub_ns(__func__);
    sht = tu_shared_map(sizeof *sht);
    if (geteuid() != 0) {
        printf("third_process: not root, the other-uid /proc part is "
               "skipped\n");
    }
    pid_t third = tc_spawn(t7_third, NULL); /* before the mailbox */
    atomic_store(&sht->server, getpid());
    ipcx_port *p = tc_listen("t7", 4, 64, 0);
    pid_t c = tc_spawn(t7_client, NULL);
    atomic_store(&sht->client, c);
    ipcx_channel *ch = tc_accept(p);
    struct fdset before;
    fd_snapshot(&before);
    ipcx_mailbox *mb = alloc_mb(8, 64, IPCX_POLICY_ANY);
    int fds[T7_FDS];
    int n = fd_new(&before, fds, T7_FDS);
    CHECK(n >= 1);
    int memfds = 0;
    for (int i = 0; i < n; i++) {
        char t[256];
        fd_target(fds[i], t, sizeof t);
        memfds += strstr(t, "memfd:") != NULL;
        atomic_store(&sht->fds[i], fds[i]);
    }
    CHECK(memfds == 1);
    atomic_store(&sht->nfds, n);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    recv_str(mb, "from the client", BOUND);
    atomic_store(&sht->ready, 1);
    CHECK(tu_wait_bounded(third, 20) == 0);
    CHECK(atomic_load(&sht->done) == 1);
    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 20) == 0);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* -- rights handed to and from a process of another user -- */

static int ou_client(void *arg)
{
    (void)arg;
    become_other();
    ipcx_channel *ch = tc_connect("ou");
    ipcx_mailbox *mb = recv_mb(ch, IPCX_RIGHT_SEND);
    send_str(mb, "from nobody");
    ipcx_mailbox_close(mb);
    mb = recv_mb(ch, IPCX_RIGHT_RECV);
    int fd = ipcx_mailbox_fd(mb);
    CHECK(fd >= 0);
    char buf[64];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    chan_str(ch, "armed");
    CHECK(readable_within(fd, 10000));
    recv_str(mb, "to nobody", 0);
    ipcx_mailbox_close(mb);
    /* The other way round: ours, handed to root. */
    ipcx_mailbox *own = alloc_mb(8, 64, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_channel_send_mailbox(ch, own, IPCX_RIGHT_SEND, BOUND), 0);
    recv_str(own, "from root", BOUND);
    ipcx_mailbox_close(own);
    tc_recv_str(ch, "bye", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

static void test_other_uid(void)
{
    sub_ns(__func__);
    if (geteuid() != 0) {
        printf("other_uid: not root, cannot switch users: skipped\n");
        return;
    }
    CHECK(chmod(top_ns, 0711) == 0);
    CHECK(chmod(getenv("IPCX_DIR"), 0711) == 0);
    ipcx_port *p = tc_listen("ou", 8, 64, 0666);
    pid_t c = tc_spawn(ou_client, NULL);
    ipcx_channel *ch = tc_accept(p);
    ipcx_peer peer;
    CHECK_RC(ipcx_channel_peer(ch, &peer), 0);
    CHECK(peer.uid == OTHER_UID);
    ipcx_mailbox *mb = alloc_mb(8, 64, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    recv_str(mb, "from nobody", BOUND);
    ipcx_mailbox *to = alloc_mb(8, 64, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_channel_send_mailbox(ch, to, IPCX_RIGHT_RECV, BOUND), 0);
    CHECK_RC(ipcx_mailbox_restrict(to, IPCX_RIGHT_SEND), 0);
    tc_recv_str(ch, "armed", BOUND);
    tu_pause_ms(2);
    send_str(to, "to nobody");
    ipcx_mailbox *theirs = recv_mb(ch, IPCX_RIGHT_SEND);
    send_str(theirs, "from root");
    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 20) == 0);
    ipcx_mailbox_close(theirs);
    ipcx_mailbox_close(to);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    CHECK(chmod(top_ns, 0700) == 0);
}

/* Mixed kinds received by several threads at once: each thread's look at
 * the next packet and its take are one step, so no thread takes (and
 * drops) a packet of the other kind. */
#define MT_EACH (3000 / SCALE)
static ipcx_channel *mt_ch;
static atomic_int mt_regions, mt_mailboxes, mt_errors, mt_done;

static int mt_sender(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("mt");
    ipcx_region *r;
    ipcx_mailbox *mb;
    CHECK_RC(ipcx_region_create_anon(4096, &r), 0);
    mb = alloc_mb(4, 64, IPCX_POLICY_ANY);
    for (int i = 0; i < MT_EACH; i++) {
        CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
        CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    }
    tc_recv_str(ch, "done", BOUND);
    return 0;
}

static void *mt_recv(void *arg)
{
    int want_region = arg != NULL;
    while (!atomic_load(&mt_done)) {
        int rc;
        if (want_region) {
            ipcx_region *r;
            if ((rc = ipcx_channel_recv_region(mt_ch, 0, &r, 0)) == 0) {
                atomic_fetch_add(&mt_regions, 1);
                ipcx_region_detach(r);
            }
        } else {
            ipcx_mailbox *m;
            if ((rc = ipcx_channel_recv_mailbox(mt_ch, &m, 0)) == 0) {
                atomic_fetch_add(&mt_mailboxes, 1);
                ipcx_mailbox_close(m);
            }
        }
        if (rc != 0 && rc != -EAGAIN && rc != -ENOMSG) {
            fprintf(stderr, "mixed kinds: %s (%s)\n", ipcx_strerror(rc),
                    ipcx_last_error());
            atomic_fetch_add(&mt_errors, 1);
        }
    }
    return NULL;
}

static void test_mixed_kinds_threads(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("mt", 8, 64, 0);
    pid_t c = tc_spawn(mt_sender, NULL);
    mt_ch = tc_accept(p);
    pthread_t t[3];
    CHECK(pthread_create(&t[0], NULL, mt_recv, "region") == 0);
    CHECK(pthread_create(&t[1], NULL, mt_recv, "region") == 0);
    CHECK(pthread_create(&t[2], NULL, mt_recv, NULL) == 0);
    for (int i = 0;
         i < 2000 &&
         atomic_load(&mt_regions) + atomic_load(&mt_mailboxes) < 2 * MT_EACH;
         i++) {
        tu_pause_ms(10);
    }
    atomic_store(&mt_done, 1);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
    }
    chan_str(mt_ch, "done");
    CHECK(tu_wait(c) == 0);
    CHECK(atomic_load(&mt_errors) == 0);
    CHECK(atomic_load(&mt_regions) == MT_EACH);
    CHECK(atomic_load(&mt_mailboxes) == MT_EACH);
    ipcx_channel_close(mt_ch);
    ipcx_port_close(p);
}

/* ==== 8. regions and mailboxes in one FIFO ============================== */

static int mix_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("k8");
    ipcx_mailbox *mb = SENTINEL_MB;
    ipcx_region *r = NULL;

    /* A region, then a mailbox. */
    tc_recv_str(ch, "region+mailbox", BOUND);
    int fds = count_fds();
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &mb, BOUND), -ENOMSG);
    CHECK(ipcx_last_error()[0] != '\0');
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &mb, 0), -ENOMSG);
    CHECK(mb == SENTINEL_MB);
    CHECK(count_fds() == fds); /* the peeked descriptor is not ours */
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, BOUND), 0);
    CHECK(ipcx_region_size(r) >= 4096);
    CHECK(strcmp(ipcx_region_addr(r), "the region") == 0);
    ipcx_region *r2 = NULL;
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r2, 0), -ENOMSG);
    CHECK(r2 == NULL);
    mb = recv_mb(ch, RIGHTS_ALL);
    recv_str(mb, "in the mailbox", 0);
    send_str(mb, "reply");
    chan_str(ch, "replied");
    ipcx_mailbox_close(mb);
    ipcx_region_detach(r);
    mb = SENTINEL_MB;
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &mb, 0), -EAGAIN);
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &mb, IPCX_MSEC(20)), -ETIMEDOUT);
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, 0), -EAGAIN);
    CHECK(mb == SENTINEL_MB);
    chan_str(ch, "phase1");

    /* A mailbox, then a region. */
    tc_recv_str(ch, "mailbox+region", BOUND);
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, BOUND), -ENOMSG);
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, BOUND), -ENOMSG);
    mb = recv_mb(ch, IPCX_RIGHT_SEND);
    CHECK_RC(ipcx_channel_recv_region(ch, 0, &r, BOUND), 0);
    CHECK(strcmp(ipcx_region_addr(r), "second region") == 0);
    send_str(mb, "second reply");
    ipcx_mailbox_close(mb);
    ipcx_region_detach(r);

    /* Messages and descriptors do not wait for each other. */
    tc_recv_str(ch, "m1", BOUND);
    tc_recv_str(ch, "m2", BOUND);
    mb = recv_mb(ch, IPCX_RIGHT_SEND);
    send_str(mb, "third reply");
    ipcx_mailbox_close(mb);

    /* The server sends one more and closes: it is still ours to take,
     * then -EPIPE. */
    tc_recv_str(ch, "last", BOUND);
    mb = recv_mb(ch, RIGHTS_ALL);
    recv_str(mb, "after close", BOUND);
    ipcx_mailbox_close(mb);
    mb = SENTINEL_MB;
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &mb, BOUND), -EPIPE);
    CHECK(mb == SENTINEL_MB);
    CHECK(count_fds() == fds);
    ipcx_channel_close(ch);
    return 0;
}

static void test_mixed_kinds(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("k8", 8, 64, 0);
    pid_t c = tc_spawn(mix_client, NULL);
    ipcx_channel *ch = tc_accept(p);

    /* A named mailbox does not travel. */
    CHECK_RC(ipcx_mailbox_create("named", NULL), 0);
    ipcx_mailbox *named = tu_open("named");
    CHECK_RC(ipcx_channel_send_mailbox(ch, named, IPCX_RIGHT_SEND, BOUND),
             -EINVAL);
    CHECK_RC(ipcx_channel_send_mailbox(ch, named, RIGHTS_ALL, 0), -EINVAL);
    CHECK(ipcx_last_error()[0] != '\0');
    ipcx_mailbox_close(named);
    CHECK_RC(ipcx_mailbox_destroy("named"), 0);

    ipcx_region *r = NULL;
    CHECK_RC(ipcx_region_create_anon(4096, &r), 0);
    strcpy(ipcx_region_addr(r), "the region");
    ipcx_mailbox *mb = alloc_mb(8, 64, IPCX_POLICY_ANY);
    send_str(mb, "in the mailbox");
    CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, RIGHTS_ALL, BOUND), 0);
    chan_str(ch, "region+mailbox");
    tc_recv_str(ch, "replied", BOUND); /* both of us may receive */
    recv_str(mb, "reply", 0);
    ipcx_region_detach(r);
    tc_recv_str(ch, "phase1", BOUND);

    CHECK_RC(ipcx_region_create_anon(4096, &r), 0);
    strcpy(ipcx_region_addr(r), "second region");
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    CHECK_RC(ipcx_channel_send_region(ch, r, BOUND), 0);
    chan_str(ch, "mailbox+region");
    recv_str(mb, "second reply", BOUND);
    ipcx_region_detach(r);

    chan_str(ch, "m1");
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    chan_str(ch, "m2");
    recv_str(mb, "third reply", BOUND);
    ipcx_mailbox_close(mb);

    mb = alloc_mb(8, 64, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, RIGHTS_ALL, BOUND), 0);
    send_str(mb, "after close");
    chan_str(ch, "last");
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    CHECK(tu_wait_bounded(c, 20) == 0);
    ipcx_port_close(p);
    leak_check();
}

/* -- garbage from a hostile peer: -EPROTO, dropped, nothing leaks -- */

struct fdmsg { /* the wire format of src/channel/fdpass.c */
    uint32_t magic, kind, arg, nfd;
};
#define FDMSG_MAGIC   0x44465843u
#define FDMSG_MAILBOX 2u

static void raw_send(int sock, uint32_t kind, uint32_t rights, const int *fds,
                     int nfd)
{
    struct fdmsg m = {FDMSG_MAGIC, kind, rights, (uint32_t)nfd};
    struct iovec iov = {&m, sizeof m};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfd > 0) {
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)nfd * sizeof(int));
    }
    CHECK(sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof m);
}

#define GARBAGE 7

static int garbage_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("gb");
    tc_recv_str(ch, "sent", BOUND);
    int fds = count_fds();
    for (int i = 0; i < GARBAGE; i++) {
        ipcx_mailbox *mb = SENTINEL_MB;
        int rc = ipcx_channel_recv_mailbox(ch, &mb, BOUND);
        if (rc != -EPROTO) {
            fprintf(stderr, "garbage %d: recv_mailbox %d (%s), want -EPROTO\n",
                    i, rc, ipcx_strerror(rc));
            exit(1);
        }
        CHECK(mb == SENTINEL_MB);
        CHECK(count_fds() == fds);
    }
    /* The good one after the garbage. */
    ipcx_mailbox *mb = recv_mb(ch, IPCX_RIGHT_SEND);
    send_str(mb, "good");
    ipcx_mailbox_close(mb);
    CHECK(count_fds() == fds);
    tc_recv_str(ch, "bye", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

static void test_garbage_dropped(void)
{
    sub_ns(__func__);
    ipcx_port *p = tc_listen("gb", 8, 64, 0);
    pid_t c = tc_spawn(garbage_client, NULL);
    ipcx_channel *ch = tc_accept(p);
    int sock = ch->sock;

    /* A real mailbox's memfd, to pair with bad bells and rights. */
    struct fdset before;
    fd_snapshot(&before);
    ipcx_mailbox *mb = alloc_mb(8, 64, IPCX_POLICY_ANY);
    int nf[4], memfd = -1, efd = -1;
    int n = fd_new(&before, nf, 4);
    for (int i = 0; i < n; i++) {
        char t[256];
        fd_target(nf[i], t, sizeof t);
        if (strstr(t, "memfd:") != NULL) {
            memfd = nf[i];
        } else if (strstr(t, "eventfd") != NULL) {
            efd = nf[i];
        }
    }
    CHECK(memfd >= 0 && efd >= 0);

    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    int plain = memfd_create("not-a-mailbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(plain >= 0 && ftruncate(plain, 1 << 20) == 0);
    int sealed = memfd_create("not-a-mailbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(sealed >= 0 && ftruncate(sealed, 1 << 20) == 0);
    CHECK(fcntl(sealed, F_ADD_SEALS,
                F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0);
    int ev = eventfd(0, EFD_CLOEXEC);
    CHECK(ev >= 0);

    int f[2];
    f[0] = plain, f[1] = ev; /* unsealed: a holder could shrink it */
    raw_send(sock, FDMSG_MAILBOX, IPCX_RIGHT_SEND, f, 2);
    f[0] = sealed, f[1] = ev; /* sealed, but no mailbox in it */
    raw_send(sock, FDMSG_MAILBOX, IPCX_RIGHT_SEND, f, 2);
    f[0] = memfd, f[1] = pipefd[0]; /* a bell that is no eventfd */
    raw_send(sock, FDMSG_MAILBOX, IPCX_RIGHT_SEND, f, 2);
    f[0] = memfd, f[1] = efd; /* no rights */
    raw_send(sock, FDMSG_MAILBOX, 0, f, 2);
    raw_send(sock, FDMSG_MAILBOX, 0x8, f, 2);             /* unknown rights */
    raw_send(sock, FDMSG_MAILBOX, IPCX_RIGHT_SEND, f, 1); /* no bell */
    /* An empty packet from a live peer: garbage, not a hang-up. */
    CHECK(send(sock, "", 0, MSG_NOSIGNAL) == 0);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    chan_str(ch, "sent");
    recv_str(mb, "good", BOUND);
    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 20) == 0);
    close(pipefd[0]);
    close(pipefd[1]);
    close(plain);
    close(sealed);
    close(ev);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* ==== 9. the descriptor of a received mailbox =========================== */

#define FD_ROUNDS 50

struct sh_fd {
    _Atomic int armed; /* the waiting side: rounds armed */
    _Atomic int got;   /* ... rounds received */
};
static struct sh_fd *shf;

static int fd_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("fd9");
    /* a) We hold the receive right; the server sends. */
    ipcx_mailbox *mb = recv_mb(ch, IPCX_RIGHT_RECV);
    int fd = ipcx_mailbox_fd(mb);
    CHECK(fd >= 0);
    CHECK(ipcx_mailbox_fd(mb) == fd);
    uint32_t v;
    for (int r = 1; r <= FD_ROUNDS; r++) {
        CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EAGAIN);
        CHECK(!tu_readable(fd));
        atomic_store(&shf->armed, r);
        if (!readable_within(fd, 10000)) {
            fprintf(stderr, "round %d: fd quiet for 10 s\n", r);
            exit(1);
        }
        CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), sizeof v);
        CHECK(v == (uint32_t)r);
        atomic_store(&shf->got, r);
    }
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EAGAIN);
    CHECK(!tu_readable(fd));
    /* ipcx_poll() on it beside the channel: only the mailbox is named. */
    ipcx_pollitem it[2] = {ipcx_poll_mailbox(mb), ipcx_poll_channel(ch)};
    atomic_store(&shf->armed, FD_ROUNDS + 1);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_poll(it, 2, BOUND), 1);
    CHECK(tu_now_ns() - t0 < IPCX_SEC(2)); /* woken, not timed out */
    CHECK(it[0].revents == IPCX_POLLIN && it[1].revents == 0);
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), sizeof v);
    CHECK(v == FD_ROUNDS + 1);
    ipcx_mailbox_close(mb);

    /* b) The server holds the receive right; we send. */
    mb = recv_mb(ch, IPCX_RIGHT_SEND);
    for (int r = 1; r <= FD_ROUNDS; r++) {
        tc_wait_step(&shf->armed, FD_ROUNDS + 1 + r);
        if (r % 2) {
            tu_pause_us(2000);
        }
        v = (uint32_t)r;
        CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, BOUND), 0);
    }
    ipcx_mailbox_close(mb);
    tc_recv_str(ch, "bye", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

static void test_anon_fd_across(void)
{
    sub_ns(__func__);
    shf = tu_shared_map(sizeof *shf);
    ipcx_port *p = tc_listen("fd9", 8, 64, 0);
    pid_t c = tc_spawn(fd_client, NULL);
    ipcx_channel *ch = tc_accept(p);

    ipcx_mailbox *mb = alloc_mb(8, 64, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_RECV, BOUND), 0);
    CHECK_RC(ipcx_mailbox_restrict(mb, IPCX_RIGHT_SEND), 0);
    long long worst = 0;
    for (int r = 1; r <= FD_ROUNDS; r++) {
        tc_wait_step(&shf->armed, r);
        if (r % 2) {
            tu_pause_us(2000); /* the client is asleep in poll() */
        }
        long long t0 = tu_now_ns();
        uint32_t v = (uint32_t)r;
        CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, BOUND), 0);
        tc_wait_step(&shf->got, r);
        long long dt = (tu_now_ns() - t0) / 1000;
        worst = dt > worst ? dt : worst;
    }
    tc_wait_step(&shf->armed, FD_ROUNDS + 1);
    tu_pause_us(2000);
    uint32_t v = FD_ROUNDS + 1;
    CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, BOUND), 0);
    ipcx_mailbox_close(mb);
    printf("anon_fd_across: client's fd, slowest send-to-receive %lld us\n",
           worst);

    /* b) our own fd, rung by the client. */
    mb = alloc_mb(8, 64, IPCX_POLICY_ANY);
    int fd = ipcx_mailbox_fd(mb);
    CHECK(fd >= 0);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    for (int r = 1; r <= FD_ROUNDS; r++) {
        CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EAGAIN);
        CHECK(!tu_readable(fd));
        atomic_store(&shf->armed, FD_ROUNDS + 1 + r);
        if (!readable_within(fd, 10000)) {
            fprintf(stderr, "round %d: own fd quiet for 10 s\n", r);
            exit(1);
        }
        CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), sizeof v);
        CHECK(v == (uint32_t)r);
    }
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EAGAIN);
    CHECK(!tu_readable(fd));
    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 20) == 0);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* ==== 10. leaks ========================================================= */

#define LEAK_CYCLES 2000

struct sh_leak {
    _Atomic int client_fds0, client_fds1, client_maps0, client_maps1;
};
static struct sh_leak *shk;

static void leak_cycle_client(ipcx_channel *ch, int i)
{
    ipcx_mailbox *mb = NULL;
    CHECK_RC(ipcx_channel_recv_mailbox(ch, &mb, BOUND), 0);
    CHECK(ipcx_mailbox_rights(mb) & IPCX_RIGHT_SEND);
    CHECK_RC(ipcx_mailbox_send(mb, &i, sizeof i, BOUND), 0);
    if (i % 3 == 0) {
        CHECK(ipcx_mailbox_rights(mb) == RIGHTS_ALL);
        CHECK(ipcx_mailbox_fd(mb) >= 0);
    }
    ipcx_mailbox_close(mb);
}

static int leak_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("lk");
    leak_cycle_client(ch, 0); /* warm-up: lazily made things */
    atomic_store(&shk->client_fds0, count_fds());
    atomic_store(&shk->client_maps0, count_memfd_maps());
    for (int i = 1; i <= LEAK_CYCLES; i++) {
        leak_cycle_client(ch, i);
    }
    atomic_store(&shk->client_fds1, count_fds());
    atomic_store(&shk->client_maps1, count_memfd_maps());
    leak_check();
    tc_recv_str(ch, "bye", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

static void leak_cycle(ipcx_channel *ch, int i)
{
    ipcx_mailbox *mb = NULL;
    ipcx_mailbox_attr a =
        tu_attr(i % 2 ? 4 : IPCX_UNBOUNDED, i % 5 ? 64 : 4096);
    CHECK_RC(ipcx_mailbox_allocate(&a, &mb), 0);
    if (i % 4 == 1) {
        CHECK(ipcx_mailbox_fd(mb) >= 0);
    }
    unsigned rights = i % 3 == 0 ? RIGHTS_ALL : IPCX_RIGHT_SEND;
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, rights, BOUND), 0);
    int v = -1;
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, BOUND), sizeof v);
    CHECK(v == i);
    ipcx_mailbox_close(mb);
}

static void test_no_leaks(void)
{
    sub_ns(__func__);
    shk = tu_shared_map(sizeof *shk);
    ipcx_port *p = tc_listen("lk", 8, 64, 0);
    pid_t c = tc_spawn(leak_client, NULL);
    ipcx_channel *ch = tc_accept(p);
    leak_cycle(ch, 0);
    int fds0 = count_fds(), maps0 = count_memfd_maps();
    long long t0 = tu_now_ns();
    for (int i = 1; i <= LEAK_CYCLES; i++) {
        leak_cycle(ch, i);
    }
    long long ms = (tu_now_ns() - t0) / 1000000;
    int fds1 = count_fds(), maps1 = count_memfd_maps();
    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 30) == 0);
    printf("no_leaks: %d cycles in %lld ms; server fds %d -> %d, memfd maps "
           "%d -> %d; client fds %d -> %d, maps %d -> %d\n",
           LEAK_CYCLES, ms, fds0, fds1, maps0, maps1,
           atomic_load(&shk->client_fds0), atomic_load(&shk->client_fds1),
           atomic_load(&shk->client_maps0), atomic_load(&shk->client_maps1));
    CHECK(fds1 == fds0);
    CHECK(maps1 == maps0);
    CHECK(atomic_load(&shk->client_fds1) == atomic_load(&shk->client_fds0));
    CHECK(atomic_load(&shk->client_maps1) == atomic_load(&shk->client_maps0));
    ipcx_channel_close(ch);
    ipcx_port_close(p);
    leak_check();
}

/* ==== 11. holders in different processes are told apart ================ */

struct sh_hold {
    _Atomic int step;
    _Atomic int rc;
};
static struct sh_hold *shh;

static int nopen_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("np");
    ipcx_mailbox *mb = recv_mb(ch, RIGHTS_ALL);
    atomic_store(&shh->step, 1);
    tc_recv_str(ch, "close", BOUND);
    ipcx_mailbox_close(mb);
    atomic_store(&shh->step, 2);
    tc_recv_str(ch, "bye", BOUND);
    ipcx_channel_close(ch);
    return 0;
}

/* ipcx_mailbox_info.nopen: "live processes with a handle open". */
static void test_anon_nopen(void)
{
    sub_ns(__func__);
    shh = tu_shared_map(sizeof *shh);
    ipcx_port *p = tc_listen("np", 8, 64, 0);
    pid_t c = tc_spawn(nopen_client, NULL);
    ipcx_channel *ch = tc_accept(p);
    ipcx_mailbox *mb = alloc_mb(8, 64, IPCX_POLICY_ANY);
    CHECK(tu_stat(mb).nopen == 1);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, RIGHTS_ALL, BOUND), 0);
    tc_wait_step(&shh->step, 1);
    uint32_t n = tu_stat(mb).nopen;
    if (n != 2) {
        fprintf(stderr,
                "two processes hold the anonymous mailbox, stat says nopen "
                "%u\n",
                n);
        exit(1);
    }
    chan_str(ch, "close");
    tc_wait_step(&shh->step, 2);
    CHECK(tu_stat(mb).nopen == 1);
    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 20) == 0);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

static int excl_client(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("ex");
    ipcx_mailbox *mb = recv_mb(ch, IPCX_RIGHT_RECV);
    char buf[64];
    /* The server, alive, holds the receive right. */
    atomic_store(&shh->rc, (int)ipcx_mailbox_recv(mb, buf, sizeof buf, 0));
    atomic_store(&shh->step, 1);
    tc_recv_str(ch, "released", BOUND);
    recv_str(mb, "for the client", 0);
    atomic_store(&shh->step, 2);
    tc_recv_str(ch, "bye", BOUND);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    return 0;
}

/* An exclusive anonymous mailbox: a live holder keeps its receive right. */
static void test_anon_exclusive(void)
{
    sub_ns(__func__);
    shh = tu_shared_map(sizeof *shh);
    ipcx_port *p = tc_listen("ex", 8, 64, 0);
    pid_t c = tc_spawn(excl_client, NULL);
    ipcx_channel *ch = tc_accept(p);
    ipcx_mailbox *mb = alloc_mb(8, 64, IPCX_POLICY_EXCLUSIVE);
    char buf[64];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    CHECK(tu_stat(mb).receiver == getpid());
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_RECV, BOUND), 0);
    tc_wait_step(&shh->step, 1);
    int rc = atomic_load(&shh->rc);
    pid_t holder = tu_stat(mb).receiver;
    if (rc != -EBUSY || holder != getpid()) {
        fprintf(stderr,
                "the client's receive answered %d (%s), not -EBUSY; the "
                "right is now held by pid %d (server %d, client %d)\n",
                rc, ipcx_strerror(rc), (int)holder, (int)getpid(), (int)c);
        ipcx_mailbox_close(mb); /* no leak report to blur the failure */
        exit(1);
    }
    CHECK_RC(ipcx_mailbox_release(mb), 0);
    send_str(mb, "for the client");
    chan_str(ch, "released");
    tc_wait_step(&shh->step, 2);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EBUSY);
    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 20) == 0);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* -- exactly once, with payloads a live peer is busy writing -- */

#define EO_SIZE 16384
#define EO_MSGS (20000 / SCALE)

struct eo_msg {
    uint32_t seq, sum;
    unsigned char pad[EO_SIZE - 8];
};

static uint32_t eo_fill(struct eo_msg *m, uint32_t seq)
{
    m->seq = seq;
    uint32_t s = seq * 2654435761u;
    for (size_t i = 0; i < sizeof m->pad; i++) {
        m->pad[i] = (unsigned char)(s >> (i % 24));
    }
    return m->sum = seq ^ 0xa5a5a5a5u;
}

static int eo_ok(const struct eo_msg *m)
{
    uint32_t s = m->seq * 2654435761u;
    if (m->sum != (m->seq ^ 0xa5a5a5a5u)) {
        return 0;
    }
    for (size_t i = 0; i < sizeof m->pad; i++) {
        if (m->pad[i] != (unsigned char)(s >> (i % 24))) {
            return 0;
        }
    }
    return 1;
}

static int eo_sender(void *arg)
{
    (void)arg;
    ipcx_channel *ch = tc_connect("eo");
    ipcx_mailbox *mb = recv_mb(ch, IPCX_RIGHT_SEND);
    struct eo_msg *m = malloc(sizeof *m);
    CHECK(m != NULL);
    for (uint32_t i = 0; i < EO_MSGS; i++) {
        eo_fill(m, i);
        int rc = ipcx_mailbox_send(mb, m, sizeof *m, BOUND);
        if (rc == -ETIMEDOUT && atomic_load(&shh->step) < 0) {
            break; /* the receiver failed; it says why */
        }
        CHECK_RC(rc, 0);
    }
    free(m);
    ipcx_mailbox_close(mb);
    tc_recv_str(ch, "bye", IPCX_SEC(60));
    ipcx_channel_close(ch);
    return 0;
}

static void eo_run(uint32_t cap)
{
    shh = tu_shared_map(sizeof *shh);
    ipcx_port *p = tc_listen("eo", 8, 64, 0);
    pid_t c = tc_spawn(eo_sender, NULL);
    ipcx_channel *ch = tc_accept(p);
    ipcx_mailbox *mb = alloc_mb(cap, EO_SIZE, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_channel_send_mailbox(ch, mb, IPCX_RIGHT_SEND, BOUND), 0);
    struct eo_msg *m = malloc(sizeof *m);
    CHECK(m != NULL);
    ipcx_pollitem it = ipcx_poll_mailbox(mb);
    uint32_t want = 0;
    long long t0 = tu_now_ns();
    while (want < EO_MSGS) {
        long n = ipcx_mailbox_recv(mb, m, sizeof *m, 0);
        if (n == -EAGAIN) {
            long long p0 = tu_now_ns();
            int rc = ipcx_poll(&it, 1, IPCX_SEC(5));
            if (rc == -ETIMEDOUT || tu_now_ns() - p0 > IPCX_SEC(2)) {
                fprintf(stderr, "nothing for 5 s after %u of %u messages\n",
                        want, (unsigned)EO_MSGS);
                atomic_store(&shh->step, -1);
                exit(1);
            }
            CHECK_RC(rc, 1);
            continue;
        }
        CHECK_RC(n, sizeof *m);
        if (m->seq != want || !eo_ok(m)) {
            fprintf(stderr, "capacity %u: message %u arrived as seq %u (%s)\n",
                    cap, want, m->seq,
                    m->seq != want ? "lost or duplicated" : "corrupt payload");
            atomic_store(&shh->step, -1);
            exit(1);
        }
        want++;
    }
    printf("anon_exactly_once cap %u: %u x %d bytes in %lld ms\n", cap, want,
           EO_SIZE, (tu_now_ns() - t0) / 1000000);
    chan_str(ch, "bye");
    CHECK(tu_wait_bounded(c, 30) == 0);
    free(m);
    ipcx_mailbox_close(mb);
    ipcx_channel_close(ch);
    ipcx_port_close(p);
}

/* Capacity 4: the sender reuses slots right behind the reader. */
static void test_anon_exactly_once_small(void)
{
    sub_ns(__func__);
    eo_run(4);
}

/* Capacity 64: the reader mostly takes slots right behind the writer. */
static void test_anon_exactly_once(void)
{
    sub_ns(__func__);
    eo_run(64);
}

int main(void)
{
    top_ns = tu_private_ns();
    setvbuf(stdout, NULL, _IOLBF, 0);
    TU_RUN(test_allocate_local);
    TU_RUN(test_rights_over_channel);
    TU_RUN(test_third_process);
    TU_RUN(test_other_uid);
    TU_RUN(test_mixed_kinds);
    TU_RUN(test_mixed_kinds_threads);
    TU_RUN(test_garbage_dropped);
    TU_RUN(test_anon_fd_across);
    TU_RUN(test_no_leaks);
    TU_RUN(test_anon_nopen);
    TU_RUN(test_anon_exclusive);
    TU_RUN(test_anon_exactly_once_small);
    TU_RUN(test_anon_exactly_once);
    return tu_failures > 0;
}
