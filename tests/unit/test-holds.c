/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-holds.c: unit tests of snapshot holds (pool_snapshot_hold and
 * pool_snapshot_release): deletion refused naming the tags, sets held
 * all or none, every error, expiry by the pool's clock, and holds that
 * survive a clean reopen (checkpoint), a kill (journal replay) and a
 * version 2 pool that has none.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ondisk.h"
#include "pool.h"
#include "unit-helpers.h"

#define SIZE (1 * MiB)

/* The pool's clock: the tests move it. */
static uint64_t now = 1000000;

static uint64_t
test_clock (void)
{
  return now;
}

struct fixture {
  char *dir;
  struct sv_pool *pool;
};

static struct sv_pool *
open_pool (const char *dir, int create)
{
  struct sv_pool_options opts = { .clock = test_clock, .flush_threads = 1 };

  return ut_pool_open_opts (dir, &opts, create);
}

static int
setup (void **state)
{
  struct fixture *fx = calloc (1, sizeof *fx);

  assert_non_null (fx);
  now = 1000000;
  fx->dir = ut_mkdtemp ();
  fx->pool = open_pool (fx->dir, 1);
  *state = fx;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *fx = *state;

  if (fx->pool)
    pool_close (fx->pool);
  ut_rmtree (fx->dir);
  free (fx->dir);
  free (fx);
  return 0;
}

static void
reopen (struct fixture *fx)
{
  ut_pool_close (fx->pool);
  fx->pool = open_pool (fx->dir, 0);
}

static void
create (struct fixture *fx, const char *name)
{
  if (pool_volume_create (fx->pool, name, SIZE, 0) == -1)
    fail_msg ("pool_volume_create %s: %s", name, sv_errmsg ());
}

static void
hold (struct sv_pool *pool, const char *id, const char *tag,
      uint64_t expires, int expect)
{
  int n = pool_snapshot_hold (pool, id, tag, expires);

  if (n == -1)
    fail_msg ("pool_snapshot_hold %s %s: %s", id, tag, sv_errmsg ());
  assert_int_equal (n, expect);
}

static void
release (struct sv_pool *pool, const char *id, const char *tag, int expect)
{
  int n = pool_snapshot_release (pool, id, tag);

  if (n == -1)
    fail_msg ("pool_snapshot_release %s %s: %s", id, tag, sv_errmsg ());
  assert_int_equal (n, expect);
}

/* The holds of snapshot ID as "tag=expires,tag=expires". */
static void
holds_of (struct sv_pool *pool, const char *id, char *buf, size_t len)
{
  struct sv_snapshot_info *si;
  size_t n, i, k, off = 0;

  if (pool_snapshot_list (pool, NULL, &si, &n) == -1)
    fail_msg ("pool_snapshot_list: %s", sv_errmsg ());
  buf[0] = '\0';
  for (i = 0; i < n; i++) {
    if (strcmp (si[i].id, id) != 0)
      continue;
    for (k = 0; k < si[i].nholds; k++)
      off += snprintf (buf + off, len - off, "%s%s=%llu", k ? "," : "",
                       si[i].holds[k].tag,
                       (unsigned long long) si[i].holds[k].expires);
    free (si);
    return;
  }
  free (si);
  fail_msg ("no snapshot %s in the listing", id);
}

