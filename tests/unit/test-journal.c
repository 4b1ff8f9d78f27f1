/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-journal.c: unit tests of recovery: reopening after a clean close
 * and after a crash, torn journal tails, corrupt and too-new metadata
 * blocks, checkpoint rotation and left-over files.
 *
 * A "crash" here is a forked child that opens the pool, works, and
 * exits without closing it, as a killed server would.
 */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "journal.h"
#include "ondisk.h"
#include "pool.h"
#include "unit-helpers.h"
#include "uuid.h"

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
create (struct fixture *fx, const char *name, uint64_t size)
{
  if (pool_volume_create (fx->pool, name, size, 0) == -1)
    fail_msg ("pool_volume_create %s: %s", name, sv_errmsg ());
}

static void
path_of (char *path, size_t len, struct fixture *fx, const char *vol,
         const char *file)
{
  if (vol)
    ut_volume_file (path, len, fx->dir, vol, file);
  else
    snprintf (path, len, "%s/%s", fx->dir, file);
}

/* pool_open must fail with ERR and a message naming WHAT. */
static void
assert_open_fails (struct fixture *fx, int err, const char *what)
{
  struct sv_pool *pool;

  errno = 0;
  pool = pool_open (fx->dir, NULL, 0);
  if (pool != NULL) {
    pool_close (pool);
    fail_msg ("pool_open succeeded; expected errno %d naming %s", err, what);
  }
  if (errno != err)
    fail_msg ("pool_open failed with errno %d (%s), expected %d", errno,
              sv_errmsg (), err);
  assert_errmsg_names (what);
}

static char *
export_name (const char *volume, const char *id)
{
  char *s;

  assert_true (asprintf (&s, "%s@%s", volume, id) > 0);
  return s;
}

/* Clean close. */

