/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-volume.c: unit tests of the volume engine through its public
 * interface (server/pool.h) in a scratch pool: the data path,
 * copy-on-write and sub-cluster writes, trim and zero, extents,
 * snapshot sets, holds, space accounting and reclaim, and bad input.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool.h"
#include "sio.h"
#include "unit-helpers.h"
#include "uuid.h"

#define CS (64 * KiB)             /* the default cluster size */

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

/* Close and reopen the fixture's pool (a clean restart). */
static void
reopen (struct fixture *fx)
{
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
}

static void
create (struct fixture *fx, const char *name, uint64_t size, uint32_t cs)
{
  if (pool_volume_create (fx->pool, name, size, cs) == -1)
    fail_msg ("pool_volume_create %s: %s", name, sv_errmsg ());
}

static void
flush (struct sv_view *view)
{
  if (view_flush (view) == -1)
    fail_msg ("view_flush: %s", sv_errmsg ());
}

static void
trim (struct sv_view *view, uint64_t off, uint32_t len, uint8_t *shadow)
{
  if (view_trim (view, len, off, 0) == -1)
    fail_msg ("view_trim: %s", sv_errmsg ());
  if (shadow)
    memset (shadow + off, 0, len);
}

static void
zero (struct sv_view *view, uint64_t off, uint32_t len, int fast,
      uint8_t *shadow)
{
  if (view_zero (view, len, off, 0, fast, 0) == -1)
    fail_msg ("view_zero: %s", sv_errmsg ());
  if (shadow)
    memset (shadow + off, 0, len);
}

static char *
export_name (const char *volume, const char *id)
{
  char *s;

  assert_true (asprintf (&s, "%s@%s", volume, id) > 0);
  return s;
}

static struct sv_view *
open_snapshot (struct fixture *fx, const char *volume, const char *id)
{
  char *e = export_name (volume, id);
  struct sv_view *view = ut_view_open (fx->pool, e);

  free (e);
  return view;
}

static uint8_t *
xcalloc (size_t n)
{
  uint8_t *p = calloc (1, n);

  assert_non_null (p);
  return p;
}

static void
assert_extent (const struct ut_extents *x, size_t i, uint64_t off,
               uint64_t len, uint32_t flags)
{
  assert_true (i < x->n);
  assert_int_equal (x->e[i].offset, off);
  assert_int_equal (x->e[i].length, len);
  assert_int_equal (x->e[i].flags, flags);
}

/* The data path. */

static void
test_unwritten_volume_reads_zero_and_reports_one_hole (void **state)
{
  struct fixture *fx = *state;
  struct sv_view *v;
  struct ut_extents x;
  uint32_t minimum, preferred, maximum;

  create (fx, "fresh", 3 * MiB, 0);
  v = ut_view_open (fx->pool, "fresh");
  assert_false (view_is_snapshot (v));
  assert_int_equal (view_size (v), 3 * MiB);
  assert_zero (v, 0, 3 * MiB);
  ut_extents (v, 0, 3 * MiB, 0, &x);
  assert_int_equal (x.n, 1);
  assert_extent (&x, 0, 0, 3 * MiB, SV_EXTENT_HOLE | SV_EXTENT_ZERO);
  view_block_size (v, &minimum, &preferred, &maximum);
  assert_int_equal (minimum, 1);
  assert_int_equal (preferred, 4096);
  assert_int_equal (maximum, 64 * MiB);
  view_close (v);
}

static void
test_write_read_round_trip_at_odd_offsets (void **state)
{
  struct fixture *fx = *state;
  const uint64_t size = MiB + 3 * 512;      /* not a cluster multiple */
  static const struct { uint64_t off; uint32_t len; } w[] = {
    { 1, 1 }, { 4095, 2 }, { 4097, 8190 }, { 65535, 2 },
    { 3 * 65536 - 7, 200000 }, { 12345, 131072 + 3 }, { 0, 511 },
    { MiB + 3 * 512 - 1, 1 }, { MiB + 3 * 512 - 70000, 70000 },
    { 500000, 65536 }, { 65536, 65536 }, { 777777, 1 },
  };
  uint8_t *shadow = xcalloc (size);
  struct sv_view *v;
  unsigned rs = 12345;
  uint64_t off;
  size_t i;

  create (fx, "odd", size, 0);
  v = ut_view_open (fx->pool, "odd");
  for (i = 0; i < sizeof w / sizeof w[0]; i++)
    ut_write_pattern (v, w[i].off, w[i].len, (uint32_t) i + 1, shadow);
  /* And a seeded random mix of lengths and offsets. */
  for (i = 0; i < 200; i++) {
    uint32_t len = 1 + rand_r (&rs) % 150000;
    uint64_t o = (uint64_t) rand_r (&rs) % size;
    if (o + len > size)
      len = size - o;
    ut_write_pattern (v, o, len, 1000 + (uint32_t) i, shadow);
  }
  assert_view_reads (v, 0, size, shadow);
  for (off = 0; off < size; off += 7777) {
    uint32_t len = size - off < 7777 ? size - off : 7777;
    assert_view_reads (v, off, len, shadow + off);
  }
  flush (v);
  view_close (v);

  reopen (fx);
  v = ut_view_open (fx->pool, "odd");
  assert_view_reads (v, 0, size, shadow);
  view_close (v);
  free (shadow);
}

static void
test_fua_write_reads_back_and_cache_is_accepted (void **state)
{
  struct fixture *fx = *state;
  uint8_t buf[5000];
  struct sv_view *v;

  create (fx, "fua", MiB, 0);
  v = ut_view_open (fx->pool, "fua");
  ut_pattern (buf, sizeof buf, 3000, 9);
  assert_int_equal (view_pwrite (v, buf, sizeof buf, 3000, 1), 0);
  assert_int_equal (view_cache (v, 65536, 0), 0);
  assert_view_reads (v, 3000, sizeof buf, buf);
  assert_zero (v, 0, 3000);
  view_close (v);
}

/* Copy-on-write. */

static void
test_snapshot_keeps_old_bytes_after_overwrite (void **state)
{
  struct fixture *fx = *state;
  const uint64_t size = 512 * KiB;
  uint8_t *shadow = xcalloc (size);
  uint8_t *before;
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;

  create (fx, "cow", size, 0);
  v = ut_view_open (fx->pool, "cow");
  ut_write_pattern (v, 0, size, 1, shadow);
  ut_snapshot (fx->pool, "cow", id);
  before = xcalloc (size);
  memcpy (before, shadow, size);

  ut_write_pattern (v, 1000, 200000, 2, shadow);
  ut_write_pattern (v, 300001, 5, 3, shadow);
  s = open_snapshot (fx, "cow", id);
  assert_true (view_is_snapshot (s));
  assert_int_equal (view_size (s), size);
  assert_view_reads (s, 0, size, before);
  assert_view_reads (v, 0, size, shadow);
  assert_pattern (v, 0, 1000, 1);
  assert_pattern (v, 1000, 200000, 2);
  view_close (s);
  view_close (v);

  reopen (fx);
  v = ut_view_open (fx->pool, "cow");
  s = open_snapshot (fx, "cow", id);
  assert_view_reads (s, 0, size, before);
  assert_view_reads (v, 0, size, shadow);
  view_close (s);
  view_close (v);
  free (before);
  free (shadow);
}

static void
test_subcluster_write_after_snapshot_allocates_4k (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info vi;
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;
  uint64_t blocks0, blocks1, blocks2;

  create (fx, "sub", MiB, 0);
  v = ut_view_open (fx->pool, "sub");
  ut_write_pattern (v, 0, CS, 1, NULL);
  ut_snapshot (fx->pool, "sub", id);
  ut_volume_info (fx->pool, "sub", &vi);
  assert_int_equal (vi.allocated_bytes, CS);
  blocks0 = ut_data_blocks (fx->dir, "sub");

  /* An aligned 4 KiB write: one new subcluster, no copy of the rest. */
  ut_write_pattern (v, 8192, 4096, 2, NULL);
  flush (v);
  ut_volume_info (fx->pool, "sub", &vi);
  assert_int_equal (vi.allocated_bytes, CS + 4096);
  assert_int_equal (vi.referenced_bytes, CS);
  assert_int_equal (vi.written_bytes, 4096);
  assert_int_equal (vi.snapshot_bytes, 4096);
  /* The filesystem may round a little; a copy of the cluster would be
   * 64 KiB. */
  blocks1 = ut_data_blocks (fx->dir, "sub");
  if (blocks1 < blocks0 + 4096 || blocks1 >= blocks0 + 16384)
    fail_msg ("data file grew by %" PRIu64 " bytes for a 4 KiB write",
              blocks1 - blocks0);

  /* An unaligned 100-byte write: its subcluster is completed from the
   * old data, still only 4 KiB. */
  ut_write_pattern (v, 20000, 100, 3, NULL);
  flush (v);
  ut_volume_info (fx->pool, "sub", &vi);
  assert_int_equal (vi.allocated_bytes, CS + 8192);
  assert_int_equal (vi.written_bytes, 8192);
  blocks2 = ut_data_blocks (fx->dir, "sub");
  if (blocks2 < blocks1 + 4096 || blocks2 >= blocks1 + 16384)
    fail_msg ("data file grew by %" PRIu64 " bytes for a 100-byte write",
              blocks2 - blocks1);

  assert_pattern (v, 0, 8192, 1);
  assert_pattern (v, 8192, 4096, 2);
  assert_pattern (v, 12288, 20000 - 12288, 1);
  assert_pattern (v, 20000, 100, 3);
  assert_pattern (v, 20100, CS - 20100, 1);
  s = open_snapshot (fx, "sub", id);
  assert_pattern (s, 0, CS, 1);
  view_close (s);
  view_close (v);
}

static void
test_overwrite_without_snapshot_is_in_place (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info vi;
  struct sv_view *v;
  uint64_t blocks0;

  create (fx, "inplace", MiB, 0);
  v = ut_view_open (fx->pool, "inplace");
  ut_write_pattern (v, 0, 2 * CS, 1, NULL);
  flush (v);
  blocks0 = ut_data_blocks (fx->dir, "inplace");

  ut_write_pattern (v, 4096, 4096, 2, NULL);
  ut_write_pattern (v, 70000, 100, 3, NULL);
  ut_write_pattern (v, CS, CS, 4, NULL);
  ut_write_pattern (v, 5, 3, 5, NULL);
  flush (v);
  ut_volume_info (fx->pool, "inplace", &vi);
  assert_int_equal (vi.allocated_bytes, 2 * CS);
  assert_int_equal (vi.referenced_bytes, 2 * CS);
  assert_int_equal (ut_data_blocks (fx->dir, "inplace"), blocks0);

  assert_pattern (v, 0, 5, 1);
  assert_pattern (v, 5, 3, 5);
  assert_pattern (v, 8, 4096 - 8, 1);
  assert_pattern (v, 4096, 4096, 2);
  assert_pattern (v, 8192, CS - 8192, 1);
  assert_pattern (v, CS, CS, 4);
  view_close (v);
}

