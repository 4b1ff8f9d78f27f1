/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-journal-flips.c: one flipped byte of a real journal is never a
 * silent loss.
 *
 * A child writes, flushes, trims and takes two snapshot sets on two
 * volumes of a pool on real files, then exits without closing it (what
 * kill -9 leaves: every acknowledged record is in the journal, with its
 * mark).  The pool is copied into a simulated disk (crashsim.h), and
 * for every byte of the journals' records and headers and a sample of
 * their mark slots, one at a time, a copy of it has that one byte
 * flipped and the pool is opened on it.  Either the open fails with
 * EILSEQ naming the damaged file, or every acknowledged byte of both
 * volumes and of the three snapshots reads back exactly.
 *
 * SNAPVOL_FLIP_STRIDE=N flips every Nth byte only (default 1: all).
 */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "crashsim.h"
#include "ondisk.h"
#include "pool.h"
#include "unit-helpers.h"

#define ASIZE MiB                       /* volume a: 64 KiB clusters */
#define BSIZE (256 * KiB)               /* volume b: 4 KiB clusters */
#define SET1 "11111111-2222-4333-8444-555555555501"
#define SET2 "11111111-2222-4333-8444-555555555502"
#define SIM "/pool"

/* What each view holds: ranges with a pattern seed, zero elsewhere. */
struct range {
  uint64_t off, len;
  uint32_t seed;
};

struct expect {
  const char *export;
  uint64_t size;
  struct range r[6];
};

static const struct expect expected[] = {
  { "a", ASIZE, { { 0, 64 * KiB, 4 }, { 512 * KiB, 64 * KiB, 3 },
                  { 768 * KiB, 64 * KiB, 5 }, { 896 * KiB, 64 * KiB, 7 } } },
  { "b", BSIZE, { { 8 * KiB, 4 * KiB, 6 }, { 100 * KiB, 12 * KiB, 8 },
                  { 128 * KiB, 120 * KiB, 9 } } },
  { "a@" SET1, ASIZE, { { 0, 64 * KiB, 1 }, { 128 * KiB, 64 * KiB, 2 },
                        { 512 * KiB, 64 * KiB, 3 } } },
  { "b@" SET1, BSIZE, { { 100 * KiB, 12 * KiB, 8 } } },
  { "a@" SET2, ASIZE, { { 0, 64 * KiB, 4 }, { 512 * KiB, 64 * KiB, 3 },
                        { 768 * KiB, 64 * KiB, 5 } } },
};
#define NEXPECTED (sizeof expected / sizeof expected[0])

static void
child_write (struct sv_view *v, uint64_t off, uint64_t len, uint32_t seed)
{
  uint8_t *buf = malloc (len);

  ut_child_check (buf != NULL, "malloc");
  ut_pattern (buf, len, off, seed);
  ut_child_check (view_pwrite (v, buf, len, off, 0) == 0, "view_pwrite");
  ut_child_check (view_flush (v) == 0, "view_flush");
  free (buf);
}

static void
child_snapshot (struct sv_pool *pool, const char *const *vols, size_t n,
                const char *set)
{
  struct sv_snap_result res[2];
  char out[SV_UUID_STRLEN + 1];

  ut_child_check (pool_snapshot_create (pool, vols, n, "flips", set, out,
                                        res) == 0, "pool_snapshot_create");
}

/* The workload, acknowledged step by step, then "killed". */
static int
child_workload (void *arg)
{
  static const char *const both[] = { "a", "b" }, *const a_only[] = { "a" };
  struct sv_pool *pool = pool_open (arg, NULL, 0);
  struct sv_view *a, *b;
  int i;

  ut_child_check (pool != NULL, "pool_open");
  a = view_open (pool, "a");
  b = view_open (pool, "b");
  ut_child_check (a != NULL && b != NULL, "view_open");
  child_write (a, 0, 64 * KiB, 1);
  child_write (a, 128 * KiB, 64 * KiB, 2);
  child_write (a, 512 * KiB, 64 * KiB, 3);
  child_write (b, 100 * KiB, 12 * KiB, 8);
  child_snapshot (pool, both, 2, SET1);
  child_write (a, 0, 64 * KiB, 4);
  child_write (a, 768 * KiB, 64 * KiB, 5);
  child_write (b, 8 * KiB, 4 * KiB, 6);
  ut_child_check (view_trim (a, 64 * KiB, 128 * KiB, 0) == 0, "view_trim");
  ut_child_check (view_flush (a) == 0, "view_flush");
  child_snapshot (pool, a_only, 1, SET2);
  child_write (a, 896 * KiB, 64 * KiB, 7);
  /* Many small records: one flushed 4 KiB write per cluster of b. */
  for (i = 0; i < 30; i++)
    child_write (b, 128 * KiB + (uint64_t) ((i * 7) % 30) * 4 * KiB, 4 * KiB,
                 9);
  return 0;
}

