/*
 * sys.h - internal: the system calls that can fail, behind one table so that
 * tests can inject failures (tests swap an entry, then restore it).  Every
 * wrapper returns 0 / a value on success and a negative errno on failure, and
 * retries EINTR where retrying is right.
 */
#ifndef IPCX_CORE_SYS_H
#define IPCX_CORE_SYS_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct ipcx__sys_table {
    int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
    int (*fallocate)(int fd, off_t off, off_t len);
    int (*ftruncate)(int fd, off_t len);
    void *(*mmap)(size_t len, int prot, int fd); /* NULL + errno on fail */
    int (*memfd)(const char *name, unsigned flags);
    int (*eventfd)(unsigned flags);
    ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
};

extern struct ipcx__sys_table ipcx__sys;

/* Wrappers over the table: negative errno on failure, EINTR retried. */
int ipcx__openat(int dirfd, const char *path, int flags, mode_t mode);
int ipcx__fallocate(int fd, off_t off, off_t len);
int ipcx__ftruncate(int fd, off_t len);
int ipcx__mmap(size_t len, int prot, int fd, void **out);
int ipcx__memfd(const char *name, unsigned flags); /* MFD_CLOEXEC added */
int ipcx__eventfd(unsigned flags);                 /* EFD_CLOEXEC added */
/* sendmsg() with MSG_NOSIGNAL added; the count sent or negative errno. */
ssize_t ipcx__sendmsg(int fd, const struct msghdr *msg, int flags);

/* Is FD an eventfd (a descriptor a peer sent)?  Sets it non-blocking. */
int ipcx__is_eventfd(int fd);

/* close() that keeps errno and ignores EINTR (the fd is gone either way). */
void ipcx__close(int fd);

#endif
