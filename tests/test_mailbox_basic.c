/*
 * test_mailbox_basic.c - the mailbox life cycle and the single-process
 * semantics of ipcx/mailbox.h: create/open/close/destroy, attributes and
 * their limits, variable-size messages (M1), non-blocking and timed calls
 * (M5), bounded capacity using all n slots (M6, S4), FIFO (M7), stat, list,
 * and destroy while open, with blocked peers in other processes.
 */
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ns;

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
    }
}

static int same(const uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != (uint8_t)(seed * 131u + i * 7u + (i >> 8))) {
            return 0;
        }
    }
    return 1;
}

static ipcx_mailbox_attr mk_attr(uint32_t cap, uint32_t msg, uint32_t mode,
                                 uint32_t policy)
{
    ipcx_mailbox_attr a = tu_attr(cap, msg);
    a.mode = mode;
    a.policy = policy;
    return a;
}

static void send_u32(ipcx_mailbox *mb, uint32_t v)
{
    CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, 0), 0);
}

static uint32_t recv_u32(ipcx_mailbox *mb)
{
    uint32_t v = 0;
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), sizeof v);
    return v;
}

/* ---- directory helpers ------------------------------------------------ */

#define MAX_ENTRIES 256

struct listing {
    int n;
    char names[MAX_ENTRIES][256];
};

static void list_dir(struct listing *l)
{
    DIR *d = opendir(ns);
    CHECK(d != NULL);
    l->n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        CHECK(l->n < MAX_ENTRIES);
        snprintf(l->names[l->n++], 256, "%s", e->d_name);
    }
    closedir(d);
}

static int in_listing(const struct listing *l, const char *s)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->names[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

static int same_listing(const struct listing *a, const struct listing *b)
{
    if (a->n != b->n) {
        return 0;
    }
    for (int i = 0; i < a->n; i++) {
        if (!in_listing(b, a->names[i])) {
            return 0;
        }
    }
    return 1;
}

/*
 * The file that appeared for mailbox NAME between BEFORE and now: the one
 * new entry whose name contains NAME (its exact file name is the library's
 * business).
 */
static void mailbox_file(const struct listing *before, const char *name,
                         char *path, size_t len)
{
    struct listing now;
    list_dir(&now);
    int found = 0;
    for (int i = 0; i < now.n; i++) {
        if (!in_listing(before, now.names[i]) &&
            strstr(now.names[i], name) != NULL) {
            snprintf(path, len, "%s/%s", ns, now.names[i]);
            found++;
        }
    }
    if (found != 1) {
        fprintf(stderr, "expected one new file for '%s', found %d\n", name,
                found);
        exit(1);
    }
}

/* ---- list --------------------------------------------------------------- */

struct names {
    int n;
    int calls;
    int stop_after;
    char v[16][64];
};

static int collect(const char *name, void *arg)
{
    struct names *s = arg;
    s->calls++;
    CHECK(name != NULL);
    CHECK_RC(ipcx_name_check(name), 0);
    CHECK(s->n < 16);
    snprintf(s->v[s->n++], 64, "%s", name);
    if (s->stop_after > 0 && s->calls == s->stop_after) {
        return 42;
    }
    return 0;
}

static int has_name(const struct names *s, const char *name)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) {
        k += strcmp(s->v[i], name) == 0;
    }
    return k;
}

/* Runs first, in the empty namespace. */
static void test_list(void)
{
    struct names s = {0};
    CHECK_RC(ipcx_mailbox_list(collect, &s), 0);
    CHECK(s.n == 0);

    CHECK_RC(ipcx_mailbox_create("la", NULL), 0);
    ipcx_mailbox_attr a = mk_attr(0, 16, 0600, IPCX_POLICY_PAIR);
    CHECK_RC(ipcx_mailbox_create("lb", &a), 0);
    a = mk_attr(IPCX_UNBOUNDED, 16, 0644, IPCX_POLICY_EXCLUSIVE);
    CHECK_RC(ipcx_mailbox_create("lc.x-y_z", &a), 0);
    ipcx_mailbox *mb = tu_open("la"); /* an open handle changes nothing */

    memset(&s, 0, sizeof s);
    CHECK_RC(ipcx_mailbox_list(collect, &s), 0);
    CHECK(s.n == 3);
    CHECK(has_name(&s, "la") == 1);
    CHECK(has_name(&s, "lb") == 1);
    CHECK(has_name(&s, "lc.x-y_z") == 1);

    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    CHECK_RC(ipcx_mailbox_list(collect, &s), 42);
    CHECK(s.calls == 2);

    CHECK_RC(ipcx_mailbox_destroy("lb"), 0);
    memset(&s, 0, sizeof s);
    CHECK_RC(ipcx_mailbox_list(collect, &s), 0);
    CHECK(s.n == 2);
    CHECK(has_name(&s, "la") == 1);
    CHECK(has_name(&s, "lc.x-y_z") == 1);

    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("la"), 0);
    CHECK_RC(ipcx_mailbox_destroy("lc.x-y_z"), 0);
    memset(&s, 0, sizeof s);
    CHECK_RC(ipcx_mailbox_list(collect, &s), 0);
    CHECK(s.n == 0);
}

/* ---- life cycle and attributes ---------------------------------------- */

