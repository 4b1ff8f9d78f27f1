/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * poolvol.c: the pool's volumes and snapshots: creating, deleting and
 * listing volumes, listing and deleting snapshots (by id or set id).
 */

#include <config.h>

#include <errno.h>
#include <limits.h>
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
#include "vector.h"
#include "volume.h"
#include "lockorder.h"

#define IO(p) ((p)->io->ops)

/* Volumes. */

int
pool_volume_create (struct sv_pool *pool, const char *name, uint64_t size,
                    uint32_t cluster_size)
{
  char voldir[PATH_MAX], tmpdir[PATH_MAX];
  struct volume *v;

  if (sv_check_name (name) == -1)
    return -1;
  if (cluster_size == 0)
    cluster_size = pool->default_cluster_size;
  if (!ondisk_cluster_size_ok (cluster_size))
    return sv_error (EINVAL, "volume %s: invalid cluster size %" PRIu32
                     ": it must be a power of two from 4096 to 1048576",
                     name, cluster_size);
  if (size == 0 || size % 512)
    return sv_error (EINVAL, "volume %s: invalid size %" PRIu64
                     ": it must be a positive multiple of 512 bytes",
                     name, size);
  if (size / cluster_size + (size % cluster_size != 0) > (uint64_t) UINT32_MAX)
    return sv_error (EINVAL, "volume %s: size %" PRIu64 " is too large for"
                     " cluster size %" PRIu32 " (at most 2^32 clusters)",
                     name, size, cluster_size);
  if (pool_new_volume_dirs (pool, name, voldir, tmpdir) == -1)
    return -1;

  SV_LOCK_FOR_CURRENT_SCOPE (&pool->mu, LOCK_POOL);
  if (pool_find_volume (pool, name))
    return sv_error (EEXIST, "volume %s already exists", name);
  if (volume_create_files (pool, voldir, tmpdir, name, size,
                           cluster_size, NULL) == -1) {
    int e = errno;
    pool_remove_tree (pool, tmpdir);
    errno = e;
    sv_error_prefix ("volume %s: create", name);
    return -1;
  }
  v = volume_open_created (pool, voldir, name);
  if (v == NULL)
    return -1;
  pool_insert_volume (pool, v);
  return 0;
}

int
pool_volume_delete (struct sv_pool *pool, const char *name)
{
  struct volume *v, **pp;
  char voldir[4096], gone[4096];
  struct uuid u;
  char us[UUID_STRLEN + 1];

  if (sv_check_name (name) == -1)
    return -1;
  if (uuid_generate (&u) == -1)
    return sv_error (errno, "getrandom: %m");
  uuid_format (&u, us);

  SV_LOCK_FOR_CURRENT_SCOPE (&pool->mu, LOCK_POOL);
  v = pool_find_volume (pool, name);
  if (v == NULL)
    return sv_error (ENOENT, "no volume named %s", name);
  if (v->open_count > 0)
    return sv_error (EBUSY, "volume %s is in use by %" PRIu32
                     " connection(s)", name, v->open_count);
  if (v->held || v->busy)
    return sv_error (EBUSY, "volume %s is busy with a snapshot operation",
                     name);
  if (v->nclones > 0) {
    char names[512];
    pool_clone_names (pool, v, NULL, names, sizeof names);
    return sv_error (EBUSY, "volume %s has clones reading through to it: %s"
                     " (flatten or delete them first)", name, names);
  }
  if (!pool_flatten_reap (pool, v, 0))
    return sv_error (EBUSY, "volume %s is being flattened: wait for the"
                     " flatten to end", name);
  sv_rdlock (&v->snap_lock, LOCK_SNAP);
  if (v->nsnaps > 0) {
    size_t ns = v->nsnaps;
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    return sv_error (ENOTEMPTY, "volume %s has %zu snapshot(s): delete them"
                     " first", name, ns);
  }
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);

  snprintf (voldir, sizeof voldir, "%s/%s", pool->voldir, name);
  snprintf (gone, sizeof gone, "%s/.deleted-%s-%s", pool->voldir, name, us);
  /* The volume is gone once the rename is durable. */
  if (IO (pool)->rename (pool->io->opaque, voldir, gone) == -1)
    return sv_error (errno, "volume %s: rename: %m", name);
  if (IO (pool)->syncdir (pool->io->opaque, pool->voldir) == -1)
    return sv_error (errno, "volume %s: fsync %s: %m", name, pool->voldir);
  sv_lock (&pool->ids_mu, LOCK_IDS);
  for (pp = &pool->volumes; *pp != v; pp = &(*pp)->next)
    ;
  *pp = v->next;
  sv_unlock (&pool->ids_mu, LOCK_IDS);
  if (v->origin)
    v->origin->nclones--;
  volume_close (v, 0);
  pool_remove_tree (pool, gone);
  return 0;
}

/* Collect referenced volumes (NAME NULL: all) with busy++.  Pool mu
 * not held on entry. */