static void
test_held_snapshot_deletion_fails_ebusy_naming_the_tags (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1], msg[256], h[512];
  size_t ndel = 7;

  create (fx, "v");
  ut_snapshot (fx->pool, "v", id);
  hold (fx->pool, id, "backup", 0, 1);
  hold (fx->pool, id, "keep:1@host-a.b_c", 0, 1);
  holds_of (fx->pool, id, h, sizeof h);
  assert_string_equal (h, "backup=0,keep:1@host-a.b_c=0");

  assert_fails_with (pool_snapshot_delete (fx->pool, id, &ndel), EBUSY);
  snprintf (msg, sizeof msg, "snapshot %s of volume v is held (tags: backup,"
            " keep:1@host-a.b_c)", id);
  assert_string_equal (sv_errmsg (), msg);
  assert_int_equal (ndel, 0);
  assert_int_equal (ut_snapshot_count (fx->pool, "v"), 1);

  release (fx->pool, id, "backup", 1);
  assert_fails_with (pool_snapshot_delete (fx->pool, id, NULL), EBUSY);
  snprintf (msg, sizeof msg, "snapshot %s of volume v is held (tags:"
            " keep:1@host-a.b_c)", id);
  assert_string_equal (sv_errmsg (), msg);
  release (fx->pool, id, "keep:1@host-a.b_c", 1);
  holds_of (fx->pool, id, h, sizeof h);
  assert_string_equal (h, "");
  assert_int_equal (pool_snapshot_delete (fx->pool, id, &ndel), 0);
  assert_int_equal (ndel, 1);
}

static void
test_bad_holds_and_releases_fail_with_their_errno (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1], msg[256], tag[80], h[8192];
  const char *unknown = "01234567-89ab-cdef-0123-456789abcdef";
  int i;

  create (fx, "v");
  ut_snapshot (fx->pool, "v", id);
  hold (fx->pool, id, "t", 0, 1);

  assert_fails_with (pool_snapshot_hold (fx->pool, id, "t", 0), EEXIST);
  snprintf (msg, sizeof msg, "snapshot %s of volume v already carries a hold"
            " tagged t; nothing was held", id);
  assert_string_equal (sv_errmsg (), msg);

  assert_fails_with (pool_snapshot_hold (fx->pool, unknown, "t", 0), ENOENT);
  assert_string_equal (sv_errmsg (), "no snapshot or snapshot set with id"
                       " 01234567-89ab-cdef-0123-456789abcdef");
  assert_fails_with (pool_snapshot_release (fx->pool, unknown, "t"), ENOENT);
  assert_fails_with (pool_snapshot_release (fx->pool, id, "u"), ENOENT);
  snprintf (msg, sizeof msg, "no hold tagged u on snapshot %s", id);
  assert_string_equal (sv_errmsg (), msg);

  assert_fails_with (pool_snapshot_hold (fx->pool, "nope", "t", 0), EINVAL);
  assert_string_equal (sv_errmsg (), "invalid snapshot id 'nope': expected"
                       " a UUID");
  assert_fails_with (pool_snapshot_hold (fx->pool, id, "", 0), EINVAL);
  assert_string_equal (sv_errmsg (), "invalid tag: it is empty");
  assert_fails_with (pool_snapshot_hold (fx->pool, id, "a b", 0), EINVAL);
  assert_string_equal (sv_errmsg (), "invalid tag 'a b': character ' ' is"
                       " not one of A-Z a-z 0-9 . _ : @ -");
  assert_fails_with (pool_snapshot_release (fx->pool, id, "a/b"), EINVAL);
  memset (tag, 'x', 65);
  tag[65] = '\0';
  assert_fails_with (pool_snapshot_hold (fx->pool, id, tag, 0), EINVAL);
  assert_errmsg_names ("longer than 64 bytes");
  tag[64] = '\0';
  hold (fx->pool, id, tag, 0, 1);    /* 64 bytes is allowed */

  for (i = 2; i < SV_HOLDS_MAX; i++) {
    snprintf (tag, sizeof tag, "n%d", i);
    hold (fx->pool, id, tag, 0, 1);
  }
  assert_fails_with (pool_snapshot_hold (fx->pool, id, "one-too-many", 0),
                     E2BIG);
  snprintf (msg, sizeof msg, "snapshot %s of volume v already carries 64"
            " holds, the most a snapshot can; nothing was held", id);
  assert_string_equal (sv_errmsg (), msg);

  /* All of them survive a checkpoint, in order. */
  reopen (fx);
  holds_of (fx->pool, id, h, sizeof h);
  assert_non_null (strstr (h, "t=0,xxxx"));
  assert_non_null (strstr (h, ",n2=0,n3=0,"));
  assert_non_null (strstr (h, ",n63=0"));
}

