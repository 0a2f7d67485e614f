/*
 * sock.h - internal: Unix sockets as named objects in the namespace, shared
 * by connection ports and inboxes.  A listening socket is bound under a
 * temporary dot-name, given its mode, then renamed into place, so it
 * appears with its final mode or not at all.  Paths go through
 * /proc/self/fd/<dirfd>/..., since a namespace path may be longer than a
 * socket address allows.
 */
#ifndef IPCX_CHANNEL_SOCK_H
#define IPCX_CHANNEL_SOCK_H

#include <stdint.h>
#include <sys/types.h>

/* The socket file a listener created, to remove only its own. */
struct ipcx__sockfile {
    dev_t dev;
    ino_t ino;
};

/* A non-blocking, close-on-exec SOCK_SEQPACKET socket, or -errno. */
int ipcx__sock_new(void);

/* Bind S, listen, and place it as FNAME in DFD with MODE, replacing any
 * file there: the caller has made sure no live listener owns the name. */
int ipcx__sock_listen(int s, int dfd, const char *fname, uint32_t mode,
                      struct ipcx__sockfile *id);

/* Remove FNAME from DFD if it still is the socket file ID. */
void ipcx__sock_unlink(int dfd, const char *fname,
                       const struct ipcx__sockfile *id);

/* Connect S to the socket file FNAME in DFD: 0 or -errno (-EAGAIN: its
 * backlog is full; -ECONNREFUSED: nobody listens). */
int ipcx__sock_connect(int s, int dfd, const char *fname);

#endif