static void
test_second_write_after_snapshot_reuses_the_new_cluster (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info vi;
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v;
  uint64_t blocks1;

  create (fx, "again", MiB, 0);
  v = ut_view_open (fx->pool, "again");
  ut_write_pattern (v, 0, CS, 1, NULL);
  ut_snapshot (fx->pool, "again", id);

  ut_write_pattern (v, 0, 4096, 2, NULL);
  flush (v);
  blocks1 = ut_data_blocks (fx->dir, "again");
  /* Same subcluster again: in place in the new version. */
  ut_write_pattern (v, 100, 200, 3, NULL);
  flush (v);
  ut_volume_info (fx->pool, "again", &vi);
  assert_int_equal (vi.allocated_bytes, CS + 4096);
  assert_int_equal (ut_data_blocks (fx->dir, "again"), blocks1);
  /* Another subcluster: one more 4 KiB in the same new cluster. */
  ut_write_pattern (v, 40960, 4096, 4, NULL);
  flush (v);
  ut_volume_info (fx->pool, "again", &vi);
  assert_int_equal (vi.allocated_bytes, CS + 8192);

  assert_pattern (v, 0, 100, 2);
  assert_pattern (v, 100, 200, 3);
  assert_pattern (v, 300, 4096 - 300, 2);
  assert_pattern (v, 4096, 40960 - 4096, 1);
  assert_pattern (v, 40960, 4096, 4);
  assert_pattern (v, 45056, CS - 45056, 1);
  view_close (v);
}

static void
test_cluster_sizes_4k_and_1m_copy_on_write (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info vi;
  char id4[SV_UUID_STRLEN + 1], id1[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;

  /* 4 KiB clusters: one subcluster per cluster. */
  create (fx, "small", 256 * KiB, 4096);
  v = ut_view_open (fx->pool, "small");
  ut_write_pattern (v, 0, 256 * KiB, 1, NULL);
  ut_snapshot (fx->pool, "small", id4);
  ut_write_pattern (v, 4095, 2, 2, NULL);     /* two clusters */
  ut_volume_info (fx->pool, "small", &vi);
  assert_int_equal (vi.cluster_size, 4096);
  assert_int_equal (vi.subcluster_size, 4096);
  assert_int_equal (vi.allocated_bytes, 256 * KiB + 8192);
  assert_pattern (v, 0, 4095, 1);
  assert_pattern (v, 4095, 2, 2);
  assert_pattern (v, 4097, 256 * KiB - 4097, 1);
  s = open_snapshot (fx, "small", id4);
  assert_pattern (s, 0, 256 * KiB, 1);
  view_close (s);
  view_close (v);

  /* 1 MiB clusters: 64 subclusters of 16 KiB; a write across the last
   * subcluster of one cluster and the first of the next. */
  create (fx, "big", 4 * MiB, MiB);
  v = ut_view_open (fx->pool, "big");
  ut_write_pattern (v, 0, 2 * MiB, 1, NULL);
  ut_snapshot (fx->pool, "big", id1);
  ut_write_pattern (v, MiB - 50, 100, 2, NULL);
  ut_volume_info (fx->pool, "big", &vi);
  assert_int_equal (vi.subcluster_size, 16 * KiB);
  assert_int_equal (vi.allocated_bytes, 2 * MiB + 2 * 16 * KiB);
  assert_pattern (v, 0, MiB - 50, 1);
  assert_pattern (v, MiB - 50, 100, 2);
  assert_pattern (v, MiB + 50, MiB - 50, 1);
  assert_zero (v, 2 * MiB, 2 * MiB);
  s = open_snapshot (fx, "big", id1);
  assert_pattern (s, 0, 2 * MiB, 1);
  view_close (s);
  view_close (v);

  reopen (fx);
  v = ut_view_open (fx->pool, "big");
  assert_pattern (v, MiB - 50, 100, 2);
  assert_pattern (v, MiB + 50, MiB - 50, 1);
  s = open_snapshot (fx, "big", id1);
  assert_pattern (s, 0, 2 * MiB, 1);
  view_close (s);
  view_close (v);
}

/* Trim and zero. */

/* A storage layer that counts the pwrites longer than one cluster (a
 * write over several clusters in one call) and passes all through. */
static struct sv_io_ops counting_ops;
static struct sv_io counting_io = { &counting_ops, NULL };
static unsigned long long long_pwrites;

static ssize_t
counting_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  if (n > CS)
    __atomic_add_fetch (&long_pwrites, 1, __ATOMIC_RELAXED);
  return sio_posix.ops->pwrite (o, h, buf, n, off);
}

/* Reopen FX's pool over counting_io with PW as its pwrite (and no
 * data file reservations), create volume NAME of SIZE bytes, open it. */
static struct sv_view *
open_counting (struct fixture *fx,
               ssize_t (*pw) (void *, int, const void *, size_t, uint64_t),
               const char *name, uint64_t size)
{
  struct sv_pool_options opts = { .io = &counting_io,
                                  .prealloc = SV_PREALLOC_NONE };

  counting_ops = *sio_posix.ops;
  counting_ops.pwrite = pw;
  counting_io.opaque = sio_posix.opaque;
  ut_pool_close (fx->pool);
  fx->pool = ut_pool_open_opts (fx->dir, &opts, 0);
  create (fx, name, size, 0);
  return ut_view_open (fx->pool, name);
}

/* Reopen FX's pool and check that volume NAME reads SHADOW over its
 * SIZE bytes. */
static void
assert_reads_after_reopen (struct fixture *fx, const char *name,
                           uint64_t size, const uint8_t *shadow)
{
  struct sv_view *v;

  reopen (fx);
  v = ut_view_open (fx->pool, name);
  assert_view_reads (v, 0, size, shadow);
  view_close (v);
}

/* A write over several clusters that all take it in place (the live
 * volume's own versions, holding data in every subcluster written, in
 * consecutive physical clusters) is one pwrite; where a cluster does
 * not qualify (shared with a snapshot, partly unwritten, elsewhere on
 * disk) the rest goes cluster by cluster; the bytes are right either
 * way, and after a reopen. */
static void
test_write_over_clusters_in_place_is_one_pwrite (void **state)
{
  struct fixture *fx = *state;
  const uint64_t size = 16 * CS;
  uint8_t *shadow = xcalloc (size), *snap = xcalloc (size);
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;
  unsigned long long before;

  v = open_counting (fx, counting_pwrite, "run", size);

  /* New clusters: written one by one. */
  before = long_pwrites;
  ut_write_pattern (v, 0, 8 * CS, 1, shadow);
  assert_int_equal (long_pwrites, before);

  /* Over them, unaligned at both ends: one call. */
  before = long_pwrites;
  ut_write_pattern (v, CS / 2 + 100, 7 * CS - 300, 2, shadow);
  assert_int_equal (long_pwrites, before + 1);
  assert_view_reads (v, 0, size, shadow);

  /* Shared with a snapshot, every cluster is copied on write, one by
   * one (cluster 3, which has a version of the live volume's own
   * already, too: the first cluster decides). */
  ut_snapshot (fx->pool, "run", id);
  memcpy (snap, shadow, size);
  ut_write_pattern (v, 3 * CS + 4096, 4096, 3, shadow);  /* new version */
  before = long_pwrites;
  ut_write_pattern (v, 100, 8 * CS - 200, 4, shadow);
  assert_int_equal (long_pwrites, before);  /* 0 is shared too: none */
  assert_view_reads (v, 0, size, shadow);
  s = open_snapshot (fx, "run", id);
  assert_view_reads (s, 0, size, snap);
  view_close (s);

  /* The same range again: every cluster is the live volume's now, in
   * physical clusters 9, 10, 11, 8 (cluster 3's copy came first),
   * 12-15: clusters 0-2 in one call, the rest one by one. */
  before = long_pwrites;
  ut_write_pattern (v, 0, 8 * CS, 5, shadow);
  assert_int_equal (long_pwrites, before + 1);
  assert_view_reads (v, 0, size, shadow);
  s = open_snapshot (fx, "run", id);
  assert_view_reads (s, 0, size, snap);
  view_close (s);
  view_close (v);

  assert_reads_after_reopen (fx, "run", size, shadow);
  s = open_snapshot (fx, "run", id);
  assert_view_reads (s, 0, size, snap);
  view_close (s);
  free (shadow);
  free (snap);
}

/* A storage layer that, once armed, writes a second request from
 * inside the first data pwrite of another: two requests over new
 * clusters in flight at once, in a fixed order. */
static struct sv_view *nest_view;
static uint8_t *nest_shadow;
static int nest_armed;

static ssize_t
nesting_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  if (nest_armed) {
    nest_armed = 0;
    ut_write_pattern (nest_view, 8 * CS, 8 * CS, 2, nest_shadow);
  }
  return counting_pwrite (o, h, buf, n, off);
}

/* Requests over several new clusters that run at the same time do not
 * interleave their physical clusters: each takes consecutive ones, so
 * that a later write over either range is one pwrite.  Clusters a
 * request took and did not need (the ones that took its write in
 * place) are free again at its end: the next new cluster is the first
 * of them, and the data file ends there.  The bytes are right, and
 * after a reopen. */
