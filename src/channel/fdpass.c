/*
 * fdpass.c - handing descriptors (anonymous regions and mailboxes) to the
 * peer.
 *
 * Descriptors cannot live in shared memory, so they travel on the
 * channel's socket, one SOCK_SEQPACKET packet each: struct chan_fdmsg plus
 * its SCM_RIGHTS descriptors (a region's memfd; a mailbox's memfd and bell
 * eventfd).  They form their own FIFO, independent of the
 * messages on the queues.  Only the peer can receive them: nobody else has
 * the socket.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipcx/region.h>

#include "channel/channel.h"
#include "core/error.h"
#include "core/sys.h"
#include "mailbox/mailbox.h"

#define CHAN_FD_MAGIC 0x44465843u /* "CXFD" */
enum { CHAN_FD_REGION = 1, CHAN_FD_MAILBOX = 2 };

struct chan_fdmsg {
    uint32_t magic;
    uint32_t kind;
    uint32_t arg; /* CHAN_FD_MAILBOX: the rights handed over */
    uint32_t nfd; /* descriptors attached: 1 (region) or 2 (mailbox) */
};
#define FD_MAX 2

/* Wait for EVENTS on the socket until the deadline; 0, -EAGAIN,
 * -ETIMEDOUT, or -EPIPE if the peer hung up. */
static int wait_sock(ipcx_channel *ch, short events, struct ipcx__deadline *d)
{
    struct pollfd p = {ch->sock, events | POLLRDHUP, 0};
    int rc = ipcx__poll_deadline(&p, 1, d);
    if (rc < 0) {
        return rc;
    }
    if (!(p.revents & events) &&
        (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
        return -EPIPE;
    }
    return 0;
}

static int send_fds(ipcx_channel *ch, const struct chan_fdmsg *m,
                    const int *fds, struct ipcx__deadline *d)
{
    struct iovec iov = {(void *)m, sizeof *m};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(FD_MAX * sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = CMSG_SPACE(m->nfd * sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(m->nfd * sizeof(int));
    memcpy(CMSG_DATA(c), fds, m->nfd * sizeof(int));
    for (;;) {
        ssize_t n = ipcx__sendmsg(ch->sock, &msg, MSG_DONTWAIT);
        if (n >= 0) {
            return 0;
        }
        if (n == -ECONNRESET) {
            n = -EPIPE;
        }
        if (n != -EAGAIN) {
            return (int)n;
        }
        int rc = wait_sock(ch, POLLOUT, d);
        if (rc < 0) {
            return rc;
        }
    }
}

/* The next packet's header, left queued (a peek installs no descriptors:
 * there is no room for them): 0, -EAGAIN, -EPIPE, -EPROTO. */
static int peek_packet(ipcx_channel *ch, struct chan_fdmsg *m)
{
    ssize_t n = recv(ch->sock, m, sizeof *m, MSG_DONTWAIT | MSG_PEEK);
    if (n < 0) {
        return errno == ECONNRESET ? -EPIPE : -errno;
    }
    if (n == 0) {
        /* End of stream, or an empty packet from a live peer: that one is
         * garbage for recv_packet() to drop, not a hang-up. */
        struct pollfd p = {ch->sock, POLLRDHUP, 0};
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP))
                   ? -EPIPE
                   : -EPROTO;
    }
    return (size_t)n == sizeof *m ? 0 : -EPROTO;
}

/* Take one packet; FDS gets its descriptors (the rest are -1).  A packet
 * that breaks the format is consumed and its descriptors closed. */
static int recv_packet(ipcx_channel *ch, struct chan_fdmsg *m, int fds[FD_MAX])
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    struct iovec iov = {m, sizeof *m};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    ssize_t n = recvmsg(ch->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
        return errno == ECONNRESET ? -EPIPE : -errno;
    }
    unsigned got = 0;
    for (int i = 0; i < FD_MAX; i++) {
        fds[i] = -1;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
         c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < cnt; i++, got++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            if (got < FD_MAX) {
                fds[got] = f;
            } else {
                ipcx__close(f); /* more than any packet carries */
            }
        }
    }
    if ((size_t)n != sizeof *m || m->magic != CHAN_FD_MAGIC || m->nfd == 0 ||
        m->nfd > FD_MAX || got != m->nfd ||
        (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        for (int i = 0; i < FD_MAX; i++) {
            ipcx__close(fds[i]);
            fds[i] = -1;
        }
        return -EPROTO;
    }
    return 0;
}

/* Receive the next packet if it is of KIND: 0, -ENOMSG (another kind: it
 * stays queued), -EPROTO (garbage: dropped), -EAGAIN / -ETIMEDOUT, -EPIPE. */
static int recv_fds(ipcx_channel *ch, uint32_t kind, struct chan_fdmsg *m,
                    int fds[FD_MAX], struct ipcx__deadline *d)
{
    for (;;) {
        /* The look and the take are one step for our threads: another
         * thread taking the packet we looked at would hand us the next
         * one, maybe of the other kind, which we would then drop. */
        pthread_mutex_lock(&ch->fd_mu);
        int rc = peek_packet(ch, m);
        if (rc == 0 && m->magic == CHAN_FD_MAGIC && m->kind != kind &&
            (m->kind == CHAN_FD_REGION || m->kind == CHAN_FD_MAILBOX)) {
            rc = -ENOMSG; /* the other kind: it stays queued */
        } else if (rc == 0 || rc == -EPROTO) {
            rc = recv_packet(ch, m, fds);
            if (rc == 0 && m->kind != kind) {
                for (int i = 0; i < FD_MAX; i++) {
                    ipcx__close(fds[i]);
                }
                rc = -EPROTO;
            }
        }
        pthread_mutex_unlock(&ch->fd_mu);
        if (rc != -EAGAIN && rc != -EINTR) {
            return rc;
        }
        if ((rc = wait_sock(ch, POLLIN, d)) < 0) {
            return rc;
        }
    }
}

