/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-deadidx.c: a snapshot's deletion by the dead index (deadidx.h,
 * docs/design.md "Deleting a snapshot"): what it visits (the clusters
 * written around the snapshot, not the map), that it frees exactly
 * what no view reads any more against a model of every view's bytes
 * over random writes, zeroes, snapshots, deletions and reopens, that a
 * power loss at any write of a deletion keeps every survivor's bytes
 * and leaves the space a reopen finds equal to the model's, that a
 * reverted volume goes back to the tables, and that the index's copy
 * for a deletion, taken a chunk at a time, is its lists as they were
 * while another thread appends.
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
#include <time.h>

#include <cmocka.h>
#include <pthread.h>

#include "crashsim.h"
#include "deadidx.h"
#include "pool.h"
#include "sio.h"
#include "unit-helpers.h"

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
  *state = fx;
  return 0;
}

static void bgio_hold (int on);

static int
teardown (void **state)
{
  struct fixture *fx = *state;

  bgio_hold (0);              /* a failed check left it held */

  if (fx->pool)
    ut_pool_close (fx->pool);
  ut_rmtree (fx->dir);
  free (fx->dir);
  free (fx);
  return 0;
}

static void
reopen (struct fixture *fx)
{
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
}

static void
write_cluster (struct sv_pool *pool, const char *name, uint64_t k,
               uint32_t seed)
{
  struct sv_view *v = ut_view_open (pool, name);

  ut_write_pattern (v, k * CS, CS, seed, NULL);
  view_close (v);
}

/* Snapshots S[0..n]: S[0] after the first N + 2 clusters were written;
 * S[k] (k >= 1) after cluster k was rewritten, and cluster k is
 * rewritten again right after it, so that S[k] alone reads that
 * version: deleting it frees one cluster. */
static void
make_chain (struct sv_pool *pool, const char *name, size_t n,
            char (*ids)[SV_UUID_STRLEN + 1])
{
  struct sv_view *v = ut_view_open (pool, name);
  size_t k;

  ut_write_pattern (v, 0, (uint32_t) ((n + 2) * CS), 1, NULL);
  ut_snapshot (pool, name, ids[0]);
  for (k = 1; k <= n; k++) {
    write_cluster (pool, name, k, (uint32_t) (100 + k));
    ut_snapshot (pool, name, ids[k]);
    write_cluster (pool, name, k, (uint32_t) (10000 + k));
  }
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  if (getenv ("SNAPVOL_DEADIDX_DEBUG"))
    for (k = 0; k <= n; k++) {
      struct sv_snapshot_info si;
      ut_snapshot_info (pool, ids[k], &si);
      printf ("S[%zu] gen %u exclusive %" PRIu64 "\n", k, si.generation,
              si.exclusive_bytes);
    }
}

/* Delete ID and check that it freed FREED bytes, its exclusive bytes,
 * while the reclaim examined at most MAX_VISITS clusters. */
static void
delete_and_count (struct sv_pool *pool, const char *name, const char *id,
                  uint64_t freed, uint64_t max_visits)
{
  struct sv_volume_info before, after;
  struct sv_snapshot_info si;
  size_t nd = 0;

  ut_snapshot_info (pool, id, &si);
  assert_int_equal (si.exclusive_bytes, freed);
  ut_volume_info (pool, name, &before);
  assert_int_equal (pool_snapshot_delete (pool, id, &nd), 0);
  assert_int_equal (nd, 1);
  ut_volume_info (pool, name, &after);
  assert_int_equal (before.allocated_bytes - after.allocated_bytes, freed);
  assert_int_equal (after.reclaim_freed_bytes - before.reclaim_freed_bytes,
                    freed);
  if (after.reclaim_visited - before.reclaim_visited > max_visits)
    fail_msg ("deleting %s examined %" PRIu64 " clusters, more than %"
              PRIu64, id, after.reclaim_visited - before.reclaim_visited,
              max_visits);
}

#define CHAIN 120

/* 121 snapshots over 122 written clusters of one table: deleting the
 * oldest, one in the middle and the newest examines the two or three
 * clusters written between its neighbours, not the table's 122 (and
 * after a reopen, which rebuilds the index from the map, the same). */
