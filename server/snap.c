/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * snap.c: snapshots of one volume: pin, delete with space reclaim, and
 * space accounting.
 *
 * Layer (docs/design.md's map; tests/test-engine-calls-go-down.sh):
 * volopen.c > ckpt.c > snap.c > volume.c > punch.c, snapidx.c: calls
 * volume.c (flush, journal records), punch.c and snapidx.c, never
 * ckpt.c or volopen.c.
 *
 * Design notes: who sees a subcluster
 * -----------------------------------
 * For one cluster, let its versions be e_0 .. e_{n-1} by ascending gen.
 * Subcluster s of version e_i is read by exactly the views whose pinned
 * generation lies in [e_i.gen, h), where h is the gen of the nearest
 * newer version that defines s (data or zero), and by the live volume
 * when no newer version defines s (h = infinity).  Counting the
 * snapshots in [e_i.gen, h) is two binary searches in the sorted
 * snapshot list, so both reclaim and accounting cost O(map * log
 * snapshots), and nothing is ever copied when a snapshot is taken.
 *
 * Once the volume was reverted its generations form a tree (genpath.h):
 * the rule then holds segment by segment, and reclaim and accounting
 * go through genpath_readers, the one statement of it for a tree
 * (the checker's too).  A volume never reverted keeps the code below,
 * which is the same rule for one segment.
 *
 * Reclaim after a deletion clears every subcluster that no view reads,
 * drops versions left empty and frees their clusters; the frees and
 * punches wait until the records are durable (alloc.h, punch.c), so a
 * crash that loses the deletion also loses none of the snapshot's data,
 * and the punches of whole clusters wait further, for the volume to be
 * idle (volume.h, "Deferred punches").
 *
 * Which clusters a deletion reclaims, the dead index says (deadidx.h):
 * the deletion of the snapshot at G, between P and N, visits the
 * clusters where a version of (G, N] shadows an older one, so that its
 * cost is what was written between its neighbours.  A deletion's
 * reclaim is a job (struct dead_job): the index's entries of (P, N],
 * reclaimed cluster by cluster against the snapshot list as it is at
 * each cluster (so a job may stop between clusters and go on later),
 * then pruned.  The first 16 steps run before the deletion returns,
 * the rest on a thread of the volume, a step at a time under admin_mu
 * (reclaim_thread), each step flushed before the next.  A reverted
 * volume, or one whose index lost an entry, reclaims over the tables
 * instead (reclaim_tables), as the open's reclaim does over the whole
 * map: the backstop that leaves nothing leaked after a crash, a close
 * during the background reclaim, or an entry missing.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdio.h>

#include "errmsg.h"
#include "ondisk.h"
#include "pace.h"
#include "pool-internal.h"
#include "timespec.h"
#include "vector.h"
#include "volume.h"
#include "lockorder.h"

#define GEN_INF UINT32_MAX

/* The snapshot list and its records (journal and checkpoint). */

int
volume_snaps_reserve (struct volume *v)
{
  size_t ncap;
  struct snap *ns;

  if (v->nsnaps < v->capsnaps)
    return 0;
  ncap = v->capsnaps;
  /* Grow the list and the index, then commit: a failed second step
   * leaves the list larger, which is harmless. */
  ns = vector_grow (v->snaps, v->nsnaps, &ncap, 1, sizeof *ns);
  if (ns == NULL)
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  v->snaps = ns;
  if (snapidx_reserve (v, ncap) == -1)
    return -1;
  v->capsnaps = ncap;
  return 0;
}

int
volume_snap_insert (struct volume *v, const struct snap *s)
{
  size_t i;

  if (volume_snaps_reserve (v) == -1)
    return -1;
  /* Generations only grow: the new one normally goes last. */
  for (i = v->nsnaps; i > 0 && v->snaps[i - 1].gen > s->gen; i--)
    ;
  if (i > 0 && v->snaps[i - 1].gen == s->gen)
    return sv_error (EILSEQ, "volume %s: two snapshots pin generation %"
                     PRIu32, v->name, s->gen);
  memmove (&v->snaps[i + 1], &v->snaps[i], (v->nsnaps - i) * sizeof *s);
  v->snaps[i] = *s;
  v->snaps[i].open_count = 0;
  v->snaps[i].holds = NULL;
  v->snaps[i].nholds = 0;
  v->nsnaps++;
  snapidx_add (v, s);
  if (s->gen >= v->live_gen)
    v->live_gen = s->gen + 1;
  if (s->gen > v->latest_gen)
    __atomic_store_n (&v->latest_gen, s->gen, __ATOMIC_SEQ_CST);
  return 0;
}

/* Decode a snapshot record (journal payload or checkpoint body).
 * Returns its length, or -1. */
ssize_t
volume_decode_snap (struct volume *v, const uint8_t *p, size_t len,
                    struct snap *s)
{
  uint32_t labellen;

  if (len < SNAP_REC_FIXED)
    return sv_error (EILSEQ, "volume %s: snapshot record is short", v->name);
  memset (s, 0, sizeof *s);
  memcpy (s->id.b, p, 16);
  memcpy (s->set.b, p + 16, 16);
  s->gen = get_le32 (p + 32);
  labellen = get_le32 (p + 36);
  s->created = get_le64 (p + 40);
  s->size = get_le64 (p + 48);
  if (labellen > SV_LABEL_MAX || SNAP_REC_FIXED + labellen > len)
    return sv_error (EILSEQ, "volume %s: snapshot label length %" PRIu32
                     " is invalid", v->name, labellen);
  if (s->gen == 0 || s->gen == UINT32_MAX || s->size == 0 ||
      s->size % 512 != 0 || s->size > v->size)
    return sv_error (EILSEQ, "volume %s: snapshot record has generation %"
                     PRIu32 " and size %" PRIu64, v->name, s->gen, s->size);
  memcpy (s->label, p + SNAP_REC_FIXED, labellen);
  s->label[labellen] = '\0';
  return SNAP_REC_FIXED + labellen;
}

size_t
volume_encode_snap (const struct snap *s, uint8_t *p)
{
  size_t labellen = strlen (s->label);

  memcpy (p, s->id.b, 16);
  memcpy (p + 16, s->set.b, 16);
  put_le32 (p + 32, s->gen);
  put_le32 (p + 36, labellen);
  put_le64 (p + 40, s->created);
  put_le64 (p + 48, s->size);
  memcpy (p + SNAP_REC_FIXED, s->label, labellen);
  return SNAP_REC_FIXED + labellen;
}

int
volume_pin (struct volume *v, const struct uuid *set, const char *label,
            struct uuid *id, uint32_t *gen)
{
  uint8_t rec[SNAP_REC_FIXED + SV_LABEL_MAX];
  struct snap s;
  size_t len;
  int r = 0;

  memset (&s, 0, sizeof s);
  if (uuid_generate (&s.id) == -1)
    return sv_error (errno, "getrandom: %m");
  s.set = *set;
  s.created = pool_now (v->pool);
  s.size = v->size;
  snprintf (s.label, sizeof s.label, "%s", label ? label : "");

  sv_wrlock (&v->snap_lock, LOCK_SNAP);
  if (v->live_gen >= UINT32_MAX - 1) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return sv_error (EOVERFLOW, "volume %s: no generations left", v->name);
  }
  s.gen = v->live_gen;
  /* Reserve room first so that nothing can fail after the record. */
  if (volume_snaps_reserve (v) == -1) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return -1;
  }
  len = volume_encode_snap (&s, rec);
  /* Writes are held: the record's space must already be reserved (the
   * headroom writers leave), no fallocate now. */
  if (journal_reserve (&v->journal, JR_HDR + len, JOURNAL_HELD) == -1) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return sv_error (ENOSPC, "volume %s: no journal space left for the"
                     " snapshot's record in %s/journal.%016" PRIx64 "; free"
                     " space (or delete snapshots), then try again",
                     v->name, v->dir, v->journal.number);
  }
  if (journal_append_reserved (&v->journal, JR_SNAP_CREATE, rec, len) == 0)
    r = sv_error (ENOMEM, "volume %s: out of memory", v->name);
  else
    r = volume_snap_insert (v, &s);   /* moves live_gen on */
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  if (r == 0) {
    *id = s.id;
    *gen = s.gen;
  }
  return r;
}

