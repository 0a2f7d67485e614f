/*
 * fuzz_fd_packet.c - the descriptor packets on a channel's socket
 * (fdpass.c: struct chan_fdmsg plus SCM_RIGHTS) and what they carry: a
 * region's memfd, or an anonymous mailbox's memfd and bell.
 *
 * Both ends of a channel live in this process (fz_chan_pair).  The server
 * end plays the peer and writes raw packets on its socket: the header
 * bytes (by default what ipcx_channel_send_region / _send_mailbox would
 * send, XORed with the input), a length of 0 to 32 bytes, and 0 to 5
 * descriptors of the input's choice: a region memfd (size, seals and
 * access mode chosen by the input), a mailbox memfd (a real anonymous
 * mailbox's bytes, patched by the input, with the input's seals), an
 * eventfd, a pipe, /dev/null, a socket, an O_PATH descriptor or an empty
 * memfd.  The client receives with ipcx_channel_recv_region() and
 * ipcx_channel_recv_mailbox(), timeout 0, and uses what it gets.
 *
 * A model of the socket's packet queue predicts each result: -EAGAIN /
 * -EPIPE when empty, -ENOMSG (left queued) for a well-formed packet of
 * the other kind, -EPROTO (dropped) for a malformed one, -EINVAL (left
 * queued) for bad flags, and whether the descriptor is adopted (exactly,
 * except for a mailbox whose bytes were patched).  No descriptor may be
 * left open once the channel is closed.
 *
 * Input: steps (one byte, then that step's arguments); see step().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipcx/ipcx.h>

#include "fuzz.h"
#include "fuzzchan.h"
#include "mailbox/mailbox.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The wire format of fdpass.c (private to it). */
struct fdmsg {
    uint32_t magic, kind, arg, nfd;
};
#define FD_MAGIC   0x44465843u
#define K_REGION   1u
#define K_MAILBOX  2u
#define RIGHTS_ALL (IPCX_RIGHT_SEND | IPCX_RIGHT_RECV)
#define MAX_SEND   5 /* the receiver has room for 4: one more truncates */
#define MAX_STEPS  24
#define NQ         (MAX_STEPS + 1)

enum {
    D_REGION,
    D_MAILBOX,
    D_EVENTFD,
    D_PIPE,
    D_DEVNULL,
    D_SOCKET,
    D_PATH,
    D_EMPTY,
    NKINDS
};

struct templ {
    unsigned char *bytes;
    size_t size;
    unsigned seals; /* what ipcx_mailbox_allocate() gives it */
};
static struct templ templs[3];
static const char *dir;

static void load(struct templ *t, uint32_t capacity, uint32_t policy)
{
    ipcx_mailbox_attr a;
    ipcx_mailbox_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = 48;
    a.policy = policy;
    if (capacity == IPCX_UNBOUNDED) {
        a.max_bytes = 64 * 1024;
    }
    ipcx_mailbox *mb;
    FUZZ_CHECK(ipcx_mailbox_allocate(&a, &mb) == 0);
    for (int i = 0; i < 3; i++) { /* used slots, and a taken one */
        ipcx_mailbox_send(mb, "seed-msg", 9, 0);
    }
    char buf[64];
    ipcx_mailbox_recv(mb, buf, sizeof buf, 0);
    struct stat st;
    FUZZ_CHECK(fstat(mb->fd, &st) == 0);
    t->size = (size_t)st.st_size;
    t->bytes = malloc(t->size);
    FUZZ_CHECK(pread(mb->fd, t->bytes, t->size, 0) == (ssize_t)t->size);
    t->seals = F_SEAL_SHRINK | F_SEAL_SEAL |
               (capacity == IPCX_UNBOUNDED ? 0 : F_SEAL_GROW);
    ipcx_mailbox_close(mb);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    dir = fz_setup();
    load(&templs[0], 4, IPCX_POLICY_ANY);
    load(&templs[1], 0, IPCX_POLICY_PAIR);
    load(&templs[2], IPCX_UNBOUNDED, IPCX_POLICY_EXCLUSIVE);
    return 0;
}

/* A packet on its way, as the model sees it. */
struct pkt {
    size_t len;
    struct fdmsg h;
    int nsent;
    int kinds[MAX_SEND];
    /* Its first descriptor as a region: a memfd of a good size?  Its
     * access mode and write seals. */
    int region, acc, wsealed;
    /* The mailbox it carries: 1 adoptable, 0 not, -1 cannot tell. */
    int mbox;
};

