/* sock.c - named Unix sockets in the namespace; see sock.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "channel/sock.h"
#include "wait/wait.h"
#include "core/sys.h"

/* A socket address for FILE in directory DFD (FILE NULL: DFD itself). */
static int sun_at(struct sockaddr_un *sa, int dfd, const char *file)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = file != NULL ? snprintf(sa->sun_path, sizeof sa->sun_path,
                                    "/proc/self/fd/%d/%s", dfd, file)
                         : snprintf(sa->sun_path, sizeof sa->sun_path,
                                    "/proc/self/fd/%d", dfd);
    return n > 0 && (size_t)n < sizeof sa->sun_path ? 0 : -ENAMETOOLONG;
}

int ipcx__sock_new(void)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    return s < 0 ? -errno : s;
}

/*
 * Whoever may write the namespace may plant anything under a socket's
 * name.  O_PATH opens even a FIFO without blocking, O_NOFOLLOW keeps a
 * symlink from leading us to another socket, and what is not a socket
 * answers -EPROTO (connecting to it would say -ECONNREFUSED, "nobody
 * listens", which misleads).
 */
int ipcx__sock_connect(int s, int dfd, const char *fname)
{
    struct sockaddr_un sa;
    struct stat st;
    int pfd = ipcx__openat(dfd, fname, O_PATH | O_NOFOLLOW, 0);
    if (pfd < 0) {
        return pfd;
    }
    int rc = fstat(pfd, &st) < 0 ? -errno : S_ISSOCK(st.st_mode) ? 0 : -EPROTO;
    if (rc == 0) {
        rc = sun_at(&sa, pfd, NULL);
    }
    if (rc == 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = -errno;
    }
    ipcx__close(pfd);
    return rc;
}

/* Move the bound socket TMP to FNAME.  The caller has made sure that no
 * live listener owns FNAME, so a file there is a dead one's: replace it. */
static int place(int dfd, const char *tmp, const char *fname)
{
    return renameat(dfd, tmp, dfd, fname) == 0 ? 0 : -errno;
}

int ipcx__sock_listen(int s, int dfd, const char *fname, uint32_t mode,
                      struct ipcx__sockfile *id)
{
    struct sockaddr_un sa;
    struct stat st;
    char tmp[64];
    uint32_t r = 0;
    (void)!getrandom(&r, sizeof r, GRND_NONBLOCK);
    snprintf(tmp, sizeof tmp, ".sock-%d-%08x", (int)getpid(), r);
    int rc = sun_at(&sa, dfd, tmp);
    if (rc < 0) {
        return rc;
    }
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        return -errno;
    }
    /* The mode through an O_PATH fd of the socket file, never by name: a
     * chmod by name follows a symlink, and whoever may write the namespace
     * could have put one under TMP, to a file of ours elsewhere. */
    char proc[64];
    int pfd = ipcx__openat(dfd, tmp, O_PATH | O_NOFOLLOW, 0);
    rc = pfd < 0                 ? pfd
         : fstat(pfd, &st) < 0   ? -errno
         : !S_ISSOCK(st.st_mode) ? -EPROTO
                                 : 0;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
    if (rc == 0 &&
        (fchmodat(AT_FDCWD, proc, mode, 0) < 0 || listen(s, SOMAXCONN) < 0)) {
        rc = -errno;
    }
    ipcx__close(pfd);
    if (rc == 0) {
        rc = place(dfd, tmp, fname);
    }
    if (rc < 0) {
        (void)unlinkat(dfd, tmp, 0);
        return rc;
    }
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return 0;
}

void ipcx__sock_unlink(int dfd, const char *fname,
                       const struct ipcx__sockfile *id)
{
    struct stat st;
    if (fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == id->dev && st.st_ino == id->ino) {
        (void)unlinkat(dfd, fname, 0);
    }
}

/* ---- name locks ---- */

void ipcx__sock_lockname(const char *fname, char *lname)
{
    snprintf(lname, IPCX__LOCK_MAX + 1, ".%s.lock", fname);
}

/* Is the lock of name-lock file FD held only by a collector?  Owners lock
 * the whole file, ipcx_gc() only byte 1 (src/ns/gc.c), so byte 0 tells. */
static int collector_only(int fd)
{
    struct flock owner = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    return fcntl(fd, F_OFD_GETLK, &owner) == 0 && owner.l_type == F_UNLCK;
}

/* Write-lock the whole name-lock file FD: 0, -EEXIST while an owner
 * holds it, or -EBUSY while only a collector does (for microseconds, as it
 * removes a dead owner's leftovers: ipcx__sock_own_guarded() waits). */
static int lock_name(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
        return 0;
    }
    if (errno != EAGAIN && errno != EACCES) {
        return -errno;
    }
    return collector_only(fd) ? -EBUSY : -EEXIST;
}

/*
 * The owner removes the lock file when it closes, while still holding the
 * lock; so a lock is good only if its file is still the one linked under
 * the name (else we locked a file just removed, and try again).  A crashed
 * listener leaves the file for the next one to take.  Telling a live
 * listener from a dead one's leftover socket this way needs no connecting
 * to it (a probe would reach the live listener's accept).
 */