/* Revert (volume.h; docs/design.md, "Revert"). */

/* Room for one more revert and one more retired path. */
static int
reverts_reserve (struct volume *v)
{
  if (v->nreverts == v->capreverts) {
    size_t cap = v->capreverts;
    struct revert *nr = vector_grow (v->reverts, v->nreverts, &cap, 1,
                                     sizeof *nr);
    if (nr == NULL)
      return sv_error (ENOMEM, "volume %s: out of memory", v->name);
    v->reverts = nr;
    v->capreverts = cap;
  }
  /* OLD_PATHS grows one by one: reverts are rare. */
  {
    struct genpath **np = realloc (v->old_paths, (v->nold_paths + 1) *
                                   sizeof *np);
    if (np == NULL)
      return sv_error (ENOMEM, "volume %s: out of memory", v->name);
    v->old_paths = np;
  }
  return 0;
}

/* The live volume's path once revert {GEN, PARENT} is added (room for
 * it reserved): made from the table with the revert past its end. */
static int
make_live_path (struct volume *v, uint32_t gen, uint32_t parent,
                struct genpath **out)
{
  v->reverts[v->nreverts].gen = gen;
  v->reverts[v->nreverts].parent = parent;
  if (genpath_make (v->reverts, v->nreverts + 1, GENPATH_INF, out) == -1)
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  return 0;
}

/* Install the revert {GEN, PARENT} whose path is PATH (room reserved;
 * snap_lock held for writing, gate held or the volume not shared). */
static void
install_revert (struct volume *v, uint32_t gen, uint32_t parent,
                struct genpath *path)
{
  v->reverts[v->nreverts].gen = gen;
  v->reverts[v->nreverts].parent = parent;
  v->nreverts++;
  /* Generations form a tree from here: intervals between snapshots no
   * longer say who reads what, and deletions go over the tables. */
  deadidx_disable (&v->dead);
  if (v->live_path != NULL)
    v->old_paths[v->nold_paths++] = v->live_path;
  __atomic_store_n (&v->live_path, path, __ATOMIC_RELEASE);
  v->live_gen = gen;
  /* What only the abandoned branch read: versions newer than the
   * snapshot (the generations the live volume and the snapshot share
   * end at PARENT). */
  if (parent + 1 < v->reclaim_from)
    v->reclaim_from = parent + 1;
}

int
volume_revert_add (struct volume *v, uint32_t gen, uint32_t parent)
{
  struct genpath *path;

  if (v->live_gen >= UINT32_MAX - 1 || gen != v->live_gen + 1 ||
      parent == 0 || parent >= v->live_gen)
    return sv_error (EILSEQ, "volume %s: revert to generation %" PRIu32
                     " as generation %" PRIu32 " with the live generation"
                     " at %" PRIu32 ": not a revert snapvol writes",
                     v->name, parent, gen, v->live_gen);
  if (v->nreverts >= SV_REVERTS_MAX)
    return sv_error (EILSEQ, "volume %s: more than %d reverts", v->name,
                     SV_REVERTS_MAX);
  if (reverts_reserve (v) == -1 ||
      make_live_path (v, gen, parent, &path) == -1)
    return -1;
  install_revert (v, gen, parent, path);
  return 0;
}

/* volume_revert_prepare's checks and reservations, snap_lock held. */
static int
revert_prepare_locked (struct volume *v, const struct uuid *id,
                       struct revert_prep *rp)
{
  char ids[SV_UUID_STRLEN + 1];
  ssize_t i;

  uuid_format (id, ids);
  i = volume_snap_index (v, id, 0);
  if (i < 0)
    return sv_error (ENOENT, "volume %s has no snapshot %s (deleted?);"
                     " nothing was reverted", v->name, ids);
  if (v->live_gen >= UINT32_MAX - 2)
    return sv_error (EOVERFLOW, "volume %s: no generations left", v->name);
  if (v->nreverts >= SV_REVERTS_MAX)
    return sv_error (EMLINK, "volume %s has been reverted %d times, the"
                     " limit; nothing was reverted", v->name,
                     SV_REVERTS_MAX);
  rp->parent = v->snaps[i].gen;
  if (reverts_reserve (v) == -1 ||
      make_live_path (v, v->live_gen + 1, rp->parent, &rp->path) == -1)
    return -1;
  /* Writes are held: the record comes from the headroom, no I/O. */
  if (journal_reserve (&v->journal, JR_HDR + JR_REVERT_LEN,
                       JOURNAL_HELD) == -1) {
    free (rp->path);
    rp->path = NULL;
    return sv_error (ENOSPC, "volume %s: no journal space left for the"
                     " revert's record in %s/journal.%016" PRIx64 "; free"
                     " space (or delete snapshots), then try again;"
                     " nothing was reverted", v->name, v->dir,
                     v->journal.number);
  }
  return 0;
}

int
volume_revert_prepare (struct volume *v, const struct uuid *id,
                       struct revert_prep *rp)
{
  int r;

  rp->path = NULL;
  sv_wrlock (&v->snap_lock, LOCK_SNAP);
  r = revert_prepare_locked (v, id, rp);
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  return r;
}

void
volume_revert_cancel (struct volume *v, struct revert_prep *rp)
{
  if (rp->path == NULL)
    return;
  free (rp->path);
  rp->path = NULL;
  journal_unreserve (&v->journal, JR_HDR + JR_REVERT_LEN);
}

