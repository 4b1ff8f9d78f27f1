/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * benchutil.h: clocks, statistics, numbers and errors shared by the
 * in-process benchmark programs of bench/.
 *
 * These are programs, not library code: a failure prints one line
 * naming the call and the object on stderr and exits 1.  Results go to
 * stdout as one JSON object, read by scripts/bench.
 */

#ifndef SNAPVOL_BENCHUTIL_H
#define SNAPVOL_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vector.h"

/* CLOCK_MONOTONIC in nanoseconds. */
extern uint64_t bu_now_ns (void);

/* Sleep until the CLOCK_MONOTONIC time DEADLINE_NS (returns at once if
 * it has passed). */
extern void bu_sleep_until (uint64_t deadline_ns);

/* Print "PROGRAM: MESSAGE" on stderr and exit 1.  "%m" works. */
extern void bu_die (const char *fmt, ...)
  __attribute__((format (printf, 1, 2), noreturn));

/* Parse a non-negative decimal integer (the whole of S) for option
 * NAME; dies naming the option on anything else. */
extern uint64_t bu_parse_u64 (const char *name, const char *s)
  __attribute__((nonnull));

/* xorshift64*: fast, good enough to pick offsets.  *STATE must not be
 * 0. */
extern uint64_t bu_rand (uint64_t *state) __attribute__((nonnull));

/* A growing array of samples (doubles). */
DEFINE_VECTOR_TYPE (double_vector, double);
struct bu_samples {
  double_vector v;
};

extern void bu_samples_add (struct bu_samples *s, double x)
  __attribute__((nonnull));
/* The P-th percentile (0..100, nearest rank) of the samples; sorts
 * them.  0 when there are none. */
extern double bu_percentile (struct bu_samples *s, double p)
  __attribute__((nonnull));
extern void bu_samples_free (struct bu_samples *s) __attribute__((nonnull));

/* Print "NAME": {"p50": .., "p99": .., "max": .., "n": ..} to FP, the
 * samples multiplied by SCALE first (to change the unit). */
extern void bu_print_dist (FILE *fp, const char *name,
                           struct bu_samples *s, double scale)
  __attribute__((nonnull));

/* Heap bytes in use (malloc'd chunks, arena and mmap), from
 * mallinfo2(3). */
extern uint64_t bu_heap_bytes (void);
/* Resident set size of this process, bytes, from /proc/self/statm. */
extern uint64_t bu_rss_bytes (void);

#endif /* SNAPVOL_BENCHUTIL_H */