static void test_defaults(void)
{
    ipcx_mailbox_attr a;
    memset(&a, 0x5a, sizeof a);
    ipcx_mailbox_attr_init(&a);
    CHECK(a.capacity == IPCX_DEFAULT_CAPACITY);
    CHECK(a.policy == IPCX_POLICY_ANY);
    CHECK(a.max_msg_size == 0 || a.max_msg_size == IPCX_DEFAULT_MSG_SIZE);
    CHECK(a.mode == 0 || a.mode == 0600);
    CHECK(a.max_bytes == 0 || a.max_bytes == IPCX_DEFAULT_MAX_BYTES);
    for (int i = 0; i < 6; i++) {
        CHECK(a.reserved[i] == 0);
    }

    CHECK_RC(ipcx_mailbox_create("defaults", NULL), 0);
    ipcx_mailbox_info st;
    memset(&st, 0x77, sizeof st);
    CHECK_RC(ipcx_mailbox_stat_name("defaults", &st), 0);
    CHECK(st.capacity == IPCX_DEFAULT_CAPACITY);
    CHECK(st.max_msg_size == IPCX_DEFAULT_MSG_SIZE);
    CHECK(st.policy == IPCX_POLICY_ANY);
    CHECK(st.mode == 0600);
    CHECK(st.uid == getuid());
    CHECK(st.gid == getgid());
    CHECK(st.depth == 0);
    CHECK(st.sent == 0);
    CHECK(st.received == 0);
    CHECK(st.nopen == 0);
    CHECK(st.send_waiting == 0);
    CHECK(st.recv_waiting == 0);
    CHECK(st.receiver == 0);
    CHECK(st.destroyed == 0);

    /* Zeroes in an initialised attr mean the defaults too. */
    a = mk_attr(3, 0, 0, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_mailbox_create("zeroes", &a), 0);
    CHECK_RC(ipcx_mailbox_stat_name("zeroes", &st), 0);
    CHECK(st.capacity == 3);
    CHECK(st.max_msg_size == IPCX_DEFAULT_MSG_SIZE);
    CHECK(st.mode == 0600);
    a = mk_attr(IPCX_UNBOUNDED, 0, 0, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_mailbox_create("zeroes-unb", &a), 0);
    CHECK_RC(ipcx_mailbox_stat_name("zeroes-unb", &st), 0);
    CHECK(st.capacity == IPCX_UNBOUNDED);
    CHECK(st.max_bytes == IPCX_DEFAULT_MAX_BYTES);

    ipcx_mailbox *mb = tu_open("defaults");
    CHECK(ipcx_mailbox_max_msg_size(mb) == IPCX_DEFAULT_MSG_SIZE);
    st = tu_stat(mb);
    CHECK(st.nopen == 1);
    CHECK(st.capacity == IPCX_DEFAULT_CAPACITY);
    const char hello[] = "hello, mailbox";
    CHECK_RC(ipcx_mailbox_send(mb, hello, sizeof hello, 0), 0);
    char out[64];
    memset(out, 0, sizeof out);
    CHECK_RC(ipcx_mailbox_recv(mb, out, sizeof out, 0), sizeof hello);
    CHECK(memcmp(out, hello, sizeof hello) == 0);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_close(NULL), 0);

    /* Messages outlive the handles that queued them. */
    mb = tu_open("defaults");
    send_u32(mb, 99);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_stat_name("defaults", &st), 0);
    CHECK(st.depth == 1);
    CHECK(st.nopen == 0);
    mb = tu_open("defaults");
    CHECK(recv_u32(mb) == 99);
    CHECK_RC(ipcx_mailbox_close(mb), 0);

    CHECK_RC(ipcx_mailbox_destroy("defaults"), 0);
    CHECK_RC(ipcx_mailbox_destroy("zeroes"), 0);
    CHECK_RC(ipcx_mailbox_destroy("zeroes-unb"), 0);
}

static void test_exists_missing(void)
{
    ipcx_mailbox_attr a = mk_attr(4, 32, 0600, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_mailbox_create("dup", &a), 0);
    ipcx_mailbox *mb = tu_open("dup");
    send_u32(mb, 7);
    ipcx_mailbox_info before = tu_stat(mb);

    ipcx_mailbox_attr b = mk_attr(9, 64, 0666, IPCX_POLICY_PAIR);
    CHECK_RC(ipcx_mailbox_create("dup", &b), -EEXIST);
    CHECK(ipcx_last_error()[0] != '\0');
    CHECK_RC(ipcx_mailbox_create("dup", NULL), -EEXIST);
    ipcx_mailbox_info after = tu_stat(mb);
    CHECK(after.id == before.id);
    CHECK(after.capacity == 4);
    CHECK(after.max_msg_size == 32);
    CHECK(after.mode == 0600);
    CHECK(after.policy == IPCX_POLICY_ANY);
    CHECK(after.depth == 1);
    CHECK(recv_u32(mb) == 7);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("dup"), 0);

    ipcx_mailbox *out = NULL;
    CHECK_RC(ipcx_mailbox_open("missing", 0, &out), -ENOENT);
    CHECK(out == NULL);
    CHECK(ipcx_last_error()[0] != '\0');
    CHECK_RC(ipcx_mailbox_destroy("missing"), -ENOENT);
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name("missing", &st), -ENOENT);

    /* open: flags must be 0, out must be given. */
    CHECK_RC(ipcx_mailbox_create("flags", NULL), 0);
    CHECK_RC(ipcx_mailbox_open("flags", 1, &out), -EINVAL);
    CHECK_RC(ipcx_mailbox_open("flags", -1, &out), -EINVAL);
    CHECK(out == NULL);
    CHECK_RC(ipcx_mailbox_open("flags", 0, NULL), -EINVAL);
    CHECK_RC(ipcx_mailbox_stat_name("flags", NULL), -EINVAL);
    CHECK_RC(ipcx_mailbox_stat_name("flags", &st), 0);
    CHECK(st.nopen == 0);
    CHECK_RC(ipcx_mailbox_destroy("flags"), 0);
}

static void expect_bad_attr(const ipcx_mailbox_attr *a, const char *what)
{
    struct listing before, after;
    list_dir(&before);
    int rc = ipcx_mailbox_create("badattr", a);
    if (rc != -EINVAL) {
        fprintf(stderr, "bad attribute (%s): create returned %d (%s)\n", what,
                rc, ipcx_strerror(rc));
        exit(1);
    }
    if (ipcx_last_error()[0] == '\0') {
        fprintf(stderr, "bad attribute (%s): no ipcx_last_error()\n", what);
        exit(1);
    }
    list_dir(&after);
    CHECK(same_listing(&before, &after));
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name("badattr", &st), -ENOENT);
}