static int
grab_volumes (struct sv_pool *pool, const char *name, struct volume ***out,
              size_t *n)
{
  struct volume *v, **vv;
  size_t k = 0, count = 0;

  SV_LOCK_FOR_CURRENT_SCOPE (&pool->mu, LOCK_POOL);
  for (v = pool->volumes; v; v = v->next)
    count++;
  vv = malloc ((count ? count : 1) * sizeof *vv);
  if (vv == NULL)
    return sv_error (ENOMEM, "out of memory");
  for (v = pool->volumes; v; v = v->next)
    if (name == NULL || strcmp (v->name, name) == 0) {
      v->busy++;
      vv[k++] = v;
    }
  if (name != NULL && k == 0) {
    free (vv);
    return sv_error (ENOENT, "no volume named %s", name);
  }
  *out = vv;
  *n = k;
  return 0;
}

static void
ungrab_volumes (struct sv_pool *pool, struct volume **vv, size_t n)
{
  size_t i;

  sv_lock (&pool->mu, LOCK_POOL);
  for (i = 0; i < n; i++)
    vv[i]->busy--;
  sv_unlock (&pool->mu, LOCK_POOL);
  free (vv);
}

int
pool_volume_list (struct sv_pool *pool, const char *name,
                  struct sv_volume_info **out, size_t *n)
{
  struct volume **vv;
  struct sv_volume_info *vi;
  size_t nv, i;

  if (name && sv_check_name (name) == -1)
    return -1;
  if (grab_volumes (pool, name, &vv, &nv) == -1)
    return -1;
  vi = calloc (nv ? nv : 1, sizeof *vi);
  if (vi == NULL) {
    ungrab_volumes (pool, vv, nv);
    return sv_error (ENOMEM, "out of memory");
  }
  for (i = 0; i < nv; i++) {
    struct volume *v = vv[i];
    char us[UUID_STRLEN + 1];

    if (volume_space (v, &vi[i], NULL, NULL) == -1) {
      free (vi);
      ungrab_volumes (pool, vv, nv);
      return -1;
    }
    snprintf (vi[i].name, sizeof vi[i].name, "%s", v->name);
    uuid_format (&v->uuid, us);
    memcpy (vi[i].uuid, us, sizeof us);
    vi[i].size = v->size;
    vi[i].cluster_size = v->cluster_size;
    vi[i].subcluster_size = v->subcluster_size;
    vi[i].created = v->created;
    sv_lock (&pool->mu, LOCK_POOL);
    vi[i].open_count = v->open_count;
    pool_flatten_info (pool, v, &vi[i]);
    sv_unlock (&pool->mu, LOCK_POOL);
  }
  ungrab_volumes (pool, vv, nv);
  *out = vi;
  *n = nv;
  return 0;
}

/* pool_snapshot_list, with the byte counts (a scan of each map)
 * unless BRIEF. */
static int
list_snapshots (struct sv_pool *pool, const char *volume, int brief,
                struct sv_snapshot_info **out, size_t *n)
{
  struct volume **vv;
  struct sv_snapshot_info *all = NULL;
  struct hold_list hl = { NULL, 0, 0 };
  size_t nv, i, nall = 0, capall = 0;
  int r = 0;

  if (volume && sv_check_name (volume) == -1)
    return -1;
  if (grab_volumes (pool, volume, &vv, &nv) == -1)
    return -1;
  for (i = 0; i < nv; i++) {
    struct sv_volume_info vi;
    struct sv_snapshot_info *si, *na;
    size_t nsi, k;

    if ((brief ? volume_snapshots (vv[i], &si, &nsi)
         : volume_space (vv[i], &vi, &si, &nsi)) == -1) {
      free (hl.v);
      free (all);
      ungrab_volumes (pool, vv, nv);
      return -1;
    }
    na = nsi + 1 <= capall - nall ? all
      : vector_grow (all, nall, &capall, nsi + 1, sizeof *na);
    if (na == NULL) {
      free (si);
      free (hl.v);
      free (all);
      ungrab_volumes (pool, vv, nv);
      return sv_error (ENOMEM, "out of memory");
    }
    all = na;
    sv_lock (&pool->mu, LOCK_POOL);
    sv_rdlock (&vv[i]->snap_lock, LOCK_SNAP);
    for (k = 0; k < nsi; k++) {
      struct uuid id;
      ssize_t idx;
      uuid_parse (si[k].id, &id);
      idx = volume_snap_index (vv[i], &id, 0);
      si[k].open_count = idx >= 0 ? vv[i]->snaps[idx].open_count : 0;
      if (r == 0)
        r = hold_list_add (&hl, vv[i], idx, &si[k]);
    }
    sv_rwunlock (&vv[i]->snap_lock, LOCK_SNAP);
    sv_unlock (&pool->mu, LOCK_POOL);
    memcpy (all + nall, si, nsi * sizeof *si);
    nall += nsi;
    free (si);
  }
  ungrab_volumes (pool, vv, nv);
  if (r == -1 || hold_list_attach (&hl, &all, nall) == -1) {
    free (hl.v);
    free (all);
    return -1;
  }
  *out = all;
  *n = nall;
  return 0;
}