static void
test_parallel_requests_get_consecutive_clusters (void **state)
{
  struct fixture *fx = *state;
  const uint64_t size = 32 * CS;
  uint8_t *shadow = xcalloc (size);
  char path[4096];
  struct sv_view *v;
  unsigned long long before;

  v = open_counting (fx, nesting_pwrite, "par", size);
  ut_volume_file (path, sizeof path, fx->dir, "par", "data");

  /* Clusters 0-7, and 8-15 written while 0-7 is at its first. */
  nest_view = v;
  nest_shadow = shadow;
  nest_armed = 1;
  ut_write_pattern (v, 0, 8 * CS, 1, shadow);
  assert_int_equal (nest_armed, 0);
  assert_view_reads (v, 0, size, shadow);
  assert_int_equal (ut_file_size (path), 16 * CS);

  /* Over either range: one call each. */
  before = long_pwrites;
  ut_write_pattern (v, 100, 8 * CS - 200, 3, shadow);
  assert_int_equal (long_pwrites, before + 1);
  ut_write_pattern (v, 8 * CS, 8 * CS, 4, shadow);
  assert_int_equal (long_pwrites, before + 2);
  assert_view_reads (v, 0, size, shadow);

  /* Clusters 20-23 (physical 16-19), then 16-23 in one request: it
   * takes physical 20-27 for its eight clusters, uses 20-23 for 16-19
   * and writes 20-23 in place; 24-27 are free again, so cluster 24
   * goes to physical 24 and the file ends after its 4 KiB. */
  ut_write_pattern (v, 20 * CS, 4 * CS, 5, shadow);
  assert_int_equal (ut_file_size (path), 20 * CS);
  ut_write_pattern (v, 16 * CS + 512, 8 * CS - 1024, 6, shadow);
  assert_int_equal (ut_file_size (path), 24 * CS);
  ut_write_pattern (v, 24 * CS, 4096, 7, shadow);
  assert_int_equal (ut_file_size (path), 24 * CS + 4096);
  assert_view_reads (v, 0, size, shadow);
  view_close (v);

  assert_reads_after_reopen (fx, "par", size, shadow);
  free (shadow);
}

static void
test_trim_and_zero_of_whole_clusters_allocate_nothing (void **state)
{
  struct fixture *fx = *state;
  const uint64_t size = MiB;
  struct sv_volume_info vi;
  struct ut_extents x;
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;
  uint64_t blocks0;

  create (fx, "tz", size, 0);
  v = ut_view_open (fx->pool, "tz");
  ut_write_pattern (v, 0, 4 * CS, 1, NULL);
  ut_snapshot (fx->pool, "tz", id);
  blocks0 = ut_data_blocks (fx->dir, "tz");

  trim (v, CS, CS, NULL);
  zero (v, 2 * CS, CS, 0, NULL);
  zero (v, 3 * CS, CS, 1, NULL);              /* fast zero, aligned */
  flush (v);
  ut_volume_info (fx->pool, "tz", &vi);
  assert_int_equal (vi.allocated_bytes, 4 * CS);
  assert_int_equal (vi.referenced_bytes, CS);
  assert_int_equal (vi.snapshot_bytes, 3 * CS);
  assert_int_equal (ut_data_blocks (fx->dir, "tz"), blocks0);

  assert_pattern (v, 0, CS, 1);
  assert_zero (v, CS, size - CS);
  ut_extents (v, 0, size, 0, &x);
  assert_int_equal (x.n, 2);
  assert_extent (&x, 0, 0, CS, 0);
  assert_extent (&x, 1, CS, size - CS, SV_EXTENT_HOLE | SV_EXTENT_ZERO);

  s = open_snapshot (fx, "tz", id);
  assert_pattern (s, 0, 4 * CS, 1);
  assert_zero (s, 4 * CS, size - 4 * CS);
  ut_extents (s, 0, size, 0, &x);
  assert_int_equal (x.n, 2);
  assert_extent (&x, 0, 0, 4 * CS, 0);
  assert_extent (&x, 1, 4 * CS, size - 4 * CS,
                 SV_EXTENT_HOLE | SV_EXTENT_ZERO);
  /* Only the first extent is required with REQ_ONE. */
  ut_extents (s, 100, size - 100, 1, &x);
  assert_true (x.n >= 1);
  assert_extent (&x, 0, 100, 4 * CS - 100, 0);
  /* A range starting inside a trimmed cluster of the live view. */
  ut_extents (v, CS + 10, 3 * CS, 0, &x);
  assert_int_equal (x.n, 1);
  assert_extent (&x, 0, CS + 10, 3 * CS, SV_EXTENT_HOLE | SV_EXTENT_ZERO);
  view_close (s);
  view_close (v);

  reopen (fx);
  v = ut_view_open (fx->pool, "tz");
  s = open_snapshot (fx, "tz", id);
  assert_pattern (v, 0, CS, 1);
  assert_zero (v, CS, size - CS);
  assert_pattern (s, 0, 4 * CS, 1);
  view_close (s);
  view_close (v);
}

static void
test_subcluster_extents_report_data_and_holes (void **state)
{
  struct fixture *fx = *state;
  struct ut_extents x;
  struct sv_view *v;

  create (fx, "ext", MiB, 0);
  v = ut_view_open (fx->pool, "ext");
  ut_write_pattern (v, 4096, 8192, 1, NULL);
  ut_write_pattern (v, CS + 100, 10, 2, NULL);
  ut_extents (v, 0, 2 * CS, 0, &x);
  assert_int_equal (x.n, 5);
  assert_extent (&x, 0, 0, 4096, SV_EXTENT_HOLE | SV_EXTENT_ZERO);
  assert_extent (&x, 1, 4096, 8192, 0);
  assert_extent (&x, 2, 12288, CS - 12288, SV_EXTENT_HOLE | SV_EXTENT_ZERO);
  assert_extent (&x, 3, CS, 4096, 0);
  assert_extent (&x, 4, CS + 4096, CS - 4096,
                 SV_EXTENT_HOLE | SV_EXTENT_ZERO);
  assert_zero (v, CS, 100);
  assert_pattern (v, CS + 100, 10, 2);
  assert_zero (v, CS + 110, 4096 - 110);
  view_close (v);
}

static void
test_trim_without_snapshot_frees_space (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info vi;
  struct sv_view *v;
  uint64_t blocks0, blocks1, blocks2;

  create (fx, "free", MiB, 0);
  v = ut_view_open (fx->pool, "free");
  ut_write_pattern (v, 0, 4 * CS, 1, NULL);
  flush (v);
  blocks0 = ut_data_blocks (fx->dir, "free");

  trim (v, CS, CS, NULL);
  ut_volume_info (fx->pool, "free", &vi);
  assert_int_equal (vi.allocated_bytes, 3 * CS);
  flush (v);
  blocks1 = ut_data_blocks (fx->dir, "free");
  if (blocks1 > blocks0 - CS)
    fail_msg ("data file shrank by %" PRIu64 " bytes after trimming a"
              " cluster, expected %u", blocks0 - blocks1, CS);

  /* Two whole subclusters inside a cluster, with ragged edges:
   * [2 CS + 4000, 2 CS + 12392) covers subclusters 1 and 2. */
  trim (v, 2 * CS + 4000, 8192 + 200, NULL);
  ut_volume_info (fx->pool, "free", &vi);
  assert_int_equal (vi.allocated_bytes, 3 * CS - 8192);
  flush (v);
  blocks2 = ut_data_blocks (fx->dir, "free");
  if (blocks2 > blocks1 - 8192)
    fail_msg ("data file shrank by %" PRIu64 " bytes after trimming two"
              " subclusters, expected 8192", blocks1 - blocks2);

  assert_pattern (v, 0, CS, 1);
  assert_zero (v, CS, CS);
  /* The partial subclusters at the edges are not trimmed. */
  assert_pattern (v, 2 * CS, 4096, 1);
  assert_zero (v, 2 * CS + 4096, 8192);
  assert_pattern (v, 2 * CS + 12288, CS - 12288, 1);
  assert_pattern (v, 3 * CS, CS, 1);
  view_close (v);

  reopen (fx);
  v = ut_view_open (fx->pool, "free");
  assert_zero (v, CS, CS);
  assert_pattern (v, 2 * CS, 4096, 1);
  assert_zero (v, 2 * CS + 4096, 8192);
  assert_pattern (v, 2 * CS + 12288, 2 * CS - 12288, 1);
  view_close (v);
}

static void
test_zero_of_partial_subclusters_writes_zeroes (void **state)
{
  struct fixture *fx = *state;
  uint8_t *shadow = xcalloc (MiB);
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;

  create (fx, "pz", MiB, 0);
  v = ut_view_open (fx->pool, "pz");
  ut_write_pattern (v, 0, 4 * CS, 1, shadow);
  ut_snapshot (fx->pool, "pz", id);

  zero (v, 10, 100, 0, shadow);               /* inside one subcluster */
  zero (v, 4000, 5000, 0, shadow);            /* partial, whole, partial */
  zero (v, CS - 10, 20, 0, shadow);           /* across two clusters */
  ut_write_pattern (v, 3 * CS, 100, 2, shadow);
  zero (v, 3 * CS + 50, 30, 0, shadow);       /* in the new version */
  assert_view_reads (v, 0, MiB, shadow);
  assert_zero (v, 10, 100);
  assert_pattern (v, 110, 4000 - 110, 1);
  assert_zero (v, 4000, 5000);
  assert_pattern (v, 9000, CS - 10 - 9000, 1);

  s = open_snapshot (fx, "pz", id);
  assert_pattern (s, 0, 4 * CS, 1);
  view_close (s);
  view_close (v);

  reopen (fx);
  v = ut_view_open (fx->pool, "pz");
  assert_view_reads (v, 0, MiB, shadow);
  view_close (v);
  free (shadow);
}

static void
test_fast_zero_of_unaligned_range_fails_enotsup (void **state)
{
  struct fixture *fx = *state;
  struct sv_view *v;

  create (fx, "fast", MiB, 0);
  v = ut_view_open (fx->pool, "fast");
  ut_write_pattern (v, 0, CS, 1, NULL);

  assert_fails_with (view_zero (v, 100, 10, 0, 1, 0), ENOTSUP);
  assert_errmsg_names ("fast");
  assert_fails_with (view_zero (v, 4096 + 100, 4096, 1, 1, 0), ENOTSUP);
  assert_fails_with (view_zero (v, 4096, 4000, 0, 1, 0), ENOTSUP);
  /* Nothing was zeroed by the refused requests. */
  assert_pattern (v, 0, CS, 1);

  zero (v, 4096, 8192, 1, NULL);
  assert_pattern (v, 0, 4096, 1);
  assert_zero (v, 4096, 8192);
  assert_pattern (v, 12288, CS - 12288, 1);
  view_close (v);
}

static void
test_zero_at_end_of_odd_sized_volume (void **state)
{
  struct fixture *fx = *state;
  const uint64_t size = CS + 512;
  struct sv_view *v;

  create (fx, "tail", size, 0);
  v = ut_view_open (fx->pool, "tail");
  ut_write_pattern (v, 0, size, 1, NULL);
  assert_pattern (v, 0, size, 1);
  /* The volume's last 512 bytes count as a whole subcluster. */
  zero (v, CS, 512, 1, NULL);
  assert_zero (v, CS, 512);
  assert_pattern (v, 0, CS, 1);
  ut_write_pattern (v, size - 100, 100, 2, NULL);
  assert_zero (v, CS, 412);
  assert_pattern (v, size - 100, 100, 2);
  view_close (v);
}

/* Errors on the data path. */

