/*
 * mech_ipcx.c - ipcx mailboxes, through the public API only.
 *
 * Ping-pong uses two bounded mailboxes (A to B, B to A); streams, fan-in and
 * the idle test one.  Every call blocks with IPCX_FOREVER: the waiting
 * (spin, then futex) is the library's, none is written here.
 *
 * Variants: capacity 64 (the default), capacity 1024, and capacity 64 with
 * IPCX_SPIN_NS=0 (sleep at once), the last to show what the spin buys and
 * what it costs when both processes share one CPU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <ipcx/ipcx.h>

#include "bench.h"

struct ipcx_shared {
    char names[2][96]; /* [0] A to B (or the only one), [1] B to A */
    int count;
};

struct ipcx_end {
    ipcx_mailbox *out, *in;
};

static int create_one(const char *name, const struct bench_cfg *cfg,
                      uint32_t capacity)
{
    ipcx_mailbox_attr attr;
    ipcx_mailbox_attr_init(&attr);
    attr.capacity = capacity;
    attr.max_msg_size = (uint32_t)cfg->size;
    return ipcx_mailbox_create(name, &attr);
}

static int setup_cap(const struct bench_cfg *cfg, void **shared,
                     uint32_t capacity)
{
    struct ipcx_shared *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        return -ENOMEM;
    }
    sh->count = cfg->kind == BK_PINGPONG ? 2 : 1;
    run_name(sh->names[0], sizeof sh->names[0], cfg, "ab");
    run_name(sh->names[1], sizeof sh->names[1], cfg, "ba");
    int rc = 0;
    for (int i = 0; i < sh->count && rc == 0; i++) {
        rc = create_one(sh->names[i], cfg, capacity);
    }
    if (rc < 0) {
        for (int i = 0; i < sh->count; i++) {
            ipcx_mailbox_destroy(sh->names[i]);
        }
        free(sh);
        return rc;
    }
    *shared = sh;
    return 0;
}

int ipcx_mech_setup64(const struct bench_cfg *cfg, void **shared)
{
    return setup_cap(cfg, shared, 64);
}

static int setup1024(const struct bench_cfg *cfg, void **shared)
{
    return setup_cap(cfg, shared, 1024);
}

static const char *unsupported1024(const struct bench_cfg *cfg)
{
    return cfg->size > 4096 ? "1024 slots of 1 MiB: 1 GiB of shared memory"
                            : NULL;
}

int ipcx_mech_open(void *shared, const struct bench_cfg *cfg, int role,
                   int index, void **end)
{
    struct ipcx_shared *sh = shared;
    struct ipcx_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    int rc = ipcx_mailbox_open(sh->names[0], 0, &e->out);
    if (rc == 0 && sh->count == 2) {
        rc = ipcx_mailbox_open(sh->names[1], 0, &e->in);
    } else {
        e->in = e->out;
    }
    if (rc == 0 && role == ROLE_B && sh->count == 2) {
        ipcx_mailbox *t = e->in; /* B receives on A-to-B */
        e->in = e->out;
        e->out = t;
    }
    if (rc < 0) {
        ipcx_mailbox_close(e->out);
        free(e);
        return rc;
    }
    *end = e;
    return 0;
}

static int open_nospin(void *shared, const struct bench_cfg *cfg, int role,
                       int index, void **end)
{
    /* Read by the library on this process's first wait. */
    setenv("IPCX_SPIN_NS", "0", 1);
    return ipcx_mech_open(shared, cfg, role, index, end);
}

static int ipcx_send_msg(void *end, const void *buf, size_t len)
{
    struct ipcx_end *e = end;
    return ipcx_mailbox_send(e->out, buf, len, IPCX_FOREVER);
}

static long ipcx_recv_msg(void *end, void *buf, size_t cap)
{
    struct ipcx_end *e = end;
    return ipcx_mailbox_recv(e->in, buf, cap, IPCX_FOREVER);
}

void ipcx_mech_close(void *end)
{
    struct ipcx_end *e = end;
    if (e->in != e->out) {
        ipcx_mailbox_close(e->in);
    }
    ipcx_mailbox_close(e->out);
    free(e);
}

void ipcx_mech_teardown(void *shared)
{
    struct ipcx_shared *sh = shared;
    for (int i = 0; i < sh->count; i++) {
        ipcx_mailbox_destroy(sh->names[i]);
    }
    free(sh);
}

const struct mech mech_ipcx = {
    .name = "ipcx",
    .label = "ipcx mailbox (capacity 64)",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN | BK_IDLE,
    .setup = ipcx_mech_setup64,
    .open = ipcx_mech_open,
    .send = ipcx_send_msg,
    .recv = ipcx_recv_msg,
    .close = ipcx_mech_close,
    .teardown = ipcx_mech_teardown,
};

const struct mech mech_ipcx1024 = {
    .name = "ipcx-1024",
    .label = "ipcx mailbox (capacity 1024)",
    .kinds = BK_STREAM | BK_FANIN,
    .unsupported = unsupported1024,
    .setup = setup1024,
    .open = ipcx_mech_open,
    .send = ipcx_send_msg,
    .recv = ipcx_recv_msg,
    .close = ipcx_mech_close,
    .teardown = ipcx_mech_teardown,
};

const struct mech mech_ipcx_nospin = {
    .name = "ipcx-nospin",
    .label = "ipcx mailbox, IPCX_SPIN_NS=0",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN,
    .setup = ipcx_mech_setup64,
    .open = open_nospin,
    .send = ipcx_send_msg,
    .recv = ipcx_recv_msg,
    .close = ipcx_mech_close,
    .teardown = ipcx_mech_teardown,
};
