/*
 * test_badinput.c - the bad-input sweep (issue 4, point 6): every public
 * function that takes a handle, given NULL, a closed handle or a handle of
 * another kind, answers a negative errno with a message, and never touches
 * the objects; queued messages stay intact throughout.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "chanutil.h"
#include "testutil.h"

/* An ipcx call that must fail with EXPECT and leave a message. */
#define BAD(call, expect)                                                      \
    do {                                                                       \
        CHECK_RC(call, expect);                                                \
        CHECK(ipcx_last_error()[0] != '\0');                                   \
        CHECK(strcmp(ipcx_strerror(expect), "") != 0);                         \
    } while (0)

/* Every handle-taking mailbox call with handle MB must answer EXPECT. */
static void mailbox_calls(ipcx_mailbox *mb, int expect)
{
    char buf[16];
    ipcx_msg_info info;
    ipcx_mailbox_info st;
    pid_t who;
    BAD(ipcx_mailbox_send(mb, "x", 1, 0), expect);
    BAD(ipcx_mailbox_send_ex(mb, "x", 1, 0, IPCX_SEND_RECEIPT, &who), expect);
    BAD(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), expect);
    BAD(ipcx_mailbox_recv_ex(mb, buf, sizeof buf, 0, &info), expect);
    BAD(ipcx_mailbox_transfer(mb, getpid()), expect);
    BAD(ipcx_mailbox_release(mb), expect);
    BAD(ipcx_mailbox_stat(mb, &st), expect);
    BAD(ipcx_mailbox_fd(mb), expect);
    BAD(ipcx_mailbox_restrict(mb, IPCX_RIGHT_SEND), expect);
    ipcx_loan loan;
    memset(&loan, 0, sizeof loan);
    BAD(ipcx_mailbox_loan(mb, &loan, 0), expect);
    BAD(ipcx_mailbox_recv_loan(mb, &loan, 0), expect);
    BAD(ipcx_mailbox_send_loan(mb, &loan, 1), expect);
    BAD(ipcx_mailbox_cancel_loan(mb, &loan), expect);
    BAD(ipcx_mailbox_return_loan(mb, &loan), expect);
    CHECK(ipcx_mailbox_rights(mb) == 0);
    CHECK(ipcx_mailbox_max_msg_size(mb) == 0);
}

static void channel_calls(ipcx_channel *ch, int expect, ipcx_mailbox *anon)
{
    char buf[16];
    ipcx_peer peer;
    ipcx_channel_msg_info info;
    ipcx_region *r = NULL;
    ipcx_mailbox *mb = NULL;
    BAD(ipcx_channel_send(ch, "x", 1, 0), expect);
    BAD(ipcx_channel_recv(ch, buf, sizeof buf, 0), expect);
    BAD(ipcx_channel_recv_ex(ch, buf, sizeof buf, 0, &info), expect);
    BAD(ipcx_call(ch, "x", 1, buf, sizeof buf, 0), expect);
    BAD(ipcx_channel_reply(ch, 1, "x", 1, 0), expect);
    BAD(ipcx_channel_peer(ch, &peer), expect);
    BAD(ipcx_channel_max_msg_size(ch), expect);
    BAD(ipcx_channel_fd(ch), expect);
    BAD(ipcx_channel_recv_region(ch, 0, &r, 0), expect);
    BAD(ipcx_channel_recv_mailbox(ch, &mb, 0), expect);
    BAD(ipcx_channel_send_mailbox(ch, anon, IPCX_RIGHT_SEND, 0), expect);
}

static void port_calls(ipcx_port *p, int expect)
{
    ipcx_channel *ch = NULL;
    BAD(ipcx_port_accept(p, 0, NULL, NULL, &ch), expect);
    BAD(ipcx_port_fd(p), expect);
}

static void inbox_calls(ipcx_inbox *ib, int expect)
{
    char buf[16];
    ipcx_peer from;
    BAD(ipcx_send_to(ib, getpid(), "x", 1, 0), expect);
    BAD(ipcx_receive_from(ib, getpid(), buf, sizeof buf, 0), expect);
    BAD(ipcx_receive_any(ib, buf, sizeof buf, &from, 0), expect);
}

static void notify_calls(ipcx_notify *n, int expect)
{
    ipcx_event ev;
    BAD(ipcx_notify_watch(n, getpid(), 1), expect);
    BAD(ipcx_notify_unwatch(n, getpid()), expect);
    BAD(ipcx_notify_recv(n, &ev, 0), expect);
    BAD(ipcx_notify_fd(n), expect);
}

