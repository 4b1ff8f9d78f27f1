/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-retention.c: unit tests of the retention rules' choice
 * (retain_choose: the exact snapshots kept for given creation times,
 * UTC day and Monday-based week buckets, a clock set back), and of
 * pool_policy_apply with an injected clock: the exact snapshots left,
 * held and open ones kept with an event saying why, a set kept whole,
 * and policies that survive a reopen.
 */

#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pool.h"
#include "retain.h"
#include "unit-helpers.h"

#define DAY 86400u
#define HOUR 3600u
/* 2026-12-07, a Monday: Unix day 20794. */
#define MONDAY ((uint64_t) 20794 * DAY)

/* Run retain_choose over N creation times (generations 1..N) and
 * return the WHY bits as a string of digits, '0' for deleted, so that
 * a test states the whole outcome in one comparison. */
static const char *
choose (const struct sv_retention *r, const uint64_t *created, size_t n,
        uint64_t now)
{
  static char out[64];
  struct retain_snap s[32];
  unsigned why[32];
  size_t i;

  assert_true (n <= 32);
  for (i = 0; i < n; i++) {
    s[i].created = created[i];
    s[i].generation = (uint32_t) i + 1;
  }
  retain_choose (r, s, n, now, why);
  for (i = 0; i < n; i++)
    out[i] = (char) ('0' + (why[i] & 0xf));
  out[n] = '\0';
  return out;
}

static void
test_keep_last_keeps_the_newest_n (void **state)
{
  struct sv_retention r = { .keep_last = 2 };
  uint64_t t[] = { 10, 20, 30, 40, 50 };

  /* RETAIN_LAST is 1. */
  assert_string_equal (choose (&r, t, 5, 100), "00011");
  r.keep_last = 9;
  assert_string_equal (choose (&r, t, 5, 100), "11111");
}

static void
test_no_rule_keeps_everything (void **state)
{
  struct sv_retention r = { 0 };
  struct retain_snap s[2] = { { 1, 1 }, { 2, 2 } };
  unsigned why[2];

  retain_choose (&r, s, 2, 1000000, why);
  assert_int_equal (why[0], RETAIN_NO_RULE);
  assert_int_equal (why[1], RETAIN_NO_RULE);
  assert_false (retain_enabled (&r));
}

static void
test_keep_younger_is_strict (void **state)
{
  struct sv_retention r = { .keep_younger = HOUR };
  uint64_t now = 100000;
  /* Exactly an hour old is not younger than an hour; from the future
   * (a clock set back) is. */
  uint64_t t[] = { now - HOUR - 1, now - HOUR, now - HOUR + 1, now,
                   now + 50 };

  /* RETAIN_YOUNGER is 2. */
  assert_string_equal (choose (&r, t, 5, now), "00222");
}

static void
test_keep_daily_uses_utc_days (void **state)
{
  struct sv_retention r = { .keep_daily = 2 };
  uint64_t now = MONDAY + 12 * HOUR;
  uint64_t t[] = {
    MONDAY - 2 * DAY + 10 * HOUR,       /* Saturday: outside 2 days */
    MONDAY - DAY - 1,                   /* Saturday 23:59:59 */
    MONDAY - DAY,                       /* Sunday 00:00:00 */
    MONDAY - DAY + 8 * HOUR,            /* Sunday, newest of its day */
    MONDAY + HOUR,                      /* Monday 01:00 */
    MONDAY + 2 * HOUR,                  /* Monday 02:00, newest */
  };

  /* RETAIN_DAILY is 4. */
  assert_string_equal (choose (&r, t, 6, now), "000404");
  r.keep_daily = 3;
  assert_string_equal (choose (&r, t, 6, now), "040404");
}

static void
test_keep_weekly_weeks_start_on_monday (void **state)
{
  struct sv_retention r = { .keep_weekly = 2 };
  uint64_t now = MONDAY + 3 * DAY;      /* Thursday */
  uint64_t t[] = {
    MONDAY - 8 * DAY,                   /* Sunday two weeks back */
    MONDAY - 7 * DAY,                   /* Monday a week back */
    MONDAY - 1,                         /* Sunday 23:59:59: newest of
                                         * last week */
    MONDAY,                             /* Monday 00:00 */
    MONDAY + DAY,                       /* Tuesday: newest this week */
  };

  /* RETAIN_WEEKLY is 8. */
  assert_string_equal (choose (&r, t, 5, now), "00808");
}

static void
test_rules_are_a_union (void **state)
{
  struct sv_retention r = { .keep_last = 1, .keep_younger = DAY,
                            .keep_daily = 3 };
  uint64_t now = MONDAY + 12 * HOUR;
  uint64_t t[] = {
    MONDAY - 5 * DAY,                   /* nothing keeps it */
    MONDAY - 2 * DAY + HOUR,            /* daily (Saturday) */
    MONDAY - 13 * HOUR,                 /* daily (Sunday 11:00) */
    MONDAY - 12 * HOUR + 1,             /* younger than a day, and the
                                         * newest of Sunday */
    MONDAY + 11 * HOUR,                 /* last, younger, daily */
  };

  assert_string_equal (choose (&r, t, 5, now), "04067");
}

