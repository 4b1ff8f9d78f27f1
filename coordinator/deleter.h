/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * deleter.h: the retry queue of deletions left by failed snapshot sets
 * (rows of the catalog's pending_deletions), the undos and set.release
 * releases queued for a provider that was away, and the hold releases by
 * set id owed to providers that could not be reached.  One deleter per
 * provider; see deleter.c for its rounds and backoff.
 */

#ifndef SNAPVOL_DELETER_H
#define SNAPVOL_DELETER_H

#include "coord.h"

/* The maximum wait between rounds, in multiples of deletion-retry. */
#define DELETION_BACKOFF_MAX 32

/* NULL on ENOMEM.  deleters_free drops what is owed, without calls
 * (the catalog keeps the deletions). */
extern struct deleters *deleters_new (struct coord *co)
  __attribute__((nonnull));
extern void deleters_free (struct deleters *dl);

/* PROVIDER has just registered: a round starts from the event loop,
 * after the answer to its registration has gone out, and the backoff
 * starts again from deletion-retry. */
extern void deleters_provider_registered (struct deleters *dl,
                                          const char *provider)
  __attribute__((nonnull));

/* PROVIDER was forgotten: stop retrying its deletions (the caller
 * removed them from the catalog). */
extern void deleters_provider_forgotten (struct deleters *dl,
                                         const char *provider)
  __attribute__((nonnull));

/* A set's deletion on PROVIDER failed and was queued in the catalog:
 * retry it while the provider stays connected. */
extern void deleters_deletion_queued (struct deleters *dl,
                                      const char *provider)
  __attribute__((nonnull));

/* PROVIDER may hold, under an id never learnt, for SET_ID, no longer in
 * progress: hold.release by set id at its next round (in memory only:
 * a restart leaves it to the hold's lease). */
extern void deleters_owe_release (struct deleters *dl, const char *provider,
                                  const char *set_id)
  __attribute__((nonnull));

/* The undo set id of the set revert running now (NULL: none): its
 * queued undos are left to it (deleter.c's design notes). */
extern void deleters_running_undo (struct deleters *dl,
                                   const char *undo_set_id)
  __attribute__((nonnull (1)));

#endif /* SNAPVOL_DELETER_H */
