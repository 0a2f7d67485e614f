/*
 * io.c - sending and receiving on a mailbox.
 *
 * Fast path: a send that finds room and a receive that finds a message are a
 * few atomic operations on the queue plus one check of the event's sleeper
 * count; the futex is touched only when somebody sleeps.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <ipcx/mailbox.h>

#include "core/error.h"
#include "mailbox/mailbox.h"

/* While a receiver sleeps, a non-blocking rendezvous send gives it this long
 * to wake and take the message (the seeds' "a receiver is waiting"). */
#define RENDEZVOUS_NOWAIT_GRACE_NS 1000000

struct op {
    struct ipcx_mailbox *mb;
    struct ipcx__qref ref;
    size_t cap;
    int32_t rcv_pid;
};

static int destroyed(struct ipcx_mailbox *mb)
{
    /* Acquire pairs with the release store in ipcx_mailbox_destroy(). */
    return atomic_load_explicit(&mb->hdr->destroyed, memory_order_acquire);
}

static int try_claim(void *arg)
{
    struct op *op = arg;
    if (destroyed(op->mb)) {
        return -EIDRM;
    }
    return ipcx__q_claim(&op->mb->q, op->mb->holder, &op->ref);
}

/* Claiming is blocked by an old generation: finish what the dead left. */
static void unstick_claim(void *arg)
{
    struct op *op = arg;
    if (ipcx__q_unstick_tail(&op->mb->q) > 0) {
        ipcx__event_notify(&op->mb->hdr->ev_space, INT32_MAX);
    }
}

static int try_acked(void *arg)
{
    struct op *op = arg;
    int rc = ipcx__q_acked(&op->mb->q, &op->ref, &op->rcv_pid);
    if (rc == -EAGAIN && destroyed(op->mb)) {
        return -EIDRM;
    }
    /* Still queued: a receiver may claim it and die before it could wake
     * us, so watch in slices rather than sleep unbounded. */
    if (rc == -EAGAIN) {
        op->ref.blocker = 0;
        return -EINPROGRESS;
    }
    return rc;
}

/* Our message's receiver is slow: if it died while copying, take the slot
 * back (LOST); try_acked() then sees that and the message is sent again. */
static void unstick_acked(void *arg)
{
    struct op *op = arg;
    if (op->ref.blocker != 0 && !ipcx__mbx_alive(op->mb, op->ref.blocker)) {
        ipcx__q_reclaim(&op->mb->q, &op->ref);
    }
}

static int try_take(void *arg)
{
    struct op *op = arg;
    struct ipcx_mailbox *mb = op->mb;
    if (mb->policy == IPCX_POLICY_EXCLUSIVE &&
        atomic_load_explicit(&mb->hdr->rx_owner, memory_order_acquire) !=
            mb->holder) {
        return -EBUSY; /* the right was handed to someone else */
    }
    int rc = ipcx__q_take(&mb->q, mb->holder, op->cap, &op->ref);
    return rc == -EAGAIN && destroyed(mb) ? -EIDRM : rc;
}

/* The oldest message is still being written: if its writer died, that
 * message is lost, and the slot is finished so the queue moves on. */
static void unstick_take(void *arg)
{
    struct op *op = arg;
    struct mbx_header *h = op->mb->hdr;
    if (!ipcx__mbx_alive(op->mb, op->ref.blocker) &&
        ipcx__q_reclaim(&op->mb->q, &op->ref) == 0) {
        ipcx__event_notify(&h->ev_msg, INT32_MAX);
        ipcx__event_notify(&h->ev_space, INT32_MAX);
    }
}

/* Attach the detail a caller of a failed send or receive wants. */
int ipcx__mbx_explain(struct ipcx_mailbox *mb, int rc)
{
    switch (rc) {
    case -ENOSPC:
        return ipcx__err(rc,
                         "the unbounded mailbox reached its ceiling of "
                         "%llu bytes",
                         (unsigned long long)mb->hdr->max_bytes);
    case -EIDRM:
        return ipcx__err(rc, "the mailbox was destroyed");
    case -EPROTO:
        return ipcx__err(rc, "the mailbox's shared memory is corrupt");
    case -EBUSY:
        return ipcx__err(rc, "another process holds the receive right");
    case -EAGAIN:
        return ipcx__err(rc, "not possible without waiting");
    case -ETIMEDOUT:
        return ipcx__err(rc, "timed out");
    default:
        return rc;
    }
}

