/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-enospc-meta.c: a filesystem with no space left for a volume's
 * metadata.  A storage layer over crashsim (crashsim.h) plays the full
 * disk: once "full", nothing can be created, no space reserved, and no
 * file grown past what it holds or has reserved (the data file keeps
 * its space, so that the journal is what runs out).  The engine
 * reserves journal space ahead (journal.h, "Space"); the tests check
 * what docs/reliability.md promises:
 *   - a write, zero or trim that needs a journal record fails with
 *     ENOSPC, naming the volume, and changes nothing;
 *   - the volume is not stopped: reads, flushes, writes that change no
 *     bitmap, a snapshot (from the reserved headroom) and its deletion
 *     go on; earlier data and snapshots are intact;
 *   - once space is back, the same writes work without a reopen, and
 *     everything survives a reopen;
 *   - a checkpoint that cannot get space fails its flush with ENOSPC,
 *     keeps the journal it would have replaced, and runs once space is
 *     back;
 *   - a power loss at any operation of all this recovers: every block
 *     reads a value written to it since its last flush (or the one
 *     flushed), snapshots are exact;
 *   - a failed fdatasync of the data file stops the volume, and the
 *     error says how to recover.
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

#include <cmocka.h>

#include "crashsim.h"
#include "errmsg.h"
#include "pool.h"
#include "unit-helpers.h"

#define POOL "/pool"
#define VOL "v"
#define VSIZE (2 * MiB)
#define BLK 4096u
#define NBLK (VSIZE / BLK)
#define HOT (256)                 /* the blocks the workload churns: 1 MiB */
#define SEED_A 1                  /* [0, 1 MiB) before the first snapshot */
#define SEED_E 63                 /* [1 MiB, 2 MiB), never touched again */
#define MAX_HANDLES 256

/* The full disk. */

struct resv {
  char *path;
  uint64_t end;                 /* reserved up to here */
};

static struct {
  struct sv_io io;
  struct sv_io_ops ops;
  const struct sv_io *inner;
  struct crashsim *cs;
  pthread_mutex_t mu;
  int full;
  int data_sync_err;
  unsigned enospc;              /* failures injected */
  char *hpath[MAX_HANDLES];
  struct resv resv[64];
  size_t nresv;
} sp = { .mu = PTHREAD_MUTEX_INITIALIZER };

#define IN sp.inner->ops
#define INO sp.inner->opaque

static struct resv *
resv_of (const char *path, int add)
{
  size_t i;

  for (i = 0; i < sp.nresv; i++)
    if (strcmp (sp.resv[i].path, path) == 0)
      return &sp.resv[i];
  if (!add)
    return NULL;
  assert_true (sp.nresv < sizeof sp.resv / sizeof sp.resv[0]);
  sp.resv[sp.nresv].path = strdup (path);
  assert_non_null (sp.resv[sp.nresv].path);
  sp.resv[sp.nresv].end = 0;
  return &sp.resv[sp.nresv++];
}

static void
resv_drop (const char *path)
{
  struct resv *r = resv_of (path, 0);

  if (r) {
    free (r->path);
    *r = sp.resv[--sp.nresv];
  }
}

static int
no_space (void)
{
  sp.enospc++;
  errno = ENOSPC;
  return -1;
}

static int
sp_open (void *o, const char *path, int flags, mode_t mode)
{
  uint64_t size, alloc;
  int h;

  pthread_mutex_lock (&sp.mu);
  if (sp.full && (flags & O_CREAT) &&
      crashsim_file_info (sp.cs, path, &size, &alloc) == -1) {
    pthread_mutex_unlock (&sp.mu);
    return no_space ();
  }
  pthread_mutex_unlock (&sp.mu);
  h = IN->open (INO, path, flags, mode);
  if (h >= 0) {
    assert_true (h < MAX_HANDLES);
    pthread_mutex_lock (&sp.mu);
    free (sp.hpath[h]);
    sp.hpath[h] = strdup (path);
    pthread_mutex_unlock (&sp.mu);
  }
  return h;
}

