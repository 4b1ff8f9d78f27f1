/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * benchutil.c: clocks, statistics, numbers and errors shared by the
 * in-process benchmark programs of bench/.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "timespec.h"

uint64_t
bu_now_ns (void)
{
  return (uint64_t) timespec_to_ns (timespec_now (CLOCK_MONOTONIC));
}

void
bu_sleep_until (uint64_t deadline_ns)
{
  struct timespec ts = timespec_from_ns (deadline_ns);

  while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

void
bu_die (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "%s: ", program_invocation_short_name);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (EXIT_FAILURE);
}

uint64_t
bu_parse_u64 (const char *name, const char *s)
{
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull (s, &end, 10);
  if (*s < '0' || *s > '9' || *end != '\0' || errno != 0)
    bu_die ("%s: '%s' is not a non-negative decimal integer", name, s);
  return v;
}

uint64_t
bu_rand (uint64_t *state)
{
  uint64_t x = *state;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * UINT64_C (0x2545F4914F6CDD1D);
}

void
bu_samples_add (struct bu_samples *s, double x)
{
  if (double_vector_append (&s->v, x) == -1)
    bu_die ("cannot store sample %zu: %m", s->v.len + 1);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

double
bu_percentile (struct bu_samples *s, double p)
{
  size_t rank;

  if (s->v.len == 0)
    return 0;
  qsort (s->v.ptr, s->v.len, sizeof *s->v.ptr, cmp_double);
  /* Nearest rank: the smallest sample with at least P% at or below. */
  rank = (size_t) (p / 100.0 * (double) s->v.len + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > s->v.len)
    rank = s->v.len;
  return s->v.ptr[rank - 1];
}

void
bu_samples_free (struct bu_samples *s)
{
  double_vector_reset (&s->v);
}

void
bu_print_dist (FILE *fp, const char *name, struct bu_samples *s, double scale)
{
  fprintf (fp, "\"%s\": {\"p50\": %.6g, \"p99\": %.6g, \"max\": %.6g, "
           "\"n\": %zu}", name,
           bu_percentile (s, 50) * scale, bu_percentile (s, 99) * scale,
           bu_percentile (s, 100) * scale, s->v.len);
}

uint64_t
bu_heap_bytes (void)
{
  struct mallinfo2 mi = mallinfo2 ();

  return (uint64_t) mi.uordblks + (uint64_t) mi.hblkhd;
}

uint64_t
bu_rss_bytes (void)
{
  unsigned long long size, resident;
  FILE *fp = fopen ("/proc/self/statm", "r");
  int r;

  if (fp == NULL)
    bu_die ("fopen: /proc/self/statm: %m");
  r = fscanf (fp, "%llu %llu", &size, &resident);
  fclose (fp);
  if (r != 2)
    bu_die ("/proc/self/statm: unexpected content");
  return (uint64_t) resident * (uint64_t) sysconf (_SC_PAGESIZE);
}
