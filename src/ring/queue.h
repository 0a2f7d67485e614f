/*
 * queue.h - internal: the lock-free multi-producer multi-consumer queue that
 * carries every ipcx mailbox.  Pure code on shared memory: no system calls
 * (growing the file is the owner's callback) and no sleeping (see wait/).
 *
 * Positions 0, 1, 2, ... are handed out in order; position p lives in slot
 * p % K of the segment of generation n = p / K.  A table of M entries maps
 * generation n to a physical segment (entry n % M); segments come from a
 * free list and go back to it once all K of their slots are finished, so an
 * unbounded queue holds only as much memory as its backlog needs.
 *
 * Each slot starts with a 64-bit control word: generation tag (32 bits),
 * state (4 bits) and holder (28 bits, the registry id of the process working
 * on it, so survivors can tell a dead holder).  docs/design.md walks through
 * the protocol and its memory-ordering argument.
 */
#ifndef IPCX_RING_QUEUE_H
#define IPCX_RING_QUEUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum {
    IPCX__Q_EMPTY = 0,     /* free for the producer of this generation */
    IPCX__Q_WRITING = 1,   /* claimed by producer <holder>, being filled */
    IPCX__Q_FULL = 2,      /* a message waits */
    IPCX__Q_READING = 3,   /* claimed by consumer <holder>, being copied */
    IPCX__Q_TAKEN = 4,     /* copied by <holder>; its sender wants to know */
    IPCX__Q_DONE = 5,      /* finished (delivered or reclaimed) */
    IPCX__Q_WITHDRAWN = 6, /* finished: its sender took it back */
    IPCX__Q_LOST = 7,      /* finished: its receiver died copying it; the
                              waiting sender offers it again */
};

#define IPCX__Q_FLAG_ACK 0x1u /* the sender waits for TAKEN */
#define IPCX__Q_SLOT_HDR 32u  /* payload offset inside a slot */
#define IPCX__Q_SEG_HDR  64u  /* slot 0 offset inside a segment */

/* Head of a slot; the payload follows at IPCX__Q_SLOT_HDR. */
struct ipcx__qslot {
    _Atomic uint64_t ctl;
    _Atomic uint32_t len;
    _Atomic uint32_t flags;
    _Atomic int32_t pid;     /* sender */
    _Atomic uint32_t uid;    /* sender */
    _Atomic int32_t rcv_pid; /* receiver, for receipts */
    _Atomic uint32_t sender; /* sender's holder id, for reclaim */
};

struct ipcx__qseg {
    /* Generation tag (high half) and how many of its K + 1 release events
     * happened (low half).  The tag makes a late event of a generation that
     * was freed by force (see ipcx__q_unstick_tail()) count for nothing. */
    _Atomic uint64_t done;
    _Atomic uint32_t next_free; /* free list link: segment index + 1 */
};

/* The queue's shared counters, each on its own cache line. */
struct ipcx__qhdr {
    _Alignas(64) _Atomic uint64_t head; /* next position to consume */
    _Atomic int64_t withdrawn; /* withdrawn positions head has not passed */
    _Alignas(64) _Atomic uint64_t tail;     /* next position to produce */
    _Alignas(64) _Atomic uint64_t free_top; /* tag:32 | segment index + 1 */
    _Atomic uint32_t pool_used;             /* segments that exist */
};

/* A process's validated view of one queue; never re-read from shared
 * memory after ipcx__q_init_view(). */
struct ipcx__queue {
    struct ipcx__qhdr *h;
    _Atomic uint64_t *table; /* M entries */
    unsigned char *pool;     /* S segments of seg_bytes */
    uint64_t cap;            /* 0: no limit beyond the table */
    uint64_t seg_bytes;
    uint32_t kshift, M, S, stride, max_msg;
    int ceiling_is_error; /* table full: -ENOSPC (unbounded) or -EAGAIN */
    /* Segment of generation n is always n % M (bounded, rendezvous: S ==
     * M), rather than one taken from the free list (unbounded, whose
     * memory follows the backlog).  Static segments cannot leak when a
     * process dies between taking and installing one. */
    int static_segs;
    /* Make segment IDX usable (extend the file); 0 or negative errno. */
    int (*grow)(void *ctx, uint32_t idx);
    /* Is HOLDER (a process's registry id) still alive?  A system call:
     * used only on slow paths, to reclaim what dead processes held. */
    int (*alive)(void *ctx, uint32_t holder);
    /* How many segments the file really backs now (a system call); NULL
     * when all S are backed from the start.  A segment index read from
     * shared memory is used only below `backed`: touching a page past the
     * end of the file would be SIGBUS. */
    uint32_t (*refresh_backed)(void *ctx);
    _Atomic uint32_t backed; /* segments known to be backed */
    void *ctx;
};

