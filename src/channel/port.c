/*
 * port.c - connection ports: listening, accepting and connecting.
 *
 * A port is a SOCK_SEQPACKET Unix socket NAME.port in the namespace, placed
 * there by sock.c.
 *
 * Handshake: on accept the server learns the client's credentials from the
 * kernel (SO_PEERCRED), asks the check function, then sends one packet,
 * struct chan_hello, carrying three descriptors: the channel's memfd
 * (sealed against shrinking and growing, so the client can trust its size)
 * and the two ends' bells (eventfds).  A refusal is the same packet with a
 * negative status and no descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel/channel.h"
#include "channel/sock.h"
#include "core/error.h"
#include "core/sys.h"
#include "ns/ns.h"

#define CHAN_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

struct ipcx_port {
    uint32_t magic; /* IPCX__H_PORT (core/handle.h) */
    int sock;
    int dfd; /* the namespace directory (O_PATH) */
    char fname[IPCX__FILE_MAX + 1];
    struct ipcx__sockfile id; /* to remove only our own file */
    int lock;                 /* OFD write lock on lname: we own the name */
    char lname[IPCX__LOCK_MAX + 1];
    struct chan_header geom;
    struct ipcx__forkguard guard;
    int dead; /* in a child after fork(): the parent's port, not ours */
};

void ipcx_port_attr_init(ipcx_port_attr *attr)
{
    if (attr != NULL) {
        memset(attr, 0, sizeof *attr);
        attr->mode = 0600;
        attr->capacity = IPCX_DEFAULT_CAPACITY;
        attr->max_msg_size = IPCX_DEFAULT_MSG_SIZE;
    }
}

static int check_attr(const ipcx_port_attr *a, struct chan_header *geom)
{
    for (size_t i = 0; i < sizeof a->reserved / sizeof a->reserved[0]; i++) {
        if (a->reserved[i] != 0 || a->reserved0 != 0) {
            return ipcx__err(-EINVAL, "reserved attribute fields must be 0");
        }
    }
    if (a->mode > 0777) {
        return ipcx__err(-EINVAL, "mode %o: only permission bits (0777)",
                         a->mode);
    }
    uint32_t cap = a->capacity ? a->capacity : IPCX_DEFAULT_CAPACITY;
    uint32_t msg = a->max_msg_size ? a->max_msg_size : IPCX_DEFAULT_MSG_SIZE;
    if (cap > IPCX_CHANNEL_CAPACITY_MAX || msg > IPCX_MSG_SIZE_MAX) {
        return ipcx__err(-EINVAL, "capacity %u or max_msg_size %u too large",
                         cap, msg);
    }
    if (ipcx__chan_geometry(cap, msg, geom) < 0) {
        return ipcx__err(-EINVAL, "capacity x max_msg_size too large");
    }
    return 0;
}

/* In a child after fork(): let go of the parent's socket and name lock
 * (see sock.h).  Async-signal-safe. */
static void port_forked(struct ipcx__forkguard *g, int devnull)
{
    ipcx_port *p = (ipcx_port *)((char *)g - offsetof(ipcx_port, guard));
    p->sock = ipcx__fork_plug(p->sock, devnull);
    p->lock = ipcx__fork_plug(p->lock, devnull);
    p->dead = 1;
}

/*
 * Own the name (ipcx__sock_own: a name lock the kernel releases when we
 * die, so a dead server's leftover socket is replaced and a live one is
 * not), then bind and place the socket.  Under the guard lock, so that a
 * fork() sees either none of the port's descriptors or all of them in its
 * guard.
 */
static int open_port(ipcx_port *p, uint32_t mode)
{
    int rc = ipcx__sock_own_guarded(p->dfd, p->fname, p->lname, &p->lock);
    if (rc == 0 && (rc = p->sock = ipcx__sock_new()) >= 0) {
        rc = ipcx__sock_listen(p->sock, p->dfd, p->fname, mode, &p->id);
    }
    if (rc == 0) {
        p->guard.child = port_forked;
        ipcx__fork_watch(&p->guard);
    } else {
        if (p->lock >= 0) { /* ours, and nothing was placed: no trace */
            ipcx__sock_disown(p->dfd, p->lname, p->lock);
        }
        ipcx__close(p->lock);
        ipcx__close(p->sock);
        p->lock = p->sock = -1;
    }
    ipcx__fork_unlock();
    return rc;
}

static void port_free(ipcx_port *p)
{
    ipcx__close(p->lock);
    ipcx__close(p->sock);
    ipcx__close(p->dfd);
    ipcx__handle_retire(p);
}

