/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * retain.h: which snapshots of one volume the retention rules keep: a
 * pure function of the rules, the snapshots' creation times and the
 * time now (layer 3; docs/design.md, "Policies").
 *
 * Buckets, all in UTC: day D holds the snapshots created in
 * [D * 86400, (D + 1) * 86400); week W those created from Monday
 * 00:00 of W to the next Monday 00:00 (1970-01-01 was a Thursday, so
 * the week of day D is (D + 3) / 7).  keep_daily N keeps the newest
 * snapshot of each of the days today - N + 1 .. today that has one;
 * keep_weekly the same over weeks.  "Newest" is the latest creation
 * time, and of equal times the later generation.  Snapshots created
 * after NOW (a clock set back) are younger than any age and fall in
 * no earlier bucket: they count as today's.
 */

#ifndef SNAPVOL_RETAIN_H
#define SNAPVOL_RETAIN_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* Why a snapshot is kept: bits of retain_choose's WHY.  0: delete. */
#define RETAIN_LAST    1u
#define RETAIN_YOUNGER 2u
#define RETAIN_DAILY   4u
#define RETAIN_WEEKLY  8u
#define RETAIN_NO_RULE 16u      /* every rule is off: all kept */

struct retain_snap {
  uint64_t created;             /* Unix seconds */
  uint32_t generation;
};

/* Does any rule of R keep anything (is retention on)? */
extern int retain_enabled (const struct sv_retention *r)
  __attribute__((nonnull));

/* For the N snapshots S of one volume, in ascending generation order,
 * set WHY[i] to the rules that keep S[i] at time NOW (0: none does).
 * Allocates nothing, fails never. */
extern void retain_choose (const struct sv_retention *r,
                           const struct retain_snap *s, size_t n,
                           uint64_t now, unsigned *why)
  __attribute__((nonnull (1, 5)));

/* The reason a snapshot of WHY 0 is deleted, for the log and the
 * events: "retention (keep_last 3, keep_daily 7): not among the 3
 * newest, not the newest of its UTC day within 7 days". */
extern void retain_reason (const struct sv_retention *r, char *buf,
                           size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_RETAIN_H */