static void
test_deletion_examines_the_clusters_written_around_it (void **state)
{
  struct fixture *fx = *state;
  char (*ids)[SV_UUID_STRLEN + 1] = calloc (CHAIN + 1, sizeof *ids);
  struct sv_volume_info vi;
  struct sv_view *s;
  char exp[128];

  assert_non_null (ids);
  assert_int_equal (pool_volume_create (fx->pool, "many", 32 * MiB, CS), 0);
  make_chain (fx->pool, "many", CHAIN, ids);
  ut_volume_info (fx->pool, "many", &vi);
  assert_int_equal (vi.dead_index, 1);

  /* The oldest alone reads cluster 1's first data. */
  delete_and_count (fx->pool, "many", ids[0], CS, 3);
  delete_and_count (fx->pool, "many", ids[60], CS, 3);
  delete_and_count (fx->pool, "many", ids[CHAIN], CS, 3);
  reopen (fx);
  ut_volume_info (fx->pool, "many", &vi);
  assert_int_equal (vi.dead_index, 1);
  delete_and_count (fx->pool, "many", ids[30], CS, 3);
  delete_and_count (fx->pool, "many", ids[90], CS, 3);

  /* Survivors read what they pinned. */
  snprintf (exp, sizeof exp, "many@%s", ids[1]);
  s = ut_view_open (fx->pool, exp);
  assert_pattern (s, 0, CS, 1);
  assert_pattern (s, CS, CS, 101);
  assert_pattern (s, 2 * CS, CS, 1);
  view_close (s);
  snprintf (exp, sizeof exp, "many@%s", ids[2]);
  s = ut_view_open (fx->pool, exp);
  assert_pattern (s, 0, CS, 1);
  assert_pattern (s, CS, CS, 10001);
  assert_pattern (s, 2 * CS, CS, 102);
  assert_pattern (s, 3 * CS, CS, 1);
  view_close (s);
  snprintf (exp, sizeof exp, "many@%s", ids[31]);
  s = ut_view_open (fx->pool, exp);
  assert_pattern (s, 30 * CS, CS, 10030);
  assert_pattern (s, 31 * CS, CS, 131);
  assert_pattern (s, 32 * CS, CS, 1);
  view_close (s);
  free (ids);
}

/* The newest snapshot's deletion lowers the copy-on-write threshold
 * under a version it pinned, which writes then change in place: one
 * that gains a subcluster an older version holds shadows it from then
 * on, and the older snapshot's deletion must find it. */
static void
test_write_in_place_after_the_newest_deletion_is_found (void **state)
{
  struct fixture *fx = *state;
  char p[SV_UUID_STRLEN + 1], l[SV_UUID_STRLEN + 1];
  struct sv_volume_info vi;
  struct sv_view *v;

  assert_int_equal (pool_volume_create (fx->pool, "ip", MiB, CS), 0);
  v = ut_view_open (fx->pool, "ip");
  ut_write_pattern (v, 0, 4096, 1, NULL);
  ut_snapshot (fx->pool, "ip", p);
  /* A new version holding subcluster 3 only, which no older one
   * defines: it shadows nothing yet. */
  ut_write_pattern (v, 3 * 4096, 4096, 2, NULL);
  ut_snapshot (fx->pool, "ip", l);
  assert_int_equal (pool_snapshot_delete (fx->pool, l, NULL), 0);
  /* In place now (the threshold is P's): subcluster 0 over P's. */
  ut_write_pattern (v, 0, 4096, 3, NULL);
  assert_int_equal (view_flush (v), 0);
  ut_volume_info (fx->pool, "ip", &vi);
  assert_int_equal (vi.allocated_bytes, 3 * 4096);
  assert_int_equal (pool_snapshot_delete (fx->pool, p, NULL), 0);
  ut_volume_info (fx->pool, "ip", &vi);
  assert_int_equal (vi.referenced_bytes, 2 * 4096);
  assert_int_equal (vi.allocated_bytes, 2 * 4096);
  assert_pattern (v, 0, 4096, 3);
  assert_zero (v, 4096, 2 * 4096);
  assert_pattern (v, 3 * 4096, 4096, 2);
  view_close (v);
}

/* A model of every view's bytes (the live volume and each snapshot),
 * driven by seeded random writes, zeroes, snapshots, deletions and
 * reopens.  After each deletion: every survivor and the live volume
 * read exactly their bytes, the deletion freed at least the deleted
 * snapshot's exclusive bytes, and it left nothing newly unread
 * (allocated - referenced - snapshot-only bytes does not grow; it is
 * only ever above 0 where a write in place after the newest snapshot's
 * deletion left older data unread, which the open reclaims). */
#define M_SIZE (2 * MiB)
#define M_SNAPS 10
#define M_OPS 700

struct model {
  uint8_t *live;
  uint8_t *snap[M_SNAPS];
  char id[M_SNAPS][SV_UUID_STRLEN + 1];
  size_t nsnaps;
};

static uint64_t
unread_bytes (const struct sv_volume_info *vi)
{
  return vi->allocated_bytes - vi->referenced_bytes - vi->snapshot_bytes;
}

static void
model_check_views (struct sv_pool *pool, const struct model *m)
{
  struct sv_view *v = ut_view_open (pool, "m");
  char exp[128];
  size_t k;

  assert_view_reads (v, 0, M_SIZE, m->live);
  view_close (v);
  for (k = 0; k < m->nsnaps; k++) {
    snprintf (exp, sizeof exp, "m@%s", m->id[k]);
    v = ut_view_open (pool, exp);
    assert_view_reads (v, 0, M_SIZE, m->snap[k]);
    view_close (v);
  }
}