static void
test_reopen_after_clean_close_preserves_everything (void **state)
{
  struct fixture *fx = *state;
  static const char *const both[] = { "one", "two" };
  struct sv_volume_info *vi0 = NULL, *vi1 = NULL;
  struct sv_snapshot_info *si0 = NULL, *si1 = NULL;
  struct sv_snap_result res[2];
  char set1[SV_UUID_STRLEN + 1], set2[SV_UUID_STRLEN + 1];
  size_t nv0, nv1, ns0, ns1, i;
  struct sv_view *v1, *v2, *s;
  char *e;

  create (fx, "one", MiB);
  create (fx, "two", 2 * MiB + 512);
  v1 = ut_view_open (fx->pool, "one");
  v2 = ut_view_open (fx->pool, "two");
  ut_write_pattern (v1, 0, MiB, 1, NULL);
  ut_write_pattern (v2, 1000, 300000, 2, NULL);
  assert_int_equal (pool_snapshot_create (fx->pool, both, 2, "first", NULL,
                                          set1, res), 0);
  ut_write_pattern (v1, 5000, 70000, 3, NULL);
  assert_int_equal (view_trim (v2, CS, 2 * CS, 0), 0);
  assert_int_equal (pool_snapshot_create (fx->pool, both, 2, "second", NULL,
                                          set2, res), 0);
  ut_write_pattern (v2, 2 * MiB, 512, 4, NULL);
  assert_int_equal (view_zero (v1, 4096, 0, 0, 0, 0), 0);
  /* A deleted snapshot stays deleted. */
  assert_int_equal (pool_snapshot_delete (fx->pool, res[1].id, NULL), 0);
  view_close (v1);
  view_close (v2);

  assert_int_equal (pool_volume_list (fx->pool, NULL, &vi0, &nv0), 0);
  assert_int_equal (pool_snapshot_list (fx->pool, NULL, &si0, &ns0), 0);
  assert_int_equal (ns0, 3);
  close_pool (fx);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_int_equal (pool_volume_list (fx->pool, NULL, &vi1, &nv1), 0);
  assert_int_equal (pool_snapshot_list (fx->pool, NULL, &si1, &ns1), 0);

  assert_int_equal (nv1, nv0);
  for (i = 0; i < nv0; i++) {
    assert_string_equal (vi1[i].name, vi0[i].name);
    assert_string_equal (vi1[i].uuid, vi0[i].uuid);
    assert_int_equal (vi1[i].size, vi0[i].size);
    assert_int_equal (vi1[i].cluster_size, vi0[i].cluster_size);
    assert_int_equal (vi1[i].generation, vi0[i].generation);
    assert_int_equal (vi1[i].nsnapshots, vi0[i].nsnapshots);
    assert_int_equal (vi1[i].created, vi0[i].created);
    assert_int_equal (vi1[i].allocated_bytes, vi0[i].allocated_bytes);
    assert_int_equal (vi1[i].referenced_bytes, vi0[i].referenced_bytes);
    assert_int_equal (vi1[i].written_bytes, vi0[i].written_bytes);
    assert_int_equal (vi1[i].snapshot_bytes, vi0[i].snapshot_bytes);
  }
  assert_int_equal (ns1, ns0);
  for (i = 0; i < ns0; i++) {
    assert_string_equal (si1[i].volume, si0[i].volume);
    assert_string_equal (si1[i].id, si0[i].id);
    assert_string_equal (si1[i].set_id, si0[i].set_id);
    assert_string_equal (si1[i].label, si0[i].label);
    assert_int_equal (si1[i].generation, si0[i].generation);
    assert_int_equal (si1[i].created, si0[i].created);
    assert_int_equal (si1[i].size, si0[i].size);
    assert_int_equal (si1[i].exclusive_bytes, si0[i].exclusive_bytes);
    assert_int_equal (si1[i].referenced_bytes, si0[i].referenced_bytes);
  }

  v1 = ut_view_open (fx->pool, "one");
  assert_zero (v1, 0, 4096);
  assert_pattern (v1, 4096, 5000 - 4096, 1);
  assert_pattern (v1, 5000, 70000, 3);
  assert_pattern (v1, 75000, MiB - 75000, 1);
  view_close (v1);
  v2 = ut_view_open (fx->pool, "two");
  assert_zero (v2, 0, 1000);
  assert_pattern (v2, 1000, 2 * CS - 1000, 2);
  assert_zero (v2, 2 * CS, CS);
  assert_pattern (v2, 3 * CS, 301000 - 3 * CS, 2);
  assert_pattern (v2, 2 * MiB, 512, 4);
  view_close (v2);
  e = export_name ("one", set1);
  s = ut_view_open (fx->pool, e);
  assert_pattern (s, 0, MiB, 1);
  view_close (s);
  free (e);
  e = export_name ("one", set2);
  s = ut_view_open (fx->pool, e);
  assert_pattern (s, 0, 5000, 1);
  assert_pattern (s, 5000, 70000, 3);
  assert_pattern (s, 75000, MiB - 75000, 1);
  view_close (s);
  free (e);
  e = export_name ("two", set1);
  s = ut_view_open (fx->pool, e);
  assert_zero (s, 0, 1000);
  assert_pattern (s, 1000, 300000, 2);
  assert_zero (s, 301000, 2 * MiB + 512 - 301000);
  view_close (s);
  free (e);
  e = export_name ("two", res[1].id);
  assert_null_with (view_open (fx->pool, e), ENOENT);
  free (e);
  free (vi0);
  free (vi1);
  free (si0);
  free (si1);
}

/* Torn tails.  A child writes NCLUSTERS whole clusters of volume "t",
 * each followed by a flush, so that each write is one journal record
 * of its own at the end of the last journal file, then "crashes". */

#define NCLUSTERS 8
#define PUT_RECORD (JR_HDR + JR_ENTRY_PUT_LEN)

struct write_job {
  const char *dir;
  int first, n;
};

static int
child_write_clusters (void *arg)
{
  struct write_job *job = arg;
  struct sv_pool *pool = pool_open (job->dir, NULL, 0);
  struct sv_view *v;
  static uint8_t buf[CS];
  int i;

  ut_child_check (pool != NULL, "pool_open");
  v = view_open (pool, "t");
  ut_child_check (v != NULL, "view_open");
  for (i = job->first; i < job->first + job->n; i++) {
    ut_pattern (buf, CS, (uint64_t) i * CS, i + 1);
    ut_child_check (view_pwrite (v, buf, CS, (uint64_t) i * CS, 0) == 0,
                    "view_pwrite");
    ut_child_check (view_flush (v) == 0, "view_flush");
  }
  return 0;
}

