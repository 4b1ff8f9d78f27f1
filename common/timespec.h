/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * timespec.h: arithmetic on struct timespec, and deadlines.
 *
 * Every result is normalised (0 <= tv_nsec < 1e9, so a negative
 * duration has a negative tv_sec and a non-negative tv_nsec), and
 * every function accepts any normalised input, negative ones
 * included.  Conversions to milliseconds say which way they round:
 * a wait rounds up, so that it never ends before its deadline and
 * spins on a zero timeout.  Overflow of time_t is not checked: the
 * durations used here are at most days.
 *
 * Header only, so that programs which do not link libsvcommon (the
 * benchmarks' floors) can use it too.
 */

#ifndef SNAPVOL_TIMESPEC_H
#define SNAPVOL_TIMESPEC_H

#include <limits.h>
#include <stdint.h>
#include <time.h>
#include <sys/time.h>

#define TIMESPEC_NSEC_PER_SEC 1000000000L
#define TIMESPEC_NSEC_PER_MS  1000000L

/* A + B. */
static inline struct timespec __attribute__((unused))
timespec_add (struct timespec a, struct timespec b)
{
  struct timespec r = {
    .tv_sec = a.tv_sec + b.tv_sec,
    .tv_nsec = a.tv_nsec + b.tv_nsec,
  };

  if (r.tv_nsec >= TIMESPEC_NSEC_PER_SEC) {
    r.tv_sec++;
    r.tv_nsec -= TIMESPEC_NSEC_PER_SEC;
  }
  return r;
}

/* A - B (negative when B is later). */
static inline struct timespec __attribute__((unused))
timespec_sub (struct timespec a, struct timespec b)
{
  struct timespec r = {
    .tv_sec = a.tv_sec - b.tv_sec,
    .tv_nsec = a.tv_nsec - b.tv_nsec,
  };

  if (r.tv_nsec < 0) {
    r.tv_sec--;
    r.tv_nsec += TIMESPEC_NSEC_PER_SEC;
  }
  return r;
}

/* -1, 0 or 1 as A is before, at or after B. */
static inline int __attribute__((unused, nonnull))
timespec_cmp (const struct timespec *a, const struct timespec *b)
{
  if (a->tv_sec != b->tv_sec)
    return a->tv_sec < b->tv_sec ? -1 : 1;
  if (a->tv_nsec != b->tv_nsec)
    return a->tv_nsec < b->tv_nsec ? -1 : 1;
  return 0;
}

/* MS milliseconds (any sign) as a timespec. */
static inline struct timespec __attribute__((unused))
timespec_from_ms (int64_t ms)
{
  struct timespec r = {
    .tv_sec = (time_t) (ms / 1000),
    .tv_nsec = (long) (ms % 1000) * TIMESPEC_NSEC_PER_MS,
  };

  if (r.tv_nsec < 0) {
    r.tv_sec--;
    r.tv_nsec += TIMESPEC_NSEC_PER_SEC;
  }
  return r;
}

/* T in milliseconds, rounded down (towards minus infinity). */
static inline int64_t __attribute__((unused))
timespec_to_ms (struct timespec t)
{
  return (int64_t) t.tv_sec * 1000 + t.tv_nsec / TIMESPEC_NSEC_PER_MS;
}

/* T in milliseconds, rounded up (towards plus infinity). */
static inline int64_t __attribute__((unused))
timespec_to_ms_ceil (struct timespec t)
{
  return (int64_t) t.tv_sec * 1000 +
    (t.tv_nsec + TIMESPEC_NSEC_PER_MS - 1) / TIMESPEC_NSEC_PER_MS;
}

/* T in nanoseconds (T must be within about 292 years of 0). */
static inline int64_t __attribute__((unused))
timespec_to_ns (struct timespec t)
{
  return (int64_t) t.tv_sec * TIMESPEC_NSEC_PER_SEC + t.tv_nsec;
}

/* NS nanoseconds (not negative) as a timespec. */
static inline struct timespec __attribute__((unused))
timespec_from_ns (uint64_t ns)
{
  struct timespec r = {
    .tv_sec = (time_t) (ns / TIMESPEC_NSEC_PER_SEC),
    .tv_nsec = (long) (ns % TIMESPEC_NSEC_PER_SEC),
  };

  return r;
}

/* T + MS milliseconds (any sign). */
static inline struct timespec __attribute__((unused))
timespec_add_ms (struct timespec t, int64_t ms)
{
  return timespec_add (t, timespec_from_ms (ms));
}

/* The time of CLOCK now.  clock_gettime cannot fail for the clocks
 * used here (CLOCK_MONOTONIC, CLOCK_REALTIME). */
static inline struct timespec __attribute__((unused))
timespec_now (clockid_t clock)
{
  struct timespec t;

  clock_gettime (clock, &t);
  return t;
}

/* CLOCK now, in milliseconds rounded down. */
static inline int64_t __attribute__((unused))
timespec_now_ms (clockid_t clock)
{
  return timespec_to_ms (timespec_now (clock));
}

/* The deadline MS milliseconds from now on CLOCK: the clock a
 * pthread_cond_timedwait or pthread_timedjoin_np waiting for it uses
 * (CLOCK_REALTIME unless the condition variable says otherwise). */
static inline struct timespec __attribute__((unused))
timespec_deadline_ms (clockid_t clock, int64_t ms)
{
  return timespec_add_ms (timespec_now (clock), ms);
}

/* Milliseconds from now on CLOCK to DEADLINE, rounded up: > 0 while
 * the deadline is ahead (even by a nanosecond), <= 0 once it passed. */
static inline int64_t __attribute__((unused, nonnull))
timespec_ms_until (clockid_t clock, const struct timespec *deadline)
{
  return timespec_to_ms_ceil (timespec_sub (*deadline, timespec_now (clock)));
}

/* *TV set to a delay of MS milliseconds, for a libevent timer; a
 * negative delay is none (0).  Returns TV. */
static inline struct timeval * __attribute__((unused, nonnull))
timespec_timeval_ms (struct timeval *tv, int64_t ms)
{
  struct timespec t = timespec_from_ms (ms < 0 ? 0 : ms);

  tv->tv_sec = t.tv_sec;
  tv->tv_usec = (suseconds_t) (t.tv_nsec / 1000);
  return tv;
}

/* timespec_ms_until as a poll(2) timeout: 0 once passed, at most
 * INT_MAX. */
static inline int __attribute__((unused, nonnull))
timespec_poll_ms (clockid_t clock, const struct timespec *deadline)
{
  int64_t ms = timespec_ms_until (clock, deadline);

  return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int) ms;
}

#endif /* SNAPVOL_TIMESPEC_H */