static void test_bad_attrs(void)
{
    ipcx_mailbox_attr a;
    a = mk_attr(IPCX_CAPACITY_MAX + 1, 0, 0, 0);
    expect_bad_attr(&a, "capacity max+1");
    a = mk_attr(UINT32_MAX - 1, 0, 0, 0);
    expect_bad_attr(&a, "capacity UINT32_MAX-1");
    a = mk_attr(4, IPCX_MSG_SIZE_MAX + 1, 0, 0);
    expect_bad_attr(&a, "max_msg_size max+1");
    a = mk_attr(4, UINT32_MAX, 0, 0);
    expect_bad_attr(&a, "max_msg_size UINT32_MAX");
    a = mk_attr(4, 0, 0, 3);
    expect_bad_attr(&a, "policy 3");
    a = mk_attr(4, 0, 0, UINT32_MAX);
    expect_bad_attr(&a, "policy UINT32_MAX");
    a = mk_attr(4, 0, 010000, 0);
    expect_bad_attr(&a, "mode 010000");
    a = mk_attr(4, 0, 0100600, 0);
    expect_bad_attr(&a, "mode S_IFREG|0600");
    a = mk_attr(4, 0, UINT32_MAX, 0);
    expect_bad_attr(&a, "mode UINT32_MAX");
    for (int i = 0; i < 6; i++) {
        a = mk_attr(4, 0, 0, 0);
        a.reserved[i] = 1;
        expect_bad_attr(&a, "reserved word set");
    }
    a = mk_attr(IPCX_UNBOUNDED, 4096, 0, 0);
    a.max_bytes = IPCX_MAX_BYTES_LIMIT + 1;
    expect_bad_attr(&a, "max_bytes limit+1");
    a.max_bytes = UINT64_MAX;
    expect_bad_attr(&a, "max_bytes UINT64_MAX");
    a.max_bytes = 1;
    expect_bad_attr(&a, "max_bytes 1 (below one message)");
    a.max_bytes = 4095;
    expect_bad_attr(&a, "max_bytes below max_msg_size");
}

static void test_limits_accepted(void)
{
    /* The largest values each limit admits are accepted and usable. */
    ipcx_mailbox_attr a = mk_attr(IPCX_CAPACITY_MAX, 8, 0, 0);
    CHECK_RC(ipcx_mailbox_create("capmax", &a), 0);
    ipcx_mailbox *mb = tu_open("capmax");
    CHECK(tu_stat(mb).capacity == IPCX_CAPACITY_MAX);
    send_u32(mb, 5);
    CHECK(recv_u32(mb) == 5);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("capmax"), 0);

    a = mk_attr(1, IPCX_MSG_SIZE_MAX, 0, 0);
    CHECK_RC(ipcx_mailbox_create("sizemax", &a), 0);
    mb = tu_open("sizemax");
    CHECK(ipcx_mailbox_max_msg_size(mb) == IPCX_MSG_SIZE_MAX);
    uint8_t *big = malloc(IPCX_MSG_SIZE_MAX + 1);
    uint8_t *got = malloc(IPCX_MSG_SIZE_MAX + 1);
    CHECK(big != NULL && got != NULL);
    fill(big, IPCX_MSG_SIZE_MAX + 1, 3);
    CHECK_RC(ipcx_mailbox_send(mb, big, IPCX_MSG_SIZE_MAX + 1, 0), -EMSGSIZE);
    CHECK_RC(ipcx_mailbox_send(mb, big, IPCX_MSG_SIZE_MAX, 0), 0);
    CHECK_RC(ipcx_mailbox_recv(mb, got, IPCX_MSG_SIZE_MAX + 1, 0),
             IPCX_MSG_SIZE_MAX);
    CHECK(same(got, IPCX_MSG_SIZE_MAX, 3));
    free(big);
    free(got);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("sizemax"), 0);

    a = mk_attr(IPCX_UNBOUNDED, 4096, 0777, 0);
    a.max_bytes = IPCX_MAX_BYTES_LIMIT;
    CHECK_RC(ipcx_mailbox_create("bytesmax", &a), 0);
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name("bytesmax", &st), 0);
    CHECK(st.max_bytes == IPCX_MAX_BYTES_LIMIT);
    CHECK(st.mode == 0777);
    CHECK_RC(ipcx_mailbox_destroy("bytesmax"), 0);

    /*
     * setuid/setgid/sticky (01000..07777): "Unix permission bits" leaves
     * open whether they are accepted; if they are, the mode is exact.
     */
    const uint32_t special[] = {01600, 02600, 04600, 07777};
    for (int i = 0; i < 4; i++) {
        a = mk_attr(4, 64, special[i], 0);
        int rc = ipcx_mailbox_create("special", &a);
        CHECK(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            CHECK_RC(ipcx_mailbox_stat_name("special", &st), 0);
            CHECK(st.mode == special[i]);
            CHECK_RC(ipcx_mailbox_destroy("special"), 0);
        } else {
            CHECK_RC(ipcx_mailbox_stat_name("special", &st), -ENOENT);
        }
    }
}

static void test_modes(void)
{
    const uint32_t modes[] = {0600, 0640, 0604, 0660, 0666, 0644, 0700, 0620};
    mode_t old = umask(077); /* the umask must not apply */
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char name[32], path[600];
        snprintf(name, sizeof name, "modetest%o", modes[i]);
        struct listing before;
        list_dir(&before);
        ipcx_mailbox_attr a = mk_attr(4, 64, modes[i], 0);
        CHECK_RC(ipcx_mailbox_create(name, &a), 0);
        mailbox_file(&before, name, path, sizeof path);
        struct stat sb;
        CHECK(stat(path, &sb) == 0);
        if ((sb.st_mode & 07777) != modes[i]) {
            fprintf(stderr, "%s: file mode %o, asked for %o\n", path,
                    (unsigned)(sb.st_mode & 07777), modes[i]);
            exit(1);
        }
        CHECK(sb.st_uid == getuid());
        ipcx_mailbox_info st;
        CHECK_RC(ipcx_mailbox_stat_name(name, &st), 0);
        CHECK(st.mode == modes[i]);
        /* Opening and using it does not change the mode. */
        ipcx_mailbox *mb = tu_open(name);
        send_u32(mb, modes[i]);
        CHECK(recv_u32(mb) == modes[i]);
        CHECK_RC(ipcx_mailbox_close(mb), 0);
        CHECK(stat(path, &sb) == 0);
        CHECK((sb.st_mode & 07777) == modes[i]);
        CHECK_RC(ipcx_mailbox_destroy(name), 0);
        CHECK(stat(path, &sb) != 0 && errno == ENOENT);
    }
    umask(old);
}

