/*
 * test_region.c - shared-memory regions (S1, S2, S3) between real processes.
 *
 * Named regions: create, attach from a forked process, exact modes, errors,
 * the kernel's permission checks across users (as root; skipped otherwise),
 * read-only attachments that fault on write, destroy while attached, list.
 * Anonymous regions: handed to a forked child over a socketpair (SCM_RIGHTS)
 * and nowhere else; sealed ones that the child can read but not write,
 * resize or remap writable, while the creator keeps writing.  Hostile fds
 * (pipes, sockets, directories, empty or huge memfds, disk files) are
 * refused and closed.  Temporary regions: marked, kept alive by every
 * attachment (by name, by an fd passed on or inherited) and collected by
 * ipcx_gc() once none is left; attaching waits out a collector.  Failed
 * system calls and a thousand cycles leave no fd and no mapping behind.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "core/sys.h"
#include "testutil.h"

#define OTHER_UID 65534
#define OTHER_GID 65534

static const char *ns;
static ipcx_region *const SENTINEL = (ipcx_region *)0x1;

/* ---- helpers ------------------------------------------------------------ */

static ipcx_region *attach(const char *name, unsigned flags)
{
    ipcx_region *r = NULL;
    CHECK_RC(ipcx_region_attach(name, flags, &r), 0);
    CHECK(r != NULL && ipcx_region_addr(r) != NULL);
    return r;
}

static ipcx_region *anon(size_t size)
{
    ipcx_region *r = NULL;
    CHECK_RC(ipcx_region_create_anon(size, &r), 0);
    CHECK(r != NULL && ipcx_region_size(r) == size);
    return r;
}

static char *bytes(ipcx_region *r)
{
    return ipcx_region_addr(r);
}

/* 1 if FD is not an open descriptor. */
static int fd_closed(int fd)
{
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* Entries in DIR, dot-files included. */
static int count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static int count_fds(void)
{
    return count_dir("/proc/self/fd");
}

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    return n;
}

/* Send FD (one byte of payload) over Unix socket SOCK. */
static void send_fd(int sock, int fd)
{
    char byte = 'F';
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    memset(&u, 0, sizeof u);
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    CHECK(sendmsg(sock, &msg, MSG_NOSIGNAL) == 1);
}

/* Receive one fd sent by send_fd(); close-on-exec from the start. */
static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    CHECK(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) == 1);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    CHECK(c != NULL && c->cmsg_type == SCM_RIGHTS);
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* One byte each way: a step in a two-process script. */
static void post(int sock, char c)
{
    CHECK(send(sock, &c, 1, MSG_NOSIGNAL) == 1);
}

static void expect(int sock, char want)
{
    char c = 0;
    CHECK(recv(sock, &c, 1, 0) == 1);
    CHECK(c == want);
}

/* In a child given a socketpair SV: close the parent's end, so that either
 * side's death reads as EOF to the other, and return the child's end. */
static int child_end(void *sv)
{
    close(((int *)sv)[0]);
    return ((int *)sv)[1];
}

/* Write one byte at P; the process must die of SIGSEGV doing it. */
static int poke(void *p)
{
    /* Undo any handler a sanitizer installed: the kernel's verdict is the
     * test. */
    signal(SIGSEGV, SIG_DFL);
    *(volatile char *)p = 'X';
    return 0;
}

static void check_write_faults(void *p)
{
    CHECK(tu_wait(tu_spawn(poke, p)) == 128 + SIGSEGV);
}

/* ---- named regions: create, attach, share -------------------------------- */

static int child_writes(void *arg)
{
    ipcx_region *r = attach(arg, 0);
    char *b = bytes(r);
    size_t n = ipcx_region_size(r);
    for (size_t i = 0; i < n; i++) {
        CHECK(b[i] == 0); /* zero-filled */
    }
    strcpy(b, "hello from the child");
    b[n - 1] = 'Z';
    ipcx_region_detach(r);
    return 0;
}

static void test_cross_process(void)
{
    size_t sizes[] = {1, 4096, 4097, 1 << 20};
    for (int i = 0; i < 4; i++) {
        CHECK_RC(ipcx_region_create("shared-mem", sizes[i], 0), 0);
        ipcx_region *r = attach("shared-mem", 0);
        CHECK(ipcx_region_size(r) == sizes[i]);
        CHECK(ipcx_region_is_sealed(r) == 0);
        if (sizes[i] > 32) {
            CHECK(tu_wait(tu_spawn(child_writes, "shared-mem")) == 0);
            CHECK(strcmp(bytes(r), "hello from the child") == 0);
            CHECK(bytes(r)[sizes[i] - 1] == 'Z');
        }
        /* A second attachment in this process sees the same memory. */
        bytes(r)[0] = 'P';
        ipcx_region *r2 = attach("shared-mem", IPCX_REGION_RDONLY);
        CHECK(bytes(r2)[0] == 'P' && ipcx_region_size(r2) == sizes[i]);
        CHECK_RC(ipcx_region_detach(r2), 0);
        CHECK_RC(ipcx_region_detach(r), 0);
        CHECK_RC(ipcx_region_destroy("shared-mem"), 0);
    }
}