static void
model_delete (struct sv_pool *pool, struct model *m, size_t k)
{
  struct sv_volume_info before, after;
  struct sv_snapshot_info si;
  uint8_t *gone = m->snap[k];

  ut_snapshot_info (pool, m->id[k], &si);
  ut_volume_info (pool, "m", &before);
  assert_int_equal (pool_snapshot_delete (pool, m->id[k], NULL), 0);
  ut_volume_info (pool, "m", &after);
  if (before.allocated_bytes - after.allocated_bytes < si.exclusive_bytes)
    fail_msg ("deleting a snapshot holding %" PRIu64 " bytes alone freed %"
              PRIu64, si.exclusive_bytes,
              before.allocated_bytes - after.allocated_bytes);
  if (unread_bytes (&after) > unread_bytes (&before))
    fail_msg ("the deletion left %" PRIu64 " bytes nobody reads (%" PRIu64
              " before)", unread_bytes (&after), unread_bytes (&before));
  memmove (&m->snap[k], &m->snap[k + 1],
           (m->nsnaps - k - 1) * sizeof m->snap[0]);
  memmove (&m->id[k], &m->id[k + 1], (m->nsnaps - k - 1) * sizeof m->id[0]);
  m->nsnaps--;
  free (gone);
  model_check_views (pool, m);
}

static void
model_write (struct sv_pool *pool, struct model *m, uint64_t *rs,
             uint32_t seed)
{
  struct sv_view *v = ut_view_open (pool, "m");
  uint64_t off, len;

  if (ut_rand_below (rs, 4) == 0) {
    /* Zeroes, whole 4 KiB subclusters (trimmed where it can). */
    off = ut_rand_below (rs, M_SIZE / 4096) * 4096;
    len = (1 + ut_rand_below (rs, 24)) * 4096;
    if (off + len > M_SIZE)
      len = M_SIZE - off;
    assert_int_equal (view_zero (v, (uint32_t) len, off, 1, 0, 0), 0);
    memset (m->live + off, 0, len);
  }
  else {
    off = ut_rand_below (rs, M_SIZE);
    len = 1 + ut_rand_below (rs, 3 * CS);
    if (off + len > M_SIZE)
      len = M_SIZE - off;
    ut_write_pattern (v, off, (uint32_t) len, seed, m->live);
  }
  view_close (v);
}

static void
test_random_deletions_free_what_no_view_reads (void **state)
{
  struct fixture *fx = *state;
  uint64_t seed = ut_env_u64 ("SNAPVOL_DEADIDX_SEED", 0x5eedull);
  uint64_t rs = seed;
  struct sv_volume_info vi;
  struct model m;
  int op;

  printf ("seed %#" PRIx64 " (SNAPVOL_DEADIDX_SEED)\n", seed);
  memset (&m, 0, sizeof m);
  m.live = calloc (1, M_SIZE);
  assert_non_null (m.live);
  assert_int_equal (pool_volume_create (fx->pool, "m", M_SIZE, CS), 0);
  for (op = 0; op < M_OPS; op++) {
    uint64_t r = ut_rand_below (&rs, 100);

    if (r < 70)
      model_write (fx->pool, &m, &rs, (uint32_t) op + 1);
    else if (r < 83 && m.nsnaps < M_SNAPS) {
      ut_snapshot (fx->pool, "m", m.id[m.nsnaps]);
      m.snap[m.nsnaps] = malloc (M_SIZE);
      assert_non_null (m.snap[m.nsnaps]);
      memcpy (m.snap[m.nsnaps], m.live, M_SIZE);
      m.nsnaps++;
    }
    else if (r < 97 && m.nsnaps > 0)
      model_delete (fx->pool, &m, ut_rand_below (&rs, m.nsnaps));
    else if (r >= 97) {
      reopen (fx);
      model_check_views (fx->pool, &m);
    }
  }
  while (m.nsnaps > 0)
    model_delete (fx->pool, &m, ut_rand_below (&rs, m.nsnaps));
  /* With every snapshot gone, a reopen (the whole map) leaves exactly
   * what the live volume reads. */
  reopen (fx);
  ut_volume_info (fx->pool, "m", &vi);
  assert_int_equal (vi.allocated_bytes, vi.referenced_bytes);
  model_check_views (fx->pool, &m);
  free (m.live);
}

/* A reverted volume's generations form a tree: the index is dropped
 * and deletions go over the tables, freeing what they freed before. */