/* ---- messages ----------------------------------------------------------- */

static void test_sizes(void)
{
    enum { MAX = 1000 };
    ipcx_mailbox_attr a = mk_attr(8, MAX, 0, 0);
    CHECK_RC(ipcx_mailbox_create("sizes", &a), 0);
    ipcx_mailbox *mb = tu_open("sizes");
    CHECK(ipcx_mailbox_max_msg_size(mb) == MAX);
    static uint8_t buf[MAX + 64], got[MAX + 64];

    CHECK_RC(ipcx_mailbox_send(mb, NULL, 0, 0), 0);
    const size_t lens[] = {1, 2, 17, MAX - 1, MAX};
    for (size_t i = 0; i < 5; i++) {
        fill(buf, lens[i], (unsigned)i);
        CHECK_RC(ipcx_mailbox_send(mb, buf, lens[i], 0), 0);
    }
    CHECK(tu_stat(mb).depth == 6);

    /* Oversize and bad buffers: refused, queue unchanged. */
    fill(buf, MAX + 1, 9);
    CHECK_RC(ipcx_mailbox_send(mb, buf, MAX + 1, 0), -EMSGSIZE);
    CHECK(ipcx_last_error()[0] != '\0');
    CHECK_RC(ipcx_mailbox_send(mb, buf, MAX + 64, IPCX_MSEC(10)), -EMSGSIZE);
    CHECK_RC(ipcx_mailbox_send(mb, buf, SIZE_MAX, 0), -EMSGSIZE);
    CHECK_RC(ipcx_mailbox_send(mb, buf, (size_t)1 << 32, 0), -EMSGSIZE);
    CHECK_RC(ipcx_mailbox_send(mb, NULL, 5, 0), -EINVAL);
    ipcx_mailbox_info st = tu_stat(mb);
    CHECK(st.depth == 6);
    CHECK(st.sent == 6);

    /* The 0-byte message first. */
    memset(got, 0xee, sizeof got);
    CHECK_RC(ipcx_mailbox_recv(mb, got, sizeof got, 0), 0);
    CHECK(got[0] == 0xee);
    /* Too small a buffer: -EMSGSIZE, the message stays, then intact. */
    CHECK_RC(ipcx_mailbox_recv(mb, got, 0, 0), -EMSGSIZE);
    CHECK_RC(ipcx_mailbox_recv(mb, NULL, 10, 0), -EINVAL);
    CHECK(tu_stat(mb).depth == 5);
    for (size_t i = 0; i < 5; i++) {
        if (lens[i] > 1) {
            CHECK_RC(ipcx_mailbox_recv(mb, got, lens[i] - 1, 0), -EMSGSIZE);
            CHECK_RC(ipcx_mailbox_recv(mb, got, lens[i] - 1, IPCX_MSEC(5)),
                     -EMSGSIZE);
            CHECK(tu_stat(mb).depth == 5 - i);
        }
        memset(got, 0xee, sizeof got);
        CHECK_RC(ipcx_mailbox_recv(mb, got, lens[i], 0), lens[i]);
        CHECK(same(got, lens[i], (unsigned)i));
        CHECK(got[lens[i]] == 0xee); /* nothing written past the message */
    }
    st = tu_stat(mb);
    CHECK(st.depth == 0);
    CHECK(st.received == 6);

    /* A big buffer for a small message. */
    fill(buf, 3, 77);
    CHECK_RC(ipcx_mailbox_send(mb, buf, 3, 0), 0);
    memset(got, 0xee, sizeof got);
    CHECK_RC(ipcx_mailbox_recv(mb, got, sizeof got, 0), 3);
    CHECK(same(got, 3, 77) && got[3] == 0xee);
    /* recv_ex with info reports the sender. */
    CHECK_RC(ipcx_mailbox_send(mb, buf, 3, 0), 0);
    ipcx_msg_info info;
    memset(&info, 0, sizeof info);
    CHECK_RC(ipcx_mailbox_recv_ex(mb, got, sizeof got, 0, &info), 3);
    CHECK(info.pid == getpid());
    CHECK(info.uid == getuid());
    CHECK_RC(ipcx_mailbox_send(mb, buf, 3, 0), 0);
    CHECK_RC(ipcx_mailbox_recv_ex(mb, got, sizeof got, 0, NULL), 3);

    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("sizes"), 0);
}

static void check_elapsed(long long t0, const char *what)
{
    long long dt = tu_now_ns() - t0;
    if (dt < IPCX_MSEC(90) || dt > IPCX_SEC(3)) {
        fprintf(stderr, "%s: a 100 ms timeout took %lld ms\n", what,
                dt / 1000000);
        exit(1);
    }
}

