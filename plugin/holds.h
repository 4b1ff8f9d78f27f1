/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * holds.h: leases on the write holds taken through the control socket.
 *
 * The engine keeps no lease of its own (pool_hold in pool.h): this
 * table gives every hold an id and a deadline, and a reaper thread
 * releases the holds whose deadline passed.  Exactly one of commit,
 * release and the reaper ends a given hold.
 */

#ifndef SNAPVOL_HOLDS_H
#define SNAPVOL_HOLDS_H

#include <stddef.h>

#include "pool.h"
#include "proto.h"
#include "uuid.h"

struct holds;

/* What had become of a hold when it was looked up.  HOLD_ACTIVE from
 * holds_take and holds_release means the caller ended it now. */
enum hold_state {
  HOLD_UNKNOWN = 0,     /* no such id (or forgotten long ago) */
  HOLD_ACTIVE,
  HOLD_COMMITTED,       /* taken out for commit */
  HOLD_RELEASED,        /* released by a client */
  HOLD_EXPIRED,         /* its lease ran out; the reaper released it */
};

/* A new, empty table for POOL.  NULL with errno on failure. */
extern struct holds *holds_new (struct sv_pool *pool)
  __attribute__((nonnull));

/* Start the reaper thread, which inherits the caller's signal mask.
 * Must be called after nbdkit has forked.  -1 with errno on failure. */
extern int holds_start (struct holds *holds) __attribute__((nonnull));

/* Stop the reaper, release every hold still active, free the table.
 * No other holds_* call may run at the same time or later. */
extern void holds_free (struct holds *holds);

/* Register HOLD, taken with pool_hold over NVOLUMES volumes, under a
 * fresh id (written to ID) leased for TIMEOUT_MS (1 ..
 * PROTO_HOLD_TIMEOUT_MAX_MS) from now, for the snapshot set SET_ID (NULL:
 * none), which holds_release_set can name.  On failure (-1 with errno)
 * HOLD has been released. */
extern int holds_add (struct holds *holds, struct sv_hold *hold,
                      size_t nvolumes, unsigned timeout_ms,
                      const struct uuid *set_id, char id[UUID_STRLEN + 1])
  __attribute__((nonnull (1, 2, 6)));

/* Take the hold ID out of the table to commit it.  Returns its state:
 * only on HOLD_ACTIVE are *HOLD and *NVOLUMES set, and the caller must
 * then end the hold (pool_hold_commit or pool_hold_release).  A hold
 * whose deadline passed is released here if the reaper has not done
 * so yet, and HOLD_EXPIRED is returned. */
extern enum hold_state holds_take (struct holds *holds, const struct uuid *id,
                                   struct sv_hold **hold, size_t *nvolumes)
  __attribute__((nonnull));

/* Release the hold ID.  Returns its state before the call: HOLD_ACTIVE
 * means it was active and is now released. */
extern enum hold_state holds_release (struct holds *holds,
                                      const struct uuid *id)
  __attribute__((nonnull));

/* Release every active hold taken for the snapshot set SET_ID (a
 * coordinator that never learnt their ids: its hold.begin missed its
 * deadline).  Returns how many were released. */
extern size_t holds_release_set (struct holds *holds,
                                 const struct uuid *set_id)
  __attribute__((nonnull));

#endif /* SNAPVOL_HOLDS_H */
