/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * deadidx.h: a volume's dead index: which clusters hold a version that
 * shadows an older one, by the shadowing version's generation, so that
 * a snapshot's deletion visits what was written around it, not the map
 * (docs/design.md, "Deleting a snapshot").
 *
 * Design notes
 * ------------
 * A version of subcluster s born at generation a and shadowed by the
 * nearest newer version defining s, at generation h, is read by the
 * snapshots in [a, h) (and by nobody else: the live volume reads the
 * newest).  Deleting the snapshot at G, whose neighbours in the list
 * are P (0: none) and N (infinity: none), can leave unread only what a
 * version of generation h in (G, N] shadows.  The index keeps, per
 * generation h, the clusters where a version of generation h was
 * created over older versions (or later gained subclusters an older
 * version defines): the deletion reads the entries of (G, N] and
 * reclaims those clusters, and no other cluster can have lost a
 * reader.  The buckets of the snapshot intervals are ranges of
 * generations, so the bucket of G merges into N's by G leaving the
 * list, with nothing moved.
 *
 * The index is a hint, never the truth: a deletion reclaims each
 * cluster it names by the rule of "Who reads a subcluster" against the
 * map and the snapshot list as they are, so an entry too many costs a
 * visit and an entry missing leaves space (never data) for the
 * reclaim at the next open, which goes over the whole map and rebuilds
 * the index.  Entries are removed (pruned) by the deletion that visits
 * them once their version is gone or shadows nothing any more.
 *
 * In memory only: built at open from the map (which recovery has in
 * memory anyway), maintained by the data path.  Nothing on disk.
 *
 * Locking: one mutex, a leaf (docs/design.md, "Concurrency"), held for
 * memory work only.  deadidx_copy and deadidx_prune are called by one
 * thread at a time (the volume's admin_mu), which the positions in a
 * copy rely on: entries are only ever appended by others.
 */

#ifndef SNAPVOL_DEADIDX_H
#define SNAPVOL_DEADIDX_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct deadgen {
  uint32_t gen;                 /* the shadowing versions' generation */
  size_t n, cap;
  uint64_t *vci;                /* clusters, in the order added */
};

struct deadidx {
  pthread_mutex_t mu;
  struct deadgen *g;            /* sorted by gen, none empty for long */
  size_t n, cap;
  size_t entries;               /* sum of the g[i].n */
  /* Not kept: the volume was reverted (its generations form a tree,
   * and deletions go over the tables instead), or an entry was lost
   * for want of memory.  Deletions then take the whole-map path. */
  int off;
};

/* One entry of a copy: POS is its index in its generation's list. */
struct deadent {
  uint64_t vci;
  uint32_t gen;
  uint32_t drop;                /* set by the caller: prune it */
  size_t pos;
};

extern void deadidx_init (struct deadidx *d) __attribute__((nonnull));
/* Frees everything; D may be freed twice. */
extern void deadidx_free (struct deadidx *d) __attribute__((nonnull));

/* Note that version GEN of cluster VCI shadows (or may shadow) older
 * versions.  DEDUP: not if it is the last entry of GEN's list already
 * (only for the live generation, whose entries a prune keeps: an
 * older generation's last entry may be on its way out, see
 * deadidx_prune).  Never fails: without memory the index is switched
 * off (deletions then reclaim as if it had never been kept).  Cannot
 * block but on the leaf mutex. */
extern void deadidx_add (struct deadidx *d, uint32_t gen, uint64_t vci,
                         int dedup)
  __attribute__((nonnull));

/* Fill the index from pairs (gen, vci) in any order, at open (nothing
 * else uses D).  Sorts PAIRS.  0, or -1 with ENOMEM (the index is then
 * off). */
struct deadpair { uint64_t vci; uint32_t gen; };
extern int deadidx_load (struct deadidx *d, struct deadpair *pairs,
                         size_t n)
  __attribute__((nonnull (1)));

/* Copy the entries of the generations in (LO, HI] into *OUT (malloc'd,
 * the caller frees it), ascending gen, each generation's in list
 * order, with DROP 0: the lists as they were when the call began (what
 * is appended meanwhile is left out), taken a bounded chunk per hold
 * of the mutex.  Returns 0; 1 when the index is off or is switched off
 * meanwhile (nothing copied); -1 with ENOMEM. */
extern int deadidx_copy (struct deadidx *d, uint32_t lo, uint32_t hi,
                         struct deadent **out, size_t *n)
  __attribute__((nonnull));

/* Remove the entries of a copy (of the same caller, no prune between)
 * whose DROP is set; entries added since stay.  Generations left empty
 * go.  Takes the mutex once per generation. */
extern void deadidx_prune (struct deadidx *d, const struct deadent *e,
                           size_t n)
  __attribute__((nonnull (1)));

/* Stop keeping the index (a revert): frees its entries. */
extern void deadidx_disable (struct deadidx *d) __attribute__((nonnull));

/* Entries held, and whether the index is kept. */
extern size_t deadidx_entries (struct deadidx *d, int *on)
  __attribute__((nonnull (1)));

#endif /* SNAPVOL_DEADIDX_H */
