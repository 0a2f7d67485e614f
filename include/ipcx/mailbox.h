/*
 * ipcx/mailbox.h - named mailboxes (ports): indirect message passing.
 *
 * A mailbox is a queue of variable-size messages in shared memory, created by
 * name in the namespace (see ipcx/ns.h) and shared by any number of processes
 * that may open its file.  Its buffering is fixed at creation:
 *
 *   - bounded (capacity n >= 1): up to n messages wait; a sender blocks, or
 *     gets -EAGAIN / -ETIMEDOUT, while all n are taken;
 *   - rendezvous (capacity 0): a send succeeds only once a receiver has taken
 *     that very message; a send that fails or times out leaves nothing behind;
 *   - unbounded: a sender never waits; memory grows on demand up to a ceiling
 *     (max_bytes) past which sends answer -ENOSPC.
 *
 * And so is its receiver policy (who gets a message when several receive):
 *
 *   - IPCX_POLICY_ANY: each message goes to exactly one of the receivers; a
 *     sender may ask for a delivery receipt naming the receiver's pid;
 *   - IPCX_POLICY_EXCLUSIVE: one process at a time holds the receive right,
 *     taken by its first receive; others get -EBUSY until it closes the
 *     mailbox, releases or transfers the right, or dies;
 *   - IPCX_POLICY_PAIR: at most two processes may have the mailbox open
 *     (a process may open several handles); a third process's open answers
 *     -EBUSY.
 *
 * Messages from one sender are received in the order sent, each exactly once.
 * An oversize message is refused with -EMSGSIZE, never truncated.
 *
 * Thread safety: a handle may be used by several threads at once, except that
 * ipcx_mailbox_close() must not race with other calls on the same handle.
 * A handle must not be used in a child after fork(); the child opens its own.
 *
 * Crash safety: every open handle holds a liveness token (an open file
 * description lock) that the kernel drops when the process dies, so rights
 * and places held by a dead process are detected and taken back by the
 * survivors.
 */
#ifndef IPCX_MAILBOX_H
#define IPCX_MAILBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipcx_mailbox ipcx_mailbox;

enum ipcx_policy {
    IPCX_POLICY_ANY = 0,
    IPCX_POLICY_EXCLUSIVE = 1,
    IPCX_POLICY_PAIR = 2,
};

/* capacity value that asks for an unbounded mailbox. */
#define IPCX_UNBOUNDED UINT32_MAX

/* Limits checked by ipcx_mailbox_create(). */
#define IPCX_CAPACITY_MAX (1u << 20) /* bounded capacity */
/* IPCX_MSG_SIZE_MAX, IPCX_DEFAULT_MSG_SIZE, IPCX_DEFAULT_CAPACITY: common.h */
#define IPCX_DEFAULT_MAX_BYTES (64ull << 20) /* unbounded ceiling */
#define IPCX_MAX_BYTES_LIMIT   (64ull << 30) /* largest ceiling accepted */

/*
 * Creation options.  Initialise with ipcx_mailbox_attr_init() and then set
 * what you need; the reserved words must stay zero.
 */
typedef struct ipcx_mailbox_attr {
    uint32_t capacity;     /* 0 rendezvous, n bounded, IPCX_UNBOUNDED */
    uint32_t max_msg_size; /* bytes; 0 = IPCX_DEFAULT_MSG_SIZE */
    uint32_t mode;         /* permission bits, 01-0777; 0 = 0600 */
    uint32_t policy;       /* enum ipcx_policy */
    uint64_t max_bytes;    /* unbounded only: memory ceiling, room for at
                              least four messages; 0 = the default */
    uint64_t reserved[6];
} ipcx_mailbox_attr;

/* Defaults: bounded, capacity 64, 4096-byte messages, mode 0600, ANY. */
IPCX_API void ipcx_mailbox_attr_init(ipcx_mailbox_attr *attr);

/*
 * Create mailbox NAME with ATTR (NULL for the defaults).  The mailbox appears
 * in the namespace fully initialised or not at all.  Its mode is exactly
 * attr->mode (the umask does not apply; bits above 0777 are refused).
 * max_bytes must be 0 unless capacity is IPCX_UNBOUNDED.
 * Errors: -EINVAL bad name or attribute, -EEXIST name taken, -EACCES, -ENOSPC,
 * -ENOMEM.  On failure nothing is created.
 */
IPCX_API int ipcx_mailbox_create(const char *name,
                                 const ipcx_mailbox_attr *attr);

