/*
 * gc.c - cleanup of leftovers: ipcx_gc() and the per-object collectors the
 * library calls lazily.  See ipcx/ns.h for the contract and the "Cleanup"
 * section of docs/design.md for the reasoning.
 *
 * The collector knows the namespace's file names (which module makes what
 * is listed in ns.h and at each collector below) and each kind's liveness
 * token, nothing of what the objects hold.  The rule for removing anything
 * is the one its owners follow: the names of an object change only under
 * its liveness lock.  So the collector takes that lock itself (a live
 * holder makes it fail: not a leftover), checks that the name still is
 * the file it locked, removes, and only then lets go; nobody can claim or
 * re-create the object in between.
 *
 * Planted files: whoever may write the namespace can put any kind of file
 * under one of these names (a FIFO at a port's name, a symlink at a name
 * lock's, a regular file at a bell's, a directory anywhere).  Such a file
 * is none of the objects above, so the collector leaves it alone and does
 * not count it: it looks at every name with lstat first, never follows a
 * symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), never opens a FIFO in a way
 * that could block, and removes only files of the type its kind makes.
 * (Listening on the port, opening the inbox, destroying the mailbox or
 * region replaces or removes what is planted under their names; see
 * docs/reliability.md.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ipcx/ns.h>

#include "core/error.h"
#include "core/sys.h"
#include "ns/ns.h"

/* The files each kind is made of (see channel/sock.c, direct/inbox.c,
 * mailbox/bell.c, region/region.c). */
#define PORT_SUFFIX   ".port"
#define INBOX_SUFFIX  ".inbox"
#define REGION_SUFFIX ".region"
#define MBOX_SUFFIX   ".mbox"
#define LOCK_SUFFIX   ".lock" /* ".NAME.port.lock", ".PID.inbox.lock" */
#define BELL_SUFFIX   ".bell" /* ".NAME.mbox.bell" */

/*
 * The byte of a port's or inbox's name lock that a collector locks.  An
 * owner write-locks the whole file, so either excludes the other; a
 * future owner can tell a collector (only byte 1 held) from a live owner
 * (byte 0 held) and wait for it instead of answering -EEXIST.
 */
#define COLLECTOR_BYTE 1

/* Longest file name we build: "." + IPCX__FILE_MAX + ".lock"/".bell". */
#define PATH_BUF (IPCX__FILE_MAX + 16)

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Is FILE in DFD still the file open as FD? */
static int still_named(int dfd, const char *file, int fd)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 &&
           fstatat(dfd, file, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
           same_file(&a, &b);
}

/* A lock on [AT, AT + LEN) of FD (LEN 0: to the end): CMD F_OFD_SETLK
 * (0 or -errno) or F_OFD_GETLK (1 if someone holds a conflicting lock). */
static int lock_op(int fd, int cmd, short type, off_t at, off_t len)
{
    struct flock fl = {
        .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = len};
    if (fcntl(fd, cmd, &fl) < 0) {
        return errno == EAGAIN || errno == EACCES ? -EAGAIN : -errno;
    }
    return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

/* Does someone hold a write lock on FD's region token?  A collector. */
static int write_locked(int fd)
{
    struct flock fl = {.l_type = F_WRLCK,
                       .l_whence = SEEK_SET,
                       .l_start = IPCX__REGION_TOKEN,
                       .l_len = 1};
    return fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_WRLCK;
}

/* ---- ports and inboxes: named sockets with a name lock ---- */

/*
 * A socket file with no name lock beside it (the lock was removed by hand,
 * or we came between an inbox's replacing a dead predecessor's lock and
 * taking its own).  Only connecting tells: 1 refused (nobody listens), 0
 * someone listens (it sees a client that hangs up at once), -errno.
 */
static int sock_refused(int dfd, const char *fname)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int pfd = ipcx__openat(dfd, fname, O_PATH | O_NOFOLLOW, 0);
    if (pfd < 0) {
        return pfd == -ENOENT ? 0 : pfd;
    }
    snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d", pfd);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = s < 0 ? -errno : 0;
    if (rc == 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = errno == ECONNREFUSED ? 1
             : errno == EAGAIN     ? 0 /* a full backlog: alive */
                                   : -errno;
    }
    ipcx__close(s);
    ipcx__close(pfd);
    return rc;
}

