/*
 * notify.c - the notify mailbox (SPEC K3): events about watched processes,
 * the process's channels and its named mailbox handles, found by the process
 * itself, without a daemon or a thread.
 *
 * Everything lives under one process-wide mutex (g.mu): the list of tracked
 * channels and mailbox handles, which exists whether or not a notify mailbox
 * is open, and the one open ipcx_notify.  Each thing that can give an event
 * is a `struct src`.  While the notify mailbox is open, every source is
 * "armed": its descriptors are in the epoll set E (a pidfd, a channel's
 * socket and its peer's pidfd) or, for a mailbox, in the inotify set, whose
 * descriptor is in E.  pump() asks E, without blocking, what fired, turns
 * each fired source into one queued event and disarms it.
 *
 * Why no event is lost, and why ipcx_notify_fd() is exact:
 *   - Every source is level-triggered: an exited process's pidfd stays
 *     readable, a hung-up socket stays hung up, the inotify descriptor stays
 *     readable until it is read (and a mailbox's link count stays 0).  A
 *     source that fired while nobody looked is still ready at the next pump.
 *   - The in-process queue and the "pending" eventfd change together under
 *     g.mu: the eventfd is written when the queue turns non-empty and drained
 *     when it turns empty.  So E is readable exactly when an event is queued
 *     or a source fired and is not pumped yet.
 *   - A receiver pumps and looks at the queue under g.mu, then sleeps in
 *     ppoll() on E without the mutex.  Whatever happens after it unlocked
 *     (a source fires, another thread queues an event) makes E readable, so
 *     the sleep ends; whatever happened before was seen under the mutex.
 *     Another thread may take the event first: the receiver then wakes for
 *     nothing and loops.
 *
 * Lock ordering: g.mu is a leaf.  The channel and mailbox code call the
 * hooks holding none of their own locks, and nothing here calls back into
 * them: a source copies the descriptors and the event's fields at track
 * time, and the hooks' callers keep those descriptors open until untrack
 * returns.
 *
 * fork(): a child shares E with its parent, so a child that touched it
 * (closing an inherited channel removes the channel's socket from E) would
 * blind the parent.  An atfork handler therefore orphans the notify mailbox
 * in the child: its descriptors are closed there and its calls answer
 * -EBADF; the child may open its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel/channel.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/sys.h"
#include "mailbox/mailbox.h"
#include "notify/notify.h"
#include "wait/wait.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

enum src_kind { SRC_PROC = 1, SRC_CHAN, SRC_MBOX };

/*
 * One thing that gives at most one event per notify mailbox.  Channels and
 * mailbox handles are on g.tracked from track to untrack; watched processes
 * are on their notify mailbox's procs list from watch to unwatch, or until
 * their event is received.
 */
struct src {
    int kind;
    int armed;  /* its descriptors are in E / its watch in inotify */
    int fired;  /* its event was made (stays 1 until the mailbox closes) */
    int queued; /* its event waits in the queue */
    int fd[2];  /* PROC: the pidfd (ours); CHAN: socket, peer pidfd (the
                   channel's); MBOX: the mailbox file (the handle's); or -1 */
    int wd;     /* MBOX: inotify watch while armed, else -1 */
    const void *handle; /* the channel or mailbox, for untrack */
    ipcx_event ev;      /* the event, filled at track / watch time */
    struct src *next;   /* g.tracked or n->procs */
    struct src *qnext;  /* the event queue */
};

struct ipcx_notify {
    uint32_t magic; /* IPCX__H_NOTIFY (core/handle.h) */
    int epfd;       /* E: what ipcx_notify_fd() gives */
    int pending;    /* eventfd in E: readable while the queue is non-empty */
    int ino;        /* inotify, in E, for the mailbox files */
    int orphan;     /* inherited through fork(): unusable */
    struct src *procs;
    struct src *qhead, **qtail;
};

static struct {
    pthread_mutex_t mu;
    struct src *tracked;
    struct ipcx_notify *open;
} g = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL};

/* epoll data of E's own two members; any other is a struct src. */
static char tag_pending, tag_inotify;

