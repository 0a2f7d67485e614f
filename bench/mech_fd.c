/*
 * mech_fd.c - the file-descriptor mechanisms: pipe, Unix stream and
 * seqpacket sockets, TCP over loopback.
 *
 * Pipes, stream sockets and TCP are byte streams: a message is exactly
 * cfg->size bytes, written and read in full.  Seqpacket keeps boundaries:
 * one send, one receive.  All descriptors are blocking.  Buffer sizes are
 * the kernel's defaults (what a user gets), except where a seqpacket
 * message would not fit at all.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

enum fd_kind { FD_PIPE, FD_STREAM, FD_SEQPACKET, FD_TCP };

struct fd_shared {
    enum fd_kind kind;
    int fds[4]; /* pipes: a->b read, write, b->a read, write; pairs: 2 */
    int listen_fd;
    struct sockaddr_in addr;
};

struct fd_end {
    int rfd, wfd;
    int own; /* TCP: rfd == wfd is this end's own socket */
    enum fd_kind kind;
};

static struct fd_shared *new_shared(enum fd_kind kind)
{
    struct fd_shared *sh = calloc(1, sizeof *sh);
    if (sh != NULL) {
        sh->kind = kind;
        sh->listen_fd = -1;
        for (int i = 0; i < 4; i++) {
            sh->fds[i] = -1;
        }
    }
    return sh;
}

static void close_shared(struct fd_shared *sh)
{
    for (int i = 0; i < 4; i++) {
        if (sh->fds[i] >= 0) {
            close(sh->fds[i]);
        }
    }
    if (sh->listen_fd >= 0) {
        close(sh->listen_fd);
    }
    free(sh);
}

/* ---- pipe ---- */

static int pipe_setup(const struct bench_cfg *cfg, void **shared)
{
    struct fd_shared *sh = new_shared(FD_PIPE);
    if (sh == NULL) {
        return -ENOMEM;
    }
    int rc = pipe(sh->fds);
    if (rc == 0 && cfg->kind == BK_PINGPONG) {
        rc = pipe(sh->fds + 2);
    }
    if (rc < 0) {
        rc = -errno;
        close_shared(sh);
        return rc;
    }
    *shared = sh;
    return 0;
}

static const char *pipe_unsupported(const struct bench_cfg *cfg)
{
    if (cfg->kind == BK_FANIN && cfg->size > PIPE_BUF) {
        return "writes above PIPE_BUF are not atomic";
    }
    return NULL;
}

/* ---- socket pairs ---- */

static int pair_setup(const struct bench_cfg *cfg, void **shared, int type,
                      enum fd_kind kind)
{
    struct fd_shared *sh = new_shared(kind);
    if (sh == NULL) {
        return -ENOMEM;
    }
    if (socketpair(AF_UNIX, type, 0, sh->fds) < 0) {
        int rc = -errno;
        close_shared(sh);
        return rc;
    }
    /* A seqpacket message must fit the send buffer whole. */
    int sz = (int)cfg->size + 65536;
    if (kind == FD_SEQPACKET && cfg->size > 65536) {
        for (int i = 0; i < 2; i++) {
            setsockopt(sh->fds[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        }
    }
    *shared = sh;
    return 0;
}

static int stream_setup(const struct bench_cfg *cfg, void **shared)
{
    return pair_setup(cfg, shared, SOCK_STREAM, FD_STREAM);
}

static int seqpacket_setup(const struct bench_cfg *cfg, void **shared)
{
    return pair_setup(cfg, shared, SOCK_SEQPACKET, FD_SEQPACKET);
}

static long read_sysctl(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1) {
            v = -1;
        }
        fclose(f);
    }
    return v;
}

static const char *seqpacket_unsupported(const struct bench_cfg *cfg)
{
    long max = read_sysctl("/proc/sys/net/core/wmem_max");
    if (cfg->size > 65536 && (long)cfg->size + 65536 > max) {
        return "message above net.core.wmem_max";
    }
    return NULL;
}

/* ---- TCP loopback ---- */