/* Copy host directory DIR to SIMDIR of CS, synced. */
static void
import_tree (struct crashsim *cs, const char *dir, const char *simdir)
{
  const struct sv_io *io = crashsim_io (cs);
  char hpath[4096], spath[4096];
  struct dirent *de;
  DIR *d = opendir (dir);

  assert_non_null (d);
  assert_int_equal (io->ops->mkdir (io->opaque, simdir, 0700), 0);
  while ((de = readdir (d)) != NULL) {
    struct stat st;

    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    snprintf (hpath, sizeof hpath, "%s/%s", dir, de->d_name);
    snprintf (spath, sizeof spath, "%s/%s", simdir, de->d_name);
    assert_int_equal (stat (hpath, &st), 0);
    if (S_ISDIR (st.st_mode))
      import_tree (cs, hpath, spath);
    else {
      uint8_t *buf = malloc (st.st_size + 1);
      int h;

      assert_non_null (buf);
      ut_file_read (hpath, buf, st.st_size, 0);
      h = io->ops->open (io->opaque, spath, O_RDWR | O_CREAT, 0600);
      assert_true (h >= 0);
      assert_int_equal (io->ops->pwrite (io->opaque, h, buf, st.st_size, 0),
                        st.st_size);
      assert_int_equal (io->ops->sync (io->opaque, h), 0);
      io->ops->close (io->opaque, h);
      free (buf);
    }
  }
  closedir (d);
  assert_int_equal (io->ops->syncdir (io->opaque, simdir), 0);
}

/* Does VIEW read EXP exactly? */
static int
view_matches (struct sv_view *view, const struct expect *exp)
{
  static uint8_t got[ASIZE], want[ASIZE];
  size_t k;

  memset (want, 0, exp->size);
  for (k = 0; k < 6 && exp->r[k].len; k++)
    ut_pattern (want + exp->r[k].off, exp->r[k].len, exp->r[k].off,
                exp->r[k].seed);
  return view_pread (view, got, exp->size, 0) == 0 &&
    memcmp (got, want, exp->size) == 0;
}

/* Does the pool on IO hold everything acknowledged?  NULL if so, else
 * the export that differs. */
static const char *
lost_export (struct sv_pool *pool)
{
  size_t i;

  for (i = 0; i < NEXPECTED; i++) {
    struct sv_view *v = view_open (pool, expected[i].export);
    int ok = v != NULL && view_matches (v, &expected[i]);

    if (v != NULL)
      view_close (v);
    if (!ok)
      return expected[i].export;
  }
  return NULL;
}

struct tally {
  uint64_t flipped, refused, intact;
};

/* Flip byte OFF of SIMPATH in a copy of BASE and open the pool on it. */
static void
flip_one (struct crashsim *base, const char *simpath, uint64_t off,
          struct tally *t)
{
  struct crashsim *img = crashsim_crash (base, 0, CRASHSIM_KEEP_ALL, NULL);
  const struct sv_io *io = crashsim_io (img);
  struct sv_pool_options opts = { .io = io, .prealloc = SV_PREALLOC_NONE };
  struct sv_pool *pool;
  const char *lost;
  uint8_t byte;
  int h;

  h = io->ops->open (io->opaque, simpath, O_RDWR, 0);
  assert_true (h >= 0);
  assert_int_equal (io->ops->pread (io->opaque, h, &byte, 1, off), 1);
  byte ^= 0x5a;
  assert_int_equal (io->ops->pwrite (io->opaque, h, &byte, 1, off), 1);
  io->ops->close (io->opaque, h);