static void lock(void)
{
    pthread_mutex_lock(&g.mu);
}

static void unlock(void)
{
    pthread_mutex_unlock(&g.mu);
}

/* ---- the queue and its eventfd ---------------------------------------- */

static void pending_set(struct ipcx_notify *n, int on)
{
    uint64_t v = 1;
    ssize_t r;
    /* Non-blocking: a write cannot overflow (at most one per empty to
     * non-empty turn), a read of an empty counter answers EAGAIN. */
    do {
        r = on ? write(n->pending, &v, sizeof v)
               : read(n->pending, &v, sizeof v);
    } while (r < 0 && errno == EINTR);
}

static void queue_push(struct ipcx_notify *n, struct src *s)
{
    s->fired = 1;
    s->queued = 1;
    s->qnext = NULL;
    *n->qtail = s;
    n->qtail = &s->qnext;
    if (n->qhead == s) {
        pending_set(n, 1);
    }
}

/* Take S out of the queue (withdraw its event, or it was received). */
static void queue_remove(struct ipcx_notify *n, struct src *s)
{
    if (!s->queued) {
        return;
    }
    struct src **pp = &n->qhead;
    while (*pp != s) {
        pp = &(*pp)->qnext;
    }
    *pp = s->qnext;
    if (n->qtail == &s->qnext) {
        n->qtail = pp;
    }
    s->queued = 0;
    if (n->qhead == NULL) {
        pending_set(n, 0);
    }
}

/* ---- arming and disarming sources -------------------------------------- */

static int epoll_add(struct ipcx_notify *n, int fd, uint32_t events, void *tag)
{
    struct epoll_event e = {.events = events, .data.ptr = tag};
    return epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void epoll_del(struct ipcx_notify *n, int fd)
{
    if (fd >= 0) {
        (void)epoll_ctl(n->epfd, EPOLL_CTL_DEL, fd, NULL);
    }
}

/* Does an armed mailbox source other than S use inotify watch WD? */
static int wd_shared(const struct src *s, int wd)
{
    for (const struct src *o = g.tracked; o != NULL; o = o->next) {
        if (o != s && o->kind == SRC_MBOX && o->armed && o->wd == wd) {
            return 1;
        }
    }
    return 0;
}

/* Leave E / inotify.  A process's pidfd has served its purpose: close it. */
static void disarm(struct ipcx_notify *n, struct src *s)
{
    if (!s->armed) {
        return;
    }
    s->armed = 0;
    if (s->kind == SRC_MBOX) {
        /* Handles of one inode share a watch: it goes with the last. */
        if (s->wd >= 0 && !wd_shared(s, s->wd)) {
            (void)inotify_rm_watch(n->ino, s->wd);
        }
        s->wd = -1;
        return;
    }
    epoll_del(n, s->fd[0]);
    epoll_del(n, s->fd[1]);
    if (s->kind == SRC_PROC) {
        ipcx__close(s->fd[0]);
        s->fd[0] = -1;
    }
}

/* A process's wait status, if it is our child: waitid() on the pidfd
 * answers only for children, and WNOWAIT leaves the zombie to the caller's
 * own waitpid(). */
static void proc_status(struct src *s)
{
    siginfo_t si;
    int rc;
    memset(&si, 0, sizeof si);
    do {
        rc = waitid((idtype_t)P_PIDFD, (id_t)s->fd[0], &si,
                    WEXITED | WNOHANG | WNOWAIT);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 || si.si_pid == 0) {
        return; /* not our child (ECHILD), or reaped already */
    }
    int st = si.si_status;
    switch (si.si_code) {
    case CLD_EXITED:
        s->ev.status = (st & 0xff) << 8; /* W_EXITCODE(st, 0) */
        break;
    case CLD_KILLED:
        s->ev.status = st & 0x7f;
        break;
    case CLD_DUMPED:
        s->ev.status = (st & 0x7f) | 0x80; /* WCOREFLAG */
        break;
    default:
        return;
    }
    s->ev.status_known = 1;
}

/* S fired: queue its one event and stop watching it. */
static void fire(struct ipcx_notify *n, struct src *s)
{
    if (s->fired) {
        return; /* the socket and the pidfd of one channel, in one batch */
    }
    if (s->kind == SRC_PROC) {
        proc_status(s);
    }
    disarm(n, s);
    queue_push(n, s);
}

/* Destroying a mailbox unlinks its file: a link count of 0 is the one
 * sign (the header's flag is set only after the unlink). */
static void mbox_check(struct ipcx_notify *n, struct src *s)
{
    struct stat st;
    if (fstat(s->fd[0], &st) == 0 && st.st_nlink == 0) {
        fire(n, s);
    }
}

/*
 * Watch the mailbox file's inode, reached through /proc/self/fd so that no
 * name is looked up again (the name may already belong to a successor).
 * The unlink changes the link count: IN_ATTRIB.  The check after adding the
 * watch catches a destroy that came before it.
 */
static int arm_mbox(struct ipcx_notify *n, struct src *s)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", s->fd[0]);
    int wd = inotify_add_watch(n->ino, path, IN_ATTRIB | IN_DELETE_SELF);
    if (wd < 0) {
        return -errno;
    }
    s->wd = wd;
    s->armed = 1;
    /* Only named mailboxes are tracked (ipcx_mailbox_open): an anonymous
     * one's memfd has a link count of 0 from birth. */
    mbox_check(n, s);
    return 0;
}

