/*
 * registry.c - who has a mailbox open, and whether they are still alive.
 *
 * Each open handle owns one registry entry, and owning it means holding an
 * OFD write lock on that entry's byte (MBX_LOCK_BASE + index) of the mailbox
 * file.  The kernel drops the lock when the last descriptor of the open file
 * description closes, which a process cannot survive, SIGKILL included: so
 * "the byte is locked" means "the owner is alive", with no pid involved.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "mailbox/mailbox.h"

static int lock_byte(int fd, uint32_t idx, short type)
{
    struct flock fl = {
        .l_type = type,
        .l_whence = SEEK_SET,
        .l_start = MBX_LOCK_BASE + idx,
        .l_len = 1,
    };
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

int ipcx__mbx_entry_locked(int fd, uint32_t idx)
{
    /* A read-lock probe conflicts with the owner's write lock and works on a
     * read-only descriptor too.  When unsure, say alive: wrongly thinking a
     * holder dead would let two processes own one right. */
    struct flock fl = {
        .l_type = F_RDLCK,
        .l_whence = SEEK_SET,
        .l_start = MBX_LOCK_BASE + idx,
        .l_len = 1,
    };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return 1;
    }
    return fl.l_type != F_UNLCK;
}

/* Take entry IDX whose lock we now hold. */
static void own_entry(struct ipcx_mailbox *mb, uint32_t idx)
{
    struct mbx_proc *e = &mb->procs[idx];
    struct mbx_header *h = mb->hdr;
    if (atomic_load_explicit(&e->used, memory_order_relaxed)) {
        /* The previous owner died without closing: keep its counts. */
        atomic_fetch_add_explicit(&h->sent_closed, e->sent,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&h->received_closed, e->received,
                                  memory_order_relaxed);
    }
    /* The lock makes us the only writer of this entry.  inc changes before
     * anything else so that holder ids of the previous owner stop matching
     * (ipcx__mbx_alive() compares inc before probing the lock). */
    uint32_t inc = atomic_load_explicit(&e->inc, memory_order_relaxed) + 1;
    atomic_store_explicit(&e->inc, inc, memory_order_seq_cst);
    atomic_store_explicit(&e->pid, mb->pid, memory_order_relaxed);
    atomic_store_explicit(&e->uid, mb->uid, memory_order_relaxed);
    atomic_store_explicit(&e->sent, 0, memory_order_relaxed);
    atomic_store_explicit(&e->received, 0, memory_order_relaxed);
    atomic_store_explicit(&e->send_waiting, 0, memory_order_relaxed);
    atomic_store_explicit(&e->recv_waiting, 0, memory_order_relaxed);
    atomic_store_explicit(&e->used, 1, memory_order_release);
    mb->me = e;
    mb->my_idx = idx;
    mb->holder = MBX_HOLDER(idx, inc);
}

int ipcx__mbx_register(struct ipcx_mailbox *mb)
{
    /* Start where other processes are unlikely to look first. */
    uint32_t start = (uint32_t)mb->pid * 2654435761u % MBX_NPROC;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t j = 0; j < MBX_NPROC; j++) {
            uint32_t idx = (start + j) % MBX_NPROC;
            /* First pass: only entries that look free. Second: all, since
             * an entry whose owner died still says used. */
            if (pass == 0 && atomic_load_explicit(&mb->procs[idx].used,
                                                  memory_order_relaxed)) {
                continue;
            }
            if (lock_byte(mb->fd, idx, F_WRLCK) == 0) {
                own_entry(mb, idx);
                return 0;
            }
        }
    }
    return -EMFILE;
}

void ipcx__mbx_unregister(struct ipcx_mailbox *mb)
{
    struct mbx_header *h = mb->hdr;
    struct mbx_proc *e = mb->me;
    uint32_t me = mb->holder;
    atomic_compare_exchange_strong(&h->rx_owner, &me, 0);
    if (mb->policy == IPCX_POLICY_PAIR) {
        /* A pair place belongs to the process: if another handle of ours
         * is still open, the place passes to it. */
        uint32_t heir = ipcx__mbx_find_pid_other(mb, mb->pid);
        for (int s = 0; s < 2; s++) {
            me = mb->holder;
            atomic_compare_exchange_strong(&h->pair[s], &me, heir);
        }
    }
    atomic_fetch_add_explicit(&h->sent_closed, e->sent, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->received_closed, e->received,
                              memory_order_relaxed);
    atomic_store_explicit(&e->used, 0, memory_order_release);
    (void)lock_byte(mb->fd, mb->my_idx, F_UNLCK);
}

