/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-check.c: unit tests of the offline checker (check_pool): what it
 * finds in pools damaged by hand (records appended to journals with
 * valid checksums, stray data, leftover files), what --repair changes,
 * and that it touches nothing it cannot repair safely.
 */

#include <config.h>

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
#include <unistd.h>

#include <cmocka.h>

#include "check.h"
#include "crc32c.h"
#include "journal.h"
#include "ondisk.h"
#include "pool.h"
#include "sio.h"
#include "unit-helpers.h"
#include "uuid.h"

#define CS (64 * KiB)
#define ALL_SUBS 0xffffull      /* 16 subclusters of 4 KiB */

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
  assert_int_equal (pool_volume_create (fx->pool, "t", MiB, 0), 0);
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
close_pool (struct fixture *fx)
{
  ut_pool_close (fx->pool);
  fx->pool = NULL;
}

static void
write_cluster (struct fixture *fx, uint64_t vci, uint32_t seed)
{
  struct sv_view *v = ut_view_open (fx->pool, "t");

  ut_write_pattern (v, vci * CS, CS, seed, NULL);
  view_close (v);
}

/* Checking. */

static struct check_report *
run_check (struct fixture *fx, unsigned flags)
{
  struct check_report *r = check_pool (fx->dir, flags);

  if (r == NULL)
    fail_msg ("check_pool %s: %s", fx->dir, sv_errmsg ());
  return r;
}

static const struct check_list *
problems_of (const struct check_report *r, const char *volume)
{
  size_t i;

  if (volume == NULL)
    return &r->problems;
  for (i = 0; i < r->nvolumes; i++)
    if (strcmp (r->volumes[i].name, volume) == 0)
      return &r->volumes[i].problems;
  fail_msg ("no volume %s in the report", volume);
  return NULL;
}

static const struct check_list *
repaired_of (const struct check_report *r, const char *volume)
{
  size_t i;

  if (volume == NULL)
    return &r->repaired;
  for (i = 0; i < r->nvolumes; i++)
    if (strcmp (r->volumes[i].name, volume) == 0)
      return &r->volumes[i].repaired;
  fail_msg ("no volume %s in the report", volume);
  return NULL;
}

/* The item of KIND in L whose message contains TEXT (both must exist,
 * the message must name the volume first). */
#define assert_item(l, volume, kind, repairable, text) \
  assert_item_at ((l), (volume), (kind), (repairable), (text), __LINE__)
static void
assert_item_at (const struct check_list *l, const char *volume,
                const char *kind, int repairable, const char *text, int line)
{
  char prefix[128];
  size_t i;

  snprintf (prefix, sizeof prefix, "volume %s: ", volume ? volume : "");
  for (i = 0; i < l->n; i++) {
    const struct check_item *it = &l->v[i];
    if (strcmp (it->kind, kind) != 0 || strstr (it->message, text) == NULL)
      continue;
    if (volume && strncmp (it->message, prefix, strlen (prefix)) != 0)
      fail_msg ("line %d: '%s' does not start with '%s'", line, it->message,
                prefix);
    if (repairable >= 0 && !it->repairable != !repairable)
      fail_msg ("line %d: '%s' is %srepairable", line, it->message,
                it->repairable ? "" : "not ");
    return;
  }
  for (i = 0; i < l->n; i++)
    print_message ("  %s: %s\n", l->v[i].kind, l->v[i].message);
  fail_msg ("line %d: no %s item mentioning '%s'", line, kind, text);
}

static void
assert_clean (struct fixture *fx)
{
  struct check_report *r = run_check (fx, 0);
  size_t i, j;

  if (!r->clean) {
    for (i = 0; i < r->problems.n; i++)
      print_message ("  %s\n", r->problems.v[i].message);
    for (i = 0; i < r->nvolumes; i++)
      for (j = 0; j < r->volumes[i].problems.n; j++)
        print_message ("  %s\n", r->volumes[i].problems.v[j].message);
    fail_msg ("the pool is not clean");
  }
  check_report_free (r);
}

