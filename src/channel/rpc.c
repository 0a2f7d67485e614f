/*
 * rpc.c - msg_rpc: calls, replies, and who gets which message.
 *
 * All messages of a direction share one queue, and any thread of the
 * receiving process may take the next one.  A thread that takes a message
 * meant for someone else hands it over in-process: a reply is copied into
 * the waiting call it names (or dropped if that call gave up), anything
 * else goes to the stash, a FIFO that receivers read before the queue.
 * Then it wakes the end's other threads through the bell.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "core/error.h"

void ipcx__rpc_init(ipcx_channel *ch)
{
    pthread_mutex_init(&ch->rpc_mu, NULL);
    ch->stash_tail = &ch->stash_head;
    atomic_store_explicit(&ch->next_token, 1, memory_order_relaxed);
}

void ipcx__rpc_fini(ipcx_channel *ch)
{
    struct rpc_stash *s = ch->stash_head;
    while (s != NULL) {
        struct rpc_stash *next = s->next;
        free(s);
        s = next;
    }
    pthread_mutex_destroy(&ch->rpc_mu);
}

/* Copy reply M into the call waiting for it, if any (rpc_mu held, so the
 * call cannot leave while we write its buffer). */
static void deliver_reply(ipcx_channel *ch, const struct chan_msg *m)
{
    for (struct rpc_call *c = ch->calls; c != NULL; c = c->next) {
        if (c->token != m->fr.token ||
            atomic_load_explicit(&c->done, memory_order_relaxed)) {
            continue;
        }
        if (m->len > c->cap) {
            c->result = -EMSGSIZE;
        } else {
            if (m->len > 0) {
                memcpy(c->buf, m->data, m->len);
            }
            c->result = m->len;
        }
        /* Release: the caller's acquire load then sees result and buf. */
        atomic_store_explicit(&c->done, 1, memory_order_release);
        break;
    }
}

/* Keep message M for the receivers.  If memory runs out it is dropped:
 * the one way a live channel can lose a message (docs/design.md). */
static void stash(ipcx_channel *ch, const struct chan_msg *m)
{
    struct rpc_stash *s = malloc(sizeof *s + m->len);
    if (s == NULL) {
        return;
    }
    s->next = NULL;
    s->kind = m->fr.kind;
    s->len = m->len;
    s->token = m->fr.token;
    if (m->len > 0) {
        memcpy(s->data, m->data, m->len);
    }
    *ch->stash_tail = s;
    ch->stash_tail = &s->next;
    atomic_fetch_add_explicit(&ch->nstash, 1, memory_order_relaxed);
}

void ipcx__rpc_route(ipcx_channel *ch, struct chan_msg *m, uint64_t mine)
{
    int own = m->fr.kind == CHAN_REPLY && m->fr.token == mine;
    if (m->fr.kind == CHAN_REPLY) {
        deliver_reply(ch, m);
    } else {
        stash(ch, m);
    }
    ipcx__chan_finish(ch, m);
    if (!own) {
        /* Another thread of ours may wait for this: the notify's fence
         * orders the hand-over before its read of the sleeper count. */
        ipcx__chan_notify(ch, ch->end);
    }
}

long ipcx__rpc_unstash(ipcx_channel *ch, void *buf, size_t cap,
                       ipcx_channel_msg_info *info)
{
    struct rpc_stash *s = ch->stash_head;
    if (s == NULL || s->len > cap) {
        return s == NULL ? -EAGAIN : -EMSGSIZE;
    }
    ch->stash_head = s->next;
    if (ch->stash_head == NULL) {
        ch->stash_tail = &ch->stash_head;
    }
    atomic_fetch_sub_explicit(&ch->nstash, 1, memory_order_relaxed);
    if (s->len > 0) {
        memcpy(buf, s->data, s->len);
    }
    if (info != NULL) {
        memset(info, 0, sizeof *info);
        info->token = s->kind == CHAN_REQUEST ? s->token : 0;
    }
    long n = s->len;
    free(s);
    return n;
}

struct call_op {
    ipcx_channel *ch;
    struct rpc_call *call;
    struct chan_msg m;
};

/* Done once our reply is in; meanwhile take messages and route them.
 * rpc_mu is held from taking a message to handing it over, so a receiver
 * cannot overtake a message on its way to the stash. */
