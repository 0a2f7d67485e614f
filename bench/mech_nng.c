/*
 * mech_nng.c - NNG over ipc://.  Ping-pong uses pair0; streams, fan-in and
 * the idle test push0/pull0.  The receiver listens; senders dial, again
 * every millisecond until the listener is there.  NNG reports its own
 * error codes: they are printed here and returned as -EIO.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "bench.h"

#define QUEUE_DEPTH 64
#define DIAL_TRIES  10000 /* of 1 ms */

struct ng_shared {
    char path[128];
    char url[160];
};

struct ng_end {
    nng_socket sock;
};

static int ng_fail(const char *what, int err)
{
    fprintf(stderr, "bench: nng %s: %s\n", what, nng_strerror(err));
    return -EIO;
}

static int ng_setup(const struct bench_cfg *cfg, void **shared)
{
    struct ng_shared *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        return -ENOMEM;
    }
    char name[96];
    run_name(name, sizeof name, cfg, "nng");
    snprintf(sh->path, sizeof sh->path, "/tmp/%s", name);
    snprintf(sh->url, sizeof sh->url, "ipc://%s", sh->path);
    *shared = sh;
    return 0;
}

static int open_socket(const struct bench_cfg *cfg, int role, nng_socket *s)
{
    if (cfg->kind == BK_PINGPONG) {
        return nng_pair0_open(s);
    }
    return role == ROLE_A ? nng_push0_open(s) : nng_pull0_open(s);
}

/* Dial until the listener is there, so the run starts connected. */
static int dial(nng_socket sock, const char *url)
{
    int rv = NNG_ECONNREFUSED;
    for (int i = 0; i < DIAL_TRIES && rv == NNG_ECONNREFUSED; i++) {
        rv = nng_dial(sock, url, NULL, 0);
        if (rv == NNG_ECONNREFUSED || rv == NNG_ENOENT) {
            rv = NNG_ECONNREFUSED;
            usleep(1000);
        }
    }
    return rv;
}

static int ng_open_end(void *shared, const struct bench_cfg *cfg, int role,
                       int index, void **end)
{
    struct ng_shared *sh = shared;
    struct ng_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    int rv = open_socket(cfg, role, &e->sock);
    if (rv == 0) {
        /* Queue up to 64 messages each side, as a 64-slot mailbox does
         * (NNG's default is none: every send waits for the receiver). */
        nng_socket_set_int(e->sock, NNG_OPT_SENDBUF, QUEUE_DEPTH);
        nng_socket_set_int(e->sock, NNG_OPT_RECVBUF, QUEUE_DEPTH);
    }
    if (rv == 0 && role == ROLE_B) {
        rv = nng_listen(e->sock, sh->url, NULL, 0);
    } else if (rv == 0) {
        rv = dial(e->sock, sh->url);
    }
    if (rv != 0) {
        free(e);
        return ng_fail("open", rv);
    }
    *end = e;
    return 0;
}

static int ng_send_msg(void *end, const void *buf, size_t len)
{
    struct ng_end *e = end;
    int rv = nng_send(e->sock, (void *)buf, len, 0);
    return rv == 0 ? 0 : ng_fail("send", rv);
}

static long ng_recv_msg(void *end, void *buf, size_t cap)
{
    struct ng_end *e = end;
    size_t n = cap;
    int rv = nng_recv(e->sock, buf, &n, 0);
    return rv == 0 ? (long)n : ng_fail("recv", rv);
}

static void ng_close_end(void *end)
{
    struct ng_end *e = end;
    nng_close(e->sock);
    free(e);
}

static void ng_teardown(void *shared)
{
    struct ng_shared *sh = shared;
    unlink(sh->path);
    free(sh);
}

const struct mech mech_nng = {
    .name = "nng",
    .label = "NNG ipc:// (pair0; push0/pull0)",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN | BK_IDLE,
    .setup = ng_setup,
    .open = ng_open_end,
    .send = ng_send_msg,
    .recv = ng_recv_msg,
    .close = ng_close_end,
    .teardown = ng_teardown,
};
