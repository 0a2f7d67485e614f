/*
 * test_direct.c - direct communication (M4): inboxes addressed by pid,
 * receive_from(P) and receive_any() with kernel-verified senders.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include <dirent.h>

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

static int nothing(void *arg)
{
    (void)arg;
    return 0;
}

/* Children learn the parent's pid before it opens its inbox, and wait for
 * the inbox file to exist. */
static pid_t parent;

static void wait_inbox(pid_t pid)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%d.inbox", getenv("IPCX_DIR"), (int)pid);
    for (int i = 0; i < 5000 && access(path, F_OK) != 0; i++) {
        tu_pause_ms(1);
    }
    CHECK(access(path, F_OK) == 0);
}

/* Send N numbered messages "<tag> <i>" to the parent. */
static int sender(void *arg)
{
    const char *tag = arg;
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    wait_inbox(parent);
    for (int i = 0; i < 200; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "%s %d", tag, i);
        CHECK_RC(ipcx_send_to(ib, parent, msg, (size_t)n, IPCX_SEC(10)), 0);
    }
    ipcx_inbox_close(ib);
    return 0;
}

/* receive_any names each sender as the kernel saw it; each sender's
 * messages arrive in order, exactly once, after it has exited too. */
static void test_any_reports_sender(void)
{
    parent = getpid();
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    pid_t a = tu_spawn(sender, "a"), b = tu_spawn(sender, "b");
    int next[2] = {0, 0};
    for (int k = 0; k < 400; k++) {
        char buf[64];
        ipcx_peer from;
        long n = ipcx_receive_any(ib, buf, sizeof buf - 1, &from, IPCX_SEC(10));
        CHECK(n > 0);
        buf[n] = '\0';
        CHECK(from.pid == a || from.pid == b);
        CHECK(from.uid == getuid() && from.gid == getgid());
        int w = from.pid == a ? 0 : 1, i = -1;
        char tag;
        CHECK(sscanf(buf, "%c %d", &tag, &i) == 2);
        CHECK(tag == (w == 0 ? 'a' : 'b')); /* the sender named is real */
        CHECK(i == next[w]);                /* FIFO per sender */
        next[w]++;
    }
    CHECK(tu_wait(a) == 0 && tu_wait(b) == 0);
    CHECK_RC(ipcx_receive_any(ib, NULL, 0, NULL, 0), -EAGAIN);
    ipcx_inbox_close(ib);
}

/* receive_from(P) takes only P's messages; others stay queued. */
static void test_from_selects(void)
{
    parent = getpid();
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    pid_t a = tu_spawn(sender, "a");
    CHECK(tu_wait(a) == 0);
    pid_t b = tu_spawn(sender, "b");
    char buf[64];
    for (int i = 0; i < 200; i++) {
        long n = ipcx_receive_from(ib, b, buf, sizeof buf - 1, IPCX_SEC(10));
        CHECK(n > 0);
        buf[n] = '\0';
        char want[64];
        snprintf(want, sizeof want, "b %d", i);
        CHECK(strcmp(buf, want) == 0);
    }
    CHECK(tu_wait(b) == 0);
    CHECK_RC(ipcx_receive_from(ib, b, buf, sizeof buf, 0), -EAGAIN);
    /* a's 200 are all still there, in order. */
    for (int i = 0; i < 200; i++) {
        long n = ipcx_receive_from(ib, a, buf, sizeof buf - 1, 0);
        CHECK(n > 0);
        buf[n] = '\0';
        char want[64];
        snprintf(want, sizeof want, "a %d", i);
        CHECK(strcmp(buf, want) == 0);
    }
    ipcx_inbox_close(ib);
}