static int check_send(struct ipcx_mailbox *mb, const void *buf, size_t len,
                      unsigned flags, pid_t *receiver)
{
    int rc = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (rc < 0) {
        return rc;
    }
    if (buf == NULL && len > 0) {
        return ipcx__err(-EINVAL, "NULL buffer with length %zu", len);
    }
    if (!(mb->rights & IPCX_RIGHT_SEND)) {
        return ipcx__err(-EPERM, "the handle has no send right");
    }
    if ((flags & ~IPCX_SEND_RECEIPT) != 0) {
        return ipcx__err(-EINVAL, "unknown send flags 0x%x", flags);
    }
    if ((flags & IPCX_SEND_RECEIPT) && receiver == NULL) {
        return ipcx__err(-EINVAL, "IPCX_SEND_RECEIPT needs a receiver pointer");
    }
    if (len > mb->max_msg) {
        return ipcx__err(-EMSGSIZE,
                         "message of %zu bytes exceeds the "
                         "mailbox maximum of %u",
                         len, mb->max_msg);
    }
    return 0;
}

/*
 * The deadline passed but a receiver claimed our message first, so it has
 * been taken.  Collect the receipt if the copy is done; if it is still in
 * progress, report the claimer and leave the receipt uncollected (sender 0
 * tells the reclaimer nobody will).  0, or -ECONNRESET if the receiver died
 * copying it: then nothing was delivered and nothing is left behind.
 */
static int taken_at_deadline(struct op *op, pid_t *receiver)
{
    struct ipcx_mailbox *mb = op->mb;
    int rc = try_acked(op);
    if (rc == 0) {
        ipcx__event_notify(&mb->hdr->ev_space, INT32_MAX);
        if (receiver != NULL) {
            *receiver = op->rcv_pid;
        }
        return 0;
    }
    if (rc != -EINPROGRESS || op->ref.blocker == 0) {
        return rc == -EINPROGRESS ? -ECONNRESET : rc;
    }
    uint32_t idx = MBX_HOLDER_IDX(op->ref.blocker);
    pid_t pid = idx < MBX_NPROC ? atomic_load_explicit(&mb->procs[idx].pid,
                                                       memory_order_relaxed)
                                : 0;
    uint32_t me = mb->holder;
    atomic_compare_exchange_strong(&op->ref.slot->sender, &me, 0);
    if (receiver != NULL) {
        *receiver = pid;
    }
    return 0;
}

/* Wait until the message of OP is taken; withdraw it if time runs out. */
static int await_taken(struct op *op, struct ipcx__deadline *d, pid_t *receiver)
{
    struct ipcx_mailbox *mb = op->mb;
    struct mbx_header *h = mb->hdr;
    int nowait = d->timeout_ns == 0;
    if (nowait &&
        (atomic_load_explicit(&h->ev_msg.waiters, memory_order_relaxed) &
         IPCX__EV_COUNT) != 0) {
        ipcx__deadline_init(d, RENDEZVOUS_NOWAIT_GRACE_NS);
    }
    struct ipcx__op wop = {try_acked, unstick_acked, op};
    int rc = ipcx__wait(&h->ev_space, &wop, d, &mb->me->send_waiting);
    if (nowait && rc == -ETIMEDOUT) {
        rc = -EAGAIN; /* the caller asked not to wait; the grace is ours */
    }
    if (rc == -EAGAIN || rc == -ETIMEDOUT || rc == -EIDRM) {
        if (ipcx__q_cancel(&mb->q, &op->ref) == 0) {
            ipcx__event_notify(&h->ev_space, INT32_MAX);
            return rc;
        }
        /* A receiver claimed it as the time ran out: it has been taken. */
        return taken_at_deadline(op, receiver) == 0 ? 0 : rc;
    }
    if (rc < 0) {
        return rc;
    }
    ipcx__event_notify(&h->ev_space, INT32_MAX); /* the slot is free */
    if (receiver != NULL) {
        *receiver = op->rcv_pid;
    }
    return 0;
}