void
volume_revert_apply (struct volume *v, struct revert_prep *rp)
{
  uint8_t rec[JR_REVERT_LEN];
  uint32_t gen;

  sv_wrlock (&v->snap_lock, LOCK_SNAP);
  gen = v->live_gen + 1;
  put_le32 (rec, gen);
  put_le32 (rec + 4, rp->parent);
  if (journal_append_reserved (&v->journal, JR_REVERT, rec,
                               sizeof rec) == 0) {
    /* Memory the buffer could not get: the revert can then never be
     * durable, so the volume stops rather than serve it. */
    __atomic_store_n (&v->failed, ENOMEM, __ATOMIC_SEQ_CST);
    free (rp->path);
  }
  else
    install_revert (v, gen, rp->parent, rp->path);
  rp->path = NULL;
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
}

int
volume_path_of (struct volume *v, uint32_t gen, struct genpath **out)
{
  if (genpath_make (v->reverts, v->nreverts, gen, out) == -1)
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  return 0;
}

/* Who reads what in a reverted volume (genpath_readers): the pass's
 * segments, rebuilt when the table grew.  snap_lock held. */
static int
segs_current (struct volume *v, struct gensegs *sg, size_t *built_for)
{
  if (sg->seg != NULL && *built_for == v->nreverts)
    return 0;
  gensegs_free (sg);
  if (gensegs_build (sg, v->reverts, v->nreverts) == -1)
    return -1;
  *built_for = v->nreverts;
  return 0;
}

/* Snapshots pinned in [LO, HI) (HI GEN_INF: to the end). */
static size_t
snaps_between (struct volume *v, uint32_t lo, uint32_t hi)
{
  size_t a = volume_snap_lower_bound (v, lo);
  size_t b = hi == GEN_INF ? v->nsnaps : volume_snap_lower_bound (v, hi);

  return b > a ? b - a : 0;
}

struct read_marks {
  struct volume *v;
  uint64_t read[];              /* per version: subclusters someone reads */
};

static void
mark_read (void *opaque, int i, unsigned s, uint32_t lo, uint32_t hi,
           int live)
{
  struct read_marks *rm = opaque;

  if (live || snaps_between (rm->v, lo, hi) > 0)
    rm->read[i] |= 1ull << s;
}

/* Reclaim's counters (volume.h): CLEARED subclusters of data freed. */
static void
count_freed (struct volume *v, uint64_t cleared)
{
  if (cleared)
    __atomic_add_fetch (&v->reclaim_freed, (uint64_t)
                        __builtin_popcountll (cleared) * v->subcluster_size,
                        __ATOMIC_RELAXED);
}

/* reclaim_cluster for a reverted volume: every version of the cluster
 * is examined (FROM only chose the cluster).  Same contract. */
static int
reclaim_cluster_tree (struct volume *v, uint64_t vci,
                      const struct gensegs *sg)
{
  union extvec_buf evbuf;
  const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
  struct read_marks *rm;
  uint32_t *gens;
  uint32_t n, k;
  int r = 0;

  if (ev == NULL)
    return 0;
  n = ev->n;
  rm = calloc (1, sizeof *rm + n * sizeof rm->read[0]);
  gens = malloc (n * sizeof *gens);
  if (rm == NULL || gens == NULL) {
    free (rm);
    free (gens);
    return -1;
  }
  rm->v = v;
  genpath_readers (ev, sg, v->nsub, mark_read, rm);
  for (k = 0; k < n; k++)
    gens[k] = ev->v[k].gen;
  /* Clear from the newest down: a drop changes the indexes above. */
  for (k = n; k-- > 0 && r == 0; ) {
    struct ext x, nx;
    uint64_t cleared, seq;
    int i;

    ev = extmap_get (&v->map, vci, &evbuf);
    if (ev == NULL)
      break;
    i = extvec_top (ev, gens[k]);
    if (i < 0 || ev->v[i].gen != gens[k])
      continue;
    x = ev->v[i];
    nx = x;
    nx.alloc &= rm->read[k];
    nx.zero &= rm->read[k];
    if (k == 0 && !volume_reads_origin (v))
      nx.zero = 0;              /* nothing older: zero reads as a hole */
    if (nx.alloc == x.alloc && nx.zero == x.zero)
      continue;
    cleared = x.alloc & ~nx.alloc;
    if (nx.alloc == 0)
      nx.phys = PHYS_NONE;
    if ((nx.alloc | nx.zero) == 0) {
      if (journal_reserve (&v->journal, VOL_DROP_BYTES, JOURNAL_ADMIN) == -1) {
        r = 1;
        break;
      }
      seq = volume_log_drop (v, vci, x.gen);
      if (seq == 0) {
        r = -1;
        break;
      }
      extmap_drop (&v->map, vci, x.gen);
    }
    else {
      if (journal_reserve (&v->journal, VOL_PUT_BYTES, JOURNAL_ADMIN) == -1) {
        r = 1;
        break;
      }
      if (extmap_put (&v->map, vci, &nx) == -1) {
        journal_unreserve (&v->journal, VOL_PUT_BYTES);
        r = -1;
        break;
      }
      seq = volume_log_put (v, vci, &nx);
      if (seq == 0) {
        r = -1;
        break;
      }
    }
    count_freed (v, cleared);
    if (x.phys != PHYS_NONE && nx.phys == PHYS_NONE)
      alloc_put_after (&v->alloc, x.phys, seq);
    else if (cleared)
      pending_punch_add (v, vci, x.gen, x.phys, cleared, seq);
  }
  free (rm);
  free (gens);
  return r;
}

/* Clear what no view reads in cluster VCI, after deletions of snapshots
 * older than generation FROM (volume_reclaim's bound: the oldest
 * deleted snapshot's generation plus one).  A subcluster of a version
 * is read by the snapshots in [its gen, H), H the generation of the
 * nearest newer version defining it, or by the live volume when none
 * does.  When H < FROM, none of those snapshots was deleted since the
 * last reclaim, which left it as it must stay; so below FROM only the
 * first version defining each subcluster shadowed from FROM or above
 * is examined, and the walk down the versions stops once there is none
 * left (FROM 0: every version).  Versions newer than TO are not
 * examined, and what they define counts as read: TO is a snapshot's
 * generation (which reads whatever they shadow) or GEN_INF.
 * snap_lock (read) and the stripe write lock held.  Returns 1 when the
 * journal has no space for the next record (the cluster is left as it
 * is from there: reclaimed later), -1 on ENOMEM. */
