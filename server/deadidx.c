/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * deadidx.c: a volume's dead index (deadidx.h's design notes): the
 * clusters whose versions shadow older ones, by generation.
 *
 * Layer (docs/design.md's map; tests/test-engine-calls-go-down.sh):
 * the volume layer's bottom, beside snapidx.c: calls nothing of the
 * engine.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deadidx.h"
#include "vector.h"

void
deadidx_init (struct deadidx *d)
{
  memset (d, 0, sizeof *d);
  pthread_mutex_init (&d->mu, NULL);
}

/* Free the lists, mutex held or D not shared. */
static void
clear_locked (struct deadidx *d)
{
  size_t i;

  for (i = 0; i < d->n; i++)
    free (d->g[i].vci);
  free (d->g);
  d->g = NULL;
  d->n = d->cap = 0;
  d->entries = 0;
}

void
deadidx_free (struct deadidx *d)
{
  clear_locked (d);
  pthread_mutex_destroy (&d->mu);
  memset (&d->mu, 0, sizeof d->mu);
}

/* Index of the first generation >= GEN (D->n: none).  Mutex held. */
static size_t
lower_bound (const struct deadidx *d, uint32_t gen)
{
  size_t lo = 0, hi = d->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (d->g[mid].gen < gen)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The list of GEN, made (empty) if there is none; NULL for ENOMEM.
 * Mutex held.  The live generation's is normally the last. */
static struct deadgen *
gen_list (struct deadidx *d, uint32_t gen)
{
  size_t i;

  if (d->n > 0 && d->g[d->n - 1].gen == gen)
    return &d->g[d->n - 1];
  i = lower_bound (d, gen);
  if (i < d->n && d->g[i].gen == gen)
    return &d->g[i];
  if (d->n == d->cap) {
    struct deadgen *ng = vector_grow (d->g, d->n, &d->cap, 1, sizeof *ng);
    if (ng == NULL)
      return NULL;
    d->g = ng;
  }
  memmove (&d->g[i + 1], &d->g[i], (d->n - i) * sizeof d->g[0]);
  memset (&d->g[i], 0, sizeof d->g[i]);
  d->g[i].gen = gen;
  d->n++;
  return &d->g[i];
}

/* Append VCI to L (with DEDUP, not if it is the last entry already).
 * 0, or -1 for ENOMEM. */
static int
list_add (struct deadidx *d, struct deadgen *l, uint64_t vci, int dedup)
{
  if (dedup && l->n > 0 && l->vci[l->n - 1] == vci)
    return 0;
  if (l->n == l->cap) {
    uint64_t *nv = vector_grow (l->vci, l->n, &l->cap, 1, sizeof *nv);
    if (nv == NULL)
      return -1;
    l->vci = nv;
  }
  l->vci[l->n++] = vci;
  d->entries++;
  return 0;
}

/* Out of memory: an entry is lost, so the index can no longer say
 * where a deletion frees.  Mutex held. */
static void
switch_off_locked (struct deadidx *d)
{
  clear_locked (d);
  d->off = 1;
}

void
deadidx_add (struct deadidx *d, uint32_t gen, uint64_t vci, int dedup)
{
  struct deadgen *l;

  pthread_mutex_lock (&d->mu);
  if (!d->off) {
    l = gen_list (d, gen);
    if (l == NULL || list_add (d, l, vci, dedup) == -1)
      switch_off_locked (d);
  }
  pthread_mutex_unlock (&d->mu);
}

static int
pair_cmp (const void *a, const void *b)
{
  const struct deadpair *x = a, *y = b;

  if (x->gen != y->gen)
    return x->gen < y->gen ? -1 : 1;
  if (x->vci != y->vci)
    return x->vci < y->vci ? -1 : 1;
  return 0;
}

int
deadidx_load (struct deadidx *d, struct deadpair *pairs, size_t n)
{
  size_t i;

  if (n > 0)
    qsort (pairs, n, sizeof *pairs, pair_cmp);
  pthread_mutex_lock (&d->mu);
  for (i = 0; i < n && !d->off; i++) {
    struct deadgen *l = gen_list (d, pairs[i].gen);
    if (l == NULL || list_add (d, l, pairs[i].vci, 1) == -1)
      switch_off_locked (d);
  }
  pthread_mutex_unlock (&d->mu);
  if (d->off) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

/* A copy takes the lists of (LO, HI] as long as they were when it
 * began (others only append), COPY_CHUNK entries per hold of the
 * mutex: a write noting an entry (deadidx_add) waits for one chunk at
 * most, however large the copy, and the copy's buffer is allocated
 * with the mutex free. */
#define COPY_CHUNK 4096

struct span {
  uint32_t gen;
  size_t n;                     /* the list's length when the copy began */
};

/* The generations of (LO, HI] and their lists' lengths, into *SP
 * (malloc'd) and *NS, and *TOTAL their sum.  0; 1 when the index is
 * off; -1 with ENOMEM. */
static int
copy_spans (struct deadidx *d, uint32_t lo, uint32_t hi, struct span **sp,
            size_t *ns, size_t *total)
{
  size_t i, first, k = 0;

  *sp = NULL;
  *ns = *total = 0;
  pthread_mutex_lock (&d->mu);
  if (d->off) {
    pthread_mutex_unlock (&d->mu);
    return 1;
  }
  first = lo == UINT32_MAX ? d->n : lower_bound (d, lo + 1);
  for (i = first; i < d->n && d->g[i].gen <= hi; i++)
    k++;
  if (k > 0 && (*sp = malloc (k * sizeof **sp)) == NULL) {
    pthread_mutex_unlock (&d->mu);
    errno = ENOMEM;
    return -1;
  }
  for (i = first; i < first + k; i++) {
    (*sp)[i - first].gen = d->g[i].gen;
    (*sp)[i - first].n = d->g[i].n;
    *total += d->g[i].n;
  }
  *ns = k;
  pthread_mutex_unlock (&d->mu);
  return 0;
}

/* Copy entries [*J, *J + COPY_CHUNK) of the list of SP (at most its
 * length SP->n) to E from *K, advancing both.  0; 1 when the index was
 * switched off meanwhile (or lost the list, which only the copy's own
 * caller prunes: the same answer, so that the caller goes over the
 * tables rather than trust a partial copy). */
static int
copy_chunk (struct deadidx *d, const struct span *sp, size_t *j,
            struct deadent *e, size_t *k)
{
  size_t i, end = *j + COPY_CHUNK < sp->n ? *j + COPY_CHUNK : sp->n;
  const struct deadgen *l;

  pthread_mutex_lock (&d->mu);
  i = d->off ? d->n : lower_bound (d, sp->gen);
  if (i == d->n || d->g[i].gen != sp->gen || d->g[i].n < end) {
    pthread_mutex_unlock (&d->mu);
    return 1;
  }
  l = &d->g[i];
  for (; *j < end; (*j)++, (*k)++) {
    e[*k].vci = l->vci[*j];
    e[*k].gen = sp->gen;
    e[*k].drop = 0;
    e[*k].pos = *j;
  }
  pthread_mutex_unlock (&d->mu);
  return 0;
}

int
deadidx_copy (struct deadidx *d, uint32_t lo, uint32_t hi,
              struct deadent **out, size_t *n)
{
  struct deadent *e = NULL;
  struct span *sp;
  size_t i, j, ns, total, k = 0;
  int r;

  *out = NULL;
  *n = 0;
  r = copy_spans (d, lo, hi, &sp, &ns, &total);
  if (r != 0)
    return r;
  if (total > 0 && (e = malloc (total * sizeof *e)) == NULL) {
    free (sp);
    errno = ENOMEM;
    return -1;
  }
  for (i = 0; i < ns && r == 0; i++)
    for (j = 0; j < sp[i].n && r == 0; )
      r = copy_chunk (d, &sp[i], &j, e, &k);
  free (sp);
  if (r != 0) {
    free (e);
    return r;
  }
  *out = e;
  *n = k;
  return 0;
}

/* Remove from the list of GEN the entries of E[0, M) (all of GEN, in
 * list order) that are to be dropped.  Mutex held. */
static void
prune_gen_locked (struct deadidx *d, const struct deadent *e, size_t m)
{
  size_t i = lower_bound (d, e[0].gen), j, keep = 0, k = 0;
  struct deadgen *l;

  if (i == d->n || d->g[i].gen != e[0].gen)
    return;
  l = &d->g[i];
  for (j = 0; j < l->n; j++) {
    /* E covers a prefix of the list, position by position; what was
     * appended since is kept. */
    while (k < m && e[k].pos < j)
      k++;
    if (k < m && e[k].pos == j && e[k].drop)
      continue;
    l->vci[keep++] = l->vci[j];
  }
  d->entries -= l->n - keep;
  l->n = keep;
  if (keep == 0) {
    free (l->vci);
    memmove (&d->g[i], &d->g[i + 1], (d->n - i - 1) * sizeof d->g[0]);
    d->n--;
  }
}

void
deadidx_prune (struct deadidx *d, const struct deadent *e, size_t n)
{
  size_t a = 0;

  while (a < n) {
    size_t b = a, dropped = 0;

    while (b < n && e[b].gen == e[a].gen)
      dropped += e[b++].drop != 0;
    if (dropped > 0) {
      pthread_mutex_lock (&d->mu);
      if (!d->off)
        prune_gen_locked (d, &e[a], b - a);
      pthread_mutex_unlock (&d->mu);
    }
    a = b;
  }
}

void
deadidx_disable (struct deadidx *d)
{
  pthread_mutex_lock (&d->mu);
  switch_off_locked (d);
  pthread_mutex_unlock (&d->mu);
}

size_t
deadidx_entries (struct deadidx *d, int *on)
{
  size_t n;

  pthread_mutex_lock (&d->mu);
  n = d->entries;
  if (on)
    *on = !d->off;
  pthread_mutex_unlock (&d->mu);
  return n;
}