int ipcx__mbx_claim(struct ipcx_mailbox *mb, struct ipcx__qref *ref,
                    struct ipcx__deadline *d)
{
    struct op op = {.mb = mb};
    struct ipcx__op wop = {try_claim, unstick_claim, &op};
    int rc = ipcx__wait(&mb->hdr->ev_space, &wop, d, &mb->me->send_waiting);
    *ref = op.ref;
    return rc;
}

void ipcx__mbx_publish(struct ipcx_mailbox *mb, struct ipcx__qref *ref,
                       size_t len, int ack)
{
    struct ipcx__qslot *s = ref->slot;
    atomic_store_explicit(&s->pid, mb->pid, memory_order_relaxed);
    atomic_store_explicit(&s->uid, mb->uid, memory_order_relaxed);
    atomic_store_explicit(&s->sender, mb->holder, memory_order_relaxed);
    ipcx__q_publish(&mb->q, ref, (uint32_t)len, ack ? IPCX__Q_FLAG_ACK : 0);
    ipcx__event_notify(&mb->hdr->ev_msg, 1);
    ipcx__mbx_ring_if_armed(mb); /* after notify's fence: see bell.c */
}

/* Queue one copy of the message and, if ACK, wait until it is taken. */
static int send_once(struct ipcx_mailbox *mb, const void *buf, size_t len,
                     int ack, struct ipcx__deadline *d, pid_t *receiver)
{
    struct op op = {.mb = mb};
    int rc = ipcx__mbx_claim(mb, &op.ref, d);
    if (rc < 0) {
        return rc;
    }
    if (len > 0) {
        memcpy(ipcx__q_payload(&op.ref), buf, len);
    }
    ipcx__mbx_publish(mb, &op.ref, len, ack);
    if (ack && (rc = await_taken(&op, d, receiver)) < 0) {
        return rc; /* withdrawn, or to be sent again */
    }
    atomic_fetch_add_explicit(&mb->me->sent, 1, memory_order_relaxed);
    return 0;
}

int ipcx_mailbox_send_ex(ipcx_mailbox *mb, const void *buf, size_t len,
                         int64_t timeout_ns, unsigned flags, pid_t *receiver)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int rc = check_send(mb, buf, len, flags, receiver);
    if (rc < 0) {
        return rc;
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    int ack = mb->capacity == 0 || (flags & IPCX_SEND_RECEIPT);
    do {
        rc = send_once(mb, buf, len, ack, &d, receiver);
    } while (rc == -ECONNRESET); /* the receiver died holding it: again */
    return rc < 0 ? ipcx__mbx_explain(mb, rc) : 0;
}

int ipcx_mailbox_send(ipcx_mailbox *mb, const void *buf, size_t len,
                      int64_t timeout_ns)
{
    return ipcx_mailbox_send_ex(mb, buf, len, timeout_ns, 0, NULL);
}

