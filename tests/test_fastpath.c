/*
 * test_fastpath.c - a send that finds room and a receive that finds a
 * message make no system call at all.  The child enters seccomp strict
 * mode, where any system call but read, write, _exit and sigreturn kills it
 * with SIGKILL, and then sends and receives; it survives only if the fast
 * path stayed in user space (no futex, and no clock read either).
 */
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testutil.h"

#define ROUNDS 1000

/* Rounds of three pairs of sends (non-blocking and blocking) and then six
 * receives (likewise): room and messages are always there. */
static int exercise(ipcx_mailbox *tx, ipcx_mailbox *rx, int rounds)
{
    char buf[64];
    int bad = 0;
    for (int i = 0; i < rounds; i++) {
        for (int k = 0; k < 3; k++) {
            bad |= ipcx_mailbox_send(tx, "0123456789", 10, 0) != 0;
            bad |= ipcx_mailbox_send(tx, "x", 1, IPCX_FOREVER) != 0;
        }
        for (int k = 0; k < 6; k++) {
            long n = ipcx_mailbox_recv(rx, buf, sizeof buf,
                                       k % 2 ? IPCX_FOREVER : 0);
            bad |= n != (k % 2 ? 1 : 10);
        }
    }
    return bad;
}

static int strict_child(void *arg)
{
    const char *name = arg;
    ipcx_mailbox *tx = tu_open(name);
    ipcx_mailbox *rx = tu_open(name);
    /* Warm up: an unbounded mailbox grows its file (fallocate, the slow
     * path) until its pool of segments covers the traffic pattern. */
    if (exercise(tx, rx, 200) != 0) {
        return 1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) {
        return 77;
    }
    int bad = exercise(tx, rx, ROUNDS);
    /* exit_group is not allowed in strict mode; plain exit is. */
    syscall(SYS_exit, bad ? 1 : 0);
    return 1;
}

static void run(const char *name, uint32_t capacity)
{
    ipcx_mailbox_attr a = tu_attr(capacity, 64);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    int rc = tu_wait(tu_spawn(strict_child, (void *)name));
    if (rc == 77) {
        fprintf(stderr, "seccomp strict mode unavailable: skipped\n");
        exit(77);
    }
    if (rc == 128 + 9) {
        fprintf(stderr, "%s: the fast path made a system call\n", name);
    }
    CHECK(rc == 0);
    CHECK_RC(ipcx_mailbox_destroy(name), 0);
}

int main(void)
{
    tu_private_ns();
    run("bounded", 8);
    run("unbounded", IPCX_UNBOUNDED);
    return 0;
}
