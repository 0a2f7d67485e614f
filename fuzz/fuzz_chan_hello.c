/*
 * fuzz_chan_hello.c - the client's side of the channel handshake, against
 * a server that answers whatever the input says.
 *
 * ipcx_connect() dials a connection port that this target listens on
 * itself; a server thread accepts and answers with one packet: the hello
 * bytes (struct chan_hello, XORed with the input, so an input of zeros is
 * the real server's answer; 0 to 64 bytes long) and 0 to 5 descriptors of
 * the input's choice (the channel's memfd, eventfds, a pipe, /dev/null, a
 * socket, the memfd reopened read-only, an empty memfd, an O_PATH fd).
 * The memfd holds a channel formatted for the input's capacity and message
 * size, patched by the input, of the input's size, with the input's seals.
 * This reaches recv_hello(), take_offer() and map_memory() in port.c and
 * ipcx__chan_check() and ipcx__chan_attach() in channel.c.
 *
 * The verdict is checked both ways against an independent judgement of
 * the answer: a valid answer must give a channel, an invalid one an error
 * with its detail (ipcx_last_error()), and no descriptor may stay open.
 * On success the client sends, receives, calls and polls with timeout 0
 * while the input pokes the channel's memory (the peer writing garbage)
 * and may hang up.
 *
 * Input: see LLVMFuzzerTestOneInput().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ipcx/poll.h>

#include "fuzz.h"
#include "fuzzchan.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define PORT    "h"
#define MAX_FDS 5
#define HELLO   ((int)sizeof(struct chan_hello))

enum {
    K_MEMFD,    /* the channel memory */
    K_EVENTFD,  /* a fresh eventfd */
    K_PIPE,     /* a pipe's read end */
    K_DEVNULL,  /* /dev/null */
    K_SOCKET,   /* one end of a socketpair */
    K_MEMFD_RO, /* the channel memory, reopened read-only */
    K_EMPTY,    /* an empty, unsealed memfd */
    K_PATH,     /* an O_PATH descriptor of the namespace directory */
    NKINDS
};

static int listener = -1;
static const char *dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    dir = fz_setup();
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s.port", dir, PORT);
    listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(listener >= 0);
    FUZZ_CHECK(bind(listener, (struct sockaddr *)&sa, sizeof sa) == 0);
    FUZZ_CHECK(listen(listener, 16) == 0);
    return 0;
}

/* The server's answer. */
struct answer {
    unsigned char hello[64];
    size_t hello_len;
    int fds[MAX_FDS];
    int nfd;
    int silent;  /* close without answering */
    int hang_up; /* close right after answering */
    int conn;    /* the accepted connection, or -1 */
};

static void *serve(void *arg)
{
    struct answer *a = arg;
    struct pollfd p = {listener, POLLIN, 0};
    a->conn = -1;
    if (poll(&p, 1, 5000) != 1) {
        return NULL; /* the client never dialled */
    }
    a->conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    FUZZ_CHECK(a->conn >= 0);
    struct iovec iov = {a->hello, a->hello_len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (a->nfd > 0) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(a->nfd * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(a->nfd * sizeof(int));
        memcpy(CMSG_DATA(c), a->fds, a->nfd * sizeof(int));
    }
    /* A failed send closes too: the client must not wait for nothing. */
    if (a->silent || sendmsg(a->conn, &msg, MSG_NOSIGNAL) < 0 || a->hang_up) {
        close(a->conn);
        a->conn = -1;
    }
    return NULL;
}

/* A descriptor of KIND (MEMFD: the channel's memory). */
static int make_fd(int kind, int memfd)
{
    char path[64];
    int fd, p[2];
    switch (kind) {
    case K_MEMFD:
        return fcntl(memfd, F_DUPFD_CLOEXEC, 0);
    case K_EVENTFD:
        return eventfd(0, EFD_CLOEXEC);
    case K_PIPE:
        FUZZ_CHECK(pipe2(p, O_CLOEXEC) == 0);
        close(p[1]);
        return p[0];
    case K_DEVNULL:
        return open("/dev/null", O_RDWR | O_CLOEXEC);
    case K_SOCKET:
        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) == 0);
        close(p[1]);
        return p[0];
    case K_MEMFD_RO:
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
        return open(path, O_RDONLY | O_CLOEXEC);
    case K_EMPTY:
        return memfd_create("empty", MFD_CLOEXEC);
    default:
        fd = open(dir, O_PATH | O_CLOEXEC);
        return fd;
    }
}

