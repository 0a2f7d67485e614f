/*
 * test_rendezvous.c - capacity 0 (M5, M6): a send succeeds only once a
 * receiver has taken that very message, and a send that fails or times out
 * leaves nothing behind.  Receivers and senders are real processes; shared
 * anonymous memory records what each side saw and when.
 */
#include "testutil.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG 64

static void create_rdv(const char *name)
{
    ipcx_mailbox_attr a = tu_attr(0, MSG);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
}

static void check_empty(ipcx_mailbox *mb)
{
    ipcx_mailbox_info st = tu_stat(mb);
    CHECK(st.depth == 0);
    uint8_t buf[MSG];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
}

/* ---- nobody receiving --------------------------------------------------- */

static void test_alone(void)
{
    create_rdv("alone");
    ipcx_mailbox *mb = tu_open("alone");
    ipcx_mailbox_info st = tu_stat(mb);
    CHECK(st.capacity == 0);

    uint8_t buf[MSG] = "lonely";
    CHECK_RC(ipcx_mailbox_send(mb, buf, 7, 0), -EAGAIN);
    check_empty(mb);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_mailbox_send(mb, buf, 7, IPCX_MSEC(100)), -ETIMEDOUT);
    long long dt = tu_now_ns() - t0;
    CHECK(dt >= IPCX_MSEC(90) && dt < IPCX_SEC(3));
    check_empty(mb);
    /* A later receiver must not find the withdrawn message either. */
    t0 = tu_now_ns();
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_MSEC(100)),
             -ETIMEDOUT);
    dt = tu_now_ns() - t0;
    CHECK(dt >= IPCX_MSEC(90) && dt < IPCX_SEC(3));
    CHECK_RC(ipcx_mailbox_send(mb, buf, MSG + 1, 0), -EMSGSIZE);
    st = tu_stat(mb);
    CHECK(st.sent == 0 && st.received == 0 && st.depth == 0);
    CHECK(st.send_waiting == 0 && st.recv_waiting == 0);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("alone"), 0);
}

/* ---- a send returns only after the receiver took it -------------------- */

struct order {
    atomic_int recv_started; /* set by the receiver just before recv() */
    atomic_int recv_done;    /* set by the receiver after recv() */
    atomic_int send_done;    /* set by the sender after send() */
    int send_done_at_recv;   /* send_done as the receiver saw it on return */
};

static struct order *ord;

static int child_late_receiver(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    (void)arg;
    ipcx_mailbox *mb = tu_open("order");
    ipcx_mailbox_info st;
    /* Start receiving only once the sender is blocked in send. */
    TU_WAIT_STAT(mb, st, st.send_waiting == 1);
    /* Give a wrong implementation time to return early (not sync). */
    tu_pause_us(30000);
    CHECK(atomic_load(&ord->send_done) == 0);
    atomic_store(&ord->recv_started, 1);
    char buf[MSG];
    long n = ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_SEC(10));
    atomic_store(&ord->recv_done, 1);
    CHECK(n == 6);
    CHECK(memcmp(buf, "taken", 6) == 0);
    ipcx_mailbox_close(mb);
    return 0;
}