static void region_calls(ipcx_region *r, ipcx_channel *ch, int expect)
{
    BAD(ipcx_region_seal(r), expect);
    BAD(ipcx_region_fd(r), expect);
    CHECK(ipcx_region_addr(r) == NULL);
    CHECK(ipcx_region_size(r) == 0);
    CHECK(ipcx_region_is_sealed(r) == 0);
    CHECK(ipcx_region_is_temporary(r) == 0);
    if (ch != NULL) {
        BAD(ipcx_channel_send_region(ch, r, 0), expect);
    }
}

/* NULL handles: -EINVAL everywhere; closing NULL is a no-op. */
static void test_null_handles(void)
{
    mailbox_calls(NULL, -EINVAL);
    channel_calls(NULL, -EINVAL, NULL);
    port_calls(NULL, -EINVAL);
    inbox_calls(NULL, -EINVAL);
    notify_calls(NULL, -EINVAL);
    region_calls(NULL, NULL, -EINVAL);
    CHECK_RC(ipcx_region_detach(NULL), 0);
    CHECK_RC(ipcx_mailbox_close(NULL), 0);
    CHECK_RC(ipcx_channel_close(NULL), 0);
    CHECK_RC(ipcx_port_close(NULL), 0);
    CHECK_RC(ipcx_inbox_close(NULL), 0);
    CHECK_RC(ipcx_notify_close(NULL), 0);
}

/* A handle of each kind, to pass where another kind is wanted. */
struct zoo {
    ipcx_mailbox *mb, *anon;
    ipcx_port *port;
    ipcx_channel *ch, *srv;
    ipcx_inbox *ib;
    ipcx_notify *n;
};

static void *accept_one(void *arg)
{
    struct zoo *z = arg;
    z->srv = tc_accept(z->port);
    return NULL;
}

/* A channel of this process to itself: client CH, server end SRV. */
static void zoo_channel(struct zoo *z, ipcx_channel **ch, ipcx_channel **srv)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, accept_one, z) == 0);
    *ch = tc_connect("zooport");
    CHECK(pthread_join(t, NULL) == 0);
    *srv = z->srv;
}

/* Each subtest runs in its own process: the pid keeps names apart. */
static void zoo_open(struct zoo *z)
{
    char name[32];
    snprintf(name, sizeof name, "zoo%d", (int)getpid());
    CHECK_RC(ipcx_mailbox_create(name, NULL), 0);
    CHECK_RC(ipcx_mailbox_open(name, 0, &z->mb), 0);
    CHECK_RC(ipcx_mailbox_allocate(NULL, &z->anon), 0);
    z->port = tc_listen("zooport", 4, 64, 0600);
    zoo_channel(z, &z->ch, &z->srv);
    CHECK_RC(ipcx_inbox_open(0, &z->ib), 0);
    CHECK_RC(ipcx_notify_open(&z->n), 0);
}

/* Queue one message on each object, so that the sweep can show that bad
 * calls left them alone. */
static void zoo_fill(struct zoo *z)
{
    CHECK_RC(ipcx_mailbox_send(z->mb, "mbox", 4, 0), 0);
    CHECK_RC(ipcx_mailbox_send(z->anon, "anon", 4, 0), 0);
    CHECK_RC(ipcx_channel_send(z->srv, "chan", 4, 0), 0);
}

static void zoo_check_intact(struct zoo *z)
{
    char buf[16];
    CHECK_RC(ipcx_mailbox_recv(z->mb, buf, sizeof buf, 0), 4);
    CHECK(memcmp(buf, "mbox", 4) == 0);
    CHECK_RC(ipcx_mailbox_recv(z->anon, buf, sizeof buf, 0), 4);
    CHECK(memcmp(buf, "anon", 4) == 0);
    CHECK_RC(ipcx_channel_recv(z->ch, buf, sizeof buf, 0), 4);
    CHECK(memcmp(buf, "chan", 4) == 0);
}

