/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-revert.c: unit tests of revert (pool_volume_revert): the live
 * volume reads the snapshot, later snapshots stay as they were, revert
 * of a revert, writes after a revert, space that only the abandoned
 * branch read coming back and nothing else, the bad input of
 * docs/design.md ("Revert"), reopen (checkpoint and journal), and a
 * random workload against a model, with every pair of views diffed
 * against brute force.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "crashsim.h"
#include "pool.h"
#include "unit-helpers.h"

#define SIZE (1 * MiB)
#define CS (64 * KiB)

struct fixture {
  char *dir;
  struct sv_pool *pool;
};

static int
setup (void **state)
{
  struct fixture *fx = calloc (1, sizeof *fx);

  assert_non_null (fx);
  fx->dir = ut_mkdtemp ();
  fx->pool = ut_pool_open (fx->dir, 0, 1);
  assert_int_equal (pool_volume_create (fx->pool, "v", SIZE, CS), 0);
  assert_int_equal (pool_volume_create (fx->pool, "w", SIZE, CS), 0);
  *state = fx;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *fx = *state;

  if (fx->pool)
    ut_pool_close (fx->pool);
  ut_rmtree (fx->dir);
  free (fx->dir);
  free (fx);
  return 0;
}

static void
fill (struct sv_pool *pool, const char *name, uint32_t seed)
{
  struct sv_view *view = ut_view_open (pool, name);

  ut_write_pattern (view, 0, SIZE, seed, NULL);
  assert_int_equal (view_flush (view), 0);
  view_close (view);
}

static void
assert_reads_pattern (struct sv_pool *pool, const char *export,
                      uint32_t seed)
{
  struct sv_view *view = ut_view_open (pool, export);

  assert_pattern (view, 0, SIZE, seed);
  view_close (view);
}

static void
revert (struct sv_pool *pool, const char *name, const char *id)
{
  struct sv_revert_result res;

  if (pool_volume_revert (pool, name, id, 0, &res) == -1)
    fail_msg ("revert %s to %s: %s", name, id, sv_errmsg ());
  assert_string_equal (res.volume, name);
}

static void
snap_export (char *buf, size_t len, const char *name, const char *id)
{
  snprintf (buf, len, "%s@%s", name, id);
}

/* The offline checker finds no problem in the pool in DIR. */
static void
assert_check_clean (const char *dir)
{
  struct check_report *r = check_pool (dir, 0);
  size_t i;

  if (r == NULL)
    fail_msg ("check_pool %s: %s", dir, sv_errmsg ());
  for (i = 0; i < r->nvolumes; i++)
    if (r->volumes[i].problems.n > 0)
      fail_msg ("check: volume %s: %s: %s", r->volumes[i].name,
                r->volumes[i].problems.v[0].kind,
                r->volumes[i].problems.v[0].message);
  assert_true (r->clean);
  check_report_free (r);
}

/* Revert, then the live volume reads the snapshot; the snapshots taken
 * after it are unchanged, and stay so across a reopen. */
static void
test_revert_reads_the_snapshot_and_keeps_later_snapshots (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1], e[128];
  struct sv_revert_result res;
  int round;

  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  fill (fx->pool, "v", 2);
  ut_snapshot (fx->pool, "v", b);
  fill (fx->pool, "v", 3);

  assert_int_equal (pool_volume_revert (fx->pool, "v", a, 0, &res), 0);
  assert_string_equal (res.snapshot, a);
  assert_int_equal (res.parent, 1);
  assert_int_equal (res.generation, 4);
  for (round = 0; round < 2; round++) {
    assert_reads_pattern (fx->pool, "v", 1);
    snap_export (e, sizeof e, "v", a);
    assert_reads_pattern (fx->pool, e, 1);
    snap_export (e, sizeof e, "v", b);
    assert_reads_pattern (fx->pool, e, 2);
    ut_pool_close (fx->pool);
    fx->pool = ut_pool_open (fx->dir, 0, 0);
  }
}

