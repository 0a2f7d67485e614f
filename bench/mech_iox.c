/*
 * mech_iox.c - Eclipse iceoryx 2.0 through its C binding (Debian's
 * libiceoryx-binding-c-dev), with RouDi started and stopped by bench/run.sh
 * with bench/roudi.toml.  It runs only when run.sh says RouDi is up
 * (IPCX_BENCH_IOX=1): without RouDi a process would wait for it.
 *
 * Publishers block when a subscriber's queue is full (WAIT_FOR_CONSUMER /
 * BLOCK_PRODUCER): no message is dropped, as with every other mechanism
 * here.  A receiver waits in a WaitSet (a futex-like semaphore), so calls
 * block; iceoryx's blocked publisher polls by itself.
 *
 * Two variants:
 *   - "iceoryx": the sender copies the message into a loaned chunk and the
 *     receiver copies it out, the same two copies every other mechanism
 *     makes;
 *   - "iceoryx-zc": true zero copy.  Only the header and trailer words are
 *     written and read (the harness's check); the payload stays in place.
 *     This is the reference for ipcx's zero-copy loans.
 *
 * The C binding does not expose a chunk's payload size; the receiver takes
 * the expected size, and the trailer check catches any mismatch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iceoryx_binding_c/chunk.h>
#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/types.h>
#include <iceoryx_binding_c/wait_set.h>

#include "bench.h"

#define CONNECT_TRIES 10000 /* of 1 ms: how long to wait for the peer */
#define QUEUE_DEPTH   64

struct iox_shared {
    char instance[64]; /* per run; events "ab" and "ba" */
    int zero_copy;
};

struct iox_end {
    iox_pub_storage_t pub_storage;
    iox_sub_storage_t sub_storage;
    iox_ws_storage_t ws_storage;
    iox_pub_t pub;
    iox_sub_t sub;
    iox_ws_t ws;
    int zero_copy;
};

static const char *iox_unsupported(const struct bench_cfg *cfg)
{
    const char *up = getenv("IPCX_BENCH_IOX");
    return up != NULL && strcmp(up, "1") == 0
               ? NULL
               : "RouDi not running (bench/run.sh starts it)";
}

static int setup_variant(const struct bench_cfg *cfg, void **shared, int zc)
{
    struct iox_shared *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        return -ENOMEM;
    }
    snprintf(sh->instance, sizeof sh->instance, "i%d-%u", (int)cfg->owner,
             cfg->serial);
    sh->zero_copy = zc;
    *shared = sh;
    return 0;
}

static int iox_setup_copy(const struct bench_cfg *cfg, void **shared)
{
    return setup_variant(cfg, shared, 0);
}

static int iox_setup_zc(const struct bench_cfg *cfg, void **shared)
{
    return setup_variant(cfg, shared, 1);
}

static void make_pub(struct iox_end *e, const char *inst, const char *ev)
{
    iox_pub_options_t o;
    iox_pub_options_init(&o);
    o.historyCapacity = 0;
    o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
    e->pub = iox_pub_init(&e->pub_storage, "ipcxbench", inst, ev, &o);
}

static void make_sub(struct iox_end *e, const char *inst, const char *ev)
{
    iox_sub_options_t o;
    iox_sub_options_init(&o);
    o.queueCapacity = QUEUE_DEPTH;
    o.historyRequest = 0;
    o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
    e->sub = iox_sub_init(&e->sub_storage, "ipcxbench", inst, ev, &o);
    e->ws = iox_ws_init(&e->ws_storage);
    iox_ws_attach_subscriber_state(e->ws, e->sub, SubscriberState_HAS_DATA, 0,
                                   NULL);
}

/* Wait until RouDi has connected our ports to the peer's. */
static int wait_connected(struct iox_end *e)
{
    for (int i = 0; i < CONNECT_TRIES; i++) {
        int pub_ok = e->pub == NULL || iox_pub_has_subscribers(e->pub);
        int sub_ok = e->sub == NULL || iox_sub_get_subscription_state(e->sub) ==
                                           SubscribeState_SUBSCRIBED;
        if (pub_ok && sub_ok) {
            return 0;
        }
        usleep(1000);
    }
    return -ETIMEDOUT;
}

static int iox_open_end(void *shared, const struct bench_cfg *cfg, int role,
                        int index, void **end)
{
    struct iox_shared *sh = shared;
    struct iox_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    char rt[64];
    snprintf(rt, sizeof rt, "ipcxb-%d", (int)getpid());
    iox_set_loglevel(Iceoryx_LogLevel_Warn);
    iox_runtime_init(rt);
    e->zero_copy = sh->zero_copy;
    int two_way = cfg->kind == BK_PINGPONG;
    if (role == ROLE_A || two_way) {
        make_pub(e, sh->instance, role == ROLE_A ? "ab" : "ba");
    }
    if (role == ROLE_B || two_way) {
        make_sub(e, sh->instance, role == ROLE_A ? "ba" : "ab");
    }
    *end = e;
    return wait_connected(e);
}

static int iox_send_msg(void *end, const void *buf, size_t len)
{
    struct iox_end *e = end;
    void *chunk;
    if (iox_pub_loan_chunk(e->pub, &chunk, (uint32_t)len) !=
        AllocationResult_SUCCESS) {
        return -ENOBUFS;
    }
    if (e->zero_copy) {
        memcpy(chunk, buf, 16); /* header: seq, sender, magic */
        memcpy((char *)chunk + len - 8, (const char *)buf + len - 8, 8);
    } else {
        memcpy(chunk, buf, len);
    }
    iox_pub_publish_chunk(e->pub, chunk);
    return 0;
}

static long iox_recv_msg(void *end, void *buf, size_t cap)
{
    struct iox_end *e = end;
    const void *chunk;
    for (;;) {
        enum iox_ChunkReceiveResult r = iox_sub_take_chunk(e->sub, &chunk);
        if (r == ChunkReceiveResult_SUCCESS) {
            break;
        }
        if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE) {
            return -EIO;
        }
        iox_notification_info_t info[2];
        uint64_t missed = 0;
        iox_ws_wait(e->ws, info, 2, &missed);
    }
    if (e->zero_copy) {
        memcpy(buf, chunk, 16);
        memcpy((char *)buf + cap - 8, (const char *)chunk + cap - 8, 8);
    } else {
        memcpy(buf, chunk, cap);
    }
    iox_sub_release_chunk(e->sub, chunk);
    return (long)cap;
}

static void iox_close_end(void *end)
{
    struct iox_end *e = end;
    if (e->sub != NULL) {
        iox_ws_deinit(e->ws);
        iox_sub_deinit(e->sub);
    }
    if (e->pub != NULL) {
        iox_pub_deinit(e->pub);
    }
    free(e);
}

static void iox_teardown(void *shared)
{
    free(shared);
}

const struct mech mech_iox = {
    .name = "iceoryx",
    .label = "iceoryx 2.0 C binding (copy in/out)",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN | BK_IDLE,
    .unsupported = iox_unsupported,
    .setup = iox_setup_copy,
    .open = iox_open_end,
    .send = iox_send_msg,
    .recv = iox_recv_msg,
    .close = iox_close_end,
    .teardown = iox_teardown,
};

const struct mech mech_iox_zc = {
    .name = "iceoryx-zc",
    .label = "iceoryx 2.0 C binding (zero copy)",
    .kinds = BK_STREAM,
    .unsupported = iox_unsupported,
    .setup = iox_setup_zc,
    .open = iox_open_end,
    .send = iox_send_msg,
    .recv = iox_recv_msg,
    .close = iox_close_end,
    .teardown = iox_teardown,
};