static void check_mode(const char *name, uint32_t mode, uint32_t want)
{
    char path[512];
    struct stat st;
    CHECK_RC(ipcx_region_create(name, 12345, mode), 0);
    snprintf(path, sizeof path, "%s/%s.region", ns, name);
    CHECK(lstat(path, &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    if ((st.st_mode & 07777) != want) {
        fprintf(stderr, "mode %o: file has %o, want %o\n", mode,
                st.st_mode & 07777, want);
        exit(1);
    }
    CHECK(st.st_size == 12345 && st.st_uid == geteuid());
    CHECK_RC(ipcx_region_destroy(name), 0);
}

static void test_exact_mode(void)
{
    umask(0077); /* must not apply */
    check_mode("m0", 0, 0600);
    check_mode("m1", 0666, 0666);
    check_mode("m2", 0640, 0640);
    check_mode("m3", 0777, 0777);
    check_mode("m4", 01, 01);
    umask(0);
    check_mode("m5", 0600, 0600);
    /* Bits above the permission bits are refused, not masked. */
    CHECK_RC(ipcx_region_create("m6", 10, 01000), -EINVAL);
    CHECK_RC(ipcx_region_create("m6", 10, 04755), -EINVAL);
    CHECK_RC(ipcx_region_create("m6", 10, 0100644), -EINVAL);
    CHECK(count_dir(ns) == 0);
}

/* ---- errors ----------------------------------------------------------- */

static void test_bad_names(void)
{
    char longname[IPCX_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *bad[] = {NULL,  "",       "../x",  ".hidden",
                         "a/b", "sp ace", longname};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ipcx_region *r = SENTINEL;
        CHECK_RC(ipcx_region_create(bad[i], 4096, 0600), -EINVAL);
        CHECK(ipcx_last_error()[0] != '\0');
        CHECK_RC(ipcx_region_attach(bad[i], 0, &r), -EINVAL);
        CHECK(r == SENTINEL);
        CHECK_RC(ipcx_region_destroy(bad[i]), -EINVAL);
    }
    longname[IPCX_NAME_MAX] = '\0'; /* exactly the limit is fine */
    CHECK_RC(ipcx_region_create(longname, 1, 0), 0);
    CHECK_RC(ipcx_region_destroy(longname), 0);
}

static void test_bad_args(void)
{
    ipcx_region *r = SENTINEL;
    CHECK_RC(ipcx_region_create("args", 0, 0600), -EINVAL);
    CHECK(strstr(ipcx_last_error(), "size") != NULL);
    CHECK_RC(ipcx_region_create("args", IPCX_REGION_SIZE_MAX + 1, 0), -EINVAL);
    CHECK_RC(ipcx_region_create("args", SIZE_MAX, 0), -EINVAL);
    CHECK_RC(ipcx_region_create_anon(0, &r), -EINVAL);
    CHECK_RC(ipcx_region_create_anon(IPCX_REGION_SIZE_MAX + 1, &r), -EINVAL);
    CHECK_RC(ipcx_region_create_anon(4096, NULL), -EINVAL);
    CHECK(r == SENTINEL);
    CHECK(count_dir(ns) == 0);

    CHECK_RC(ipcx_region_create("args", 4096, 0600), 0);
    CHECK_RC(ipcx_region_create("args", 4096, 0600), -EEXIST);
    CHECK(strstr(ipcx_last_error(), "args") != NULL);
    CHECK_RC(ipcx_region_create("args", 100, 0644), -EEXIST);
    CHECK_RC(ipcx_region_attach("args", 0x2, &r), -EINVAL);
    CHECK_RC(ipcx_region_attach("args", ~0u, &r), -EINVAL);
    CHECK_RC(ipcx_region_attach("args", 0, NULL), -EINVAL);
    CHECK(r == SENTINEL);
    CHECK_RC(ipcx_region_attach("nope", 0, &r), -ENOENT);
    CHECK(strstr(ipcx_last_error(), "nope") != NULL);
    CHECK_RC(ipcx_region_attach("nope", IPCX_REGION_RDONLY, &r), -ENOENT);
    CHECK(r == SENTINEL);
    CHECK_RC(ipcx_region_destroy("nope"), -ENOENT);
    CHECK_RC(ipcx_region_destroy("args"), 0);
    CHECK_RC(ipcx_region_destroy("args"), -ENOENT);

    /* NULL handles. */
    CHECK_RC(ipcx_region_detach(NULL), 0);
    CHECK(ipcx_region_addr(NULL) == NULL && ipcx_region_size(NULL) == 0);
    CHECK_RC(ipcx_region_fd(NULL), -EINVAL);
    CHECK_RC(ipcx_region_seal(NULL), -EINVAL);
    CHECK(ipcx_region_is_sealed(NULL) == 0);
    CHECK_RC(ipcx_region_list(NULL, NULL), -EINVAL);
}

/* Files in the namespace that are not region files are refused on attach
 * without blocking (a FIFO) or following (a symlink). */
static void test_not_region_files(void)
{
    char path[512], target[512];
    ipcx_region *r = SENTINEL;
    alarm(10); /* an open that blocks on the FIFO fails the test */
    snprintf(path, sizeof path, "%s/fifo.region", ns);
    CHECK(mkfifo(path, 0600) == 0);
    CHECK_RC(ipcx_region_attach("fifo", IPCX_REGION_RDONLY, &r), -EPROTO);
    CHECK_RC(ipcx_region_attach("fifo", 0, &r), -EPROTO);
    snprintf(target, sizeof target, "%s/real.region", ns);
    CHECK_RC(ipcx_region_create("real", 4096, 0600), 0);
    snprintf(path, sizeof path, "%s/link.region", ns);
    CHECK(symlink(target, path) == 0);
    CHECK_RC(ipcx_region_attach("link", 0, &r), -EPROTO);
    snprintf(path, sizeof path, "%s/dir.region", ns);
    CHECK(mkdir(path, 0700) == 0);
    CHECK_RC(ipcx_region_attach("dir", IPCX_REGION_RDONLY, &r), -EPROTO);
    CHECK_RC(ipcx_region_attach("dir", 0, &r), -EPROTO);
    CHECK(rmdir(path) == 0);
    snprintf(path, sizeof path, "%s/empty.region", ns);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_RC(ipcx_region_attach("empty", 0, &r), -EPROTO);
    CHECK(strstr(ipcx_last_error(), "size") != NULL);
    CHECK(r == SENTINEL);
    CHECK_RC(ipcx_region_destroy("fifo"), 0);
    CHECK_RC(ipcx_region_destroy("link"), 0);
    CHECK_RC(ipcx_region_destroy("empty"), 0);
    CHECK_RC(ipcx_region_destroy("real"), 0);
    CHECK(count_dir(ns) == 0);
}

/* ---- permissions across users ------------------------------------------ */

struct perm_case {
    const char *name;
    unsigned flags;
    int attach_rc;
    int destroy_rc;
    int create_rc; /* of a new region, which nobody then destroys */
    int in_root_group;
};

static void become_other(int in_root_group)
{
    gid_t root_group = 0;
    CHECK(setgroups(in_root_group ? 1 : 0, &root_group) == 0);
    CHECK(setresgid(OTHER_GID, OTHER_GID, OTHER_GID) == 0);
    CHECK(setresuid(OTHER_UID, OTHER_UID, OTHER_UID) == 0);
    CHECK(geteuid() == OTHER_UID);
}

/* Use the attachment as its flags allow; the parent checks the result. */
static void use_attached(ipcx_region *r, unsigned flags)
{
    CHECK(strcmp(bytes(r), "root-data") == 0);
    if (flags & IPCX_REGION_RDONLY) {
        /* The fd is read-only: no upgrading the mapping either. */
        CHECK(mprotect(ipcx_region_addr(r), 4096, PROT_READ | PROT_WRITE) ==
              -1);
    } else {
        strcpy(bytes(r), "from nobody");
    }
}

static int child_perm(void *arg)
{
    const struct perm_case *c = arg;
    become_other(c->in_root_group);
    ipcx_region *r = SENTINEL;
    int rc = ipcx_region_attach(c->name, c->flags, &r);
    if (rc != c->attach_rc) {
        fprintf(stderr, "uid %d attach '%s' flags %u: %d (%s), expected %d\n",
                OTHER_UID, c->name, c->flags, rc, ipcx_strerror(rc),
                c->attach_rc);
        return 1;
    }
    if (rc < 0) {
        CHECK(r == SENTINEL && ipcx_last_error()[0] != '\0');
    } else {
        use_attached(r, c->flags);
        ipcx_region_detach(r);
    }
    CHECK_RC(ipcx_region_create("made-by-nobody", 4096, 0644), c->create_rc);
    if (c->create_rc == 0) { /* its owner may destroy it */
        CHECK_RC(ipcx_region_destroy("made-by-nobody"), 0);
    }
    CHECK_RC(ipcx_region_destroy(c->name), c->destroy_rc);
    return 0;
}

static void try_as(struct perm_case c)
{
    ipcx_region *r = attach(c.name, 0);
    strcpy(bytes(r), "root-data");
    if (tu_wait(tu_spawn(child_perm, &c)) != 0) {
        fprintf(stderr, "child for '%s' failed\n", c.name);
        exit(1);
    }
    /* A writable attachment wrote; anything else left the data alone. */
    int wrote = c.attach_rc == 0 && !(c.flags & IPCX_REGION_RDONLY);
    CHECK(strcmp(bytes(r), wrote ? "from nobody" : "root-data") == 0);
    ipcx_region_detach(r);
    ipcx_region *gone = SENTINEL;
    if (c.destroy_rc == 0) {
        CHECK_RC(ipcx_region_attach(c.name, 0, &gone), -ENOENT);
    }
}

#define RDONLY IPCX_REGION_RDONLY
#define NO     (-EACCES)

static void test_permissions(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_permissions: not root, cannot switch users: "
                        "skipped\n");
        return;
    }
    CHECK_RC(ipcx_region_create("private", 4096, 0600), 0);
    CHECK_RC(ipcx_region_create("shared", 4096, 0666), 0);
    CHECK_RC(ipcx_region_create("readonly", 4096, 0644), 0);
    CHECK_RC(ipcx_region_create("group", 4096, 0660), 0);

    /* A namespace only root may enter: nothing in it is reachable. */
    CHECK(chmod(ns, 0700) == 0);
    try_as((struct perm_case){"shared", 0, NO, NO, NO, 0});

    /* Traversable, not writable: the file modes decide who attaches, and
     * nobody may remove or add a region. */
    CHECK(chmod(ns, 0711) == 0);
    try_as((struct perm_case){"private", 0, NO, NO, NO, 0});
    try_as((struct perm_case){"private", RDONLY, NO, NO, NO, 0});
    try_as((struct perm_case){"readonly", 0, NO, NO, NO, 0});
    try_as((struct perm_case){"readonly", RDONLY, 0, NO, NO, 0});
    try_as((struct perm_case){"shared", 0, 0, NO, NO, 0});
    try_as((struct perm_case){"group", RDONLY, NO, NO, NO, 0});
    /* Group permission admits a member of the file's group (root's). */
    try_as((struct perm_case){"group", 0, 0, NO, NO, 1});
    try_as((struct perm_case){"private", RDONLY, NO, NO, NO, 1});

    /* A namespace everyone may write: still only a region's owner, or who
     * may write it, may destroy it. */
    CHECK(chmod(ns, 0777) == 0);
    try_as((struct perm_case){"private", 0, NO, NO, 0, 0});
    try_as((struct perm_case){"readonly", RDONLY, 0, NO, 0, 0});
    try_as((struct perm_case){"shared", 0, 0, 0, 0, 0});

    CHECK(chmod(ns, 0700) == 0);
    const char *names[] = {"private", "readonly", "group"};
    for (int i = 0; i < 3; i++) {
        CHECK_RC(ipcx_region_destroy(names[i]), 0);
    }
    CHECK(count_dir(ns) == 0);
}

