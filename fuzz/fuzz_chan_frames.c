/*
 * fuzz_chan_frames.c - the channel's message frames (struct chan_frame:
 * kind, token) and rpc routing, with a peer that writes whatever it likes
 * into the client's incoming queue.
 *
 * Both ends of a channel live in this process (fz_chan_pair).  The server
 * end plays the peer: it claims slots of its sending queue directly and
 * publishes raw payloads (any length from 0 to the queue's maximum, any
 * kind, token and reserved word, optionally the ACK flag), or claims one
 * and holds it half-written.  The client end receives with
 * ipcx_channel_recv_ex(), calls with ipcx_call(), sends, and is polled,
 * always with timeout 0.  Other steps poke arbitrary 64-bit values anywhere
 * into the channel's memory, drain the client's requests at the server, or
 * close the server.
 *
 * A model of the incoming queue, the stash and the outgoing queue predicts
 * every result exactly (length, bytes, token, or the error) for as long as
 * nothing was poked; after a poke, only "a result within the buffer or a
 * known error, no crash, no out-of-bounds access" is checked.
 *
 * Input: byte 0 capacity, byte 1 max message size, then steps (one byte,
 * then that step's arguments); see step().
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipcx/poll.h>

#include "fuzz.h"
#include "fuzzchan.h"

#define MAX_STEPS 256
#define NQ        (MAX_STEPS + 8)

/* A message in the model: as the peer framed it. */
struct ent {
    uint32_t kind;
    uint32_t len; /* queue payload, frame included */
    uint64_t token;
    uint32_t seq; /* what its bytes were made from */
    int pending;  /* 1: claimed, still being written; 2: its writer died
                     writing it (lost: a receiver skips it) */
};

struct fifo {
    struct ent v[NQ];
    unsigned head, n;
};

static void push(struct fifo *f, struct ent e)
{
    FUZZ_CHECK(f->n < NQ);
    f->v[(f->head + f->n++) % NQ] = e;
}

static struct ent *front(struct fifo *f)
{
    return f->n > 0 ? &f->v[f->head] : NULL;
}

static struct ent pop(struct fifo *f)
{
    struct ent e = f->v[f->head];
    f->head = (f->head + 1) % NQ;
    f->n--;
    return e;
}

struct fz {
    ipcx_channel *srv, *cli; /* srv NULL once closed */
    unsigned char *mem;      /* the client's view of the channel memory */
    size_t map_size;
    uint32_t max_msg, qmax;
    /* The model. */
    int exact; /* nothing was poked: predict everything */
    struct fifo in, stash, out;
    uint64_t next_token;
    uint32_t seq;
    /* The peer's half-written slot, if any. */
    int holding;
    struct ipcx__qref held;
    struct ent held_ent;
};

static unsigned char pattern(uint32_t seq, size_t i)
{
    return (unsigned char)(seq * 131u + i * 7u + 1u);
}

static void fill(unsigned char *p, uint32_t seq, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = pattern(seq, i);
    }
}

static void check_bytes(const unsigned char *p, uint32_t seq, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(p[i] == pattern(seq, i));
    }
}

/* Would ipcx__chan_take() accept this frame? */
static int well_formed(const struct ent *e)
{
    return e->len >= CHAN_FRAME && e->kind >= CHAN_ONEWAY &&
           e->kind <= CHAN_REPLY && (e->kind == CHAN_ONEWAY || e->token != 0);
}

static uint32_t user_len(const struct ent *e)
{
    return e->len - CHAN_FRAME;
}

/* ---- the peer ---- */

static void write_frame(unsigned char *p, const struct ent *e,
                        uint32_t reserved)
{
    struct chan_frame fr = {e->kind, reserved, e->token};
    unsigned char tmp[CHAN_FRAME];
    memcpy(tmp, &fr, CHAN_FRAME);
    memcpy(p, tmp, e->len < CHAN_FRAME ? e->len : CHAN_FRAME);
    if (e->len > CHAN_FRAME) {
        fill(p + CHAN_FRAME, e->seq, e->len - CHAN_FRAME);
    }
}

/* Publish a raw payload, or (HOLD) claim and keep it half-written. */
static void peer_publish(struct fz *f, struct fz_in *in, int hold)
{
    uint8_t k = fz_u8(in), t = fz_u8(in), l = fz_u8(in);
    struct ent e = {0};
    e.kind = k & 0x80 ? fz_u32(in) : k % 4u;
    uint32_t reserved = k & 0x40 ? fz_u32(in) : 0;
    uint32_t flags = k & 0x20 ? IPCX__Q_FLAG_ACK : 0;
    e.token = t & 0x80 ? fz_u64(in) : t % 6u;
    e.len = l % (f->qmax + 1);
    e.seq = ++f->seq;
    if (f->srv == NULL || (hold && f->holding)) {
        return;
    }
    struct ipcx__qref r;
    if (ipcx__q_claim(&f->srv->out, 1, &r) != 0) {
        return;
    }
    write_frame(ipcx__q_payload(&r), &e, reserved);
    if (hold) {
        f->holding = 1;
        f->held = r;
        f->held_ent = e;
        e.pending = 1;
        push(&f->in, e);
        return;
    }
    ipcx__q_publish(&f->srv->out, &r, e.len, flags);
    push(&f->in, e);
}

