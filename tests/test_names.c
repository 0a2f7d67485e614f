/*
 * test_names.c - object names, the namespace directory, error texts.
 *
 * Names are 1..IPCX_NAME_MAX characters of [A-Za-z0-9._-], not starting
 * with '.'; every mailbox call refuses anything else with -EINVAL, a
 * non-empty ipcx_last_error(), and without touching the disk.  IPCX_DIR names
 * the namespace and is created (0700) when missing; the default namespace
 * under $XDG_RUNTIME_DIR is refused when it is not private.
 */
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static int dir_entries(const char *path, int verbose)
{
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            if (verbose) {
                fprintf(stderr, "unexpected entry: %s\n", e->d_name);
            }
            n++;
        }
    }
    closedir(d);
    return n;
}

static void check_last_error_set(const char *what)
{
    const char *msg = ipcx_last_error();
    CHECK(msg != NULL);
    if (msg[0] == '\0') {
        fprintf(stderr, "empty ipcx_last_error() after refusing '%s'\n", what);
        exit(1);
    }
}

static void expect_valid(const char *name)
{
    int rc = ipcx_name_check(name);
    if (rc != 0) {
        fprintf(stderr, "valid name '%s' refused: %d (%s)\n", name, rc,
                ipcx_last_error());
        exit(1);
    }
}

static void expect_invalid(const char *name, const char *label)
{
    int rc = ipcx_name_check(name);
    if (rc != -EINVAL) {
        fprintf(stderr, "invalid name %s accepted by name_check: %d\n", label,
                rc);
        exit(1);
    }
    check_last_error_set(label);
}

static void test_name_check(void)
{
    char long_ok[IPCX_NAME_MAX + 1];
    char too_long[IPCX_NAME_MAX + 2];
    memset(long_ok, 'x', IPCX_NAME_MAX);
    long_ok[IPCX_NAME_MAX] = '\0';
    memset(too_long, 'y', IPCX_NAME_MAX + 1);
    too_long[IPCX_NAME_MAX + 1] = '\0';

    expect_valid("a");
    expect_valid("Z");
    expect_valid("0");
    expect_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    expect_valid("0123456789._-");
    expect_valid("jobs.v2_in-1");
    expect_valid("a.");
    expect_valid("a..b");
    expect_valid("-dash-first");
    expect_valid("_under");
    expect_valid(long_ok);
    CHECK(strlen(long_ok) == 200);

    expect_invalid("../x", "'../x'");
    expect_invalid("a/b", "'a/b'");
    expect_invalid("/abs", "'/abs'");
    expect_invalid("", "empty");
    expect_invalid(NULL, "NULL");
    expect_invalid(too_long, "201 chars");
    expect_invalid(".hidden", "'.hidden'");
    expect_invalid(".", "'.'");
    expect_invalid("..", "'..'");
    expect_invalid("a b", "'a b'");
    expect_invalid(" a", "' a'");
    expect_invalid("a\n", "'a\\n'");
    expect_invalid("a\tb", "'a\\tb'");
    expect_invalid("caf\xc3\xa9", "UTF-8 'cafe'");
    expect_invalid("\xff", "byte 0xff");
    expect_invalid("a*", "'a*'");
    expect_invalid("a:b", "'a:b'");
    expect_invalid("a\\b", "'a\\b'");
}

#define SENTINEL ((ipcx_mailbox *)(uintptr_t)0x5e5e)

/* Each bad name through every mailbox entry point: -EINVAL, no file. */
static void test_bad_names_create_nothing(const char *ns)
{
    char too_long[IPCX_NAME_MAX + 2];
    memset(too_long, 'q', IPCX_NAME_MAX + 1);
    too_long[IPCX_NAME_MAX + 1] = '\0';
    const char *bad[] = {
        "../x", "a/b",      "",   ".hidden", too_long,           "sp ace",
        "nl\n", "\xc3\xa9", "..", ".",       "../../etc/passwd", "x/",
    };
    size_t nbad = sizeof bad / sizeof bad[0];

    CHECK(dir_entries(ns, 1) == 0);
    for (size_t i = 0; i <= nbad; i++) {
        const char *name = i < nbad ? bad[i] : NULL;
        char label[64];
        snprintf(label, sizeof label, "bad[%zu]", i);
        ipcx_mailbox_attr attr;
        ipcx_mailbox_attr_init(&attr);
        CHECK_RC(ipcx_mailbox_create(name, &attr), -EINVAL);
        check_last_error_set(label);
        CHECK_RC(ipcx_mailbox_create(name, NULL), -EINVAL);
        ipcx_mailbox *mb = SENTINEL; /* must stay untouched */
        CHECK_RC(ipcx_mailbox_open(name, 0, &mb), -EINVAL);
        CHECK(mb == SENTINEL);
        check_last_error_set(label);
        CHECK_RC(ipcx_mailbox_destroy(name), -EINVAL);
        check_last_error_set(label);
        ipcx_mailbox_info st;
        memset(&st, 0xa5, sizeof st);
        CHECK_RC(ipcx_mailbox_stat_name(name, &st), -EINVAL);
        check_last_error_set(label);
        CHECK(st.capacity == 0xa5a5a5a5u);
    }
    CHECK(dir_entries(ns, 1) == 0);
}

