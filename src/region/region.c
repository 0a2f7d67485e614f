/*
 * region.c - shared-memory regions: named files in the namespace, anonymous
 * memfds passed by fd, and seals.  See include/ipcx/region.h for the
 * contract and docs/region.md for the reasoning.
 *
 * A region file holds the caller's bytes and nothing else: no header, so
 * there is no shared field a peer could corrupt to mislead us.  Everything
 * we rely on (type, size, seals, access mode) comes from the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <ipcx/region.h>

#include "core/error.h"
#include "core/handle.h"
#include "core/sys.h"
#include "ns/ns.h"
#include "wait/wait.h"

#define REGION_SUFFIX ".region"

/* Refuse write access for new mappings and write(2): either seal does. */
#define WRITE_SEALS (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)
/* What ipcx_region_seal() adds; FUTURE_WRITE spares existing mappings. */
#define READER_SEALS                                                           \
    (F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define SIZE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008u /* Linux 6.3 */
#endif

struct ipcx_region {
    uint32_t magic; /* IPCX__H_REGION (core/handle.h) */
    void *addr;
    size_t size;
    int fd;
    int named;     /* a namespace file: takes no seals */
    int temporary; /* named, IPCX_REGION_TEMPORARY: fd holds the token */
};

/* How long attaching or creating waits for a collector to let go of a
 * temporary region's token: it holds it for microseconds, unless it is
 * descheduled.  Longer means someone else holds a write lock on it. */
#define TOKEN_WAIT_NS 1000000000LL

/* Pause before looking at a collector's lock again; 0 once START (0: set
 * it now) is TOKEN_WAIT_NS ago.  Pauses grow from 100 us to 5 ms. */
static int token_pause(int64_t *start, int *round)
{
    int64_t now = ipcx__now_ns();
    if (*start == 0) {
        *start = now;
    }
    if (now - *start >= TOKEN_WAIT_NS) {
        return 0;
    }
    long ns = 100000L << (*round < 6 ? *round : 6);
    struct timespec pause = {0, ns < 5000000 ? ns : 5000000};
    nanosleep(&pause, NULL);
    (*round)++;
    return 1;
}

static int check_size(uint64_t size, const char *what)
{
    if (size == 0 || size > IPCX_REGION_SIZE_MAX) {
        return ipcx__err(-EINVAL, "%s: size %llu not in 1..%llu bytes", what,
                         (unsigned long long)size,
                         (unsigned long long)IPCX_REGION_SIZE_MAX);
    }
    return 0;
}

static int check_args(unsigned flags, ipcx_region **out)
{
    if (out == NULL) {
        return ipcx__err(-EINVAL, "NULL handle pointer");
    }
    if ((flags & ~IPCX_REGION_RDONLY) != 0) {
        return ipcx__err(-EINVAL, "unknown region flags 0x%x", flags);
    }
    return 0;
}

/* Record "WHAT: <the detail recorded so far>" (or the code's text when
 * nothing was recorded) and return RC. */
static int err_wrap(int rc, const char *what)
{
    char detail[300];
    snprintf(detail, sizeof detail, "%s", ipcx_last_error());
    return ipcx__err(rc, "%s: %s", what,
                     detail[0] != '\0' ? detail : ipcx_strerror(rc));
}

/* Map FD's first SIZE bytes into a new handle that owns FD from then on.
 * On failure FD is left to the caller. */
static int new_handle(int fd, size_t size, int writable, int named,
                      ipcx_region **out)
{
    struct ipcx_region *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return -ENOMEM;
    }
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    int rc = ipcx__mmap(size, prot, fd, &r->addr);
    if (rc < 0) {
        free(r);
        return rc;
    }
    r->magic = IPCX__H_REGION;
    r->size = size;
    r->fd = fd;
    r->named = named;
    *out = r;
    return 0;
}

/* A region file must be regular and of a size we accept: -EPROTO if not. */
static int check_file(const struct stat *st)
{
    if (!S_ISREG(st->st_mode)) {
        return ipcx__err(-EPROTO, "%s, not a region file",
                         ipcx__ns_kind(st->st_mode));
    }
    if (st->st_size <= 0 || (uint64_t)st->st_size > IPCX_REGION_SIZE_MAX) {
        return ipcx__err(-EPROTO, "size %lld not in 1..%llu bytes",
                         (long long)st->st_size,
                         (unsigned long long)IPCX_REGION_SIZE_MAX);
    }
    return 0;
}

/* ---- named regions ---------------------------------------------------- */

/* Check NAME, write its file name to FNAME and open the namespace: the
 * directory fd, or a negative errno with the detail recorded. */