/* Make "t" and crash after NCLUSTERS flushed writes; the last journal
 * file's path and size into JPATH and *JSIZE. */
static void
crash_after_flushed_writes (struct fixture *fx, char *jpath, size_t len,
                            uint64_t *jsize)
{
  struct write_job job = { fx->dir, 0, NCLUSTERS };

  create (fx, "t", MiB);
  close_pool (fx);
  ut_run_child (child_write_clusters, &job);
  ut_last_journal (jpath, len, fx->dir, "t");
  *jsize = ut_file_size (jpath);
  /* The records are where the format says. */
  assert_int_equal (*jsize, SV_BLOCK + NCLUSTERS * PUT_RECORD);
}

/* Clusters [0, INTACT) hold their pattern, the rest read zero. */
static void
assert_clusters (struct fixture *fx, int intact)
{
  struct sv_view *v = ut_view_open (fx->pool, "t");
  int i;

  for (i = 0; i < intact; i++)
    assert_pattern (v, (uint64_t) i * CS, CS, i + 1);
  assert_zero (v, (uint64_t) intact * CS, MiB - (uint64_t) intact * CS);
  view_close (v);
}

/* After recovery, new writes land after the cut and survive a crash. */
static void
assert_appends_survive (struct fixture *fx, int intact)
{
  struct write_job job = { fx->dir, NCLUSTERS, 2 };
  struct sv_view *v;
  int i;

  close_pool (fx);
  ut_run_child (child_write_clusters, &job);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  v = ut_view_open (fx->pool, "t");
  for (i = 0; i < intact; i++)
    assert_pattern (v, (uint64_t) i * CS, CS, i + 1);
  for (i = NCLUSTERS; i < NCLUSTERS + 2; i++)
    assert_pattern (v, (uint64_t) i * CS, CS, i + 1);
  view_close (v);
}

static void
test_crash_after_flush_keeps_every_flushed_write (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096];
  uint64_t jsize;

  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_clusters (fx, NCLUSTERS);
  assert_appends_survive (fx, NCLUSTERS);
}

static void
test_torn_tail_garbage_appended_is_cut (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096];
  uint8_t junk[1000];
  uint64_t jsize;

  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_pattern (junk, sizeof junk, 0, 77);
  ut_file_write (jpath, junk, sizeof junk, jsize);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_int_equal (ut_file_size (jpath), jsize);
  assert_clusters (fx, NCLUSTERS);
  assert_appends_survive (fx, NCLUSTERS);
}

static void
test_torn_tail_zeroes_appended_are_cut (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096];
  uint64_t jsize;

  /* A file extended but never written (a crash after the size was
   * updated and before the data): zeroes, which are no record. */
  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_file_truncate (jpath, jsize + 4096);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_int_equal (ut_file_size (jpath), jsize);
  assert_clusters (fx, NCLUSTERS);
  assert_appends_survive (fx, NCLUSTERS);
}

/* A torn tail is what a power cut leaves of the last commit: its write
 * cut short, and its journal mark (written after the fdatasync) not on
 * the disk either.  ut_journal_drop_newest_mark makes the second. */

static void
test_torn_tail_truncated_mid_record_is_cut (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096];
  uint64_t jsize;

  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_journal_drop_newest_mark (jpath);
  ut_file_truncate (jpath, jsize - 20);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_int_equal (ut_file_size (jpath), jsize - PUT_RECORD);
  assert_clusters (fx, NCLUSTERS - 1);
  assert_appends_survive (fx, NCLUSTERS - 1);
}

static void
test_torn_tail_flipped_byte_in_last_record_is_cut (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096];
  uint64_t jsize;

  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_journal_drop_newest_mark (jpath);
  ut_flip_byte (jpath, jsize - 10);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_int_equal (ut_file_size (jpath), jsize - PUT_RECORD);
  assert_clusters (fx, NCLUSTERS - 1);
  assert_appends_survive (fx, NCLUSTERS - 1);
}

