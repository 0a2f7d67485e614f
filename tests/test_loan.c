/*
 * test_loan.c - zero-copy loans (SPEC M9), with real processes.
 *
 *  1. A message built in place arrives intact, is read in place, and its
 *     loan is returned; the pointers lie in the mailbox's memory.
 *  2. Loans keep FIFO order with copied sends; a held send loan holds its
 *     place (later messages wait for it); a cancelled one is never seen.
 *  3. A bounded mailbox counts a held receive loan until it is returned.
 *  4. A receipt send learns of its delivery when the loan is returned.
 *  5. 1 MiB written in place by one process, checked in place by another.
 *  6. Unbounded and anonymous mailboxes lend too; rendezvous does not.
 *  7. Bad loans: NULL, spent, forged, of another handle, of the wrong kind,
 *     oversize sends, missing rights, closed handles: -errno with a text,
 *     and queued messages stay intact.
 *  8. Crash rules: a process killed holding a send loan or a receive loan
 *     blocks nobody for long; nothing is duplicated; a receipt send whose
 *     receiver died holding the loan is delivered to another receiver.
 *  9. A handle closed with loans outstanding: its slots are taken back.
 */
#include "testutil.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1u << 20)

static ipcx_mailbox *make(const char *name, uint32_t capacity, uint32_t max)
{
    ipcx_mailbox_attr a = tu_attr(capacity, max);
    ipcx_mailbox_destroy(name);
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
    return tu_open(name);
}

static void send_str(ipcx_mailbox *mb, const char *s)
{
    CHECK_RC(ipcx_mailbox_send(mb, s, strlen(s), 0), 0);
}

static void recv_str(ipcx_mailbox *mb, const char *want, int64_t timeout)
{
    char buf[256];
    long n = ipcx_mailbox_recv(mb, buf, sizeof buf, timeout);
    if (n < 0 || (size_t)n != strlen(want) || memcmp(buf, want, n) != 0) {
        fprintf(stderr, "received %ld '%.*s', wanted '%s'\n", n,
                n > 0 ? (int)n : 0, buf, want);
        exit(1);
    }
}

static void loan_str(ipcx_mailbox *mb, const char *s)
{
    ipcx_loan l;
    CHECK_RC(ipcx_mailbox_loan(mb, &l, 0), 0);
    memcpy(l.data, s, strlen(s));
    CHECK_RC(ipcx_mailbox_send_loan(mb, &l, strlen(s)), 0);
}

/* 1 */
static void basic(void)
{
    ipcx_mailbox *mb = make("loan-basic", 8, 128);
    ipcx_mailbox_info st = tu_stat(mb);
    ipcx_loan l;
    CHECK_RC(ipcx_mailbox_loan(mb, &l, 0), 0);
    CHECK(l.data != NULL && l.size == 128);
    memset(l.data, 'x', 128);
    CHECK_RC(ipcx_mailbox_send_loan(mb, &l, 100), 0);
    CHECK(l.data == NULL); /* spent */
    CHECK(tu_stat(mb).depth == 1 && tu_stat(mb).sent == st.sent + 1);

    ipcx_loan r;
    CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 0), 100);
    CHECK(r.size == 100 && r.pid == getpid() && r.uid == getuid());
    for (int i = 0; i < 100; i++) {
        CHECK(((unsigned char *)r.data)[i] == 'x');
    }
    CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);
    CHECK(tu_stat(mb).depth == 0 && tu_stat(mb).received == st.received + 1);
    /* An empty message is a message. */
    CHECK_RC(ipcx_mailbox_loan(mb, &l, 0), 0);
    CHECK_RC(ipcx_mailbox_send_loan(mb, &l, 0), 0);
    CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 0), 0);
    CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);
    CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 0), -EAGAIN);
    CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 20000000), -ETIMEDOUT);
    ipcx_mailbox_close(mb);
    CHECK_RC(ipcx_mailbox_destroy("loan-basic"), 0);
}

