/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * alloc.c: a bitmap allocator of physical clusters with deferred frees
 * and deferred hole punches.
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

/* The same for the count of clusters waiting for their punch. */
static void
account_unpunched (struct alloc *a, int64_t n)
{
  a->unpunched += n;
  if (a->shared_unpunched != NULL)
    __atomic_add_fetch (a->shared_unpunched, (uint64_t) n * a->unit,
                        __ATOMIC_RELAXED);
}

void
alloc_destroy (struct alloc *a)
{
  account (a, -(int64_t) a->used);
  account_unpunched (a, -(int64_t) a->unpunched);
  free (a->bits);
  free (a->dirty);
  free (a->pend);
  pthread_mutex_destroy (&a->mu);
}

/* Grow one bitmap from OLDWORDS to WANT words, the new ones zeroed. */
static int
grow_words (uint64_t **bm, uint64_t oldwords, uint64_t want)
{
  uint64_t *nb = realloc (*bm, want * sizeof *nb);

  if (nb == NULL)
    return -1;
  memset (nb + oldwords, 0, (want - oldwords) * sizeof *nb);
  *bm = nb;
  return 0;
}

/* Grow BITS to cover at least N clusters.  Called with MU held. */
static int
grow (struct alloc *a, uint64_t n)
{
  uint64_t nwords, oldwords = (a->nphys + 63) / 64;

  if (n <= a->nphys)
    return 0;
  if (n > PHYS_NONE) {
    errno = ENOSPC;
    return -1;
  }
  nwords = (n + 63) / 64;
  /* Not vector.h: the bitmaps have no length of their own (NPHYS,
   * the clusters they cover, follows from the room), and new words
   * must read as free and punched (zeroed).  DIRTY is grown first: a
   * failure leaves it longer than BITS, which is harmless. */
  if (nwords > oldwords) {
    uint64_t want = oldwords * 2 > nwords ? oldwords * 2 : nwords;
    if (grow_words (&a->dirty, oldwords, want) == -1 ||
        grow_words (&a->bits, oldwords, want) == -1)
      return -1;
    n = want * 64 < PHYS_NONE ? want * 64 : PHYS_NONE;
  }
  a->nphys = (uint32_t) n;
  return 0;
}

/* Mark free cluster P in use.  Called with MU held. */
static void
take (struct alloc *a, uint32_t p)
{
  a->bits[p / 64] |= 1ull << (p & 63);
  a->used++;
  account (a, 1);
}

int
alloc_mark (struct alloc *a, uint32_t p)
{
  int r = -1;

  pthread_mutex_lock (&a->mu);
  if (grow (a, (uint64_t) p + 1) == 0) {
    if (!((a->bits[p / 64] >> (p & 63)) & 1)) {
      take (a, p);
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
  if (a->used + a->unpunched + a->busy == a->nphys &&
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
      take (a, (uint32_t) q);
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
    take (a, (uint32_t) q);
  a->hint = start + n < a->nphys ? (uint32_t) (start + n) : 0;
  *p = (uint32_t) start;
  r = 0;
 out:
  pthread_mutex_unlock (&a->mu);
  return r;
}

/* Mark P free.  Called with MU held. */
static void
clear_bit (struct alloc *a, uint32_t p)
{
  a->bits[p / 64] &= ~(1ull << (p & 63));
  if (p < a->hint)
    a->hint = p;                /* keep the file compact */
}

void
alloc_put_now (struct alloc *a, uint32_t p)
{
  pthread_mutex_lock (&a->mu);
  if (p < a->nphys && ((a->bits[p / 64] >> (p & 63)) & 1)) {
    clear_bit (a, p);
    a->used--;
    account (a, -1);
  }
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

void
alloc_release (struct alloc *a, uint64_t durable)
{
  size_t i, keep = 0;

  pthread_mutex_lock (&a->mu);
  for (i = 0; i < a->npend; i++) {
    uint32_t p = a->pend[i].phys;

    if (a->pend[i].seq > durable)
      a->pend[keep++] = a->pend[i];
    else if (p < a->nphys && ((a->bits[p / 64] >> (p & 63)) & 1) &&
             !((a->dirty[p / 64] >> (p & 63)) & 1)) {
      a->dirty[p / 64] |= 1ull << (p & 63);
      a->used--;
      account (a, -1);
      account_unpunched (a, 1);
    }
  }
  a->npend = keep;
  pthread_mutex_unlock (&a->mu);
}

/* Take up to MAX clusters waiting for their punch into P (ascending):
 * BUSY from now until their punch is done.  Called with MU held;
 * returns how many. */
static size_t
take_unpunched (struct alloc *a, uint32_t *p, size_t max)
{
  uint64_t w, nwords = (a->nphys + 63) / 64;
  size_t n = 0;

  for (w = 0; w < nwords && n < max; w++)
    while (a->dirty[w] != 0 && n < max) {
      uint64_t bit = a->dirty[w] & -a->dirty[w];

      a->dirty[w] &= ~bit;
      p[n++] = (uint32_t) (w * 64 + (uint64_t) __builtin_ctzll (bit));
    }
  a->busy += n;
  account_unpunched (a, -(int64_t) n);
  return n;
}

/* Call PUNCH once per run of consecutive clusters of P[0, N),
 * ascending. */
static void
punch_runs (const uint32_t *p, size_t n,
            void (*punch) (void *, uint32_t, uint32_t), void *opaque)
{
  size_t i = 0, j;

  while (i < n) {
    for (j = i + 1; j < n && p[j] == p[j - 1] + 1; j++)
      ;
    punch (opaque, p[i], (uint32_t) (j - i));
    i = j;
  }
}

size_t
alloc_punch_freed (struct alloc *a, size_t max,
                   void (*punch) (void *opaque, uint32_t p, uint32_t n),
                   void *opaque)
{
  uint32_t *p = NULL;
  size_t n = 0, i;

  pthread_mutex_lock (&a->mu);
  if (max > a->unpunched)
    max = a->unpunched;
  if (max > 0 && (p = malloc (max * sizeof *p)) != NULL)
    n = take_unpunched (a, p, max);
  pthread_mutex_unlock (&a->mu);

  /* Punch outside the lock: the clusters are still marked in use, so
   * nobody can allocate them until clear_bit below. */
  punch_runs (p, n, punch, opaque);

  pthread_mutex_lock (&a->mu);
  for (i = 0; i < n; i++)
    clear_bit (a, p[i]);
  a->busy -= n;
  pthread_mutex_unlock (&a->mu);
  free (p);
  return n;
}

/* One of A's counters, read under its mutex. */
static uint32_t
read_counter (struct alloc *a, const uint32_t *counter)
{
  uint32_t u;

  pthread_mutex_lock (&a->mu);
  u = *counter;
  pthread_mutex_unlock (&a->mu);
  return u;
}

uint32_t
alloc_unpunched (struct alloc *a)
{
  return read_counter (a, &a->unpunched);
}

uint32_t
alloc_nphys (struct alloc *a)
{
  return read_counter (a, &a->nphys);
}

uint32_t
alloc_used (struct alloc *a)
{
  return read_counter (a, &a->used);
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