#undef RDONLY
#undef NO

/* ---- read-only attachments, destroy, list ------------------------------ */

static void test_rdonly_faults(void)
{
    CHECK_RC(ipcx_region_create("ro", 8192, 0600), 0);
    ipcx_region *w = attach("ro", 0);
    ipcx_region *r = attach("ro", IPCX_REGION_RDONLY);
    strcpy(bytes(w), "written");
    CHECK(strcmp(bytes(r), "written") == 0);
    check_write_faults(bytes(r));
    check_write_faults(bytes(r) + 8191);
    CHECK(mprotect(ipcx_region_addr(r), 8192, PROT_READ | PROT_WRITE) == -1);
    CHECK(strcmp(bytes(r), "written") == 0); /* the faults changed nothing */
    /* Its fd is read-only: adopting a copy writable is refused. */
    ipcx_region *r2 = SENTINEL;
    CHECK_RC(ipcx_region_from_fd(dup(ipcx_region_fd(r)), 0, &r2), -EACCES);
    CHECK(r2 == SENTINEL);
    ipcx_region_detach(r);
    ipcx_region_detach(w);
    CHECK_RC(ipcx_region_destroy("ro"), 0);
}

static int child_after_destroy(void *arg)
{
    int sock = child_end(arg);
    ipcx_region *r = attach("doomed", 0);
    post(sock, 'a'); /* attached */
    expect(sock, 'd');
    CHECK(strcmp(bytes(r), "after destroy") == 0);
    strcpy(bytes(r) + 100, "child still here");
    ipcx_region_detach(r);
    return 0;
}

