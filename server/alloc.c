/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * alloc.c: a bitmap allocator of physical clusters with deferred frees.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ondisk.h"
#include "vector.h"

int
alloc_init (struct alloc *a)
{
  memset (a, 0, sizeof *a);
  return pthread_mutex_init (&a->mu, NULL) == 0 ? 0 : -1;
}

/* Tell the pool's count that N clusters were taken (or, negative,
 * given back).  Called with MU held. */
static void
account (struct alloc *a, int64_t n)
{
  if (a->shared != NULL)
    __atomic_add_fetch (a->shared, (uint64_t) n * a->unit, __ATOMIC_RELAXED);
}

void
alloc_destroy (struct alloc *a)
{
  account (a, -(int64_t) a->used);
  free (a->bits);
  free (a->pend);
  pthread_mutex_destroy (&a->mu);
}

/* Grow BITS to cover at least N clusters.  Called with MU held. */
static int
grow (struct alloc *a, uint64_t n)
{
  uint64_t nwords, oldwords = (a->nphys + 63) / 64;
  uint64_t *nb;

  if (n <= a->nphys)
    return 0;
  if (n > PHYS_NONE) {
    errno = ENOSPC;
    return -1;
  }
  nwords = (n + 63) / 64;
  /* Not vector.h: the bitmap has no length of its own (NPHYS, the
   * clusters it covers, follows from the room), and new words must
   * read as free (zeroed). */
  if (nwords > oldwords) {
    uint64_t want = oldwords * 2 > nwords ? oldwords * 2 : nwords;
    nb = realloc (a->bits, want * sizeof *nb);
    if (nb == NULL)
      return -1;
    memset (nb + oldwords, 0, (want - oldwords) * sizeof *nb);
    a->bits = nb;
    n = want * 64 < PHYS_NONE ? want * 64 : PHYS_NONE;
  }
  a->nphys = (uint32_t) n;
  return 0;
}

int
alloc_mark (struct alloc *a, uint32_t p)
{
  int r = -1;

  pthread_mutex_lock (&a->mu);
  if (grow (a, (uint64_t) p + 1) == 0) {
    uint64_t bit = 1ull << (p & 63);
    if ((a->bits[p / 64] & bit) == 0) {
      a->bits[p / 64] |= bit;
      a->used++;
      account (a, 1);
      r = 0;
    }
    else
      errno = EEXIST;
  }
  pthread_mutex_unlock (&a->mu);
  return r;
}

int
alloc_get (struct alloc *a, uint32_t *p)
{
  uint64_t w, nwords, start;
  int r = -1;

  pthread_mutex_lock (&a->mu);
  if (a->used == a->nphys &&
      grow (a, (uint64_t) a->nphys + (a->nphys < 64 ? 64 : a->nphys / 4)) == -1)
    goto out;
  nwords = (a->nphys + 63) / 64;
  start = a->hint / 64;
  for (w = 0; w < nwords; w++) {
    uint64_t i = (start + w) % nwords;
    uint64_t free_bits = ~a->bits[i];
    if (free_bits != 0) {
      uint64_t q = i * 64 + __builtin_ctzll (free_bits);
      if (q >= a->nphys)
        continue;
      a->bits[i] |= 1ull << (q & 63);
      a->used++;
      account (a, 1);
      a->hint = (uint32_t) q + 1 < a->nphys ? (uint32_t) q + 1 : 0;
      *p = (uint32_t) q;
      r = 0;
      goto out;
    }
  }
  errno = ENOSPC;               /* unreachable unless the space is full */
 out:
  pthread_mutex_unlock (&a->mu);
  return r;
}

/* How far a search for a run looks past the hint: 64 Ki clusters, 4 GiB
 * at the default cluster size.  A run not found within it is not
 * worth a longer scan; the caller allocates cluster by cluster. */
#define RUN_SCAN_BITS 65536

