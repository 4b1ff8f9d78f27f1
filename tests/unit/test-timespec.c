/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-timespec.c: unit tests of common/timespec.h: sums and
 * differences carry across the second, comparison, conversions to and
 * from milliseconds with their rounding, deadlines, and delays as a
 * struct timeval.
 */

#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "timespec.h"

static struct timespec
ts (time_t sec, long nsec)
{
  struct timespec t = { .tv_sec = sec, .tv_nsec = nsec };

  return t;
}

static void
assert_ts (struct timespec t, time_t sec, long nsec)
{
  assert_int_equal (t.tv_sec, sec);
  assert_int_equal (t.tv_nsec, nsec);
}

static void
test_add_and_sub_carry_across_the_second (void **state)
{
  (void) state;
  assert_ts (timespec_add (ts (1, 600000000), ts (2, 500000000)),
             4, 100000000);
  assert_ts (timespec_add (ts (1, 999999999), ts (0, 1)), 2, 0);
  assert_ts (timespec_add (ts (1, 1), ts (0, 2)), 1, 3);

  assert_ts (timespec_sub (ts (4, 100000000), ts (2, 500000000)),
             1, 600000000);
  assert_ts (timespec_sub (ts (5, 0), ts (5, 0)), 0, 0);
  /* Negative: -0.25 s is -1 s + 0.75 s. */
  assert_ts (timespec_sub (ts (2, 0), ts (2, 250000000)), -1, 750000000);
  assert_ts (timespec_sub (ts (1, 0), ts (3, 0)), -2, 0);
  /* Adding a negative duration back gives the start again. */
  assert_ts (timespec_add (ts (2, 250000000), ts (-1, 750000000)), 2, 0);
}

static void
test_cmp_orders_by_second_then_nanosecond (void **state)
{
  struct timespec a = ts (10, 5), b = ts (10, 6), c = ts (11, 0);

  (void) state;
  assert_int_equal (timespec_cmp (&a, &b), -1);
  assert_int_equal (timespec_cmp (&b, &a), 1);
  assert_int_equal (timespec_cmp (&b, &c), -1);
  assert_int_equal (timespec_cmp (&c, &a), 1);
  assert_int_equal (timespec_cmp (&a, &a), 0);
}

static void
test_ms_conversions_round_as_documented (void **state)
{
  (void) state;
  assert_ts (timespec_from_ms (0), 0, 0);
  assert_ts (timespec_from_ms (1500), 1, 500000000);
  assert_ts (timespec_from_ms (-1500), -2, 500000000);
  assert_ts (timespec_from_ms (-1), -1, 999000000);
  assert_ts (timespec_from_ms (INT64_C (86400000) * 30), 2592000, 0);

  assert_int_equal (timespec_to_ms (ts (1, 500000000)), 1500);
  assert_int_equal (timespec_to_ms (ts (1, 999999)), 1000);
  assert_int_equal (timespec_to_ms_ceil (ts (1, 999999)), 1001);
  assert_int_equal (timespec_to_ms_ceil (ts (1, 1000000)), 1001);
  assert_int_equal (timespec_to_ms_ceil (ts (1, 0)), 1000);
  /* -0.5 ms: down is -1, up is 0. */
  assert_int_equal (timespec_to_ms (ts (-1, 999500000)), -1);
  assert_int_equal (timespec_to_ms_ceil (ts (-1, 999500000)), 0);
  /* A nanosecond ahead still counts as a millisecond to wait. */
  assert_int_equal (timespec_to_ms_ceil (ts (0, 1)), 1);

  assert_int_equal (timespec_to_ns (ts (3, 7)), INT64_C (3000000007));
  assert_ts (timespec_from_ns (UINT64_C (3000000007)), 3, 7);

  assert_ts (timespec_add_ms (ts (1, 900000000), 250), 2, 150000000);
  assert_ts (timespec_add_ms (ts (1, 100000000), -250), 0, 850000000);
  assert_ts (timespec_add_ms (ts (7, 3), 0), 7, 3);
}

static void
test_deadline_counts_down_on_its_clock (void **state)
{
  static const clockid_t clocks[] = { CLOCK_MONOTONIC, CLOCK_REALTIME };
  size_t i;

  (void) state;
  for (i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
    struct timespec before = timespec_now (clocks[i]);
    struct timespec d = timespec_deadline_ms (clocks[i], 60000);
    struct timespec past = timespec_deadline_ms (clocks[i], -5000);
    int64_t left = timespec_ms_until (clocks[i], &d);
    struct timespec want = timespec_add_ms (before, 60000);

    /* Taken after BEFORE: at or after BEFORE + 60 s. */
    assert_true (timespec_cmp (&d, &want) >= 0);
    /* A loaded machine may take seconds between the calls. */
    assert_true (left > 50000 && left <= 60000);
    assert_int_equal (timespec_poll_ms (clocks[i], &past), 0);
    assert_true (timespec_ms_until (clocks[i], &past) <= -5000);
    assert_true (timespec_poll_ms (clocks[i], &d) > 50000);
  }
  /* Far deadlines are clamped for poll(2). */
  {
    struct timespec far = timespec_deadline_ms (CLOCK_MONOTONIC,
                                                INT64_C (1) << 40);

    assert_int_equal (timespec_poll_ms (CLOCK_MONOTONIC, &far), INT_MAX);
  }
  {
    int64_t a = timespec_to_ms (timespec_now (CLOCK_MONOTONIC));
    int64_t b = timespec_now_ms (CLOCK_MONOTONIC);
    int64_t c = timespec_to_ms (timespec_now (CLOCK_MONOTONIC));

    assert_true (a <= b && b <= c);
  }
}

static void
test_timeval_ms_is_a_delay_never_negative (void **state)
{
  struct timeval tv = { .tv_sec = 99, .tv_usec = 99 };

  (void) state;
  assert_ptr_equal (timespec_timeval_ms (&tv, 2345), &tv);
  assert_int_equal (tv.tv_sec, 2);
  assert_int_equal (tv.tv_usec, 345000);
  timespec_timeval_ms (&tv, 999);
  assert_int_equal (tv.tv_sec, 0);
  assert_int_equal (tv.tv_usec, 999000);
  timespec_timeval_ms (&tv, -1500);
  assert_int_equal (tv.tv_sec, 0);
  assert_int_equal (tv.tv_usec, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_add_and_sub_carry_across_the_second),
    cmocka_unit_test (test_cmp_orders_by_second_then_nanosecond),
    cmocka_unit_test (test_ms_conversions_round_as_documented),
    cmocka_unit_test (test_deadline_counts_down_on_its_clock),
    cmocka_unit_test (test_timeval_ms_is_a_delay_never_negative),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