static void
test_reverted_volume_deletes_by_the_tables (void **state)
{
  struct fixture *fx = *state;
  char (*ids)[SV_UUID_STRLEN + 1] = calloc (5, sizeof *ids);
  struct sv_revert_result res;
  struct sv_volume_info vi;

  assert_non_null (ids);
  assert_int_equal (pool_volume_create (fx->pool, "rv", 4 * MiB, CS), 0);
  make_chain (fx->pool, "rv", 4, ids);
  assert_int_equal (pool_volume_revert (fx->pool, "rv", ids[4], 0, &res),
                    0);
  ut_volume_info (fx->pool, "rv", &vi);
  assert_int_equal (vi.dead_index, 0);
  assert_int_equal (vi.dead_entries, 0);
  delete_and_count (fx->pool, "rv", ids[2], CS, 64);
  reopen (fx);
  ut_volume_info (fx->pool, "rv", &vi);
  assert_int_equal (vi.dead_index, 0);
  delete_and_count (fx->pool, "rv", ids[1], CS, 64);
  free (ids);
}

/* Power loss at every write of a deletion by the index (and a kill -9
 * after each): every surviving snapshot and the live volume read
 * exactly their bytes, the deleted one is gone or exact, and the space
 * a reopen finds is the model's: what was held with the snapshot, or
 * without it. */
#define PL_SIZE (1 * MiB)
#define PL_CHAIN 8
#define PL_MAX_IMAGES 512

struct pl_images {
  struct crashsim *img[PL_MAX_IMAGES];
  size_t n;
};

static void
pl_hook (void *opaque, struct crashsim *cs, uint64_t op, const char *what)
{
  struct pl_images *pi = opaque;

  if (pi->n + 2 <= PL_MAX_IMAGES) {
    pi->img[pi->n++] = crashsim_crash (cs, op, CRASHSIM_RANDOM, NULL);
    pi->img[pi->n++] = crashsim_crash (cs, op, CRASHSIM_KEEP_ALL, NULL);
  }
}

static void
read_all (struct sv_pool *pool, const char *export, uint8_t *buf)
{
  struct sv_view *v = ut_view_open (pool, export);

  assert_int_equal (view_pread (v, buf, PL_SIZE, 0), 0);
  view_close (v);
}

static void
test_power_loss_during_deletion_keeps_survivors_and_space (void **state)
{
  struct crashsim *cs = crashsim_new ();
  struct sv_pool_options opts = { .io = crashsim_io (cs),
                                  .prealloc = SV_PREALLOC_NONE,
                                  .flush_threads = 1 };
  struct pl_images pi = { .n = 0 };
  char (*ids)[SV_UUID_STRLEN + 1] = calloc (PL_CHAIN + 1, sizeof *ids);
  uint8_t *want[PL_CHAIN + 2], *got = malloc (PL_SIZE);
  uint64_t with, without;
  struct sv_volume_info vi;
  struct sv_pool *pool;
  const size_t victim = PL_CHAIN / 2;
  size_t i, k, ngone = 0, nkept = 0;
  char exp[128];

  (void) state;
  assert_non_null (ids);
  assert_non_null (got);
  pool = pool_open ("/pool", &opts, 1);
  assert_non_null (pool);
  assert_int_equal (pool_volume_create (pool, "p", PL_SIZE, CS), 0);
  make_chain (pool, "p", PL_CHAIN, ids);
  /* What each view reads, the live volume last. */
  for (k = 0; k <= PL_CHAIN; k++) {
    want[k] = malloc (PL_SIZE);
    assert_non_null (want[k]);
    snprintf (exp, sizeof exp, "p@%s", ids[k]);
    read_all (pool, exp, want[k]);
  }
  want[PL_CHAIN + 1] = malloc (PL_SIZE);
  assert_non_null (want[PL_CHAIN + 1]);
  read_all (pool, "p", want[PL_CHAIN + 1]);
  ut_volume_info (pool, "p", &vi);
  assert_int_equal (vi.allocated_bytes,
                    vi.referenced_bytes + vi.snapshot_bytes);
  with = vi.allocated_bytes;

  crashsim_set_hook (cs, pl_hook, &pi);
  assert_int_equal (pool_snapshot_delete (pool, ids[victim], NULL), 0);
  crashsim_set_hook (cs, NULL, NULL);
  assert_true (pi.n > 0 && pi.n < PL_MAX_IMAGES);
  ut_volume_info (pool, "p", &vi);
  without = vi.allocated_bytes;
  assert_int_equal (with - without, CS);
  /* After the return: durable. */
  pi.img[pi.n++] = crashsim_crash (cs, 1, CRASHSIM_SYNCED_ONLY, NULL);
  pool_close (pool);

  for (i = 0; i < pi.n; i++) {
    struct sv_pool_options o = opts;
    size_t nsnaps;

    o.io = crashsim_io (pi.img[i]);
    pool = pool_open ("/pool", &o, 0);
    if (pool == NULL)
      fail_msg ("image %zu: pool_open: %s", i, sv_errmsg ());
    nsnaps = ut_snapshot_count (pool, "p");
    if (nsnaps != PL_CHAIN && nsnaps != PL_CHAIN + 1)
      fail_msg ("image %zu: %zu snapshots", i, nsnaps);
    if (i == pi.n - 1 && nsnaps != PL_CHAIN)
      fail_msg ("the deletion returned, but a power loss took it back");
    for (k = 0; k <= PL_CHAIN; k++) {
      if (k == victim && nsnaps == PL_CHAIN)
        continue;
      snprintf (exp, sizeof exp, "p@%s", ids[k]);
      read_all (pool, exp, got);
      if (memcmp (got, want[k], PL_SIZE) != 0)
        fail_msg ("image %zu: snapshot %zu does not read its bytes", i, k);
    }
    read_all (pool, "p", got);
    if (memcmp (got, want[PL_CHAIN + 1], PL_SIZE) != 0)
      fail_msg ("image %zu: the live volume does not read its bytes", i);
    ut_volume_info (pool, "p", &vi);
    if (vi.allocated_bytes != (nsnaps == PL_CHAIN ? without : with))
      fail_msg ("image %zu: %" PRIu64 " bytes held with %zu snapshots,"
                " the model says %" PRIu64, i, vi.allocated_bytes, nsnaps,
                nsnaps == PL_CHAIN ? without : with);
    ngone += nsnaps == PL_CHAIN;
    nkept += nsnaps != PL_CHAIN;
    ut_pool_close (pool);
    crashsim_free (pi.img[i]);
  }
  printf ("%zu crash images: %zu kept the snapshot, %zu lost it\n", pi.n,
          nkept, ngone);
  assert_true (ngone > 0);
  assert_true (nkept > 0);
  crashsim_free (cs);
  for (k = 0; k <= PL_CHAIN + 1; k++)
    free (want[k]);
  free (got);
  free (ids);
}

