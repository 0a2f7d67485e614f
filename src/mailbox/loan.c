/*
 * loan.c - zero-copy loans (SPEC M9): a message built and read where it
 * lies in the mailbox's shared memory.
 *
 * A send loan is a slot claimed for the caller and not yet published (state
 * WRITING, holder = this handle); sending it is the publish that
 * ipcx_mailbox_send() does after its copy.  A received loan is a message
 * claimed by the caller (state READING) whose slot is finished only when the
 * loan is returned.  Both record their holder in the slot's control word, so
 * the queue's crash rules cover them unchanged: a survivor blocked by the
 * slot of a dead (or closed) holder reclaims it (src/ring/queue.c).
 *
 * The loan itself lives in the caller's memory.  Its private words tie it
 * to the handle and the slot, and every use checks them against the slot's
 * control word, so a stale, spent or forged loan answers -EINVAL rather
 * than touching a slot that is no longer the caller's.
 */
#include <errno.h>
#include <string.h>

#include <ipcx/mailbox.h>

#include "core/error.h"
#include "mailbox/mailbox.h"

/* priv[0]: which kind of loan, mixed with the handle's address. */
#define LOAN_SEND 0x444e45534e414f4cull /* "LOANSEND" */
#define LOAN_RECV 0x564345524e414f4cull /* "LOANRECV" */

struct loan_priv {
    uint64_t tag;
    uint64_t slot; /* struct ipcx__qslot * */
    uint64_t pos;
    uint64_t spare; /* 0 */
};
_Static_assert(sizeof(struct loan_priv) == sizeof(((ipcx_loan *)0)->priv),
               "the private words hold a loan_priv");

static uint64_t loan_tag(const struct ipcx_mailbox *mb, uint64_t kind)
{
    return kind ^ (uint64_t)(uintptr_t)mb;
}

static void lend(struct ipcx_mailbox *mb, ipcx_loan *loan, uint64_t kind,
                 const struct ipcx__qref *ref)
{
    struct loan_priv p = {loan_tag(mb, kind), (uintptr_t)ref->slot, ref->pos,
                          0};
    memcpy(loan->priv, &p, sizeof p);
    loan->data = ipcx__q_payload((struct ipcx__qref *)ref);
}

/* The slot a live loan of KIND from handle MB refers to, in *REF; -EINVAL
 * with a detail if LOAN is not one. */
static int redeem(struct ipcx_mailbox *mb, ipcx_loan *loan, uint64_t kind,
                  struct ipcx__qref *ref)
{
    static const char *const what[] = {"send", "received"};
    const char *k = what[kind == LOAN_RECV];
    if (loan == NULL) {
        return ipcx__err(-EINVAL, "NULL loan");
    }
    struct loan_priv p;
    memcpy(&p, loan->priv, sizeof p);
    if (p.tag != loan_tag(mb, kind)) {
        return ipcx__err(-EINVAL, "not a live %s loan of this handle", k);
    }
    /* The slot is found again from the queue's own geometry: a forged or
     * stale pointer never reaches the queue's code. */
    uint32_t state = kind == LOAN_SEND ? IPCX__Q_WRITING : IPCX__Q_READING;
    if (ipcx__q_lent(&mb->q, (uintptr_t)p.slot, p.pos, state, mb->holder, ref) <
        0) {
        return ipcx__err(-EINVAL,
                         "not a live %s loan of this handle (spent, "
                         "forged, or taken back)",
                         k);
    }
    return 0;
}

static void spend(ipcx_loan *loan)
{
    memset(loan->priv, 0, sizeof loan->priv);
    loan->data = NULL;
    loan->size = 0;
}

static int check_handle(struct ipcx_mailbox *mb, ipcx_loan *loan)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (bad < 0) {
        return bad;
    }
    return loan == NULL ? ipcx__err(-EINVAL, "NULL loan") : 0;
}

