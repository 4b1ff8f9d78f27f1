/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * pool.c: the pool: its directory, the registry of volumes, snapshot
 * sets pinned across volumes (hold, commit, release) and views.
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
 *      the sum of its volumes'.
 * Writes are held only for steps 1-3, which do no I/O.  If step 4
 * fails, the set's snapshots are deleted before the error is returned.
 *
 * Design notes: opening a pool (pool_open)
 * ----------------------------------------
 *   1. With CREATE: make the directory (EEXIST is fine: a retry) and
 *      fsync its parent, whether or not this call made it: a creation
 *      that failed in its sync, or was killed, left a name that may not
 *      be durable.
 *   2. Read the pool header, or with CREATE and none there, write it
 *      aside, sync, rename into place, fsync the directory.
 *   3. Make volumes/ if missing; fsync the pool directory and volumes/,
 *      always.  A process killed (kill -9) between a rename and its
 *      directory sync (the header, a volume's creation or deletion)
 *      leaves names only the page cache holds; opening on them and
 *      then losing power must not lose a pool or volume that this open
 *      served, nor bring back one whose files step 4 removed.
 *   4. Remove the leftovers of unfinished creations (.tmp-*) and
 *      deletions (.deleted-*), then open (recover) each volume
 *      (volopen.c has the volume's own phases).
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
#include "volume.h"

/* The engine applies the protocol's name and label rules. */
_Static_assert (SV_NAME_MAX == PROTO_NAME_MAX, "one name limit");
_Static_assert (SV_LABEL_MAX == PROTO_LABEL_MAX, "one label limit");

#define IO(p) ((p)->io->ops)
#define MAX_SET_VOLUMES 1024
#define DEFAULT_FLUSH_THREADS 16

struct sv_hold {
  size_t n;
  struct volume **vols;         /* in request order */
};

struct sv_view {
  struct sv_pool *pool;
  struct volume *v;
  int is_snap;
  struct snap snap;             /* a copy: the list may move */
};

int
sv_check_name (const char *name)
{
  char why[256];

  if (proto_check_name ("volume name", name, false, why, sizeof why) == -1)
    return sv_error (EINVAL, "%s", why);
  return 0;
}

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

/* Sync the directory that holds PATH's name. */
static int
sync_parent (struct sv_pool *pool, const char *path)
{
  char parent[4096];
  size_t n = strlen (path);

  while (n > 1 && path[n - 1] == '/')
    n--;
  while (n > 0 && path[n - 1] != '/')
    n--;
  while (n > 1 && path[n - 1] == '/')
    n--;
  if (n == 0)
    snprintf (parent, sizeof parent, ".");
  else if (n >= sizeof parent)
    return sv_error (ENAMETOOLONG, "%s: path too long", path);
  else
    snprintf (parent, sizeof parent, "%.*s", (int) n, path);
  if (IO (pool)->syncdir (pool->io->opaque, parent) == -1)
    return sv_error (errno, "fsync: %s: %m", parent);
  return 0;
}

/* Pool header. */

static int
pool_header (struct sv_pool *pool, int create)
{
  char path[4096], tmp[4096];
  uint8_t blk[SV_BLOCK];
  uint32_t cs;
  ssize_t r;
  int h;

  snprintf (path, sizeof path, "%s/snapvol.pool", pool->dir);
  h = IO (pool)->open (pool->io->opaque, path, O_RDONLY, 0);
  if (h == -1 && errno == ENOENT && create) {
    struct uuid u;
    if (uuid_generate (&u) == -1)
      return sv_error (errno, "getrandom: %m");
    memset (blk, 0, sizeof blk);
    put_le32 (blk + POOL_OFF_CLUSTER, pool->default_cluster_size);
    memcpy (blk + POOL_OFF_UUID, u.b, 16);
    ondisk_seal (blk, &ondisk_pool, 0);
    /* Written aside and renamed into place, so that a crash leaves
     * either no header (the creation had not returned; it can be run
     * again) or a whole one, never a short file every open refuses. */
    snprintf (tmp, sizeof tmp, "%s/snapvol.pool.tmp", pool->dir);
    h = IO (pool)->open (pool->io->opaque, tmp,
                         O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (h == -1)
      return sv_error (errno, "create: %s: %m", tmp);
    if (IO (pool)->pwrite (pool->io->opaque, h, blk, SV_BLOCK, 0) != SV_BLOCK ||
        IO (pool)->sync (pool->io->opaque, h) == -1) {
      int e = errno;
      IO (pool)->close (pool->io->opaque, h);
      return sv_error (e, "write: %s: %m", tmp);
    }
    IO (pool)->close (pool->io->opaque, h);
    if (IO (pool)->rename (pool->io->opaque, tmp, path) == -1)
      return sv_error (errno, "rename: %s to %s: %m", tmp, path);
    if (IO (pool)->syncdir (pool->io->opaque, pool->dir) == -1)
      return sv_error (errno, "fsync: %s: %m", pool->dir);
    memcpy (pool->uuid.b, u.b, 16);
    return 0;
  }
  if (h == -1)
    return sv_error (errno, errno == ENOENT
                     ? "%s is not a snapvol pool (no snapvol.pool file)"
                     : "open: %s: %m", errno == ENOENT ? pool->dir : path);
  r = IO (pool)->pread (pool->io->opaque, h, blk, SV_BLOCK, 0);
  IO (pool)->close (pool->io->opaque, h);
  if (ondisk_pool_decode (blk, r, path, pool->uuid.b, &cs) == -1)
    return -1;
  /* The pool's default, chosen at its creation, unless the caller
   * chose another for the volumes it creates now. */
  if (!pool->cluster_size_given)
    pool->default_cluster_size = cs;
  return 0;
}

/* Remove DIR and the files in it (a volume's directory has no
 * subdirectories). */
static void
remove_tree (struct sv_pool *pool, const char *dir)
{
  char **names = NULL, path[4096];
  size_t n = 0, i;

  if (IO (pool)->listdir (pool->io->opaque, dir, &names, &n) == 0) {
    for (i = 0; i < n; i++) {
      snprintf (path, sizeof path, "%s/%s", dir, names[i]);
      IO (pool)->unlink (pool->io->opaque, path);
      free (names[i]);
    }
    free (names);
  }
  IO (pool)->rmdir (pool->io->opaque, dir);
}

static void
insert_volume (struct sv_pool *pool, struct volume *v)
{
  struct volume **pp = &pool->volumes;

  pthread_mutex_lock (&pool->ids_mu);
  while (*pp && strcmp ((*pp)->name, v->name) < 0)
    pp = &(*pp)->next;
  v->next = *pp;
  *pp = v;
  pthread_mutex_unlock (&pool->ids_mu);
}

static struct volume *
find_volume (struct sv_pool *pool, const char *name)
{
  struct volume *v;

  for (v = pool->volumes; v; v = v->next)
    if (strcmp (v->name, name) == 0)
      return v;
  return NULL;
}

int
pool_lock (const char *dir)
{
  char path[4096];
  int fd;

  snprintf (path, sizeof path, "%s/snapvol.pool", dir);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return sv_error (errno, "open: %s: %m", path);
  /* flock, not fcntl: the lock belongs to the open file, so it follows
   * the descriptor into a forked (daemonised) nbdkit, and closing some
   * other descriptor of the file does not drop it. */
  if (flock (fd, LOCK_EX | LOCK_NB) == -1) {
    int e = errno;
    close (fd);
    if (e == EWOULDBLOCK)
      return sv_error (EBUSY, "pool %s is in use by another process (is it"
                       " being served?)", dir);
    return sv_error (e, "flock: %s: %m", path);
  }
  return fd;
}

static void pool_free (struct sv_pool *pool);

/* A pool handle for DIR with OPTS resolved, nothing opened. */
static struct sv_pool *
pool_new (const char *dir, const struct sv_pool_options *opts)
{
  struct sv_pool *pool = calloc (1, sizeof *pool);
  uint32_t cs = opts && opts->default_cluster_size
    ? opts->default_cluster_size : SV_CLUSTER_DEFAULT;

  if (pool == NULL) {
    sv_error (ENOMEM, "out of memory");
    return NULL;
  }
  pthread_mutex_init (&pool->mu, NULL);
  pthread_mutex_init (&pool->ids_mu, NULL);
  pthread_cond_init (&pool->hold_cv, NULL);
  pool->lock_fd = -1;
  pool->io = opts && opts->io ? opts->io : &sio_posix;
  pool->checkpoint_bytes = opts && opts->checkpoint_bytes
    ? opts->checkpoint_bytes : DEFAULT_CHECKPOINT_BYTES;
  pool->flush_threads = opts && opts->flush_threads
    ? opts->flush_threads : DEFAULT_FLUSH_THREADS;
  pool->fill_depth = opts && opts->fill_depth
    ? opts->fill_depth : SV_FILL_DEPTH_DEFAULT;
  pool->prealloc = !opts || opts->prealloc == 0 ? SV_PREALLOC_DEFAULT
    : opts->prealloc == SV_PREALLOC_NONE ? 0 : opts->prealloc;
  pool->default_cluster_size = cs;
  pool->cluster_size_given = opts && opts->default_cluster_size;
  if (!ondisk_cluster_size_ok (cs)) {
    sv_error (EINVAL, "invalid cluster size %" PRIu32 ": it must be a power"
              " of two from 4096 to 1048576", cs);
    goto err;
  }
  pool->dir = strdup (dir);
  if (pool->dir == NULL ||
      asprintf (&pool->voldir, "%s/volumes", dir) == -1) {
    pool->voldir = NULL;
    sv_error (ENOMEM, "out of memory");
    goto err;
  }
  return pool;

 err:;
  int e = errno;
  pool_free (pool);
  errno = e;
  return NULL;
}

/* Steps 1 to 3 of pool_open: the directories and the header, durable,
 * and the pool's lock. */
static int
pool_prepare (struct sv_pool *pool, int create)
{
  /* 1. */
  if (create) {
    if (IO (pool)->mkdir (pool->io->opaque, pool->dir, 0700) == -1 &&
        errno != EEXIST)
      return sv_error (errno, "mkdir: %s: %m", pool->dir);
    /* The directory's name lives in its parent: without this a power
     * loss can take the whole pool, volumes and all. */
    if (sync_parent (pool, pool->dir) == -1)
      return -1;
  }
  /* 2. */
  if (pool_header (pool, create) == -1)
    return -1;
  /* One process at a time owns a pool's files: recovery and the
   * in-memory state assume no one else writes them.  (A test's
   * simulated disk has no real files to lock.) */
  if (pool->io == &sio_posix &&
      (pool->lock_fd = pool_lock (pool->dir)) == -1)
    return -1;
  /* 3. */
  if (IO (pool)->mkdir (pool->io->opaque, pool->voldir, 0700) == -1 &&
      errno != EEXIST)
    return sv_error (errno, "mkdir: %s: %m", pool->voldir);
  if (IO (pool)->syncdir (pool->io->opaque, pool->dir) == -1)
    return sv_error (errno, "fsync: %s: %m", pool->dir);
  if (IO (pool)->syncdir (pool->io->opaque, pool->voldir) == -1)
    return sv_error (errno, "fsync: %s: %m", pool->voldir);
  return 0;
}

/* Step 4 of pool_open for the entry NAME of volumes/: finish an
 * unfinished creation or deletion, or open (recover) the volume. */
static int
pool_adopt_entry (struct sv_pool *pool, const char *name)
{
  char path[4096];
  struct volume *v;

  snprintf (path, sizeof path, "%s/%s", pool->voldir, name);
  if (name[0] == '.') {
    if (strncmp (name, ".tmp-", 5) == 0 || strncmp (name, ".deleted-", 9) == 0)
      remove_tree (pool, path);
    return 0;
  }
  if (sv_check_name (name) == -1) {
    sv_error_prefix ("%s", path);
    return -1;
  }
  v = volume_open (pool, path, name);
  if (v == NULL)
    return -1;
  insert_volume (pool, v);
  return 0;
}

struct sv_pool *
pool_open (const char *dir, const struct sv_pool_options *opts, int create)
{
  struct sv_pool *pool = pool_new (dir, opts);
  char **names = NULL;
  size_t n = 0, i;
  int r = 0;

  if (pool == NULL)
    return NULL;
  if (pool_prepare (pool, create) == -1)
    goto err;
  /* 4. */
  if (IO (pool)->listdir (pool->io->opaque, pool->voldir, &names, &n) == -1) {
    sv_error (errno, "opendir: %s: %m", pool->voldir);
    goto err;
  }
  for (i = 0; i < n && r == 0; i++)
    r = pool_adopt_entry (pool, names[i]);
  for (i = 0; i < n; i++)
    free (names[i]);
  free (names);
  if (r == 0)
    return pool;

 err:;
  int e = errno;
  pool_free (pool);
  errno = e;
  return NULL;
}

static void
pool_free (struct sv_pool *pool)
{
  while (pool->volumes) {
    struct volume *v = pool->volumes;
    pool->volumes = v->next;
    volume_close (v, 0);
  }
  if (pool->lock_fd != -1)
    close (pool->lock_fd);      /* after the volumes' last writes */
  pthread_mutex_destroy (&pool->mu);
  pthread_mutex_destroy (&pool->ids_mu);
  pthread_cond_destroy (&pool->hold_cv);
  free (pool->voldir);
  free (pool->dir);
  free (pool);
}

uint32_t
pool_default_cluster_size (struct sv_pool *pool)
{
  return pool->default_cluster_size;
}

int
pool_close (struct sv_pool *pool)
{
  int r = 0;
  char msg[1024] = "";

  while (pool->volumes) {
    struct volume *v = pool->volumes;
    pool->volumes = v->next;
    if (volume_close (v, 1) == -1 && r == 0) {
      r = -1;
      snprintf (msg, sizeof msg, "%s", sv_errmsg ());
    }
  }
  pool_free (pool);
  if (r == -1)
    sv_error (EIO, "%s", msg);
  return r;
}

/* Volumes. */

int
pool_volume_create (struct sv_pool *pool, const char *name, uint64_t size,
                    uint32_t cluster_size)
{
  char voldir[4096], tmpdir[4096];
  struct volume *v;
  struct uuid u;
  char us[UUID_STRLEN + 1];

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
  if (uuid_generate (&u) == -1)
    return sv_error (errno, "getrandom: %m");
  uuid_format (&u, us);
  snprintf (voldir, sizeof voldir, "%s/%s", pool->voldir, name);
  snprintf (tmpdir, sizeof tmpdir, "%s/.tmp-%s-%s", pool->voldir, name, us);

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&pool->mu);
  if (find_volume (pool, name))
    return sv_error (EEXIST, "volume %s already exists", name);
  if (volume_create_files (pool, voldir, tmpdir, name, size,
                           cluster_size) == -1) {
    int e = errno;
    remove_tree (pool, tmpdir);
    errno = e;
    sv_error_prefix ("volume %s: create", name);
    return -1;
  }
  v = volume_open (pool, voldir, name);
  if (v == NULL)
    return -1;
  insert_volume (pool, v);
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

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&pool->mu);
  v = find_volume (pool, name);
  if (v == NULL)
    return sv_error (ENOENT, "no volume named %s", name);
  if (v->open_count > 0)
    return sv_error (EBUSY, "volume %s is in use by %" PRIu32
                     " connection(s)", name, v->open_count);
  if (v->held || v->busy)
    return sv_error (EBUSY, "volume %s is busy with a snapshot operation",
                     name);
  pthread_rwlock_rdlock (&v->snap_lock);
  if (v->nsnaps > 0) {
    size_t ns = v->nsnaps;
    pthread_rwlock_unlock (&v->snap_lock);
    return sv_error (ENOTEMPTY, "volume %s has %zu snapshot(s): delete them"
                     " first", name, ns);
  }
  pthread_rwlock_unlock (&v->snap_lock);

  snprintf (voldir, sizeof voldir, "%s/%s", pool->voldir, name);
  snprintf (gone, sizeof gone, "%s/.deleted-%s-%s", pool->voldir, name, us);
  /* The volume is gone once the rename is durable. */
  if (IO (pool)->rename (pool->io->opaque, voldir, gone) == -1)
    return sv_error (errno, "volume %s: rename: %m", name);
  if (IO (pool)->syncdir (pool->io->opaque, pool->voldir) == -1)
    return sv_error (errno, "volume %s: fsync %s: %m", name, pool->voldir);
  pthread_mutex_lock (&pool->ids_mu);
  for (pp = &pool->volumes; *pp != v; pp = &(*pp)->next)
    ;
  *pp = v->next;
  pthread_mutex_unlock (&pool->ids_mu);
  volume_close (v, 0);
  remove_tree (pool, gone);
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

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&pool->mu);
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

  pthread_mutex_lock (&pool->mu);
  for (i = 0; i < n; i++)
    vv[i]->busy--;
  pthread_mutex_unlock (&pool->mu);
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
    pthread_mutex_lock (&pool->mu);
    vi[i].open_count = v->open_count;
    pthread_mutex_unlock (&pool->mu);
  }
  ungrab_volumes (pool, vv, nv);
  *out = vi;
  *n = nv;
  return 0;
}