/* Journal surgery: append a record with a valid checksum to the last
 * journal file of "t", as the engine would have written it. */

static void
append_record (struct fixture *fx, unsigned type, const uint8_t *payload,
               size_t len, uint64_t seq)
{
  uint8_t hdr[SV_BLOCK], rec[JR_HDR + 512], salt[4];
  char path[4096];

  assert_true (len <= 512);
  ut_last_journal (path, sizeof path, fx->dir, "t");
  ut_file_read (path, hdr, sizeof hdr, 0);
  memcpy (salt, hdr + JH_OFF_SALT, 4);
  put_le16 (rec + 4, type);
  put_le16 (rec + 6, len);
  put_le64 (rec + 8, seq);
  memcpy (rec + JR_HDR, payload, len);
  put_le32 (rec, crc32c (crc32c (0, salt, 4), rec + 4, JR_HDR + len - 4));
  ut_file_write (path, rec, JR_HDR + len, ut_file_size (path));
}

/* The sequence number the next record of "t" takes, after a clean
 * close (the checkpoint holds every record; the journal none). */
static uint64_t
next_seq (struct fixture *fx)
{
  uint8_t hdr[SV_BLOCK];
  char path[4096];

  ut_last_journal (path, sizeof path, fx->dir, "t");
  assert_int_equal (ut_file_size (path), SV_BLOCK);
  ut_volume_file (path, sizeof path, fx->dir, "t", "checkpoint");
  ut_file_read (path, hdr, sizeof hdr, 0);
  return get_le64 (hdr + CK_OFF_LASTSEQ) + 1;
}

static void
append_put (struct fixture *fx, uint64_t seq, uint64_t vci, uint32_t gen,
            uint32_t phys, uint64_t alloc)
{
  uint8_t p[JR_ENTRY_PUT_LEN];

  put_le64 (p, vci);
  put_le32 (p + 8, gen);
  put_le32 (p + 12, phys);
  put_le64 (p + 16, alloc);
  put_le64 (p + 24, 0);
  append_record (fx, JR_ENTRY_PUT, p, sizeof p, seq);
}

/* A copy of every file of "t", to prove a repair left it alone. */
struct snapshot_of_files {
  char journal[4096];
  uint64_t jsize, dsize, dblocks;
};

static void
remember_files (struct fixture *fx, struct snapshot_of_files *s)
{
  char path[4096];

  ut_last_journal (s->journal, sizeof s->journal, fx->dir, "t");
  s->jsize = ut_file_size (s->journal);
  ut_volume_file (path, sizeof path, fx->dir, "t", "data");
  s->dsize = ut_file_size (path);
  s->dblocks = ut_data_blocks (fx->dir, "t");
}

static void
assert_files_unchanged (struct fixture *fx, const struct snapshot_of_files *s)
{
  struct snapshot_of_files now;

  remember_files (fx, &now);
  assert_string_equal (now.journal, s->journal);
  assert_int_equal (now.jsize, s->jsize);
  assert_int_equal (now.dsize, s->dsize);
  assert_int_equal (now.dblocks, s->dblocks);
}

/* Tests. */

static void
test_clean_pool_is_clean_and_a_served_pool_is_refused (void **state)
{
  struct fixture *fx = *state;
  struct check_report *r;
  char id[SV_UUID_STRLEN + 1];

  write_cluster (fx, 0, 1);
  ut_snapshot (fx->pool, "t", id);
  write_cluster (fx, 0, 2);
  write_cluster (fx, 3, 3);
  assert_int_equal (pool_volume_create (fx->pool, "u", MiB, 4096), 0);

  /* The open pool holds its lock. */
  errno = 0;
  assert_null (check_pool (fx->dir, 0));
  assert_int_equal (errno, EBUSY);
  assert_errmsg_names ("in use");

  close_pool (fx);
  r = run_check (fx, CHECK_REPAIR);
  assert_true (r->clean);
  assert_int_equal (r->nvolumes, 2);
  assert_string_equal (r->volumes[0].name, "t");
  assert_string_equal (r->volumes[1].name, "u");
  assert_int_equal (r->volumes[0].repaired.n, 0);
  check_report_free (r);

  /* Not a pool at all. */
  errno = 0;
  assert_null (check_pool ("/nonexistent-snapvol-pool", 0));
  assert_int_equal (errno, ENOENT);
  assert_errmsg_names ("not a snapvol pool");
}

