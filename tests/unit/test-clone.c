/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-clone.c: unit tests of writable clones (pool_volume_clone) and
 * flatten (pool_volume_flatten): a clone reads its origin's snapshot
 * until written, partial writes are completed from the origin, trims
 * and zeroes in a clone read zero (not the origin), the bad input of
 * docs/design.md ("Clones") with its messages, the origin protected
 * until a flatten's end, a clone whose origin is missing refused and
 * reported by the checker, power loss during a clone's creation and
 * during a flatten (old state or new), and a random workload against
 * a model (writes, trims, zeroes, snapshots of the clone, a clone of
 * the clone, a flatten with writes racing it, reopen).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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
#define SS (4 * KiB)

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
clone_of (struct sv_pool *pool, const char *vol, const char *id,
          const char *name)
{
  char origin[128];

  snprintf (origin, sizeof origin, "%s@%s", vol, id);
  if (pool_volume_clone (pool, origin, name) == -1)
    fail_msg ("clone %s as %s: %s", origin, name, sv_errmsg ());
}

static void
read_all (struct sv_pool *pool, const char *export, uint8_t *buf)
{
  struct sv_view *view = ut_view_open (pool, export);

  assert_int_equal (view_pread (view, buf, SIZE, 0), 0);
  view_close (view);
}

static void
assert_reads (struct sv_pool *pool, const char *export, const uint8_t *want)
{
  uint8_t *buf = malloc (SIZE);
  size_t i;

  assert_non_null (buf);
  read_all (pool, export, buf);
  for (i = 0; i < SIZE && buf[i] == want[i]; i++)
    ;
  if (i < SIZE)
    fail_msg ("%s differs at byte %zu: %u, expected %u", export, i, buf[i],
              want[i]);
  free (buf);
}

static void
flatten (struct sv_pool *pool, const char *name)
{
  if (pool_volume_flatten (pool, name) == -1 ||
      pool_volume_flatten_wait (pool, name) == -1)
    fail_msg ("flatten %s: %s", name, sv_errmsg ());
}

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

/* A clone reads the snapshot, not the origin's live volume; writes,
 * partial writes, trims and zeroes stay in the clone; the same after a
 * reopen. */
static void
test_clone_reads_the_snapshot_and_writes_stay_in_it (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], e[128];
  uint8_t *one = malloc (SIZE), *two = malloc (SIZE), *mine = malloc (SIZE);
  struct sv_volume_info vi;
  struct sv_view *view;
  int round;

  assert_non_null (one);
  assert_non_null (two);
  assert_non_null (mine);
  ut_pattern (one, SIZE, 0, 1);
  ut_pattern (two, SIZE, 0, 2);
  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  fill (fx->pool, "v", 2);
  clone_of (fx->pool, "v", a, "c");
  assert_reads (fx->pool, "c", one);

  memcpy (mine, one, SIZE);
  view = ut_view_open (fx->pool, "c");
  /* A partial subcluster: the rest of it comes from the origin. */
  ut_pattern (mine + 1000, 700, 1000, 9);
  ut_write_pattern (view, 1000, 700, 9, NULL);
  /* A whole cluster trimmed, and zeroes over partial subclusters. */
  memset (mine + 2 * CS, 0, CS);
  assert_int_equal (view_trim (view, CS, 2 * CS, 0), 0);
  memset (mine + 5 * CS + 100, 0, 3 * SS);
  assert_int_equal (view_zero (view, 3 * SS, 5 * CS + 100, 1, 0, 0), 0);
  assert_int_equal (view_flush (view), 0);
  view_close (view);

  for (round = 0; round < 2; round++) {
    assert_reads (fx->pool, "c", mine);
    snprintf (e, sizeof e, "v@%s", a);
    assert_reads (fx->pool, e, one);
    assert_reads (fx->pool, "v", two);
    ut_volume_info (fx->pool, "c", &vi);
    assert_int_equal (vi.size, SIZE);
    assert_int_equal (vi.cluster_size, CS);
    snprintf (e, sizeof e, "v@%s", a);
    assert_string_equal (vi.origin, e);
    assert_int_equal (vi.origin_missing, 0);
    ut_pool_close (fx->pool);
    fx->pool = ut_pool_open (fx->dir, 0, 0);
  }
  ut_pool_close (fx->pool);
  fx->pool = NULL;
  assert_check_clean (fx->dir);
  free (one);
  free (two);
  free (mine);
}

