/*
 * fuzzns.c - the private namespace directory of a fuzz target; see fuzz.h.
 *
 * /dev/shm/ipcx-fuzz-TARGET-PID, removed by an atexit handler: libFuzzer
 * ends a run (-max_total_time, -runs) with exit().  A run that ends
 * otherwise (a crash, a timeout, SIGINT, SIGKILL: libFuzzer and the
 * sanitizers leave with _Exit or a signal) cannot clean up, so every run
 * first removes what dead runs left.  A directory is a dead run's when its
 * owner's pid is gone and nobody holds the flock() every run keeps on its
 * own directory: the kernel drops that lock when the run dies, however it
 * dies, and a pid reused meanwhile only keeps the directory one run more.
 * So leftovers never accumulate: at most one per crash, until the next
 * fuzz run on the machine.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define SHM    "/dev/shm"
#define PREFIX "ipcx-fuzz-"

static char ns_dir[128];
static pid_t ns_owner;
static int ns_lock = -1; /* our directory, flock()ed while we run */

/* Remove what directory FD holds (a namespace is flat: files, sockets,
 * FIFOs; never followed, a subdirectory stays).  FD stays open. */
static void empty_dir(int fd)
{
    /* A descriptor of its own: a dup would share FD's directory offset,
     * left at the end by the last walk. */
    int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = own < 0 ? NULL : fdopendir(own);
    if (d == NULL) {
        if (own >= 0) {
            close(own);
        }
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            (void)unlinkat(fd, e->d_name, 0);
        }
    }
    closedir(d);
}

/* Is NAME ours to judge: PREFIX, a target name, '-' and a pid?  The pid, or
 * 0.  (Directories of older runs, "ipcx-fuzz-XXXXXX" from mkdtemp, never
 * match: their suffix has no '-'.) */
static pid_t run_pid(const char *name)
{
    size_t n = strlen(PREFIX);
    const char *dash = strrchr(name, '-');
    if (strncmp(name, PREFIX, n) != 0 || dash == NULL || dash < name + n + 1 ||
        dash[1] == '\0' || dash[1] == '0' ||
        strspn(dash + 1, "0123456789") != strlen(dash + 1) ||
        strlen(dash + 1) > 9) {
        return 0;
    }
    return (pid_t)atoi(dash + 1);
}

/* Remove the directory NAME in SHM (an fd of /dev/shm) if it is a dead
 * run's: ours (uid), its pid gone, its lock free.  Our lock on it then
 * keeps a late starter with the same name out until it is gone. */
static void remove_if_dead(int shm, const char *name, pid_t pid)
{
    struct stat st;
    if (pid == getpid() || (kill(pid, 0) == 0 || errno != ESRCH)) {
        return; /* alive (or another user's: EPERM) */
    }
    int fd = openat(shm, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    if (fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
        flock(fd, LOCK_EX | LOCK_NB) == 0) {
        empty_dir(fd);
        (void)unlinkat(shm, name, AT_REMOVEDIR);
    }
    close(fd);
}

static void sweep(void)
{
    DIR *d = opendir(SHM);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = run_pid(e->d_name);
        if (pid > 0) {
            remove_if_dead(dirfd(d), e->d_name, pid);
        }
    }
    closedir(d);
}

static void cleanup(void)
{
    if (getpid() != ns_owner || ns_lock < 0) {
        return; /* a child's exit: the directory is its parent's */
    }
    empty_dir(ns_lock);
    (void)rmdir(ns_dir);
    close(ns_lock); /* the lock last: nobody sweeps it while we empty it */
    ns_lock = -1;
}

const char *fz_ns_setup(void)
{
    if (ns_lock >= 0) {
        return ns_dir;
    }
    sweep();
    const char *target = program_invocation_short_name;
    if (strncmp(target, "fuzz_", 5) == 0) {
        target += 5;
    }
    int n = snprintf(ns_dir, sizeof ns_dir, SHM "/" PREFIX "%.40s-%d", target,
                     (int)getpid());
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof ns_dir);
    /* EEXIST: a dead run's with our pid (the sweep leaves our own pid's
     * alone); ours now, emptied once we hold its lock.  A sweeper that
     * holds it is about to remove it: wait, then make it again. */
    struct stat st, now;
    for (int tries = 0;; tries++) {
        FUZZ_CHECK(tries < 100);
        FUZZ_CHECK(mkdir(ns_dir, 0700) == 0 || errno == EEXIST);
        ns_lock = open(ns_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        FUZZ_CHECK(ns_lock >= 0);
        FUZZ_CHECK(fstat(ns_lock, &st) == 0 && st.st_uid == geteuid() &&
                   (st.st_mode & 022) == 0);
        FUZZ_CHECK(flock(ns_lock, LOCK_EX) == 0);
        if (lstat(ns_dir, &now) == 0 && now.st_dev == st.st_dev &&
            now.st_ino == st.st_ino) {
            break;
        }
        close(ns_lock);
    }
    empty_dir(ns_lock);
    ns_owner = getpid();
    atexit(cleanup);
    setenv("IPCX_DIR", ns_dir, 1);
    setenv("IPCX_SPIN_NS", "0", 1);
    return ns_dir;
}