static int
reclaim_cluster (struct volume *v, uint64_t vci, uint32_t from, uint32_t to)
{
  union extvec_buf evbuf;
  const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
  /* Per subcluster, the generation of the nearest newer version that
   * defines it (GEN_INF: none, the live volume reads this one), and
   * the index of the first snapshot at or past it.  The snapshot list
   * does not change while snap_lock is held, so each version's index
   * is searched once, not once per subcluster. */
  uint32_t hi[64];
  size_t hi_lb[64];
  uint64_t pending = 0;
  unsigned s;
  int i, below = 0;

  __atomic_add_fetch (&v->reclaim_visited, 1, __ATOMIC_RELAXED);
  if (ev == NULL)
    return 0;
  for (s = 0; s < 64; s++)
    hi[s] = GEN_INF;
  for (i = to == GEN_INF ? (int) ev->n - 1 : extvec_top (ev, to); i >= 0;
       i--) {
    struct ext x = ev->v[i], nx = x;
    uint64_t def = x.alloc | x.zero, cleared, seq;
    size_t a;

    if (x.gen < from) {
      /* Below FROM, only the first version defining each subcluster
       * that a newer version shadows can have lost its readers. */
      if (!below) {
        below = 1;
        for (s = 0; s < v->nsub; s++)
          if (hi[s] != GEN_INF)
            pending |= 1ull << s;
      }
      if (pending == 0)
        break;
      def &= pending;
      pending &= ~def;
    }
    a = volume_snap_lower_bound (v, x.gen);

    for (s = 0; s < v->nsub; s++) {
      if (!((def >> s) & 1))
        continue;
      /* Read by the snapshots in [x.gen, hi[s]): none left, and not
       * by the live volume, frees it. */
      if (hi[s] != GEN_INF && hi_lb[s] == a) {
        nx.alloc &= ~(1ull << s);
        nx.zero &= ~(1ull << s);
      }
      hi[s] = x.gen;
      hi_lb[s] = a;
    }
    if (i == 0 && !volume_reads_origin (v))
      nx.zero = 0;              /* nothing older: zero reads as a hole */
    if (nx.alloc == x.alloc && nx.zero == x.zero)
      continue;

    cleared = x.alloc & ~nx.alloc;
    if (nx.alloc == 0)
      nx.phys = PHYS_NONE;
    if ((nx.alloc | nx.zero) == 0) {
      if (journal_reserve (&v->journal, VOL_DROP_BYTES, JOURNAL_ADMIN) == -1)
        return 1;
      seq = volume_log_drop (v, vci, x.gen);
      if (seq == 0)
        return -1;
      extmap_drop (&v->map, vci, x.gen);
    }
    else {
      if (journal_reserve (&v->journal, VOL_PUT_BYTES, JOURNAL_ADMIN) == -1)
        return 1;
      if (extmap_put (&v->map, vci, &nx) == -1) {
        journal_unreserve (&v->journal, VOL_PUT_BYTES);
        return -1;
      }
      seq = volume_log_put (v, vci, &nx);
      if (seq == 0)
        return -1;
    }
    count_freed (v, cleared);
    if (x.phys != PHYS_NONE && nx.phys == PHYS_NONE)
      alloc_put_after (&v->alloc, x.phys, seq);
    else if (cleared)
      pending_punch_add (v, vci, x.gen, x.phys, cleared, seq);
    /* A drop may have freed the vector (it was the last version). */
    ev = extmap_get (&v->map, vci, &evbuf);
    if (ev == NULL)
      break;
  }
  return 0;
}

/* Reclaim by the tables: the clusters of the tables holding versions
 * of generation FROM or newer (0: the whole map).  0, 1 when the
 * journal ran out of space, -1 for ENOMEM. */
static int
reclaim_tables (struct volume *v, uint32_t from)
{
  uint64_t vci = 0;
  struct gensegs sg = { 0, NULL };
  struct pace pace = PACE_INIT;
  size_t sg_for = 0;
  int r = 0;

  while (r == 0 && extmap_next_since (&v->map, &vci, from)) {
    pace_point (&pace);
    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    if (v->nreverts > 0 && segs_current (v, &sg, &sg_for) == -1)
      r = -1;
    if (r == 0) {
      sv_wrlock (stripe_of (v, vci), LOCK_STRIPE);
      r = v->nreverts > 0 ? reclaim_cluster_tree (v, vci, &sg)
        : reclaim_cluster (v, vci, from, GEN_INF);
      sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
    }
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    vci++;
  }
  gensegs_free (&sg);
  return r;
}

/* Does the dead index keep the entry (GEN, VCI) after a reclaim?  Not
 * when the version is gone, nor when it shadows no older version any
 * more (nothing under it left to free), unless it is the live
 * generation's (writes in place add to it without a note: volume.c's
 * dead_note).  Takes snap_lock and the stripe's read lock. */
static int
dead_keep (struct volume *v, uint64_t vci, uint32_t gen)
{
  union extvec_buf evbuf;
  const struct extvec *ev;
  uint64_t def;
  int i, keep = 0;

  sv_rdlock (&v->snap_lock, LOCK_SNAP);
  sv_rdlock (stripe_of (v, vci), LOCK_STRIPE);
  ev = extmap_get (&v->map, vci, &evbuf);
  i = ev ? extvec_top (ev, gen) : -1;
  if (i >= 0 && ev->v[i].gen == gen) {
    keep = gen >= v->live_gen;
    def = ev->v[i].alloc | ev->v[i].zero;
    while (!keep && i-- > 0)
      keep = (def & (ev->v[i].alloc | ev->v[i].zero)) != 0;
  }
  sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  return keep;
}

/* The index cannot say where the deletion of generation G frees (it
 * is off, or the volume was reverted): the tables from G + 1 (once
 * reverted, the whole map: which tables hold what the snapshot's
 * branch alone read was not noted). */
static void
dead_fallback (struct volume *v, uint32_t g)
{
  sv_wrlock (&v->snap_lock, LOCK_SNAP);
  if (v->nreverts > 0)
    v->reclaim_from = 0;
  else if (g + 1 < v->reclaim_from)
    v->reclaim_from = g + 1;
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
}

static void
job_free (struct volume *v)
{
  free (v->dead_job.e);
  memset (&v->dead_job, 0, sizeof v->dead_job);
}

/* Start the reclaim of the oldest queued deletion, the snapshot of
 * generation G: with P and N the snapshots around G now (0 and
 * GEN_INF for none), only what a version of (G, N] shadows can have
 * lost its last reader, so the job is the index's entries of (P, N]:
 * those of (G, N] to reclaim, all of them to prune after.  Sets *NONE
 * when nothing is queued.  0, or -1 for ENOMEM.  admin_mu held, no
 * job running. */