/* Every refusal of docs/design.md ("Clones"), with its message, and
 * nothing created. */
static void
test_clone_bad_input_is_named (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1], o[128], msg[512];
  char name[16], prev[16];
  size_t n;
  int i;

  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  assert_int_equal (pool_volume_create (fx->pool, "w", SIZE, CS), 0);
  ut_snapshot (fx->pool, "w", b);

  assert_fails_with (pool_volume_clone (fx->pool, "v", "c"), EINVAL);
  assert_string_equal (sv_errmsg (), "clone origin 'v' is a live volume:"
                       " only a snapshot can be cloned (VOLUME@SNAPSHOT)");
  snprintf (o, sizeof o, "v@%s", a);
  assert_fails_with (pool_volume_clone (fx->pool, o, "w"), EEXIST);
  assert_string_equal (sv_errmsg (), "volume w already exists");
  assert_fails_with (pool_volume_clone (fx->pool, o, ".bad"), EINVAL);
  assert_fails_with (pool_volume_clone (fx->pool, "v@nope", "c"), EINVAL);
  assert_string_equal (sv_errmsg (), "clone origin 'v@nope': 'nope' is not"
                       " a snapshot or set id (a UUID)");
  snprintf (o, sizeof o, "x@%s", a);
  assert_fails_with (pool_volume_clone (fx->pool, o, "c"), ENOENT);
  snprintf (msg, sizeof msg, "clone origin x@%s: there is no volume x in"
            " this pool", a);
  assert_string_equal (sv_errmsg (), msg);
  snprintf (o, sizeof o, "v@%s", b);
  assert_fails_with (pool_volume_clone (fx->pool, o, "c"), EXDEV);
  snprintf (msg, sizeof msg, "clone origin v@%s: snapshot %s is a snapshot"
            " of volume w, not v", b, b);
  assert_string_equal (sv_errmsg (), msg);
  snprintf (o, sizeof o, "v@00000000-0000-4000-8000-000000000000");
  assert_fails_with (pool_volume_clone (fx->pool, o, "c"), ENOENT);
  assert_string_equal (sv_errmsg (), "clone origin"
                       " v@00000000-0000-4000-8000-000000000000: volume v"
                       " has no snapshot or set with id"
                       " 00000000-0000-4000-8000-000000000000");
  assert_fails_with (pool_volume_flatten (fx->pool, "v"), EINVAL);
  assert_string_equal (sv_errmsg (), "volume v is not a clone: nothing to"
                       " flatten");
  assert_fails_with (pool_volume_flatten (fx->pool, "nope"), ENOENT);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 2);

  /* The origin is protected: its snapshot and the volume. */
  clone_of (fx->pool, "v", a, "c1");
  assert_fails_with (pool_snapshot_delete (fx->pool, a, &n), EBUSY);
  snprintf (msg, sizeof msg, "snapshot %s of volume v is the origin of"
            " clones: c1 (flatten or delete them first); nothing was"
            " deleted", a);
  assert_string_equal (sv_errmsg (), msg);
  assert_fails_with (pool_volume_delete (fx->pool, "v"), EBUSY);
  assert_string_equal (sv_errmsg (), "volume v has clones reading through"
                       " to it: c1 (flatten or delete them first)");

  /* The chain's limit: c1 is 1 deep, c16 is 16; c17 is refused. */
  snprintf (prev, sizeof prev, "c1");
  for (i = 2; i <= SV_CLONE_DEPTH_MAX + 1; i++) {
    char id[SV_UUID_STRLEN + 1];

    ut_snapshot (fx->pool, prev, id);
    snprintf (name, sizeof name, "c%d", i);
    snprintf (o, sizeof o, "%s@%s", prev, id);
    if (i <= SV_CLONE_DEPTH_MAX) {
      clone_of (fx->pool, prev, id, name);
      snprintf (prev, sizeof prev, "%s", name);
      continue;
    }
    assert_fails_with (pool_volume_clone (fx->pool, o, name), EMLINK);
    snprintf (msg, sizeof msg, "clone origin %s: volume c16 is a clone 16"
              " deep; a clone of it would pass the limit of 16 clones in a"
              " chain (flatten one of them first)", o);
    assert_string_equal (sv_errmsg (), msg);
  }
  /* Deleting the clone lets the snapshot go. */
  {
    struct sv_volume_info *vi;
    size_t nv;

    assert_int_equal (pool_volume_list (fx->pool, NULL, &vi, &nv), 0);
    assert_int_equal (nv, 2 + SV_CLONE_DEPTH_MAX);
    free (vi);
  }
}