/* A large reclaim: 1 MiB of 4 KiB clusters written three times, A and
 * B pinned between them; B alone reads 256 clusters. */
#define BG_SIZE (1 * MiB)
#define BG_CS (4 * KiB)
#define BG_CLUSTERS (BG_SIZE / BG_CS)

static void
make_large_reclaim (struct sv_pool *pool, char *a, char *b)
{
  struct sv_view *v;

  assert_int_equal (pool_volume_create (pool, "bg", BG_SIZE, BG_CS), 0);
  v = ut_view_open (pool, "bg");
  ut_write_pattern (v, 0, BG_SIZE, 1, NULL);
  ut_snapshot (pool, "bg", a);
  ut_write_pattern (v, 0, BG_SIZE, 2, NULL);
  ut_snapshot (pool, "bg", b);
  ut_write_pattern (v, 0, BG_SIZE, 3, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
}

/* An I/O layer (POSIX underneath) that, while held, stops every write
 * made by a thread other than the test's: the background reclaim's
 * first flush, once the deletion returned. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t main;
  int hold, stopped;
} bgio = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static ssize_t
bgio_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  pthread_mutex_lock (&bgio.mu);
  if (bgio.hold && !pthread_equal (pthread_self (), bgio.main)) {
    bgio.stopped = 1;
    pthread_cond_broadcast (&bgio.cv);
    while (bgio.hold)
      pthread_cond_wait (&bgio.cv, &bgio.mu);
  }
  pthread_mutex_unlock (&bgio.mu);
  return sio_posix.ops->pwrite (sio_posix.opaque, h, buf, n, off);
}

static struct sv_io_ops bgio_ops;
static const struct sv_io bgio_io = { &bgio_ops, NULL };

static void
bgio_hold (int on)
{
  pthread_mutex_lock (&bgio.mu);
  bgio_ops = *sio_posix.ops;
  bgio_ops.pwrite = bgio_pwrite;
  bgio.main = pthread_self ();
  bgio.hold = on;
  if (on)
    bgio.stopped = 0;
  pthread_cond_broadcast (&bgio.cv);
  pthread_mutex_unlock (&bgio.mu);
}

static void
bgio_wait_stopped (void)
{
  pthread_mutex_lock (&bgio.mu);
  while (!bgio.stopped)
    pthread_cond_wait (&bgio.cv, &bgio.mu);
  pthread_mutex_unlock (&bgio.mu);
}

/* Poll until no background reclaim runs on "bg" (at most 60 s). */
static void
wait_reclaimed (struct sv_pool *pool, struct sv_volume_info *vi)
{
  int i;

  for (i = 0; i < 6000; i++) {
    const struct timespec ts = { 0, 10 * 1000 * 1000 };
    ut_volume_info (pool, "bg", vi);
    if (!vi->reclaim_running)
      return;
    nanosleep (&ts, NULL);
  }
  fail_msg ("the background reclaim still runs after 60 s");
}

static void
assert_bg_reads (struct sv_pool *pool, const char *a, const char *b)
{
  struct sv_view *v;
  char exp[128];

  snprintf (exp, sizeof exp, "bg@%s", a);
  v = ut_view_open (pool, exp);
  assert_pattern (v, 0, BG_SIZE, 1);
  view_close (v);
  if (b) {
    snprintf (exp, sizeof exp, "bg@%s", b);
    v = ut_view_open (pool, exp);
    assert_pattern (v, 0, BG_SIZE, 2);
    view_close (v);
  }
  v = ut_view_open (pool, "bg");
  assert_pattern (v, 0, BG_SIZE, 3);
  view_close (v);
}

/* The deletion returns once its record is durable and the first 16
 * steps are done; the rest goes on in steps of one cluster, its
 * progress in the volume's info, until all 256 are free. */
static void
test_large_reclaim_goes_on_in_the_background (void **state)
{
  struct fixture *fx = *state;
  struct sv_pool_options opts = { .io = &bgio_io, .reclaim_step = 1 };
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1];
  struct sv_volume_info vi;
  size_t nd = 0;

  bgio_hold (0);
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open_opts (fx->dir, &opts, 0);
  make_large_reclaim (fx->pool, a, b);
  ut_volume_info (fx->pool, "bg", &vi);
  assert_int_equal (vi.allocated_bytes, 3 * BG_SIZE);
  assert_int_equal (vi.reclaim_running, 0);

  /* Hold the background reclaim at its first write: the flush after
   * its first step of one cluster. */
  bgio_hold (1);
  assert_int_equal (pool_snapshot_delete (fx->pool, b, &nd), 0);
  assert_int_equal (nd, 1);
  bgio_wait_stopped ();
  ut_volume_info (fx->pool, "bg", &vi);
  assert_int_equal (vi.nsnapshots, 1);
  assert_int_equal (vi.reclaim_running, 1);
  assert_int_equal (vi.reclaim_total, BG_CLUSTERS);
  assert_int_equal (vi.reclaim_done, 17);
  assert_int_equal (vi.reclaim_queued, 0);
  assert_int_equal (vi.reclaim_run_freed, BG_CS);
  assert_int_equal (vi.allocated_bytes, 3 * BG_SIZE - 17 * BG_CS);
  bgio_hold (0);
  wait_reclaimed (fx->pool, &vi);
  assert_int_equal (vi.allocated_bytes, 2 * BG_SIZE);
  assert_bg_reads (fx->pool, a, NULL);
  reopen (fx);
  ut_volume_info (fx->pool, "bg", &vi);
  assert_int_equal (vi.allocated_bytes, 2 * BG_SIZE);
}

