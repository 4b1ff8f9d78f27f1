/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-diff.c: changed blocks (pool_snapshot_diff) against brute force.
 *
 * Seeded random workloads run on two volumes, of 4 KiB and of 64 KiB
 * clusters, in a pool over the power-loss simulating storage layer
 * (crashsim.h): writes of every size and alignment, write-zeroes
 * (trimming or not), trims, flushes, snapshots, deletions of
 * snapshots (also between the ones compared), clean close and reopen,
 * and power losses (every unsynced change kept, dropped or torn, then
 * recovery).  A model keeps every operation with the subclusters it
 * reached, and the point in that list where each snapshot was taken.
 * After each step, for every pair of snapshots FROM < TO and every
 * snapshot against the live volume, both views are read in full and
 * the diff, fetched in pages of a random size, must:
 *   - be sorted, subcluster-aligned, inside the volume, without
 *     overlaps or touching ranges of one kind, the same as in one page;
 *   - cover every subcluster whose bytes differ between the views;
 *   - report nothing outside the subclusters that the operations
 *     between FROM and TO wrote, zeroed or trimmed, except the
 *     documented over-report of a copy-forward fill: such a subcluster
 *     must read the same in FROM and TO (data, or zero where both read
 *     zeroes) and lie in a cluster that a data write between them
 *     reached;
 *   - where it says zero, read zeroes in TO.
 * Power losses lose only what was not flushed, which the model keeps
 * as possibly written: an upper bound, so the checks stay exact.
 *
 * Reproduce: a failure prints the seed and iteration;
 * SNAPVOL_DIFF_SEED=S SNAPVOL_DIFF_ITERATION=I runs that one.
 * SNAPVOL_DIFF_ITERATIONS sets the run length (default 24, about two
 * seconds, what `make check` runs; `make diff-soak` runs 2000).
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

#include "crashsim.h"
#include "pool.h"
#include "unit-helpers.h"

#define POOL "/pool"
#define MAX_SNAPS 64
#define MAX_OPS 1024
#define STEPS 70
#define FILL_DEPTH 3

struct op {
  uint64_t sub_first, sub_end;  /* subclusters reached: [first, end) */
  /* Clusters whose data a write reached (a copy-forward fill may
   * rewrite them whole): [first, end), empty for trims and zeroes of
   * whole subclusters. */
  uint64_t data_first, data_end;
  /* Clusters of the partial subclusters at the edges of a zeroed
   * range, which are written as data (UINT64_MAX: none). */
  uint64_t edge[2];
};

struct msnap {
  char id[SV_UUID_STRLEN + 1];
  size_t at;                    /* operations before it */
};

struct mvol {
  const char *name;
  uint64_t size;
  uint32_t cs, scs;
  struct op ops[MAX_OPS];
  size_t nops;
  struct msnap snaps[MAX_SNAPS];
  size_t nsnaps;
  struct sv_view *view;
};

struct run {
  uint64_t seed, iter, rng;
  struct crashsim *cs;
  struct sv_pool *pool;
  struct sv_pool_options opts;
  struct mvol vols[2];
  uint64_t fills, pairs;        /* over-reports seen, pairs checked */
};

static void
fail_run (const struct run *r, const char *fmt, ...)
  __attribute__((format (printf, 2, 3), noreturn));

static void
fail_run (const struct run *r, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  fail_msg ("%s (reproduce: SNAPVOL_DIFF_SEED=%" PRIu64
            " SNAPVOL_DIFF_ITERATION=%" PRIu64 ")", msg, r->seed, r->iter);
  abort ();
}

/* Diffs collected. */

struct range {
  uint64_t off, len;
  enum sv_diff_kind kind;
};

struct ranges {
  struct range *r;
  size_t n, cap;
};

static int
collect (uint64_t off, uint64_t len, enum sv_diff_kind kind, void *opaque)
{
  struct ranges *rs = opaque;

  if (rs->n == rs->cap) {
    rs->cap = rs->cap ? rs->cap * 2 : 64;
    rs->r = realloc (rs->r, rs->cap * sizeof *rs->r);
    assert_non_null (rs->r);
  }
  rs->r[rs->n++] = (struct range) { off, len, kind };
  return 0;
}

/* The whole diff, in pages of at most MAX ranges; fails the run on an
 * error, a page that reports too much or makes no progress. */
