/*
 * ipcx/common.h - conventions shared by every ipcx module.
 *
 * Errors: every function returns 0 (or a count) on success and a negative
 * errno value on failure (-EINVAL, -EAGAIN, -ETIMEDOUT, -EMSGSIZE, ...).
 * errno itself is never part of the contract.  ipcx_strerror() turns a code
 * into text; ipcx_last_error() gives the calling thread's detailed message for
 * the last failure (for example which character of a name was refused).
 *
 * Out-parameters are written only on success.
 *
 * Handles: a NULL handle answers -EINVAL (closing NULL is a no-op); a
 * handle of another kind, or one already closed, answers -EBADF, also from
 * the close functions.  A closed handle is recognised as such while it is
 * among the process's last 64 closed handles; a pointer closed longer ago
 * is freed memory that no library can check.
 *
 * Timeouts are relative, in nanoseconds: 0 means "do not wait" (the call
 * answers -EAGAIN instead of blocking), IPCX_FOREVER means block until the
 * call can complete, anything in between ends with -ETIMEDOUT.  Negative
 * timeouts are refused with -EINVAL.  Internally every wait runs against an
 * absolute CLOCK_MONOTONIC deadline, so signals and spurious wake-ups never
 * stretch it.
 */
#ifndef IPCX_COMMON_H
#define IPCX_COMMON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(IPCX_BUILDING) && defined(__GNUC__)
#define IPCX_API __attribute__((visibility("default")))
#else
#define IPCX_API
#endif

/* Block without limit. */
#define IPCX_FOREVER INT64_MAX

/* Convenience conversions for timeouts. */
#define IPCX_MSEC(ms) ((int64_t)(ms)*1000000LL)
#define IPCX_SEC(s)   ((int64_t)(s)*1000000000LL)

#define IPCX_VERSION_MAJOR 0
#define IPCX_VERSION_MINOR 1
#define IPCX_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH"; static storage. */
IPCX_API const char *ipcx_version(void);

/*
 * Text for an ipcx return code.  Accepts the negative value an ipcx call
 * returned (or the positive errno).  Never returns NULL; the string is static.
 */
IPCX_API const char *ipcx_strerror(int err);

/* Message size and queue length limits shared by mailboxes and channels. */
#define IPCX_MSG_SIZE_MAX     (64u << 20) /* one message */
#define IPCX_DEFAULT_MSG_SIZE 4096u       /* max_msg_size 0 */
#define IPCX_DEFAULT_CAPACITY 64u         /* messages a queue holds */

/*
 * The calling thread's message for its most recent failed ipcx call, with the
 * detail the code alone cannot carry ("invalid name '../x': '/' is not
 * allowed").  Valid until the thread's next ipcx call; never NULL (an empty
 * string when nothing failed yet).
 */
IPCX_API const char *ipcx_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* IPCX_COMMON_H */