static void test_timeouts(void)
{
    ipcx_mailbox_attr a = mk_attr(2, 64, 0, 0);
    CHECK_RC(ipcx_mailbox_create("timeouts", &a), 0);
    ipcx_mailbox *mb = tu_open("timeouts");
    uint8_t buf[64];

    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    CHECK_RC(ipcx_mailbox_recv_ex(mb, buf, sizeof buf, 0, NULL), -EAGAIN);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_MSEC(100)),
             -ETIMEDOUT);
    check_elapsed(t0, "recv");
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, -1), -EINVAL);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, INT64_MIN), -EINVAL);
    CHECK_RC(ipcx_mailbox_recv_ex(mb, buf, sizeof buf, -5, NULL), -EINVAL);

    /* Negative timeouts are refused even when the call could complete. */
    CHECK_RC(ipcx_mailbox_send(mb, buf, 1, -1), -EINVAL);
    CHECK_RC(ipcx_mailbox_send_ex(mb, buf, 1, -1, 0, NULL), -EINVAL);
    CHECK(tu_stat(mb).depth == 0);
    send_u32(mb, 1);
    CHECK_RC(ipcx_mailbox_send(mb, buf, 4, IPCX_FOREVER), 0);
    CHECK(tu_stat(mb).depth == 2);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, -1), -EINVAL);
    CHECK(tu_stat(mb).depth == 2);

    /* Full. */
    CHECK_RC(ipcx_mailbox_send(mb, buf, 4, 0), -EAGAIN);
    CHECK_RC(ipcx_mailbox_send_ex(mb, buf, 4, 0, 0, NULL), -EAGAIN);
    t0 = tu_now_ns();
    CHECK_RC(ipcx_mailbox_send(mb, buf, 4, IPCX_MSEC(100)), -ETIMEDOUT);
    check_elapsed(t0, "send");
    ipcx_mailbox_info st = tu_stat(mb);
    CHECK(st.depth == 2);
    CHECK(st.sent == 2);
    CHECK(recv_u32(mb) == 1);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_FOREVER), 4);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);

    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("timeouts"), 0);
}

static void test_null_handle(void)
{
    uint8_t buf[8] = {0};
    pid_t who = 0;
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_send(NULL, buf, 1, 0), -EINVAL);
    CHECK_RC(ipcx_mailbox_send_ex(NULL, buf, 1, 0, 0, NULL), -EINVAL);
    CHECK_RC(ipcx_mailbox_send_ex(NULL, buf, 1, 0, IPCX_SEND_RECEIPT, &who),
             -EINVAL);
    CHECK_RC(ipcx_mailbox_recv(NULL, buf, sizeof buf, 0), -EINVAL);
    CHECK_RC(ipcx_mailbox_recv_ex(NULL, buf, sizeof buf, 0, NULL), -EINVAL);
    CHECK_RC(ipcx_mailbox_stat(NULL, &st), -EINVAL);
    CHECK_RC(ipcx_mailbox_transfer(NULL, getpid()), -EINVAL);
    CHECK_RC(ipcx_mailbox_close(NULL), 0);

    CHECK_RC(ipcx_mailbox_create("nullstat", NULL), 0);
    ipcx_mailbox *mb = tu_open("nullstat");
    CHECK_RC(ipcx_mailbox_stat(mb, NULL), -EINVAL);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("nullstat"), 0);
}

/* All n slots usable, the (n+1)th refused; across many wrap-arounds. */
static void test_capacity(uint32_t n, uint32_t msg)
{
    char name[32];
    snprintf(name, sizeof name, "cap%u-%u", n, msg);
    ipcx_mailbox_attr a = mk_attr(n, msg, 0, 0);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    ipcx_mailbox *mb = tu_open(name);
    uint8_t *buf = malloc(msg);
    uint8_t *got = malloc(msg);
    CHECK(buf != NULL && got != NULL);
    unsigned seq = 0, next = 0;

    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < n; i++) {
            fill(buf, msg, seq);
            CHECK_RC(ipcx_mailbox_send(mb, buf, msg, 0), 0);
            seq++;
        }
        CHECK_RC(ipcx_mailbox_send(mb, buf, 1, 0), -EAGAIN);
        CHECK_RC(ipcx_mailbox_send(mb, NULL, 0, 0), -EAGAIN);
        ipcx_mailbox_info st = tu_stat(mb);
        CHECK(st.depth == n);
        CHECK(st.sent == seq);
        /* Drain part, wrap the ring with single steps, then drain all. */
        for (uint32_t i = 0; i < n / 2 + 1; i++) {
            CHECK_RC(ipcx_mailbox_recv(mb, got, msg, 0), msg);
            CHECK(same(got, msg, next++));
        }
        for (uint32_t i = 0; i < 2 * n + 3; i++) {
            fill(buf, msg, seq);
            CHECK_RC(ipcx_mailbox_send(mb, buf, msg, 0), 0);
            seq++;
            CHECK_RC(ipcx_mailbox_recv(mb, got, msg, 0), msg);
            CHECK(same(got, msg, next++));
        }
        while (next < seq) {
            CHECK_RC(ipcx_mailbox_recv(mb, got, msg, 0), msg);
            CHECK(same(got, msg, next++));
        }
        CHECK_RC(ipcx_mailbox_recv(mb, got, msg, 0), -EAGAIN);
        st = tu_stat(mb);
        CHECK(st.depth == 0);
        CHECK(st.received == seq);
    }
    free(buf);
    free(got);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

static void test_fifo_two_handles(void)
{
    ipcx_mailbox_attr a = mk_attr(16, 64, 0, 0);
    CHECK_RC(ipcx_mailbox_create("fifo", &a), 0);
    ipcx_mailbox *tx = tu_open("fifo");
    ipcx_mailbox *rx = tu_open("fifo");
    CHECK(tx != rx);
    uint32_t sent = 0, got = 0;
    for (int i = 0; i < 5000; i++) {
        /* Uneven bursts so the queue is at varying depths. */
        int burst = 1 + (i * 7) % 16;
        for (int k = 0; k < burst; k++) {
            if (ipcx_mailbox_send(tx, &sent, sizeof sent, 0) != 0) {
                break;
            }
            sent++;
        }
        int take = 1 + (i * 5) % 13;
        for (int k = 0; k < take && got < sent; k++) {
            CHECK(recv_u32(rx) == got);
            got++;
        }
    }
    while (got < sent) {
        CHECK(recv_u32(rx) == got);
        got++;
    }
    CHECK(sent > 10000);
    ipcx_mailbox_info s1 = tu_stat(tx), s2 = tu_stat(rx);
    CHECK(s1.id == s2.id);
    CHECK(s1.sent == sent && s1.received == sent);
    CHECK_RC(ipcx_mailbox_close(tx), 0);
    CHECK_RC(ipcx_mailbox_close(rx), 0);
    CHECK_RC(ipcx_mailbox_destroy("fifo"), 0);
}

/* ---- stat ----------------------------------------------------------- */

