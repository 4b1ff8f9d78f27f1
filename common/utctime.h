/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * utctime.h: a Unix time as ISO 8601 in UTC, the way export
 * descriptions show when a volume or snapshot was created.
 *
 * Header only, so that the engine (which does not link libsvcommon)
 * and the plugin share it.
 */

#ifndef SNAPVOL_UTCTIME_H
#define SNAPVOL_UTCTIME_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Room for "2026-01-31T12:00:00Z" and its NUL. */
#define UTCTIME_BUFSIZE 21

/* T (seconds since the epoch, as stored on disk) into BUF of LEN bytes
 * as "2026-01-31T12:00:00Z".  A time that has no calendar date (its
 * year does not fit gmtime's) or does not fit LEN is written "@T", the
 * seconds as date(1)'s @ syntax takes them, truncated to LEN.  Never
 * fails. */
static inline void __attribute__((unused, nonnull))
utctime_format (uint64_t t, char *buf, size_t len)
{
  time_t tt = (time_t) t;
  struct tm tm;

  if (gmtime_r (&tt, &tm) == NULL ||
      strftime (buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf (buf, len, "@%" PRIu64, t);
}

#endif /* SNAPVOL_UTCTIME_H */
