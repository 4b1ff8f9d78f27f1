/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * poolhold.c: holding and releasing snapshots, or whole sets, across
 * the volumes of a pool (pool_snapshot_hold, pool_snapshot_release).
 *
 * Design notes: the hold protocol
 * -------------------------------
 * Holds, releases and deletions (poolvol.c, delete_matching) all check
 * and change under pool->mu, so a hold and a deletion of the same
 * snapshot are one before the other: a deletion that checked finds no
 * hold taken after its check, and a hold never lands on a snapshot
 * whose deletion was already decided.
 *   1. Under pool->mu, find every snapshot with the id or of the set
 *      (each volume's snap_lock read) and check each: TAG not there,
 *      room for one more hold.  Any failure: nothing changed.
 *   2. Reserve each record's journal space (JOURNAL_ADMIN: may grow
 *      the journal's reservation, with nothing but pool->mu held).
 *      Without space: everything given back, ENOSPC.
 *   3. Per snapshot, under its volume's snap_lock (write): append
 *      SNAP_HOLD into the reserved space and add the hold in memory.
 *      Mark the volumes busy (no volume deletion), drop pool->mu.
 *   4. Flush each volume: the holds are durable before the call
 *      returns.  A failed flush is reported; the hold is then in
 *      memory and may or may not come back after a reopen.
 * A release runs 1, 3 and 4 with SNAP_RELEASE, without a reservation:
 * like a deletion, it must work on a full disk (it is what lets a
 * snapshot be deleted), so it takes the headroom or goes past it, and
 * then only its flush can fail.
 */

#include <config.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "ondisk.h"
#include "pool-internal.h"
#include "volume.h"
#include "lockorder.h"

/* A snapshot a hold or a release applies to. */
struct hold_target {
  struct volume *v;
  struct uuid id;
};

struct hold_op {
  struct sv_pool *pool;
  struct uuid id;
  const char *idstr;
  unsigned type;                /* JR_SNAP_HOLD or JR_SNAP_RELEASE */
  struct snap_hold h;
  struct hold_target *t;
  size_t n, cap;
  size_t matched;               /* snapshots with the id, held or not */
};

static int
op_init (struct hold_op *op, struct sv_pool *pool, unsigned type,
         const char *id, const char *tag, uint64_t expires)
{
  memset (op, 0, sizeof *op);
  op->pool = pool;
  op->type = type;
  op->idstr = id;
  if (uuid_parse (id, &op->id) == -1)
    return sv_error (EINVAL, "invalid snapshot id '%.64s': expected a UUID",
                     id);
  if (hold_check_tag (tag) == -1)
    return -1;
  snprintf (op->h.tag, sizeof op->h.tag, "%s", tag);
  op->h.expires = expires;
  return 0;
}

/* Step 1 for one snapshot S of V (snap_lock held): check it and add it
 * to the targets. */
static int
collect_one (struct hold_op *op, struct volume *v, struct snap *s)
{
  ssize_t i = hold_find (s, op->h.tag);

  op->matched++;
  if (op->type == JR_SNAP_HOLD) {
    char sid[UUID_STRLEN + 1];

    uuid_format (&s->id, sid);
    if (i >= 0)
      return sv_error (EEXIST, "snapshot %s of volume %s already carries a"
                       " hold tagged %s; nothing was held", sid, v->name,
                       op->h.tag);
    if (s->nholds >= SV_HOLDS_MAX)
      return sv_error (E2BIG, "snapshot %s of volume %s already carries %d"
                       " holds, the most a snapshot can; nothing was held",
                       sid, v->name, SV_HOLDS_MAX);
  }
  else if (i < 0)
    return 0;                   /* a set's snapshot without the hold */
  if (op->n == op->cap) {
    size_t ncap = op->cap ? op->cap * 2 : 8;
    struct hold_target *nt = realloc (op->t, ncap * sizeof *nt);
    if (nt == NULL)
      return sv_error (ENOMEM, "out of memory");
    op->t = nt;
    op->cap = ncap;
  }
  op->t[op->n].v = v;
  op->t[op->n].id = s->id;
  op->n++;
  return 0;
}

/* Step 1, pool->mu held. */
static int
collect (struct hold_op *op)
{
  struct volume *v;

  for (v = op->pool->volumes; v; v = v->next) {
    ssize_t hit[2];
    size_t k;
    int r = 0;

    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    volume_snap_matches (v, &op->id, hit);
    for (k = 0; k < 2 && r == 0; k++)
      if (hit[k] >= 0)
        r = collect_one (op, v, &v->snaps[hit[k]]);
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    if (r == -1)
      return -1;
  }
  if (op->matched == 0)
    return sv_error (ENOENT, "no snapshot or snapshot set with id %s",
                     op->idstr);
  if (op->n == 0)
    return sv_error (ENOENT, "no hold tagged %s on snapshot %s",
                     op->h.tag, op->idstr);
  return 0;
}

static size_t
record_len (const struct hold_op *op)
{
  return JR_HDR + (op->type == JR_SNAP_HOLD ? HOLD_REC_FIXED
                   : RELEASE_REC_FIXED) + strlen (op->h.tag);
}

/* Step 2, pool->mu held. */
static int
reserve (struct hold_op *op)
{
  size_t i;

  for (i = 0; i < op->n; i++)
    if (journal_reserve (&op->t[i].v->journal, record_len (op),
                         JOURNAL_ADMIN) == -1) {
      while (i-- > 0)
        journal_unreserve (&op->t[i].v->journal, record_len (op));
      return sv_error (ENOSPC, "volume %s: no journal space left for the"
                       " hold's record in %s; free space, then try again;"
                       " nothing was held", op->t[0].v->name,
                       op->t[0].v->dir);
    }
  return 0;
}

/* Step 3 for target T, pool->mu held.  A hold's failure gives its
 * reservation back. */
static int
apply_one (struct hold_op *op, unsigned type, struct hold_target *t)
{
  uint8_t rec[HOLD_REC_FIXED + SV_TAG_MAX];
  struct volume *v = t->v;
  size_t len = hold_encode (type, &t->id, &op->h, rec);
  struct snap *s;
  ssize_t k;
  int r = 0;

  sv_wrlock (&v->snap_lock, LOCK_SNAP);
  k = volume_snap_index (v, &t->id, 0);
  /* Nothing took the snapshot or changed its holds since step 1: every
   * change of either is made under pool->mu. */
  assert (k >= 0);
  s = &v->snaps[k];
  if (type == JR_SNAP_HOLD) {
    /* Memory first (step 1 checked the rest), then the record. */
    if (hold_add (v, s, &op->h) == -1) {
      journal_unreserve (&v->journal, JR_HDR + len);
      r = -1;
    }
    else if (journal_append_reserved (&v->journal, type, rec, len) == 0) {
      hold_remove (s, s->nholds - 1);
      r = sv_error (ENOMEM, "volume %s: out of memory", v->name);
    }
  }
  else if (journal_append (&v->journal, type, rec, len) == 0)
    r = sv_error (ENOMEM, "volume %s: out of memory", v->name);
  else
    hold_remove (s, hold_find (s, op->h.tag));
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  return r;
}

/* Steps 3 and 4.  Returns how many snapshots were changed, or -1.  A
 * hold that fails for want of memory half way releases what it held
 * (best effort: the release needs memory too). */
static int
apply (struct hold_op *op)
{
  struct sv_pool *pool = op->pool;
  size_t i, k, done = 0;
  int r = 0;

  for (i = 0; i < op->n; i++) {
    if (r == 0 && apply_one (op, op->type, &op->t[i]) == 0)
      done++;
    else if (r == 0)
      r = -1;
    else if (op->type == JR_SNAP_HOLD)
      journal_unreserve (&op->t[i].v->journal, record_len (op));
  }
  if (r == -1 && op->type == JR_SNAP_HOLD) {
    for (i = 0; i < done; i++)
      apply_one (op, JR_SNAP_RELEASE, &op->t[i]);
    done = 0;
  }
  for (i = 0; i < op->n; i++)
    op->t[i].v->busy++;
  sv_unlock (&pool->mu, LOCK_POOL);

  for (i = 0; i < op->n; i++) {
    int seen = 0;
    for (k = 0; k < i; k++)
      seen |= op->t[k].v == op->t[i].v;
    if (!seen && volume_flush (op->t[i].v) == -1 && r == 0)
      r = -1;
  }
  sv_lock (&pool->mu, LOCK_POOL);
  for (i = 0; i < op->n; i++)
    op->t[i].v->busy--;
  sv_unlock (&pool->mu, LOCK_POOL);
  return r == 0 ? (int) done : -1;
}

static int
run (struct hold_op *op)
{
  int r;

  sv_lock (&op->pool->mu, LOCK_POOL);
  if (collect (op) == -1 ||
      (op->type == JR_SNAP_HOLD && reserve (op) == -1)) {
    sv_unlock (&op->pool->mu, LOCK_POOL);
    free (op->t);
    return -1;
  }
  r = apply (op);               /* drops pool->mu */
  free (op->t);
  return r;
}

int
pool_snapshot_hold (struct sv_pool *pool, const char *id, const char *tag,
                    uint64_t expires)
{
  struct hold_op op;

  if (op_init (&op, pool, JR_SNAP_HOLD, id, tag, expires) == -1)
    return -1;
  return run (&op);
}

int
pool_snapshot_release (struct sv_pool *pool, const char *id, const char *tag)
{
  struct hold_op op;

  if (op_init (&op, pool, JR_SNAP_RELEASE, id, tag, 0) == -1)
    return -1;
  return run (&op);
}

int
hold_list_add (struct hold_list *hl, struct volume *v, ssize_t idx,
               struct sv_snapshot_info *si)
{
  const struct snap *s;
  uint32_t i;

  si->holds = NULL;
  si->nholds = 0;
  if (idx < 0)
    return 0;
  s = &v->snaps[idx];
  if (hl->n + s->nholds > hl->cap) {
    size_t ncap = hl->cap ? hl->cap : 16;
    struct sv_snapshot_hold *nh;
    while (ncap < hl->n + s->nholds)
      ncap *= 2;
    nh = realloc (hl->v, ncap * sizeof *nh);
    if (nh == NULL)
      return sv_error (ENOMEM, "out of memory");
    hl->v = nh;
    hl->cap = ncap;
  }
  for (i = 0; i < s->nholds; i++) {
    snprintf (hl->v[hl->n + i].tag, sizeof hl->v[0].tag, "%s",
              s->holds[i].tag);
    hl->v[hl->n + i].expires = s->holds[i].expires;
  }
  hl->n += s->nholds;
  si->nholds = s->nholds;
  return 0;
}

int
hold_list_attach (struct hold_list *hl, struct sv_snapshot_info **all,
                  size_t nall)
{
  struct sv_snapshot_info *out;
  struct sv_snapshot_hold *h;
  size_t i;

  out = realloc (*all, nall * sizeof *out + hl->n * sizeof *h + 1);
  if (out == NULL)
    return sv_error (ENOMEM, "out of memory");
  *all = out;
  h = (struct sv_snapshot_hold *) (out + nall);
  if (hl->n > 0)
    memcpy (h, hl->v, hl->n * sizeof *h);
  for (i = 0; i < nall; i++) {
    out[i].holds = out[i].nholds ? h : NULL;
    h += out[i].nholds;
  }
  free (hl->v);
  hl->v = NULL;
  return 0;
}