int ipcx_port_listen(const char *name, const ipcx_port_attr *attr,
                     ipcx_port **out)
{
    ipcx_port_attr def;
    ipcx__err_clear();
    if (out == NULL) {
        return ipcx__err(-EINVAL, "NULL out pointer");
    }
    if (attr == NULL) {
        ipcx_port_attr_init(&def);
        attr = &def;
    }
    ipcx_port *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return -ENOMEM;
    }
    p->magic = IPCX__H_PORT;
    p->sock = p->dfd = p->lock = -1;
    int rc = check_attr(attr, &p->geom);
    if (rc == 0) {
        rc = ipcx__ns_file(name, CHAN_SUFFIX, "connection port", p->fname);
    }
    if (rc == 0 && (rc = p->dfd = ipcx__ns_open()) >= 0) {
        rc = open_port(p, attr->mode ? attr->mode : 0600);
    }
    struct stat st;
    if (rc == -EEXIST) {
        rc = ipcx__err(rc, "connection port '%s' exists", name);
    } else if (rc == -EISDIR || rc == -EPROTO) {
        /* Planted where our socket (EISDIR: renaming onto a directory) or
         * its name lock (what ipcx__sock_own() could not remove) goes. */
        const char *file = rc == -EISDIR ? p->fname : p->lname;
        const char *kind = fstatat(p->dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0
                               ? ipcx__ns_kind(st.st_mode)
                               : "not ours";
        rc = ipcx__err(-EEXIST,
                       "cannot listen on '%s': '%s' is %s, not a %s "
                       "(planted? remove it)",
                       name, file, kind,
                       file == p->fname ? "connection port" : "name lock");
    }
    if (rc < 0) {
        port_free(p);
        return ipcx_last_error()[0] != '\0'
                   ? rc
                   : ipcx__err(rc, "cannot listen on '%s': %s", name,
                               ipcx_strerror(rc));
    }
    *out = p;
    return 0;
}

int ipcx_port_close(ipcx_port *p)
{
    ipcx__err_clear();
    if (p == NULL) {
        return 0;
    }
    int bad = ipcx__handle_check(p, IPCX__H_PORT, "port");
    if (bad < 0) {
        return bad;
    }
    ipcx__fork_lock();
    ipcx__fork_unwatch(&p->guard);
    /* Only if it still is our socket: a successor that replaced it as
     * stale must keep its own.  A child's inherited port is the parent's:
     * its names stay. */
    if (!p->dead) {
        ipcx__sock_unlink(p->dfd, p->fname, &p->id);
        ipcx__sock_disown(p->dfd, p->lname, p->lock);
    }
    ipcx__close(p->lock); /* before a fork() could copy them unguarded */
    ipcx__close(p->sock);
    p->lock = p->sock = -1;
    ipcx__fork_unlock();
    port_free(p);
    return 0;
}

int ipcx_port_fd(const ipcx_port *p)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(p, IPCX__H_PORT, "port");
    if (bad < 0) {
        return bad;
    }
    return p->sock;
}

int ipcx_port_list(int (*fn)(const char *name, void *arg), void *arg)
{
    ipcx__err_clear();
    if (fn == NULL) {
        return ipcx__err(-EINVAL, "NULL callback");
    }
    return ipcx__ns_list(CHAN_SUFFIX, fn, arg);
}

/* Wait until FD has EVENTS or the deadline; 0, -EAGAIN or -ETIMEDOUT. */
static int wait_fd(int fd, short events, struct ipcx__deadline *d)
{
    struct pollfd pf = {fd, events, 0};
    return ipcx__poll_deadline(&pf, 1, d);
}

/* ---- the server's side of the handshake ---- */

