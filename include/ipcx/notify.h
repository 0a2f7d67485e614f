/*
 * ipcx/notify.h - the notify mailbox (Mach's notify port, SPEC K3).
 *
 * Each process has one notify mailbox.  ipcx posts events to it, by itself:
 *
 *   - IPCX_EVENT_PROC_EXIT: a process the caller watches (ipcx_notify_watch)
 *     has ended.  For a child of the caller the wait status is reported (and
 *     left for the caller's own waitpid(): the child is not reaped); for any
 *     other process, or a child the caller reaped before the event was
 *     found, it cannot be known and status_known is 0.
 *   - IPCX_EVENT_CHANNEL_CLOSED: the peer of one of the process's open
 *     channels closed it or died.  The channel stays open (its receives
 *     drain what was sent, then answer -EPIPE); the receiver of the event
 *     closes it.
 *   - IPCX_EVENT_MAILBOX_DESTROYED: a named mailbox the process has open was
 *     destroyed (ipcx_mailbox_destroy or ipcx rm).
 *
 * Channels and mailboxes are watched from the moment the notify mailbox is
 * open, including those opened earlier (a channel whose peer went, or a
 * mailbox destroyed, before the open is reported at once); processes only
 * when asked.  Each watched thing gives at most one event per notify
 * mailbox (closing it and opening another reports again what is still
 * true).  An event naming a channel or mailbox handle is withdrawn if that
 * handle is closed before the event is received, so a received event never
 * names a freed handle.
 *
 * There is no daemon: the events are found by the process itself (a pidfd
 * per watched process, the channel's socket and its peer's pidfd, inotify on
 * the mailbox files) whenever it receives from the notify mailbox, polls it
 * (ipcx_poll, ipcx/poll.h) or its descriptor turns readable.
 *
 * Thread safety: any thread may call any function, except that
 * ipcx_notify_close() must not race with the others.
 *
 * fork(): the notify mailbox belongs to the process that opened it.  In a
 * forked child the handle is inert (its calls answer -EBADF; close it with
 * ipcx_notify_close) and the child may open its own.
 */
#ifndef IPCX_NOTIFY_H
#define IPCX_NOTIFY_H

#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipcx_notify ipcx_notify;
typedef struct ipcx_channel ipcx_channel;
typedef struct ipcx_mailbox ipcx_mailbox;

enum ipcx_event_kind {
    IPCX_EVENT_PROC_EXIT = 1,
    IPCX_EVENT_CHANNEL_CLOSED = 2,
    IPCX_EVENT_MAILBOX_DESTROYED = 3,
};

typedef struct ipcx_event {
    uint32_t kind;         /* enum ipcx_event_kind */
    pid_t pid;             /* PROC_EXIT: the process; CHANNEL_CLOSED: the
                              peer (0 if outside our pid namespace) */
    int status_known;      /* PROC_EXIT: 1 if status is valid */
    int status;            /* PROC_EXIT: a wait status (WIFEXITED, ...) */
    uint64_t cookie;       /* PROC_EXIT: the value given to watch */
    ipcx_channel *channel; /* CHANNEL_CLOSED: the channel (still open) */
    ipcx_mailbox *mailbox; /* MAILBOX_DESTROYED: the handle (still open) */
    uint64_t mailbox_id;   /* MAILBOX_DESTROYED: its ipcx_mailbox_info id */
    uint64_t reserved[4];
} ipcx_event;

/*
 * Open the process's notify mailbox.  There is one per process: while it is
 * open, another open answers -EBUSY.  On success *out is freed with
 * ipcx_notify_close(); on failure nothing is left open.  It holds three
 * descriptors, plus one per watched process.  Errors: -EINVAL (NULL),
 * -EBUSY, -EMFILE / -ENFILE / -ENOMEM (including the inotify instance and
 * watch limits), -ENOSPC (epoll's watch limit).
 */
IPCX_API int ipcx_notify_open(ipcx_notify **out);

/* Close it: watches end, pending events are dropped, its descriptors are
 * closed.  NULL is a no-op.  Returns 0, or -EBADF for a closed handle or
 * one of another kind. */
IPCX_API int ipcx_notify_close(ipcx_notify *n);

/*
 * Watch process PID: one IPCX_EVENT_PROC_EXIT carrying COOKIE when it ends;
 * the watch ends when that event is received.  A zombie child counts as
 * ended (the event comes at once).  PID is resolved once, now: for a child
 * that is exact (its pid is not reused before it is reaped); for another
 * process that may already have ended, a reused pid names the newcomer.
 * Errors: -EINVAL (NULL, PID <= 0, or PID is a thread, not a process),
 * -ESRCH (no such process), -EEXIST (already watched), -EMFILE, -ENOMEM,
 * -EBADF (inherited through fork), -ENOSYS (kernel older than 5.3).
 */
IPCX_API int ipcx_notify_watch(ipcx_notify *n, pid_t pid, uint64_t cookie);

/* Stop watching PID; a pending event for it is withdrawn.  Errors: -ENOENT
 * (PID is not watched, or its event was received), -EINVAL, -EBADF. */
IPCX_API int ipcx_notify_unwatch(ipcx_notify *n, pid_t pid);

/*
 * Receive the oldest event into *ev (written only on success), waiting up
 * to TIMEOUT_NS (0: do not wait; IPCX_FOREVER: no limit).  0, or -EAGAIN
 * (timeout 0, none waiting), -ETIMEDOUT, -EINVAL (NULL, negative timeout),
 * -EBADF (inherited through fork).
 */
IPCX_API int ipcx_notify_recv(ipcx_notify *n, ipcx_event *ev,
                              int64_t timeout_ns);

/*
 * A descriptor that is readable while an event may be waiting (for epoll,
 * poll, libuv): level-triggered; receive with timeout 0 until -EAGAIN, after
 * which it is not readable until the next event.  It is an epoll descriptor
 * that belongs to the notify mailbox (do not close it or read it).
 * Errors: -EINVAL, -EBADF.
 */
IPCX_API int ipcx_notify_fd(ipcx_notify *n);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_NOTIFY_H */