/* Each kind passed where another is wanted: -EBADF, objects untouched. */
static void test_foreign_handles(void)
{
    struct zoo z;
    zoo_open(&z);
    zoo_fill(&z);
    mailbox_calls((ipcx_mailbox *)z.ch, -EBADF);
    mailbox_calls((ipcx_mailbox *)z.port, -EBADF);
    channel_calls((ipcx_channel *)z.mb, -EBADF, z.anon);
    channel_calls((ipcx_channel *)z.ib, -EBADF, z.anon);
    port_calls((ipcx_port *)z.ch, -EBADF);
    inbox_calls((ipcx_inbox *)z.n, -EBADF);
    notify_calls((ipcx_notify *)z.mb, -EBADF);
    region_calls((ipcx_region *)z.mb, z.srv, -EBADF);
    BAD(ipcx_region_detach((ipcx_region *)z.ch), -EBADF);
    /* A channel handed a "mailbox" that is a port. */
    BAD(ipcx_channel_send_mailbox(z.srv, (ipcx_mailbox *)z.port,
                                  IPCX_RIGHT_SEND, 0),
        -EBADF);
    /* Closing the wrong kind closes nothing. */
    BAD(ipcx_mailbox_close((ipcx_mailbox *)z.ch), -EBADF);
    BAD(ipcx_channel_close((ipcx_channel *)z.mb), -EBADF);
    BAD(ipcx_port_close((ipcx_port *)z.ib), -EBADF);
    BAD(ipcx_inbox_close((ipcx_inbox *)z.port), -EBADF);
    BAD(ipcx_notify_close((ipcx_notify *)z.anon), -EBADF);
    /* ipcx_poll with an item of the wrong kind. */
    ipcx_pollitem it = {IPCX_POLL_MAILBOX, 0, z.ch};
    BAD(ipcx_poll(&it, 1, 0), -EBADF);
    zoo_check_intact(&z);
}

/* Handles used after close: -EBADF, and a second close is refused too. */
static void test_closed_handles(void)
{
    struct zoo z;
    zoo_open(&z);
    zoo_fill(&z);
    ipcx_mailbox *mb2, *anon2;
    char name[32];
    snprintf(name, sizeof name, "zoo%d", (int)getpid());
    CHECK_RC(ipcx_mailbox_open(name, 0, &mb2), 0);
    CHECK_RC(ipcx_mailbox_allocate(NULL, &anon2), 0);
    CHECK_RC(ipcx_mailbox_close(mb2), 0);
    CHECK_RC(ipcx_mailbox_close(anon2), 0);
    mailbox_calls(mb2, -EBADF);
    mailbox_calls(anon2, -EBADF);
    BAD(ipcx_mailbox_close(mb2), -EBADF);

    ipcx_channel *c2, *s2, *keep = z.srv;
    zoo_channel(&z, &c2, &s2);
    z.srv = keep;
    CHECK_RC(ipcx_channel_close(c2), 0);
    channel_calls(c2, -EBADF, z.anon);
    BAD(ipcx_channel_close(c2), -EBADF);
    CHECK_RC(ipcx_channel_close(s2), 0);

    ipcx_port *p2 = tc_listen("zooport2", 4, 64, 0600);
    CHECK_RC(ipcx_port_close(p2), 0);
    port_calls(p2, -EBADF);
    BAD(ipcx_port_close(p2), -EBADF);

    CHECK_RC(ipcx_inbox_close(z.ib), 0);
    inbox_calls(z.ib, -EBADF);
    BAD(ipcx_inbox_close(z.ib), -EBADF);

    CHECK_RC(ipcx_notify_close(z.n), 0);
    notify_calls(z.n, -EBADF);
    BAD(ipcx_notify_close(z.n), -EBADF);

    ipcx_region *r;
    CHECK_RC(ipcx_region_create_anon(4096, &r), 0);
    CHECK_RC(ipcx_region_detach(r), 0);
    region_calls(r, z.srv, -EBADF);
    BAD(ipcx_region_detach(r), -EBADF);

    ipcx_pollitem it = ipcx_poll_mailbox(mb2);
    BAD(ipcx_poll(&it, 1, 0), -EBADF);
    zoo_check_intact(&z);
}