/* Finish the half-written slot. */
static void peer_release(struct fz *f)
{
    if (f->srv == NULL || !f->holding) {
        return;
    }
    ipcx__q_publish(&f->srv->out, &f->held, f->held_ent.len, 0);
    f->holding = 0;
    for (unsigned i = 0; i < f->in.n; i++) {
        f->in.v[(f->in.head + i) % NQ].pending = 0;
    }
}

/* The server takes everything the client sent. */
static void peer_drain(struct fz *f)
{
    unsigned char buf[256];
    ipcx_channel_msg_info info;
    if (f->srv == NULL) {
        return;
    }
    for (int i = 0; i < NQ; i++) {
        long n = ipcx_channel_recv_ex(f->srv, buf, sizeof buf, 0, &info);
        if (!f->exact) {
            FUZZ_CHECK(n <= (long)sizeof buf);
            if (n < 0) {
                return;
            }
            continue;
        }
        if (f->out.n == 0) {
            FUZZ_CHECK(n == -EAGAIN);
            return;
        }
        struct ent e = pop(&f->out);
        FUZZ_CHECK(n == (long)e.len);
        check_bytes(buf, e.seq, e.len);
        FUZZ_CHECK(info.token == (e.kind == CHAN_REQUEST ? e.token : 0));
    }
}

static void peer_close(struct fz *f)
{
    if (f->srv == NULL) {
        return;
    }
    ipcx_channel_close(f->srv);
    f->srv = NULL;
    /* The dead writer's slot is reclaimed when a receiver meets it:
     * that message is lost. */
    f->holding = 0;
    for (unsigned i = 0; i < f->in.n; i++) {
        struct ent *e = &f->in.v[(f->in.head + i) % NQ];
        e->pending = e->pending ? 2 : 0;
    }
}

/* ---- the client ---- */

static int known_error(long rc)
{
    return rc == -EAGAIN || rc == -EPROTO || rc == -EMSGSIZE || rc == -EPIPE;
}

/* What the model says a receive of CAP bytes gives: the result, and the
 * message in *GOT if one is delivered. */
static long model_recv(struct fz *f, size_t cap, struct ent *got)
{
    for (;;) {
        if (f->stash.n > 0) {
            if (user_len(front(&f->stash)) > cap) {
                return -EMSGSIZE;
            }
            *got = pop(&f->stash);
            return user_len(got);
        }
        struct ent *h = front(&f->in);
        if (h == NULL) {
            return f->srv == NULL ? -EPIPE : -EAGAIN;
        }
        if (h->pending == 1) {
            return -EAGAIN;
        }
        struct ent e = pop(&f->in);
        if (e.pending == 2) {
            continue;
        }
        if (!well_formed(&e)) {
            return -EPROTO;
        }
        if (e.kind != CHAN_REPLY && user_len(&e) <= cap) {
            *got = e;
            return user_len(&e);
        }
        if (e.kind != CHAN_REPLY) {
            push(&f->stash, e); /* too long: first in line, in the stash */
        }                       /* a reply nobody waits for is dropped */
    }
}

static void client_recv(struct fz *f, struct fz_in *in)
{
    size_t cap = fz_u8(in) % (f->max_msg + 2);
    unsigned char *buf = malloc(cap + 1);
    ipcx_channel_msg_info info;
    long n = ipcx_channel_recv_ex(f->cli, cap ? buf : NULL, cap, 0, &info);
    FUZZ_CHECK(n <= (long)cap && (n >= 0 || known_error(n)));
    if (f->exact) {
        struct ent e;
        long want = model_recv(f, cap, &e);
        FUZZ_CHECK(n == want);
        if (n >= 0) {
            check_bytes(buf, e.seq, (size_t)n);
            FUZZ_CHECK(info.token == (e.kind == CHAN_REQUEST ? e.token : 0));
        }
    }
    free(buf);
}

static uint64_t out_tail(struct fz *f)
{
    return atomic_load(&f->cli->out.h->tail);
}