/* 2 */
static void order(void)
{
    ipcx_mailbox *mb = make("loan-order", 16, 64);
    send_str(mb, "one");
    loan_str(mb, "two");
    ipcx_loan held;
    CHECK_RC(ipcx_mailbox_loan(mb, &held, 0), 0); /* "three", not yet */
    send_str(mb, "four");
    recv_str(mb, "one", 0);
    recv_str(mb, "two", 0);
    char buf[64];
    /* The held loan is next: nothing behind it is received before it. */
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    memcpy(held.data, "three", 5);
    CHECK_RC(ipcx_mailbox_send_loan(mb, &held, 5), 0);
    recv_str(mb, "three", 0);
    recv_str(mb, "four", 0);

    /* A cancelled loan is passed over. */
    CHECK_RC(ipcx_mailbox_loan(mb, &held, 0), 0);
    memcpy(held.data, "never", 5);
    send_str(mb, "five");
    CHECK_RC(ipcx_mailbox_cancel_loan(mb, &held), 0);
    recv_str(mb, "five", 0);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    CHECK(tu_stat(mb).depth == 0);
    /* Many rounds over the ring's wrap, mixing the four calls. */
    for (int i = 0; i < 1000; i++) {
        char s[32];
        snprintf(s, sizeof s, "m%d", i);
        if (i % 3 == 0) {
            loan_str(mb, s);
        } else {
            send_str(mb, s);
        }
        if (i % 7 == 0) {
            CHECK_RC(ipcx_mailbox_loan(mb, &held, 0), 0);
            CHECK_RC(ipcx_mailbox_cancel_loan(mb, &held), 0);
        }
        if (i % 2 == 0) {
            ipcx_loan r;
            CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 0), (long)strlen(s));
            CHECK(memcmp(r.data, s, strlen(s)) == 0);
            CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);
        } else {
            recv_str(mb, s, 0);
        }
    }
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-order");
}

/* 3 */
static void capacity_and_loans(void)
{
    /* A send loan counts as queued from the moment it is lent; a received
     * loan no longer does (the receive took it), though its slot is not
     * reused until it is returned. */
    ipcx_mailbox *mb = make("loan-cap", 1, 64);
    ipcx_loan l, r;
    CHECK_RC(ipcx_mailbox_loan(mb, &l, 0), 0);
    CHECK_RC(ipcx_mailbox_send(mb, "b", 1, 0), -EAGAIN);
    CHECK_RC(ipcx_mailbox_loan(mb, &r, 0), -EAGAIN);
    CHECK_RC(ipcx_mailbox_send_loan(mb, &l, 0), 0);
    CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 0), 0);
    send_str(mb, "b");
    CHECK_RC(ipcx_mailbox_send(mb, "c", 1, 0), -EAGAIN);
    recv_str(mb, "b", 0);
    CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);
    /* Held receive loans make senders wait once the ring comes round to
     * the oldest; returning it lets them on.  Nothing is lost. */
    ipcx_loan held[64];
    int n = 0;
    while (n < 64 && ipcx_mailbox_send(mb, "h", 1, 0) == 0) {
        CHECK_RC(ipcx_mailbox_recv_loan(mb, &held[n], 0), 1);
        n++;
    }
    CHECK(n >= 1 && n < 64);
    CHECK_RC(ipcx_mailbox_send(mb, "h", 1, 20000000), -ETIMEDOUT);
    CHECK_RC(ipcx_mailbox_return_loan(mb, &held[0]), 0);
    send_str(mb, "i");
    for (int i = n - 1; i >= 1; i--) {
        CHECK(*(char *)held[i].data == 'h');
        CHECK_RC(ipcx_mailbox_return_loan(mb, &held[i]), 0);
    }
    recv_str(mb, "i", 0);
    printf("  capacity 1: %d received loans held before senders wait\n", n);
    for (int i = 0; i < 300; i++) {
        send_str(mb, "z");
        recv_str(mb, "z", 0);
    }
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-cap");
}

/* 4 */
static int receipt_sender(void *arg)
{
    int *fds = arg;
    ipcx_mailbox *mb = tu_open("loan-receipt");
    pid_t who = 0;
    int rc =
        ipcx_mailbox_send_ex(mb, "r", 1, 5000000000LL, IPCX_SEND_RECEIPT, &who);
    char c = rc == 0 && who == getppid() ? 'y' : 'n';
    CHECK(write(fds[1], &c, 1) == 1);
    return rc == 0 ? 0 : 1;
}

static void receipt_on_return(void)
{
    ipcx_mailbox *mb = make("loan-receipt", 4, 64);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t child = tu_spawn(receipt_sender, fds);
    ipcx_loan r;
    CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 5000000000LL), 1);
    tu_pause_ms(50);
    CHECK(!tu_readable(fds[0])); /* not delivered while lent */
    CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);
    char c = 0;
    CHECK(read(fds[0], &c, 1) == 1 && c == 'y');
    CHECK(tu_wait(child) == 0);
    close(fds[0]);
    close(fds[1]);
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-receipt");
}