static int try_reply_locked(struct call_op *op)
{
    ipcx_channel *ch = op->ch;
    for (;;) {
        /* Acquire pairs with the release in deliver_reply(). */
        if (atomic_load_explicit(&op->call->done, memory_order_acquire)) {
            return 0;
        }
        int rc = ipcx__chan_take(ch, &op->m);
        if (rc == -EAGAIN && ipcx__chan_peer_gone(ch, 0)) {
            /* What the peer sent before going is visible now. */
            rc = ipcx__chan_take(ch, &op->m);
            if (rc == -EAGAIN) {
                return atomic_load_explicit(&op->call->done,
                                            memory_order_acquire)
                           ? 0
                           : -EPIPE;
            }
        }
        if (rc < 0) {
            return rc;
        }
        ipcx__rpc_route(ch, &op->m, op->call->token);
    }
}

static int try_reply(void *arg)
{
    struct call_op *op = arg;
    pthread_mutex_lock(&op->ch->rpc_mu);
    int rc = try_reply_locked(op);
    pthread_mutex_unlock(&op->ch->rpc_mu);
    return rc;
}

static void unstick_reply(void *arg)
{
    struct call_op *op = arg;
    ipcx_channel *ch = op->ch;
    if (op->m.ref.blocker != 0 && op->m.ref.blocker != (uint32_t)ch->end + 1 &&
        ipcx__chan_peer_gone(ch, 1) &&
        ipcx__q_reclaim(&ch->in, &op->m.ref) == 0) {
        ipcx__chan_notify(ch, ch->end);
    }
}

static void add_call(ipcx_channel *ch, struct rpc_call *c)
{
    pthread_mutex_lock(&ch->rpc_mu);
    c->next = ch->calls;
    ch->calls = c;
    pthread_mutex_unlock(&ch->rpc_mu);
}

/* Forget call C; returns its result if a reply came after all, else RC. */
static long remove_call(ipcx_channel *ch, struct rpc_call *c, long rc)
{
    pthread_mutex_lock(&ch->rpc_mu);
    for (struct rpc_call **p = &ch->calls; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (atomic_load_explicit(&c->done, memory_order_acquire)) {
        rc = c->result;
    }
    pthread_mutex_unlock(&ch->rpc_mu);
    return rc;
}

long ipcx_call(ipcx_channel *ch, const void *req, size_t len, void *reply,
               size_t cap, int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int rc = ipcx__chan_check_send(ch, req, len);
    if (rc < 0) {
        return rc;
    }
    if (reply == NULL && cap > 0) {
        return ipcx__err(-EINVAL, "NULL reply buffer with capacity %zu", cap);
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    struct rpc_call c = {.buf = reply, .cap = cap};
    c.token =
        atomic_fetch_add_explicit(&ch->next_token, 1, memory_order_relaxed);
    add_call(ch, &c);
    rc = ipcx__chan_send_frame(ch, CHAN_REQUEST, c.token, req, len, &d);
    if (rc == 0) {
        struct call_op op = {.ch = ch, .call = &c};
        struct ipcx__op wop = {try_reply, unstick_reply, &op};
        rc = ipcx__chan_wait(ch, &wop, &d);
        if ((rc == -EAGAIN || rc == -ETIMEDOUT) &&
            ipcx__chan_peer_gone(ch, 1)) {
            rc = try_reply(&op);
        }
    }
    long n = remove_call(ch, &c, rc);
    if (n == -EMSGSIZE) {
        return ipcx__err(-EMSGSIZE,
                         "the reply does not fit the %zu-byte buffer", cap);
    }
    return n < 0 ? ipcx__chan_explain(ch, (int)n) : n;
}

int ipcx_channel_reply(ipcx_channel *ch, uint64_t token, const void *buf,
                       size_t len, int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int rc = ipcx__chan_check_send(ch, buf, len);
    if (rc < 0) {
        return rc;
    }
    if (token == 0) {
        return ipcx__err(-EINVAL, "reply token 0 (not a request)");
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    rc = ipcx__chan_send_frame(ch, CHAN_REPLY, token, buf, len, &d);
    return rc < 0 ? ipcx__chan_explain(ch, rc) : 0;
}
