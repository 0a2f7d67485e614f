/*
 * test_crash.c - processes SIGKILLed in the middle of an operation never
 * leave a mailbox stuck for the survivors, and lose at most the message
 * they were handling.  The victims stop at the worst moments by calling
 * the queue's internal steps directly (claim without publishing, take
 * without finishing) and then killing themselves.
 */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mailbox/mailbox.h"
#include "testutil.h"

#define BOUND IPCX_SEC(10) /* no survivor may wait longer than this */

static void create(const char *name, uint32_t capacity)
{
    ipcx_mailbox_attr a = tu_attr(capacity, 64);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
}

static void die(void)
{
    kill(getpid(), SIGKILL);
    _exit(99);
}

/* Victim: claim a slot, never publish it. */
static int die_writing(void *arg)
{
    ipcx_mailbox *mb = tu_open(arg);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_claim(&mb->q, mb->holder, &ref), 0);
    die();
    return 1;
}

/* Victim: take the oldest message, never finish copying it. */
static int die_reading(void *arg)
{
    ipcx_mailbox *mb = tu_open(arg);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_take(&mb->q, mb->holder, 64, &ref), 0);
    die();
    return 1;
}

/* Victim: publish a message that wants a receipt, then die before the
 * receipt can be collected. */
static int die_before_receipt(void *arg)
{
    ipcx_mailbox *mb = tu_open(arg);
    struct ipcx__qref ref;
    CHECK_RC(ipcx__q_claim(&mb->q, mb->holder, &ref), 0);
    memcpy(ipcx__q_payload(&ref), "orphan", 7);
    atomic_store(&ref.slot->sender, mb->holder);
    ipcx__q_publish(&mb->q, &ref, 7, IPCX__Q_FLAG_ACK);
    die();
    return 1;
}

static void expect_victim_killed(pid_t pid)
{
    CHECK(tu_wait(pid) == 128 + SIGKILL);
}

static void recv_str(ipcx_mailbox *mb, const char *want, int64_t timeout)
{
    char buf[64];
    long n = ipcx_mailbox_recv(mb, buf, sizeof buf, timeout);
    if (n < 0) {
        fprintf(stderr, "recv: %s\n", ipcx_strerror((int)n));
    }
    CHECK(n == (long)strlen(want) + 1);
    CHECK(memcmp(buf, want, (size_t)n) == 0);
}

static void send_str(ipcx_mailbox *mb, const char *s, int64_t timeout)
{
    CHECK_RC(ipcx_mailbox_send(mb, s, strlen(s) + 1, timeout), 0);
}

/* A writer dies between claim and publish, with a message behind it: the
 * receiver gets both survivors' messages, blocking or not. */
static void test_dead_writer(int64_t timeout)
{
    const char *name = timeout ? "dw-block" : "dw-nowait";
    create(name, 8);
    ipcx_mailbox *mb = tu_open(name);
    send_str(mb, "before", 0);
    expect_victim_killed(tu_spawn(die_writing, (void *)name));
    send_str(mb, "after", 0);
    recv_str(mb, "before", timeout);
    recv_str(mb, "after", timeout);
    char buf[64];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    ipcx_mailbox_close(mb);
}

/* A reader dies mid-copy in a capacity-1 mailbox: its generation can never
 * finish by itself, yet senders keep going (it holds no place, and the
 * slot is reclaimed when the queue comes round to it). */
static void test_dead_reader(void)
{
    create("dr", 1);
    ipcx_mailbox *mb = tu_open("dr");
    send_str(mb, "lost", 0);
    expect_victim_killed(tu_spawn(die_reading, "dr"));
    for (int i = 0; i < 50; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "m%d", i);
        send_str(mb, msg, BOUND);
        recv_str(mb, msg, BOUND);
    }
    ipcx_mailbox_close(mb);
}

/* Victim: take the oldest message as a receive does (which announces the
 * room it opens), and die before copying it. */
