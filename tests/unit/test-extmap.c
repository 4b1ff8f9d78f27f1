/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-extmap.c: unit tests of the in-memory extent map (server/extmap.c)
 * and the physical cluster allocator with deferred frees
 * (server/alloc.c).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stdbool.h>

#include "alloc.h"
#include "extmap.h"
#include "ondisk.h"

/* Extent map. */

static struct ext
version (uint32_t gen, uint32_t phys, uint64_t alloc, uint64_t zero)
{
  struct ext x = { .alloc = alloc, .zero = zero, .gen = gen, .phys = phys };
  return x;
}

static void
assert_version (const struct ext *x, uint32_t gen, uint32_t phys,
                uint64_t alloc, uint64_t zero)
{
  assert_int_equal (x->gen, gen);
  assert_int_equal (x->phys, phys);
  assert_int_equal (x->alloc, alloc);
  assert_int_equal (x->zero, zero);
}

/* The versions of VCI, in a buffer of the test's own (valid until the
 * next call). */
static const struct extvec *
get (struct extmap *m, uint64_t vci)
{
  static union extvec_buf buf;

  return extmap_get (m, vci, &buf);
}

static void
test_extmap_get_of_unwritten_cluster_is_null (void **state)
{
  struct extmap m;

  assert_int_equal (extmap_init (&m, 3 * EXTMAP_L2_SIZE + 7), 0);
  assert_null (get (&m, 0));
  assert_null (get (&m, EXTMAP_L2_SIZE));
  assert_null (get (&m, 3 * EXTMAP_L2_SIZE + 6));
  assert_int_equal (extvec_top (NULL, UINT32_MAX), -1);
  extmap_free (&m);
}

static void
test_extmap_put_stores_the_version (void **state)
{
  struct extmap m;
  struct ext x = version (3, 17, 0x0f, 0xf0);
  const struct extvec *ev;

  assert_int_equal (extmap_init (&m, 1000), 0);
  assert_int_equal (extmap_put (&m, 600, &x), 0);
  ev = get (&m, 600);
  assert_non_null (ev);
  assert_int_equal (ev->n, 1);
  assert_version (&ev->v[0], 3, 17, 0x0f, 0xf0);
  /* Neighbours, also in other second-level tables, stay unwritten. */
  assert_null (get (&m, 599));
  assert_null (get (&m, 601));
  assert_null (get (&m, 600 - EXTMAP_L2_SIZE));
  /* Past the end of the map. */
  assert_int_equal (extmap_put (&m, 1000, &x), -1);
  assert_int_equal (errno, EINVAL);
  assert_null (get (&m, 1000));
  extmap_free (&m);
}

static void
test_extmap_put_same_generation_replaces (void **state)
{
  struct extmap m;
  struct ext a = version (5, 1, 0x1, 0), b = version (5, 9, 0x3, 0x4);
  const struct extvec *ev;

  assert_int_equal (extmap_init (&m, 16), 0);
  assert_int_equal (extmap_put (&m, 2, &a), 0);
  assert_int_equal (extmap_put (&m, 2, &b), 0);
  ev = get (&m, 2);
  assert_int_equal (ev->n, 1);
  assert_version (&ev->v[0], 5, 9, 0x3, 0x4);
  extmap_free (&m);
}

static void
test_extmap_versions_are_kept_in_generation_order (void **state)
{
  static const uint32_t gens[] = { 7, 2, 9, 5, 1, 8, 3 };
  static const uint32_t sorted[] = { 1, 2, 3, 5, 7, 8, 9 };
  struct extmap m;
  const struct extvec *ev;
  size_t i;

  assert_int_equal (extmap_init (&m, 4), 0);
  for (i = 0; i < sizeof gens / sizeof gens[0]; i++) {
    struct ext x = version (gens[i], 100 + gens[i], 1ull << gens[i], 0);
    assert_int_equal (extmap_put (&m, 3, &x), 0);
  }
  ev = get (&m, 3);
  assert_int_equal (ev->n, 7);
  /* Each version keeps the fields it was stored with. */
  for (i = 0; i < 7; i++)
    assert_version (&ev->v[i], sorted[i], 100 + sorted[i], 1ull << sorted[i],
                    0);
  extmap_free (&m);
}

static void
test_extvec_top_finds_newest_version_visible_at_gen (void **state)
{
  struct extmap m;
  const struct extvec *ev;
  uint32_t g, i;

  /* Versions at gens 10, 20, ..., 1000: check every query against a
   * linear scan, including below the oldest and above the newest. */
  assert_int_equal (extmap_init (&m, 1), 0);
  for (g = 1000; g >= 10; g -= 10) {
    struct ext x = version (g, g, 1, 0);
    assert_int_equal (extmap_put (&m, 0, &x), 0);
  }
  ev = get (&m, 0);
  assert_int_equal (ev->n, 100);
  for (g = 0; g <= 1010; g++) {
    int want = -1;
    for (i = 0; i < ev->n; i++)
      if (ev->v[i].gen <= g)
        want = (int) i;
    assert_int_equal (extvec_top (ev, g), want);
  }
  assert_int_equal (extvec_top (ev, UINT32_MAX), 99);
  assert_int_equal (extvec_top (ev, 9), -1);
  assert_int_equal (extvec_top (ev, 10), 0);
  assert_int_equal (extvec_top (ev, 15), 0);
  assert_int_equal (extvec_top (ev, 999), 98);
  extmap_free (&m);
}