int ipcx__mbx_alive(struct ipcx_mailbox *mb, uint32_t holder)
{
    if (holder == 0) {
        return 0;
    }
    if (holder == mb->holder) {
        return 1;
    }
    uint32_t idx = MBX_HOLDER_IDX(holder);
    if (idx >= MBX_NPROC || idx == mb->my_idx) {
        return 0; /* garbage, or an earlier owner of our own entry */
    }
    /* seq_cst pairs with own_entry(): a new owner bumps inc before it could
     * be mistaken for the old one. */
    uint32_t inc =
        atomic_load_explicit(&mb->procs[idx].inc, memory_order_seq_cst);
    if (MBX_HOLDER(idx, inc) != holder) {
        return 0;
    }
    return ipcx__mbx_entry_locked(mb->fd, idx);
}

/* The pid of live holder H (0 if none). */
static pid_t holder_pid(struct ipcx_mailbox *mb, uint32_t h)
{
    if (!ipcx__mbx_alive(mb, h)) {
        return 0;
    }
    return atomic_load_explicit(&mb->procs[MBX_HOLDER_IDX(h)].pid,
                                memory_order_relaxed);
}

int ipcx__mbx_take_pair_place(struct ipcx_mailbox *mb)
{
    struct mbx_header *h = mb->hdr;
    /* A process has one place however many handles it opens. */
    for (int s = 0; s < 2; s++) {
        uint32_t cur = atomic_load_explicit(&h->pair[s], memory_order_acquire);
        if (cur != 0 && holder_pid(mb, cur) == mb->pid) {
            return 0;
        }
    }
    for (int s = 0; s < 2; s++) {
        uint32_t cur = atomic_load_explicit(&h->pair[s], memory_order_acquire);
        /* CAS from the value we judged free (empty or dead): if anyone else
         * changed the place meanwhile, ours fails and we look again. */
        while (cur == 0 || !ipcx__mbx_alive(mb, cur)) {
            if (atomic_compare_exchange_strong(&h->pair[s], &cur, mb->holder)) {
                return 0;
            }
        }
    }
    return -EBUSY;
}

int ipcx__mbx_rx_right(struct ipcx_mailbox *mb)
{
    struct mbx_header *h = mb->hdr;
    /* Acquire pairs with the CAS of whoever set the owner. */
    uint32_t cur = atomic_load_explicit(&h->rx_owner, memory_order_acquire);
    while (cur != mb->holder) {
        if (cur != 0 && ipcx__mbx_alive(mb, cur)) {
            return -EBUSY;
        }
        if (atomic_compare_exchange_strong(&h->rx_owner, &cur, mb->holder)) {
            return 0;
        }
    }
    return 0;
}

uint32_t ipcx__mbx_find_pid(struct ipcx_mailbox *mb, pid_t pid)
{
    if (pid == mb->pid && mb->me != NULL) {
        return mb->holder;
    }
    return ipcx__mbx_find_pid_other(mb, pid);
}

uint32_t ipcx__mbx_find_pid_other(struct ipcx_mailbox *mb, pid_t pid)
{
    for (uint32_t idx = 0; idx < MBX_NPROC; idx++) {
        struct mbx_proc *e = &mb->procs[idx];
        if (idx == mb->my_idx) {
            continue;
        }
        if (!atomic_load_explicit(&e->used, memory_order_acquire) ||
            atomic_load_explicit(&e->pid, memory_order_relaxed) != pid) {
            continue;
        }
        uint32_t h = MBX_HOLDER(
            idx, atomic_load_explicit(&e->inc, memory_order_relaxed));
        if (ipcx__mbx_alive(mb, h)) {
            return h;
        }
    }
    return 0;
}
