/* handle.c - handle kinds and the quarantine of closed handles. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/handle.h"

static struct {
    pthread_mutex_t mu;
    void *slot[IPCX__QUARANTINE];
    unsigned next;
} q = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};

int ipcx__handle_check(const void *h, uint32_t magic, const char *what)
{
    if (h == NULL) {
        return ipcx__err(-EINVAL, "NULL %s handle", what);
    }
    /* Relaxed is enough: a handle is not closed while it is in use (each
     * header says so); this catches use after close and mix-ups. */
    uint32_t m = *(const volatile uint32_t *)h;
    if (m == magic) {
        return 0;
    }
    return ipcx__err(-EBADF,
                     m == IPCX__H_CLOSED ? "the %s handle is closed"
                                         : "not a %s handle",
                     what);
}

void ipcx__handle_retire(void *h)
{
    if (h == NULL) {
        return;
    }
    *(volatile uint32_t *)h = IPCX__H_CLOSED;
    pthread_mutex_lock(&q.mu);
    void *old = q.slot[q.next];
    q.slot[q.next] = h;
    q.next = (q.next + 1) % IPCX__QUARANTINE;
    pthread_mutex_unlock(&q.mu);
    free(old);
}
