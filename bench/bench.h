/*
 * bench.h - the benchmark harness: one driver, many mechanisms.
 *
 * A mechanism (pipe, ipcx mailbox, ZeroMQ, ...) is a table of operations
 * that the driver calls from real, separate processes.  The parent calls
 * setup() before it forks and teardown() after every child has exited; each
 * child calls open() for its own end, then send()/recv() many times, then
 * close().  Every message carries a header (sender, sequence number) and a
 * trailer word, so the driver can tell a lost, duplicated, reordered or torn
 * message from a good one: a benchmark that loses messages fails.
 *
 * None of this is part of the ipcx API; it lives in bench/ only.
 */
#ifndef IPCX_BENCH_H
#define IPCX_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What is measured. */
enum bench_kind {
    BK_PINGPONG = 1, /* round trips between A and B */
    BK_STREAM = 2,   /* A sends as fast as it can, B receives */
    BK_FANIN = 4,    /* N senders (role A, index 0..N-1) into one B */
    BK_IDLE = 8,     /* B blocks in recv with no traffic at all */
};

/* Where the processes run. */
enum bench_pin {
    PIN_NONE = 0,  /* wherever the scheduler puts them */
    PIN_SPLIT = 1, /* A on CPU 0, B on CPU 1 */
    PIN_SAME = 2,  /* A and B both on CPU 0 */
};

enum bench_role {
    ROLE_A = 0, /* ping-pong initiator, or sender */
    ROLE_B = 1, /* ping-pong echoer, or receiver */
};

struct bench_cfg {
    enum bench_kind kind;
    enum bench_pin pin;
    size_t size;     /* bytes in every message (>= 24) */
    int senders;     /* BK_FANIN: number of senders; otherwise 1 */
    unsigned serial; /* unique per run: mechanisms build names from it */
    pid_t owner;     /* the driver's pid, also part of every name */
};

/*
 * A mechanism.  Functions return 0 (or a length) on success and a negative
 * errno on failure; a failure inside a child ends that child's run and is
 * reported, never ignored.
 */
struct mech {
    const char *name;  /* short id, used in the JSON and on the CLI */
    const char *label; /* for tables: "Unix stream socket" */
    unsigned kinds;    /* bench_kind bits it supports */
    /* NULL if CFG can run; otherwise why not (e.g. a kernel limit). */
    const char *(*unsupported)(const struct bench_cfg *cfg);
    /* Parent, before fork: create what both ends need.  *SHARED is
     * inherited by the children through fork. */
    int (*setup)(const struct bench_cfg *cfg, void **shared);
    /* Child: open end ROLE (sender INDEX for BK_FANIN). */
    int (*open)(void *shared, const struct bench_cfg *cfg, int role, int index,
                void **end);
    /* Blocking send of exactly LEN bytes. */
    int (*send)(void *end, const void *buf, size_t len);
    /* Blocking receive of one message into BUF; returns its length. */
    long (*recv)(void *end, void *buf, size_t cap);
    void (*close)(void *end);
    /* Parent, after the children: remove what setup() created. */
    void (*teardown)(void *shared);
};

/* The mechanisms, in table order (mech_*.c). */
extern const struct mech mech_busy;
extern const struct mech mech_ipcx;
extern const struct mech mech_ipcx1024;
extern const struct mech mech_ipcx_nospin;
extern const struct mech mech_chan;
extern const struct mech mech_loan;
extern const struct mech mech_pipe;
extern const struct mech mech_ustream;
extern const struct mech mech_useqpacket;
extern const struct mech mech_tcp;
extern const struct mech mech_posixmq;
extern const struct mech mech_sysvmq;
extern const struct mech mech_zmq;
extern const struct mech mech_nng;
extern const struct mech mech_iox;
extern const struct mech mech_iox_zc;

/* mech_ipcx.c's mailboxes (capacity 64), shared by mech_loan.c: an end is
 * { ipcx_mailbox *out, *in; }. */
int ipcx_mech_setup64(const struct bench_cfg *cfg, void **shared);
int ipcx_mech_open(void *shared, const struct bench_cfg *cfg, int role,
                   int index, void **end);
void ipcx_mech_close(void *end);
void ipcx_mech_teardown(void *shared);

/* ---- the driver (driver.c) ---- */

/* How long each kind of run lasts. */
struct bench_plan {
    long pp_iters;     /* measured round trips */
    long pp_warmup;    /* round trips before measuring */
    int64_t pp_max_ns; /* stop a slow ping-pong early (count reported) */
    int64_t stream_ns; /* how long senders send */
    int64_t idle_ns;   /* idle window for BK_IDLE */
    int64_t stall_ns;  /* a run not finished this long after its own
                          planned end has stalled: killed, reported */
    int reps;          /* runs of each (but idle); the median counts */
};

enum bench_status { BS_OK = 0, BS_NA = 1, BS_ERROR = 2 };

struct bench_result {
    enum bench_status status;
    char note[240]; /* why n/a, what failed, or a remark */
    /* BK_PINGPONG: round-trip times, ns */
    uint64_t n;
    int64_t median, p99, p999, min;
    double mean;
    /* BK_STREAM, BK_FANIN: data messages the receiver verified */
    uint64_t msgs;
    double secs; /* receiver's first message to its last stop */
    /* BK_IDLE: CPU the blocked receiver used during secs */
    int64_t cpu_ns;
    /* All children together, from wait4(): CPU time and context switches
     * (voluntary + involuntary), setup and teardown included. */
    int64_t child_cpu_ns;
    uint64_t child_csw;
};

/* Run M once as CFG says; the outcome, good or bad, is in *RES. */
void bench_run(const struct mech *m, const struct bench_cfg *cfg,
               const struct bench_plan *plan, struct bench_result *res);
/* Plain memcpy of SIZE bytes for DUR_NS on CPU 0; with ROTATE the
 * destination cycles through 64 buffers (as a 64-slot queue would). */
void bench_memcpy(size_t size, int rotate, int64_t dur_ns,
                  struct bench_result *res);

/* ---- messages (util.c) ---- */

#define MSG_STOP UINT64_MAX /* seq of the message that ends a run */
#define MSG_MIN  24u        /* header (16) + trailer (8) */

/* Write header and trailer of a SIZE-byte message into BUF. */
void msg_stamp(void *buf, size_t size, uint32_t sender, uint64_t seq);
/* The seq in BUF's header; sender in *SENDER if not NULL. */
uint64_t msg_seq(const void *buf, uint32_t *sender);
/* 0 if BUF (LEN bytes) is message SEQ from SENDER of SIZE bytes. */
int msg_check(const void *buf, long len, size_t size, uint32_t sender,
              uint64_t seq);

/* ---- utilities (util.c) ---- */

int64_t now_ns(void);
int pin_to_cpu(int cpu);
/* Exactly LEN bytes, retrying EINTR and short transfers: 0 or -errno
 * (-EPIPE at end of file). */
int write_full(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len);
/* Percentile P (0..100) of N sorted values. */
int64_t percentile(const int64_t *sorted, size_t n, double p);
void sort_i64(int64_t *v, size_t n);
/* Spin politely: a pause, and every 256th time a yield, so that a peer
 * pinned to the same CPU gets to run.  *SPINS counts calls. */
void spin_pause(unsigned *spins);
/* CPU time (ns) a process has used so far: /proc/PID/schedstat. */
int64_t proc_cpu_ns(pid_t pid);
/* A name unique to this run: "ipcxb-<owner>-<serial>-<suffix>". */
void run_name(char *out, size_t cap, const struct bench_cfg *cfg,
              const char *suffix);

#endif /* IPCX_BENCH_H */