static int send_hello(int s, int32_t status, uint64_t map_size, const int *fds,
                      int nfds)
{
    struct chan_hello h = {CHAN_MAGIC, CHAN_VERSION, status, map_size, {0, 0}};
    struct iovec iov = {&h, sizeof h};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(3 * sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ssize_t n = ipcx__sendmsg(s, &msg, 0);
    return n < 0 ? (int)n : 0;
}

/* The channel's memory: a sealed memfd, formatted and mapped. */
static int make_memory(const struct chan_header *geom, int *memfd, void **base)
{
    int fd = ipcx__memfd("ipcx-channel", MFD_ALLOW_SEALING);
    if (fd < 0) {
        return fd;
    }
    int rc = ipcx__ftruncate(fd, (off_t)geom->map_size);
    if (rc == 0 && fcntl(fd, F_ADD_SEALS, CHAN_SEALS) < 0) {
        rc = -errno;
    }
    if (rc == 0) {
        rc = ipcx__mmap(geom->map_size, PROT_READ | PROT_WRITE, fd, base);
    }
    if (rc < 0) {
        ipcx__close(fd);
        return rc;
    }
    ipcx__chan_format(*base, geom);
    *memfd = fd;
    return 0;
}

/* The result of a handshake that did not produce a channel but should not
 * stop accept: the client was refused or went away. */
#define SKIP 1

static int offer_channel(ipcx_port *p, int c, ipcx_channel **out)
{
    int memfd = -1, bell[2] = {-1, -1};
    void *base = NULL;
    int rc = make_memory(&p->geom, &memfd, &base);
    for (int i = 0; rc >= 0 && i < 2; i++) {
        rc = bell[i] = ipcx__eventfd(EFD_NONBLOCK);
    }
    if (rc >= 0) {
        int fds[3] = {memfd, bell[0], bell[1]};
        rc = send_hello(c, 0, p->geom.map_size, fds, 3);
        if (rc == -EPIPE || rc == -ECONNRESET) {
            rc = SKIP; /* the client is gone already */
        }
    }
    if (rc == 0) {
        rc = ipcx__chan_attach(base, p->geom.map_size, 0, c, bell, out);
    }
    ipcx__close(memfd); /* the mappings keep the memory */
    if (rc != 0) {
        if (base != NULL) {
            munmap(base, p->geom.map_size);
        }
        ipcx__close(bell[0]);
        ipcx__close(bell[1]);
    }
    return rc;
}

static int handshake(ipcx_port *p, int c, ipcx_port_check_fn check, void *arg,
                     ipcx_channel **out)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        return SKIP;
    }
    ipcx_peer peer = {cred.pid, cred.uid, cred.gid};
    int verdict = check != NULL ? check(&peer, arg) : 0;
    if (verdict != 0) {
        (void)send_hello(c, verdict < 0 ? verdict : -EACCES, 0, NULL, 0);
        return SKIP;
    }
    return offer_channel(p, c, out);
}

int ipcx_port_accept(ipcx_port *p, int64_t timeout_ns, ipcx_port_check_fn check,
                     void *arg, ipcx_channel **out)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int bad = ipcx__handle_check(p, IPCX__H_PORT, "port");
    if (bad < 0) {
        return bad;
    }
    if (out == NULL) {
        return ipcx__err(-EINVAL, "NULL argument");
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    if (p->dead) {
        return ipcx__err(-EBADF, "the port was inherited across fork(): it "
                                 "is the parent's (listen anew)");
    }
    for (;;) {
        int c = accept4(p->sock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0 &&
            (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)) {
            int rc = wait_fd(p->sock, POLLIN, &d);
            if (rc < 0) {
                return ipcx__err(rc, "no client to accept");
            }
            continue;
        }
        if (c < 0) {
            int rc = -errno;
            return ipcx__err(rc, "accept: %s", ipcx_strerror(rc));
        }
        int rc = handshake(p, c, check, arg, out);
        if (rc == 0) {
            return 0; /* the channel owns c now */
        }
        ipcx__close(c);
        if (rc != SKIP) {
            return ipcx__err(rc, "cannot set up a channel: %s",
                             ipcx_strerror(rc));
        }
    }
}

/* ---- the client's side ---- */

/* Connect, retrying while the server's backlog is full. */
static int dial(int s, const char *name, const char *fname,
                struct ipcx__deadline *d)
{
    int dfd = ipcx__ns_open();
    if (dfd < 0) {
        return dfd;
    }
    int rc;
    while ((rc = ipcx__sock_connect(s, dfd, fname)) == -EAGAIN) {
        if (d->timeout_ns == 0 || ipcx__now_ns() >= ipcx__deadline_at(d)) {
            break;
        }
        struct timespec ms = {0, 1000000}; /* a paced retry */
        nanosleep(&ms, NULL);
    }
    struct stat st;
    const char *kind =
        rc == -EPROTO && fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0
            ? ipcx__ns_kind(st.st_mode)
            : "not a socket";
    ipcx__close(dfd);
    switch (rc) {
    case 0:
        return 0;
    case -EPROTO: /* planted under the name: not a server's socket */
        return ipcx__err(rc,
                         "cannot connect to '%s': '%s' is %s, not a "
                         "connection port's socket",
                         name, fname, kind);
    case -ENOENT:
        return ipcx__err(rc, "no connection port '%s'", name);
    case -ECONNREFUSED:
        return ipcx__err(rc,
                         "nobody listens on port '%s' (its server "
                         "exited?)",
                         name);
    case -EACCES:
        return ipcx__err(rc, "connection port '%s': permission denied", name);
    case -EAGAIN:
        return ipcx__err(d->timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT,
                         "port '%s' is busy", name);
    default:
        return ipcx__err(rc, "cannot connect to '%s': %s", name,
                         ipcx_strerror(rc));
    }
}

