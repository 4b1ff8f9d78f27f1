/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-extmap.c: unit tests of the in-memory extent map (server/extmap.c)
 * and the physical cluster allocator with deferred frees
 * (server/alloc.c).
 */

#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

static void
test_extmap_get_of_unwritten_cluster_is_null (void **state)
{
  struct extmap m;

  assert_int_equal (extmap_init (&m, 3 * EXTMAP_L2_SIZE + 7), 0);
  assert_null (extmap_get (&m, 0));
  assert_null (extmap_get (&m, EXTMAP_L2_SIZE));
  assert_null (extmap_get (&m, 3 * EXTMAP_L2_SIZE + 6));
  assert_int_equal (extvec_top (NULL, UINT32_MAX), -1);
  extmap_free (&m);
}

static void
test_extmap_put_stores_and_returns_the_version (void **state)
{
  struct extmap m;
  struct ext x = version (3, 17, 0x0f, 0xf0);
  struct ext *stored;
  struct extvec *ev;

  assert_int_equal (extmap_init (&m, 1000), 0);
  stored = extmap_put (&m, 600, &x);
  assert_non_null (stored);
  assert_version (stored, 3, 17, 0x0f, 0xf0);
  ev = extmap_get (&m, 600);
  assert_non_null (ev);
  assert_int_equal (ev->n, 1);
  assert_ptr_equal (&ev->v[0], stored);
  /* Neighbours, also in other second-level tables, stay unwritten. */
  assert_null (extmap_get (&m, 599));
  assert_null (extmap_get (&m, 601));
  assert_null (extmap_get (&m, 600 - EXTMAP_L2_SIZE));
  extmap_free (&m);
}

static void
test_extmap_put_same_generation_replaces (void **state)
{
  struct extmap m;
  struct ext a = version (5, 1, 0x1, 0), b = version (5, 9, 0x3, 0x4);
  struct extvec *ev;

  assert_int_equal (extmap_init (&m, 16), 0);
  assert_non_null (extmap_put (&m, 2, &a));
  assert_non_null (extmap_put (&m, 2, &b));
  ev = extmap_get (&m, 2);
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
  struct extvec *ev;
  size_t i;

  assert_int_equal (extmap_init (&m, 4), 0);
  for (i = 0; i < sizeof gens / sizeof gens[0]; i++) {
    struct ext x = version (gens[i], 100 + gens[i], 1ull << gens[i], 0);
    assert_non_null (extmap_put (&m, 3, &x));
  }
  ev = extmap_get (&m, 3);
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
  struct extvec *ev;
  uint32_t g, i;

  /* Versions at gens 10, 20, ..., 1000: check every query against a
   * linear scan, including below the oldest and above the newest. */
  assert_int_equal (extmap_init (&m, 1), 0);
  for (g = 1000; g >= 10; g -= 10) {
    struct ext x = version (g, g, 1, 0);
    assert_non_null (extmap_put (&m, 0, &x));
  }
  ev = extmap_get (&m, 0);
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
  struct extvec *ev;
  uint32_t g;

  assert_int_equal (extmap_init (&m, 8), 0);
  for (g = 1; g <= 4; g++) {
    struct ext x = version (g, 10 * g, g, 0);
    assert_non_null (extmap_put (&m, 5, &x));
  }
  assert_int_equal (extmap_drop (&m, 5, 6), -1);     /* absent gen */
  assert_int_equal (extmap_drop (&m, 4, 1), -1);     /* absent cluster */
  assert_int_equal (extmap_drop (&m, 5, 2), 0);
  ev = extmap_get (&m, 5);
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
  assert_non_null (extmap_put (&m, 3, &x));
  assert_non_null (extmap_put (&m, EXTMAP_L2_SIZE + 1, &x));
  assert_int_equal (extmap_drop (&m, 3, 1), 0);
  assert_null (extmap_get (&m, 3));
  /* Iteration skips the emptied slot of an allocated table. */
  assert_int_equal (extmap_next (&m, &vci), 1);
  assert_int_equal (vci, EXTMAP_L2_SIZE + 1);
  assert_int_equal (extmap_drop (&m, EXTMAP_L2_SIZE + 1, 1), 0);
  vci = 0;
  assert_int_equal (extmap_next (&m, &vci), 0);
  /* The cluster can be written again. */
  assert_non_null (extmap_put (&m, 3, &x));
  assert_int_equal (extmap_get (&m, 3)->n, 1);
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
    assert_non_null (extmap_put (&m, want[i], &x));
  }

  k = 0;
  vci = 0;
  while (extmap_next (&m, &vci)) {
    assert_true (k < nwant);
    assert_int_equal (vci, want[k]);
    assert_int_equal (extmap_get (&m, vci)->v[0].phys, k);
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
  struct extvec *ev;
  uint32_t g;

  /* Ascending inserts (the common case) and a drop in the middle. */
  assert_int_equal (extmap_init (&m, 1), 0);
  for (g = 1; g <= 300; g++) {
    struct ext x = version (g, g, g, ~(uint64_t) g);
    assert_non_null (extmap_put (&m, 0, &x));
  }
  assert_int_equal (extmap_drop (&m, 0, 150), 0);
  ev = extmap_get (&m, 0);
  assert_int_equal (ev->n, 299);
  for (g = 0; g < ev->n; g++) {
    uint32_t want = g < 149 ? g + 1 : g + 2;
    assert_version (&ev->v[g], want, want, want, ~(uint64_t) want);
  }
  assert_int_equal (ev->v[extvec_top (ev, 150)].gen, 149);
  extmap_free (&m);
}