static void
test_extmap_drop_removes_one_version (void **state)
{
  struct extmap m;
  const struct extvec *ev;
  uint32_t g;

  assert_int_equal (extmap_init (&m, 8), 0);
  for (g = 1; g <= 4; g++) {
    struct ext x = version (g, 10 * g, g, 0);
    assert_int_equal (extmap_put (&m, 5, &x), 0);
  }
  assert_int_equal (extmap_drop (&m, 5, 6), -1);     /* absent gen */
  assert_int_equal (extmap_drop (&m, 4, 1), -1);     /* absent cluster */
  assert_int_equal (extmap_drop (&m, 5, 2), 0);
  ev = get (&m, 5);
  assert_int_equal (ev->n, 3);
  assert_version (&ev->v[0], 1, 10, 1, 0);
  assert_version (&ev->v[1], 3, 30, 3, 0);
  assert_version (&ev->v[2], 4, 40, 4, 0);
  assert_int_equal (extvec_top (ev, 2), 0);
  assert_int_equal (extmap_drop (&m, 5, 2), -1);     /* already gone */
  extmap_free (&m);
}

static void
test_extmap_drop_of_last_version_forgets_cluster (void **state)
{
  struct extmap m;
  struct ext x = version (1, 0, 1, 0);
  uint64_t vci = 0;

  assert_int_equal (extmap_init (&m, 2 * EXTMAP_L2_SIZE), 0);
  assert_int_equal (extmap_put (&m, 3, &x), 0);
  assert_int_equal (extmap_put (&m, EXTMAP_L2_SIZE + 1, &x), 0);
  assert_int_equal (extmap_drop (&m, 3, 1), 0);
  assert_null (get (&m, 3));
  /* Iteration skips the emptied slot of an allocated table. */
  assert_int_equal (extmap_next (&m, &vci), 1);
  assert_int_equal (vci, EXTMAP_L2_SIZE + 1);
  assert_int_equal (extmap_drop (&m, EXTMAP_L2_SIZE + 1, 1), 0);
  vci = 0;
  assert_int_equal (extmap_next (&m, &vci), 0);
  /* The cluster can be written again. */
  assert_int_equal (extmap_put (&m, 3, &x), 0);
  assert_int_equal (get (&m, 3)->n, 1);
  extmap_free (&m);
}

static void
test_extmap_next_iterates_across_l2_tables (void **state)
{
  /* Clusters at both ends of several tables, with an untouched table
   * in between, and the very last cluster of a map whose size is not a
   * multiple of the table size. */
  const uint64_t n = 5 * EXTMAP_L2_SIZE + 3;
  const uint64_t want[] = {
    0, 1, EXTMAP_L2_SIZE - 1, EXTMAP_L2_SIZE, 2 * EXTMAP_L2_SIZE - 1,
    4 * EXTMAP_L2_SIZE + 17, n - 1,
  };
  const size_t nwant = sizeof want / sizeof want[0];
  struct extmap m;
  uint64_t vci;
  size_t i, k;

  assert_int_equal (extmap_init (&m, n), 0);
  vci = 0;
  assert_int_equal (extmap_next (&m, &vci), 0);       /* empty map */
  for (i = nwant; i-- > 0; ) {
    struct ext x = version (1, (uint32_t) i, 1, 0);
    assert_int_equal (extmap_put (&m, want[i], &x), 0);
  }

  k = 0;
  vci = 0;
  while (extmap_next (&m, &vci)) {
    assert_true (k < nwant);
    assert_int_equal (vci, want[k]);
    assert_int_equal (get (&m, vci)->v[0].phys, k);
    k++;
    vci++;
  }
  assert_int_equal (k, nwant);

  /* Starting points in the middle of a table and of a gap. */
  vci = 2;
  assert_int_equal (extmap_next (&m, &vci), 1);
  assert_int_equal (vci, EXTMAP_L2_SIZE - 1);
  vci = 2 * EXTMAP_L2_SIZE;
  assert_int_equal (extmap_next (&m, &vci), 1);
  assert_int_equal (vci, 4 * EXTMAP_L2_SIZE + 17);
  vci = n - 1;
  assert_int_equal (extmap_next (&m, &vci), 1);
  assert_int_equal (vci, n - 1);
  vci = n;
  assert_int_equal (extmap_next (&m, &vci), 0);
  extmap_free (&m);
}

static void
test_extmap_many_versions_grow_the_vector (void **state)
{
  struct extmap m;
  const struct extvec *ev;
  uint32_t g;

  /* Ascending inserts (the common case) and a drop in the middle. */
  assert_int_equal (extmap_init (&m, 1), 0);
  for (g = 1; g <= 300; g++) {
    struct ext x = version (g, g, g, ~(uint64_t) g);
    assert_int_equal (extmap_put (&m, 0, &x), 0);
  }
  assert_int_equal (extmap_drop (&m, 0, 150), 0);
  ev = get (&m, 0);
  assert_int_equal (ev->n, 299);
  for (g = 0; g < ev->n; g++) {
    uint32_t want = g < 149 ? g + 1 : g + 2;
    assert_version (&ev->v[g], want, want, want, ~(uint64_t) want);
  }
  assert_int_equal (ev->v[extvec_top (ev, 150)].gen, 149);
  extmap_free (&m);
}

/* A reference model: every cluster's versions in a plain array. */
#define MODEL_CLUSTERS (3 * EXTMAP_L2_SIZE + 40)
#define MODEL_DEPTH 4

struct model {
  uint32_t n[MODEL_CLUSTERS];
  struct ext v[MODEL_CLUSTERS][MODEL_DEPTH];
};

static uint64_t rng_state;

