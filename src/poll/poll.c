/*
 * poll.c - ipcx_poll(): one call waiting on many mailboxes, channels and
 * the notify mailbox (SPEC M8).
 *
 * First a look at each item's shared memory (no system call): if something
 * is ready, that is the answer.  Otherwise every item is armed (its
 * descriptor drained, and a mailbox's bell_armed set: see bell.c), looked
 * at once more, and the caller sleeps in ppoll() on the descriptors.  The
 * arm-then-look order is what makes the sleep safe: a message that came
 * before the look is seen by it, one that came after rings a descriptor.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include <ipcx/channel.h>
#include <ipcx/poll.h>

#include "channel/channel.h"
#include "core/error.h"
#include "core/handle.h"
#include "mailbox/mailbox.h"
#include "notify/notify.h"
#include "wait/wait.h"

/* Check the items; the first bad one's error. */
static int check_items(const ipcx_pollitem *items, size_t n)
{
    if (items == NULL || n == 0 || n > IPCX_POLL_MAX) {
        return ipcx__err(-EINVAL,
                         items == NULL ? "NULL item array"
                                       : "item count %zu not in 1..%d",
                         n, IPCX_POLL_MAX);
    }
    static const struct {
        uint32_t magic;
        const char *what;
    } kinds[] = {
        [IPCX_POLL_MAILBOX] = {IPCX__H_MAILBOX, "mailbox"},
        [IPCX_POLL_CHANNEL] = {IPCX__H_CHANNEL, "channel"},
        [IPCX_POLL_NOTIFY] = {IPCX__H_NOTIFY, "notify mailbox"},
    };
    for (size_t i = 0; i < n; i++) {
        uint32_t k = items[i].kind;
        if (k < IPCX_POLL_MAILBOX || k > IPCX_POLL_NOTIFY) {
            return ipcx__err(-EINVAL, "item %zu has unknown kind %u", i, k);
        }
        int rc =
            ipcx__handle_check(items[i].handle, kinds[k].magic, kinds[k].what);
        if (rc < 0) {
            return ipcx__err(rc, "item %zu: %s", i,
                             rc == -EINVAL ? "NULL handle"
                                           : "closed, or not of its kind");
        }
        if (k == IPCX_POLL_MAILBOX &&
            !(((ipcx_mailbox *)items[i].handle)->rights & IPCX_RIGHT_RECV)) {
            return ipcx__err(-EPERM, "item %zu: no receive right", i);
        }
    }
    return 0;
}

/* How scan() learns that a channel's peer hung up, which only the kernel
 * knows until some call of ours noticed it. */
enum ask {
    ASK_NONE,   /* shared memory only: no system call */
    ASK_KERNEL, /* every channel */
    ASK_WOKEN,  /* the channels whose descriptor fired in WOKE */
};

/* Set every item's revents; how many are ready. */
static int scan(ipcx_pollitem *items, size_t n, enum ask ask,
                const struct pollfd *woke)
{
    int ready = 0;
    for (size_t i = 0; i < n; i++) {
        void *h = items[i].handle;
        unsigned r = 0;
        switch (items[i].kind) {
        case IPCX_POLL_MAILBOX:
            r = ipcx__mbx_ready(h);
            break;
        case IPCX_POLL_CHANNEL:
            r = ipcx__chan_ready(
                h, ask == ASK_KERNEL ||
                       (ask == ASK_WOKEN && woke[i].revents != 0));
            break;
        case IPCX_POLL_NOTIFY:
            r = ipcx__notify_ready(h) ? IPCX_POLLIN : 0;
            break;
        }
        items[i].revents = r;
        ready += r != 0;
    }
    return ready;
}

/* Each item's descriptor (made on first use); 0 or the first error. */
static int gather_fds(ipcx_pollitem *items, size_t n, struct pollfd *p)
{
    for (size_t i = 0; i < n; i++) {
        void *h = items[i].handle;
        /* A mailbox's bell without ipcx_mailbox_fd()'s descriptor mode:
         * that mode makes every later empty receive re-arm the bell (two
         * system calls per message), and arm() below does it for us. */
        int fd = items[i].kind == IPCX_POLL_MAILBOX   ? ipcx__mbx_bell(h)
                 : items[i].kind == IPCX_POLL_CHANNEL ? ipcx_channel_fd(h)
                                                      : ipcx_notify_fd(h);
        if (fd < 0) {
            return fd; /* the detail is the descriptor call's */
        }
        p[i] = (struct pollfd){fd, POLLIN, 0};
    }
    return 0;
}

static void arm(ipcx_pollitem *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].kind == IPCX_POLL_MAILBOX) {
            ipcx__mbx_arm(items[i].handle);
        } else if (items[i].kind == IPCX_POLL_CHANNEL) {
            ipcx__chan_poll_arm(items[i].handle);
        }
        /* The notify mailbox's descriptor is level-triggered already. */
    }
}

int ipcx_poll(ipcx_pollitem *items, size_t n, int64_t timeout_ns)
{
    struct ipcx__deadline d;
    ipcx__err_clear();
    int rc = check_items(items, n);
    if (rc < 0) {
        return rc;
    }
    if (ipcx__deadline_init(&d, timeout_ns) < 0) {
        return ipcx__err(-EINVAL, "negative timeout");
    }
    int ready = scan(items, n, ASK_NONE, NULL);
    if (ready == 0 && timeout_ns == 0) {
        ready = scan(items, n, ASK_KERNEL, NULL); /* a peer gone unannounced */
    }
    if (ready > 0 || timeout_ns == 0) {
        return ready > 0 ? ready : ipcx__err(-EAGAIN, "nothing is ready");
    }
    struct pollfd *p = calloc(n, sizeof *p);
    if (p == NULL) {
        return ipcx__err(-ENOMEM, "out of memory");
    }
    rc = gather_fds(items, n, p);
    while (rc == 0) {
        arm(items, n);
        if ((ready = scan(items, n, ASK_NONE, NULL)) > 0) {
            break;
        }
        rc = ipcx__poll_deadline(p, (unsigned)n, &d);
        if ((ready = scan(items, n, ASK_WOKEN, p)) > 0) {
            rc = 0;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            p[i].revents = 0;
        }
    }
    free(p);
    if (rc == -ETIMEDOUT) {
        return ipcx__err(rc, "nothing became ready in time");
    }
    return rc < 0 ? rc : ready;
}
