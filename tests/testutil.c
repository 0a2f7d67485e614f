#include "testutil.h"

#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
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

int tu_wait_bounded(pid_t pid, int seconds)
{
    for (int i = 0; i < seconds * 1000; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        CHECK(r >= 0);
        if (r == pid) {
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        tu_pause_ms(1);
    }
    kill(pid, SIGKILL);
    tu_wait(pid);
    return -1;
}

int tu_readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, 0);
    CHECK(n >= 0);
    return n == 1 && (p.revents & POLLIN) != 0;
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

void tu_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void tu_pause_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

int tu_failures;

static int call_void(void *arg)
{
    void (**fn)(void) = arg;
    (*fn)();
    fflush(NULL);
    return 0;
}

void tu_run(const char *name, void (*fn)(void))
{
    const char *only = getenv("IPCX_TEST_ONLY");
    if (only != NULL && strstr(name, only) == NULL) {
        return;
    }
    long long t0 = tu_now_ns();
    fflush(stdout); /* the child must not print our buffer again */
    int rc = tu_wait(tu_spawn(call_void, &fn));
    if (rc != 0) {
        fprintf(stderr, "FAILED: %s (exit %d)\n", name, rc);
        tu_failures++;
    }
    printf("-- %s: %lld ms\n", name, (tu_now_ns() - t0) / 1000000);
    fflush(stdout);
}

ipcx_mailbox *tu_open(const char *name)
{
    ipcx_mailbox *mb = NULL;
    CHECK_RC(ipcx_mailbox_open(name, 0, &mb), 0);
    CHECK(mb != NULL);
    return mb;
}

ipcx_mailbox_info tu_stat(ipcx_mailbox *mb)
{
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat(mb, &st), 0);
    return st;
}

ipcx_mailbox_attr tu_attr(uint32_t capacity, uint32_t max_msg_size)
{
    ipcx_mailbox_attr a;
    ipcx_mailbox_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = max_msg_size;
    return a;
}

void *tu_shared_map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 0, len);
    return p;
}
