/*
 * test_direct.c - direct communication (M4): inboxes addressed by pid,
 * receive_from(P) and receive_any() with kernel-verified senders.
 */
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include <dirent.h>

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

static int nothing(void *arg)
{
    (void)arg;
    return 0;
}

/* Children learn the parent's pid before it opens its inbox, and wait for
 * the inbox file to exist. */
static pid_t parent;

static void wait_inbox(pid_t pid)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%d.inbox", getenv("IPCX_DIR"), (int)pid);
    for (int i = 0; i < 5000 && access(path, F_OK) != 0; i++) {
        tu_pause_ms(1);
    }
    CHECK(access(path, F_OK) == 0);
}

/* Send N numbered messages "<tag> <i>" to the parent. */
static int sender(void *arg)
{
    const char *tag = arg;
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    wait_inbox(parent);
    for (int i = 0; i < 200; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "%s %d", tag, i);
        CHECK_RC(ipcx_send_to(ib, parent, msg, (size_t)n, IPCX_SEC(10)), 0);
    }
    ipcx_inbox_close(ib);
    return 0;
}

/* receive_any names each sender as the kernel saw it; each sender's
 * messages arrive in order, exactly once, after it has exited too. */
static void test_any_reports_sender(void)
{
    parent = getpid();
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    pid_t a = tu_spawn(sender, "a"), b = tu_spawn(sender, "b");
    int next[2] = {0, 0};
    for (int k = 0; k < 400; k++) {
        char buf[64];
        ipcx_peer from;
        long n = ipcx_receive_any(ib, buf, sizeof buf - 1, &from, IPCX_SEC(10));
        CHECK(n > 0);
        buf[n] = '\0';
        CHECK(from.pid == a || from.pid == b);
        CHECK(from.uid == getuid() && from.gid == getgid());
        int w = from.pid == a ? 0 : 1, i = -1;
        char tag;
        CHECK(sscanf(buf, "%c %d", &tag, &i) == 2);
        CHECK(tag == (w == 0 ? 'a' : 'b')); /* the sender named is real */
        CHECK(i == next[w]);                /* FIFO per sender */
        next[w]++;
    }
    CHECK(tu_wait(a) == 0 && tu_wait(b) == 0);
    CHECK_RC(ipcx_receive_any(ib, NULL, 0, NULL, 0), -EAGAIN);
    ipcx_inbox_close(ib);
}

/* receive_from(P) takes only P's messages; others stay queued. */
static void test_from_selects(void)
{
    parent = getpid();
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    pid_t a = tu_spawn(sender, "a");
    CHECK(tu_wait(a) == 0);
    pid_t b = tu_spawn(sender, "b");
    char buf[64];
    for (int i = 0; i < 200; i++) {
        long n = ipcx_receive_from(ib, b, buf, sizeof buf - 1, IPCX_SEC(10));
        CHECK(n > 0);
        buf[n] = '\0';
        char want[64];
        snprintf(want, sizeof want, "b %d", i);
        CHECK(strcmp(buf, want) == 0);
    }
    CHECK(tu_wait(b) == 0);
    CHECK_RC(ipcx_receive_from(ib, b, buf, sizeof buf, 0), -EAGAIN);
    /* a's 200 are all still there, in order. */
    for (int i = 0; i < 200; i++) {
        long n = ipcx_receive_from(ib, a, buf, sizeof buf - 1, 0);
        CHECK(n > 0);
        buf[n] = '\0';
        char want[64];
        snprintf(want, sizeof want, "a %d", i);
        CHECK(strcmp(buf, want) == 0);
    }
    ipcx_inbox_close(ib);
}