/* Closing the pool stops the background reclaim where it is; the open
 * reclaims the rest. */
static void
test_close_during_background_reclaim_leaves_the_rest_to_the_open
  (void **state)
{
  struct fixture *fx = *state;
  struct sv_pool_options opts = { .io = &bgio_io, .reclaim_step = 1 };
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1];
  struct sv_volume_info vi;

  bgio_hold (0);
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open_opts (fx->dir, &opts, 0);
  make_large_reclaim (fx->pool, a, b);
  bgio_hold (1);
  assert_int_equal (pool_snapshot_delete (fx->pool, b, NULL), 0);
  bgio_wait_stopped ();
  ut_volume_info (fx->pool, "bg", &vi);
  assert_int_equal (vi.reclaim_running, 1);
  assert_int_equal (vi.allocated_bytes, 3 * BG_SIZE - 17 * BG_CS);
  bgio_hold (0);
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  ut_volume_info (fx->pool, "bg", &vi);
  assert_int_equal (vi.nsnapshots, 1);
  assert_int_equal (vi.reclaim_running, 0);
  assert_int_equal (vi.allocated_bytes, 2 * BG_SIZE);
  assert_bg_reads (fx->pool, a, NULL);
}

/* Power loss at every seventh write of a deletion whose reclaim runs
 * in the background (steps of one cluster, each flushed): A and the
 * live volume read their bytes, B is gone or whole, and a reopen holds
 * the model's space. */
static void
bg_hook (void *opaque, struct crashsim *cs, uint64_t op, const char *what)
{
  struct pl_images *pi = opaque;

  if (op % 7 == 0 && pi->n + 1 < PL_MAX_IMAGES)
    pi->img[pi->n++] = crashsim_crash (cs, op, op % 14 ? CRASHSIM_RANDOM
                                       : CRASHSIM_KEEP_ALL, NULL);
}

