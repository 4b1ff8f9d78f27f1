/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * diff.c: changed blocks: the subclusters whose content may differ
 * between two snapshots of a volume, or a snapshot and the live
 * volume, computed from the extent map (pool_snapshot_diff).
 *
 * Design notes (docs/design.md, "Changed blocks", has the argument)
 * ------------------------------------------------------------------
 * Let f be FROM's generation and t TO's (the live volume: every
 * version).  Subcluster s of cluster vci changed iff a version of vci
 * with f < gen <= t defines s; its kind is that of the newest version
 * with gen <= t defining it (data or zero).  Exact because versions of
 * gen <= f are never changed in place while FROM exists, the newest
 * version of (f, t] defining s is read by TO and so never reclaimed,
 * and without one FROM and TO read the same version.  A copy-forward
 * fill writes the whole cluster: its subclusters nobody wrote are
 * reported as data with identical bytes (allowed; documented).
 *
 * Reverted volumes (docs/design.md, "Revert").  FROM and TO may then
 * lie on different branches: a subcluster changed iff a version whose
 * generation one of them sees and the other does not defines it (the
 * symmetric difference of their ancestors, all newer than the newest
 * generation both see, M); its kind is what TO reads (a hole, when only
 * FROM's branch defined it, is reported as zero).  Without such a
 * version both resolve it to the same version, the newest of their
 * common ancestors.  The walk skips what is not newer than M; for one
 * branch M is f, and the rule is the one above.
 *
 * Cost.  extmap_next_newer skips the tables that never held a version
 * newer than f, and within the others the runs and one-version slots
 * of gen <= f, under the tables' mutexes only; a cluster with a
 * vector of its own is read under its stripe's read lock, one at a
 * time.  So a page costs the tables written since FROM plus the
 * clusters it reports, and holds O(1) memory: ranges go to the
 * caller's function as they are found, merged with the next one when
 * they touch and are of one kind.
 *
 * Paging.  A page ends after MAX_RANGES calls of the function, at the
 * subcluster where the range that did not fit starts: the next page
 * begins there, so a page always makes progress and ranges never
 * overlap from one page to the next.
 *
 * Deletion.  While a page runs, FROM and TO count as opened (their
 * open_count, as an NBD view's), so snapshot deletion fails with EBUSY
 * instead of reclaiming under the walk; the volume cannot go while it
 * has a snapshot.  Lock order: pool->mu, then snap_lock (to find and
 * count the snapshots); the walk takes stripe read locks with nothing
 * else held.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "pace.h"
#include "pool-internal.h"
#include "volume.h"
#include "lockorder.h"

#define GEN_LIVE UINT32_MAX

/* One page of a diff in progress. */
struct diff_walk {
  uint64_t size;                /* TO's size: ranges stop there */
  uint32_t cluster_size, subcluster_size, nsub;
  uint32_t from_gen, to_gen;    /* to_gen GEN_LIVE: the live volume */
  /* Reverted volumes: the views' paths (genpath.h; NULL: linear), the
   * newest generation both see, and whether the walk needs them. */
  struct genpath *from_path, *to_path;
  uint32_t meet;
  bool tree;
  size_t max_ranges, calls;
  sv_diff_fn fn;
  void *opaque;
  /* The range not yet given to FN (len 0: none). */
  uint64_t off, len;
  enum sv_diff_kind kind;
  uint64_t next;                /* where the next page starts */
  bool full;
};

/* Add [OFF, OFF+LEN) of KIND after what W has.  -1 when FN failed;
 * sets W->full when the page is complete. */
static int
walk_add (struct diff_walk *w, uint64_t off, uint64_t len,
          enum sv_diff_kind kind)
{
  if (off >= w->size)
    return 0;
  if (len > w->size - off)
    len = w->size - off;
  if (w->len > 0 && w->off + w->len == off && w->kind == kind) {
    w->len += len;
    return 0;
  }
  if (w->len > 0) {
    if (w->fn (w->off, w->len, w->kind, w->opaque) == -1)
      return -1;
    if (++w->calls == w->max_ranges) {
      w->full = true;
      w->next = off;
      w->len = 0;
      return 0;
    }
  }
  w->off = off;
  w->len = len;
  w->kind = kind;
  return 0;
}

/* The changed subclusters of the versions EV: in *DATA those whose
 * newest version of (f, t] holds data, in *ZERO those it zeroes. */
static void
changed_masks (const struct diff_walk *w, const struct extvec *ev,
               uint64_t *data, uint64_t *zero)
{
  uint64_t seen = 0;
  int i;

  *data = *zero = 0;
  for (i = extvec_top (ev, w->to_gen); i >= 0; i--) {
    const struct ext *x = &ev->v[i];

    if (x->gen <= w->from_gen)
      break;
    *data |= x->alloc & ~seen;
    *zero |= x->zero & ~x->alloc & ~seen;
    seen |= x->alloc | x->zero;
  }
}

/* changed_masks for FROM and TO on two branches (the design notes). */
static void
changed_masks_tree (const struct diff_walk *w, const struct extvec *ev,
                    uint64_t *data, uint64_t *zero)
{
  uint64_t changed = 0, seen = 0;
  int i;

  *data = *zero = 0;
  for (i = (int) ev->n - 1; i >= 0 && ev->v[i].gen > w->meet; i--)
    if (genpath_sees (w->from_path, w->from_gen, ev->v[i].gen) !=
        genpath_sees (w->to_path, w->to_gen, ev->v[i].gen))
      changed |= ev->v[i].alloc | ev->v[i].zero;
  if (changed == 0)
    return;
  for (i = extvec_top_path (ev, w->to_gen, w->to_path);
       i >= 0 && (changed & ~seen) != 0;
       i = extvec_older (ev, w->to_path, i)) {
    const struct ext *x = &ev->v[i];
    *data |= x->alloc & changed & ~seen;
    *zero |= x->zero & ~x->alloc & changed & ~seen;
    seen |= x->alloc | x->zero;
  }
  *zero |= changed & ~seen;     /* TO reads a hole there */
}

/* Report the subclusters of cluster VCI from subcluster FIRST on. */
static int
walk_cluster (struct diff_walk *w, uint64_t vci, unsigned first,
              uint64_t data, uint64_t zero)
{
  uint64_t all = w->nsub == 64 ? UINT64_MAX : (1ull << w->nsub) - 1;
  uint64_t base = vci * w->cluster_size;
  uint64_t left = (data | zero) & all & ~((1ull << first) - 1);

  while (left != 0 && !w->full) {
    unsigned s = __builtin_ctzll (left), e = s;
    bool is_data = data >> s & 1;
    uint64_t same = is_data ? data : zero;

    while (e + 1 < w->nsub && (same >> (e + 1) & 1))
      e++;
    if (walk_add (w, base + (uint64_t) s * w->subcluster_size,
                  (uint64_t) (e - s + 1) * w->subcluster_size,
                  is_data ? SV_DIFF_DATA : SV_DIFF_ZERO) == -1)
      return -1;
    left &= e + 1 >= 64 ? 0 : ~((2ull << e) - 1);
  }
  return 0;
}

/* The changed ranges of V from byte START on, one page. */
static int
walk (struct volume *v, struct diff_walk *w, uint64_t start)
{
  uint64_t vci = start / w->cluster_size;
  unsigned first = (start % w->cluster_size) / w->subcluster_size;
  struct pace pace = PACE_INIT;
  struct ext x;
  uint64_t run;
  int r;

  while (!w->full &&
         (r = extmap_next_newer (&v->map, &vci, w->meet, &x, &run)) > 0) {
    uint64_t data, zero, k;

    pace_point (&pace);
    if (vci * w->cluster_size >= w->size)
      break;
    if (vci != start / w->cluster_size)
      first = 0;
    if (r == 1) {
      /* One version newer than FROM, the same over the run. */
      union extvec_buf one = { .ev = { .n = 1, .cap = 1 } };

      one.ev.v[0] = x;
      if (w->tree)
        changed_masks_tree (w, &one.ev, &data, &zero);
      else
        changed_masks (w, &one.ev, &data, &zero);
      for (k = 0; k < run && !w->full; k++, first = 0)
        if ((data | zero) != 0 &&
            walk_cluster (w, vci + k, first, data, zero) == -1)
          return -1;
      vci += run;
      continue;
    }
    sv_rdlock (stripe_of (v, vci), LOCK_STRIPE);
    {
      union extvec_buf buf;
      const struct extvec *ev = extmap_get (&v->map, vci, &buf);

      if (ev != NULL && w->tree)
        changed_masks_tree (w, ev, &data, &zero);
      else if (ev != NULL)
        changed_masks (w, ev, &data, &zero);
      else
        data = zero = 0;
    }
    sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
    if ((data | zero) != 0 && walk_cluster (w, vci, first, data, zero) == -1)
      return -1;
    vci++;
  }
  if (w->full)
    return 0;
  if (w->len > 0) {
    if (w->fn (w->off, w->len, w->kind, w->opaque) == -1)
      return -1;
    w->calls++;
    w->len = 0;
  }
  w->next = UINT64_MAX;
  return 0;
}

/* The snapshot of V with id (or set id) U, or -1.  snap_lock held. */
static ssize_t
find_snap (struct volume *v, const struct uuid *u)
{
  ssize_t i = volume_snap_index (v, u, 0);

  return i >= 0 ? i : volume_snap_index (v, u, 1);
}

/* Fail with ENOENT or EXDEV for the snapshot id ID (WHICH: "from" or
 * "to") that volume V does not have.  pool->mu held. */
static int
missing_snap (struct sv_pool *pool, struct volume *v, const struct uuid *u,
              const char *id, const char *which)
{
  struct volume *w;

  for (w = pool->volumes; w; w = w->next) {
    ssize_t i;

    if (w == v)
      continue;
    sv_rdlock (&w->snap_lock, LOCK_SNAP);
    i = volume_snap_index (w, u, 0);
    sv_rwunlock (&w->snap_lock, LOCK_SNAP);
    if (i >= 0)
      return sv_error (EXDEV, "snapshot %s is a snapshot of volume %s, "
                       "not %s", id, w->name, v->name);
  }
  return sv_error (ENOENT, "volume %s has no snapshot %s (%s)", v->name, id,
                   which);
}

/* Count (DELTA +1) or uncount (-1) the diff as an open of the
 * snapshots FROM and TO (TO NULL: none) of V.  pool->mu held. */
static void
count_opens (struct volume *v, const struct uuid *from,
             const struct uuid *to, int delta)
{
  ssize_t i;

  sv_rdlock (&v->snap_lock, LOCK_SNAP);
  if ((i = volume_snap_index (v, from, 0)) >= 0)
    v->snaps[i].open_count += delta;
  if (to != NULL && (i = volume_snap_index (v, to, 0)) >= 0)
    v->snaps[i].open_count += delta;
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
}

/* Free what diff_begin gave W. */
static void
diff_end (struct diff_walk *w)
{
  free (w->from_path);
  free (w->to_path);
  w->from_path = w->to_path = NULL;
}

/* Find VOLUME and its snapshots FROM and TO, check them, fill W and,
 * with COUNT, count the diff as an open of both.  Their snapshot ids
 * into FROM_ID and TO_ID (they may have been given as set ids). */
static struct volume *
diff_begin (struct sv_pool *pool, const char *volume, const char *from,
            const char *to, uint64_t start, bool count, struct diff_walk *w,
            struct uuid *from_id, struct uuid *to_id)
{
  struct uuid fu, tu;
  struct volume *v;
  ssize_t fi, ti = -1;

  if (uuid_parse (from, &fu) == -1) {
    sv_error (EINVAL, "invalid from snapshot id '%.64s': expected a UUID",
              from);
    return NULL;
  }
  if (to != NULL && uuid_parse (to, &tu) == -1) {
    sv_error (EINVAL, "invalid to snapshot id '%.64s': expected a UUID", to);
    return NULL;
  }

  SV_LOCK_FOR_CURRENT_SCOPE (&pool->mu, LOCK_POOL);
  v = pool_find_volume (pool, volume);
  if (v == NULL) {
    sv_error (ENOENT, "no volume named %s", volume);
    return NULL;
  }
  sv_rdlock (&v->snap_lock, LOCK_SNAP);
  fi = find_snap (v, &fu);
  if (fi >= 0 && to != NULL)
    ti = find_snap (v, &tu);
  if (fi < 0 || (to != NULL && ti < 0)) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    if (fi < 0)
      missing_snap (pool, v, &fu, from, "from");
    else
      missing_snap (pool, v, &tu, to, "to");
    return NULL;
  }
  w->cluster_size = v->cluster_size;
  w->subcluster_size = v->subcluster_size;
  w->nsub = v->nsub;
  w->from_gen = v->snaps[fi].gen;
  w->to_gen = ti >= 0 ? v->snaps[ti].gen : GEN_LIVE;
  w->size = ti >= 0 ? v->snaps[ti].size : v->size;
  *from_id = v->snaps[fi].id;
  if (ti >= 0)
    *to_id = v->snaps[ti].id;
  /* One branch: the newest generation both see is the older one. */
  w->meet = w->from_gen < w->to_gen ? w->from_gen : w->to_gen;
  w->tree = false;
  w->from_path = w->to_path = NULL;
  if (v->nreverts > 0) {
    if (volume_path_of (v, w->from_gen, &w->from_path) == -1 ||
        volume_path_of (v, w->to_gen, &w->to_path) == -1) {
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
      diff_end (w);
      return NULL;
    }
    w->meet = genpath_meet (w->from_path, w->from_gen, w->to_path,
                            w->to_gen);
    w->tree = w->meet != w->from_gen || w->to_path != NULL ||
      w->from_path != NULL;
  }
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);

  /* Not older: TO is FROM, or one of FROM's ancestors. */
  if (w->from_gen == w->to_gen ||
      (w->from_gen > w->to_gen && w->meet == w->to_gen)) {
    diff_end (w);
    sv_error (EINVAL, "from snapshot %s (generation %" PRIu32 ") is not "
              "older than to snapshot %s (generation %" PRIu32 ")",
              from, w->from_gen, to, w->to_gen);
    return NULL;
  }
  if (start > w->size) {
    diff_end (w);
    sv_error (EINVAL, "cursor %" PRIu64 " is past the end of volume "
              "%s (%" PRIu64 " bytes)", start, volume, w->size);
    return NULL;
  }
  if (count)
    count_opens (v, from_id, ti >= 0 ? to_id : NULL, +1);
  return v;
}

