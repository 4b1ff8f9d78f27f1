/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * genpath.h: a volume's generations as a tree: the reverts that made
 * it one, the generations each view sees, and who reads a subcluster
 * once the history branched (docs/design.md, "Revert").
 *
 * Design notes
 * ------------
 * Generation g's parent is g - 1, except for the generations a revert
 * made: reverting the live volume (generation G) to the snapshot of
 * generation S makes the live generation G + 1 whose parent is S.  The
 * reverts, {gen, parent} sorted by gen, cut the generations into
 * segments of consecutive generations: [0, r0 - 1], [r0, r1 - 1], ...,
 * [rlast, infinity), the last one the live volume's.  A view at
 * generation g sees its ancestors: [r, g] for the last revert r <= g,
 * then the ancestors of r's parent, one span per revert on its path
 * (struct genpath, extmap.h).  A version's readers are found segment
 * by segment: inside a segment the rule of a volume without reverts
 * holds (the views pinned in [a, h)), starting from what the
 * segment's parent reads.  Pure functions over their arguments: the
 * caller keeps the table from changing (snap_lock, or a volume read
 * offline by the checker).
 */

#ifndef SNAPVOL_GENPATH_H
#define SNAPVOL_GENPATH_H

#include <stddef.h>
#include <stdint.h>

#include "extmap.h"

#define GENPATH_INF UINT32_MAX

/* One revert: the live generation it made and that one's parent. */
struct revert {
  uint32_t gen, parent;
};

/* The path of the view at generation GEN (GENPATH_INF: the live
 * volume) over the reverts RV[0..NRV) (sorted by gen): *OUT NULL when
 * no revert lies on it (the view sees every generation up to GEN),
 * else a malloc'd path the caller frees.  0, or -1 with ENOMEM. */
extern int genpath_make (const struct revert *rv, size_t nrv, uint32_t gen,
                         struct genpath **out)
  __attribute__((nonnull (4)));

/* Does the view at GEN with path PATH (NULL: linear) see generation G? */
extern int genpath_sees (const struct genpath *path, uint32_t gen,
                         uint32_t g);

/* The newest generation two views (GEN_A with PATH_A, GEN_B with
 * PATH_B) both see; 0 when none. */
extern uint32_t genpath_meet (const struct genpath *path_a, uint32_t gen_a,
                              const struct genpath *path_b, uint32_t gen_b);

/* The segments of a reverted history, each with the path its first
 * generation's parent sees (built once per pass over the map). */
struct genseg {
  uint32_t start, end;          /* end GENPATH_INF: the live segment */
  uint32_t parent;              /* 0: the first segment */
  struct genpath *ppath;        /* the parent's path (NULL: linear) */
};
struct gensegs {
  size_t n;
  struct genseg *seg;
};

/* Build SG from RV[0..NRV): 0, or -1 with ENOMEM (SG empty). */
extern int gensegs_build (struct gensegs *sg, const struct revert *rv,
                          size_t nrv)
  __attribute__((nonnull (1)));
extern void gensegs_free (struct gensegs *sg)
  __attribute__((nonnull));

/* Subcluster S of version I is read by the views pinned in [LO, HI),
 * and by the live volume too when LIVE (HI is then GENPATH_INF).  One
 * call for each such range. */
typedef void (*genreader_fn) (void *opaque, int i, unsigned s, uint32_t lo,
                              uint32_t hi, int live);

/* Call FN for every range of readers of every subcluster below NSUB
 * that a version of EV defines (the rule of "Who reads a subcluster",
 * segment by segment).  A defined subcluster for which FN is never
 * called with a non-empty range and never with LIVE is read by no
 * view.  Cannot fail. */
extern void genpath_readers (const struct extvec *ev,
                             const struct gensegs *sg, unsigned nsub,
                             genreader_fn fn, void *opaque)
  __attribute__((nonnull (1, 2, 4)));

#endif /* SNAPVOL_GENPATH_H */
