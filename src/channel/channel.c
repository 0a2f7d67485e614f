/*
 * channel.c - a channel's shared memory, sending, receiving and waiting.
 *
 * Moving a message is the mailbox fast path (ring/queue.c) on the queue of
 * one direction.  What differs is sleeping: a waiter must also wake when
 * the peer dies, which no futex tells.  So an end's sleepers wait in poll()
 * on the end's eventfd (its bell, written by a notifier who sees sleepers)
 * and on the connection socket (hung up by the kernel when the peer's
 * process goes).  docs/design.md, "Channels", has the protocol.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ipcx/poll.h>
#include <fcntl.h>

#include "channel/channel.h"
#include "core/error.h"
#include "core/sys.h"
#include "notify/notify.h"

#define ROUND_UP(x, a) (((x) + (a)-1) / (a) * (a))

/* A channel's two queues together may not exceed this (the memfd is
 * allocated lazily, but the mapping is not free). */
#define CHAN_MAP_MAX (4ull << 30)

int ipcx__chan_geometry(uint32_t capacity, uint32_t max_msg,
                        struct chan_header *h)
{
    struct ipcx__qgeom g;
    if (capacity == 0 || capacity > IPCX_CHANNEL_CAPACITY_MAX || max_msg == 0 ||
        max_msg > IPCX_MSG_SIZE_MAX ||
        ipcx__q_geometry(capacity, max_msg + CHAN_FRAME, 0, &g) < 0) {
        return -EINVAL;
    }
    memset(h, 0, sizeof *h);
    h->magic = CHAN_MAGIC;
    h->version = CHAN_VERSION;
    h->capacity = capacity;
    h->max_msg = max_msg;
    h->kshift = g.kshift;
    h->M = g.M;
    h->S = g.S;
    h->stride = g.stride;
    h->seg_bytes = g.seg_bytes;
    uint64_t off = CHAN_PAGE;
    for (int d = 0; d < 2; d++) {
        h->q_off[d] = off;
        off += ROUND_UP(sizeof(struct ipcx__qhdr), 64);
        h->table_off[d] = off;
        off = ROUND_UP(off + (uint64_t)g.M * 8, 64);
        h->pool_off[d] = off;
        off = ROUND_UP(off + (uint64_t)g.S * g.seg_bytes, CHAN_PAGE);
    }
    h->map_size = off;
    return off > CHAN_MAP_MAX ? -EINVAL : 0;
}

int ipcx__chan_check(const struct chan_header *copy, uint64_t file_size)
{
    struct chan_header g;
    if (ipcx__chan_geometry(copy->capacity, copy->max_msg, &g) < 0 ||
        memcmp(&g, copy, offsetof(struct chan_header, end)) != 0 ||
        file_size != g.map_size) {
        return -EPROTO;
    }
    return 0;
}

static int chan_alive(void *ctx, uint32_t holder)
{
    ipcx_channel *ch = ctx;
    return holder == (uint32_t)ch->end + 1 || !ipcx__chan_peer_gone(ch, 1);
}

/* The queue of direction D, from the validated header copy H. */
static void queue_view(struct ipcx__queue *q, unsigned char *base,
                       const struct chan_header *h, int d, void *ctx)
{
    memset(q, 0, sizeof *q);
    q->h = (struct ipcx__qhdr *)(base + h->q_off[d]);
    q->table = (_Atomic uint64_t *)(base + h->table_off[d]);
    q->pool = base + h->pool_off[d];
    q->cap = h->capacity;
    q->seg_bytes = h->seg_bytes;
    q->kshift = h->kshift;
    q->M = h->M;
    q->S = h->S;
    q->stride = h->stride;
    q->max_msg = h->max_msg + CHAN_FRAME;
    q->static_segs = 1;
    q->alive = chan_alive;
    q->ctx = ctx;
    /* The memfd is sealed against shrinking and was checked to be whole. */
    atomic_store_explicit(&q->backed, q->S, memory_order_relaxed);
}