/* Revert of a revert, writes after it, and a snapshot of the reverted
 * volume. */
static void
test_revert_of_a_revert_and_writes_after (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1], c[SV_UUID_STRLEN + 1];
  char e[128];
  struct sv_view *view;

  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  fill (fx->pool, "v", 2);
  ut_snapshot (fx->pool, "v", b);
  revert (fx->pool, "v", a);
  /* A partial write over the reverted content. */
  view = ut_view_open (fx->pool, "v");
  ut_write_pattern (view, 4 * KiB, 8 * KiB, 7, NULL);
  assert_pattern (view, 0, 4 * KiB, 1);
  assert_pattern (view, 4 * KiB, 8 * KiB, 7);
  assert_pattern (view, 12 * KiB, SIZE - 12 * KiB, 1);
  view_close (view);
  ut_snapshot (fx->pool, "v", c);
  /* Back to B, which was taken before the first revert. */
  revert (fx->pool, "v", b);
  assert_reads_pattern (fx->pool, "v", 2);
  /* And to C, on the branch the first revert made. */
  revert (fx->pool, "v", c);
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  view = ut_view_open (fx->pool, "v");
  assert_pattern (view, 0, 4 * KiB, 1);
  assert_pattern (view, 4 * KiB, 8 * KiB, 7);
  assert_pattern (view, 12 * KiB, SIZE - 12 * KiB, 1);
  view_close (view);
  snap_export (e, sizeof e, "v", b);
  assert_reads_pattern (fx->pool, e, 2);
}

/* What only the abandoned branch read comes back; what a snapshot
 * reads does not. */
static void
test_revert_reclaims_the_abandoned_branch_only (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1], e[128];
  struct sv_volume_info vi;

  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  fill (fx->pool, "v", 2);
  ut_snapshot (fx->pool, "v", b);
  fill (fx->pool, "v", 3);
  ut_volume_info (fx->pool, "v", &vi);
  assert_int_equal (vi.allocated_bytes, 3 * SIZE);
  /* Gen 3's data was read by the old live volume only. */
  revert (fx->pool, "v", a);
  ut_volume_info (fx->pool, "v", &vi);
  assert_int_equal (vi.allocated_bytes, 2 * SIZE);
  assert_int_equal (vi.referenced_bytes, SIZE);
  assert_int_equal (vi.snapshot_bytes, SIZE);      /* B's */
  assert_int_equal (ut_data_blocks (fx->dir, "v"), 2 * SIZE);
  /* B, on the abandoned branch: deleting it frees its data. */
  assert_int_equal (pool_snapshot_delete (fx->pool, b, NULL), 0);
  ut_volume_info (fx->pool, "v", &vi);
  assert_int_equal (vi.allocated_bytes, SIZE);
  assert_int_equal (ut_data_blocks (fx->dir, "v"), SIZE);
  /* A still reads, and the live volume reads A's data. */
  snap_export (e, sizeof e, "v", a);
  assert_reads_pattern (fx->pool, e, 1);
  /* Deleting A leaves the live volume's data: it reads it. */
  assert_int_equal (pool_snapshot_delete (fx->pool, a, NULL), 0);
  assert_reads_pattern (fx->pool, "v", 1);
  ut_volume_info (fx->pool, "v", &vi);
  assert_int_equal (vi.allocated_bytes, SIZE);
  assert_int_equal (vi.referenced_bytes, SIZE);
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_reads_pattern (fx->pool, "v", 1);
  ut_volume_info (fx->pool, "v", &vi);
  assert_int_equal (vi.allocated_bytes, SIZE);
}

