/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * poolset.c: snapshot sets pinned across volumes: hold, commit,
 * release, and pool_snapshot_create, which does the three.
 *
 * Design notes: pinning a set (pool_hold, pool_hold_commit)
 * ----------------------------------------------------------
 *   1. Mark every volume held (in name order, so that two holds never
 *      wait for each other), then close each volume's write gate and
 *      wait for the writes inside to finish.  From here no write is in
 *      flight on any volume of the set.
 *   2. Pin each volume in memory: append its snapshot record to the
 *      journal buffer and move the live generation on.
 *   3. Open the gates: writes resume, into the new generation.
 *   4. Flush each volume (data, then the journal holding the snapshot
 *      record), so the snapshots and the data they cover are durable.
 *      The volumes of a set are flushed by several threads at once
 *      (flush_set): a set's cost is then close to one volume's, not
 *      the sum of its volumes'.  A set of group_sync_min volumes or
 *      more is flushed as one group instead (volume_flush_group): one
 *      syncfs for the data files that changed (none if none did), the
 *      journals' records written, one syncfs for them all: 128 idle
 *      volumes cost one sync of the filesystem instead of 128 journal
 *      fdatasyncs.
 * Writes are held only for steps 1-3, which do no I/O.  If step 4
 * fails, the set's snapshots are deleted before the error is returned.
 *
 * Design notes: reverting held volumes (pool_hold_revert)
 * -------------------------------------------------------
 *   1. Under pool->mu, find each volume's snapshot and count it as
 *      open (its deletion then fails with EBUSY until the end: a
 *      deletion decided first makes this step fail with ENOENT), and
 *      refuse a volume whose live volume is open, unless forced.
 *   2. With the writes held (the hold), prepare every volume: the
 *      snapshot still there, journal space from the headroom, memory.
 *      Any failure gives back what was prepared: nothing reverted.
 *   3. Apply every volume (cannot fail: REVERT appended, the live
 *      volume's path switched), then open the gates.
 *   4. Flush each volume: the reverts are durable.
 *   5. Reclaim what only the abandoned generations read, and flush.
 *   6. Uncount the snapshots, end the hold.
 * Writes are held for steps 2-3 only, which do no I/O.
 *
 * An undoable revert (UNDO_SET_ID, a set revert through the
 * coordinator) first pins, in step 2, every volume's live generation
 * as a snapshot of the undo set, then prepares the reverts: the pin
 * moves the live generation that the REVERT record names.  Step 4
 * makes the pins and the REVERT records durable in one flush per
 * volume; the pin's record comes first in the journal, so a crash
 * leaves neither, the pin alone, or both: pool_revert_undo brings a
 * volume back in each case (reverting to the pin, the content the
 * volume had, when the REVERT record was lost).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "errmsg.h"
#include "ondisk.h"
#include "pool-internal.h"
#include "proto.h"
#include "timespec.h"
#include "vector.h"
#include "volume.h"
#include "lockorder.h"

#define MAX_SET_VOLUMES 1024

struct sv_hold {
  size_t n;
  struct volume **vols;         /* in request order */
};

/* A label: the protocol's rule (common/proto.c), NULL for none. */
static int
check_label (const char *label)
{
  char why[256];

  if (label != NULL &&
      proto_check_label ("label", label, strlen (label), why,
                         sizeof why) == -1)
    return sv_error (EINVAL, "invalid snapshot label: %s", why);
  return 0;
}

struct sv_hold *
pool_hold (struct sv_pool *pool, const char *const *volumes, size_t n,
           unsigned wait_ms)
{
  struct sv_hold *hold;
  CLEANUP_FREE size_t *order = NULL;
  struct timespec deadline;
  size_t i, j, got = 0;

  if (n == 0 || n > MAX_SET_VOLUMES) {
    sv_error (EINVAL, "a snapshot set needs 1 to %d volumes, not %zu",
              MAX_SET_VOLUMES, n);
    return NULL;
  }
  for (i = 0; i < n; i++) {
    if (sv_check_name (volumes[i]) == -1)
      return NULL;
    for (j = 0; j < i; j++)
      if (strcmp (volumes[i], volumes[j]) == 0) {
        sv_error (EINVAL, "volume %s is named twice in the set", volumes[i]);
        return NULL;
      }
  }
  hold = calloc (1, sizeof *hold);
  order = malloc (n * sizeof *order);
  if (hold == NULL || order == NULL ||
      (hold->vols = calloc (n, sizeof *hold->vols)) == NULL) {
    free (hold);
    sv_error (ENOMEM, "out of memory");
    return NULL;
  }
  hold->n = n;

  /* pthread_cond_timedwait's clock. */
  deadline = timespec_deadline_ms (CLOCK_REALTIME, wait_ms);

  sv_lock (&pool->mu, LOCK_POOL);
  for (i = 0; i < n; i++) {
    hold->vols[i] = pool_find_volume (pool, volumes[i]);
    if (hold->vols[i] == NULL) {
      sv_unlock (&pool->mu, LOCK_POOL);
      sv_error (ENOENT, "no volume named %s", volumes[i]);
      goto err;
    }
    order[i] = i;
  }
  /* Acquire in name order: two holds never wait for each other. */
  for (i = 1; i < n; i++)
    for (j = i; j > 0 && strcmp (volumes[order[j - 1]], volumes[order[j]]) > 0; j--) {
      size_t t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  for (got = 0; got < n; got++) {
    struct volume *v = hold->vols[order[got]];
    while (v->held) {
      if (pthread_cond_timedwait (&pool->hold_cv, &pool->mu,
                                  &deadline) != 0 && v->held) {
        for (j = 0; j < got; j++) {
          hold->vols[order[j]]->held = 0;
          hold->vols[order[j]]->busy--;
        }
        pthread_cond_broadcast (&pool->hold_cv);
        sv_unlock (&pool->mu, LOCK_POOL);
        sv_error (EBUSY, "volume %s is held by another snapshot operation",
                  v->name);
        goto err;
      }
    }
    v->held = 1;
    v->busy++;
  }
  sv_unlock (&pool->mu, LOCK_POOL);

  /* Phase 1: drain writes in flight, hold new ones. */
  for (i = 0; i < n; i++)
    gate_hold (&hold->vols[i]->gate);
  return hold;

 err:
  free (hold->vols);
  free (hold);
  return NULL;
}

static void
unhold (struct sv_pool *pool, struct sv_hold *hold, int gates)
{
  size_t i;

  if (gates)
    for (i = 0; i < hold->n; i++)
      gate_release (&hold->vols[i]->gate);
  sv_lock (&pool->mu, LOCK_POOL);
  for (i = 0; i < hold->n; i++) {
    hold->vols[i]->held = 0;
    hold->vols[i]->busy--;
  }
  pthread_cond_broadcast (&pool->hold_cv);
  sv_unlock (&pool->mu, LOCK_POOL);
  free (hold->vols);
  free (hold);
}

/* Phase 4 of a pin: flush every volume of HOLD.  With more than one
 * volume and flush_threads > 1, up to flush_threads threads flush
 * them at once: each volume's own cycle keeps its order (data, then
 * journal), and nothing orders one volume's syncs against another's,
 * so overlapping them only lets the filesystem commit them together.
 * Returns 0, or -1 with errno and MSG set to the first failure's
 * message (each thread has its own sv_errmsg). */
struct flush_job {
  struct sv_hold *hold;
  size_t next;                  /* the next volume to take (atomic) */
  int failed;                   /* the first failure is recorded (atomic) */
  int err;
  char *msg;
  size_t msglen;
  pthread_mutex_t mu;
};

static void
flush_job_fail (struct flush_job *job, int err)
{
  pthread_mutex_lock (&job->mu);
  if (!job->failed) {
    job->failed = 1;
    job->err = err;
    snprintf (job->msg, job->msglen, "%s", sv_errmsg ());
  }
  pthread_mutex_unlock (&job->mu);
}

static void *
flush_worker (void *arg)
{
  struct flush_job *job = arg;
  size_t i;

  while ((i = __atomic_fetch_add (&job->next, 1, __ATOMIC_SEQ_CST)) <
         job->hold->n)
    if (volume_flush (job->hold->vols[i]) == -1)
      flush_job_fail (job, errno ? errno : EIO);
  return NULL;
}

static int
flush_set (struct sv_pool *pool, struct sv_hold *hold, char *msg,
           size_t msglen)
{
  struct flush_job job = { .hold = hold, .msg = msg, .msglen = msglen };
  pthread_t tids[DEFAULT_FLUSH_THREADS * 4];
  size_t nthreads = pool->flush_threads, started = 0, i;

  if (hold->n >= pool->group_sync_min && pool->io->ops->syncfs != NULL)
    return volume_flush_group (hold->vols, hold->n, msg, msglen);

  if (nthreads > hold->n)
    nthreads = hold->n;
  if (nthreads > sizeof tids / sizeof tids[0])
    nthreads = sizeof tids / sizeof tids[0];
  pthread_mutex_init (&job.mu, NULL);
  /* The calling thread is one of the workers; a thread that cannot be
   * started only means fewer at once. */
  for (i = 1; i < nthreads; i++) {
    if (pthread_create (&tids[started], NULL, flush_worker, &job) != 0)
      break;
    started++;
  }
  flush_worker (&job);
  for (i = 0; i < started; i++)
    pthread_join (tids[i], NULL);
  pthread_mutex_destroy (&job.mu);
  if (job.failed) {
    errno = job.err;
    return -1;
  }
  return 0;
}

void
pool_hold_release (struct sv_pool *pool, struct sv_hold *hold)
{
  unhold (pool, hold, 1);
}

/* May a set take the id SET (SETSTR) on the volumes of HOLD?  Not if
 * one of them has a snapshot in that set already, nor if SET is the id
 * of a snapshot anywhere in the pool: ids are unique across snapshots
 * and sets, so that "delete ID" and "NAME@ID" name one thing.  (A set
 * id may be given to more volumes later, once per volume.)  0, or -1
 * with EEXIST naming the volume.  POOL->ids_mu held (not pool->mu,
 * which volume creation holds across I/O: this runs while the set's
 * writes are held); takes each volume's snap_lock; no I/O, O(1) per
 * volume. */
static int
set_id_taken (struct sv_pool *pool, const struct sv_hold *hold,
              const struct uuid *set, const char *setstr)
{
  struct volume *v;
  ssize_t idx;
  size_t i;

  for (i = 0; i < hold->n; i++) {
    v = hold->vols[i];
    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    idx = volume_snap_index (v, set, 1);
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    if (idx >= 0)
      return sv_error (EEXIST, "volume %s already has a snapshot in set %s",
                       v->name, setstr);
  }
  for (v = pool->volumes; v; v = v->next) {
    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    idx = volume_snap_index (v, set, 0);
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    if (idx >= 0)
      return sv_error (EEXIST, "set id %s is the id of a snapshot of volume"
                       " %s: a set id must differ from every snapshot id",
                       setstr, v->name);
  }
  return 0;
}

int
pool_hold_commit (struct sv_pool *pool, struct sv_hold *hold,
                  const char *set_id, const char *label,
                  struct sv_snap_result *res)
{
  struct uuid set, *ids = NULL;
  size_t i, pinned = 0;
  int r = -1;
  char msg[1024];

  if (uuid_parse (set_id, &set) == -1) {
    sv_error (EINVAL, "invalid snapshot set id '%.64s': expected a UUID",
              set_id);
    goto release;
  }
  if (check_label (label) == -1)
    goto release;
  ids = calloc (hold->n, sizeof *ids);
  if (ids == NULL) {
    sv_error (ENOMEM, "out of memory");
    goto release;
  }

  /* Phase 2: pin every volume in memory.  IDS_MU keeps a second set
   * with the same id from passing the check before this one pins. */
  sv_lock (&pool->ids_mu, LOCK_IDS);
  if (set_id_taken (pool, hold, &set, set_id) == -1) {
    sv_unlock (&pool->ids_mu, LOCK_IDS);
    goto release;
  }
  for (pinned = 0; pinned < hold->n; pinned++) {
    struct volume *v = hold->vols[pinned];
    if (volume_pin (v, &set, label, &ids[pinned],
                    &res[pinned].generation) == -1)
      break;
    snprintf (res[pinned].volume, sizeof res[pinned].volume, "%s", v->name);
    uuid_format (&ids[pinned], res[pinned].id);
  }
  sv_unlock (&pool->ids_mu, LOCK_IDS);
  if (pinned < hold->n) {
    snprintf (msg, sizeof msg, "%s", sv_errmsg ());
    for (i = 0; i < pinned; i++)
      volume_snap_remove (hold->vols[i], &ids[i]);
    sv_error (errno ? errno : EIO, "%s", msg);
    goto release;
  }

  /* Phase 3: writes resume. */
  for (i = 0; i < hold->n; i++)
    gate_release (&hold->vols[i]->gate);

  /* Phase 4: durable. */
  r = flush_set (pool, hold, msg, sizeof msg);
  if (r == -1) {
    int e = errno;
    for (i = 0; i < hold->n; i++)
      if (volume_snap_remove (hold->vols[i], &ids[i]) == 0) {
        sv_lock (&hold->vols[i]->admin_mu, LOCK_ADMIN);
        volume_reclaim (hold->vols[i]);
        sv_unlock (&hold->vols[i]->admin_mu, LOCK_ADMIN);
        volume_flush (hold->vols[i]);
      }
    sv_error (e, "snapshot set %s not taken: %s", set_id, msg);
  }
  free (ids);
  unhold (pool, hold, 0);
  return r;

 release:
  free (ids);
  unhold (pool, hold, 1);
  return -1;
}

/* Step 1 of a revert for volume V and snapshot text ID: the index of
 * its snapshot, counted as open, into *OUT (its id).  pool->mu held. */
static int
revert_find (struct sv_pool *pool, struct volume *v, const char *id,
             int force, struct uuid *out)
{
  struct uuid u;
  struct volume *w;
  ssize_t i;

  if (uuid_parse (id, &u) == -1)
    return sv_error (EINVAL, "invalid snapshot id '%.64s': expected a UUID",
                     id);
  sv_rdlock (&v->snap_lock, LOCK_SNAP);
  i = volume_snap_index (v, &u, 0);
  if (i < 0)
    i = volume_snap_index (v, &u, 1);
  if (i >= 0) {
    *out = v->snaps[i].id;
    v->snaps[i].open_count++;
  }
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  if (i < 0) {
    for (w = pool->volumes; w; w = w->next) {
      if (w == v)
        continue;
      sv_rdlock (&w->snap_lock, LOCK_SNAP);
      i = volume_snap_index (w, &u, 0);
      sv_rwunlock (&w->snap_lock, LOCK_SNAP);
      if (i >= 0)
        return sv_error (EXDEV, "snapshot %s is a snapshot of volume %s,"
                         " not %s: a volume reverts to its own snapshots"
                         " only; nothing was reverted", id, w->name,
                         v->name);
    }
    return sv_error (ENOENT, "volume %s has no snapshot or set %s; nothing"
                     " was reverted", v->name, id);
  }
  if (!force && v->open_count > 0) {
    sv_wrlock (&v->snap_lock, LOCK_SNAP);
    i = volume_snap_index (v, out, 0);
    v->snaps[i].open_count--;
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return sv_error (EBUSY, "volume %s is open by %" PRIu32 " client%s:"
                     " revert refused while clients are connected (force"
                     " reverts under them; they then read the old content"
                     " or the new one, never a mix, and must drop their"
                     " caches); nothing was reverted", v->name,
                     v->open_count, v->open_count == 1 ? "" : "s");
  }
  return 0;
}

/* Uncount the snapshots IDS[0..N) of HOLD's volumes.  pool->mu held. */
static void
revert_unfind (struct sv_hold *hold, const struct uuid *ids, size_t n)
{
  size_t k;

  for (k = 0; k < n; k++) {
    struct volume *v = hold->vols[k];
    ssize_t i;
    sv_wrlock (&v->snap_lock, LOCK_SNAP);
    i = volume_snap_index (v, &ids[k], 0);
    if (i >= 0)
      v->snaps[i].open_count--;
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  }
}

/* Remove the undo snapshots PINS[0..N) of HOLD's volumes (a revert
 * that did not happen), keeping the error being reported.  Gates
 * held. */
static void
revert_unpin (struct sv_hold *hold, const struct uuid *pins, size_t n)
{
  char msg[1024];
  int e = errno;
  size_t k;

  snprintf (msg, sizeof msg, "%s", sv_errmsg ());
  for (k = 0; k < n; k++)
    volume_snap_remove (hold->vols[k], &pins[k]);
  sv_error (e, "%s", msg);
}

/* Step 2 with UNDO: pin the live generation of every held volume as
 * the set UNDO (its snapshot ids into PINS), under ids_mu as
 * pool_hold_commit's phase 2.  All or none.  Gates held. */
static int
revert_pin_undo (struct sv_pool *pool, struct sv_hold *hold,
                 const char *undo, struct uuid *pins)
{
  struct uuid set;
  uint32_t gen;
  size_t k;

  if (uuid_parse (undo, &set) == -1)
    return sv_error (EINVAL, "invalid undo set id '%.64s': expected a UUID",
                     undo);
  sv_lock (&pool->ids_mu, LOCK_IDS);
  if (set_id_taken (pool, hold, &set, undo) == -1) {
    sv_unlock (&pool->ids_mu, LOCK_IDS);
    return -1;
  }
  for (k = 0; k < hold->n; k++)
    if (volume_pin (hold->vols[k], &set, PROTO_REVERT_UNDO_LABEL, &pins[k],
                    &gen) == -1)
      break;
  sv_unlock (&pool->ids_mu, LOCK_IDS);
  if (k < hold->n) {
    revert_unpin (hold, pins, k);
    return -1;
  }
  return 0;
}

/* Steps 2 and 3: pin the undo set (with UNDO), prepare all, then
 * apply all.  The pins come first: a pin moves the live generation,
 * which the prepared revert's record names.  Gates held. */
static int
revert_apply_all (struct sv_pool *pool, struct sv_hold *hold,
                  const struct uuid *ids, const char *undo,
                  struct revert_prep *rp, struct uuid *pins)
{
  size_t k, j;

  if (undo != NULL && revert_pin_undo (pool, hold, undo, pins) == -1)
    return -1;
  for (k = 0; k < hold->n; k++)
    if (volume_revert_prepare (hold->vols[k], &ids[k], &rp[k]) == -1) {
      int e = errno;
      for (j = 0; j < k; j++)
        volume_revert_cancel (hold->vols[j], &rp[j]);
      errno = e;
      if (undo != NULL)
        revert_unpin (hold, pins, hold->n);
      return -1;
    }
  for (k = 0; k < hold->n; k++)
    volume_revert_apply (hold->vols[k], &rp[k]);
  return 0;
}

int
pool_hold_revert (struct sv_pool *pool, struct sv_hold *hold,
                  const char *const *snapshots, int force,
                  const char *undo_set_id, struct sv_revert_result *res)
{
  CLEANUP_FREE struct uuid *ids = calloc (hold->n, sizeof *ids);
  CLEANUP_FREE struct uuid *pins = calloc (hold->n, sizeof *pins);
  CLEANUP_FREE struct revert_prep *rp = calloc (hold->n, sizeof *rp);
  size_t k, found = 0;
  char msg[1024];
  int r = -1;

  if (ids == NULL || pins == NULL || rp == NULL) {
    sv_error (ENOMEM, "out of memory");
    unhold (pool, hold, 1);
    return -1;
  }
  /* 1. */
  sv_lock (&pool->mu, LOCK_POOL);
  for (found = 0; found < hold->n; found++)
    if (revert_find (pool, hold->vols[found], snapshots[found], force,
                     &ids[found]) == -1)
      break;
  if (found < hold->n) {
    int e = errno;
    revert_unfind (hold, ids, found);
    sv_unlock (&pool->mu, LOCK_POOL);
    unhold (pool, hold, 1);
    errno = e;
    return -1;
  }
  sv_unlock (&pool->mu, LOCK_POOL);

  /* 2, 3. */
  r = revert_apply_all (pool, hold, ids, undo_set_id, rp, pins);
  for (k = 0; k < hold->n; k++)
    gate_release (&hold->vols[k]->gate);
  if (r == 0) {
    for (k = 0; k < hold->n; k++) {
      struct volume *v = hold->vols[k];
      snprintf (res[k].volume, sizeof res[k].volume, "%s", v->name);
      uuid_format (&ids[k], res[k].snapshot);
      res[k].parent = rp[k].parent;
      sv_rdlock (&v->snap_lock, LOCK_SNAP);
      res[k].generation = v->live_gen;
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    }
    /* 4. */
    r = flush_set (pool, hold, msg, sizeof msg);
    if (r == -1)
      sv_error (errno, "revert in effect but not durable: %s", msg);
  }
  if (r == 0)
    /* 5: space, not data: what a failed reclaim leaves, the next
     * reclaim (or the open's) takes. */
    for (k = 0; k < hold->n; k++) {
      struct volume *v = hold->vols[k];
      sv_lock (&v->admin_mu, LOCK_ADMIN);
      volume_reclaim (v);
      sv_unlock (&v->admin_mu, LOCK_ADMIN);
      volume_flush (v);
    }
  /* 6. */
  {
    int e = errno;
    snprintf (msg, sizeof msg, "%s", sv_errmsg ());
    sv_lock (&pool->mu, LOCK_POOL);
    revert_unfind (hold, ids, hold->n);
    sv_unlock (&pool->mu, LOCK_POOL);
    unhold (pool, hold, 0);
    if (r == -1)
      sv_error (e, "%s", msg);
  }
  return r;
}

int
pool_volume_revert (struct sv_pool *pool, const char *name,
                    const char *snapshot, int force,
                    struct sv_revert_result *res)
{
  struct sv_hold *hold = pool_hold (pool, &name, 1, 10000);

  if (hold == NULL)
    return -1;
  return pool_hold_revert (pool, hold, &snapshot, force, NULL, res);
}

int
pool_revert_undo (struct sv_pool *pool, const char *set_id,
                  struct sv_revert_result **resp, size_t *np)
{
  CLEANUP_FREE char (*copies)[SV_NAME_MAX + 1] = NULL;
  CLEANUP_FREE const char **names = NULL;
  CLEANUP_FREE const char **ids = NULL;
  struct sv_revert_result *res = NULL;
  struct sv_hold *hold;
  struct volume *v;
  struct uuid set;
  size_t n = 0, cap = 0, k;

  *resp = NULL;
  *np = 0;
  if (uuid_parse (set_id, &set) == -1)
    return sv_error (EINVAL, "invalid undo set id '%.64s': expected a UUID",
                     set_id);
  /* Copies of the names: the hold below finds each volume again under
   * pool->mu (one deleted meanwhile fails it with ENOENT). */
  sv_lock (&pool->mu, LOCK_POOL);
  for (v = pool->volumes; v; v = v->next) {
    ssize_t i;

    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    i = volume_snap_index (v, &set, 1);
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    if (i < 0)
      continue;
    if (n == cap) {
      size_t c = cap;
      char (*nc)[SV_NAME_MAX + 1] = vector_grow (copies, n, &c, 1,
                                                 sizeof *nc);

      if (nc == NULL) {
        sv_unlock (&pool->mu, LOCK_POOL);
        return sv_error (ENOMEM, "out of memory");
      }
      copies = nc;
      cap = c;
    }
    snprintf (copies[n++], sizeof copies[0], "%s", v->name);
  }
  sv_unlock (&pool->mu, LOCK_POOL);
  if (n == 0)
    return sv_error (ENOENT, "no volume has a snapshot of undo set %s:"
                     " nothing to undo", set_id);
  names = calloc (n, sizeof *names);
  ids = calloc (n, sizeof *ids);
  res = calloc (n, sizeof *res);
  if (names == NULL || ids == NULL || res == NULL) {
    free (res);
    return sv_error (ENOMEM, "out of memory");
  }
  for (k = 0; k < n; k++) {
    names[k] = copies[k];
    ids[k] = set_id;
  }
  hold = pool_hold (pool, names, n, 10000);
  if (hold == NULL ||
      pool_hold_revert (pool, hold, ids, 1, NULL, res) == -1) {
    free (res);
    return -1;
  }
  *resp = res;
  *np = n;
  return 0;
}

int
pool_snapshot_create (struct sv_pool *pool, const char *const *volumes,
                      size_t n, const char *label, const char *set_id,
                      char set_id_out[SV_UUID_STRLEN + 1],
                      struct sv_snap_result *res)
{
  struct sv_hold *hold;
  struct uuid u;

  if (check_label (label) == -1)
    return -1;
  if (set_id) {
    if (uuid_parse (set_id, &u) == -1)
      return sv_error (EINVAL, "invalid snapshot set id '%.64s': expected a"
                       " UUID", set_id);
  }
  else if (uuid_generate (&u) == -1)
    return sv_error (errno, "getrandom: %m");
  uuid_format (&u, set_id_out);
  hold = pool_hold (pool, volumes, n, 10000);
  if (hold == NULL)
    return -1;
  return pool_hold_commit (pool, hold, set_id_out, label, res);
}