/* Flatten copies what the clone reads from its origin; then the
 * origin's snapshot and the origin volume can be deleted, and the
 * clone reads as before, also after a reopen; the checker is clean. */
static void
test_flatten_frees_the_origin (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], s[SV_UUID_STRLEN + 1], e[128];
  uint8_t *mine = malloc (SIZE), *snapd = malloc (SIZE);
  struct sv_volume_info vi;
  struct sv_view *view;
  size_t n;

  assert_non_null (mine);
  assert_non_null (snapd);
  fill (fx->pool, "v", 1);
  /* A hole and zeroes in the origin too. */
  view = ut_view_open (fx->pool, "v");
  assert_int_equal (view_trim (view, 3 * CS, 7 * CS, 0), 0);
  view_close (view);
  ut_snapshot (fx->pool, "v", a);
  clone_of (fx->pool, "v", a, "c");
  view = ut_view_open (fx->pool, "c");
  ut_write_pattern (view, 3 * CS + 5, 2 * CS, 4, NULL);
  view_close (view);
  ut_snapshot (fx->pool, "c", s);
  view = ut_view_open (fx->pool, "c");
  ut_write_pattern (view, 10 * CS, CS, 5, NULL);
  view_close (view);
  read_all (fx->pool, "c", mine);
  snprintf (e, sizeof e, "c@%s", s);
  read_all (fx->pool, e, snapd);

  flatten (fx->pool, "c");
  ut_volume_info (fx->pool, "c", &vi);
  assert_string_equal (vi.origin, "");
  assert_int_equal (vi.flatten_total, 0);
  assert_int_equal (pool_snapshot_delete (fx->pool, a, &n), 0);
  assert_int_equal (pool_volume_delete (fx->pool, "v"), 0);
  assert_reads (fx->pool, "c", mine);
  assert_reads (fx->pool, e, snapd);
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_reads (fx->pool, "c", mine);
  assert_reads (fx->pool, e, snapd);
  /* A flattened clone is a volume: a trim reads zero, as anywhere. */
  view = ut_view_open (fx->pool, "c");
  assert_int_equal (view_trim (view, CS, 0, 0), 0);
  assert_zero (view, 0, CS);
  view_close (view);
  ut_pool_close (fx->pool);
  fx->pool = NULL;
  assert_check_clean (fx->dir);
  free (mine);
  free (snapd);
}

/* Progress while a flatten runs, with its first data write held:
 * volume list shows it, a second flatten is refused, writes to other
 * clusters of the clone go on; then it ends and the clone reads the
 * same. */
