/*
 * chanutil.h - what the channel tests share: peers that die with their
 * parent, ports, connecting while a server starts, and step barriers.
 * Every helper fails the test (exit 1) rather than return an error.
 */
#ifndef IPCX_CHANUTIL_H
#define IPCX_CHANUTIL_H

#include <stdatomic.h>

#include "testutil.h"

/* No step of a healthy test waits longer. */
#define TC_BOUND IPCX_SEC(10)

/* tu_spawn(), with the child killed if its parent dies first: a subtest
 * that fails leaves no peer behind to wait out its timeouts. */
pid_t tc_spawn(int (*fn)(void *), void *arg);

/* Listen on NAME with CAPACITY, MAX_MSG and MODE (0: the defaults). */
ipcx_port *tc_listen(const char *name, uint32_t capacity, uint32_t max_msg,
                     uint32_t mode);

/* Connect to NAME, retrying while the port is not there yet. */
ipcx_channel *tc_connect(const char *name);

/* Accept the next client of P, without a check. */
ipcx_channel *tc_accept(ipcx_port *p);

/* Receive on CH and check the message is the string WANT (NUL included). */
void tc_recv_str(ipcx_channel *ch, const char *want, int64_t timeout);

/* Wait (up to 20 s) until *STEP reaches WANT. */
void tc_wait_step(_Atomic int *step, int want);

#endif
