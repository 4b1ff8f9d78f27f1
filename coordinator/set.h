/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * set.h: snapshot sets: set.create (its protocol runs in setfsm.c),
 * set.revert (revert.c), set.delete, and the deletions left over from
 * failed sets.  set.c and revert.c share set-internal.h, which no
 * other file includes.
 */

#ifndef SNAPVOL_SET_H
#define SNAPVOL_SET_H

#include <jansson.h>

#include "conn.h"
#include "coord.h"
#include "registry.h"
#include "setfsm.h"             /* SET_CALL_TIMEOUT_MS */

/* set.create requests waiting behind the running one. */
#define SETS_QUEUE_MAX 64

extern struct sets *sets_new (struct coord *co) __attribute__((nonnull));
/* Frees the running set and the queue without answering them (the
 * connections are gone).  Call after conns_free. */
extern void sets_free (struct sets *sets);

/* set.create, with PARAMS checked against the method's table.  The set
 * is queued; the answer goes to TOK when it has committed or failed.
 * -1 with E set if it cannot be queued. */
extern int sets_create (struct sets *sets, json_t *params,
                        struct reply_token tok, struct rpcerr *e)
  __attribute__((nonnull));

/* set.revert of SET_ID (lower case), a committed set: every volume of
 * it reverted to its snapshot, on every provider, all or none
 * (docs/coordinator.md, "Reverting a set"), FORCE as volume.revert's.
 * Queued with the sets; the answer goes to TOK.  -1 with E set if it
 * cannot be queued (unknown set, not committed, queue full). */
extern int sets_revert (struct sets *sets, const char *set_id, bool force,
                        struct reply_token tok, struct rpcerr *e)
  __attribute__((nonnull));

/* set.delete of SET_ID (lower case); the answer goes to TOK.  -1 with E
 * set if it cannot start (unknown set, a provider not connected). */
extern int sets_delete (struct sets *sets, const char *set_id,
                        struct reply_token tok, struct rpcerr *e)
  __attribute__((nonnull));

/* Set retention (keep-sets): delete, through sets_delete with no one
 * to answer, every committed set older than the newest keep-sets
 * whose catalog records no unexpired hold; what happens is logged.
 * Called after each committed set; does nothing without keep-sets. */
extern void sets_retain (struct sets *sets) __attribute__((nonnull));

/* P has just registered: do the deletions waiting for it, after the
 * answer to its registration has gone out.  Deletions that fail are
 * retried while P stays connected, after the configured deletion-retry,
 * doubling after each failure. */
extern void sets_provider_registered (struct sets *sets, struct provider *p)
  __attribute__((nonnull));

/* The provider NAME was forgotten (provider.forget): stop retrying its
 * deletions (the caller removed them from the catalog). */
extern void sets_provider_forgotten (struct sets *sets, const char *name)
  __attribute__((nonnull));

/* The connection of the writer (WRITER true) or provider NAME has
 * closed.  If it takes part in the running set, the set is aborted
 * later, from the event loop, when it relied on that peer: a frozen
 * writer (it thaws on its own) or a provider that holds, before the
 * snapshots are taken.  Never re-enters the set machine. */
extern void sets_peer_gone (struct sets *sets, bool writer, const char *name)
  __attribute__((nonnull));

/* How many sets (set.create or set.revert) are running (0 or 1) and
 * waiting in the queue, for the metrics. */
extern void sets_counts (const struct sets *sets, size_t *running,
                         size_t *queued)
  __attribute__((nonnull));

/* The coordinator is stopping: record the running set failed (its
 * deletions queued), so it does not wait for a restart to be. */
extern void sets_shutdown (struct sets *sets) __attribute__((nonnull));

#endif /* SNAPVOL_SET_H */