static void
diff_all (struct run *r, struct mvol *mv, const char *from, const char *to,
          size_t max, struct ranges *out)
{
  uint64_t start = 0, next;
  unsigned pages = 0;

  out->n = 0;
  do {
    size_t before = out->n;

    if (pool_snapshot_diff (r->pool, mv->name, from, to, start, max,
                            collect, out, &next) == -1)
      fail_run (r, "diff %s %s..%s: %s", mv->name, from, to ? to : "live",
                sv_errmsg ());
    if (out->n - before > max)
      fail_run (r, "a page of %zu ranges gave %zu", max, out->n - before);
    if (next != UINT64_MAX && (next <= start || out->n == before))
      fail_run (r, "page at %" PRIu64 " made no progress (next %" PRIu64
                ")", start, next);
    start = next;
    if (++pages > 1u << 20)
      fail_run (r, "too many pages");
  } while (next != UINT64_MAX);
}

/* The model. */

static void
model_add (struct run *r, struct mvol *mv, struct op op)
{
  if (mv->nops == MAX_OPS)
    fail_run (r, "model full");
  mv->ops[mv->nops++] = op;
}

static struct op
reached (const struct mvol *mv, uint64_t off, uint64_t len, bool trim)
{
  struct op op;

  if (trim) {
    /* A trim ignores partial subclusters. */
    op.sub_first = (off + mv->scs - 1) / mv->scs;
    op.sub_end = (off + len) / mv->scs;
    if (op.sub_end < op.sub_first)
      op.sub_end = op.sub_first;
  }
  else {
    op.sub_first = off / mv->scs;
    op.sub_end = (off + len + mv->scs - 1) / mv->scs;
  }
  op.data_first = op.data_end = 0;
  op.edge[0] = op.edge[1] = UINT64_MAX;
  return op;
}

static void
do_write (struct run *r, struct mvol *mv)
{
  uint64_t len = 1 + ut_rand_below (&r->rng, ut_rand_below (&r->rng, 4) == 0
                                    ? 3 * mv->cs : mv->scs * 2);
  uint64_t off;
  struct op op;

  if (ut_rand_below (&r->rng, 2))
    len = (len + 511) / 512 * 512;
  if (len > mv->size)
    len = mv->size;
  off = ut_rand_below (&r->rng, mv->size - len + 1);
  if (ut_rand_below (&r->rng, 2))
    off -= off % 512;
  ut_write_pattern (mv->view, off, len, (uint32_t) ut_rand (&r->rng), NULL);
  op = reached (mv, off, len, false);
  op.data_first = off / mv->cs;
  op.data_end = (off + len + mv->cs - 1) / mv->cs;
  model_add (r, mv, op);
}

static void
do_zero (struct run *r, struct mvol *mv, bool trim)
{
  uint64_t len = 1 + ut_rand_below (&r->rng, 4 * mv->cs), off;
  int may_trim = (int) ut_rand_below (&r->rng, 2);
  struct op op;

  if (ut_rand_below (&r->rng, 3) == 0)
    len = (len + mv->scs - 1) / mv->scs * mv->scs;
  else
    len = (len + 511) / 512 * 512;
  if (len > mv->size)
    len = mv->size;
  off = ut_rand_below (&r->rng, (mv->size - len) / 512 + 1) * 512;
  if (trim) {
    if (view_trim (mv->view, (uint32_t) len, off, 0) == -1)
      fail_run (r, "trim: %s", sv_errmsg ());
  }
  else if (view_zero (mv->view, (uint32_t) len, off, may_trim, 0, 0) == -1)
    fail_run (r, "zero: %s", sv_errmsg ());
  op = reached (mv, off, len, trim);
  if (!trim) {
    /* Partial subclusters at the edges are written as data. */
    if (off % mv->scs != 0)
      op.edge[0] = off / mv->cs;
    if ((off + len) % mv->scs != 0)
      op.edge[1] = (off + len - 1) / mv->cs;
  }
  model_add (r, mv, op);
}

static void
do_snapshot (struct run *r, struct mvol *mv)
{
  if (mv->nsnaps == MAX_SNAPS)
    return;
  ut_snapshot (r->pool, mv->name, mv->snaps[mv->nsnaps].id);
  mv->snaps[mv->nsnaps].at = mv->nops;
  mv->nsnaps++;
}

