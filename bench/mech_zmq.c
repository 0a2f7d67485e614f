/*
 * mech_zmq.c - ZeroMQ over ipc:// (a Unix socket underneath, with ZeroMQ's
 * I/O thread on each side).  Ping-pong uses PAIR sockets; streams, fan-in
 * and the idle test PUSH/PULL, whose PUSH blocks at the high-water mark
 * (default 1000) instead of dropping.  The receiver binds, senders connect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"

struct zm_shared {
    char path[128]; /* the socket file */
    char url[160];
};

struct zm_end {
    void *ctx, *sock;
};

static int zm_setup(const struct bench_cfg *cfg, void **shared)
{
    struct zm_shared *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        return -ENOMEM;
    }
    char name[96];
    run_name(name, sizeof name, cfg, "zmq");
    snprintf(sh->path, sizeof sh->path, "/tmp/%s", name);
    snprintf(sh->url, sizeof sh->url, "ipc://%s", sh->path);
    *shared = sh;
    return 0;
}

static int zm_open_end(void *shared, const struct bench_cfg *cfg, int role,
                       int index, void **end)
{
    struct zm_shared *sh = shared;
    struct zm_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    int type = cfg->kind == BK_PINGPONG ? ZMQ_PAIR
               : role == ROLE_A         ? ZMQ_PUSH
                                        : ZMQ_PULL;
    e->ctx = zmq_ctx_new();
    e->sock = e->ctx != NULL ? zmq_socket(e->ctx, type) : NULL;
    /* Retry a connect that came before the bind after 1 ms, not 100. */
    int ivl = 1;
    if (e->sock != NULL) {
        zmq_setsockopt(e->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    }
    int rc = e->sock == NULL  ? -1
             : role == ROLE_B ? zmq_bind(e->sock, sh->url)
                              : zmq_connect(e->sock, sh->url);
    if (rc < 0) {
        rc = -zmq_errno();
        if (e->sock != NULL) {
            zmq_close(e->sock);
        }
        if (e->ctx != NULL) {
            zmq_ctx_term(e->ctx);
        }
        free(e);
        return rc;
    }
    *end = e;
    return 0;
}

static int zm_send_msg(void *end, const void *buf, size_t len)
{
    struct zm_end *e = end;
    while (zmq_send(e->sock, buf, len, 0) < 0) {
        if (zmq_errno() != EINTR) {
            return -zmq_errno();
        }
    }
    return 0;
}

static long zm_recv_msg(void *end, void *buf, size_t cap)
{
    struct zm_end *e = end;
    for (;;) {
        int n = zmq_recv(e->sock, buf, cap, 0);
        if (n >= 0) {
            return n > (int)cap ? -EMSGSIZE : n;
        }
        if (zmq_errno() != EINTR) {
            return -zmq_errno();
        }
    }
}

static void zm_close_end(void *end)
{
    struct zm_end *e = end;
    int zero = 0;
    zmq_setsockopt(e->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(e->sock);
    zmq_ctx_term(e->ctx);
    free(e);
}

static void zm_teardown(void *shared)
{
    struct zm_shared *sh = shared;
    unlink(sh->path);
    free(sh);
}

const struct mech mech_zmq = {
    .name = "zeromq",
    .label = "ZeroMQ ipc:// (PAIR; PUSH/PULL)",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN | BK_IDLE,
    .setup = zm_setup,
    .open = zm_open_end,
    .send = zm_send_msg,
    .recv = zm_recv_msg,
    .close = zm_close_end,
    .teardown = zm_teardown,
};