/*
 * Open mailbox NAME for sending and receiving; FLAGS must be 0.  On success
 * *out is a new handle the caller frees with ipcx_mailbox_close().
 * Errors: -EINVAL, -ENOENT, -EACCES (the file's mode refuses us), -EBUSY (a
 * pair mailbox already has two processes), -EPROTO (not a valid mailbox
 * file, or something else at its name: a FIFO, a symbolic link, a
 * directory...; ipcx_last_error() names it), -EMFILE (more than
 * IPCX_MAILBOX_MAX_OPEN handles).
 */
#define IPCX_MAILBOX_MAX_OPEN 1024
IPCX_API int ipcx_mailbox_open(const char *name, int flags, ipcx_mailbox **out);

/*
 * Close the handle: releases its pair place and receive right and unmaps the
 * mailbox.  Messages stay queued.  NULL is a no-op.  Returns 0, or -EBADF for a
 * closed handle or one of another kind.
 */
IPCX_API int ipcx_mailbox_close(ipcx_mailbox *mb);

/*
 * Remove NAME from the namespace.  Handles already open keep working on the
 * queued messages: receives drain them, then answer -EIDRM; sends answer
 * -EIDRM at once; blocked callers wake up.  Something planted at the name
 * (a FIFO, a symbolic link, never its target) is removed too.
 * Errors: -EINVAL, -ENOENT, -EACCES, -EPROTO (a directory at the name:
 * remove it by hand).
 */
IPCX_API int ipcx_mailbox_destroy(const char *name);

/*
 * Send LEN bytes from BUF.  Returns 0 once the message is queued (for a
 * rendezvous mailbox: once a receiver has taken it).  A rendezvous send with
 * timeout 0 succeeds if a receiver is already blocked waiting: that receiver
 * is given up to 1 ms to wake and take the message.
 * Errors: -EMSGSIZE (LEN above the maximum), -EAGAIN (timeout 0 and no room),
 * -ETIMEDOUT, -ENOSPC (unbounded ceiling reached), -EIDRM (destroyed),
 * -EINVAL (NULL handle, NULL BUF with LEN > 0, negative timeout), -EPROTO
 * (the shared memory is corrupt).  A failed send leaves nothing queued.
 * The unbounded ceiling is freed a segment (up to 64 messages) at a time;
 * a withdrawn receipt send (below) keeps its place in that memory until the
 * receivers have passed it.
 */
IPCX_API int ipcx_mailbox_send(ipcx_mailbox *mb, const void *buf, size_t len,
                               int64_t timeout_ns);

/* ipcx_mailbox_send_ex() flags. */
#define IPCX_SEND_RECEIPT 0x1u /* wait until taken; report the receiver */

/*
 * ipcx_mailbox_send() with FLAGS.  With IPCX_SEND_RECEIPT the call returns
 * only once a receiver has taken the message (as a rendezvous does) and
 * writes that receiver's pid to *receiver (which must then be non-NULL).  If
 * the timeout expires before any receiver took it the message is withdrawn
 * and the call answers -ETIMEDOUT (or -EAGAIN).  A message a receiver has
 * claimed by then counts as taken: the call succeeds and names that
 * receiver.  Should a receiver die while copying before the deadline, the
 * message is offered again, so it is
 * neither lost nor duplicated.  No receiver will ever see a
 * withdrawn message, and it no longer counts against a bounded capacity.
 * Unknown flags: -EINVAL.
 */
IPCX_API int ipcx_mailbox_send_ex(ipcx_mailbox *mb, const void *buf, size_t len,
                                  int64_t timeout_ns, unsigned flags,
                                  pid_t *receiver);

/*
 * Receive one message into BUF (CAP bytes).  Returns its length (0 is a
 * valid, empty message).  If the next message is longer than CAP the call
 * answers -EMSGSIZE and the message stays queued.
 * Errors: -EAGAIN (timeout 0, nothing waiting), -ETIMEDOUT, -EBUSY (exclusive
 * mailbox whose receive right another live process holds), -EIDRM
 * (destroyed and drained), -EINVAL, -EPROTO.
 */
IPCX_API long ipcx_mailbox_recv(ipcx_mailbox *mb, void *buf, size_t cap,
                                int64_t timeout_ns);

/* What a receiver learns about a message besides its bytes. */
typedef struct ipcx_msg_info {
    pid_t pid; /* sender's pid as the sender reported it */
    uid_t uid; /* sender's uid as the sender reported it */
    uint64_t reserved[2];
} ipcx_msg_info;

