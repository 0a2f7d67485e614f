/*
 * port_rights.c - Mach-style ports: an anonymous mailbox whose send right
 * is handed to a client over a channel, and one ipcx_poll() waiting on the
 * mailbox and the channel together.
 *
 *   example_port_rights
 *
 * The parent listens on connection port "rights-demo" and forks a client.
 * The parent allocates a mailbox nobody can name (ipcx_mailbox_allocate),
 * sends the client its send right, and then serves both: requests arrive
 * on the channel, reports on the private mailbox.  The client sends three
 * reports and one request, then hangs up, which the parent's poll sees.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipcx/ipcx.h>

#define PORT "rights-demo"

static int fail(const char *who)
{
    fprintf(stderr, "%s: %s\n", who, ipcx_last_error());
    return 1;
}

static int client(void)
{
    ipcx_channel *ch;
    ipcx_mailbox *reports;
    char reply[64];
    if (ipcx_connect(PORT, IPCX_SEC(5), &ch) < 0 ||
        ipcx_channel_recv_mailbox(ch, &reports, IPCX_SEC(5)) < 0) {
        return fail("client");
    }
    printf("client: got a mailbox with rights 0x%x (send only)\n",
           ipcx_mailbox_rights(reports));
    for (int i = 1; i <= 3; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "report %d", i);
        if (ipcx_mailbox_send(reports, msg, (size_t)n, IPCX_SEC(5)) < 0) {
            return fail("client send");
        }
    }
    long n = ipcx_call(ch, "status?", 7, reply, sizeof reply, IPCX_SEC(5));
    if (n < 0) {
        return fail("client call");
    }
    printf("client: reply '%.*s'\n", (int)n, reply);
    fflush(stdout); /* we leave with _exit() */
    ipcx_mailbox_close(reports);
    ipcx_channel_close(ch);
    return 0;
}

/* Serve until the client hangs up. */
static int serve(ipcx_channel *ch, ipcx_mailbox *reports)
{
    ipcx_pollitem items[2] = {ipcx_poll_mailbox(reports),
                              ipcx_poll_channel(ch)};
    int reports_seen = 0;
    for (;;) {
        char buf[256];
        if (ipcx_poll(items, 2, IPCX_SEC(5)) < 0) {
            return fail("poll");
        }
        long n;
        while ((n = ipcx_mailbox_recv(reports, buf, sizeof buf, 0)) >= 0) {
            printf("server: mailbox: '%.*s'\n", (int)n, buf);
            reports_seen++;
        }
        ipcx_channel_msg_info info;
        while ((n = ipcx_channel_recv_ex(ch, buf, sizeof buf, 0, &info)) >= 0) {
            char reply[64];
            int len = snprintf(reply, sizeof reply, "%d reports so far",
                               reports_seen);
            printf("server: channel: '%.*s'\n", (int)n, buf);
            if (info.token != 0 &&
                ipcx_channel_reply(ch, info.token, reply, (size_t)len,
                                   IPCX_SEC(5)) < 0) {
                return fail("reply");
            }
        }
        if (n == -EPIPE) {
            printf("server: the client hung up\n");
            return 0;
        }
    }
}

int main(void)
{
    ipcx_port *port;
    ipcx_channel *ch;
    ipcx_mailbox *reports;
    if (ipcx_port_listen(PORT, NULL, &port) < 0) {
        return fail("listen");
    }
    pid_t pid = fork();
    if (pid == 0) {
        _exit(client());
    }
    int rc = 1;
    if (ipcx_port_accept(port, IPCX_SEC(5), NULL, NULL, &ch) < 0) {
        fail("accept");
    } else if (ipcx_mailbox_allocate(NULL, &reports) < 0) {
        fail("allocate");
    } else {
        if (ipcx_channel_send_mailbox(ch, reports, IPCX_RIGHT_SEND,
                                      IPCX_SEC(5)) < 0) {
            fail("send right");
        } else {
            rc = serve(ch, reports);
        }
        ipcx_mailbox_close(reports);
    }
    int status;
    waitpid(pid, &status, 0);
    ipcx_port_close(port);
    return rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}
