/*
 * ipcx/ns.h - the namespace: where named ipcx objects live.
 *
 * A namespace is a directory.  The environment variable IPCX_DIR names it (it
 * is created, mode 0700, if missing).  Without IPCX_DIR the namespace is
 * private to the user: $XDG_RUNTIME_DIR/ipcx when XDG_RUNTIME_DIR is set,
 * otherwise /dev/shm/ipcx-<uid>; ipcx refuses to use such a default directory
 * if another user owns it or if it is writable by group or others.
 *
 * Every named object is a file in that directory and carries a Unix mode:
 * opening it is the kernel's permission check, there are no numeric ids to
 * guess.  Names are 1 to IPCX_NAME_MAX characters of [A-Za-z0-9._-] and must
 * not start with '.'.
 */
#ifndef IPCX_NS_H
#define IPCX_NS_H

#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IPCX_NAME_MAX 200

/*
 * 0 if NAME is a valid object name, else -EINVAL (ipcx_last_error() says
 * why).  Touches nothing on disk.
 */
IPCX_API int ipcx_name_check(const char *name);

/*
 * Write the namespace directory's path into BUF (LEN bytes, NUL included),
 * creating the directory if it does not exist.  Returns the path length, or
 * -ENAMETOOLONG if BUF is too small, or the error that prevented creating or
 * trusting the directory (-EACCES, -ENOTDIR, -EPERM for an unsafe default).
 */
IPCX_API int ipcx_ns_path(char *buf, size_t len);

/*
 * Cleanup of leftovers: ipcx_gc() removes from the namespace what no live
 * process uses any more, and nothing else.  The kinds it removes:
 *
 *   IPCX_GC_PORT    NAME.port and its name lock .NAME.port.lock, once the
 *                   server that listened on it is dead (it holds an OFD
 *                   lock on the name lock while it lives; see channel.h);
 *   IPCX_GC_INBOX   PID.inbox and .PID.inbox.lock, once process PID (the
 *                   one that opened it) is dead (see ipcx_inbox_alive());
 *   IPCX_GC_REGION  a region created IPCX_REGION_TEMPORARY (see region.h)
 *                   that no process has attached any more;
 *   IPCX_GC_BELL    .NAME.mbox.bell, the FIFO behind ipcx_mailbox_fd(),
 *                   once mailbox NAME is gone and nobody has the FIFO open;
 *   IPCX_GC_TEMP    a half-made object's temporary dot-file (.tmp-*,
 *                   .sock-*, .gc-*) whose creator is dead, or that nobody
 *                   has touched for IPCX_GC_TEMP_AGE seconds.
 *
 * Mailboxes (NAME.mbox) and regions not created temporary are never
 * removed: they persist until ipcx_mailbox_destroy() or
 * ipcx_region_destroy() (ipcx rm for mailboxes), as POSIX queues do.
 * Notify mailboxes are in-process: they leave nothing behind.  Liveness is
 * the kernel's (locks released at death), never a guess from a pid, except
 * for temporary files, whose creator is named by pid in the file name.
 *
 * Removal is safe against a process that is creating, listening on or
 * attaching to the same name at that moment: ipcx_gc() takes the object's
 * liveness lock itself (so nobody can claim it meanwhile), checks that
 * the name still is the file it judged, and only then removes it.  A
 * listener, inbox opener or temporary-region creator that comes in those
 * microseconds waits for the collector (at most a second).
 *
 * The library also cleans up lazily, without ipcx_gc(): listening on a
 * port whose server died, opening an inbox under a dead process's pid, and
 * creating a region over a dead temporary one each replace the leftover.
 */

/* The kinds of leftovers, indexing ipcx_gc_report.removed. */
typedef enum ipcx_gc_kind {
    IPCX_GC_PORT = 0,
    IPCX_GC_INBOX = 1,
    IPCX_GC_REGION = 2,
    IPCX_GC_BELL = 3,
    IPCX_GC_TEMP = 4,
    IPCX_GC_KINDS = 5 /* how many kinds there are */
} ipcx_gc_kind;

/* Flag for ipcx_gc(): judge and report, remove nothing. */
#define IPCX_GC_DRY_RUN 0x1u

/* Temporary files untouched this long (seconds) are collected even when
 * their creator's pid is in use. */
#define IPCX_GC_TEMP_AGE 60

typedef struct ipcx_gc_report {
    /* Leftovers removed (with IPCX_GC_DRY_RUN: that would be), per kind. */
    uint32_t removed[IPCX_GC_KINDS];
    /* Leftovers that look dead but could not be judged or removed: another
     * user's (their lock files are not ours to lock) or refused by the
     * directory's permissions. */
    uint32_t skipped;
    uint32_t reserved[3];
} ipcx_gc_report;

/*
 * Called once per leftover removed (or, with IPCX_GC_DRY_RUN, that would
 * be), right after its removal.  NAME is the object's name: a port's or
 * region's NAME, an inbox's pid in decimal, the NAME of the mailbox whose
 * bell it was, or a temporary file's own file name (it starts with '.').
 */
typedef void (*ipcx_gc_fn)(ipcx_gc_kind kind, const char *name, void *arg);

/*
 * Remove every dead leftover in the namespace (see above); FLAGS is 0 or
 * IPCX_GC_DRY_RUN.  FN (may be NULL) hears of each one, with ARG; if OUT is
 * not NULL it receives the counts.  Returns how many leftovers were
 * removed (would be), or a negative errno: -EINVAL (unknown flags), or
 * the error of opening or reading the namespace.  Failing to judge or
 * remove one leftover is no error: it is counted in OUT->skipped.
 */
IPCX_API int ipcx_gc(unsigned flags, ipcx_gc_fn fn, void *arg,
                     ipcx_gc_report *out);

/* "port", "inbox", "region", "bell" or "temporary file"; NULL if KIND is
 * unknown. */
IPCX_API const char *ipcx_gc_kind_name(ipcx_gc_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_NS_H */