/* 5 */
static uint64_t fill(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed, sum = 0;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (unsigned char)(x >> 56);
        sum = sum * 31 + p[i];
    }
    return sum;
}

static uint64_t sum_of(const unsigned char *p, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum = sum * 31 + p[i];
    }
    return sum;
}

static int big_sender(void *arg)
{
    uint64_t *sums = arg;
    ipcx_mailbox *mb = tu_open("loan-big");
    for (int i = 0; i < 8; i++) {
        ipcx_loan l;
        CHECK_RC(ipcx_mailbox_loan(mb, &l, 5000000000LL), 0);
        CHECK(l.size == MiB);
        sums[i] = fill(l.data, MiB, (uint64_t)i + 1);
        CHECK_RC(ipcx_mailbox_send_loan(mb, &l, MiB), 0);
    }
    ipcx_mailbox_close(mb);
    return 0;
}

static void big_in_place(void)
{
    ipcx_mailbox *mb = make("loan-big", 2, MiB);
    uint64_t *sums = tu_shared_map(8 * sizeof *sums);
    pid_t child = tu_spawn(big_sender, sums);
    for (int i = 0; i < 8; i++) {
        ipcx_loan r;
        CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 5000000000LL), MiB);
        uint64_t got = sum_of(r.data, MiB);
        CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);
        /* The sender wrote its sum before it sent (the queue's release
         * and acquire order it before our receive). */
        CHECK(got == sums[i]);
    }
    CHECK(tu_wait(child) == 0);
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-big");
}

/* 6 */
static void kinds(void)
{
    ipcx_mailbox *mb = make("loan-unb", IPCX_UNBOUNDED, 256);
    for (int i = 0; i < 500; i++) { /* several segments */
        char s[32];
        snprintf(s, sizeof s, "u%d", i);
        loan_str(mb, s);
    }
    for (int i = 0; i < 500; i++) {
        char s[32];
        snprintf(s, sizeof s, "u%d", i);
        ipcx_loan r;
        CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 0), (long)strlen(s));
        CHECK(memcmp(r.data, s, strlen(s)) == 0);
        CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);
    }
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-unb");

    ipcx_mailbox_attr a = tu_attr(4, 64);
    CHECK_RC(ipcx_mailbox_allocate(&a, &mb), 0);
    loan_str(mb, "anon");
    recv_str(mb, "anon", 0);
    ipcx_mailbox_close(mb);

    mb = make("loan-rdv", 0, 64);
    ipcx_loan l;
    CHECK_RC(ipcx_mailbox_loan(mb, &l, 0), -EOPNOTSUPP);
    CHECK(strstr(ipcx_last_error(), "rendezvous") != NULL);
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-rdv");
}

/* 7 */
static void expect_err(long rc, long want, const char *words)
{
    CHECK_RC(rc, want);
    if (strstr(ipcx_last_error(), words) == NULL) {
        fprintf(stderr, "error text '%s' lacks '%s'\n", ipcx_last_error(),
                words);
        exit(1);
    }
}