static void
test_io_past_the_end_fails_einval_naming_volume (void **state)
{
  struct fixture *fx = *state;
  uint8_t buf[1024] = { 0 };
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;
  struct ut_extents x = { 0 };

  create (fx, "edge", MiB, 0);
  v = ut_view_open (fx->pool, "edge");
  ut_write_pattern (v, MiB - 512, 512, 1, NULL);
  ut_snapshot (fx->pool, "edge", id);

  assert_fails_with (view_pread (v, buf, 512, MiB), EINVAL);
  assert_errmsg_names ("edge");
  assert_fails_with (view_pread (v, buf, 1024, MiB - 512), EINVAL);
  assert_errmsg_names ("edge");
  assert_fails_with (view_pread (v, buf, 1, UINT64_MAX), EINVAL);
  assert_fails_with (view_pwrite (v, buf, 1, MiB, 0), EINVAL);
  assert_errmsg_names ("edge");
  assert_fails_with (view_pwrite (v, buf, 1024, MiB - 1023, 1), EINVAL);
  assert_fails_with (view_zero (v, 4096, MiB - 4095, 0, 0, 0), EINVAL);
  assert_errmsg_names ("edge");
  assert_fails_with (view_trim (v, 4096, MiB, 0), EINVAL);
  assert_fails_with (view_cache (v, 2, MiB - 1), EINVAL);
  assert_fails_with (view_extents (v, 2, MiB - 1, 0, NULL, &x), EINVAL);
  assert_errmsg_names ("edge");
  /* The last bytes are still there, untouched by refused writes. */
  assert_pattern (v, MiB - 512, 512, 1);

  s = open_snapshot (fx, "edge", id);
  assert_fails_with (view_pread (s, buf, 512, MiB - 511), EINVAL);
  assert_errmsg_names ("edge");
  assert_pattern (s, MiB - 512, 512, 1);
  view_close (s);
  view_close (v);
}

static void
test_writes_to_snapshot_fail_erofs (void **state)
{
  struct fixture *fx = *state;
  uint8_t buf[4096];
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;

  create (fx, "ro", MiB, 0);
  v = ut_view_open (fx->pool, "ro");
  ut_write_pattern (v, 0, CS, 1, NULL);
  ut_snapshot (fx->pool, "ro", id);
  s = open_snapshot (fx, "ro", id);

  memset (buf, 0xaa, sizeof buf);
  assert_fails_with (view_pwrite (s, buf, sizeof buf, 0, 0), EROFS);
  assert_errmsg_names ("ro@");
  assert_errmsg_names (id);
  assert_fails_with (view_pwrite (s, buf, sizeof buf, 0, 1), EROFS);
  assert_fails_with (view_zero (s, CS, 0, 1, 0, 0), EROFS);
  assert_errmsg_names ("ro@");
  assert_fails_with (view_trim (s, CS, 0, 0), EROFS);
  assert_errmsg_names ("ro@");
  assert_pattern (s, 0, CS, 1);
  assert_pattern (v, 0, CS, 1);
  view_close (s);
  view_close (v);
}

/* Snapshot sets. */

static void
test_snapshot_set_of_three_volumes_shares_one_set_id (void **state)
{
  struct fixture *fx = *state;
  const char *const vols[] = { "c", "a", "b" };
  struct sv_snap_result res[3];
  struct sv_snapshot_info *si = NULL;
  char set[SV_UUID_STRLEN + 1], set2[SV_UUID_STRLEN + 1];
  char fixed[SV_UUID_STRLEN + 1];
  struct uuid u;
  size_t i, n = 0, nd = 0;
  char desc[512], *e;

  for (i = 0; i < 3; i++) {
    struct sv_view *v;
    create (fx, vols[i], MiB, 0);
    v = ut_view_open (fx->pool, vols[i]);
    ut_write_pattern (v, 0, 2 * CS, 10 + i, NULL);
    view_close (v);
  }
  assert_int_equal (pool_snapshot_create (fx->pool, vols, 3, "nightly", NULL,
                                          set, res), 0);
  assert_int_equal (uuid_parse (set, &u), 0);
  for (i = 0; i < 3; i++) {
    assert_string_equal (res[i].volume, vols[i]);
    assert_int_equal (res[i].generation, 1);
    assert_int_equal (uuid_parse (res[i].id, &u), 0);
    assert_string_not_equal (res[i].id, set);
  }
  assert_string_not_equal (res[0].id, res[1].id);
  assert_string_not_equal (res[1].id, res[2].id);

  /* Overwrite the live volumes; each snapshot opens by its own id and
   * by the set id and reads the old bytes. */
  for (i = 0; i < 3; i++) {
    struct sv_view *v = ut_view_open (fx->pool, vols[i]), *s1, *s2;
    ut_write_pattern (v, 0, 2 * CS, 20 + i, NULL);
    s1 = open_snapshot (fx, vols[i], set);
    s2 = open_snapshot (fx, vols[i], res[i].id);
    assert_true (view_is_snapshot (s1));
    assert_pattern (s1, 0, 2 * CS, 10 + i);
    assert_pattern (s2, 0, 2 * CS, 10 + i);
    assert_pattern (v, 0, 2 * CS, 20 + i);
    view_describe (s1, desc, sizeof desc);
    assert_non_null (strstr (desc, vols[i]));
    assert_non_null (strstr (desc, "nightly"));
    view_close (s2);
    view_close (s1);
    view_close (v);
  }

  assert_int_equal (pool_snapshot_list (fx->pool, NULL, &si, &n), 0);
  assert_int_equal (n, 3);
  for (i = 0; i < n; i++) {
    assert_string_equal (si[i].set_id, set);
    assert_string_equal (si[i].label, "nightly");
    assert_int_equal (si[i].generation, 1);
    assert_int_equal (si[i].size, MiB);
  }
  /* Sorted by volume. */
  assert_string_equal (si[0].volume, "a");
  assert_string_equal (si[2].volume, "c");
  free (si);

  /* A set id chosen by the caller is used as given, once per volume. */
  assert_int_equal (uuid_generate (&u), 0);
  uuid_format (&u, fixed);
  assert_int_equal (pool_snapshot_create (fx->pool, vols + 1, 1, NULL, fixed,
                                          set2, res), 0);
  assert_string_equal (set2, fixed);
  assert_int_equal (res[0].generation, 2);
  assert_fails_with (pool_snapshot_create (fx->pool, vols + 1, 1, NULL, fixed,
                                           set2, res), EEXIST);
  assert_errmsg_names ("volume a");

  /* Deleting by set id deletes the whole set. */
  assert_int_equal (pool_snapshot_delete (fx->pool, set, &nd), 0);
  assert_int_equal (nd, 3);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 1);
  e = export_name ("b", set);
  assert_null_with (view_open (fx->pool, e), ENOENT);
  free (e);

  /* The set ids a pin checks follow the snapshots as they are deleted,
   * replayed and deleted again. */
  assert_fails_with (pool_snapshot_create (fx->pool, vols + 1, 1, NULL, fixed,
                                           set2, res), EEXIST);
  reopen (fx);
  assert_fails_with (pool_snapshot_create (fx->pool, vols + 1, 1, NULL, fixed,
                                           set2, res), EEXIST);
  assert_int_equal (pool_snapshot_delete (fx->pool, fixed, &nd), 0);
  assert_int_equal (nd, 1);
  assert_int_equal (pool_snapshot_create (fx->pool, vols + 1, 1, NULL, fixed,
                                          set2, res), 0);
  assert_int_equal (pool_snapshot_create (fx->pool, vols, 1, NULL, fixed,
                                          set2, res), 0);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 2);
}

/* Ids are unique across the snapshots and sets of a pool: a set id
 * that is the id of a snapshot (of any volume) is refused, before and
 * after a reopen, and deleting that id deletes the one snapshot. */
static void
test_set_id_equal_to_a_snapshot_id_is_refused (void **state)
{
  struct fixture *fx = *state;
  const char *const a[] = { "a" }, *const b[] = { "b" };
  struct sv_snap_result res[1];
  char set[SV_UUID_STRLEN + 1], snap_id[SV_UUID_STRLEN + 1];
  size_t nd = 0;
  char *e;

  create (fx, "a", MiB, 0);
  create (fx, "b", MiB, 0);
  assert_int_equal (pool_snapshot_create (fx->pool, a, 1, NULL, NULL, set,
                                          res), 0);
  snprintf (snap_id, sizeof snap_id, "%s", res[0].id);

  /* Another volume, and the same one. */
  assert_fails_with (pool_snapshot_create (fx->pool, b, 1, NULL, snap_id,
                                           set, res), EEXIST);
  assert_errmsg_names ("is the id of a snapshot of volume a");
  assert_fails_with (pool_snapshot_create (fx->pool, a, 1, NULL, snap_id,
                                           set, res), EEXIST);
  reopen (fx);
  assert_fails_with (pool_snapshot_create (fx->pool, b, 1, NULL, snap_id,
                                           set, res), EEXIST);
  assert_errmsg_names (snap_id);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 1);
  e = export_name ("b", snap_id);
  assert_null_with (view_open (fx->pool, e), ENOENT);
  free (e);

  /* The id names one snapshot; once it is gone the id is free. */
  assert_int_equal (pool_snapshot_delete (fx->pool, snap_id, &nd), 0);
  assert_int_equal (nd, 1);
  assert_int_equal (pool_snapshot_create (fx->pool, b, 1, NULL, snap_id,
                                          set, res), 0);
  assert_string_equal (set, snap_id);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 1);
}

/* Snapshots are found by id and by set id among many, while they are
 * taken, deleted in a scattered order, replayed after a reopen and
 * taken again: set ids chosen by the caller that differ in one byte
 * only (not random) included. */