/* ipcx_mailbox_recv() that also fills *info (if INFO is not NULL). */
IPCX_API long ipcx_mailbox_recv_ex(ipcx_mailbox *mb, void *buf, size_t cap,
                                   int64_t timeout_ns, ipcx_msg_info *info);

/*
 * Exclusive mailboxes: hand the receive right, which the caller must hold, to
 * process TO, which must have the mailbox open.  Errors: -EPERM (the caller
 * does not hold the right), -ESRCH (no live process TO has it open),
 * -EOPNOTSUPP (not an exclusive mailbox).
 */
IPCX_API int ipcx_mailbox_transfer(ipcx_mailbox *mb, pid_t to);

/* Give up the receive right if the caller holds it (0 either way);
 * -EOPNOTSUPP if not an exclusive mailbox. */
IPCX_API int ipcx_mailbox_release(ipcx_mailbox *mb);

/* A snapshot of a mailbox, for ipcx stat / ipcx ls. */
typedef struct ipcx_mailbox_info {
    uint64_t id;           /* unique, random, fixed at creation */
    uint32_t capacity;     /* 0 rendezvous, n, or IPCX_UNBOUNDED */
    uint32_t max_msg_size; /* bytes */
    uint32_t policy;       /* enum ipcx_policy */
    uint32_t mode;         /* permission bits of the file */
    uid_t uid;             /* owner of the file */
    gid_t gid;
    uint64_t depth;        /* messages queued (approximate while busy) */
    uint64_t max_bytes;    /* unbounded ceiling */
    uint64_t bytes;        /* shared memory in use by the queue */
    uint64_t sent;         /* messages sent, all time */
    uint64_t received;     /* messages received, all time */
    uint32_t nopen;        /* live processes with a handle open */
    uint32_t send_waiting; /* callers blocked in send */
    uint32_t recv_waiting; /* callers blocked in receive */
    pid_t receiver;        /* exclusive: holder of the receive right, or 0 */
    int destroyed;         /* 1 once ipcx_mailbox_destroy() ran */
    uint32_t reserved[7];
} ipcx_mailbox_info;

/* Stat an open handle. */
IPCX_API int ipcx_mailbox_stat(ipcx_mailbox *mb, ipcx_mailbox_info *st);

/*
 * Stat mailbox NAME without opening it for use: needs only read permission,
 * takes no pair place.  Errors as ipcx_mailbox_open().
 */
IPCX_API int ipcx_mailbox_stat_name(const char *name, ipcx_mailbox_info *st);

/*
 * Call FN once for each mailbox name in the namespace, in no particular
 * order.  If FN returns non-zero, the walk stops and that value is returned.
 * Returns 0 after a full walk, or a negative errno if the namespace cannot
 * be read.
 */
IPCX_API int ipcx_mailbox_list(int (*fn)(const char *name, void *arg),
                               void *arg);

/*
 * A descriptor that turns readable when a message may be waiting (for
 * epoll, poll, libuv).  Receive with timeout 0 until -EAGAIN: that answer
 * re-arms it.  It also turns readable when the mailbox is destroyed.  It
 * belongs to the handle (do not close it).
 *
 * A named mailbox rings it through a FIFO beside the mailbox file
 * (".NAME.mbox.bell", made on first use with the mailbox's mode and group);
 * an anonymous one through an eventfd that travels with it.  Once any
 * process has asked for a descriptor, a send that finds a receiver waiting
 * on one pays one write(2); other sends stay free of system calls.
 * Errors: -EINVAL, -EPERM (the handle has no receive right), -EACCES (the
 * FIFO cannot be made or opened), -EPROTO (something other than a FIFO at
 * the bell's name), -EIDRM (the mailbox was destroyed before
 * its first descriptor was made), -EMFILE.
 */
IPCX_API int ipcx_mailbox_fd(ipcx_mailbox *mb);

/*
 * Anonymous mailboxes (SPEC K1, Mach's port_allocate): a mailbox in an
 * anonymous memfd, with no name, that no other process can open.  Access is
 * handed out as rights over a channel (ipcx_channel_send_mailbox); only
 * holders can use it.  ATTR as for ipcx_mailbox_create() (its mode is
 * ignored).  The new handle holds both rights.  The memory is sealed so a
 * holder cannot shrink it under the others.
 * Errors: -EINVAL, -ENOMEM, -EMFILE.
 */
#define IPCX_RIGHT_SEND 0x1u
#define IPCX_RIGHT_RECV 0x2u
IPCX_API int ipcx_mailbox_allocate(const ipcx_mailbox_attr *attr,
                                   ipcx_mailbox **out);