int ipcx__sock_own(int dfd, const char *fname, char *lname, int *lock)
{
    struct stat a, b;
    ipcx__sock_lockname(fname, lname);
    for (int attempt = 0; attempt < 16; attempt++) {
        int fd =
            ipcx__ns_open_file(dfd, lname, O_RDWR | O_CREAT, S_IFREG, NULL);
        if (fd == -EPROTO && unlinkat(dfd, lname, 0) == 0) {
            /* Planted (a FIFO, a symlink, a socket): owners only ever make
             * regular lock files, so nobody's lock; gone, try again.  A
             * directory stays: -EPROTO. */
            continue;
        }
        if (fd < 0) {
            return fd == -EACCES ? -EEXIST : fd; /* another user's */
        }
        int rc = lock_name(fd);
        if (rc < 0) {
            ipcx__close(fd);
            return rc;
        }
        if (fstat(fd, &a) == 0 &&
            fstatat(dfd, lname, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            *lock = fd;
            return 0;
        }
        ipcx__close(fd);
    }
    return -EAGAIN;
}

int ipcx__sock_own_guarded(int dfd, const char *fname, char *lname, int *lock)
{
    /* Never sleep holding the guard lock: fork() waits for it. */
    int64_t until = -1;
    for (;;) {
        ipcx__fork_lock();
        int rc = ipcx__sock_own(dfd, fname, lname, lock);
        if (rc != -EBUSY) {
            return rc;
        }
        int64_t now = ipcx__now_ns();
        until = until < 0 ? now + 1000000000 : until;
        if (now >= until) { /* a second: not a collector's microseconds */
            return -EEXIST;
        }
        ipcx__fork_unlock();
        struct timespec pause = {0, 100000};
        nanosleep(&pause, NULL);
    }
}

void ipcx__sock_disown(int dfd, const char *lname, int lock)
{
    struct stat a, b;
    if (fstat(lock, &a) == 0 &&
        fstatat(dfd, lname, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
        (void)unlinkat(dfd, lname, 0); /* ours, and we hold it */
    }
}

int ipcx__sock_owned(int dfd, const char *lname)
{
    /* Not blocking on a FIFO planted there, which no owner's lock is. */
    int fd = ipcx__ns_open_file(dfd, lname, O_RDONLY, S_IFREG, NULL);
    if (fd < 0) {
        return fd == -ENOENT || fd == -EPROTO ? 0 : fd;
    }
    /* A read lock is what a write lock conflicts with: only an owner's
     * write lock answers, not a reader's (anyone who may open the file
     * may take a read lock, and must not fake a live owner with it). */
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
    int rc = fcntl(fd, F_OFD_GETLK, &fl) < 0 ? -errno : fl.l_type == F_WRLCK;
    ipcx__close(fd);
    return rc;
}

/* ---- fork safety ---- */

static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ipcx__forkguard *guards; /* under guard_mu */
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    pthread_mutex_lock(&guard_mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&guard_mu);
}

/*
 * The child's only thread holds guard_mu (taken by fork_prepare in the
 * parent): no other thread can be changing the list or a guarded handle.
 * Only async-signal-safe calls from here on: another thread of the parent
 * may have held any other lock (malloc's included) at the fork.
 */
static void fork_child(void)
{
    int devnull = guards != NULL ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
    for (struct ipcx__forkguard *g = guards; g != NULL; g = g->next) {
        g->child(g, devnull);
    }
    if (devnull >= 0) {
        (void)close(devnull);
    }
    pthread_mutex_unlock(&guard_mu);
}

static void fork_register(void)
{
    /* Cannot fail but for ENOMEM, in which case the listeners stay as
     * they were before fork safety (the child shares them). */
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void ipcx__fork_lock(void)
{
    /* Before the first guard is watched, so no fork() can slip between
     * the guard's descriptors being made and the handler existing. */
    pthread_once(&guard_once, fork_register);
    pthread_mutex_lock(&guard_mu);
}

void ipcx__fork_unlock(void)
{
    pthread_mutex_unlock(&guard_mu);
}

void ipcx__fork_watch(struct ipcx__forkguard *g)
{
    g->prev = NULL;
    g->next = guards;
    if (guards != NULL) {
        guards->prev = g;
    }
    guards = g;
}

void ipcx__fork_unwatch(struct ipcx__forkguard *g)
{
    if (g->prev != NULL) {
        g->prev->next = g->next;
    } else if (guards == g) {
        guards = g->next;
    }
    if (g->next != NULL) {
        g->next->prev = g->prev;
    }
    g->prev = g->next = NULL;
}

int ipcx__fork_plug(int fd, int devnull)
{
    if (fd < 0) {
        return -1;
    }
    if (devnull >= 0 && dup3(devnull, fd, O_CLOEXEC) == fd) {
        return fd;
    }
    (void)close(fd); /* still better than holding on */
    return -1;
}
