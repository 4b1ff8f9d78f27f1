/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * extmap.c: the in-memory copy-on-write extent map (see extmap.h).
 *
 * Design notes
 *
 * A two-level table: l1[vci >> EXTMAP_L2_BITS] points to the table
 * (leaf) of 512 clusters, NULL while none of them has a version.
 *
 * Slots.  What a cluster holds is a 16-byte slot:
 *
 *   gen == SLOT_VEC          MASK is a struct extvec * of the cluster's
 *                            own (several versions, or one that mixes
 *                            data and zeroes, or gen >= SLOT_VEC)
 *   phys != PHYS_NONE        one version: data in PHYS for the
 *                            subclusters of MASK, nothing else defined
 *   phys == PHYS_NONE        one version: zeroes for MASK
 *   mask == 0, not a vector  nothing (never stored)
 *
 * A write to a never-written cluster, or in place, gives the second
 * form; a trim or zero of a whole cluster the third; only clusters
 * that a snapshot shares (two versions) or that mix data and zeroes
 * need a vector (about 60 bytes more).
 *
 * Leaves.  A leaf starts sparse: a sorted array of runs, each a slot,
 * a first cluster OFF and a length LEN: cluster OFF + k holds the slot
 * with PHYS + k (PHYS_NONE stays PHYS_NONE).  Neighbouring runs that
 * continue one another are merged, so a sequential fill of a table is
 * one run; a vector slot is always a run of one.  A run is 20 bytes
 * (the slot and two uint16 arrays beside the slot array); once a leaf
 * would need more than a dense one it becomes dense: 512 slots indexed
 * by cluster, 16 bytes each.  A dense leaf never goes back to sparse.
 * Memory per mapped cluster is thus at most 20 bytes and 8 KiB per
 * table in use, much less for sequential runs.
 *
 * Newest generation per table.  Deleting the snapshot of generation G
 * can only leave unread the data that a version newer than G shadows
 * (snap.c), so reclaim asks for the clusters of tables that ever held
 * a version of gen > G.  Each table keeps a bound for that, raised by
 * every put and never lowered (a table whose newest versions were
 * dropped is visited for nothing, which is harmless): deleting the
 * newest snapshot, as a failed set or a rotation of recent snapshots
 * does, then visits only the tables written since it, not the map.
 *
 * Locking.  Leaves change shape (a run is split or merged, the arrays
 * are reallocated) when any of their clusters changes, so the callers'
 * per-vci stripe locks do not protect them: every access to a leaf
 * holds locks[leaf index % EXTMAP_LOCKS] for the few instructions it
 * takes.  A cluster's own vector is only read or changed under the
 * caller's stripe lock for that cluster, so extmap_get may hand it out
 * after dropping the leaf's lock, and extmap_put may change it before
 * taking it.
 */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "extmap.h"
#include "ondisk.h"

#define SLOT_VEC UINT32_MAX
#define LEAF_DENSE_BYTES (EXTMAP_L2_SIZE * sizeof (struct slot))
#define RUN_BYTES (sizeof (struct slot) + 2 * sizeof (uint16_t))
/* Runs a sparse leaf may hold before a dense one is smaller. */
#define SPARSE_MAX (LEAF_DENSE_BYTES / RUN_BYTES)

struct slot {
  uint64_t mask;
  uint32_t phys;
  uint32_t gen;
};

/* Followed by the arrays: dense, struct slot s[EXTMAP_L2_SIZE]; sparse,
 * struct slot s[cap], uint16_t off[cap], uint16_t len[cap]. */
struct extleaf {
  uint32_t n;           /* sparse: runs; dense: clusters with a slot */
  uint16_t cap;         /* sparse: room for runs */
  uint16_t dense;
};

static struct slot *
slots (struct extleaf *l)
{
  return (struct slot *) (l + 1);
}

static uint16_t *
offs (struct extleaf *l)
{
  return (uint16_t *) (slots (l) + l->cap);
}

static uint16_t *
lens (struct extleaf *l)
{
  return offs (l) + l->cap;
}

static bool
slot_empty (const struct slot *s)
{
  return s->gen != SLOT_VEC && s->mask == 0;
}

static struct extvec *
slot_vec (const struct slot *s)
{
  return s->gen == SLOT_VEC ? (struct extvec *) (uintptr_t) s->mask : NULL;
}

