/*
 * inbox.c - direct communication: a process's inbox, addressed by pid.
 *
 * The inbox is a listening SOCK_SEQPACKET socket PID.inbox in the namespace
 * (placed by channel/sock.c).  A sender links to it once (connect) and then
 * sends one packet per message on that link, so the kernel keeps each
 * sender's messages in order and, through SO_PEERCRED at accept, tells the
 * receiver who is on the other end.  Receiving accepts new links, then takes
 * the first packet from a link that has one, round-robin for fairness.
 *
 * Beside the socket lies the inbox's name lock, .PID.inbox.lock (see
 * channel/sock.h), held while the inbox is open: it tells a live inbox
 * from a dead process's leftover (ipcx_inbox_alive) without connecting.
 * A fork guard (channel/sock.h) keeps a child forked without exec from
 * holding the socket, the lock or the links: once the parent is gone,
 * senders find it gone, whatever the child does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipcx/direct.h>

#include "channel/sock.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/sys.h"
#include "ns/ns.h"
#include "wait/wait.h"

#define INBOX_SUFFIX ".inbox"

struct link {
    int fd;
    ipcx_peer peer; /* incoming: who linked to us; outgoing: pid only */
};

/* Changed under the guard lock as well (see inbox_forked). */
struct links {
    struct link *v;
    size_t n, cap;
};

struct ipcx_inbox {
    uint32_t magic; /* IPCX__H_INBOX (core/handle.h) */
    int sock, dfd;
    char fname[IPCX__FILE_MAX + 1];
    struct ipcx__sockfile id;
    int lock; /* name lock on lname, held while open */
    char lname[IPCX__LOCK_MAX + 1];
    pthread_mutex_t rx_mu, tx_mu;
    struct links in;  /* under rx_mu */
    struct links out; /* under tx_mu */
    size_t next;      /* round-robin start, under rx_mu */
    struct ipcx__forkguard guard;
    int dead; /* in a child after fork(): the parent's inbox, not ours */
};

/* Under the guard lock. */
static int links_add(struct links *l, int fd, ipcx_peer peer)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct link *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            return -ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct link){fd, peer};
    return 0;
}

static void links_drop(struct links *l, size_t i)
{
    ipcx__fork_lock();
    ipcx__close(l->v[i].fd);
    l->v[i] = l->v[--l->n];
    ipcx__fork_unlock();
}

/* Under the guard lock. */
static void links_free(struct links *l)
{
    for (size_t i = 0; i < l->n; i++) {
        ipcx__close(l->v[i].fd);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* In a child after fork(): let go of everything that would keep the
 * parent's inbox or links looking alive (see sock.h).  Async-signal-safe;
 * the guard lock, held since the fork, keeps the link arrays whole. */
static void inbox_forked(struct ipcx__forkguard *g, int devnull)
{
    ipcx_inbox *ib = (ipcx_inbox *)((char *)g - offsetof(ipcx_inbox, guard));
    ib->sock = ipcx__fork_plug(ib->sock, devnull);
    ib->lock = ipcx__fork_plug(ib->lock, devnull);
    struct links *all[2] = {&ib->in, &ib->out};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < all[k]->n; i++) {
            all[k]->v[i].fd = ipcx__fork_plug(all[k]->v[i].fd, devnull);
        }
    }
    ib->dead = 1;
}

/* Does this process have its inbox open?  Pids are unique among live
 * processes, so a PID.inbox file that is not ours is a dead process's. */
static _Atomic pid_t inbox_owner; /* pid: a child after fork() has none */

/* Take the name lock, then bind and place the socket; under the guard
 * lock, so a fork() sees all of the inbox's descriptors or none. */