void ipcx__chan_format(unsigned char *base, const struct chan_header *geom)
{
    memcpy(base, geom, sizeof *geom);
    for (int d = 0; d < 2; d++) {
        struct ipcx__queue q;
        queue_view(&q, base, geom, d, NULL);
        ipcx__q_format(&q, 1);
    }
}

/*
 * A pidfd for the peer process PID, or -1.  The socket alone misses a
 * peer that died after forking: the child inherited the socket and keeps
 * it connected.  The process itself cannot hide its exit from a pidfd.
 */
static int watch_pid(pid_t pid, int sock)
{
    int fd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    struct pollfd p = {sock, POLLRDHUP, 0};
    /* Had the peer died before pidfd_open, PID might name a newcomer;
     * the socket would have hung up then (unless a child holds it). */
    if (fd >= 0 && poll(&p, 1, 0) > 0 &&
        (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
        close(fd);
        return -1;
    }
    if (fd >= 0) {
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return fd;
}

int ipcx__chan_attach(unsigned char *base, size_t map_size, int end, int sock,
                      const int bell[2], ipcx_channel **out)
{
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
        return -errno;
    }
    ipcx_channel *ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        return -ENOMEM;
    }
    /* Copy the header once more: a peer could have changed it since the
     * check, and only the copy is used from here on. */
    struct chan_header h;
    memcpy(&h, base, sizeof h);
    if (ipcx__chan_check(&h, map_size) < 0) {
        free(ch);
        return -EPROTO;
    }
    ch->magic = IPCX__H_CHANNEL;
    ch->end = end;
    ch->sock = sock;
    /* SO_PEERCRED's pid, which the kernel translated into our pid
     * namespace (0 if the peer is outside it): never a number the peer
     * sent. */
    ch->pidfd = watch_pid(cred.pid, sock);
    ch->bell[0] = bell[0];
    ch->bell[1] = bell[1];
    ch->epfd = -1;
    ch->base = base;
    ch->map_size = map_size;
    ch->hdr = (struct chan_header *)base;
    ch->max_msg = h.max_msg;
    ch->peer = (ipcx_peer){cred.pid, cred.uid, cred.gid};
    queue_view(&ch->out, base, &h, end, ch);
    queue_view(&ch->in, base, &h, end ^ 1, ch);
    pthread_mutex_init(&ch->wait_mu, NULL);
    pthread_mutex_init(&ch->fd_mu, NULL);
    ipcx__rpc_init(ch);
    ipcx__notify_track_channel(ch);
    *out = ch;
    return 0;
}

void ipcx__chan_notify(ipcx_channel *ch, int end)
{
    struct ipcx__event *ev = &ch->hdr->end[end].ev;
    /* As in ipcx__event_notify(): the fence orders the caller's published
     * change before our read of `waiters`, and pairs with the seq_cst RMW
     * of the sleeper's announcement, or of ipcx_channel_fd() (Dekker). */
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t w = atomic_load_explicit(&ev->waiters, memory_order_relaxed);
    if (!(w & IPCX__EV_POLLED)) {
        /* The ring wakes the end's leader, which wakes the others: all of
         * them.  So, as ipcx__event_notify() does for a wake-all, the
         * first notify since a sleeper armed disarms and rings; later ones
         * find ARMED clear and cost nothing until someone sleeps again. */
        if (!(w & IPCX__EV_ARMED)) {
            return;
        }
        w = atomic_fetch_and_explicit(&ev->waiters, ~IPCX__EV_ARMED,
                                      memory_order_relaxed);
        if (!(w & IPCX__EV_ARMED)) {
            return;
        }
    }
    atomic_fetch_add_explicit(&ev->seq, 1, memory_order_release);
    uint64_t one = 1;
    /* Fails only if the counter would overflow, when it is readable. */
    (void)!write(ch->bell[end], &one, sizeof one);
}