/* Space reserved ahead of new clusters (sv_pool_options.prealloc) is
 * neither data nor a leak: the checker finds nothing, the file extends
 * over the reservation and its blocks are reserved where the
 * filesystem can reserve, and the written data reads back after a
 * reopen; the reopen punches the unmapped tail and reserves again from
 * the end of the last mapped cluster. */
static void
test_reserved_space_is_not_reported_as_leaked (void **state)
{
  struct fixture *fx = *state;
  const struct sv_pool_options opts = { .prealloc = 2 * MiB };
  char id[SV_UUID_STRLEN + 1], path[4096];
  struct check_report *r;
  struct sv_view *v;
  struct stat st;
  int fd, can_reserve;

  /* Can this filesystem reserve without writing? */
  snprintf (path, sizeof path, "%s/probe", fx->dir);
  fd = open (path, O_RDWR | O_CREAT, 0600);
  assert_true (fd >= 0);
  can_reserve = fallocate (fd, FALLOC_FL_KEEP_SIZE, 0, 4 * MiB) == 0;
  close (fd);
  unlink (path);

  close_pool (fx);
  fx->pool = ut_pool_open_opts (fx->dir, &opts, 0);
  v = ut_view_open (fx->pool, "t");
  ut_write_pattern (v, 0, 4 * CS, 1, NULL);
  ut_snapshot (fx->pool, "t", id);
  /* Copy-on-write: one subcluster each into 3 new clusters. */
  ut_write_pattern (v, 0 * CS + 4096, 4096, 2, NULL);
  ut_write_pattern (v, 1 * CS + 8192, 4096, 3, NULL);
  ut_write_pattern (v, 3 * CS, 4096, 4, NULL);
  view_close (v);
  close_pool (fx);

  ut_volume_file (path, sizeof path, fx->dir, "t", "data");
  assert_int_equal (stat (path, &st), 0);
  /* Clusters 0-3, then 4-6 with one subcluster each: reserved from
   * cluster 0 on, 2 MiB. */
  if (can_reserve) {
    assert_int_equal (st.st_size, 2 * MiB);
    assert_true ((uint64_t) st.st_blocks * 512 >= 2 * MiB);
  }
  else
    assert_int_equal (st.st_size, 6 * CS + 4096);

  r = run_check (fx, 0);
  assert_true (r->clean);
  assert_int_equal (problems_of (r, "t")->n, 0);
  check_report_free (r);

  /* Read in full (a backup of the directory would), the reserved
   * ranges' pages are cached, and the filesystem may report them as
   * data: they read as zeroes and are still not leaked. */
  fd = open (path, O_RDONLY);
  assert_true (fd >= 0);
  {
    char buf[65536];
    while (read (fd, buf, sizeof buf) > 0)
      ;
  }
  close (fd);
  r = run_check (fx, 0);
  assert_true (r->clean);
  check_report_free (r);

  fx->pool = ut_pool_open_opts (fx->dir, &opts, 0);
  v = ut_view_open (fx->pool, "t");
  assert_pattern (v, 0, 4096, 1);
  assert_pattern (v, 4096, 4096, 2);
  assert_pattern (v, 8192, CS - 8192, 1);
  assert_pattern (v, CS + 8192, 4096, 3);
  assert_pattern (v, 3 * CS, 4096, 4);
  assert_pattern (v, 3 * CS + 4096, CS - 4096, 1);
  /* Physical clusters 7-31 were punched at the open; a new cluster
   * (7) is past the last mapped one, and reserved from there. */
  ut_write_pattern (v, 2 * CS + 4096, 4096, 5, NULL);
  assert_int_equal (view_flush (v), 0);
  assert_int_equal (stat (path, &st), 0);
  if (can_reserve) {
    assert_int_equal (st.st_size, 7 * CS + 2 * MiB);
    assert_true ((uint64_t) st.st_blocks * 512 >= 2 * MiB);
  }
  assert_pattern (v, 2 * CS + 4096, 4096, 5);
  view_close (v);
  close_pool (fx);
  r = run_check (fx, 0);
  assert_true (r->clean);
  assert_int_equal (problems_of (r, "t")->n, 0);
  check_report_free (r);
}