static void *thread_last_error(void *arg)
{
    const char **out = arg;
    *out = ipcx_last_error();
    return NULL;
}

/* ipcx_last_error() is per thread and "" before any failure. */
static void test_last_error_thread_local(void)
{
    CHECK_RC(ipcx_name_check("../x"), -EINVAL);
    check_last_error_set("../x");
    const char *other = NULL;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_last_error, &other) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(other != NULL);
    CHECK(strcmp(other, "") == 0);
    check_last_error_set("../x (after other thread)");
}

/* The most negative int has no positive counterpart: still a text. */
static void test_strerror_int_min(void)
{
    const char *s = ipcx_strerror(INT_MIN);
    CHECK(s != NULL);
    CHECK(strlen(s) < 200);
}

static void test_strerror(void)
{
    const int codes[] = {EAGAIN, ETIMEDOUT, EMSGSIZE, EPROTO,    EINVAL,
                         ENOSPC, EIDRM,     EBUSY,    EACCES,    ENOENT,
                         EEXIST, EPERM,     ESRCH,    EOPNOTSUPP};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *neg = ipcx_strerror(-codes[i]);
        const char *pos = ipcx_strerror(codes[i]);
        CHECK(neg != NULL && neg[0] != '\0');
        CHECK(pos != NULL && strcmp(neg, pos) == 0);
    }
    /* Different codes get different texts. */
    CHECK(strcmp(ipcx_strerror(-EAGAIN), ipcx_strerror(-ETIMEDOUT)) != 0);
    CHECK(strcmp(ipcx_strerror(-EMSGSIZE), ipcx_strerror(-EPROTO)) != 0);
    const int odd[] = {0, -99999, 99999, INT_MAX, -4095, 4096, -INT_MAX};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *s = ipcx_strerror(odd[i]);
        CHECK(s != NULL);
        CHECK(strlen(s) < 200);
    }
    CHECK(ipcx_strerror(-99999)[0] != '\0');
    const char *v = ipcx_version();
    CHECK(v != NULL);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", IPCX_VERSION_MAJOR,
             IPCX_VERSION_MINOR, IPCX_VERSION_PATCH);
    CHECK(strcmp(v, want) == 0);
}

/*
 * The namespace tests change the environment, and a library may remember
 * its namespace once it has found it, so each runs in a fresh child.
 */
struct ns_case {
    char base[256];
};

static int child_ipcx_dir_created(void *arg)
{
    struct ns_case *c = arg;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/fresh-ns", c->base);
    setenv("IPCX_DIR", dir, 1);
    umask(0);
    struct stat sb;
    CHECK(stat(dir, &sb) != 0 && errno == ENOENT);

    char buf[512];
    int n = ipcx_ns_path(buf, sizeof buf);
    CHECK(n == (int)strlen(dir));
    CHECK(strcmp(buf, dir) == 0);
    CHECK(stat(dir, &sb) == 0);
    CHECK(S_ISDIR(sb.st_mode));
    CHECK((sb.st_mode & 07777) == 0700);
    CHECK(sb.st_uid == getuid());

    /* Too small a buffer: -ENAMETOOLONG and the buffer is left alone. */
    char small[8];
    memset(small, 'k', sizeof small);
    CHECK_RC(ipcx_ns_path(small, sizeof small), -ENAMETOOLONG);
    CHECK_RC(ipcx_ns_path(buf, strlen(dir)), -ENAMETOOLONG);
    CHECK(ipcx_ns_path(buf, strlen(dir) + 1) == (int)strlen(dir));

    /* And objects really go there. */
    CHECK_RC(ipcx_mailbox_create("in-fresh", NULL), 0);
    CHECK(dir_entries(dir, 0) >= 1);
    CHECK_RC(ipcx_mailbox_destroy("in-fresh"), 0);
    return 0;
}

static int child_ipcx_dir_create_on_mailbox(void *arg)
{
    /* The first mailbox call, not only ipcx_ns_path, creates the dir. */
    struct ns_case *c = arg;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/fresh-ns2", c->base);
    setenv("IPCX_DIR", dir, 1);
    CHECK_RC(ipcx_mailbox_create("first", NULL), 0);
    struct stat sb;
    CHECK(stat(dir, &sb) == 0);
    CHECK(S_ISDIR(sb.st_mode));
    CHECK((sb.st_mode & 07777) == 0700);
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name("first", &st), 0);
    return 0;
}

