/*
 * bell.c - a mailbox's file descriptor (ipcx_mailbox_fd, ipcx_poll).
 *
 * A futex cannot be polled, so a receiver that waits in poll()/epoll needs
 * a descriptor that senders write.  That is the bell: for a named mailbox a
 * FIFO beside its file (".NAME.mbox.bell"), which any process that may open
 * the mailbox may open too; for an anonymous mailbox an eventfd that travels
 * with its memfd.
 *
 * Senders must stay free of system calls when nobody waits on a bell, so
 * the shared word bell_armed says whether somebody does:
 *
 *   receiver (arm):  drain the bell; store armed = 1; fence; re-check queue
 *   sender:          publish message; fence; if armed: exchange 0 -> ring
 *
 * Both fences are seq_cst (the sender's is the one in ipcx__event_notify,
 * called just before ipcx__mbx_ring_if_armed).  Dekker: either the
 * receiver's re-check sees the message, or the sender sees armed = 1.  The
 * exchange lets only one sender ring per arming, so a burst costs one
 * write(2), and the bell holds at most a few bytes.  Several receivers may
 * share a bell; a ring wakes them all, the ones that find nothing re-arm.
 * A stale byte only makes a poller look once more (spurious readiness);
 * a message is never left without a ring after an arming.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipcx/poll.h>

#include "core/error.h"
#include "core/sys.h"
#include "mailbox/mailbox.h"
#include "ns/ns.h"

#define BELL_SUFFIX ".bell"

/* ".NAME.mbox.bell" for FNAME "NAME.mbox". */
static void bell_name(const char *fname, char *out, size_t len)
{
    snprintf(out, len, ".%s" BELL_SUFFIX, fname);
}

/*
 * Open the FIFO of a named mailbox, making it if CREATE and it is missing:
 * with the mailbox file's mode and (where we may) group, so that whoever
 * may send to the mailbox may ring it.  O_RDWR never blocks on a FIFO and
 * keeps it open for writers even when no reader is left.  Anything else
 * planted under the bell's name (a regular file, a symlink, a directory,
 * a socket) answers -EPROTO, with *KIND saying what it is.
 */
static int open_fifo(struct ipcx_mailbox *mb, int create, const char **kind)
{
    char bname[IPCX__FILE_MAX + 16];
    struct stat mst, st;
    bell_name(mb->fname, bname, sizeof bname);
    int dfd = ipcx__ns_open();
    if (dfd < 0) {
        return dfd;
    }
    int fd = ipcx__ns_open_file(dfd, bname, O_RDWR, S_IFIFO, kind);
    /* Acquire pairs with destroy's release: a destroyed mailbox's bell is
     * gone with its name, and making a new one would leave litter. */
    if (fd == -ENOENT && create &&
        atomic_load_explicit(&mb->hdr->destroyed, memory_order_acquire)) {
        fd = -EIDRM;
    } else if (fd == -ENOENT && create && fstat(mb->fd, &mst) == 0) {
        int made = mkfifoat(dfd, bname, 0600) == 0;
        fd = ipcx__ns_open_file(dfd, bname, O_RDWR, S_IFIFO, kind);
        /* Nobody rings before we arm, which is after this: the short
         * window with mode 0600 costs no wake-up.  Through the fd, never
         * by name: the name may have been replaced meanwhile (by a symlink
         * to a file of ours, whose mode a chmod by name would change). */
        if (made && fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid()) {
            (void)fchown(fd, (uid_t)-1, mst.st_gid);
            (void)fchmod(fd, mst.st_mode & 0777);
        }
    }
    ipcx__close(dfd);
    return fd;
}

/* The handle's bell, opened on first use: the fd or a negative errno
 * (-EPROTO: its name holds *KIND, if KIND is not NULL). */
static int bell_fd(struct ipcx_mailbox *mb, int create, const char **kind)
{
    /* Acquire pairs with the release below: the fd is fully open. */
    int fd = atomic_load_explicit(&mb->bell, memory_order_acquire);
    if (fd >= 0 || mb->anon) {
        return fd;
    }
    pthread_mutex_lock(&mb->bell_mu);
    fd = atomic_load_explicit(&mb->bell, memory_order_relaxed);
    if (fd < 0) {
        fd = open_fifo(mb, create, kind);
        if (fd >= 0) {
            atomic_store_explicit(&mb->bell, fd, memory_order_release);
        }
    }
    pthread_mutex_unlock(&mb->bell_mu);
    return fd;
}