int
pool_snapshot_diff (struct sv_pool *pool, const char *volume,
                    const char *from, const char *to, uint64_t start,
                    size_t max_ranges, sv_diff_fn fn, void *opaque,
                    uint64_t *next)
{
  struct diff_walk w = { .max_ranges = max_ranges, .fn = fn,
                         .opaque = opaque };
  struct uuid from_id, to_id;
  struct volume *v;
  int r;

  if (max_ranges == 0)
    return sv_error (EINVAL, "a page of a diff must hold at least one "
                     "range");
  if (sv_check_name (volume) == -1)
    return -1;
  v = diff_begin (pool, volume, from, to, start, true, &w, &from_id,
                  &to_id);
  if (v == NULL)
    return -1;

  start -= start % w.subcluster_size;
  r = walk (v, &w, start);
  if (r == -1) {
    int err = errno;
    sv_error (err, "diff of volume %s stopped by its caller: %m", volume);
  }
  else
    *next = w.next;

  sv_lock (&pool->mu, LOCK_POOL);
  count_opens (v, &from_id, to ? &to_id : NULL, -1);
  sv_unlock (&pool->mu, LOCK_POOL);
  diff_end (&w);
  return r;
}

int
pool_snapshot_diff_info (struct sv_pool *pool, const char *volume,
                         const char *from, const char *to, uint64_t start,
                         struct sv_diff_info *info)
{
  struct diff_walk w = { .max_ranges = 1 };
  struct uuid from_id, to_id;

  if (sv_check_name (volume) == -1)
    return -1;
  if (diff_begin (pool, volume, from, to, start, false, &w, &from_id,
                  &to_id) == NULL)
    return -1;
  diff_end (&w);
  memset (info, 0, sizeof *info);
  info->size = w.size;
  info->granularity = w.subcluster_size;
  info->cluster_size = w.cluster_size;
  info->from_generation = w.from_gen;
  info->to_generation = to ? w.to_gen : 0;
  uuid_format (&from_id, info->from_id);
  if (to)
    uuid_format (&to_id, info->to_id);
  return 0;
}