/* ---- after a successful connect ---- */

static int known_error(long rc)
{
    return rc == -EAGAIN || rc == -EPROTO || rc == -EMSGSIZE || rc == -EPIPE;
}

static void exercise(ipcx_channel *ch, unsigned char *mem, size_t size,
                     struct answer *a, struct fz_in *in)
{
    unsigned char buf[1100];
    long max = ipcx_channel_max_msg_size(ch);
    FUZZ_CHECK(max > 0 && max <= 1000);
    for (int i = 0; i < 24 && in->n > 0; i++) {
        uint8_t op = fz_u8(in);
        size_t len = fz_u16(in) % (size_t)(max + 1);
        size_t cap = len + op / 128; /* up to max + 1 */
        long n;
        switch (op % 6) {
        case 0:
            memset(buf, 'q', len);
            n = ipcx_channel_send(ch, buf, len, 0);
            FUZZ_CHECK(n == 0 || known_error(n));
            break;
        case 1:
            n = ipcx_channel_recv(ch, buf, cap, 0);
            FUZZ_CHECK(n <= (long)cap && (n >= 0 || known_error(n)));
            break;
        case 2:
            memset(buf, 'c', len);
            n = ipcx_call(ch, buf, len, buf, cap, 0);
            FUZZ_CHECK(n <= (long)cap && (n >= 0 || known_error(n)));
            break;
        case 3: {
            /* The peer writes garbage into the channel's memory. */
            size_t off = fz_u32(in) % (size - 7) & ~(size_t)7;
            uint64_t v = fz_u64(in);
            memcpy(mem + off, &v, 8);
            break;
        }
        case 4:
            FUZZ_CHECK(
                (ipcx__chan_ready(ch, 1) & ~(IPCX_POLLIN | IPCX_POLLHUP)) == 0);
            break;
        default:
            if (a->conn >= 0) {
                close(a->conn); /* the server goes away */
                a->conn = -1;
            }
        }
    }
}

/* ---- the verdict ---- */

