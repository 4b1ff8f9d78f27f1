/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * extmap.c: the in-memory copy-on-write extent map: a two-level radix
 * table of per-cluster version vectors.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extmap.h"

int
extmap_init (struct extmap *m, uint64_t nclusters)
{
  m->nclusters = nclusters;
  m->nl1 = (nclusters + EXTMAP_L2_SIZE - 1) / EXTMAP_L2_SIZE;
  m->l1 = calloc (m->nl1 ? m->nl1 : 1, sizeof *m->l1);
  return m->l1 ? 0 : -1;
}

void
extmap_free (struct extmap *m)
{
  size_t i, j;

  if (m->l1 == NULL)
    return;
  for (i = 0; i < m->nl1; i++) {
    if (m->l1[i] == NULL)
      continue;
    for (j = 0; j < EXTMAP_L2_SIZE; j++)
      free (m->l1[i][j]);
    free (m->l1[i]);
  }
  free (m->l1);
  m->l1 = NULL;
}

static struct extvec **
slot (const struct extmap *m, uint64_t vci, int create)
{
  struct extvec ***l1p = &m->l1[vci >> EXTMAP_L2_BITS];
  struct extvec **l2 = __atomic_load_n (l1p, __ATOMIC_ACQUIRE);

  if (l2 == NULL) {
    struct extvec **expected = NULL;

    if (!create)
      return NULL;
    l2 = calloc (EXTMAP_L2_SIZE, sizeof *l2);
    if (l2 == NULL)
      return NULL;
    if (!__atomic_compare_exchange_n (l1p, &expected, l2, 0,
                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      free (l2);              /* another thread won the race */
      l2 = expected;
    }
  }
  return &l2[vci & (EXTMAP_L2_SIZE - 1)];
}

struct extvec *
extmap_get (const struct extmap *m, uint64_t vci)
{
  struct extvec **s = slot (m, vci, 0);

  return s ? *s : NULL;
}

int
extvec_top (const struct extvec *ev, uint32_t gen)
{
  int lo = 0, hi;

  if (ev == NULL || ev->n == 0)
    return -1;
  hi = (int) ev->n - 1;
  if (ev->v[hi].gen <= gen)       /* the common case: the newest */
    return hi;
  while (lo <= hi) {              /* last index with v[i].gen <= gen */
    int mid = lo + (hi - lo) / 2;
    if (ev->v[mid].gen <= gen)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return hi;
}

struct ext *
extmap_put (struct extmap *m, uint64_t vci, const struct ext *x)
{
  struct extvec **s = slot (m, vci, 1);
  struct extvec *ev;
  uint32_t i;

  if (s == NULL)
    return NULL;
  ev = *s;
  if (ev != NULL) {
    for (i = ev->n; i > 0 && ev->v[i - 1].gen >= x->gen; i--)
      if (ev->v[i - 1].gen == x->gen) {
        ev->v[i - 1] = *x;
        return &ev->v[i - 1];
      }
  }
  else
    i = 0;

  if (ev == NULL || ev->n == ev->cap) {
    uint32_t ncap = ev ? ev->cap * 2 : 1;
    struct extvec *nev = realloc (ev, sizeof *nev + ncap * sizeof nev->v[0]);
    if (nev == NULL)
      return NULL;
    if (ev == NULL)
      nev->n = 0;
    nev->cap = ncap;
    ev = nev;
    __atomic_store_n (s, ev, __ATOMIC_RELEASE);
  }
  memmove (&ev->v[i + 1], &ev->v[i], (ev->n - i) * sizeof ev->v[0]);
  ev->v[i] = *x;
  ev->n++;
  return &ev->v[i];
}

int
extmap_drop (struct extmap *m, uint64_t vci, uint32_t gen)
{
  struct extvec **s = slot (m, vci, 0);
  struct extvec *ev;
  uint32_t i;

  if (s == NULL || (ev = *s) == NULL)
    return -1;
  for (i = 0; i < ev->n; i++)
    if (ev->v[i].gen == gen)
      break;
  if (i == ev->n)
    return -1;
  memmove (&ev->v[i], &ev->v[i + 1], (ev->n - i - 1) * sizeof ev->v[0]);
  ev->n--;
  if (ev->n == 0) {
    __atomic_store_n (s, NULL, __ATOMIC_RELEASE);
    free (ev);
  }
  return 0;
}

int
extmap_next (const struct extmap *m, uint64_t *vci)
{
  uint64_t i = *vci;

  while (i < m->nclusters) {
    struct extvec **l2 = __atomic_load_n (&m->l1[i >> EXTMAP_L2_BITS],
                                          __ATOMIC_ACQUIRE);
    if (l2 == NULL) {
      i = ((i >> EXTMAP_L2_BITS) + 1) << EXTMAP_L2_BITS;
      continue;
    }
    for (; i < m->nclusters; i++) {
      if (__atomic_load_n (&l2[i & (EXTMAP_L2_SIZE - 1)],
                           __ATOMIC_RELAXED) != NULL) {
        *vci = i;
        return 1;
      }
      if ((i & (EXTMAP_L2_SIZE - 1)) == EXTMAP_L2_SIZE - 1) {
        i++;
        break;
      }
    }
  }
  return 0;
}