static void test_destroy_while_attached(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK_RC(ipcx_region_create("doomed", 4096, 0600), 0);
    ipcx_region *r = attach("doomed", 0);
    pid_t pid = tu_spawn(child_after_destroy, sv);
    close(sv[1]); /* a child that dies gives EOF, not a hang */
    expect(sv[0], 'a');
    CHECK_RC(ipcx_region_destroy("doomed"), 0);
    ipcx_region *r2 = SENTINEL;
    CHECK_RC(ipcx_region_attach("doomed", 0, &r2), -ENOENT);
    strcpy(bytes(r), "after destroy");
    post(sv[0], 'd');
    CHECK(tu_wait(pid) == 0);
    CHECK(strcmp(bytes(r) + 100, "child still here") == 0);
    /* The name is free: a new region, zero-filled, unrelated to ours. */
    CHECK_RC(ipcx_region_create("doomed", 4096, 0600), 0);
    r2 = attach("doomed", 0);
    CHECK(bytes(r2)[0] == 0 && bytes(r2)[100] == 0);
    strcpy(bytes(r2), "new");
    CHECK(strcmp(bytes(r), "after destroy") == 0);
    ipcx_region_detach(r2);
    ipcx_region_detach(r);
    CHECK_RC(ipcx_region_destroy("doomed"), 0);
    close(sv[0]);
}

struct seen {
    int a, b, c, other, calls;
};

static int collect(const char *name, void *arg)
{
    struct seen *s = arg;
    s->calls++;
    if (strcmp(name, "list-a") == 0) {
        s->a++;
    } else if (strcmp(name, "list-b") == 0) {
        s->b++;
    } else if (strcmp(name, "list-c") == 0) {
        s->c++;
    } else {
        s->other++;
    }
    return 0;
}

static int stop_at_first(const char *name, void *arg)
{
    (*(int *)arg)++;
    return 7;
}

static void test_list(void)
{
    struct seen s = {0};
    CHECK_RC(ipcx_region_list(collect, &s), 0);
    CHECK(s.calls == 0);
    CHECK_RC(ipcx_region_create("list-a", 1, 0), 0);
    CHECK_RC(ipcx_region_create("list-b", 1, 0), 0);
    CHECK_RC(ipcx_region_create("list-c", 1, 0), 0);
    CHECK_RC(ipcx_mailbox_create("list-mailbox", NULL), 0);
    ipcx_region *a = anon(4096); /* anonymous: no name to list */
    CHECK_RC(ipcx_region_list(collect, &s), 0);
    CHECK(s.a == 1 && s.b == 1 && s.c == 1 && s.other == 0 && s.calls == 3);
    int calls = 0;
    CHECK_RC(ipcx_region_list(stop_at_first, &calls), 7);
    CHECK(calls == 1);
    CHECK_RC(ipcx_region_destroy("list-b"), 0);
    memset(&s, 0, sizeof s);
    CHECK_RC(ipcx_region_list(collect, &s), 0);
    CHECK(s.a == 1 && s.b == 0 && s.c == 1 && s.calls == 2);
    /* And the mailbox list does not show regions. */
    calls = 0;
    CHECK_RC(ipcx_mailbox_list(stop_at_first, &calls), 7);
    CHECK(calls == 1);
    ipcx_region_detach(a);
    CHECK_RC(ipcx_region_destroy("list-a"), 0);
    CHECK_RC(ipcx_region_destroy("list-c"), 0);
    CHECK_RC(ipcx_mailbox_destroy("list-mailbox"), 0);
}

/* ---- anonymous regions passed by fd ------------------------------------ */

static int child_anon(void *arg)
{
    int sock = child_end(arg);
    int fd = recv_fd(sock);
    ipcx_region *r = SENTINEL;
    CHECK_RC(ipcx_region_from_fd(fd, 0, &r), 0);
    CHECK(ipcx_region_fd(r) == fd);
    CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
    CHECK(ipcx_region_size(r) == 65536 && ipcx_region_is_sealed(r) == 0);
    CHECK(strcmp(bytes(r), "anon hello") == 0 && bytes(r)[65535] == 'E');
    strcpy(bytes(r) + 100, "anon reply");
    ipcx_region_detach(r);
    CHECK(fd_closed(fd));
    post(sock, 'r');
    return 0;
}

