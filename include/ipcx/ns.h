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

#ifdef __cplusplus
}
#endif

#endif /* IPCX_NS_H */