static void
test_flatten_progress_and_writes_meanwhile (void **state)
{
  struct fixture *fx = *state;
  struct sv_pool_options opts = { .io = &ut_gated_io };
  char a[SV_UUID_STRLEN + 1];
  uint8_t *mine = malloc (SIZE);
  struct sv_volume_info vi;
  struct sv_view *view;

  assert_non_null (mine);
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open_opts (fx->dir, &opts, 0);
  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  clone_of (fx->pool, "v", a, "c");
  read_all (fx->pool, "c", mine);

  ut_gate_arm (UT_GATE_DATA);
  assert_int_equal (pool_volume_flatten (fx->pool, "c"), 0);
  ut_gate_wait_stopped ();
  ut_volume_info (fx->pool, "c", &vi);
  assert_int_equal (vi.flatten_total, SIZE);
  assert_int_equal (vi.flatten_done, 0);
  assert_string_equal (vi.flatten_error, "");
  assert_true (vi.origin[0] != '\0');
  assert_fails_with (pool_volume_flatten (fx->pool, "c"), EALREADY);
  assert_string_equal (sv_errmsg (), "volume c is being flattened already");
  assert_fails_with (pool_volume_delete (fx->pool, "c"), EBUSY);
  assert_string_equal (sv_errmsg (), "volume c is being flattened: wait for"
                       " the flatten to end");
  /* A write to another cluster while cluster 0's copy is held. */
  view = ut_view_open (fx->pool, "c");
  ut_write_pattern (view, 9 * CS + 10, 5000, 8, mine);
  assert_int_equal (view_flush (view), 0);
  view_close (view);
  ut_gate_let_go ();
  if (pool_volume_flatten_wait (fx->pool, "c") == -1)
    fail_msg ("flatten: %s", sv_errmsg ());
  ut_volume_info (fx->pool, "c", &vi);
  assert_string_equal (vi.origin, "");
  assert_int_equal (vi.flatten_total, 0);
  assert_reads (fx->pool, "c", mine);
  free (mine);
}

/* A clone whose origin is gone (its directory removed behind the
 * pool's back): the pool opens, lists the clone as missing its origin,
 * refuses to serve it, and the checker reports it, unrepairable. */
static void
test_clone_with_missing_origin_is_refused_and_reported (void **state)
{
  struct fixture *fx = *state;
  char a[SV_UUID_STRLEN + 1], path[4096], msg[512];
  struct sv_volume_info vi;
  struct check_report *r;
  size_t i;

  fill (fx->pool, "v", 1);
  ut_snapshot (fx->pool, "v", a);
  clone_of (fx->pool, "v", a, "c");
  ut_pool_close (fx->pool);
  snprintf (path, sizeof path, "%s/volumes/v", fx->dir);
  ut_rmtree (path);

  fx->pool = ut_pool_open (fx->dir, 0, 0);
  ut_volume_info (fx->pool, "c", &vi);
  assert_int_equal (vi.origin_missing, 1);
  assert_null_with (view_open (fx->pool, "c"), ENXIO);
  assert_string_equal (sv_errmsg (), "export 'c' is not served: volume c is"
                       " a clone whose origin v is missing");
  assert_fails_with (pool_volume_flatten (fx->pool, "c"), ENXIO);
  ut_pool_close (fx->pool);
  fx->pool = NULL;

  r = check_pool (fx->dir, 0);
  assert_non_null (r);
  assert_false (r->clean);
  assert_int_equal (r->nvolumes, 1);
  assert_int_equal (r->volumes[0].problems.n, 1);
  assert_string_equal (r->volumes[0].problems.v[0].kind,
                       "clone-origin-missing");
  snprintf (msg, sizeof msg, "volume c: a clone of v@%s, which is missing:"
            " there is no volume of that name; not repairable: the clone is"
            " not served; restore the origin volume, or delete the clone", a);
  assert_string_equal (r->volumes[0].problems.v[0].message, msg);
  for (i = 0; i < r->volumes[0].problems.n; i++)
    assert_null (r->volumes[0].problems.v[i].fix);
  check_report_free (r);
}

/* Power loss. */

#define PL_MAX_IMAGES 512

struct pl_images {
  pthread_mutex_t mu;
  struct crashsim *img[PL_MAX_IMAGES];
  size_t n;
};

static void
pl_hook (void *opaque, struct crashsim *cs, uint64_t op, const char *what)
{
  struct pl_images *pi = opaque;

  pthread_mutex_lock (&pi->mu);
  if (pi->n < PL_MAX_IMAGES)
    pi->img[pi->n++] = crashsim_crash (cs, op, CRASHSIM_RANDOM, NULL);
  pthread_mutex_unlock (&pi->mu);
}

static const struct sv_pool_options pl_opts = {
  .prealloc = SV_PREALLOC_NONE, .flush_threads = 1,
};

