/* ns.h - internal: the namespace directory and object file names. */
#ifndef IPCX_NS_NS_H
#define IPCX_NS_NS_H

#include <limits.h>
#include <stddef.h>

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

/*
 * Call FN(name, ARG) for each file in the namespace ending in SUFFIX whose
 * stem is a valid name.  Stops at FN's first non-zero return, returning it.
 */
int ipcx__ns_list(const char *suffix, int (*fn)(const char *, void *),
                  void *arg);

#endif
