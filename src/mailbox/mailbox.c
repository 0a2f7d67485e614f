/*
 * mailbox.c - mailbox lifecycle: create, open, close, destroy, stat, list.
 * Sending and receiving are in io.c; the registry in registry.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ipcx/mailbox.h>

#include "core/error.h"
#include "core/sys.h"
#include "mailbox/mailbox.h"
#include "notify/notify.h"
#include "ns/ns.h"

#define ROUND_UP(x, a) (((x) + (a)-1) / (a) * (a))

void ipcx_mailbox_attr_init(ipcx_mailbox_attr *attr)
{
    if (attr != NULL) {
        memset(attr, 0, sizeof *attr);
        attr->capacity = IPCX_DEFAULT_CAPACITY;
        attr->max_msg_size = IPCX_DEFAULT_MSG_SIZE;
        attr->mode = 0600;
        attr->policy = IPCX_POLICY_ANY;
    }
}

/* The whole file layout for these parameters; -EINVAL if impossible. */
static int mbx_geometry(uint32_t cap, uint32_t max_msg, uint64_t max_bytes,
                        struct mbx_geom *g)
{
    if (ipcx__q_geometry(cap, max_msg, max_bytes, &g->q) < 0) {
        return -EINVAL;
    }
    g->proc_off = MBX_PAGE;
    g->table_off = g->proc_off + (uint64_t)MBX_NPROC * sizeof(struct mbx_proc);
    g->pool_off = ROUND_UP(g->table_off + (uint64_t)g->q.M * 8, MBX_PAGE);
    g->map_size = g->pool_off + (uint64_t)g->q.S * g->q.seg_bytes;
    if (g->map_size - g->pool_off > IPCX_MAX_BYTES_LIMIT + g->q.seg_bytes) {
        return -EINVAL;
    }
    return 0;
}

static int check_attr(const ipcx_mailbox_attr *a, struct mbx_geom *g)
{
    for (size_t i = 0; i < sizeof a->reserved / sizeof a->reserved[0]; i++) {
        if (a->reserved[i] != 0) {
            return ipcx__err(-EINVAL, "reserved attribute fields must be 0");
        }
    }
    if (a->capacity > IPCX_CAPACITY_MAX && a->capacity != IPCX_UNBOUNDED) {
        return ipcx__err(-EINVAL, "capacity %u above the limit %u", a->capacity,
                         IPCX_CAPACITY_MAX);
    }
    if (a->max_msg_size > IPCX_MSG_SIZE_MAX) {
        return ipcx__err(-EINVAL, "max_msg_size %u above the limit %u",
                         a->max_msg_size, IPCX_MSG_SIZE_MAX);
    }
    if (a->mode > 0777) {
        return ipcx__err(-EINVAL, "mode %o: only permission bits (0777)",
                         a->mode);
    }
    if (a->policy > IPCX_POLICY_PAIR) {
        return ipcx__err(-EINVAL, "unknown receiver policy %u", a->policy);
    }
    if (a->capacity != IPCX_UNBOUNDED && a->max_bytes != 0) {
        return ipcx__err(-EINVAL, "max_bytes applies to unbounded mailboxes");
    }
    if (a->max_bytes > IPCX_MAX_BYTES_LIMIT) {
        return ipcx__err(-EINVAL, "max_bytes above the limit %llu",
                         (unsigned long long)IPCX_MAX_BYTES_LIMIT);
    }
    uint32_t msg = a->max_msg_size ? a->max_msg_size : IPCX_DEFAULT_MSG_SIZE;
    uint64_t mb = a->max_bytes ? a->max_bytes : IPCX_DEFAULT_MAX_BYTES;
    if (mbx_geometry(a->capacity, msg, mb, g) < 0) {
        return ipcx__err(-EINVAL,
                         a->capacity == IPCX_UNBOUNDED
                             ? "max_bytes too small for max_msg_size (need "
                               "room for at least four messages)"
                             : "capacity x max_msg_size too large");
    }
    return 0;
}

static uint64_t random_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, GRND_NONBLOCK) != sizeof id) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
             ((uint64_t)getpid() << 16);
    }
    return id;
}