/* Sizes: empty messages, the maximum, -EMSGSIZE leaves it first. */
static void test_sizes(void)
{
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    static char big[IPCX_INBOX_MSG_MAX + 1];
    memset(big, 'x', sizeof big);
    pid_t me = getpid();
    CHECK_RC(ipcx_send_to(ib, me, big, sizeof big, 0), -EMSGSIZE);
    CHECK_RC(ipcx_send_to(ib, me, "", 0, IPCX_SEC(1)), 0);
    CHECK_RC(ipcx_send_to(ib, me, big, IPCX_INBOX_MSG_MAX, IPCX_SEC(1)), 0);
    char small[8];
    ipcx_peer from;
    CHECK_RC(ipcx_receive_any(ib, small, sizeof small, &from, 0), 0);
    CHECK(from.pid == me);
    CHECK_RC(ipcx_receive_any(ib, small, sizeof small, NULL, 0), -EMSGSIZE);
    static char got[IPCX_INBOX_MSG_MAX];
    CHECK_RC(ipcx_receive_from(ib, me, got, sizeof got, 0), IPCX_INBOX_MSG_MAX);
    CHECK(memcmp(got, big, sizeof got) == 0);
    ipcx_inbox_close(ib);
}

/* Errors: no such inbox, one inbox per process, bad arguments, timeouts. */
static void test_errors(void)
{
    ipcx_inbox *ib, *again;
    CHECK_RC(ipcx_inbox_open(01000, &ib), -EINVAL);
    CHECK_RC(ipcx_inbox_open(0, NULL), -EINVAL);
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_inbox_open(0, &again), -EEXIST);
    pid_t dead = tu_spawn(nothing, NULL);
    CHECK(tu_wait(dead) == 0);
    CHECK_RC(ipcx_send_to(ib, dead, "x", 1, 0), -ESRCH);
    CHECK_RC(ipcx_send_to(ib, 0, "x", 1, 0), -EINVAL);
    CHECK_RC(ipcx_send_to(NULL, getpid(), "x", 1, 0), -EINVAL);
    CHECK_RC(ipcx_send_to(ib, getpid(), NULL, 1, 0), -EINVAL);
    CHECK_RC(ipcx_send_to(ib, getpid(), "x", 1, -1), -EINVAL);
    CHECK_RC(ipcx_receive_from(ib, 0, NULL, 0, 0), -EINVAL);
    CHECK_RC(ipcx_receive_any(NULL, NULL, 0, NULL, 0), -EINVAL);
    long long t0 = tu_now_ns();
    CHECK_RC(ipcx_receive_any(ib, NULL, 0, NULL, IPCX_MSEC(50)), -ETIMEDOUT);
    CHECK(tu_now_ns() - t0 >= 45000000);
    CHECK_RC(ipcx_inbox_close(NULL), 0);
    ipcx_inbox_close(ib);
}

static int die_with_inbox(void *arg)
{
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    int *fd = arg;
    char c = 'r';
    CHECK(write(fd[1], &c, 1) == 1);
    pause(); /* killed */
    return 0;
}

/* A receiver killed with SIGKILL: its stale inbox answers -ESRCH, and a
 * new process may open an inbox under a reused name. */
static void test_dead_receiver(void)
{
    int fd[2];
    CHECK(pipe(fd) == 0);
    pid_t r = tu_spawn(die_with_inbox, fd);
    char c;
    CHECK(read(fd[0], &c, 1) == 1);
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_send_to(ib, r, "hello", 5, 0), 0); /* queued in the link */
    kill(r, SIGKILL);
    CHECK(tu_wait(r) == 128 + SIGKILL);
    CHECK_RC(ipcx_send_to(ib, r, "again", 5, IPCX_SEC(1)), -ESRCH);
    ipcx_inbox_close(ib);
}

/* Many links and close with messages pending leak no descriptors. */
static void test_no_fd_leak(void)
{
    ipcx_inbox *ib;
    int before = count_fds();
    for (int round = 0; round < 200; round++) {
        CHECK_RC(ipcx_inbox_open(0, &ib), 0);
        CHECK_RC(ipcx_send_to(ib, getpid(), "m", 1, 0), 0);
        if (round % 2 == 0) {
            CHECK_RC(ipcx_receive_any(ib, NULL, 0, NULL, 0), -EMSGSIZE);
        }
        ipcx_inbox_close(ib);
    }
    CHECK(count_fds() == before);
}