#define MANY 600
static void
test_lookup_by_id_and_set_among_600_snapshots (void **state)
{
  struct fixture *fx = *state;
  const char *const vols[] = { "m" };
  static char sets[MANY][SV_UUID_STRLEN + 1], ids[MANY][SV_UUID_STRLEN + 1];
  char out[SV_UUID_STRLEN + 1];
  struct sv_snap_result res[1];
  struct sv_view *v, *s;
  size_t i, nd, round;
  int gone[MANY] = { 0 };

  create (fx, "m", MANY * 4 * KiB, 0);
  v = ut_view_open (fx->pool, "m");
  for (i = 0; i < MANY; i++) {
    /* Block I holds seed 1000 + I from snapshot I on. */
    ut_write_pattern (v, i * 4 * KiB, 4 * KiB, 1000 + i, NULL);
    snprintf (sets[i], sizeof sets[i],
              "00000000-0000-0000-0000-%012zx", i << 8);
    assert_int_equal (pool_snapshot_create (fx->pool, vols, 1, NULL, sets[i],
                                            out, res), 0);
    assert_string_equal (out, sets[i]);
    snprintf (ids[i], sizeof ids[i], "%s", res[0].id);
  }
  view_close (v);

  for (round = 0; round < 2; round++) {
    /* Delete a scattered third in the first round. */
    for (i = 0; round == 0 && i < MANY; i++)
      if ((i * 7) % 3 == 0) {
        assert_int_equal (pool_snapshot_delete (fx->pool,
                                                i % 2 ? ids[i] : sets[i],
                                                &nd), 0);
        assert_int_equal (nd, 1);
        gone[i] = 1;
      }
    for (i = 0; i < MANY; i++) {
      char *e = export_name ("m", i % 2 ? sets[i] : ids[i]);
      if (gone[i]) {
        assert_null_with (view_open (fx->pool, e), ENOENT);
        free (e);
        assert_int_equal (pool_snapshot_create (fx->pool, vols, 1, NULL,
                                                sets[i], out, res), 0);
        snprintf (ids[i], sizeof ids[i], "%s", res[0].id);
        gone[i] = 0;
        continue;
      }
      s = ut_view_open (fx->pool, e);
      free (e);
      /* Snapshot I reads its own block and the one written after it
       * as still unwritten. */
      assert_pattern (s, i * 4 * KiB, 4 * KiB, 1000 + i);
      if (round == 0 && i + 1 < MANY)
        assert_zero (s, (i + 1) * 4 * KiB, 4 * KiB);
      view_close (s);
      assert_fails_with (pool_snapshot_create (fx->pool, vols, 1, NULL,
                                               sets[i], out, res), EEXIST);
    }
    reopen (fx);
  }
  assert_int_equal (ut_snapshot_count (fx->pool, "m"), MANY);
}
#undef MANY

/* Space accounting and reclaim. */

static void
test_space_accounting_exact (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info vi;
  struct sv_snapshot_info s1, s2;
  char id1[SV_UUID_STRLEN + 1], id2[SV_UUID_STRLEN + 1];
  struct sv_view *v;
  size_t nd = 0;

  create (fx, "acct", MiB, 0);
  v = ut_view_open (fx->pool, "acct");
  ut_write_pattern (v, 0, 3 * CS, 1, NULL);
  ut_volume_info (fx->pool, "acct", &vi);
  assert_int_equal (vi.allocated_bytes, 3 * CS);
  assert_int_equal (vi.referenced_bytes, 3 * CS);
  assert_int_equal (vi.written_bytes, 3 * CS);
  assert_int_equal (vi.snapshot_bytes, 0);
  assert_int_equal (vi.nsnapshots, 0);
  assert_int_equal (vi.generation, 1);

  ut_snapshot (fx->pool, "acct", id1);
  ut_volume_info (fx->pool, "acct", &vi);
  assert_int_equal (vi.allocated_bytes, 3 * CS);
  assert_int_equal (vi.written_bytes, 0);
  assert_int_equal (vi.generation, 2);
  ut_snapshot_info (fx->pool, id1, &s1);
  assert_int_equal (s1.referenced_bytes, 3 * CS);
  assert_int_equal (s1.exclusive_bytes, 0);
  assert_int_equal (s1.written_bytes, 3 * CS);

  /* Generation 2: 8 KiB over cluster 0, trim cluster 1, a new
   * cluster 3.  Then generation 3: 4 KiB over cluster 3 and 4 KiB of a
   * new cluster 4. */
  ut_write_pattern (v, 0, 8192, 2, NULL);
  trim (v, CS, CS, NULL);
  ut_write_pattern (v, 3 * CS, CS, 3, NULL);
  ut_snapshot (fx->pool, "acct", id2);
  ut_write_pattern (v, 3 * CS, 4096, 4, NULL);
  ut_write_pattern (v, 4 * CS, 4096, 5, NULL);

  ut_volume_info (fx->pool, "acct", &vi);
  assert_int_equal (vi.nsnapshots, 2);
  assert_int_equal (vi.generation, 3);
  assert_int_equal (vi.allocated_bytes, 278528);
  assert_int_equal (vi.referenced_bytes, 200704);
  assert_int_equal (vi.written_bytes, 8192);
  assert_int_equal (vi.snapshot_bytes, 77824);
  ut_snapshot_info (fx->pool, id1, &s1);
  assert_int_equal (s1.generation, 1);
  assert_int_equal (s1.referenced_bytes, 3 * CS);
  assert_int_equal (s1.exclusive_bytes, 73728);   /* 8 KiB + cluster 1 */
  assert_int_equal (s1.written_bytes, 3 * CS);
  ut_snapshot_info (fx->pool, id2, &s2);
  assert_int_equal (s2.generation, 2);
  assert_int_equal (s2.referenced_bytes, 3 * CS);
  assert_int_equal (s2.exclusive_bytes, 4096);
  assert_int_equal (s2.written_bytes, 73728);     /* 8 KiB + cluster 3 */

  /* Deleting S1 frees exactly its exclusive bytes. */
  assert_int_equal (pool_snapshot_delete (fx->pool, id1, &nd), 0);
  assert_int_equal (nd, 1);
  ut_volume_info (fx->pool, "acct", &vi);
  assert_int_equal (vi.allocated_bytes, 278528 - 73728);
  assert_int_equal (vi.referenced_bytes, 200704);
  assert_int_equal (vi.snapshot_bytes, 4096);
  ut_snapshot_info (fx->pool, id2, &s2);
  assert_int_equal (s2.referenced_bytes, 3 * CS);
  assert_int_equal (s2.exclusive_bytes, 4096);
  assert_int_equal (s2.written_bytes, 3 * CS);

  /* The same numbers after a restart (checkpoint and replay). */
  view_close (v);
  reopen (fx);
  ut_volume_info (fx->pool, "acct", &vi);
  assert_int_equal (vi.allocated_bytes, 278528 - 73728);
  assert_int_equal (vi.referenced_bytes, 200704);
  assert_int_equal (vi.written_bytes, 8192);
  ut_snapshot_info (fx->pool, id2, &s2);
  assert_int_equal (s2.exclusive_bytes, 4096);

  v = ut_view_open (fx->pool, "acct");
  assert_pattern (v, 0, 8192, 2);
  assert_pattern (v, 8192, CS - 8192, 1);
  assert_zero (v, CS, CS);
  assert_pattern (v, 2 * CS, CS, 1);
  assert_pattern (v, 3 * CS, 4096, 4);
  assert_pattern (v, 3 * CS + 4096, CS - 4096, 3);
  assert_pattern (v, 4 * CS, 4096, 5);
  view_close (v);
  v = open_snapshot (fx, "acct", id2);
  assert_pattern (v, 0, 8192, 2);
  assert_pattern (v, 8192, CS - 8192, 1);
  assert_zero (v, CS, CS);
  assert_pattern (v, 2 * CS, CS, 1);
  assert_pattern (v, 3 * CS, CS, 3);
  assert_zero (v, 4 * CS, MiB - 4 * CS);
  view_close (v);
}

static void
test_snapshot_delete_frees_space_for_reuse (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info vi;
  struct sv_snapshot_info si;
  char id[SV_UUID_STRLEN + 1], path[4096];
  struct sv_view *v;
  uint64_t blocks0, blocks1, fsize;
  size_t nd = 0;

  create (fx, "reclaim", MiB, 0);
  v = ut_view_open (fx->pool, "reclaim");
  ut_write_pattern (v, 0, 4 * CS, 1, NULL);
  ut_snapshot (fx->pool, "reclaim", id);
  ut_write_pattern (v, 0, 4 * CS, 2, NULL);
  flush (v);
  ut_volume_info (fx->pool, "reclaim", &vi);
  assert_int_equal (vi.allocated_bytes, 8 * CS);
  ut_snapshot_info (fx->pool, id, &si);
  assert_int_equal (si.exclusive_bytes, 4 * CS);
  blocks0 = ut_data_blocks (fx->dir, "reclaim");
  ut_volume_file (path, sizeof path, fx->dir, "reclaim", "data");
  fsize = ut_file_size (path);
  assert_int_equal (fsize, 8 * CS);

  assert_int_equal (pool_snapshot_delete (fx->pool, id, &nd), 0);
  assert_int_equal (nd, 1);
  ut_volume_info (fx->pool, "reclaim", &vi);
  assert_int_equal (vi.allocated_bytes, 4 * CS);
  assert_int_equal (vi.nsnapshots, 0);
  flush (v);
  blocks1 = ut_data_blocks (fx->dir, "reclaim");
  if (blocks1 > blocks0 - 4 * CS)
    fail_msg ("data file shrank by %" PRIu64 " bytes, expected %u",
              blocks0 - blocks1, 4 * CS);
  snprintf (path, sizeof path, "reclaim@%s", id);
  assert_null_with (view_open (fx->pool, path), ENOENT);
  ut_volume_file (path, sizeof path, fx->dir, "reclaim", "data");
  assert_pattern (v, 0, 4 * CS, 2);

  /* The freed clusters are reused: new data does not grow the file. */
  ut_write_pattern (v, 8 * CS, 4 * CS, 3, NULL);
  flush (v);
  assert_int_equal (ut_file_size (path), fsize);
  ut_volume_info (fx->pool, "reclaim", &vi);
  assert_int_equal (vi.allocated_bytes, 8 * CS);
  assert_pattern (v, 0, 4 * CS, 2);
  assert_zero (v, 4 * CS, 4 * CS);
  assert_pattern (v, 8 * CS, 4 * CS, 3);
  view_close (v);
}