/* Fill the local queue view from validated header fields. */
static void queue_view(struct ipcx__queue *q, unsigned char *base,
                       const struct mbx_header *h)
{
    memset(q, 0, sizeof *q);
    q->h = &((struct mbx_header *)base)->q;
    q->table = (_Atomic uint64_t *)(base + h->table_off);
    q->pool = base + h->pool_off;
    q->cap = h->capacity == IPCX_UNBOUNDED ? 0 : h->capacity;
    q->seg_bytes = h->seg_bytes;
    q->kshift = h->kshift;
    q->M = h->M;
    q->S = h->S;
    q->stride = h->stride;
    q->max_msg = h->max_msg;
    q->ceiling_is_error = h->capacity == IPCX_UNBOUNDED;
    q->static_segs = h->capacity != IPCX_UNBOUNDED;
}

static void format(unsigned char *base, const ipcx_mailbox_attr *a,
                   const struct mbx_geom *g)
{
    struct mbx_header *h = (struct mbx_header *)base;
    h->magic = MBX_MAGIC;
    h->version = MBX_VERSION;
    h->header_size = sizeof *h;
    h->id = random_id();
    h->capacity = a->capacity;
    h->max_msg = a->max_msg_size ? a->max_msg_size : IPCX_DEFAULT_MSG_SIZE;
    h->policy = a->policy;
    h->flags = a->capacity == IPCX_UNBOUNDED ? MBX_FLAG_UNBOUNDED : 0;
    h->max_bytes = a->capacity == IPCX_UNBOUNDED
                       ? (a->max_bytes ? a->max_bytes : IPCX_DEFAULT_MAX_BYTES)
                       : 0;
    h->kshift = g->q.kshift;
    h->M = g->q.M;
    h->S = g->q.S;
    h->stride = g->q.stride;
    h->seg_bytes = g->q.seg_bytes;
    h->proc_off = g->proc_off;
    h->table_off = g->table_off;
    h->pool_off = g->pool_off;
    h->map_size = g->map_size;
    struct ipcx__queue q;
    queue_view(&q, base, h);
    ipcx__q_format(&q, a->capacity != IPCX_UNBOUNDED);
}

/* Size, format and map-unmap the new file FD. */
static int init_file(int fd, const ipcx_mailbox_attr *a,
                     const struct mbx_geom *g)
{
    int unbounded = a->capacity == IPCX_UNBOUNDED;
    uint64_t size = unbounded ? g->pool_off : g->map_size;
    void *base;
    int rc;
    if (fchmod(fd, a->mode) < 0) {
        return -errno;
    }
    if ((rc = ipcx__ftruncate(fd, (off_t)size)) < 0 ||
        (rc = ipcx__mmap(size, PROT_READ | PROT_WRITE, fd, &base)) < 0) {
        return rc;
    }
    format(base, a, g);
    munmap(base, size);
    return 0;
}

int ipcx_mailbox_create(const char *name, const ipcx_mailbox_attr *attr)
{
    char fname[IPCX__FILE_MAX + 1], tmp[64];
    ipcx_mailbox_attr defaults;
    struct mbx_geom g;
    ipcx__err_clear();
    int rc = ipcx__ns_file(name, MBX_SUFFIX, "mailbox", fname);
    if (rc < 0) {
        return rc;
    }
    if (attr == NULL) {
        ipcx_mailbox_attr_init(&defaults);
        attr = &defaults;
    }
    ipcx_mailbox_attr a = *attr;
    a.mode = a.mode ? a.mode : 0600;
    if ((rc = check_attr(&a, &g)) < 0) {
        return rc;
    }
    int dfd = ipcx__ns_open();
    if (dfd < 0) {
        return dfd;
    }
    int fd = ipcx__ns_tmpfile(dfd, tmp, sizeof tmp);
    rc = fd;
    if (fd >= 0 && (rc = init_file(fd, &a, &g)) == 0) {
        rc = ipcx__ns_link(dfd, fd, tmp, fname);
    } else if (fd >= 0 && tmp[0] != '\0') {
        unlinkat(dfd, tmp, 0);
    }
    ipcx__close(fd);
    struct stat st;
    int planted = rc == -EEXIST &&
                  fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                  !S_ISREG(st.st_mode);
    ipcx__close(dfd);
    if (planted) {
        return ipcx__err(rc,
                         "cannot create mailbox '%s': its name is taken by "
                         "%s, not a mailbox",
                         name, ipcx__ns_kind(st.st_mode));
    }
    if (rc < 0) {
        return ipcx__err(rc, "cannot create mailbox '%s': %s", name,
                         rc == -EEXIST ? "it already exists"
                                       : ipcx_strerror(rc));
    }
    return 0;
}