static int
sp_close (void *o, int h)
{
  pthread_mutex_lock (&sp.mu);
  free (sp.hpath[h]);
  sp.hpath[h] = NULL;
  pthread_mutex_unlock (&sp.mu);
  return IN->close (INO, h);
}

static int
is_data (const char *path)
{
  size_t n = strlen (path);

  return n >= 5 && strcmp (path + n - 5, "/data") == 0;
}

/* A write needs space it does not have if it goes past both the end of
 * the file and what was reserved for it.  The data file always has
 * room: these tests run the journal out of space. */
static ssize_t
sp_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  pthread_mutex_lock (&sp.mu);
  if (sp.full && !is_data (sp.hpath[h])) {
    struct resv *r = resv_of (sp.hpath[h], 0);
    uint64_t size = 0, end = r ? r->end : 0;
    IN->size (INO, h, &size);
    if (size > end)
      end = size;
    if (off + n > end) {
      pthread_mutex_unlock (&sp.mu);
      return no_space ();
    }
  }
  pthread_mutex_unlock (&sp.mu);
  return IN->pwrite (INO, h, buf, n, off);
}

static int
sp_allocate (void *o, int h, uint64_t off, uint64_t len)
{
  struct resv *r;

  pthread_mutex_lock (&sp.mu);
  if (sp.full) {
    pthread_mutex_unlock (&sp.mu);
    return no_space ();
  }
  r = resv_of (sp.hpath[h], 1);
  if (off + len > r->end)
    r->end = off + len;
  pthread_mutex_unlock (&sp.mu);
  return IN->allocate (INO, h, off, len);
}

static int
sp_sync (void *o, int h)
{
  pthread_mutex_lock (&sp.mu);
  if (sp.data_sync_err && is_data (sp.hpath[h])) {
    errno = sp.data_sync_err;
    pthread_mutex_unlock (&sp.mu);
    return -1;
  }
  pthread_mutex_unlock (&sp.mu);
  return IN->sync (INO, h);
}

/* Truncating frees what was reserved past the new end, as ext4 and xfs
 * do. */
static int
sp_truncate (void *o, int h, uint64_t size)
{
  struct resv *r;

  pthread_mutex_lock (&sp.mu);
  r = resv_of (sp.hpath[h], 0);
  if (r && r->end > size)
    r->end = size;
  pthread_mutex_unlock (&sp.mu);
  return IN->truncate (INO, h, size);
}

static int
sp_unlink (void *o, const char *path)
{
  pthread_mutex_lock (&sp.mu);
  resv_drop (path);
  pthread_mutex_unlock (&sp.mu);
  return IN->unlink (INO, path);
}

static void
space_init (struct crashsim *cs)
{
  size_t i;

  sp.cs = cs;
  sp.inner = crashsim_io (cs);
  sp.ops = *sp.inner->ops;
  sp.ops.open = sp_open;
  sp.ops.close = sp_close;
  sp.ops.pwrite = sp_pwrite;
  sp.ops.allocate = sp_allocate;
  sp.ops.sync = sp_sync;
  sp.ops.truncate = sp_truncate;
  sp.ops.unlink = sp_unlink;
  /* The operations not wrapped are crashsim's own, called with its
   * opaque; the wrappers use the globals. */
  sp.io.ops = &sp.ops;
  sp.io.opaque = sp.inner->opaque;
  sp.full = sp.data_sync_err = 0;
  sp.enospc = 0;
  for (i = 0; i < sp.nresv; i++)
    free (sp.resv[i].path);
  sp.nresv = 0;
}

static void
space_free (void)
{
  size_t i;

  for (i = 0; i < MAX_HANDLES; i++) {
    free (sp.hpath[i]);
    sp.hpath[i] = NULL;
  }
  for (i = 0; i < sp.nresv; i++)
    free (sp.resv[i].path);
  sp.nresv = 0;
}

static void
set_full (int full)
{
  pthread_mutex_lock (&sp.mu);
  sp.full = full;
  pthread_mutex_unlock (&sp.mu);
}

/* The model: per block, what a read returns now and the values it may
 * hold after a power loss (bit 0: zeroes; bit S: pattern S). */

enum s2state { S2_NONE, S2_CREATING, S2_OK, S2_DELETING, S2_GONE };

