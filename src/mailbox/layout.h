/*
 * layout.h - internal: the mailbox file.  docs/design.md draws it.
 *
 *   offset 0          struct mbx_header (one page)
 *   proc_off          registry: MBX_NPROC x struct mbx_proc
 *   table_off         queue table: M x 8 bytes
 *   pool_off          queue pool: S segments of seg_bytes
 *
 * The header's first fields (magic .. pool_off) are written once at creation
 * and checked on every open; the file is linked into the namespace only
 * after they are complete.  A process copies them into its handle and never
 * reads them from shared memory again.
 */
#ifndef IPCX_MAILBOX_LAYOUT_H
#define IPCX_MAILBOX_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ring/queue.h"
#include "wait/wait.h"

#define MBX_MAGIC          0x31584f424d584350ull /* "PCXMBOX1" little-endian */
#define MBX_VERSION        2u                    /* 2: ARMED events (wait.h) */
#define MBX_NPROC          1024u
#define MBX_FLAG_UNBOUNDED 0x1u
#define MBX_SUFFIX         ".mbox"
#define MBX_PAGE           4096u

/* OFD lock byte of registry entry i: far beyond any data, never touched. */
#define MBX_LOCK_BASE (1ll << 40)

/* Holder ids: registry index + 1 in the low 11 bits, the entry's
 * incarnation above, so a reused entry never vouches for a dead holder. */
#define MBX_HOLDER(idx, inc) ((((inc)&0x1ffffu) << 11) | ((idx) + 1u))
#define MBX_HOLDER_IDX(h)    (((h)&0x7ffu) - 1u)

/* One process's registry entry (one cache line). */
struct mbx_proc {
    _Atomic uint32_t inc;  /* incarnation, bumped by each new owner */
    _Atomic uint32_t used; /* owned (a hint: the OFD lock is the truth) */
    _Atomic int32_t pid;
    _Atomic uint32_t uid;
    _Atomic uint32_t send_waiting; /* callers of this handle asleep */
    _Atomic uint32_t recv_waiting;
    _Atomic uint64_t sent;
    _Atomic uint64_t received;
    uint8_t pad[24];
};
static_assert(sizeof(struct mbx_proc) == 64, "registry entry is one line");

struct mbx_header {
    /* Immutable after creation. */
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t id;
    uint32_t capacity;
    uint32_t max_msg;
    uint32_t policy;
    uint32_t flags;
    uint64_t max_bytes;
    uint32_t kshift, M, S, stride;
    uint64_t seg_bytes;
    uint64_t proc_off, table_off, pool_off, map_size;
    /* Shared, mutable. */
    struct ipcx__qhdr q;
    _Alignas(64) struct ipcx__event ev_msg; /* receivers sleep here */
    /* 1 while a receiver waits on the bell (bell.c): the next sender
     * exchanges it to 0 and rings.  Shares ev_msg's line, which a sender
     * touches anyway; files made before it existed read 0 here. */
    _Atomic uint32_t bell_armed;
    _Alignas(64) struct ipcx__event ev_space; /* senders sleep here */
    _Alignas(64) _Atomic uint32_t destroyed;
    _Atomic uint32_t rx_owner;    /* exclusive: holder of the receive right */
    _Atomic uint32_t pair[2];     /* pair: the two places */
    _Atomic uint64_t sent_closed; /* counters of closed handles */
    _Atomic uint64_t received_closed;
};
static_assert(sizeof(struct mbx_header) <= MBX_PAGE, "header fits a page");

/* The derived layout for given creation parameters. */
struct mbx_geom {
    struct ipcx__qgeom q;
    uint64_t proc_off, table_off, pool_off, map_size;
};

#endif