static int die_receiving(void *arg)
{
    ipcx_mailbox *mb = tu_open(arg);
    struct ipcx__qref ref;
    struct ipcx__deadline d;
    CHECK_RC(ipcx__deadline_init(&d, 0), 0);
    CHECK_RC(ipcx__mbx_take(mb, &ref, 64, &d), 0);
    die();
    return 1;
}

static int blocked_sender(void *arg)
{
    ipcx_mailbox *mb = tu_open(arg);
    return ipcx_mailbox_send(mb, "second", 7, IPCX_FOREVER) == 0 ? 0 : 1;
}

/* A sender asleep on a full mailbox is woken by the receive that opens a
 * place, even if that receiver dies before copying: a sender waiting for
 * room has no liveness slices, so nobody else would wake it. */
static void test_dead_receiver_wakes_sender(void)
{
    create("dw", 1);
    ipcx_mailbox *mb = tu_open("dw");
    send_str(mb, "first", 0);
    pid_t sender = tu_spawn(blocked_sender, "dw");
    ipcx_mailbox_info st;
    TU_WAIT_STAT(mb, st, st.send_waiting == 1);
    expect_victim_killed(tu_spawn(die_receiving, "dw"));
    CHECK(tu_wait_bounded(sender, 10) == 0);
    recv_str(mb, "second", 0);
    ipcx_mailbox_close(mb);
}

struct shared {
    _Atomic pid_t receipt; /* what the sender's receipt named */
    _Atomic pid_t received_by;
};
static struct shared *sh;

static int rendezvous_sender(void *arg)
{
    ipcx_mailbox *mb = tu_open(arg);
    pid_t who = 0;
    int rc =
        ipcx_mailbox_send_ex(mb, "hello", 6, BOUND, IPCX_SEND_RECEIPT, &who);
    if (rc != 0) {
        fprintf(stderr, "rendezvous send: %s\n", ipcx_strerror(rc));
        return 1;
    }
    atomic_store(&sh->receipt, who);
    return 0;
}

static int rendezvous_receiver(void *arg)
{
    ipcx_mailbox *mb = tu_open(arg);
    recv_str(mb, "hello", BOUND);
    atomic_store(&sh->received_by, getpid());
    return 0;
}

/* A rendezvous receiver dies while copying: the message was not delivered,
 * so the sender offers it again and a second receiver gets it. */
static void test_dead_rendezvous_receiver(void)
{
    create("rv", 0);
    pid_t sender = tu_spawn(rendezvous_sender, "rv");
    ipcx_mailbox_info st;
    TU_WAIT_NAME("rv", st, st.depth == 1);
    expect_victim_killed(tu_spawn(die_reading, "rv"));
    pid_t second = tu_spawn(rendezvous_receiver, "rv");
    CHECK(tu_wait(second) == 0);
    CHECK(tu_wait(sender) == 0);
    CHECK(atomic_load(&sh->received_by) == second);
    CHECK(atomic_load(&sh->receipt) == second);
}

static int drain(void *arg)
{
    ipcx_mailbox *mb = tu_open(arg);
    for (int i = 0; i < 300; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "n%d", i);
        recv_str(mb, msg, BOUND);
    }
    return 0;
}

/* A rendezvous sender dies before collecting its receipt: the slot stays
 * TAKEN until the queue comes round and finds the sender dead. */
static void test_dead_receipt_sender(void)
{
    create("rs", 0);
    ipcx_mailbox *mb = tu_open("rs");
    expect_victim_killed(tu_spawn(die_before_receipt, "rs"));
    recv_str(mb, "orphan", BOUND);
    pid_t rx = tu_spawn(drain, "rs");
    for (int i = 0; i < 300; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "n%d", i);
        send_str(mb, msg, BOUND);
    }
    CHECK(tu_wait(rx) == 0);
    ipcx_mailbox_close(mb);
}

int main(void)
{
    tu_private_ns();
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    test_dead_writer(BOUND);
    test_dead_writer(0);
    test_dead_reader();
    test_dead_receiver_wakes_sender();
    test_dead_rendezvous_receiver();
    test_dead_receipt_sender();
    return 0;
}