static void test_anon_passing(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    /* The child exists before the region: only the fd can reach it. */
    pid_t pid = tu_spawn(child_anon, sv);
    close(sv[1]); /* a child that dies gives EOF, not a hang */
    int files = count_dir(ns);
    ipcx_region *r = anon(65536);
    CHECK(count_dir(ns) == files); /* nothing named */
    char link[256], path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ipcx_region_fd(r));
    ssize_t n = readlink(path, link, sizeof link - 1);
    CHECK(n > 0);
    link[n] = '\0';
    CHECK(strncmp(link, "/memfd:", 7) == 0);
    CHECK(fcntl(ipcx_region_fd(r), F_GETFD) == FD_CLOEXEC);
    for (int i = 0; i < 65536; i++) {
        CHECK(bytes(r)[i] == 0);
    }
    strcpy(bytes(r), "anon hello");
    bytes(r)[65535] = 'E';
    send_fd(sv[0], ipcx_region_fd(r));
    expect(sv[0], 'r');
    CHECK(tu_wait(pid) == 0);
    CHECK(strcmp(bytes(r) + 100, "anon reply") == 0);
    ipcx_region_detach(r);
    close(sv[0]);
}

/* ---- sealed regions ----------------------------------------------------- */

/* Everything a reader might try to change a sealed region with fails. */
static void check_sealed_fd(int fd, void *addr, size_t size)
{
    errno = 0;
    CHECK(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
              MAP_FAILED &&
          errno == EPERM);
    CHECK(write(fd, "x", 1) == -1 && errno == EPERM);
    CHECK(pwrite(fd, "x", 1, 10) == -1 && errno == EPERM);
    CHECK(ftruncate(fd, 0) == -1 && errno == EPERM);
    CHECK(ftruncate(fd, (off_t)size * 2) == -1 && errno == EPERM);
    CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                    (off_t)size) == -1);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == -1 && errno == EPERM);
    CHECK(mprotect(addr, size, PROT_READ | PROT_WRITE) == -1);
    check_write_faults(addr);
    /* A private copy-on-write mapping may be written, but stays private. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED);
    ((char *)p)[0] = '!';
    CHECK(((char *)addr)[0] != '!');
    munmap(p, size);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)size);
}

static int child_sealed(void *arg)
{
    int sock = child_end(arg);
    int fd = recv_fd(sock);
    ipcx_region *r = SENTINEL;
    /* Flags 0: a sealed region is mapped read-only all the same. */
    CHECK_RC(ipcx_region_from_fd(fd, 0, &r), 0);
    CHECK(ipcx_region_is_sealed(r) == 1);
    CHECK(strcmp(bytes(r), "v1b") == 0);
    check_sealed_fd(fd, ipcx_region_addr(r), 4096);
    CHECK_RC(ipcx_region_seal(r), 0); /* sealed already */
    ipcx_region *r2 = SENTINEL;
    CHECK_RC(ipcx_region_from_fd(dup(fd), IPCX_REGION_RDONLY, &r2), 0);
    CHECK(ipcx_region_is_sealed(r2) == 1);
    CHECK(fcntl(ipcx_region_fd(r2), F_GETFD) == FD_CLOEXEC); /* dup had not */
    ipcx_region_detach(r2);
    post(sock, 'c'); /* checked: publish more */
    expect(sock, 'p');
    CHECK(strcmp(bytes(r), "v2 from the creator") == 0);
    ipcx_region_detach(r);
    return 0;
}

static void test_sealed(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    pid_t pid = tu_spawn(child_sealed, sv);
    close(sv[1]); /* a child that dies gives EOF, not a hang */
    ipcx_region *r = anon(4096);
    strcpy(bytes(r), "v1");
    CHECK(ipcx_region_is_sealed(r) == 0);
    CHECK_RC(ipcx_region_seal(r), 0);
    CHECK(ipcx_region_is_sealed(r) == 1);
    CHECK_RC(ipcx_region_seal(r), 0);
    strcpy(bytes(r), "v1b"); /* the creator's mapping still writes */
    int fd = ipcx_region_fd(r);
    CHECK(write(fd, "x", 1) == -1 && errno == EPERM);
    CHECK(ftruncate(fd, 0) == -1 && errno == EPERM);
    send_fd(sv[0], fd);
    expect(sv[0], 'c');
    strcpy(bytes(r), "v2 from the creator");
    post(sv[0], 'p');
    CHECK(tu_wait(pid) == 0);
    ipcx_region_detach(r);
    close(sv[0]);
}

static void test_seal_named(void)
{
    CHECK_RC(ipcx_region_create("unsealable", 4096, 0640), 0);
    ipcx_region *r = attach("unsealable", 0);
    CHECK_RC(ipcx_region_seal(r), -ENOTSUP);
    CHECK(strstr(ipcx_last_error(), "RDONLY") != NULL);
    CHECK(ipcx_region_is_sealed(r) == 0);
    bytes(r)[0] = 1; /* still writable */
    ipcx_region_detach(r);
    CHECK_RC(ipcx_region_destroy("unsealable"), 0);
}

/* A memfd sealed by someone else with a write seal alone (no size seals)
 * is still mapped read-only. */
static void test_foreign_write_seal(void)
{
    int fd = memfd_create("foreign", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(fd >= 0 && ftruncate(fd, 8192) == 0);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0);
    ipcx_region *r = SENTINEL;
    CHECK_RC(ipcx_region_from_fd(fd, 0, &r), 0);
    CHECK(ipcx_region_is_sealed(r) == 1 && ipcx_region_size(r) == 8192);
    check_write_faults(ipcx_region_addr(r));
    CHECK_RC(ipcx_region_seal(r), 0); /* adds the size seals */
    CHECK(ftruncate(fd, 4096) == -1 && errno == EPERM);
    ipcx_region_detach(r);
    CHECK(fd_closed(fd));
}

/* ---- hostile fds --------------------------------------------------------- */

/* from_fd(FD, FLAGS) must fail with WANT (any error if 0), close FD and
 * leave the out-parameter alone. */