static void bad_loans(void)
{
    ipcx_mailbox *mb = make("loan-bad", 8, 64);
    ipcx_mailbox *other = tu_open("loan-bad");
    send_str(mb, "kept");
    ipcx_loan l, r, z;
    memset(&z, 0, sizeof z);
    expect_err(ipcx_mailbox_loan(mb, NULL, 0), -EINVAL, "NULL loan");
    expect_err(ipcx_mailbox_recv_loan(mb, NULL, 0), -EINVAL, "NULL loan");
    expect_err(ipcx_mailbox_send_loan(mb, NULL, 1), -EINVAL, "NULL loan");
    expect_err(ipcx_mailbox_loan(NULL, &l, 0), -EINVAL, "");
    expect_err(ipcx_mailbox_loan(mb, &l, -1), -EINVAL, "negative timeout");
    expect_err(ipcx_mailbox_recv_loan(mb, &r, -5), -EINVAL, "negative timeout");
    expect_err(ipcx_mailbox_send_loan(mb, &z, 1), -EINVAL, "not a live send");
    expect_err(ipcx_mailbox_return_loan(mb, &z), -EINVAL,
               "not a live received");
    expect_err(ipcx_mailbox_cancel_loan(mb, &z), -EINVAL, "not a live send");

    CHECK_RC(ipcx_mailbox_loan(mb, &l, 0), 0);
    ipcx_loan copy = l;
    /* Of another handle, or of the wrong kind. */
    expect_err(ipcx_mailbox_send_loan(other, &l, 1), -EINVAL, "not a live");
    expect_err(ipcx_mailbox_return_loan(mb, &l), -EINVAL, "not a live");
    /* A forged slot pointer. */
    ipcx_loan forged = l;
    forged.priv[1] ^= 0x100000000ull;
    expect_err(ipcx_mailbox_send_loan(mb, &forged, 1), -EINVAL, "not a live");
    forged = l; /* inside the mapping, but not a slot's place */
    forged.priv[1] += 8;
    expect_err(ipcx_mailbox_send_loan(mb, &forged, 1), -EINVAL, "forged");
    forged = l; /* another position */
    forged.priv[2] += 1;
    expect_err(ipcx_mailbox_cancel_loan(mb, &forged), -EINVAL, "forged");
    /* Oversize: refused, and the loan is cancelled. */
    expect_err(ipcx_mailbox_send_loan(mb, &l, 65), -EMSGSIZE, "65 bytes");
    expect_err(ipcx_mailbox_send_loan(mb, &copy, 1), -EINVAL, "spent");
    recv_str(mb, "kept", 0); /* intact, and the cancelled slot passed */

    /* Spent: a second send, a second return. */
    loan_str(mb, "x");
    CHECK_RC(ipcx_mailbox_loan(mb, &l, 0), 0);
    copy = l;
    CHECK_RC(ipcx_mailbox_send_loan(mb, &l, 1), 0);
    expect_err(ipcx_mailbox_send_loan(mb, &copy, 1), -EINVAL, "");
    expect_err(ipcx_mailbox_cancel_loan(mb, &copy), -EINVAL, "");
    CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 0), 1);
    copy = r;
    CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);
    expect_err(ipcx_mailbox_return_loan(mb, &copy), -EINVAL, "spent");
    CHECK_RC(ipcx_mailbox_recv_loan(mb, &r, 0), 1);
    CHECK_RC(ipcx_mailbox_return_loan(mb, &r), 0);

    /* Rights. */
    ipcx_mailbox_attr a = tu_attr(4, 64);
    ipcx_mailbox *anon;
    CHECK_RC(ipcx_mailbox_allocate(&a, &anon), 0);
    CHECK_RC(ipcx_mailbox_restrict(anon, IPCX_RIGHT_RECV), 0);
    expect_err(ipcx_mailbox_loan(anon, &l, 0), -EPERM, "send right");
    ipcx_mailbox_close(anon);
    CHECK_RC(ipcx_mailbox_allocate(&a, &anon), 0);
    CHECK_RC(ipcx_mailbox_restrict(anon, IPCX_RIGHT_SEND), 0);
    expect_err(ipcx_mailbox_recv_loan(anon, &r, 0), -EPERM, "receive right");
    ipcx_mailbox_close(anon);

    /* A closed handle. */
    ipcx_mailbox_close(other);
    CHECK_RC(ipcx_mailbox_loan(other, &l, 0), -EBADF);
    CHECK_RC(ipcx_mailbox_recv_loan(other, &r, 0), -EBADF);
    CHECK(tu_stat(mb).depth == 0);
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-bad");
}

/* 8 */
enum { HOLD_SEND, HOLD_RECV };

static int holder(void *arg)
{
    int kind = *(int *)arg;
    ipcx_mailbox *mb = tu_open("loan-crash");
    ipcx_loan l;
    if (kind == HOLD_SEND) {
        CHECK_RC(ipcx_mailbox_loan(mb, &l, 0), 0);
        memcpy(l.data, "dead", 4);
    } else {
        CHECK_RC(ipcx_mailbox_recv_loan(mb, &l, 5000000000LL), 4);
    }
    /* Holding it, tell the parent, and wait to be killed. */
    ipcx_mailbox *ready = tu_open("loan-ready");
    CHECK_RC(ipcx_mailbox_send(ready, "", 0, 0), 0);
    for (;;) {
        pause();
    }
}

static void wait_ready(void)
{
    ipcx_mailbox *ready = tu_open("loan-ready");
    char c;
    CHECK_RC(ipcx_mailbox_recv(ready, &c, 1, 5000000000LL), 0);
    ipcx_mailbox_close(ready);
}

