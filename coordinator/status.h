/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * status.h: the answer of coordinator.status, the coordinator's state
 * at one instant for an operator (docs/protocol.md, "coordinator.status").
 *
 * Reads the registry and the catalog, below it, and writes nothing.
 * The coordinator has one thread, so what one call gathers is one
 * instant: no set changes state and no peer comes or goes in between.
 */

#ifndef SNAPVOL_STATUS_H
#define SNAPVOL_STATUS_H

#include <stdint.h>

#include <jansson.h>

#include "coord.h"

/* {"providers", "writers", "sets", "failures"} with the newest NSETS
 * sets (1..PROTO_STATUS_SETS_MAX).  A new reference, or NULL with E
 * set: -32004 if the catalog failed, -32603 out of memory.  Does not
 * block but for the catalog's reads. */
extern json_t *status_get (struct coord *co, int64_t nsets, struct rpcerr *e)
  __attribute__((nonnull));

/* With 'catalog etcd', status_get's answer also holds "role" ("leader"
 * or "follower"), "advertise" (this coordinator's address), "leader"
 * (the leader's address, or null when none is known, then "reason"
 * says why) and, on the leader, "term".  A follower has no catalog
 * and no registry: status_follower answers with those members only.
 * A new reference, or NULL with E set (out of memory). */
extern json_t *status_follower (struct coord *co, struct rpcerr *e)
  __attribute__((nonnull));

#endif /* SNAPVOL_STATUS_H */
