/* mailbox.h - internal: the handle and the registry functions. */
#ifndef IPCX_MAILBOX_MAILBOX_H
#define IPCX_MAILBOX_MAILBOX_H

#include <ipcx/mailbox.h>
#include <pthread.h>

#include "core/handle.h"
#include "mailbox/layout.h"
#include "ns/ns.h"

struct ipcx_mailbox {
    uint32_t magic; /* IPCX__H_MAILBOX (core/handle.h) */
    int fd;
    unsigned char *base;
    size_t map_size;
    struct mbx_header *hdr;
    struct mbx_proc *procs;
    struct mbx_proc *me;
    uint32_t my_idx;
    uint32_t holder; /* MBX_HOLDER(my_idx, incarnation) */
    uint32_t capacity, max_msg, policy;
    pid_t pid;
    uid_t uid;
    struct ipcx__queue q;
    _Atomic unsigned rights; /* IPCX_RIGHT_SEND | IPCX_RIGHT_RECV; only
                                shrinks (ipcx_mailbox_restrict) */
    int anon;                /* a memfd from ipcx_mailbox_allocate(): no name */
    char fname[IPCX__FILE_MAX + 1]; /* named: "NAME.mbox" */

    /* The bell (bell.c): an anonymous mailbox's eventfd, always open; a
     * named one's FIFO, opened on first need under bell_mu. */
    _Atomic int bell;
    _Atomic int fd_mode; /* ipcx_mailbox_fd() was called: -EAGAIN re-arms */
    pthread_mutex_t bell_mu;
};

/* Registry (registry.c). */
int ipcx__mbx_register(struct ipcx_mailbox *mb);
void ipcx__mbx_unregister(struct ipcx_mailbox *mb);
int ipcx__mbx_alive(struct ipcx_mailbox *mb, uint32_t holder);
int ipcx__mbx_take_pair_place(struct ipcx_mailbox *mb);
int ipcx__mbx_rx_right(struct ipcx_mailbox *mb);
/* Live holder id of a handle of process PID (ours if PID is us), or 0. */
uint32_t ipcx__mbx_find_pid(struct ipcx_mailbox *mb, pid_t pid);
/* The same, never answering our own handle. */
uint32_t ipcx__mbx_find_pid_other(struct ipcx_mailbox *mb, pid_t pid);
/* Is registry entry IDX held by a live process? (a syscall) */
int ipcx__mbx_entry_locked(int fd, uint32_t idx);

/* Sending and receiving steps (io.c), shared with the loans (loan.c). */
struct ipcx__deadline;
/* Wait for a free slot (D) and claim it for the caller; 0 or -errno. */
int ipcx__mbx_claim(struct ipcx_mailbox *mb, struct ipcx__qref *ref,
                    struct ipcx__deadline *d);
/* Make the claimed slot a message of LEN bytes and wake a receiver. */
void ipcx__mbx_publish(struct ipcx_mailbox *mb, struct ipcx__qref *ref,
                       size_t len, int ack);
/* A receive's checks: deadline from TIMEOUT_NS, right, exclusive right. */
int ipcx__mbx_recv_check(struct ipcx_mailbox *mb, struct ipcx__deadline *d,
                         int64_t timeout_ns);
/* Wait for the next message of at most CAP bytes and claim it (an error
 * carries its ipcx_last_error() detail), and wake senders waiting for the
 * room it opened. */
int ipcx__mbx_take(struct ipcx_mailbox *mb, struct ipcx__qref *ref, size_t cap,
                   struct ipcx__deadline *d);
/* Done with a taken message: finish its slot and wake the senders if one
 * waits for its receipt or a segment came free, or ALWAYS. */
void ipcx__mbx_finish(struct ipcx_mailbox *mb, struct ipcx__qref *ref,
                      int always);
/* The detail for a send's or receive's error RC; returns RC. */
int ipcx__mbx_explain(struct ipcx_mailbox *mb, int rc);

/* Adopt a received anonymous mailbox (fdpass.c).  On success the handle
 * owns BELL and FD is closed (the handle opened its own description);
 * on failure the caller still owns both. */
int ipcx__mbx_adopt(int fd, int bell, unsigned rights, ipcx_mailbox **out);

/* Bell (bell.c).  A sender calls ring_if_armed right after notifying
 * ev_msg, whose seq_cst fence it relies on; see bell.c. */
void ipcx__mbx_ring_if_armed(struct ipcx_mailbox *mb);
/* Ring unconditionally if anybody is armed (destroy). */
void ipcx__mbx_ring_all(struct ipcx_mailbox *mb);
/* Drain the bell and arm it: after this, a message published later rings
 * it.  The caller re-checks the queue afterwards. */
void ipcx__mbx_arm(struct ipcx_mailbox *mb);
/* The bell's descriptor, made on first use, without the descriptor mode
 * of ipcx_mailbox_fd() (ipcx_poll() arms the bell itself before each
 * sleep, so its receives need not re-arm it).  fd or -errno (detail). */
int ipcx__mbx_bell(struct ipcx_mailbox *mb);
/* Remove the FIFO of named mailbox FNAME from namespace DFD (destroy). */
void ipcx__mbx_bell_unlink(int dfd, const char *fname);
/* Readiness for ipcx_poll(): IPCX_POLLIN / IPCX_POLLHUP bits, or 0. */
unsigned ipcx__mbx_ready(struct ipcx_mailbox *mb);
void ipcx__mbx_bell_close(struct ipcx_mailbox *mb);

#endif
