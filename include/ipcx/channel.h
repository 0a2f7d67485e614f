/*
 * ipcx/channel.h - connection ports and private channels (the LPC model),
 * with Mach-style msg_rpc on top.
 *
 * A server listens on a named connection port: a Unix socket NAME.port in
 * the namespace (see ipcx/ns.h) whose Unix mode says who may connect.  A
 * client connects by name; the server accepts, learns the client's pid, uid
 * and gid as the kernel saw them, and may refuse it.  Accepting creates a
 * channel: two bounded queues (one per direction) in an anonymous memfd that
 * travels to the client over the socket.  It has no name, so no third
 * process can reach it.  The socket stays open for the channel's life: when
 * one end closes or dies (SIGKILL included), the kernel hangs it up, and
 * that wakes the other end.
 *
 * Sends and receives have the mailbox semantics (see ipcx/mailbox.h): a
 * relative timeout in nanoseconds (0 = do not wait, IPCX_FOREVER), -EAGAIN /
 * -ETIMEDOUT, -EMSGSIZE for an oversize message, FIFO and exactly once.  A
 * send that finds room and a receive that finds a message make no system
 * call.  Once the peer is gone, receives drain what it had sent and then
 * answer -EPIPE; sends answer -EPIPE.  (Without a system call, a send cannot
 * see that a peer died unannounced; such a send that finds room succeeds,
 * and the message is lost with the peer.  Every call that waits, and every
 * receive that finds the channel empty, does see it.)
 *
 * msg_rpc: ipcx_call() sends a request and waits for its own reply.  Several
 * threads may have calls outstanding at once; each reply reaches only its
 * caller.  The other end receives requests with ipcx_channel_recv_ex(),
 * which hands out a reply token, and answers with ipcx_channel_reply() in
 * any order.  Either end may also send one-way messages at any time.
 *
 * Thread safety: a channel handle may be used by several threads at once,
 * except that ipcx_channel_close() must not race with other calls on it.
 * fork(): a port stays the parent's.  In a child forked without exec the
 * inherited port handle is dead: at the fork the library points the
 * child's copies of the listening socket and the name lock at /dev/null
 * (the descriptor numbers stay taken), so a child cannot keep a dead
 * parent's port looking live: clients get -ECONNREFUSED at once, and a new
 * server may listen on the name while the child lives.  In the child,
 * ipcx_port_accept() answers -EBADF and ipcx_port_close() only frees the
 * handle (the name stays the parent's).  Channels must not be used in a
 * child after fork().
 */
#ifndef IPCX_CHANNEL_H
#define IPCX_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "mailbox.h"
#include "region.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipcx_port ipcx_port;
typedef struct ipcx_channel ipcx_channel;

/* A process as the kernel identified it when it connected or listened. */
typedef struct ipcx_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
} ipcx_peer;

#define IPCX_CHANNEL_CAPACITY_MAX 65536u /* messages per direction */

/*
 * Connection port options.  Initialise with ipcx_port_attr_init(); the
 * reserved words must stay zero.
 */
typedef struct ipcx_port_attr {
    uint32_t mode;         /* who may connect: 01-0777 (write permission
                              is needed to connect); 0 = 0600 */
    uint32_t capacity;     /* messages each direction of a channel holds,
                              1..IPCX_CHANNEL_CAPACITY_MAX; 0 = 64 */
    uint32_t max_msg_size; /* bytes, up to IPCX_MSG_SIZE_MAX;
                              0 = IPCX_DEFAULT_MSG_SIZE */
    uint32_t reserved0;
    uint64_t reserved[4];
} ipcx_port_attr;

/* Defaults: mode 0600, capacity 64, 4096-byte messages. */
IPCX_API void ipcx_port_attr_init(ipcx_port_attr *attr);

/*
 * Listen on connection port NAME.  The port appears in the namespace with
 * exactly attr->mode (umask ignored), or not at all.  A port file left by a
 * server that died is replaced; a live one answers -EEXIST.  On success
 * *out is a handle freed with ipcx_port_close().
 * Errors: -EINVAL (bad name or attribute), -EEXIST (a live server, or a
 * directory at the name or its lock's), -EACCES, -EMFILE, -ENOMEM.
 */
IPCX_API int ipcx_port_listen(const char *name, const ipcx_port_attr *attr,
                              ipcx_port **out);

/*
 * Stop listening: removes NAME from the namespace (if it is still this
 * port's) and frees the handle.  Channels already accepted keep working.
 * Clients still waiting to be accepted see -ECONNRESET.  NULL is a no-op.
 * Returns 0, or -EBADF for a closed handle or one of another kind.
 */
