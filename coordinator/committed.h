/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * committed.h: what a requester does with committed snapshot sets and
 * their snapshots (docs/protocol.md, Part 2): the changed ranges of a
 * volume, forwarded to its provider (snapshot.diff), the pairs of
 * snapshots to diff between two sets (set.diff), and holds on a whole
 * set (set.hold, set.release).
 *
 * In the set layer, beside set.c: it reads the catalog, and reaches
 * providers through conn.c (one call) and fanout.c (a call to each
 * provider of a set).  Nothing here blocks but catalog reads.  Each
 * function takes PARAMS already checked against its method's table in
 * methods.c (borrowed); a deferred answer goes to TOK.
 */

#ifndef SNAPVOL_COMMITTED_H
#define SNAPVOL_COMMITTED_H

#include <jansson.h>

#include "conn.h"
#include "coord.h"

/* snapshot.diff: "volume" is "PROVIDER/VOLUME"; the other members are
 * checked here with the providers' own table (proto_snapshot_diff_params);
 * "from" and "to" may be ids of committed sets, resolved to the set's
 * snapshot of the volume.  The provider's answer goes to TOK, its
 * "volume" made "PROVIDER/VOLUME".  -1 with E set if nothing was
 * called. */
extern int committed_snapshot_diff (struct coord *co, json_t *params,
                                    struct reply_token tok,
                                    struct rpcerr *e)
  __attribute__((nonnull (1, 2, 4)));

/* set.diff: the result (a new reference), or NULL with E set. */
extern json_t *committed_set_diff (struct coord *co, json_t *params,
                                   struct rpcerr *e)
  __attribute__((nonnull (1, 2, 3)));

/* set.hold and set.release: snapshot.hold or snapshot.release with the
 * set id on every provider of the set; the answer goes to TOK (for a
 * set.release whose providers are all away, before the call returns).
 * set.release queues the release in the catalog for each provider not
 * connected instead of calling it.  -1 with E set if nothing was
 * called. */
extern int committed_set_hold (struct coord *co, json_t *params,
                               struct reply_token tok, struct rpcerr *e)
  __attribute__((nonnull (1, 2, 4)));
extern int committed_set_release (struct coord *co, json_t *params,
                                  struct reply_token tok, struct rpcerr *e)
  __attribute__((nonnull (1, 2, 4)));

#endif /* SNAPVOL_COMMITTED_H */
