/*
 * mech_loan.c - ipcx mailboxes with zero-copy loans (ipcx_mailbox_loan and
 * friends in include/ipcx/mailbox.h), through the public API only.
 *
 * The mailboxes are those of mech_ipcx.c, made and opened by its functions:
 * capacity 64, maximum message size the run's size, two for ping-pong (A to
 * B, B to A) and one for streams and fan-in.  Every call blocks with
 * IPCX_FOREVER.  For 1 MiB messages the 64 slots are 64 MiB of shared memory.
 *
 * The zero-copy contract: a producer builds its message in place, in the
 * slot it borrowed, and a consumer reads it where it lies.  The driver's
 * send() interface hands over a finished buffer, so send() writes into the
 * loan only what the driver's checks read: the 16-byte header (seq, sender,
 * magic) and the 8-byte trailer, at their places (the first 16 and the last
 * 8 bytes of the message); the payload between them is never touched.
 * Likewise recv() takes the message in place and copies out only the header
 * and the trailer, to their places in the driver's buffer, before it hands
 * the slot back: msg_check() then checks length, sequence, sender and
 * trailer as for every other mechanism, so a lost, duplicated, reordered or
 * torn message still fails the run.  This is what iceoryx-zc does too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipcx/ipcx.h>

#include "bench.h"

#define HEAD_BYTES 16 /* struct msg_head in util.c */
#define TAIL_BYTES 8

/* The handles of an end, as mech_ipcx.c opens them. */
struct loan_end {
    ipcx_mailbox *out, *in;
};

/* The bytes of a LEN-byte message that the driver's checks read: header
 * and trailer, each at its place.  Nothing else is copied. */
static void copy_ends(void *dst, const void *src, size_t len)
{
    if (len < HEAD_BYTES + TAIL_BYTES) {
        memcpy(dst, src, len); /* too short to be valid: the check says so */
        return;
    }
    memcpy(dst, src, HEAD_BYTES);
    memcpy((char *)dst + len - TAIL_BYTES, (const char *)src + len - TAIL_BYTES,
           TAIL_BYTES);
}

/* Borrow a slot, build the message in place (header and trailer only: see
 * the top of the file), send it without a copy. */
static int loan_send(void *end, const void *buf, size_t len)
{
    struct loan_end *e = end;
    ipcx_loan loan;
    int rc = ipcx_mailbox_loan(e->out, &loan, IPCX_FOREVER);
    if (rc < 0) {
        return rc;
    }
    if (len > loan.size) {
        ipcx_mailbox_cancel_loan(e->out, &loan);
        return -EMSGSIZE;
    }
    copy_ends(loan.data, buf, len);
    return ipcx_mailbox_send_loan(e->out, &loan, len);
}

/* Take the next message in place, copy out only its header and trailer
 * for the driver's msg_check() (see the top of the file), hand the slot
 * back. */
static long loan_recv(void *end, void *buf, size_t cap)
{
    struct loan_end *e = end;
    ipcx_loan loan;
    long len = ipcx_mailbox_recv_loan(e->in, &loan, IPCX_FOREVER);
    if (len < 0) {
        return len;
    }
    if ((size_t)len > cap || (size_t)len != loan.size) {
        ipcx_mailbox_return_loan(e->in, &loan);
        return (size_t)len > cap ? -EMSGSIZE : -EPROTO;
    }
    copy_ends(buf, loan.data, (size_t)len);
    int rc = ipcx_mailbox_return_loan(e->in, &loan);
    return rc < 0 ? rc : len;
}

const struct mech mech_loan = {
    .name = "ipcx-loan",
    .label = "ipcx mailbox, zero-copy loans (capacity 64)",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN,
    .setup = ipcx_mech_setup64,
    .open = ipcx_mech_open,
    .send = loan_send,
    .recv = loan_recv,
    .close = ipcx_mech_close,
    .teardown = ipcx_mech_teardown,
};