int
alloc_get_run (struct alloc *a, uint32_t n, uint32_t *p)
{
  uint64_t q, start, limit;
  int r = -1;

  if (n == 0 || n > RUN_SCAN_BITS) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock (&a->mu);
  start = q = a->hint;
  limit = q + RUN_SCAN_BITS;
  while (q - start < n) {
    if (q >= a->nphys) {
      /* The free bits from START run to the end: grow the bitmap over
       * the rest of the run (what alloc_get does when it is full). */
      if (grow (a, start + n) == -1)
        goto out;
      break;
    }
    if (q >= limit) {
      errno = EAGAIN;
      goto out;
    }
    if (q % 64 == 0 && a->bits[q / 64] == ~0ull) {
      q += 64;                  /* a full word: no run starts in it */
      start = q;
      continue;
    }
    if ((a->bits[q / 64] >> (q & 63)) & 1)
      start = q + 1;
    q++;
  }
  for (q = start; q < start + n; q++)
    a->bits[q / 64] |= 1ull << (q & 63);
  a->used += n;
  account (a, n);
  a->hint = start + n < a->nphys ? (uint32_t) (start + n) : 0;
  *p = (uint32_t) start;
  r = 0;
 out:
  pthread_mutex_unlock (&a->mu);
  return r;
}

static void
clear_bit (struct alloc *a, uint32_t p)
{
  uint64_t bit = 1ull << (p & 63);

  if (p < a->nphys && (a->bits[p / 64] & bit)) {
    a->bits[p / 64] &= ~bit;
    a->used--;
    account (a, -1);
    if (p < a->hint)
      a->hint = p;              /* keep the file compact */
  }
}

void
alloc_put_now (struct alloc *a, uint32_t p)
{
  pthread_mutex_lock (&a->mu);
  clear_bit (a, p);
  pthread_mutex_unlock (&a->mu);
}

int
alloc_put_after (struct alloc *a, uint32_t p, uint64_t seq)
{
  int r = 0;

  pthread_mutex_lock (&a->mu);
  if (a->npend == a->cappend) {
    struct pending_free *np = vector_grow (a->pend, a->npend, &a->cappend,
                                           1, sizeof *np);
    if (np == NULL) {
      r = -1;
      goto out;
    }
    a->pend = np;
  }
  a->pend[a->npend].seq = seq;
  a->pend[a->npend].phys = p;
  a->npend++;
 out:
  pthread_mutex_unlock (&a->mu);
  return r;
}

static int
phys_cmp (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

  return x < y ? -1 : x > y;
}

/* Call PUNCH once per run of consecutive clusters of P[0, N) (sorted
 * here; a cluster is pending once at most). */
static void
punch_runs (uint32_t *p, size_t n, void (*punch) (void *, uint32_t,
                                                   uint32_t),
            void *opaque)
{
  size_t i = 0, j;

  if (n == 0)
    return;                     /* P may be NULL then */
  qsort (p, n, sizeof *p, phys_cmp);
  while (i < n) {
    for (j = i + 1; j < n && p[j] == p[j - 1] + 1; j++)
      ;
    punch (opaque, p[i], (uint32_t) (j - i));
    i = j;
  }
}

void
alloc_release (struct alloc *a, uint64_t durable,
               void (*punch) (void *opaque, uint32_t p, uint32_t n),
               void *opaque)
{
  size_t i, keep = 0, nready = 0;
  uint32_t *ready = NULL;

  pthread_mutex_lock (&a->mu);
  if (a->npend > 0)
    ready = malloc (a->npend * sizeof *ready);
  for (i = 0; i < a->npend; i++) {
    if (a->pend[i].seq <= durable && ready != NULL)
      ready[nready++] = a->pend[i].phys;
    else
      a->pend[keep++] = a->pend[i];
  }
  a->npend = keep;
  pthread_mutex_unlock (&a->mu);

  /* Punch outside the lock: the clusters are still marked in use, so
   * nobody can allocate them until clear_bit below. */
  if (punch != NULL)
    punch_runs (ready, nready, punch, opaque);

  pthread_mutex_lock (&a->mu);
  for (i = 0; i < nready; i++)
    clear_bit (a, ready[i]);
  pthread_mutex_unlock (&a->mu);
  free (ready);
}

uint32_t
alloc_used (struct alloc *a)
{
  uint32_t u;

  pthread_mutex_lock (&a->mu);
  u = a->used;
  pthread_mutex_unlock (&a->mu);
  return u;
}

int
alloc_test (struct alloc *a, uint32_t p)
{
  int r;

  pthread_mutex_lock (&a->mu);
  r = p < a->nphys && (a->bits[p / 64] >> (p & 63)) & 1;
  pthread_mutex_unlock (&a->mu);
  return r;
}