static void
do_delete (struct run *r, struct mvol *mv)
{
  size_t i;

  if (mv->nsnaps == 0)
    return;
  i = ut_rand_below (&r->rng, mv->nsnaps);
  if (pool_snapshot_delete (r->pool, mv->snaps[i].id, NULL) == -1)
    fail_run (r, "delete %s: %s", mv->snaps[i].id, sv_errmsg ());
  memmove (&mv->snaps[i], &mv->snaps[i + 1],
           (mv->nsnaps - i - 1) * sizeof mv->snaps[0]);
  mv->nsnaps--;
}

/* Views and the pool. */

static void
open_views (struct run *r)
{
  size_t i;

  for (i = 0; i < 2; i++)
    r->vols[i].view = ut_view_open (r->pool, r->vols[i].name);
}

static void
close_views (struct run *r)
{
  size_t i;

  for (i = 0; i < 2; i++) {
    view_close (r->vols[i].view);
    r->vols[i].view = NULL;
  }
}

static void
reopen (struct run *r, bool crash)
{
  close_views (r);
  if (crash) {
    struct crashsim *img = crashsim_crash (r->cs, ut_rand (&r->rng),
                                           CRASHSIM_RANDOM, NULL);

    pool_close (r->pool);       /* on the old disk: its outcome is moot */
    crashsim_free (r->cs);
    r->cs = img;
    r->opts.io = crashsim_io (img);
  }
  else if (pool_close (r->pool) == -1)
    fail_run (r, "pool_close: %s", sv_errmsg ());
  r->pool = pool_open (POOL, &r->opts, 0);
  if (r->pool == NULL)
    fail_run (r, "pool_open after %s: %s", crash ? "a power loss" : "close",
              sv_errmsg ());
  open_views (r);
}

/* The checks. */

static uint8_t *
read_all (struct run *r, struct mvol *mv, const char *id)
{
  char export[SV_NAME_MAX + SV_UUID_STRLEN + 2];
  uint8_t *buf = malloc (mv->size);
  struct sv_view *v;

  assert_non_null (buf);
  snprintf (export, sizeof export, "%s%s%s", mv->name, id ? "@" : "",
            id ? id : "");
  v = ut_view_open (r->pool, export);
  if (view_pread (v, buf, (uint32_t) mv->size, 0) == -1)
    fail_run (r, "read %s: %s", export, sv_errmsg ());
  view_close (v);
  return buf;
}

static bool
is_zero (const uint8_t *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp (p, p + 1, n - 1) == 0);
}

/* Check the diff from snapshot A to snapshot B (B NULL: live) of MV,
 * whose contents are FROM and TO. */
