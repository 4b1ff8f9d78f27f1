/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * genpath.c: paths through a reverted volume's generations and the
 * readers of a version (design notes in genpath.h).
 *
 * Layer (docs/design.md's map; tests/test-engine-calls-go-down.sh):
 * the volume layer's helpers (3): calls only the extent map's vector
 * lookups (extmap.c).
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "genpath.h"

/* Index of the last revert with gen <= G, or -1. */
static ssize_t
last_revert (const struct revert *rv, size_t nrv, uint32_t g)
{
  ssize_t lo = 0, hi = (ssize_t) nrv - 1;

  while (lo <= hi) {
    ssize_t mid = lo + (hi - lo) / 2;
    if (rv[mid].gen <= g)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return hi;
}

int
genpath_make (const struct revert *rv, size_t nrv, uint32_t gen,
              struct genpath **out)
{
  struct genpath *p;
  ssize_t k;
  uint32_t g = gen;

  *out = NULL;
  k = last_revert (rv, nrv, g);
  if (k < 0)
    return 0;
  /* At most one span per revert, and the first segment's. */
  p = malloc (sizeof *p + (nrv + 1) * sizeof p->s[0]);
  if (p == NULL) {
    errno = ENOMEM;
    return -1;
  }
  p->n = 0;
  for (;;) {
    if (k < 0) {
      p->s[p->n].lo = 0;
      p->s[p->n++].hi = g;
      break;
    }
    p->s[p->n].lo = rv[k].gen;
    p->s[p->n++].hi = g;
    g = rv[k].parent;
    /* Parents are older than their revert: K only goes down. */
    k = last_revert (rv, (size_t) k, g);
  }
  *out = p;
  return 0;
}

int
genpath_sees (const struct genpath *path, uint32_t gen, uint32_t g)
{
  uint32_t k;

  if (path == NULL)
    return g <= gen;
  for (k = 0; k < path->n; k++)
    if (g >= path->s[k].lo && g <= path->s[k].hi)
      return 1;
  return 0;
}

uint32_t
genpath_meet (const struct genpath *path_a, uint32_t gen_a,
              const struct genpath *path_b, uint32_t gen_b)
{
  struct genspan one_a = { 0, gen_a }, one_b = { 0, gen_b };
  const struct genspan *sa = path_a ? path_a->s : &one_a;
  const struct genspan *sb = path_b ? path_b->s : &one_b;
  uint32_t na = path_a ? path_a->n : 1, nb = path_b ? path_b->n : 1;
  uint32_t i, j, best = 0;

  for (i = 0; i < na; i++)
    for (j = 0; j < nb; j++) {
      uint32_t lo = sa[i].lo > sb[j].lo ? sa[i].lo : sb[j].lo;
      uint32_t hi = sa[i].hi < sb[j].hi ? sa[i].hi : sb[j].hi;
      if (lo <= hi && hi > best)
        best = hi;
    }
  return best;
}

int
gensegs_build (struct gensegs *sg, const struct revert *rv, size_t nrv)
{
  size_t j;

  sg->n = nrv + 1;
  sg->seg = calloc (sg->n, sizeof *sg->seg);
  if (sg->seg == NULL) {
    sg->n = 0;
    errno = ENOMEM;
    return -1;
  }
  for (j = 0; j < sg->n; j++) {
    struct genseg *x = &sg->seg[j];
    /* Generation 0: what a flatten copied below a clone's own. */
    x->start = j == 0 ? 0 : rv[j - 1].gen;
    x->end = j == nrv ? GENPATH_INF : rv[j].gen - 1;
    x->parent = j == 0 ? 0 : rv[j - 1].parent;
    if (x->parent != 0 &&
        genpath_make (rv, nrv, x->parent, &x->ppath) == -1) {
      gensegs_free (sg);
      errno = ENOMEM;
      return -1;
    }
  }
  return 0;
}

void
gensegs_free (struct gensegs *sg)
{
  size_t j;

  for (j = 0; j < sg->n; j++)
    free (sg->seg[j].ppath);
  free (sg->seg);
  sg->seg = NULL;
  sg->n = 0;
}

/* One segment: what its parent reads is where each subcluster starts;
 * then the rule of a history without reverts. */
static void
segment_readers (const struct extvec *ev, const struct genseg *x,
                 unsigned nsub, genreader_fn fn, void *opaque)
{
  uint64_t all = nsub >= 64 ? UINT64_MAX : (1ull << nsub) - 1, seen = 0;
  int cur[64], i, first, last;
  uint32_t cur_lo[64];
  unsigned s;

  for (s = 0; s < nsub; s++) {
    cur[s] = -1;
    cur_lo[s] = x->start;
  }
  if (x->parent != 0)
    for (i = extvec_top_path (ev, x->parent, x->ppath);
         i >= 0 && seen != all; i = extvec_older (ev, x->ppath, i)) {
      uint64_t d = (ev->v[i].alloc | ev->v[i].zero) & all & ~seen;
      for (; d; d &= d - 1)
        cur[__builtin_ctzll (d)] = i;
      seen |= ev->v[i].alloc | ev->v[i].zero;
    }
  first = x->start == 0 ? 0 : extvec_top (ev, x->start - 1) + 1;
  last = extvec_top (ev, x->end);
  for (i = first; i <= last; i++) {
    uint64_t d = (ev->v[i].alloc | ev->v[i].zero) & all;
    for (; d; d &= d - 1) {
      s = (unsigned) __builtin_ctzll (d);
      if (cur[s] >= 0)
        fn (opaque, cur[s], s, cur_lo[s], ev->v[i].gen, 0);
      cur[s] = i;
      cur_lo[s] = ev->v[i].gen;
    }
  }
  for (s = 0; s < nsub; s++)
    if (cur[s] >= 0)
      fn (opaque, cur[s], s, cur_lo[s],
          x->end == GENPATH_INF ? GENPATH_INF : x->end + 1,
          x->end == GENPATH_INF);
}

void
genpath_readers (const struct extvec *ev, const struct gensegs *sg,
                 unsigned nsub, genreader_fn fn, void *opaque)
{
  size_t j;

  for (j = 0; j < sg->n; j++)
    segment_readers (ev, &sg->seg[j], nsub, fn, opaque);
}
