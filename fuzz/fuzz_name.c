/*
 * fuzz_name.c - name validation: whatever the bytes, ipcx_name_check()
 * answers, and what it accepts really is a safe file name.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include <ipcx/ns.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name = malloc(size + 1);
    memcpy(name, data, size);
    name[size] = '\0';
    int rc = ipcx_name_check(name);
    if (rc == 0) {
        size_t n = strlen(name);
        FUZZ_CHECK(n >= 1 && n <= IPCX_NAME_MAX);
        FUZZ_CHECK(name[0] != '.');
        FUZZ_CHECK(strchr(name, '/') == NULL);
        FUZZ_CHECK(strspn(name,
                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
                          "WXYZ0123456789._-") == n);
    } else {
        FUZZ_CHECK(rc == -22); /* -EINVAL */
        FUZZ_CHECK(ipcx_last_error()[0] != '\0');
    }
    free(name);
    return 0;
}
