/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * retain.c: the retention rules' choice (layer 3; retain.h says how
 * the buckets are chosen).
 */

#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "retain.h"

#define DAY 86400u

int
retain_enabled (const struct sv_retention *r)
{
  return r->keep_last || r->keep_younger || r->keep_daily || r->keep_weekly;
}

static uint64_t
day_of (uint64_t t)
{
  return t / DAY;
}

/* Monday-based weeks: day 0 (1970-01-01) was a Thursday. */
static uint64_t
week_of (uint64_t t)
{
  return (day_of (t) + 3) / 7;
}

/* Is snapshot I newer than snapshot J? */
static int
newer (const struct retain_snap *s, size_t i, size_t j)
{
  if (s[i].created != s[j].created)
    return s[i].created > s[j].created;
  return s[i].generation > s[j].generation;
}

/* The bucket of snapshot I: BUCKET_OF its creation time, or LAST for
 * a snapshot from the future. */
static uint64_t
bucket (const struct retain_snap *s, size_t i, uint64_t now, uint64_t last,
        uint64_t (*bucket_of) (uint64_t))
{
  return s[i].created > now ? last : bucket_of (s[i].created);
}

/* Mark with BIT the newest snapshot of each bucket (BUCKET_OF) among
 * the COUNT latest buckets up to NOW's.  Creation times ascend with
 * generations unless the clock was set back: then the newest of a
 * bucket is the last of its run in the list, found in one pass from
 * the end.  Otherwise each snapshot is compared with every other
 * (quadratic, only for a list whose clock went back). */
static void
keep_newest_per_bucket (const struct retain_snap *s, size_t n, uint64_t now,
                        uint64_t count, uint64_t (*bucket_of) (uint64_t),
                        unsigned bit, unsigned *why)
{
  uint64_t last = bucket_of (now), first, b, prev = 0;
  int ordered = 1, have_prev = 0;
  size_t i, j;

  if (count == 0 || n == 0)
    return;
  first = last + 1 >= count ? last + 1 - count : 0;
  for (i = 1; i < n && ordered; i++)
    ordered = s[i].created >= s[i - 1].created;
  if (ordered) {
    for (i = n; i-- > 0; ) {
      b = bucket (s, i, now, last, bucket_of);
      if (b >= first && (!have_prev || b != prev))
        why[i] |= bit;
      prev = b;
      have_prev = 1;
    }
    return;
  }
  for (i = 0; i < n; i++) {
    int best = 1;

    b = bucket (s, i, now, last, bucket_of);
    if (b < first)
      continue;
    for (j = 0; j < n && best; j++)
      if (j != i && bucket (s, j, now, last, bucket_of) == b &&
          newer (s, j, i))
        best = 0;
    if (best)
      why[i] |= bit;
  }
}

void
retain_choose (const struct sv_retention *r, const struct retain_snap *s,
               size_t n, uint64_t now, unsigned *why)
{
  size_t i;

  for (i = 0; i < n; i++)
    why[i] = retain_enabled (r) ? 0 : RETAIN_NO_RULE;
  if (!retain_enabled (r))
    return;
  /* The list is in generation order: the last N are the newest. */
  for (i = 0; i < n; i++) {
    if (r->keep_last && n - i <= r->keep_last)
      why[i] |= RETAIN_LAST;
    if (r->keep_younger &&
        (s[i].created >= now || now - s[i].created < r->keep_younger))
      why[i] |= RETAIN_YOUNGER;
  }
  keep_newest_per_bucket (s, n, now, r->keep_daily, day_of, RETAIN_DAILY,
                          why);
  keep_newest_per_bucket (s, n, now, r->keep_weekly, week_of, RETAIN_WEEKLY,
                          why);
}

void
retain_reason (const struct sv_retention *r, char *buf, size_t len)
{
  char rules[160] = "", why[320] = "";
  size_t rl = 0, wl = 0;

#define ADD(b, l, ...) \
  ((l) += snprintf ((b) + (l), sizeof (b) - (l), __VA_ARGS__), \
   (l) = (l) < sizeof (b) ? (l) : sizeof (b) - 1)
  if (r->keep_last) {
    ADD (rules, rl, "%skeep_last %" PRIu32, rl ? ", " : "", r->keep_last);
    ADD (why, wl, "%snot among the %" PRIu32 " newest", wl ? ", " : "",
         r->keep_last);
  }
  if (r->keep_younger) {
    ADD (rules, rl, "%skeep_younger %" PRIu64 " s", rl ? ", " : "",
         r->keep_younger);
    ADD (why, wl, "%solder than %" PRIu64 " s", wl ? ", " : "",
         r->keep_younger);
  }
  if (r->keep_daily) {
    ADD (rules, rl, "%skeep_daily %" PRIu32, rl ? ", " : "", r->keep_daily);
    ADD (why, wl, "%snot the newest of its UTC day within %" PRIu32 " days",
         wl ? ", " : "", r->keep_daily);
  }
  if (r->keep_weekly) {
    ADD (rules, rl, "%skeep_weekly %" PRIu32, rl ? ", " : "", r->keep_weekly);
    ADD (why, wl, "%snot the newest of its week within %" PRIu32 " weeks",
         wl ? ", " : "", r->keep_weekly);
  }
#undef ADD
  snprintf (buf, len, "retention (%s): %s", rules, why);
}
