/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * listener.h: the coordinator's listening sockets.
 */

#ifndef SNAPVOL_LISTENER_H
#define SNAPVOL_LISTENER_H

#include "coord.h"

/* Bind and listen on every "listen" address of CO->conf, before the
 * daemon forks, so that an address in use is reported on the terminal.
 * -1 after logging "FILE:LINE: listen ...: bind: ..." for each address
 * that fails.  Sets CO->listeners. */
extern int listeners_bind (struct coord *co) __attribute__((nonnull));

/* Start accepting on CO->base; -1 on failure (logged). */
extern int listeners_start (struct coord *co) __attribute__((nonnull));

extern void listeners_free (struct listeners *lis);

#endif /* SNAPVOL_LISTENER_H */