/* Does the answer deserve a channel?  Judged here without port.c. */
static int valid_answer(const struct answer *a, const int *kinds, int memfd,
                        uint64_t file_size, unsigned seals)
{
    struct chan_hello h;
    struct chan_header copy;
    if (a->silent || a->hello_len != HELLO || a->nfd != 3 ||
        kinds[0] != K_MEMFD || kinds[1] != K_EVENTFD || kinds[2] != K_EVENTFD) {
        return 0;
    }
    memcpy(&h, a->hello, HELLO);
    if (h.magic != CHAN_MAGIC || h.version != CHAN_VERSION || h.status != 0 ||
        h.map_size != file_size) {
        return 0;
    }
    /* Sealed against resizing, and mappable read-write. */
    if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
            (F_SEAL_SHRINK | F_SEAL_GROW) ||
        (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0) {
        return 0;
    }
    return file_size >= sizeof copy &&
           pread(memfd, &copy, sizeof copy, 0) == (ssize_t)sizeof copy &&
           ipcx__chan_check(&copy, file_size) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t caps[] = {1, 2, 4, 16};
    static const uint32_t msgs[] = {1, 16, 64, 1000};
    static const unsigned seal_bits[] = {F_SEAL_SHRINK, F_SEAL_GROW,
                                         F_SEAL_SEAL, F_SEAL_WRITE,
                                         F_SEAL_FUTURE_WRITE};
    struct fz_in in = {data, size};
    struct answer a = {.conn = -1};
    int fds_before = fz_fd_count();

    /* The channel the real server would make... */
    struct chan_header g;
    uint32_t cap = caps[fz_u8(&in) % 4], msg = msgs[fz_u8(&in) % 4];
    FUZZ_CHECK(ipcx__chan_geometry(cap, msg, &g) == 0);
    /* ...and how this one differs (every byte 0: not at all). */
    a.nfd = (3 + fz_u8(&in)) % (MAX_FDS + 1);
    int kinds[MAX_FDS];
    for (int i = 0; i < MAX_FDS; i++) {
        kinds[i] = ((i == 0 ? K_MEMFD : K_EVENTFD) + fz_u8(&in)) % NKINDS;
    }
    unsigned seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    uint8_t sb = fz_u8(&in);
    for (int i = 0; i < 5; i++) {
        seals ^= sb & 1u << i ? seal_bits[i] : 0;
    }
    int64_t file_size =
        (int64_t)g.map_size + (int8_t)fz_u8(&in) * 4096 + (int8_t)fz_u8(&in);
    file_size = file_size < 0 ? 0 : file_size;
    uint8_t flags = fz_u8(&in);
    a.silent = flags & 1;
    a.hang_up = flags & 2;
    a.hello_len = (HELLO + fz_u8(&in)) % (sizeof a.hello + 1);
    struct chan_hello h = {CHAN_MAGIC, CHAN_VERSION, 0, g.map_size, {0, 0}};
    if (flags & 4) {
        h.map_size = (uint64_t)file_size;
    }
    memcpy(a.hello, &h, HELLO);
    for (size_t i = 0; i < sizeof a.hello; i++) {
        a.hello[i] ^= i < a.hello_len ? fz_u8(&in) : 0;
    }

    /* The memory: formatted, then patched (offset, length, bytes). */
    size_t fsize = (size_t)file_size;
    unsigned char *mem = calloc(1, g.map_size > fsize ? g.map_size : fsize);
    ipcx__chan_format(mem, &g);
    for (int np = fz_u8(&in) % 8; np > 0 && fsize > 0; np--) {
        size_t off = fz_u16(&in) % fsize, n = fz_u8(&in) % 17;
        for (size_t k = 0; k < n && off + k < fsize; k++) {
            mem[off + k] = fz_u8(&in);
        }
    }
    int memfd = fz_memfd(mem, fsize, fsize, seals);
    free(mem);
    for (int i = 0; i < a.nfd; i++) {
        a.fds[i] = make_fd(kinds[i], memfd);
        FUZZ_CHECK(a.fds[i] >= 0);
    }

    pthread_t t;
    FUZZ_CHECK(pthread_create(&t, NULL, serve, &a) == 0);
    ipcx_channel *ch = NULL;
    int rc = ipcx_connect(PORT, IPCX_SEC(5), &ch);
    FUZZ_CHECK(pthread_join(t, NULL) == 0);
    for (int i = 0; i < a.nfd; i++) {
        close(a.fds[i]);
    }

    int valid = valid_answer(&a, kinds, memfd, (uint64_t)file_size, seals);
    if ((rc == 0) != valid) {
        fprintf(stderr, "%s answer %s: %s\n", valid ? "valid" : "invalid",
                rc == 0 ? "accepted" : "refused", ipcx_last_error());
    }
    FUZZ_CHECK((rc == 0) == valid);
    if (rc == 0) {
        FUZZ_CHECK(ch != NULL);
        unsigned char *live =
            mmap(NULL, fsize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        FUZZ_CHECK(live != MAP_FAILED);
        exercise(ch, live, fsize, &a, &in);
        munmap(live, fsize);
        ipcx_channel_close(ch);
    } else {
        FUZZ_CHECK(rc == -EPROTO || rc == -ECONNREFUSED || rc == -ECONNRESET ||
                   rc == -EPERM || rc == -EACCES);
        FUZZ_CHECK(ipcx_last_error()[0] != '\0');
    }
    if (a.conn >= 0) {
        close(a.conn);
    }
    close(memfd);
    FUZZ_CHECK(fz_fd_count() == fds_before); /* nothing leaked */
    return 0;
}
