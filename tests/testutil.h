/*
 * testutil.h - the little each test needs: checks that report file:line and
 * exit 1, a private namespace per test run, forking real peers, a runner
 * for subtests, polling a mailbox's stat, and small mailbox shortcuts.
 */
#ifndef IPCX_TESTUTIL_H
#define IPCX_TESTUTIL_H

#include <errno.h>
#include <stdint.h>
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

/* waitpid() PID for at most SECONDS: its exit code (128+signal if
 * killed), or -1 after killing it because it did not end in time. */
int tu_wait_bounded(pid_t pid, int seconds);

/* Is FD readable right now (poll(2), no waiting)? */
int tu_readable(int fd);

/* Monotonic clock in nanoseconds. */
long long tu_now_ns(void);

/* Run a shell command; return its exit code (or -1). */
int tu_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sleep MS milliseconds (nanosleep; a signal may cut it short). */
void tu_pause_ms(int ms);

/* Sleep US microseconds (nanosleep; a signal may cut it short). */
void tu_pause_us(long us);

/* TU_RUN subtests failed so far; main ends with "return tu_failures > 0". */
extern int tu_failures;

/*
 * Run subtest FN in its own process (tu_spawn), so one failure hides no
 * other; a non-zero exit is reported as "FAILED: NAME" and counted in
 * tu_failures, and the time it took as "-- NAME: N ms".  With
 * IPCX_TEST_ONLY=substring set, only subtests whose name has it run.
 */
void tu_run(const char *name, void (*fn)(void));
#define TU_RUN(fn) tu_run(#fn, fn)

/* Body of TU_WAIT_STAT and TU_WAIT_NAME; WHAT is COND spelt out. */
#define TU_WAIT_(stat_call, cond, what)                                        \
    do {                                                                       \
        int ok_ = 0;                                                           \
        for (int i_ = 0; i_ < 10000 && !ok_; i_++) {                           \
            CHECK_RC(stat_call, 0);                                            \
            if (cond) {                                                        \
                ok_ = 1;                                                       \
            } else {                                                           \
                tu_pause_ms(1);                                                \
            }                                                                  \
        }                                                                      \
        if (!ok_) {                                                            \
            fprintf(stderr, "%s:%d: timed out waiting for %s\n", __FILE__,     \
                    __LINE__, what);                                           \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/*
 * Poll ipcx_mailbox_stat() of handle MB into ST every 1 ms until COND
 * (an expression over ST) holds; fail the test after ~10 s.
 */
#define TU_WAIT_STAT(mb, st, cond)                                             \
    TU_WAIT_(ipcx_mailbox_stat((mb), &(st)), cond, #cond)

/* Like TU_WAIT_STAT, by mailbox NAME (ipcx_mailbox_stat_name()). */
#define TU_WAIT_NAME(name, st, cond)                                           \
    TU_WAIT_(ipcx_mailbox_stat_name((name), &(st)), cond, #cond)

/* Open mailbox NAME (flags 0); the open must succeed with a handle. */
ipcx_mailbox *tu_open(const char *name);

/* The stat of handle MB; ipcx_mailbox_stat() must succeed. */
ipcx_mailbox_info tu_stat(ipcx_mailbox *mb);

/* ipcx_mailbox_attr_init() defaults with CAPACITY and MAX_MSG_SIZE set. */
ipcx_mailbox_attr tu_attr(uint32_t capacity, uint32_t max_msg_size);

/*
 * LEN bytes of zeroed memory shared with the processes forked after this
 * (MAP_SHARED | MAP_ANONYMOUS); release with munmap(P, LEN).
 */
void *tu_shared_map(size_t len);

#endif