static void refuse(int fd, unsigned flags, int want, const char *what)
{
    ipcx_region *r = SENTINEL;
    CHECK(fd >= 0);
    int rc = ipcx_region_from_fd(fd, flags, &r);
    if (rc >= 0 || (want != 0 && rc != want)) {
        fprintf(stderr, "from_fd(%s): %d (%s), expected %d\n", what, rc,
                ipcx_strerror(rc), want);
        exit(1);
    }
    CHECK(r == SENTINEL);
    CHECK(ipcx_last_error()[0] != '\0');
    if (!fd_closed(fd)) {
        fprintf(stderr, "from_fd(%s) left fd %d open\n", what, fd);
        exit(1);
    }
}

static int sized_memfd(off_t size)
{
    int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(fd >= 0 && ftruncate(fd, size) == 0);
    return fd;
}

static void reopen_as(int fd, int flags, int *out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    *out = open(path, flags | O_CLOEXEC);
    CHECK(*out >= 0);
}

static void test_hostile_fds(void)
{
    int p[2], sv[2], fd;
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    refuse(p[0], 0, -EPROTO, "pipe read end");
    refuse(p[1], IPCX_REGION_RDONLY, 0, "pipe write end");
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    refuse(sv[0], 0, -EPROTO, "socket");
    close(sv[1]);
    refuse(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), IPCX_REGION_RDONLY,
           -EPROTO, "directory");
    refuse(open("/dev/null", O_RDWR | O_CLOEXEC), 0, -EPROTO, "/dev/null");
    refuse(sized_memfd(0), 0, -EPROTO, "empty memfd");
    refuse(sized_memfd((off_t)IPCX_REGION_SIZE_MAX + 1), 0, -EPROTO,
           "huge memfd");
    refuse(sized_memfd(4096), 0x4, -EINVAL, "bad flags");
    fd = sized_memfd(4096);
    CHECK_RC(ipcx_region_from_fd(fd, 0, NULL), -EINVAL);
    CHECK(fd_closed(fd));

    /* A file on a disk filesystem: its pages could block on I/O. */
    struct statfs sfs;
    fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && fstatfs(fd, &sfs) == 0);
    if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC) {
        refuse(fd, IPCX_REGION_RDONLY, -EPROTO, "disk file");
    } else {
        close(fd);
    }

    /* Access modes the mapping cannot have. */
    int mfd = sized_memfd(4096);
    reopen_as(mfd, O_RDONLY, &fd);
    refuse(fd, 0, -EACCES, "read-only fd, writable mapping");
    reopen_as(mfd, O_WRONLY, &fd);
    refuse(fd, IPCX_REGION_RDONLY, -EACCES, "write-only fd");
    reopen_as(mfd, O_PATH, &fd);
    refuse(fd, IPCX_REGION_RDONLY, -EBADF, "O_PATH fd");
    ipcx_region *r = SENTINEL;
    reopen_as(mfd, O_RDONLY, &fd);
    CHECK_RC(ipcx_region_from_fd(fd, IPCX_REGION_RDONLY, &r), 0);
    check_write_faults(ipcx_region_addr(r));
    ipcx_region_detach(r);
    close(mfd);

    /* Not open at all: -EBADF, and no fd is closed on our behalf. */
    r = SENTINEL;
    CHECK_RC(ipcx_region_from_fd(-1, 0, &r), -EBADF);
    CHECK_RC(ipcx_region_from_fd(100000, 0, &r), -EBADF);
    CHECK(r == SENTINEL);
}

/* A named region's fd, in a tmpfs namespace, may be passed and adopted. */
static void test_named_fd(void)
{
    CHECK_RC(ipcx_region_create("by-fd", 4096, 0600), 0);
    ipcx_region *r = attach("by-fd", 0);
    ipcx_region *r2 = SENTINEL;
    int rc = ipcx_region_from_fd(dup(ipcx_region_fd(r)), 0, &r2);
    struct statfs sfs;
    CHECK(statfs(ns, &sfs) == 0);
    if (sfs.f_type == TMPFS_MAGIC) {
        CHECK_RC(rc, 0);
        strcpy(bytes(r2), "through the fd");
        CHECK(strcmp(bytes(r), "through the fd") == 0);
        ipcx_region_detach(r2);
    } else {
        CHECK_RC(rc, -EPROTO);
    }
    ipcx_region_detach(r);
    CHECK_RC(ipcx_region_destroy("by-fd"), 0);
}

/* ---- temporary regions ------------------------------------------------- */