struct model {
  uint8_t cur[NBLK];
  uint64_t cand[NBLK];
  enum s2state s2;
  uint8_t s2val[NBLK];          /* the second snapshot's pinned content */
};

/* A crash image waiting for the call in progress to return. */
struct pending {
  struct crashsim *img;
  uint64_t op;
};

struct run {
  struct model m;
  struct crashsim *cs;
  struct sv_pool *pool;
  struct sv_view *view;
  uint64_t ckpt_bytes;
  char s1[SV_UUID_STRLEN + 1];
  uint64_t every;               /* crash point every EVERY operations */
  uint64_t seed;
  struct pending pend[64];
  size_t npend;
  uint64_t images, skipped;
  const char *call;             /* what the call in progress does */
};

static void
crash_hook (void *opaque, struct crashsim *cs, uint64_t op, const char *what)
{
  struct run *r = opaque;

  if (op % r->every != 0)
    return;
  if (r->npend == sizeof r->pend / sizeof r->pend[0]) {
    r->skipped++;
    return;
  }
  r->pend[r->npend].img = crashsim_crash (cs, ut_seed_derive (r->seed, op),
                                          CRASHSIM_RANDOM, NULL);
  r->pend[r->npend].op = op;
  r->npend++;
}

#define SECT 512u

/* Which value the 512-byte sector at OFF (BUF) holds: 0 for zeroes, S
 * for pattern S among CAND, or -1.  A sector, not a block: a write
 * that was not flushed may be torn at sector boundaries. */
static int
identify_sector (const uint8_t *buf, uint64_t off, uint64_t cand)
{
  uint8_t want[SECT];
  static const uint8_t zero[SECT];
  int s;

  if (memcmp (buf, zero, SECT) == 0)
    return 0;
  for (s = 1; s < 64; s++)
    if ((cand >> s) & 1) {
      ut_pattern (want, SECT, off, s);
      if (memcmp (buf, want, SECT) == 0)
        return s;
    }
  return -1;
}

/* Does every sector of block B (BUF) hold zeroes (if CAND has bit 0) or
 * one of the patterns in CAND?  Returns 0, or -1 and the first bad
 * sector's value (-1: none of them) in *GOT. */
static int
block_ok (const uint8_t *buf, uint64_t b, uint64_t cand, int *got)
{
  unsigned k;

  for (k = 0; k < BLK / SECT; k++) {
    *got = identify_sector (buf + k * SECT, b * BLK + k * SECT, cand);
    if (*got == -1 || !((cand >> *got) & 1))
      return -1;
  }
  return 0;
}

static void
read_export (struct sv_pool *pool, const char *export, uint8_t *buf)
{
  struct sv_view *v = view_open (pool, export);

  if (v == NULL)
    fail_msg ("view_open %s: %s", export, sv_errmsg ());
  if (view_pread (v, buf, VSIZE, 0) == -1)
    fail_msg ("view_pread %s: %s", export, sv_errmsg ());
  view_close (v);
}

/* Does EXPORT read exactly VAL (per block: 0 or a seed)? */
static void
check_exact (struct sv_pool *pool, const char *export, const uint8_t *val,
             const char *why)
{
  uint8_t *buf = malloc (VSIZE);
  uint64_t b;

  assert_non_null (buf);
  read_export (pool, export, buf);
  for (b = 0; b < NBLK; b++) {
    int got;
    if (block_ok (buf + b * BLK, b, 1ull << val[b], &got) == -1)
      fail_msg ("%s: %s block %" PRIu64 " does not read %s %u", why, export,
                b, val[b] ? "pattern" : "zeroes", val[b]);
  }
  free (buf);
}

/* Recover a crash image and check it against M, the model as it stood
 * during the call that was in progress. */