static uint32_t
rnd (uint32_t n)
{
  /* xorshift64*: the sequence is the same on every machine. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t) ((rng_state * 2685821657736338717ull) >> 33) % n;
}

static void
model_put (struct model *md, uint64_t c, const struct ext *x)
{
  uint32_t i, n = md->n[c];

  for (i = 0; i < n && md->v[c][i].gen < x->gen; i++)
    ;
  if (i < n && md->v[c][i].gen == x->gen) {
    md->v[c][i] = *x;
    return;
  }
  memmove (&md->v[c][i + 1], &md->v[c][i], (n - i) * sizeof md->v[c][0]);
  md->v[c][i] = *x;
  md->n[c]++;
}

static int
model_drop (struct model *md, uint64_t c, uint32_t gen)
{
  uint32_t i, n = md->n[c];

  for (i = 0; i < n && md->v[c][i].gen != gen; i++)
    ;
  if (i == n)
    return -1;
  memmove (&md->v[c][i], &md->v[c][i + 1], (n - i - 1) * sizeof md->v[c][0]);
  md->n[c]--;
  return 0;
}

static void
model_check (struct extmap *m, const struct model *md)
{
  uint64_t c, vci;
  uint32_t i;

  for (c = 0; c < MODEL_CLUSTERS; c++) {
    const struct extvec *ev = get (m, c);
    if (md->n[c] == 0) {
      assert_null (ev);
      continue;
    }
    assert_non_null (ev);
    assert_int_equal (ev->n, md->n[c]);
    for (i = 0; i < ev->n; i++)
      assert_version (&ev->v[i], md->v[c][i].gen, md->v[c][i].phys,
                      md->v[c][i].alloc, md->v[c][i].zero);
  }
  /* extmap_next visits exactly the clusters with versions. */
  vci = 0;
  c = 0;
  while (extmap_next (m, &vci)) {
    while (c < MODEL_CLUSTERS && md->n[c] == 0)
      c++;
    assert_int_equal (vci, c);
    vci++;
    c++;
  }
  while (c < MODEL_CLUSTERS && md->n[c] == 0)
    c++;
  assert_int_equal (c, MODEL_CLUSTERS);
}

/* A random version: mostly the compact forms (all data in some
 * subclusters, or all zero), sometimes mixed; phys often continuing
 * the neighbour's so that runs form and split. */
static struct ext
random_version (const struct model *md, uint64_t c)
{
  static const uint64_t masks[] = { 0xffff, 0xffff, 0xffff, 0x1, 0xf0f0 };
  struct ext x;
  uint32_t kind = rnd (10);

  x.gen = 1 + rnd (5);
  x.alloc = x.zero = 0;
  if (kind < 6) {
    x.alloc = masks[rnd (5)];
    if (c > 0 && md->n[c - 1] > 0 && md->v[c - 1][0].phys != PHYS_NONE &&
        rnd (2))
      x.phys = md->v[c - 1][0].phys + 1;
    else
      x.phys = (uint32_t) c * 7 + rnd (3);
  }
  else if (kind < 9) {
    x.zero = masks[rnd (5)];
    x.phys = PHYS_NONE;
  }
  else {
    x.alloc = 0x00ff;
    x.zero = 0xff00;
    x.phys = (uint32_t) c;
  }
  return x;
}

/* An empty model and map of MODEL_CLUSTERS, the generator at RNG. */
static void
model_begin (struct model *md, struct extmap *m, uint64_t rng)
{
  rng_state = rng;
  memset (md, 0, sizeof *md);
  assert_int_equal (extmap_init (m, MODEL_CLUSTERS), 0);
}

static void
test_extmap_matches_a_reference_model (void **state)
{
  static struct model md;
  struct extmap m;
  int iter, op;
  uint64_t seed;

  for (seed = 1; seed <= 4; seed++) {
    model_begin (&md, &m, seed * 0x9e3779b97f4a7c15ull);
    for (iter = 0; iter < 40; iter++) {
      for (op = 0; op < 200; op++) {
        /* Clusters cluster together so that tables fill up. */
        uint64_t c = rnd (4) == 0 ? rnd (MODEL_CLUSTERS)
          : (iter % 3) * EXTMAP_L2_SIZE + rnd (EXTMAP_L2_SIZE);
        uint32_t what = rnd (10);

        if (what < 6 && md.n[c] < MODEL_DEPTH) {
          struct ext x = random_version (&md, c);
          assert_int_equal (extmap_put (&m, c, &x), 0);
          model_put (&md, c, &x);
        }
        else if (what < 9 && md.n[c] > 0) {
          uint32_t gen = md.v[c][rnd (md.n[c])].gen;
          assert_int_equal (extmap_drop (&m, c, gen), 0);
          assert_int_equal (model_drop (&md, c, gen), 0);
        }
        else {
          assert_int_equal (extmap_drop (&m, c, 6), -1);   /* never used */
        }
      }
      model_check (&m, &md);
    }
    /* A sequential fill of a table, then every other cluster dropped,
     * then refilled: runs merge, split and merge again. */
    for (op = 0; op < (int) EXTMAP_L2_SIZE; op++) {
      uint64_t c = 3 * EXTMAP_L2_SIZE + (op % 40);
      struct ext x = version (9, 5000 + (uint32_t) c, 0xffff, 0);
      if (md.n[c] < MODEL_DEPTH) {
        assert_int_equal (extmap_put (&m, c, &x), 0);
        model_put (&md, c, &x);
      }
    }
    model_check (&m, &md);
    extmap_free (&m);
  }
}

/* The runs a map holding the model's versions must have when every
 * run is as long as it can be: a cluster with one version in a compact
 * form continues its left neighbour's run when that one is compact
 * too, of the same generation and subclusters, in the next physical
 * cluster (or both all zeroes); anything else starts a run. */