/*
 * The rights this handle holds (IPCX_RIGHT_SEND | IPCX_RIGHT_RECV for a
 * named mailbox).  A send without the send right, or a receive without the
 * receive right, answers -EPERM.  Rights are enforced by the library: a
 * holder maps the queue's memory writable (a sender must write it), so a
 * hostile holder is contained only as for a named mailbox (issue 4).
 */
IPCX_API unsigned ipcx_mailbox_rights(const ipcx_mailbox *mb);

/*
 * Give up rights: the handle keeps RIGHTS & what it holds.  There is no way
 * back.  Moving a receive right (Mach's MOVE_RECEIVE) is a send of it over a
 * channel followed by ipcx_mailbox_restrict(mb, IPCX_RIGHT_SEND).
 * Errors: -EINVAL (unknown bits, or no right left: close the handle).
 */
IPCX_API int ipcx_mailbox_restrict(ipcx_mailbox *mb, unsigned rights);

/*
 * Zero-copy loans (SPEC M9).  A sender borrows the slot its message will
 * occupy, writes the message in place and sends it without a copy; a
 * receiver reads a message where it lies and hands the slot back.  Only a
 * bounded or unbounded mailbox lends (a rendezvous send must wait for its
 * receiver: -EOPNOTSUPP).
 *
 * A loan holds its place in the queue: a send loan counts as queued from
 * the moment it is lent, and messages behind it are received only after it
 * is sent or cancelled.  A received loan no longer counts as queued, but
 * its slot is reused only once it is returned, so a receiver holding many
 * loans makes senders wait when the ring comes round to them.  Keep loans
 * short.
 * A process that dies holding loans loses them like any half-done operation:
 * survivors take the slots back (a lent send is lost, a lent receive is
 * consumed), and nobody waits for it past IPCX__STUCK_CHECK_NS (20 ms).
 *
 * The bytes of a received loan lie in shared memory that any process with
 * the send right can write: copy what you validate before you trust it.
 * The pointer is valid until the loan is sent, cancelled or returned, and
 * never after the handle is closed (closing abandons its open loans as a
 * death would).
 */
typedef struct ipcx_loan {
    void *data;       /* the payload, in the mailbox's shared memory */
    size_t size;      /* lent to send: room (the maximum message size);
                         received: the message's length */
    pid_t pid;        /* received: the sender's pid, as it reported it */
    uid_t uid;        /* received: the sender's uid, as it reported it */
    uint64_t priv[4]; /* the library's */
} ipcx_loan;

/*
 * Borrow room for one message, waiting up to TIMEOUT_NS for a free slot as a
 * send would.  On success loan->data has loan->size writable bytes.
 * Errors as ipcx_mailbox_send() (-EAGAIN, -ETIMEDOUT, -ENOSPC, -EIDRM,
 * -EPERM, -EINVAL, -EPROTO), and -EOPNOTSUPP for a rendezvous mailbox.
 */
IPCX_API int ipcx_mailbox_loan(ipcx_mailbox *mb, ipcx_loan *loan,
                               int64_t timeout_ns);

/* Send the first LEN bytes of a loan from ipcx_mailbox_loan(); never waits.
 * The loan is spent either way.  Errors: -EINVAL (not a live send loan of
 * this handle), -EMSGSIZE (LEN above loan->size: the loan is cancelled). */
IPCX_API int ipcx_mailbox_send_loan(ipcx_mailbox *mb, ipcx_loan *loan,
                                    size_t len);

/* Give a send loan back unsent; receivers never see it.  -EINVAL if LOAN is
 * not a live send loan of this handle. */
IPCX_API int ipcx_mailbox_cancel_loan(ipcx_mailbox *mb, ipcx_loan *loan);

/*
 * Receive the next message in place: loan->data and loan->size describe it
 * until ipcx_mailbox_return_loan().  Returns its length.  Errors as
 * ipcx_mailbox_recv().
 */
IPCX_API long ipcx_mailbox_recv_loan(ipcx_mailbox *mb, ipcx_loan *loan,
                                     int64_t timeout_ns);

/* Hand a received loan's slot back to the mailbox.  A sender that asked for
 * a receipt learns of the delivery now.  -EINVAL if LOAN is not a live
 * received loan of this handle. */
IPCX_API int ipcx_mailbox_return_loan(ipcx_mailbox *mb, ipcx_loan *loan);

/* The largest message this mailbox accepts, in bytes. */
IPCX_API size_t ipcx_mailbox_max_msg_size(const ipcx_mailbox *mb);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_MAILBOX_H */