IPCX_API int ipcx_port_close(ipcx_port *port);

/*
 * Decide on a connecting client: return 0 to accept it, or a negative errno
 * (such as -EACCES) to refuse it; the client's ipcx_connect() then answers
 * -ECONNREFUSED.
 */
typedef int (*ipcx_port_check_fn)(const ipcx_peer *peer, void *arg);

/*
 * Accept the next client, within TIMEOUT_NS.  CHECK (may be NULL: accept
 * everyone the port's mode lets in) is called with the client's
 * kernel-verified credentials.  Refused clients, and clients that vanish
 * before the channel is handed over, are skipped: the call goes on waiting
 * for the next one.  On success *out is a new channel, freed with
 * ipcx_channel_close().
 * Errors: -EINVAL, -EAGAIN (timeout 0, nobody waiting), -ETIMEDOUT,
 * -EMFILE / -ENOMEM (no resources for the channel), -EBADF (the port was
 * inherited across fork()).
 */
IPCX_API int ipcx_port_accept(ipcx_port *port, int64_t timeout_ns,
                              ipcx_port_check_fn check, void *arg,
                              ipcx_channel **out);

/*
 * The port's listening socket: readable when a client waits to be
 * accepted (for epoll and the like).  Owned by the port; do not close it.
 */
IPCX_API int ipcx_port_fd(const ipcx_port *port);

/*
 * Call FN(name, ARG) for each connection port in the namespace, as
 * ipcx_mailbox_list() does for mailboxes.
 */
IPCX_API int ipcx_port_list(int (*fn)(const char *name, void *arg), void *arg);

/*
 * Connect to connection port NAME and wait up to TIMEOUT_NS to be accepted.
 * On success *out is a channel freed with ipcx_channel_close().
 * Errors: -EINVAL, -ENOENT (no such port), -ECONNREFUSED (nobody listens,
 * or the server refused us), -EACCES (the port's mode refuses us),
 * -EAGAIN / -ETIMEDOUT (not accepted in time), -ECONNRESET (the server
 * went away while we waited), -EPROTO (the server answered nonsense, or
 * the port's name holds something other than a socket: a FIFO, a symbolic
 * link...).
 */
IPCX_API int ipcx_connect(const char *name, int64_t timeout_ns,
                          ipcx_channel **out);

/*
 * Close the channel.  Messages the peer had not received yet stay readable
 * to it; then its calls answer -EPIPE.  Outstanding ipcx_call()s of other
 * threads must have returned.  NULL is a no-op.  Returns 0, or -EBADF for a
 * closed handle or one of another kind.
 */
IPCX_API int ipcx_channel_close(ipcx_channel *ch);

/* The peer's kernel-verified identity (for a client: the server's, as of
 * its ipcx_port_listen()).  -EINVAL if CH or OUT is NULL. */
IPCX_API int ipcx_channel_peer(const ipcx_channel *ch, ipcx_peer *out);

/* Largest message the channel carries (the port's max_msg_size), or
 * -EINVAL for a NULL handle. */
IPCX_API long ipcx_channel_max_msg_size(const ipcx_channel *ch);

/*
 * Send a one-way message of LEN bytes.  0 once it is queued.
 * Errors: -EMSGSIZE, -EAGAIN (timeout 0 and no room), -ETIMEDOUT, -EPIPE
 * (the peer closed or died), -EINVAL, -EPROTO (corrupt shared memory).
 * A failed send leaves nothing queued.
 */
IPCX_API int ipcx_channel_send(ipcx_channel *ch, const void *buf, size_t len,
                               int64_t timeout_ns);

/* What ipcx_channel_recv_ex() reports besides the bytes. */
typedef struct ipcx_channel_msg_info {
    uint64_t token; /* non-zero: a request from ipcx_call(); answer it
                       with ipcx_channel_reply(token, ...) */
    uint64_t reserved[3];
} ipcx_channel_msg_info;

/*
 * Receive the next message (one-way or request) into BUF (CAP bytes);
 * returns its length.  A message longer than CAP is not consumed: the call
 * answers -EMSGSIZE and the message stays first in line.
 * Errors: -EMSGSIZE, -EAGAIN, -ETIMEDOUT, -EPIPE (peer gone and nothing
 * left), -EINVAL, -EPROTO (a malformed message; it is dropped).
 * ipcx_channel_recv() is ipcx_channel_recv_ex() with INFO NULL: a request
 * received that way can no longer be answered (its caller times out).
 */