static size_t
model_runs (const struct model *md)
{
  size_t runs = 0;
  uint64_t c;

  for (c = 0; c < MODEL_CLUSTERS; c++) {
    const struct ext *x = &md->v[c][0], *p = &md->v[c - 1][0];
    bool compact = md->n[c] == 1 &&
      ((x->phys != PHYS_NONE && x->alloc != 0 && x->zero == 0) ||
       (x->phys == PHYS_NONE && x->alloc == 0 && x->zero != 0));

    if (md->n[c] == 0)
      continue;
    if (compact && c % EXTMAP_L2_SIZE != 0 && md->n[c - 1] == 1 &&
        p->gen == x->gen && p->alloc == x->alloc && p->zero == x->zero &&
        ((x->phys == PHYS_NONE && p->phys == PHYS_NONE) ||
         (x->phys != PHYS_NONE && p->phys != PHYS_NONE &&
          p->phys + 1 == x->phys)))
      continue;
    runs++;
  }
  return runs;
}

static void
assert_runs_maximal (struct extmap *m, const struct model *md)
{
  size_t dense;

  assert_int_equal (extmap_runs (m, &dense), model_runs (md));
  assert_int_equal (dense, 0);
}

/* A cluster at either end of a run, given the slot that continues the
 * neighbouring run, joins that run: the runs stay two. */
static void
test_extmap_cluster_at_a_run_end_joins_the_neighbour (void **state)
{
  struct extmap m;
  size_t dense;
  uint64_t c;
  int end;

  for (end = 0; end < 2; end++) {
    /* Clusters 0-9 in physical 100-109, 10-19 in 500-509 (head case)
     * or 210-219 (tail case). */
    assert_int_equal (extmap_init (&m, EXTMAP_L2_SIZE), 0);
    for (c = 0; c < 20; c++) {
      struct ext x = version (1, c < 10 ? 100 + (uint32_t) c
                              : (end ? 200 : 490) + (uint32_t) c, 0xffff, 0);
      assert_int_equal (extmap_put (&m, c, &x), 0);
    }
    assert_int_equal (extmap_runs (&m, &dense), 2);
    if (end == 0) {
      struct ext x = version (1, 110, 0xffff, 0);   /* continues 0-9 */
      assert_int_equal (extmap_put (&m, 10, &x), 0);
      assert_version (&get (&m, 10)->v[0], 1, 110, 0xffff, 0);
      assert_version (&get (&m, 11)->v[0], 1, 501, 0xffff, 0);
    }
    else {
      struct ext x = version (1, 209, 0xffff, 0);   /* continues 10-19 */
      assert_int_equal (extmap_put (&m, 9, &x), 0);
      assert_version (&get (&m, 8)->v[0], 1, 108, 0xffff, 0);
      assert_version (&get (&m, 9)->v[0], 1, 209, 0xffff, 0);
    }
    assert_int_equal (extmap_runs (&m, &dense), 2);
    assert_int_equal (dense, 0);
    extmap_free (&m);
  }
}

/* The copy-on-write pattern over a fully written volume: each table
 * one run, then second versions (and replaced single versions) land
 * at random clusters inside the runs, splitting them in three in place
 * while the leaf has room and through a rebuild when it grows; some
 * are put back as they were (merging) and some dropped.  Checked
 * against the model after every step, and the map's memory against a
 * run count: a split that lost a run's maximality would leave more. */
static void
test_extmap_splits_inside_runs_match_the_model (void **state)
{
  static struct model md;
  struct extmap m;
  uint64_t c, seed;
  int op;

  for (seed = 1; seed <= 3; seed++) {
    model_begin (&md, &m, seed * 0x2545f4914f6cdd1dull);
    for (c = 0; c < MODEL_CLUSTERS; c++) {
      struct ext x = version (1, 100 + (uint32_t) c, 0xffff, 0);
      assert_int_equal (extmap_put (&m, c, &x), 0);
      model_put (&md, c, &x);
    }
    assert_true (extmap_bytes (&m) <= 4 * 256);    /* 4 tables, 1 run each */
    /* Few enough that the tables stay sparse (a dense one stays so). */
    for (op = 0; op < 700; op++) {
      uint32_t what = rnd (10);

      c = rnd (MODEL_CLUSTERS);
      if (what < 6 && md.n[c] < MODEL_DEPTH) {
        /* A new version at a generation above every other. */
        struct ext x = version (2 + md.n[c], 100000 + (uint32_t) op,
                                1ull << rnd (16), 0);
        assert_int_equal (extmap_put (&m, c, &x), 0);
        model_put (&md, c, &x);
      }
      else if (what < 8 && md.n[c] == 1) {
        /* The single version replaced: elsewhere, or back where the
         * run would continue it. */
        struct ext x = version (1, rnd (2) ? 100 + (uint32_t) c
                                : 200000 + (uint32_t) op, 0xffff, 0);
        assert_int_equal (extmap_put (&m, c, &x), 0);
        model_put (&md, c, &x);
      }
      else if (md.n[c] > 1) {
        uint32_t gen = md.v[c][md.n[c] - 1].gen;
        assert_int_equal (extmap_drop (&m, c, gen), 0);
        assert_int_equal (model_drop (&md, c, gen), 0);
      }
      if (op % 100 == 0) {
        model_check (&m, &md);
        assert_runs_maximal (&m, &md);
      }
    }
    model_check (&m, &md);
    assert_runs_maximal (&m, &md);
    /* Every cluster back to its first version: one run per table. */
    for (c = 0; c < MODEL_CLUSTERS; c++) {
      struct ext x = version (1, 100 + (uint32_t) c, 0xffff, 0);
      while (md.n[c] > 1) {
        uint32_t gen = md.v[c][md.n[c] - 1].gen;
        assert_int_equal (extmap_drop (&m, c, gen), 0);
        assert_int_equal (model_drop (&md, c, gen), 0);
      }
      assert_int_equal (extmap_put (&m, c, &x), 0);
      model_put (&md, c, &x);
    }
    model_check (&m, &md);
    assert_runs_maximal (&m, &md);
    assert_true (extmap_bytes (&m) <= 4 * 256);
    extmap_free (&m);
  }
}