static void
test_cluster_owned_twice_is_reported_and_nothing_repaired (void **state)
{
  struct fixture *fx = *state;
  struct snapshot_of_files files;
  struct check_report *r;

  write_cluster (fx, 0, 1);
  write_cluster (fx, 1, 2);
  close_pool (fx);
  /* Cluster 1 now claims physical cluster 0 too; its own cluster 1 is
   * then referenced by nobody. */
  append_put (fx, next_seq (fx), 1, 1, 0, ALL_SUBS);
  remember_files (fx, &files);

  r = run_check (fx, 0);
  assert_false (r->clean);
  assert_item (problems_of (r, "t"), "t", "cluster-shared", 0,
               "physical cluster 0 is referenced by cluster 0 generation 1"
               " and cluster 1 generation 1");
  assert_item (problems_of (r, "t"), "t", "leaked-cluster", 1,
               "physical cluster 1 holds 65536 bytes");
  check_report_free (r);

  /* A volume with a problem that cannot be repaired is left alone,
   * even its repairable problems. */
  r = run_check (fx, CHECK_REPAIR);
  assert_false (r->clean);
  assert_int_equal (repaired_of (r, "t")->n, 0);
  assert_item (problems_of (r, "t"), "t", "repair-skipped", 0,
               "nothing was repaired");
  assert_item (problems_of (r, "t"), "t", "cluster-shared", 0, "cluster 0");
  check_report_free (r);
  assert_files_unchanged (fx, &files);

  /* The engine refuses the pool for the same reason. */
  assert_null_with (pool_open (fx->dir, NULL, 0), EILSEQ);
}

static void
test_deletion_without_reclaim_is_reclaimed (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1];
  struct check_report *r;
  struct sv_view *v;
  struct uuid u;

  write_cluster (fx, 0, 1);
  ut_snapshot (fx->pool, "t", id);
  write_cluster (fx, 0, 2);     /* copy-on-write: generation 2 */
  close_pool (fx);
  /* The snapshot deletion became durable, its reclaim did not. */
  assert_int_equal (uuid_parse (id, &u), 0);
  append_record (fx, JR_SNAP_DELETE, u.b, 16, next_seq (fx));
  assert_int_equal (ut_data_blocks (fx->dir, "t"), 2 * CS);

  r = run_check (fx, 0);
  assert_item (problems_of (r, "t"), "t", "unreadable-subclusters", 1,
               "cluster 0 generation 1 defines 16 subclusters (65536 bytes"
               " of data) that no view reads");
  assert_int_equal (problems_of (r, "t")->n, 1);
  check_report_free (r);

  r = run_check (fx, CHECK_REPAIR);
  assert_true (r->clean);
  assert_item (repaired_of (r, "t"), "t", "unreadable-subclusters", -1,
               "cluster 0 generation 1: reclaimed 16 subclusters");
  check_report_free (r);
  assert_clean (fx);
  /* The reclaimed cluster went back to the filesystem; the live data
   * is intact. */
  assert_int_equal (ut_data_blocks (fx->dir, "t"), CS);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_int_equal (ut_snapshot_count (fx->pool, "t"), 0);
  v = ut_view_open (fx->pool, "t");
  assert_pattern (v, 0, CS, 2);
  view_close (v);
}

