/* chanutil.c - helpers of the channel tests; see chanutil.h. */
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "chanutil.h"

struct tramp {
    int (*fn)(void *);
    void *arg;
    pid_t parent;
};

static int trampoline(void *p)
{
    struct tramp *t = p;
    CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0);
    if (getppid() != t->parent) {
        return 1; /* the parent is gone already */
    }
    return t->fn(t->arg);
}

pid_t tc_spawn(int (*fn)(void *), void *arg)
{
    struct tramp t = {fn, arg, getpid()};
    return tu_spawn(trampoline, &t);
}

ipcx_port *tc_listen(const char *name, uint32_t capacity, uint32_t max_msg,
                     uint32_t mode)
{
    ipcx_port_attr a;
    ipcx_port_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = max_msg;
    a.mode = mode;
    ipcx_port *p = NULL;
    CHECK_RC(ipcx_port_listen(name, &a, &p), 0);
    CHECK(p != NULL);
    return p;
}

ipcx_channel *tc_connect(const char *name)
{
    for (int i = 0; i < 10000; i++) {
        ipcx_channel *ch = NULL;
        int rc = ipcx_connect(name, TC_BOUND, &ch);
        if (rc == 0) {
            CHECK(ch != NULL);
            return ch;
        }
        if (rc != -ENOENT && rc != -ECONNREFUSED) {
            fprintf(stderr, "connect '%s': %s (%s)\n", name, ipcx_strerror(rc),
                    ipcx_last_error());
            exit(1);
        }
        tu_pause_ms(1);
    }
    fprintf(stderr, "port '%s' never appeared\n", name);
    exit(1);
}

ipcx_channel *tc_accept(ipcx_port *p)
{
    ipcx_channel *ch = NULL;
    CHECK_RC(ipcx_port_accept(p, TC_BOUND, NULL, NULL, &ch), 0);
    return ch;
}

void tc_recv_str(ipcx_channel *ch, const char *want, int64_t timeout)
{
    char buf[256];
    long n = ipcx_channel_recv(ch, buf, sizeof buf, timeout);
    if (n != (long)strlen(want) + 1 || memcmp(buf, want, (size_t)n) != 0) {
        fprintf(stderr, "recv: got %ld (%s) '%.*s', wanted '%s'\n", n,
                n < 0 ? ipcx_strerror((int)n) : "", n > 0 ? (int)n : 0, buf,
                want);
        exit(1);
    }
}

void tc_wait_step(_Atomic int *step, int want)
{
    for (int i = 0; i < 20000; i++) {
        if (atomic_load(step) >= want) {
            return;
        }
        tu_pause_ms(1);
    }
    fprintf(stderr, "timed out waiting for step %d\n", want);
    exit(1);
}