/* extmap_next_since finds every cluster of the tables that had a
 * version of the generation or newer, and skips the others; a table
 * keeps its bound when its newer versions are dropped. */
static void
test_extmap_next_since_skips_tables_without_newer_versions (void **state)
{
  const uint64_t t = EXTMAP_L2_SIZE;
  struct extmap m;
  struct ext a = version (1, 10, 0x1, 0), b = version (5, 20, 0x2, 0);
  uint64_t vci;

  assert_int_equal (extmap_init (&m, 4 * t), 0);
  assert_int_equal (extmap_put (&m, 3, &a), 0);
  assert_int_equal (extmap_put (&m, 2 * t + 7, &a), 0);
  assert_int_equal (extmap_put (&m, 2 * t + 9, &b), 0);
  assert_int_equal (extmap_put (&m, 3 * t + 1, &a), 0);

  vci = 0;
  assert_int_equal (extmap_next_since (&m, &vci, 0), 1);
  assert_int_equal (vci, 3);
  vci = 0;
  assert_int_equal (extmap_next_since (&m, &vci, 5), 1);
  assert_int_equal (vci, 2 * t + 7);     /* the whole table, older too */
  vci = 2 * t + 8;
  assert_int_equal (extmap_next_since (&m, &vci, 5), 1);
  assert_int_equal (vci, 2 * t + 9);
  vci = 2 * t + 10;
  assert_int_equal (extmap_next_since (&m, &vci, 5), 0);
  vci = 0;
  assert_int_equal (extmap_next_since (&m, &vci, 6), 0);
  assert_int_equal (extmap_drop (&m, 2 * t + 9, 5), 0);
  vci = 0;
  assert_int_equal (extmap_next_since (&m, &vci, 5), 1);
  assert_int_equal (vci, 2 * t + 7);
  extmap_free (&m);
}

static void
test_extmap_sequential_clusters_take_one_run (void **state)
{
  const uint64_t n = 64 * EXTMAP_L2_SIZE;
  struct extmap m;
  uint64_t c;
  size_t bytes;

  assert_int_equal (extmap_init (&m, n), 0);
  for (c = 0; c < n; c++) {
    struct ext x = version (1, 1000 + (uint32_t) c, 0xffff, 0);
    assert_int_equal (extmap_put (&m, c, &x), 0);
  }
  bytes = extmap_bytes (&m);
  print_message ("sequential: %zu bytes for %" PRIu64 " clusters\n", bytes, n);
  assert_true (bytes <= n / EXTMAP_L2_SIZE *
               (sizeof (void *) + sizeof (uint32_t) + 8 + 3 * 20));
  assert_version (&get (&m, 777)->v[0], 1, 1777, 0xffff, 0);
  /* An overwrite in the middle splits the run in three, and putting
   * the same version back merges them again. */
  {
    struct ext y = version (1, 9, 0xffff, 0), z = version (1, 1777, 0xffff, 0);
    assert_int_equal (extmap_put (&m, 777, &y), 0);
    assert_version (&get (&m, 776)->v[0], 1, 1776, 0xffff, 0);
    assert_version (&get (&m, 777)->v[0], 1, 9, 0xffff, 0);
    assert_version (&get (&m, 778)->v[0], 1, 1778, 0xffff, 0);
    assert_int_equal (extmap_put (&m, 777, &z), 0);
    assert_int_equal (extmap_bytes (&m), bytes);
  }
  extmap_free (&m);
}

static void
test_extmap_random_clusters_take_at_most_20_bytes_each (void **state)
{
  const uint64_t n = 256 * EXTMAP_L2_SIZE;
  struct extmap m;
  uint64_t c, mapped = 0;
  uint32_t *perm;
  size_t bytes;

  /* Half of the clusters in random order, each with a cluster of its
   * own: no runs form. */
  perm = malloc (n * sizeof *perm);
  assert_non_null (perm);
  for (c = 0; c < n; c++)
    perm[c] = (uint32_t) c;
  rng_state = 42;
  for (c = n - 1; c > 0; c--) {
    uint32_t j = rnd ((uint32_t) c + 1), t = perm[c];
    perm[c] = perm[j];
    perm[j] = t;
  }
  assert_int_equal (extmap_init (&m, n), 0);
  for (c = 0; c < n / 2; c++) {
    struct ext x = version (1, 3 * (uint32_t) c, 0xffff, 0);
    assert_int_equal (extmap_put (&m, perm[c], &x), 0);
    mapped++;
  }
  bytes = extmap_bytes (&m);
  print_message ("random half: %.1f bytes per mapped cluster\n",
                 (double) bytes / mapped);
  assert_true (bytes <= mapped * 20 + mapped * 20 / 8 + n / EXTMAP_L2_SIZE * 64);
  for (c = 0; c < n / 2; c++)
    assert_int_equal (get (&m, perm[c])->v[0].phys, 3 * c);
  for (c = n / 2; c < n; c++)
    assert_null (get (&m, perm[c]));
  /* All of them: the tables turn dense, 16 bytes a cluster. */
  for (c = n / 2; c < n; c++) {
    struct ext x = version (1, 3 * (uint32_t) c, 0xffff, 0);
    assert_int_equal (extmap_put (&m, perm[c], &x), 0);
  }
  assert_true (extmap_bytes (&m) <= n * 16 + n / EXTMAP_L2_SIZE * 64);
  for (c = 0; c < n; c++)
    assert_int_equal (get (&m, perm[c])->v[0].phys, 3 * c);
  extmap_free (&m);
  free (perm);
}

