/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * control.h: the local control socket (control=SOCKET), a Unix stream
 * socket of mode 0600 speaking line-framed JSON-RPC 2.0.
 */

#ifndef SNAPVOL_CONTROL_H
#define SNAPVOL_CONTROL_H

#include <stdint.h>

#include "pool.h"

/* Connections served at once.  One more takes the slot of the client
 * idle longest; if every client is busy with a request, it is answered
 * with an error and closed. */
#define CONTROL_MAX_CLIENTS 32
/* A client with no request for this long is disconnected. */
#define CONTROL_IDLE_TIMEOUT_MS 60000

struct control;

/* Create and bind the socket PATH (absolute) for POOL, whose directory
 * is DIR.  A stale socket at PATH is replaced; any other file, or a
 * socket another process still listens on, is refused.  Starts no
 * thread, so it may run before nbdkit forks.  Errors are reported with
 * nbdkit_error; returns NULL. */
extern struct control *control_listen (const char *path, struct sv_pool *pool,
                                       const char *dir,
                                       uint32_t default_cluster_size)
  __attribute__((nonnull));

/* Start serving: the accept thread and the hold reaper.  Call after
 * nbdkit has forked.  -1 on failure (reported with nbdkit_error). */
extern int control_start (struct control *ctl) __attribute__((nonnull));

/* Stop every thread (a request being served is finished first),
 * release the holds still active, close and unlink the socket, free
 * CTL.  CTL may be NULL or never started. */
extern void control_stop (struct control *ctl);

#endif /* SNAPVOL_CONTROL_H */
