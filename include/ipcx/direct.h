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
 * on one inbox take turns, as do sends.
 *
 * fork(): the inbox stays the parent's.  In a child forked without exec,
 * the inherited handle is dead: at the fork, the library made the child's
 * copies of the inbox's socket, name lock and links refer to /dev/null
 * (the descriptor numbers stay taken, so nothing else is closed by
 * mistake), so the child cannot keep the parent's inbox looking alive:
 * once the parent is gone, senders get -ESRCH, whatever the child does.
 * In the child, sends and receives on the inherited handle answer -EBADF;
 * ipcx_inbox_close() frees it and leaves the parent's PID.inbox alone.
 * The child may open an inbox of its own (under its own pid).
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
 * -EEXIST.  An inbox left by a dead process with our pid is replaced.  An
 * open inbox also holds a lock on the hidden file .PID.inbox.lock (mode
 * 0600), which the kernel releases when the process dies (see
 * ipcx_inbox_alive()).  On success *out is freed with ipcx_inbox_close().
 * Errors: -EINVAL, -EEXIST (this process has an inbox, or a live process
 * of our pid in another pid namespace sharing the directory has, or a
 * directory sits at the inbox's name), -EACCES, -EMFILE, -ENOMEM.
 */
IPCX_API int ipcx_inbox_open(uint32_t mode, ipcx_inbox **out);

/*
 * Close the inbox: removes PID.inbox, drops every link.  Messages not yet
 * received are discarded; senders blocked on us get -ESRCH.  NULL is a
 * no-op.  Returns 0, or -EBADF for a closed handle or one of another kind.
 */
IPCX_API int ipcx_inbox_close(ipcx_inbox *ib);

/*
 * Send LEN bytes to process PID's inbox, waiting up to TIMEOUT_NS for room.
 * IB is the caller's own inbox (it keeps the links).
 * Errors: -ESRCH (PID has no inbox, or it went away), -EACCES (its mode
 * refuses us), -EMSGSIZE (LEN > IPCX_INBOX_MSG_MAX), -EAGAIN / -ETIMEDOUT
 * (its links are full), -EINVAL, -EBADF (IB was inherited across fork()).
 */
IPCX_API int ipcx_send_to(ipcx_inbox *ib, pid_t pid, const void *buf,
                          size_t len, int64_t timeout_ns);

/*
 * Receive the next message from process PID only (others wait their turn).
 * Returns its length.  Errors: -EMSGSIZE (longer than CAP: it stays first),
 * -EAGAIN / -ETIMEDOUT, -EINVAL, -EBADF (IB was inherited across fork()).
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

/*
 * Call FN(name, ARG) for each inbox in the namespace, NAME being its
 * owner's pid in decimal, live or not (see ipcx_inbox_alive()); as
 * ipcx_port_list() does for ports.  (A file NAME.inbox whose NAME is not a
 * pid is no inbox, and is skipped.)  Stops at FN's first non-zero return
 * and returns it; 0 when all were seen.  Errors: -EINVAL (FN NULL), and
 * those of reading the namespace.
 */
IPCX_API int ipcx_inbox_list(int (*fn)(const char *name, void *arg), void *arg);

/*
 * Is process PID's inbox open?  1: yes, its owner holds it; 0: PID.inbox
 * is a leftover of a process that died without closing it (sends to PID
 * answer -ESRCH; the next process with that pid replaces it).  The answer
 * is the kernel's (the owner's lock on .PID.inbox.lock), not a guess from
 * the pid, which may have been reused.  Changes nothing.
 * Errors: -ENOENT (no such inbox), -EACCES (another user's inbox: its lock
 * is not readable to us), -EINVAL.
 */
IPCX_API int ipcx_inbox_alive(pid_t pid);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_DIRECT_H */