/* Bad input: each a clear error, nothing reverted. */
static void
test_revert_bad_input_is_named (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], w[SV_UUID_STRLEN + 1];
  struct sv_revert_result res;
  struct sv_view *live;

  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  ut_snapshot (fx->pool, "w", w);
  fill (fx->pool, "v", 2);

  assert_fails_with (pool_volume_revert (fx->pool, "v", w, 0, &res), EXDEV);
  assert_errmsg_names ("is a snapshot of volume w, not v");
  assert_fails_with (pool_volume_revert (fx->pool, "v", "nope", 0, &res),
                     EINVAL);
  assert_errmsg_names ("invalid snapshot id 'nope'");
  assert_fails_with (pool_volume_revert (fx->pool, "v",
                                         "00000000-0000-4000-8000-000000000000",
                                         0, &res), ENOENT);
  assert_errmsg_names ("volume v has no snapshot or set"
                       " 00000000-0000-4000-8000-000000000000");
  assert_fails_with (pool_volume_revert (fx->pool, "x", a, 0, &res), ENOENT);
  assert_errmsg_names ("no volume named x");

  /* An open live volume: refused, then forced. */
  live = ut_view_open (fx->pool, "v");
  assert_fails_with (pool_volume_revert (fx->pool, "v", a, 0, &res), EBUSY);
  assert_errmsg_names ("volume v is open by 1 client: revert refused");
  assert_pattern (live, 0, SIZE, 2);
  assert_int_equal (pool_volume_revert (fx->pool, "v", a, 1, &res), 0);
  assert_pattern (live, 0, SIZE, 1);
  view_close (live);

  /* A snapshot deleted first: ENOENT, nothing reverted. */
  fill (fx->pool, "v", 3);
  ut_snapshot (fx->pool, "v", w);
  assert_int_equal (pool_snapshot_delete (fx->pool, w, NULL), 0);
  assert_fails_with (pool_volume_revert (fx->pool, "v", w, 0, &res), ENOENT);
  assert_reads_pattern (fx->pool, "v", 3);
}

/* The offline checker finds nothing wrong in a reverted pool (and
 * nothing unread: reclaim and the checker state one rule). */
static void
test_revert_pool_checks_clean (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1];
  struct sv_view *view;

  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  view = ut_view_open (fx->pool, "v");
  ut_write_pattern (view, 0, 200 * KiB, 2, NULL);
  view_close (view);
  ut_snapshot (fx->pool, "v", b);
  revert (fx->pool, "v", a);
  view = ut_view_open (fx->pool, "v");
  ut_write_pattern (view, 100 * KiB, 300 * KiB, 3, NULL);
  view_close (view);
  assert_int_equal (pool_snapshot_delete (fx->pool, a, NULL), 0);
  ut_pool_close (fx->pool);
  fx->pool = NULL;
  assert_check_clean (fx->dir);
}

/* Power loss around the revert's record: every state a crash during
 * the revert leaves reads the old content or the snapshot's, never a
 * mix, with both snapshots intact; once the revert returned, the new
 * one. */
#define PL_MAX_IMAGES 256

struct pl_images {
  struct crashsim *img[PL_MAX_IMAGES];
  size_t n;
};

static void
pl_hook (void *opaque, struct crashsim *cs, uint64_t op, const char *what)
{
  struct pl_images *pi = opaque;

  if (pi->n < PL_MAX_IMAGES)
    pi->img[pi->n++] = crashsim_crash (cs, op, CRASHSIM_RANDOM, NULL);
}

static bool
view_equals (struct sv_pool *pool, const char *export, const uint8_t *want)
{
  struct sv_view *view = ut_view_open (pool, export);
  uint8_t *buf = malloc (SIZE);
  bool same;

  assert_non_null (buf);
  assert_int_equal (view_pread (view, buf, SIZE, 0), 0);
  same = memcmp (buf, want, SIZE) == 0;
  free (buf);
  view_close (view);
  return same;
}

