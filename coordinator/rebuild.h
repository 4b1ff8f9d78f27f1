/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rebuild.h: --rebuild-catalog, the list of committed snapshot sets
 * rebuilt from what the providers still hold (docs/coordinator.md,
 * "Rebuilding the catalog").
 *
 * For a window that starts when the daemon serves, every provider that
 * registers is asked for its snapshots (snapshot.list); when the window
 * ends, every set found that the catalog does not know is recorded
 * committed, oldest first, with the snapshots the providers listed.  A
 * set the catalog already records is never changed.  The daemon serves
 * as usual during and after the window.
 *
 * A layer beside set.c: it uses the registry, conn.c and the catalog,
 * and is told of registrations by main.c.  Nothing here blocks but the
 * catalog writes at the window's end.
 */

#ifndef SNAPVOL_REBUILD_H
#define SNAPVOL_REBUILD_H

#include "coord.h"
#include "registry.h"

/* The bounds of --rebuild-wait, and its default. */
#define REBUILD_WAIT_MIN_MS 100
#define REBUILD_WAIT_MAX_MS (3600 * 1000)
#define REBUILD_WAIT_DEFAULT_MS (60 * 1000)

struct rebuild;

/* Parse --rebuild-wait's DURATION (a number followed by ms, s, m or h,
 * seconds without a unit, as the configuration's durations) into *MS.
 * -1 with a message naming the option and the bound in WHY. */
extern int rebuild_parse_wait (const char *s, unsigned *ms, char *why,
                               size_t whylen)
  __attribute__((nonnull));

/* Start the window of WAIT_MS on CO's event loop (CO's catalog,
 * registry and connections exist).  Logs what the catalog already
 * records.  NULL on ENOMEM (logged). */
extern struct rebuild *rebuild_start (struct coord *co, unsigned wait_ms)
  __attribute__((nonnull));

/* P has just registered: ask it for its snapshots from the event loop,
 * after the answer to its registration, if the window is still open. */
extern void rebuild_provider_registered (struct rebuild *rb,
                                         struct provider *p)
  __attribute__((nonnull));

/* Stop (outstanding calls end with CALL_SHUTDOWN first: conns_free
 * runs before) and free.  A window still open records nothing. */
extern void rebuild_free (struct rebuild *rb);

#endif /* SNAPVOL_REBUILD_H */
