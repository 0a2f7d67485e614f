/*
 * direct_pair.c - direct communication: two processes address each other
 * by pid (the seeds' send(P, message) / receive(Q, message)).
 *
 *   example_direct_pair
 *
 * The parent opens its inbox and forks; the child sends "ping" to the
 * parent's pid; the parent's receive_any() learns the child's pid from the
 * kernel and answers "pong" with send_to(); the child waits with
 * receive_from(parent).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipcx/ipcx.h>

static int child(pid_t parent)
{
    ipcx_inbox *ib;
    char buf[64];
    if (ipcx_inbox_open(0, &ib) < 0 ||
        ipcx_send_to(ib, parent, "ping", 4, IPCX_SEC(5)) < 0) {
        fprintf(stderr, "child: %s\n", ipcx_last_error());
        return 1;
    }
    long n = ipcx_receive_from(ib, parent, buf, sizeof buf, IPCX_SEC(5));
    if (n < 0) {
        fprintf(stderr, "child: %s\n", ipcx_last_error());
        return 1;
    }
    printf("child %d got '%.*s' from its parent %d\n", (int)getpid(), (int)n,
           buf, (int)parent);
    fflush(stdout); /* we leave with _exit() */
    ipcx_inbox_close(ib);
    return 0;
}

int main(void)
{
    ipcx_inbox *ib;
    if (ipcx_inbox_open(0, &ib) < 0) {
        fprintf(stderr, "inbox: %s\n", ipcx_last_error());
        return 1;
    }
    pid_t parent = getpid();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        _exit(child(parent)); /* the child opens its own inbox */
    }
    char buf[64];
    ipcx_peer from;
    long n = ipcx_receive_any(ib, buf, sizeof buf, &from, IPCX_SEC(5));
    if (n < 0) {
        fprintf(stderr, "parent: %s\n", ipcx_last_error());
        return 1;
    }
    printf("parent got '%.*s' from pid %d uid %u (the kernel says so)\n",
           (int)n, buf, (int)from.pid, (unsigned)from.uid);
    ipcx_send_to(ib, from.pid, "pong", 4, IPCX_SEC(5));
    int status;
    waitpid(pid, &status, 0);
    ipcx_inbox_close(ib);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