/* An origin "v" (pattern 1, snapshot *A, then pattern 2) in a new
 * simulated pool. */
static struct sv_pool *
pl_origin (struct crashsim *cs, char a[SV_UUID_STRLEN + 1])
{
  struct sv_pool_options opts = pl_opts;
  struct sv_pool *pool;

  opts.io = crashsim_io (cs);
  pool = pool_open ("/pool", &opts, 1);
  assert_non_null (pool);
  assert_int_equal (pool_volume_create (pool, "v", SIZE, CS), 0);
  fill (pool, "v", 1);
  ut_snapshot (pool, "v", a);
  fill (pool, "v", 2);
  return pool;
}

/* A crash during a clone's creation leaves no clone, or the whole one
 * reading the snapshot, whose deletion it then refuses. */
static void
test_power_loss_during_clone_leaves_none_or_all (void **state)
{
  struct crashsim *cs = crashsim_new ();
  struct pl_images pi = { .mu = PTHREAD_MUTEX_INITIALIZER, .n = 0 };
  uint8_t *one = malloc (SIZE);
  char a[SV_UUID_STRLEN + 1];
  struct sv_pool *pool;
  size_t i, none = 0, all = 0, n;

  (void) state;
  assert_non_null (one);
  ut_pattern (one, SIZE, 0, 1);
  pool = pl_origin (cs, a);
  crashsim_set_hook (cs, pl_hook, &pi);
  clone_of (pool, "v", a, "c");
  crashsim_set_hook (cs, NULL, NULL);
  assert_true (pi.n > 0 && pi.n < PL_MAX_IMAGES);
  pi.img[pi.n++] = crashsim_crash (cs, 1, CRASHSIM_SYNCED_ONLY, NULL);
  pool_close (pool);

  for (i = 0; i < pi.n; i++) {
    struct sv_pool_options o = pl_opts;
    struct sv_volume_info *vi;
    size_t nv;

    o.io = crashsim_io (pi.img[i]);
    pool = pool_open ("/pool", &o, 0);
    if (pool == NULL)
      fail_msg ("image %zu: pool_open: %s", i, sv_errmsg ());
    assert_int_equal (pool_volume_list (pool, NULL, &vi, &nv), 0);
    free (vi);
    if (i == pi.n - 1 && nv != 2)
      fail_msg ("the clone returned, but a power loss took it back");
    if (nv == 1)
      none++;
    else {
      assert_int_equal (nv, 2);
      all++;
      assert_reads (pool, "c", one);
      assert_fails_with (pool_snapshot_delete (pool, a, &n), EBUSY);
    }
    ut_pool_close (pool);
    crashsim_free (pi.img[i]);
  }
  printf ("%zu crash images: %zu without the clone, %zu with it\n", pi.n,
          none, all);
  assert_true (none > 0);
  assert_true (all > 0);
  crashsim_free (cs);
  free (one);
}

/* A crash during a flatten leaves the clone reading what it read, and
 * the origin's snapshot protected until the flatten's end is durable:
 * then deleting it leaves the clone's content as it was. */
