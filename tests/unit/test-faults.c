/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-faults.c: I/O error injection.  A storage layer wrapping the
 * POSIX one fails chosen operations (a data write, a journal write or
 * sync, a data sync, a checkpoint rename, a punch ...) with EIO or
 * ENOSPC, and the tests check what the engine promises:
 *   - the error reaches the caller: -1 with that errno and a message
 *     naming the volume (and the call that failed);
 *   - metadata stays consistent: the pool reopens and every
 *     acknowledged byte and snapshot is intact;
 *   - a failed data write or journal write costs only that request or
 *     flush: once the fault is gone the volume works again without a
 *     reopen, and no snapshot is deleted to make room;
 *   - a failed fdatasync of the data file stops the volume (EIO) until
 *     the pool is reopened (docs/design.md, "Flush");
 *   - a snapshot creation that fails leaves no snapshot of its set.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool.h"
#include "unit-helpers.h"

/* The fault-injecting storage layer. */

enum fop {
  F_PWRITE, F_SYNC, F_PUNCH, F_TRUNCATE, F_RENAME, F_UNLINK, F_SYNCDIR,
  F_CREATE,                     /* open with O_CREAT */
};

#define MAX_HANDLES 4096
#define MAX_RULES 4

struct rule {
  enum fop op;
  const char *match;            /* a substring of the path, or NULL */
  int err;
  unsigned skip;                /* matching operations let through first */
  unsigned count;               /* failures to inject; 0: until cleared */
  unsigned hits;                /* failures injected */
};

static struct {
  pthread_mutex_t mu;
  char *path[MAX_HANDLES];      /* what each handle opened */
  struct rule rule[MAX_RULES];
  unsigned nrules;
} fi = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Add a rule: fail operations OP on paths containing MATCH (NULL: any)
 * with ERR, after letting SKIP of them through, COUNT times (0: until
 * fault_clear).  The first rule that matches an operation decides. */
static void
fault_add (enum fop op, const char *match, int err, unsigned skip,
           unsigned count)
{
  pthread_mutex_lock (&fi.mu);
  assert_true (fi.nrules < MAX_RULES);
  fi.rule[fi.nrules++] = (struct rule) {
    .op = op, .match = match, .err = err, .skip = skip, .count = count,
  };
  pthread_mutex_unlock (&fi.mu);
}

static unsigned
hits_locked (void)
{
  unsigned i, hits = 0;

  for (i = 0; i < fi.nrules; i++)
    hits += fi.rule[i].hits;
  return hits;
}

/* Space comes back, the disk heals.  Returns the failures injected. */
static unsigned
fault_clear (void)
{
  unsigned hits;

  pthread_mutex_lock (&fi.mu);
  hits = hits_locked ();
  fi.nrules = 0;
  pthread_mutex_unlock (&fi.mu);
  return hits;
}

/* Replace every rule by one. */
static void
fault_arm (enum fop op, const char *match, int err, unsigned skip,
           unsigned count)
{
  fault_clear ();
  fault_add (op, match, err, skip, count);
}

static unsigned
fault_hits (void)
{
  unsigned hits;

  pthread_mutex_lock (&fi.mu);
  hits = hits_locked ();
  pthread_mutex_unlock (&fi.mu);
  return hits;
}

/* Should operation OP on PATH fail?  Sets errno when it should. */
static int
inject (enum fop op, const char *path)
{
  unsigned i;
  int r = 0;

  pthread_mutex_lock (&fi.mu);
  for (i = 0; i < fi.nrules && path; i++) {
    struct rule *ru = &fi.rule[i];
    if (ru->op != op || (ru->match && strstr (path, ru->match) == NULL) ||
        (ru->count != 0 && ru->hits >= ru->count))
      continue;
    if (ru->skip > 0)
      ru->skip--;
    else {
      ru->hits++;
      errno = ru->err;
      r = 1;
    }
    break;
  }
  pthread_mutex_unlock (&fi.mu);
  return r;
}

static const char *
handle_path (int h)
{
  return h >= 0 && h < MAX_HANDLES ? fi.path[h] : NULL;
}

#define PX sio_posix.ops
#define PXO sio_posix.opaque