/* Why a file is not a valid mailbox file, for messages. */
#define WHY_LEN 96

/* Check a header copy against what its own parameters imply; -EPROTO with
 * the reason in WHY (WHY_LEN bytes) if it is not a mailbox's. */
static int check_header(const struct mbx_header *h, uint64_t file_size,
                        char *why)
{
    struct mbx_geom g;
    int unbounded = h->capacity == IPCX_UNBOUNDED;
    if (h->magic != MBX_MAGIC) {
        snprintf(why, WHY_LEN, "no mailbox magic number");
        return -EPROTO;
    }
    if (h->version != MBX_VERSION) {
        snprintf(why, WHY_LEN, "format version %u, this library reads %u",
                 (unsigned)h->version, (unsigned)MBX_VERSION);
        return -EPROTO;
    }
    snprintf(why, WHY_LEN, "inconsistent header");
    if (h->header_size != sizeof *h || h->policy > IPCX_POLICY_PAIR ||
        h->max_msg == 0 || h->max_msg > IPCX_MSG_SIZE_MAX ||
        (h->capacity > IPCX_CAPACITY_MAX && !unbounded) ||
        h->flags != (unbounded ? MBX_FLAG_UNBOUNDED : 0u) ||
        (unbounded ? h->max_bytes == 0 : h->max_bytes != 0) ||
        mbx_geometry(h->capacity, h->max_msg, h->max_bytes, &g) < 0) {
        return -EPROTO;
    }
    if (h->kshift != g.q.kshift || h->M != g.q.M || h->S != g.q.S ||
        h->stride != g.q.stride || h->seg_bytes != g.q.seg_bytes ||
        h->proc_off != g.proc_off || h->table_off != g.table_off ||
        h->pool_off != g.pool_off || h->map_size != g.map_size) {
        return -EPROTO;
    }
    uint64_t need = unbounded ? g.pool_off : g.map_size;
    if (file_size < need) {
        snprintf(why, WHY_LEN, "truncated: %llu bytes, its header says %llu",
                 (unsigned long long)file_size, (unsigned long long)need);
        return -EPROTO;
    }
    return 0;
}

static int alive(void *ctx, uint32_t holder)
{
    return ipcx__mbx_alive(ctx, holder);
}

/* Segments the file backs now: only an unbounded mailbox's file grows. */
static uint32_t refresh_backed(void *ctx)
{
    struct ipcx_mailbox *mb = ctx;
    struct stat st;
    uint64_t pool_off = (uint64_t)(mb->q.pool - mb->base);
    if (fstat(mb->fd, &st) < 0 || (uint64_t)st.st_size < pool_off) {
        return 0;
    }
    uint64_t n = ((uint64_t)st.st_size - pool_off) / mb->q.seg_bytes;
    return n < mb->q.S ? (uint32_t)n : mb->q.S;
}

static int grow(void *ctx, uint32_t idx)
{
    struct ipcx_mailbox *mb = ctx;
    /* The pool offset from our validated view, never from the shared
     * header, which a peer could rewrite. */
    uint64_t pool_off = (uint64_t)(mb->q.pool - mb->base);
    off_t off = (off_t)(pool_off + (uint64_t)idx * mb->q.seg_bytes);
    return ipcx__fallocate(mb->fd, off, (off_t)mb->q.seg_bytes);
}

/* Validate and map the mailbox file FD into a new handle.  -EPROTO if
 * FD is not a mailbox file, with the reason in WHY (WHY_LEN bytes). */
