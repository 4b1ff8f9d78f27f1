/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * policy.c: the pool's policies: retention (which snapshots to keep)
 * and the space policy's delete-oldest; their settings and events
 * (layer 10, above the pool API it deletes through; docs/design.md,
 * "Policies").
 *
 * Design notes
 * ------------
 * What is deleted is decided on a brief listing of the pool's
 * snapshots (no scan of the maps) and deleted through
 * pool_snapshot_delete, which checks holds and open views again under
 * pool->mu: a hold or an open that lands between the choice and the
 * deletion makes the deletion fail with EBUSY, and the snapshot is
 * kept (an event says so).  A set is the unit: a set's snapshots in
 * the pool are deleted together (by the set's id) or all kept, so no
 * policy leaves a set partly deleted on one pool.
 *
 * Every deletion is announced through the pool's log callback before
 * it happens and recorded as an event after.  APPLY_MU serialises the
 * deciders (retention after a pin, the periodic pass, delete-oldest
 * from writers, policy changes), so two of them never pick the same
 * victim; it is taken with no engine lock held.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "lockorder.h"
#include "pool-internal.h"
#include "retain.h"
#include "volume.h"

/* Write FMT into BUF, cut to LEN: reasons quote other messages, and
 * a long one is cut, not refused. */
static void
text (char *buf, size_t len, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

static void
text (char *buf, size_t len, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (buf, len, fmt, ap);
  va_end (ap);
}

/* Events. */

/* Record an event (POLICY_MU taken here). */
static void
add_event (struct sv_pool *pool, const char *action, const char *policy,
           const struct sv_snapshot_info *s, const char *reason)
{
  struct sv_policy_event *e;

  pthread_mutex_lock (&pool->policy_mu);
  if (pool->events == NULL)
    pool->events = calloc (SV_POLICY_EVENTS_MAX, sizeof *pool->events);
  if (pool->events != NULL) {
    e = &pool->events[pool->nevents % SV_POLICY_EVENTS_MAX];
    memset (e, 0, sizeof *e);
    e->seq = ++pool->nevents;
    e->time = pool_now (pool);
    snprintf (e->action, sizeof e->action, "%s", action);
    snprintf (e->policy, sizeof e->policy, "%s", policy);
    snprintf (e->volume, sizeof e->volume, "%s", s->volume);
    snprintf (e->id, sizeof e->id, "%s", s->id);
    snprintf (e->set_id, sizeof e->set_id, "%s", s->set_id);
    e->created = s->created;
    snprintf (e->reason, sizeof e->reason, "%s", reason);
  }
  pthread_mutex_unlock (&pool->policy_mu);
}

/* Has a "kept" event for snapshot ID with REASON been recorded
 * already?  The periodic pass meets a held snapshot again and again;
 * one event says it, and deletions are not pushed out of the ring by
 * repeats.  POLICY_MU held. */
static int
kept_known (struct sv_pool *pool, const char *id, const char *reason)
{
  uint64_t i, n = pool->nevents < SV_POLICY_EVENTS_MAX ? pool->nevents
    : SV_POLICY_EVENTS_MAX;

  for (i = 0; pool->events && i < n; i++) {
    const struct sv_policy_event *e = &pool->events[i];
    if (strcmp (e->action, "kept") == 0 && strcmp (e->id, id) == 0 &&
        strcmp (e->reason, reason) == 0)
      return 1;
  }
  return 0;
}

static void
add_kept (struct sv_pool *pool, const char *policy,
          const struct sv_snapshot_info *s, const char *reason)
{
  int known;

  pthread_mutex_lock (&pool->policy_mu);
  known = kept_known (pool, s->id, reason);
  pthread_mutex_unlock (&pool->policy_mu);
  if (!known)
    add_event (pool, "kept", policy, s, reason);
}

static void
say (struct sv_pool *pool, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

static void
say (struct sv_pool *pool, const char *fmt, ...)
{
  char line[1024];
  va_list ap;

  if (pool->log == NULL)
    return;
  va_start (ap, fmt);
  vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  pool->log (pool->log_opaque, line);
}

int
pool_policy_events (struct sv_pool *pool, struct sv_policy_event **out,
                    size_t *n)
{
  uint64_t first, i;
  size_t k = 0;

  *out = calloc (SV_POLICY_EVENTS_MAX, sizeof **out);
  if (*out == NULL)
    return sv_error (ENOMEM, "out of memory");
  pthread_mutex_lock (&pool->policy_mu);
  first = pool->nevents > SV_POLICY_EVENTS_MAX
    ? pool->nevents - SV_POLICY_EVENTS_MAX : 0;
  for (i = first; i < pool->nevents; i++)
    (*out)[k++] = pool->events[i % SV_POLICY_EVENTS_MAX];
  pthread_mutex_unlock (&pool->policy_mu);
  *n = k;
  return 0;
}

uint64_t
pool_space_used (struct sv_pool *pool)
{
  return space_used (&pool->space);
}

/* Settings. */

/* The entry of VOLUME in the table, or NULL.  POLICY_MU held. */
static struct policy_entry *
find_entry (struct sv_pool *pool, const char *volume)
{
  size_t i;

  for (i = 1; i < pool->policies.n; i++)
    if (strcmp (pool->policies.v[i].volume, volume) == 0)
      return &pool->policies.v[i];
  return NULL;
}

static int
volume_exists (struct sv_pool *pool, const char *volume)
{
  int found;

  if (sv_check_name (volume) == -1)
    return -1;
  sv_lock (&pool->mu, LOCK_POOL);
  found = pool_find_volume (pool, volume) != NULL;
  sv_unlock (&pool->mu, LOCK_POOL);
  if (!found)
    return sv_error (ENOENT, "no volume named %s", volume);
  return 0;
}

int
pool_policy_get (struct sv_pool *pool, const char *volume,
                 struct sv_policy *out, int *own)
{
  struct policy_entry *e;

  if (volume && volume_exists (pool, volume) == -1)
    return -1;
  pthread_mutex_lock (&pool->policy_mu);
  e = volume ? find_entry (pool, volume) : NULL;
  *out = pool->policies.v[0].p;
  if (e) {
    out->retention = e->p.retention;
    out->space_limit = out->space_reserve = 0;
    out->on_full = SV_ON_FULL_FAIL;
  }
  pthread_mutex_unlock (&pool->policy_mu);
  if (own)
    *own = e != NULL;
  return 0;
}

/* A copy of the table with VOLUME's entry (or the default) replaced
 * by P, or removed when P keeps everything.  0, or -1 with ENOMEM.
 * POLICY_MU held. */
static int
table_with (struct sv_pool *pool, const char *volume,
            const struct sv_policy *p, struct policy_table *t)
{
  size_t i, k = 0;
  int placed = volume == NULL;
  int drop = volume != NULL && !retain_enabled (&p->retention);

  t->v = calloc (pool->policies.n + 1, sizeof *t->v);
  if (t->v == NULL)
    return sv_error (ENOMEM, "out of memory");
  t->v[k] = pool->policies.v[0];
  if (volume == NULL)
    t->v[k].p = *p;
  k++;
  for (i = 1; i < pool->policies.n; i++) {
    int c = volume ? strcmp (pool->policies.v[i].volume, volume) : -1;
    if (c > 0 && !placed) {
      placed = 1;
      if (!drop) {
        snprintf (t->v[k].volume, sizeof t->v[k].volume, "%s", volume);
        t->v[k++].p = *p;
      }
    }
    if (c == 0) {
      placed = 1;
      if (!drop) {
        t->v[k] = pool->policies.v[i];
        t->v[k++].p = *p;
      }
      continue;
    }
    t->v[k++] = pool->policies.v[i];
  }
  if (!placed && !drop) {
    snprintf (t->v[k].volume, sizeof t->v[k].volume, "%s", volume);
    t->v[k++].p = *p;
  }
  t->n = k;
  return 0;
}

int
pool_policy_set (struct sv_pool *pool, const char *volume,
                 const struct sv_policy *p)
{
  struct policy_table t = { NULL, 0 };
  uint64_t used = space_used (&pool->space);
  int r;

  if (p->on_full != SV_ON_FULL_FAIL && p->on_full != SV_ON_FULL_DELETE_OLDEST)
    return sv_error (EINVAL, "unknown space action %d", (int) p->on_full);
  if (volume && (p->space_limit || p->space_reserve || p->on_full))
    return sv_error (EINVAL, "volume %s: the space policy is per pool: give "
                     "space_limit, space_reserve and on_full without a "
                     "volume", volume);
  if (volume && volume_exists (pool, volume) == -1)
    return -1;
  if (p->space_limit && p->space_limit < used)
    return sv_error (ERANGE, "space_limit %" PRIu64 " is below the %" PRIu64
                     " bytes the pool already holds", p->space_limit, used);
  pthread_mutex_lock (&pool->apply_mu);
  pthread_mutex_lock (&pool->policy_mu);
  r = table_with (pool, volume, p, &t);
  pthread_mutex_unlock (&pool->policy_mu);
  if (r == 0)
    r = policyfile_store (pool->io, pool->dir, &t);
  if (r == 0) {
    pthread_mutex_lock (&pool->policy_mu);
    policy_table_free (&pool->policies);
    pool->policies = t;
    t.v = NULL;
    pthread_mutex_unlock (&pool->policy_mu);
    if (volume == NULL)
      space_set (&pool->space, p->space_limit ? p->space_limit
                 : SPACE_NO_LIMIT, p->space_reserve);
  }
  pthread_mutex_unlock (&pool->apply_mu);
  free (t.v);
  return r;
}

/* Retention. */

/* The retention that applies to VOLUME.  POLICY_MU taken here. */
static struct sv_retention
retention_of (struct sv_pool *pool, const char *volume)
{
  struct sv_retention r;
  struct policy_entry *e;

  pthread_mutex_lock (&pool->policy_mu);
  e = find_entry (pool, volume);
  r = e ? e->p.retention : pool->policies.v[0].p.retention;
  pthread_mutex_unlock (&pool->policy_mu);
  return r;
}

/* Does a hold of S hold at NOW?  The tags that do into TAGS. */
static int
held (const struct sv_snapshot_info *s, uint64_t now, char *tags, size_t len)
{
  size_t i, off = 0;
  int h = 0;

  tags[0] = '\0';
  for (i = 0; i < s->nholds; i++)
    if (s->holds[i].expires == 0 || s->holds[i].expires > now) {
      if (off < len)
        off += snprintf (tags + off, len - off, "%s%s", h ? ", " : "",
                         s->holds[i].tag);
      h = 1;
    }
  return h;
}

/* What retention decided for one snapshot. */
enum verdict { KEEP, DELETE, KEEP_HELD, KEEP_OPEN, KEEP_SET };

/* Does snapshot I stand in the way of deleting its set?  Its own
 * reason to stay into WHY. */
static enum verdict
blocker (const struct sv_snapshot_info *s, uint64_t now, enum verdict v,
         char *why, size_t len)
{
  char tags[512];

  if (s->open_count > 0) {
    text (why, len, "open on %" PRIu32 " NBD connection(s)",
              s->open_count);
    return KEEP_OPEN;
  }
  if (held (s, now, tags, sizeof tags)) {
    text (why, len, "held (tags: %s)", tags);
    return KEEP_HELD;
  }
  return v;
}

/* Decide every snapshot of SI (sorted by volume, then generation):
 * V[i] DELETE when its volume's rules keep it not; KEEP otherwise. */
static int
decide (struct sv_pool *pool, const struct sv_snapshot_info *si, size_t n,
        uint64_t now, enum verdict *v)
{
  size_t i = 0, j, k;

  while (i < n) {
    struct sv_retention r = retention_of (pool, si[i].volume);
    struct retain_snap *rs;
    unsigned *why;

    for (j = i; j < n && strcmp (si[j].volume, si[i].volume) == 0; j++)
      ;
    rs = calloc (j - i, sizeof *rs);
    why = calloc (j - i, sizeof *why);
    if (rs == NULL || why == NULL) {
      free (rs);
      free (why);
      return sv_error (ENOMEM, "out of memory");
    }
    for (k = i; k < j; k++) {
      rs[k - i].created = si[k].created;
      rs[k - i].generation = si[k].generation;
    }
    retain_choose (&r, rs, j - i, now, why);
    for (k = i; k < j; k++)
      v[k] = why[k - i] == 0 ? DELETE : KEEP;
    free (rs);
    free (why);
    i = j;
  }
  return 0;
}

/* Delete the set of snapshot I (every snapshot of SI with its set id),
 * each announced first: REASON[k] says why for snapshot K. */
static size_t
delete_set (struct sv_pool *pool, const char *policy,
            const struct sv_snapshot_info *si, size_t n, size_t i,
            char (*reason)[SV_POLICY_REASON_MAX + 1])
{
  size_t k, deleted = 0;

  for (k = 0; k < n; k++)
    if (strcmp (si[k].set_id, si[i].set_id) == 0)
      say (pool, "policy: deleting snapshot %s of volume %s (set %s): %s",
           si[k].id, si[k].volume, si[k].set_id, reason[k]);
  if (pool_snapshot_delete (pool, si[i].set_id, &deleted) == -1) {
    char why[SV_POLICY_REASON_MAX + 1];

    text (why, sizeof why, "%s; the deletion failed: %s", reason[i],
              sv_errmsg ());
    say (pool, "policy: snapshot %s of volume %s kept: %s", si[i].id,
         si[i].volume, why);
    for (k = 0; k < n; k++)
      if (strcmp (si[k].set_id, si[i].set_id) == 0)
        add_event (pool, "kept", policy, &si[k], why);
    return 0;
  }
  for (k = 0; k < n; k++)
    if (strcmp (si[k].set_id, si[i].set_id) == 0)
      add_event (pool, "deleted", policy, &si[k], reason[k]);
  return deleted;
}

/* Apply the verdicts: a set is deleted when every one of its snapshots
 * is DELETE and none is held or open; otherwise each of its snapshots
 * the rules would delete is kept, with an event saying why. */
static size_t
carry_out (struct sv_pool *pool, const struct sv_snapshot_info *si, size_t n,
           enum verdict *v, uint64_t now)
{
  char (*reason)[SV_POLICY_REASON_MAX + 1] = calloc (n ? n : 1,
                                                     sizeof *reason);
  size_t i, k, deleted = 0;

  if (reason == NULL)
    return 0;
  for (i = 0; i < n; i++) {
    struct sv_retention r = retention_of (pool, si[i].volume);
    retain_reason (&r, reason[i], sizeof reason[i]);
  }
  for (i = 0; i < n; i++) {
    char why[SV_POLICY_REASON_MAX + 1] = "", own[400];
    size_t stay = n;
    int first = 1;

    if (v[i] != DELETE)
      continue;
    for (k = 0; k < n; k++) {
      if (strcmp (si[k].set_id, si[i].set_id) != 0)
        continue;
      if (k < i && v[k] == DELETE)
        first = 0;
      if (blocker (&si[k], now, v[k], own, sizeof own) != DELETE) {
        stay = k;
        break;
      }
    }
    if (!first)
      continue;                 /* its set was dealt with */
    if (stay == n) {
      deleted += delete_set (pool, "retention", si, n, i, reason);
      continue;
    }
    /* The set stays: say so for each snapshot the rules would delete. */
    for (k = 0; k < n; k++) {
      if (strcmp (si[k].set_id, si[i].set_id) != 0 || v[k] != DELETE)
        continue;
      if (k == stay)
        text (why, sizeof why, "%s; kept: %s", reason[k], own);
      else if (v[stay] == DELETE)
        text (why, sizeof why, "%s; kept: snapshot %s of volume %s in "
                  "the same set is %s", reason[k], si[stay].id,
                  si[stay].volume, own);
      else
        text (why, sizeof why, "%s; kept: snapshot %s of volume %s in "
                  "the same set is kept by its rules", reason[k],
                  si[stay].id, si[stay].volume);
      add_kept (pool, "retention", &si[k], why);
    }
  }
  free (reason);
  return deleted;
}

int
pool_policy_apply (struct sv_pool *pool, size_t *ndeleted)
{
  struct sv_snapshot_info *si = NULL;
  enum verdict *v = NULL;
  size_t nsi = 0, deleted = 0;
  uint64_t now;
  int r = -1;

  if (ndeleted)
    *ndeleted = 0;
  pthread_mutex_lock (&pool->apply_mu);
  now = pool_now (pool);
  if (pool_snapshot_list_brief (pool, &si, &nsi) == -1)
    goto out;
  v = calloc (nsi ? nsi : 1, sizeof *v);
  if (v == NULL) {
    sv_error (ENOMEM, "out of memory");
    goto out;
  }
  if (decide (pool, si, nsi, now, v) == -1)
    goto out;
  deleted = carry_out (pool, si, nsi, v, now);
  r = 0;
 out:
  pthread_mutex_unlock (&pool->apply_mu);
  free (v);
  free (si);
  if (ndeleted)
    *ndeleted = deleted;
  return r;
}

/* Space: delete-oldest. */

uint64_t
pool_room_made (struct sv_pool *pool)
{
  return __atomic_load_n (&pool->room_made, __ATOMIC_ACQUIRE);
}

/* The index in SI of the oldest snapshot whose set has nothing held or
 * open and was not TRIED already, or N. */
static size_t
oldest_free (const struct sv_snapshot_info *si, size_t n, uint64_t now,
             const bool *tried)
{
  size_t i, k, best = n;
  char own[400];

  for (i = 0; i < n; i++) {
    int ok = 1;

    if (tried[i])
      continue;
    if (best < n && (si[i].created > si[best].created ||
                     (si[i].created == si[best].created &&
                      si[i].generation >= si[best].generation)))
      continue;
    for (k = 0; k < n && ok; k++)
      if (strcmp (si[k].set_id, si[i].set_id) == 0 &&
          blocker (&si[k], now, DELETE, own, sizeof own) != DELETE)
        ok = 0;
    if (ok)
      best = i;
  }
  return best;
}

/* Punch the pool's free clusters not punched yet (volume.h, "Deferred
 * punches"): the filesystem may have refused the write for want of the
 * space they hold.  1 if any was punched.  Keeps errno. */
static int
punch_freed (struct sv_pool *pool)
{
  struct volume *v;
  size_t n = 0;
  int e = errno;

  if (__atomic_load_n (&pool->space.unpunched, __ATOMIC_ACQUIRE) == 0)
    return 0;
  sv_lock (&pool->mu, LOCK_POOL);
  for (v = pool->volumes; v; v = v->next)
    n += volume_punch_freed (v, SIZE_MAX);
  sv_unlock (&pool->mu, LOCK_POOL);
  errno = e;
  return n > 0;
}

int
pool_make_room (struct sv_pool *pool, uint64_t seen)
{
  char msg[1024], (*reason)[SV_POLICY_REASON_MAX + 1] = NULL;
  struct sv_snapshot_info *si = NULL;
  bool *tried = NULL;
  size_t n = 0, i, k, refused = 0;
  int e = errno, r = 0;
  enum sv_on_full action;

  if (punch_freed (pool))
    return 1;
  pthread_mutex_lock (&pool->policy_mu);
  action = pool->policies.v[0].p.on_full;
  pthread_mutex_unlock (&pool->policy_mu);
  if (action != SV_ON_FULL_DELETE_OLDEST)
    return 0;
  snprintf (msg, sizeof msg, "%s", sv_errmsg ());
  pthread_mutex_lock (&pool->apply_mu);
  if (pool_room_made (pool) != seen) {
    r = 1;                      /* another writer made room meanwhile */
    goto out;
  }
  if (pool_snapshot_list_brief (pool, &si, &n) == -1)
    goto out;
  reason = calloc (n ? n : 1, sizeof *reason);
  tried = calloc (n ? n : 1, sizeof *tried);
  if (reason == NULL || tried == NULL)
    goto out;
  for (k = 0; k < n; k++)
    text (reason[k], sizeof reason[k], "space (delete-oldest): %s; the "
              "oldest snapshot neither held nor open goes first", msg);
  /* A set whose deletion is refused (a clone reads through to it, or it
   * was held or opened since the listing) is kept, with its event, and
   * the next oldest is tried. */
  while ((i = oldest_free (si, n, pool_now (pool), tried)) < n) {
    if (delete_set (pool, "space", si, n, i, reason) > 0) {
      space_forget (&pool->space);
      __atomic_add_fetch (&pool->room_made, 1, __ATOMIC_RELEASE);
      r = 1;
      goto out;
    }
    for (k = 0; k < n; k++)
      if (strcmp (si[k].set_id, si[i].set_id) == 0)
        tried[k] = true;
    refused++;
  }
  if (refused == 0)
    say (pool, "policy: %s; no snapshot can be deleted to make room (each "
         "is held or open), the write fails", msg);
  else
    say (pool, "policy: %s; no snapshot can be deleted to make room (each "
         "is held or open, or refused its deletion: %zu set(s)), the write "
         "fails", msg, refused);
 out:
  pthread_mutex_unlock (&pool->apply_mu);
  free (tried);
  free (reason);
  free (si);
  sv_error (e, "%s", msg);
  return r;
}