static int
f_open (void *o, const char *path, int flags, mode_t mode)
{
  int h;

  if ((flags & O_CREAT) && inject (F_CREATE, path))
    return -1;
  h = PX->open (PXO, path, flags, mode);
  if (h >= 0 && h < MAX_HANDLES) {
    pthread_mutex_lock (&fi.mu);
    free (fi.path[h]);
    fi.path[h] = strdup (path);
    pthread_mutex_unlock (&fi.mu);
  }
  return h;
}

static int
f_close (void *o, int h)
{
  if (h >= 0 && h < MAX_HANDLES) {
    pthread_mutex_lock (&fi.mu);
    free (fi.path[h]);
    fi.path[h] = NULL;
    pthread_mutex_unlock (&fi.mu);
  }
  return PX->close (PXO, h);
}

static ssize_t
f_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  if (inject (F_PWRITE, handle_path (h)))
    return -1;
  return PX->pwrite (PXO, h, buf, n, off);
}

static int
f_sync (void *o, int h)
{
  if (inject (F_SYNC, handle_path (h)))
    return -1;
  return PX->sync (PXO, h);
}

static int
f_punch (void *o, int h, uint64_t off, uint64_t len)
{
  if (inject (F_PUNCH, handle_path (h)))
    return -1;
  return PX->punch (PXO, h, off, len);
}

static int
f_truncate (void *o, int h, uint64_t size)
{
  if (inject (F_TRUNCATE, handle_path (h)))
    return -1;
  return PX->truncate (PXO, h, size);
}

static int
f_rename (void *o, const char *from, const char *to)
{
  if (inject (F_RENAME, to))
    return -1;
  return PX->rename (PXO, from, to);
}

static int
f_unlink (void *o, const char *path)
{
  if (inject (F_UNLINK, path))
    return -1;
  return PX->unlink (PXO, path);
}

static int
f_syncdir (void *o, const char *path)
{
  if (inject (F_SYNCDIR, path))
    return -1;
  return PX->syncdir (PXO, path);
}

static struct sv_io_ops fault_ops;
static const struct sv_io fault_io = { &fault_ops, NULL };

static void __attribute__((constructor))
fault_init (void)
{
  fault_ops = *sio_posix.ops;
  fault_ops.open = f_open;
  fault_ops.close = f_close;
  fault_ops.pwrite = f_pwrite;
  fault_ops.sync = f_sync;
  fault_ops.punch = f_punch;
  fault_ops.truncate = f_truncate;
  fault_ops.rename = f_rename;
  fault_ops.unlink = f_unlink;
  fault_ops.syncdir = f_syncdir;
}

/* Fixtures. */

#define VOL "faulty"
#define OTHER "bystander"
#define VOL_SIZE (1024 * KiB)
#define CLUSTER (64 * KiB)

struct fx {
  char *dir;
  struct sv_pool *pool;
  uint64_t checkpoint_bytes;
};

static struct sv_pool *
open_pool (struct fx *fx, int create)
{
  struct sv_pool_options opts = {
    .io = &fault_io, .checkpoint_bytes = fx->checkpoint_bytes,
  };

  return ut_pool_open_opts (fx->dir, &opts, create);
}

static void
reopen (struct fx *fx)
{
  ut_pool_close (fx->pool);
  fx->pool = open_pool (fx, 0);
}

static int
setup_ckpt (void **state, uint64_t checkpoint_bytes)
{
  struct fx *fx = calloc (1, sizeof *fx);

  assert_non_null (fx);
  fault_clear ();
  fx->dir = ut_mkdtemp ();
  fx->checkpoint_bytes = checkpoint_bytes;
  fx->pool = open_pool (fx, 1);
  assert_int_equal (pool_volume_create (fx->pool, VOL, VOL_SIZE, CLUSTER), 0);
  assert_int_equal (pool_volume_create (fx->pool, OTHER, VOL_SIZE, CLUSTER),
                    0);
  *state = fx;
  return 0;
}

static int
setup (void **state)
{
  return setup_ckpt (state, 0);
}

/* A journal small enough that a flush or two writes a checkpoint. */
static int
setup_small_journal (void **state)
{
  return setup_ckpt (state, 4096);
}

static int
teardown (void **state)
{
  struct fx *fx = *state;

  fault_clear ();
  if (fx->pool)
    pool_close (fx->pool);
  ut_rmtree (fx->dir);
  free (fx->dir);
  free (fx);
  return 0;
}