static void
test_power_loss_during_revert_leaves_old_or_new (void **state)
{
  struct crashsim *cs = crashsim_new ();
  struct sv_pool_options opts = { .io = crashsim_io (cs),
                                  .prealloc = SV_PREALLOC_NONE,
                                  .flush_threads = 1 };
  struct pl_images pi = { .n = 0 };
  uint8_t *one = malloc (SIZE), *two = malloc (SIZE), *old = malloc (SIZE);
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1], ea[128], eb[128];
  struct sv_revert_result res;
  struct sv_pool *pool;
  struct sv_view *view;
  size_t i, nold = 0, nnew = 0;

  (void) state;
  assert_non_null (one);
  assert_non_null (two);
  assert_non_null (old);
  ut_pattern (one, SIZE, 0, 1);
  ut_pattern (two, SIZE, 0, 2);
  memcpy (old, two, SIZE);
  ut_pattern (old, 256 * KiB, 0, 3);
  pool = pool_open ("/pool", &opts, 1);
  assert_non_null (pool);
  assert_int_equal (pool_volume_create (pool, "v", SIZE, CS), 0);
  fill (pool, "v", 1);
  ut_snapshot (pool, "v", a);
  fill (pool, "v", 2);
  ut_snapshot (pool, "v", b);
  view = ut_view_open (pool, "v");
  ut_write_pattern (view, 0, 256 * KiB, 3, NULL);
  assert_int_equal (view_flush (view), 0);
  view_close (view);
  snap_export (ea, sizeof ea, "v", a);
  snap_export (eb, sizeof eb, "v", b);

  crashsim_set_hook (cs, pl_hook, &pi);
  assert_int_equal (pool_volume_revert (pool, "v", a, 0, &res), 0);
  crashsim_set_hook (cs, NULL, NULL);
  assert_true (pi.n > 0 && pi.n < PL_MAX_IMAGES);
  /* After the return: durable. */
  pi.img[pi.n++] = crashsim_crash (cs, 1, CRASHSIM_SYNCED_ONLY, NULL);
  pool_close (pool);

  for (i = 0; i < pi.n; i++) {
    struct sv_pool_options o = opts;
    bool is_old, is_new;

    o.io = crashsim_io (pi.img[i]);
    pool = pool_open ("/pool", &o, 0);
    if (pool == NULL)
      fail_msg ("image %zu: pool_open: %s", i, sv_errmsg ());
    is_old = view_equals (pool, "v", old);
    is_new = view_equals (pool, "v", one);
    if (!is_old && !is_new)
      fail_msg ("image %zu of %zu: the live volume reads neither the old"
                " content nor the snapshot's", i, pi.n);
    if (i == pi.n - 1 && !is_new)
      fail_msg ("the revert returned, but a power loss took it back");
    nold += is_old;
    nnew += is_new;
    assert_true (view_equals (pool, ea, one));
    assert_true (view_equals (pool, eb, two));
    ut_pool_close (pool);
    crashsim_free (pi.img[i]);
  }
  printf ("%zu crash images: %zu old, %zu new\n", pi.n, nold, nnew);
  assert_true (nold > 0);
  assert_true (nnew > 0);
  crashsim_free (cs);
  free (one);
  free (two);
  free (old);
}

/* A random workload against a model: generations as a tree, every
 * view's content kept, every pair of views diffed against brute
 * force. */

#define MAXV 24

struct mview {
  char id[SV_UUID_STRLEN + 1];
  uint32_t gen;
  uint8_t *data;
};

struct model {
  struct sv_pool *pool;
  const char *dir;
  uint64_t rng;
  uint8_t live[SIZE];
  struct mview snaps[MAXV];
  size_t nsnaps;
  /* Per generation: its parent and the subclusters touched in it. */
  uint32_t parent[4096];
  uint8_t touched[4096][SIZE / (4 * KiB)];
  uint32_t live_gen;
};

static bool
sees (const struct model *m, uint32_t view, uint32_t g)
{
  while (view > g)
    view = m->parent[view];
  return view == g;
}