static int attach(int fd, int writable, struct ipcx_mailbox **out, char *why)
{
    struct mbx_header copy;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    /* Validate a private copy: the shared header could change under us. */
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, WHY_LEN, "%s", ipcx__ns_kind(st.st_mode));
        return -EPROTO;
    }
    if (st.st_size == 0) {
        snprintf(why, WHY_LEN, "empty");
        return -EPROTO;
    }
    if (st.st_size < (off_t)MBX_PAGE) {
        snprintf(why, WHY_LEN,
                 "truncated: %lld bytes, shorter than a mailbox header",
                 (long long)st.st_size);
        return -EPROTO;
    }
    if (pread(fd, &copy, sizeof copy, 0) != (ssize_t)sizeof copy) {
        snprintf(why, WHY_LEN, "unreadable header");
        return -EPROTO;
    }
    int bad = check_header(&copy, (uint64_t)st.st_size, why);
    if (bad < 0) {
        return bad;
    }
    struct ipcx_mailbox *mb = calloc(1, sizeof *mb);
    void *base;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    if (mb == NULL) {
        return -ENOMEM;
    }
    int rc = ipcx__mmap(copy.map_size, prot, fd, &base);
    if (rc < 0) {
        free(mb);
        return rc;
    }
    mb->magic = IPCX__H_MAILBOX;
    mb->fd = fd;
    mb->base = base;
    mb->map_size = copy.map_size;
    mb->hdr = base;
    mb->procs = (struct mbx_proc *)(mb->base + copy.proc_off);
    mb->capacity = copy.capacity;
    mb->max_msg = copy.max_msg;
    mb->policy = copy.policy;
    mb->pid = getpid();
    mb->uid = getuid();
    queue_view(&mb->q, mb->base, &copy);
    mb->q.grow = grow;
    mb->q.alive = alive;
    if (copy.capacity == IPCX_UNBOUNDED) {
        mb->q.refresh_backed = refresh_backed;
    } else {
        /* check_header() saw the whole map_size backed. */
        atomic_store_explicit(&mb->q.backed, mb->q.S, memory_order_relaxed);
    }
    mb->q.ctx = mb;
    mb->rights = IPCX_RIGHT_SEND | IPCX_RIGHT_RECV;
    atomic_init(&mb->bell, -1);
    pthread_mutex_init(&mb->bell_mu, NULL);
    *out = mb;
    return 0;
}

static void detach(struct ipcx_mailbox *mb)
{
    ipcx__mbx_bell_close(mb);
    munmap(mb->base, mb->map_size);
    ipcx__close(mb->fd);
    ipcx__handle_retire(mb);
}

/* Check NAME, write its file name to FNAME and open the namespace: the
 * directory fd, or a negative errno with the detail recorded. */
static int ns_entry(const char *name, char *fname)
{
    int rc = ipcx__ns_file(name, MBX_SUFFIX, "mailbox", fname);
    return rc < 0 ? rc : ipcx__ns_open();
}

/* Open NAME's file with FLAGS; errors carry a message naming it.  Whoever
 * may write the namespace may have planted anything under the name: a
 * FIFO must not block us, a symlink must not lead us elsewhere
 * (ipcx__ns_open_file); either answers -EPROTO, like a bad header. */
static int open_file(const char *name, int flags)
{
    char fname[IPCX__FILE_MAX + 1];
    const char *kind = NULL;
    int dfd = ns_entry(name, fname);
    if (dfd < 0) {
        return dfd;
    }
    int fd = ipcx__ns_open_file(dfd, fname, flags, S_IFREG, &kind);
    ipcx__close(dfd);
    if (fd == -EPROTO) {
        return ipcx__err(fd,
                         "cannot open mailbox '%s': '%s' is %s, not a "
                         "mailbox file",
                         name, fname, kind);
    }
    if (fd < 0) {
        return ipcx__err(fd, "cannot open mailbox '%s': %s", name,
                         fd == -ENOENT ? "no such mailbox" : ipcx_strerror(fd));
    }
    return fd;
}

static int attach_name(const char *name, int writable,
                       struct ipcx_mailbox **out)
{
    char why[WHY_LEN] = "";
    int fd = open_file(name, writable ? O_RDWR : O_RDONLY);
    if (fd < 0) {
        return fd;
    }
    int rc = attach(fd, writable, out, why);
    if (rc < 0) {
        ipcx__close(fd);
        if (rc == -EPROTO) {
            return ipcx__err(rc,
                             "cannot open mailbox '%s': not a valid "
                             "mailbox file (%s)",
                             name, why);
        }
        return ipcx__err(rc, "cannot open mailbox '%s': %s", name,
                         ipcx_strerror(rc));
    }
    /* ipcx__ns_file() checked NAME when open_file() ran. */
    snprintf((*out)->fname, sizeof(*out)->fname, "%s" MBX_SUFFIX, name);
    return 0;
}

