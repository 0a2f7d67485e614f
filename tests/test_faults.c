/*
 * test_faults.c - system calls that fail (through the internal table the
 * library routes them through) give a clear error and leave nothing
 * behind: no half-created mailbox, no leaked handle, no lost message.
 */
#include <dirent.h>
#include <errno.h>

#include "core/sys.h"
#include "testutil.h"

static const char *ns;

static int fail_ftruncate(int fd, off_t len)
{
    errno = ENOSPC;
    return -1;
}

static void *fail_mmap(size_t len, int prot, int fd)
{
    errno = ENOMEM;
    return NULL;
}

static int fail_fallocate(int fd, off_t off, off_t len)
{
    errno = ENOSPC;
    return -1;
}

/* Files in the namespace directory, dot-files included. */
static int ns_files(void)
{
    DIR *d = opendir(ns);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/* A create whose sizing or mapping fails creates nothing, not even a
 * temporary file. */
static void test_create_fails_cleanly(void)
{
    struct ipcx__sys_table saved = ipcx__sys;
    ipcx__sys.ftruncate = fail_ftruncate;
    CHECK_RC(ipcx_mailbox_create("f1", NULL), -ENOSPC);
    CHECK(ipcx_last_error()[0] != '\0');
    ipcx__sys = saved;
    ipcx__sys.mmap = fail_mmap;
    CHECK_RC(ipcx_mailbox_create("f1", NULL), -ENOMEM);
    ipcx__sys = saved;
    CHECK(ns_files() == 0);
    CHECK_RC(ipcx_mailbox_create("f1", NULL), 0); /* the name is free */
    CHECK_RC(ipcx_mailbox_destroy("f1"), 0);
}

/* An open whose mapping fails returns -ENOMEM, writes no handle, and holds
 * no place: the mailbox still counts no open process. */
static void test_open_fails_cleanly(void)
{
    ipcx_mailbox_attr a = tu_attr(4, 64);
    a.policy = IPCX_POLICY_PAIR;
    CHECK_RC(ipcx_mailbox_create("f2", &a), 0);
    struct ipcx__sys_table saved = ipcx__sys;
    ipcx__sys.mmap = fail_mmap;
    ipcx_mailbox *mb = (ipcx_mailbox *)0x1;
    CHECK_RC(ipcx_mailbox_open("f2", 0, &mb), -ENOMEM);
    CHECK(mb == (ipcx_mailbox *)0x1);
    ipcx__sys = saved;
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name("f2", &st), 0);
    CHECK(st.nopen == 0);
    CHECK_RC(ipcx_mailbox_destroy("f2"), 0);
}

/* Messages an empty mailbox MB takes before its ceiling (then drained). */
static uint32_t fill_count(ipcx_mailbox *mb)
{
    uint32_t n = 0, v;
    while (ipcx_mailbox_send(mb, &n, sizeof n, 0) == 0) {
        n++;
    }
    for (uint32_t i = 0; i < n; i++) {
        CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), sizeof v);
        CHECK(v == i);
    }
    return n;
}

/* An unbounded mailbox that cannot grow answers -ENOSPC; once it can grow
 * again it holds exactly as much as one that never failed (failed growth
 * used up no segment), and nothing sent is lost or reordered. */
static void test_growth_fails_cleanly(void)
{
    ipcx_mailbox_attr a = tu_attr(IPCX_UNBOUNDED, 64);
    a.max_bytes = 64 * 1024;
    CHECK_RC(ipcx_mailbox_create("control", &a), 0);
    CHECK_RC(ipcx_mailbox_create("f3", &a), 0);
    ipcx_mailbox *control = tu_open("control");
    uint32_t capacity = fill_count(control);
    CHECK(capacity > 100);
    ipcx_mailbox *mb = tu_open("f3");
    struct ipcx__sys_table saved = ipcx__sys;
    ipcx__sys.fallocate = fail_fallocate;
    uint32_t v = 7;
    for (int i = 0; i < 100; i++) {
        CHECK_RC(ipcx_mailbox_send(mb, &v, sizeof v, 0), -ENOSPC);
    }
    CHECK(ipcx_last_error()[0] != '\0');
    ipcx__sys = saved;
    CHECK(fill_count(mb) == capacity);
    CHECK_RC(ipcx_mailbox_recv(mb, &v, sizeof v, 0), -EAGAIN);
    ipcx_mailbox_close(mb);
    ipcx_mailbox_close(control);
    CHECK_RC(ipcx_mailbox_destroy("f3"), 0);
    CHECK_RC(ipcx_mailbox_destroy("control"), 0);
}

int main(void)
{
    ns = tu_private_ns();
    test_create_fails_cleanly();
    test_open_fails_cleanly();
    test_growth_fails_cleanly();
    return 0;
}
