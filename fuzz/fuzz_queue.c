/*
 * fuzz_queue.c - the queue protocol driven by arbitrary operations while
 * a "peer" pokes arbitrary values into its shared memory.  Each input byte
 * pair is one step: claim+publish, take+finish, take and hold, finish a
 * held message, withdraw or collect an acknowledged one, reclaim, or a
 * poke (offset, 64-bit value) anywhere in the queue's memory.  The queue
 * may answer errors; it must never crash, read or write outside its memory
 * (ASan), or loop without bound.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ring/queue.h"

#define MAX_MSG 48
#define HDR     256 /* struct ipcx__qhdr, rounded up */

static int alive_never(void *ctx, uint32_t holder)
{
    return 0; /* every holder is dead: exercise every reclaim path */
}

struct fz {
    struct ipcx__queue q;
    unsigned char *mem;
    size_t len;
    struct ipcx__qref held[4], acked[4];
    int nheld, nacked;
};

static int setup(struct fz *f, uint8_t kind)
{
    static const uint32_t caps[] = {0, 1, 4, 64, UINT32_MAX};
    uint32_t cap = caps[kind % 5];
    struct ipcx__qgeom g;
    if (ipcx__q_geometry(cap, MAX_MSG, 16384, &g) < 0) {
        return -1;
    }
    memset(f, 0, sizeof *f);
    f->len = HDR + (size_t)g.M * 8 + (size_t)g.S * g.seg_bytes;
    f->mem = aligned_alloc(64, (f->len + 63) & ~(size_t)63);
    memset(f->mem, 0, f->len);
    f->q.h = (struct ipcx__qhdr *)f->mem;
    f->q.table = (_Atomic uint64_t *)(f->mem + HDR);
    f->q.pool = f->mem + HDR + (size_t)g.M * 8;
    f->q.cap = cap == 0 || cap == UINT32_MAX ? 0 : cap;
    f->q.seg_bytes = g.seg_bytes;
    f->q.kshift = g.kshift;
    f->q.M = g.M;
    f->q.S = g.S;
    f->q.stride = g.stride;
    f->q.max_msg = MAX_MSG;
    f->q.ceiling_is_error = cap == UINT32_MAX;
    f->q.alive = alive_never;
    ipcx__q_format(&f->q, cap != UINT32_MAX);
    return 0;
}

static void produce(struct fz *f, uint8_t arg)
{
    struct ipcx__qref r;
    if (ipcx__q_claim(&f->q, 3, &r) != 0) {
        return;
    }
    uint32_t len = arg % (MAX_MSG + 1);
    memset(ipcx__q_payload(&r), arg, len);
    int ack = (arg & 0x80) && f->nacked < 4;
    ipcx__q_publish(&f->q, &r, len, ack ? IPCX__Q_FLAG_ACK : 0);
    if (ack) {
        f->acked[f->nacked++] = r;
    }
}

static void consume(struct fz *f, uint8_t arg, int hold)
{
    struct ipcx__qref r;
    unsigned char buf[MAX_MSG];
    int rc = ipcx__q_take(&f->q, 5, arg % (MAX_MSG + 1), &r);
    if (rc == -EINPROGRESS) {
        ipcx__q_reclaim(&f->q, &r);
    }
    if (rc != 0) {
        return;
    }
    if (r.len > sizeof buf || r.len > arg % (MAX_MSG + 1)) {
        abort(); /* the validated length broke its promise */
    }
    memcpy(buf, ipcx__q_payload(&r), r.len);
    if (hold && f->nheld < 4) {
        f->held[f->nheld++] = r;
    } else {
        ipcx__q_finish(&f->q, &r, 5, 77);
    }
}

static void settle(struct fz *f, uint8_t arg)
{
    if (f->nheld > 0 && (arg & 1)) {
        ipcx__q_finish(&f->q, &f->held[--f->nheld], 5, 77);
    } else if (f->nacked > 0) {
        struct ipcx__qref *r = &f->acked[--f->nacked];
        int32_t pid;
        if (ipcx__q_acked(&f->q, r, &pid) != 0 && (arg & 2)) {
            ipcx__q_cancel(&f->q, r);
        }
    }
}

static void poke(struct fz *f, const uint8_t *d)
{
    size_t off =
        ((size_t)d[0] | (size_t)d[1] << 8 | (size_t)d[2] << 16) % (f->len - 8);
    off &= ~(size_t)7;
    uint64_t v;
    memcpy(&v, d + 3, 8);
    memcpy(f->mem + off, &v, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f;
    if (size < 1 || setup(&f, data[0]) < 0) {
        return 0;
    }
    for (size_t i = 1; i + 2 <= size;) {
        uint8_t op = data[i], arg = data[i + 1];
        i += 2;
        switch (op % 8) {
        case 0:
        case 1:
            produce(&f, arg);
            break;
        case 2:
            consume(&f, arg, 0);
            break;
        case 3:
            consume(&f, arg, 1);
            break;
        case 4:
            settle(&f, arg);
            break;
        case 5:
            ipcx__q_unstick_tail(&f.q);
            break;
        case 6:
            if (i + 11 <= size) {
                poke(&f, data + i);
                i += 11;
            }
            break;
        default:
            (void)ipcx__q_depth(&f.q);
        }
    }
    free(f.mem);
    return 0;
}
