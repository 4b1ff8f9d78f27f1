/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * clone.c: writable clones of snapshots, and flattening them
 * (pool_volume_clone, pool_volume_flatten).
 *
 * Layer (docs/design.md's map; tests/test-engine-calls-go-down.sh):
 * 9, the pool API, beside poolvol.c.
 *
 * Design notes
 * ------------
 * A clone is a volume whose superblock names an origin: a volume (its
 * name and UUID) and one of its snapshots (id and generation).  A
 * subcluster that no version of the clone defines reads what the
 * origin's snapshot reads there (volume.c, read_hole), so creating a
 * clone writes a new volume's files and nothing else.  pool_open
 * resolves the origins once every volume is loaded (pool.c).  While a
 * clone reads through, the origin's snapshot and the origin volume
 * cannot be deleted (poolvol.c refuses, naming the clones).
 *
 * Flatten copies, cluster by cluster, what some view of the clone
 * could still read from the origin into a version of generation 0,
 * below every generation the clone has: every view sees it, so reads
 * no longer reach the origin, and it reads exactly what the origin
 * read.  Then it makes the copies durable (a flush), replaces the
 * superblock by one without the origin (rename), and only then lets
 * the origin go.  A crash before that rename leaves the clone reading
 * through, with copies that read the same bytes; after it, the
 * flattened clone.  One thread per flatten; each step holds one stripe
 * of the clone (and inside it one of the origin) for one cluster.
 */

#include <config.h>

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "pace.h"
#include "pool-internal.h"
#include "uuid.h"
#include "volume.h"
#include "lockorder.h"

/* Clusters flattened between two flushes of the clone. */
#define FLATTEN_FLUSH_EVERY 4096

/* Split ORIGIN "VOLUME@SNAPSHOT" into NAME and ID. */
static int
parse_origin (const char *origin, char name[SV_NAME_MAX + 1], struct uuid *id)
{
  const char *at = strchr (origin, '@');
  size_t len = at ? (size_t) (at - origin) : strlen (origin);

  if (at == NULL)
    return sv_error (EINVAL, "clone origin '%.80s' is a live volume: only a"
                     " snapshot can be cloned (VOLUME@SNAPSHOT)", origin);
  if (len == 0 || len > SV_NAME_MAX)
    return sv_error (EINVAL, "clone origin '%.80s': invalid volume name",
                     origin);
  memcpy (name, origin, len);
  name[len] = '\0';
  if (sv_check_name (name) == -1) {
    sv_error_prefix ("clone origin '%.80s'", origin);
    return -1;
  }
  if (uuid_parse (at + 1, id) == -1)
    return sv_error (EINVAL, "clone origin '%.80s': '%.40s' is not a"
                     " snapshot or set id (a UUID)", origin, at + 1);
  return 0;
}

/* ENOENT or EXDEV for the snapshot ID that volume O lacks.  pool->mu
 * held. */
static int
no_origin_snap (struct sv_pool *pool, struct volume *o, const struct uuid *id,
                const char *origin)
{
  struct volume *w;
  char s[UUID_STRLEN + 1];

  uuid_format (id, s);
  for (w = pool->volumes; w; w = w->next) {
    ssize_t i;

    if (w == o)
      continue;
    sv_rdlock (&w->snap_lock, LOCK_SNAP);
    i = volume_snap_index (w, id, 0);
    sv_rwunlock (&w->snap_lock, LOCK_SNAP);
    if (i >= 0)
      return sv_error (EXDEV, "clone origin %s: snapshot %s is a snapshot of"
                       " volume %s, not %s", origin, s, w->name, o->name);
  }
  return sv_error (ENOENT, "clone origin %s: volume %s has no snapshot or"
                   " set with id %s", origin, o->name, s);
}

/* Fill *CO and SNAP (gen, size, id, path) from the snapshot ID of O.
 * pool->mu held. */
static int
origin_snapshot (struct sv_pool *pool, struct volume *o, const struct uuid *id,
                 const char *origin, struct clone_origin *co,
                 struct snap *snap)
{
  ssize_t idx;
  int r = 0;

  sv_rdlock (&o->snap_lock, LOCK_SNAP);
  idx = volume_snap_index (o, id, 0);
  if (idx < 0)
    idx = volume_snap_index (o, id, 1);
  if (idx >= 0) {
    memset (snap, 0, sizeof *snap);
    snap->id = o->snaps[idx].id;
    snap->set = o->snaps[idx].set;
    snap->gen = o->snaps[idx].gen;
    snap->size = o->snaps[idx].size;
    snap->created = o->snaps[idx].created;
    r = volume_path_of (o, snap->gen, &snap->path);
  }
  sv_rwunlock (&o->snap_lock, LOCK_SNAP);
  if (idx < 0)
    return no_origin_snap (pool, o, id, origin);
  if (r == -1)
    return -1;
  co->volume = o->uuid;
  co->snap = snap->id;
  co->gen = snap->gen;
  snprintf (co->name, sizeof co->name, "%s", o->name);
  return 0;
}

/* Make V read through to O's snapshot SNAP (taken over).  pool->mu
 * held. */
static void
attach_origin (struct volume *v, struct volume *o, struct snap *snap)
{
  v->origin_snap = *snap;
  v->depth = o->depth + 1;
  o->nclones++;
  __atomic_store_n (&v->origin, o, __ATOMIC_RELEASE);
}

int
pool_volume_clone (struct sv_pool *pool, const char *origin, const char *name)
{
  char oname[SV_NAME_MAX + 1], voldir[PATH_MAX], tmpdir[PATH_MAX];
  struct clone_origin co;
  struct snap snap;
  struct volume *o, *v;
  struct uuid id;

  if (sv_check_name (name) == -1 || parse_origin (origin, oname, &id) == -1)
    return -1;
  if (pool_new_volume_dirs (pool, name, voldir, tmpdir) == -1)
    return -1;

  SV_LOCK_FOR_CURRENT_SCOPE (&pool->mu, LOCK_POOL);
  if (pool_find_volume (pool, name))
    return sv_error (EEXIST, "volume %s already exists", name);
  o = pool_find_volume (pool, oname);
  if (o == NULL)
    return sv_error (ENOENT, "clone origin %s: there is no volume %s in this"
                     " pool", origin, oname);
  if (volume_reads_origin (o) && o->origin == NULL)
    return sv_error (ENXIO, "clone origin %s: volume %s cannot be read: its"
                     " own origin %s is missing", origin, oname,
                     o->origin_of.name);
  if (o->depth + 1 > SV_CLONE_DEPTH_MAX)
    return sv_error (EMLINK, "clone origin %s: volume %s is a clone %u deep;"
                     " a clone of it would pass the limit of %d clones in a"
                     " chain (flatten one of them first)", origin, oname,
                     o->depth, SV_CLONE_DEPTH_MAX);
  if (origin_snapshot (pool, o, &id, origin, &co, &snap) == -1)
    return -1;
  if (volume_create_files (pool, voldir, tmpdir, name, snap.size,
                           o->cluster_size, &co) == -1) {
    int e = errno;
    pool_remove_tree (pool, tmpdir);
    free (snap.path);
    errno = e;
    sv_error_prefix ("volume %s: create", name);
    return -1;
  }
  v = volume_open_created (pool, voldir, name);
  if (v == NULL) {
    free (snap.path);
    return -1;
  }
  attach_origin (v, o, &snap);
  pool_insert_volume (pool, v);
  return 0;
}

/* Flatten. */

/* The end of a flatten: the copies durable, then the superblock
 * without the origin, then the origin let go. */
static int
flatten_finish (struct volume *v)
{
  struct sv_pool *pool = v->pool;
  struct volume *o;
  int i;

  if (volume_flush (v) == -1)
    return -1;
  if (volume_rewrite_superblock (v, SB_FLATTENED) == -1)
    return -1;
  __atomic_store_n (&v->sb_flags, SB_FLATTENED, __ATOMIC_RELEASE);
  /* A read that saw SB_CLONE holds one of the stripes while it reads
   * the origin: once each was free, none does. */
  for (i = 0; i < VOL_STRIPES; i++) {
    sv_wrlock (&v->stripe[i], LOCK_STRIPE);
    sv_rwunlock (&v->stripe[i], LOCK_STRIPE);
  }
  sv_lock (&pool->mu, LOCK_POOL);
  o = v->origin;
  __atomic_store_n (&v->origin, NULL, __ATOMIC_RELEASE);
  if (o)
    o->nclones--;
  pool_clone_depths (pool);
  sv_unlock (&pool->mu, LOCK_POOL);
  return 0;
}

static void *
flatten_thread (void *arg)
{
  struct flatten *f = arg;
  struct volume *v = f->v;
  uint64_t vci, cs = v->cluster_size;
  struct pace pace = PACE_INIT;
  int r = 0;

  for (vci = 0; vci < v->nclusters && r == 0; vci++) {
    pace_point (&pace);
    if (__atomic_load_n (&f->stop, __ATOMIC_ACQUIRE)) {
      r = sv_error (ECANCELED, "volume %s: flatten stopped at %" PRIu64
                    " of %" PRIu64 " bytes (the pool closed): run it"
                    " again", v->name, vci * cs, v->size);
      break;
    }
    r = volume_flatten_cluster (v, vci, volume_flatten_bound (v));
    if (r == 0 && (vci + 1) % FLATTEN_FLUSH_EVERY == 0)
      r = volume_flush (v);
    __atomic_store_n (&f->done, (vci + 1) * cs < v->size ? (vci + 1) * cs
                      : v->size, __ATOMIC_RELEASE);
  }
  if (r == 0)
    r = flatten_finish (v);
  if (r == -1) {
    f->failed = errno ? errno : EIO;
    snprintf (f->msg, sizeof f->msg, "%s", sv_errmsg ());
  }
  __atomic_store_n (&f->ended, 1, __ATOMIC_RELEASE);
  return NULL;
}

int
pool_volume_flatten (struct sv_pool *pool, const char *name)
{
  struct flatten *f;
  struct volume *v;
  int e;

  if (sv_check_name (name) == -1)
    return -1;
  SV_LOCK_FOR_CURRENT_SCOPE (&pool->mu, LOCK_POOL);
  v = pool_find_volume (pool, name);
  if (v == NULL)
    return sv_error (ENOENT, "no volume named %s", name);
  if (!pool_flatten_reap (pool, v, 0))
    return sv_error (EALREADY, "volume %s is being flattened already", name);
  if (!volume_reads_origin (v))
    return sv_error (EINVAL, "volume %s is not a clone: nothing to flatten",
                     name);
  if (v->origin == NULL)
    return sv_error (ENXIO, "volume %s cannot be flattened: its origin %s is"
                     " missing", name, v->origin_of.name);
  f = calloc (1, sizeof *f);
  if (f == NULL)
    return sv_error (ENOMEM, "out of memory");
  f->v = v;
  f->total = v->size;
  e = pthread_create (&f->thread, NULL, flatten_thread, f);
  if (e != 0) {
    free (f);
    return sv_error (e, "volume %s: cannot start the flatten: %s", name,
                     strerror (e));
  }
  v->flatten = f;
  return 0;
}

int
pool_volume_flatten_wait (struct sv_pool *pool, const char *name)
{
  struct volume *v;
  struct flatten *f;
  int e;

  SV_LOCK_FOR_CURRENT_SCOPE (&pool->mu, LOCK_POOL);
  v = pool_find_volume (pool, name);
  if (v == NULL)
    return sv_error (ENOENT, "no volume named %s", name);
  f = v->flatten;
  if (f == NULL)
    return 0;
  sv_unlock (&pool->mu, LOCK_POOL);
  pthread_join (f->thread, NULL);
  sv_lock (&pool->mu, LOCK_POOL);
  e = f->failed;
  if (e)
    sv_error (e, "%s", f->msg);
  if (v->flatten == f) {
    v->flatten = NULL;
    free (f);
  }
  return e ? -1 : 0;
}