/* Add S's descriptors to E.  A channel's socket is asked only for hang-up
 * (EPOLLHUP and EPOLLERR come unasked): incoming data must not wake us. */
static int arm(struct ipcx_notify *n, struct src *s)
{
    int rc = 0;
    if (s->kind == SRC_MBOX) {
        return arm_mbox(n, s);
    }
    if (s->kind == SRC_PROC) {
        rc = epoll_add(n, s->fd[0], EPOLLIN, s);
    } else {
        rc = epoll_add(n, s->fd[0], EPOLLRDHUP, s);
        if (rc == 0 && s->fd[1] >= 0 &&
            (rc = epoll_add(n, s->fd[1], EPOLLIN, s)) < 0) {
            epoll_del(n, s->fd[0]);
        }
    }
    s->armed = rc == 0;
    return rc;
}

/* ---- pumping ----------------------------------------------------------- */

/* Every inotify event names a watch; look at the handles on it.  An
 * overflow (wd -1) looks at all of them. */
static void inotify_event(struct ipcx_notify *n, const struct inotify_event *e)
{
    for (struct src *s = g.tracked; s != NULL; s = s->next) {
        if (s->kind != SRC_MBOX || !s->armed ||
            (e->wd >= 0 && s->wd != e->wd)) {
            continue;
        }
        if (e->mask & IN_IGNORED) {
            s->armed = 0; /* the kernel dropped the watch (unmount) */
            s->wd = -1;
        } else {
            mbox_check(n, s);
        }
    }
}

static void inotify_drain(struct ipcx_notify *n)
{
    _Alignas(struct inotify_event) char buf[4096];
    for (;;) {
        ssize_t len = read(n->ino, buf, sizeof buf);
        if (len <= 0) {
            if (len < 0 && errno == EINTR) {
                continue;
            }
            return; /* EAGAIN: drained */
        }
        for (ssize_t off = 0; off < len;) {
            const struct inotify_event *e = (const void *)(buf + off);
            inotify_event(n, e);
            off += (ssize_t)(sizeof *e + e->len);
        }
    }
}

/*
 * Turn every source that fired into its event, without blocking.  Each
 * ready member of E except the pending eventfd is consumed (a fired source
 * leaves E, inotify is read), so the loop ends; the bound is a guard.
 */
static void pump(struct ipcx_notify *n)
{
    struct epoll_event evs[32];
    for (int round = 0; round < 64; round++) {
        int k = epoll_wait(n->epfd, evs, 32, 0);
        for (int i = 0; i < k; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &tag_inotify) {
                inotify_drain(n);
            } else if (tag != &tag_pending) {
                fire(n, tag);
            }
        }
        if (k < 32 && !(k < 0 && errno == EINTR)) {
            return;
        }
    }
}