static void
test_torn_tail_flipped_byte_in_record_header_is_cut (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096];
  uint64_t jsize;

  /* The last record's sequence number: the record no longer follows. */
  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_journal_drop_newest_mark (jpath);
  ut_flip_byte (jpath, jsize - PUT_RECORD + 8);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_clusters (fx, NCLUSTERS - 1);
  assert_appends_survive (fx, NCLUSTERS - 1);
}

/* The same damage to records that were acknowledged (their mark is on
 * the disk, as after a kill -9) is corruption: refused, naming the file
 * and the offset, and nothing is cut. */

static void
assert_corruption_refused (struct fixture *fx, const char *jpath,
                           uint64_t jsize, const char *what)
{
  uint8_t before[SV_BLOCK + NCLUSTERS * PUT_RECORD];
  uint8_t after[sizeof before];

  ut_file_read (jpath, before, jsize, 0);
  assert_open_fails (fx, EILSEQ, jpath);
  assert_errmsg_names ("corrupt journal");
  assert_errmsg_names (what);
  assert_errmsg_names ("were acknowledged");
  /* Nothing was cut or changed. */
  assert_int_equal (ut_file_size (jpath), jsize);
  ut_file_read (jpath, after, jsize, 0);
  assert_memory_equal (before, after, jsize);
}

static void
test_flipped_byte_in_acknowledged_record_is_refused (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096], what[64];
  uint64_t jsize;

  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_flip_byte (jpath, jsize - 10);
  snprintf (what, sizeof what, "fails its checksum at offset %" PRIu64,
            jsize - PUT_RECORD);
  assert_corruption_refused (fx, jpath, jsize, what);
  /* Undone, the pool opens with every write. */
  ut_flip_byte (jpath, jsize - 10);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_clusters (fx, NCLUSTERS);
}

static void
test_flipped_byte_in_middle_record_is_refused (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096], what[64];
  uint64_t jsize;

  /* Even with the last commit's mark lost, a record damaged before the
   * mark that stands was acknowledged. */
  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_journal_drop_newest_mark (jpath);
  ut_flip_byte (jpath, SV_BLOCK + 2 * PUT_RECORD + 20);
  snprintf (what, sizeof what, "at offset %" PRIu64,
            (uint64_t) SV_BLOCK + 2 * PUT_RECORD);
  assert_corruption_refused (fx, jpath, jsize, what);
}

static void
test_truncated_acknowledged_journal_is_refused (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096];
  uint64_t jsize;

  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_file_truncate (jpath, jsize - 20);
  assert_open_fails (fx, EILSEQ, jpath);
  assert_errmsg_names ("corrupt journal");
  assert_int_equal (ut_file_size (jpath), jsize - 20);
}

static void
test_torn_tail_before_empty_next_journal_is_cut (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096], sbpath[4096], vdir[4096];
  uint8_t sb[SV_BLOCK];
  struct uuid uuid;
  uint64_t jsize, number;

  /* The state a crash leaves in the middle of checkpoint step 3: the
   * next journal file exists (step 1) with no record in it, and the
   * records still buffered for the current file were being written
   * when the power went, so its tail is torn.  No record after the tear
   * was ever acknowledged; recovery must cut it as it would in the
   * last file. */
  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_journal_drop_newest_mark (jpath);
  ut_file_truncate (jpath, jsize - 20);
  path_of (sbpath, sizeof sbpath, fx, "t", "superblock");
  ut_file_read (sbpath, sb, sizeof sb, 0);
  memcpy (uuid.b, sb + SB_OFF_UUID, 16);
  number = strtoull (strrchr (jpath, '.') + 1, NULL, 16);
  snprintf (vdir, sizeof vdir, "%s/volumes/t", fx->dir);
  assert_int_equal (journal_create_file (&sio_posix, vdir, &uuid,
                                         number + 1, 16 * KiB), 0);

  fx->pool = pool_open (fx->dir, NULL, 0);
  if (fx->pool == NULL)
    fail_msg ("pool_open after a crash during a checkpoint: %s",
              sv_errmsg ());
  assert_clusters (fx, NCLUSTERS - 1);
  assert_appends_survive (fx, NCLUSTERS - 1);
}