/* The slot of a single version X, if it has the compact form. */
static bool
slot_of_ext (const struct ext *x, struct slot *s)
{
  if (x->gen == SLOT_VEC)
    return false;
  if (x->phys != PHYS_NONE && x->alloc != 0 && x->zero == 0)
    s->mask = x->alloc;
  else if (x->phys == PHYS_NONE && x->alloc == 0 && x->zero != 0)
    s->mask = x->zero;
  else
    return false;
  s->phys = x->phys;
  s->gen = x->gen;
  return true;
}

static void
ext_of_slot (const struct slot *s, struct ext *x)
{
  x->gen = s->gen;
  x->phys = s->phys;
  x->alloc = s->phys != PHYS_NONE ? s->mask : 0;
  x->zero = s->phys != PHYS_NONE ? 0 : s->mask;
}

static pthread_mutex_t *
lock_of (struct extmap *m, uint64_t vci)
{
  return &m->locks[(vci >> EXTMAP_L2_BITS) % EXTMAP_LOCKS];
}

int
extmap_init (struct extmap *m, uint64_t nclusters)
{
  size_t i;

  memset (m, 0, sizeof *m);
  m->nclusters = nclusters;
  m->nl1 = (nclusters + EXTMAP_L2_SIZE - 1) / EXTMAP_L2_SIZE;
  m->l1 = calloc (m->nl1 ? m->nl1 : 1, sizeof *m->l1);
  m->newest = calloc (m->nl1 ? m->nl1 : 1, sizeof *m->newest);
  if (m->l1 == NULL || m->newest == NULL) {
    free (m->l1);
    free (m->newest);
    m->l1 = NULL;
    m->newest = NULL;
    errno = ENOMEM;
    return -1;
  }
  for (i = 0; i < EXTMAP_LOCKS; i++)
    pthread_mutex_init (&m->locks[i], NULL);
  return 0;
}

void
extmap_free (struct extmap *m)
{
  size_t i, j;

  if (m->l1 == NULL)
    return;
  for (i = 0; i < m->nl1; i++) {
    struct extleaf *l = m->l1[i];
    size_t n;

    if (l == NULL)
      continue;
    n = l->dense ? EXTMAP_L2_SIZE : l->n;
    for (j = 0; j < n; j++)
      free (slot_vec (&slots (l)[j]));
    free (l);
  }
  free (m->l1);
  free (m->newest);
  m->l1 = NULL;
  m->newest = NULL;
  for (i = 0; i < EXTMAP_LOCKS; i++)
    pthread_mutex_destroy (&m->locks[i]);
}

/* Sparse leaves. */

/* The last run whose first cluster is <= O, or -1. */
static int
run_before (struct extleaf *l, unsigned o)
{
  const uint16_t *off = offs (l);
  int lo = 0, hi = (int) l->n - 1;

  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (off[mid] <= o)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return hi;
}

/* The slot of cluster OFF + K of a run starting with S. */
static struct slot
run_slot (const struct slot *s, unsigned k)
{
  struct slot r = *s;

  if (r.gen != SLOT_VEC && r.phys != PHYS_NONE)
    r.phys += k;
  return r;
}

/* Does the run (A, at OA, LA clusters) continue into B at OA + LA? */
static bool
continues (const struct slot *a, unsigned la, const struct slot *b)
{
  if (a->gen == SLOT_VEC || b->gen == SLOT_VEC || a->gen != b->gen ||
      a->mask != b->mask)
    return false;
  if (a->phys == PHYS_NONE)
    return b->phys == PHYS_NONE;
  return b->phys != PHYS_NONE && (uint64_t) a->phys + la == b->phys;
}

struct run {
  struct slot s;
  uint16_t off, len;
};

/* A sparse leaf holding runs R[0..N) (N > 0), with room for a few
 * more.  NULL if out of memory. */
static struct extleaf *
sparse_new (const struct run *r, size_t n)
{
  size_t cap = n + n / 8 + 2, i;
  struct extleaf *l;

  if (cap > SPARSE_MAX)
    cap = SPARSE_MAX;
  l = malloc (sizeof *l + cap * RUN_BYTES);
  if (l == NULL)
    return NULL;
  l->n = n;
  l->cap = cap;
  l->dense = 0;
  for (i = 0; i < n; i++) {
    slots (l)[i] = r[i].s;
    offs (l)[i] = r[i].off;
    lens (l)[i] = r[i].len;
  }
  return l;
}