static void
check_pair (struct run *r, struct mvol *mv, const struct msnap *a,
            const struct msnap *b, const uint8_t *from, const uint8_t *to)
{
  uint64_t nsub = (mv->size + mv->scs - 1) / mv->scs, s, i, end;
  uint64_t ncl = (mv->size + mv->cs - 1) / mv->cs;
  size_t until = b ? b->at : mv->nops, k;
  uint8_t *allowed = calloc (nsub, 1), *kind = calloc (nsub, 1);
  uint8_t *datawr = calloc (ncl, 1);
  struct ranges pg = { 0 }, one = { 0 };
  const char *bid = b ? b->id : NULL;

  assert_true (allowed && kind && datawr);
  for (k = a->at; k < until; k++) {
    for (s = mv->ops[k].sub_first; s < mv->ops[k].sub_end; s++)
      allowed[s] = 1;
    for (i = mv->ops[k].data_first; i < mv->ops[k].data_end; i++)
      datawr[i] = 1;
    for (i = 0; i < 2; i++)
      if (mv->ops[k].edge[i] != UINT64_MAX)
        datawr[mv->ops[k].edge[i]] = 1;
  }

  diff_all (r, mv, a->id, bid, 1 + ut_rand_below (&r->rng, 6), &pg);
  diff_all (r, mv, a->id, bid, 65536, &one);
  for (k = 0; k < pg.n && k < one.n; k++)
    if (pg.r[k].off != one.r[k].off || pg.r[k].len != one.r[k].len ||
        pg.r[k].kind != one.r[k].kind)
      break;
  if (pg.n != one.n || k != pg.n)
    fail_run (r, "%s %s..%s: paged diff (%zu ranges) differs from one page"
              " (%zu ranges)", mv->name, a->id, bid ? bid : "live", pg.n,
              one.n);

  for (k = 0, end = 0; k < one.n; k++) {
    const struct range *g = &one.r[k];

    if (g->off % mv->scs != 0 ||
        (g->len % mv->scs != 0 && g->off + g->len != mv->size) ||
        g->len == 0 || g->off < end || g->off + g->len > mv->size ||
        (g->kind != SV_DIFF_DATA && g->kind != SV_DIFF_ZERO) ||
        (k > 0 && g->off == end && g->kind == one.r[k - 1].kind))
      fail_run (r, "%s: bad range %" PRIu64 "+%" PRIu64 " kind %d after %"
                PRIu64, mv->name, g->off, g->len, g->kind, end);
    end = g->off + g->len;
    for (s = g->off / mv->scs; s * mv->scs < end; s++)
      kind[s] = g->kind;
    if (g->kind == SV_DIFF_ZERO && !is_zero (to + g->off, g->len))
      fail_run (r, "%s %s..%s: range %" PRIu64 "+%" PRIu64 " is reported "
                "zero but does not read as zeroes in TO", mv->name, a->id,
                bid ? bid : "live", g->off, g->len);
  }

  for (s = 0; s < nsub; s++) {
    uint64_t off = s * mv->scs;
    uint64_t n = off + mv->scs > mv->size ? mv->size - off : mv->scs;
    bool differs = memcmp (from + off, to + off, n) != 0;

    if (differs && kind[s] == 0)
      fail_run (r, "%s %s..%s: bytes differ at subcluster %" PRIu64
                " (offset %" PRIu64 ") but the diff misses it", mv->name,
                a->id, bid ? bid : "live", s, off);
    if (kind[s] != 0 && !allowed[s]) {
      /* Only a copy-forward fill: the same bytes (as data, or as zero
       * where the cluster read zeroes, checked above), in a cluster
       * that a write between FROM and TO reached. */
      if (differs || !datawr[off / mv->cs])
        fail_run (r, "%s %s..%s: subcluster %" PRIu64 " (offset %" PRIu64
                  ") is reported (%s) though nothing reached it between "
                  "them (%s, %s a data write in its cluster)", mv->name,
                  a->id, bid ? bid : "live", s, off,
                  kind[s] == SV_DIFF_DATA ? "data" : "zero",
                  differs ? "bytes differ" : "bytes equal",
                  datawr[off / mv->cs] ? "after" : "without");
      r->fills++;
    }
  }
  r->pairs++;
  free (pg.r);
  free (one.r);
  free (allowed);
  free (kind);
  free (datawr);
}

static void
check_volume (struct run *r, struct mvol *mv)
{
  uint8_t *img[MAX_SNAPS + 1];
  size_t i, j;

  for (i = 0; i < mv->nsnaps; i++)
    img[i] = read_all (r, mv, mv->snaps[i].id);
  img[mv->nsnaps] = read_all (r, mv, NULL);
  for (i = 0; i < mv->nsnaps; i++) {
    for (j = i + 1; j < mv->nsnaps; j++)
      check_pair (r, mv, &mv->snaps[i], &mv->snaps[j], img[i], img[j]);
    check_pair (r, mv, &mv->snaps[i], NULL, img[i], img[mv->nsnaps]);
  }
  for (i = 0; i <= mv->nsnaps; i++)
    free (img[i]);
}

