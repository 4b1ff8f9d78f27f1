/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * alloc.h: allocation of physical clusters in a volume's data file.
 *
 * Design notes
 * ------------
 * A cluster freed by a metadata change must not be reused before that
 * change is durable: otherwise a crash could bring back the old mapping
 * pointing at a cluster that now holds someone else's data.  So a free
 * is first "pending", tagged with the journal sequence number of the
 * record that freed it, and becomes allocatable only when the journal
 * is durable up to that number (alloc_release).
 *
 * A cluster whose free is durable is not allocatable yet: it waits
 * for alloc_punch_freed to punch a hole there and only then becomes
 * free, so that a cluster is never reused with another version's bytes
 * in it.  The volume chooses when to punch (volume.h, "Deferred
 * punches"), because a hole punch holds the data file's inode lock,
 * which every buffered write needs, for as long as the filesystem
 * makes it wait for its journal (docs/performance.md, "Live writes
 * over NBD while a snapshot is reclaimed").  Meanwhile the cluster no
 * longer counts as used (the pool's USED), but as unpunched (its
 * UNPUNCHED): space that a punch gives back at once.
 *
 * Locking: one mutex per allocator, held only for bitmap updates.
 */

#ifndef SNAPVOL_ALLOC_H
#define SNAPVOL_ALLOC_H

#include <pthread.h>
#include <stdint.h>

struct pending_free {
  uint64_t seq;
  uint32_t phys;
};

struct alloc {
  pthread_mutex_t mu;
  uint64_t *bits;            /* 1 = not allocatable */
  uint64_t *dirty;           /* 1 = freed, waiting for its punch */
  uint32_t nphys;            /* clusters covered by BITS and DIRTY */
  uint32_t used;             /* in use, or pending free */
  uint32_t unpunched;        /* waiting for their punch (DIRTY's bits) */
  uint32_t busy;             /* being punched */
  uint32_t hint;             /* next-fit search start */
  struct pending_free *pend;
  size_t npend, cappend;
  /* A pool-wide count of bytes in use (space.h), or NULL: changed by
   * UNIT bytes per cluster with one atomic add wherever USED changes,
   * and by -USED * UNIT in alloc_destroy.  Set before the first
   * alloc_mark.  SHARED_UNPUNCHED, the same for UNPUNCHED. */
  uint64_t *shared;
  uint64_t *shared_unpunched;
  uint64_t unit;
};

extern int alloc_init (struct alloc *a);
extern void alloc_destroy (struct alloc *a);

/* Mark P in use (recovery, while rebuilding from the map).  Returns -1
 * if it already was: the map then owns one cluster twice. */
extern int alloc_mark (struct alloc *a, uint32_t p);

/* Allocate a cluster.  -1 with ENOSPC when the 32-bit space is full,
 * ENOMEM. */
extern int alloc_get (struct alloc *a, uint32_t *p);

/* Allocate N consecutive clusters, the first at *P, searching from
 * where the last allocation ended (and growing the space at its end).
 * -1 with EAGAIN when no run of N is free within a bounded distance of
 * that point (allocate one by one then), ENOSPC, ENOMEM, EINVAL for an
 * N of 0 or too large to search for. */
extern int alloc_get_run (struct alloc *a, uint32_t n, uint32_t *p);

/* Free P at once (it was never recorded in the journal). */
extern void alloc_put_now (struct alloc *a, uint32_t p);

/* Free P once the journal is durable up to SEQ.  -1 with ENOMEM (the
 * cluster then stays in use: leaked, never reused wrongly). */
extern int alloc_put_after (struct alloc *a, uint32_t p, uint64_t seq);

/* Every pending cluster whose SEQ <= DURABLE now waits for its punch
 * (not allocatable yet, no longer used). */
extern void alloc_release (struct alloc *a, uint64_t durable);

/* Punch up to MAX clusters waiting for it, lowest first, and make them
 * allocatable: PUNCH is called once per run of consecutive clusters (N
 * clusters from P, ascending), one call per run, not per cluster, for
 * the inode lock's sake.  Returns the clusters punched (0 also on
 * ENOMEM: they keep waiting). */
extern size_t alloc_punch_freed (struct alloc *a, size_t max,
                                 void (*punch) (void *opaque, uint32_t p,
                                                uint32_t n),
                                 void *opaque);

/* Clusters waiting for their punch. */
extern uint32_t alloc_unpunched (struct alloc *a);

extern uint32_t alloc_used (struct alloc *a);

/* The physical clusters the allocator covers: the data file's extent
 * in clusters, as far as it knows. */
extern uint32_t alloc_nphys (struct alloc *a);
/* Is P in use? (for checks) */
extern int alloc_test (struct alloc *a, uint32_t p);

#endif /* SNAPVOL_ALLOC_H */