static void
test_set_hold_is_all_or_none_and_set_delete_deletes_nothing (void **state)
{
  struct fixture *fx = *state;
  const char *vols[2] = { "a", "b" };
  struct sv_snap_result res[2];
  char set[SV_UUID_STRLEN + 1], h[256], msg[256];
  size_t ndel = 9;

  create (fx, "a");
  create (fx, "b");
  if (pool_snapshot_create (fx->pool, vols, 2, NULL, NULL, set, res) == -1)
    fail_msg ("pool_snapshot_create: %s", sv_errmsg ());
  hold (fx->pool, res[1].id, "x", 0, 1);

  /* b's snapshot already carries x: a's does not get it either. */
  assert_fails_with (pool_snapshot_hold (fx->pool, set, "x", 0), EEXIST);
  holds_of (fx->pool, res[0].id, h, sizeof h);
  assert_string_equal (h, "");

  hold (fx->pool, set, "y", 0, 2);
  holds_of (fx->pool, res[0].id, h, sizeof h);
  assert_string_equal (h, "y=0");
  holds_of (fx->pool, res[1].id, h, sizeof h);
  assert_string_equal (h, "x=0,y=0");

  release (fx->pool, set, "y", 2);
  /* Only b is held now: the set's deletion deletes nothing. */
  assert_fails_with (pool_snapshot_delete (fx->pool, set, &ndel), EBUSY);
  snprintf (msg, sizeof msg, "snapshot %s of volume b is held (tags: x)",
            res[1].id);
  assert_string_equal (sv_errmsg (), msg);
  assert_int_equal (ndel, 0);
  assert_int_equal (ut_snapshot_count (fx->pool, "a"), 1);
  assert_int_equal (ut_snapshot_count (fx->pool, "b"), 1);

  release (fx->pool, set, "x", 1);
  assert_int_equal (pool_snapshot_delete (fx->pool, set, &ndel), 0);
  assert_int_equal (ndel, 2);
}

static void
test_expired_hold_does_not_hold_and_goes_with_the_snapshot (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1], other[SV_UUID_STRLEN + 1], h[256];
  size_t ndel;

  create (fx, "v");
  ut_snapshot (fx->pool, "v", id);
  ut_snapshot (fx->pool, "v", other);
  hold (fx->pool, id, "backup", now + 60, 1);
  hold (fx->pool, other, "soon", now + 60, 1);
  hold (fx->pool, other, "forever", 0, 1);

  now += 59;
  assert_fails_with (pool_snapshot_delete (fx->pool, id, NULL), EBUSY);
  now += 1;                     /* expired at its expiry */
  holds_of (fx->pool, id, h, sizeof h);
  assert_string_equal (h, "backup=1000060");
  /* An expired hold does not appear among the tags that hold. */
  assert_fails_with (pool_snapshot_delete (fx->pool, other, NULL), EBUSY);
  assert_errmsg_names ("is held (tags: forever)");

  assert_int_equal (pool_snapshot_delete (fx->pool, id, &ndel), 0);
  assert_int_equal (ndel, 1);
  assert_int_equal (ut_snapshot_count (fx->pool, "v"), 1);
  /* The expired hold went with its snapshot, through a reopen too. */
  reopen (fx);
  assert_int_equal (ut_snapshot_count (fx->pool, "v"), 1);
  holds_of (fx->pool, other, h, sizeof h);
  assert_string_equal (h, "soon=1000060,forever=0");
}

/* Hold in a child that dies without closing: the parent's reopen
 * finds the hold by replaying the journal. */
