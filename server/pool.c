/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * pool.c: the pool's lifecycle: its directory, header and lock, opening
 * (recovering) and closing it, and the list of its volumes.  The other
 * jobs of the pool are in poolvol.c (volumes and snapshots: create,
 * delete, list), poolset.c (snapshot sets: hold, pin, commit) and
 * view.c (views: exports opened for I/O).
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
 *      Read the policies (DIR/policy, policyfile.c) and set the space
 *      policy's limit and reserve before any volume allocates.
 *   4. Remove the leftovers of unfinished creations (.tmp-*) and
 *      deletions (.deleted-*), then open (recover) each volume
 *      (volopen.c has the volume's own phases).
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
#include "volume.h"
#include "lockorder.h"

/* The engine applies the protocol's name and label rules. */
_Static_assert (SV_NAME_MAX == PROTO_NAME_MAX, "one name limit");
_Static_assert (SV_LABEL_MAX == PROTO_LABEL_MAX, "one label limit");

#define IO(p) ((p)->io->ops)



int
sv_check_name (const char *name)
{
  char why[256];

  if (proto_check_name ("volume name", name, false, why, sizeof why) == -1)
    return sv_error (EINVAL, "%s", why);
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

int
pool_new_volume_dirs (struct sv_pool *pool, const char *name,
                      char *voldir, char *tmpdir)
{
  char us[UUID_STRLEN + 1];
  struct uuid u;

  if (uuid_generate (&u) == -1)
    return sv_error (errno, "getrandom: %m");
  uuid_format (&u, us);
  snprintf (voldir, PATH_MAX, "%s/%s", pool->voldir, name);
  snprintf (tmpdir, PATH_MAX, "%s/.tmp-%s-%s", pool->voldir, name, us);
  return 0;
}

/* Remove DIR and the files in it (a volume's directory has no
 * subdirectories). */
void
pool_remove_tree (struct sv_pool *pool, const char *dir)
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

void
pool_insert_volume (struct sv_pool *pool, struct volume *v)
{
  struct volume **pp = &pool->volumes;

  sv_lock (&pool->ids_mu, LOCK_IDS);
  while (*pp && strcmp ((*pp)->name, v->name) < 0)
    pp = &(*pp)->next;
  v->next = *pp;
  *pp = v;
  sv_unlock (&pool->ids_mu, LOCK_IDS);
}

struct volume *
pool_find_volume (struct sv_pool *pool, const char *name)
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

/* Clones (docs/design.md, "Clones"; clone.c makes them). */

/* Resolve the origin of the clone V: the volume its superblock names,
 * with that UUID, and its snapshot of that id and generation.  A
 * missing origin leaves V->origin NULL: the clone is listed but not
 * served (view_open refuses it).  pool->mu held, or the pool not yet
 * shared. */
static void
resolve_origin (struct sv_pool *pool, struct volume *v)
{
  struct volume *o = pool_find_volume (pool, v->origin_of.name);
  struct snap snap;
  ssize_t idx;
  int r = -1;

  if (o == NULL || o == v || !uuid_equal (&o->uuid, &v->origin_of.volume))
    return;
  memset (&snap, 0, sizeof snap);
  sv_rdlock (&o->snap_lock, LOCK_SNAP);
  idx = volume_snap_index (o, &v->origin_of.snap, 0);
  if (idx >= 0 && o->snaps[idx].gen == v->origin_of.gen) {
    snap.id = o->snaps[idx].id;
    snap.set = o->snaps[idx].set;
    snap.gen = o->snaps[idx].gen;
    snap.size = o->snaps[idx].size;
    snap.created = o->snaps[idx].created;
    r = volume_path_of (o, snap.gen, &snap.path);
  }
  sv_rwunlock (&o->snap_lock, LOCK_SNAP);
  if (r == -1)
    return;
  v->origin_snap = snap;
  o->nclones++;
  __atomic_store_n (&v->origin, o, __ATOMIC_RELEASE);
}

/* The length of V's chain of origins; a chain longer than the pool
 * (a corrupt loop) counts as the pool's length. */
static unsigned
chain_depth_of (struct sv_pool *pool, struct volume *v)
{
  unsigned d = 0, n = 0;
  struct volume *w;

  for (w = pool->volumes; w; w = w->next)
    n++;
  for (w = v; w && volume_reads_origin (w) && d < n; w = w->origin)
    d++;
  return d;
}

void
pool_clone_depths (struct sv_pool *pool)
{
  struct volume *v;

  for (v = pool->volumes; v; v = v->next)
    v->depth = chain_depth_of (pool, v);
}

int
pool_clone_names (struct sv_pool *pool, struct volume *o,
                  const struct uuid *snap, char *buf, size_t len)
{
  struct volume *c;
  size_t used = 0;
  int n = 0;

  buf[0] = '\0';
  for (c = pool->volumes; c; c = c->next) {
    if (c->origin != o || !volume_reads_origin (c) ||
        (snap && !uuid_equal (&c->origin_of.snap, snap)))
      continue;
    if (used < len)
      used += snprintf (buf + used, len - used, "%s%s", n ? ", " : "",
                        c->name);
    n++;
  }
  return n;
}

/* Join and free V's flatten if it has ended (or, with STOP, stop it
 * first).  pool->mu held; it is dropped while joining a stopped one.
 * Returns whether none is left. */
int
pool_flatten_reap (struct sv_pool *pool, struct volume *v, int stop)
{
  struct flatten *f = v->flatten;

  if (f == NULL)
    return 1;
  if (stop) {
    __atomic_store_n (&f->stop, 1, __ATOMIC_RELEASE);
    sv_unlock (&pool->mu, LOCK_POOL);
    pthread_join (f->thread, NULL);
    sv_lock (&pool->mu, LOCK_POOL);
  }
  else if (!__atomic_load_n (&f->ended, __ATOMIC_ACQUIRE))
    return 0;
  else
    pthread_join (f->thread, NULL);
  if (v->flatten == f) {
    v->flatten = NULL;
    free (f);
  }
  return 1;
}

void
pool_flatten_info (struct sv_pool *pool, struct volume *v,
                   struct sv_volume_info *vi)
{
  struct flatten *f = v->flatten;
  char s[UUID_STRLEN + 1];

  if (volume_reads_origin (v)) {
    uuid_format (&v->origin_of.snap, s);
    snprintf (vi->origin, sizeof vi->origin, "%s@%s", v->origin_of.name, s);
    vi->origin_missing = v->origin == NULL;
  }
  if (f == NULL ||
      (__atomic_load_n (&f->ended, __ATOMIC_ACQUIRE) && f->failed == 0))
    return;
  vi->flatten_done = __atomic_load_n (&f->done, __ATOMIC_ACQUIRE);
  vi->flatten_total = f->total;
  if (__atomic_load_n (&f->ended, __ATOMIC_ACQUIRE))
    snprintf (vi->flatten_error, sizeof vi->flatten_error, "%s", f->msg);
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
  pthread_mutex_init (&pool->policy_mu, NULL);
  pthread_mutex_init (&pool->apply_mu, NULL);
  pool->lock_fd = -1;
  pool->log = opts ? opts->log : NULL;
  pool->log_opaque = opts ? opts->log_opaque : NULL;
  if (space_init (&pool->space, dir) == -1) {
    free (pool);
    return NULL;
  }
  pool->io = opts && opts->io ? opts->io : &sio_posix;
  pool->checkpoint_bytes = opts && opts->checkpoint_bytes
    ? opts->checkpoint_bytes : DEFAULT_CHECKPOINT_BYTES;
  pool->flush_threads = opts && opts->flush_threads
    ? opts->flush_threads : DEFAULT_FLUSH_THREADS;
  pool->group_sync_min = opts && opts->group_sync_min
    ? opts->group_sync_min : SV_GROUP_SYNC_DEFAULT;
  pool->fill_depth = opts && opts->fill_depth
    ? opts->fill_depth : SV_FILL_DEPTH_DEFAULT;
  pool->reclaim_step = opts && opts->reclaim_step
    ? opts->reclaim_step : SV_RECLAIM_STEP_DEFAULT;
  if (pool->reclaim_step > SV_RECLAIM_STEP_MAX)
    pool->reclaim_step = SV_RECLAIM_STEP_MAX;
  pool->reclaim_inline = pool->reclaim_step *
    (opts && opts->reclaim_inline_steps ? opts->reclaim_inline_steps
     : SV_RECLAIM_INLINE_STEPS);
  pool->clock = opts ? opts->clock : NULL;
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
  /* The policies, before any volume is opened: a pool whose policy
   * file cannot be read is not served with no policy instead. */
  if (policyfile_load (pool->io, pool->dir, &pool->policies) == -1)
    return -1;
  space_set (&pool->space, pool->policies.v[0].p.space_limit
             ? pool->policies.v[0].p.space_limit : SPACE_NO_LIMIT,
             pool->policies.v[0].p.space_reserve);
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
      pool_remove_tree (pool, path);
    return 0;
  }
  if (sv_check_name (name) == -1) {
    sv_error_prefix ("%s", path);
    return -1;
  }
  v = volume_open (pool, path, name);
  if (v == NULL)
    return -1;
  pool_insert_volume (pool, v);
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
  if (r == 0) {
    struct volume *v;

    /* 5. Every volume is loaded: the clones' origins. */
    for (v = pool->volumes; v; v = v->next)
      if (volume_reads_origin (v))
        resolve_origin (pool, v);
    pool_clone_depths (pool);
    return pool;
  }

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
  pthread_mutex_destroy (&pool->policy_mu);
  pthread_mutex_destroy (&pool->apply_mu);
  policy_table_free (&pool->policies);
  free (pool->events);
  space_destroy (&pool->space);
  free (pool->voldir);
  free (pool->dir);
  free (pool);
}

uint32_t
pool_default_cluster_size (struct sv_pool *pool)
{
  return pool->default_cluster_size;
}

size_t
pool_volume_count (struct sv_pool *pool)
{
  struct volume *v;
  size_t n = 0;

  sv_lock (&pool->mu, LOCK_POOL);
  for (v = pool->volumes; v; v = v->next)
    n++;
  sv_unlock (&pool->mu, LOCK_POOL);
  return n;
}

int
pool_close (struct sv_pool *pool)
{
  int r = 0;
  char msg[1024] = "";
  struct volume *w;

  /* Running flattens stop first: they read the origins. */
  sv_lock (&pool->mu, LOCK_POOL);
  for (w = pool->volumes; w; w = w->next)
    pool_flatten_reap (pool, w, 1);
  sv_unlock (&pool->mu, LOCK_POOL);
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