static void
test_record_out_of_sequence_is_not_repairable (void **state)
{
  struct fixture *fx = *state;
  struct snapshot_of_files files;
  struct check_report *r;
  uint64_t seq;

  write_cluster (fx, 0, 1);
  close_pool (fx);
  /* As if record S+1 had been lost with a file. */
  seq = next_seq (fx);
  append_put (fx, seq, 2, 1, 1, 1);
  append_put (fx, seq + 2, 3, 1, 2, 1);
  remember_files (fx, &files);

  r = run_check (fx, CHECK_REPAIR);
  /* Replay refuses the record; the check reports it, unrepairable. */
  assert_item (problems_of (r, "t"), "t", "journal-record", 0,
               "is record 4 but record 3 was expected");
  assert_item (problems_of (r, "t"), "t", "not-checked", 0, "not checked");
  check_report_free (r);
  assert_files_unchanged (fx, &files);
}

static void
test_version_beyond_the_live_generation (void **state)
{
  struct fixture *fx = *state;
  struct check_report *r;

  write_cluster (fx, 0, 1);
  close_pool (fx);
  append_put (fx, next_seq (fx), 5, 9, 7, 1);

  r = run_check (fx, 0);
  assert_item (problems_of (r, "t"), "t", "journal-record", 0,
               "cluster 5 mapped at generation 9, beyond the live one 1");
  check_report_free (r);
}

/* A mapping to a physical cluster the data file does not reach (the
 * fuzzers made one: it cost the open a 512 MiB bitmap) is reported by
 * the checker and refused by the engine, both naming it. */
static void
test_mapping_past_the_data_file_is_refused (void **state)
{
  struct fixture *fx = *state;
  struct check_report *r;

  write_cluster (fx, 0, 1);
  write_cluster (fx, 1, 2);
  close_pool (fx);
  append_put (fx, next_seq (fx), 2, 1, 0xfffffff0u, ALL_SUBS);

  r = run_check (fx, 0);
  assert_false (r->clean);
  assert_item (problems_of (r, "t"), "t", "cluster-past-end", 0,
               "cluster 2 generation 1 maps physical cluster 4294967280,"
               " past the end of");
  check_report_free (r);

  assert_null_with (pool_open (fx->dir, NULL, 0), EILSEQ);
  assert_errmsg_names ("maps physical cluster 4294967280, past the end of"
                       " the data file (131072 bytes)");
}

static void
test_duplicate_snapshot_id (void **state)
{
  struct fixture *fx = *state;
  uint8_t rec[SNAP_REC_FIXED];
  char id[SV_UUID_STRLEN + 1];
  struct check_report *r;
  struct uuid u, set;

  ut_snapshot (fx->pool, "t", id);
  close_pool (fx);
  assert_int_equal (uuid_parse (id, &u), 0);
  assert_int_equal (uuid_generate (&set), 0);
  memset (rec, 0, sizeof rec);
  memcpy (rec, u.b, 16);
  memcpy (rec + 16, set.b, 16);
  put_le32 (rec + 32, 2);       /* the live generation */
  put_le64 (rec + 40, 1);
  put_le64 (rec + 48, MiB);
  append_record (fx, JR_SNAP_CREATE, rec, sizeof rec, next_seq (fx));

  r = run_check (fx, 0);
  assert_item (problems_of (r, "t"), "t", "journal-record", 0,
               "two snapshot records carry the same id");
  check_report_free (r);
}

