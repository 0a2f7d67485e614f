#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sys.h"

static int real_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return openat(dirfd, path, flags | O_CLOEXEC, mode);
}

static int real_fallocate(int fd, off_t off, off_t len)
{
    return fallocate(fd, 0, off, len);
}

static int real_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

static void *real_mmap(size_t len, int prot, int fd)
{
    void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int real_memfd(const char *name, unsigned flags)
{
    return memfd_create(name, flags | MFD_CLOEXEC);
}

static int real_eventfd(unsigned flags)
{
    return eventfd(0, (int)flags | EFD_CLOEXEC);
}

static ssize_t real_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return sendmsg(fd, msg, flags | MSG_NOSIGNAL);
}

struct ipcx__sys_table ipcx__sys = {
    .openat = real_openat,
    .fallocate = real_fallocate,
    .ftruncate = real_ftruncate,
    .mmap = real_mmap,
    .memfd = real_memfd,
    .eventfd = real_eventfd,
    .sendmsg = real_sendmsg,
};

int ipcx__openat(int dirfd, const char *path, int flags, mode_t mode)
{
    int fd;
    do {
        fd = ipcx__sys.openat(dirfd, path, flags, mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

int ipcx__fallocate(int fd, off_t off, off_t len)
{
    int rc;
    do {
        rc = ipcx__sys.fallocate(fd, off, len);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

int ipcx__ftruncate(int fd, off_t len)
{
    int rc;
    do {
        rc = ipcx__sys.ftruncate(fd, len);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

int ipcx__mmap(size_t len, int prot, int fd, void **out)
{
    void *p = ipcx__sys.mmap(len, prot, fd);
    if (p == NULL) {
        return -errno;
    }
    *out = p;
    return 0;
}

int ipcx__memfd(const char *name, unsigned flags)
{
    int fd = ipcx__sys.memfd(name, flags);
    return fd < 0 ? -errno : fd;
}

int ipcx__eventfd(unsigned flags)
{
    int fd = ipcx__sys.eventfd(flags);
    return fd < 0 ? -errno : fd;
}

ssize_t ipcx__sendmsg(int fd, const struct msghdr *msg, int flags)
{
    ssize_t n;
    do {
        n = ipcx__sys.sendmsg(fd, msg, flags);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int ipcx__is_eventfd(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) {
        return 0;
    }
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0 &&
           fcntl(fd, F_SETFL, O_NONBLOCK) == 0;
}

void ipcx__close(int fd)
{
    int saved = errno;
    if (fd >= 0) {
        (void)close(fd);
    }
    errno = saved;
}
