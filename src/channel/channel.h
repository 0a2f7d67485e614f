/*
 * channel.h - internal: the channel's shared memory, its handle, and the
 * functions the channel's files share (port.c connects and accepts,
 * channel.c moves messages and waits, rpc.c matches replies to calls).
 *
 * The memfd holds, at offset 0, struct chan_header (one page), then for
 * each direction d a queue: header line, table (M entries), pool (S
 * segments).  End 0 is the server, end 1 the client; end e sends on
 * queue e and receives on queue e ^ 1.  A process's holder id in the queues
 * is its end + 1.
 */
#ifndef IPCX_CHANNEL_CHANNEL_H
#define IPCX_CHANNEL_CHANNEL_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <ipcx/channel.h>

#include "core/handle.h"
#include "ring/queue.h"
#include "wait/wait.h"

#define CHAN_MAGIC   0x314e414843584350ull /* "PCXCHAN1" little-endian */
#define CHAN_VERSION 2u                    /* 2: ARMED events, room_wanted */
#define CHAN_PAGE    4096u
#define CHAN_SUFFIX  ".port"

/* Every message starts with this frame header inside the queue payload. */
enum { CHAN_ONEWAY = 1, CHAN_REQUEST = 2, CHAN_REPLY = 3 };
struct chan_frame {
    uint32_t kind;
    uint32_t reserved;
    uint64_t token; /* CHAN_REQUEST / CHAN_REPLY: the call it belongs to */
};
#define CHAN_FRAME ((uint32_t)sizeof(struct chan_frame))

struct chan_end {
    /* "Something changed for this end": a message arrived for it, or room
     * opened in the queue it sends on.  Its sleepers wait in poll() on the
     * end's bell (an eventfd), which a notifier writes. */
    _Alignas(64) struct ipcx__event ev;
    /* Set (release) by the end's ipcx_channel_close(). */
    _Alignas(64) _Atomic uint32_t closed;
    /* 1 while the end waits for room in the queue it sends on: set by its
     * failed claim, exchanged to 0 by the peer's receive, which then
     * notifies.  Without it every receive woke a peer that only waited
     * for its reply (two wake-ups per round trip). */
    _Atomic uint32_t room_wanted;
};

struct chan_header {
    /* Immutable after the server formats it (before the client sees it). */
    uint64_t magic;
    uint32_t version;
    uint32_t capacity;
    uint32_t max_msg; /* user bytes; the queues carry CHAN_FRAME more */
    uint32_t kshift, M, S, stride;
    uint32_t reserved;
    uint64_t seg_bytes;
    uint64_t q_off[2];     /* struct ipcx__qhdr of each direction */
    uint64_t table_off[2]; /* its table */
    uint64_t pool_off[2];  /* its pool */
    uint64_t map_size;
    /* Shared, mutable. */
    struct chan_end end[2];
};
static_assert(sizeof(struct chan_header) <= CHAN_PAGE, "header fits a page");

/* The handshake packet the server sends (with the memfd and two eventfds)
 * or, with status < 0 and no descriptors, to refuse a client. */
struct chan_hello {
    uint64_t magic;
    uint32_t version;
    int32_t status;
    uint64_t map_size;
    uint32_t reserved[2]; /* 0: the peer's identity is SO_PEERCRED's, never
                             a number the peer sends */
};

/* One ipcx_call() waiting for its reply (rpc.c). */
struct rpc_call {
    uint64_t token;
    void *buf;
    size_t cap;
    long result;      /* reply length or negative errno, once done */
    _Atomic int done; /* release after result and buf are written */
    struct rpc_call *next;
};

/* A message taken off the queue by a thread that wanted something else. */
struct rpc_stash {
    struct rpc_stash *next;
    uint32_t kind;
    uint32_t len;
    uint64_t token;
    unsigned char data[];
};

struct ipcx_channel {
    uint32_t magic; /* IPCX__H_CHANNEL (core/handle.h) */
    int end;        /* 0 server, 1 client */
    int sock;       /* the connection: hangs up when the peer goes */
    int pidfd;      /* the peer process (readable once it exits), or -1 */
    int bell[2];    /* eventfd of each end */
    int epfd;       /* ipcx_channel_fd(), or -1 */
    unsigned char *base;
    size_t map_size;
    struct chan_header *hdr;
    struct ipcx__queue out, in;
    uint32_t max_msg;
    ipcx_peer peer;
    /* The peer is known gone (its socket hung up); in-process. */
    _Atomic int peer_gone;

