/*
 * epoll_server.c - one thread serving many channels from an epoll loop.
 *
 *   example_epoll_server NAME REQUESTS
 *
 * Watches the port's descriptor (a client waits to be accepted) and each
 * channel's descriptor (a message may be waiting, or the client left).  On
 * readiness it receives with timeout 0 until -EAGAIN, which re-arms the
 * descriptor.  Echoes every request; exits after REQUESTS answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <ipcx/ipcx.h>

/* Answer everything waiting on CH; -1 once the client is gone. */
static int drain(ipcx_channel *ch, long *answered)
{
    char buf[4096];
    for (;;) {
        ipcx_channel_msg_info info;
        long n = ipcx_channel_recv_ex(ch, buf, sizeof buf, 0, &info);
        if (n == -EAGAIN) {
            return 0;
        }
        if (n < 0) {
            return -1; /* -EPIPE: closed or died */
        }
        if (info.token != 0 &&
            ipcx_channel_reply(ch, info.token, buf, (size_t)n, IPCX_SEC(1)) ==
                0) {
            (*answered)++;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s NAME REQUESTS\n", argv[0]);
        return 2;
    }
    long want = atol(argv[2]), answered = 0;
    ipcx_port *port;
    if (ipcx_port_listen(argv[1], NULL, &port) < 0) {
        fprintf(stderr, "listen: %s\n", ipcx_last_error());
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ipcx_port_fd(port), &ev);
    while (answered < want) {
        struct epoll_event ready[16];
        int n = epoll_wait(ep, ready, 16, -1);
        for (int i = 0; i < n; i++) {
            ipcx_channel *ch = ready[i].data.ptr;
            if (ch == NULL) { /* the port: a new client */
                if (ipcx_port_accept(port, 0, NULL, NULL, &ch) == 0) {
                    struct epoll_event cev = {.events = EPOLLIN,
                                              .data.ptr = ch};
                    epoll_ctl(ep, EPOLL_CTL_ADD, ipcx_channel_fd(ch), &cev);
                    drain(ch, &answered); /* it may have sent already */
                }
            } else if (drain(ch, &answered) < 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, ipcx_channel_fd(ch), NULL);
                ipcx_channel_close(ch);
            }
        }
    }
    printf("answered %ld requests\n", answered);
    close(ep);
    ipcx_port_close(port); /* channels still open are freed at exit */
    return 0;
}