static void
touch (struct model *m, uint64_t off, uint64_t len)
{
  uint64_t s;

  for (s = off / (4 * KiB); s <= (off + len - 1) / (4 * KiB); s++)
    m->touched[m->live_gen][s] = 1;
}

static void
op_write (struct model *m)
{
  uint64_t off = ut_rand_below (&m->rng, SIZE / 512) * 512;
  uint64_t len = 512 * (1 + ut_rand_below (&m->rng, 256));
  struct sv_view *view = ut_view_open (m->pool, "v");
  uint32_t seed = (uint32_t) ut_rand (&m->rng);

  if (len > SIZE - off)
    len = SIZE - off;
  if (ut_rand_below (&m->rng, 4) == 0) {
    assert_int_equal (view_zero (view, (uint32_t) len, off, 1, 0, 0), 0);
    memset (m->live + off, 0, len);
  }
  else
    ut_write_pattern (view, off, (uint32_t) len, seed, m->live);
  view_close (view);
  touch (m, off, len);
}

static void
op_snapshot (struct model *m)
{
  struct mview *s;

  if (m->nsnaps == MAXV)
    return;
  s = &m->snaps[m->nsnaps++];
  ut_snapshot (m->pool, "v", s->id);
  s->gen = m->live_gen;
  s->data = malloc (SIZE);
  assert_non_null (s->data);
  memcpy (s->data, m->live, SIZE);
  m->live_gen++;
  m->parent[m->live_gen] = m->live_gen - 1;
}

static void
op_revert (struct model *m)
{
  struct sv_revert_result res;
  struct mview *s;

  if (m->nsnaps == 0)
    return;
  s = &m->snaps[ut_rand_below (&m->rng, m->nsnaps)];
  if (pool_volume_revert (m->pool, "v", s->id, 0, &res) == -1)
    fail_msg ("revert: %s", sv_errmsg ());
  m->live_gen++;
  assert_int_equal (res.generation, m->live_gen);
  assert_int_equal (res.parent, s->gen);
  m->parent[m->live_gen] = s->gen;
  memcpy (m->live, s->data, SIZE);
}

static void
op_delete (struct model *m)
{
  size_t i;

  if (m->nsnaps == 0)
    return;
  i = ut_rand_below (&m->rng, m->nsnaps);
  assert_int_equal (pool_snapshot_delete (m->pool, m->snaps[i].id, NULL), 0);
  free (m->snaps[i].data);
  memmove (&m->snaps[i], &m->snaps[i + 1],
           (m->nsnaps - i - 1) * sizeof m->snaps[0]);
  m->nsnaps--;
}

struct diffmap {
  uint8_t kind[SIZE / (4 * KiB)];
};

static int
diff_cb (uint64_t offset, uint64_t length, enum sv_diff_kind kind,
         void *opaque)
{
  struct diffmap *dm = opaque;
  uint64_t s;

  for (s = offset / (4 * KiB); s < (offset + length) / (4 * KiB); s++)
    dm->kind[s] = (uint8_t) kind;
  return 0;
}

/* The diff from A to B (B NULL: the live volume) against brute force:
 * every subcluster that differs reported, with TO's kind; nothing
 * reported that no generation in the symmetric difference of their
 * ancestors touched. */
