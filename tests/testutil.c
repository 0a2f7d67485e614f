#include "testutil.h"

#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char ns_dir[256];
static pid_t ns_owner;

static void remove_ns(void)
{
    if (getpid() != ns_owner || ns_dir[0] == '\0') {
        return;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ns_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "warning: could not remove %s\n", ns_dir);
    }
}

const char *tu_private_ns(void)
{
    snprintf(ns_dir, sizeof ns_dir, "/dev/shm/ipcx-test-XXXXXX");
    if (mkdtemp(ns_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    ns_owner = getpid();
    setenv("IPCX_DIR", ns_dir, 1);
    atexit(remove_ns);
    return ns_dir;
}

pid_t tu_spawn(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        _exit(fn(arg));
    }
    return pid;
}

int tu_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        CHECK(errno == EINTR);
    }
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    return 128 + WTERMSIG(st);
}

long long tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int tu_system(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(NULL);
    int st = system(cmd);
    if (st < 0 || !WIFEXITED(st)) {
        return -1;
    }
    return WEXITSTATUS(st);
}