static void
test_extmap_second_version_uses_a_vector_and_goes_back (void **state)
{
  struct extmap m;
  struct ext a = version (1, 10, 0xffff, 0), b = version (2, 11, 0x1, 0);
  const struct extvec *ev;
  size_t compact;

  assert_int_equal (extmap_init (&m, 4), 0);
  assert_int_equal (extmap_put (&m, 1, &a), 0);
  compact = extmap_bytes (&m);
  assert_int_equal (extmap_put (&m, 1, &b), 0);
  assert_true (extmap_bytes (&m) > compact);
  ev = get (&m, 1);
  assert_int_equal (ev->n, 2);
  assert_version (&ev->v[0], 1, 10, 0xffff, 0);
  assert_version (&ev->v[1], 2, 11, 0x1, 0);
  assert_int_equal (extmap_drop (&m, 1, 1), 0);
  assert_int_equal (extmap_bytes (&m), compact);
  ev = get (&m, 1);
  assert_int_equal (ev->n, 1);
  assert_version (&ev->v[0], 2, 11, 0x1, 0);
  extmap_free (&m);
}

/* Threads changing different clusters of the same tables while others
 * read theirs: each thread owns the clusters c with c % NTHREADS == t,
 * as the stripe locks would give them. */
#define NTHREADS 4
#define SHARED_CLUSTERS (2 * EXTMAP_L2_SIZE)

struct worker {
  struct extmap *m;
  unsigned t;
  int errors;
};

static void *
worker_run (void *arg)
{
  struct worker *w = arg;
  uint32_t phys[SHARED_CLUSTERS] = { 0 };
  union extvec_buf buf;
  uint64_t c;
  unsigned round;

  for (round = 1; round <= 200; round++)
    for (c = w->t; c < SHARED_CLUSTERS; c += NTHREADS) {
      const struct extvec *ev = extmap_get (w->m, c, &buf);
      uint32_t want = phys[c];

      if ((want == 0) != (ev == NULL) ||
          (ev != NULL && ev->v[ev->n - 1].phys != want))
        w->errors++;
      if ((round + c) % 5 == 0) {
        if (want != 0 && extmap_drop (w->m, c, 1) == -1)
          w->errors++;
        phys[c] = 0;
      }
      else {
        struct ext x = version (1, (uint32_t) (round * 4096 + c), 0xffff, 0);
        if ((round + c) % 7 == 0)
          x.phys = (uint32_t) c + 1;   /* runs across the threads' clusters */
        if (extmap_put (w->m, c, &x) == -1)
          w->errors++;
        phys[c] = x.phys;
      }
    }
  return NULL;
}

static void
test_extmap_concurrent_changes_to_one_table (void **state)
{
  struct extmap m;
  struct worker w[NTHREADS];
  pthread_t th[NTHREADS];
  unsigned t;

  assert_int_equal (extmap_init (&m, SHARED_CLUSTERS), 0);
  for (t = 0; t < NTHREADS; t++) {
    w[t] = (struct worker) { &m, t, 0 };
    assert_int_equal (pthread_create (&th[t], NULL, worker_run, &w[t]), 0);
  }
  for (t = 0; t < NTHREADS; t++) {
    pthread_join (th[t], NULL);
    assert_int_equal (w[t].errors, 0);
  }
  extmap_free (&m);
}

/* Allocator. */

struct punched {
  size_t n;
  uint32_t p[64];
  size_t calls;                 /* alloc_release's calls of the punch */
};

static void
record_punch (void *opaque, uint32_t p, uint32_t n)
{
  struct punched *pu = opaque;

  assert_true (n > 0);
  pu->calls++;
  while (n-- > 0) {
    assert_true (pu->n < 64);
    pu->p[pu->n++] = p++;
  }
}

static void
test_alloc_get_returns_distinct_clusters_from_zero (void **state)
{
  struct alloc a;
  uint32_t i, p;
  uint8_t *seen = calloc (1000, 1);

  assert_non_null (seen);
  assert_int_equal (alloc_init (&a), 0);
  for (i = 0; i < 1000; i++) {
    assert_int_equal (alloc_get (&a, &p), 0);
    assert_int_equal (p, i);       /* a fresh file is filled compactly */
    assert_false (seen[p]);
    seen[p] = 1;
    assert_true (alloc_test (&a, p));
  }
  assert_int_equal (alloc_used (&a), 1000);
  assert_false (alloc_test (&a, 1000));
  alloc_destroy (&a);
  free (seen);
}

static void
test_alloc_put_now_makes_cluster_reusable_at_once (void **state)
{
  struct alloc a;
  uint32_t i, p;

  assert_int_equal (alloc_init (&a), 0);
  for (i = 0; i < 10; i++)
    assert_int_equal (alloc_get (&a, &p), 0);
  alloc_put_now (&a, 4);
  assert_false (alloc_test (&a, 4));
  assert_int_equal (alloc_used (&a), 9);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 4);          /* the lowest free cluster first */
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 10);
  alloc_destroy (&a);
}