static int ns_entry(const char *name, char *fname)
{
    int rc = ipcx__ns_file(name, REGION_SUFFIX, "region", fname);
    return rc < 0 ? rc : ipcx__ns_open();
}

/* Mode and size before the name: nobody ever sees the file half made.
 * ftruncate of a new file reads back as zeros without allocating. */
static int init_file(int fd, size_t size, uint32_t mode)
{
    if (fchmod(fd, mode) < 0) {
        return -errno;
    }
    return ipcx__ftruncate(fd, (off_t)size);
}

/*
 * Take a temporary region's token on FD: an OFD read lock on
 * IPCX__REGION_TOKEN, which every attachment holds and the kernel drops
 * with the attachment's last descriptor.  A collector write-locks the
 * byte while it removes the region, so we wait for it briefly; then, if
 * DFD >= 0, make sure FNAME still is our file (the collector may just
 * have removed it: -ENOENT, look again).  0 or a negative errno.
 */
static int hold_token(int fd, int dfd, const char *fname)
{
    struct flock fl = {.l_type = F_RDLCK,
                       .l_whence = SEEK_SET,
                       .l_start = IPCX__REGION_TOKEN,
                       .l_len = 1};
    int64_t start = 0;
    int round = 0;
    while (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        if (errno != EAGAIN && errno != EACCES) {
            return -errno;
        }
        if (!token_pause(&start, &round)) {
            return ipcx__err(-EBUSY, "its lock byte is write-locked: a "
                                     "collector or a foreign lock holds it");
        }
    }
    struct stat a, b;
    if (dfd >= 0 && (fstat(fd, &a) < 0 ||
                     fstatat(dfd, fname, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
                     a.st_dev != b.st_dev || a.st_ino != b.st_ino)) {
        return -ENOENT;
    }
    return 0;
}

/* Make the region file, named FNAME once complete.  TEMPORARY: marked
 * (S_ISVTX) and with our token held before it has a name, so it is never
 * seen unattached.  On success *FDP (if not NULL) gets the file's fd,
 * else it is closed.  A dead temporary region under FNAME is reclaimed. */
static int create_in(int dfd, const char *fname, size_t size, uint32_t mode,
                     int temporary, int *fdp)
{
    char tmp[64];
    int fd = ipcx__ns_tmpfile(dfd, tmp, sizeof tmp);
    if (fd < 0) {
        return fd;
    }
    int rc = init_file(fd, size, mode | (temporary ? S_ISVTX : 0));
    if (rc == 0 && temporary) {
        rc = hold_token(fd, -1, NULL);
    }
    if (rc == 0) {
        rc = ipcx__ns_link_try(dfd, fd, tmp, fname);
        /* A name held by a dead temporary region is free: collect it and
         * try again (a few times: others may race us for the name). */
        int64_t start = 0;
        int round = 0;
        for (int tries = 0; rc == -EEXIST && tries < 1000; tries++) {
            struct stat st;
            int gc = ipcx__gc_region(dfd, fname, 0);
            if (gc == -EAGAIN) { /* another collector is removing it */
                if (!token_pause(&start, &round)) {
                    break;
                }
            } else if (gc != 1 &&
                       fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                break; /* live, or permanent: the name is taken */
            }
            rc = ipcx__ns_link_try(dfd, fd, tmp, fname);
        }
    }
    if (tmp[0] != '\0') {
        unlinkat(dfd, tmp, 0);
    }
    if (rc == 0 && fdp != NULL) {
        *fdp = fd;
    } else {
        ipcx__close(fd);
    }
    return rc;
}

/* Check what both create calls take; 0 or -EINVAL with the detail. */
static int check_create(const char *name, size_t size, uint32_t mode,
                        char *fname)
{
    int rc = ipcx__ns_file(name, REGION_SUFFIX, "region", fname);
    if (rc < 0 || (rc = check_size(size, "cannot create region")) < 0) {
        return rc;
    }
    if (mode > 0777) {
        return ipcx__err(-EINVAL, "region mode %o: only permission bits (0777)",
                         mode);
    }
    return 0;
}

static int create(const char *name, size_t size, uint32_t mode, int temporary,
                  int *fdp)
{
    char fname[IPCX__FILE_MAX + 1];
    int rc = check_create(name, size, mode, fname);
    if (rc < 0) {
        return rc;
    }
    int dfd = ipcx__ns_open();
    if (dfd < 0) {
        return dfd;
    }
    rc = create_in(dfd, fname, size, mode != 0 ? mode : 0600, temporary, fdp);
    struct stat st;
    int planted = rc == -EEXIST &&
                  fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                  !S_ISREG(st.st_mode);
    ipcx__close(dfd);
    if (planted) {
        return ipcx__err(rc,
                         "cannot create region '%s': its name is taken by "
                         "%s, not a region",
                         name, ipcx__ns_kind(st.st_mode));
    }
    if (rc < 0) {
        return ipcx__err(rc, "cannot create region '%s': %s", name,
                         rc == -EEXIST ? "it already exists"
                                       : ipcx_strerror(rc));
    }
    return 0;
}

int ipcx_region_create(const char *name, size_t size, uint32_t mode)
{
    ipcx__err_clear();
    return create(name, size, mode, 0, NULL);
}

int ipcx_region_create_attach(const char *name, size_t size, uint32_t mode,
                              unsigned flags, ipcx_region **out)
{
    ipcx__err_clear();
    if (out == NULL) {
        return ipcx__err(-EINVAL, "NULL handle pointer");
    }
    if ((flags & ~IPCX_REGION_TEMPORARY) != 0) {
        return ipcx__err(-EINVAL, "unknown region create flags 0x%x", flags);
    }
    int temporary = (flags & IPCX_REGION_TEMPORARY) != 0;
    int fd = -1;
    int rc = create(name, size, mode, temporary, &fd);
    if (rc < 0) {
        return rc;
    }
    if ((rc = new_handle(fd, size, 1, 1, out)) < 0) {
        /* Created but not mapped: take the name back, so that failure
         * leaves nothing behind. */
        char fname[IPCX__FILE_MAX + 1];
        int dfd = ipcx__ns_open();
        snprintf(fname, sizeof fname, "%s" REGION_SUFFIX, name);
        if (dfd >= 0 && fd >= 0) {
            struct stat a, b;
            if (fstat(fd, &a) == 0 &&
                fstatat(dfd, fname, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
                a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
                (void)unlinkat(dfd, fname, 0);
            }
        }
        ipcx__close(dfd);
        ipcx__close(fd);
        return ipcx__err(rc, "cannot attach the new region '%s': %s", name,
                         ipcx_strerror(rc));
    }
    (*out)->temporary = temporary;
    return 0;
}

/* Open NAME's file FNAME in DFD for ACCMODE.  A FIFO planted under a
 * region name must not block the open, nor may a symlink redirect it
 * (ipcx__ns_open_file): -EPROTO.  Errors carry a message naming the
 * region. */
static int open_region(int dfd, const char *name, const char *fname,
                       int accmode)
{
    const char *kind = NULL;
    int fd = ipcx__ns_open_file(dfd, fname, accmode, S_IFREG, &kind);
    if (fd == -EPROTO) {
        return ipcx__err(fd,
                         "cannot attach region '%s': '%s' is %s, not a "
                         "region file",
                         name, fname, kind);
    }
    if (fd < 0) {
        return ipcx__err(fd, "cannot attach region '%s': %s", name,
                         fd == -ENOENT ? "no such region" : ipcx_strerror(fd));
    }
    return fd;
}

/* Map FD, the region file FNAME in DFD; a temporary region's token is
 * taken first (-ENOENT: it was removed meanwhile). */
static int map_named(int fd, int dfd, const char *fname, unsigned flags,
                     ipcx_region **out)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    int rc = check_file(&st);
    int temporary = (st.st_mode & S_ISVTX) != 0;
    if (rc == 0 && temporary) {
        rc = hold_token(fd, dfd, fname);
    }
    if (rc < 0) {
        return rc;
    }
    int writable = !(flags & IPCX_REGION_RDONLY);
    rc = new_handle(fd, (size_t)st.st_size, writable, 1, out);
    if (rc == 0) {
        (*out)->temporary = temporary;
    }
    return rc;
}

int ipcx_region_attach(const char *name, unsigned flags, ipcx_region **out)
{
    char fname[IPCX__FILE_MAX + 1];
    ipcx__err_clear();
    int rc = check_args(flags, out);
    if (rc < 0) {
        return rc;
    }
    int dfd = ns_entry(name, fname);
    if (dfd < 0) {
        return dfd;
    }
    /* Again if a collector removed the temporary region we opened: the
     * name may hold a new one by now. */
    for (int attempt = 0; attempt < 4; attempt++) {
        int fd = open_region(dfd, name, fname,
                             flags & IPCX_REGION_RDONLY ? O_RDONLY : O_RDWR);
        if (fd < 0) {
            ipcx__close(dfd);
            return fd;
        }
        if ((rc = map_named(fd, dfd, fname, flags, out)) == 0) {
            break;
        }
        ipcx__close(fd);
        if (rc != -ENOENT) {
            break;
        }
        ipcx__err(rc, "no such region (a collector removed it)");
    }
    ipcx__close(dfd);
    if (rc < 0) {
        char what[IPCX__FILE_MAX + 64];
        snprintf(what, sizeof what, "cannot attach region '%s'", name);
        return err_wrap(rc, what);
    }
    return 0;
}

int ipcx_region_is_temporary(const ipcx_region *r)
{
    return ipcx__handle_check(r, IPCX__H_REGION, "region") == 0 && r->temporary;
}

int ipcx_region_detach(ipcx_region *r)
{
    ipcx__err_clear();
    if (r == NULL) {
        return 0;
    }
    int rc = ipcx__handle_check(r, IPCX__H_REGION, "region");
    if (rc < 0) {
        return rc;
    }
    munmap(r->addr, r->size);
    ipcx__close(r->fd);
    ipcx__handle_retire(r);
    return 0;
}

/* Whether we may destroy FNAME: we own it, or we may open it for writing
 * (as ipcx_mailbox_destroy() asks), so that a group-writable namespace does
 * not let every member remove regions it cannot even write.  Junk that is
 * not a region file (a symlink, a FIFO) is not protected. */
static int may_destroy(int dfd, const char *fname)
{
    struct stat st;
    if (fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return -errno;
    }
    if (st.st_uid == geteuid()) {
        return 0;
    }
    int fd = ipcx__ns_open_file(dfd, fname, O_RDWR, S_IFREG, NULL);
    if (fd == -EACCES || fd == -EPERM) {
        return fd; /* (-EPROTO: not a region file) */
    }
    ipcx__close(fd);
    return 0;
}

int ipcx_region_destroy(const char *name)
{
    char fname[IPCX__FILE_MAX + 1];
    ipcx__err_clear();
    int dfd = ns_entry(name, fname);
    if (dfd < 0) {
        return dfd;
    }
    int rc = may_destroy(dfd, fname);
    if (rc == 0 && unlinkat(dfd, fname, 0) < 0) {
        rc = -errno;
    }
    ipcx__close(dfd);
    if (rc == -EISDIR) { /* planted: not ours to remove with its contents */
        return ipcx__err(-EPROTO,
                         "cannot destroy region '%s': '%s' is a directory, "
                         "not a region file (remove it by hand)",
                         name, fname);
    }
    if (rc < 0) {
        return ipcx__err(rc, "cannot destroy region '%s': %s", name,
                         rc == -ENOENT ? "no such region" : ipcx_strerror(rc));
    }
    return 0;
}

void *ipcx_region_addr(const ipcx_region *r)
{
    return ipcx__handle_check(r, IPCX__H_REGION, "region") == 0 ? r->addr
                                                                : NULL;
}

size_t ipcx_region_size(const ipcx_region *r)
{
    return ipcx__handle_check(r, IPCX__H_REGION, "region") == 0 ? r->size : 0;
}

int ipcx_region_list(int (*fn)(const char *name, void *arg), void *arg)
{
    ipcx__err_clear();
    if (fn == NULL) {
        return ipcx__err(-EINVAL, "NULL callback");
    }
    return ipcx__ns_list(REGION_SUFFIX, fn, arg);
}

/* ---- anonymous regions ------------------------------------------------ */

/* A memfd that may take seals and can never be made executable. */
static int make_memfd(void)
{
    int fd = ipcx__memfd("ipcx-region", MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd == -EINVAL) { /* a kernel before 6.3: no MFD_NOEXEC_SEAL */
        fd = ipcx__memfd("ipcx-region", MFD_ALLOW_SEALING);
    }
    return fd;
}

int ipcx_region_create_anon(size_t size, ipcx_region **out)
{
    ipcx__err_clear();
    int rc = check_args(0, out);
    if (rc < 0 || (rc = check_size(size, "cannot create region")) < 0) {
        return rc;
    }
    int fd = make_memfd();
    if (fd < 0) {
        return ipcx__err(fd, "cannot create anonymous region: memfd: %s",
                         ipcx_strerror(fd));
    }
    if ((rc = ipcx__ftruncate(fd, (off_t)size)) < 0 ||
        (rc = new_handle(fd, size, 1, 0, out)) < 0) {
        ipcx__close(fd);
        return ipcx__err(rc, "cannot create anonymous region of %zu bytes: %s",
                         size, ipcx_strerror(rc));
    }
    return 0;
}

int ipcx_region_seal(ipcx_region *r)
{
    ipcx__err_clear();
    int rc = ipcx__handle_check(r, IPCX__H_REGION, "region");
    if (rc < 0) {
        return rc;
    }
    if (r->named) {
        return ipcx__err(-ENOTSUP,
                         "a named region cannot be sealed (only memfds take "
                         "seals): create it with a mode such as 0640 and "
                         "let readers attach with IPCX_REGION_RDONLY");
    }
    int seals = fcntl(r->fd, F_GET_SEALS);
    if (seals >= 0 && (seals & WRITE_SEALS) != 0 &&
        (seals & SIZE_SEALS) == SIZE_SEALS) {
        return 0; /* sealed already, by us or (with F_SEAL_WRITE) others */
    }
    if (fcntl(r->fd, F_ADD_SEALS, READER_SEALS) < 0) {
        rc = errno == EINVAL ? -ENOTSUP : -errno;
        return ipcx__err(rc, "cannot seal region: %s",
                         rc == -EPERM ? "this memfd does not allow sealing "
                                        "(no MFD_ALLOW_SEALING, F_SEAL_SEAL "
                                        "set, or a read-only fd)"
                                      : ipcx_strerror(rc));
    }
    return 0;
}

int ipcx_region_is_sealed(const ipcx_region *r)
{
    if (ipcx__handle_check(r, IPCX__H_REGION, "region") < 0) {
        return 0;
    }
    int seals = fcntl(r->fd, F_GET_SEALS);
    return seals >= 0 && (seals & WRITE_SEALS) != 0;
}

int ipcx_region_fd(const ipcx_region *r)
{
    int rc = ipcx__handle_check(r, IPCX__H_REGION, "region");
    return rc < 0 ? rc : r->fd;
}

/* ---- adopting a received fd ------------------------------------------- */

/* A memfd, or a file on tmpfs: mapping anything else could hang on I/O
 * (FUSE, NFS) or write back to a disk.  -EPROTO otherwise. */
static int check_shm_fd(int fd, struct stat *st)
{
    struct statfs sfs;
    if (fstat(fd, st) < 0 || fstatfs(fd, &sfs) < 0) {
        return -errno;
    }
    if (!S_ISREG(st->st_mode)) {
        return ipcx__err(-EPROTO, "not a shared-memory file: %s",
                         ipcx__ns_kind(st->st_mode));
    }
    if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC) {
        return ipcx__err(-EPROTO, "a regular file, but not on a shared-memory "
                                  "filesystem (tmpfs)");
    }
    return check_file(st);
}

