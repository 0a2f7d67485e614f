/* mailbox.h - internal: the handle and the registry functions. */
#ifndef IPCX_MAILBOX_MAILBOX_H
#define IPCX_MAILBOX_MAILBOX_H

#include <ipcx/mailbox.h>

#include "mailbox/layout.h"

struct ipcx_mailbox {
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

#endif