/*
 * Collect FNAME (NAME.port or PID.inbox) and its name lock if no live
 * listener holds the lock.  The owner's protocol (channel/sock.c): take
 * the lock, check it is still the linked file, then place the socket;
 * on close, remove the socket, then the lock while still holding it.  We
 * follow it as a short-lived owner.
 */
static int gc_sock(int dfd, const char *fname, int dry)
{
    char lname[PATH_BUF + 8];
    struct stat st;
    snprintf(lname, sizeof lname, ".%s" LOCK_SUFFIX, fname);
    int have_sock = fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!have_sock && errno != ENOENT) {
        return -errno;
    }
    if (have_sock && !S_ISSOCK(st.st_mode)) {
        return 0; /* not ours: leave it to whoever put it there */
    }
    int fd = ipcx__ns_open_file(dfd, lname, O_RDWR, S_IFREG, NULL);
    if (fd == -EPROTO) {
        return 0; /* planted: no lock file of ours, leave it */
    }
    if (fd == -ENOENT) {
        int rc = have_sock ? sock_refused(dfd, fname) : 0;
        if (rc <= 0 || dry) {
            return rc;
        }
        /* Exclusive: if someone made the lock meanwhile, it is theirs. */
        fd = ipcx__openat(dfd, lname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW,
                          0600);
        if (fd < 0) {
            return fd == -EEXIST ? 0 : fd;
        }
    } else if (fd < 0) {
        return fd; /* -EACCES: another user's, not ours to judge */
    }
    int rc;
    if (dry) {
        rc = lock_op(fd, F_OFD_GETLK, F_WRLCK, 0, 0);
        rc = rc < 0 ? rc : !rc;
    } else if ((rc = lock_op(fd, F_OFD_SETLK, F_WRLCK, COLLECTOR_BYTE, 1)) <
               0) {
        rc = rc == -EAGAIN ? 0 : rc; /* a live owner */
    } else if (!still_named(dfd, lname, fd)) {
        rc = 0; /* its owner closed (removed it) while we looked */
    } else {
        /* We own the name: a socket under it is a dead owner's, and no
         * listener can place a new one until we let go. */
        rc = 1;
        if (fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISSOCK(st.st_mode) && unlinkat(dfd, fname, 0) < 0 &&
            errno != ENOENT) {
            rc = -errno;
        }
        if (rc == 1 && unlinkat(dfd, lname, 0) < 0 && errno != ENOENT) {
            rc = -errno;
        }
    }
    ipcx__close(fd); /* lets go of the name */
    return rc;
}

/* ---- temporary regions ---- */

int ipcx__gc_region(int dfd, const char *fname, int dry)
{
    struct stat st;
    if (fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISREG(st.st_mode) || !(st.st_mode & S_ISVTX)) {
        return 0; /* permanent: only ipcx_region_destroy() removes it */
    }
    /* Read-write: only whoever may write a region may take its token for
     * writing, and so remove it. */
    int fd = ipcx__openat(dfd, fname,
                          O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0) {
        return fd == -ENOENT ? 0 : fd;
    }
    int rc;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_ISVTX)) {
        rc = 0;
    } else if (dry) {
        rc = lock_op(fd, F_OFD_GETLK, F_WRLCK, IPCX__REGION_TOKEN, 1);
        rc = rc < 0 ? rc : !rc;
    } else if ((rc = lock_op(fd, F_OFD_SETLK, F_WRLCK, IPCX__REGION_TOKEN, 1)) <
               0) {
        /* Attached (a read lock), unless another collector holds it. */
        rc = rc != -EAGAIN ? rc : write_locked(fd) ? -EAGAIN : 0;
    } else if (!still_named(dfd, fname, fd)) {
        rc = 0; /* destroyed, or replaced, while we looked */
    } else {
        /* Attachers that opened it meanwhile wait for our lock, then find
         * the name gone (region.c checks after locking). */
        rc = unlinkat(dfd, fname, 0) == 0 || errno == ENOENT ? 1 : -errno;
    }
    ipcx__close(fd);
    return rc;
}

