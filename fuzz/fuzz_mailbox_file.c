/*
 * fuzz_mailbox_file.c - a mailbox file whose bytes a peer has changed.
 * Each input picks a valid template file (bounded, rendezvous, unbounded)
 * and patches it: a sequence of (offset, length, bytes) records.  The
 * patched file is then stat-ed, opened and used without blocking.  Opening
 * must refuse what it cannot trust, and nothing may crash, hang or touch
 * memory outside the mapping (the build runs under ASan).
 */
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include <ipcx/ipcx.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
struct templ {
    unsigned char *bytes;
    size_t size;
};

static struct templ templs[3];
static const char *dir;

static void load(struct templ *t, const char *name, uint32_t capacity)
{
    char path[128];
    ipcx_mailbox_attr a;
    ipcx_mailbox_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = 48;
    if (capacity == IPCX_UNBOUNDED) {
        a.max_bytes = 64 * 1024;
    }
    if (ipcx_mailbox_create(name, &a) != 0) {
        abort();
    }
    ipcx_mailbox *mb;
    if (ipcx_mailbox_open(name, 0, &mb) == 0) {
        /* Some traffic, so the template has used slots and segments. */
        char buf[64];
        for (int i = 0; i < 5; i++) {
            ipcx_mailbox_send(mb, "seed-msg", 9, 0);
        }
        ipcx_mailbox_recv(mb, buf, sizeof buf, 0);
        ipcx_mailbox_close(mb);
    }
    snprintf(path, sizeof path, "%s/%s.mbox", dir, name);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    t->size = (size_t)ftell(f);
    rewind(f);
    t->bytes = malloc(t->size);
    if (fread(t->bytes, 1, t->size, f) != t->size) {
        abort();
    }
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    dir = fz_ns_setup(); /* removed at exit */
    load(&templs[0], "bounded", 4);
    load(&templs[1], "rendezvous", 0);
    load(&templs[2], "unbounded", IPCX_UNBOUNDED);
    return 0;
}

/* Apply the input's patches to a copy of the chosen template. */
static unsigned char *patched(const uint8_t *data, size_t size, size_t *len)
{
    const struct templ *t = &templs[data[0] % 3];
    unsigned char *b = malloc(t->size);
    memcpy(b, t->bytes, t->size);
    size_t i = 1;
    while (i + 4 <= size) {
        size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8 |
                      (size_t)data[i + 2] << 16) %
                     t->size;
        size_t n = data[i + 3] % 17;
        i += 4;
        for (size_t k = 0; k < n && i < size && off + k < t->size; k++) {
            b[off + k] = data[i++];
        }
    }
    *len = t->size;
    return b;
}

static void exercise(void)
{
    ipcx_mailbox_info st;
    int rc = ipcx_mailbox_stat_name("f", &st);
    FUZZ_CHECK(rc == 0 || rc == -EPROTO);
    ipcx_mailbox *mb;
    if (ipcx_mailbox_open("f", 0, &mb) != 0) {
        return;
    }
    char buf[64];
    for (int i = 0; i < 4; i++) {
        rc = ipcx_mailbox_send(mb, "fuzz", 5, 0);
        FUZZ_CHECK(rc == 0 || rc < 0);
        long n = ipcx_mailbox_recv(mb, buf, sizeof buf, 0);
        FUZZ_CHECK(n <= (long)sizeof buf);
    }
    ipcx_mailbox_stat(mb, &st);
    ipcx_mailbox_close(mb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t len;
    unsigned char *b = patched(data, size, &len);
    char path[128];
    snprintf(path, sizeof path, "%s/f.mbox", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, b, len) != (ssize_t)len) {
        abort();
    }
    close(fd);
    free(b);
    exercise();
    return 0;
}
