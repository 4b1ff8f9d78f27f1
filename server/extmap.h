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
 * Locking: the map does no locking of its own.  The caller holds the
 * volume's stripe lock for a vci while calling anything about it (read
 * lock for lookups, write lock for changes).  Creating a second-level
 * table is lock-free (compare and swap) so different vcis never contend.
 */

#ifndef SNAPVOL_EXTMAP_H
#define SNAPVOL_EXTMAP_H

#include <stddef.h>
#include <stdint.h>

#define EXTMAP_L2_BITS 9
#define EXTMAP_L2_SIZE (1u << EXTMAP_L2_BITS)

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

struct extmap {
  uint64_t nclusters;
  size_t nl1;
  struct extvec ***l1;
};

extern int extmap_init (struct extmap *m, uint64_t nclusters);
extern void extmap_free (struct extmap *m);

/* The versions of VCI, or NULL if it was never written. */
extern struct extvec *extmap_get (const struct extmap *m, uint64_t vci);

/* Index of the newest version visible at GEN, or -1. */
extern int extvec_top (const struct extvec *ev, uint32_t gen);

/* Insert or replace the version (VCI, X->gen).  Returns a pointer to
 * the stored version, valid until the next change to VCI; NULL with
 * ENOMEM. */
extern struct ext *extmap_put (struct extmap *m, uint64_t vci,
                               const struct ext *x);

/* Remove the version (VCI, GEN).  Returns 0, or -1 if absent. */
extern int extmap_drop (struct extmap *m, uint64_t vci, uint32_t gen);

/* The next vci >= *VCI that has versions; 0 when there is none. */
extern int extmap_next (const struct extmap *m, uint64_t *vci);

#endif /* SNAPVOL_EXTMAP_H */