/* Pop the oldest event into *EV: 1, or 0 if none.  A process watch ends
 * with its event. */
static int pop(struct ipcx_notify *n, ipcx_event *ev)
{
    struct src *s = n->qhead;
    if (s == NULL) {
        return 0;
    }
    queue_remove(n, s);
    *ev = s->ev;
    if (s->kind == SRC_PROC) {
        struct src **pp = &n->procs;
        while (*pp != s) {
            pp = &(*pp)->next;
        }
        *pp = s->next;
        free(s);
    }
    return 1;
}

/* ---- tracking channels and mailboxes ----------------------------------- */

static void track(struct src *s)
{
    lock();
    s->next = g.tracked;
    g.tracked = s;
    if (g.open != NULL) {
        /* Cannot be reported from here: an epoll set or inotify out of
         * memory leaves this one unwatched. */
        (void)arm(g.open, s);
    }
    unlock();
}

static void untrack(const void *handle)
{
    lock();
    struct src **pp = &g.tracked;
    while (*pp != NULL && (*pp)->handle != handle) {
        pp = &(*pp)->next;
    }
    struct src *s = *pp;
    if (s != NULL) {
        *pp = s->next;
        if (g.open != NULL) {
            disarm(g.open, s);
            queue_remove(g.open, s); /* no event names a freed handle */
        }
    }
    unlock();
    free(s);
}

static struct src *new_src(int kind, int fd0, int fd1)
{
    struct src *s = calloc(1, sizeof *s);
    if (s != NULL) {
        s->kind = kind;
        s->fd[0] = fd0;
        s->fd[1] = fd1;
        s->wd = -1;
    }
    return s;
}

void ipcx__notify_track_channel(ipcx_channel *ch)
{
    struct src *s = new_src(SRC_CHAN, ch->sock, ch->pidfd);
    if (s == NULL) {
        return; /* out of memory: this channel gives no event */
    }
    s->handle = ch;
    s->ev.kind = IPCX_EVENT_CHANNEL_CLOSED;
    s->ev.channel = ch;
    s->ev.pid = ch->peer.pid;
    track(s);
}

void ipcx__notify_untrack_channel(ipcx_channel *ch)
{
    untrack(ch);
}

void ipcx__notify_track_mailbox(ipcx_mailbox *mb)
{
    struct src *s = new_src(SRC_MBOX, mb->fd, -1);
    if (s == NULL) {
        return;
    }
    s->handle = mb;
    s->ev.kind = IPCX_EVENT_MAILBOX_DESTROYED;
    s->ev.mailbox = mb;
    s->ev.mailbox_id = mb->hdr->id; /* immutable after creation */
    track(s);
}

void ipcx__notify_untrack_mailbox(ipcx_mailbox *mb)
{
    untrack(mb);
}

/* ---- opening and closing ----------------------------------------------- */

/* Forget N's sources (close, a failed open): every tracked source leaves it
 * and may fire again for the next notify mailbox; process watches end. */
static void detach_all(struct ipcx_notify *n)
{
    for (struct src *s = g.tracked; s != NULL; s = s->next) {
        disarm(n, s);
        s->fired = s->queued = 0;
    }
    while (n->procs != NULL) {
        struct src *s = n->procs;
        n->procs = s->next;
        ipcx__close(s->fd[0]); /* -1 once fired */
        free(s);
    }
    n->qhead = NULL;
    n->qtail = &n->qhead;
}

static void close_fds(struct ipcx_notify *n)
{
    ipcx__close(n->epfd);
    ipcx__close(n->pending);
    ipcx__close(n->ino);
    n->epfd = n->pending = n->ino = -1;
}

static void atfork_prepare(void)
{
    lock();
}

static void atfork_parent(void)
{
    unlock();
}

/* In the child: the notify mailbox is the parent's (see the top).  Its E
 * and inotify set are shared with the parent, so nothing is removed from
 * them: the child closes its copies and forgets. */