/* ---- who has an inbox ---- */

struct pids {
    pid_t v[16];
    int n;
};

static int collect(const char *name, void *arg)
{
    struct pids *l = arg;
    CHECK(l->n < 16);
    l->v[l->n++] = (pid_t)atoi(name);
    return 0;
}

static int listed(const struct pids *l, pid_t pid)
{
    for (int i = 0; i < l->n; i++) {
        if (l->v[i] == pid) {
            return 1;
        }
    }
    return 0;
}

static int stop_at_first(const char *name, void *arg)
{
    (*(int *)arg)++;
    return 42;
}

/* ipcx_inbox_alive() tells an open inbox from a dead process's leftover
 * (by the kernel's lock, not the pid); ipcx_inbox_list() lists both. */
static void test_alive_and_list(void)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/alive", getenv("IPCX_DIR"));
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(setenv("IPCX_DIR", dir, 1) == 0);
    struct pids l = {.n = 0};
    CHECK_RC(ipcx_inbox_list(collect, &l), 0);
    CHECK(l.n == 0);

    int fd[2];
    CHECK(pipe(fd) == 0);
    pid_t dead = tu_spawn(die_with_inbox, fd);
    char c;
    CHECK(read(fd[0], &c, 1) == 1);
    CHECK_RC(ipcx_inbox_alive(dead), 1); /* another process's, open */
    kill(dead, SIGKILL);
    CHECK(tu_wait(dead) == 128 + SIGKILL);
    CHECK_RC(ipcx_inbox_alive(dead), 0); /* its file is left, dead */

    pid_t me = getpid();
    CHECK_RC(ipcx_inbox_alive(me), -ENOENT);
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_inbox_alive(me), 1);
    CHECK_RC(ipcx_inbox_list(collect, &l), 0);
    CHECK(l.n == 2 && listed(&l, me) && listed(&l, dead));
    int calls = 0;
    CHECK_RC(ipcx_inbox_list(stop_at_first, &calls), 42);
    CHECK(calls == 1);
    CHECK_RC(ipcx_inbox_list(NULL, NULL), -EINVAL);
    CHECK_RC(ipcx_inbox_alive(0), -EINVAL);
    CHECK_RC(ipcx_inbox_alive(-1), -EINVAL);

    /* A mailbox named like a pid is no inbox, nor is a lone lock file. */
    ipcx_mailbox_attr ma = tu_attr(4, 64);
    CHECK_RC(ipcx_mailbox_create("12345", &ma), 0);
    snprintf(path, sizeof path, "%s/.99999.inbox.lock", dir);
    int lf = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(lf >= 0);
    close(lf);
    CHECK_RC(ipcx_inbox_alive(99999), -ENOENT);
    /* Nor is a NAME.inbox whose NAME is no pid (made by hand). */
    static const char *const not_pids[] = {"foo", "007", "99999999999", "1a"};
    for (size_t i = 0; i < sizeof not_pids / sizeof *not_pids; i++) {
        snprintf(path, sizeof path, "%s/%s.inbox", dir, not_pids[i]);
        lf = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        CHECK(lf >= 0);
        close(lf);
    }
    l.n = 0;
    CHECK_RC(ipcx_inbox_list(collect, &l), 0);
    CHECK(l.n == 2);

    /* Closing removes the inbox and its lock file. */
    ipcx_inbox_close(ib);
    CHECK_RC(ipcx_inbox_alive(me), -ENOENT);
    snprintf(path, sizeof path, "%s/.%d.inbox.lock", dir, (int)me);
    CHECK(access(path, F_OK) < 0 && errno == ENOENT);
    /* Live means that someone holds the write lock (here: we, by hand). */
    snprintf(path, sizeof path, "%s/.%d.inbox.lock", dir, (int)dead);
    lf = open(path, O_RDWR | O_CLOEXEC);
    CHECK(lf >= 0);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    CHECK(fcntl(lf, F_OFD_SETLK, &fl) == 0);
    CHECK_RC(ipcx_inbox_alive(dead), 1);
    /* A read lock (anyone who may open the file may take one) does not
     * pass for a live owner. */
    fl.l_type = F_RDLCK;
    CHECK(fcntl(lf, F_OFD_SETLK, &fl) == 0);
    CHECK_RC(ipcx_inbox_alive(dead), 0);
    close(lf);
}