/* -1 with errno ERR and a message naming the volume. */
#define assert_fails_naming(expr, err, name)  \
  do {                                        \
    assert_fails_with ((expr), (err));        \
    assert_errmsg_names (name);               \
  } while (0)

static void
write_pattern (struct sv_pool *pool, const char *name, uint64_t off,
               uint32_t len, uint32_t seed)
{
  struct sv_view *v = ut_view_open (pool, name);

  ut_write_pattern (v, off, len, seed, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
}

static void
check_pattern (struct sv_pool *pool, const char *export, uint64_t off,
               uint32_t len, uint32_t seed)
{
  struct sv_view *v = ut_view_open (pool, export);

  assert_pattern (v, off, len, seed);
  view_close (v);
}

static void
snapshot_export (char *buf, size_t len, const char *name, const char *id)
{
  snprintf (buf, len, "%s@%s", name, id);
}

/* Data writes. */

/* ENOSPC from the data file: each write fails with ENOSPC, reads,
 * flushes and trims go on, nothing else changes, no snapshot is
 * deleted to make room; when space comes back writes work again, with
 * no reopen. */
static void
test_enospc_on_data_write_fails_writes_until_space_returns (void **state)
{
  struct fx *fx = *state;
  char id[SV_UUID_STRLEN + 1], snap[128];
  uint8_t buf[8192];
  struct sv_view *v;

  write_pattern (fx->pool, VOL, 0, 256 * KiB, 1);
  ut_snapshot (fx->pool, VOL, id);
  snapshot_export (snap, sizeof snap, VOL, id);
  write_pattern (fx->pool, VOL, 0, 64 * KiB, 2);    /* copied on write */

  v = ut_view_open (fx->pool, VOL);
  fault_arm (F_PWRITE, "/data", ENOSPC, 0, 0);
  ut_pattern (buf, sizeof buf, 128 * KiB, 3);
  /* Copy-on-write into a new cluster, in place, FUA, the data edges of
   * a write-zeroes. */
  assert_fails_naming (view_pwrite (v, buf, sizeof buf, 128 * KiB, 0),
                       ENOSPC, VOL);
  assert_fails_naming (view_pwrite (v, buf, 4096, 0, 0), ENOSPC, VOL);
  assert_fails_naming (view_pwrite (v, buf, 4096, 512 * KiB, 1), ENOSPC,
                       VOL);
  assert_fails_naming (view_zero (v, 6000, 100, 0, 0, 0), ENOSPC, VOL);
  assert_true (fault_hits () >= 4);
  /* What needs no data space still works: flush, and trim (which frees
   * space). */
  assert_int_equal (view_flush (v), 0);
  assert_int_equal (view_trim (v, 64 * KiB, 192 * KiB, 0), 0);
  assert_int_equal (view_flush (v), 0);
  assert_pattern (v, 0, 64 * KiB, 2);
  assert_pattern (v, 64 * KiB, 128 * KiB, 1);
  assert_zero (v, 192 * KiB, 64 * KiB);
  assert_zero (v, 512 * KiB, 4096);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 1);
  check_pattern (fx->pool, snap, 0, 256 * KiB, 1);

  /* Space is back: the same volume, no reopen. */
  fault_clear ();
  assert_int_equal (view_pwrite (v, buf, sizeof buf, 128 * KiB, 0), 0);
  assert_int_equal (view_flush (v), 0);
  assert_view_reads (v, 128 * KiB, sizeof buf, buf);
  view_close (v);

  reopen (fx);
  v = ut_view_open (fx->pool, VOL);
  assert_pattern (v, 0, 64 * KiB, 2);
  assert_pattern (v, 64 * KiB, 64 * KiB, 1);
  assert_view_reads (v, 128 * KiB, sizeof buf, buf);
  assert_pattern (v, 136 * KiB, 56 * KiB, 1);
  assert_zero (v, 192 * KiB, 64 * KiB);
  view_close (v);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 1);
  check_pattern (fx->pool, snap, 0, 256 * KiB, 1);
}

/* EIO from one data write fails that write only: the volume is not
 * stopped (nothing was acknowledged that the disk might have lost). */
