/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-utctime.c: unit tests of common/utctime.h: creation times as
 * export descriptions show them, and the fallback for a time with no
 * calendar date.
 */

#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utctime.h"

static void
test_times_are_iso_8601_in_utc (void **state)
{
  char buf[UTCTIME_BUFSIZE];

  (void) state;
  utctime_format (0, buf, sizeof buf);
  assert_string_equal (buf, "1970-01-01T00:00:00Z");
  utctime_format (1769860800, buf, sizeof buf);
  assert_string_equal (buf, "2026-01-31T12:00:00Z");
  assert_int_equal (strlen (buf) + 1, UTCTIME_BUFSIZE);
}

static void
test_a_time_without_a_date_is_written_as_seconds (void **state)
{
  char buf[64];

  (void) state;
  /* Year about 1.5e11: gmtime_r refuses it (EOVERFLOW). */
  utctime_format (UINT64_C (1) << 62, buf, sizeof buf);
  assert_string_equal (buf, "@4611686018427387904");
}

static void
test_a_short_buffer_gets_the_seconds_truncated (void **state)
{
  char buf[8];
  /* Not a constant, so that the compiler does not warn of the
   * truncation this test wants. */
  volatile size_t len = sizeof buf;

  (void) state;
  utctime_format (1769860800, buf, len);
  assert_string_equal (buf, "@176986");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_times_are_iso_8601_in_utc),
    cmocka_unit_test (test_a_time_without_a_date_is_written_as_seconds),
    cmocka_unit_test (test_a_short_buffer_gets_the_seconds_truncated),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