static void
test_leftovers_are_removed (void **state)
{
  struct fixture *fx = *state;
  char path[4096], jpath[4096], stale[4096], torn[4096];
  struct check_report *r;
  uint64_t n;

  write_cluster (fx, 0, 1);
  close_pool (fx);
  ut_last_journal (jpath, sizeof jpath, fx->dir, "t");
  n = strtoull (strrchr (jpath, '.') + 1, NULL, 16);
  assert_true (n >= 2);
  snprintf (stale, sizeof stale, "%.*s%016" PRIx64,
            (int) (strrchr (jpath, '.') + 1 - jpath), jpath, n - 1);
  snprintf (torn, sizeof torn, "%.*s%016" PRIx64,
            (int) (strrchr (jpath, '.') + 1 - jpath), jpath, n + 1);
  ut_file_write (stale, "an old journal", 14, 0);
  ut_file_write (torn, "half a header", 13, 0);
  ut_volume_file (path, sizeof path, fx->dir, "t", "checkpoint.new");
  ut_file_write (path, "half a checkpoint", 17, 0);
  snprintf (path, sizeof path, "%s/volumes/.tmp-w-x", fx->dir);
  assert_int_equal (mkdir (path, 0700), 0);
  snprintf (path, sizeof path, "%s/volumes/.deleted-w-x", fx->dir);
  assert_int_equal (mkdir (path, 0700), 0);
  snprintf (path, sizeof path, "%s/volumes/.deleted-w-x/data", fx->dir);
  ut_file_write (path, "old data", 8, 0);

  r = run_check (fx, 0);
  assert_item (problems_of (r, NULL), NULL, "leftover-directory", 1, ".tmp-w-x");
  assert_item (problems_of (r, NULL), NULL, "leftover-directory", 1,
               ".deleted-w-x");
  assert_item (problems_of (r, "t"), "t", "stale-journal", 1, stale);
  assert_item (problems_of (r, "t"), "t", "torn-journal-header", 1, torn);
  assert_item (problems_of (r, "t"), "t", "leftover-checkpoint", 1,
               "checkpoint.new");
  assert_int_equal (problems_of (r, "t")->n, 3);
  check_report_free (r);

  r = run_check (fx, CHECK_REPAIR);
  assert_true (r->clean);
  assert_int_equal (repaired_of (r, NULL)->n, 2);
  assert_int_equal (repaired_of (r, "t")->n, 3);
  check_report_free (r);
  assert_int_equal (access (stale, F_OK), -1);
  snprintf (path, sizeof path, "%s/volumes/.deleted-w-x", fx->dir);
  assert_int_equal (access (path, F_OK), -1);
  assert_clean (fx);
}

static void
test_leaked_subclusters_are_punched (void **state)
{
  struct fixture *fx = *state;
  uint8_t buf[4096];
  char path[4096];
  struct check_report *r;
  struct sv_view *v;

  v = ut_view_open (fx->pool, "t");
  ut_write_pattern (v, 4096, 4096, 1, NULL);  /* subcluster 1 only */
  view_close (v);
  close_pool (fx);
  /* Data in subcluster 0, which the version does not map: what a crash
   * after a write in place and before its record leaves. */
  ut_pattern (buf, sizeof buf, 0, 9);
  ut_volume_file (path, sizeof path, fx->dir, "t", "data");
  ut_file_write (path, buf, sizeof buf, 0);
  assert_int_equal (ut_data_blocks (fx->dir, "t"), 8192);

  r = run_check (fx, CHECK_REPAIR);
  assert_true (r->clean);
  assert_item (repaired_of (r, "t"), "t", "leaked-subclusters", -1,
               "punched 1 subcluster of physical cluster 0");
  check_report_free (r);
  assert_int_equal (ut_data_blocks (fx->dir, "t"), 4096);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  v = ut_view_open (fx->pool, "t");
  assert_zero (v, 0, 4096);
  assert_pattern (v, 4096, 4096, 1);
  view_close (v);
}

/* Recovery punches what no version maps in mapped clusters too, so
 * that the checker finds nothing after a plain open and close (the
 * repair above goes through the same code: volume_punch_unmapped). */
static void
test_recovery_punches_leaked_subclusters (void **state)
{
  struct fixture *fx = *state;
  uint8_t buf[4096];
  char path[4096];
  struct sv_view *v;

  v = ut_view_open (fx->pool, "t");
  ut_write_pattern (v, 4096, 4096, 1, NULL);
  ut_write_pattern (v, CS + 8192, 4096, 2, NULL);
  view_close (v);
  close_pool (fx);
  /* Subclusters 0 and 15 of physical cluster 0, 0 and 1 of cluster 1:
   * data that no version maps, as a crash before the records of writes
   * in place leaves it. */
  ut_volume_file (path, sizeof path, fx->dir, "t", "data");
  ut_pattern (buf, sizeof buf, 0, 9);
  ut_file_write (path, buf, sizeof buf, 0);
  ut_file_write (path, buf, sizeof buf, 15 * 4096);
  ut_file_write (path, buf, sizeof buf, CS);
  ut_file_write (path, buf, sizeof buf, CS + 4096);
  assert_int_equal (ut_data_blocks (fx->dir, "t"), 6 * 4096);

  fx->pool = ut_pool_open (fx->dir, 0, 0);
  close_pool (fx);
  assert_int_equal (ut_data_blocks (fx->dir, "t"), 2 * 4096);
  assert_clean (fx);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  v = ut_view_open (fx->pool, "t");
  assert_zero (v, 0, 4096);
  assert_pattern (v, 4096, 4096, 1);
  assert_zero (v, 8192, CS);
  assert_pattern (v, CS + 8192, 4096, 2);
  view_close (v);
}

