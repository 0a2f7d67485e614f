/*
 * ipcx/region.h - shared-memory regions: named, anonymous, sealed.
 *
 * A region is a block of zero-filled shared memory that processes map into
 * their address space.  There are two kinds, and neither has a numeric id
 * that another process could guess:
 *
 *   - named (S1): a file NAME.region in the namespace (see ipcx/ns.h) with a
 *     Unix mode.  Attaching opens that file, so the kernel's permission
 *     check decides who may map it, and how (read-write or read-only);
 *   - anonymous (S2): a memfd with no name at all.  The only way another
 *     process reaches it is an fd its creator passes over a Unix socket
 *     (SCM_RIGHTS, for example through an ipcx channel): that chosen peer
 *     adopts it with ipcx_region_from_fd().
 *
 * An anonymous region can be sealed (S3): afterwards nobody can write it
 * through a new mapping or write(2), nor change its size, while the mapping
 * its creator already holds stays writable.  A producer thus publishes data
 * that its consumers can read but not change.
 *
 * The contents are the caller's: ipcx keeps no header inside a region, so
 * the whole [addr, addr + size) is usable.  Anything a peer with write
 * access may have written there is untrusted input to the reader.
 *
 * Size and SIGBUS: a peer holding a writable fd of an unsealed region (a
 * named region's file or an anonymous region's memfd) can shrink it with
 * ftruncate(2), after which touching the cut-off pages raises SIGBUS in
 * every process that maps it.  ipcx checks the size when it maps
 * (fstat), but cannot stop a later shrink.  A sealed region's size cannot
 * change, so a reader may trust it.  Pages are allocated on first touch; on
 * a full tmpfs the touch raises SIGBUS too.
 *
 * Handles: a handle owns one mapping and one fd (O_CLOEXEC).  It has no
 * other state, so it may be used by several threads at once (except that
 * ipcx_region_detach() must not race with other calls on it), and a child
 * after fork() may go on using the copy it inherited; each process detaches
 * its own copy.
 */
#ifndef IPCX_REGION_H
#define IPCX_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipcx_region ipcx_region;

/* Attach flag: map the region read-only (a write through it faults). */
#define IPCX_REGION_RDONLY 0x1u

/*
 * Create flag (ipcx_region_create_attach()): the region is temporary.  It
 * lives while some process has it attached, and once none has, it is a
 * leftover: ipcx_gc() (ipcx gc) removes it, and creating a region under
 * its name replaces it.  The mark is the set-aside sticky bit of the
 * file's mode (S_ISVTX: "rw-------T" in ls -l, 1600 in ipcx ls), which
 * only the file's owner can change.  Every attachment holds an OFD read
 * lock on a byte far beyond any region's end (2^62), which the kernel
 * drops when the last descriptor of that attachment closes, at death
 * included; a descriptor passed to another process (ipcx_region_fd()) or
 * inherited across fork() carries the attachment with it.
 */
#define IPCX_REGION_TEMPORARY 0x2u

/* The largest region accepted, in bytes (64 GiB). */
#define IPCX_REGION_SIZE_MAX (64ull << 30)

/*
 * Create named region NAME of SIZE bytes (1 to IPCX_REGION_SIZE_MAX),
 * zero-filled, with permission bits exactly MODE (01 to 0777; the umask does
 * not apply; 0 means 0600).  The region appears in the namespace fully
 * initialised or not at all.  Creating does not attach: call
 * ipcx_region_attach() to map it.
 * Errors: -EINVAL (bad name, size or mode), -EEXIST (name taken), -EACCES
 * (the namespace refuses us), -ENOSPC, -ENOMEM.  On failure nothing is
 * created.  A name held by a dead temporary region (IPCX_REGION_TEMPORARY,
 * nobody attached) is not taken: that region is removed and ours created.
 */
IPCX_API int ipcx_region_create(const char *name, size_t size, uint32_t mode);

/*
 * Create named region NAME as ipcx_region_create() does and attach it
 * read-write in the same step: *OUT is a handle to free with
 * ipcx_region_detach().  FLAGS is 0 or IPCX_REGION_TEMPORARY; a
 * temporary region is attached by its creator before its name appears,
 * so it is never seen unattached while the creator lives.  A name held by
 * a temporary region that nobody has attached any more is reclaimed (here
 * and in ipcx_region_create()): the old region goes, ours takes the name.
 * Errors: those of ipcx_region_create() and of ipcx_region_attach(), and
 * -EINVAL for unknown flags.  On failure nothing is created and *out is
 * untouched.
 */
IPCX_API int ipcx_region_create_attach(const char *name, size_t size,
                                       uint32_t mode, unsigned flags,
                                       ipcx_region **out);

/*
 * 1 if R is a named region created IPCX_REGION_TEMPORARY, else 0 (also
 * for NULL and anonymous regions).
 */
IPCX_API int ipcx_region_is_temporary(const ipcx_region *r);