static void atfork_child(void)
{
    struct ipcx_notify *n = g.open;
    if (n != NULL) {
        g.open = NULL;
        for (struct src *s = g.tracked; s != NULL; s = s->next) {
            s->armed = s->fired = s->queued = 0;
            s->wd = -1;
        }
        detach_all(n);
        close_fds(n);
        n->orphan = 1;
    }
    unlock();
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
    (void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* E and its two fixed members; 0 or a negative errno with the detail. */
static int make_fds(struct ipcx_notify *n)
{
    const char *what = "epoll_ctl";
    int rc = 0;
    n->epfd = n->pending = n->ino = -1;
    if ((n->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        rc = -errno;
        what = "epoll_create1";
    } else if ((n->pending = ipcx__eventfd(EFD_NONBLOCK)) < 0) {
        rc = n->pending;
        what = "eventfd";
    } else if ((n->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        rc = -errno;
        what = "inotify_init1";
    } else if ((rc = epoll_add(n, n->pending, EPOLLIN, &tag_pending)) == 0) {
        rc = epoll_add(n, n->ino, EPOLLIN, &tag_inotify);
    }
    if (rc < 0) {
        close_fds(n);
        return ipcx__err(rc, "cannot open the notify mailbox: %s: %s", what,
                         ipcx_strerror(rc));
    }
    return 0;
}

/* Arm every source tracked so far (under g.mu); undone on failure. */
static int arm_tracked(struct ipcx_notify *n)
{
    for (struct src *s = g.tracked; s != NULL; s = s->next) {
        int rc = arm(n, s);
        if (rc < 0) {
            detach_all(n);
            return ipcx__err(rc,
                             "cannot open the notify mailbox: cannot watch "
                             "an open %s: %s",
                             s->kind == SRC_CHAN ? "channel" : "mailbox",
                             ipcx_strerror(rc));
        }
    }
    return 0;
}

int ipcx_notify_open(ipcx_notify **out)
{
    ipcx__err_clear();
    if (out == NULL) {
        return ipcx__err(-EINVAL, "NULL handle pointer");
    }
    (void)pthread_once(&atfork_once, atfork_register);
    struct ipcx_notify *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return ipcx__err(-ENOMEM, "cannot open the notify mailbox: no memory");
    }
    n->magic = IPCX__H_NOTIFY;
    n->qtail = &n->qhead;
    int rc = make_fds(n);
    if (rc == 0) {
        lock();
        if (g.open != NULL) {
            rc = ipcx__err(-EBUSY, "the process's notify mailbox is open "
                                   "already (one per process)");
        } else if ((rc = arm_tracked(n)) == 0) {
            g.open = n;
        }
        unlock();
    }
    if (rc < 0) {
        close_fds(n);
        free(n);
        return rc;
    }
    *out = n;
    return 0;
}

int ipcx_notify_close(ipcx_notify *n)
{
    ipcx__err_clear();
    if (n == NULL) {
        return 0;
    }
    int bad = ipcx__handle_check(n, IPCX__H_NOTIFY, "notify mailbox");
    if (bad < 0) {
        return bad;
    }
    lock();
    if (g.open == n) {
        detach_all(n);
        g.open = NULL;
    }
    unlock();
    close_fds(n); /* an orphan's are closed already (-1) */
    ipcx__handle_retire(n);
    return 0;
}

/* Under g.mu: is N usable?  0, or -EBADF with the detail. */
static int check_open(struct ipcx_notify *n)
{
    if (n == g.open) {
        return 0;
    }
    return ipcx__err(-EBADF, n->orphan ? "the notify mailbox belongs to the "
                                         "parent process (fork): open one "
                                         "in this process"
                                       : "not an open notify mailbox");
}

/* ---- watching processes ------------------------------------------------ */

static struct src *find_proc(struct ipcx_notify *n, pid_t pid)
{
    struct src *s = n->procs;
    while (s != NULL && s->ev.pid != pid) {
        s = s->next;
    }
    return s;
}

/* A pidfd for PID (close-on-exec: pidfd_open sets it), or a negative
 * errno with the detail. */
static int open_pidfd(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        return fd;
    }
    int rc = -errno;
    switch (rc) {
    case -ESRCH:
        return ipcx__err(rc, "cannot watch process %d: no such process",
                         (int)pid);
    case -EINVAL:
        return ipcx__err(rc, "cannot watch %d: a thread, not a process",
                         (int)pid);
    default:
        return ipcx__err(rc, "cannot watch process %d: pidfd_open: %s",
                         (int)pid, ipcx_strerror(rc));
    }
}

/* Under g.mu: add the watch S on N; 0 or a negative errno. */
static int add_proc(struct ipcx_notify *n, struct src *s)
{
    int rc = check_open(n);
    if (rc < 0) {
        return rc;
    }
    if (find_proc(n, s->ev.pid) != NULL) {
        return ipcx__err(-EEXIST, "process %d is watched already",
                         (int)s->ev.pid);
    }
    if ((rc = arm(n, s)) < 0) {
        return ipcx__err(rc, "cannot watch process %d: epoll_ctl: %s",
                         (int)s->ev.pid, ipcx_strerror(rc));
    }
    s->next = n->procs;
    n->procs = s;
    return 0;
}

int ipcx_notify_watch(ipcx_notify *n, pid_t pid, uint64_t cookie)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(n, IPCX__H_NOTIFY, "notify mailbox");
    if (bad < 0) {
        return bad;
    }
    if (pid <= 0) {
        return ipcx__err(-EINVAL, "pid must be positive");
    }
    int fd = open_pidfd(pid);
    if (fd < 0) {
        return fd;
    }
    struct src *s = new_src(SRC_PROC, fd, -1);
    if (s == NULL) {
        ipcx__close(fd);
        return ipcx__err(-ENOMEM, "cannot watch process %d: no memory",
                         (int)pid);
    }
    s->ev.kind = IPCX_EVENT_PROC_EXIT;
    s->ev.pid = pid;
    s->ev.cookie = cookie;
    lock();
    int rc = add_proc(n, s);
    unlock();
    if (rc < 0) {
        ipcx__close(fd);
        free(s);
    }
    return rc;
}

int ipcx_notify_unwatch(ipcx_notify *n, pid_t pid)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(n, IPCX__H_NOTIFY, "notify mailbox");
    if (bad < 0) {
        return bad;
    }
    lock();
    int rc = check_open(n);
    struct src *s = rc < 0 ? NULL : find_proc(n, pid);
    if (s != NULL) {
        struct src **pp = &n->procs;
        while (*pp != s) {
            pp = &(*pp)->next;
        }
        *pp = s->next;
        disarm(n, s);       /* closes the pidfd if it did not fire */
        queue_remove(n, s); /* withdraws its event if it did */
    } else if (rc == 0) {
        rc = ipcx__err(-ENOENT, "process %d is not watched", (int)pid);
    }
    unlock();
    free(s);
    return rc;
}