static void
test_power_loss_during_flatten_leaves_old_or_new (void **state)
{
  struct crashsim *cs = crashsim_new ();
  struct pl_images pi = { .mu = PTHREAD_MUTEX_INITIALIZER, .n = 0 };
  uint8_t *mine = malloc (SIZE);
  char a[SV_UUID_STRLEN + 1];
  struct sv_pool *pool;
  struct sv_view *view;
  size_t i, old = 0, new = 0, n;

  (void) state;
  assert_non_null (mine);
  pool = pl_origin (cs, a);
  clone_of (pool, "v", a, "c");
  view = ut_view_open (pool, "c");
  ut_write_pattern (view, 3 * CS + 100, 2 * CS, 7, NULL);
  assert_int_equal (view_flush (view), 0);
  view_close (view);
  read_all (pool, "c", mine);

  crashsim_set_hook (cs, pl_hook, &pi);
  flatten (pool, "c");
  crashsim_set_hook (cs, NULL, NULL);
  assert_true (pi.n > 0 && pi.n < PL_MAX_IMAGES);
  pi.img[pi.n++] = crashsim_crash (cs, 1, CRASHSIM_SYNCED_ONLY, NULL);
  pool_close (pool);

  for (i = 0; i < pi.n; i++) {
    struct sv_pool_options o = pl_opts;
    struct sv_volume_info vi;

    o.io = crashsim_io (pi.img[i]);
    pool = pool_open ("/pool", &o, 0);
    if (pool == NULL)
      fail_msg ("image %zu: pool_open: %s", i, sv_errmsg ());
    assert_reads (pool, "c", mine);
    ut_volume_info (pool, "c", &vi);
    if (vi.origin[0] != '\0') {
      old++;
      if (i == pi.n - 1)
        fail_msg ("the flatten ended, but a power loss took it back");
      assert_fails_with (pool_snapshot_delete (pool, a, &n), EBUSY);
    }
    else {
      new++;
      assert_int_equal (pool_snapshot_delete (pool, a, &n), 0);
      assert_int_equal (pool_volume_delete (pool, "v"), 0);
      assert_reads (pool, "c", mine);
    }
    ut_pool_close (pool);
    crashsim_free (pi.img[i]);
  }
  printf ("%zu crash images: %zu still a clone, %zu flattened\n", pi.n, old,
          new);
  assert_true (old > 0);
  assert_true (new > 0);
  crashsim_free (cs);
  free (mine);
}

/* A random workload against a model. */

#define MAXS 6

struct model {
  struct sv_pool *pool;
  const char *dir;
  uint64_t rng;
  uint8_t *origin;              /* the origin snapshot's content */
  uint8_t *live;                /* the clone's */
  uint8_t *snaps[MAXS];         /* the clone's snapshots' */
  char ids[MAXS][SV_UUID_STRLEN + 1];
  size_t nsnaps;
  uint8_t *grand;               /* a clone of a clone snapshot, or NULL */
};

static void
model_write (struct model *m, struct sv_view *view, uint64_t off,
             uint32_t len)
{
  uint32_t seed = (uint32_t) ut_rand (&m->rng);

  ut_pattern (m->live + off, len, off, seed);
  ut_write_pattern (view, off, len, seed, NULL);
}

static void
model_step (struct model *m, struct sv_view *view)
{
  uint64_t off = ut_rand_below (&m->rng, SIZE);
  uint32_t len = 1 + (uint32_t) ut_rand_below (&m->rng, 3 * CS);

  if (len > SIZE - off)
    len = SIZE - off;
  switch (ut_rand_below (&m->rng, 4)) {
  case 0: case 1:
    model_write (m, view, off, len);
    break;
  case 2:                       /* trim of whole subclusters */
    off = off / SS * SS;
    len = (len + SS - 1) / SS * SS;
    if (len > SIZE - off)
      len = SIZE - off;
    memset (m->live + off, 0, len);
    assert_int_equal (view_trim (view, len, off, 0), 0);
    break;
  default:
    memset (m->live + off, 0, len);
    assert_int_equal (view_zero (view, len, off, 1, 0, 0), 0);
  }
}

static void
model_check (struct model *m)
{
  char e[128];
  size_t i;

  assert_reads (m->pool, "c", m->live);
  for (i = 0; i < m->nsnaps; i++) {
    snprintf (e, sizeof e, "c@%s", m->ids[i]);
    assert_reads (m->pool, e, m->snaps[i]);
  }
  if (m->grand)
    assert_reads (m->pool, "g", m->grand);
}

struct racer {
  struct model *m;
  struct sv_view *view;
  int steps;
};

static void *
race_writes (void *arg)
{
  struct racer *r = arg;
  int i;

  for (i = 0; i < r->steps; i++)
    model_step (r->m, r->view);
  return NULL;
}

