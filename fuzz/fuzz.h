/* fuzz.h - what the fuzz targets share. */
#ifndef IPCX_FUZZ_H
#define IPCX_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Unlike assert(), never compiled out: a broken promise must crash. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                           \
        }                                                                      \
    } while (0)

/*
 * Make the process fit for the library: a private namespace directory,
 * /dev/shm/ipcx-fuzz-TARGET-PID (IPCX_DIR), removed when the run ends with
 * exit() (libFuzzer's normal end); what runs that crashed left is removed
 * by the next run (fuzzns.c).  No spinning (IPCX_SPIN_NS=0).  Returns the
 * directory; aborts if it cannot be made.  Call once, from
 * LLVMFuzzerInitialize().
 */
const char *fz_ns_setup(void);

#endif
