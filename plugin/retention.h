/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * retention.h: the thread that applies the pool's retention policy
 * periodically (retention-interval=SECONDS, default
 * RETENTION_INTERVAL_DEFAULT), besides after every snapshot.
 */

#ifndef SNAPVOL_RETENTION_H
#define SNAPVOL_RETENTION_H

#include "pool.h"

#define RETENTION_INTERVAL_DEFAULT 60   /* seconds */
#define RETENTION_INTERVAL_MAX 86400

struct retention;

/* Start the thread for POOL, every INTERVAL seconds.  NULL after
 * nbdkit_error. */
extern struct retention *retention_start (struct sv_pool *pool,
                                          unsigned interval)
  __attribute__((nonnull));

/* Stop the thread (a pass in progress is finished first) and free R,
 * which may be NULL. */
extern void retention_stop (struct retention *r);

/* The pool's log callback (sv_pool_options.log): each line of what a
 * policy deletes goes to the nbdkit log, as an error line so that it
 * is seen without -v (nbdkit has no level between debug and error). */
extern void retention_log (void *opaque, const char *line);

#endif /* SNAPVOL_RETENTION_H */