/* A dense leaf holding runs R[0..N).  NULL if out of memory. */
static struct extleaf *
dense_new (const struct run *r, size_t n)
{
  struct extleaf *l = calloc (1, sizeof *l + LEAF_DENSE_BYTES);
  size_t i;
  unsigned k;

  if (l == NULL)
    return NULL;
  l->dense = 1;
  for (i = 0; i < n; i++)
    for (k = 0; k < r[i].len; k++) {
      slots (l)[r[i].off + k] = run_slot (&r[i].s, k);
      l->n++;
    }
  return l;
}

/* Does S, stored at O, continue the run before run B (which would end
 * at O)? */
static bool
joins_previous (struct extleaf *l, unsigned b, unsigned o,
                const struct slot *s)
{
  return b > 0 && offs (l)[b - 1] + lens (l)[b - 1] == o &&
    continues (&slots (l)[b - 1], lens (l)[b - 1], s);
}

/* Does the run after run B start at O + 1 and continue S? */
static bool
joins_next (struct extleaf *l, unsigned b, unsigned o, const struct slot *s)
{
  return b + 1 < l->n && offs (l)[b + 1] == o + 1 &&
    continues (s, 1, &slots (l)[b + 1]);
}

/* Cluster O of run B (two clusters or more) takes S (not empty), a slot
 * of its own: the run splits in two (the cluster at either end) or
 * three.  No merge with the rest of the run is possible (a slot
 * continuing a part of it would be the run's own); at an end of the
 * run, S may continue the neighbouring run, which the general path of
 * sparse_store merges.  Otherwise in place when the leaf has room: the
 * runs after B move up by one or two.  Returns whether it was done. */
static bool
split_in_place (struct extleaf *l, unsigned b, unsigned o,
                const struct slot *s)
{
  struct slot head = slots (l)[b];
  unsigned off0 = offs (l)[b], len0 = lens (l)[b];
  bool at_head = o == off0, at_tail = o + 1u == off0 + len0;
  size_t n = l->n, add = at_head || at_tail ? 1 : 2, tail = n - b - 1;

  if (at_head && joins_previous (l, b, o, s))
    add = 0;
  if (at_tail && joins_next (l, b, o, s))
    add = 0;
  if (add == 0 || n + add > l->cap)
    return false;
  memmove (&slots (l)[b + 1 + add], &slots (l)[b + 1],
           tail * sizeof *slots (l));
  memmove (&offs (l)[b + 1 + add], &offs (l)[b + 1],
           tail * sizeof *offs (l));
  memmove (&lens (l)[b + 1 + add], &lens (l)[b + 1],
           tail * sizeof *lens (l));
  if (at_head) {
    slots (l)[b] = *s;
    lens (l)[b] = 1;
    slots (l)[b + 1] = run_slot (&head, 1);
    offs (l)[b + 1] = o + 1;
    lens (l)[b + 1] = len0 - 1;
  }
  else {
    lens (l)[b] = o - off0;
    slots (l)[b + 1] = *s;
    offs (l)[b + 1] = o;
    lens (l)[b + 1] = 1;
    if (!at_tail) {
      slots (l)[b + 2] = run_slot (&head, o + 1 - off0);
      offs (l)[b + 2] = o + 1;
      lens (l)[b + 2] = off0 + len0 - o - 1;
    }
  }
  l->n = n + add;
  return true;
}

/* The fast paths of sparse_store, for cluster O inside run B: the
 * cluster keeps its slot, or is a run of one that changes and
 * continues neither neighbour, or splits its run in place.  Returns
 * whether S is stored. */
static bool
store_in_run (struct extleaf *l, unsigned b, unsigned o,
              const struct slot *s)
{
  struct slot c = run_slot (&slots (l)[b], o - offs (l)[b]);

  if (c.mask == s->mask && c.phys == s->phys && c.gen == s->gen)
    return true;
  if (lens (l)[b] == 1 && !slot_empty (s) &&
      !joins_previous (l, b, o, s) && !joins_next (l, b, o, s)) {
    slots (l)[b] = *s;
    return true;
  }
  return !slot_empty (s) && lens (l)[b] >= 2 && split_in_place (l, b, o, s);
}