static int child_early_receiver(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    (void)arg;
    ipcx_mailbox *mb = tu_open("order");
    char buf[MSG];
    atomic_store(&ord->recv_started, 1);
    long n = ipcx_mailbox_recv(mb, buf, sizeof buf, IPCX_SEC(20));
    CHECK(n == 6);
    CHECK(memcmp(buf, "early", 6) == 0);
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_send_waits_for_receiver(void)
{
    create_rdv("order");
    ipcx_mailbox *mb = tu_open("order");
    ord = tu_shared_map(sizeof *ord);

    /* Receiver arrives after the sender blocked. */
    for (int timed = 0; timed < 2; timed++) {
        memset(ord, 0, sizeof *ord);
        pid_t pid = tu_spawn(child_late_receiver, NULL);
        long long t0 = tu_now_ns();
        int64_t tmo = timed ? IPCX_SEC(20) : IPCX_FOREVER;
        CHECK_RC(ipcx_mailbox_send(mb, "taken", 6, tmo), 0);
        atomic_store(&ord->send_done, 1);
        if (atomic_load(&ord->recv_started) != 1) {
            fprintf(stderr, "send returned before any receive began\n");
            exit(1);
        }
        CHECK(tu_now_ns() - t0 >= IPCX_MSEC(25));
        CHECK(tu_wait(pid) == 0);
        check_empty(mb);
    }

    /* Receiver already blocked: the send completes the exchange. */
    memset(ord, 0, sizeof *ord);
    pid_t pid = tu_spawn(child_early_receiver, NULL);
    ipcx_mailbox_info st;
    TU_WAIT_STAT(mb, st, st.recv_waiting == 1);
    CHECK_RC(ipcx_mailbox_send(mb, "early", 6, IPCX_SEC(10)), 0);
    CHECK(tu_wait(pid) == 0);
    check_empty(mb);
    st = tu_stat(mb);
    CHECK(st.sent == 3 && st.received == 3);
    CHECK(st.send_waiting == 0 && st.recv_waiting == 0);

    /* With a receiver waiting, even a non-blocking send gets through. */
    memset(ord, 0, sizeof *ord);
    pid = tu_spawn(child_early_receiver, NULL);
    TU_WAIT_STAT(mb, st, st.recv_waiting == 1);
    int rc = -EAGAIN;
    for (int i = 0; i < 10000 && rc == -EAGAIN; i++) {
        rc = ipcx_mailbox_send(mb, "early", 6, 0);
    }
    CHECK_RC(rc, 0);
    CHECK(tu_wait(pid) == 0);
    check_empty(mb);

    munmap(ord, sizeof *ord);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("order"), 0);
}

/* ---- timeouts racing receivers: nothing lost, nothing left behind ----- */

#define RACE_N 3000
#define STOP   0xffffffffu

struct race {
    uint8_t ok[RACE_N];      /* sender: send returned 0 */
    atomic_uint got[RACE_N]; /* receiver: times received */
    atomic_int out_of_order; /* receiver: seq went backwards */
    atomic_int bad;          /* receiver: wrong content */
};

static struct race *race;