static void
test_eio_on_data_write_fails_only_that_write (void **state)
{
  struct fx *fx = *state;
  struct sv_view *v;

  write_pattern (fx->pool, VOL, 0, 128 * KiB, 1);
  v = ut_view_open (fx->pool, VOL);
  fault_arm (F_PWRITE, "/data", EIO, 0, 1);
  {
    uint8_t buf[4096];
    ut_pattern (buf, sizeof buf, 4096, 2);
    assert_fails_naming (view_pwrite (v, buf, sizeof buf, 4096, 0), EIO,
                         VOL);
  }
  assert_int_equal (fault_clear (), 1);
  assert_pattern (v, 0, 128 * KiB, 1);
  ut_write_pattern (v, 4096, 4096, 3, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  reopen (fx);
  check_pattern (fx->pool, VOL, 0, 4096, 1);
  check_pattern (fx->pool, VOL, 4096, 4096, 3);
  check_pattern (fx->pool, VOL, 8192, 120 * KiB, 1);
}

/* Data sync. */

/* A failed fdatasync of the data file stops the volume: the flush
 * fails with EIO, and every later write, zero, trim, flush and
 * snapshot of that volume fails with EIO even though the disk has
 * healed, until the pool is reopened; other volumes go on.  After the
 * reopen, what was flushed before is intact and the volume works. */
static void
test_failed_data_sync_stops_the_volume_until_reopen (void **state)
{
  struct fx *fx = *state;
  const char *vols[1] = { VOL };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;
  uint8_t buf[4096], head[4096], a[4096], b[4096];
  struct sv_view *v;

  write_pattern (fx->pool, VOL, 0, 128 * KiB, 1);
  v = ut_view_open (fx->pool, VOL);
  ut_write_pattern (v, 0, 4096, 2, NULL);          /* not yet flushed */
  fault_arm (F_SYNC, VOL "/data", EIO, 0, 1);
  assert_fails_naming (view_flush (v), EIO, VOL);
  assert_errmsg_names ("fdatasync");
  assert_int_equal (fault_clear (), 1);

  ut_pattern (buf, sizeof buf, 8192, 3);
  assert_fails_naming (view_pwrite (v, buf, sizeof buf, 8192, 0), EIO, VOL);
  assert_fails_naming (view_zero (v, 4096, 8192, 0, 0, 0), EIO, VOL);
  assert_fails_naming (view_trim (v, 4096, 8192, 0), EIO, VOL);
  assert_fails_naming (view_flush (v), EIO, VOL);
  assert_int_equal (pool_snapshot_create (fx->pool, vols, 1, NULL, NULL, set,
                                          &res), -1);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  view_close (v);

  /* Another volume of the pool is not affected. */
  write_pattern (fx->pool, OTHER, 0, 64 * KiB, 4);
  check_pattern (fx->pool, OTHER, 0, 64 * KiB, 4);

  reopen (fx);
  v = ut_view_open (fx->pool, VOL);
  /* The unflushed write is there or not; everything flushed is. */
  assert_int_equal (view_pread (v, head, sizeof head, 0), 0);
  ut_pattern (a, sizeof a, 0, 1);
  ut_pattern (b, sizeof b, 0, 2);
  assert_true (memcmp (head, a, sizeof a) == 0 ||
               memcmp (head, b, sizeof b) == 0);
  assert_pattern (v, 4096, 124 * KiB, 1);
  ut_write_pattern (v, 8192, 4096, 5, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  reopen (fx);
  check_pattern (fx->pool, VOL, 8192, 4096, 5);
  check_pattern (fx->pool, OTHER, 0, 64 * KiB, 4);
}

/* docs/design.md: once stopped, "every later request fails with EIO (the
 * page cache can no longer be trusted)".  Reads are requests too. */
static void
test_stopped_volume_fails_reads_too (void **state)
{
  struct fx *fx = *state;
  uint8_t buf[4096];
  struct sv_view *v;

  write_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  v = ut_view_open (fx->pool, VOL);
  ut_write_pattern (v, 0, 4096, 2, NULL);
  fault_arm (F_SYNC, VOL "/data", EIO, 0, 1);
  assert_fails_with (view_flush (v), EIO);
  fault_clear ();
  assert_fails_naming (view_pread (v, buf, sizeof buf, 0), EIO, VOL);
  view_close (v);
}

/* A failed data sync during a snapshot creation: the creation fails
 * with EIO, no snapshot is left, and after a reopen none comes back. */
static void
test_data_sync_failure_fails_snapshot_creation (void **state)
{
  struct fx *fx = *state;
  const char *vols[1] = { VOL };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;

  write_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  fault_arm (F_SYNC, VOL "/data", EIO, 0, 1);
  assert_fails_naming (pool_snapshot_create (fx->pool, vols, 1, "x", NULL,
                                             set, &res), EIO, VOL);
  fault_clear ();
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  reopen (fx);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  check_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
}

/* Journal. */

/* A journal write or sync that fails fails the flush (or the FUA write)
 * with its errno; the records stay buffered and the next flush, once
 * the disk has healed, makes them durable.  The volume is not stopped. */
static void
journal_fault_then_retry (struct fx *fx, enum fop op, int err)
{
  uint8_t buf[4096];
  struct sv_view *v = ut_view_open (fx->pool, VOL);

  ut_write_pattern (v, 0, 64 * KiB, 1, NULL);
  fault_arm (op, VOL "/journal.", err, 0, 0);
  assert_fails_naming (view_flush (v), err, VOL);
  assert_errmsg_names ("journal.");
  ut_pattern (buf, sizeof buf, 128 * KiB, 2);
  assert_fails_naming (view_pwrite (v, buf, sizeof buf, 128 * KiB, 1), err,
                       VOL);
  assert_fails_naming (view_zero (v, 64 * KiB, 256 * KiB, 0, 0, 1), err,
                       VOL);
  assert_fails_naming (view_flush (v), err, VOL);
  /* The page cache still serves what was written. */
  assert_pattern (v, 0, 64 * KiB, 1);
  assert_view_reads (v, 128 * KiB, sizeof buf, buf);
  assert_true (fault_clear () >= 4);

  assert_int_equal (view_flush (v), 0);
  ut_write_pattern (v, 512 * KiB, 4096, 3, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  reopen (fx);
  check_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  check_pattern (fx->pool, VOL, 128 * KiB, 4096, 2);
  check_pattern (fx->pool, VOL, 512 * KiB, 4096, 3);
  v = ut_view_open (fx->pool, VOL);
  assert_zero (v, 256 * KiB, 64 * KiB);
  view_close (v);
}

static void
test_journal_write_eio_fails_flush_and_is_retried (void **state)
{
  journal_fault_then_retry (*state, F_PWRITE, EIO);
}

static void
test_journal_write_enospc_fails_flush_and_is_retried (void **state)
{
  journal_fault_then_retry (*state, F_PWRITE, ENOSPC);
}

static void
test_journal_sync_eio_fails_flush_and_is_retried (void **state)
{
  journal_fault_then_retry (*state, F_SYNC, EIO);
}

/* Snapshot creation whose journal sync fails: -1 with EIO, and no
 * snapshot of the set remains, in memory or after a reopen. */
static void
test_journal_failure_fails_snapshot_creation_and_leaves_none (void **state)
{
  struct fx *fx = *state;
  const char *vols[1] = { VOL };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;

  write_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  fault_arm (F_SYNC, VOL "/journal.", EIO, 0, 0);
  assert_fails_naming (pool_snapshot_create (fx->pool, vols, 1, "x", NULL,
                                             set, &res), EIO, VOL);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  fault_clear ();
  write_pattern (fx->pool, VOL, 64 * KiB, 64 * KiB, 2);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  reopen (fx);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  check_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  check_pattern (fx->pool, VOL, 64 * KiB, 64 * KiB, 2);
}

/* The same, but the disk heals only after the pool was closed (the
 * close's own flush fails too): the failed creation must not come back
 * when the pool is opened again. */
static void
test_failed_snapshot_creation_stays_failed_across_close (void **state)
{
  struct fx *fx = *state;
  const char *vols[1] = { VOL };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;

  write_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  fault_arm (F_SYNC, VOL "/journal.", EIO, 0, 0);
  assert_fails_with (pool_snapshot_create (fx->pool, vols, 1, "x", NULL, set,
                                           &res), EIO);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  assert_int_equal (pool_close (fx->pool), -1);
  fx->pool = NULL;
  fault_clear ();
  fx->pool = open_pool (fx, 0);
  if (ut_snapshot_count (fx->pool, VOL) != 0)
    fail_msg ("snapshot set %s, whose creation failed with EIO, exists"
              " after the pool was reopened", set);
  check_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
}

/* Two faults in a row: the journal sync fails after the snapshot's
 * record was written (the bytes may be on disk, the sync said nothing
 * about them), then every journal write fails until after the pool was
 * closed, so the record that cancels the snapshot cannot be written.
 * As with any write whose flush failed, the creation may or may not
 * have reached the disk (pool.h): after a reopen the set is either
 * absent or whole, reads exactly its pinned content, and is deleted by
 * its set id (what the coordinator does with every failed set). */
static void
test_snapshot_whose_cancellation_cannot_be_journaled_comes_back_whole
  (void **state)
{
  struct fx *fx = *state;
  const char *vols[1] = { VOL };
  char set[SV_UUID_STRLEN + 1], exp[128];
  struct sv_snap_result res;
  int n;

  write_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  fault_arm (F_SYNC, VOL "/journal.", EIO, 0, 1);
  fault_add (F_PWRITE, VOL "/journal.", EIO, 1, 0);
  assert_fails_with (pool_snapshot_create (fx->pool, vols, 1, "x", NULL, set,
                                           &res), EIO);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  assert_int_equal (pool_close (fx->pool), -1);
  fx->pool = NULL;
  assert_true (fault_clear () >= 3);
  fx->pool = open_pool (fx, 0);
  n = ut_snapshot_count (fx->pool, VOL);
  assert_true (n == 0 || n == 1);
  if (n == 1) {
    snapshot_export (exp, sizeof exp, VOL, set);
    check_pattern (fx->pool, exp, 0, 64 * KiB, 1);
    assert_int_equal (pool_snapshot_delete (fx->pool, set, NULL), 0);
    assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  }
  check_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  write_pattern (fx->pool, VOL, 0, 4096, 3);
  reopen (fx);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  check_pattern (fx->pool, VOL, 0, 4096, 3);
  check_pattern (fx->pool, VOL, 4096, 60 * KiB, 1);
}

/* A set over two volumes whose second volume's journal fails: the
 * creation fails and neither volume keeps a snapshot of the set, even
 * the one whose flush succeeded. */
static void
test_set_creation_failing_on_one_volume_leaves_no_snapshot (void **state)
{
  struct fx *fx = *state;
  const char *vols[2] = { OTHER, VOL };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res[2];

  write_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  write_pattern (fx->pool, OTHER, 0, 64 * KiB, 2);
  fault_arm (F_PWRITE, VOL "/journal.", ENOSPC, 0, 0);
  assert_fails_naming (pool_snapshot_create (fx->pool, vols, 2, NULL, NULL,
                                             set, res), ENOSPC, VOL);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  assert_int_equal (ut_snapshot_count (fx->pool, OTHER), 0);
  fault_clear ();
  reopen (fx);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  assert_int_equal (ut_snapshot_count (fx->pool, OTHER), 0);
  check_pattern (fx->pool, VOL, 0, 64 * KiB, 1);
  check_pattern (fx->pool, OTHER, 0, 64 * KiB, 2);
}

/* Checkpoints. */

static void
checkpoint_fault (struct fx *fx, enum fop op, const char *match, int err)
{
  struct sv_view *v = ut_view_open (fx->pool, VOL);
  uint32_t i;
  int failed = 0;

  /* Enough records to pass the 4 KiB journal limit at the flush. */
  fault_arm (op, match, err, 0, 1);
  for (i = 0; i < 160 && fault_hits () == 0; i++) {
    ut_write_pattern (v, (uint64_t) i * 4096, 4096, 1, NULL);
    if (i % 16 == 15 && view_flush (v) == -1) {
      assert_int_equal (errno, err);
      assert_errmsg_names (VOL);
      failed = 1;
    }
  }
  assert_int_equal (fault_clear (), 1);
  assert_true (failed);
  /* Not stopped: the next flushes checkpoint for real. */
  for (; i < 200; i++)
    ut_write_pattern (v, (uint64_t) i * 4096, 4096, 1, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  reopen (fx);
  check_pattern (fx->pool, VOL, 0, 200 * 4096, 1);
}

static void
test_checkpoint_rename_failure_fails_flush_and_loses_nothing (void **state)
{
  checkpoint_fault (*state, F_RENAME, VOL "/checkpoint", EIO);
}

static void
test_checkpoint_write_enospc_fails_flush_and_loses_nothing (void **state)
{
  checkpoint_fault (*state, F_PWRITE, VOL "/checkpoint.new", ENOSPC);
}

static void
test_new_journal_file_failure_fails_flush_and_loses_nothing (void **state)
{
  checkpoint_fault (*state, F_CREATE, VOL "/journal.", ENOSPC);
}

static void
test_checkpoint_dirsync_failure_fails_flush_and_loses_nothing (void **state)
{
  checkpoint_fault (*state, F_SYNCDIR, VOL, EIO);
}

/* Punches are best effort: a failing punch (EIO) neither fails a
 * snapshot deletion nor loses data. */
static void
test_failing_punch_does_not_fail_deletion (void **state)
{
  struct fx *fx = *state;
  char id[SV_UUID_STRLEN + 1];

  write_pattern (fx->pool, VOL, 0, 256 * KiB, 1);
  ut_snapshot (fx->pool, VOL, id);
  write_pattern (fx->pool, VOL, 0, 256 * KiB, 2);
  fault_arm (F_PUNCH, NULL, EIO, 0, 0);
  assert_int_equal (pool_snapshot_delete (fx->pool, id, NULL), 0);
  assert_true (fault_clear () > 0);
  check_pattern (fx->pool, VOL, 0, 256 * KiB, 2);
  reopen (fx);
  assert_int_equal (ut_snapshot_count (fx->pool, VOL), 0);
  check_pattern (fx->pool, VOL, 0, 256 * KiB, 2);
}

/* Volume creation that runs out of space fails with ENOSPC, leaves no
 * volume and no leftover, and succeeds once space is back. */
static void
test_volume_creation_enospc_leaves_nothing (void **state)
{
  struct fx *fx = *state;
  static const enum fop ops[] = { F_CREATE, F_PWRITE, F_SYNCDIR, F_RENAME };
  struct sv_volume_info *vi = NULL;
  size_t i, n;

  for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    fault_arm (ops[i], "/volumes/", ENOSPC, 0, 1);
    assert_fails_naming (pool_volume_create (fx->pool, "newvol", MiB, 0),
                         ENOSPC, "newvol");
    assert_int_equal (fault_clear (), 1);
    assert_int_equal (pool_volume_list (fx->pool, NULL, &vi, &n), 0);
    free (vi);
    assert_int_equal (n, 2);
  }
  reopen (fx);
  assert_int_equal (pool_volume_list (fx->pool, NULL, &vi, &n), 0);
  free (vi);
  assert_int_equal (n, 2);
  assert_int_equal (pool_volume_create (fx->pool, "newvol", MiB, 0), 0);
  write_pattern (fx->pool, "newvol", 0, 64 * KiB, 1);
  reopen (fx);
  check_pattern (fx->pool, "newvol", 0, 64 * KiB, 1);
}

int
main (void)
{
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
#define TS(fn) cmocka_unit_test_setup_teardown (fn, setup_small_journal, \
                                                teardown)
  const struct CMUnitTest tests[] = {
    T (test_enospc_on_data_write_fails_writes_until_space_returns),
    T (test_eio_on_data_write_fails_only_that_write),
    T (test_failed_data_sync_stops_the_volume_until_reopen),
    T (test_stopped_volume_fails_reads_too),
    T (test_data_sync_failure_fails_snapshot_creation),
    T (test_journal_write_eio_fails_flush_and_is_retried),
    T (test_journal_write_enospc_fails_flush_and_is_retried),
    T (test_journal_sync_eio_fails_flush_and_is_retried),
    T (test_journal_failure_fails_snapshot_creation_and_leaves_none),
    T (test_failed_snapshot_creation_stays_failed_across_close),
    T (test_snapshot_whose_cancellation_cannot_be_journaled_comes_back_whole),
    T (test_set_creation_failing_on_one_volume_leaves_no_snapshot),
    TS (test_checkpoint_rename_failure_fails_flush_and_loses_nothing),
    TS (test_checkpoint_write_enospc_fails_flush_and_loses_nothing),
    TS (test_new_journal_file_failure_fails_flush_and_loses_nothing),
    TS (test_checkpoint_dirsync_failure_fails_flush_and_loses_nothing),
    T (test_failing_punch_does_not_fail_deletion),
    T (test_volume_creation_enospc_leaves_nothing),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