static int open_inbox(ipcx_inbox *ib, uint32_t mode)
{
    int rc = ipcx__sock_own_guarded(ib->dfd, ib->fname, ib->lname, &ib->lock);
    if (rc == -EEXIST && ipcx__sock_owned(ib->dfd, ib->lname) != 1) {
        /* No live owner holds it: pids being unique, it is a dead one's
         * that we may not open (another user's), or a reader squats on
         * it.  Make a fresh one. */
        (void)unlinkat(ib->dfd, ib->lname, 0);
        rc = ipcx__sock_own(ib->dfd, ib->fname, ib->lname, &ib->lock);
        rc = rc == -EBUSY ? -EEXIST : rc; /* a collector came meanwhile */
    }
    if (rc == 0 && (rc = ib->sock = ipcx__sock_new()) >= 0) {
        rc = ipcx__sock_listen(ib->sock, ib->dfd, ib->fname, mode, &ib->id);
    }
    if (rc == 0) {
        ib->guard.child = inbox_forked;
        ipcx__fork_watch(&ib->guard);
    } else {
        if (ib->lock >= 0) { /* ours, and nothing was placed: no trace */
            ipcx__sock_disown(ib->dfd, ib->lname, ib->lock);
        }
        ipcx__close(ib->lock);
        ipcx__close(ib->sock);
        ib->lock = ib->sock = -1;
    }
    ipcx__fork_unlock();
    return rc;
}