int ipcx__mbx_recv_check(struct ipcx_mailbox *mb, struct ipcx__deadline *d,
                         int64_t timeout_ns)
{
    if (ipcx__deadline_init(d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    if (!(mb->rights & IPCX_RIGHT_RECV)) {
        return ipcx__err(-EPERM, "the handle has no receive right");
    }
    int rc;
    if (mb->policy == IPCX_POLICY_EXCLUSIVE &&
        (rc = ipcx__mbx_rx_right(mb)) < 0) {
        return ipcx__err(rc, "another process holds the receive right");
    }
    return 0;
}

int ipcx__mbx_take(struct ipcx_mailbox *mb, struct ipcx__qref *ref, size_t cap,
                   struct ipcx__deadline *d)
{
    struct op op = {.mb = mb, .cap = cap};
    struct mbx_header *h = mb->hdr;
    struct ipcx__op wop = {try_take, unstick_take, &op};
    int rc = ipcx__wait(&h->ev_msg, &wop, d, &mb->me->recv_waiting);
    if ((rc == -EAGAIN || rc == -ETIMEDOUT) &&
        atomic_load_explicit(&mb->fd_mode, memory_order_relaxed)) {
        /* A poller found nothing: re-arm the bell, then look once more
         * (the receiver's half of the protocol in bell.c). */
        ipcx__mbx_arm(mb);
        int again = try_take(&op);
        rc = again == -EAGAIN || again == -EINPROGRESS ? rc : again;
    }
    if (rc == -EMSGSIZE) {
        return ipcx__err(rc,
                         "the next message is longer than the %zu-byte "
                         "buffer",
                         cap);
    }
    if (rc < 0) {
        return ipcx__mbx_explain(mb, rc);
    }
    *ref = op.ref;
    /* Head has moved on: a place opened for blocked senders.  Tell them
     * before the message is used, so that a receiver killed while copying
     * cannot leave them asleep with room in the queue (a sender waiting
     * for room sleeps without liveness slices: nobody holds what it waits
     * for). */
    ipcx__event_notify(&h->ev_space, INT32_MAX);
    return 0;
}

void ipcx__mbx_finish(struct ipcx_mailbox *mb, struct ipcx__qref *ref,
                      int always)
{
    if (ipcx__q_finish(&mb->q, ref, mb->holder, mb->pid) != 0 || always) {
        /* A sender waits for its receipt, or a segment came free (or the
         * caller knows a sender may wait for this very slot). */
        ipcx__event_notify(&mb->hdr->ev_space, INT32_MAX);
    }
    atomic_fetch_add_explicit(&mb->me->received, 1, memory_order_relaxed);
}

long ipcx_mailbox_recv_ex(ipcx_mailbox *mb, void *buf, size_t cap,
                          int64_t timeout_ns, ipcx_msg_info *info)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    long bad = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (bad < 0) {
        return bad;
    }
    if (buf == NULL && cap > 0) {
        return ipcx__err(-EINVAL, "NULL buffer");
    }
    struct ipcx__qref ref;
    int rc = ipcx__mbx_recv_check(mb, &d, timeout_ns);
    if (rc == 0) {
        rc = ipcx__mbx_take(mb, &ref, cap, &d);
    }
    if (rc < 0) {
        return rc;
    }
    struct ipcx__qslot *s = ref.slot;
    uint32_t len = ref.len; /* validated against max and cap */
    if (len > 0) {
        memcpy(buf, ipcx__q_payload(&ref), len);
    }
    if (info != NULL) {
        memset(info, 0, sizeof *info);
        info->pid = atomic_load_explicit(&s->pid, memory_order_relaxed);
        info->uid = atomic_load_explicit(&s->uid, memory_order_relaxed);
    }
    ipcx__mbx_finish(mb, &ref, 0);
    return (long)len;
}

long ipcx_mailbox_recv(ipcx_mailbox *mb, void *buf, size_t cap,
                       int64_t timeout_ns)
{
    return ipcx_mailbox_recv_ex(mb, buf, cap, timeout_ns, NULL);
}

int ipcx_mailbox_transfer(ipcx_mailbox *mb, pid_t to)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (bad < 0) {
        return bad;
    }
    if (mb->policy != IPCX_POLICY_EXCLUSIVE) {
        return ipcx__err(-EOPNOTSUPP, "not an exclusive mailbox");
    }
    if (!(mb->rights & IPCX_RIGHT_RECV)) {
        return ipcx__err(-EPERM, "the handle has no receive right");
    }
    uint32_t me = mb->holder;
    if (atomic_load_explicit(&mb->hdr->rx_owner, memory_order_acquire) != me) {
        return ipcx__err(-EPERM, "the caller does not hold the receive right");
    }
    if (to == mb->pid) {
        return 0;
    }
    uint32_t target = ipcx__mbx_find_pid(mb, to);
    if (target == 0) {
        return ipcx__err(-ESRCH, "no live process %d has the mailbox open",
                         (int)to);
    }
    if (!atomic_compare_exchange_strong(&mb->hdr->rx_owner, &me, target)) {
        return ipcx__err(-EPERM, "the caller does not hold the receive right");
    }
    return 0;
}

int ipcx_mailbox_release(ipcx_mailbox *mb)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (bad < 0) {
        return bad;
    }
    if (mb->policy != IPCX_POLICY_EXCLUSIVE) {
        return ipcx__err(-EOPNOTSUPP, "not an exclusive mailbox");
    }
    uint32_t me = mb->holder;
    atomic_compare_exchange_strong(&mb->hdr->rx_owner, &me, 0);
    return 0;
}