/* A leftover lock file that no live owner holds does not keep a process
 * from its inbox, even if someone holds a read lock on it; one that is
 * held (another pid namespace's process of that pid) does. */
static void test_lock_leftovers(void)
{
    char path[512];
    pid_t me = getpid();
    snprintf(path, sizeof path, "%s/.%d.inbox.lock", getenv("IPCX_DIR"),
             (int)me);
    int lf = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    CHECK(lf >= 0);
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
    CHECK(fcntl(lf, F_OFD_SETLK, &fl) == 0);
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_inbox_alive(me), 1);
    CHECK_RC(ipcx_send_to(ib, me, "m", 1, 0), 0);
    CHECK_RC(ipcx_receive_from(ib, me, NULL, 0, IPCX_SEC(10)), -EMSGSIZE);
    ipcx_inbox_close(ib);
    close(lf);

    lf = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    CHECK(lf >= 0);
    fl.l_type = F_WRLCK;
    CHECK(fcntl(lf, F_OFD_SETLK, &fl) == 0);
    ib = NULL;
    CHECK_RC(ipcx_inbox_open(0, &ib), -EEXIST);
    CHECK(ib == NULL);
    close(lf); /* let go: the name is free again */
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    ipcx_inbox_close(ib);
    CHECK(access(path, F_OK) < 0 && errno == ENOENT);
}

/* ---- fork() without exec ---- */

/* Is descriptor FD /dev/null? */
static int is_devnull(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) {
        return 0;
    }
    target[n] = '\0';
    return strcmp(target, "/dev/null") == 0;
}

/* Descriptors of this process that are /dev/null. */
static int count_devnull(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        n += is_devnull(fd);
    }
    return n;
}

struct sh_fork {
    _Atomic pid_t child;
    _Atomic int child_ok; /* 1: all the child's checks passed */
};
static struct sh_fork *shf;

/* In the forked child: on failure, say what failed, tell the test (which
 * waits for child_ok) and exit. */
#define CHILD_CHECK(cond)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: forked child: CHECK failed: %s\n",         \
                    __FILE__, __LINE__, #cond);                                \
            atomic_store(&shf->child_ok, -1);                                  \
            _exit(1);                                                          \
        }                                                                      \
    } while (0)

/* The forked child of a receiver: its inherited inbox is dead (-EBADF);
 * its socket, lock and link are /dev/null now; closing it leaves the
 * parent's alone; it may open one of its own.  Then it lives on until
 * LIFE[0] reads EOF. */