static void
test_power_loss_during_background_reclaim (void **state)
{
  struct crashsim *cs = crashsim_new ();
  struct sv_pool_options opts = { .io = crashsim_io (cs),
                                  .prealloc = SV_PREALLOC_NONE,
                                  .flush_threads = 1, .reclaim_step = 1 };
  struct pl_images *pi = calloc (1, sizeof *pi);
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1];
  struct sv_volume_info vi;
  struct sv_pool *pool;
  size_t i, ngone = 0, nkept = 0;

  (void) state;
  assert_non_null (pi);
  pool = pool_open ("/pool", &opts, 1);
  assert_non_null (pool);
  make_large_reclaim (pool, a, b);
  crashsim_set_hook (cs, bg_hook, pi);
  assert_int_equal (pool_snapshot_delete (pool, b, NULL), 0);
  wait_reclaimed (pool, &vi);
  crashsim_set_hook (cs, NULL, NULL);
  if (vi.allocated_bytes != 2 * BG_SIZE)
    fail_msg ("%" PRIu64 " bytes held after the reclaim (%" PRIu64
              " clusters examined, %" PRIu64 " bytes freed, index %d with %"
              PRIu64 " entries): %s", vi.allocated_bytes,
              vi.reclaim_visited, vi.reclaim_freed_bytes, vi.dead_index,
              vi.dead_entries, sv_errmsg ());
  pi->img[pi->n++] = crashsim_crash (cs, 1, CRASHSIM_SYNCED_ONLY, NULL);
  pool_close (pool);
  assert_true (pi->n > 20);

  for (i = 0; i < pi->n; i++) {
    struct sv_pool_options o = opts;
    size_t nsnaps;

    o.io = crashsim_io (pi->img[i]);
    pool = pool_open ("/pool", &o, 0);
    if (pool == NULL)
      fail_msg ("image %zu: pool_open: %s", i, sv_errmsg ());
    nsnaps = ut_snapshot_count (pool, "bg");
    if (nsnaps != 1 && nsnaps != 2)
      fail_msg ("image %zu: %zu snapshots", i, nsnaps);
    if (i == pi->n - 1 && nsnaps != 1)
      fail_msg ("the deletion returned, but a power loss took it back");
    assert_bg_reads (pool, a, nsnaps == 2 ? b : NULL);
    wait_reclaimed (pool, &vi);
    if (vi.allocated_bytes != (nsnaps == 1 ? 2 : 3) * (uint64_t) BG_SIZE)
      fail_msg ("image %zu: %" PRIu64 " bytes held with %zu snapshots", i,
                vi.allocated_bytes, nsnaps);
    ngone += nsnaps == 1;
    nkept += nsnaps == 2;
    ut_pool_close (pool);
    crashsim_free (pi->img[i]);
  }
  printf ("%zu crash images: %zu kept the snapshot, %zu lost it\n", pi->n,
          nkept, ngone);
  assert_true (ngone > 10);
  crashsim_free (cs);
  free (pi);
}

/* A volume's info that says no reclaim runs counts everything the
 * reclaim freed.  The space scan goes over the map cluster by cluster
 * without a lock across it: read after the scan, "not running" could
 * pair with a scan that passed the reclaimed clusters before the
 * reclaim reached them (the power-loss case above once found 11
 * clusters held that way, docs/reliability.md).  Here the reclaimed
 * clusters come first in a long map (4,096 clusters) and the
 * background part is short (8 steps of one cluster, flushes in
 * memory), so that the first poll's scan passes them early and the
 * reclaim ends while it goes over the rest; 40 rounds. */
#define SR_CS (4 * KiB)
#define SR_CLUSTERS 4096
#define SR_RECLAIMED 24             /* 16 before the deletion returns */

static void
test_volume_info_without_reclaim_counts_all_it_freed (void **state)
{
  struct crashsim *cs = crashsim_new ();
  struct sv_pool_options opts = { .io = crashsim_io (cs),
                                  .prealloc = SV_PREALLOC_NONE,
                                  .reclaim_step = 1 };
  char id[SV_UUID_STRLEN + 1];
  struct sv_volume_info vi;
  struct sv_pool *pool;
  struct sv_view *v;
  int round, i;

  (void) state;
  pool = pool_open ("/pool", &opts, 1);
  assert_non_null (pool);
  assert_int_equal (pool_volume_create (pool, "sr", SR_CLUSTERS * SR_CS,
                                        SR_CS), 0);
  v = ut_view_open (pool, "sr");
  ut_write_pattern (v, 0, SR_CLUSTERS * SR_CS, 1, NULL);
  for (round = 0; round < 40; round++) {
    ut_snapshot (pool, "sr", id);
    ut_write_pattern (v, 0, SR_RECLAIMED * SR_CS, round + 2, NULL);
    assert_int_equal (view_flush (v), 0);
    assert_int_equal (pool_snapshot_delete (pool, id, NULL), 0);
    for (i = 0; i < 60000; i++) {
      ut_volume_info (pool, "sr", &vi);
      if (!vi.reclaim_running)
        break;
    }
    assert_int_equal (vi.reclaim_running, 0);
    if (vi.allocated_bytes != SR_CLUSTERS * SR_CS)
      fail_msg ("round %d: no reclaim runs, yet %" PRIu64 " clusters more"
                " than the live volume's are counted", round,
                (vi.allocated_bytes - SR_CLUSTERS * SR_CS) / SR_CS);
  }
  view_close (v);
  pool_close (pool);
  crashsim_free (cs);
}


/* The index alone: a copy larger than one chunk of the mutex's holds
 * (deadidx.c's COPY_CHUNK, 4,096) is the lists of its range as they
 * were when it began, position by position, while another thread
 * appends to every list of the range (and to one above it); a prune of
 * the whole copy keeps exactly what was appended meanwhile; a copy of
 * an index switched off says so. */