/* ---- bells of mailboxes that are gone ---- */

/* Has anyone the FIFO FILE open?  Every holder opens it O_RDWR, so is a
 * reader, and opening for writing without a reader fails with ENXIO.  1
 * yes, 0 no, -errno. */
static int fifo_held(int dfd, const char *file)
{
    int fd = ipcx__openat(dfd, file, O_WRONLY | O_NONBLOCK | O_NOFOLLOW, 0);
    if (fd == -ENXIO) {
        return 0;
    }
    ipcx__close(fd);
    return fd >= 0 ? 1 : fd;
}

/* Write a byte to the FIFO FILE: whoever polls it looks again (a stale
 * byte only costs a bell holder one needless look; see mailbox/bell.c). */
static void fifo_ring(int dfd, const char *file)
{
    int fd = ipcx__openat(dfd, file, O_RDWR | O_NONBLOCK | O_NOFOLLOW, 0);
    if (fd >= 0) {
        (void)!write(fd, "", 1);
        ipcx__close(fd);
    }
}

/* Is there a mailbox file FNAME?  1, 0 or -errno. */
static int exists(int dfd, const char *fname)
{
    struct stat st;
    if (fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        return 1;
    }
    return errno == ENOENT ? 0 : -errno;
}

/*
 * The bell .NAME.mbox.bell of mailbox NAME, if NAME.mbox is gone and the
 * FIFO has no holder.  A bell is created by whoever first needs it, with
 * no lock to take: so it is first renamed to a private dot-name (no new
 * holder can find it then), and judged again there.  If a mailbox NAME
 * appeared meanwhile, it goes back, unless a new bell took its place, in
 * which case its holders are rung (they look again) and it is removed.
 */