int ipcx_mailbox_open(const char *name, int flags, ipcx_mailbox **out)
{
    struct ipcx_mailbox *mb;
    ipcx__err_clear();
    if (out == NULL || flags != 0) {
        return ipcx__err(-EINVAL, out == NULL ? "NULL handle pointer"
                                              : "flags must be 0");
    }
    int rc = attach_name(name, 1, &mb);
    if (rc < 0) {
        return rc;
    }
    if ((rc = ipcx__mbx_register(mb)) < 0) {
        detach(mb);
        return ipcx__err(rc, "cannot open mailbox '%s': %d handles open", name,
                         MBX_NPROC);
    }
    if (mb->policy == IPCX_POLICY_PAIR &&
        (rc = ipcx__mbx_take_pair_place(mb)) < 0) {
        ipcx__mbx_unregister(mb);
        detach(mb);
        return ipcx__err(rc,
                         "cannot open mailbox '%s': a pair mailbox "
                         "already has two processes",
                         name);
    }
    ipcx__notify_track_mailbox(mb);
    *out = mb;
    return 0;
}

/* ---- anonymous mailboxes (port_allocate) and rights ---- */

/* Seals an anonymous mailbox's memfd carries: nobody may shrink it under
 * the others (SIGBUS); a bounded one, whose pool exists from the start, may
 * not grow either. */
#define ANON_SEALS_ALL (F_SEAL_SHRINK | F_SEAL_SEAL)

/* Register the attached anonymous mailbox MB: the handle is ready. */
static int anon_finish(struct ipcx_mailbox *mb, int bell, unsigned rights)
{
    int rc = ipcx__mbx_register(mb);
    if (rc < 0) {
        return rc;
    }
    if (mb->policy == IPCX_POLICY_PAIR &&
        (rc = ipcx__mbx_take_pair_place(mb)) < 0) {
        ipcx__mbx_unregister(mb);
        return rc;
    }
    mb->anon = 1;
    mb->rights = rights;
    atomic_store_explicit(&mb->bell, bell, memory_order_relaxed);
    return 0;
}

int ipcx_mailbox_allocate(const ipcx_mailbox_attr *attr, ipcx_mailbox **out)
{
    ipcx_mailbox_attr defaults;
    struct mbx_geom g;
    struct ipcx_mailbox *mb = NULL;
    char why[WHY_LEN];
    ipcx__err_clear();
    if (out == NULL) {
        return ipcx__err(-EINVAL, "NULL handle pointer");
    }
    if (attr == NULL) {
        ipcx_mailbox_attr_init(&defaults);
        attr = &defaults;
    }
    ipcx_mailbox_attr a = *attr;
    /* Nobody can name it: the descriptor is the capability.  A holder of
     * another uid must be able to reopen it (ipcx__mbx_adopt); reaching
     * another process's descriptors through /proc needs ptrace rights,
     * which the mode does not grant. */
    a.mode = 0666;
    int rc = check_attr(&a, &g);
    if (rc < 0) {
        return rc;
    }
    int fd = ipcx__memfd("ipcx-mailbox", MFD_ALLOW_SEALING);
    int bell = fd < 0 ? -1 : ipcx__eventfd(EFD_NONBLOCK);
    unsigned seals =
        ANON_SEALS_ALL | (a.capacity == IPCX_UNBOUNDED ? 0 : F_SEAL_GROW);
    rc = fd < 0 ? fd : bell;
    if (rc >= 0 && (rc = init_file(fd, &a, &g)) == 0 &&
        (rc = fcntl(fd, F_ADD_SEALS, seals) < 0 ? -errno : 0) == 0 &&
        (rc = attach(fd, 1, &mb, why)) == 0 &&
        (rc = anon_finish(mb, bell, IPCX_RIGHT_SEND | IPCX_RIGHT_RECV)) < 0) {
        detach(mb); /* closes fd */
        fd = -1;
    }
    if (rc < 0) {
        ipcx__close(fd);
        ipcx__close(bell);
        return ipcx__err(rc, "cannot allocate a mailbox: %s",
                         ipcx_strerror(rc));
    }
    *out = mb;
    return 0;
}

