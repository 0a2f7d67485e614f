/*
 * ipcx/poll.h - waiting on many (SPEC M8).
 *
 * ipcx_poll() waits until at least one of a set of mailboxes, channels and
 * the notify mailbox has something to receive, or until the timeout, and
 * says which.  Each item is "ready" when a receive on it would not block:
 * a message (or event) is waiting, or the receive would fail at once
 * (IPCX_POLLHUP: the mailbox was destroyed and drained, or the channel's
 * peer is gone).  Readiness of mailboxes and channels found in shared
 * memory costs no system call (a notify item's is an epoll_wait); only a
 * caller that must sleep enters the kernel (ppoll on the items'
 * descriptors).  A polled mailbox stays as it was; a polled channel is
 * switched to descriptor mode for good, as ipcx_channel_fd() does (from
 * then on every message its peer sends writes its bell).
 *
 * Readiness is a snapshot: another receiver of the same mailbox may take
 * the message first, so receive with timeout 0 and expect -EAGAIN now and
 * then.
 */
#ifndef IPCX_POLL_H
#define IPCX_POLL_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipcx_mailbox ipcx_mailbox;
typedef struct ipcx_channel ipcx_channel;
typedef struct ipcx_notify ipcx_notify;

enum ipcx_poll_kind {
    IPCX_POLL_MAILBOX = 1,
    IPCX_POLL_CHANNEL = 2,
    IPCX_POLL_NOTIFY = 3,
};

#define IPCX_POLLIN  0x1u /* a message or event is waiting */
#define IPCX_POLLHUP 0x2u /* mailbox destroyed and drained / peer gone */

typedef struct ipcx_pollitem {
    uint32_t kind;    /* enum ipcx_poll_kind */
    uint32_t revents; /* out: IPCX_POLLIN, IPCX_POLLHUP, or 0 */
    void *handle;     /* the ipcx_mailbox, ipcx_channel or ipcx_notify */
} ipcx_pollitem;

/* Type-checked item constructors. */
static inline ipcx_pollitem ipcx_poll_mailbox(ipcx_mailbox *mb)
{
    ipcx_pollitem it = {IPCX_POLL_MAILBOX, 0, mb};
    return it;
}
static inline ipcx_pollitem ipcx_poll_channel(ipcx_channel *ch)
{
    ipcx_pollitem it = {IPCX_POLL_CHANNEL, 0, ch};
    return it;
}
static inline ipcx_pollitem ipcx_poll_notify(ipcx_notify *n)
{
    ipcx_pollitem it = {IPCX_POLL_NOTIFY, 0, n};
    return it;
}

/* Most items one call accepts. */
#define IPCX_POLL_MAX 1024

/*
 * Wait until an item of ITEMS (N of them, 1..IPCX_POLL_MAX) is ready or the
 * timeout passes.  Sets every item's revents and returns how many are
 * ready (> 0).  Errors: -EAGAIN (timeout 0, none ready), -ETIMEDOUT,
 * -EINVAL (NULL or unknown item, bad N, negative timeout), -EBADF (a closed
 * handle, or one of another kind), -EPERM (a mailbox handle without the
 * receive right), -EACCES / -EMFILE / -EPROTO / -EIDRM (a descriptor could
 * not be made: see ipcx_mailbox_fd(), ipcx_channel_fd()).
 */
IPCX_API int ipcx_poll(ipcx_pollitem *items, size_t n, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_POLL_H */