static void fork_child(ipcx_inbox *ib, int devnull_before, const int life[2])
{
    close(life[1]);
    pid_t me = getpid(), pa = getppid();
    char buf[8];
    CHILD_CHECK(ipcx_send_to(ib, pa, "x", 1, 0) == -EBADF);
    long long t0 = tu_now_ns();
    CHILD_CHECK(ipcx_receive_any(ib, buf, sizeof buf, NULL, IPCX_SEC(10)) ==
                -EBADF);
    CHILD_CHECK(tu_now_ns() - t0 < IPCX_SEC(5)); /* at once, not waiting */
    CHILD_CHECK(ipcx_receive_from(ib, pa, buf, sizeof buf, 0) == -EBADF);
    /* The socket, the lock and the link the parent had accepted. */
    CHILD_CHECK(count_devnull() - devnull_before == 3);
    CHILD_CHECK(ipcx_inbox_close(ib) == 0);
    CHILD_CHECK(ipcx_inbox_alive(pa) == 1);
    ipcx_inbox *own = NULL;
    CHILD_CHECK(ipcx_inbox_open(0, &own) == 0);
    CHILD_CHECK(ipcx_inbox_alive(me) == 1);
    CHILD_CHECK(ipcx_inbox_close(own) == 0);
    CHILD_CHECK(ipcx_inbox_alive(pa) == 1);
    atomic_store(&shf->child, me);
    atomic_store(&shf->child_ok, 1);
    char c;
    while (read(life[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
}

/* Receives one message (so a link is accepted), forks, then waits to be
 * killed. */
static int forking_receiver(void *arg)
{
    const int *life = arg;
    ipcx_inbox *ib;
    CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0);
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    char buf[16];
    CHECK_RC(ipcx_receive_any(ib, buf, sizeof buf, NULL, IPCX_SEC(10)), 5);
    CHECK(memcmp(buf, "first", 5) == 0);
    int devnull_before = count_devnull();
    fflush(NULL);
    pid_t c = fork();
    CHECK(c >= 0);
    if (c == 0) {
        fork_child(ib, devnull_before, life);
    }
    close(life[0]);
    close(life[1]);
    pause(); /* SIGKILLed */
    return 1;
}

/* A receiver that forks a child (no exec) and then dies is seen dead at
 * once while the child lives on: a sender whose link it had accepted, and
 * a new one, get -ESRCH rather than messages that vanish into the child's
 * copy of the link; ipcx_inbox_alive() says dead.  Before the fork guard,
 * the child kept the listening socket and the accepted link. */
static void test_fork_receiver_dies(void)
{
    shf = mmap(NULL, sizeof *shf, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shf != MAP_FAILED);
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    int life[2];
    CHECK(pipe2(life, O_CLOEXEC) == 0);
    pid_t r = tu_spawn(forking_receiver, life);
    close(life[0]);
    wait_inbox(r);
    ipcx_inbox *ib;
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_send_to(ib, r, "first", 5, IPCX_SEC(10)), 0);
    for (int i = 0; i < 10000 && atomic_load(&shf->child_ok) == 0; i++) {
        tu_pause_ms(1);
    }
    CHECK(atomic_load(&shf->child_ok) == 1);
    pid_t c = atomic_load(&shf->child);
    CHECK(kill(r, SIGKILL) == 0);
    CHECK(tu_wait(r) == 128 + SIGKILL);
    CHECK(kill(c, 0) == 0); /* alive, holding what fork() gave it */

    long long t0 = tu_now_ns();
    int rc = ipcx_send_to(ib, r, "after", 5, IPCX_SEC(5));
    printf("send over the old link to a dead receiver whose child lives: "
           "%s after %lld ms\n",
           ipcx_strerror(rc), (tu_now_ns() - t0) / 1000000);
    CHECK_RC(rc, -ESRCH);
    CHECK_RC(ipcx_inbox_alive(r), 0);
    ipcx_inbox_close(ib);
    /* A sender with no link yet: refused too. */
    CHECK_RC(ipcx_inbox_open(0, &ib), 0);
    CHECK_RC(ipcx_send_to(ib, r, "new", 3, IPCX_SEC(5)), -ESRCH);
    ipcx_inbox_close(ib);
    CHECK(kill(c, 0) == 0);
    close(life[1]);
    CHECK(tu_wait(c) == 0);
}

int main(void)
{
    tu_private_ns();
    TU_RUN(test_any_reports_sender);
    TU_RUN(test_from_selects);
    TU_RUN(test_sizes);
    TU_RUN(test_errors);
    TU_RUN(test_dead_receiver);
    TU_RUN(test_no_fd_leak);
    TU_RUN(test_alive_and_list);
    TU_RUN(test_lock_leftovers);
    TU_RUN(test_fork_receiver_dies);
    return tu_failures > 0;
}
