/* fuzzchan.c - helpers of the channel fuzz targets; see fuzzchan.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzzchan.h"

uint8_t fz_u8(struct fz_in *in)
{
    if (in->n == 0) {
        return 0;
    }
    in->n--;
    return *in->p++;
}

void fz_bytes(struct fz_in *in, void *out, size_t n)
{
    unsigned char *o = out;
    for (size_t i = 0; i < n; i++) {
        o[i] = fz_u8(in);
    }
}

uint16_t fz_u16(struct fz_in *in)
{
    uint16_t v = fz_u8(in);
    return (uint16_t)(v | fz_u8(in) << 8);
}

uint32_t fz_u32(struct fz_in *in)
{
    uint32_t v = fz_u16(in);
    return v | (uint32_t)fz_u16(in) << 16;
}

uint64_t fz_u64(struct fz_in *in)
{
    uint64_t v = fz_u32(in);
    return v | (uint64_t)fz_u32(in) << 32;
}

int fz_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    FUZZ_CHECK(d != NULL);
    int n = 0;
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

const char *fz_setup(void)
{
    return fz_ns_setup();
}

int fz_memfd(const void *bytes, size_t len, size_t size, unsigned seals)
{
    int fd = memfd_create("ipcx-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(ftruncate(fd, (off_t)size) == 0);
    len = len < size ? len : size;
    FUZZ_CHECK(len == 0 || pwrite(fd, bytes, len, 0) == (ssize_t)len);
    if (seals != 0) {
        FUZZ_CHECK(fcntl(fd, F_ADD_SEALS, seals) == 0);
    }
    return fd;
}

static int efd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    return fd;
}

int fz_chan_pair(uint32_t capacity, uint32_t max_msg, ipcx_channel **srv,
                 ipcx_channel **cli)
{
    struct chan_header g;
    if (ipcx__chan_geometry(capacity, max_msg, &g) < 0) {
        return -EINVAL;
    }
    int fd = fz_memfd(NULL, 0, g.map_size,
                      F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    void *base[2];
    for (int e = 0; e < 2; e++) {
        base[e] =
            mmap(NULL, g.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        FUZZ_CHECK(base[e] != MAP_FAILED);
    }
    close(fd); /* the mappings keep the memory */
    ipcx__chan_format(base[0], &g);
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX,
                          SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                          sv) == 0);
    /* Each end closes its own copies of the two bells. */
    int bell0[2] = {efd(), efd()};
    int bell1[2] = {fcntl(bell0[0], F_DUPFD_CLOEXEC, 0),
                    fcntl(bell0[1], F_DUPFD_CLOEXEC, 0)};
    FUZZ_CHECK(bell1[0] >= 0 && bell1[1] >= 0);
    FUZZ_CHECK(ipcx__chan_attach(base[0], g.map_size, 0, sv[0], bell0, srv) ==
               0);
    FUZZ_CHECK(ipcx__chan_attach(base[1], g.map_size, 1, sv[1], bell1, cli) ==
               0);
    return 0;
}