static int child_race_receiver(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    (void)arg;
    ipcx_mailbox *mb = tu_open("race");
    uint32_t last = 0;
    int first = 1;
    for (;;) {
        uint32_t m[4];
        long n = ipcx_mailbox_recv(mb, m, sizeof m, IPCX_SEC(20));
        if (n != (long)sizeof m) {
            fprintf(stderr, "race receiver: recv %ld\n", n);
            return 1;
        }
        if (m[0] == STOP) {
            break;
        }
        if (m[0] >= RACE_N || m[1] != ~m[0] || m[2] != m[0] * 2654435761u) {
            atomic_store(&race->bad, 1);
            continue;
        }
        if (!first && m[0] <= last) {
            atomic_store(&race->out_of_order, 1);
        }
        first = 0;
        last = m[0];
        atomic_fetch_add(&race->got[m[0]], 1);
        /* Vary how quickly the receiver comes back. */
        if (m[0] % 7 == 0) {
            tu_pause_us(m[0] % 300);
        }
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_timeout_races(void)
{
    create_rdv("race");
    ipcx_mailbox *mb = tu_open("race");
    race = tu_shared_map(sizeof *race);
    pid_t pid = tu_spawn(child_race_receiver, NULL);
    ipcx_mailbox_info st;
    TU_WAIT_STAT(mb, st, st.recv_waiting == 1);

    int nok = 0, ntimeout = 0;
    for (uint32_t i = 0; i < RACE_N; i++) {
        uint32_t m[4] = {i, ~i, i * 2654435761u, 0};
        int64_t tmo = (int64_t)(i % 5) * 40000; /* 0 .. 160 us */
        int rc = ipcx_mailbox_send(mb, m, sizeof m, tmo);
        if (rc == 0) {
            race->ok[i] = 1;
            nok++;
        } else if (rc == -ETIMEDOUT || rc == -EAGAIN) {
            CHECK(rc == -EAGAIN || tmo > 0);
            ntimeout++;
        } else {
            CHECK_RC(rc, 0);
        }
    }
    uint32_t stop[4] = {STOP, 0, 0, 0};
    CHECK_RC(ipcx_mailbox_send(mb, stop, sizeof stop, IPCX_SEC(20)), 0);
    CHECK(tu_wait(pid) == 0);

    CHECK(atomic_load(&race->bad) == 0);
    CHECK(atomic_load(&race->out_of_order) == 0);
    for (uint32_t i = 0; i < RACE_N; i++) {
        unsigned got = atomic_load(&race->got[i]);
        if (got != race->ok[i]) {
            fprintf(stderr,
                    "message %u: send %s, received %u times (must be %u)\n", i,
                    race->ok[i] ? "succeeded" : "failed", got, race->ok[i]);
            exit(1);
        }
    }
    fprintf(stderr, "race: %d delivered, %d withdrawn\n", nok, ntimeout);
    CHECK(nok > 0);
    check_empty(mb);
    st = tu_stat(mb);
    CHECK(st.sent == (uint64_t)nok + 1);
    CHECK(st.received == (uint64_t)nok + 1);
    munmap(race, sizeof *race);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("race"), 0);
}

/* ---- many senders, one receiver --------------------------------------- */

#define SENDERS    4
#define PER_SENDER 300

static int child_sender(void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    uint32_t id = (uint32_t)(uintptr_t)arg;
    ipcx_mailbox *mb = tu_open("many");
    for (uint32_t s = 0; s < PER_SENDER; s++) {
        uint32_t m[3] = {id, s, id * 1000003u + s};
        int rc = ipcx_mailbox_send(mb, m, sizeof m, IPCX_SEC(20));
        if (rc != 0) {
            fprintf(stderr, "sender %u seq %u: %d\n", id, s, rc);
            return 1;
        }
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static void test_many_senders(void)
{
    create_rdv("many");
    ipcx_mailbox *mb = tu_open("many");
    pid_t pids[SENDERS];
    for (uint32_t i = 0; i < SENDERS; i++) {
        pids[i] = tu_spawn(child_sender, (void *)(uintptr_t)i);
    }
    uint32_t next[SENDERS] = {0};
    ipcx_mailbox_info st;
    TU_WAIT_STAT(mb, st, st.send_waiting >= 2); /* several really compete */
    for (int k = 0; k < SENDERS * PER_SENDER; k++) {
        uint32_t m[3];
        CHECK_RC(ipcx_mailbox_recv(mb, m, sizeof m, IPCX_SEC(20)), sizeof m);
        CHECK(m[0] < SENDERS);
        CHECK(m[2] == m[0] * 1000003u + m[1]);
        if (m[1] != next[m[0]]) {
            fprintf(stderr, "sender %u: got seq %u, expected %u\n", m[0], m[1],
                    next[m[0]]);
            exit(1);
        }
        next[m[0]]++;
    }
    for (int i = 0; i < SENDERS; i++) {
        CHECK(tu_wait(pids[i]) == 0);
        CHECK(next[i] == PER_SENDER);
    }
    check_empty(mb);
    st = tu_stat(mb);
    CHECK(st.sent == SENDERS * PER_SENDER);
    CHECK(st.received == SENDERS * PER_SENDER);
    CHECK_RC(ipcx_mailbox_close(mb), 0);
    CHECK_RC(ipcx_mailbox_destroy("many"), 0);
}

int main(void)
{
    tu_private_ns();
    setvbuf(stderr, NULL, _IONBF, 0);
    TU_RUN(test_alone);
    TU_RUN(test_send_waits_for_receiver);
    TU_RUN(test_timeout_races);
    TU_RUN(test_many_senders);
    return tu_failures > 0;
}
