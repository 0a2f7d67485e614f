/*
 * fuzzchan.h - what the channel fuzz targets share: reading an input as a
 * stream of numbers, counting descriptors, and building both ends of a
 * channel in one process (the way port.c does, over a socketpair instead
 * of a connection port), so a target can play the peer.
 */
#ifndef IPCX_FUZZCHAN_H
#define IPCX_FUZZCHAN_H

#include <stddef.h>
#include <stdint.h>

#include "channel/channel.h"

/* The input, read front to back; past its end every read gives zeros. */
struct fz_in {
    const uint8_t *p;
    size_t n;
};

uint8_t fz_u8(struct fz_in *in);
uint16_t fz_u16(struct fz_in *in);
uint32_t fz_u32(struct fz_in *in);
uint64_t fz_u64(struct fz_in *in);
void fz_bytes(struct fz_in *in, void *out, size_t n);

/* Open descriptors of this process (abort if /proc cannot tell). */
int fz_fd_count(void);

/* Make the process fit for channels: fz_ns_setup() (fuzz.h), a private
 * namespace directory under /dev/shm (IPCX_DIR, removed at exit) and no
 * spinning.  Returns the directory. */
const char *fz_setup(void);

/* A memfd of SIZE bytes holding BYTES (LEN of them, the rest zero), with
 * SEALS added (F_SEAL_* bits); the descriptor, or abort. */
int fz_memfd(const void *bytes, size_t len, size_t size, unsigned seals);

/* Both ends of a channel of CAPACITY x MAX_MSG over fresh, formatted
 * memory and a socketpair, as ipcx_port_accept() and ipcx_connect() would
 * leave them: 0, or -EINVAL if the geometry is refused. */
int fz_chan_pair(uint32_t capacity, uint32_t max_msg, ipcx_channel **srv,
                 ipcx_channel **cli);

#endif