int
pool_snapshot_list (struct sv_pool *pool, const char *volume,
                    struct sv_snapshot_info **out, size_t *n)
{
  struct volume **vv;
  struct sv_snapshot_info *all = NULL;
  size_t nv, i, nall = 0;

  if (volume && sv_check_name (volume) == -1)
    return -1;
  if (grab_volumes (pool, volume, &vv, &nv) == -1)
    return -1;
  for (i = 0; i < nv; i++) {
    struct sv_volume_info vi;
    struct sv_snapshot_info *si, *na;
    size_t nsi, k;

    if (volume_space (vv[i], &vi, &si, &nsi) == -1) {
      free (all);
      ungrab_volumes (pool, vv, nv);
      return -1;
    }
    na = realloc (all, (nall + nsi + 1) * sizeof *na);
    if (na == NULL) {
      free (si);
      free (all);
      ungrab_volumes (pool, vv, nv);
      return sv_error (ENOMEM, "out of memory");
    }
    all = na;
    pthread_mutex_lock (&pool->mu);
    pthread_rwlock_rdlock (&vv[i]->snap_lock);
    for (k = 0; k < nsi; k++) {
      struct uuid id;
      ssize_t idx;
      uuid_parse (si[k].id, &id);
      idx = volume_snap_index (vv[i], &id, 0);
      si[k].open_count = idx >= 0 ? vv[i]->snaps[idx].open_count : 0;
    }
    pthread_rwlock_unlock (&vv[i]->snap_lock);
    pthread_mutex_unlock (&pool->mu);
    memcpy (all + nall, si, nsi * sizeof *si);
    nall += nsi;
    free (si);
  }
  ungrab_volumes (pool, vv, nv);
  if (all == NULL && (all = malloc (sizeof *all)) == NULL)
    return sv_error (ENOMEM, "out of memory");
  *out = all;
  *n = nall;
  return 0;
}

