/*
 * mech_mq.c - the kernel's message queues: POSIX (mq_*) and System V
 * (msg*), each with the system's default limits (a POSIX queue holds
 * fs.mqueue.msg_max = 10 messages of at most fs.mqueue.msgsize_max bytes;
 * a System V queue holds kernel.msgmnb bytes, messages of at most
 * kernel.msgmax bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>

#include "bench.h"

struct mq_shared {
    char names[2][96]; /* POSIX: "/name"; [0] A to B, [1] B to A */
    int ids[2];        /* System V */
    int count;
};

struct mq_end {
    mqd_t out, in;
    int out_id, in_id;
    struct sysv_buf *sb; /* System V: mtype + text */
};

struct sysv_buf {
    long mtype;
    char text[];
};

static long sysctl_value(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1) {
            v = -1;
        }
        fclose(f);
    }
    return v;
}

static struct mq_shared *new_shared(const struct bench_cfg *cfg)
{
    struct mq_shared *sh = calloc(1, sizeof *sh);
    if (sh != NULL) {
        sh->count = cfg->kind == BK_PINGPONG ? 2 : 1;
        sh->ids[0] = sh->ids[1] = -1;
    }
    return sh;
}

/* ---- POSIX ---- */

static const char *pmq_unsupported(const struct bench_cfg *cfg)
{
    long max = sysctl_value("/proc/sys/fs/mqueue/msgsize_max");
    return (long)cfg->size > max ? "above fs.mqueue.msgsize_max (8 KiB)" : NULL;
}

static void pmq_unlink_all(struct mq_shared *sh)
{
    for (int i = 0; i < sh->count; i++) {
        if (sh->names[i][0] != '\0') {
            mq_unlink(sh->names[i]);
        }
    }
}

static int pmq_setup(const struct bench_cfg *cfg, void **shared)
{
    struct mq_shared *sh = new_shared(cfg);
    if (sh == NULL) {
        return -ENOMEM;
    }
    struct mq_attr attr = {.mq_maxmsg =
                               sysctl_value("/proc/sys/fs/mqueue/msg_max"),
                           .mq_msgsize = (long)cfg->size};
    for (int i = 0; i < sh->count; i++) {
        sh->names[i][0] = '/';
        run_name(sh->names[i] + 1, sizeof sh->names[i] - 1, cfg,
                 i == 0 ? "ab" : "ba");
        mqd_t q = mq_open(sh->names[i], O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
        if (q == (mqd_t)-1) {
            int rc = -errno;
            sh->names[i][0] = '\0';
            pmq_unlink_all(sh);
            free(sh);
            return rc;
        }
        mq_close(q);
    }
    *shared = sh;
    return 0;
}

static int pmq_open(void *shared, const struct bench_cfg *cfg, int role,
                    int index, void **end)
{
    struct mq_shared *sh = shared;
    struct mq_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    mqd_t ab = mq_open(sh->names[0], O_RDWR);
    mqd_t ba = sh->count == 2 ? mq_open(sh->names[1], O_RDWR) : ab;
    if (ab == (mqd_t)-1 || ba == (mqd_t)-1) {
        free(e);
        return -errno;
    }
    e->out = role == ROLE_A ? ab : ba;
    e->in = role == ROLE_A ? ba : ab;
    *end = e;
    return 0;
}

static int pmq_send(void *end, const void *buf, size_t len)
{
    struct mq_end *e = end;
    while (mq_send(e->out, buf, len, 0) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

static long pmq_recv(void *end, void *buf, size_t cap)
{
    struct mq_end *e = end;
    for (;;) {
        ssize_t n = mq_receive(e->in, buf, cap, NULL);
        if (n >= 0) {
            return (long)n;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static void pmq_close(void *end)
{
    struct mq_end *e = end;
    if (e->in != e->out) {
        mq_close(e->in);
    }
    mq_close(e->out);
    free(e);
}

static void pmq_teardown(void *shared)
{
    pmq_unlink_all(shared);
    free(shared);
}

/* ---- System V ---- */

static const char *svmq_unsupported(const struct bench_cfg *cfg)
{
    long max = sysctl_value("/proc/sys/kernel/msgmax");
    return (long)cfg->size > max ? "above kernel.msgmax (8 KiB)" : NULL;
}

static int svmq_setup(const struct bench_cfg *cfg, void **shared)
{
    struct mq_shared *sh = new_shared(cfg);
    if (sh == NULL) {
        return -ENOMEM;
    }
    for (int i = 0; i < sh->count; i++) {
        sh->ids[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (sh->ids[i] < 0) {
            int rc = -errno;
            if (i == 1) {
                msgctl(sh->ids[0], IPC_RMID, NULL);
            }
            free(sh);
            return rc;
        }
    }
    *shared = sh;
    return 0;
}

static int svmq_open(void *shared, const struct bench_cfg *cfg, int role,
                     int index, void **end)
{
    struct mq_shared *sh = shared;
    struct mq_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    e->sb = malloc(sizeof *e->sb + cfg->size);
    if (e->sb == NULL) {
        free(e);
        return -ENOMEM;
    }
    int ab = sh->ids[0], ba = sh->count == 2 ? sh->ids[1] : ab;
    e->out_id = role == ROLE_A ? ab : ba;
    e->in_id = role == ROLE_A ? ba : ab;
    *end = e;
    return 0;
}

/* The API wants the type word in front of the text: one extra copy. */
static int svmq_send(void *end, const void *buf, size_t len)
{
    struct mq_end *e = end;
    e->sb->mtype = 1;
    memcpy(e->sb->text, buf, len);
    while (msgsnd(e->out_id, e->sb, len, 0) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

static long svmq_recv(void *end, void *buf, size_t cap)
{
    struct mq_end *e = end;
    for (;;) {
        ssize_t n = msgrcv(e->in_id, e->sb, cap, 0, 0);
        if (n >= 0) {
            memcpy(buf, e->sb->text, (size_t)n);
            return (long)n;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static void svmq_close(void *end)
{
    struct mq_end *e = end;
    free(e->sb);
    free(e);
}

static void svmq_teardown(void *shared)
{
    struct mq_shared *sh = shared;
    for (int i = 0; i < sh->count; i++) {
        msgctl(sh->ids[i], IPC_RMID, NULL);
    }
    free(sh);
}

const struct mech mech_posixmq = {
    .name = "posix-mq",
    .label = "POSIX message queue",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN | BK_IDLE,
    .unsupported = pmq_unsupported,
    .setup = pmq_setup,
    .open = pmq_open,
    .send = pmq_send,
    .recv = pmq_recv,
    .close = pmq_close,
    .teardown = pmq_teardown,
};

const struct mech mech_sysvmq = {
    .name = "sysv-mq",
    .label = "System V message queue",
    .kinds = BK_PINGPONG | BK_STREAM | BK_FANIN | BK_IDLE,
    .unsupported = svmq_unsupported,
    .setup = svmq_setup,
    .open = svmq_open,
    .send = svmq_send,
    .recv = svmq_recv,
    .close = svmq_close,
    .teardown = svmq_teardown,
};