static void mark_gone(ipcx_channel *ch)
{
    atomic_store_explicit(&ch->peer_gone, 1, memory_order_release);
}

static int hung_up(short revents)
{
    return (revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0;
}

int ipcx__chan_peer_gone(ipcx_channel *ch, int check_sock)
{
    /* Acquire: pairs with the release store of the peer's close (and our
     * own mark_gone()), so what the peer sent before is visible. */
    if (atomic_load_explicit(&ch->peer_gone, memory_order_acquire) ||
        atomic_load_explicit(&ch->hdr->end[ch->end ^ 1].closed,
                             memory_order_acquire)) {
        return 1;
    }
    struct pollfd p[2] = {{ch->sock, POLLRDHUP, 0}, {ch->pidfd, POLLIN, 0}};
    if (check_sock && poll(p, 2, 0) > 0 &&
        (hung_up(p[0].revents) || p[1].revents)) {
        mark_gone(ch);
        return 1;
    }
    return 0;
}

/* Read the bell down to zero (it is non-blocking). */
static void drain_bell(ipcx_channel *ch)
{
    uint64_t v;
    (void)!read(ch->bell[ch->end], &v, sizeof v);
}

/* Block in poll() on our bell and the socket until UNTIL. */
static void poll_bell(ipcx_channel *ch, int64_t until)
{
    /* A negative pidfd is ignored by poll(). */
    struct pollfd p[3] = {{ch->bell[ch->end], POLLIN, 0},
                          {ch->sock, POLLRDHUP, 0},
                          {ch->pidfd, POLLIN, 0}};
    if (ipcx__poll_at(p, 3, until) > 0 &&
        (hung_up(p[1].revents) || p[2].revents)) {
        mark_gone(ch);
    }
}

/*
 * The sleeper.  Only one thread per process (the leader) polls the bell and
 * drains it; the others wait for the leader to wake, on `gen`.  Draining is
 * what makes this safe: the leader drains before it re-checks (its caller
 * tries again after we return), so a notification after the drain leaves
 * the bell readable and one before it is seen by the re-check.  Were two
 * threads to drain, one could eat the write meant for the other, which
 * would then sleep through it.
 */
static void chan_sleep(void *ctx, struct ipcx__event *ev, uint32_t key,
                       int64_t until)
{
    ipcx_channel *ch = ctx;
    pthread_mutex_lock(&ch->wait_mu);
    if (ch->leader) {
        /* Read under the mutex: the leader bumps gen under it too, so
         * either we see the new value or the wake comes after our wait. */
        uint32_t g = atomic_load_explicit(&ch->gen, memory_order_relaxed);
        ch->followers++;
        pthread_mutex_unlock(&ch->wait_mu);
        ipcx__futex_wait(&ch->gen, g, until);
        pthread_mutex_lock(&ch->wait_mu);
        ch->followers--;
        pthread_mutex_unlock(&ch->wait_mu);
        return;
    }
    ch->leader = 1;
    pthread_mutex_unlock(&ch->wait_mu);
    /* Acquire pairs with the notifier's release increment. */
    if (atomic_load_explicit(&ev->seq, memory_order_acquire) == key) {
        poll_bell(ch, until);
    }
    drain_bell(ch);
    if (ch->epfd >= 0 && ipcx__q_depth(&ch->in) > 0) {
        /* An epoll user shares the bell: what we drained may have been
         * its ring, so leave it readable while messages wait. */
        uint64_t one = 1;
        (void)!write(ch->bell[ch->end], &one, sizeof one);
    }
    pthread_mutex_lock(&ch->wait_mu);
    ch->leader = 0;
    atomic_fetch_add_explicit(&ch->gen, 1, memory_order_relaxed);
    /* A follower counts itself under the mutex before it reads gen, so
     * one we do not count here will read the new value: no wake needed
     * (a system call saved on every sleep of a single-threaded user). */
    int followers = ch->followers;
    pthread_mutex_unlock(&ch->wait_mu);
    if (followers > 0) {
        ipcx__futex_wake(&ch->gen, INT32_MAX);
    }
}

int ipcx__chan_wait(ipcx_channel *ch, const struct ipcx__op *op,
                    struct ipcx__deadline *d)
{
    struct ipcx__sleeper sl = {chan_sleep, ch};
    return ipcx__wait_with(&ch->hdr->end[ch->end].ev, op, d, NULL, &sl);
}

/* Drain the bell for an epoll user, unless a leader owns it now. */
static int drain_if_idle(ipcx_channel *ch)
{
    pthread_mutex_lock(&ch->wait_mu);
    int idle = !ch->leader;
    if (idle) {
        drain_bell(ch);
    }
    pthread_mutex_unlock(&ch->wait_mu);
    return idle;
}

/* ---- ipcx_poll() ---- */

void ipcx__chan_poll_arm(ipcx_channel *ch)
{
    /* In fd mode every notification of our end writes the bell, so a
     * drain followed by the caller's re-check cannot miss one: a message
     * published after the re-check rings after the drain. */
    drain_if_idle(ch);
}

unsigned ipcx__chan_ready(ipcx_channel *ch, int check_sock)
{
    if (atomic_load_explicit(&ch->nstash, memory_order_relaxed) > 0 ||
        ipcx__q_depth(&ch->in) > 0) {
        return IPCX_POLLIN;
    }
    if (ipcx__chan_peer_gone(ch, check_sock)) {
        /* Gone: what it sent before is visible now (acquire). */
        return ipcx__q_depth(&ch->in) > 0 ? IPCX_POLLIN
                                          : IPCX_POLLIN | IPCX_POLLHUP;
    }
    return 0;
}

/* ---- sending ---- */

struct send_op {
    ipcx_channel *ch;
    struct ipcx__qref ref;
};

static int try_claim(void *arg)
{
    struct send_op *op = arg;
    if (ipcx__chan_peer_gone(op->ch, 0)) {
        return -EPIPE;
    }
    int rc = ipcx__q_claim(&op->ch->out, (uint32_t)op->ch->end + 1, &op->ref);
    if (rc == -EAGAIN) {
        /* Full: ask the peer's next receive to notify us.  seq_cst store,
         * before our caller's re-check (the claim we retry): pairs with
         * the fence in ipcx__chan_finish() (Dekker). */
        atomic_store_explicit(&op->ch->hdr->end[op->ch->end].room_wanted, 1,
                              memory_order_seq_cst);
        rc = ipcx__q_claim(&op->ch->out, (uint32_t)op->ch->end + 1, &op->ref);
    }
    return rc;
}

/* An old generation blocks us: finish what a dead peer left unfinished. */
static void unstick_claim(void *arg)
{
    struct send_op *op = arg;
    if (ipcx__q_unstick_tail(&op->ch->out) > 0) {
        ipcx__chan_notify(op->ch, op->ch->end);
    }
}

int ipcx__chan_send_frame(ipcx_channel *ch, uint32_t kind, uint64_t token,
                          const void *buf, size_t len, struct ipcx__deadline *d)
{
    struct send_op op = {.ch = ch};
    struct ipcx__op wop = {try_claim, unstick_claim, &op};
    int rc = ipcx__chan_wait(ch, &wop, d);
    if ((rc == -EAGAIN || rc == -ETIMEDOUT) && ipcx__chan_peer_gone(ch, 1)) {
        rc = -EPIPE;
    }
    if (rc < 0) {
        return rc;
    }
    struct chan_frame fr = {.kind = kind, .token = token};
    unsigned char *p = ipcx__q_payload(&op.ref);
    memcpy(p, &fr, CHAN_FRAME);
    if (len > 0) {
        memcpy(p + CHAN_FRAME, buf, len);
    }
    ipcx__q_publish(&ch->out, &op.ref, (uint32_t)len + CHAN_FRAME, 0);
    ipcx__chan_notify(ch, ch->end ^ 1);
    return 0;
}

/* ---- receiving ---- */

void ipcx__chan_finish(ipcx_channel *ch, struct chan_msg *m)
{
    ipcx__q_finish(&ch->in, &m->ref, (uint32_t)ch->end + 1, 0);
    /* A place opened in the peer's sending queue: wake it if it waits for
     * one.  The fence orders our finish before the load, and pairs with
     * the seq_cst store in its try_claim(): either its retried claim sees
     * the place, or we see its flag.  Acquire on the exchange: its
     * announcement, sequenced before its flag, is then visible to the
     * notify's read of its sleepers. */
    atomic_thread_fence(memory_order_seq_cst);
    _Atomic uint32_t *want = &ch->hdr->end[ch->end ^ 1].room_wanted;
    if (atomic_load_explicit(want, memory_order_relaxed) &&
        atomic_exchange_explicit(want, 0, memory_order_acquire)) {
        ipcx__chan_notify(ch, ch->end ^ 1);
    }
}

int ipcx__chan_take(ipcx_channel *ch, struct chan_msg *m)
{
    int rc =
        ipcx__q_take(&ch->in, (uint32_t)ch->end + 1, ch->in.max_msg, &m->ref);
    if (rc < 0) {
        return rc;
    }
    /* The frame is copied out once; the peer may rewrite shared memory. */
    const unsigned char *p = ipcx__q_payload(&m->ref);
    if (m->ref.len >= CHAN_FRAME) {
        memcpy(&m->fr, p, CHAN_FRAME);
    }
    if (m->ref.len < CHAN_FRAME || m->fr.kind < CHAN_ONEWAY ||
        m->fr.kind > CHAN_REPLY ||
        (m->fr.kind != CHAN_ONEWAY && m->fr.token == 0)) {
        ipcx__chan_finish(ch, m);
        return -EPROTO;
    }
    m->len = m->ref.len - CHAN_FRAME;
    m->data = p + CHAN_FRAME;
    return 0;
}

struct recv_op {
    ipcx_channel *ch;
    void *buf;
    size_t cap;
    ipcx_channel_msg_info *info;
    long result;
    struct chan_msg m;
};

static void deliver(struct recv_op *op)
{
    struct chan_msg *m = &op->m;
    if (m->len > 0) {
        memcpy(op->buf, m->data, m->len);
    }
    if (op->info != NULL) {
        memset(op->info, 0, sizeof *op->info);
        op->info->token = m->fr.kind == CHAN_REQUEST ? m->fr.token : 0;
    }
    op->result = m->len;
    ipcx__chan_finish(op->ch, m);
}

/* Nothing to take.  If the peer is gone, one more look (what it sent
 * before going is visible now) decides between a message and -EPIPE. */
static int empty_or_gone(ipcx_channel *ch, struct chan_msg *m)
{
    if (!ipcx__chan_peer_gone(ch, 0)) {
        return -EAGAIN;
    }
    int rc = ipcx__chan_take(ch, m);
    return rc == -EAGAIN ? -EPIPE : rc;
}

static int try_recv_locked(struct recv_op *op)
{
    ipcx_channel *ch = op->ch;
    for (;;) {
        if (atomic_load_explicit(&ch->nstash, memory_order_relaxed) > 0) {
            long n = ipcx__rpc_unstash(ch, op->buf, op->cap, op->info);
            if (n != -EAGAIN) {
                op->result = n;
                return n < 0 ? (int)n : 0;
            }
        }
        int rc = ipcx__chan_take(ch, &op->m);
        if (rc == -EAGAIN) {
            rc = empty_or_gone(ch, &op->m);
        }
        if (rc < 0) {
            return rc;
        }
        if (op->m.fr.kind != CHAN_REPLY && op->m.len <= op->cap) {
            deliver(op);
            return 0;
        }
        /* A reply for a caller, or too long for us: it stays first in
         * line, in the stash, and the next round reports -EMSGSIZE. */
        ipcx__rpc_route(ch, &op->m, 0);
    }
}

/* Under rpc_mu: the stash is read, and a message taken is delivered or
 * handed over, before any other thread of ours takes the next one. */
static int try_recv(void *arg)
{
    struct recv_op *op = arg;
    pthread_mutex_lock(&op->ch->rpc_mu);
    int rc = try_recv_locked(op);
    pthread_mutex_unlock(&op->ch->rpc_mu);
    return rc;
}

/* The oldest incoming message is still being written: if its writer (the
 * peer) died, it is lost, and the queue moves on. */
static void unstick_take(void *arg)
{
    struct recv_op *op = arg;
    if (op->m.ref.blocker != 0 && !chan_alive(op->ch, op->m.ref.blocker) &&
        ipcx__q_reclaim(&op->ch->in, &op->m.ref) == 0) {
        ipcx__chan_notify(op->ch, op->ch->end);
    }
}

/* Attach the detail a caller of a failed operation wants. */
int ipcx__chan_explain(ipcx_channel *ch, int rc)
{
    switch (rc) {
    case -EPIPE:
        return ipcx__err(rc, "the peer (pid %d) closed the channel or died",
                         (int)ch->peer.pid);
    case -EPROTO:
        return ipcx__err(rc, "malformed message or corrupt shared memory");
    case -EAGAIN:
        return ipcx__err(rc, "not possible without waiting");
    case -ETIMEDOUT:
        return ipcx__err(rc, "timed out");
    case -EMSGSIZE:
        return ipcx__err(rc, "the message does not fit the buffer");
    default:
        return rc;
    }
}

long ipcx_channel_recv_ex(ipcx_channel *ch, void *buf, size_t cap,
                          int64_t timeout_ns, ipcx_channel_msg_info *info)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int bad = ipcx__handle_check(ch, IPCX__H_CHANNEL, "channel");
    if (bad < 0) {
        return bad;
    }
    if (buf == NULL && cap > 0) {
        return ipcx__err(-EINVAL, "NULL buffer");
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    struct recv_op op = {.ch = ch, .buf = buf, .cap = cap, .info = info};
    struct ipcx__op wop = {try_recv, unstick_take, &op};
    int rc = ipcx__chan_wait(ch, &wop, &d);
    if ((rc == -EAGAIN || rc == -ETIMEDOUT) && ipcx__chan_peer_gone(ch, 1)) {
        rc = try_recv(&op);
    }
    /* For an epoll user, -EAGAIN resets the descriptor; a message that
     * came meanwhile either was drained with it (so we look again) or
     * left the bell readable. */
    if (rc == -EAGAIN && ch->epfd >= 0 && drain_if_idle(ch)) {
        rc = try_recv(&op);
        /* A message still being written rings the bell when done. */
        rc = rc == -EINPROGRESS ? -EAGAIN : rc;
    }
    return rc < 0 ? ipcx__chan_explain(ch, rc) : op.result;
}

long ipcx_channel_recv(ipcx_channel *ch, void *buf, size_t cap,
                       int64_t timeout_ns)
{
    return ipcx_channel_recv_ex(ch, buf, cap, timeout_ns, NULL);
}

int ipcx__chan_check_send(ipcx_channel *ch, const void *buf, size_t len)
{
    int bad = ipcx__handle_check(ch, IPCX__H_CHANNEL, "channel");
    if (bad < 0) {
        return bad;
    }
    if (buf == NULL && len > 0) {
        return ipcx__err(-EINVAL, "NULL buffer with length %zu", len);
    }
    if (len > ch->max_msg) {
        return ipcx__err(-EMSGSIZE,
                         "message of %zu bytes exceeds the channel maximum "
                         "of %u",
                         len, ch->max_msg);
    }
    return 0;
}

int ipcx_channel_send(ipcx_channel *ch, const void *buf, size_t len,
                      int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int rc = ipcx__chan_check_send(ch, buf, len);
    if (rc < 0) {
        return rc;
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    rc = ipcx__chan_send_frame(ch, CHAN_ONEWAY, 0, buf, len, &d);
    return rc < 0 ? ipcx__chan_explain(ch, rc) : 0;
}

int ipcx_channel_fd(ipcx_channel *ch)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(ch, IPCX__H_CHANNEL, "channel");
    if (bad < 0) {
        return bad;
    }
    pthread_mutex_lock(&ch->wait_mu);
    int rc = ch->epfd;
    if (rc < 0) {
        rc = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event bell = {.events = EPOLLIN};
        struct epoll_event hup = {.events = EPOLLRDHUP};
        if (rc < 0 ||
            epoll_ctl(rc, EPOLL_CTL_ADD, ch->bell[ch->end], &bell) < 0 ||
            epoll_ctl(rc, EPOLL_CTL_ADD, ch->sock, &hup) < 0 ||
            (ch->pidfd >= 0 &&
             epoll_ctl(rc, EPOLL_CTL_ADD, ch->pidfd, &bell) < 0)) {
            int err = -errno;
            ipcx__close(rc);
            pthread_mutex_unlock(&ch->wait_mu);
            return ipcx__err(err, "cannot set up the channel's descriptor");
        }
        /* A permanent sleeper: from now on every notification of our end
         * writes the bell.  seq_cst pairs with the notifier's fence. */
        atomic_fetch_or_explicit(&ch->hdr->end[ch->end].ev.waiters,
                                 IPCX__EV_POLLED, memory_order_seq_cst);
        ch->epfd = rc;
        /* Messages queued before now never rang: start readable, and the
         * caller's first receive until -EAGAIN settles it. */
        uint64_t one = 1;
        (void)!write(ch->bell[ch->end], &one, sizeof one);
    }
    pthread_mutex_unlock(&ch->wait_mu);
    return rc;
}

int ipcx_channel_peer(const ipcx_channel *ch, ipcx_peer *out)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(ch, IPCX__H_CHANNEL, "channel");
    if (bad < 0) {
        return bad;
    }
    if (out == NULL) {
        return ipcx__err(-EINVAL, "NULL argument");
    }
    *out = ch->peer;
    return 0;
}