/* Snapshots. */

struct victim {
  struct volume *v;
  struct uuid id;
};

/* Delete every snapshot whose id (or set id) is ID. */
static int
delete_matching (struct sv_pool *pool, const struct uuid *id,
                 const char *idstr, size_t *ndeleted)
{
  struct victim *vic = NULL;
  size_t nvic = 0, cap = 0, i, k;
  struct volume *v;
  int r = 0;

  pthread_mutex_lock (&pool->mu);
  for (v = pool->volumes; v; v = v->next) {
    /* The snapshot with the id, and the one of the set with that id
     * (one per volume at most, each), in list order: found through the
     * index, not by a scan of the list. */
    ssize_t hit[2];

    pthread_rwlock_rdlock (&v->snap_lock);
    hit[0] = volume_snap_index (v, id, 0);
    hit[1] = volume_snap_index (v, id, 1);
    if (hit[1] == hit[0] || (hit[0] >= 0 && hit[1] >= 0 && hit[1] < hit[0])) {
      ssize_t t = hit[0];
      hit[0] = hit[1];
      hit[1] = hit[1] == t ? -1 : t;
    }
    for (k = 0; k < 2; k++) {
      struct snap *s;

      if (hit[k] < 0)
        continue;
      s = &v->snaps[hit[k]];
      if (s->open_count > 0) {
        char sid[UUID_STRLEN + 1];
        uuid_format (&s->id, sid);
        pthread_rwlock_unlock (&v->snap_lock);
        pthread_mutex_unlock (&pool->mu);
        free (vic);
        return sv_error (EBUSY, "snapshot %s of volume %s is exported to %"
                         PRIu32 " connection(s); nothing was deleted",
                         sid, v->name, s->open_count);
      }
      if (nvic == cap) {
        struct victim *nv;
        cap = cap ? cap * 2 : 8;
        nv = realloc (vic, cap * sizeof *nv);
        if (nv == NULL) {
          pthread_rwlock_unlock (&v->snap_lock);
          pthread_mutex_unlock (&pool->mu);
          free (vic);
          return sv_error (ENOMEM, "out of memory");
        }
        vic = nv;
      }
      vic[nvic].v = v;
      vic[nvic].id = s->id;
      nvic++;
    }
    pthread_rwlock_unlock (&v->snap_lock);
  }
  if (nvic == 0) {
    pthread_mutex_unlock (&pool->mu);
    return sv_error (ENOENT, "no snapshot or snapshot set with id %s", idstr);
  }
  /* Remove them from the lists while no view can open them. */
  for (i = 0; i < nvic; i++) {
    vic[i].v->busy++;
    if (volume_snap_remove (vic[i].v, &vic[i].id) == -1 && r == 0)
      r = -1;
  }
  pthread_mutex_unlock (&pool->mu);

  /* Reclaim and make durable, volume by volume. */
  for (i = 0; i < nvic; i++) {
    int seen = 0;
    for (k = 0; k < i; k++)
      seen |= vic[k].v == vic[i].v;
    if (seen)
      continue;
    pthread_mutex_lock (&vic[i].v->admin_mu);
    if (volume_reclaim (vic[i].v) == -1 && r == 0)
      r = -1;
    pthread_mutex_unlock (&vic[i].v->admin_mu);
    if (volume_flush (vic[i].v) == -1 && r == 0)
      r = -1;
  }
  pthread_mutex_lock (&pool->mu);
  for (i = 0; i < nvic; i++)
    vic[i].v->busy--;
  pthread_mutex_unlock (&pool->mu);
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

  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += wait_ms / 1000;
  deadline.tv_nsec += (long) (wait_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000;
  }

  pthread_mutex_lock (&pool->mu);
  for (i = 0; i < n; i++) {
    hold->vols[i] = find_volume (pool, volumes[i]);
    if (hold->vols[i] == NULL) {
      pthread_mutex_unlock (&pool->mu);
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
        pthread_mutex_unlock (&pool->mu);
        sv_error (EBUSY, "volume %s is held by another snapshot operation",
                  v->name);
        goto err;
      }
    }
    v->held = 1;
    v->busy++;
  }
  pthread_mutex_unlock (&pool->mu);

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
  pthread_mutex_lock (&pool->mu);
  for (i = 0; i < hold->n; i++) {
    hold->vols[i]->held = 0;
    hold->vols[i]->busy--;
  }
  pthread_cond_broadcast (&pool->hold_cv);
  pthread_mutex_unlock (&pool->mu);
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
    pthread_rwlock_rdlock (&v->snap_lock);
    idx = volume_snap_index (v, set, 1);
    pthread_rwlock_unlock (&v->snap_lock);
    if (idx >= 0)
      return sv_error (EEXIST, "volume %s already has a snapshot in set %s",
                       v->name, setstr);
  }
  for (v = pool->volumes; v; v = v->next) {
    pthread_rwlock_rdlock (&v->snap_lock);
    idx = volume_snap_index (v, set, 0);
    pthread_rwlock_unlock (&v->snap_lock);
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
  pthread_mutex_lock (&pool->ids_mu);
  if (set_id_taken (pool, hold, &set, set_id) == -1) {
    pthread_mutex_unlock (&pool->ids_mu);
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
  pthread_mutex_unlock (&pool->ids_mu);
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
        pthread_mutex_lock (&hold->vols[i]->admin_mu);
        volume_reclaim (hold->vols[i]);
        pthread_mutex_unlock (&hold->vols[i]->admin_mu);
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

/* Views. */

struct sv_view *
view_open (struct sv_pool *pool, const char *export)
{
  char name[SV_NAME_MAX + 1];
  const char *at = strchr (export, '@');
  size_t len = at ? (size_t) (at - export) : strlen (export);
  struct sv_view *view;
  struct volume *v;

  if (len > SV_NAME_MAX) {
    sv_error (ENOENT, "no export named '%.80s': the volume name is too long",
              export);
    return NULL;
  }
  memcpy (name, export, len);
  name[len] = '\0';
  if (sv_check_name (name) == -1) {
    sv_error_prefix ("export '%.80s'", export);
    errno = ENOENT;
    return NULL;
  }
  view = calloc (1, sizeof *view);
  if (view == NULL) {
    sv_error (ENOMEM, "out of memory");
    return NULL;
  }

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&pool->mu);
  v = find_volume (pool, name);
  if (v == NULL) {
    free (view);
    sv_error (ENOENT, "no export named '%.80s': there is no volume %s",
              export, name);
    return NULL;
  }
  view->pool = pool;
  view->v = v;
  if (at) {
    struct uuid id;
    ssize_t idx;

    if (uuid_parse (at + 1, &id) == -1) {
      free (view);
      sv_error (ENOENT, "no export named '%.80s': '%.40s' is not a snapshot"
                " or set id (a UUID)", export, at + 1);
      return NULL;
    }
    pthread_rwlock_rdlock (&v->snap_lock);
    idx = volume_snap_index (v, &id, 0);
    if (idx < 0)
      idx = volume_snap_index (v, &id, 1);
    if (idx < 0) {
      pthread_rwlock_unlock (&v->snap_lock);
      free (view);
      sv_error (ENOENT, "no export named '%.80s': volume %s has no snapshot"
                " or set with id %s", export, name, at + 1);
      return NULL;
    }
    v->snaps[idx].open_count++;
    view->snap = v->snaps[idx];
    view->is_snap = 1;
    pthread_rwlock_unlock (&v->snap_lock);
  }
  else
    v->open_count++;
  return view;
}

void
view_close (struct sv_view *view)
{
  struct volume *v;

  if (view == NULL)
    return;
  v = view->v;
  pthread_mutex_lock (&view->pool->mu);
  if (view->is_snap) {
    ssize_t idx;
    pthread_rwlock_rdlock (&v->snap_lock);
    idx = volume_snap_index (v, &view->snap.id, 0);
    if (idx >= 0)
      v->snaps[idx].open_count--;
    pthread_rwlock_unlock (&v->snap_lock);
  }
  else
    v->open_count--;
  pthread_mutex_unlock (&view->pool->mu);
  free (view);
}

int
view_is_snapshot (const struct sv_view *view)
{
  return view->is_snap;
}

uint64_t
view_size (const struct sv_view *view)
{
  return view->is_snap ? view->snap.size : view->v->size;
}

static void
format_time (uint64_t t, char *buf, size_t len)
{
  time_t tt = (time_t) t;
  struct tm tm;

  if (gmtime_r (&tt, &tm) == NULL ||
      strftime (buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf (buf, len, "%" PRIu64, t);
}

void
view_describe (struct sv_view *view, char *buf, size_t len)
{
  struct volume *v = view->v;
  char when[64];

  if (view->is_snap) {
    char id[UUID_STRLEN + 1], set[UUID_STRLEN + 1];
    uuid_format (&view->snap.id, id);
    uuid_format (&view->snap.set, set);
    format_time (view->snap.created, when, sizeof when);
    snprintf (buf, len, "snapshot %s of volume %s (set %s), read-only, %"
              PRIu64 " bytes, generation %" PRIu32 ", created %s%s%s%s",
              id, v->name, set, view->snap.size, view->snap.gen, when,
              view->snap.label[0] ? ", label '" : "", view->snap.label,
              view->snap.label[0] ? "'" : "");
  }
  else {
    size_t ns;
    pthread_rwlock_rdlock (&v->snap_lock);
    ns = v->nsnaps;
    pthread_rwlock_unlock (&v->snap_lock);
    format_time (v->created, when, sizeof when);
    snprintf (buf, len, "volume %s, live, %" PRIu64 " bytes, cluster %"
              PRIu32 ", %zu snapshot(s), created %s", v->name, v->size,
              v->cluster_size, ns, when);
  }
}

void
view_block_size (const struct sv_view *view, uint32_t *minimum,
                 uint32_t *preferred, uint32_t *maximum)
{
  *minimum = 1;
  *preferred = view->v->subcluster_size;
  *maximum = 64 * 1024 * 1024;
}

static int
refuse_snapshot (struct sv_view *view, const char *what)
{
  char id[UUID_STRLEN + 1];

  uuid_format (&view->snap.id, id);
  return sv_error (EROFS, "%s refused: %s@%s is a read-only snapshot",
                   what, view->v->name, id);
}

int
view_pread (struct sv_view *view, void *buf, uint32_t count, uint64_t offset)
{
  return volume_pread (view->v, view->is_snap ? &view->snap : NULL, buf,
                       count, offset);
}

int
view_pwrite (struct sv_view *view, const void *buf, uint32_t count,
             uint64_t offset, int fua)
{
  if (view->is_snap)
    return refuse_snapshot (view, "write");
  return volume_pwrite (view->v, buf, count, offset, fua);
}

int
view_zero (struct sv_view *view, uint32_t count, uint64_t offset,
           int may_trim, int fast, int fua)
{
  uint32_t ss = view->v->subcluster_size;
  uint64_t end = offset + count;

  if (view->is_snap)
    return refuse_snapshot (view, "zero");
  if (offset > view->v->size || count > view->v->size - offset)
    return sv_error (EINVAL, "volume %s: request [%" PRIu64 ", +%" PRIu32
                     ") is past the end (size %" PRIu64 ")",
                     view->v->name, offset, count, view->v->size);
  /* Whole subclusters are a metadata change; edges are data writes. */
  if (fast && count > 0 &&
      (offset % ss != 0 || (end % ss != 0 && end != view->v->size)))
    return sv_error (ENOTSUP, "volume %s: fast zero of [%" PRIu64 ", +%"
                     PRIu32 ") would write partial %" PRIu32
                     "-byte blocks as data", view->v->name, offset, count, ss);
  return volume_zero (view->v, count, offset, 0, fua);
}

int
view_trim (struct sv_view *view, uint32_t count, uint64_t offset, int fua)
{
  if (view->is_snap)
    return refuse_snapshot (view, "trim");
  return volume_zero (view->v, count, offset, 1, fua);
}

int
view_flush (struct sv_view *view)
{
  return volume_flush (view->v);
}

int
view_cache (struct sv_view *view, uint32_t count, uint64_t offset)
{
  return volume_cache (view->v, view->is_snap ? &view->snap : NULL, count,
                       offset);
}

int
view_extents (struct sv_view *view, uint32_t count, uint64_t offset,
              int req_one, sv_extent_fn fn, void *opaque)
{
  return volume_extents (view->v, view->is_snap ? &view->snap : NULL, count,
                         offset, req_one, fn, opaque);
}