static int
job_next (struct volume *v, int *none)
{
  struct dead_job *j = &v->dead_job;
  uint32_t g, p, n;
  size_t lb;
  int r = 0;

  sv_wrlock (&v->snap_lock, LOCK_SNAP);
  *none = v->ndead_queue == 0;
  if (*none) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return 0;
  }
  g = v->dead_queue[0];
  memmove (&v->dead_queue[0], &v->dead_queue[1],
           (v->ndead_queue - 1) * sizeof v->dead_queue[0]);
  __atomic_store_n (&v->ndead_queue, v->ndead_queue - 1, __ATOMIC_RELAXED);
  lb = volume_snap_lower_bound (v, g);
  p = lb > 0 ? v->snaps[lb - 1].gen : 0;
  n = lb < v->nsnaps ? v->snaps[lb].gen : GEN_INF;
  if (v->nreverts > 0)
    r = 2;
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  if (r == 0)
    r = deadidx_copy (&v->dead, p, n, &j->e, &j->ne);
  if (r == -1)
    return -1;
  if (r != 0) {
    dead_fallback (v, g);
    return 0;
  }
  j->g = g;
  j->n = n;
  j->k = j->done = j->total = 0;
  j->active = 1;
  for (lb = 0; lb < j->ne; lb++)
    j->total += j->e[lb].gen > g;
  __atomic_add_fetch (&v->rc_total, j->total, __ATOMIC_RELAXED);
  return 0;
}

/* Go on with the running job: reclaim at most *BUDGET clusters
 * (lowered by what was done), and once every cluster is done prune
 * the job's entries and end it.  0, 1 when the journal ran out of
 * space, -1 for ENOMEM (the job is ended then).  admin_mu held. */
static int
job_step (struct volume *v, size_t *budget)
{
  struct dead_job *j = &v->dead_job;
  struct pace pace = PACE_INIT;
  int r = 0;
  size_t k;

  while (j->k < j->ne && *budget > 0 && r == 0) {
    const struct deadent *e = &j->e[j->k];

    pace_point (&pace);
    if (e->gen > j->g) {
      sv_rdlock (&v->snap_lock, LOCK_SNAP);
      if (v->nreverts > 0)
        r = 2;
      else {
        sv_wrlock (stripe_of (v, e->vci), LOCK_STRIPE);
        r = reclaim_cluster (v, e->vci, j->g + 1, j->n);
        sv_rwunlock (stripe_of (v, e->vci), LOCK_STRIPE);
      }
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
      (*budget)--;
      if (r == 0) {
        j->done++;
        __atomic_add_fetch (&v->rc_done, 1, __ATOMIC_RELAXED);
      }
    }
    if (r == 0)
      j->k++;
  }
  if (r == 2) {
    dead_fallback (v, j->g);    /* reverted meanwhile */
    r = 0;
  }
  else if (r == 0 && j->k == j->ne) {
    for (k = 0; k < j->ne; k++) {
      pace_point (&pace);
      j->e[k].drop = !dead_keep (v, j->e[k].vci, j->e[k].gen);
    }
    deadidx_prune (&v->dead, j->e, j->ne);
  }
  else if (r == 0)
    return 0;                   /* budget spent, the job goes on */
  job_free (v);
  return r;
}

/* Reclaim what the deletions queued for the dead index left unread,
 * at most BUDGET clusters (SIZE_MAX: all of it); then, when a deletion
 * of a reverted volume, an open or a reclaim that stopped early asked
 * for it, the clusters of the tables holding versions newer than the
 * oldest snapshot deleted, or the whole map (unbounded).  *MORE (may
 * be NULL) says whether work is left.  admin_mu held.  Without journal
 * space it stops early and succeeds: what it leaves is space, not
 * data, and the next reclaim goes over the whole map. */
static int
reclaim_some (struct volume *v, size_t budget, int *more)
{
  uint32_t from;
  int r = 0, none = 0;

  while (r == 0 && budget > 0) {
    if (!v->dead_job.active) {
      r = job_next (v, &none);
      if (r != 0 || none)
        break;
      continue;
    }
    r = job_step (v, &budget);
  }
  if (more)
    *more = r == 0 && !none;
  if (r == 0) {
    sv_wrlock (&v->snap_lock, LOCK_SNAP);
    from = v->reclaim_from;
    v->reclaim_from = GEN_INF;
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    if (from != GEN_INF)
      r = reclaim_tables (v, from);
  }
  if (r != 0) {
    if (v->dead_job.active)
      job_free (v);
    sv_wrlock (&v->snap_lock, LOCK_SNAP);
    v->reclaim_from = 0;
    free (v->dead_queue);
    v->dead_queue = NULL;
    v->ndead_queue = v->capdead_queue = 0;
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    if (more)
      *more = 0;
  }
  if (r == 1)
    return 0;
  if (r == -1) {
    __atomic_store_n (&v->failed, ENOMEM, __ATOMIC_SEQ_CST);
    return sv_error (ENOMEM, "volume %s: out of memory during reclaim;"
                     " the volume is stopped until the pool is reopened",
                     v->name);
  }
  return 0;
}

int
volume_reclaim (struct volume *v)
{
  return reclaim_some (v, SIZE_MAX, NULL);
}

/* The background reclaim's punches (volume.h, "Deferred punches"):
 * the thread looks after every step, and every PUNCH_LOOK_MS once the
 * steps are done, whether the volume's data file changed since its
 * last look.  If not, the volume is idle: it punches PUNCH_SLICE
 * clusters, and goes on slice by slice while no write comes, so that a
 * write arriving meanwhile waits for one slice's punch at most.  If
 * the volume never stops writing, it punches PUNCH_BUSY_SLICE clusters
 * once every PUNCH_BUSY_MS all the same, so that the space comes back
 * (one short stall of the writes per period).  It goes on until
 * nothing is left to punch, or the volume closes (the close's flush
 * punches the rest). */
#define PUNCH_LOOK_MS 10
#define PUNCH_SLICE 64
#define PUNCH_BUSY_MS 1000
#define PUNCH_BUSY_SLICE 16

struct punch_pace {
  uint64_t seen;                /* data_changes at the last look */
  int64_t last_ms;              /* when the thread last punched
                                 * (CLOCK_MONOTONIC) */
};

static uint64_t
data_changes (struct volume *v)
{
  return __atomic_load_n (&v->data_changes, __ATOMIC_ACQUIRE);
}

static void
punch_pace_init (struct volume *v, struct punch_pace *pp)
{
  pp->seen = data_changes (v);
  pp->last_ms = timespec_now_ms (CLOCK_MONOTONIC);
}

static void
punch_if_idle (struct volume *v, struct punch_pace *pp)
{
  uint64_t changes = data_changes (v);

  if (changes == pp->seen) {
    while (changes == data_changes (v) &&
           volume_punch_freed (v, PUNCH_SLICE) > 0)
      pp->last_ms = timespec_now_ms (CLOCK_MONOTONIC);
  }
  else if (timespec_now_ms (CLOCK_MONOTONIC) - pp->last_ms >= PUNCH_BUSY_MS) {
    volume_punch_freed (v, PUNCH_BUSY_SLICE);
    pp->last_ms = timespec_now_ms (CLOCK_MONOTONIC);
  }
  pp->seen = data_changes (v);
}