static void client_send(struct fz *f, struct fz_in *in)
{
    size_t len = fz_u8(in) % (f->max_msg + 1);
    unsigned char buf[256];
    uint32_t seq = ++f->seq;
    fill(buf, seq, len);
    uint64_t t0 = out_tail(f);
    int rc = ipcx_channel_send(f->cli, buf, len, 0);
    FUZZ_CHECK(rc == 0 || rc == -EAGAIN || rc == -EPIPE || rc == -EPROTO);
    if (f->exact) {
        int sent = out_tail(f) != t0;
        FUZZ_CHECK(sent == (rc == 0));
        if (f->srv == NULL) {
            FUZZ_CHECK(rc == -EPIPE);
        } else if (sent) {
            push(&f->out, (struct ent){CHAN_ONEWAY, (uint32_t)len, 0, seq, 0});
        } else {
            FUZZ_CHECK(rc == -EAGAIN);
        }
    }
}

static void client_call(struct fz *f, struct fz_in *in)
{
    size_t len = fz_u8(in) % (f->max_msg + 1);
    size_t cap = fz_u8(in) % (f->max_msg + 2);
    unsigned char req[256], *reply = malloc(cap + 1);
    uint32_t seq = ++f->seq;
    fill(req, seq, len);
    uint64_t token = f->next_token++;
    uint64_t t0 = out_tail(f);
    long n = ipcx_call(f->cli, req, len, cap ? reply : NULL, cap, 0);
    FUZZ_CHECK(n <= (long)cap && (n >= 0 || known_error(n)));
    if (f->exact) {
        int sent = out_tail(f) != t0;
        if (f->srv == NULL) {
            FUZZ_CHECK(!sent && n == -EPIPE);
            goto out;
        }
        if (!sent) {
            FUZZ_CHECK(n == -EAGAIN); /* our queue is full */
            goto out;
        }
        push(&f->out, (struct ent){CHAN_REQUEST, (uint32_t)len, token, seq, 0});
        /* The call takes messages until its reply: replies to others are
         * dropped, the rest stashed for the receivers. */
        long want = -EAGAIN;
        struct ent *h;
        while ((h = front(&f->in)) != NULL && h->pending != 1) {
            struct ent e = pop(&f->in);
            if (e.pending == 2) {
                continue;
            }
            if (!well_formed(&e)) {
                want = -EPROTO;
                break;
            }
            if (e.kind == CHAN_REPLY && e.token == token) {
                want = user_len(&e) <= cap ? (long)user_len(&e) : -EMSGSIZE;
                if (want >= 0) {
                    check_bytes(reply, e.seq, (size_t)want);
                }
                break;
            }
            if (e.kind != CHAN_REPLY) {
                push(&f->stash, e);
            }
        }
        FUZZ_CHECK(n == want);
    }
out:
    free(reply);
}

static void client_poll(struct fz *f)
{
    unsigned bits = ipcx__chan_ready(f->cli, 1);
    FUZZ_CHECK((bits & ~(IPCX_POLLIN | IPCX_POLLHUP)) == 0);
    if (f->exact) {
        unsigned want = f->stash.n > 0 || f->in.n > 0 ? IPCX_POLLIN
                        : f->srv == NULL ? IPCX_POLLIN | IPCX_POLLHUP
                                         : 0;
        FUZZ_CHECK(bits == want);
    }
}

/* Write an arbitrary 64-bit value anywhere in the channel's memory. */
static void poke(struct fz *f, struct fz_in *in)
{
    uint32_t off = fz_u32(in) % (uint32_t)(f->map_size - 7) & ~7u;
    uint64_t v = fz_u64(in);
    memcpy(f->mem + off, &v, 8);
    f->exact = 0;
}

static void step(struct fz *f, struct fz_in *in)
{
    switch (fz_u8(in) % 11) {
    case 0:
    case 1:
        peer_publish(f, in, 0);
        break;
    case 2:
        peer_publish(f, in, 1);
        break;
    case 3:
        peer_release(f);
        break;
    case 4:
        client_recv(f, in);
        break;
    case 5:
        client_call(f, in);
        break;
    case 6:
        client_send(f, in);
        break;
    case 7:
        peer_drain(f);
        break;
    case 8:
        client_poll(f);
        break;
    case 9:
        poke(f, in);
        break;
    default:
        peer_close(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t caps[] = {1, 2, 3, 4, 8, 16};
    static const uint32_t msgs[] = {1, 7, 16, 64, 200};
    struct fz_in in = {data, size};
    struct fz *f = calloc(1, sizeof *f);
    uint32_t cap = caps[fz_u8(&in) % 6];
    f->max_msg = msgs[fz_u8(&in) % 5];
    FUZZ_CHECK(fz_chan_pair(cap, f->max_msg, &f->srv, &f->cli) == 0);
    f->mem = f->cli->base;
    f->map_size = f->cli->map_size;
    f->qmax = f->cli->in.max_msg;
    f->exact = 1;
    f->next_token = 1;
    for (int i = 0; i < MAX_STEPS && in.n > 0; i++) {
        step(f, &in);
    }
    client_poll(f);
    ipcx_channel_close(f->srv);
    ipcx_channel_close(f->cli);
    free(f);
    return 0;
}
