/* ipcx/ipcx.h - the umbrella header: include this one. */
#ifndef IPCX_IPCX_H
#define IPCX_IPCX_H

#include "common.h"
#include "ns.h"
#include "mailbox.h"
#include "region.h"
#include "channel.h"
#include "direct.h"
#include "notify.h"
#include "poll.h"

#endif /* IPCX_IPCX_H */