static void
test_torn_header_of_new_journal_file_is_dropped (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096], next[4096];
  uint8_t junk[100];
  uint64_t jsize, number;

  /* A crash while checkpoint step 1 wrote the next file's header. */
  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  number = strtoull (strrchr (jpath, '.') + 1, NULL, 16);
  ut_volume_file (next, sizeof next, fx->dir, "t", "");
  snprintf (next + strlen (next), sizeof next - strlen (next),
            "journal.%016" PRIx64, number + 1);
  ut_pattern (junk, sizeof junk, 0, 5);
  ut_file_write (next, junk, sizeof junk, 0);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_clusters (fx, NCLUSTERS);
  assert_appends_survive (fx, NCLUSTERS);
}

/* Corrupt and too-new metadata. */

static void
make_closed_volume (struct fixture *fx, const char *name)
{
  char id[SV_UUID_STRLEN + 1];
  struct sv_view *v;

  create (fx, name, MiB);
  v = ut_view_open (fx->pool, name);
  ut_write_pattern (v, 0, 3 * CS, 1, NULL);
  ut_snapshot (fx->pool, name, id);
  ut_write_pattern (v, 0, CS, 2, NULL);
  view_close (v);
  close_pool (fx);
}

static void
test_flipped_byte_in_superblock_fails_eilseq (void **state)
{
  struct fixture *fx = *state;
  char path[4096];

  make_closed_volume (fx, "sbvol");
  path_of (path, sizeof path, fx, "sbvol", "superblock");
  ut_flip_byte (path, 200);
  assert_open_fails (fx, EILSEQ, "sbvol");
  ut_flip_byte (path, 200);
  ut_flip_byte (path, SB_OFF_SIZE);
  assert_open_fails (fx, EILSEQ, "sbvol");
  ut_flip_byte (path, SB_OFF_SIZE);
  ut_flip_byte (path, OFF_MAGIC);
  assert_open_fails (fx, EILSEQ, "sbvol");
  ut_flip_byte (path, OFF_MAGIC);
  fx->pool = ut_pool_open (fx->dir, 0, 0);    /* restored: opens again */
}

static void
test_flipped_byte_in_checkpoint_header_fails_eilseq (void **state)
{
  struct fixture *fx = *state;
  char path[4096];

  make_closed_volume (fx, "ckhdr");
  path_of (path, sizeof path, fx, "ckhdr", "checkpoint");
  ut_flip_byte (path, CK_OFF_NENTRIES);
  assert_open_fails (fx, EILSEQ, "ckhdr");
  ut_flip_byte (path, CK_OFF_NENTRIES);
  ut_flip_byte (path, SV_BLOCK - 1);
  assert_open_fails (fx, EILSEQ, "ckhdr");
}

static void
test_flipped_byte_in_checkpoint_body_fails_eilseq (void **state)
{
  struct fixture *fx = *state;
  char path[4096];
  uint64_t size;

  make_closed_volume (fx, "ckbody");
  path_of (path, sizeof path, fx, "ckbody", "checkpoint");
  size = ut_file_size (path);
  assert_true (size > SV_BLOCK);
  ut_flip_byte (path, SV_BLOCK + 5);
  assert_open_fails (fx, EILSEQ, "ckbody");
  ut_flip_byte (path, SV_BLOCK + 5);
  ut_flip_byte (path, size - 1);
  assert_open_fails (fx, EILSEQ, "ckbody");
  ut_flip_byte (path, size - 1);
  /* A truncated checkpoint is corrupt too. */
  ut_file_truncate (path, size - 1);
  assert_open_fails (fx, EILSEQ, "ckbody");
}

static void
test_flipped_byte_in_pool_header_fails_eilseq (void **state)
{
  struct fixture *fx = *state;
  char path[4096];

  make_closed_volume (fx, "ph");
  path_of (path, sizeof path, fx, NULL, "snapvol.pool");
  ut_flip_byte (path, 300);
  assert_open_fails (fx, EILSEQ, "snapvol.pool");
}

