/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * lockorder.c: the check of the engine's lock order (see lockorder.h),
 * called by the wrappers only in a build with SV_LOCK_ORDER_CHECK.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "lockorder.h"

static const char *const rank_name[LOCK_RANKS] = {
  [LOCK_POOL] = "pool->mu",
  [LOCK_ADMIN] = "vol->admin_mu",
  [LOCK_IDS] = "pool->ids_mu",
  [LOCK_SNAP] = "vol->snap_lock",
  [LOCK_STRIPE] = "vol->stripe",
  [LOCK_RESV] = "journal.resv_mu",
};

static __thread unsigned held[LOCK_RANKS];

void
lockorder_acquire (enum lock_rank rank, const char *file, int line)
{
  int r;

  for (r = rank + 1; r < LOCK_RANKS; r++)
    if (held[r] > 0) {
      fprintf (stderr, "%s:%d: lock order violated: taking %s while"
               " holding %s (docs/design.md, Concurrency)\n", file, line,
               rank_name[rank], rank_name[r]);
      abort ();
    }
  held[rank]++;
}

void
lockorder_release (enum lock_rank rank)
{
  if (held[rank] == 0) {
    fprintf (stderr, "lock order: %s released but not held\n",
             rank_name[rank]);
    abort ();
  }
  held[rank]--;
}

