/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * pace.h: long loops of control work that give the CPU back to the
 * threads serving I/O.
 *
 * A space scan (volume.list), a reclaim, a diff or a flatten walks the
 * map for milliseconds on a thread of its own, beside the threads that
 * serve NBD requests.  The scheduler lets a running thread go on to
 * the end of its slice before a thread just woken takes its CPU: on
 * two cores, measured with the scheduler's own trace, a request whose
 * thread woke while two such loops ran waited 3 to 4 ms, and once 14 ms
 * (docs/performance.md, "What the writes wait for: the CPU").  So each
 * such loop calls pace_point between its items: once PACE_NS have
 * passed since the loop last gave way, the thread yields, and a woken
 * request runs at once.  Yielding with nobody waiting is one system
 * call, every PACE_NS.
 *
 * The rule: call pace_point only with no lock held that a request
 * takes (the stripe locks, snap_lock, the dead index's mutex, pool->mu
 * held for writing, a volume's gate).  admin_mu may be held: requests
 * never take it.
 */

#ifndef SNAPVOL_PACE_H
#define SNAPVOL_PACE_H

#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "timespec.h"

#define PACE_NS 200000          /* at most this long between yields */
#define PACE_EVERY 16           /* items between looks at the clock */

struct pace {
  uint64_t next_ns;             /* yield once the clock passes this */
  unsigned items;               /* items since the last look */
};

#define PACE_INIT { 0, 0 }

static inline uint64_t
pace_now_ns (void)
{
  return (uint64_t) timespec_to_ns (timespec_now (CLOCK_MONOTONIC));
}

/* Between two items of a long loop: yield if the loop has had the CPU
 * for PACE_NS since it last gave way (or since its first call). */
static inline void
pace_point (struct pace *p)
{
  uint64_t now;

  if (++p->items < PACE_EVERY)
    return;
  p->items = 0;
  now = pace_now_ns ();
  if (p->next_ns == 0)
    p->next_ns = now + PACE_NS;
  else if (now >= p->next_ns) {
    sched_yield ();
    p->next_ns = pace_now_ns () + PACE_NS;
  }
}

#endif /* SNAPVOL_PACE_H */
