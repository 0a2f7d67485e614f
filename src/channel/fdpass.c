/*
 * fdpass.c - handing descriptors (anonymous regions) to the peer.
 *
 * Descriptors cannot live in shared memory, so they travel on the
 * channel's socket, one SOCK_SEQPACKET packet each: struct chan_fdmsg plus
 * one SCM_RIGHTS descriptor.  They form their own FIFO, independent of the
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

#define CHAN_FD_MAGIC 0x44465843u /* "CXFD" */
enum { CHAN_FD_REGION = 1 };

struct chan_fdmsg {
    uint32_t magic;
    uint32_t kind;
};

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

static int send_fd(ipcx_channel *ch, uint32_t kind, int fd,
                   struct ipcx__deadline *d)
{
    struct chan_fdmsg m = {CHAN_FD_MAGIC, kind};
    struct iovec iov = {&m, sizeof m};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
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

/* One packet; *fd is the descriptor it carried, or -1. */
static int recv_packet(ipcx_channel *ch, struct chan_fdmsg *m, int *fd)
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
    int got = 0;
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
         c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < cnt; i++, got++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            if (got == 0) {
                *fd = f;
            } else {
                ipcx__close(f); /* a packet carries one */
            }
        }
    }
    if (n == 0) {
        return -EPIPE;
    }
    if ((size_t)n != sizeof *m || got != 1 || m->magic != CHAN_FD_MAGIC ||
        (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        ipcx__close(*fd);
        *fd = -1;
        return -EPROTO;
    }
    return 0;
}

static int recv_fd(ipcx_channel *ch, uint32_t kind, int *fd,
                   struct ipcx__deadline *d)
{
    struct chan_fdmsg m;
    int rc;
    while ((rc = recv_packet(ch, &m, fd)) == -EAGAIN || rc == -EINTR) {
        if ((rc = wait_sock(ch, POLLIN, d)) < 0) {
            return rc;
        }
    }
    if (rc == 0 && m.kind != kind) {
        ipcx__close(*fd);
        rc = -EPROTO;
    }
    return rc;
}

int ipcx_channel_send_region(ipcx_channel *ch, const ipcx_region *r,
                             int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    if (ch == NULL || r == NULL) {
        return ipcx__err(-EINVAL, "NULL argument");
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    int fd = ipcx_region_fd(r);
    if (fd < 0) {
        return fd;
    }
    int rc = send_fd(ch, CHAN_FD_REGION, fd, &d);
    return rc < 0 ? ipcx__chan_explain(ch, rc) : 0;
}

int ipcx_channel_recv_region(ipcx_channel *ch, unsigned flags,
                             ipcx_region **out, int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    if (ch == NULL || out == NULL) {
        return ipcx__err(-EINVAL, "NULL argument");
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    int fd = -1;
    int rc = recv_fd(ch, CHAN_FD_REGION, &fd, &d);
    if (rc < 0) {
        return rc == -EPROTO
                   ? ipcx__err(rc, "the peer sent something not a region")
                   : ipcx__chan_explain(ch, rc);
    }
    return ipcx_region_from_fd(fd, flags, out); /* owns fd, even failing */
}