static void
test_clone_random_workload_against_a_model (void **state)
{
  struct fixture *fx = *state;
  struct model m = { .pool = fx->pool, .dir = fx->dir };
  uint64_t seed = ut_env_u64 ("SNAPVOL_TEST_SEED", 20260701);
  char a[SV_UUID_STRLEN + 1];
  struct sv_view *view;
  int round, step;
  size_t i;

  printf ("seed %" PRIu64 " (SNAPVOL_TEST_SEED)\n", seed);
  m.rng = seed;
  m.origin = malloc (SIZE);
  m.live = malloc (SIZE);
  assert_non_null (m.origin);
  assert_non_null (m.live);
  /* An origin with data, zeroes and holes. */
  view = ut_view_open (fx->pool, "v");
  ut_write_pattern (view, 0, SIZE / 2, 1, NULL);
  ut_write_pattern (view, SIZE / 2 + 3 * CS, 2 * CS, 2, NULL);
  assert_int_equal (view_zero (view, CS, 2 * CS, 1, 0, 0), 0);
  view_close (view);
  ut_snapshot (fx->pool, "v", a);
  read_all (fx->pool, "v", m.origin);
  fill (fx->pool, "v", 3);      /* the origin's live volume moves on */
  clone_of (fx->pool, "v", a, "c");
  memcpy (m.live, m.origin, SIZE);

  for (round = 0; round < 8; round++) {
    view = ut_view_open (m.pool, "c");
    for (step = 0; step < 12; step++)
      model_step (&m, view);
    assert_int_equal (view_flush (view), 0);
    view_close (view);
    if (m.nsnaps < MAXS) {
      ut_snapshot (m.pool, "c", m.ids[m.nsnaps]);
      m.snaps[m.nsnaps] = malloc (SIZE);
      assert_non_null (m.snaps[m.nsnaps]);
      memcpy (m.snaps[m.nsnaps], m.live, SIZE);
      m.nsnaps++;
    }
    if (round == 2) {           /* a clone of the clone's snapshot */
      clone_of (m.pool, "c", m.ids[m.nsnaps - 1], "g");
      m.grand = malloc (SIZE);
      assert_non_null (m.grand);
      memcpy (m.grand, m.live, SIZE);
      view = ut_view_open (m.pool, "g");
      ut_pattern (m.grand + 5000, 9000, 5000, 77);
      ut_write_pattern (view, 5000, 9000, 77, NULL);
      view_close (view);
    }
    if (round == 4) {           /* flatten, with writes racing it */
      struct racer r = { &m, ut_view_open (m.pool, "c"), 40 };
      pthread_t t;

      assert_int_equal (pool_volume_flatten (m.pool, "c"), 0);
      assert_int_equal (pthread_create (&t, NULL, race_writes, &r), 0);
      assert_int_equal (pthread_join (t, NULL), 0);
      if (pool_volume_flatten_wait (m.pool, "c") == -1)
        fail_msg ("flatten: %s", sv_errmsg ());
      view_close (r.view);
      /* The origin snapshot can go: the clone reads the same. */
      assert_int_equal (pool_snapshot_delete (m.pool, a, NULL), 0);
    }
    model_check (&m);
    if (round % 3 == 1) {
      ut_pool_close (m.pool);
      m.pool = fx->pool = ut_pool_open (fx->dir, 0, 0);
      model_check (&m);
    }
  }
  ut_pool_close (m.pool);
  fx->pool = NULL;
  assert_check_clean (fx->dir);
  for (i = 0; i < m.nsnaps; i++)
    free (m.snaps[i]);
  free (m.grand);
  free (m.origin);
  free (m.live);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown
      (test_clone_reads_the_snapshot_and_writes_stay_in_it, setup, teardown),
    cmocka_unit_test_setup_teardown (test_clone_bad_input_is_named, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_flatten_frees_the_origin, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown
      (test_flatten_progress_and_writes_meanwhile, setup, teardown),
    cmocka_unit_test_setup_teardown
      (test_clone_with_missing_origin_is_refused_and_reported, setup,
       teardown),
    cmocka_unit_test (test_power_loss_during_clone_leaves_none_or_all),
    cmocka_unit_test (test_power_loss_during_flatten_leaves_old_or_new),
    cmocka_unit_test_setup_teardown
      (test_clone_random_workload_against_a_model, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