/* Runs of consecutive clusters: next-fit from where the last
 * allocation ended, past free clusters too few to hold the run, growing
 * the space at its end; EAGAIN when no run lies within the search
 * window (single clusters are still there), EINVAL for none. */
static void
test_alloc_get_run_takes_consecutive_clusters (void **state)
{
  struct alloc a;
  uint32_t i, p;

  assert_int_equal (alloc_init (&a), 0);
  assert_int_equal (alloc_get_run (&a, 16, &p), 0);
  assert_int_equal (p, 0);
  assert_int_equal (alloc_get_run (&a, 4, &p), 0);
  assert_int_equal (p, 16);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 20);
  assert_int_equal (alloc_used (&a), 21);

  /* Free 3 alone and 5-6 together: a run of 2 skips 3. */
  alloc_put_now (&a, 3);
  alloc_put_now (&a, 5);
  alloc_put_now (&a, 6);
  assert_int_equal (alloc_get_run (&a, 2, &p), 0);
  assert_int_equal (p, 5);
  assert_true (alloc_test (&a, 5) && alloc_test (&a, 6));
  assert_false (alloc_test (&a, 3));
  /* A run of 3 finds nothing before the end, and the end grows. */
  assert_int_equal (alloc_get_run (&a, 3, &p), 0);
  assert_int_equal (p, 21);
  assert_int_equal (alloc_used (&a), 23);

  errno = 0;
  assert_int_equal (alloc_get_run (&a, 0, &p), -1);
  assert_int_equal (errno, EINVAL);
  alloc_destroy (&a);

  /* Every other cluster in use over 140,000: no run of 2 within reach
   * of the start, the counts untouched; one cluster is still there. */
  assert_int_equal (alloc_init (&a), 0);
  for (i = 0; i < 140000; i += 2)
    assert_int_equal (alloc_mark (&a, i), 0);
  errno = 0;
  assert_int_equal (alloc_get_run (&a, 2, &p), -1);
  assert_int_equal (errno, EAGAIN);
  assert_int_equal (alloc_used (&a), 70000);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 1);
  alloc_destroy (&a);
}

static void
test_alloc_put_after_waits_for_durable_seq (void **state)
{
  struct alloc a;
  uint32_t i, p;

  assert_int_equal (alloc_init (&a), 0);
  for (i = 0; i < 8; i++)
    assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (alloc_put_after (&a, 2, 10), 0);
  assert_int_equal (alloc_put_after (&a, 5, 12), 0);

  /* Pending frees stay in use: never handed out again early. */
  assert_true (alloc_test (&a, 2));
  assert_true (alloc_test (&a, 5));
  assert_int_equal (alloc_used (&a), 8);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 8);

  alloc_release (&a, 9);
  assert_int_equal (alloc_used (&a), 9);
  assert_int_equal (alloc_unpunched (&a), 0);

  /* Released: no longer used, but waiting for the punch, so not
   * handed out either. */
  alloc_release (&a, 11);
  assert_true (alloc_test (&a, 2));
  assert_int_equal (alloc_used (&a), 8);
  assert_int_equal (alloc_unpunched (&a), 1);
  alloc_release (&a, 12);
  assert_int_equal (alloc_used (&a), 7);
  assert_int_equal (alloc_unpunched (&a), 2);
  alloc_release (&a, 12);               /* nothing more */
  assert_int_equal (alloc_unpunched (&a), 2);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 9);

  /* Punched, they are reused, lowest first. */
  assert_int_equal (alloc_punch_freed (&a, SIZE_MAX, record_punch,
                                       &(struct punched) { 0 }), 2);
  assert_int_equal (alloc_unpunched (&a), 0);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 2);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 5);
  alloc_destroy (&a);
}

/* Clusters waiting for their punch are punched as runs of consecutive
 * clusters, ascending, one call per run, whatever order they were
 * freed in (a punch holds the data file's inode lock, which the writes
 * need); at most MAX at a time, lowest first; each allocatable once
 * punched, not before. */
static void
test_alloc_punch_freed_punches_each_run_once (void **state)
{
  static const uint32_t order[] = { 7, 3, 4, 12, 5, 8, 6, 20 };
  struct alloc a;
  struct punched pu = { 0 };
  uint32_t i, p;

  assert_int_equal (alloc_init (&a), 0);
  for (i = 0; i < 24; i++)
    assert_int_equal (alloc_get (&a, &p), 0);
  for (i = 0; i < sizeof order / sizeof order[0]; i++)
    assert_int_equal (alloc_put_after (&a, order[i], 5 + i % 2), 0);
  alloc_release (&a, 6);
  assert_int_equal (pu.calls, 0);       /* nothing punched by a release */
  assert_int_equal (alloc_unpunched (&a), 8);
  assert_int_equal (alloc_used (&a), 16);

  assert_int_equal (alloc_punch_freed (&a, 7, record_punch, &pu), 7);
  assert_int_equal (pu.calls, 2);       /* 3-8, 12 */
  for (i = 0; i < 6; i++)
    assert_int_equal (pu.p[i], 3 + i);
  assert_int_equal (pu.p[6], 12);
  assert_false (alloc_test (&a, 3));
  assert_true (alloc_test (&a, 20));    /* still waiting */
  assert_int_equal (alloc_unpunched (&a), 1);
  assert_int_equal (alloc_punch_freed (&a, SIZE_MAX, record_punch, &pu), 1);
  assert_int_equal (pu.calls, 3);
  assert_int_equal (pu.p[7], 20);
  assert_int_equal (alloc_punch_freed (&a, SIZE_MAX, record_punch, &pu), 0);
  assert_int_equal (pu.calls, 3);
  assert_int_equal (alloc_used (&a), 16);
  assert_false (alloc_test (&a, 20));
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 3);
  alloc_destroy (&a);
}