struct fz {
    ipcx_channel *srv, *cli; /* srv NULL once closed */
    struct pkt q[NQ];
    unsigned head, n;
};

static const uint64_t region_sizes[] = {
    4096, 1, 0, 5000, 1u << 20, IPCX_REGION_SIZE_MAX + 1};
static const int accs[] = {O_RDWR, O_RDONLY, O_WRONLY};
static const unsigned seal_bits[] = {F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL,
                                     F_SEAL_WRITE, F_SEAL_FUTURE_WRITE};

static unsigned seals_from(uint8_t b)
{
    unsigned s = 0;
    for (int i = 0; i < 5; i++) {
        s |= b & 1u << i ? seal_bits[i] : 0;
    }
    return s;
}

static int reopen(int fd, int acc)
{
    char path[64];
    if (acc == O_RDWR) {
        return fd;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int r = open(path, acc | O_CLOEXEC);
    FUZZ_CHECK(r >= 0);
    close(fd);
    return r;
}

/* What the packet's descriptors are made of. */
struct params {
    uint64_t rsize;
    int acc;
    unsigned rseals;
    const struct templ *mt;
    unsigned mseals;
    unsigned char *mbytes; /* the mailbox file, patched */
    int patched;
};

static int make_fd(int kind, const struct params *p)
{
    int fd, s[2];
    switch (kind) {
    case D_REGION:
        fd = fz_memfd(NULL, 0, p->rsize, p->rseals);
        return reopen(fd, p->acc);
    case D_MAILBOX:
        return fz_memfd(p->mbytes, p->mt->size, p->mt->size, p->mseals);
    case D_EVENTFD:
        return eventfd(0, EFD_CLOEXEC);
    case D_PIPE:
        FUZZ_CHECK(pipe2(s, O_CLOEXEC) == 0);
        close(s[1]);
        return s[0];
    case D_DEVNULL:
        return open("/dev/null", O_RDWR | O_CLOEXEC);
    case D_SOCKET:
        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
        close(s[1]);
        return s[0];
    case D_PATH:
        return open(dir, O_PATH | O_CLOEXEC);
    default:
        return memfd_create("empty", MFD_CLOEXEC);
    }
}

/* The peer sends one packet. */
static void peer_send(struct fz *f, struct fz_in *in)
{
    uint8_t b = fz_u8(in);
    uint32_t kind = b & 1 ? K_MAILBOX : K_REGION;
    struct pkt p = {.len = sizeof p.h};
    p.h = (struct fdmsg){FD_MAGIC, kind, kind == K_MAILBOX ? RIGHTS_ALL : 0,
                         kind == K_MAILBOX ? 2 : 1};
    p.nsent = (int)p.h.nfd;
    if (b & 2) {
        unsigned char x[sizeof p.h];
        fz_bytes(in, x, sizeof x);
        for (size_t i = 0; i < sizeof x; i++) {
            ((unsigned char *)&p.h)[i] ^= x[i];
        }
    }
    if (b & 4) {
        p.len = (p.len + fz_u8(in)) % (2 * sizeof p.h + 1);
    }
    if (b & 8) {
        p.nsent = (p.nsent + fz_u8(in)) % (MAX_SEND + 1);
    }
    for (int i = 0; i < MAX_SEND; i++) {
        int def =
            i == 0 ? (kind == K_MAILBOX ? D_MAILBOX : D_REGION) : D_EVENTFD;
        p.kinds[i] = b & 16 ? (def + fz_u8(in)) % NKINDS : def;
    }
    struct params pa = {.rsize = 4096,
                        .acc = O_RDWR,
                        .mt = &templs[0],
                        .mseals = templs[0].seals};
    if (b & 32) {
        uint8_t r = fz_u8(in);
        pa.rsize = region_sizes[r % 6];
        pa.acc = accs[r / 6 % 3];
        pa.rseals = seals_from(fz_u8(in));
    }
    if (b & 64) {
        uint8_t m = fz_u8(in);
        pa.mt = &templs[m % 3];
        pa.mseals = pa.mt->seals ^ seals_from(fz_u8(in));
        pa.patched = m / 3 % 4;
    }
    pa.mbytes = malloc(pa.mt->size);
    memcpy(pa.mbytes, pa.mt->bytes, pa.mt->size);
    for (int k = 0; k < pa.patched; k++) {
        size_t off = (fz_u16(in) | (size_t)fz_u8(in) << 16) % pa.mt->size;
        for (size_t n = fz_u8(in) % 17; n > 0 && off < pa.mt->size; n--) {
            pa.mbytes[off++] = fz_u8(in);
        }
    }

    int fds[MAX_SEND];
    for (int i = 0; i < p.nsent; i++) {
        fds[i] = make_fd(p.kinds[i], &pa);
        FUZZ_CHECK(fds[i] >= 0);
    }
    free(pa.mbytes);
    if (p.kinds[0] == D_REGION) {
        p.region = pa.rsize >= 1 && pa.rsize <= IPCX_REGION_SIZE_MAX;
        p.acc = pa.acc;
        p.wsealed = (pa.rseals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0;
    } else if (p.kinds[0] == D_MAILBOX) { /* a memfd too */
        p.region = 1;
        p.acc = O_RDWR;
        p.wsealed = (pa.mseals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0;
    }
    p.mbox = (pa.mseals & (F_SEAL_SHRINK | F_SEAL_SEAL)) ==
                         (F_SEAL_SHRINK | F_SEAL_SEAL) &&
                     (pa.mseals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) == 0 &&
                     p.kinds[0] == D_MAILBOX && p.kinds[1] == D_EVENTFD
                 ? (pa.patched ? -1 : 1)
                 : 0;

    unsigned char bytes[2 * sizeof p.h];
    memset(bytes, 0, sizeof bytes);
    memcpy(bytes, &p.h, sizeof p.h);
    struct iovec iov = {bytes, p.len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(MAX_SEND * sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (p.nsent > 0) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(p.nsent * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(p.nsent * sizeof(int));
        memcpy(CMSG_DATA(c), fds, p.nsent * sizeof(int));
    }
    int sent = f->srv != NULL &&
               sendmsg(f->srv->sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0;
    for (int i = 0; i < p.nsent; i++) {
        close(fds[i]);
    }
    if (sent) {
        FUZZ_CHECK(f->n < NQ);
        f->q[(f->head + f->n++) % NQ] = p;
    }
}

/* ---- the client ---- */

static void drop_head(struct fz *f)
{
    f->head = (f->head + 1) % NQ;
    f->n--;
}

/*
 * What receiving a packet of KIND should give, before adoption: 0 (the
 * head packet is ours and well-formed: *P), or the error; the queue is
 * updated as the library would.
 */
static int expect_take(struct fz *f, uint32_t kind, struct pkt *p)
{
    if (f->n == 0) {
        return f->srv == NULL ? -EPIPE : -EAGAIN;
    }
    *p = f->q[f->head];
    int peek_ok = p->len >= sizeof p->h;
    if (peek_ok && p->h.magic == FD_MAGIC && p->h.kind != kind &&
        (p->h.kind == K_REGION || p->h.kind == K_MAILBOX)) {
        return -ENOMSG; /* stays queued */
    }
    drop_head(f);
    int got = p->nsent < 4 ? p->nsent : 4; /* room for 4 */
    if (p->len != sizeof p->h || p->h.magic != FD_MAGIC || p->h.nfd == 0 ||
        p->h.nfd > 2 || (uint32_t)got != p->h.nfd || p->nsent > 4 ||
        p->h.kind != kind) {
        return -EPROTO;
    }
    return 0;
}

/* An empty packet reads like the end of the stream to recv(): the library
 * answers -EPIPE and leaves it queued (every later receive of a descriptor
 * answers -EPIPE, though the peer lives), or might drop it as malformed
 * (-EPROTO).  Both are accepted here. */
static int empty_head(struct fz *f, long rc)
{
    if (f->n == 0 || f->q[f->head].len != 0) {
        return 0;
    }
    FUZZ_CHECK(rc == -EPIPE || rc == -EPROTO);
    if (rc == -EPROTO) {
        drop_head(f);
    }
    return 1;
}

static void client_region(struct fz *f, struct fz_in *in)
{
    uint8_t b = fz_u8(in);
    unsigned flags = b & 0x80 ? b : b & IPCX_REGION_RDONLY;
    ipcx_region *r = NULL;
    int rc = ipcx_channel_recv_region(f->cli, flags, &r, 0);
    if (flags & ~IPCX_REGION_RDONLY) {
        /* Bad arguments: refused before anything is taken. */
        FUZZ_CHECK(rc == -EINVAL);
        return;
    }
    if (empty_head(f, rc)) {
        return;
    }
    struct pkt p;
    int want = expect_take(f, K_REGION, &p);
    if (want == 0) {
        int writable = !(flags & IPCX_REGION_RDONLY) && !p.wsealed;
        int ok =
            p.region && p.acc != O_WRONLY && (!writable || p.acc == O_RDWR);
        if (!ok) {
            /* Not adoptable; the library says why. */
            FUZZ_CHECK(rc == -EPROTO || rc == -EACCES || rc == -EBADF);
            FUZZ_CHECK(ipcx_last_error()[0] != '\0');
            return;
        }
    }
    if (rc != want) {
        fprintf(stderr, "recv_region: %d (%s), wanted %d\n", rc,
                ipcx_last_error(), want);
    }
    FUZZ_CHECK(rc == want);
    if (rc == 0) {
        FUZZ_CHECK(r != NULL);
        const volatile unsigned char *m = ipcx_region_addr(r);
        size_t n = ipcx_region_size(r);
        FUZZ_CHECK(m != NULL && n >= 1);
        unsigned char first = m[0], last = m[n - 1];
        FUZZ_CHECK(p.kinds[0] != D_REGION || (first == 0 && last == 0));
        ipcx_region_detach(r);
    } else {
        FUZZ_CHECK(ipcx_last_error()[0] != '\0');
    }
}

static void use_mailbox(ipcx_mailbox *mb, unsigned rights)
{
    char buf[64];
    FUZZ_CHECK(ipcx_mailbox_rights(mb) == rights);
    for (int i = 0; i < 3; i++) {
        int rc = ipcx_mailbox_send(mb, "fuzz", 5, 0);
        FUZZ_CHECK(rc <= 0);
        FUZZ_CHECK(rc != 0 || (rights & IPCX_RIGHT_SEND));
        long n = ipcx_mailbox_recv(mb, buf, sizeof buf, 0);
        FUZZ_CHECK(n <= (long)sizeof buf);
        FUZZ_CHECK(n < 0 || (rights & IPCX_RIGHT_RECV));
    }
    ipcx_mailbox_info st;
    ipcx_mailbox_stat(mb, &st);
    ipcx_mailbox_close(mb);
}

static void client_mailbox(struct fz *f)
{
    ipcx_mailbox *mb = NULL;
    int rc = ipcx_channel_recv_mailbox(f->cli, &mb, 0);
    if (empty_head(f, rc)) {
        return;
    }
    struct pkt p;
    int want = expect_take(f, K_MAILBOX, &p);
    if (want == 0 && (p.h.nfd != 2 || p.h.arg == 0 || (p.h.arg & ~RIGHTS_ALL) ||
                      p.kinds[1] != D_EVENTFD)) {
        want = -EPROTO;
    }
    if (want == 0 && p.mbox != 1) {
        /* Not adoptable (or, patched, maybe not): the library says why. */
        FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -EPERM || rc == -EACCES ||
                   rc == -EBUSY || rc == -EMFILE);
        FUZZ_CHECK(rc != 0 || p.mbox == -1);
        want = rc;
    }
    if (rc != want) {
        fprintf(stderr, "recv_mailbox: %d (%s), wanted %d\n", rc,
                ipcx_last_error(), want);
    }
    FUZZ_CHECK(rc == want);
    if (rc == 0) {
        FUZZ_CHECK(mb != NULL);
        use_mailbox(mb, p.h.arg);
    } else {
        FUZZ_CHECK(ipcx_last_error()[0] != '\0');
    }
}

static void step(struct fz *f, struct fz_in *in)
{
    switch (fz_u8(in) % 5) {
    case 0:
    case 1:
        peer_send(f, in);
        break;
    case 2:
        client_region(f, in);
        break;
    case 3:
        client_mailbox(f);
        break;
    default:
        if (f->srv != NULL) {
            ipcx_channel_close(f->srv); /* the peer goes */
            f->srv = NULL;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    int fds_before = fz_fd_count();
    struct fz *f = calloc(1, sizeof *f);
    FUZZ_CHECK(fz_chan_pair(4, 64, &f->srv, &f->cli) == 0);
    for (int i = 0; i < MAX_STEPS && in.n > 0; i++) {
        step(f, &in);
    }
    ipcx_channel_close(f->srv);
    ipcx_channel_close(f->cli);
    free(f);
    FUZZ_CHECK(fz_fd_count() == fds_before); /* nothing leaked */
    return 0;
}