int
pool_snapshot_list (struct sv_pool *pool, const char *volume,
                    struct sv_snapshot_info **out, size_t *n)
{
  return list_snapshots (pool, volume, 0, out, n);
}

int
pool_snapshot_list_brief (struct sv_pool *pool,
                          struct sv_snapshot_info **out, size_t *n)
{
  return list_snapshots (pool, NULL, 1, out, n);
}

/* Snapshots. */

struct victim {
  struct volume *v;
  struct uuid id;
};

/* Refuse the deletion of snapshot S of V while clones read through to
 * it: EBUSY naming them.  pool->mu held. */
static int
clone_check_delete (struct sv_pool *pool, struct volume *v,
                    const struct snap *s)
{
  char names[512], sid[UUID_STRLEN + 1];

  if (pool_clone_names (pool, v, &s->id, names, sizeof names) == 0)
    return 0;
  uuid_format (&s->id, sid);
  return sv_error (EBUSY, "snapshot %s of volume %s is the origin of clones:"
                   " %s (flatten or delete them first); nothing was deleted",
                   sid, v->name, names);
}

/* Delete every snapshot whose id (or set id) is ID. */
static int
delete_matching (struct sv_pool *pool, const struct uuid *id,
                 const char *idstr, size_t *ndeleted)
{
  struct victim *vic = NULL;
  size_t nvic = 0, cap = 0, i, k;
  struct volume *v;
  uint64_t now = pool_now (pool);
  int r = 0;

  sv_lock (&pool->mu, LOCK_POOL);
  for (v = pool->volumes; v; v = v->next) {
    /* The snapshot with the id, and the one of the set with that id
     * (one per volume at most, each), in list order: found through the
     * index, not by a scan of the list. */
    ssize_t hit[2];

    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    volume_snap_matches (v, id, hit);
    for (k = 0; k < 2; k++) {
      struct snap *s;

      if (hit[k] < 0)
        continue;
      s = &v->snaps[hit[k]];
      if (s->open_count > 0) {
        char sid[UUID_STRLEN + 1];
        uuid_format (&s->id, sid);
        sv_rwunlock (&v->snap_lock, LOCK_SNAP);
        sv_unlock (&pool->mu, LOCK_POOL);
        free (vic);
        return sv_error (EBUSY, "snapshot %s of volume %s is exported to %"
                         PRIu32 " connection(s); nothing was deleted",
                         sid, v->name, s->open_count);
      }
      if (v->nclones > 0 && clone_check_delete (pool, v, s) == -1) {
        sv_rwunlock (&v->snap_lock, LOCK_SNAP);
        sv_unlock (&pool->mu, LOCK_POOL);
        free (vic);
        return -1;
      }
      if (hold_check_delete (v, s, now) == -1) {
        sv_rwunlock (&v->snap_lock, LOCK_SNAP);
        sv_unlock (&pool->mu, LOCK_POOL);
        free (vic);
        return -1;
      }
      if (nvic == cap) {
        struct victim *nv = vector_grow (vic, nvic, &cap, 1, sizeof *nv);
        if (nv == NULL) {
          sv_rwunlock (&v->snap_lock, LOCK_SNAP);
          sv_unlock (&pool->mu, LOCK_POOL);
          free (vic);
          return sv_error (ENOMEM, "out of memory");
        }
        vic = nv;
      }
      vic[nvic].v = v;
      vic[nvic].id = s->id;
      nvic++;
    }
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  }
  if (nvic == 0) {
    sv_unlock (&pool->mu, LOCK_POOL);
    return sv_error (ENOENT, "no snapshot or snapshot set with id %s", idstr);
  }
  /* Remove them from the lists while no view can open them. */
  for (i = 0; i < nvic; i++) {
    vic[i].v->busy++;
    if (volume_snap_remove (vic[i].v, &vic[i].id) == -1 && r == 0)
      r = -1;
  }
  sv_unlock (&pool->mu, LOCK_POOL);

  /* Reclaim and make durable, volume by volume. */
  for (i = 0; i < nvic; i++) {
    int seen = 0;

    for (k = 0; k < i; k++)
      seen |= vic[k].v == vic[i].v;
    if (!seen && volume_reclaim_removed (vic[i].v) == -1 && r == 0)
      r = -1;
  }
  sv_lock (&pool->mu, LOCK_POOL);
  for (i = 0; i < nvic; i++)
    vic[i].v->busy--;
  sv_unlock (&pool->mu, LOCK_POOL);
  free (vic);
  if (ndeleted)
    *ndeleted = nvic;
  return r;
}

int
pool_snapshot_delete (struct sv_pool *pool, const char *id, size_t *ndeleted)
{
  struct uuid u;

  if (ndeleted)
    *ndeleted = 0;
  if (uuid_parse (id, &u) == -1)
    return sv_error (EINVAL, "invalid snapshot id '%.64s': expected a UUID",
                     id);
  return delete_matching (pool, &u, id, ndeleted);
}
