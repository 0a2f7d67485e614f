#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipcx/ns.h>

#include "core/error.h"
#include "core/sys.h"
#include "ns/ns.h"

static int name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int ipcx_name_check(const char *name)
{
    if (name == NULL) {
        return ipcx__err(-EINVAL, "invalid name: NULL");
    }
    size_t n = strnlen(name, IPCX_NAME_MAX + 1);
    if (n == 0) {
        return ipcx__err(-EINVAL, "invalid name: empty");
    }
    if (n > IPCX_NAME_MAX) {
        return ipcx__err(-EINVAL, "invalid name: longer than %d characters",
                         IPCX_NAME_MAX);
    }
    if (name[0] == '.') {
        return ipcx__err(-EINVAL, "invalid name '%s': must not start with '.'",
                         name);
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_char_ok(name[i])) {
            return ipcx__err(-EINVAL,
                             "invalid name: character %zu (0x%02x) is not "
                             "one of A-Z a-z 0-9 . _ -",
                             i + 1, (unsigned char)name[i]);
        }
    }
    return 0;
}

int ipcx__ns_file(const char *name, const char *suffix, const char *what,
                  char *out)
{
    int rc = ipcx_name_check(name);
    if (rc < 0) {
        /* Keep the detail ipcx_name_check() recorded, naming the kind. */
        char detail[300];
        snprintf(detail, sizeof detail, "%s", ipcx_last_error());
        return ipcx__err(rc, "%s %s", what, detail);
    }
    snprintf(out, IPCX__FILE_MAX + 1, "%s%s", name, suffix);
    return 0;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        return -ENAMETOOLONG;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

/* Where the namespace is; *is_default says whether the user chose it. */
static int ns_dir(char *buf, size_t len, int *is_default)
{
    const char *env = getenv("IPCX_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    *is_default = env == NULL || env[0] == '\0';
    if (!*is_default) {
        n = snprintf(buf, len, "%s", env);
    } else if (xdg != NULL && xdg[0] == '/') {
        n = snprintf(buf, len, "%s/ipcx", xdg);
    } else {
        n = snprintf(buf, len, "/dev/shm/ipcx-%u", (unsigned)getuid());
    }
    if (n < 0 || (size_t)n >= len) {
        return ipcx__err(-ENAMETOOLONG, "namespace path too long");
    }
    return n;
}

/*
 * A default directory is trusted only if it is ours and nobody else can
 * write it: otherwise another user could have planted it in /dev/shm to
 * watch or spoof our objects.
 */
static int check_default(int dfd, const char *path)
{
    struct stat st;
    if (fstat(dfd, &st) < 0) {
        return ipcx__err(-errno, "cannot stat namespace '%s'", path);
    }
    if (st.st_uid != getuid() || (st.st_mode & 022) != 0) {
        return ipcx__err(-EPERM,
                         "namespace '%s' is not private to this user "
                         "(owner uid %u, mode %03o): refusing it",
                         path, (unsigned)st.st_uid,
                         (unsigned)(st.st_mode & 0777));
    }
    return 0;
}

static int ns_open_path(char *path, size_t len)
{
    int is_default;
    int rc = ns_dir(path, len, &is_default);
    if (rc < 0) {
        return rc;
    }
    rc = make_dirs(path);
    if (rc < 0) {
        return ipcx__err(rc, "cannot create namespace '%s': %s", path,
                         ipcx_strerror(rc));
    }
    /* O_PATH: search permission suffices, as for any path lookup; a shared
     * namespace may well be 0711. */
    int dfd = ipcx__openat(AT_FDCWD, path, O_PATH | O_DIRECTORY, 0);
    if (dfd < 0) {
        return ipcx__err(dfd, "cannot open namespace '%s': %s", path,
                         ipcx_strerror(dfd));
    }
    if (is_default && (rc = check_default(dfd, path)) < 0) {
        ipcx__close(dfd);
        return rc;
    }
    return dfd;
}

int ipcx__ns_open(void)
{
    char path[PATH_MAX];
    return ns_open_path(path, sizeof path);
}

int ipcx_ns_path(char *buf, size_t len)
{
    char path[PATH_MAX];
    ipcx__err_clear();
    if (buf == NULL) {
        return ipcx__err(-EINVAL, "NULL buffer");
    }
    int dfd = ns_open_path(path, sizeof path);
    if (dfd < 0) {
        return dfd;
    }
    ipcx__close(dfd);
    size_t n = strlen(path);
    if (n + 1 > len) {
        return ipcx__err(-ENAMETOOLONG, "buffer too small for '%s'", path);
    }
    memcpy(buf, path, n + 1);
    return (int)n;
}

int ipcx__ns_tmpfile(int dfd, char *tmp, size_t tmplen)
{
    int fd = ipcx__openat(dfd, ".", O_TMPFILE | O_RDWR, 0600);
    tmp[0] = '\0';
    if (fd >= 0 || (fd != -EOPNOTSUPP && fd != -EISDIR && fd != -EINVAL)) {
        return fd;
    }
    /* The counter keeps threads apart should getrandom() fail; O_EXCL
     * refuses any clash anyway. */
    static _Atomic unsigned seq;
    unsigned long long r = 0;
    (void)!getrandom(&r, sizeof r, GRND_NONBLOCK);
    snprintf(tmp, tmplen, ".tmp-%d-%u-%llx", (int)getpid(),
             atomic_fetch_add(&seq, 1), r);
    return ipcx__openat(dfd, tmp, O_CREAT | O_EXCL | O_RDWR, 0600);
}

int ipcx__ns_link_try(int dfd, int fd, const char *tmp, const char *fname)
{
    if (tmp[0] != '\0') {
        return linkat(dfd, tmp, dfd, fname, 0) < 0 ? -errno : 0;
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, dfd, fname, AT_SYMLINK_FOLLOW) < 0 ? -errno
                                                                     : 0;
}

int ipcx__ns_link(int dfd, int fd, const char *tmp, const char *fname)
{
    int rc = ipcx__ns_link_try(dfd, fd, tmp, fname);
    if (tmp[0] != '\0') {
        unlinkat(dfd, tmp, 0);
    }
    return rc;
}

/* Temporary names: PREFIX, the creator's pid, '-', then [0-9a-f-]+. */
static const struct {
    const char *prefix;
    unsigned type;
} temp_kinds[] = {
    {".tmp-", S_IFREG},   /* ipcx__ns_tmpfile() */
    {".sock-", S_IFSOCK}, /* channel/sock.c: ipcx__sock_listen() */
    {".gc-", S_IFIFO},    /* ns/gc.c: a bell set aside */
};

int ipcx__ns_temp_name(const char *file, pid_t *pid, unsigned *type)
{
    for (size_t k = 0; k < sizeof temp_kinds / sizeof temp_kinds[0]; k++) {
        size_t n = strlen(temp_kinds[k].prefix);
        if (strncmp(file, temp_kinds[k].prefix, n) != 0) {
            continue;
        }
        const char *p = file + n;
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || digits > 10 || p[0] == '0' || p[digits] != '-') {
            return 0;
        }
        long long v = strtoll(p, NULL, 10);
        const char *rest = p + digits + 1;
        if (v > INT32_MAX || rest[0] == '\0' ||
            rest[strspn(rest, "0123456789abcdef-")] != '\0') {
            return 0;
        }
        *pid = (pid_t)v;
        *type = temp_kinds[k].type;
        return 1;
    }
    return 0;
}

DIR *ipcx__ns_opendir(int dfd)
{
    int fd = ipcx__openat(dfd, ".", O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        ipcx__close(fd);
        errno = e;
    }
    return d;
}

const char *ipcx__ns_kind(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG:
        return "a regular file";
    case S_IFIFO:
        return "a FIFO";
    case S_IFLNK:
        return "a symbolic link";
    case S_IFDIR:
        return "a directory";
    case S_IFSOCK:
        return "a socket";
    case S_IFCHR:
    case S_IFBLK:
        return "a device";
    default:
        return "a file of unknown type";
    }
}