/* The mode bits of region NAME's file, or -1 if it does not exist. */
static int file_mode(const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.region", ns, name);
    return lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static ipcx_region *create_temp(const char *name, size_t size)
{
    ipcx_region *r = SENTINEL;
    CHECK_RC(
        ipcx_region_create_attach(name, size, 0600, IPCX_REGION_TEMPORARY, &r),
        0);
    CHECK(r != SENTINEL && ipcx_region_is_temporary(r) == 1);
    return r;
}

static void test_temporary_basics(void)
{
    umask(0077); /* must not apply */
    ipcx_region *r = SENTINEL, *r2;
    CHECK_RC(
        ipcx_region_create_attach("tmp", 8192, 0640, IPCX_REGION_TEMPORARY, &r),
        0);
    CHECK(file_mode("tmp") == 01640); /* the mark: S_ISVTX */
    CHECK(ipcx_region_size(r) == 8192 && ipcx_region_is_temporary(r) == 1);
    strcpy(bytes(r), "temp data");
    r2 = attach("tmp", IPCX_REGION_RDONLY);
    CHECK(ipcx_region_is_temporary(r2) == 1);
    CHECK(strcmp(bytes(r2), "temp data") == 0);
    CHECK_RC(ipcx_region_create_attach("tmp", 4096, 0600, 0, &r), -EEXIST);
    ipcx_region_detach(r2);
    ipcx_region_detach(r);

    /* Without the flag: created and attached, but permanent. */
    CHECK_RC(ipcx_region_create_attach("perm", 4096, 0, 0, &r), 0);
    CHECK(file_mode("perm") == 0600 && ipcx_region_is_temporary(r) == 0);
    strcpy(bytes(r), "stays");
    ipcx_region_detach(r);
    CHECK(ipcx_gc(0, NULL, NULL, NULL) == 1); /* "tmp" only */
    CHECK(file_mode("tmp") == -1);
    r = attach("perm", 0);
    CHECK(strcmp(bytes(r), "stays") == 0 && ipcx_region_is_temporary(r) == 0);
    ipcx_region_detach(r);
    CHECK_RC(ipcx_region_destroy("perm"), 0);

    /* Bad arguments change nothing. */
    r = SENTINEL;
    CHECK_RC(ipcx_region_create_attach("x", 4096, 0600, IPCX_REGION_RDONLY, &r),
             -EINVAL);
    CHECK_RC(ipcx_region_create_attach("x", 4096, 0600, 0x4, &r), -EINVAL);
    CHECK_RC(ipcx_region_create_attach("x", 4096, 0600, 0, NULL), -EINVAL);
    CHECK_RC(ipcx_region_create_attach("../x", 4096, 0600, 0, &r), -EINVAL);
    CHECK_RC(ipcx_region_create_attach("x", 0, 0600, 0, &r), -EINVAL);
    CHECK_RC(ipcx_region_create_attach("x", 4096, 01600, 0, &r), -EINVAL);
    CHECK_RC(ipcx_region_attach("x", IPCX_REGION_TEMPORARY, &r), -EINVAL);
    CHECK(r == SENTINEL);
    CHECK(ipcx_region_is_temporary(NULL) == 0);
    r = anon(4096);
    CHECK(ipcx_region_is_temporary(r) == 0);
    ipcx_region_detach(r);
    CHECK(count_dir(ns) == 0);
}

/* Attach NAME, report 'a', hold it until told 'd'. */
static int child_holds(void *arg)
{
    int sock = child_end(arg);
    ipcx_region *r = attach("held", IPCX_REGION_RDONLY);
    post(sock, 'a');
    expect(sock, 'd');
    ipcx_region_detach(r);
    post(sock, 'x');
    return 0;
}

/* Adopt a region fd sent over the socket, hold it until told 'd'. */
static int child_adopts(void *arg)
{
    int sock = child_end(arg);
    ipcx_region *r;
    CHECK_RC(ipcx_region_from_fd(recv_fd(sock), 0, &r), 0);
    post(sock, 'a');
    expect(sock, 'd');
    ipcx_region_detach(r);
    post(sock, 'x');
    return 0;
}

static int child_sleeps(void *arg)
{
    int sock = child_end(arg);
    post(sock, 'a');
    char c;
    (void)!recv(sock, &c, 1, 0); /* until the parent goes or says so */
    return 0;
}

/* gc must remove WANT (0 or 1) regions: the temporary "held" lives on
 * exactly as long as some process has it attached. */
static void gc_expect(int want)
{
    ipcx_gc_report rep;
    CHECK_RC(ipcx_gc(0, NULL, NULL, &rep), want);
    CHECK(rep.removed[IPCX_GC_REGION] == (uint32_t)want);
    CHECK((file_mode("held") == -1) == (want == 1));
}

static void test_temporary_lifetime(void)
{
    int (*const holders[])(void *) = {child_holds, child_adopts, child_sleeps};
    for (int k = 0; k < 3; k++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        ipcx_region *r = create_temp("held", 4096);
        /* child_sleeps holds only what fork() gave it: our attachment's
         * fd, which carries the token. */
        pid_t pid = tu_spawn(holders[k], sv);
        close(sv[1]);
        if (holders[k] == child_adopts) {
            send_fd(sv[0], ipcx_region_fd(r));
        }
        expect(sv[0], 'a');
        ipcx_region_detach(r);
        gc_expect(0);
        post(sv[0], 'd');
        if (holders[k] != child_sleeps) {
            expect(sv[0], 'x'); /* detached, still running */
        }
        CHECK(tu_wait(pid) == 0);
        gc_expect(1);
        close(sv[0]);
    }
    /* A dead temporary region that is attached again lives again. */
    ipcx_region *r = create_temp("held", 4096);
    ipcx_region_detach(r);
    r = attach("held", 0);
    CHECK(ipcx_region_is_temporary(r) == 1);
    gc_expect(0);
    ipcx_region_detach(r);
    gc_expect(1);
}

/* Write-lock region NAME's token byte (as a collector does), say 'l', then
 * after MS_THEN ms remove the file if told to by ARG, and let go. */
struct locker {
    int sv[2];
    int unlink_it;
};

static int child_locks_token(void *arg)
{
    struct locker *l = arg;
    int sock = child_end(l->sv);
    char path[512];
    snprintf(path, sizeof path, "%s/tok.region", ns);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    struct flock fl = {.l_type = F_WRLCK,
                       .l_whence = SEEK_SET,
                       .l_start = (off_t)1 << 62,
                       .l_len = 1};
    CHECK(fcntl(fd, F_OFD_SETLK, &fl) == 0);
    post(sock, 'l');
    if (l->unlink_it) {
        tu_pause_ms(3);
        CHECK(unlink(path) == 0);
    } else {
        expect(sock, 'd');
    }
    close(fd);
    return 0;
}

/* Attaching waits for a collector's lock, then sees what it did. */
static void test_temporary_attach_races(void)
{
    ipcx_region *r = SENTINEL;
    for (int unlink_it = 0; unlink_it < 2; unlink_it++) {
        ipcx_region_detach(create_temp("tok", 4096)); /* dead */
        struct locker l = {.unlink_it = unlink_it};
        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, l.sv) == 0);
        pid_t pid = tu_spawn(child_locks_token, &l);
        close(l.sv[1]);
        expect(l.sv[0], 'l');
        if (unlink_it) {
            /* The "collector" removes it while we wait: gone. */
            CHECK_RC(ipcx_region_attach("tok", 0, &r), -ENOENT);
        } else {
            /* A lock that stays: -EBUSY after a bounded wait. */
            long long t0 = tu_now_ns();
            CHECK_RC(ipcx_region_attach("tok", 0, &r), -EBUSY);
            CHECK(tu_now_ns() - t0 < 2000000000LL);
            CHECK(strstr(ipcx_last_error(), "lock") != NULL);
            post(l.sv[0], 'd');
        }
        CHECK(r == SENTINEL);
        CHECK(tu_wait(pid) == 0);
        close(l.sv[0]);
    }
    CHECK(ipcx_gc(0, NULL, NULL, NULL) == 0); /* the last one was removed */
    CHECK(count_dir(ns) == 0);
}

