/*
 * util.c - message stamps, clocks, CPU pinning and small I/O helpers for the
 * benchmark harness.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MSG_MAGIC 0x49504358u /* "IPCX" */
#define TRAILER_K 0x9e3779b97f4a7c15ull

/*
 * Layout of every message: seq (8 bytes), sender (4), magic (4), payload,
 * and in the last 8 bytes seq ^ TRAILER_K ^ sender.  A message torn between
 * two sends, cut short or stitched from two slots fails the check.
 */
struct msg_head {
    uint64_t seq;
    uint32_t sender;
    uint32_t magic;
};

static uint64_t trailer(uint32_t sender, uint64_t seq)
{
    return seq ^ TRAILER_K ^ sender;
}

void msg_stamp(void *buf, size_t size, uint32_t sender, uint64_t seq)
{
    struct msg_head h = {.seq = seq, .sender = sender, .magic = MSG_MAGIC};
    uint64_t t = trailer(sender, seq);
    memcpy(buf, &h, sizeof h);
    memcpy((char *)buf + size - sizeof t, &t, sizeof t);
}

uint64_t msg_seq(const void *buf, uint32_t *sender)
{
    struct msg_head h;
    memcpy(&h, buf, sizeof h);
    if (sender != NULL) {
        *sender = h.sender;
    }
    return h.seq;
}

int msg_check(const void *buf, long len, size_t size, uint32_t sender,
              uint64_t seq)
{
    struct msg_head h;
    uint64_t t;
    if (len != (long)size) {
        return -1;
    }
    memcpy(&h, buf, sizeof h);
    memcpy(&t, (const char *)buf + size - sizeof t, sizeof t);
    if (h.magic != MSG_MAGIC || h.seq != seq || h.sender != sender) {
        return -1;
    }
    return t == trailer(sender, seq) ? 0 : -1;
}

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int pin_to_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}

int write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            return -EPIPE;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void sort_i64(int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_i64);
}

int64_t percentile(const int64_t *sorted, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    /* Nearest rank: the smallest value with at least P% at or below it. */
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return sorted[rank - 1];
}

void spin_pause(unsigned *spins)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((++*spins & 255u) == 0) {
        sched_yield();
    }
}

int64_t proc_cpu_ns(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return -1;
    }
    long long ns = -1;
    if (fscanf(f, "%lld", &ns) != 1) {
        ns = -1;
    }
    fclose(f);
    return ns;
}

void run_name(char *out, size_t cap, const struct bench_cfg *cfg,
              const char *suffix)
{
    snprintf(out, cap, "ipcxb-%d-%u-%s", (int)cfg->owner, cfg->serial, suffix);
}