int ipcx_mailbox_loan(ipcx_mailbox *mb, ipcx_loan *loan, int64_t timeout_ns)
{
    int rc = check_handle(mb, loan);
    if (rc < 0) {
        return rc;
    }
    if (!(mb->rights & IPCX_RIGHT_SEND)) {
        return ipcx__err(-EPERM, "the handle has no send right");
    }
    if (mb->capacity == 0) {
        return ipcx__err(-EOPNOTSUPP,
                         "a rendezvous mailbox does not lend: its send "
                         "waits for the receiver");
    }
    struct ipcx__deadline d;
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    struct ipcx__qref ref;
    rc = ipcx__mbx_claim(mb, &ref, &d);
    if (rc < 0) {
        return ipcx__mbx_explain(mb, rc);
    }
    lend(mb, loan, LOAN_SEND, &ref);
    loan->size = mb->max_msg;
    loan->pid = 0;
    loan->uid = 0;
    return 0;
}

/* Give the claimed slot back: it is finished as a dead writer's would be,
 * and receivers pass it.  Wake those it blocked. */
static void withdraw(struct ipcx_mailbox *mb, struct ipcx__qref *ref)
{
    ref->blocker = mb->holder;
    ipcx__q_reclaim(&mb->q, ref);
    ipcx__event_notify(&mb->hdr->ev_msg, INT32_MAX);
    ipcx__event_notify(&mb->hdr->ev_space, INT32_MAX);
}

int ipcx_mailbox_send_loan(ipcx_mailbox *mb, ipcx_loan *loan, size_t len)
{
    struct ipcx__qref ref;
    int rc = check_handle(mb, loan);
    if (rc < 0 || (rc = redeem(mb, loan, LOAN_SEND, &ref)) < 0) {
        return rc;
    }
    if (len > mb->max_msg) {
        withdraw(mb, &ref);
        spend(loan);
        return ipcx__err(-EMSGSIZE,
                         "message of %zu bytes exceeds the loan's %u; "
                         "the loan is cancelled",
                         len, mb->max_msg);
    }
    ipcx__mbx_publish(mb, &ref, len, 0);
    atomic_fetch_add_explicit(&mb->me->sent, 1, memory_order_relaxed);
    spend(loan);
    return 0;
}

int ipcx_mailbox_cancel_loan(ipcx_mailbox *mb, ipcx_loan *loan)
{
    struct ipcx__qref ref;
    int rc = check_handle(mb, loan);
    if (rc < 0 || (rc = redeem(mb, loan, LOAN_SEND, &ref)) < 0) {
        return rc;
    }
    withdraw(mb, &ref);
    spend(loan);
    return 0;
}

long ipcx_mailbox_recv_loan(ipcx_mailbox *mb, ipcx_loan *loan,
                            int64_t timeout_ns)
{
    int rc = check_handle(mb, loan);
    if (rc < 0) {
        return rc;
    }
    struct ipcx__deadline d;
    struct ipcx__qref ref;
    rc = ipcx__mbx_recv_check(mb, &d, timeout_ns);
    if (rc == 0) {
        rc = ipcx__mbx_take(mb, &ref, mb->max_msg, &d);
    }
    if (rc < 0) {
        return rc;
    }
    lend(mb, loan, LOAN_RECV, &ref);
    loan->size = ref.len; /* validated by the take: at most max_msg */
    loan->pid = atomic_load_explicit(&ref.slot->pid, memory_order_relaxed);
    loan->uid = atomic_load_explicit(&ref.slot->uid, memory_order_relaxed);
    return (long)ref.len;
}

int ipcx_mailbox_return_loan(ipcx_mailbox *mb, ipcx_loan *loan)
{
    struct ipcx__qref ref;
    int rc = check_handle(mb, loan);
    if (rc < 0 || (rc = redeem(mb, loan, LOAN_RECV, &ref)) < 0) {
        return rc;
    }
    /* Wake senders always: one may wait for this very slot, the ring
     * having come round to it while it was lent (the queue says so only
     * when a whole segment frees). */
    ipcx__mbx_finish(mb, &ref, 1);
    spend(loan);
    return 0;
}