/* A checkpoint undone by a crash leaves two journal files that both
 * replay; the next checkpoint covers both, and removes both, not only
 * the one it rotates away from. */
static void
test_checkpoint_removes_every_journal_file_it_covers (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096], older[4096], vdir[4096];
  uint8_t sb[SV_BLOCK];
  struct uuid uuid;
  uint64_t n;

  write_cluster (fx, 0, 1);
  close_pool (fx);
  ut_last_journal (older, sizeof older, fx->dir, "t");
  n = strtoull (strrchr (older, '.') + 1, NULL, 16);
  /* What a crash after a checkpoint's step 1 leaves: the next file,
   * empty, while the checkpoint still names journal N first. */
  ut_volume_file (jpath, sizeof jpath, fx->dir, "t", "superblock");
  ut_file_read (jpath, sb, sizeof sb, 0);
  memcpy (uuid.b, sb + SB_OFF_UUID, 16);
  snprintf (vdir, sizeof vdir, "%s/volumes/t", fx->dir);
  assert_int_equal (journal_create_file (&sio_posix, vdir, &uuid, n + 1, 0),
                    0);

  /* Replay runs N, then N+1, where appends go; the close checkpoints. */
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  write_cluster (fx, 1, 2);
  close_pool (fx);
  ut_last_journal (jpath, sizeof jpath, fx->dir, "t");
  assert_int_equal (strtoull (strrchr (jpath, '.') + 1, NULL, 16), n + 2);
  assert_int_equal (access (older, F_OK), -1);
  assert_clean (fx);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  write_cluster (fx, 2, 3);
  close_pool (fx);
  assert_clean (fx);
}

/* A SNAP_HOLD payload for snapshot ID with TAG (taken as is). */
static size_t
hold_payload (uint8_t *p, const char *id, const char *tag, uint64_t expires)
{
  struct uuid u;

  assert_int_equal (uuid_parse (id, &u), 0);
  memcpy (p, u.b, 16);
  put_le64 (p + 16, expires);
  put_le16 (p + 24, strlen (tag));
  memcpy (p + 26, tag, strlen (tag));
  return 26 + strlen (tag);
}

static void
test_pool_with_holds_is_clean (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1];
  uint8_t rec[128];

  ut_snapshot (fx->pool, "t", id);
  assert_int_equal (pool_snapshot_hold (fx->pool, id, "keep", 0), 1);
  assert_int_equal (pool_snapshot_hold (fx->pool, id, "b@1", 99), 1);
  assert_int_equal (pool_snapshot_release (fx->pool, id, "keep"), 1);
  close_pool (fx);
  assert_clean (fx);            /* one hold in the checkpoint */

  /* And one in the journal, as the engine writes it. */
  append_record (fx, JR_SNAP_HOLD, rec,
                 hold_payload (rec, id, "journal:1", 0), next_seq (fx));
  assert_clean (fx);
}

