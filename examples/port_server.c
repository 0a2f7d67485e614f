/*
 * port_server.c - a connection-port server (the LPC model).
 *
 *   example_port_server NAME
 *
 * Listens on NAME, accepts one client at a time, refuses clients of other
 * users, and answers each request with its bytes upper-cased.  Stops after
 * a client sends "quit".
 */
#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ipcx/ipcx.h>

/* The server's admission check: the kernel vouches for these ids. */
static int same_user_only(const ipcx_peer *peer, void *arg)
{
    (void)arg;
    fprintf(stderr, "client pid %d uid %u asks to connect\n", (int)peer->pid,
            (unsigned)peer->uid);
    return peer->uid == getuid() ? 0 : -EACCES;
}

/* Serve one channel until the client leaves; 1 if it asked us to quit. */
static int serve(ipcx_channel *ch)
{
    char buf[4096];
    for (;;) {
        ipcx_channel_msg_info info;
        long n = ipcx_channel_recv_ex(ch, buf, sizeof buf, IPCX_FOREVER, &info);
        if (n == -EPIPE) {
            return 0; /* the client closed or died */
        }
        if (n < 0) {
            fprintf(stderr, "recv: %s\n", ipcx_last_error());
            return 0;
        }
        int quit = n == 4 && memcmp(buf, "quit", 4) == 0;
        for (long i = 0; i < n; i++) {
            buf[i] = (char)toupper((unsigned char)buf[i]);
        }
        if (info.token != 0) {
            ipcx_channel_reply(ch, info.token, buf, (size_t)n, IPCX_SEC(1));
        }
        if (quit) {
            return 1;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s NAME\n", argv[0]);
        return 2;
    }
    ipcx_port *port;
    if (ipcx_port_listen(argv[1], NULL, &port) < 0) {
        fprintf(stderr, "listen: %s\n", ipcx_last_error());
        return 1;
    }
    int quit = 0;
    while (!quit) {
        ipcx_channel *ch;
        if (ipcx_port_accept(port, IPCX_FOREVER, same_user_only, NULL, &ch) <
            0) {
            fprintf(stderr, "accept: %s\n", ipcx_last_error());
            break;
        }
        quit = serve(ch);
        ipcx_channel_close(ch);
    }
    ipcx_port_close(port);
    return 0;
}