static void
test_clock_set_back_is_handled (void **state)
{
  struct sv_retention r = { .keep_daily = 1 };
  uint64_t now = MONDAY + 12 * HOUR;
  /* Creation times not in generation order: the newest of today is
   * the second, whatever its place in the list. */
  uint64_t t[] = { MONDAY + 5 * HOUR, MONDAY + 9 * HOUR, MONDAY + HOUR };

  assert_string_equal (choose (&r, t, 3, now), "040");
}

static void
test_reason_names_every_rule (void **state)
{
  struct sv_retention r = { .keep_last = 3, .keep_younger = 7200,
                            .keep_daily = 7, .keep_weekly = 4 };
  char buf[SV_POLICY_REASON_MAX + 1];

  retain_reason (&r, buf, sizeof buf);
  assert_string_equal (buf, "retention (keep_last 3, keep_younger 7200 s, "
                       "keep_daily 7, keep_weekly 4): not among the 3 "
                       "newest, older than 7200 s, not the newest of its "
                       "UTC day within 7 days, not the newest of its week "
                       "within 4 weeks");
}

/* The engine, with the pool's clock. */

static uint64_t now;

static uint64_t
test_clock (void)
{
  return now;
}

static struct sv_pool *
open_pool (const char *dir, int create)
{
  struct sv_pool_options opts = { .clock = test_clock, .flush_threads = 1 };

  return ut_pool_open_opts (dir, &opts, create);
}

/* Take a snapshot of VOLUMES (N) at time T; its id into ID. */
static void
snap_at (struct sv_pool *pool, uint64_t t, const char *const *volumes,
         size_t n, char id[SV_UUID_STRLEN + 1])
{
  struct sv_snap_result res[2];
  char set[SV_UUID_STRLEN + 1];

  now = t;
  assert_int_equal (pool_snapshot_create (pool, volumes, n, NULL, NULL, set,
                                          res), 0);
  memcpy (id, res[0].id, SV_UUID_STRLEN + 1);
}

/* The ids of VOLUME's snapshots, comma-separated, oldest first. */
static char *
ids_of (struct sv_pool *pool, const char *volume)
{
  struct sv_snapshot_info *si;
  static char out[1024];
  size_t n, i, off = 0;

  assert_int_equal (pool_snapshot_list (pool, volume, &si, &n), 0);
  out[0] = '\0';
  for (i = 0; i < n; i++)
    off += snprintf (out + off, sizeof out - off, "%s%s", i ? "," : "",
                     si[i].id);
  free (si);
  return out;
}

static void
test_apply_keeps_held_and_open_with_events (void **state)
{
  char *dir = ut_mkdtemp ();
  struct sv_pool *pool;
  const char *v[] = { "v" };
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1], c[SV_UUID_STRLEN + 1];
  char d[SV_UUID_STRLEN + 1], want[512], export[128];
  struct sv_policy p = { .retention = { .keep_younger = DAY } };
  struct sv_policy_event *ev;
  struct sv_view *view;
  size_t n, deleted;

  now = MONDAY;
  pool = open_pool (dir, 1);
  assert_int_equal (pool_volume_create (pool, "v", 1 * MiB, 0), 0);
  snap_at (pool, MONDAY, v, 1, a);
  snap_at (pool, MONDAY + HOUR, v, 1, b);
  snap_at (pool, MONDAY + 2 * HOUR, v, 1, c);
  snap_at (pool, MONDAY + 30 * HOUR, v, 1, d);
  assert_int_equal (pool_snapshot_hold (pool, a, "tape", 0), 1);
  snprintf (export, sizeof export, "v@%s", b);
  view = ut_view_open (pool, export);
  assert_int_equal (pool_policy_set (pool, NULL, &p), 0);

  /* At MONDAY + 30 h only d is younger than a day: a is held, b open,
   * c goes. */
  now = MONDAY + 30 * HOUR;
  assert_int_equal (pool_policy_apply (pool, &deleted), 0);
  assert_int_equal (deleted, 1);
  snprintf (want, sizeof want, "%s,%s,%s", a, b, d);
  assert_string_equal (ids_of (pool, "v"), want);
  assert_int_equal (pool_policy_events (pool, &ev, &n), 0);
  assert_int_equal (n, 3);
  assert_string_equal (ev[0].action, "kept");
  assert_string_equal (ev[0].id, a);
  assert_string_equal (ev[0].reason, "retention (keep_younger 86400 s): "
                       "older than 86400 s; kept: held (tags: tape)");
  assert_string_equal (ev[1].id, b);
  assert_string_equal (ev[1].reason, "retention (keep_younger 86400 s): "
                       "older than 86400 s; kept: open on 1 NBD "
                       "connection(s)");
  assert_string_equal (ev[2].action, "deleted");
  assert_string_equal (ev[2].id, c);
  assert_int_equal (ev[2].time, MONDAY + 30 * HOUR);
  assert_int_equal (ev[2].created, MONDAY + 2 * HOUR);
  free (ev);

  /* Again: nothing new to say about a and b. */
  assert_int_equal (pool_policy_apply (pool, &deleted), 0);
  assert_int_equal (deleted, 0);
  assert_int_equal (pool_policy_events (pool, &ev, &n), 0);
  assert_int_equal (n, 3);
  free (ev);

  /* Closed and released, at MONDAY + 60 h: none is younger than a
   * day, and every one goes. */
  view_close (view);
  assert_int_equal (pool_snapshot_release (pool, a, "tape"), 1);
  now = MONDAY + 60 * HOUR;
  assert_int_equal (pool_policy_apply (pool, &deleted), 0);
  assert_int_equal (deleted, 3);
  assert_string_equal (ids_of (pool, "v"), "");

  pool_close (pool);
  ut_rmtree (dir);
  free (dir);
}