IPCX_API long ipcx_channel_recv(ipcx_channel *ch, void *buf, size_t cap,
                                int64_t timeout_ns);
IPCX_API long ipcx_channel_recv_ex(ipcx_channel *ch, void *buf, size_t cap,
                                   int64_t timeout_ns,
                                   ipcx_channel_msg_info *info);

/*
 * msg_rpc: send request REQ (LEN bytes) and wait, within TIMEOUT_NS in all,
 * for the reply to this very request; copy it into REPLY (CAP bytes) and
 * return its length.  Messages that are not replies and arrive meanwhile
 * are kept, in order, for ipcx_channel_recv().
 * Errors: as ipcx_channel_send(); -ETIMEDOUT (or -EAGAIN) when no reply came
 * in time (a late reply is discarded); -EMSGSIZE if the reply is longer
 * than CAP (it is discarded); -EPIPE if the peer went away first.
 */
IPCX_API long ipcx_call(ipcx_channel *ch, const void *req, size_t len,
                        void *reply, size_t cap, int64_t timeout_ns);

/*
 * Answer the request that carried TOKEN with LEN bytes.  Replies may be sent
 * in any order.  Errors: as ipcx_channel_send(), and -EINVAL for token 0.
 */
IPCX_API int ipcx_channel_reply(ipcx_channel *ch, uint64_t token,
                                const void *buf, size_t len,
                                int64_t timeout_ns);

/*
 * Hand region R (see ipcx/region.h; typically an anonymous one, which no
 * other process can reach) to the peer.  R stays the caller's; the peer
 * gets its own attachment.  Regions travel in their own FIFO, independent
 * of the order of messages.  Errors: -EAGAIN / -ETIMEDOUT (the socket is
 * full), -EPIPE, -EINVAL.
 */
IPCX_API int ipcx_channel_send_region(ipcx_channel *ch, const ipcx_region *r,
                                      int64_t timeout_ns);

/*
 * Receive the next region the peer handed over; FLAGS as for
 * ipcx_region_attach() (IPCX_REGION_RDONLY).  A sealed region maps
 * read-only whatever FLAGS say.  On success *out is freed with
 * ipcx_region_detach().  Errors: -EAGAIN / -ETIMEDOUT, -EPIPE (peer gone
 * and nothing left), -ENOMSG (the next descriptor is a mailbox: it stays
 * queued), -EPROTO (garbage: dropped), and those of ipcx_region_from_fd().
 */
IPCX_API int ipcx_channel_recv_region(ipcx_channel *ch, unsigned flags,
                                      ipcx_region **out, int64_t timeout_ns);

/*
 * Hand RIGHTS (IPCX_RIGHT_SEND and/or IPCX_RIGHT_RECV, which MB must hold)
 * on mailbox MB to the peer: Mach's port rights (SPEC K1).  MB must be
 * anonymous (ipcx_mailbox_allocate), so only holders can reach it; a named
 * mailbox is opened by its name instead.  The caller keeps its own rights
 * (see ipcx_mailbox_restrict to move them).  Mailboxes and regions share
 * one descriptor FIFO, independent of the messages.  Errors: -EPERM (MB
 * lacks a right asked for), -EINVAL (a named mailbox, no or unknown
 * rights), and those of ipcx_channel_send_region().
 */
IPCX_API int ipcx_channel_send_mailbox(ipcx_channel *ch, ipcx_mailbox *mb,
                                       unsigned rights, int64_t timeout_ns);

/*
 * Receive the next mailbox the peer handed over: *out is a new handle
 * (close it with ipcx_mailbox_close) holding the rights the peer sent,
 * which ipcx_mailbox_rights() reports.  The mailbox is checked as
 * ipcx_mailbox_open() checks a file.  Errors: -EAGAIN / -ETIMEDOUT, -EPIPE,
 * -ENOMSG (the next descriptor is a region: it stays queued), -EPROTO (not
 * a valid mailbox: it is dropped).
 */
IPCX_API int ipcx_channel_recv_mailbox(ipcx_channel *ch, ipcx_mailbox **out,
                                       int64_t timeout_ns);

/*
 * A file descriptor that becomes readable when a message may be waiting or
 * the peer went away, for epoll, poll, libuv and the like.  Receive with
 * timeout 0 until -EAGAIN before waiting on it again (the -EAGAIN clears
 * it).  Owned by the channel; do not close it.  The first call switches the
 * channel to a mode where every message the peer sends also signals the
 * descriptor (a system call per message on the peer's side).
 * Returns the fd or a negative errno.
 */
IPCX_API int ipcx_channel_fd(ipcx_channel *ch);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_CHANNEL_H */