int ipcx__mbx_adopt(int fd, int bell, unsigned rights, ipcx_mailbox **out)
{
    struct ipcx_mailbox *mb;
    char path[64];
    int seals = fcntl(fd, F_GET_SEALS);
    /* A memfd whose holders cannot shrink it, or mapping it would hand a
     * peer the power to SIGBUS us. */
    if (seals < 0 || (seals & ANON_SEALS_ALL) != ANON_SEALS_ALL) {
        return -EPROTO;
    }
    /* The descriptor shares the sender's open file description, and with
     * it the sender's OFD locks: our registry entry would vouch for the
     * sender and the sender's for us.  Our own description, opened through
     * /proc, gives us our own liveness token. */
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int own = ipcx__openat(AT_FDCWD, path, O_RDWR, 0);
    if (own < 0) {
        return own;
    }
    char why[WHY_LEN];
    int rc = attach(own, 1, &mb, why);
    if (rc < 0) {
        ipcx__close(own);
        return rc;
    }
    if ((rc = anon_finish(mb, bell, rights)) < 0) {
        atomic_store_explicit(&mb->bell, -1, memory_order_relaxed);
        detach(mb); /* closes own; the caller still owns fd and bell */
        return rc;
    }
    ipcx__close(fd);
    *out = mb;
    return 0;
}

unsigned ipcx_mailbox_rights(const ipcx_mailbox *mb)
{
    return ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox") == 0 ? mb->rights
                                                                   : 0;
}

int ipcx_mailbox_restrict(ipcx_mailbox *mb, unsigned rights)
{
    ipcx__err_clear();
    int rc = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (rc < 0) {
        return rc;
    }
    if (rights & ~(IPCX_RIGHT_SEND | IPCX_RIGHT_RECV)) {
        return ipcx__err(-EINVAL, "unknown rights 0x%x", rights);
    }
    if ((rights & mb->rights) == 0) {
        return ipcx__err(-EINVAL, "no right would be left: close the handle");
    }
    if (!(rights & IPCX_RIGHT_RECV) && mb->policy == IPCX_POLICY_EXCLUSIVE) {
        ipcx_mailbox_release(mb);
    }
    mb->rights &= rights;
    return 0;
}

int ipcx_mailbox_close(ipcx_mailbox *mb)
{
    ipcx__err_clear();
    if (mb == NULL) {
        return 0;
    }
    int rc = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (rc < 0) {
        return rc;
    }
    if (!mb->anon) {
        ipcx__notify_untrack_mailbox(mb);
    }
    ipcx__mbx_unregister(mb);
    /* Blocked senders may wait for a place we held (pair) or receivers for
     * a right we held (exclusive): let them look again. */
    ipcx__event_notify(&mb->hdr->ev_space, INT32_MAX);
    detach(mb);
    return 0;
}

/* Unlink NAME's file; the directory's permissions decide. */
static int unlink_name(const char *name)
{
    char fname[IPCX__FILE_MAX + 1];
    int dfd = ns_entry(name, fname);
    if (dfd < 0) {
        return dfd;
    }
    int rc = unlinkat(dfd, fname, 0) < 0 ? -errno : 0;
    ipcx__close(dfd);
    if (rc == -EISDIR) { /* planted: not ours to remove with its contents */
        return ipcx__err(-EPROTO,
                         "cannot remove mailbox '%s': '%s' is a directory, "
                         "not a mailbox file (remove it by hand)",
                         name, fname);
    }
    if (rc < 0) {
        return ipcx__err(rc, "cannot remove mailbox '%s': %s", name,
                         rc == -ENOENT ? "no such mailbox" : ipcx_strerror(rc));
    }
    return 0;
}