static void
test_flipped_byte_in_journal_header_fails_eilseq (void **state)
{
  struct fixture *fx = *state;
  char jpath[4096];
  uint64_t jsize;

  /* Not a torn creation: the file holds records. */
  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);
  ut_flip_byte (jpath, 100);
  assert_open_fails (fx, EILSEQ, "volume t");
}

static void
test_newer_format_versions_fail_eprotonosupport (void **state)
{
  struct fixture *fx = *state;
  char path[4096], jpath[4096];
  uint64_t jsize;

  crash_after_flushed_writes (fx, jpath, sizeof jpath, &jsize);

  path_of (path, sizeof path, fx, "t", "superblock");
  ut_block_set_le32 (path, OFF_VERSION, SV_FORMAT_VERSION + 1);
  assert_open_fails (fx, EPROTONOSUPPORT, "volume t");
  ut_block_set_le32 (path, OFF_VERSION, SV_FORMAT_VERSION);

  path_of (path, sizeof path, fx, NULL, "snapvol.pool");
  ut_block_set_le32 (path, OFF_VERSION, SV_FORMAT_VERSION + 1);
  assert_open_fails (fx, EPROTONOSUPPORT, "snapvol.pool");
  ut_block_set_le32 (path, OFF_VERSION, SV_FORMAT_VERSION);

  path_of (path, sizeof path, fx, "t", "checkpoint");
  ut_block_set_le32 (path, OFF_VERSION, SV_FORMAT_VERSION + 1);
  assert_open_fails (fx, EPROTONOSUPPORT, "volume t");
  ut_block_set_le32 (path, OFF_VERSION, SV_FORMAT_VERSION);

  ut_block_set_le32 (jpath, OFF_VERSION, SV_FORMAT_VERSION + 1);
  assert_open_fails (fx, EPROTONOSUPPORT, "volume t");
  ut_block_set_le32 (jpath, OFF_VERSION, SV_FORMAT_VERSION);

  /* Every block restored: the pool opens with its data. */
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_clusters (fx, NCLUSTERS);
}

/* Checkpoint rotation.  A seeded workload of writes, trims, zeroes,
 * flushes, snapshots (labelled "snap-K") and deletions, run against a
 * pool or, with POOL NULL, only against the model, so that a parent
 * can know what a child wrote. */

#define RV_SIZE (512 * KiB)
#define RV_OPS 240
#define RV_SNAPS (RV_OPS / 30 + 1)

struct model {
  uint8_t live[RV_SIZE];
  uint8_t *snap[RV_SNAPS];      /* NULL: never taken or deleted */
  char ids[RV_SNAPS][SV_UUID_STRLEN + 1];
  int nsnaps;
};

static void
model_free (struct model *m)
{
  int k;

  for (k = 0; k < m->nsnaps; k++)
    free (m->snap[k]);
  free (m);
}

/* The bytes a trim of [OFF, OFF+LEN) zeroes: whole subclusters. */
static void
model_trim (struct model *m, uint64_t off, uint32_t len)
{
  uint64_t a = (off + 4095) / 4096 * 4096, b = (off + len) / 4096 * 4096;

  if (off + len == RV_SIZE)
    b = RV_SIZE;
  if (a < b)
    memset (m->live + a, 0, b - a);
}