/* ---- receiving --------------------------------------------------------- */

int ipcx_notify_recv(ipcx_notify *n, ipcx_event *ev, int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int bad = ipcx__handle_check(n, IPCX__H_NOTIFY, "notify mailbox");
    if (bad < 0) {
        return bad;
    }
    if (ev == NULL) {
        return ipcx__err(-EINVAL, "NULL event pointer");
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    for (;;) {
        lock();
        int rc = check_open(n);
        int got = 0;
        if (rc == 0) {
            pump(n);
            got = pop(n, ev);
        }
        unlock();
        if (rc < 0 || got) {
            return rc;
        }
        /* Sleep without the mutex; see the top for why nothing is missed. */
        struct pollfd p = {n->epfd, POLLIN, 0};
        if ((rc = ipcx__poll_deadline(&p, 1, &d)) < 0) {
            return rc;
        }
    }
}

int ipcx__notify_ready(ipcx_notify *n)
{
    int ready = 0;
    if (n == NULL) {
        return 0;
    }
    lock();
    if (n == g.open) {
        pump(n);
        ready = n->qhead != NULL;
    }
    unlock();
    return ready;
}

int ipcx_notify_fd(ipcx_notify *n)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(n, IPCX__H_NOTIFY, "notify mailbox");
    if (bad < 0) {
        return bad;
    }
    lock();
    int rc = check_open(n);
    unlock();
    return rc < 0 ? rc : n->epfd;
}
