/* ns.h - internal: the namespace directory and object file names. */
#ifndef IPCX_NS_NS_H
#define IPCX_NS_NS_H

#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest object file name: a name plus a type suffix such as ".mbox". */
#define IPCX__FILE_MAX (200 + 16)

/*
 * Open the namespace directory (creating it if missing) as an O_DIRECTORY
 * fd.  Returns the fd or a negative errno with the detail recorded.
 */
int ipcx__ns_open(void);

/*
 * Check NAME and write NAME+SUFFIX to OUT (IPCX__FILE_MAX + 1 bytes).
 * WHAT names the object kind for the error message ("mailbox").
 */
int ipcx__ns_file(const char *name, const char *suffix, const char *what,
                  char *out);

/*
 * An unnamed file in namespace DFD, opened O_RDWR with mode 0600: O_TMPFILE
 * where the filesystem has it, else a dot-name (never a valid object name)
 * written to TMP (TMPLEN bytes; "" for O_TMPFILE).  Returns the fd or a
 * negative errno.  ipcx__ns_link() names it once it is complete.
 */
int ipcx__ns_tmpfile(int dfd, char *tmp, size_t tmplen);

/* Give the finished file FD (from ipcx__ns_tmpfile(), TMP) the name FNAME;
 * -EEXIST if taken: linkat never replaces a name, so of two creators only
 * one succeeds.  Removes TMP either way. */
int ipcx__ns_link(int dfd, int fd, const char *tmp, const char *fname);

/* ipcx__ns_link() that leaves TMP in place, for a caller that may try
 * again after -EEXIST; it removes TMP itself (if TMP is not ""). */
int ipcx__ns_link_try(int dfd, int fd, const char *tmp, const char *fname);

/*
 * Call FN(name, ARG) for each file in the namespace ending in SUFFIX whose
 * stem is a valid name.  Stops at FN's first non-zero return, returning it.
 */
int ipcx__ns_list(const char *suffix, int (*fn)(const char *, void *),
                  void *arg);

/*
 * Temporary dot-files, made while an object is built and gone once it is
 * named: ".tmp-PID-SEQ-HEX" (ipcx__ns_tmpfile, regular file), ".sock-PID-HEX"
 * (channel/sock.c, a socket bound before it is renamed into place) and
 * ".gc-PID-HEX" (ns/gc.c, a bell set aside before removal, a FIFO).  PID is
 * the creator's.  If FILE is such a name, store the creator's pid in *PID
 * and the file type it must have (S_IFREG, S_IFSOCK, S_IFIFO) in *TYPE and
 * return 1; else 0.  Nothing else in the namespace has these names: object
 * names never start with '.', and lock and bell files end in ".lock" and
 * ".bell".
 */
int ipcx__ns_temp_name(const char *file, pid_t *pid, unsigned *type);

/*
 * Planted files.  Whoever may write the namespace directory may put any
 * kind of file under an object's name: a FIFO (whose open(2) would block),
 * a symlink (to another object, to /dev/zero, out of the namespace), a
 * directory, a socket.  Files are opened by name with
 * ipcx__ns_open_file(), which never blocks and never follows (sockets:
 * through an O_PATH | O_NOFOLLOW fd checked to be one, channel/sock.c;
 * ns/gc.c looks with lstat first).
 */

/* What a file of mode M is, for messages: "a FIFO", "a symbolic link",
 * "a directory", "a socket", "a device", "a regular file". */
const char *ipcx__ns_kind(mode_t m);

/*
 * Open FNAME in DFD with FLAGS (an access mode, maybe O_CREAT: mode 0600)
 * as a file of type TYPE (S_IFREG, S_IFIFO).  O_NOFOLLOW, O_NONBLOCK and
 * O_NOCTTY are added (O_CLOEXEC always is): a symlink there is not
 * followed, a FIFO does not block the open.  O_NONBLOCK stays set on the
 * fd (for a regular file it changes nothing on Linux).  Returns the fd,
 * or a negative errno: -EPROTO if FNAME is another kind of file (also
 * when that made the open fail: ELOOP, ENXIO, EISDIR), with *KIND (if
 * KIND is not NULL) set to its ipcx__ns_kind().  Records no detail: the
 * caller words the message.
 */
int ipcx__ns_open_file(int dfd, const char *fname, int flags, unsigned type,
                       const char **kind);

/* The directory DFD (O_PATH is fine) opened for reading: the DIR or NULL
 * with errno set; closedir() it. */
DIR *ipcx__ns_opendir(int dfd);

/* ---- cleanup (ns/gc.c); see ipcx_gc() in ipcx/ns.h ---- */

/*
 * The liveness token of a temporary region: every attachment holds an OFD
 * read lock on this byte of the region file (far beyond any region's end,
 * so it never meets a lock the user takes on the data), and a collector
 * holds a write lock on it while it removes the region.
 */
#define IPCX__REGION_TOKEN ((off_t)1 << 62)

/*
 * If region file FNAME in DFD is temporary (S_ISVTX) and nobody holds its
 * token, remove it (DRY: only say so).  Returns 1 removed (would be), 0 not
 * a leftover (absent, permanent, attached, or replaced meanwhile), -EAGAIN
 * if another collector is removing it right now, or another negative
 * errno: could not judge or remove it (-EACCES: not ours to lock).
 */
int ipcx__gc_region(int dfd, const char *fname, int dry);

#endif