static void
test_delete_middle_of_three_snapshots_keeps_the_others (void **state)
{
  struct fixture *fx = *state;
  const uint64_t size = 512 * KiB;
  uint8_t *shadow = xcalloc (size), *a = xcalloc (size), *c = xcalloc (size);
  char ida[SV_UUID_STRLEN + 1], idb[SV_UUID_STRLEN + 1];
  char idc[SV_UUID_STRLEN + 1];
  struct sv_snapshot_info sb;
  struct sv_volume_info before, after;
  struct sv_view *v, *s;
  size_t nd = 0;

  create (fx, "three", size, 0);
  v = ut_view_open (fx->pool, "three");
  ut_write_pattern (v, 0, size, 1, shadow);
  ut_snapshot (fx->pool, "three", ida);
  memcpy (a, shadow, size);

  ut_write_pattern (v, 10000, 150000, 2, shadow);
  trim (v, 4 * CS, CS, shadow);
  ut_snapshot (fx->pool, "three", idb);

  ut_write_pattern (v, 100000, 200000, 3, shadow);
  zero (v, 0, 5000, 0, shadow);
  ut_snapshot (fx->pool, "three", idc);
  memcpy (c, shadow, size);

  ut_write_pattern (v, 50000, 250000, 4, shadow);
  trim (v, 7 * CS, CS, shadow);

  ut_snapshot_info (fx->pool, idb, &sb);
  ut_volume_info (fx->pool, "three", &before);
  assert_int_equal (pool_snapshot_delete (fx->pool, idb, &nd), 0);
  assert_int_equal (nd, 1);
  ut_volume_info (fx->pool, "three", &after);
  assert_int_equal (after.allocated_bytes,
                    before.allocated_bytes - sb.exclusive_bytes);
  assert_int_equal (after.nsnapshots, 2);

  assert_view_reads (v, 0, size, shadow);
  s = open_snapshot (fx, "three", ida);
  assert_view_reads (s, 0, size, a);
  view_close (s);
  s = open_snapshot (fx, "three", idc);
  assert_view_reads (s, 0, size, c);
  view_close (s);
  view_close (v);

  reopen (fx);
  v = ut_view_open (fx->pool, "three");
  assert_view_reads (v, 0, size, shadow);
  s = open_snapshot (fx, "three", ida);
  assert_view_reads (s, 0, size, a);
  view_close (s);
  s = open_snapshot (fx, "three", idc);
  assert_view_reads (s, 0, size, c);
  view_close (s);
  view_close (v);
  free (a);
  free (c);
  free (shadow);
}

/* A deletion reclaims only the tables written since the snapshot it
 * deletes (extmap.c, "Newest generation per table"): what it frees
 * must still be everything no view reads, across tables that the
 * newest snapshot's deletion skips and the oldest one's does not. */
static void
test_deletions_reclaim_across_tables_written_at_different_times (void **state)
{
  struct fixture *fx = *state;
  const uint64_t table = 512 * (uint64_t) CS;     /* 32 MiB */
  char ida[SV_UUID_STRLEN + 1], idb[SV_UUID_STRLEN + 1];
  struct sv_snapshot_info sa, sb;
  struct sv_volume_info before, after;
  struct sv_view *v, *s;
  size_t nd = 0;

  create (fx, "tables", 3 * table, 0);
  v = ut_view_open (fx->pool, "tables");
  /* Generation 1: 4 clusters in table 0, 4 in table 2. */
  ut_write_pattern (v, 0, 4 * CS, 1, NULL);
  ut_write_pattern (v, 2 * table, 4 * CS, 2, NULL);
  ut_snapshot (fx->pool, "tables", ida);
  /* Generation 2: table 0 overwritten; generation 3: table 2. */
  ut_write_pattern (v, 0, 4 * CS, 3, NULL);
  ut_snapshot (fx->pool, "tables", idb);
  ut_write_pattern (v, 2 * table, 4 * CS, 4, NULL);
  flush (v);

  /* A (the oldest) holds table 0's first data alone; table 2's is
   * B's too. */
  ut_snapshot_info (fx->pool, ida, &sa);
  assert_int_equal (sa.exclusive_bytes, 4 * CS);
  ut_volume_info (fx->pool, "tables", &before);
  assert_int_equal (before.allocated_bytes, 16 * CS);
  assert_int_equal (pool_snapshot_delete (fx->pool, ida, &nd), 0);
  ut_volume_info (fx->pool, "tables", &after);
  assert_int_equal (after.allocated_bytes, 12 * CS);

  /* B is now the newest: its deletion frees table 2's first data. */
  ut_snapshot_info (fx->pool, idb, &sb);
  assert_int_equal (sb.exclusive_bytes, 4 * CS);
  s = open_snapshot (fx, "tables", idb);
  assert_pattern (s, 0, 4 * CS, 3);
  assert_pattern (s, 2 * table, 4 * CS, 2);
  view_close (s);
  assert_int_equal (pool_snapshot_delete (fx->pool, idb, &nd), 0);
  ut_volume_info (fx->pool, "tables", &after);
  assert_int_equal (after.allocated_bytes, 8 * CS);
  assert_int_equal (after.referenced_bytes, 8 * CS);
  assert_pattern (v, 0, 4 * CS, 3);
  assert_pattern (v, 2 * table, 4 * CS, 4);
  view_close (v);

  /* And a reopen (which reclaims the whole map) finds nothing left. */
  reopen (fx);
  ut_volume_info (fx->pool, "tables", &after);
  assert_int_equal (after.allocated_bytes, 8 * CS);
}

static void
test_reclaim_of_zero_only_cluster_after_two_deletions (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info vi;
  char id1[SV_UUID_STRLEN + 1], id2[SV_UUID_STRLEN + 1];
  struct sv_view *v;

  /* Trimming a cluster a snapshot sees leaves a zero-only version;
   * once the snapshot is gone that version is the cluster's only one,
   * and the next reclaim drops it. */
  create (fx, "zonly", MiB, 0);
  v = ut_view_open (fx->pool, "zonly");
  ut_write_pattern (v, 0, 2 * CS, 1, NULL);
  ut_snapshot (fx->pool, "zonly", id1);
  trim (v, 0, CS, NULL);
  assert_int_equal (pool_snapshot_delete (fx->pool, id1, NULL), 0);
  ut_snapshot (fx->pool, "zonly", id2);
  assert_int_equal (pool_snapshot_delete (fx->pool, id2, NULL), 0);
  ut_volume_info (fx->pool, "zonly", &vi);
  assert_int_equal (vi.allocated_bytes, CS);
  assert_zero (v, 0, CS);
  assert_pattern (v, CS, CS, 1);
  view_close (v);
  reopen (fx);
  v = ut_view_open (fx->pool, "zonly");
  assert_zero (v, 0, CS);
  assert_pattern (v, CS, CS, 1);
  view_close (v);
}

#define CHAIN 40

/* Reads of VIEW at odd offsets and lengths (crossing subclusters and
 * clusters, starting and ending inside them) against EXPECT[0, LEN). */
static void
assert_view_reads_in_pieces (struct sv_view *view, const uint8_t *expect,
                             uint64_t len)
{
  uint64_t off;

  for (off = 0; off < len; off += 5003) {
    uint64_t n = len - off < 9001 ? len - off : 9001;
    assert_view_reads (view, off, n, expect + off);
  }
}

/* 40 snapshots, a 700-byte write at a different offset between each
 * two (and a trim every 5): reads of the live volume and of every
 * snapshot walk chains of up to 32 versions, each subcluster found in
 * a different one, and one copy on write fills the cluster. */