/* Receive the hello packet and up to 3 descriptors (FDS, -1 if absent). */
static int recv_hello(int s, struct chan_hello *h, int fds[3])
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    struct iovec iov = {h, sizeof *h};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    ssize_t n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
        return -errno;
    }
    int k = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
         c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < cnt; i++, k++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (k < 3) {
                fds[k] = fd;
            } else {
                ipcx__close(fd); /* more than a hello carries */
            }
        }
    }
    if (n == 0) {
        return -ECONNRESET; /* the server closed without answering */
    }
    if ((size_t)n != sizeof *h || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        h->magic != CHAN_MAGIC || h->version != CHAN_VERSION || k > 3) {
        return -EPROTO;
    }
    return k;
}

/* Check and map the memfd the server sent. */
static int map_memory(int memfd, uint64_t map_size, void **base)
{
    struct stat st;
    struct chan_header copy;
    int seals = fcntl(memfd, F_GET_SEALS);
    if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) || seals < 0 ||
        (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
            (F_SEAL_SHRINK | F_SEAL_GROW) ||
        (uint64_t)st.st_size != map_size || map_size < CHAN_PAGE ||
        pread(memfd, &copy, sizeof copy, 0) != (ssize_t)sizeof copy ||
        ipcx__chan_check(&copy, (uint64_t)st.st_size) < 0) {
        return -EPROTO;
    }
    return ipcx__mmap(map_size, PROT_READ | PROT_WRITE, memfd, base);
}

/* Turn the server's answer into a channel over socket S. */
static int take_offer(int s, const char *name, struct ipcx__deadline *d,
                      ipcx_channel **out)
{
    struct chan_hello h;
    int fds[3] = {-1, -1, -1};
    int rc;
    while ((rc = recv_hello(s, &h, fds)) == -EAGAIN || rc == -EINTR) {
        if ((rc = wait_fd(s, POLLIN, d)) < 0) {
            return ipcx__err(rc, "port '%s' did not accept us in time", name);
        }
    }
    if (rc == -EPROTO) {
        rc = ipcx__err(rc, "port '%s' sent a malformed answer", name);
    } else if (rc < 0 && rc != -ECONNRESET) {
        rc = ipcx__err(rc, "cannot receive the answer of port '%s': %s", name,
                       ipcx_strerror(rc));
    }
    void *base = NULL;
    if (rc >= 0 && h.status < 0) {
        rc = ipcx__err(-ECONNREFUSED, "the server of '%s' refused us: %s", name,
                       ipcx_strerror(h.status));
    } else if (rc >= 0 &&
               (rc != 3 || h.status != 0 || !ipcx__is_eventfd(fds[1]) ||
                !ipcx__is_eventfd(fds[2]))) {
        rc = ipcx__err(-EPROTO, "port '%s' sent a malformed answer", name);
    } else if (rc >= 0 && (rc = map_memory(fds[0], h.map_size, &base)) < 0) {
        rc = ipcx__err(rc, "port '%s' sent unusable channel memory", name);
    } else if (rc >= 0) {
        rc = ipcx__chan_attach(base, h.map_size, 1, s, &fds[1], out);
    }
    ipcx__close(fds[0]);
    if (rc < 0) {
        if (base != NULL) {
            munmap(base, h.map_size);
        }
        ipcx__close(fds[1]);
        ipcx__close(fds[2]);
    }
    if (rc == -ECONNRESET) {
        return ipcx__err(rc, "the server of '%s' went away", name);
    }
    return rc < 0 ? rc : 0;
}

int ipcx_connect(const char *name, int64_t timeout_ns, ipcx_channel **out)
{
    struct ipcx__deadline d;
    char fname[IPCX__FILE_MAX + 1];
    ipcx__err_clear();
    if (out == NULL) {
        return ipcx__err(-EINVAL, "NULL out pointer");
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    int rc = ipcx__ns_file(name, CHAN_SUFFIX, "connection port", fname);
    if (rc < 0) {
        return rc;
    }
    int s = ipcx__sock_new();
    if (s < 0) {
        return ipcx__err(s, "socket: %s", ipcx_strerror(s));
    }
    rc = dial(s, name, fname, &d);
    if (rc == 0) {
        rc = take_offer(s, name, &d, out);
    }
    if (rc < 0) {
        ipcx__close(s);
    }
    return rc;
}