/* Wait PUNCH_LOOK_MS, or less if the volume is stopping.  0 once it
 * stops. */
static int
punch_wait (struct volume *v)
{
  struct timespec ts = timespec_deadline_ms (CLOCK_REALTIME, PUNCH_LOOK_MS);
  int going;

  pthread_mutex_lock (&v->rc_mu);
  if (!v->rc_stop)
    pthread_cond_timedwait (&v->rc_cv, &v->rc_mu, &ts);
  going = !v->rc_stop;
  pthread_mutex_unlock (&v->rc_mu);
  return going;
}

/* The background reclaim: steps of reclaim_step clusters, admin_mu
 * taken for each and released between them (a checkpoint, another
 * deletion or a revert goes in between), each step's records made
 * durable by a flush before the next, so that its clusters become
 * allocatable as it goes; then the punches of what it freed, when the
 * volume is idle. */
static void *
reclaim_thread (void *arg)
{
  struct volume *v = arg;
  size_t step = v->pool->reclaim_step;
  struct punch_pace pace;
  int more = 1;

  punch_pace_init (v, &pace);
  while (more) {
    sv_lock (&v->admin_mu, LOCK_ADMIN);
    pthread_mutex_lock (&v->rc_mu);
    if (v->rc_stop)
      more = 0;
    pthread_mutex_unlock (&v->rc_mu);
    if (more && reclaim_some (v, step, &more) == -1)
      more = 0;
    if (!more)
      __atomic_store_n (&v->rc_running, 0, __ATOMIC_RELEASE);
    sv_unlock (&v->admin_mu, LOCK_ADMIN);
    /* A failed flush is retried by the next one; what is at stake is
     * when space comes back, never data. */
    volume_flush (v);
    punch_if_idle (v, &pace);
  }
  while (alloc_unpunched (&v->alloc) > 0 && punch_wait (v))
    punch_if_idle (v, &pace);
  __atomic_sub_fetch (&v->punch_defer, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock (&v->rc_mu);
  v->rc_threads--;
  pthread_cond_broadcast (&v->rc_cv);
  pthread_mutex_unlock (&v->rc_mu);
  return NULL;
}

/* Start the background reclaim unless it runs.  admin_mu held. */
static void
reclaim_background (struct volume *v)
{
  pthread_attr_t attr;
  pthread_t t;

  if (__atomic_load_n (&v->rc_running, __ATOMIC_ACQUIRE))
    return;
  pthread_mutex_lock (&v->rc_mu);
  if (v->rc_stop) {
    pthread_mutex_unlock (&v->rc_mu);
    return;
  }
  __atomic_store_n (&v->rc_done, v->dead_job.done, __ATOMIC_RELAXED);
  __atomic_store_n (&v->rc_total, v->dead_job.total, __ATOMIC_RELAXED);
  __atomic_store_n (&v->rc_freed_base,
                    __atomic_load_n (&v->reclaim_freed, __ATOMIC_RELAXED),
                    __ATOMIC_RELAXED);
  __atomic_store_n (&v->rc_running, 1, __ATOMIC_RELEASE);
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  __atomic_add_fetch (&v->punch_defer, 1, __ATOMIC_RELEASE);
  if (pthread_create (&t, &attr, reclaim_thread, v) == 0)
    v->rc_threads++;
  else {
    __atomic_sub_fetch (&v->punch_defer, 1, __ATOMIC_RELEASE);
    /* No thread: the work stays queued for the next deletion's
     * reclaim, or the open's. */
    __atomic_store_n (&v->rc_running, 0, __ATOMIC_RELEASE);
  }
  pthread_attr_destroy (&attr);
  pthread_mutex_unlock (&v->rc_mu);
}

/* The deletions' reclaim, at most the pool's reclaim_inline clusters;
 * *MORE says whether work is left. */
static int
reclaim_inline (struct volume *v, int *more)
{
  int r;

  *more = 0;
  sv_lock (&v->admin_mu, LOCK_ADMIN);
  /* With a background reclaim running, the deletions queued behind
   * it: its thread sets rc_running to 0 under admin_mu only once it
   * found the queue empty, and ours was queued before. */
  if (__atomic_load_n (&v->rc_running, __ATOMIC_ACQUIRE))
    r = 0;
  else
    r = reclaim_some (v, v->pool->reclaim_inline, more);
  sv_unlock (&v->admin_mu, LOCK_ADMIN);
  return r;
}

int
volume_reclaim_removed (struct volume *v)
{
  int r, more;

  /* What this reclaim frees is not punched by the flush below: if the
   * reclaim goes on in the background, its thread punches it when the
   * volume is idle (volume.h, "Deferred punches"); if not, a deletion
   * that freed at most reclaim_inline clusters punches them itself. */
  __atomic_add_fetch (&v->punch_defer, 1, __ATOMIC_RELEASE);
  r = reclaim_inline (v, &more);
  if (volume_flush (v) == -1)
    r = -1;
  /* The background reclaim starts after the flush: the deletion's
   * flush then never waits on the reclaim's cycles. */
  if (more) {
    sv_lock (&v->admin_mu, LOCK_ADMIN);
    reclaim_background (v);
    sv_unlock (&v->admin_mu, LOCK_ADMIN);
  }
  if (__atomic_sub_fetch (&v->punch_defer, 1, __ATOMIC_RELEASE) == 0)
    volume_punch_freed (v, SIZE_MAX);
  return r;
}

void
volume_reclaim_stop (struct volume *v)
{
  pthread_mutex_lock (&v->rc_mu);
  v->rc_stop = 1;
  pthread_cond_broadcast (&v->rc_cv);   /* a reclaim waiting to punch */
  while (v->rc_threads > 0)
    pthread_cond_wait (&v->rc_cv, &v->rc_mu);
  pthread_mutex_unlock (&v->rc_mu);
}

void
volume_dead_build (struct volume *v)
{
  struct deadpair *pairs = NULL;
  size_t n = 0, cap = 0;
  uint64_t vci = 0;

  if (v->nreverts > 0) {
    deadidx_disable (&v->dead);
    return;
  }
  while (extmap_next (&v->map, &vci)) {
    union extvec_buf evbuf;
    const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
    uint64_t older;
    uint32_t k;

    if (ev == NULL) {
      vci++;
      continue;
    }
    older = ev->v[0].alloc | ev->v[0].zero;
    for (k = 1; k < ev->n; k++) {
      uint64_t def = ev->v[k].alloc | ev->v[k].zero;
      /* dead_keep's rule. */
      if ((def & older) != 0 || ev->v[k].gen >= v->live_gen) {
        if (n == cap) {
          struct deadpair *np = vector_grow (pairs, n, &cap, 1,
                                             sizeof *np);
          if (np == NULL) {
            free (pairs);
            deadidx_disable (&v->dead);
            return;
          }
          pairs = np;
        }
        pairs[n].vci = vci;
        pairs[n].gen = ev->v[k].gen;
        n++;
      }
      older |= def;
    }
    vci++;
  }
  deadidx_load (&v->dead, pairs, n);   /* off when it fails */
  free (pairs);
}

/* Queue the reclaim of the deletion of generation G for the dead
 * index.  snap_lock held for writing.  0, or -1 (no memory: the caller
 * reclaims by the tables instead). */
static int
dead_queue_add (struct volume *v, uint32_t g)
{
  if (v->ndead_queue == v->capdead_queue) {
    uint32_t *nt = vector_grow (v->dead_queue, v->ndead_queue,
                                &v->capdead_queue, 1, sizeof *nt);
    if (nt == NULL)
      return -1;
    v->dead_queue = nt;
  }
  v->dead_queue[v->ndead_queue] = g;
  /* Read without the lock by volume_space's progress. */
  __atomic_store_n (&v->ndead_queue, v->ndead_queue + 1, __ATOMIC_RELAXED);
  return 0;
}

int
volume_snap_remove (struct volume *v, const struct uuid *id)
{
  uint64_t seq;
  ssize_t i;

  sv_wrlock (&v->snap_lock, LOCK_SNAP);
  i = volume_snap_index (v, id, 0);
  if (i < 0) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return sv_error (ENOENT, "volume %s: no such snapshot", v->name);
  }
  if (v->npend_del == v->cappend_del) {
    struct pending_delete *np = vector_grow (v->pend_del, v->npend_del,
                                             &v->cappend_del, 1, sizeof *np);
    if (np == NULL) {
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
      return sv_error (ENOMEM, "volume %s: out of memory", v->name);
    }
    v->pend_del = np;
  }
  /* No reservation: a deletion must not fail for want of journal space
   * (it is how space comes back); it takes the headroom, or goes past
   * the reservation, and then only its flush can fail with ENOSPC. */
  seq = journal_append (&v->journal, JR_SNAP_DELETE, id->b, 16);
  if (seq == 0) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  }
  /* Until the deletion is durable a crash brings the snapshot back, so
   * writes must keep treating its clusters as shared: the threshold
   * stays where it is until volume_snap_settle. */
  /* What the deletion leaves unread, a version newer than the
   * snapshot shadows: the dead index says where (volume_reclaim), or,
   * once reverted, the tables holding versions newer than the last
   * generation the snapshot shares with the live volume (what only
   * the snapshot's branch reads too). */
  if (v->nreverts > 0 || dead_queue_add (v, v->snaps[i].gen) == -1) {
    uint32_t g = v->snaps[i].gen;
    if (v->nreverts > 0) {
      struct genpath *sp;
      if (volume_path_of (v, g, &sp) == -1)
        g = 0;                  /* no memory: the whole map */
      else {
        g = genpath_meet (sp, g, v->live_path, GEN_INF);
        free (sp);
      }
    }
    if (g + 1 < v->reclaim_from)
      v->reclaim_from = g + 1;
  }
  v->pend_del[v->npend_del].gen = v->snaps[i].gen;
  v->pend_del[v->npend_del].seq = seq;
  v->npend_del++;
  hold_free_all (&v->snaps[i]);   /* expired ones: deletion checked them */
  snapidx_del (v, &v->snaps[i]);
  memmove (&v->snaps[i], &v->snaps[i + 1],
           (v->nsnaps - i - 1) * sizeof v->snaps[0]);
  v->nsnaps--;
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  return 0;
}

