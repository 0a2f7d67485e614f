/*
 * port_client.c - a client of example_port_server.
 *
 *   example_port_client NAME MESSAGE...
 *
 * Connects to NAME and makes one call per MESSAGE (msg_rpc: each waits for
 * its own reply), printing the replies.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ipcx/ipcx.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME MESSAGE...\n", argv[0]);
        return 2;
    }
    ipcx_channel *ch;
    if (ipcx_connect(argv[1], IPCX_SEC(5), &ch) < 0) {
        fprintf(stderr, "connect: %s\n", ipcx_last_error());
        return 1;
    }
    ipcx_peer server;
    ipcx_channel_peer(ch, &server);
    printf("connected to pid %d (uid %u)\n", (int)server.pid,
           (unsigned)server.uid);
    for (int i = 2; i < argc; i++) {
        char reply[4096];
        long n = ipcx_call(ch, argv[i], strlen(argv[i]), reply, sizeof reply,
                           IPCX_SEC(5));
        if (n < 0) {
            fprintf(stderr, "call: %s\n", ipcx_last_error());
            ipcx_channel_close(ch);
            return 1;
        }
        printf("%.*s\n", (int)n, reply);
    }
    ipcx_channel_close(ch);
    return 0;
}