/* nopen counts live processes with a handle open, not handles. */
static void test_nopen_counts_processes(void)
{
    CHECK_RC(ipcx_mailbox_create("nopen", NULL), 0);
    ipcx_mailbox *a = tu_open("nopen");
    ipcx_mailbox *b = tu_open("nopen");
    ipcx_mailbox *c = tu_open("nopen");
    ipcx_mailbox_info st = tu_stat(a);
    if (st.nopen != 1) {
        fprintf(stderr, "one process with 3 handles: nopen %u, expected 1\n",
                st.nopen);
        exit(1);
    }
    CHECK_RC(ipcx_mailbox_close(b), 0);
    CHECK_RC(ipcx_mailbox_close(c), 0);
    CHECK(tu_stat(a).nopen == 1);
    CHECK_RC(ipcx_mailbox_close(a), 0);
    CHECK_RC(ipcx_mailbox_destroy("nopen"), 0);
}

struct holder {
    const char *name;
    int ready[2]; /* child -> parent: opened */
    int hold[2];  /* parent -> child: close (EOF) */
};

static int child_hold_open(void *arg)
{
    struct holder *h = arg;
    close(h->ready[0]);
    close(h->hold[1]);
    ipcx_mailbox *mb = NULL;
    int rc = ipcx_mailbox_open(h->name, 0, &mb);
    char c = rc == 0 ? 'y' : 'n';
    if (write(h->ready[1], &c, 1) != 1 || rc != 0) {
        return 1;
    }
    while (read(h->hold[0], &c, 1) > 0) {
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static pid_t start_holder(struct holder *h, const char *name)
{
    h->name = name;
    CHECK(pipe(h->ready) == 0 && pipe(h->hold) == 0);
    pid_t pid = tu_spawn(child_hold_open, h);
    close(h->ready[1]);
    close(h->hold[0]);
    char c = 0;
    CHECK(read(h->ready[0], &c, 1) == 1);
    CHECK(c == 'y');
    close(h->ready[0]);
    return pid;
}

static void test_stat(void)
{
    ipcx_mailbox_attr a = mk_attr(5, 128, 0640, IPCX_POLICY_ANY);
    CHECK_RC(ipcx_mailbox_create("st1", &a), 0);
    a = mk_attr(0, 256, 0600, IPCX_POLICY_EXCLUSIVE);
    CHECK_RC(ipcx_mailbox_create("st2", &a), 0);
    ipcx_mailbox *m1 = tu_open("st1");
    ipcx_mailbox *m2 = tu_open("st2");
    ipcx_mailbox_info s1 = tu_stat(m1), s2 = tu_stat(m2), n1;
    CHECK(s1.id != s2.id);
    CHECK(s1.id != 0 && s2.id != 0);
    CHECK_RC(ipcx_mailbox_stat_name("st1", &n1), 0);
    CHECK(n1.id == s1.id);
    CHECK(s1.capacity == 5 && s1.max_msg_size == 128);
    CHECK(s1.policy == IPCX_POLICY_ANY && s1.mode == 0640);
    CHECK(s2.capacity == 0 && s2.max_msg_size == 256);
    CHECK(s2.policy == IPCX_POLICY_EXCLUSIVE && s2.mode == 0600);
    CHECK(s1.uid == getuid() && s1.gid == getgid());
    CHECK(s1.nopen == 1 && s2.nopen == 1);
    CHECK(s1.destroyed == 0);

    for (uint32_t i = 0; i < 5; i++) {
        send_u32(m1, i);
    }
    CHECK_RC(ipcx_mailbox_send(m1, "x", 1, 0), -EAGAIN); /* not counted */
    CHECK(recv_u32(m1) == 0);
    CHECK(recv_u32(m1) == 1);
    s1 = tu_stat(m1);
    CHECK(s1.depth == 3 && s1.sent == 5 && s1.received == 2);
    CHECK(s1.send_waiting == 0 && s1.recv_waiting == 0);
    CHECK_RC(ipcx_mailbox_stat_name("st1", &n1), 0);
    CHECK(n1.depth == 3 && n1.sent == 5 && n1.received == 2);

    /* A recreated mailbox of the same name is a different mailbox. */
    uint64_t old_id = s2.id;
    CHECK_RC(ipcx_mailbox_close(m2), 0);
    CHECK_RC(ipcx_mailbox_destroy("st2"), 0);
    CHECK_RC(ipcx_mailbox_create("st2", &a), 0);
    CHECK_RC(ipcx_mailbox_stat_name("st2", &s2), 0);
    CHECK(s2.id != old_id && s2.id != s1.id);
    CHECK_RC(ipcx_mailbox_destroy("st2"), 0);

    /* nopen counts live processes: another process opens, closes, dies. */
    struct holder h;
    pid_t pid = start_holder(&h, "st1");
    CHECK(tu_stat(m1).nopen == 2);
    close(h.hold[1]);
    CHECK(tu_wait(pid) == 0);
    TU_WAIT_STAT(m1, s1, s1.nopen == 1);

    pid = start_holder(&h, "st1");
    CHECK(tu_stat(m1).nopen == 2);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(tu_wait(pid) == 128 + SIGKILL);
    close(h.hold[1]);
    TU_WAIT_STAT(m1, s1, s1.nopen == 1);
    s1 = tu_stat(m1);
    CHECK(s1.depth == 3 && s1.sent == 5 && s1.received == 2);

    CHECK_RC(ipcx_mailbox_close(m1), 0);
    CHECK_RC(ipcx_mailbox_stat_name("st1", &n1), 0);
    CHECK(n1.nopen == 0);
    CHECK_RC(ipcx_mailbox_destroy("st1"), 0);
}

/* ---- blocking calls woken by a peer process ---------------------------- */

struct waker {
    const char *name;
    int send; /* 1: send into a full mailbox, 0: receive from an empty one */
    int64_t timeout;
};

static int child_blocks(void *arg)
{
    struct waker *w = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    ipcx_mailbox *mb = tu_open(w->name);
    uint32_t v = 0;
    long rc;
    if (w->send) {
        v = 777;
        rc = ipcx_mailbox_send(mb, &v, sizeof v, w->timeout);
    } else {
        rc = ipcx_mailbox_recv(mb, &v, sizeof v, w->timeout);
        if (rc == (long)sizeof v && v != 555) {
            rc = -EPROTO;
        }
    }
    ipcx_mailbox_close(mb);
    return w->send ? rc != 0 : rc != (long)sizeof v;
}

static void test_blocking_wakeups(void)
{
    ipcx_mailbox_attr a = mk_attr(2, 64, 0, 0);
    CHECK_RC(ipcx_mailbox_create("wakeups", &a), 0);
    ipcx_mailbox *mb = tu_open("wakeups");
    ipcx_mailbox_info st;
    /* Forever, a timeout too large to add to the clock, a plain one. */
    const int64_t tmo[] = {IPCX_FOREVER, INT64_MAX - 1, IPCX_SEC(20)};
    for (int round = 0; round < 3; round++) {
        /* A receiver sleeping on an empty mailbox gets the next message. */
        struct waker w = {"wakeups", 0, tmo[round]};
        pid_t pid = tu_spawn(child_blocks, &w);
        TU_WAIT_STAT(mb, st, st.recv_waiting == 1);
        send_u32(mb, 555);
        CHECK(tu_wait_bounded(pid, 10) == 0);
        st = tu_stat(mb);
        CHECK(st.recv_waiting == 0 && st.depth == 0);

        /* A sender sleeping on a full mailbox gets in once there is room. */
        send_u32(mb, 1);
        send_u32(mb, 2);
        w.send = 1;
        pid = tu_spawn(child_blocks, &w);
        TU_WAIT_STAT(mb, st, st.send_waiting == 1);
        CHECK(st.depth == 2);
        CHECK(recv_u32(mb) == 1);
        CHECK(tu_wait_bounded(pid, 10) == 0);
        CHECK(recv_u32(mb) == 2);
        CHECK(recv_u32(mb) == 777);
        st = tu_stat(mb);
        CHECK(st.send_waiting == 0 && st.depth == 0);
    }
    /* A blocked receive returns promptly once the message is there. */
    struct waker w = {"wakeups", 0, IPCX_SEC(60)};
    pid_t pid = tu_spawn(child_blocks, &w);
    TU_WAIT_STAT(mb, st, st.recv_waiting == 1);
    long long t0 = tu_now_ns();
    send_u32(mb, 555);
    CHECK(tu_wait_bounded(pid, 10) == 0);
    CHECK(tu_now_ns() - t0 < IPCX_SEC(5));
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("wakeups"), 0);
}

/* ---- signals neither end nor stretch a wait ----------------------------- */

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    signals_seen++;
}

