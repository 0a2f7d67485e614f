/*
 * ipcx/direct.h - direct communication: inboxes addressed by pid.
 *
 * A process that opens its inbox can be sent to by pid, and can receive
 * from one chosen process (symmetric: receive_from(P)) or from anyone
 * (asymmetric: receive_any, which says who sent).  The first send from one
 * process to another makes a link: a connection to the receiver's inbox
 * socket, PID.inbox in the namespace.  The receiver learns the sender's
 * pid, uid and gid from the kernel when it accepts the link, so a sender
 * cannot forge them.  Messages from one sender arrive in the order sent,
 * each exactly once; they travel through the kernel (a socket per link),
 * not the shared-memory fast path of mailboxes and channels.
 *
 * Who may send: whoever may connect to the inbox socket, i.e. its mode
 * (0600 by default: processes of the same user).
 *
 * Thread safety: an inbox may be used by several threads at once; receives
 * on one inbox take turns, as do sends.  Not across fork().
 */
#ifndef IPCX_DIRECT_H
#define IPCX_DIRECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "channel.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipcx_inbox ipcx_inbox;

/* Largest direct message. */
#define IPCX_INBOX_MSG_MAX (64u << 10)

/*
 * Open the calling process's inbox, PID.inbox, with permission bits MODE
 * (01-0777; 0 = 0600).  One inbox per process: a second open answers
 * -EEXIST.  An inbox left by a dead process with our pid is replaced.
 * On success *out is freed with ipcx_inbox_close().
 * Errors: -EINVAL, -EEXIST, -EACCES, -EMFILE, -ENOMEM.
 */
IPCX_API int ipcx_inbox_open(uint32_t mode, ipcx_inbox **out);

/*
 * Close the inbox: removes PID.inbox, drops every link.  Messages not yet
 * received are discarded; senders blocked on us get -ESRCH.  NULL is a
 * no-op.  Always returns 0.
 */
IPCX_API int ipcx_inbox_close(ipcx_inbox *ib);

/*
 * Send LEN bytes to process PID's inbox, waiting up to TIMEOUT_NS for room.
 * IB is the caller's own inbox (it keeps the links).
 * Errors: -ESRCH (PID has no inbox, or it went away), -EACCES (its mode
 * refuses us), -EMSGSIZE (LEN > IPCX_INBOX_MSG_MAX), -EAGAIN / -ETIMEDOUT
 * (its links are full), -EINVAL.
 */
IPCX_API int ipcx_send_to(ipcx_inbox *ib, pid_t pid, const void *buf,
                          size_t len, int64_t timeout_ns);

/*
 * Receive the next message from process PID only (others wait their turn).
 * Returns its length.  Errors: -EMSGSIZE (longer than CAP: it stays first),
 * -EAGAIN / -ETIMEDOUT, -EINVAL.
 */
IPCX_API long ipcx_receive_from(ipcx_inbox *ib, pid_t pid, void *buf,
                                size_t cap, int64_t timeout_ns);

/*
 * Receive the next message from any sender and, if FROM is not NULL, say
 * who sent it (pid, uid and gid as the kernel saw them when the sender
 * linked to us).  Returns its length; errors as ipcx_receive_from().
 */
IPCX_API long ipcx_receive_any(ipcx_inbox *ib, void *buf, size_t cap,
                               ipcx_peer *from, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_DIRECT_H */