static void
run_iteration (uint64_t seed, uint64_t iter, uint64_t *fills,
               uint64_t *pairs)
{
  struct run r = {
    .seed = seed, .iter = iter, .rng = ut_seed_derive (seed, iter),
    .vols = {
      { .name = "c4k", .size = 1 * MiB + 3 * 4 * KiB, .cs = 4 * KiB,
        .scs = 4 * KiB },
      { .name = "c64k", .size = 2 * MiB - 64 * KiB + 8 * KiB,
        .cs = 64 * KiB, .scs = 4 * KiB },
    },
  };
  const struct sv_io *io;
  unsigned step;
  size_t i;

  r.cs = crashsim_new ();
  io = crashsim_io (r.cs);
  r.opts = (struct sv_pool_options) {
    .io = io, .prealloc = SV_PREALLOC_NONE, .fill_depth = FILL_DEPTH,
    .flush_threads = 1, .checkpoint_bytes = 256 * KiB,
  };
  assert_int_equal (io->ops->mkdir (io->opaque, POOL, 0700), 0);
  assert_int_equal (io->ops->syncdir (io->opaque, "/"), 0);
  r.pool = ut_pool_open_opts (POOL, &r.opts, 1);
  for (i = 0; i < 2; i++)
    if (pool_volume_create (r.pool, r.vols[i].name, r.vols[i].size,
                            r.vols[i].cs) == -1)
      fail_run (&r, "create %s: %s", r.vols[i].name, sv_errmsg ());
  open_views (&r);

  for (step = 0; step < STEPS; step++) {
    struct mvol *mv = &r.vols[ut_rand_below (&r.rng, 2)];
    uint64_t what = ut_rand_below (&r.rng, 100);

    if (what < 45)
      do_write (&r, mv);
    else if (what < 55)
      do_zero (&r, mv, false);
    else if (what < 63)
      do_zero (&r, mv, true);
    else if (what < 68)
      view_flush (mv->view);
    else if (what < 84)
      do_snapshot (&r, mv);
    else if (what < 92)
      do_delete (&r, mv);
    else if (what < 96)
      reopen (&r, false);
    else
      reopen (&r, true);
    if (step % 10 == 9 || step == STEPS - 1)
      for (i = 0; i < 2; i++)
        check_volume (&r, &r.vols[i]);
  }
  close_views (&r);
  ut_pool_close (r.pool);
  crashsim_free (r.cs);
  *fills += r.fills;
  *pairs += r.pairs;
}

static void
test_diff_matches_brute_force (void **state)
{
  uint64_t seed = ut_env_u64 ("SNAPVOL_DIFF_SEED", 0);
  uint64_t iters = ut_env_u64 ("SNAPVOL_DIFF_ITERATIONS", 24);
  uint64_t only = ut_env_u64 ("SNAPVOL_DIFF_ITERATION", UINT64_MAX);
  uint64_t fills = 0, pairs = 0, i;

  if (seed == 0)
    seed = ut_mix64 ((uint64_t) time (NULL));
  printf ("seed %" PRIu64 "\n", seed);
  for (i = 0; i < iters; i++)
    if (only == UINT64_MAX || only == i)
      run_iteration (seed, i, &fills, &pairs);
  printf ("%" PRIu64 " pairs checked, %" PRIu64 " subclusters over-reported"
          " by copy-forward fills\n", pairs, fills);
  assert_true (pairs > 0);
}

/* Bad input: each error names what is wrong. */

static int
count_range (uint64_t off, uint64_t len, enum sv_diff_kind kind, void *opaque)
{
  (*(size_t *) opaque)++;
  return 0;
}

static void
assert_diff_fails (struct sv_pool *pool, const char *volume, const char *from,
                   const char *to, uint64_t start, int err, const char *msg)
{
  uint64_t next = 0;
  size_t n = 0;

  assert_fails_with (pool_snapshot_diff (pool, volume, from, to, start, 16,
                                         count_range, &n, &next), err);
  assert_string_equal (sv_errmsg (), msg);
  assert_int_equal (n, 0);
}