static int child_ipcx_dir_is_file(void *arg)
{
    struct ns_case *c = arg;
    char path[300];
    snprintf(path, sizeof path, "%s/plainfile", c->base);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fclose(f);
    setenv("IPCX_DIR", path, 1);
    char buf[512];
    CHECK_RC(ipcx_ns_path(buf, sizeof buf), -ENOTDIR);
    CHECK(ipcx_mailbox_create("x", NULL) < 0);
    return 0;
}

static int child_default_xdg(void *arg)
{
    struct ns_case *c = arg;
    char xdg[300], want[320];
    snprintf(xdg, sizeof xdg, "%s/xdg", c->base);
    CHECK(mkdir(xdg, 0700) == 0);
    snprintf(want, sizeof want, "%s/ipcx", xdg);
    unsetenv("IPCX_DIR");
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    char buf[512];
    int n = ipcx_ns_path(buf, sizeof buf);
    CHECK(n == (int)strlen(want));
    CHECK(strcmp(buf, want) == 0);
    struct stat sb;
    CHECK(stat(want, &sb) == 0);
    CHECK((sb.st_mode & 07777) == 0700);
    return 0;
}

static int child_default_unsafe_mode(void *arg)
{
    struct ns_case *c = arg;
    char xdg[300], dir[320];
    snprintf(xdg, sizeof xdg, "%s/xdg-open", c->base);
    snprintf(dir, sizeof dir, "%s/ipcx", xdg);
    CHECK(mkdir(xdg, 0700) == 0);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(chmod(dir, 0777) == 0);
    unsetenv("IPCX_DIR");
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    char buf[512];
    CHECK_RC(ipcx_ns_path(buf, sizeof buf), -EPERM);
    CHECK(ipcx_last_error()[0] != '\0');
    CHECK_RC(ipcx_mailbox_create("x", NULL), -EPERM);
    CHECK(dir_entries(dir, 1) == 0);
    CHECK(chmod(dir, 0720) == 0); /* group-writable is also unsafe */
    CHECK_RC(ipcx_ns_path(buf, sizeof buf), -EPERM);
    return 0;
}

static int child_default_foreign_owner(void *arg)
{
    struct ns_case *c = arg;
    if (getuid() != 0) {
        return 77;
    }
    char xdg[300], dir[320];
    snprintf(xdg, sizeof xdg, "%s/xdg-foreign", c->base);
    snprintf(dir, sizeof dir, "%s/ipcx", xdg);
    CHECK(mkdir(xdg, 0700) == 0);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(chown(dir, 65534, 65534) == 0);
    unsetenv("IPCX_DIR");
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    char buf[512];
    CHECK_RC(ipcx_ns_path(buf, sizeof buf), -EPERM);
    CHECK_RC(ipcx_mailbox_create("x", NULL), -EPERM);
    CHECK(dir_entries(dir, 1) == 0);
    return 0;
}

static void run_child(int (*fn)(void *), struct ns_case *c, const char *what)
{
    int rc = tu_wait(tu_spawn(fn, c));
    if (rc == 77) {
        fprintf(stderr, "%s: skipped (needs root)\n", what);
        return;
    }
    if (rc != 0) {
        fprintf(stderr, "FAILED: %s (exit %d)\n", what, rc);
        tu_failures++;
    }
}

static void test_first_last_error(void)
{
    /* Before anything failed, the thread's message is empty. */
    CHECK(ipcx_last_error() != NULL);
    CHECK(strcmp(ipcx_last_error(), "") == 0);
}

int main(void)
{
    const char *base = tu_private_ns();
    setvbuf(stderr, NULL, _IONBF, 0);
    struct ns_case c;
    snprintf(c.base, sizeof c.base, "%s", base);

    TU_RUN(test_first_last_error);
    TU_RUN(test_name_check);
    TU_RUN(test_last_error_thread_local);
    TU_RUN(test_strerror);
    TU_RUN(test_strerror_int_min);

    run_child(child_ipcx_dir_created, &c, "IPCX_DIR created");
    run_child(child_ipcx_dir_create_on_mailbox, &c, "IPCX_DIR on create");
    run_child(child_ipcx_dir_is_file, &c, "IPCX_DIR is a file");
    run_child(child_default_xdg, &c, "default under XDG_RUNTIME_DIR");
    run_child(child_default_unsafe_mode, &c, "unsafe default mode");
    run_child(child_default_foreign_owner, &c, "foreign default owner");

    /* A separate, empty namespace for the bad-name sweep. */
    char clean[300];
    snprintf(clean, sizeof clean, "%s/clean", base);
    CHECK(mkdir(clean, 0700) == 0);
    setenv("IPCX_DIR", clean, 1);
    test_bad_names_create_nothing(clean);
    /* "../x" from base/clean would have been base/x. */
    char escaped[320];
    snprintf(escaped, sizeof escaped, "%s/x", base);
    struct stat sb;
    CHECK(stat(escaped, &sb) != 0);
    return tu_failures > 0;
}