int
volume_snap_delete (struct volume *v, const struct uuid *id)
{
  if (volume_snap_remove (v, id) == -1)
    return -1;
  return volume_reclaim_removed (v);
}

/* Space accounting of one cluster of a reverted volume: the rule of
 * space_scan, with the readers of genpath_readers.  Per version and
 * subcluster: how many snapshots read it, whether the live volume
 * does, and the one snapshot when only one does. */
struct space_acc {
  struct volume *v;
  const struct extvec *ev;
  struct sv_snapshot_info *si;
  int64_t *diff;
  uint64_t ss;
  struct space_cell { size_t count, one; int live; } *cell;
};

static void
space_range (void *opaque, int i, unsigned s, uint32_t lo, uint32_t hi,
             int live)
{
  struct space_acc *sa = opaque;
  struct volume *v = sa->v;
  struct space_cell *c = &sa->cell[(size_t) i * 64 + s];
  size_t a, b;

  if (!((sa->ev->v[i].alloc >> s) & 1))
    return;
  a = volume_snap_lower_bound (v, lo);
  b = hi == GEN_INF ? v->nsnaps : volume_snap_lower_bound (v, hi);
  c->live |= live;
  if (b <= a)
    return;
  sa->diff[a] += sa->ss;
  sa->diff[b] -= sa->ss;
  if (lo == sa->ev->v[i].gen)
    sa->si[a].written_bytes += sa->ss;
  c->count += b - a;
  c->one = a;
}

static int
space_cluster_tree (struct volume *v, const struct extvec *ev,
                    const struct gensegs *sg, struct sv_volume_info *vi,
                    struct sv_snapshot_info *si, int64_t *diff)
{
  struct space_acc sa = { v, ev, si, diff, v->subcluster_size, NULL };
  uint32_t latest = v->nsnaps ? v->snaps[v->nsnaps - 1].gen : 0;
  unsigned s;
  uint32_t i;

  sa.cell = calloc ((size_t) ev->n * 64, sizeof *sa.cell);
  if (sa.cell == NULL)
    return -1;
  genpath_readers (ev, sg, v->nsub, space_range, &sa);
  for (i = 0; i < ev->n; i++)
    for (s = 0; s < v->nsub; s++) {
      const struct space_cell *c = &sa.cell[(size_t) i * 64 + s];
      if (!((ev->v[i].alloc >> s) & 1))
        continue;
      vi->allocated_bytes += sa.ss;
      if (c->live) {
        vi->referenced_bytes += sa.ss;
        if (ev->v[i].gen > latest)
          vi->written_bytes += sa.ss;
      }
      else if (c->count > 0)
        vi->snapshot_bytes += sa.ss;
      if (c->count == 1 && !c->live)
        si[c->one].exclusive_bytes += sa.ss;
    }
  free (sa.cell);
  return 0;
}

/* Space accounting.  SI has room for v->nsnaps entries; the scan
 * restarts if the snapshot list changes while it runs. */
static int
space_scan (struct volume *v, struct sv_volume_info *vi,
            struct sv_snapshot_info *si, size_t nsi, int64_t *diff)
{
  uint64_t vci = 0, ss = v->subcluster_size;
  struct gensegs sg = { 0, NULL };
  struct pace pace = PACE_INIT;
  size_t k, sg_for = 0;