static void
test_deep_chain_of_forty_snapshots_reads_each_version (void **state)
{
  struct fixture *fx = *state;
  uint8_t *shadow = xcalloc (4 * CS);
  uint8_t *expect[CHAIN + 1];
  char ids[CHAIN + 1][SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;
  int i, round;

  create (fx, "chain", 4 * CS, 0);
  v = ut_view_open (fx->pool, "chain");
  ut_write_pattern (v, 0, CS, 100, shadow);
  for (i = 1; i <= CHAIN; i++) {
    uint64_t off = (uint64_t) i * 3001 % (CS - 700);
    ut_snapshot (fx->pool, "chain", ids[i]);
    expect[i] = xcalloc (CS);
    memcpy (expect[i], shadow, CS);
    ut_write_pattern (v, off, 700, 100 + i, shadow);
    if (i % 5 == 0)
      trim (v, (uint64_t) i * 4096 % CS, 4096, shadow);
  }

  for (round = 0; round < 2; round++) {
    assert_view_reads (v, 0, 4 * CS, shadow);
    assert_view_reads_in_pieces (v, shadow, 4 * CS);
    for (i = 1; i <= CHAIN; i++) {
      s = open_snapshot (fx, "chain", ids[i]);
      assert_view_reads (s, 0, CS, expect[i]);
      assert_view_reads_in_pieces (s, expect[i], CS);
      assert_zero (s, CS, 3 * CS);
      view_close (s);
    }
    view_close (v);
    reopen (fx);
    v = ut_view_open (fx->pool, "chain");
  }

  /* Delete every other snapshot: the rest keep their bytes. */
  for (i = 1; i <= CHAIN; i += 2)
    assert_int_equal (pool_snapshot_delete (fx->pool, ids[i], NULL), 0);
  for (round = 0; round < 2; round++) {
    assert_view_reads (v, 0, 4 * CS, shadow);
    for (i = 2; i <= CHAIN; i += 2) {
      s = open_snapshot (fx, "chain", ids[i]);
      assert_view_reads (s, 0, CS, expect[i]);
      view_close (s);
    }
    view_close (v);
    reopen (fx);
    v = ut_view_open (fx->pool, "chain");
  }
  view_close (v);
  for (i = 1; i <= CHAIN; i++)
    free (expect[i]);
  free (shadow);
}

/* A subcluster rewritten between every pair of snapshots, with every
 * snapshot kept: each copy on write allocates one 4 KiB subcluster,
 * except that a read's walk is bounded by filling the whole cluster
 * once the chain down to a complete version reaches 32 versions: the
 * 32nd and 64th copies.  Counting every kept version instead would
 * fill the cluster on every copy from the 32nd on.  Every view reads
 * back exactly, through chains up to 32 versions deep. */
#define HOT 64
#define HOT_DEPTH 32
static void
test_hot_subcluster_fills_one_cluster_per_32_copies (void **state)
{
  struct fixture *fx = *state;
  uint8_t *shadow = xcalloc (CS);
  uint8_t *expect[HOT + 1];
  char ids[HOT + 1][SV_UUID_STRLEN + 1];
  struct sv_volume_info vi;
  struct sv_view *v, *s;
  int i, round;

  create (fx, "hot", 2 * CS, 0);
  v = ut_view_open (fx->pool, "hot");
  ut_write_pattern (v, 0, CS, 200, shadow);
  for (i = 1; i <= HOT; i++) {
    ut_snapshot (fx->pool, "hot", ids[i]);
    expect[i] = xcalloc (CS);
    memcpy (expect[i], shadow, CS);
    ut_write_pattern (v, 4096, 4096, 200 + i, shadow);
  }
  flush (v);
  ut_volume_info (fx->pool, "hot", &vi);
  assert_int_equal (vi.allocated_bytes,
                    CS + (HOT - HOT / HOT_DEPTH) * 4096ull +
                    (HOT / HOT_DEPTH) * CS);

  for (round = 0; round < 2; round++) {
    assert_view_reads (v, 0, CS, shadow);
    assert_zero (v, CS, CS);
    for (i = 1; i <= HOT; i++) {
      s = open_snapshot (fx, "hot", ids[i]);
      assert_view_reads (s, 0, CS, expect[i]);
      view_close (s);
    }
    view_close (v);
    reopen (fx);
    v = ut_view_open (fx->pool, "hot");
  }
  view_close (v);
  for (i = 1; i <= HOT; i++)
    free (expect[i]);
  free (shadow);
}

/* Holds. */

/* Reopen the fixture's pool on the gated I/O layer. */
static void
open_gated (struct fixture *fx)
{
  struct sv_pool_options opts = { .io = &ut_gated_io };

  ut_pool_close (fx->pool);
  fx->pool = pool_open (fx->dir, &opts, 0);
  if (fx->pool == NULL)
    fail_msg ("pool_open: %s", sv_errmsg ());
}

struct writer {
  pthread_t thread;
  struct sv_view *view;
  uint64_t off;
  uint32_t len, seed;
  int done;                     /* atomic */
  int r;
};

static void *
writer_run (void *arg)
{
  struct writer *w = arg;
  uint8_t *buf = malloc (w->len);

  if (buf == NULL)
    w->r = -1;
  else {
    ut_pattern (buf, w->len, w->off, w->seed);
    w->r = view_pwrite (w->view, buf, w->len, w->off, 0);
    free (buf);
  }
  __atomic_store_n (&w->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void
writer_start (struct writer *w, struct sv_view *view, uint64_t off,
              uint32_t len, uint32_t seed)
{
  w->view = view;
  w->off = off;
  w->len = len;
  w->seed = seed;
  w->done = 0;
  w->r = -1;
  assert_int_equal (pthread_create (&w->thread, NULL, writer_run, w), 0);
}

static int
writer_done (struct writer *w)
{
  return __atomic_load_n (&w->done, __ATOMIC_SEQ_CST);
}

static void
writer_join (struct writer *w)
{
  assert_int_equal (pthread_join (w->thread, NULL), 0);
  assert_int_equal (w->r, 0);
}

struct holder {
  pthread_t thread;
  struct sv_pool *pool;
  const char *const *vols;
  size_t n;
  struct sv_hold *hold;
  int done;                     /* atomic */
};

static void *
holder_run (void *arg)
{
  struct holder *h = arg;

  h->hold = pool_hold (h->pool, h->vols, h->n, 10000);
  __atomic_store_n (&h->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void
pause_ms (unsigned ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };

  nanosleep (&ts, NULL);
}

static void
test_hold_orders_writes_around_the_pin (void **state)
{
  struct fixture *fx = *state;
  static const char *const vols[] = { "held" };
  struct sv_snap_result res;
  struct writer before, after;
  struct holder h = { 0 };
  char set[SV_UUID_STRLEN + 1];
  struct sv_view *v, *s;
  struct uuid u;

  create (fx, "held", MiB, 0);
  open_gated (fx);
  v = ut_view_open (fx->pool, "held");
  ut_write_pattern (v, 0, CS, 1, NULL);
  flush (v);

  /* A write in flight (stopped inside its data write) when the hold
   * starts: the hold waits for it. */
  ut_gate_arm (UT_GATE_DATA);
  writer_start (&before, v, 0, 4096, 2);
  ut_gate_wait_stopped ();
  h.pool = fx->pool;
  h.vols = vols;
  h.n = 1;
  assert_int_equal (pthread_create (&h.thread, NULL, holder_run, &h), 0);
  pause_ms (200);
  assert_false (__atomic_load_n (&h.done, __ATOMIC_SEQ_CST));
  ut_gate_let_go ();
  writer_join (&before);
  assert_int_equal (pthread_join (h.thread, NULL), 0);
  assert_non_null (h.hold);

  /* A write that arrives while the volume is held waits for the pin. */
  writer_start (&after, v, 8192, 4096, 3);
  pause_ms (200);
  assert_false (writer_done (&after));
  assert_int_equal (uuid_generate (&u), 0);
  uuid_format (&u, set);
  assert_int_equal (pool_hold_commit (fx->pool, h.hold, set, "held", &res),
                    0);
  writer_join (&after);
  assert_string_equal (res.volume, "held");

  s = open_snapshot (fx, "held", set);
  assert_pattern (s, 0, 4096, 2);             /* in flight before: in */
  assert_pattern (s, 4096, CS - 4096, 1);     /* arrived after: not in */
  view_close (s);
  assert_pattern (v, 0, 4096, 2);
  assert_pattern (v, 4096, 4096, 1);
  assert_pattern (v, 8192, 4096, 3);
  view_close (v);
}

static void
test_hold_release_lets_writes_through_without_snapshot (void **state)
{
  struct fixture *fx = *state;
  static const char *const vols[] = { "rel1", "rel2" };
  struct sv_hold *hold, *other;
  struct writer w;
  struct sv_view *v;

  create (fx, "rel1", MiB, 0);
  create (fx, "rel2", MiB, 0);
  v = ut_view_open (fx->pool, "rel2");
  hold = pool_hold (fx->pool, vols, 2, 1000);
  assert_non_null (hold);

  /* A second hold on a held volume gives up after its wait. */
  errno = 0;
  other = pool_hold (fx->pool, vols + 1, 1, 100);
  assert_null (other);
  assert_int_equal (errno, EBUSY);
  assert_errmsg_names ("rel2");
  assert_fails_with (pool_volume_delete (fx->pool, "rel1"), EBUSY);

  writer_start (&w, v, 0, 4096, 7);
  pause_ms (200);
  assert_false (writer_done (&w));
  pool_hold_release (fx->pool, hold);
  writer_join (&w);
  assert_pattern (v, 0, 4096, 7);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 0);

  /* The volumes can be held again. */
  hold = pool_hold (fx->pool, vols, 2, 1000);
  assert_non_null (hold);
  pool_hold_release (fx->pool, hold);
  view_close (v);
}

/* Bad input. */

static void
test_invalid_volume_names_fail_einval (void **state)
{
  struct fixture *fx = *state;
  char long_name[SV_NAME_MAX + 2];
  static const char *const bad[] = { "", ".x", "a/b", "a b", "..", "x\n" };
  size_t i;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_fails_with (pool_volume_create (fx->pool, bad[i], MiB, 0),
                       EINVAL);
    assert_errmsg_names ("invalid volume name");
  }
  memset (long_name, 'n', SV_NAME_MAX + 1);
  long_name[SV_NAME_MAX + 1] = '\0';
  assert_fails_with (pool_volume_create (fx->pool, long_name, MiB, 0),
                     EINVAL);
  long_name[SV_NAME_MAX] = '\0';              /* 64: the longest allowed */
  create (fx, long_name, MiB, 0);
  create (fx, "A-z_0.9", MiB, 0);
  assert_int_equal (pool_volume_delete (fx->pool, long_name), 0);
  assert_fails_with (pool_volume_delete (fx->pool, "a/b"), EINVAL);
}

static void
test_invalid_sizes_fail_einval (void **state)
{
  struct fixture *fx = *state;

  assert_fails_with (pool_volume_create (fx->pool, "s0", 0, 0), EINVAL);
  assert_errmsg_names ("s0");
  assert_fails_with (pool_volume_create (fx->pool, "s511", 511, 0), EINVAL);
  assert_errmsg_names ("s511");
  assert_fails_with (pool_volume_create (fx->pool, "s513", 513, 0), EINVAL);
  /* One cluster more than 2^32 clusters. */
  assert_fails_with (pool_volume_create (fx->pool, "big",
                                         ((uint64_t) 1 << 44) + 4096, 4096),
                     EINVAL);
  assert_errmsg_names ("big");
  create (fx, "s512", 512, 0);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 0);
  reopen (fx);
  assert_fails_with (pool_volume_delete (fx->pool, "big"), ENOENT);
}

static void
test_oversized_volume_fails_einval_and_pool_still_opens (void **state)
{
  struct fixture *fx = *state;

  /* A size so large that rounding it up to clusters wraps around. */
  errno = 0;
  if (pool_volume_create (fx->pool, "huge", UINT64_MAX - 511, 4096) == 0 ||
      errno != EINVAL) {
    int e = errno;
    /* Whatever the outcome, the pool must still open. */
    ut_pool_close (fx->pool);
    fx->pool = pool_open (fx->dir, NULL, 0);
    if (fx->pool == NULL)
      fail_msg ("creating a volume of %" PRIu64 " bytes: errno %d; then"
                " the pool no longer opens: %s", UINT64_MAX - 511, e,
                sv_errmsg ());
    fail_msg ("creating a volume of %" PRIu64 " bytes did not fail with"
              " EINVAL (errno %d)", UINT64_MAX - 511, e);
  }
  assert_errmsg_names ("huge");
  reopen (fx);
}

static void
test_invalid_cluster_sizes_fail_einval (void **state)
{
  struct fixture *fx = *state;
  struct sv_pool_options opts = { .default_cluster_size = 3000 };
  char *dir;

  assert_fails_with (pool_volume_create (fx->pool, "c3000", MiB, 3000),
                     EINVAL);
  assert_errmsg_names ("c3000");
  assert_fails_with (pool_volume_create (fx->pool, "c2m", MiB, 2 * MiB),
                     EINVAL);
  assert_fails_with (pool_volume_create (fx->pool, "c2k", MiB, 2048), EINVAL);
  create (fx, "c4k", MiB, 4096);
  create (fx, "c1m", MiB, MiB);

  dir = ut_mkdtemp ();
  assert_null_with (pool_open (dir, &opts, 1), EINVAL);
  ut_rmtree (dir);
  free (dir);
}

static void
test_duplicate_volume_create_fails_eexist (void **state)
{
  struct fixture *fx = *state;

  create (fx, "dup", MiB, 0);
  assert_fails_with (pool_volume_create (fx->pool, "dup", 2 * MiB, 0),
                     EEXIST);
  assert_errmsg_names ("dup");
  reopen (fx);
  assert_fails_with (pool_volume_create (fx->pool, "dup", MiB, 0), EEXIST);
}

static void
test_deletes_refused_while_open_or_with_snapshots (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info *vi = NULL;
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v;
  size_t n = 0;

  create (fx, "busy", MiB, 0);
  v = ut_view_open (fx->pool, "busy");
  assert_fails_with (pool_volume_delete (fx->pool, "busy"), EBUSY);
  assert_errmsg_names ("busy");
  view_close (v);

  ut_snapshot (fx->pool, "busy", id);
  assert_fails_with (pool_volume_delete (fx->pool, "busy"), ENOTEMPTY);
  assert_errmsg_names ("busy");

  v = open_snapshot (fx, "busy", id);
  assert_fails_with (pool_snapshot_delete (fx->pool, id, NULL), EBUSY);
  assert_errmsg_names (id);
  assert_int_equal (ut_snapshot_count (fx->pool, "busy"), 1);
  view_close (v);

  assert_int_equal (pool_snapshot_delete (fx->pool, id, NULL), 0);
  assert_int_equal (pool_volume_delete (fx->pool, "busy"), 0);
  assert_int_equal (pool_volume_list (fx->pool, NULL, &vi, &n), 0);
  assert_int_equal (n, 0);
  free (vi);
  reopen (fx);
  assert_null_with (view_open (fx->pool, "busy"), ENOENT);
}

static void
test_unknown_names_and_ids_fail_enoent (void **state)
{
  struct fixture *fx = *state;
  static const char *const nosuch[] = { "nosuch" };
  static const char *const mixed[] = { "known", "nosuch" };
  const char *unknown = "6f1c2a9e-0d3b-4c5e-8f70-123456789abc";
  struct sv_snapshot_info *si = NULL;
  struct sv_volume_info *vi = NULL;
  struct sv_snap_result res[2];
  char set[SV_UUID_STRLEN + 1], e[128];
  size_t n;

  create (fx, "known", MiB, 0);
  assert_null_with (view_open (fx->pool, "nosuch"), ENOENT);
  assert_errmsg_names ("nosuch");
  snprintf (e, sizeof e, "known@%s", unknown);
  assert_null_with (view_open (fx->pool, e), ENOENT);
  assert_errmsg_names (unknown);
  assert_null_with (view_open (fx->pool, "known@not-a-uuid"), ENOENT);
  assert_null_with (view_open (fx->pool, "known@"), ENOENT);
  assert_null_with (view_open (fx->pool, "@x"), ENOENT);
  assert_fails_with (pool_snapshot_delete (fx->pool, unknown, NULL), ENOENT);
  assert_errmsg_names (unknown);
  assert_fails_with (pool_volume_delete (fx->pool, "nosuch"), ENOENT);
  assert_errmsg_names ("nosuch");
  assert_fails_with (pool_volume_list (fx->pool, "nosuch", &vi, &n), ENOENT);
  assert_fails_with (pool_snapshot_list (fx->pool, "nosuch", &si, &n),
                     ENOENT);
  assert_fails_with (pool_snapshot_create (fx->pool, nosuch, 1, NULL, NULL,
                                           set, res), ENOENT);
  assert_errmsg_names ("nosuch");
  /* A set naming one unknown volume pins nothing. */
  assert_fails_with (pool_snapshot_create (fx->pool, mixed, 2, NULL, NULL,
                                           set, res), ENOENT);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 0);
  assert_null_with (pool_hold (fx->pool, nosuch, 1, 0), ENOENT);
}