int ipcx_inbox_open(uint32_t mode, ipcx_inbox **out)
{
    char name[32];
    ipcx__err_clear();
    if (out == NULL || mode > 0777) {
        return ipcx__err(-EINVAL, out == NULL ? "NULL out pointer"
                                              : "mode: only bits 0777");
    }
    pid_t me = getpid(), none = 0;
    if (atomic_load(&inbox_owner) != me) {
        atomic_store(&inbox_owner, 0); /* the parent's, inherited */
    }
    if (!atomic_compare_exchange_strong(&inbox_owner, &none, me)) {
        return ipcx__err(-EEXIST, "this process has an inbox");
    }
    ipcx_inbox *ib = calloc(1, sizeof *ib);
    if (ib == NULL) {
        atomic_store(&inbox_owner, 0); /* we have none after all */
        return ipcx__err(-ENOMEM, "out of memory");
    }
    ib->magic = IPCX__H_INBOX;
    ib->sock = ib->dfd = ib->lock = -1;
    snprintf(name, sizeof name, "%d", (int)getpid());
    int rc = ipcx__ns_file(name, INBOX_SUFFIX, "inbox", ib->fname);
    if (rc == 0 && (rc = ib->dfd = ipcx__ns_open()) >= 0) {
        rc = open_inbox(ib, mode ? mode : 0600);
    }
    struct stat st;
    char planted[IPCX__LOCK_MAX + 1] = ""; /* the name found taken */
    if (rc == -EISDIR || rc == -EPROTO) {
        /* A directory where the socket goes (renaming onto it fails), or
         * at the name lock (which ipcx__sock_own() removes if it can). */
        snprintf(planted, sizeof planted, "%s",
                 rc == -EISDIR ? ib->fname : ib->lname);
        if (fstatat(ib->dfd, planted, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            st.st_mode = 0;
        }
    }
    if (rc < 0) {
        ipcx__close(ib->dfd);
        free(ib);
        atomic_store(&inbox_owner, 0);
        if (rc == -EEXIST) { /* pids are unique, but not across pid
                                namespaces sharing a namespace directory */
            return ipcx__err(rc, "an inbox of pid %s is live", name);
        }
        if (planted[0] != '\0') {
            return ipcx__err(-EEXIST,
                             "cannot open the inbox: '%s' is %s (planted? "
                             "remove it)",
                             planted, ipcx__ns_kind(st.st_mode));
        }
        return ipcx__err(rc, "cannot open the inbox: %s", ipcx_strerror(rc));
    }
    pthread_mutex_init(&ib->rx_mu, NULL);
    pthread_mutex_init(&ib->tx_mu, NULL);
    *out = ib;
    return 0;
}

int ipcx_inbox_close(ipcx_inbox *ib)
{
    ipcx__err_clear();
    if (ib == NULL) {
        return 0;
    }
    int bad = ipcx__handle_check(ib, IPCX__H_INBOX, "inbox");
    if (bad < 0) {
        return bad;
    }
    int dead = ib->dead;
    ipcx__fork_lock();
    ipcx__fork_unwatch(&ib->guard);
    /* A child's inherited inbox is the parent's: its names stay. */
    if (!dead) {
        ipcx__sock_unlink(ib->dfd, ib->fname, &ib->id);
        ipcx__sock_disown(ib->dfd, ib->lname, ib->lock);
    }
    ipcx__close(ib->sock); /* before a fork() could copy them unguarded */
    ipcx__close(ib->lock);
    links_free(&ib->in);
    links_free(&ib->out);
    ipcx__fork_unlock();
    ipcx__close(ib->dfd);
    if (!dead) {
        /* (In a child, a parent's thread may have held them at the fork.) */
        pthread_mutex_destroy(&ib->rx_mu);
        pthread_mutex_destroy(&ib->tx_mu);
        atomic_store(&inbox_owner, 0);
    }
    ipcx__handle_retire(ib);
    return 0;
}

/* ---- who has an inbox ---- */

struct list_arg {
    int (*fn)(const char *name, void *arg);
    void *arg;
};

/* Pass on the names that are pids: only those can be inboxes. */
static int list_pid(const char *name, void *arg)
{
    const struct list_arg *l = arg;
    size_t n = strspn(name, "0123456789");
    if (name[n] != '\0' || name[0] == '0' || n > 10 ||
        strtoll(name, NULL, 10) > INT32_MAX) {
        return 0;
    }
    return l->fn(name, l->arg);
}

int ipcx_inbox_list(int (*fn)(const char *name, void *arg), void *arg)
{
    ipcx__err_clear();
    if (fn == NULL) {
        return ipcx__err(-EINVAL, "NULL callback");
    }
    struct list_arg l = {fn, arg};
    return ipcx__ns_list(INBOX_SUFFIX, list_pid, &l);
}

int ipcx_inbox_alive(pid_t pid)
{
    char name[32], fname[IPCX__FILE_MAX + 1], lname[IPCX__LOCK_MAX + 1];
    struct stat st;
    ipcx__err_clear();
    if (pid <= 0) {
        return ipcx__err(-EINVAL, "bad pid %d", (int)pid);
    }
    snprintf(name, sizeof name, "%d", (int)pid);
    int rc = ipcx__ns_file(name, INBOX_SUFFIX, "inbox", fname);
    int dfd = rc < 0 ? rc : ipcx__ns_open();
    if (dfd < 0) {
        return dfd;
    }
    ipcx__sock_lockname(fname, lname);
    if (fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = -errno;
    } else if (!S_ISSOCK(st.st_mode)) {
        rc = 0; /* planted (a FIFO, a symlink...): nobody's live inbox */
    } else {
        rc = ipcx__sock_owned(dfd, lname);
    }
    ipcx__close(dfd);
    switch (rc) {
    case 0:
    case 1:
        return rc;
    case -ENOENT:
        return ipcx__err(rc, "process %d has no inbox", (int)pid);
    default:
        return ipcx__err(rc, "inbox of process %d: %s", (int)pid,
                         ipcx_strerror(rc));
    }
}

/* ---- sending ---- */

/* The answer of every call on an inbox a child inherited. */
static int inherited(void)
{
    return ipcx__err(-EBADF, "the inbox was inherited across fork(): it is "
                             "the parent's (open one of our own)");
}

/* The link to PID, made if needed: its index in ib->out, or -errno. */
static int link_to(ipcx_inbox *ib, pid_t pid)
{
    char name[32], fname[IPCX__FILE_MAX + 1];
    for (size_t i = 0; i < ib->out.n; i++) {
        if (ib->out.v[i].peer.pid == pid) {
            return (int)i;
        }
    }
    snprintf(name, sizeof name, "%d", (int)pid);
    int rc = ipcx__ns_file(name, INBOX_SUFFIX, "inbox", fname);
    if (rc < 0) {
        return rc;
    }
    ipcx__fork_lock(); /* the link is guarded from its making on */
    int s = rc = ipcx__sock_new();
    if (rc >= 0) {
        rc = ipcx__sock_connect(s, ib->dfd, fname);
    }
    if (rc == 0) {
        rc = links_add(&ib->out, s, (ipcx_peer){pid, 0, 0});
    }
    if (rc < 0) {
        ipcx__close(s);
    }
    ipcx__fork_unlock();
    if (rc < 0) {
        return rc == -ENOENT || rc == -ECONNREFUSED ? -ESRCH : rc;
    }
    return (int)ib->out.n - 1;
}

/* One attempt on a link: 0, -EAGAIN (full), -EPIPE (the receiver went).
 * Every packet starts with a marker byte, so that even an empty message is
 * a non-empty packet and a zero-byte read always means the end. */
static int send_packet(int fd, const void *buf, size_t len)
{
    unsigned char mark = 'M';
    struct iovec iov[2] = {{&mark, 1}, {(void *)buf, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
        return 0;
    }
    return errno == ECONNRESET || errno == ENOTCONN ? -EPIPE : -errno;
}

static int send_locked(ipcx_inbox *ib, pid_t pid, const void *buf, size_t len,
                       struct ipcx__deadline *d)
{
    for (int fresh = 0;;) {
        int i = link_to(ib, pid);
        if (i < 0) {
            return i;
        }
        int rc = send_packet(ib->out.v[i].fd, buf, len);
        if (rc == -EPIPE && !fresh) {
            /* The process we linked to is gone; PID may be a new one. */
            links_drop(&ib->out, (size_t)i);
            fresh = 1;
            continue;
        }
        if (rc == -EPIPE) {
            links_drop(&ib->out, (size_t)i);
            return -ESRCH;
        }
        if (rc != -EAGAIN) {
            return rc;
        }
        struct pollfd p = {ib->out.v[i].fd, POLLOUT, 0};
        if ((rc = ipcx__poll_deadline(&p, 1, d)) < 0) {
            return rc;
        }
    }
}

int ipcx_send_to(ipcx_inbox *ib, pid_t pid, const void *buf, size_t len,
                 int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int bad = ipcx__handle_check(ib, IPCX__H_INBOX, "inbox");
    if (bad < 0) {
        return bad;
    }
    if ((buf == NULL && len > 0) || pid <= 0) {
        return ipcx__err(-EINVAL,
                         buf == NULL && len > 0 ? "NULL buffer" : "bad pid %d",
                         (int)pid);
    }
    if (len > IPCX_INBOX_MSG_MAX) {
        return ipcx__err(-EMSGSIZE, "%zu bytes exceed the direct maximum %u",
                         len, IPCX_INBOX_MSG_MAX);
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    if (ib->dead) {
        return inherited();
    }
    pthread_mutex_lock(&ib->tx_mu);
    int rc = send_locked(ib, pid, buf, len, &d);
    pthread_mutex_unlock(&ib->tx_mu);
    switch (rc) {
    case 0:
        return 0;
    case -ESRCH:
        return ipcx__err(rc, "process %d has no inbox", (int)pid);
    case -EPROTO: { /* planted under the name: no inbox to reach */
        char fname[64];
        struct stat st;
        snprintf(fname, sizeof fname, "%d" INBOX_SUFFIX, (int)pid);
        return ipcx__err(-ESRCH,
                         "process %d has no inbox: '%s' is %s, not a socket",
                         (int)pid, fname,
                         fstatat(ib->dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0
                             ? ipcx__ns_kind(st.st_mode)
                             : "not a socket");
    }
    case -EACCES:
        return ipcx__err(rc, "the inbox of process %d refuses us", (int)pid);
    default:
        return ipcx__err(rc, "send to %d: %s", (int)pid, ipcx_strerror(rc));
    }
}

/* ---- receiving ---- */

/* Accept every link waiting on the inbox socket. */
static void accept_links(ipcx_inbox *ib)
{
    for (int c = 0; c >= 0;) {
        ipcx__fork_lock(); /* the link is guarded from its making on */
        c = accept4(ib->sock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (c >= 0 &&
            (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
             links_add(&ib->in, c, (ipcx_peer){cr.pid, cr.uid, cr.gid}) < 0)) {
            ipcx__close(c);
        }
        ipcx__fork_unlock();
    }
}

/* Take a packet from link I: its length, -EAGAIN (none), -EMSGSIZE (it
 * stays), or -EPIPE (the link closed and is empty: dropped). */
static long recv_link(ipcx_inbox *ib, size_t i, void *buf, size_t cap)
{
    int fd = ib->in.v[i].fd;
    unsigned char mark;
    ssize_t n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (n > 0 && (size_t)n - 1 > cap) {
        return -EMSGSIZE;
    }
    if (n > 0) {
        struct iovec iov[2] = {{&mark, 1}, {buf, cap}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        n = recvmsg(fd, &msg, MSG_DONTWAIT);
    }
    if (n > 0) {
        return n - 1;
    }
    if (n < 0 && errno == EAGAIN) {
        return -EAGAIN;
    }
    links_drop(&ib->in, i); /* end of file or error: the sender is gone */
    return -EPIPE;
}

/* One pass over the links (only PID's, unless 0). */
static long recv_pass(ipcx_inbox *ib, pid_t pid, void *buf, size_t cap,
                      ipcx_peer *from)
{
    accept_links(ib);
    size_t n = ib->in.n;
    for (size_t k = 0; k < n && ib->in.n > 0; k++) {
        size_t i = (ib->next + k) % ib->in.n;
        if (pid != 0 && ib->in.v[i].peer.pid != pid) {
            continue;
        }
        ipcx_peer who = ib->in.v[i].peer;
        long r = recv_link(ib, i, buf, cap);
        if (r == -EAGAIN || r == -EPIPE) {
            continue;
        }
        ib->next = i + 1;
        if (r >= 0 && from != NULL) {
            *from = who;
        }
        return r;
    }
    return -EAGAIN;
}

/* Sleep until a link (PID's, unless 0) or the inbox socket is readable. */
static int recv_wait(ipcx_inbox *ib, pid_t pid, struct ipcx__deadline *d)
{
    size_t n = 1;
    struct pollfd *p = calloc(ib->in.n + 1, sizeof *p);
    if (p == NULL) {
        return -ENOMEM;
    }
    p[0] = (struct pollfd){ib->sock, POLLIN, 0};
    for (size_t i = 0; i < ib->in.n; i++) {
        if (pid == 0 || ib->in.v[i].peer.pid == pid) {
            p[n++] = (struct pollfd){ib->in.v[i].fd, POLLIN, 0};
        }
    }
    int rc = ipcx__poll_deadline(p, (unsigned)n, d);
    free(p);
    return rc;
}

static long receive(ipcx_inbox *ib, pid_t pid, void *buf, size_t cap,
                    ipcx_peer *from, int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int bad = ipcx__handle_check(ib, IPCX__H_INBOX, "inbox");
    if (bad < 0) {
        return bad;
    }
    if ((buf == NULL && cap > 0) || pid < 0) {
        return ipcx__err(-EINVAL,
                         buf == NULL && cap > 0 ? "NULL buffer" : "bad pid %d",
                         (int)pid);
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    if (ib->dead) {
        return inherited();
    }
    long r;
    pthread_mutex_lock(&ib->rx_mu);
    while ((r = recv_pass(ib, pid, buf, cap, from)) == -EAGAIN) {
        int rc = recv_wait(ib, pid, &d);
        if (rc < 0) {
            r = rc;
            break;
        }
    }
    pthread_mutex_unlock(&ib->rx_mu);
    switch (r) {
    case -EMSGSIZE:
        return ipcx__err(r, "the next message is longer than %zu bytes", cap);
    case -EAGAIN:
    case -ETIMEDOUT:
        return ipcx__err(r, "no message");
    default:
        return r;
    }
}

long ipcx_receive_from(ipcx_inbox *ib, pid_t pid, void *buf, size_t cap,
                       int64_t timeout_ns)
{
    if (pid <= 0) {
        return ipcx__err(-EINVAL, "bad pid %d", (int)pid);
    }
    return receive(ib, pid, buf, cap, NULL, timeout_ns);
}

long ipcx_receive_any(ipcx_inbox *ib, void *buf, size_t cap, ipcx_peer *from,
                      int64_t timeout_ns)
{
    return receive(ib, 0, buf, cap, from, timeout_ns);
}
