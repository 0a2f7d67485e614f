/*
 * handle.h - internal: telling a live handle from a NULL, closed or foreign
 * pointer.
 *
 * Every public handle struct starts with a `uint32_t magic` naming its kind.
 * Each public function checks it first (one load of a line it is about to
 * use anyway), so passing a channel where a mailbox is wanted, or a handle
 * already closed, answers -EBADF with a message instead of corrupting
 * memory.  Closing sets the magic to IPCX__H_CLOSED and parks the memory in
 * a small quarantine (the last IPCX__QUARANTINE closed handles of the
 * process) before it is freed, so a recently closed handle is recognised.
 * A pointer closed longer ago than that is freed memory: no library can
 * check it (AddressSanitizer will).
 */
#ifndef IPCX_CORE_HANDLE_H
#define IPCX_CORE_HANDLE_H

#include <stdint.h>

enum {
    IPCX__H_MAILBOX = 0x584f424du, /* "MBOX" */
    IPCX__H_CHANNEL = 0x4e414843u, /* "CHAN" */
    IPCX__H_PORT = 0x54524f50u,    /* "PORT" */
    IPCX__H_INBOX = 0x58424e49u,   /* "INBX" */
    IPCX__H_REGION = 0x4e474552u,  /* "REGN" */
    IPCX__H_NOTIFY = 0x5946544eu,  /* "NTFY" */
    IPCX__H_CLOSED = 0x44534c43u,  /* "CLSD" */
};

#define IPCX__QUARANTINE 64

/*
 * 0 if H is a live handle of kind MAGIC; otherwise -EINVAL (NULL) or
 * -EBADF (closed, or another kind), with a message naming WHAT ("mailbox").
 */
int ipcx__handle_check(const void *h, uint32_t magic, const char *what);

/* The handle H is closed: mark it and free it once it leaves the
 * quarantine.  H must have come from malloc/calloc. */
void ipcx__handle_retire(void *h);

#endif