/* Fill R (room for the runs of L and two more) with the runs of L
 * with S (maybe empty) stored for cluster O: the run holding O (run
 * BEFORE, or the last run before O) split around it.  Returns the
 * number of runs. */
static size_t
runs_with (struct extleaf *l, int before, unsigned o, const struct slot *s,
           struct run *r)
{
  size_t n = l->n, i, k = 0;

  for (i = 0; i < n; i++) {
    struct run cur = { slots (l)[i], offs (l)[i], lens (l)[i] };

    if ((int) i == before && o < (unsigned) cur.off + cur.len) {
      /* Split around O. */
      if (o > cur.off) {
        r[k] = cur;
        r[k++].len = o - cur.off;
      }
      if (!slot_empty (s))
        r[k++] = (struct run) { *s, o, 1 };
      if ((unsigned) cur.off + cur.len > o + 1u)
        r[k++] = (struct run) { run_slot (&cur.s, o + 1 - cur.off), o + 1,
                                cur.off + cur.len - o - 1 };
      continue;
    }
    r[k++] = cur;
    if ((int) i == before && !slot_empty (s))
      r[k++] = (struct run) { *s, o, 1 };
  }
  if (before < 0 && !slot_empty (s)) {
    memmove (&r[1], &r[0], k * sizeof *r);
    r[0] = (struct run) { *s, o, 1 };
    k++;
  }
  return k;
}

/* Merge the runs of R[0..K) that continue one another; returns how
 * many are left. */
static size_t
merge_runs (struct run *r, size_t k)
{
  size_t i, j;

  for (i = 0, j = 0; i < k; i++) {
    if (j > 0 && r[j - 1].off + r[j - 1].len == r[i].off &&
        continues (&r[j - 1].s, r[j - 1].len, &r[i].s))
      r[j - 1].len += r[i].len;
    else
      r[j++] = r[i];
  }
  return j;
}

/* Make the sparse leaf *LP hold runs R[0..K): rewritten in place when
 * it has room enough and not much too much, else a new leaf (sparse or
 * dense, or none when K is 0).  -1 with ENOMEM, *LP unchanged. */
static int
leaf_from_runs (struct extleaf **lp, const struct run *r, size_t k)
{
  struct extleaf *l = *lp, *nl;
  size_t i;

  if (k == 0)
    nl = NULL;
  else if (k <= l->cap && k >= l->cap / 4) {
    l->n = k;
    for (i = 0; i < k; i++) {
      slots (l)[i] = r[i].s;
      offs (l)[i] = r[i].off;
      lens (l)[i] = r[i].len;
    }
    return 0;
  }
  else if (k > SPARSE_MAX)
    nl = dense_new (r, k);
  else
    nl = sparse_new (r, k);
  if (k > 0 && nl == NULL)
    return -1;
  free (l);
  *lp = nl;
  return 0;
}

/* Store S (maybe empty) for cluster O of the sparse leaf *LP: in place
 * when a fast path allows, else split the run holding O, insert, merge
 * with the neighbours, and make the leaf anew (sparse or dense, or
 * none when nothing is left).  -1 with ENOMEM, *LP unchanged. */
static int
sparse_store (struct extleaf **lp, unsigned o, const struct slot *s)
{
  struct extleaf *l = *lp;
  int before = run_before (l, o);
  struct run *r;
  size_t k;
  int ret;

  if (before >= 0 && o < (unsigned) offs (l)[before] + lens (l)[before] &&
      store_in_run (l, before, o, s))
    return 0;
  /* At most two more runs than now. */
  r = malloc ((l->n + 2) * sizeof *r);
  if (r == NULL)
    return -1;
  k = merge_runs (r, runs_with (l, before, o, s, r));
  ret = leaf_from_runs (lp, r, k);
  free (r);
  return ret;
}

static bool
sparse_lookup (struct extleaf *l, unsigned o, struct slot *s)
{
  int i = run_before (l, o);

  if (i < 0 || o >= (unsigned) offs (l)[i] + lens (l)[i])
    return false;
  *s = run_slot (&slots (l)[i], o - offs (l)[i]);
  return true;
}

/* The slot of VCI (empty if none).  Leaf lock held. */
static struct slot
lookup_locked (struct extmap *m, uint64_t vci)
{
  struct extleaf *l = m->l1[vci >> EXTMAP_L2_BITS];
  unsigned o = vci & (EXTMAP_L2_SIZE - 1);
  struct slot s = { 0, PHYS_NONE, 0 };

  if (l == NULL)
    return s;
  if (l->dense)
    return slots (l)[o];
  sparse_lookup (l, o, &s);
  return s;
}