static void ring(struct ipcx_mailbox *mb)
{
    int fd = bell_fd(mb, 0, NULL);
    if (fd < 0) {
        return; /* no FIFO we may open: nobody we could wake */
    }
    uint64_t one = 1;
    /* An eventfd takes 8 bytes, a FIFO any; a full FIFO (-EAGAIN) is
     * readable already. */
    (void)!write(fd, &one, mb->anon ? sizeof one : 1);
}

void ipcx__mbx_ring_if_armed(struct ipcx_mailbox *mb)
{
    /* Relaxed: ordered after our publish by the caller's seq_cst fence
     * (ipcx__event_notify); the exchange then decides who rings. */
    if (atomic_load_explicit(&mb->hdr->bell_armed, memory_order_relaxed) &&
        atomic_exchange_explicit(&mb->hdr->bell_armed, 0,
                                 memory_order_relaxed)) {
        ring(mb);
    }
}

void ipcx__mbx_ring_all(struct ipcx_mailbox *mb)
{
    atomic_thread_fence(memory_order_seq_cst); /* after `destroyed` */
    ipcx__mbx_ring_if_armed(mb);
}

void ipcx__mbx_arm(struct ipcx_mailbox *mb)
{
    int fd = bell_fd(mb, 1, NULL);
    if (fd >= 0) {
        unsigned char buf[64];
        while (read(fd, buf, sizeof buf) == (ssize_t)sizeof buf) {
        }
    }
    /* seq_cst store and fence: the Dekker half of the receiver (above). */
    atomic_store_explicit(&mb->hdr->bell_armed, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    /* A destroyed mailbox stays readable for every poller: the destroyer
     * rang once, and we may just have drained that ring.  Either we see
     * `destroyed` here and ring again, or the destroyer (which stores it
     * before its fence in ipcx__mbx_ring_all) sees our arming and rings. */
    if (atomic_load_explicit(&mb->hdr->destroyed, memory_order_relaxed)) {
        ring(mb);
    }
}

void ipcx__mbx_bell_unlink(int dfd, const char *fname)
{
    char bname[IPCX__FILE_MAX + 16];
    bell_name(fname, bname, sizeof bname);
    (void)unlinkat(dfd, bname, 0);
}

void ipcx__mbx_bell_close(struct ipcx_mailbox *mb)
{
    int fd = atomic_load_explicit(&mb->bell, memory_order_relaxed);
    if (fd >= 0) {
        ipcx__close(fd);
    }
    pthread_mutex_destroy(&mb->bell_mu);
}

unsigned ipcx__mbx_ready(struct ipcx_mailbox *mb)
{
    /* Acquire pairs with the release of `destroyed` (mailbox.c). */
    int gone = atomic_load_explicit(&mb->hdr->destroyed, memory_order_acquire);
    if (ipcx__q_depth(&mb->q) > 0) {
        return IPCX_POLLIN;
    }
    return gone ? IPCX_POLLIN | IPCX_POLLHUP : 0;
}

int ipcx__mbx_bell(struct ipcx_mailbox *mb)
{
    if (!(mb->rights & IPCX_RIGHT_RECV)) {
        return ipcx__err(-EPERM, "the handle has no receive right");
    }
    const char *kind = "something else";
    int fd = bell_fd(mb, 1, &kind);
    if (fd == -EPROTO) {
        return ipcx__err(fd,
                         "cannot open the mailbox's bell: '.%s" BELL_SUFFIX
                         "' is %s, not a FIFO (planted? remove it)",
                         mb->fname, kind);
    }
    if (fd < 0) {
        return ipcx__err(fd, "cannot open the mailbox's bell: %s",
                         fd == -EIDRM ? "the mailbox was destroyed"
                                      : ipcx_strerror(fd));
    }
    return fd;
}

int ipcx_mailbox_fd(ipcx_mailbox *mb)
{
    ipcx__err_clear();
    int bad = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (bad < 0) {
        return bad;
    }
    int fd = ipcx__mbx_bell(mb);
    if (fd < 0) {
        return fd;
    }
    /* bell_fd() has the fd now, so ipcx__mbx_arm() will not take bell_mu
     * again. */
    pthread_mutex_lock(&mb->bell_mu);
    if (!atomic_load_explicit(&mb->fd_mode, memory_order_relaxed)) {
        /* Relaxed: a receive that misses the flag only skips re-arming,
         * which this call does itself below. */
        atomic_store_explicit(&mb->fd_mode, 1, memory_order_relaxed);
        /* Start armed, and readable if messages are queued already (they
         * never rang): the caller's receives until -EAGAIN settle it. */
        ipcx__mbx_arm(mb);
        if (ipcx__mbx_ready(mb)) {
            ring(mb);
        }
    }
    pthread_mutex_unlock(&mb->bell_mu);
    return fd;
}
