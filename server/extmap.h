/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * extmap.h: the in-memory copy-on-write extent map of one volume.
 *
 * For each virtual cluster (vci) the map keeps a short vector of
 * versions sorted by generation.  A version says, for each subcluster,
 * whether it holds data in physical cluster PHYS (bit set in ALLOC), is
 * zero (bit set in ZERO), or falls through to the next older version.
 * A view pinned at generation g sees the newest version with gen <= g
 * and falls through from there; the live view sees the newest version.
 *
 * Representation (extmap.c's design notes): most clusters hold one
 * version that is all data or all zeroes in some subclusters, and such
 * a version is stored in 16 bytes, in runs of consecutive clusters
 * where the physical clusters are consecutive too; other clusters keep
 * a vector of their own.  So lookups hand out a copy of the versions,
 * not a pointer into the map.
 *
 * Locking: the caller holds the volume's stripe lock for a vci while
 * calling anything about it (read lock for lookups, write lock for
 * changes); that orders the changes and lookups of one vci.  The map
 * locks its own structure (a mutex per group of tables, held for a few
 * instructions and never across a call out), so changes to different
 * vcis never need a common caller lock.  Nothing here blocks on I/O.
 */

#ifndef SNAPVOL_EXTMAP_H
#define SNAPVOL_EXTMAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* The clusters of one table (a run never crosses tables). */
#define EXTMAP_L2_BITS 9
#define EXTMAP_L2_SIZE (1u << EXTMAP_L2_BITS)
#define EXTMAP_LOCKS 64

struct ext {
  uint64_t alloc;       /* subclusters holding data in PHYS */
  uint64_t zero;        /* subclusters reading as zero */
  uint32_t gen;         /* generation the version was written in */
  uint32_t phys;        /* physical cluster, PHYS_NONE when ALLOC is 0 */
};

struct extvec {
  uint32_t n, cap;
  struct ext v[];       /* ascending gen */
};

/* Room for the copy of a cluster that holds one version. */
union extvec_buf {
  struct extvec ev;
  unsigned char space[sizeof (struct extvec) + sizeof (struct ext)];
};

struct extleaf;

struct extmap {
  uint64_t nclusters;
  size_t nl1;
  struct extleaf **l1;
  /* Per table, the highest generation ever put in it (an upper bound
   * on its versions' gens: never lowered).  Atomic. */
  uint32_t *newest;
  pthread_mutex_t locks[EXTMAP_LOCKS];
};

/* 0, or -1 with errno ENOMEM. */
extern int extmap_init (struct extmap *m, uint64_t nclusters)
  __attribute__((nonnull));
/* Frees everything; M may be zeroed or freed twice. */
extern void extmap_free (struct extmap *m)
  __attribute__((nonnull));

/* The versions of VCI, or NULL if it was never written.  The vector is
 * either the cluster's own (valid until the next change to VCI) or a
 * copy in *BUF (valid until BUF goes): never write through it. */
extern const struct extvec *extmap_get (struct extmap *m, uint64_t vci,
                                        union extvec_buf *buf)
  __attribute__((nonnull));

/* Index of the newest version visible at GEN, or -1. */
extern int extvec_top (const struct extvec *ev, uint32_t gen);

/* The generations a view sees once its volume was reverted
 * (docs/design.md, "Revert"): its ancestors, as intervals [LO, HI],
 * newest first and disjoint, one per revert on its path.  A view whose
 * path holds no revert sees every generation up to its own, and is
 * given a NULL path: reads then cost what they cost before reverts
 * existed (one binary search, then index by index).  Immutable once
 * made; built by genpath.c. */
struct genpath {
  uint32_t n;
  struct genspan { uint32_t lo, hi; } s[];
};

/* Index of the newest version of EV whose generation PATH holds (PATH
 * NULL: at or below GEN), or -1. */
extern int extvec_top_path (const struct extvec *ev, uint32_t gen,
                            const struct genpath *path);
extern int extvec_older_path (const struct extvec *ev,
                              const struct genpath *path, int i);

/* The next older version after index I that the view of PATH sees, or
 * -1: I - 1 without a path, so that a volume never reverted walks its
 * versions as before. */
static inline int
extvec_older (const struct extvec *ev, const struct genpath *path, int i)
{
  if (path == NULL || i <= 0)
    return i - 1;
  return extvec_older_path (ev, path, i);
}

/* Insert or replace the version (VCI, X->gen).  0, or -1 with errno
 * ENOMEM (the map is then unchanged). */
extern int extmap_put (struct extmap *m, uint64_t vci, const struct ext *x)
  __attribute__((nonnull));

/* Remove the version (VCI, GEN).  Returns 0, or -1 if absent; cannot
 * fail otherwise. */
extern int extmap_drop (struct extmap *m, uint64_t vci, uint32_t gen)
  __attribute__((nonnull));

/* The next vci >= *VCI that has versions; 0 when there is none. */
extern int extmap_next (struct extmap *m, uint64_t *vci)
  __attribute__((nonnull));
/* The same, skipping the tables that never had a version of
 * generation GEN or newer.  Every vci with such a version is found. */
extern int extmap_next_since (struct extmap *m, uint64_t *vci, uint32_t gen)
  __attribute__((nonnull));

/* The next vci >= *VCI that may hold a version newer than GEN, for
 * walks that look at what changed since a generation (diff.c): skips
 * the tables whose bound is <= GEN, and within a table the runs and
 * single-version slots whose generation is <= GEN, taking only the
 * tables' mutexes (no stripe lock, no allocation).  Returns 0 when
 * there is none; 1 when the cluster holds one version, of generation
 * > GEN, copied whole into *X (what a stripe-locked extmap_get would
 * have returned at some instant), with *RUN the number of clusters
 * from *VCI on holding the same version (physical cluster + k, in the
 * same table, below nclusters); 2 when the cluster has a vector of
 * its own, which the caller reads with extmap_get under the stripe's
 * read lock (*X and *RUN unset). */
extern int extmap_next_newer (struct extmap *m, uint64_t *vci, uint32_t gen,
                              struct ext *x, uint64_t *run)
  __attribute__((nonnull));

/* Bytes the map holds on the heap (tables and vectors, not counting
 * malloc's own overhead). */
extern size_t extmap_bytes (struct extmap *m)
  __attribute__((nonnull));

/* Runs held by the sparse tables, and in *DENSE the number of dense
 * tables (tests check that runs stay maximal). */
extern size_t extmap_runs (struct extmap *m, size_t *dense)
  __attribute__((nonnull));

#endif /* SNAPVOL_EXTMAP_H */