static void
check_diff (struct model *m, const struct mview *a, const struct mview *b)
{
  struct diffmap dm;
  const uint8_t *to = b ? b->data : m->live;
  uint32_t tg = b ? b->gen : m->live_gen, g;
  uint64_t next = 0, s;
  static const uint8_t zero[4 * KiB];

  memset (&dm, 0, sizeof dm);
  if (b && sees (m, a->gen, b->gen))
    return;                     /* not older: refused (tested elsewhere) */
  while (next != UINT64_MAX)
    if (pool_snapshot_diff (m->pool, "v", a->id, b ? b->id : NULL, next, 7,
                            diff_cb, &dm, &next) == -1)
      fail_msg ("diff %u -> %u: %s", a->gen, tg, sv_errmsg ());
  for (s = 0; s < SIZE / (4 * KiB); s++) {
    bool differs = memcmp (a->data + s * 4 * KiB, to + s * 4 * KiB,
                           4 * KiB) != 0;
    bool allowed = false;

    if (differs && dm.kind[s] == 0)
      fail_msg ("diff %u -> %u misses subcluster %" PRIu64, a->gen, tg, s);
    if (dm.kind[s] == SV_DIFF_ZERO &&
        memcmp (to + s * 4 * KiB, zero, sizeof zero) != 0)
      fail_msg ("diff %u -> %u: subcluster %" PRIu64 " reported zero, TO"
                " reads data", a->gen, tg, s);
    for (g = 1; g <= m->live_gen && !allowed; g++)
      if (m->touched[g][s] && sees (m, a->gen, g) != sees (m, tg, g))
        allowed = true;
    if (dm.kind[s] != 0 && !allowed)
      fail_msg ("diff %u -> %u reports subcluster %" PRIu64 " that no"
                " generation between them touched", a->gen, tg, s);
  }
}

static void
check_model (struct model *m, bool diffs)
{
  char e[128];
  size_t i, j;
  struct sv_view *view = ut_view_open (m->pool, "v");

  assert_view_reads (view, 0, SIZE, m->live);
  view_close (view);
  for (i = 0; i < m->nsnaps; i++) {
    snap_export (e, sizeof e, "v", m->snaps[i].id);
    view = ut_view_open (m->pool, e);
    assert_view_reads (view, 0, SIZE, m->snaps[i].data);
    view_close (view);
  }
  if (!diffs)
    return;
  for (i = 0; i < m->nsnaps; i++) {
    check_diff (m, &m->snaps[i], NULL);
    for (j = 0; j < m->nsnaps; j++)
      if (i != j)
        check_diff (m, &m->snaps[i], &m->snaps[j]);
  }
}

static void
test_revert_random_workload_against_a_model (void **state)
{
  struct fixture *fx = *state;
  uint64_t seed = ut_env_u64 ("SNAPVOL_TEST_SEED", 0x5eed17);
  unsigned steps = (unsigned) ut_env_u64 ("SNAPVOL_REVERT_STEPS", 400), k;
  struct model *m = calloc (1, sizeof *m);

  assert_non_null (m);
  printf ("seed %#" PRIx64 "\n", seed);
  m->pool = fx->pool;
  m->dir = fx->dir;
  m->rng = seed;
  m->live_gen = 1;
  for (k = 0; k < steps && m->live_gen < 4000; k++) {
    uint64_t op = ut_rand_below (&m->rng, 20);
    if (op < 11)
      op_write (m);
    else if (op < 14)
      op_snapshot (m);
    else if (op < 17)
      op_revert (m);
    else if (op < 19)
      op_delete (m);
    else {
      ut_pool_close (fx->pool);
      fx->pool = m->pool = ut_pool_open (fx->dir, 0, 0);
    }
    check_model (m, k % 10 == 9);
  }
  check_model (m, true);
  ut_pool_close (fx->pool);
  fx->pool = NULL;
  assert_check_clean (fx->dir);
  for (k = 0; k < m->nsnaps; k++)
    free (m->snaps[k].data);
  free (m);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown
      (test_revert_reads_the_snapshot_and_keeps_later_snapshots, setup,
       teardown),
    cmocka_unit_test_setup_teardown (test_revert_of_a_revert_and_writes_after,
                                     setup, teardown),
    cmocka_unit_test_setup_teardown
      (test_revert_reclaims_the_abandoned_branch_only, setup, teardown),
    cmocka_unit_test_setup_teardown (test_revert_bad_input_is_named, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_revert_pool_checks_clean, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown
      (test_revert_random_workload_against_a_model, setup, teardown),
    cmocka_unit_test (test_power_loss_during_revert_leaves_old_or_new),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
