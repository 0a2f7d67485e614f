/*
 * mech_chan.c - ipcx channels (include/ipcx/channel.h), through the public
 * API only.
 *
 * A connection port cannot be set up by the parent: a port inherited across
 * fork() is dead in the child (see channel.h).  So setup() only chooses the
 * port's name, and the children meet there: B (the echoer or receiver)
 * listens on it and accepts one client; A connects, retrying while the port
 * is not there yet (-ENOENT) or not listened on (-ECONNREFUSED), within a
 * bound.  B stops listening as soon as it has its channel (channels outlive
 * their port), so the port file exists only while the two meet.
 *
 * Ping-pong, stream and idle all use that one channel: it is bidirectional
 * (a bounded queue each way, capacity 64, maximum message size the run's
 * size).  Every call blocks with IPCX_FOREVER; the waiting is the
 * library's.
 *
 * No fan-in: eight senders would be eight channels (each client gets its
 * own), and one receiver would need ipcx_poll() over them, which switches
 * every channel to signalling a descriptor on each send: a different
 * mechanism from one queue, as for the sockets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ipcx/ipcx.h>

#include "bench.h"

#define CHAN_CAPACITY 64
/* How long the two ends may take to meet; the driver gives open() 30 s. */
#define MEET_NS (20 * 1000000000LL)

struct chan_shared {
    char name[96];
};

struct chan_end {
    ipcx_channel *ch;
};

static int chan_setup(const struct bench_cfg *cfg, void **shared)
{
    struct chan_shared *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        return -ENOMEM;
    }
    run_name(sh->name, sizeof sh->name, cfg, "chan");
    *shared = sh;
    return 0;
}

/* B: listen, take the one client, stop listening. */
static int chan_serve(const struct chan_shared *sh, const struct bench_cfg *cfg,
                      ipcx_channel **out)
{
    ipcx_port_attr attr;
    ipcx_port_attr_init(&attr);
    attr.capacity = CHAN_CAPACITY;
    attr.max_msg_size = (uint32_t)cfg->size;
    ipcx_port *port;
    int rc = ipcx_port_listen(sh->name, &attr, &port);
    if (rc < 0) {
        return rc;
    }
    rc = ipcx_port_accept(port, MEET_NS, NULL, NULL, out);
    ipcx_port_close(port);
    return rc;
}

/* A: connect once B listens. */
static int chan_dial(const struct chan_shared *sh, ipcx_channel **out)
{
    int64_t give_up = now_ns() + MEET_NS;
    for (;;) {
        int rc = ipcx_connect(sh->name, MEET_NS, out);
        if ((rc != -ENOENT && rc != -ECONNREFUSED) || now_ns() >= give_up) {
            return rc;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

static int chan_open(void *shared, const struct bench_cfg *cfg, int role,
                     int index, void **end)
{
    struct chan_shared *sh = shared;
    struct chan_end *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    int rc =
        role == ROLE_B ? chan_serve(sh, cfg, &e->ch) : chan_dial(sh, &e->ch);
    if (rc < 0) {
        free(e);
        return rc;
    }
    *end = e;
    return 0;
}

static int chan_send(void *end, const void *buf, size_t len)
{
    struct chan_end *e = end;
    return ipcx_channel_send(e->ch, buf, len, IPCX_FOREVER);
}

static long chan_recv(void *end, void *buf, size_t cap)
{
    struct chan_end *e = end;
    return ipcx_channel_recv(e->ch, buf, cap, IPCX_FOREVER);
}

static void chan_close(void *end)
{
    struct chan_end *e = end;
    ipcx_channel_close(e->ch);
    free(e);
}

/* Does FILE exist in namespace directory DIR? */
static int ns_has(const char *dir, const char *file)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return lstat(path, &st) == 0;
}

/*
 * Every child has exited.  B normally removed the port right after accept;
 * if it died (or failed) before that, NAME.port and its name lock
 * .NAME.port.lock (see ipcx/ns.h) are left.  Listening replaces a dead
 * server's leftover, and closing removes it: the public way to clean up.
 * Should that fail, remove the two files by hand.
 */
static void chan_teardown(void *shared)
{
    struct chan_shared *sh = shared;
    char dir[256], port[160], lock[170];
    snprintf(port, sizeof port, "%s.port", sh->name);
    snprintf(lock, sizeof lock, ".%s.port.lock", sh->name);
    if (ipcx_ns_path(dir, sizeof dir) >= 0 &&
        (ns_has(dir, port) || ns_has(dir, lock))) {
        ipcx_port *p;
        if (ipcx_port_listen(sh->name, NULL, &p) == 0) {
            ipcx_port_close(p);
        }
        char path[512];
        if (ns_has(dir, port)) {
            snprintf(path, sizeof path, "%s/%s", dir, port);
            unlink(path);
        }
        if (ns_has(dir, lock)) {
            snprintf(path, sizeof path, "%s/%s", dir, lock);
            unlink(path);
        }
    }
    free(sh);
}

const struct mech mech_chan = {
    .name = "ipcx-chan",
    .label = "ipcx channel (capacity 64)",
    .kinds = BK_PINGPONG | BK_STREAM | BK_IDLE,
    .setup = chan_setup,
    .open = chan_open,
    .send = chan_send,
    .recv = chan_recv,
    .close = chan_close,
    .teardown = chan_teardown,
};