    /* Sleeping: one thread per process sleeps in poll() (the leader); the
     * others wait on `gen`, which the leader bumps when it wakes. */
    pthread_mutex_t wait_mu;
    /* Descriptor packets (fdpass.c): a look and its take, atomically. */
    pthread_mutex_t fd_mu;
    int leader;
    int followers; /* threads waiting on gen */
    _Atomic uint32_t gen;

    /* msg_rpc demultiplexing, under rpc_mu. */
    pthread_mutex_t rpc_mu;
    struct rpc_call *calls;
    struct rpc_stash *stash_head, **stash_tail;
    _Atomic uint32_t nstash; /* stash length, read without the lock */
    _Atomic uint32_t ncalls; /* calls outstanding, read without the lock */
    _Atomic uint64_t next_token;
};

/* channel.c */
int ipcx__chan_geometry(uint32_t capacity, uint32_t max_msg,
                        struct chan_header *h);
void ipcx__chan_format(unsigned char *base, const struct chan_header *geom);
/* Check a received header copy against the geometry it implies and the
 * file's size: 0 or -EPROTO. */
int ipcx__chan_check(const struct chan_header *copy, uint64_t file_size);
/* Build a handle over the mapped, checked channel memory BASE; takes
 * ownership of the mapping and the fds only on success. */
int ipcx__chan_attach(unsigned char *base, size_t map_size, int end, int sock,
                      const int bell[2], ipcx_channel **out);
void ipcx__chan_notify(ipcx_channel *ch, int end);
/* Queue one frame; the deadline is the caller's. */
int ipcx__chan_send_frame(ipcx_channel *ch, uint32_t kind, uint64_t token,
                          const void *buf, size_t len,
                          struct ipcx__deadline *d);
/* ipcx__wait() on the caller's end of the channel, sleeping in poll(). */
int ipcx__chan_wait(ipcx_channel *ch, const struct ipcx__op *op,
                    struct ipcx__deadline *d);
/* The peer is gone: closed, or its socket hung up (CHECK_SOCK: ask the
 * kernel, a system call; otherwise what is already known). */
int ipcx__chan_peer_gone(ipcx_channel *ch, int check_sock);

/* ipcx_poll(): drain the bell for a poller (fd mode), then readiness as
 * IPCX_POLLIN / IPCX_POLLHUP bits (CHECK_SOCK: ask the kernel whether the
 * peer hung up, a system call). */
void ipcx__chan_poll_arm(ipcx_channel *ch);
unsigned ipcx__chan_ready(ipcx_channel *ch, int check_sock);

/* The detail for error RC of a channel call; returns RC. */
int ipcx__chan_explain(ipcx_channel *ch, int rc);
/* Arguments of a send: 0 or -EINVAL / -EMSGSIZE with the detail. */
int ipcx__chan_check_send(ipcx_channel *ch, const void *buf, size_t len);

/* A message taken off the incoming queue, not yet finished. */
struct chan_msg {
    struct ipcx__qref ref;
    struct chan_frame fr; /* copied out of shared memory once */
    uint32_t len;         /* user bytes */
    const unsigned char *data;
};
/* Take the next incoming frame: 0, -EAGAIN, -EINPROGRESS, -EPROTO. */
int ipcx__chan_take(ipcx_channel *ch, struct chan_msg *m);
/* Done with a taken frame: free its slot and tell the peer. */
void ipcx__chan_finish(ipcx_channel *ch, struct chan_msg *m);

/* rpc.c: hand a taken reply to its call, or keep any other message for
 * the receivers; finishes M.  Wakes this end's other threads unless M was
 * the reply with token MINE (the caller's own). */
void ipcx__rpc_route(ipcx_channel *ch, struct chan_msg *m, uint64_t mine);
/* Pop the oldest stashed message into BUF if it fits: its length,
 * -EMSGSIZE (it stays), or -EAGAIN (stash empty). */
long ipcx__rpc_unstash(ipcx_channel *ch, void *buf, size_t cap,
                       ipcx_channel_msg_info *info);
void ipcx__rpc_init(ipcx_channel *ch);
void ipcx__rpc_fini(ipcx_channel *ch);

#endif