static void
test_corrupt_hold_records_are_refused_and_named (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1], path[4096];
  const char *unknown = "01234567-89ab-cdef-0123-456789abcdef";
  struct check_report *r;
  uint8_t rec[128], hdr[SV_BLOCK], *body;
  uint64_t bodylen, seq;

  ut_snapshot (fx->pool, "t", id);
  assert_int_equal (pool_snapshot_hold (fx->pool, id, "keep", 0), 1);
  close_pool (fx);
  seq = next_seq (fx);

  /* A checkpoint whose hold has a tag outside the rule, checksums
   * right: the content is what is wrong. */
  ut_volume_file (path, sizeof path, fx->dir, "t", "checkpoint");
  ut_file_read (path, hdr, sizeof hdr, 0);
  bodylen = get_le64 (hdr + CK_OFF_BODYLEN);
  body = malloc (bodylen);
  assert_non_null (body);
  ut_file_read (path, body, bodylen, SV_BLOCK);
  assert_memory_equal (body + bodylen - 4, "keep", 4);
  body[bodylen - 2] = ' ';
  ut_file_write (path, body, bodylen, SV_BLOCK);
  ut_block_set_le32 (path, CK_OFF_BODYCRC, crc32c (0, body, bodylen));
  r = run_check (fx, CHECK_REPAIR);
  assert_item (problems_of (r, "t"), "t", "checkpoint", 0,
               "/checkpoint: hold 0 of 1: snapshot hold record has an"
               " invalid tag");
  check_report_free (r);
  body[bodylen - 2] = 'e';
  ut_file_write (path, body, bodylen, SV_BLOCK);
  ut_block_set_le32 (path, CK_OFF_BODYCRC, crc32c (0, body, bodylen));
  free (body);
  assert_clean (fx);

  /* A journal record holding a snapshot that does not exist. */
  append_record (fx, JR_SNAP_HOLD, rec,
                 hold_payload (rec, unknown, "keep", 0), seq);
  r = run_check (fx, CHECK_REPAIR);
  assert_item (problems_of (r, "t"), "t", "journal-record", 0,
               "hold of an unknown snapshot");
  check_report_free (r);
}

static void
test_hold_record_repeating_a_tag_is_refused (void **state)
{
  struct fixture *fx = *state;
  char id[SV_UUID_STRLEN + 1];
  struct check_report *r;
  uint8_t rec[128];

  ut_snapshot (fx->pool, "t", id);
  assert_int_equal (pool_snapshot_hold (fx->pool, id, "keep", 0), 1);
  close_pool (fx);
  append_record (fx, JR_SNAP_HOLD, rec, hold_payload (rec, id, "keep", 5),
                 next_seq (fx));
  r = run_check (fx, 0);
  assert_item (problems_of (r, "t"), "t", "journal-record", 0,
               "already carries a hold tagged keep");
  check_report_free (r);
}

static void
test_corrupt_checkpoint_is_not_repairable (void **state)
{
  struct fixture *fx = *state;
  char path[4096];
  struct check_report *r;

  write_cluster (fx, 0, 1);
  close_pool (fx);
  ut_volume_file (path, sizeof path, fx->dir, "t", "checkpoint");
  ut_flip_byte (path, SV_BLOCK + 3);

  r = run_check (fx, CHECK_REPAIR);
  assert_false (r->clean);
  assert_item (problems_of (r, "t"), "t", "checkpoint", 0,
               "checksum mismatch; not repairable: restore");
  check_report_free (r);
  ut_flip_byte (path, SV_BLOCK + 3);
  assert_clean (fx);
}

int
main (void)
{
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_clean_pool_is_clean_and_a_served_pool_is_refused),
    T (test_reserved_space_is_not_reported_as_leaked),
    T (test_cluster_owned_twice_is_reported_and_nothing_repaired),
    T (test_deletion_without_reclaim_is_reclaimed),
    T (test_record_out_of_sequence_is_not_repairable),
    T (test_version_beyond_the_live_generation),
    T (test_mapping_past_the_data_file_is_refused),
    T (test_duplicate_snapshot_id),
    T (test_leftovers_are_removed),
    T (test_leaked_subclusters_are_punched),
    T (test_recovery_punches_leaked_subclusters),
    T (test_checkpoint_removes_every_journal_file_it_covers),
    T (test_corrupt_checkpoint_is_not_repairable),
    T (test_pool_with_holds_is_clean),
    T (test_corrupt_hold_records_are_refused_and_named),
    T (test_hold_record_repeating_a_tag_is_refused),
  };
#undef T
  return cmocka_run_group_tests (tests, NULL, NULL);
}