  t->flipped++;
  pool = pool_open (SIM, &opts, 0);
  if (pool == NULL) {
    if (errno != EILSEQ || strstr (sv_errmsg (), simpath) == NULL)
      fail_msg ("byte %" PRIu64 " of %s flipped: pool_open failed with"
                " errno %d, not EILSEQ naming the file: %s", off, simpath,
                errno, sv_errmsg ());
    t->refused++;
  }
  else {
    lost = lost_export (pool);
    if (lost != NULL)
      fail_msg ("byte %" PRIu64 " of %s flipped: the pool opened and %s"
                " lost acknowledged data (a silent loss)", off, simpath, lost);
    t->intact++;
    pool_close (pool);
  }
  crashsim_free (img);
}

/* The positions of journal file SIMPATH (SIZE bytes) to flip: its
 * header sector and records, every STRIDEth byte, and of its mark slots
 * the fields and every 16th byte of the padding. */
static void
sweep_file (struct crashsim *base, const char *simpath, uint64_t size,
            unsigned stride, struct tally *t)
{
  uint64_t off;

  for (off = 0; off < JH_LEN; off += stride)
    flip_one (base, simpath, off, t);
  for (off = JM_OFF_SLOT0; off < JM_OFF_SLOT0 + 2 * JM_LEN; off++)
    if ((off - JM_OFF_SLOT0) % JM_LEN < 64 ||
        (off - JM_OFF_SLOT0) % 16 == 0)
      flip_one (base, simpath, off, t);
  for (off = SV_BLOCK; off < size; off += stride)
    flip_one (base, simpath, off, t);
}

static void
test_flipped_journal_byte_is_refused_or_harmless (void **state)
{
  char *dir = ut_mkdtemp (), jpath[4096], simpath[4096];
  static const char *const vols[] = { "a", "b" };
  unsigned stride = ut_env_u64 ("SNAPVOL_FLIP_STRIDE", 1);
  struct tally t = { 0, 0, 0 };
  struct crashsim *base;
  struct sv_pool *pool;
  uint64_t records = 0;
  size_t i;

  pool = ut_pool_open (dir, 0, 1);
  assert_int_equal (pool_volume_create (pool, "a", ASIZE, 64 * KiB), 0);
  assert_int_equal (pool_volume_create (pool, "b", BSIZE, 4 * KiB), 0);
  ut_pool_close (pool);
  ut_run_child (child_workload, dir);

  base = crashsim_new ();
  import_tree (base, dir, SIM);
  {
    /* The copy opens and holds everything before any flip. */
    struct crashsim *img = crashsim_crash (base, 0, CRASHSIM_KEEP_ALL, NULL);
    struct sv_pool_options opts = {
      .io = crashsim_io (img), .prealloc = SV_PREALLOC_NONE,
    };
    pool = pool_open (SIM, &opts, 0);
    if (pool == NULL)
      fail_msg ("pool_open of the unflipped copy: %s", sv_errmsg ());
    assert_null (lost_export (pool));
    pool_close (pool);
    crashsim_free (img);
  }

  for (i = 0; i < 2; i++) {
    uint64_t size;
    ut_last_journal (jpath, sizeof jpath, dir, vols[i]);
    snprintf (simpath, sizeof simpath, SIM "/volumes/%s/%s", vols[i],
              strrchr (jpath, '/') + 1);
    size = ut_file_size (jpath);
    assert_true (size > SV_BLOCK);
    records += size - SV_BLOCK;
    sweep_file (base, simpath, size, stride, &t);
  }
  print_message ("journal flips: %" PRIu64 " bytes of records, %" PRIu64
                 " positions flipped, %" PRIu64 " refused, %" PRIu64
                 " opened with every acknowledged byte, 0 silent losses\n",
                 records, t.flipped, t.refused, t.intact);
  assert_true (stride > 1 || t.flipped >= 2000);
  assert_int_equal (t.flipped, t.refused + t.intact);
  crashsim_free (base);
  ut_rmtree (dir);
  free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_flipped_journal_byte_is_refused_or_harmless),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