static int child_recv_through_signals(void *arg)
{
    (void)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: EINTR reaches the library */
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    ipcx_mailbox *mb = tu_open("signals");
    uint32_t v = 0;
    long rc = ipcx_mailbox_recv(mb, &v, sizeof v, IPCX_FOREVER);
    ipcx_mailbox_close(mb);
    if (rc != (long)sizeof v || v != 4242 || signals_seen == 0) {
        fprintf(stderr, "recv through signals: %ld, v %u, %d signals\n", rc, v,
                (int)signals_seen);
        return 1;
    }
    return 0;
}

static void test_signals(void)
{
    ipcx_mailbox_attr a = mk_attr(4, 64, 0, 0);
    CHECK_RC(ipcx_mailbox_create("signals", &a), 0);
    ipcx_mailbox *mb = tu_open("signals");

    /* A timer interrupts a timed receive every 5 ms. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    struct itimerval it = {{0, 5000}, {0, 5000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    uint32_t v;
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, IPCX_MSEC(200)), -ETIMEDOUT);
    long long dt = tu_now_ns() - t0;
    send_u32(mb, 1);
    send_u32(mb, 2);
    send_u32(mb, 3);
    send_u32(mb, 4);
    t0 = tu_now_ns();
    CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, IPCX_MSEC(200)), -ETIMEDOUT);
    long long dt2 = tu_now_ns() - t0;
    struct itimerval off = {{0, 0}, {0, 0}};
    CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
    CHECK(signals_seen > 0);
    if (dt < IPCX_MSEC(190) || dt > IPCX_SEC(2) || dt2 < IPCX_MSEC(190) ||
        dt2 > IPCX_SEC(2)) {
        fprintf(stderr, "200 ms timeouts under signals took %lld / %lld ms\n",
                dt / 1000000, dt2 / 1000000);
        exit(1);
    }
    for (uint32_t i = 1; i <= 4; i++) {
        CHECK(recv_u32(mb) == i);
    }

    /* A receive blocked forever in another process survives signals. */
    pid_t pid = tu_spawn(child_recv_through_signals, NULL);
    ipcx_mailbox_info st;
    TU_WAIT_STAT(mb, st, st.recv_waiting == 1);
    for (int i = 0; i < 20; i++) {
        CHECK(kill(pid, SIGUSR1) == 0);
        tu_pause_ms(1);
    }
    st = tu_stat(mb);
    CHECK(st.recv_waiting == 1); /* still waiting */
    send_u32(mb, 4242);
    CHECK(tu_wait_bounded(pid, 10) == 0);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("signals"), 0);
}

/* ---- destroy while open ------------------------------------------------ */

struct blocked {
    const char *name;
    int send; /* 1: block in send, 0: block in recv */
    int64_t timeout;
};

static int child_blocked(void *arg)
{
    struct blocked *b = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
    ipcx_mailbox *mb = NULL;
    if (ipcx_mailbox_open(b->name, 0, &mb) != 0) {
        return 10;
    }
    uint8_t buf[64] = {0};
    long rc;
    if (b->send) {
        rc = ipcx_mailbox_send(mb, buf, 8, b->timeout);
    } else {
        rc = ipcx_mailbox_recv(mb, buf, sizeof buf, b->timeout);
    }
    ipcx_mailbox_close(mb);
    if (rc == -EIDRM) {
        return 0;
    }
    fprintf(stderr, "blocked %s woke with %ld (%s)\n",
            b->send ? "sender" : "receiver", rc, ipcx_strerror((int)rc));
    return rc == -ETIMEDOUT ? 2 : 3;
}