static void
test_invalid_uuid_strings_fail_einval (void **state)
{
  struct fixture *fx = *state;
  static const char *const vols[] = { "u" };
  static const char *const bad[] = {
    "", "not-a-uuid", "6f1c2a9e-0d3b-4c5e-8f70-123456789ab",
    "6f1c2a9e-0d3b-4c5e-8f70-123456789abcd",
    "6f1c2a9e+0d3b-4c5e-8f70-123456789abc",
    "6f1c2a9e-0d3b-4c5e-8f70-123456789abg",
  };
  struct sv_snap_result res;
  struct sv_hold *hold;
  char set[SV_UUID_STRLEN + 1];
  struct sv_view *v;
  size_t i;

  create (fx, "u", MiB, 0);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_fails_with (pool_snapshot_delete (fx->pool, bad[i], NULL), EINVAL);
    assert_fails_with (pool_snapshot_create (fx->pool, vols, 1, NULL, bad[i],
                                             set, &res), EINVAL);
  }
  assert_errmsg_names ("6f1c2a9e-0d3b-4c5e-8f70-123456789abg");

  /* A commit with a bad set id pins nothing and ends the hold. */
  hold = pool_hold (fx->pool, vols, 1, 1000);
  assert_non_null (hold);
  assert_fails_with (pool_hold_commit (fx->pool, hold, "123", NULL, &res),
                     EINVAL);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 0);
  v = ut_view_open (fx->pool, "u");
  ut_write_pattern (v, 0, 4096, 1, NULL);     /* not held any more */
  view_close (v);
  hold = pool_hold (fx->pool, vols, 1, 0);
  assert_non_null (hold);
  pool_hold_release (fx->pool, hold);
}

static void
test_invalid_snapshot_sets_and_labels_fail_einval (void **state)
{
  struct fixture *fx = *state;
  static const char *const twice[] = { "l", "l" };
  struct sv_snap_result res[2];
  char set[SV_UUID_STRLEN + 1], label[SV_LABEL_MAX + 2];

  create (fx, "l", MiB, 0);
  assert_fails_with (pool_snapshot_create (fx->pool, twice, 0, NULL, NULL,
                                           set, res), EINVAL);
  assert_fails_with (pool_snapshot_create (fx->pool, twice, 2, NULL, NULL,
                                           set, res), EINVAL);
  assert_errmsg_names ("l");
  memset (label, 'x', SV_LABEL_MAX + 1);
  label[SV_LABEL_MAX + 1] = '\0';
  assert_fails_with (pool_snapshot_create (fx->pool, twice, 1, label, NULL,
                                           set, res), EINVAL);
  assert_fails_with (pool_snapshot_create (fx->pool, twice, 1, "a\tb", NULL,
                                           set, res), EINVAL);
  assert_int_equal (ut_snapshot_count (fx->pool, NULL), 0);
  label[SV_LABEL_MAX] = '\0';                 /* 256 bytes: allowed */
  assert_int_equal (pool_snapshot_create (fx->pool, twice, 1, label, NULL,
                                          set, res), 0);
}

static void
test_pool_open_of_missing_pool_fails_enoent (void **state)
{
  struct fixture *fx = *state;
  char path[4096];

  snprintf (path, sizeof path, "%s/nosuch", fx->dir);
  assert_null_with (pool_open (path, NULL, 0), ENOENT);
  assert_errmsg_names ("nosuch");
  snprintf (path, sizeof path, "%s/volumes", fx->dir);
  assert_null_with (pool_open (path, NULL, 0), ENOENT);
  assert_errmsg_names ("not a snapvol pool");
}

static void
test_volume_list_describes_volumes (void **state)
{
  struct fixture *fx = *state;
  struct sv_volume_info *vi = NULL;
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v1, *v2;
  struct uuid u;
  size_t n = 0;

  create (fx, "zeta", 3 * MiB, 0);
  create (fx, "alpha", 5 * MiB + 512, 4096);
  v1 = ut_view_open (fx->pool, "zeta");
  v2 = ut_view_open (fx->pool, "zeta");
  ut_snapshot (fx->pool, "zeta", id);
  assert_int_equal (pool_volume_list (fx->pool, NULL, &vi, &n), 0);
  assert_int_equal (n, 2);
  assert_string_equal (vi[0].name, "alpha");
  assert_int_equal (vi[0].size, 5 * MiB + 512);
  assert_int_equal (vi[0].cluster_size, 4096);
  assert_int_equal (vi[0].subcluster_size, 4096);
  assert_int_equal (vi[0].generation, 1);
  assert_int_equal (vi[0].nsnapshots, 0);
  assert_int_equal (vi[0].open_count, 0);
  assert_int_equal (uuid_parse (vi[0].uuid, &u), 0);
  assert_string_equal (vi[1].name, "zeta");
  assert_int_equal (vi[1].size, 3 * MiB);
  assert_int_equal (vi[1].cluster_size, CS);
  assert_int_equal (vi[1].generation, 2);
  assert_int_equal (vi[1].nsnapshots, 1);
  assert_int_equal (vi[1].open_count, 2);
  assert_true (vi[1].created > 0);
  assert_string_not_equal (vi[0].uuid, vi[1].uuid);
  free (vi);
  view_close (v1);
  view_close (v2);
}

int
main (void)
{
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_unwritten_volume_reads_zero_and_reports_one_hole),
    T (test_write_read_round_trip_at_odd_offsets),
    T (test_fua_write_reads_back_and_cache_is_accepted),
    T (test_snapshot_keeps_old_bytes_after_overwrite),
    T (test_subcluster_write_after_snapshot_allocates_4k),
    T (test_overwrite_without_snapshot_is_in_place),
    T (test_second_write_after_snapshot_reuses_the_new_cluster),
    T (test_cluster_sizes_4k_and_1m_copy_on_write),
    T (test_write_over_clusters_in_place_is_one_pwrite),
    T (test_parallel_requests_get_consecutive_clusters),
    T (test_trim_and_zero_of_whole_clusters_allocate_nothing),
    T (test_subcluster_extents_report_data_and_holes),
    T (test_trim_without_snapshot_frees_space),
    T (test_zero_of_partial_subclusters_writes_zeroes),
    T (test_fast_zero_of_unaligned_range_fails_enotsup),
    T (test_zero_at_end_of_odd_sized_volume),
    T (test_io_past_the_end_fails_einval_naming_volume),
    T (test_writes_to_snapshot_fail_erofs),
    T (test_snapshot_set_of_three_volumes_shares_one_set_id),
    T (test_set_id_equal_to_a_snapshot_id_is_refused),
    T (test_lookup_by_id_and_set_among_600_snapshots),
    T (test_space_accounting_exact),
    T (test_snapshot_delete_frees_space_for_reuse),
    T (test_delete_middle_of_three_snapshots_keeps_the_others),
    T (test_reclaim_of_zero_only_cluster_after_two_deletions),
    T (test_deletions_reclaim_across_tables_written_at_different_times),
    T (test_deep_chain_of_forty_snapshots_reads_each_version),
    T (test_hot_subcluster_fills_one_cluster_per_32_copies),
    T (test_hold_orders_writes_around_the_pin),
    T (test_hold_release_lets_writes_through_without_snapshot),
    T (test_invalid_volume_names_fail_einval),
    T (test_invalid_sizes_fail_einval),
    T (test_oversized_volume_fails_einval_and_pool_still_opens),
    T (test_invalid_cluster_sizes_fail_einval),
    T (test_duplicate_volume_create_fails_eexist),
    T (test_deletes_refused_while_open_or_with_snapshots),
    T (test_unknown_names_and_ids_fail_enoent),
    T (test_invalid_uuid_strings_fail_einval),
    T (test_invalid_snapshot_sets_and_labels_fail_einval),
    T (test_pool_open_of_missing_pool_fails_enoent),
    T (test_volume_list_describes_volumes),
  };
#undef T

  return cmocka_run_group_tests (tests, NULL, NULL);
}