int ipcx_mailbox_destroy(const char *name)
{
    struct ipcx_mailbox *mb = NULL;
    ipcx__err_clear();
    /* Open first (write permission on the mailbox), unlink second (write
     * permission on the namespace); only when both succeeded do the
     * handles still open learn that it is gone.  A corrupt file is removed
     * all the same. */
    int rc = attach_name(name, 1, &mb);
    if (rc < 0 && rc != -EPROTO) {
        return rc;
    }
    rc = unlink_name(name);
    if (rc == 0 && mb != NULL) {
        /* Release: whoever sees the flag also sees what was queued before.
         * Then wake every sleeper to look. */
        atomic_store_explicit(&mb->hdr->destroyed, 1, memory_order_release);
        ipcx__event_notify(&mb->hdr->ev_msg, INT32_MAX);
        ipcx__event_notify(&mb->hdr->ev_space, INT32_MAX);
        /* Pollers too; then the FIFO goes with the name. */
        ipcx__mbx_ring_all(mb);
        int dfd = ipcx__ns_open();
        if (dfd >= 0) {
            ipcx__mbx_bell_unlink(dfd, mb->fname);
            ipcx__close(dfd);
        }
    }
    if (mb != NULL) {
        detach(mb);
    }
    if (rc == 0) {
        ipcx__err_clear();
    }
    return rc;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Distinct pids among N entries of PIDS (sorted in place). */
static uint32_t distinct(pid_t *pids, uint32_t n)
{
    qsort(pids, n, sizeof *pids, cmp_pid);
    uint32_t d = 0;
    for (uint32_t i = 0; i < n; i++) {
        d += i == 0 || pids[i] != pids[i - 1];
    }
    return d;
}

static void count_procs(struct ipcx_mailbox *mb, int own_alive,
                        ipcx_mailbox_info *st)
{
    pid_t pids[MBX_NPROC];
    uint32_t n = 0;
    for (uint32_t i = 0; i < MBX_NPROC; i++) {
        struct mbx_proc *e = &mb->procs[i];
        if (!atomic_load_explicit(&e->used, memory_order_acquire)) {
            continue;
        }
        st->sent += atomic_load_explicit(&e->sent, memory_order_relaxed);
        st->received +=
            atomic_load_explicit(&e->received, memory_order_relaxed);
        int alive =
            (own_alive && mb->me == e) || ipcx__mbx_entry_locked(mb->fd, i);
        if (alive) {
            pids[n++] = atomic_load_explicit(&e->pid, memory_order_relaxed);
            st->send_waiting +=
                atomic_load_explicit(&e->send_waiting, memory_order_relaxed);
            st->recv_waiting +=
                atomic_load_explicit(&e->recv_waiting, memory_order_relaxed);
        }
    }
    st->nopen = distinct(pids, n);
}

static int fill_stat(struct ipcx_mailbox *mb, ipcx_mailbox_info *out)
{
    struct mbx_header *h = mb->hdr;
    struct stat fst;
    ipcx_mailbox_info st;
    if (fstat(mb->fd, &fst) < 0) {
        return -errno;
    }
    memset(&st, 0, sizeof st);
    st.id = h->id;
    st.capacity = mb->capacity;
    st.max_msg_size = mb->max_msg;
    st.policy = mb->policy;
    st.mode = fst.st_mode & 07777;
    st.uid = fst.st_uid;
    st.gid = fst.st_gid;
    st.depth = ipcx__q_depth(&mb->q);
    st.max_bytes = mb->capacity == IPCX_UNBOUNDED ? h->max_bytes : 0;
    st.bytes = (uint64_t)fst.st_blocks * 512;
    st.sent = atomic_load_explicit(&h->sent_closed, memory_order_relaxed);
    st.received =
        atomic_load_explicit(&h->received_closed, memory_order_relaxed);
    count_procs(mb, mb->me != NULL, &st);
    uint32_t rx = atomic_load_explicit(&h->rx_owner, memory_order_acquire);
    if (rx != 0 && MBX_HOLDER_IDX(rx) < MBX_NPROC && ipcx__mbx_alive(mb, rx)) {
        st.receiver = mb->procs[MBX_HOLDER_IDX(rx)].pid;
    }
    st.destroyed = atomic_load_explicit(&h->destroyed, memory_order_acquire);
    *out = st;
    return 0;
}

int ipcx_mailbox_stat(ipcx_mailbox *mb, ipcx_mailbox_info *st)
{
    ipcx__err_clear();
    int rc = ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox");
    if (rc < 0) {
        return rc;
    }
    if (st == NULL) {
        return ipcx__err(-EINVAL, "NULL argument");
    }
    return fill_stat(mb, st);
}

int ipcx_mailbox_stat_name(const char *name, ipcx_mailbox_info *st)
{
    struct ipcx_mailbox *mb;
    ipcx__err_clear();
    if (st == NULL) {
        return ipcx__err(-EINVAL, "NULL stat pointer");
    }
    int rc = attach_name(name, 0, &mb);
    if (rc < 0) {
        return rc;
    }
    mb->my_idx = UINT32_MAX; /* not registered: no entry is ours */
    rc = fill_stat(mb, st);
    detach(mb);
    return rc;
}

int ipcx_mailbox_list(int (*fn)(const char *name, void *arg), void *arg)
{
    ipcx__err_clear();
    if (fn == NULL) {
        return ipcx__err(-EINVAL, "NULL callback");
    }
    return ipcx__ns_list(MBX_SUFFIX, fn, arg);
}

size_t ipcx_mailbox_max_msg_size(const ipcx_mailbox *mb)
{
    return ipcx__handle_check(mb, IPCX__H_MAILBOX, "mailbox") == 0 ? mb->max_msg
                                                                   : 0;
}