/* Allocator. */

struct punched {
  size_t n;
  uint32_t p[64];
};

static void
record_punch (void *opaque, uint32_t p)
{
  struct punched *pu = opaque;

  assert_true (pu->n < 64);
  pu->p[pu->n++] = p;
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

static void
test_alloc_put_after_waits_for_durable_seq (void **state)
{
  struct alloc a;
  struct punched pu = { 0 };
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

  alloc_release (&a, 9, record_punch, &pu);
  assert_int_equal (pu.n, 0);
  assert_true (alloc_test (&a, 2));

  alloc_release (&a, 11, record_punch, &pu);
  assert_int_equal (pu.n, 1);
  assert_int_equal (pu.p[0], 2);
  assert_false (alloc_test (&a, 2));
  assert_true (alloc_test (&a, 5));
  assert_int_equal (alloc_used (&a), 8);

  alloc_release (&a, 12, record_punch, &pu);
  assert_int_equal (pu.n, 2);
  assert_int_equal (pu.p[1], 5);
  assert_int_equal (alloc_used (&a), 7);

  /* Released clusters are reused, lowest first; a second release of
   * the same seq punches nothing more. */
  alloc_release (&a, 12, record_punch, &pu);
  assert_int_equal (pu.n, 2);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 2);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (p, 5);
  alloc_destroy (&a);
}

static void
test_alloc_release_without_punch_callback (void **state)
{
  struct alloc a;
  uint32_t p;

  assert_int_equal (alloc_init (&a), 0);
  assert_int_equal (alloc_get (&a, &p), 0);
  assert_int_equal (alloc_put_after (&a, p, 1), 0);
  alloc_release (&a, 1, NULL, NULL);
  assert_false (alloc_test (&a, p));
  assert_int_equal (alloc_used (&a), 0);
  alloc_destroy (&a);
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
    cmocka_unit_test (test_extmap_put_stores_and_returns_the_version),
    cmocka_unit_test (test_extmap_put_same_generation_replaces),
    cmocka_unit_test (test_extmap_versions_are_kept_in_generation_order),
    cmocka_unit_test (test_extvec_top_finds_newest_version_visible_at_gen),
    cmocka_unit_test (test_extmap_drop_removes_one_version),
    cmocka_unit_test (test_extmap_drop_of_last_version_forgets_cluster),
    cmocka_unit_test (test_extmap_next_iterates_across_l2_tables),
    cmocka_unit_test (test_extmap_many_versions_grow_the_vector),
    cmocka_unit_test (test_alloc_get_returns_distinct_clusters_from_zero),
    cmocka_unit_test (test_alloc_put_now_makes_cluster_reusable_at_once),
    cmocka_unit_test (test_alloc_put_after_waits_for_durable_seq),
    cmocka_unit_test (test_alloc_release_without_punch_callback),
    cmocka_unit_test (test_alloc_mark_detects_cluster_owned_twice),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
