/*
 * notify.h - internal: how channels, mailboxes and ipcx_poll() meet the
 * notify mailbox.  Every channel and named-mailbox handle of the process is
 * tracked from attach to close, so that an ipcx_notify opened at any time
 * can watch them all.  The functions are cheap when no notify mailbox is
 * open (a mutex and a list link).
 */
#ifndef IPCX_NOTIFY_NOTIFY_H
#define IPCX_NOTIFY_NOTIFY_H

#include <ipcx/notify.h>

/* After the channel is fully attached / before its descriptors close. */
void ipcx__notify_track_channel(ipcx_channel *ch);
void ipcx__notify_untrack_channel(ipcx_channel *ch);

/* After a named mailbox handle is open / before it is unmapped. */
void ipcx__notify_track_mailbox(ipcx_mailbox *mb);
void ipcx__notify_untrack_mailbox(ipcx_mailbox *mb);

/* For ipcx_poll(): find new events without blocking; 1 if an event is
 * waiting, else 0. */
int ipcx__notify_ready(ipcx_notify *n);

#endif