/* Returns 0, or -1 after a failed engine call (message in sv_errmsg). */
static int
rotation_workload (struct sv_pool *pool, struct model *m, unsigned seed)
{
  struct sv_view *v = NULL;
  unsigned rs = seed;
  int i, oldest = 0, r = -1;

  if (pool && (v = view_open (pool, "rot")) == NULL)
    return -1;
  for (i = 0; i < RV_OPS; i++) {
    unsigned op = rand_r (&rs) % 10;
    uint64_t off = rand_r (&rs) % RV_SIZE;
    uint32_t len = 1 + rand_r (&rs) % 20000;

    if (off + len > RV_SIZE)
      len = RV_SIZE - off;
    if (op < 6) {
      ut_pattern (m->live + off, len, off, 1000 + i);
      if (v && view_pwrite (v, m->live + off, len, off, op == 0) == -1)
        goto out;
    }
    else if (op == 6) {
      model_trim (m, off, len);
      if (v && view_trim (v, len, off, 0) == -1)
        goto out;
    }
    else if (op == 7) {
      memset (m->live + off, 0, len);
      if (v && view_zero (v, len, off, 1, 0, 0) == -1)
        goto out;
    }
    else if (v && view_flush (v) == -1)
      goto out;

    if (i % 30 == 29) {
      const char *vols[1] = { "rot" };
      char label[32], set[SV_UUID_STRLEN + 1];
      struct sv_snap_result res;

      snprintf (label, sizeof label, "snap-%d", m->nsnaps);
      if (pool && pool_snapshot_create (pool, vols, 1, label, NULL, set,
                                        &res) == -1)
        goto out;
      m->snap[m->nsnaps] = malloc (RV_SIZE);
      if (m->snap[m->nsnaps] == NULL)
        goto out;
      memcpy (m->snap[m->nsnaps], m->live, RV_SIZE);
      if (pool)
        memcpy (m->ids[m->nsnaps], res.id, sizeof res.id);
      m->nsnaps++;
    }
    if (i % 70 == 69) {
      if (pool && pool_snapshot_delete (pool, m->ids[oldest], NULL) == -1)
        goto out;
      free (m->snap[oldest]);
      m->snap[oldest++] = NULL;
    }
  }
  if (v && view_flush (v) == -1)
    goto out;
  r = 0;
 out:
  if (v)
    view_close (v);
  return r;
}

/* The pool holds exactly the model: live bytes, and each snapshot
 * (found by label) its bytes. */
static void
assert_model (struct sv_pool *pool, const struct model *m)
{
  struct sv_snapshot_info *si = NULL;
  struct sv_view *v = ut_view_open (pool, "rot");
  size_t n = 0, i;
  int k, live = 0;

  assert_view_reads (v, 0, RV_SIZE, m->live);
  view_close (v);
  assert_int_equal (pool_snapshot_list (pool, "rot", &si, &n), 0);
  for (k = 0; k < m->nsnaps; k++)
    live += m->snap[k] != NULL;
  assert_int_equal (n, live);
  for (i = 0; i < n; i++) {
    char *e;
    assert_int_equal (sscanf (si[i].label, "snap-%d", &k), 1);
    assert_true (k >= 0 && k < m->nsnaps && m->snap[k] != NULL);
    e = export_name ("rot", si[i].id);
    v = ut_view_open (pool, e);
    assert_view_reads (v, 0, RV_SIZE, m->snap[k]);
    view_close (v);
    free (e);
  }
  free (si);
}

/* The checkpoint's first journal file; checks that no older journal
 * file is left. */
static uint64_t
checkpoint_jfirst (struct fixture *fx, const char *vol)
{
  char path[4096];
  uint8_t hdr[SV_BLOCK];
  uint64_t jfirst;
  struct dirent *de;
  DIR *d;

  path_of (path, sizeof path, fx, vol, "checkpoint");
  ut_file_read (path, hdr, sizeof hdr, 0);
  jfirst = get_le64 (hdr + CK_OFF_JFIRST);
  snprintf (path, sizeof path, "%s/volumes/%s", fx->dir, vol);
  d = opendir (path);
  assert_non_null (d);
  while ((de = readdir (d)) != NULL)
    if (strncmp (de->d_name, "journal.", 8) == 0)
      assert_true (strtoull (de->d_name + 8, NULL, 16) >= jfirst);
  closedir (d);
  return jfirst;
}

static void
test_checkpoint_rotation_then_clean_reopen (void **state)
{
  struct fixture *fx = *state;
  struct model *m = calloc (1, sizeof *m);

  assert_non_null (m);
  close_pool (fx);
  fx->pool = ut_pool_open (fx->dir, 4096, 0);
  create (fx, "rot", RV_SIZE);
  if (rotation_workload (fx->pool, m, 42) == -1)
    fail_msg ("workload: %s", sv_errmsg ());
  assert_model (fx->pool, m);
  /* Checkpoints ran during the workload, not only at close. */
  assert_true (checkpoint_jfirst (fx, "rot") > 10);

  close_pool (fx);
  fx->pool = ut_pool_open (fx->dir, 4096, 0);
  assert_model (fx->pool, m);
  close_pool (fx);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_model (fx->pool, m);
  model_free (m);
}