/* Store S (empty: remove) for VCI.  0, or -1 with ENOMEM. */
static int
store (struct extmap *m, uint64_t vci, const struct slot *s)
{
  pthread_mutex_t *mu = lock_of (m, vci);
  struct extleaf **lp = &m->l1[vci >> EXTMAP_L2_BITS];
  unsigned o = vci & (EXTMAP_L2_SIZE - 1);
  int r = 0;

  pthread_mutex_lock (mu);
  if (*lp == NULL) {
    if (!slot_empty (s)) {
      struct run one = { *s, o, 1 };
      *lp = sparse_new (&one, 1);
      if (*lp == NULL)
        r = -1;
    }
  }
  else if ((*lp)->dense) {
    struct slot *d = &slots (*lp)[o];
    bool was = !slot_empty (d), is = !slot_empty (s);

    *d = *s;
    (*lp)->n += is - was;
    if ((*lp)->n == 0) {
      free (*lp);
      *lp = NULL;
    }
  }
  else
    r = sparse_store (lp, o, s);
  pthread_mutex_unlock (mu);
  if (r == -1)
    errno = ENOMEM;
  return r;
}

/* The map. */

const struct extvec *
extmap_get (struct extmap *m, uint64_t vci, union extvec_buf *buf)
{
  pthread_mutex_t *mu = lock_of (m, vci);
  struct slot s;
  struct extvec *ev;

  if (vci >= m->nclusters)
    return NULL;
  pthread_mutex_lock (mu);
  s = lookup_locked (m, vci);
  pthread_mutex_unlock (mu);
  if (slot_empty (&s))
    return NULL;
  ev = slot_vec (&s);
  if (ev != NULL)
    return ev;
  buf->ev.n = buf->ev.cap = 1;
  ext_of_slot (&s, &buf->ev.v[0]);
  return &buf->ev;
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

int
extvec_top_path (const struct extvec *ev, uint32_t gen,
                 const struct genpath *path)
{
  uint32_t k;
  int i;

  if (path == NULL)
    return extvec_top (ev, gen);
  for (k = 0; k < path->n; k++) {
    i = extvec_top (ev, path->s[k].hi);
    if (i < 0)
      return -1;                /* nothing at or below this span */
    if (ev->v[i].gen >= path->s[k].lo)
      return i;
  }
  return -1;
}

int
extvec_older_path (const struct extvec *ev, const struct genpath *path,
                   int i)
{
  uint32_t g = ev->v[i].gen, k;
  int j;

  for (k = 0; k < path->n && path->s[k].lo > g; k++)
    ;
  if (k == path->n)
    return -1;
  if (ev->v[i - 1].gen >= path->s[k].lo)
    return i - 1;               /* the same span */
  for (k++; k < path->n; k++) {
    j = extvec_top (ev, path->s[k].hi);
    if (j < 0)
      return -1;
    if (ev->v[j].gen >= path->s[k].lo)
      return j;
  }
  return -1;
}

/* Store the versions EV[0..N) (N >= 1) for VCI, whose vector (if it has
 * one) is OLD: compactly when they allow it, else in a vector (OLD
 * reused when it is).  OLD is freed when no longer used.  -1 with
 * ENOMEM, nothing changed. */
static int
store_versions (struct extmap *m, uint64_t vci, struct extvec *old,
                const struct ext *v, uint32_t n)
{
  struct slot s;
  struct extvec *ev = old;

  if (n == 1 && slot_of_ext (&v[0], &s)) {
    if (store (m, vci, &s) == -1)
      return -1;
    free (old);
    return 0;
  }
  if (ev == NULL || ev->cap < n) {
    uint32_t cap = ev == NULL ? (n < 2 ? n : 2) : ev->cap;

    while (cap < n)
      cap *= 2;
    ev = malloc (sizeof *ev + cap * sizeof ev->v[0]);
    if (ev == NULL) {
      errno = ENOMEM;
      return -1;
    }
    ev->cap = cap;
  }
  if (ev != old) {
    memcpy (ev->v, v, n * sizeof *v);
    ev->n = n;
    s.mask = (uintptr_t) ev;
    s.phys = PHYS_NONE;
    s.gen = SLOT_VEC;
    if (store (m, vci, &s) == -1) {
      free (ev);
      return -1;
    }
    free (old);
    return 0;
  }
  /* The same vector: no one else reads it (stripe write lock). */
  memmove (ev->v, v, n * sizeof *v);
  ev->n = n;
  return 0;
}

int
extmap_put (struct extmap *m, uint64_t vci, const struct ext *x)
{
  union extvec_buf buf;
  const struct extvec *cur;
  struct extvec *old;
  struct ext *v;
  uint32_t n, i;
  int r;

  if (vci >= m->nclusters) {
    errno = EINVAL;
    return -1;
  }
  /* Raise the table's bound first: if the store fails, a bound that is
   * too high costs a visit, never a miss. */
  {
    uint32_t *nw = &m->newest[vci >> EXTMAP_L2_BITS];
    uint32_t cur_gen = __atomic_load_n (nw, __ATOMIC_RELAXED);
    while (cur_gen < x->gen &&
           !__atomic_compare_exchange_n (nw, &cur_gen, x->gen, 1,
                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      ;
  }
  cur = extmap_get (m, vci, &buf);
  old = cur == &buf.ev ? NULL : (struct extvec *) cur;
  n = cur ? cur->n : 0;

  /* The new list of versions, sorted by gen. */
  v = malloc ((n + 1) * sizeof *v);
  if (v == NULL) {
    errno = ENOMEM;
    return -1;
  }
  for (i = n; i > 0 && cur->v[i - 1].gen > x->gen; i--)
    ;
  if (i > 0 && cur->v[i - 1].gen == x->gen) {
    memcpy (v, cur->v, n * sizeof *v);
    v[i - 1] = *x;
  }
  else {
    if (i > 0)
      memcpy (v, cur->v, i * sizeof *v);
    v[i] = *x;
    if (n > i)
      memcpy (&v[i + 1], &cur->v[i], (n - i) * sizeof *v);
    n++;
  }
  r = store_versions (m, vci, old, v, n);
  free (v);
  return r;
}

int
extmap_drop (struct extmap *m, uint64_t vci, uint32_t gen)
{
  static const struct slot empty = { 0, PHYS_NONE, 0 };
  union extvec_buf buf;
  const struct extvec *cur = extmap_get (m, vci, &buf);
  struct extvec *old;
  uint32_t i;

  if (cur == NULL)
    return -1;
  for (i = 0; i < cur->n; i++)
    if (cur->v[i].gen == gen)
      break;
  if (i == cur->n)
    return -1;
  old = cur == &buf.ev ? NULL : (struct extvec *) cur;
  if (cur->n == 1) {
    store (m, vci, &empty);     /* removing never allocates */
    free (old);
    return 0;
  }
  /* A vector: remove in place; with one version left, it may become
   * compact, which needs a new run: keep the vector if that fails. */
  memmove (&old->v[i], &old->v[i + 1], (old->n - i - 1) * sizeof old->v[0]);
  old->n--;
  if (old->n == 1) {
    struct slot s;
    if (slot_of_ext (&old->v[0], &s) && store (m, vci, &s) == 0)
      free (old);
  }
  return 0;
}

int
extmap_next (struct extmap *m, uint64_t *vci)
{
  return extmap_next_since (m, vci, 0);
}

int
extmap_next_since (struct extmap *m, uint64_t *vci, uint32_t gen)
{
  uint64_t i = *vci;

  while (i < m->nclusters) {
    size_t t = i >> EXTMAP_L2_BITS;
    pthread_mutex_t *mu = lock_of (m, i);
    struct extleaf *l;
    uint64_t base = (uint64_t) t << EXTMAP_L2_BITS, found = UINT64_MAX;
    unsigned o = i - base;

    if (gen > 0 && __atomic_load_n (&m->newest[t], __ATOMIC_RELAXED) < gen) {
      i = base + EXTMAP_L2_SIZE;
      continue;
    }
    pthread_mutex_lock (mu);
    l = m->l1[t];
    if (l != NULL && l->dense) {
      for (; o < EXTMAP_L2_SIZE; o++)
        if (!slot_empty (&slots (l)[o])) {
          found = base + o;
          break;
        }
    }
    else if (l != NULL) {
      int r = run_before (l, o);

      if (r >= 0 && o < (unsigned) offs (l)[r] + lens (l)[r])
        found = i;
      else if ((uint32_t) (r + 1) < l->n)
        found = base + offs (l)[r + 1];
    }
    pthread_mutex_unlock (mu);
    if (found != UINT64_MAX && found < m->nclusters) {
      *vci = found;
      return 1;
    }
    i = base + EXTMAP_L2_SIZE;
  }
  return 0;
}

/* Within leaf L of table base BASE, from cluster O on, the first slot
 * that is a vector or a version newer than GEN.  Leaf lock held.
 * UINT64_MAX if none; else its vci, its slot in *S and in *RUN the
 * clusters from it that share the slot's version. */
static uint64_t
leaf_next_newer (struct extleaf *l, uint64_t base, unsigned o, uint32_t gen,
                 struct slot *s, uint64_t *run)
{
  size_t r;
  int before;

  if (l->dense) {
    for (; o < EXTMAP_L2_SIZE; o++) {
      const struct slot *d = &slots (l)[o];

      if (!slot_empty (d) && (d->gen == SLOT_VEC || d->gen > gen)) {
        *s = *d;
        *run = 1;
        return base + o;
      }
    }
    return UINT64_MAX;
  }
  before = run_before (l, o);
  r = before < 0 ? 0 : (size_t) before;
  for (; r < l->n; r++) {
    const struct slot *rs = &slots (l)[r];
    unsigned off = offs (l)[r], end = off + lens (l)[r];

    if (end <= o || (rs->gen != SLOT_VEC && rs->gen <= gen))
      continue;
    if (off < o)
      off = o;
    *s = run_slot (rs, off - offs (l)[r]);
    *run = end - off;
    return base + off;
  }
  return UINT64_MAX;
}

int
extmap_next_newer (struct extmap *m, uint64_t *vci, uint32_t gen,
                   struct ext *x, uint64_t *run)
{
  uint64_t i = *vci;

  while (i < m->nclusters) {
    size_t t = i >> EXTMAP_L2_BITS;
    uint64_t base = (uint64_t) t << EXTMAP_L2_BITS, found = UINT64_MAX;
    pthread_mutex_t *mu = lock_of (m, i);
    struct slot s;

    if (__atomic_load_n (&m->newest[t], __ATOMIC_RELAXED) <= gen) {
      i = base + EXTMAP_L2_SIZE;
      continue;
    }
    pthread_mutex_lock (mu);
    if (m->l1[t] != NULL)
      found = leaf_next_newer (m->l1[t], base, i - base, gen, &s, run);
    pthread_mutex_unlock (mu);
    if (found != UINT64_MAX && found < m->nclusters) {
      *vci = found;
      if (s.gen == SLOT_VEC)
        return 2;
      if (found + *run > m->nclusters)
        *run = m->nclusters - found;
      ext_of_slot (&s, x);
      return 1;
    }
    i = base + EXTMAP_L2_SIZE;
  }
  return 0;
}

size_t
extmap_bytes (struct extmap *m)
{
  size_t bytes = m->nl1 * (sizeof *m->l1 + sizeof *m->newest), t, j;

  for (t = 0; t < m->nl1; t++) {
    pthread_mutex_t *mu = &m->locks[t % EXTMAP_LOCKS];
    struct extleaf *l;

    pthread_mutex_lock (mu);
    l = m->l1[t];
    if (l != NULL) {
      size_t n = l->dense ? EXTMAP_L2_SIZE : l->n;

      bytes += sizeof *l + (l->dense ? LEAF_DENSE_BYTES : l->cap * RUN_BYTES);
      for (j = 0; j < n; j++) {
        struct extvec *ev = slot_vec (&slots (l)[j]);
        if (ev != NULL)
          bytes += sizeof *ev + ev->cap * sizeof ev->v[0];
      }
    }
    pthread_mutex_unlock (mu);
  }
  return bytes;
}

size_t
extmap_runs (struct extmap *m, size_t *dense)
{
  size_t runs = 0, t;

  *dense = 0;
  for (t = 0; t < m->nl1; t++) {
    pthread_mutex_t *mu = &m->locks[t % EXTMAP_LOCKS];

    pthread_mutex_lock (mu);
    if (m->l1[t] != NULL) {
      if (m->l1[t]->dense)
        (*dense)++;
      else
        runs += m->l1[t]->n;
    }
    pthread_mutex_unlock (mu);
  }
  return runs;
}