static int tcp_setup(const struct bench_cfg *cfg, void **shared)
{
    struct fd_shared *sh = new_shared(FD_TCP);
    if (sh == NULL) {
        return -ENOMEM;
    }
    socklen_t len = sizeof sh->addr;
    sh->addr.sin_family = AF_INET;
    sh->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sh->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (sh->listen_fd < 0 ||
        bind(sh->listen_fd, (struct sockaddr *)&sh->addr, len) < 0 ||
        listen(sh->listen_fd, 4) < 0 ||
        getsockname(sh->listen_fd, (struct sockaddr *)&sh->addr, &len) < 0) {
        int rc = -errno;
        close_shared(sh);
        return rc;
    }
    *shared = sh;
    return 0;
}

static int tcp_connect(struct fd_shared *sh, int role)
{
    int fd;
    if (role == ROLE_B) {
        fd = accept(sh->listen_fd, NULL, NULL);
    } else {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 &&
            connect(fd, (struct sockaddr *)&sh->addr, sizeof sh->addr) < 0) {
            close(fd);
            fd = -1;
        }
    }
    int one = 1;
    if (fd >= 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* ---- common ---- */

static int fd_open(void *shared, const struct bench_cfg *cfg, int role,
                   int index, void **end)
{
    struct fd_shared *sh = shared;
    struct fd_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    e->kind = sh->kind;
    if (sh->kind == FD_PIPE) {
        int two = sh->fds[2] >= 0;
        e->wfd = role == ROLE_A ? sh->fds[1] : (two ? sh->fds[3] : -1);
        e->rfd = role == ROLE_B ? sh->fds[0] : (two ? sh->fds[2] : -1);
    } else if (sh->kind == FD_TCP) {
        e->rfd = e->wfd = tcp_connect(sh, role);
        e->own = 1;
    } else {
        e->rfd = e->wfd = sh->fds[role == ROLE_A ? 0 : 1];
    }
    if (e->own && e->rfd < 0) {
        int rc = -errno;
        free(e);
        return rc;
    }
    *end = e;
    return 0;
}

static int fd_send(void *end, const void *buf, size_t len)
{
    struct fd_end *e = end;
    if (e->kind != FD_SEQPACKET) {
        return write_full(e->wfd, buf, len);
    }
    for (;;) {
        ssize_t n = send(e->wfd, buf, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len) {
            return 0;
        }
        if (n >= 0 || errno != EINTR) {
            return n < 0 ? -errno : -EIO;
        }
    }
}

static long fd_recv(void *end, void *buf, size_t cap)
{
    struct fd_end *e = end;
    if (e->kind != FD_SEQPACKET) {
        int rc = read_full(e->rfd, buf, cap);
        return rc < 0 ? rc : (long)cap;
    }
    for (;;) {
        ssize_t n = recv(e->rfd, buf, cap, 0);
        if (n >= 0) {
            return n == 0 ? -EPIPE : (long)n;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static void fd_close(void *end)
{
    struct fd_end *e = end;
    if (e->own) {
        close(e->rfd);
    }
    free(e);
}

static void fd_teardown(void *shared)
{
    close_shared(shared);
}

const struct mech mech_pipe = {
    .name = "pipe",
    .label = "pipe",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN | BK_IDLE,
    .unsupported = pipe_unsupported,
    .setup = pipe_setup,
    .open = fd_open,
    .send = fd_send,
    .recv = fd_recv,
    .close = fd_close,
    .teardown = fd_teardown,
};

const struct mech mech_ustream = {
    .name = "unix-stream",
    .label = "Unix stream socket",
    .kinds = BK_PINGPONG | BK_STREAM | BK_IDLE,
    .setup = stream_setup,
    .open = fd_open,
    .send = fd_send,
    .recv = fd_recv,
    .close = fd_close,
    .teardown = fd_teardown,
};

const struct mech mech_useqpacket = {
    .name = "unix-seqpacket",
    .label = "Unix seqpacket socket",
    .kinds = BK_PINGPONG | BK_STREAM | BK_IDLE,
    .unsupported = seqpacket_unsupported,
    .setup = seqpacket_setup,
    .open = fd_open,
    .send = fd_send,
    .recv = fd_recv,
    .close = fd_close,
    .teardown = fd_teardown,
};

const struct mech mech_tcp = {
    .name = "tcp",
    .label = "TCP loopback (TCP_NODELAY)",
    .kinds = BK_PINGPONG | BK_STREAM | BK_IDLE,
    .setup = tcp_setup,
    .open = fd_open,
    .send = fd_send,
    .recv = fd_recv,
    .close = fd_close,
    .teardown = fd_teardown,
};