static void
check_crash_image (struct run *r, const struct pending *p,
                   const struct model *m)
{
  struct sv_pool_options opts = {
    .io = crashsim_io (p->img), .checkpoint_bytes = r->ckpt_bytes,
  };
  struct sv_pool *pool = pool_open (POOL, &opts, 0);
  struct sv_snapshot_info *si = NULL;
  uint8_t *buf, s1val[NBLK];
  char why[256], exp[64];
  size_t n = 0, i;
  uint64_t b;
  int s2 = 0;

  snprintf (why, sizeof why, "power loss after operation %" PRIu64
            " (during: %s)", p->op, r->call);
  if (pool == NULL)
    fail_msg ("%s: pool_open: %s", why, sv_errmsg ());
  buf = malloc (VSIZE);
  assert_non_null (buf);
  read_export (pool, VOL, buf);
  for (b = 0; b < NBLK; b++) {
    int got;
    if (block_ok (buf + b * BLK, b, m->cand[b], &got) == -1)
      fail_msg ("%s: block %" PRIu64 " reads %s, not one of the values"
                " written to it since it was last flushed (mask %#" PRIx64
                ")", why, b, got == -1 ? "something else" : "zeroes",
                m->cand[b]);
  }
  free (buf);

  /* The first snapshot, durable long before: exact. */
  for (b = 0; b < NBLK; b++)
    s1val[b] = b < HOT ? SEED_A : SEED_E;
  snprintf (exp, sizeof exp, "%s@%s", VOL, r->s1);
  check_exact (pool, exp, s1val, why);
  /* The second one: as its creation and deletion stood. */
  if (pool_snapshot_list (pool, VOL, &si, &n) == -1)
    fail_msg ("%s: pool_snapshot_list: %s", why, sv_errmsg ());
  for (i = 0; i < n; i++) {
    if (strcmp (si[i].id, r->s1) == 0)
      continue;
    if (m->s2 == S2_NONE || m->s2 == S2_GONE)
      fail_msg ("%s: snapshot %s exists (the second snapshot is %s)", why,
                si[i].id, m->s2 == S2_NONE ? "not made" : "deleted");
    s2 = 1;
    snprintf (exp, sizeof exp, "%s@%s", VOL, si[i].id);
    check_exact (pool, exp, m->s2val, why);
  }
  if (m->s2 == S2_OK && !s2)
    fail_msg ("%s: the second snapshot, whose creation returned, is lost",
              why);
  free (si);
  if (pool_close (pool) == -1)
    fail_msg ("%s: pool_close: %s", why, sv_errmsg ());
  r->images++;
}

/* Run the crash checks of the images taken during the call that just
 * returned, with M the model during it.  The call's errno and message
 * are kept for the caller to check. */
static void
settle (struct run *r, const struct model *m)
{
  char msg[4096];
  int e = errno;
  size_t i;

  snprintf (msg, sizeof msg, "%s", sv_errmsg ());
  for (i = 0; i < r->npend; i++) {
    check_crash_image (r, &r->pend[i], m);
    crashsim_free (r->pend[i].img);
  }
  r->npend = 0;
  sv_error (e, "%s", msg);
}

/* Calls: each updates the model before (what a crash may show) and
 * after (what it returned). */

static int
do_write (struct run *r, uint64_t b, int seed)
{
  uint8_t buf[BLK];
  struct model during;
  int rc, e;

  r->call = "a write";
  ut_pattern (buf, BLK, b * BLK, seed);
  r->m.cand[b] |= 1ull << seed;
  during = r->m;
  rc = view_pwrite (r->view, buf, BLK, b * BLK, 0);
  e = errno;
  settle (r, &during);
  if (rc == 0)
    r->m.cur[b] = seed;
  errno = e;
  return rc;
}

static int
do_trim (struct run *r, uint64_t b)
{
  struct model during;
  int rc, e;

  r->call = "a trim";
  r->m.cand[b] |= 1;
  during = r->m;
  rc = view_trim (r->view, BLK, b * BLK, 0);
  e = errno;
  settle (r, &during);
  if (rc == 0)
    r->m.cur[b] = 0;
  errno = e;
  return rc;
}

static int
do_flush (struct run *r)
{
  struct model during = r->m;
  uint64_t b;
  int rc, e;

  r->call = "a flush";
  rc = view_flush (r->view);
  e = errno;
  settle (r, &during);
  if (rc == 0)
    for (b = 0; b < NBLK; b++)
      r->m.cand[b] = 1ull << r->m.cur[b];
  errno = e;
  return rc;
}