static void destroy_wakes(uint32_t cap, int send, int64_t timeout)
{
    const char *name = "wake";
    ipcx_mailbox_attr a = mk_attr(cap, 64, 0, 0);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    ipcx_mailbox *mb = tu_open(name);
    for (uint32_t i = 0; send && i < cap; i++) {
        send_u32(mb, i);
    }
    struct blocked b = {name, send, timeout};
    pid_t pid = tu_spawn(child_blocked, &b);
    ipcx_mailbox_info st;
    if (send) {
        TU_WAIT_STAT(mb, st, st.send_waiting == 1);
    } else {
        TU_WAIT_STAT(mb, st, st.recv_waiting == 1);
    }
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
    int rc = tu_wait_bounded(pid, 10);
    if (rc != 0) {
        fprintf(stderr, "cap %u %s blocked (timeout %lld): child %d\n", cap,
                send ? "send" : "recv", (long long)timeout, rc);
        exit(1);
    }
    st = tu_stat(mb);
    CHECK(st.destroyed == 1);
    CHECK(st.send_waiting == 0 && st.recv_waiting == 0);
    /* Messages queued before the destroy are still there to drain. */
    for (uint32_t i = 0; send && i < cap; i++) {
        CHECK(recv_u32(mb) == i);
    }
    uint32_t v;
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EIDRM);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
}

static void test_destroy_open(void)
{
    ipcx_mailbox_attr a = mk_attr(8, 64, 0, 0);
    CHECK_RC(ipcx_mailbox_create("doomed", &a), 0);
    ipcx_mailbox *mb = tu_open("doomed");
    ipcx_mailbox *mb2 = tu_open("doomed");
    ipcx_mailbox_info st = tu_stat(mb);
    uint64_t old_id = st.id;
    for (uint32_t i = 0; i < 3; i++) {
        send_u32(mb, i);
    }
    CHECK_RC(ipcx_mailbox_destroy("doomed"), 0);
    CHECK_RC(ipcx_mailbox_destroy("doomed"), -ENOENT);
    ipcx_mailbox *out = NULL;
    CHECK_RC(ipcx_mailbox_open("doomed", 0, &out), -ENOENT);
    CHECK_RC(ipcx_mailbox_stat_name("doomed", &st), -ENOENT);
    st = tu_stat(mb);
    CHECK(st.destroyed == 1);
    CHECK(st.depth == 3);

    CHECK_RC(ipcx_mailbox_send(mb, "z", 1, 0), -EIDRM);
    CHECK_RC(ipcx_mailbox_send(mb, "z", 1, IPCX_FOREVER), -EIDRM);
    CHECK_RC(ipcx_mailbox_send_ex(mb, "z", 1, IPCX_SEC(1), 0, NULL), -EIDRM);
    CHECK(recv_u32(mb) == 0);
    CHECK(recv_u32(mb2) == 1);
    uint32_t v = 0;
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, IPCX_FOREVER), sizeof v);
    CHECK(v == 2);
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EIDRM);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_mailbox_recv(mb2, &v, sizeof v, IPCX_SEC(5)), -EIDRM);
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, IPCX_FOREVER), -EIDRM);
    CHECK(tu_now_ns() - t0 < IPCX_SEC(2)); /* answered, not timed out */

    /* The name is free again; the new mailbox is independent. */
    CHECK_RC(ipcx_mailbox_create("doomed", &a), 0);
    ipcx_mailbox *fresh = tu_open("doomed");
    st = tu_stat(fresh);
    CHECK(st.id != old_id);
    CHECK(st.depth == 0 && st.sent == 0 && st.destroyed == 0);
    send_u32(fresh, 42);
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EIDRM);
    CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, 0), -EIDRM);
    CHECK(recv_u32(fresh) == 42);
    CHECK(tu_stat(mb).destroyed == 1);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_close(mb2), 0);
    CHECK_RC(ipcx_mailbox_close(fresh), 0);
    CHECK_RC(ipcx_mailbox_destroy("doomed"), 0);
}

/* Blocked callers in another process wake up with -EIDRM. */
static void test_destroy_wakes(void)
{
    destroy_wakes(4, 0, IPCX_FOREVER);
    destroy_wakes(4, 0, IPCX_SEC(20));
    destroy_wakes(2, 1, IPCX_FOREVER);
    destroy_wakes(0, 1, IPCX_SEC(20)); /* rendezvous sender */
    destroy_wakes(0, 0, IPCX_FOREVER); /* rendezvous receiver */
}

static void test_capacities(void)
{
    const uint32_t caps[] = {1, 2, 7, 64};
    for (size_t i = 0; i < 4; i++) {
        test_capacity(caps[i], 4);
        test_capacity(caps[i], 100);
    }
}

int main(void)
{
    ns = tu_private_ns();
    setvbuf(stderr, NULL, _IONBF, 0);
    TU_RUN(test_list); /* first: it needs the empty namespace */
    TU_RUN(test_defaults);
    TU_RUN(test_exists_missing);
    TU_RUN(test_bad_attrs);
    TU_RUN(test_limits_accepted);
    TU_RUN(test_modes);
    TU_RUN(test_sizes);
    TU_RUN(test_timeouts);
    TU_RUN(test_null_handle);
    TU_RUN(test_capacities);
    TU_RUN(test_fifo_two_handles);
    TU_RUN(test_nopen_counts_processes);
    TU_RUN(test_stat);
    TU_RUN(test_blocking_wakeups);
    TU_RUN(test_signals);
    TU_RUN(test_destroy_open);
    TU_RUN(test_destroy_wakes);
    if (tu_failures > 0) {
        return 1;
    }
    /* Everything created here was destroyed again. */
    struct names s = {0};
    CHECK_RC(ipcx_mailbox_list(collect, &s), 0);
    CHECK(s.n == 0);
    return 0;
}