/* Geometry shared by creator and openers. */
struct ipcx__qgeom {
    uint32_t kshift, M, S, stride;
    uint64_t seg_bytes;
};

/* Pick the geometry for a queue; -EINVAL if the numbers cannot work.
 * CAP: 0 rendezvous, UINT32_MAX unbounded (MAX_BYTES applies), else n. */
int ipcx__q_geometry(uint32_t cap, uint32_t max_msg, uint64_t max_bytes,
                     struct ipcx__qgeom *g);

/* Initialise fresh shared memory (zeroed) for a queue.  PREALLOC: all S
 * segments exist already (bounded); otherwise they are grown on demand. */
void ipcx__q_format(struct ipcx__queue *q, int prealloc);

/* A claimed slot and its position; after -EINPROGRESS, the slot whose
 * holder BLOCKER blocks the caller. */
struct ipcx__qref {
    struct ipcx__qslot *slot;
    struct ipcx__qseg *seg;
    uint64_t pos;
    uint32_t blocker;
    uint32_t len; /* after ipcx__q_take(): the length it validated; use
                     this, never the slot's (a peer may change that) */
};

/* Producer: claim the next position.  0, -EAGAIN (full), -ENOSPC (ceiling),
 * -EINPROGRESS (an old generation is unfinished: ipcx__q_unstick_tail()
 * after a pause), -EPROTO (corrupt shared memory). */
int ipcx__q_claim(struct ipcx__queue *q, uint32_t holder,
                  struct ipcx__qref *ref);
/* Producer: make the claimed slot visible with LEN bytes at its payload. */
void ipcx__q_publish(struct ipcx__queue *q, struct ipcx__qref *ref,
                     uint32_t len, uint32_t flags);

/* Consumer: claim the oldest message if it fits in CAP bytes.  0, -EAGAIN
 * (nothing ready), -EINPROGRESS (the oldest is still being written by
 * ref->blocker), -EMSGSIZE (it is longer than CAP; stays queued), -EPROTO
 * (corrupt message: it is dropped). */
int ipcx__q_take(struct ipcx__queue *q, uint32_t holder, size_t cap,
                 struct ipcx__qref *ref);
/* Consumer: finished copying; RCV_PID is reported to an acking sender.
 * Returns non-zero if a sender should be woken: it waits for this message
 * (TAKEN), or finishing it freed a segment. */
int ipcx__q_finish(struct ipcx__queue *q, struct ipcx__qref *ref,
                   uint32_t holder, int32_t rcv_pid);

/* Sender of an ACK message: 0 and *rcv_pid once taken (the slot is then
 * finished), -EAGAIN while still queued, -EINPROGRESS while ref->blocker
 * copies it, -EPROTO if the slot no longer holds our message. */
int ipcx__q_acked(struct ipcx__queue *q, struct ipcx__qref *ref,
                  int32_t *rcv_pid);
/* Sender of an ACK message: withdraw it.  0 if withdrawn, -EALREADY if a
 * receiver has claimed it first. */
int ipcx__q_cancel(struct ipcx__queue *q, struct ipcx__qref *ref);

/* After -EINPROGRESS, when ref->blocker is dead: finish the slot it left
 * in WRITING or READING (its message is lost to the queue).  0 if this
 * call finished it, -EALREADY if it had moved on. */
int ipcx__q_reclaim(struct ipcx__queue *q, struct ipcx__qref *ref);

/* After ipcx__q_claim() answered -EINPROGRESS: finish the slots of the
 * generation blocking the tail that dead holders left unfinished, and free
 * that generation if all its slots are finished but a process died before
 * counting its part.  Returns how many slots or generations it finished. */
int ipcx__q_unstick_tail(struct ipcx__queue *q);

/* Rebuild in *REF the reference to SLOT at position POS, as a lent slot
 * comes back from memory the caller owns: 0 if SLOT is where position POS
 * lives in one of the queue's segments and still holds it in STATE for
 * HOLDER (one load), else -EINVAL and *REF untouched. */
int ipcx__q_lent(struct ipcx__queue *q, uintptr_t slot, uint64_t pos,
                 uint32_t state, uint32_t holder, struct ipcx__qref *ref);

static inline unsigned char *ipcx__q_payload(struct ipcx__qref *ref)
{
    return (unsigned char *)ref->slot + IPCX__Q_SLOT_HDR;
}

/* Messages queued (claimed, not yet consumed); approximate while busy. */
uint64_t ipcx__q_depth(const struct ipcx__queue *q);

#endif