/* Sizes, flags, timeouts and names, on live handles. */
static void test_bad_arguments(void)
{
    struct zoo z;
    zoo_open(&z);
    zoo_fill(&z);
    char buf[16];
    static char huge[IPCX_DEFAULT_MSG_SIZE + 1];
    BAD(ipcx_mailbox_send(z.mb, huge, sizeof huge, 0), -EMSGSIZE);
    BAD(ipcx_mailbox_send(z.mb, NULL, 1, 0), -EINVAL);
    BAD(ipcx_mailbox_send(z.mb, "x", 1, -1), -EINVAL);
    BAD(ipcx_mailbox_send_ex(z.mb, "x", 1, 0, 0x80, NULL), -EINVAL);
    BAD(ipcx_mailbox_recv(z.mb, NULL, 4, 0), -EINVAL);
    BAD(ipcx_mailbox_recv(z.mb, buf, 1, 0), -EMSGSIZE); /* stays queued */
    BAD(ipcx_mailbox_recv(z.mb, buf, sizeof buf, -5), -EINVAL);
    ipcx_loan loan;
    memset(&loan, 0, sizeof loan);
    BAD(ipcx_mailbox_loan(z.mb, NULL, 0), -EINVAL);
    BAD(ipcx_mailbox_loan(z.mb, &loan, -1), -EINVAL);
    BAD(ipcx_mailbox_recv_loan(z.mb, &loan, -1), -EINVAL);
    BAD(ipcx_mailbox_send_loan(z.mb, &loan, 1), -EINVAL); /* never lent */
    BAD(ipcx_mailbox_return_loan(z.mb, &loan), -EINVAL);
    CHECK_RC(ipcx_mailbox_loan(z.mb, &loan, 0), 0); /* then oversize: */
    BAD(ipcx_mailbox_send_loan(z.mb, &loan, sizeof huge), -EMSGSIZE);
    BAD(ipcx_mailbox_restrict(z.anon, 0x40), -EINVAL);
    BAD(ipcx_mailbox_restrict(z.anon, 0), -EINVAL);
    BAD(ipcx_mailbox_open("any", 7, &z.mb), -EINVAL);
    BAD(ipcx_mailbox_open("../zoo", 0, &z.mb), -EINVAL);
    BAD(ipcx_mailbox_open("", 0, &z.mb), -EINVAL);
    BAD(ipcx_mailbox_create(NULL, NULL), -EINVAL);
    BAD(ipcx_mailbox_destroy("no/such"), -EINVAL);
    ipcx_mailbox_attr a;
    ipcx_mailbox_attr_init(&a);
    a.reserved[0] = 1;
    BAD(ipcx_mailbox_allocate(&a, &z.mb), -EINVAL);
    ipcx_mailbox_attr_init(&a);
    a.capacity = IPCX_CAPACITY_MAX + 1;
    BAD(ipcx_mailbox_create("big", &a), -EINVAL);

    static char chuge[65];
    BAD(ipcx_channel_send(z.ch, chuge, sizeof chuge, 0), -EMSGSIZE);
    BAD(ipcx_channel_send(z.ch, NULL, 3, 0), -EINVAL);
    BAD(ipcx_channel_recv(z.ch, buf, 1, 0), -EMSGSIZE); /* stays queued */
    BAD(ipcx_channel_recv(z.ch, buf, sizeof buf, -1), -EINVAL);
    BAD(ipcx_channel_reply(z.srv, 0, "x", 1, 0), -EINVAL);
    BAD(ipcx_call(z.ch, "x", 1, NULL, 8, 0), -EINVAL);
    BAD(ipcx_channel_send_mailbox(z.srv, z.anon, 0, 0), -EINVAL);
    BAD(ipcx_channel_send_mailbox(z.srv, z.anon, 0x10, 0), -EINVAL);
    BAD(ipcx_channel_send_mailbox(z.srv, z.mb, IPCX_RIGHT_SEND, 0), -EINVAL);
    BAD(ipcx_connect("no such port", 0, &z.ch), -EINVAL);
    ipcx_region *r;
    BAD(ipcx_channel_recv_region(z.ch, 0x80, &r, 0), -EINVAL);
    BAD(ipcx_region_create_anon(0, &r), -EINVAL);
    BAD(ipcx_region_attach("../x", 0, &r), -EINVAL);
    BAD(ipcx_port_accept(z.port, -1, NULL, NULL, &z.srv), -EINVAL);

    BAD(ipcx_send_to(z.ib, 0, "x", 1, 0), -EINVAL);
    BAD(ipcx_send_to(z.ib, getpid(), NULL, 1, 0), -EINVAL);
    BAD(ipcx_receive_from(z.ib, -3, buf, sizeof buf, 0), -EINVAL);

    BAD(ipcx_notify_watch(z.n, 0, 0), -EINVAL);
    BAD(ipcx_notify_watch(z.n, -1, 0), -EINVAL);
    BAD(ipcx_notify_recv(z.n, NULL, 0), -EINVAL);
    BAD(ipcx_notify_recv(z.n, &(ipcx_event){0}, -1), -EINVAL);
    BAD(ipcx_notify_unwatch(z.n, 12345678), -ENOENT);

    ipcx_pollitem it = ipcx_poll_mailbox(z.mb);
    BAD(ipcx_poll(NULL, 1, 0), -EINVAL);
    BAD(ipcx_poll(&it, 0, 0), -EINVAL);
    BAD(ipcx_poll(&it, IPCX_POLL_MAX + 1, 0), -EINVAL);
    BAD(ipcx_poll(&it, 1, -1), -EINVAL);
    it.kind = 99;
    BAD(ipcx_poll(&it, 1, 0), -EINVAL);
    zoo_check_intact(&z);
}

int main(void)
{
    tu_private_ns();
    TU_RUN(test_null_handles);
    TU_RUN(test_foreign_handles);
    TU_RUN(test_closed_handles);
    TU_RUN(test_bad_arguments);
    return tu_failures > 0;
}