int ipcx__ns_open_file(int dfd, const char *fname, int flags, unsigned type,
                       const char **kind)
{
    struct stat st;
    int fd = ipcx__openat(dfd, fname,
                          flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600);
    if (fd >= 0) {
        if (fstat(fd, &st) < 0) {
            int rc = -errno;
            ipcx__close(fd);
            return rc;
        }
    } else if (fd == -ENOENT ||
               fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return fd; /* nothing there (any more) to describe */
    }
    if ((st.st_mode & S_IFMT) == type) {
        return fd; /* the right kind: the open's own answer */
    }
    /* ELOOP (a symlink), ENXIO (a socket), EISDIR: the kind says more;
     * and a kind we cannot use is refused even if its open succeeded. */
    if (fd >= 0) {
        ipcx__close(fd);
    }
    if (kind != NULL) {
        *kind = ipcx__ns_kind(st.st_mode);
    }
    return -EPROTO;
}

/* The stem of FILE if it ends in SUFFIX and is a valid name, else NULL. */
static const char *stem_of(const char *file, const char *suffix, char *stem)
{
    size_t n = strlen(file), s = strlen(suffix);
    if (n <= s || n - s > IPCX_NAME_MAX || strcmp(file + n - s, suffix)) {
        return NULL;
    }
    memcpy(stem, file, n - s);
    stem[n - s] = '\0';
    return ipcx_name_check(stem) == 0 ? stem : NULL;
}

int ipcx__ns_list(const char *suffix, int (*fn)(const char *, void *),
                  void *arg)
{
    int pfd = ipcx__ns_open();
    if (pfd < 0) {
        return pfd;
    }
    DIR *d = ipcx__ns_opendir(pfd);
    ipcx__close(pfd);
    if (d == NULL) {
        int rc = -errno;
        return ipcx__err(rc, "cannot read namespace: %s", ipcx_strerror(rc));
    }
    int rc = 0;
    struct dirent *e;
    char stem[IPCX_NAME_MAX + 1];
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (stem_of(e->d_name, suffix, stem) != NULL) {
            rc = fn(stem, arg);
        }
    }
    closedir(d);
    if (rc == 0) {
        ipcx__err_clear();
    }
    return rc;
}
