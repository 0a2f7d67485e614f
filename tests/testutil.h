/*
 * testutil.h - the little each test needs: checks that report file:line and
 * exit 1, a private namespace per test run, and forking real peers.
 */
#ifndef IPCX_TESTUTIL_H
#define IPCX_TESTUTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <ipcx/ipcx.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Check an ipcx call's return code equals EXPECT (e.g. 0 or -EAGAIN). */
#define CHECK_RC(call, expect)                                                 \
    do {                                                                       \
        long rc_ = (long)(call);                                               \
        long ex_ = (long)(expect);                                             \
        if (rc_ != ex_) {                                                      \
            fprintf(stderr,                                                    \
                    "%s:%d: %s returned %ld (%s), expected %ld (%s)\n",        \
                    __FILE__, __LINE__, #call, rc_, ipcx_strerror((int)rc_),   \
                    ex_, ipcx_strerror((int)ex_));                             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/*
 * Point IPCX_DIR at a fresh private directory under /dev/shm, removed at
 * exit by the process that created it.  Call first in main().
 * Returns the directory path (static storage).
 */
const char *tu_private_ns(void);

/* fork(); in the child run FN(ARG) and _exit with its return value. */
pid_t tu_spawn(int (*fn)(void *), void *arg);

/* waitpid() PID; return its exit code, or 128+signal if killed. */
int tu_wait(pid_t pid);

/* Monotonic clock in nanoseconds. */
long long tu_now_ns(void);

/* Run a shell command; return its exit code (or -1). */
int tu_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