struct rotation_job {
  const char *dir;
  unsigned seed;
};

static int
child_rotation (void *arg)
{
  struct rotation_job *job = arg;
  struct sv_pool_options opts = { .checkpoint_bytes = 4096 };
  struct sv_pool *pool = pool_open (job->dir, &opts, 0);
  struct model *m = calloc (1, sizeof *m);

  ut_child_check (pool != NULL, "pool_open");
  ut_child_check (m != NULL, "calloc");
  ut_child_check (rotation_workload (pool, m, job->seed) == 0, "workload");
  return 0;
}

static void
test_checkpoint_rotation_then_crash (void **state)
{
  struct fixture *fx = *state;
  struct rotation_job job = { fx->dir, 4242 };
  struct model *m = calloc (1, sizeof *m);

  assert_non_null (m);
  create (fx, "rot", RV_SIZE);
  close_pool (fx);
  ut_run_child (child_rotation, &job);
  assert_true (rotation_workload (NULL, m, job.seed) == 0);
  assert_true (checkpoint_jfirst (fx, "rot") > 10);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_model (fx->pool, m);
  model_free (m);
}

static void
test_leftover_journal_below_checkpoint_is_ignored (void **state)
{
  struct fixture *fx = *state;
  struct rotation_job job = { fx->dir, 99 };
  struct model *m = calloc (1, sizeof *m);
  char path[4096];
  uint8_t junk[3 * SV_BLOCK];
  uint64_t jfirst;

  /* Crash between checkpoint steps 4 and 5: the old file is still
   * there.  Garbage in it proves it is not read. */
  assert_non_null (m);
  create (fx, "rot", RV_SIZE);
  close_pool (fx);
  ut_run_child (child_rotation, &job);
  assert_true (rotation_workload (NULL, m, job.seed) == 0);
  jfirst = checkpoint_jfirst (fx, "rot");
  assert_true (jfirst > 1);
  ut_volume_file (path, sizeof path, fx->dir, "rot", "");
  snprintf (path + strlen (path), sizeof path - strlen (path),
            "journal.%016" PRIx64, jfirst - 1);
  ut_pattern (junk, sizeof junk, 0, 3);
  ut_file_write (path, junk, sizeof junk, 0);
  /* And a checkpoint.new that was never renamed into place. */
  ut_volume_file (path, sizeof path, fx->dir, "rot", "checkpoint.new");
  ut_file_write (path, junk, 100, 0);

  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_model (fx->pool, m);
  close_pool (fx);
  fx->pool = ut_pool_open (fx->dir, 0, 0);
  assert_model (fx->pool, m);
  model_free (m);
}

int
main (void)
{
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_reopen_after_clean_close_preserves_everything),
    T (test_crash_after_flush_keeps_every_flushed_write),
    T (test_torn_tail_garbage_appended_is_cut),
    T (test_torn_tail_zeroes_appended_are_cut),
    T (test_torn_tail_truncated_mid_record_is_cut),
    T (test_torn_tail_flipped_byte_in_last_record_is_cut),
    T (test_torn_tail_flipped_byte_in_record_header_is_cut),
    T (test_flipped_byte_in_acknowledged_record_is_refused),
    T (test_flipped_byte_in_middle_record_is_refused),
    T (test_truncated_acknowledged_journal_is_refused),
    T (test_torn_tail_before_empty_next_journal_is_cut),
    T (test_torn_header_of_new_journal_file_is_dropped),
    T (test_flipped_byte_in_superblock_fails_eilseq),
    T (test_flipped_byte_in_checkpoint_header_fails_eilseq),
    T (test_flipped_byte_in_checkpoint_body_fails_eilseq),
    T (test_flipped_byte_in_pool_header_fails_eilseq),
    T (test_flipped_byte_in_journal_header_fails_eilseq),
    T (test_newer_format_versions_fail_eprotonosupport),
    T (test_checkpoint_rotation_then_clean_reopen),
    T (test_checkpoint_rotation_then_crash),
    T (test_leftover_journal_below_checkpoint_is_ignored),
  };
#undef T

  return cmocka_run_group_tests (tests, NULL, NULL);
}