static void
test_set_is_kept_whole (void **state)
{
  char *dir = ut_mkdtemp ();
  struct sv_pool *pool;
  const char *both[] = { "a", "b" }, *a_only[] = { "a" };
  char s1[SV_UUID_STRLEN + 1], s2[SV_UUID_STRLEN + 1];
  struct sv_policy pa = { .retention = { .keep_last = 1 } };
  struct sv_policy pb = { .retention = { .keep_last = 2 } };
  size_t deleted;

  now = MONDAY;
  pool = open_pool (dir, 1);
  assert_int_equal (pool_volume_create (pool, "a", 1 * MiB, 0), 0);
  assert_int_equal (pool_volume_create (pool, "b", 1 * MiB, 0), 0);
  assert_int_equal (pool_policy_set (pool, NULL, &pa), 0);
  assert_int_equal (pool_policy_set (pool, "b", &pb), 0);
  snap_at (pool, MONDAY, both, 2, s1);
  snap_at (pool, MONDAY + 1, a_only, 1, s2);
  /* a keeps only s2, but b keeps the set's other snapshot: kept. */
  assert_int_equal (pool_policy_apply (pool, &deleted), 0);
  assert_int_equal (deleted, 0);
  snap_at (pool, MONDAY + 2, both, 2, s2);
  snap_at (pool, MONDAY + 3, both, 2, s2);
  /* b now keeps the last two sets: the first set goes from a and b. */
  assert_int_equal (pool_policy_apply (pool, &deleted), 0);
  assert_int_equal (deleted, 3);        /* s1 on a and b, a's single */
  assert_int_equal (strlen (ids_of (pool, "b")), 2 * SV_UUID_STRLEN + 1);
  pool_close (pool);

  /* The policies survive a reopen. */
  pool = open_pool (dir, 0);
  assert_int_equal (pool_policy_get (pool, NULL, &pa, NULL), 0);
  assert_int_equal (pa.retention.keep_last, 1);
  {
    int own = 0;
    assert_int_equal (pool_policy_get (pool, "b", &pb, &own), 0);
    assert_int_equal (own, 1);
    assert_int_equal (pb.retention.keep_last, 2);
    assert_int_equal (pool_policy_get (pool, "a", &pb, &own), 0);
    assert_int_equal (own, 0);
  }
  pool_close (pool);
  ut_rmtree (dir);
  free (dir);
}

static void
test_space_limit_below_used_is_refused (void **state)
{
  char *dir = ut_mkdtemp ();
  struct sv_pool *pool;
  struct sv_policy p = { .space_limit = 4096 };
  struct sv_view *view;

  pool = open_pool (dir, 1);
  assert_int_equal (pool_volume_create (pool, "v", 1 * MiB, 65536), 0);
  view = ut_view_open (pool, "v");
  ut_write_pattern (view, 0, 131072, 1, NULL);
  view_close (view);
  assert_int_equal (pool_space_used (pool), 131072);
  assert_int_equal (pool_policy_set (pool, NULL, &p), -1);
  assert_int_equal (errno, ERANGE);
  assert_string_equal (sv_errmsg (), "space_limit 4096 is below the 131072 "
                       "bytes the pool already holds");
  pool_close (pool);
  ut_rmtree (dir);
  free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_keep_last_keeps_the_newest_n),
    cmocka_unit_test (test_no_rule_keeps_everything),
    cmocka_unit_test (test_keep_younger_is_strict),
    cmocka_unit_test (test_keep_daily_uses_utc_days),
    cmocka_unit_test (test_keep_weekly_weeks_start_on_monday),
    cmocka_unit_test (test_rules_are_a_union),
    cmocka_unit_test (test_clock_set_back_is_handled),
    cmocka_unit_test (test_reason_names_every_rule),
    cmocka_unit_test (test_apply_keeps_held_and_open_with_events),
    cmocka_unit_test (test_set_is_kept_whole),
    cmocka_unit_test (test_space_limit_below_used_is_refused),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