/* Sizes: empty messages, the maximum, -EMSGSIZE leaves it first. */
static void test_sizes(void)
{
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    static char big[IPCX_INBOX_MSG_MAX + 1];
    memset(big, 'x', sizeof big);
    pid_t me = getpid();
    CHECK_RC(ipcx_send_to(ib, me, big, sizeof big, 0), -EMSGSIZE);
    CHECK_RC(ipcx_send_to(ib, me, "", 0, IPCX_SEC(1)), 0);
    CHECK_RC(ipcx_send_to(ib, me, big, IPCX_INBOX_MSG_MAX, IPCX_SEC(1)), 0);
    char small[8];
    ipcx_peer from;
    CHECK_RC(ipcx_receive_any(ib, small, sizeof small, &from, 0), 0);
    CHECK(from.pid == me);
    CHECK_RC(ipcx_receive_any(ib, small, sizeof small, NULL, 0), -EMSGSIZE);
    static char got[IPCX_INBOX_MSG_MAX];
    CHECK_RC(ipcx_receive_from(ib, me, got, sizeof got, 0), IPCX_INBOX_MSG_MAX);
    CHECK(memcmp(got, big, sizeof got) == 0);
    ipcx_inbox_close(ib);
}

/* Errors: no such inbox, one inbox per process, bad arguments, timeouts. */
static void test_errors(void)
{
    ipcx_inbox *ib, *again;
    CHECK_RC(ipcx_inbox_open(01000, &ib), -EINVAL);
    CHECK_RC(ipcx_inbox_open(0, NULL), -EINVAL);
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_inbox_open(0, &again), -EEXIST);
    pid_t dead = tu_spawn(nothing, NULL);
    CHECK(tu_wait(dead) == 0);
    CHECK_RC(ipcx_send_to(ib, dead, "x", 1, 0), -ESRCH);
    CHECK_RC(ipcx_send_to(ib, 0, "x", 1, 0), -EINVAL);
    CHECK_RC(ipcx_send_to(NULL, getpid(), "x", 1, 0), -EINVAL);
    CHECK_RC(ipcx_send_to(ib, getpid(), NULL, 1, 0), -EINVAL);
    CHECK_RC(ipcx_send_to(ib, getpid(), "x", 1, -1), -EINVAL);
    CHECK_RC(ipcx_receive_from(ib, 0, NULL, 0, 0), -EINVAL);
    CHECK_RC(ipcx_receive_any(NULL, NULL, 0, NULL, 0), -EINVAL);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_receive_any(ib, NULL, 0, NULL, IPCX_MSEC(50)), -ETIMEDOUT);
    CHECK(tu_now_ns() - t0 >= 45000000);
    CHECK_RC(ipcx_inbox_close(NULL), 0);
    ipcx_inbox_close(ib);
}

static int die_with_inbox(void *arg)
{
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    int *fd = arg;
    char c = 'r';
    CHECK(write(fd[1], &c, 1) == 1);
    pause(); /* killed */
    return 0;
}

/* A receiver killed with SIGKILL: its stale inbox answers -ESRCH, and a
 * new process may open an inbox under a reused name. */
static void test_dead_receiver(void)
{
    int fd[2];
    CHECK(pipe(fd) == 0);
    pid_t r = tu_spawn(die_with_inbox, fd);
    char c;
    CHECK(read(fd[0], &c, 1) == 1);
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_send_to(ib, r, "hello", 5, 0), 0); /* queued in the link */
    kill(r, SIGKILL);
    CHECK(tu_wait(r) == 128 + SIGKILL);
    CHECK_RC(ipcx_send_to(ib, r, "again", 5, IPCX_SEC(1)), -ESRCH);
    ipcx_inbox_close(ib);
}

/* Many links and close with messages pending leak no descriptors. */
static void test_no_fd_leak(void)
{
    ipcx_inbox *ib;
    int before = count_fds();
    for (int round = 0; round < 200; round++) {
        CHECK_RC(ipcx_inbox_open(0, &ib), 0);
        CHECK_RC(ipcx_send_to(ib, getpid(), "m", 1, 0), 0);
        if (round % 2 == 0) {
            CHECK_RC(ipcx_receive_any(ib, NULL, 0, NULL, 0), -EMSGSIZE);
        }
        ipcx_inbox_close(ib);
    }
    CHECK(count_fds() == before);
}

int main(void)
{
    tu_private_ns();
    TU_RUN(test_any_reports_sender);
    TU_RUN(test_from_selects);
    TU_RUN(test_sizes);
    TU_RUN(test_errors);
    TU_RUN(test_dead_receiver);
    TU_RUN(test_no_fd_leak);
    return tu_failures > 0;
}
