#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ipcx/common.h>

#include "core/error.h"

/* One message per thread: callers on different threads never see each
 * other's failures. */
static __thread char last_error[512];

int ipcx__err(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return err;
}

void ipcx__err_clear(void)
{
    last_error[0] = '\0';
}

const char *ipcx_last_error(void)
{
    return last_error;
}

const char *ipcx_version(void)
{
    return "0.1.0";
}

const char *ipcx_strerror(int err)
{
    if (err == 0) {
        return "Success";
    }
    if (err == INT_MIN) {
        return "Unknown error"; /* -INT_MIN does not exist */
    }
    if (err < 0) {
        err = -err;
    }
    /* strerrordesc_np returns static text and NULL for unknown codes, unlike
     * strerror() which may write a shared buffer. */
    const char *s = strerrordesc_np(err);
    return s != NULL ? s : "Unknown error";
}