  memset (diff, 0, (nsi + 1) * sizeof *diff);
  vi->allocated_bytes = vi->referenced_bytes = vi->written_bytes =
    vi->snapshot_bytes = 0;
  for (k = 0; k < nsi; k++)
    si[k].exclusive_bytes = si[k].written_bytes = si[k].referenced_bytes = 0;

  while (extmap_next (&v->map, &vci)) {
    union extvec_buf evbuf;
    const struct extvec *ev;
    uint32_t hi[64];
    unsigned s;
    int i;

    pace_point (&pace);
    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    if (v->nsnaps != nsi) {
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
      gensegs_free (&sg);
      return 1;                 /* changed: restart */
    }
    sv_rdlock (stripe_of (v, vci), LOCK_STRIPE);
    ev = extmap_get (&v->map, vci, &evbuf);
    if (v->nreverts > 0 && ev != NULL) {
      int r = segs_current (v, &sg, &sg_for);
      if (r == 0)
        r = space_cluster_tree (v, ev, &sg, vi, si, diff);
      sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
      if (r == -1) {
        gensegs_free (&sg);
        return -1;
      }
      vci++;
      continue;
    }
    for (s = 0; s < 64; s++)
      hi[s] = GEN_INF;
    for (i = ev ? (int) ev->n - 1 : -1; i >= 0; i--) {
      const struct ext *x = &ev->v[i];
      for (s = 0; s < v->nsub; s++) {
        if ((x->alloc >> s) & 1) {
          int live = hi[s] == GEN_INF;
          size_t a = volume_snap_lower_bound (v, x->gen);
          size_t b = live ? v->nsnaps : volume_snap_lower_bound (v, hi[s]);

          vi->allocated_bytes += ss;
          if (live) {
            vi->referenced_bytes += ss;
            if (x->gen > (v->nsnaps ? v->snaps[v->nsnaps - 1].gen : 0))
              vi->written_bytes += ss;
          }
          else if (b > a)
            vi->snapshot_bytes += ss;
          if (b > a) {
            diff[a] += ss;
            diff[b] -= ss;
            si[a].written_bytes += ss;
            if (b - a == 1 && !live)
              si[a].exclusive_bytes += ss;
          }
        }
        if (((x->alloc | x->zero) >> s) & 1)
          hi[s] = x->gen;
      }
    }
    sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    vci++;
  }
  gensegs_free (&sg);
  for (k = 0; k < nsi; k++) {
    int64_t run = k ? (int64_t) si[k - 1].referenced_bytes : 0;
    si[k].referenced_bytes = run + diff[k];
  }
  return 0;
}

/* Fill SI's descriptions of V's snapshots, snap_lock held. */
static void
describe_snapshots (struct volume *v, struct sv_snapshot_info *si)
{
  size_t k;

  for (k = 0; k < v->nsnaps; k++) {
    const struct snap *sn = &v->snaps[k];
    snprintf (si[k].volume, sizeof si[k].volume, "%s", v->name);
    uuid_format (&sn->id, si[k].id);
    uuid_format (&sn->set, si[k].set_id);
    snprintf (si[k].label, sizeof si[k].label, "%s", sn->label);
    si[k].size = sn->size;
    si[k].created = sn->created;
    si[k].generation = sn->gen;
  }
}

int
volume_snapshots (struct volume *v, struct sv_snapshot_info **sip,
                  size_t *nsip)
{
  struct sv_snapshot_info *si;

  sv_rdlock (&v->snap_lock, LOCK_SNAP);
  si = calloc (v->nsnaps + 1, sizeof *si);
  if (si == NULL) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  }
  describe_snapshots (v, si);
  *nsip = v->nsnaps;
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  *sip = si;
  return 0;
}

/* The reclaim's counters and progress, read before the space scan:
 * the reclaim clears the map while the scan goes over it without a
 * lock across it, so a "not running" read after the scan could pair
 * with a scan that counted clusters before the reclaim freed them
 * (space held that is not).  Read first, "not running" means the
 * reclaim ended before the scan began (the release store of
 * rc_running follows its last change of the map), so the scan counts
 * every free it made; a reclaim reported running may have got further
 * than its progress says, which is what a progress is. */
static void
reclaim_progress (struct volume *v, struct sv_volume_info *vi)
{
  vi->reclaim_running = __atomic_load_n (&v->rc_running, __ATOMIC_ACQUIRE);
  vi->reclaim_visited = __atomic_load_n (&v->reclaim_visited,
                                         __ATOMIC_RELAXED);
  vi->reclaim_freed_bytes = __atomic_load_n (&v->reclaim_freed,
                                             __ATOMIC_RELAXED);
  vi->dead_entries = deadidx_entries (&v->dead, &vi->dead_index);
  if (vi->reclaim_running) {
    vi->reclaim_done = __atomic_load_n (&v->rc_done, __ATOMIC_RELAXED);
    vi->reclaim_total = __atomic_load_n (&v->rc_total, __ATOMIC_RELAXED);
    vi->reclaim_queued = __atomic_load_n (&v->ndead_queue, __ATOMIC_RELAXED);
    vi->reclaim_run_freed = vi->reclaim_freed_bytes -
      __atomic_load_n (&v->rc_freed_base, __ATOMIC_RELAXED);
  }
}

int
volume_space (struct volume *v, struct sv_volume_info *vi,
              struct sv_snapshot_info **sip, size_t *nsip)
{
  struct sv_snapshot_info *si = NULL;
  int64_t *diff = NULL;
  size_t nsi;
  int r, tries = 0;

  reclaim_progress (v, vi);
  do {
    free (diff);
    free (si);
    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    nsi = v->nsnaps;
    si = calloc (nsi + 1, sizeof *si);
    diff = malloc ((nsi + 1) * sizeof *diff);
    if (si == NULL || diff == NULL) {
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
      free (si);
      free (diff);
      return sv_error (ENOMEM, "volume %s: out of memory", v->name);
    }
    describe_snapshots (v, si);
    vi->nsnapshots = nsi;
    vi->generation = v->live_gen;
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    r = space_scan (v, vi, si, nsi, diff);
  } while (r == 1 && ++tries < 100);
  free (diff);
  if (r == -1) {
    free (si);
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  }
  if (r == 1) {
    free (si);
    return sv_error (EAGAIN, "volume %s: snapshots kept changing during the"
                     " space scan; try again", v->name);
  }
  if (sip) {
    *sip = si;
    *nsip = nsi;
  }
  else
    free (si);
  return 0;
}

uint32_t
volume_flatten_bound (struct volume *v)
{
  uint32_t b;
  size_t i;

  sv_rdlock (&v->snap_lock, LOCK_SNAP);
  b = v->live_gen;
  if (v->nsnaps > 0 && v->snaps[0].gen < b)
    b = v->snaps[0].gen;
  for (i = 0; i < v->nreverts; i++)
    if (v->reverts[i].parent < b)
      b = v->reverts[i].parent;
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  return b;
}