/* The checks every call here starts with: 0 or -EINVAL with the detail. */
static int begin(ipcx_channel *ch, const void *arg, int64_t timeout_ns,
                 struct ipcx__deadline *d)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(ch, IPCX__H_CHANNEL, "channel");
    if (bad < 0) {
        return bad;
    }
    if (arg == NULL) {
        return ipcx__err(-EINVAL, "NULL argument");
    }
    if (ipcx__deadline_init(d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    return 0;
}

/* The detail for a failed receive of a WHAT; returns RC. */
static int explain_recv(ipcx_channel *ch, int rc, const char *what)
{
    switch (rc) {
    case -ENOMSG:
        return ipcx__err(rc, "the next descriptor the peer sent is not a %s",
                         what);
    case -EPROTO:
        return ipcx__err(rc, "the peer sent a malformed %s; it was dropped",
                         what);
    default:
        return ipcx__chan_explain(ch, rc);
    }
}

/* Hand the NFD descriptors FDS over as a packet of KIND carrying ARG. */
static int send_kind(ipcx_channel *ch, uint32_t kind, uint32_t arg,
                     const int *fds, uint32_t nfd, struct ipcx__deadline *d)
{
    struct chan_fdmsg m = {CHAN_FD_MAGIC, kind, arg, nfd};
    int rc = send_fds(ch, &m, fds, d);
    return rc < 0 ? ipcx__chan_explain(ch, rc) : 0;
}

int ipcx_channel_send_region(ipcx_channel *ch, const ipcx_region *r,
                             int64_t timeout_ns)
{
    struct ipcx__deadline d;
    int rc = begin(ch, r, timeout_ns, &d);
    int fd = rc < 0 ? rc : ipcx_region_fd(r);
    return fd < 0 ? fd : send_kind(ch, CHAN_FD_REGION, 0, &fd, 1, &d);
}

int ipcx_channel_recv_region(ipcx_channel *ch, unsigned flags,
                             ipcx_region **out, int64_t timeout_ns)
{
    struct ipcx__deadline d;
    struct chan_fdmsg m;
    int fds[FD_MAX];
    int rc = begin(ch, out, timeout_ns, &d);
    if (rc < 0) {
        return rc;
    }
    if (flags & ~IPCX_REGION_RDONLY) { /* before a region is taken */
        return ipcx__err(-EINVAL, "unknown region flags 0x%x", flags);
    }
    if ((rc = recv_fds(ch, CHAN_FD_REGION, &m, fds, &d)) < 0) {
        return explain_recv(ch, rc, "region");
    }
    ipcx__close(fds[1]);
    return ipcx_region_from_fd(fds[0], flags, out); /* owns it, even failing */
}

#define RIGHTS_ALL (IPCX_RIGHT_SEND | IPCX_RIGHT_RECV)

int ipcx_channel_send_mailbox(ipcx_channel *ch, ipcx_mailbox *mb,
                              unsigned rights, int64_t timeout_ns)
{
    struct ipcx__deadline d;
    int rc = begin(ch, mb, timeout_ns, &d);
    if (rc < 0 ||
        (rc = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox")) < 0) {
        return rc;
    }
    if (rights == 0 || (rights & ~RIGHTS_ALL)) {
        return ipcx__err(-EINVAL,
                         "rights 0x%x: give IPCX_RIGHT_SEND and/or "
                         "IPCX_RIGHT_RECV",
                         rights);
    }
    if (!mb->anon) {
        return ipcx__err(-EINVAL, "only anonymous mailboxes travel; a named "
                                  "one is opened by its name");
    }
    if ((rights & mb->rights) != rights) {
        return ipcx__err(-EPERM, "the handle does not hold the rights 0x%x",
                         rights & ~mb->rights);
    }
    /* The bell is set once at allocation and never changes (relaxed). */
    int fds[FD_MAX] = {mb->fd,
                       atomic_load_explicit(&mb->bell, memory_order_relaxed)};
    return send_kind(ch, CHAN_FD_MAILBOX, rights, fds, 2, &d);
}

int ipcx_channel_recv_mailbox(ipcx_channel *ch, ipcx_mailbox **out,
                              int64_t timeout_ns)
{
    struct ipcx__deadline d;
    struct chan_fdmsg m;
    int fds[FD_MAX];
    int rc = begin(ch, out, timeout_ns, &d);
    if (rc < 0) {
        return rc;
    }
    if ((rc = recv_fds(ch, CHAN_FD_MAILBOX, &m, fds, &d)) < 0) {
        return explain_recv(ch, rc, "mailbox");
    }
    rc = m.nfd != 2 || m.arg == 0 || (m.arg & ~RIGHTS_ALL) ||
                 !ipcx__is_eventfd(fds[1])
             ? -EPROTO
             : ipcx__mbx_adopt(fds[0], fds[1], m.arg, out);
    if (rc < 0) {
        ipcx__close(fds[0]);
        ipcx__close(fds[1]);
        return rc == -EPROTO ? explain_recv(ch, rc, "mailbox")
                             : ipcx__err(rc, "cannot attach the mailbox: %s",
                                         ipcx_strerror(rc));
    }
    return 0;
}