static void
test_diff_bad_input_is_named (void **state)
{
  char *dir = ut_mkdtemp ();
  struct sv_pool *pool = ut_pool_open (dir, 0, 1);
  char a1[SV_UUID_STRLEN + 1], a2[SV_UUID_STRLEN + 1], b1[SV_UUID_STRLEN + 1];
  char a3[SV_UUID_STRLEN + 1], msg[512];
  static const char none[] = "11111111-2222-4333-8444-555555555555";
  struct sv_view *v;
  uint64_t next;
  size_t n = 0;

  assert_int_equal (pool_volume_create (pool, "a", MiB, 0), 0);
  assert_int_equal (pool_volume_create (pool, "b", MiB, 0), 0);
  ut_snapshot (pool, "a", a1);
  v = ut_view_open (pool, "a");
  ut_write_pattern (v, 4096, 8192, 3, NULL);
  view_close (v);
  ut_snapshot (pool, "a", a2);
  ut_snapshot (pool, "a", a3);
  ut_snapshot (pool, "b", b1);

  assert_diff_fails (pool, "nosuch", a1, a2, 0, ENOENT,
                     "no volume named nosuch");
  snprintf (msg, sizeof msg, "volume a has no snapshot %s (from)", none);
  assert_diff_fails (pool, "a", none, a2, 0, ENOENT, msg);
  snprintf (msg, sizeof msg, "volume a has no snapshot %s (to)", none);
  assert_diff_fails (pool, "a", a1, none, 0, ENOENT, msg);
  snprintf (msg, sizeof msg, "from snapshot %s (generation 2) is not older "
            "than to snapshot %s (generation 1)", a2, a1);
  assert_diff_fails (pool, "a", a2, a1, 0, EINVAL, msg);
  snprintf (msg, sizeof msg, "from snapshot %s (generation 1) is not older "
            "than to snapshot %s (generation 1)", a1, a1);
  assert_diff_fails (pool, "a", a1, a1, 0, EINVAL, msg);
  snprintf (msg, sizeof msg, "snapshot %s is a snapshot of volume b, not a",
            b1);
  assert_diff_fails (pool, "a", b1, NULL, 0, EXDEV, msg);
  assert_diff_fails (pool, "a", a1, b1, 0, EXDEV, msg);
  assert_diff_fails (pool, "a", a1, NULL, MiB + 1, EINVAL,
                     "cursor 1048577 is past the end of volume a "
                     "(1048576 bytes)");
  assert_diff_fails (pool, "a", "not-a-uuid", NULL, 0, EINVAL,
                     "invalid from snapshot id 'not-a-uuid': expected a "
                     "UUID");

  /* The end is an empty, complete page. */
  assert_int_equal (pool_snapshot_diff (pool, "a", a1, NULL, MiB, 16,
                                        count_range, &n, &next), 0);
  assert_int_equal (n, 0);
  assert_true (next == UINT64_MAX);

  /* A deleted snapshot is unknown. */
  assert_int_equal (pool_snapshot_delete (pool, a3, NULL), 0);
  snprintf (msg, sizeof msg, "volume a has no snapshot %s (to)", a3);
  assert_diff_fails (pool, "a", a1, a3, 0, ENOENT, msg);

  ut_pool_close (pool);
  ut_rmtree (dir);
  free (dir);
}

/* While a page runs, FROM and TO cannot be deleted. */

struct deleter {
  struct sv_pool *pool;
  const char *ids[2];
  int errs[2];
  size_t calls;
};

static int
delete_during_page (uint64_t off, uint64_t len, enum sv_diff_kind kind,
                    void *opaque)
{
  struct deleter *d = opaque;
  size_t i;

  if (d->calls++ == 0)
    for (i = 0; i < 2; i++) {
      errno = 0;
      if (pool_snapshot_delete (d->pool, d->ids[i], NULL) == -1)
        d->errs[i] = errno;
    }
  return 0;
}

static void
test_diff_keeps_from_and_to_during_a_page (void **state)
{
  char *dir = ut_mkdtemp ();
  struct sv_pool *pool = ut_pool_open (dir, 0, 1);
  char a1[SV_UUID_STRLEN + 1], a2[SV_UUID_STRLEN + 1];
  struct deleter d = { .pool = pool };
  struct sv_view *v;
  uint64_t next;

  assert_int_equal (pool_volume_create (pool, "a", MiB, 64 * KiB), 0);
  ut_snapshot (pool, "a", a1);
  v = ut_view_open (pool, "a");
  ut_write_pattern (v, 0, 4096, 3, NULL);
  ut_write_pattern (v, 512 * KiB, 4096, 4, NULL);
  view_close (v);
  ut_snapshot (pool, "a", a2);
  d.ids[0] = a1;
  d.ids[1] = a2;
  assert_int_equal (pool_snapshot_diff (pool, "a", a1, a2, 0, 16,
                                        delete_during_page, &d, &next), 0);
  assert_int_equal (d.calls, 2);
  assert_int_equal (d.errs[0], EBUSY);
  assert_int_equal (d.errs[1], EBUSY);
  assert_true (next == UINT64_MAX);
  /* Once the page is done they can go. */
  assert_int_equal (pool_snapshot_delete (pool, a1, NULL), 0);
  assert_int_equal (pool_snapshot_delete (pool, a2, NULL), 0);
  ut_pool_close (pool);
  ut_rmtree (dir);
  free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_diff_matches_brute_force),
    cmocka_unit_test (test_diff_bad_input_is_named),
    cmocka_unit_test (test_diff_keeps_from_and_to_during_a_page),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