/* ---- leaks and failed system calls ------------------------------------ */

static void test_no_leaks(void)
{
    ipcx_region *r;
    ipcx_region_detach(anon(4096)); /* warm up lazy allocations */
    int fds = count_fds(), maps = count_maps();
    for (int i = 0; i < 1000; i++) {
        r = anon(4096 + (size_t)i);
        bytes(r)[i] = 1;
        CHECK_RC(ipcx_region_detach(r), 0);
    }
    for (int i = 0; i < 200; i++) {
        CHECK_RC(ipcx_region_create("leak", 4096, 0600), 0);
        r = attach("leak", i % 2 ? IPCX_REGION_RDONLY : 0);
        CHECK_RC(ipcx_region_attach("leak-none", 0, &r), -ENOENT);
        CHECK_RC(ipcx_region_create("leak", 4096, 0600), -EEXIST);
        ipcx_region_detach(r);
        CHECK_RC(ipcx_region_destroy("leak"), 0);
        int p[2];
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        refuse(p[0], 0, -EPROTO, "pipe");
        close(p[1]);
        refuse(sized_memfd(0), 0, -EPROTO, "empty memfd");
    }
    CHECK(count_fds() == fds);
    CHECK(count_maps() <= maps + 2);
}

static int fail_memfd(const char *name, unsigned flags)
{
    errno = EMFILE;
    return -1;
}

static int fail_ftruncate(int fd, off_t len)
{
    errno = ENOSPC;
    return -1;
}

static void *fail_mmap(size_t len, int prot, int fd)
{
    errno = ENOMEM;
    return NULL;
}

static void test_faults(void)
{
    struct ipcx__sys_table saved = ipcx__sys;
    ipcx_region *r = SENTINEL;
    int fds = count_fds(), files = count_dir(ns);
    ipcx__sys.memfd = fail_memfd;
    CHECK_RC(ipcx_region_create_anon(4096, &r), -EMFILE);
    ipcx__sys = saved;
    ipcx__sys.ftruncate = fail_ftruncate;
    CHECK_RC(ipcx_region_create_anon(4096, &r), -ENOSPC);
    CHECK_RC(ipcx_region_create("fault", 4096, 0600), -ENOSPC);
    CHECK(ipcx_last_error()[0] != '\0');
    ipcx__sys = saved;
    ipcx__sys.mmap = fail_mmap;
    CHECK_RC(ipcx_region_create_anon(4096, &r), -ENOMEM);
    ipcx__sys = saved;
    CHECK(count_fds() == fds && count_dir(ns) == files); /* no temp file */

    /* Create-and-attach: a failed create, or a failed map after the
     * create, leaves no file and no fd. */
    ipcx__sys.ftruncate = fail_ftruncate;
    CHECK_RC(ipcx_region_create_attach("fault", 4096, 0600,
                                       IPCX_REGION_TEMPORARY, &r),
             -ENOSPC);
    ipcx__sys = saved;
    ipcx__sys.mmap = fail_mmap;
    CHECK_RC(ipcx_region_create_attach("fault", 4096, 0600,
                                       IPCX_REGION_TEMPORARY, &r),
             -ENOMEM);
    CHECK_RC(ipcx_region_create_attach("fault", 4096, 0600, 0, &r), -ENOMEM);
    ipcx__sys = saved;
    CHECK(r == SENTINEL);
    CHECK(count_fds() == fds && count_dir(ns) == files);

    CHECK_RC(ipcx_region_create("fault", 4096, 0600), 0); /* name is free */
    ipcx__sys.mmap = fail_mmap;
    CHECK_RC(ipcx_region_attach("fault", 0, &r), -ENOMEM);
    int fd = sized_memfd(4096);
    CHECK_RC(ipcx_region_from_fd(fd, 0, &r), -ENOMEM);
    ipcx__sys = saved;
    CHECK(fd_closed(fd));
    CHECK(r == SENTINEL);
    CHECK(count_fds() == fds);
    CHECK_RC(ipcx_region_destroy("fault"), 0);
}

int main(void)
{
    ns = tu_private_ns();
    TU_RUN(test_cross_process);
    TU_RUN(test_exact_mode);
    TU_RUN(test_bad_names);
    TU_RUN(test_bad_args);
    TU_RUN(test_not_region_files);
    TU_RUN(test_permissions);
    TU_RUN(test_rdonly_faults);
    TU_RUN(test_destroy_while_attached);
    TU_RUN(test_list);
    TU_RUN(test_anon_passing);
    TU_RUN(test_sealed);
    TU_RUN(test_seal_named);
    TU_RUN(test_foreign_write_seal);
    TU_RUN(test_hostile_fds);
    TU_RUN(test_named_fd);
    TU_RUN(test_temporary_basics);
    TU_RUN(test_temporary_lifetime);
    TU_RUN(test_temporary_attach_races);
    TU_RUN(test_no_leaks);
    TU_RUN(test_faults);
    return tu_failures > 0;
}
