/* sock.c - named Unix sockets in the namespace; see sock.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel/sock.h"
#include "core/sys.h"

/* A socket address for FILE in directory DFD (FILE NULL: DFD itself). */
static int sun_at(struct sockaddr_un *sa, int dfd, const char *file)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = file != NULL ? snprintf(sa->sun_path, sizeof sa->sun_path,
                                    "/proc/self/fd/%d/%s", dfd, file)
                         : snprintf(sa->sun_path, sizeof sa->sun_path,
                                    "/proc/self/fd/%d", dfd);
    return n > 0 && (size_t)n < sizeof sa->sun_path ? 0 : -ENAMETOOLONG;
}

int ipcx__sock_new(void)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    return s < 0 ? -errno : s;
}

int ipcx__sock_connect(int s, int dfd, const char *fname)
{
    struct sockaddr_un sa;
    int pfd = ipcx__openat(dfd, fname, O_PATH, 0);
    if (pfd < 0) {
        return pfd;
    }
    int rc = sun_at(&sa, pfd, NULL);
    if (rc == 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = -errno;
    }
    ipcx__close(pfd);
    return rc;
}

/* Move the bound socket TMP to FNAME.  The caller has made sure that no
 * live listener owns FNAME, so a file there is a dead one's: replace it. */
static int place(int dfd, const char *tmp, const char *fname)
{
    return renameat(dfd, tmp, dfd, fname) == 0 ? 0 : -errno;
}

int ipcx__sock_listen(int s, int dfd, const char *fname, uint32_t mode,
                      struct ipcx__sockfile *id)
{
    struct sockaddr_un sa;
    struct stat st;
    char tmp[64];
    uint32_t r = 0;
    (void)!getrandom(&r, sizeof r, GRND_NONBLOCK);
    snprintf(tmp, sizeof tmp, ".sock-%d-%08x", (int)getpid(), r);
    int rc = sun_at(&sa, dfd, tmp);
    if (rc < 0) {
        return rc;
    }
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        return -errno;
    }
    if (fchmodat(dfd, tmp, mode, 0) < 0 ||
        fstatat(dfd, tmp, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        listen(s, SOMAXCONN) < 0) {
        rc = -errno;
    } else {
        rc = place(dfd, tmp, fname);
    }
    if (rc < 0) {
        (void)unlinkat(dfd, tmp, 0);
        return rc;
    }
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return 0;
}

void ipcx__sock_unlink(int dfd, const char *fname,
                       const struct ipcx__sockfile *id)
{
    struct stat st;
    if (fstatat(dfd, fname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == id->dev && st.st_ino == id->ino) {
        (void)unlinkat(dfd, fname, 0);
    }
}
