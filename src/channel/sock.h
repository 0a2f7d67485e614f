/*
 * sock.h - internal: Unix sockets as named objects in the namespace, shared
 * by connection ports and inboxes.  A listening socket is bound under a
 * temporary dot-name, given its mode, then renamed into place, so it
 * appears with its final mode or not at all.  Paths go through
 * /proc/self/fd/<dirfd>/..., since a namespace path may be longer than a
 * socket address allows.  A listener also holds a name lock, which tells a
 * live one from a dead one's leftovers, and a fork guard, which keeps a
 * child forked without exec from holding on to either.
 */
#ifndef IPCX_CHANNEL_SOCK_H
#define IPCX_CHANNEL_SOCK_H

#include <stdint.h>
#include <sys/types.h>

#include "ns/ns.h"

/* The socket file a listener created, to remove only its own. */
struct ipcx__sockfile {
    dev_t dev;
    ino_t ino;
};

/* A non-blocking, close-on-exec SOCK_SEQPACKET socket, or -errno. */
int ipcx__sock_new(void);

/* Bind S, listen, and place it as FNAME in DFD with MODE, replacing any
 * file there: the caller has made sure no live listener owns the name. */
int ipcx__sock_listen(int s, int dfd, const char *fname, uint32_t mode,
                      struct ipcx__sockfile *id);

/* Remove FNAME from DFD if it still is the socket file ID. */
void ipcx__sock_unlink(int dfd, const char *fname,
                       const struct ipcx__sockfile *id);

/* Connect S to the socket file FNAME in DFD: 0 or -errno (-EAGAIN: its
 * backlog is full; -ECONNREFUSED: nobody listens). */
int ipcx__sock_connect(int s, int dfd, const char *fname);

/* Longest name lock file name: "." FNAME ".lock". */
#define IPCX__LOCK_MAX (IPCX__FILE_MAX + 8)

/* The name lock file of FNAME: ".FNAME.lock", into LNAME (IPCX__LOCK_MAX
 * + 1 bytes). */
void ipcx__sock_lockname(const char *fname, char *lname);

/*
 * Own the name FNAME in DFD: an OFD write lock on its name lock file
 * (ipcx__sock_lockname, written to LNAME),
 * which the kernel releases when we die.  On success *LOCK is the locked
 * descriptor.  -EEXIST: a live listener (possibly another user's) holds it;
 * -EBUSY: only ipcx_gc() holds it, for a moment.
 */
int ipcx__sock_own(int dfd, const char *fname, char *lname, int *lock);
/* ipcx__sock_own() under the fork guard lock, which it returns holding
 * (the caller unlocks), whatever the answer.  While a collector holds the
 * name (-EBUSY from ipcx__sock_own), it drops the guard, waits 100 us and
 * tries again, for up to a second; then -EEXIST. */
int ipcx__sock_own_guarded(int dfd, const char *fname, char *lname, int *lock);

/* Remove the name lock LNAME if it still is the file LOCK holds (the
 * caller still holds it); LOCK itself stays open. */
void ipcx__sock_disown(int dfd, const char *lname, int lock);

/* Is name lock LNAME in DFD held: 1 yes, 0 no (or no such file), -EACCES
 * (its mode hides the answer from us), other -errno.  Looks, never locks. */
int ipcx__sock_owned(int dfd, const char *lname);

/*
 * Fork safety.  A child forked without exec shares its parent's open file
 * descriptions.  Were it to keep a listener's socket or name lock, a dead
 * parent's port or inbox would still look live (clients kept waiting
 * instead of refused) until the child exits.  So each listener registers a
 * guard; in the child, before fork() returns, the guard's CHILD function
 * makes the handle dead: it plugs each descriptor the handle must not keep
 * (ipcx__fork_plug) and marks the handle, whose calls then refuse to work.
 * CHILD runs in the child of a possibly multi-threaded process: only
 * async-signal-safe work (no malloc, no locks).  DEVNULL is an fd of
 * /dev/null, or -1 if none could be opened.
 */
struct ipcx__forkguard {
    struct ipcx__forkguard *prev, *next;
    void (*child)(struct ipcx__forkguard *g, int devnull);
};

/*
 * The guard lock.  The list of guards, and everything a CHILD function
 * reads, change only under it: fork() takes it (a pthread_atfork prepare
 * handler), so the child sees them whole.  Creating a descriptor a guard
 * covers and storing it where CHILD finds it is done under it too, so that
 * no fork() comes in between.  Hold it only for short work that never
 * waits: fork() waits for it.
 */
void ipcx__fork_lock(void);
void ipcx__fork_unlock(void);

/* Under the guard lock: start (stop) watching over G. */
void ipcx__fork_watch(struct ipcx__forkguard *g);
void ipcx__fork_unwatch(struct ipcx__forkguard *g);

/*
 * In a CHILD function: make FD refer to /dev/null (DEVNULL) under the same
 * number, so the child no longer holds what FD held and the handle's later
 * close closes nothing else.  Returns the descriptor the handle keeps: FD,
 * or -1 if it had to be closed instead (no /dev/null), or was -1.
 */
int ipcx__fork_plug(int fd, int devnull);

#endif