/*
 * Attach named region NAME: open its file (read-write, or read-only with
 * IPCX_REGION_RDONLY, the only flag) and map the whole of it, shared.  The
 * open is the permission check: a mode that refuses us gives -EACCES.  On
 * success *out is a new handle the caller frees with ipcx_region_detach().
 * Errors: -EINVAL (bad name or flags, NULL OUT), -ENOENT, -EACCES, -EPROTO
 * (not a regular file, a symlink, or of size 0 or above
 * IPCX_REGION_SIZE_MAX), -ENOMEM, -EMFILE.  On failure *out is untouched
 * and nothing stays open or mapped.  Attaching a temporary region takes
 * its liveness lock (IPCX_REGION_TEMPORARY); if ipcx_gc() is removing it
 * at that moment, the answer is -ENOENT, and -EBUSY if someone else holds
 * a write lock on its lock byte for more than a second.
 */
IPCX_API int ipcx_region_attach(const char *name, unsigned flags,
                                ipcx_region **out);

/*
 * Unmap the region and close its fd; frees R.  The region itself lives on
 * (a named one until destroyed, an anonymous one while any process maps it
 * or holds an fd).  NULL is a no-op.  Returns 0, or -EBADF for a handle
 * already detached or not a region.
 */
IPCX_API int ipcx_region_detach(ipcx_region *r);

/*
 * Remove NAME from the namespace.  Handles already attached keep their
 * mappings, which go on working (and sharing data) until detached; the
 * memory is freed with the last one.  The name is free again at once.
 * Allowed to the file's owner and to whoever may open it for writing,
 * provided the namespace directory lets them remove files.
 * Errors: -EINVAL, -ENOENT, -EACCES, -EPERM, -EPROTO (a directory at the
 * name: remove it by hand).
 */
IPCX_API int ipcx_region_destroy(const char *name);

/* The first byte of R's mapping (NULL if R is NULL). */
IPCX_API void *ipcx_region_addr(const ipcx_region *r);

/* R's size in bytes, as it was when mapped (0 if R is NULL). */
IPCX_API size_t ipcx_region_size(const ipcx_region *r);

/*
 * Call FN once for each named region in the namespace, in no particular
 * order.  If FN returns non-zero, the walk stops and that value is returned.
 * Returns 0 after a full walk, -EINVAL if FN is NULL, or a negative errno if
 * the namespace cannot be read.
 */
IPCX_API int ipcx_region_list(int (*fn)(const char *name, void *arg),
                              void *arg);

/*
 * Create an anonymous region of SIZE bytes (1 to IPCX_REGION_SIZE_MAX),
 * zero-filled, and map it read-write.  It has no name: hand
 * ipcx_region_fd() to a peer to share it.  On success *out is a new handle
 * the caller frees with ipcx_region_detach().
 * Errors: -EINVAL (size, NULL OUT), -ENOMEM, -EMFILE, -ENOSPC.  On failure
 * *out is untouched and nothing stays open or mapped.
 */
IPCX_API int ipcx_region_create_anon(size_t size, ipcx_region **out);

/*
 * Seal R for its readers: add F_SEAL_FUTURE_WRITE, F_SEAL_SHRINK,
 * F_SEAL_GROW and F_SEAL_SEAL to its memfd.  From then on nobody can map it
 * writable (mmap answers EPERM), write(2) it, or change its size, and the
 * seals cannot be removed; mappings that were writable before, such as the
 * creator's, stay writable, so the creator can go on publishing.
 * Sealing a sealed region again answers 0.
 * Errors: -EINVAL (NULL), -ENOTSUP (a named region: only memfds take seals;
 * to publish read-only by name, create it with a mode such as 0640 and let
 * readers attach with IPCX_REGION_RDONLY), -EPERM (this memfd does not
 * allow sealing, or its fd is read-only).
 */
IPCX_API int ipcx_region_seal(ipcx_region *r);

/*
 * 1 if R's memory is write-sealed (F_SEAL_FUTURE_WRITE or F_SEAL_WRITE, as
 * the kernel reports now), else 0 (also for NULL and named regions).
 */
IPCX_API int ipcx_region_is_sealed(const ipcx_region *r);

/*
 * R's fd, to pass to a peer (SCM_RIGHTS).  Borrowed: R still owns it and
 * closes it on detach, so do not close it; dup() it to keep a copy.
 * Returns the fd, -EINVAL if R is NULL, or -EBADF for a closed handle.
 */
IPCX_API int ipcx_region_fd(const ipcx_region *r);

/*
 * Adopt FD, a region's fd received from a peer, and map it shared.
 * Ownership of FD passes to ipcx in every case: on success the new handle
 * *out owns it (and sets FD_CLOEXEC on it), on failure it is closed.  The
 * one exception is an FD that is not open at all (-EBADF): nothing is
 * closed then, since the number may already belong to someone else.
 *
 * The fd is untrusted: it must be a regular file on a shared-memory
 * filesystem (a memfd, or a named region's file in a tmpfs namespace),
 * opened for reading, of size 1 to IPCX_REGION_SIZE_MAX.  The mapping is
 * read-only if FLAGS has IPCX_REGION_RDONLY or if the region is sealed
 * (ipcx_region_is_sealed() then answers 1); otherwise read-write.
 * Errors: -EBADF (FD not open, or an O_PATH fd), -EINVAL (bad flags, NULL
 * OUT), -EPROTO (not a regular shared-memory file, or a bad size), -EACCES
 * (a read-write mapping asked of a read-only fd, or an fd not open for
 * reading), -EPERM (the region was sealed while we mapped it writable),
 * -ENOMEM.  On failure *out is untouched.
 */
IPCX_API int ipcx_region_from_fd(int fd, unsigned flags, ipcx_region **out);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_REGION_H */