/* A cluster being punched is not handed out: the allocator, called
 * from the punch (without the allocator's lock), gets another. */
struct punch_race {
  struct alloc *a;
  struct punched pu;
  uint32_t got;
  int got_r;
};

static void
punch_and_allocate (void *opaque, uint32_t p, uint32_t n)
{
  struct punch_race *pr = opaque;

  record_punch (&pr->pu, p, n);
  pr->got_r = alloc_get (pr->a, &pr->got);
}

static void
test_alloc_cluster_being_punched_is_not_handed_out (void **state)
{
  struct alloc a;
  struct punch_race pr = { .a = &a };
  uint32_t i, p;

  assert_int_equal (alloc_init (&a), 0);
  for (i = 0; i < 6; i++)
    assert_int_equal (alloc_get (&a, &p), 0);
  for (i = 1; i <= 3; i++)
    assert_int_equal (alloc_put_after (&a, i, 1), 0);
  alloc_release (&a, 1);
  assert_int_equal (alloc_punch_freed (&a, SIZE_MAX, punch_and_allocate,
                                       &pr), 3);
  assert_int_equal (pr.pu.calls, 1);
  assert_int_equal (pr.got_r, 0);
  assert_int_equal (pr.got, 6);         /* not 1-3: being punched */
  assert_int_equal (alloc_used (&a), 4);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 1);              /* free after the punch */
  alloc_destroy (&a);
}

/* The pool's counts follow: USED by the clusters in use, UNPUNCHED by
 * those waiting for a punch, both back to 0 at the end. */
static void
test_alloc_shared_counts_follow_frees_and_punches (void **state)
{
  struct alloc a;
  uint64_t used = 0, unpunched = 0;
  uint32_t i, p;

  assert_int_equal (alloc_init (&a), 0);
  a.shared = &used;
  a.shared_unpunched = &unpunched;
  a.unit = 65536;
  for (i = 0; i < 4; i++)
    assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (alloc_put_after (&a, 0, 1), 0);
  assert_int_equal (alloc_put_after (&a, 1, 1), 0);
  assert_int_equal (used, 4 * 65536);
  alloc_release (&a, 1);
  assert_int_equal (used, 2 * 65536);
  assert_int_equal (unpunched, 2 * 65536);
  assert_int_equal (alloc_punch_freed (&a, 1, record_punch,
                                       &(struct punched) { 0 }), 1);
  assert_int_equal (used, 2 * 65536);
  assert_int_equal (unpunched, 65536);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 0);
  assert_int_equal (used, 3 * 65536);
  alloc_destroy (&a);
  assert_int_equal (used, 0);
  assert_int_equal (unpunched, 0);
}

static void
test_alloc_mark_detects_cluster_owned_twice (void **state)
{
  struct alloc a;
  uint32_t p;

  assert_int_equal (alloc_init (&a), 0);
  assert_int_equal (alloc_mark (&a, 3), 0);
  assert_int_equal (alloc_mark (&a, 70000), 0);     /* grows the bitmap */
  errno = 0;
  assert_int_equal (alloc_mark (&a, 3), -1);
  assert_int_equal (errno, EEXIST);
  assert_int_equal (alloc_mark (&a, 70000), -1);
  assert_int_equal (alloc_used (&a), 2);
  assert_true (alloc_test (&a, 70000));
  assert_false (alloc_test (&a, 69999));

  /* Allocation skips marked clusters. */
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 0);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 1);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 2);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 4);
  alloc_destroy (&a);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_extmap_get_of_unwritten_cluster_is_null),
    cmocka_unit_test (test_extmap_put_stores_the_version),
    cmocka_unit_test (test_extmap_put_same_generation_replaces),
    cmocka_unit_test (test_extmap_versions_are_kept_in_generation_order),
    cmocka_unit_test (test_extvec_top_finds_newest_version_visible_at_gen),
    cmocka_unit_test (test_extmap_drop_removes_one_version),
    cmocka_unit_test (test_extmap_drop_of_last_version_forgets_cluster),
    cmocka_unit_test (test_extmap_next_iterates_across_l2_tables),
    cmocka_unit_test (test_extmap_many_versions_grow_the_vector),
    cmocka_unit_test (test_extmap_matches_a_reference_model),
    cmocka_unit_test (test_extmap_splits_inside_runs_match_the_model),
    cmocka_unit_test (test_extmap_cluster_at_a_run_end_joins_the_neighbour),
    cmocka_unit_test (test_extmap_next_since_skips_tables_without_newer_versions),
    cmocka_unit_test (test_extmap_sequential_clusters_take_one_run),
    cmocka_unit_test (test_extmap_random_clusters_take_at_most_20_bytes_each),
    cmocka_unit_test (test_extmap_second_version_uses_a_vector_and_goes_back),
    cmocka_unit_test (test_extmap_concurrent_changes_to_one_table),
    cmocka_unit_test (test_alloc_get_returns_distinct_clusters_from_zero),
    cmocka_unit_test (test_alloc_put_now_makes_cluster_reusable_at_once),
    cmocka_unit_test (test_alloc_get_run_takes_consecutive_clusters),
    cmocka_unit_test (test_alloc_put_after_waits_for_durable_seq),
    cmocka_unit_test (test_alloc_punch_freed_punches_each_run_once),
    cmocka_unit_test (test_alloc_cluster_being_punched_is_not_handed_out),
    cmocka_unit_test (test_alloc_shared_counts_follow_frees_and_punches),
    cmocka_unit_test (test_alloc_mark_detects_cluster_owned_twice),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