static int gc_bell(int dfd, const char *name, int dry)
{
    char fname[PATH_BUF], bname[PATH_BUF + 8], aside[64];
    struct stat st, now;
    snprintf(fname, sizeof fname, "%s" MBOX_SUFFIX, name);
    snprintf(bname, sizeof bname, ".%s" BELL_SUFFIX, fname);
    if (fstatat(dfd, bname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    int rc = S_ISFIFO(st.st_mode) ? exists(dfd, fname) : 1;
    if (rc == 0) {
        rc = fifo_held(dfd, bname);
    }
    if (rc != 0 || dry) {
        return rc == 0 ? 1 : rc < 0 ? rc : 0;
    }
    uint32_t r = 0;
    (void)!getrandom(&r, sizeof r, GRND_NONBLOCK);
    snprintf(aside, sizeof aside, ".gc-%d-%08x", (int)getpid(), r);
    if (renameat2(dfd, bname, dfd, aside, RENAME_NOREPLACE) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (fstatat(dfd, aside, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        same_file(&st, &now) && exists(dfd, fname) == 0 &&
        fifo_held(dfd, aside) == 0) {
        return unlinkat(dfd, aside, 0) == 0 ? 1 : -errno;
    }
    if (renameat2(dfd, aside, dfd, bname, RENAME_NOREPLACE) < 0) {
        fifo_ring(dfd, aside);
        (void)unlinkat(dfd, aside, 0);
    }
    return 0;
}

/* ---- temporary files of creators that died ---- */

static int gc_temp(int dfd, const char *file, int dry)
{
    struct stat st, again;
    pid_t pid;
    unsigned type;
    if (!ipcx__ns_temp_name(file, &pid, &type)) {
        return 0;
    }
    if (fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if ((st.st_mode & S_IFMT) != type) {
        return 0;
    }
    /* kill(pid, 0): ESRCH proves the creator dead (EPERM: alive, another
     * user's).  Our own pid: another thread may be building it. */
    int dead = pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH;
    int stale = time(NULL) - st.st_mtime > IPCX_GC_TEMP_AGE;
    if (!dead && !stale) {
        return 0;
    }
    if (dry) {
        return 1;
    }
    /* The name holds a pid and randomness: only its creator, now dead or
     * stuck, would touch it; the check guards against a rename by a late
     * one. */
    if (fstatat(dfd, file, &again, AT_SYMLINK_NOFOLLOW) < 0 ||
        !same_file(&st, &again)) {
        return 0;
    }
    return unlinkat(dfd, file, 0) == 0 || errno == ENOENT ? 1 : -errno;
}

/* ---- the walk ---- */

struct cand {
    ipcx_gc_kind kind;
    char *name; /* the object's name (a temporary file's file name) */
};

struct cands {
    struct cand *v;
    size_t n, cap;
};

static int add(struct cands *c, ipcx_gc_kind kind, const char *name, size_t len)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct cand *v = realloc(c->v, cap * sizeof *v);
        if (v == NULL) {
            return -ENOMEM;
        }
        c->v = v;
        c->cap = cap;
    }
    char *s = strndup(name, len);
    if (s == NULL) {
        return -ENOMEM;
    }
    c->v[c->n++] = (struct cand){kind, s};
    return 0;
}

/* Does FILE end in SUFFIX after at least one character?  The stem's length,
 * else 0. */
static size_t stem_len(const char *file, const char *suffix)
{
    size_t n = strlen(file), s = strlen(suffix);
    return n > s && strcmp(file + n - s, suffix) == 0 ? n - s : 0;
}

static int valid_stem(const char *s, size_t len)
{
    char buf[IPCX_NAME_MAX + 1];
    if (len == 0 || len > IPCX_NAME_MAX) {
        return 0;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    int ok = ipcx_name_check(buf) == 0;
    ipcx__err_clear();
    return ok;
}

/* A pid in decimal: what an inbox's name is (direct/inbox.c). */
static int pid_stem(const char *s, size_t len)
{
    char buf[16];
    if (len == 0 || len > 10 || s[0] == '0' || strspn(s, "0123456789") < len) {
        return 0;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return strtoll(buf, NULL, 10) <= INT32_MAX;
}

/* What FILE (a directory entry) is a part of, if a possible leftover. */
static int classify(struct cands *c, const char *file)
{
    static const struct {
        const char *suffix;
        ipcx_gc_kind kind;
    } sockets[] = {{PORT_SUFFIX, IPCX_GC_PORT}, {INBOX_SUFFIX, IPCX_GC_INBOX}};
    pid_t pid;
    unsigned type;
    size_t n;
    if (file[0] == '.' && ipcx__ns_temp_name(file, &pid, &type)) {
        return add(c, IPCX_GC_TEMP, file, strlen(file));
    }
    for (size_t k = 0; k < 2; k++) {
        char lock_suffix[32];
        snprintf(lock_suffix, sizeof lock_suffix, "%s" LOCK_SUFFIX,
                 sockets[k].suffix);
        const char *stem = file;
        n = stem_len(file, sockets[k].suffix);
        if (n == 0 && file[0] == '.') { /* ".NAME.port.lock" */
            stem = file + 1;
            n = stem_len(stem, lock_suffix);
        }
        if (n > 0 && (sockets[k].kind == IPCX_GC_INBOX ? pid_stem(stem, n)
                                                       : valid_stem(stem, n))) {
            return add(c, sockets[k].kind, stem, n);
        }
    }
    if ((n = stem_len(file, REGION_SUFFIX)) > 0 && valid_stem(file, n)) {
        return add(c, IPCX_GC_REGION, file, n);
    }
    if (file[0] == '.' &&
        (n = stem_len(file + 1, MBOX_SUFFIX BELL_SUFFIX)) > 0 &&
        valid_stem(file + 1, n)) {
        return add(c, IPCX_GC_BELL, file + 1, n);
    }
    return 0;
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->kind != y->kind ? (int)x->kind - (int)y->kind
                              : strcmp(x->name, y->name);
}

/* Every possible leftover of DFD into C, sorted, each object once. */
static int collect(int dfd, struct cands *c)
{
    DIR *d = ipcx__ns_opendir(dfd);
    if (d == NULL) {
        int rc = -errno;
        return ipcx__err(rc, "cannot read namespace: %s", ipcx_strerror(rc));
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        rc = classify(c, e->d_name);
    }
    if (rc == 0 && e == NULL && errno != 0) {
        rc = -errno;
    }
    closedir(d);
    if (rc < 0) {
        return ipcx__err(rc, "cannot read namespace: %s", ipcx_strerror(rc));
    }
    if (c->n > 0) {
        qsort(c->v, c->n, sizeof *c->v, cmp_cand);
    }
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (k > 0 && cmp_cand(&c->v[k - 1], &c->v[i]) == 0) {
            free(c->v[i].name); /* the socket and its lock: one port */
        } else {
            c->v[k++] = c->v[i];
        }
    }
    c->n = k;
    return 0;
}

static int collect_one(int dfd, const struct cand *c, int dry)
{
    char fname[PATH_BUF];
    switch (c->kind) {
    case IPCX_GC_PORT:
        snprintf(fname, sizeof fname, "%s" PORT_SUFFIX, c->name);
        return gc_sock(dfd, fname, dry);
    case IPCX_GC_INBOX:
        snprintf(fname, sizeof fname, "%s" INBOX_SUFFIX, c->name);
        return gc_sock(dfd, fname, dry);
    case IPCX_GC_REGION:
        snprintf(fname, sizeof fname, "%s" REGION_SUFFIX, c->name);
        return ipcx__gc_region(dfd, fname, dry);
    case IPCX_GC_BELL:
        return gc_bell(dfd, c->name, dry);
    case IPCX_GC_TEMP:
        return gc_temp(dfd, c->name, dry);
    default:
        return 0;
    }
}

int ipcx_gc(unsigned flags, ipcx_gc_fn fn, void *arg, ipcx_gc_report *out)
{
    ipcx_gc_report rep;
    struct cands c = {NULL, 0, 0};
    ipcx__err_clear();
    if ((flags & ~IPCX_GC_DRY_RUN) != 0) {
        return ipcx__err(-EINVAL, "unknown gc flags 0x%x", flags);
    }
    int dfd = ipcx__ns_open();
    if (dfd < 0) {
        return dfd;
    }
    memset(&rep, 0, sizeof rep);
    int rc = collect(dfd, &c);
    int total = 0;
    for (size_t i = 0; rc == 0 && i < c.n; i++) {
        int r = collect_one(dfd, &c.v[i], flags & IPCX_GC_DRY_RUN);
        if (r > 0) {
            rep.removed[c.v[i].kind]++;
            total++;
            if (fn != NULL) {
                fn(c.v[i].kind, c.v[i].name, arg);
            }
        } else if (r < 0 && r != -EAGAIN) { /* -EAGAIN: another
                                                 collector's */
            rep.skipped++;
        }
    }
    for (size_t i = 0; i < c.n; i++) {
        free(c.v[i].name);
    }
    free(c.v);
    ipcx__close(dfd);
    if (rc < 0) {
        return rc;
    }
    ipcx__err_clear();
    if (out != NULL) {
        *out = rep;
    }
    return total;
}

const char *ipcx_gc_kind_name(ipcx_gc_kind kind)
{
    static const char *const names[IPCX_GC_KINDS] = {
        [IPCX_GC_PORT] = "port",           [IPCX_GC_INBOX] = "inbox",
        [IPCX_GC_REGION] = "region",       [IPCX_GC_BELL] = "bell",
        [IPCX_GC_TEMP] = "temporary file",
    };
    return (unsigned)kind < IPCX_GC_KINDS ? names[kind] : NULL;
}