static void
open_run (struct run *r)
{
  struct sv_pool_options opts = {
    .io = &sp.io, .checkpoint_bytes = r->ckpt_bytes,
  };

  r->pool = pool_open (POOL, &opts, 0);
  if (r->pool == NULL)
    fail_msg ("pool_open: %s", sv_errmsg ());
  r->view = ut_view_open (r->pool, VOL);
}

static void
close_run (struct run *r)
{
  struct model during = r->m;

  view_close (r->view);
  r->call = "closing the pool";
  if (pool_close (r->pool) == -1)
    fail_msg ("pool_close: %s", sv_errmsg ());
  settle (r, &during);
  r->pool = NULL;
}

/* The current journal file number of the volume (the highest). */
static uint64_t
journal_number (struct run *r)
{
  const struct sv_io *io = crashsim_io (r->cs);
  char **names = NULL;
  size_t n = 0, i;
  uint64_t best = 0;

  assert_int_equal (io->ops->listdir (io->opaque, POOL "/volumes/" VOL,
                                      &names, &n), 0);
  for (i = 0; i < n; i++) {
    if (strncmp (names[i], "journal.", 8) == 0) {
      uint64_t x = strtoull (names[i] + 8, NULL, 16);
      if (x > best)
        best = x;
    }
    free (names[i]);
  }
  free (names);
  return best;
}

/* The scenario: data and a snapshot, then the journal's space runs out
 * while blocks are trimmed and rewritten, then space comes back. */
