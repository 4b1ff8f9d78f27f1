/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * listener.h: the coordinator's listening sockets.
 *
 * Owns the listening descriptors and their accept events.  Accepted
 * sockets go to the transport (conn_accept), which owns them from
 * then on; when accept(2) runs out of descriptors it asks the
 * transport to shed connections (conns_shed) and pauses accepting for
 * a moment.  Callers bind before the daemon forks, start once the
 * event loop and the connection table exist, and free at shutdown.
 */

#ifndef SNAPVOL_LISTENER_H
#define SNAPVOL_LISTENER_H

#include <netdb.h>

#include "coord.h"

/* Bind and listen on every "listen" address of CO->conf, before the
 * daemon forks, so that an address in use is reported on the terminal.
 * -1 after logging "FILE:LINE: listen ...: bind: ..." for each address
 * that fails.  Sets CO->listeners. */
extern int listeners_bind (struct coord *co) __attribute__((nonnull));
/* Bind AI's address (SO_REUSEADDR; IPv6 only for an IPv6 address) and
 * listen with BACKLOG, non-blocking and close-on-exec: the socket, or
 * -1 with errno.  The metrics endpoint binds through it too. */
extern int listener_bind_one (const struct addrinfo *ai, int backlog)
  __attribute__((nonnull));

/* Start accepting on CO->base; -1 on failure (logged). */
extern int listeners_start (struct coord *co) __attribute__((nonnull));

extern void listeners_free (struct listeners *lis);

#endif /* SNAPVOL_LISTENER_H */