static void kill_and_reap(pid_t pid)
{
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(tu_wait(pid) == 128 + SIGKILL);
}

static void crash_holders(void)
{
    make("loan-ready", 4, 8);
    ipcx_mailbox *mb = make("loan-crash", 2, 64);
    /* A dead sender's loan blocks the head: the receiver gets past it. */
    int kind = HOLD_SEND;
    pid_t pid = tu_spawn(holder, &kind);
    wait_ready();
    send_str(mb, "after");
    char buf[64];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    kill_and_reap(pid);
    long long t0 = tu_now_ns();
    recv_str(mb, "after", 2000000000LL);
    long long waited = tu_now_ns() - t0;
    CHECK(waited < 1000000000LL);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);

    /* A dead receiver's loan: its message is consumed, not repeated, and
     * its slot comes back when the ring wraps onto it. */
    send_str(mb, "dead");
    kind = HOLD_RECV;
    pid = tu_spawn(holder, &kind);
    wait_ready();
    kill_and_reap(pid);
    t0 = tu_now_ns();
    for (int i = 0; i < 1000; i++) {
        char s[16];
        snprintf(s, sizeof s, "w%d", i);
        CHECK_RC(ipcx_mailbox_send(mb, s, strlen(s), 2000000000LL), 0);
        recv_str(mb, s, 0);
    }
    long long wrapped = tu_now_ns() - t0;
    CHECK(wrapped < 1000000000LL);
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-crash");
    ipcx_mailbox_destroy("loan-ready");
    printf("  dead sender's loan passed after %.1f ms; 1000 messages past "
           "a dead receiver's loan in %.1f ms\n",
           waited / 1e6, wrapped / 1e6);
}

static int receipt_once(void *arg)
{
    (void)arg;
    ipcx_mailbox *mb = tu_open("loan-crash");
    pid_t who = 0;
    CHECK_RC(ipcx_mailbox_send_ex(mb, "dead", 4, 10000000000LL,
                                  IPCX_SEND_RECEIPT, &who),
             0);
    return who == getppid() ? 0 : 2;
}

static void crash_receipt(void)
{
    /* A receipt send whose receiver dies holding the loan is offered
     * again, and reaches the next receiver exactly once. */
    make("loan-ready", 4, 8);
    ipcx_mailbox *mb = make("loan-crash", 4, 64);
    pid_t sender = tu_spawn(receipt_once, NULL);
    int kind = HOLD_RECV;
    pid_t pid = tu_spawn(holder, &kind);
    wait_ready();
    kill_and_reap(pid);
    recv_str(mb, "dead", 5000000000LL);
    CHECK(tu_wait(sender) == 0); /* its receipt names us */
    char buf[64];
    CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), -EAGAIN);
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-crash");
    ipcx_mailbox_destroy("loan-ready");
}

/* 9 */
static void closed_with_loans(void)
{
    ipcx_mailbox *mb = make("loan-close", 2, 64);
    ipcx_mailbox *h = tu_open("loan-close");
    ipcx_loan l, r;
    send_str(mb, "lent");
    CHECK_RC(ipcx_mailbox_recv_loan(h, &r, 0), 4);
    CHECK_RC(ipcx_mailbox_loan(h, &l, 0), 0);
    CHECK_RC(ipcx_mailbox_close(h), 0);
    /* The closed handle's send loan is passed by the next receive, as a
     * dead writer's would be; its receive loan's slot is reused. */
    send_str(mb, "x");
    recv_str(mb, "x", 2000000000LL);
    for (int i = 0; i < 100; i++) {
        CHECK_RC(ipcx_mailbox_send(mb, "y", 1, 2000000000LL), 0);
        recv_str(mb, "y", 0);
    }
    ipcx_mailbox_close(mb);
    ipcx_mailbox_destroy("loan-close");
}

int main(void)
{
    tu_private_ns();
    TU_RUN(basic);
    TU_RUN(order);
    TU_RUN(capacity_and_loans);
    TU_RUN(receipt_on_return);
    TU_RUN(big_in_place);
    TU_RUN(kinds);
    TU_RUN(bad_loans);
    TU_RUN(crash_holders);
    TU_RUN(crash_receipt);
    TU_RUN(closed_with_loans);
    return tu_failures > 0;
}