static void
run_out_of_journal_space (uint64_t ckpt_bytes, uint64_t every)
{
  struct run *r = calloc (1, sizeof *r);
  const struct sv_io *io;
  struct sv_pool_options opts;
  const char *vols[1] = { VOL };
  char set[SV_UUID_STRLEN + 1], exp[64];
  struct sv_snap_result res;
  uint64_t b, i, failed_at = 0, in_place = HOT, jnum;
  int rc, seed, flush_failed = 0;

  assert_non_null (r);
  r->ckpt_bytes = ckpt_bytes;
  r->every = every;
  r->seed = ckpt_bytes;
  r->cs = crashsim_new ();
  space_init (r->cs);
  io = crashsim_io (r->cs);
  assert_int_equal (io->ops->mkdir (io->opaque, POOL, 0700), 0);
  assert_int_equal (io->ops->syncdir (io->opaque, "/"), 0);
  opts = (struct sv_pool_options) { .io = &sp.io,
                                    .checkpoint_bytes = ckpt_bytes };
  r->pool = ut_pool_open_opts (POOL, &opts, 1);
  assert_int_equal (pool_volume_create (r->pool, VOL, VSIZE, 64 * KiB), 0);
  r->view = ut_view_open (r->pool, VOL);
  for (b = 0; b < NBLK; b++) {
    r->m.cur[b] = b < HOT ? SEED_A : SEED_E;
    r->m.cand[b] = 1ull << r->m.cur[b];
  }
  ut_write_pattern (r->view, 0, HOT * BLK, SEED_A, NULL);
  ut_write_pattern (r->view, HOT * BLK, VSIZE - HOT * BLK, SEED_E, NULL);
  assert_int_equal (view_flush (r->view), 0);
  ut_snapshot (r->pool, VOL, r->s1);
  /* Every block of the hot MiB copied on write once: from here each
   * trim and each write after it is one journal record. */
  for (b = 0; b < HOT; b++)
    assert_int_equal (do_write (r, b, 2), 0);
  assert_int_equal (do_flush (r), 0);

  /* From here every operation may be a crash point. */
  crashsim_set_hook (r->cs, crash_hook, r);
  set_full (1);
  for (i = 0; failed_at == 0; i++) {
    b = (i / 2) % HOT;
    seed = 3 + (int) (i % 50);
    assert_true (i < 1000000);
    rc = i % 2 == 0 ? do_trim (r, b) : do_write (r, b, seed);
    if (rc == -1) {
      assert_int_equal (errno, ENOSPC);
      assert_errmsg_names ("volume " VOL);
      assert_errmsg_names ("journal");
      failed_at = i;
      break;
    }
    if (i % 2 == 1)
      in_place = b;
    if (i % 64 == 63 && do_flush (r) == -1) {
      /* Only a checkpoint that finds no space may fail it. */
      assert_int_equal (errno, ENOSPC);
      assert_errmsg_names ("checkpoint");
      flush_failed = 1;
    }
  }
  assert_true (failed_at > 0);
  assert_true (sp.enospc > 0);

  /* The failed call changed nothing (the model kept the old value);
   * any other trim of data, or write over a trimmed block, fails the
   * same way. */
  check_exact (r->pool, VOL, r->m.cur, "after the first ENOSPC");
  for (b = 0; b < HOT && r->m.cur[b] == 0; b++)
    ;
  assert_true (b < HOT);
  assert_fails_with (do_trim (r, b), ENOSPC);
  assert_errmsg_names ("volume " VOL);
  for (b = 0; b < HOT && r->m.cur[b] != 0; b++)
    ;
  if (b < HOT) {
    assert_fails_with (do_write (r, b, 60), ENOSPC);
    assert_errmsg_names ("volume " VOL);
  }

  /* Not stopped: reads, a write that changes no bitmap (in place over
   * data), flushes, a snapshot from the headroom and its deletion. */
  check_exact (r->pool, VOL, r->m.cur, "while full");
  assert_int_equal (do_write (r, in_place, 61), 0);
  if (do_flush (r) == -1) {
    assert_int_equal (errno, ENOSPC);
    assert_errmsg_names ("checkpoint");
    flush_failed = 1;
  }
  /* A snapshot takes its record from the headroom.  Its creation
   * flushes: while a checkpoint is due and cannot get space that fails
   * (ENOSPC), and the set is cancelled, though its record may already
   * be durable (pool.h: then it may come back whole after a crash,
   * until a flush makes the cancellation durable). */
  r->call = "a snapshot";
  r->m.s2 = S2_CREATING;
  memcpy (r->m.s2val, r->m.cur, NBLK);
  {
    struct model during = r->m;
    rc = pool_snapshot_create (r->pool, vols, 1, "full", NULL, set, &res);
    settle (r, &during);
  }
  if (rc == -1) {
    /* A checkpoint cannot fall due with the larger journal. */
    if (errno != ENOSPC || ckpt_bytes >= MiB)
      fail_msg ("snapshot while the journal is full: %s", sv_errmsg ());
    assert_errmsg_names ("checkpoint");
    flush_failed = 1;
    assert_int_equal (ut_snapshot_count (r->pool, VOL), 1);
    r->m.s2 = S2_DELETING;
  }
  else {
    r->m.s2 = S2_OK;
    snprintf (exp, sizeof exp, "%s@%s", VOL, res.id);
    check_exact (r->pool, exp, r->m.s2val, "snapshot taken while full");
  }
  snprintf (exp, sizeof exp, "%s@%s", VOL, r->s1);
  {
    uint8_t s1val[NBLK];
    for (b = 0; b < NBLK; b++)
      s1val[b] = b < HOT ? SEED_A : SEED_E;
    check_exact (r->pool, exp, s1val, "first snapshot while full");
  }
  if (r->m.s2 == S2_OK) {
    r->call = "a snapshot deletion";
    r->m.s2 = S2_DELETING;
    {
      struct model during = r->m;
      rc = pool_snapshot_delete (r->pool, res.id, NULL);
      settle (r, &during);
    }
    if (rc == -1) {
      /* Only its flush may fail (a checkpoint that finds no space): the
       * deletion is done in memory, and a later flush makes it
       * durable. */
      assert_int_equal (errno, ENOSPC);
      assert_errmsg_names ("checkpoint");
      assert_true (ckpt_bytes < MiB);
      flush_failed = 1;
    }
    else
      r->m.s2 = S2_GONE;
  }
  assert_int_equal (ut_snapshot_count (r->pool, VOL), 1);
  jnum = journal_number (r);

  /* Space is back: the same writes work, without a reopen. */
  set_full (0);
  for (i = failed_at; i < failed_at + 200; i++) {
    b = (i / 2) % HOT;
    rc = i % 2 == 0 ? do_trim (r, b) : do_write (r, b, 3 + (int) (i % 50));
    if (rc == -1)
      fail_msg ("call %" PRIu64 " after space came back: %s", i,
                sv_errmsg ());
  }
  if (do_flush (r) == -1)
    fail_msg ("flush after space came back: %s", sv_errmsg ());
  r->m.s2 = S2_GONE;
  if (flush_failed)
    /* The checkpoint that found no space ran now. */
    assert_true (journal_number (r) > jnum);
  crashsim_set_hook (r->cs, NULL, NULL);
  close_run (r);

  /* Everything survives a reopen. */
  open_run (r);
  check_exact (r->pool, VOL, r->m.cur, "after a reopen");
  assert_int_equal (ut_snapshot_count (r->pool, VOL), 1);
  close_run (r);
  print_message ("journal full after %" PRIu64 " calls, %u ENOSPC injected,"
                 " checkpoint %s; %" PRIu64 " crash images recovered\n",
                 failed_at, sp.enospc, flush_failed
                 ? "refused and retried" : "not due", r->images);
  assert_true (r->images > 0 && r->skipped == 0);
  space_free ();
  crashsim_free (r->cs);
  free (r);
}

