/*
 * test_mailbox_perm.c - the kernel's permission checks guard mailboxes.
 *
 * Root creates mailboxes with various modes; a forked child that has become
 * another user (uid/gid 65534) may open exactly those the mode admits, and
 * what it cannot open it can neither stat (without read permission) nor
 * destroy.  Needs root to switch users: skipped (77) otherwise.
 */
#include "testutil.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#define OTHER_UID 65534
#define OTHER_GID 65534

struct expect {
    const char *name;
    int open_rc;       /* expected ipcx_mailbox_open() */
    int stat_rc;       /* expected ipcx_mailbox_stat_name() */
    int destroy_rc;    /* expected ipcx_mailbox_destroy() */
    int in_root_group; /* keep gid 0 as a supplementary group */
};

static void become_other(int in_root_group)
{
    gid_t root_group = 0;
    CHECK(setgroups(in_root_group ? 1 : 0, &root_group) == 0);
    CHECK(setresgid(OTHER_GID, OTHER_GID, OTHER_GID) == 0);
    CHECK(setresuid(OTHER_UID, OTHER_UID, OTHER_UID) == 0);
    CHECK(geteuid() == OTHER_UID);
}

static int child_try(void *arg)
{
    const struct expect *e = arg;
    become_other(e->in_root_group);
    ipcx_mailbox *mb = NULL;
    int rc = ipcx_mailbox_open(e->name, 0, &mb);
    if (rc != e->open_rc) {
        fprintf(stderr, "uid %d open '%s': %d (%s), expected %d\n", OTHER_UID,
                e->name, rc, ipcx_strerror(rc), e->open_rc);
        return 1;
    }
    if (rc == -EACCES) {
        CHECK(mb == NULL);
        CHECK(ipcx_last_error()[0] != '\0');
    }
    if (rc == 0) {
        /* Really usable: send one message the parent checks. */
        const char msg[] = "from nobody";
        CHECK_RC(ipcx_mailbox_send(mb, msg, sizeof msg, IPCX_SEC(10)), 0);
        ipcx_mailbox_info st = tu_stat(mb);
        CHECK(st.uid == 0);
        ipcx_mailbox_close(mb);
    }
    ipcx_mailbox_info st;
    rc = ipcx_mailbox_stat_name(e->name, &st);
    if (rc != e->stat_rc) {
        fprintf(stderr, "uid %d stat_name '%s': %d (%s), expected %d\n",
                OTHER_UID, e->name, rc, ipcx_strerror(rc), e->stat_rc);
        return 1;
    }
    /* The namespace directory is not ours to write in. */
    CHECK_RC(ipcx_mailbox_create("made-by-nobody", NULL), -EACCES);
    rc = ipcx_mailbox_destroy(e->name);
    if (rc != e->destroy_rc) {
        fprintf(stderr, "uid %d destroy '%s': %d (%s), expected %d\n",
                OTHER_UID, e->name, rc, ipcx_strerror(rc), e->destroy_rc);
        return 1;
    }
    return 0;
}

static void create_mode(const char *name, uint32_t mode)
{
    ipcx_mailbox_attr a = tu_attr(4, 64);
    a.mode = mode;
    CHECK_RC(ipcx_mailbox_create(name, &a), 0);
}

static void try_as(const char *name, int open_rc, int stat_rc, int destroy_rc,
                   int in_root_group)
{
    struct expect e = {name, open_rc, stat_rc, destroy_rc, in_root_group};
    int rc = tu_wait(tu_spawn(child_try, &e));
    if (rc != 0) {
        fprintf(stderr, "child for '%s' failed (%d)\n", name, rc);
        exit(1);
    }
    /* Whatever the child could not do left the mailbox as it was. */
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name(name, &st), 0);
    CHECK(st.nopen == 0);
    if (open_rc == 0) {
        ipcx_mailbox *mb = tu_open(name);
        char buf[64];
        CHECK_RC(ipcx_mailbox_recv(mb, buf, sizeof buf, 0), 12);
        CHECK(strcmp(buf, "from nobody") == 0);
        ipcx_mailbox_close(mb);
    } else {
        CHECK(st.depth == 0 && st.sent == 0);
    }
}

int main(void)
{
    const char *ns = tu_private_ns();
    if (geteuid() != 0) {
        fprintf(stderr, "not root: cannot switch users, skipping\n");
        return 77;
    }

    create_mode("private", 0600);
    create_mode("shared", 0666);
    create_mode("readonly", 0644);
    create_mode("group", 0660);

    /* A namespace only root may enter: nothing in it is reachable. */
    CHECK(chmod(ns, 0700) == 0);
    try_as("shared", -EACCES, -EACCES, -EACCES, 0);

    /* Traversable, not writable: the file modes decide. */
    CHECK(chmod(ns, 0711) == 0);
    try_as("private", -EACCES, -EACCES, -EACCES, 0);
    try_as("group", -EACCES, -EACCES, -EACCES, 0);
    try_as("readonly", -EACCES, 0, -EACCES, 0);
    try_as("shared", 0, 0, -EACCES, 0);

    CHECK(chmod(ns, 0755) == 0);
    try_as("private", -EACCES, -EACCES, -EACCES, 0);
    try_as("shared", 0, 0, -EACCES, 0);

    /* Group permission admits a member of the file's group (root's). */
    ipcx_mailbox_info st;
    CHECK_RC(ipcx_mailbox_stat_name("group", &st), 0);
    CHECK(st.mode == 0660);
    CHECK(st.gid == 0);
    try_as("group", 0, 0, -EACCES, 1);
    try_as("private", -EACCES, -EACCES, -EACCES, 1);

    CHECK_RC(ipcx_mailbox_stat_name("made-by-nobody", &st), -ENOENT);

    /* Root sees every one of them still in place. */
    const char *names[] = {"private", "shared", "readonly", "group"};
    for (int i = 0; i < 4; i++) {
        CHECK_RC(ipcx_mailbox_stat_name(names[i], &st), 0);
        CHECK_RC(ipcx_mailbox_destroy(names[i]), 0);
    }
    CHECK(chmod(ns, 0700) == 0);
    return 0;
}