#define APPEND_GENS 3
static const uint32_t append_gen[APPEND_GENS] = { 5, 7, 12 };

struct appender {
  struct deadidx *d;
  size_t n;                     /* entries appended to each generation */
};

static void *
append_thread (void *arg)
{
  struct appender *a = arg;
  size_t i, g;

  for (i = 0; i < a->n; i++)
    for (g = 0; g < APPEND_GENS; g++)
      deadidx_add (a->d, append_gen[g], 1000000 + i, 0);
  return NULL;
}

static void
test_copy_in_chunks_is_the_lists_as_they_were (void **state)
{
  struct deadidx d;
  struct deadent *e, *again;
  size_t n, n2, i, before[13] = { 0 }, seen[13] = { 0 };
  struct appender a = { &d, 20000 };
  pthread_t t;
  int on;

  (void) state;
  deadidx_init (&d);
  /* Generation 5: 10,000 entries (three chunks), 7: 3, 9: 4,097 (one
   * over a chunk), 12 (outside the range copied): 10. */
  for (i = 0; i < 10000; i++)
    deadidx_add (&d, 5, i, 0);
  for (i = 0; i < 3; i++)
    deadidx_add (&d, 7, 50000 + i, 0);
  for (i = 0; i < 4097; i++)
    deadidx_add (&d, 9, 60000 + i, 0);
  for (i = 0; i < 10; i++)
    deadidx_add (&d, 12, 70000 + i, 0);
  before[5] = 10000;
  before[7] = 3;
  before[9] = 4097;

  assert_int_equal (pthread_create (&t, NULL, append_thread, &a), 0);
  assert_int_equal (deadidx_copy (&d, 4, 9, &e, &n), 0);
  assert_int_equal (pthread_join (t, NULL), 0);

  /* Ascending generations, each list in order from position 0, each
   * entry the one added at its position; at least what was there
   * before the copy, at most what was there after. */
  for (i = 0; i < n; i++) {
    uint32_t g = e[i].gen;
    uint64_t want;

    assert_true (g == 5 || g == 7 || g == 9);
    assert_true (i == 0 || e[i - 1].gen <= g);
    assert_int_equal (e[i].pos, seen[g]);
    assert_int_equal (e[i].drop, 0);
    if (seen[g] < before[g])
      want = (g == 5 ? 0 : g == 7 ? 50000 : 60000) + seen[g];
    else
      want = 1000000 + (seen[g] - before[g]);
    assert_int_equal (e[i].vci, want);
    seen[g]++;
  }
  assert_true (seen[5] >= 10000 && seen[5] <= 10000 + a.n);
  assert_true (seen[7] >= 3 && seen[7] <= 3 + a.n);
  assert_int_equal (seen[9], 4097);     /* nothing appended to 9 */

  /* Prune everything copied: what was appended after the copy's
   * snapshot of each list stays, in order. */
  for (i = 0; i < n; i++)
    e[i].drop = 1;
  deadidx_prune (&d, e, n);
  free (e);
  assert_int_equal (deadidx_copy (&d, 4, 12, &again, &n2), 0);
  assert_int_equal (n2, (10000 + a.n - seen[5]) + (3 + a.n - seen[7]) +
                    10 + a.n);
  for (i = 0; i < n2; i++)
    if (again[i].gen == 5 && again[i].pos == 0)
      assert_int_equal (again[i].vci, 1000000 + (seen[5] - 10000));
  free (again);
  assert_int_equal (deadidx_entries (&d, &on), n2);
  assert_int_equal (on, 1);

  deadidx_disable (&d);
  assert_int_equal (deadidx_copy (&d, 0, UINT32_MAX, &e, &n), 1);
  assert_null (e);
  assert_int_equal (n, 0);
  deadidx_free (&d);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown
      (test_deletion_examines_the_clusters_written_around_it, setup,
       teardown),
    cmocka_unit_test_setup_teardown
      (test_write_in_place_after_the_newest_deletion_is_found, setup,
       teardown),
    cmocka_unit_test_setup_teardown
      (test_random_deletions_free_what_no_view_reads, setup, teardown),
    cmocka_unit_test_setup_teardown
      (test_reverted_volume_deletes_by_the_tables, setup, teardown),
    cmocka_unit_test
      (test_power_loss_during_deletion_keeps_survivors_and_space),
    cmocka_unit_test_setup_teardown
      (test_large_reclaim_goes_on_in_the_background, setup, teardown),
    cmocka_unit_test_setup_teardown
      (test_close_during_background_reclaim_leaves_the_rest_to_the_open,
       setup, teardown),
    cmocka_unit_test
      (test_power_loss_during_background_reclaim),
    cmocka_unit_test
      (test_volume_info_without_reclaim_counts_all_it_freed),
    cmocka_unit_test (test_copy_in_chunks_is_the_lists_as_they_were),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