long ipcx_channel_max_msg_size(const ipcx_channel *ch)
{
    int bad = ipcx__handle_check(ch, IPCX__H_CHANNEL, "channel");
    if (bad < 0) {
        return bad;
    }
    return ch->max_msg;
}

int ipcx_channel_close(ipcx_channel *ch)
{
    ipcx__err_clear();
    if (ch == NULL) {
        return 0;
    }
    int bad = ipcx__handle_check(ch, IPCX__H_CHANNEL, "channel");
    if (bad < 0) {
        return bad;
    }
    struct chan_end *me = &ch->hdr->end[ch->end];
    ipcx__notify_untrack_channel(ch);
    /* Release: everything we sent happens before the peer sees closed. */
    atomic_store_explicit(&me->closed, 1, memory_order_release);
    ipcx__chan_notify(ch, ch->end ^ 1);
    if (ch->epfd >= 0) {
        atomic_fetch_and_explicit(&me->ev.waiters, ~IPCX__EV_POLLED,
                                  memory_order_relaxed);
        ipcx__close(ch->epfd);
    }
    ipcx__close(ch->sock);
    ipcx__close(ch->pidfd);
    ipcx__close(ch->bell[0]);
    ipcx__close(ch->bell[1]);
    munmap(ch->base, ch->map_size);
    pthread_mutex_destroy(&ch->wait_mu);
    pthread_mutex_destroy(&ch->fd_mu);
    ipcx__rpc_fini(ch);
    ipcx__handle_retire(ch);
    return 0;
}
