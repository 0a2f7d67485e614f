/* error.h - internal: setting the per-thread detailed error message. */
#ifndef IPCX_CORE_ERROR_H
#define IPCX_CORE_ERROR_H

/*
 * Record a detailed message for the calling thread and return ERR (a
 * negative errno), so failures read `return ipcx__err(-EINVAL, "...")`.
 */
int ipcx__err(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Forget the calling thread's last message (start of a public call). */
void ipcx__err_clear(void);

#endif