static void
test_hold_survives_a_kill_and_a_checkpoint (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1], h[256];
  int status;
  pid_t pid;

  create (fx, "v");
  ut_snapshot (fx->pool, "v", id);
  hold (fx->pool, id, "old", 0, 1);
  hold (fx->pool, id, "gone", 0, 1);
  reopen (fx);                  /* checkpoint: old, gone */
  ut_pool_close (fx->pool);
  fx->pool = NULL;

  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    struct sv_pool *p = pool_open (fx->dir, NULL, 0);
    if (p == NULL ||
        pool_snapshot_hold (p, id, "new", 1234) != 1 ||
        pool_snapshot_release (p, id, "gone") != 1)
      _exit (1);
    _exit (0);                  /* acknowledged, never closed */
  }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);

  fx->pool = open_pool (fx->dir, 0);
  holds_of (fx->pool, id, h, sizeof h);
  assert_string_equal (h, "old=0,new=1234");
  reopen (fx);
  holds_of (fx->pool, id, h, sizeof h);
  assert_string_equal (h, "old=0,new=1234");
  assert_fails_with (pool_snapshot_delete (fx->pool, id, NULL), EBUSY);
}

/* A pool of format version 2 opens as a pool without holds (its
 * checkpoint's hold count is not read), takes holds, and its next
 * checkpoint is version 3. */
static void
test_version_2_pool_opens_without_holds (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1], path[4096], h[256];
  uint8_t blk[SV_BLOCK];

  create (fx, "v");
  ut_snapshot (fx->pool, "v", id);
  ut_pool_close (fx->pool);
  fx->pool = NULL;

  snprintf (path, sizeof path, "%s/snapvol.pool", fx->dir);
  ut_block_set_le32 (path, OFF_VERSION, 2);
  ut_volume_file (path, sizeof path, fx->dir, "v", "superblock");
  ut_block_set_le32 (path, OFF_VERSION, 2);
  ut_volume_file (path, sizeof path, fx->dir, "v", "checkpoint");
  ut_block_set_le32 (path, CK_OFF_NHOLDS, 77);    /* not a field in v2 */
  ut_block_set_le32 (path, OFF_VERSION, 2);
  ut_last_journal (path, sizeof path, fx->dir, "v");
  ut_block_set_le32 (path, OFF_VERSION, 2);

  fx->pool = open_pool (fx->dir, 0);
  assert_int_equal (ut_snapshot_count (fx->pool, "v"), 1);
  holds_of (fx->pool, id, h, sizeof h);
  assert_string_equal (h, "");
  hold (fx->pool, id, "t", 0, 1);
  reopen (fx);
  holds_of (fx->pool, id, h, sizeof h);
  assert_string_equal (h, "t=0");
  ut_volume_file (path, sizeof path, fx->dir, "v", "checkpoint");
  ut_file_read (path, blk, sizeof blk, 0);
  assert_int_equal (get_le32 (blk + OFF_VERSION), SV_FORMAT_VERSION);
  assert_int_equal (get_le32 (blk + CK_OFF_NHOLDS), 1);

  /* Version 1 is still refused by name. */
  ut_pool_close (fx->pool);
  fx->pool = NULL;
  ut_block_set_le32 (path, OFF_VERSION, 1);
  assert_null_with (pool_open (fx->dir, NULL, 0), EPROTONOSUPPORT);
  assert_errmsg_names ("checkpoint header format version 1 is older than"
                       " this snapvol reads (2)");
}

int
main (void)
{
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_held_snapshot_deletion_fails_ebusy_naming_the_tags),
    T (test_bad_holds_and_releases_fail_with_their_errno),
    T (test_set_hold_is_all_or_none_and_set_delete_deletes_nothing),
    T (test_expired_hold_does_not_hold_and_goes_with_the_snapshot),
    T (test_hold_survives_a_kill_and_a_checkpoint),
    T (test_version_2_pool_opens_without_holds),
  };
#undef T

  return cmocka_run_group_tests (tests, NULL, NULL);
}