/* Whether the fd's access mode allows the mapping we want. */
static int check_access(int fl, int writable)
{
    int acc = fl & O_ACCMODE;
    if (acc == O_WRONLY) {
        return ipcx__err(-EACCES, "the fd is not open for reading");
    }
    if (writable && acc != O_RDWR) {
        return ipcx__err(-EACCES, "the fd is read-only: ask for "
                                  "IPCX_REGION_RDONLY");
    }
    return 0;
}

static int adopt(int fd, int fl, unsigned flags, ipcx_region **out)
{
    struct stat st;
    if ((fl & O_PATH) != 0) {
        return ipcx__err(-EBADF, "an O_PATH fd cannot be mapped");
    }
    int rc = check_shm_fd(fd, &st);
    if (rc < 0) {
        return rc;
    }
    /* The kernel refuses writable shared mappings of a write-sealed memfd,
     * and F_GET_SEALS answers for the file, not for what the peer says. */
    int seals = fcntl(fd, F_GET_SEALS);
    int sealed = seals >= 0 && (seals & WRITE_SEALS) != 0;
    int writable = !(flags & IPCX_REGION_RDONLY) && !sealed;
    if ((rc = check_access(fl, writable)) < 0) {
        return rc;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        return -errno;
    }
    rc = new_handle(fd, (size_t)st.st_size, writable, 0, out);
    if (rc == -EPERM) {
        return ipcx__err(rc, "the region was sealed while we mapped it "
                             "writable: adopt it with IPCX_REGION_RDONLY");
    }
    return rc;
}

int ipcx_region_from_fd(int fd, unsigned flags, ipcx_region **out)
{
    ipcx__err_clear();
    int fl = fd < 0 ? -1 : fcntl(fd, F_GETFL);
    if (fl < 0) {
        /* Not ours to close: the number may already be someone else's. */
        return ipcx__err(-EBADF, "cannot adopt region fd %d: not open", fd);
    }
    int rc = check_args(flags, out);
    if (rc == 0) {
        rc = adopt(fd, fl, flags, out);
    }
    if (rc < 0) {
        char what[64];
        ipcx__close(fd);
        snprintf(what, sizeof what, "cannot adopt region fd %d", fd);
        return err_wrap(rc, what);
    }
    return 0;
}