/* No checkpoint falls due while the journal is full. */
static void
test_journal_space_exhausted_fails_writes_not_the_volume (void **state)
{
  run_out_of_journal_space (MiB, 5);
}

/* A checkpoint falls due while full: it cannot create the next journal
 * file, fails its flush with ENOSPC, and runs once space is back. */
static void
test_checkpoint_without_space_keeps_journal_and_retries (void **state)
{
  run_out_of_journal_space (16 * KiB, 2);
}

/* A failed fdatasync of the data file (ENOSPC from a filesystem that
 * allocates at writeback) stops the volume; the error says how to
 * recover, and following that advice recovers it. */
static void
test_data_sync_failure_says_how_to_recover (void **state)
{
  struct crashsim *cs = crashsim_new ();
  const struct sv_io *io = crashsim_io (cs);
  struct sv_pool_options opts = { .io = &sp.io };
  struct sv_pool *pool;
  struct sv_view *v;
  uint8_t buf[BLK];

  space_init (cs);
  assert_int_equal (io->ops->mkdir (io->opaque, POOL, 0700), 0);
  assert_int_equal (io->ops->syncdir (io->opaque, "/"), 0);
  pool = ut_pool_open_opts (POOL, &opts, 1);
  assert_int_equal (pool_volume_create (pool, VOL, VSIZE, 0), 0);
  v = ut_view_open (pool, VOL);
  ut_write_pattern (v, 0, 64 * KiB, 7, NULL);
  assert_int_equal (view_flush (v), 0);
  ut_write_pattern (v, 64 * KiB, 64 * KiB, 8, NULL);
  sp.data_sync_err = ENOSPC;
  assert_fails_with (view_flush (v), ENOSPC);
  assert_errmsg_names ("fdatasync");
  assert_errmsg_names ("stopped");
  assert_errmsg_names ("reopen");
  assert_errmsg_names ("free space");
  /* Every later request says the same. */
  assert_fails_with (view_pread (v, buf, BLK, 0), EIO);
  assert_errmsg_names ("stopped");
  assert_errmsg_names ("reopen the pool");
  assert_errmsg_names ("free space");
  view_close (v);
  pool_close (pool);

  /* The advice: space back, reopen. */
  sp.data_sync_err = 0;
  pool = ut_pool_open_opts (POOL, &opts, 0);
  v = ut_view_open (pool, VOL);
  assert_pattern (v, 0, 64 * KiB, 7);
  ut_write_pattern (v, 128 * KiB, 4096, 9, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  ut_pool_close (pool);
  space_free ();
  crashsim_free (cs);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test
      (test_journal_space_exhausted_fails_writes_not_the_volume),
    cmocka_unit_test
      (test_checkpoint_without_space_keeps_journal_and_retries),
    cmocka_unit_test (test_data_sync_failure_says_how_to_recover),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
