/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * volopen.c: creating, opening (recovery) and closing a volume.
 *
 * Layer (docs/design.md's map; tests/test-engine-calls-go-down.sh):
 * the volume layer's top: volopen.c > ckpt.c > snap.c > volume.c >
 * punch.c, snapidx.c.  Called by the pool layer and inspect.c.
 *
 * Design notes: recovery
 * ----------------------
 *   1. Read and check the superblock (checksum, magic, version, name).
 *   2. Load the checkpoint: snapshots and extent map as of record S.
 *   3. Replay the journal files from the checkpoint's first file,
 *      applying records after S; stop at the torn tail and cut it
 *      (truncate, fdatasync); fdatasync every other file replayed.
 *   4. Make what was read durable: fdatasync the checkpoint, fsync the
 *      volume's directory.  After a kill -9 the files may hold what
 *      only the page cache has: records written but never synced, a
 *      checkpoint renamed into place whose directory was never synced.
 *      Every step below destroys or reuses something on the strength
 *      of that state; were it lost by a power loss after them, the
 *      state the disk brings back would point at punched data, or at
 *      journal files already unlinked.  No unlink, punch or write
 *      comes before this step.
 *   5. Unlink the journal files below the checkpoint's first file
 *      (left by a checkpoint interrupted after its step 4).
 *   6. Rebuild the allocator from the map; a cluster owned twice, or
 *      one past the end of the data file (which commit rule 1 makes
 *      impossible), is corruption (EILSEQ), never silently accepted.
 *   7. Punch what no version maps (volume_punch_unmapped): free
 *      clusters, and subclusters of mapped clusters that their version
 *      does not hold.  A crash leaves data written to clusters whose
 *      mapping never became durable, and subclusters whose deferred
 *      punch (punch.c) had not run.
 *   8. Reclaim what no view reads (a crash can interrupt the reclaim
 *      that follows a snapshot deletion) and flush: the flush syncs the
 *      data file, so the punches of 7 are durable on return too.
 * The pool (pool_open) has done the same for its own directories
 * before opening any volume.
 *
 * Design notes: creation (volume_create_files)
 * --------------------------------------------
 *   1. mkdir DIR/.tmp-NAME-UUID.
 *   2. Write in it superblock, checkpoint (empty; in place, not via
 *      checkpoint.new: the directory's rename publishes it), journal.1
 *      (header, first chunk reserved) and an empty data file.  Nothing
 *      is synced yet.
 *   3. fdatasync superblock, checkpoint and journal.1, once each (data
 *      has no content: its name is all of it).
 *   4. fsync the temporary directory: the four names are durable.
 *   5. Rename it to DIR/NAME.
 *   6. fsync DIR: the rename is durable; the call returns.
 * A crash before 6 leaves the temporary directory or nothing, which
 * pool_open's step 4 removes, or (the rename kept) the whole volume,
 * every file durable since 3 and 4.  The caller then opens the volume
 * with volume_open_created: recovery's steps 1-3 and 6 without a sync
 * or a write (there is nothing that only the page cache holds, no
 * record, no old journal file, nothing to punch, reclaim or flush);
 * the journal's reservation is grown as step 8's flush would.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "errmsg.h"
#include "ondisk.h"
#include "pool-internal.h"
#include "proto.h"
#include "vector.h"
#include "volume.h"
#include "lockorder.h"

#define IO(v) ((v)->io->ops)

/* Seal superblock BLK and write it to the open file H (PATH). */
static int
write_superblock (const struct sv_io *io, int h, const char *path,
                  uint8_t *blk)
{
  ondisk_seal (blk, &ondisk_super, 0);
  if (io->ops->pwrite (io->opaque, h, blk, SV_BLOCK, 0) != SV_BLOCK)
    return sv_error (errno, "write: %s: %m", path);
  return 0;
}

static int
write_block_file (const struct sv_io *io, const char *path, uint8_t *blk)
{
  int h = io->ops->open (io->opaque, path, O_RDWR | O_CREAT | O_TRUNC, 0600);

  if (h == -1)
    return sv_error (errno, "open: %s: %m", path);
  if (write_superblock (io, h, path, blk) == -1) {
    io->ops->close (io->opaque, h);
    return -1;
  }
  if (io->ops->sync (io->opaque, h) == -1) {
    int e = errno;
    io->ops->close (io->opaque, h);
    return sv_error (e, "fdatasync: %s: %m", path);
  }
  io->ops->close (io->opaque, h);
  return 0;
}

/* The clone fields of a superblock (version 5). */
static void
encode_origin (uint8_t *sb, unsigned flags, const struct clone_origin *o)
{
  size_t n = strlen (o->name);

  put_le32 (sb + SB_OFF_FLAGS, flags);
  put_le32 (sb + SB_OFF_ORIGEN, o->gen);
  memcpy (sb + SB_OFF_ORIVOL, o->volume.b, 16);
  memcpy (sb + SB_OFF_ORISNAP, o->snap.b, 16);
  put_le32 (sb + SB_OFF_ORINAMELEN, n);
  memcpy (sb + SB_OFF_ORINAME, o->name, n);
}

/* A new volume's files, in the order creation writes them. */
enum new_file { NEW_SUPER, NEW_CKPT, NEW_JOURNAL, NEW_DATA, NEW_NFILES };

struct new_files {
  int h[NEW_NFILES];                    /* -1: not open */
  char path[NEW_NFILES][4096];
};

/* Create file NAME in DIR as file K of NF, empty. */
static int
new_file_open (const struct sv_io *io, struct new_files *nf,
               enum new_file k, const char *dir, const char *name)
{
  snprintf (nf->path[k], sizeof nf->path[k], "%s/%s", dir, name);
  nf->h[k] = io->ops->open (io->opaque, nf->path[k],
                            O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (nf->h[k] == -1)
    return sv_error (errno, "open: %s: %m", nf->path[k]);
  return 0;
}

/* Creation's step 2: write the files of NF in TMPDIR, syncing none. */
static int
new_files_write (struct sv_pool *pool, struct new_files *nf,
                 const char *tmpdir, const char *name, uint64_t size,
                 uint32_t cluster_size, const struct clone_origin *origin)
{
  const struct sv_io *io = pool->io;
  uint8_t sb[SV_BLOCK];
  struct uuid uuid;

  if (uuid_generate (&uuid) == -1)
    return sv_error (errno, "getrandom: %m");
  memset (sb, 0, sizeof sb);
  put_le32 (sb + SB_OFF_CLUSTER, cluster_size);
  put_le64 (sb + SB_OFF_SIZE, size);
  memcpy (sb + SB_OFF_UUID, uuid.b, 16);
  put_le64 (sb + SB_OFF_CREATED, (uint64_t) time (NULL));
  put_le32 (sb + SB_OFF_NAMELEN, strlen (name));
  memcpy (sb + SB_OFF_NAME, name, strlen (name));
  if (origin)
    encode_origin (sb, SB_CLONE, origin);
  if (new_file_open (io, nf, NEW_SUPER, tmpdir, "superblock") == -1 ||
      write_superblock (io, nf->h[NEW_SUPER], nf->path[NEW_SUPER], sb) == -1)
    return -1;
  /* Written in place, not through checkpoint.new and a rename as a
   * checkpoint replaces another: the rename of the whole directory
   * publishes it. */
  if (new_file_open (io, nf, NEW_CKPT, tmpdir, "checkpoint") == -1 ||
      volume_write_empty_checkpoint (io, nf->h[NEW_CKPT], nf->path[NEW_CKPT],
                                     &uuid) == -1)
    return -1;
  journal_path (nf->path[NEW_JOURNAL], sizeof nf->path[NEW_JOURNAL], tmpdir,
                1);
  nf->h[NEW_JOURNAL] = journal_start_file (io, tmpdir, &uuid, 1,
                                           journal_chunk_for
                                           (pool->checkpoint_bytes));
  if (nf->h[NEW_JOURNAL] == -1)
    return -1;
  return new_file_open (io, nf, NEW_DATA, tmpdir, "data");
}

/* Creation's step 3: fdatasync each file that has content, once.  The
 * data file is empty: its name, which the directory's sync makes
 * durable, is all there is of it. */
static int
new_files_sync (const struct sv_io *io, struct new_files *nf)
{
  int k;

  for (k = 0; k < NEW_NFILES; k++)
    if (k != NEW_DATA && io->ops->sync (io->opaque, nf->h[k]) == -1)
      return sv_error (errno, "fdatasync: %s: %m", nf->path[k]);
  return 0;
}

int
volume_create_files (struct sv_pool *pool, const char *voldir,
                     const char *tmpdir, const char *name, uint64_t size,
                     uint32_t cluster_size, const struct clone_origin *origin)
{
  const struct sv_io *io = pool->io;
  struct new_files nf;
  int k, r;

  for (k = 0; k < NEW_NFILES; k++)
    nf.h[k] = -1;
  /* 1. */
  if (io->ops->mkdir (io->opaque, tmpdir, 0700) == -1)
    return sv_error (errno, "mkdir: %s: %m", tmpdir);
  /* 2, 3. */
  r = new_files_write (pool, &nf, tmpdir, name, size, cluster_size, origin);
  if (r == 0)
    r = new_files_sync (io, &nf);
  for (k = 0; k < NEW_NFILES; k++) {
    int e = errno;
    if (nf.h[k] != -1)
      io->ops->close (io->opaque, nf.h[k]);
    errno = e;
  }
  if (r == -1)
    return -1;
  /* 4. */
  if (io->ops->syncdir (io->opaque, tmpdir) == -1)
    return sv_error (errno, "fsync: %s: %m", tmpdir);
  /* 5.  The volume exists once the rename is durable (6). */
  if (io->ops->rename (io->opaque, tmpdir, voldir) == -1)
    return sv_error (errno, "rename: %s: %m", voldir);
  /* 6. */
  if (io->ops->syncdir (io->opaque, pool->voldir) == -1)
    return sv_error (errno, "fsync: %s: %m", pool->voldir);
  return 0;
}

static int decode_origin (struct volume *v, const uint8_t *sb);

static int
read_superblock (struct volume *v, const char *name)
{
  uint8_t sb[SV_BLOCK];
  char path[4096];
  ssize_t r;
  uint32_t namelen, cs;
  int h;

  snprintf (path, sizeof path, "%s/superblock", v->dir);
  h = IO (v)->open (v->io->opaque, path, O_RDONLY, 0);
  if (h == -1)
    return sv_error (errno, "volume %s: open %s: %m", name, path);
  r = IO (v)->pread (v->io->opaque, h, sb, SV_BLOCK, 0);
  IO (v)->close (v->io->opaque, h);
  if (ondisk_check (sb, r, &ondisk_super, 0, path) == -1) {
    sv_error_prefix ("volume %s", name);
    return -1;
  }
  namelen = get_le32 (sb + SB_OFF_NAMELEN);
  if (namelen != strlen (name) ||
      memcmp (sb + SB_OFF_NAME, name, namelen) != 0)
    return sv_error (EILSEQ, "volume %s: superblock names another volume",
                     name);
  cs = get_le32 (sb + SB_OFF_CLUSTER);
  if (!ondisk_cluster_size_ok (cs))
    return sv_error (EILSEQ, "volume %s: superblock has an invalid cluster"
                     " size %" PRIu32, name, cs);
  v->cluster_size = cs;
  v->size = get_le64 (sb + SB_OFF_SIZE);
  if (v->size == 0 || v->size % 512 ||
      v->size / cs + (v->size % cs != 0) > (uint64_t) UINT32_MAX)
    return sv_error (EILSEQ, "volume %s: superblock has an invalid size %"
                     PRIu64, name, v->size);
  memcpy (v->uuid.b, sb + SB_OFF_UUID, 16);
  v->created = get_le64 (sb + SB_OFF_CREATED);
  if (get_le32 (sb + OFF_VERSION) >= 5)
    return decode_origin (v, sb);
  return 0;
}

/* The clone fields of a version 5 superblock. */
static int
decode_origin (struct volume *v, const uint8_t *sb)
{
  struct clone_origin *o = &v->origin_of;
  uint32_t flags = get_le32 (sb + SB_OFF_FLAGS), n;
  char why[256];

  if (flags & ~(SB_CLONE | SB_FLATTENED))
    return sv_error (EILSEQ, "volume %s: superblock has unknown flags 0x%"
                     PRIx32, v->name, flags);
  v->sb_flags = flags;
  if (!(flags & SB_CLONE))
    return 0;
  n = get_le32 (sb + SB_OFF_ORINAMELEN);
  if (n == 0 || n > SV_NAME_MAX)
    return sv_error (EILSEQ, "volume %s: superblock names an origin with an"
                     " invalid name length %" PRIu32, v->name, n);
  memcpy (o->name, sb + SB_OFF_ORINAME, n);
  o->name[n] = '\0';
  if (proto_check_name ("volume name", o->name, false, why,
                        sizeof why) == -1)
    return sv_error (EILSEQ, "volume %s: superblock names an invalid origin"
                     " volume: %s", v->name, why);
  o->gen = get_le32 (sb + SB_OFF_ORIGEN);
  if (o->gen == 0 || o->gen == UINT32_MAX)
    return sv_error (EILSEQ, "volume %s: superblock names an origin snapshot"
                     " of invalid generation %" PRIu32, v->name, o->gen);
  memcpy (o->volume.b, sb + SB_OFF_ORIVOL, 16);
  memcpy (o->snap.b, sb + SB_OFF_ORISNAP, 16);
  return 0;
}

int
volume_rewrite_superblock (struct volume *v, unsigned flags)
{
  uint8_t sb[SV_BLOCK];
  char path[4096], tmp[4096];

  memset (sb, 0, sizeof sb);
  put_le32 (sb + SB_OFF_CLUSTER, v->cluster_size);
  put_le64 (sb + SB_OFF_SIZE, v->size);
  memcpy (sb + SB_OFF_UUID, v->uuid.b, 16);
  put_le64 (sb + SB_OFF_CREATED, v->created);
  put_le32 (sb + SB_OFF_NAMELEN, strlen (v->name));
  memcpy (sb + SB_OFF_NAME, v->name, strlen (v->name));
  if (flags & SB_CLONE)
    encode_origin (sb, flags, &v->origin_of);
  else
    put_le32 (sb + SB_OFF_FLAGS, flags);
  snprintf (tmp, sizeof tmp, "%s/superblock.new", v->dir);
  snprintf (path, sizeof path, "%s/superblock", v->dir);
  if (write_block_file (v->io, tmp, sb) == -1) {
    sv_error_prefix ("volume %s", v->name);
    return -1;
  }
  if (IO (v)->rename (v->io->opaque, tmp, path) == -1)
    return sv_error (errno, "volume %s: rename %s: %m", v->name, tmp);
  if (IO (v)->syncdir (v->io->opaque, v->dir) == -1)
    return sv_error (errno, "volume %s: fsync %s: %m", v->name, v->dir);
  return 0;
}

int
volume_apply_record (void *opaque, unsigned type, const uint8_t *p,
                     size_t len, uint64_t seq)
{
  struct volume *v = opaque;
  struct snap s;
  struct ext x;
  struct uuid id;
  uint64_t vci;
  ssize_t k;

  switch (type) {
  case JR_ENTRY_PUT:
    if (len != JR_ENTRY_PUT_LEN)
      break;
    vci = get_le64 (p);
    x.gen = get_le32 (p + 8);
    x.phys = get_le32 (p + 12);
    x.alloc = get_le64 (p + 16);
    x.zero = get_le64 (p + 24);
    if (volume_check_ext (v, vci, &x) == -1)
      return -1;
    if (x.gen > v->live_gen)
      return sv_error (EILSEQ, "volume %s: cluster %" PRIu64 " mapped at"
                       " generation %" PRIu32 ", beyond the live one %"
                       PRIu32, v->name, vci, x.gen, v->live_gen);
    if (extmap_put (&v->map, vci, &x) == -1)
      return sv_error (ENOMEM, "volume %s: out of memory", v->name);
    return 0;

  case JR_ENTRY_DROP:
    if (len != JR_ENTRY_DROP_LEN)
      break;
    vci = get_le64 (p);
    if (vci >= v->nclusters ||
        extmap_drop (&v->map, vci, get_le32 (p + 8)) == -1)
      return sv_error (EILSEQ, "volume %s: drop of a mapping that does not"
                       " exist (cluster %" PRIu64 ")", v->name, vci);
    return 0;

  case JR_SNAP_CREATE:
    if (volume_decode_snap (v, p, len, &s) == -1)
      return -1;
    if (s.gen < v->live_gen)
      return sv_error (EILSEQ, "volume %s: snapshot pins generation %"
                       PRIu32 " older than the live one %" PRIu32,
                       v->name, s.gen, v->live_gen);
    if (volume_snap_index (v, &s.id, 0) >= 0)
      return sv_error (EILSEQ, "volume %s: two snapshot records carry"
                       " the same id", v->name);
    return volume_snap_insert (v, &s);

  case JR_SNAP_DELETE:
    if (len != 16)
      break;
    memcpy (id.b, p, 16);
    k = volume_snap_index (v, &id, 0);
    if (k >= 0) {
      hold_free_all (&v->snaps[k]);   /* its holds go with it */
      snapidx_del (v, &v->snaps[k]);
      memmove (&v->snaps[k], &v->snaps[k + 1],
               (v->nsnaps - k - 1) * sizeof v->snaps[0]);
      v->nsnaps--;
      /* Replayed records are durable: no pending deletion. */
      v->latest_gen = v->nsnaps ? v->snaps[v->nsnaps - 1].gen : 0;
      return 0;
    }
    return sv_error (EILSEQ, "volume %s: deletion of an unknown snapshot",
                     v->name);

  case JR_SNAP_HOLD:
  case JR_SNAP_RELEASE:
    return hold_apply (v, type, p, len);

  case JR_REVERT:
    if (len != JR_REVERT_LEN)
      break;
    return volume_revert_add (v, get_le32 (p), get_le32 (p + 4));

  default:
    return sv_error (EILSEQ, "volume %s: unknown journal record type %u",
                     v->name, type);
  }
  return sv_error (EILSEQ, "volume %s: journal record of type %u has"
                   " length %zu", v->name, type, len);
}

/* Rebuild the allocator from the map (recovery step 4).  DATA_SIZE is
 * the data file's size: commit rule 1 (data durable before the record
 * that maps it) means every mapped cluster starts inside the file, so a
 * mapping past its end is corrupt metadata, and is refused before it
 * can size the allocator's bitmap (one bad record would otherwise cost
 * up to 512 MiB of memory).  *MAPPED_END: the end of the last mapped
 * cluster. */
static int
rebuild_alloc (struct volume *v, uint64_t data_size, uint64_t *mapped_end)
{
  uint64_t vci = 0;

  *mapped_end = 0;

  while (extmap_next (&v->map, &vci)) {
    union extvec_buf evbuf;
    const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
    uint32_t k;

    for (k = 0; k < ev->n; k++) {
      if (ev->v[k].phys == PHYS_NONE)
        continue;
      if ((uint64_t) ev->v[k].phys * v->cluster_size >= data_size)
        return sv_error (EILSEQ, "volume %s: cluster %" PRIu64 " generation %"
                         PRIu32 " maps physical cluster %" PRIu32 ", past the"
                         " end of the data file (%" PRIu64 " bytes)",
                         v->name, vci, ev->v[k].gen, ev->v[k].phys,
                         data_size);
      if (((uint64_t) ev->v[k].phys + 1) * v->cluster_size > *mapped_end)
        *mapped_end = ((uint64_t) ev->v[k].phys + 1) * v->cluster_size;
      if (alloc_mark (&v->alloc, ev->v[k].phys) == -1)
        return sv_error (EILSEQ, "volume %s: physical cluster %" PRIu32
                         " is mapped twice (again by cluster %" PRIu64
                         " generation %" PRIu32 ")", v->name,
                         ev->v[k].phys, vci, ev->v[k].gen);
    }
    vci++;
  }
  return 0;
}

/* A mapped version that holds only some subclusters of its cluster. */
struct partial {
  uint32_t phys;
  uint64_t unused;              /* subclusters it does not hold */
};

static int
cmp_partial (const void *a, const void *b)
{
  const struct partial *x = a, *y = b;

  return x->phys < y->phys ? -1 : x->phys > y->phys;
}

/* The versions of the map that hold part of their cluster, sorted by
 * physical cluster (*NP may be 0; NULL only on ENOMEM). */
static struct partial *
partial_versions (struct volume *v, size_t *np)
{
  uint64_t full = v->nsub == 64 ? ~0ull : (1ull << v->nsub) - 1;
  struct partial *pv = NULL;
  size_t n = 0, cap = 0;
  uint64_t vci = 0;

  while (extmap_next (&v->map, &vci)) {
    union extvec_buf evbuf;
    const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
    uint32_t k;

    for (k = 0; k < ev->n; k++) {
      if (ev->v[k].phys == PHYS_NONE || ev->v[k].alloc == full)
        continue;
      if (n == cap) {
        struct partial *np2 = vector_grow (pv, n, &cap, 1, sizeof *np2);
        if (np2 == NULL) {
          free (pv);
          return NULL;
        }
        pv = np2;
      }
      pv[n++] = (struct partial) {
        .phys = ev->v[k].phys, .unused = full & ~ev->v[k].alloc,
      };
    }
    vci++;
  }
  if (pv == NULL && (pv = malloc (sizeof *pv)) == NULL)
    return NULL;
  qsort (pv, n, sizeof *pv, cmp_partial);
  *np = n;
  return pv;
}

void
volume_punch_unmapped (struct volume *v)
{
  uint64_t size, p, nclust, ss = v->subcluster_size, cs = v->cluster_size;
  uint64_t run = 0, run_end = 0;
  struct partial *pv;
  size_t n = 0, k = 0;

  if (IO (v)->size (v->io->opaque, v->data, &size) == -1)
    return;
  pv = partial_versions (v, &n);
  if (pv == NULL)
    return;                     /* ENOMEM: the space stays used, harmless */
  nclust = (size + cs - 1) / cs;
  /* One pass in file order, merging neighbouring ranges (the unused
   * tail of one cluster, free clusters, the head of the next) into one
   * punch each. */
  for (p = 0; p < nclust && p < PHYS_NONE; p++) {
    uint64_t unused, s;

    if (!alloc_test (&v->alloc, p))
      unused = v->nsub == 64 ? ~0ull : (1ull << v->nsub) - 1;
    else {
      while (k < n && pv[k].phys < p)
        k++;
      unused = k < n && pv[k].phys == p ? pv[k].unused : 0;
    }
    for (s = 0; s < v->nsub; s++) {
      uint64_t off = p * cs + s * ss;
      if (!((unused >> s) & 1))
        continue;
      if (run_end != off) {
        if (run_end > run)
          IO (v)->punch (v->io->opaque, v->data, run, run_end - run);
        run = off;
      }
      run_end = off + ss;
    }
  }
  if (run_end > run)
    IO (v)->punch (v->io->opaque, v->data, run, run_end - run);
  free (pv);
}

/* Make durable what recovery read (step 3b): the replayed journal files
 * were synced by journal_open; the checkpoint may have been renamed into
 * place by a process killed before its directory sync. */
static int
make_recovered_durable (struct volume *v)
{
  char path[4096];
  int h;

  snprintf (path, sizeof path, "%s/checkpoint", v->dir);
  h = IO (v)->open (v->io->opaque, path, O_RDONLY, 0);
  if (h == -1)
    return sv_error (errno, "volume %s: open %s: %m", v->name, path);
  if (IO (v)->sync (v->io->opaque, h) == -1) {
    int e = errno;
    IO (v)->close (v->io->opaque, h);
    return sv_error (e, "volume %s: fdatasync: %s: %m", v->name, path);
  }
  IO (v)->close (v->io->opaque, h);
  if (IO (v)->syncdir (v->io->opaque, v->dir) == -1)
    return sv_error (errno, "volume %s: fsync: %s: %m", v->name, v->dir);
  return 0;
}

static void
volume_free (struct volume *v)
{
  int i;

  if (v->data != -1)
    IO (v)->close (v->io->opaque, v->data);
  extmap_free (&v->map);
  alloc_destroy (&v->alloc);
  for (i = 0; i < VOL_STRIPES; i++)
    pthread_rwlock_destroy (&v->stripe[i]);
  pthread_rwlock_destroy (&v->snap_lock);
  pthread_mutex_destroy (&v->admin_mu);
  pthread_mutex_destroy (&v->fl_mu);
  pthread_cond_destroy (&v->fl_cv);
  pthread_mutex_destroy (&v->gate.mu);
  pthread_cond_destroy (&v->gate.cv);
  pthread_mutex_destroy (&v->punch_mu);
  pending_punch_free (v);
  free (v->pend_del);
  free (v->dead_queue);
  free (v->dead_job.e);
  deadidx_free (&v->dead);
  pthread_mutex_destroy (&v->rc_mu);
  pthread_cond_destroy (&v->rc_cv);
  for (i = 0; i < (int) v->nsnaps; i++)
    hold_free_all (&v->snaps[i]);
  free (v->snaps);
  snapidx_free (v);
  free (v->reverts);
  free (v->origin_snap.path);
  free (v->live_path);
  for (i = 0; i < (int) v->nold_paths; i++)
    free (v->old_paths[i]);
  free (v->old_paths);
  free (v->dir);
  free (v);
}

/* volume_open, or with CREATED volume_open_created: a volume whose
 * files its caller has just created and made durable, name included
 * (volume_create_files).  Recovery's steps then change nothing and
 * sync nothing: its journal holds no record and needs no sync (3), its
 * checkpoint and directory are durable (4), there are no old journal
 * files (5), no superblock.new, nothing mapped, so nothing to punch (7)
 * or reclaim, and nothing to flush (8). */
static struct volume *
open_volume (struct sv_pool *pool, const char *dir, const char *name,
             int created)
{
  struct volume *v;
  uint64_t last_seq, jfirst, torn, data_size, mapped_end;
  char path[4096];

  /* 1. */
  v = volume_prepare (pool, dir, name);
  if (v == NULL)
    return NULL;

  /* 2. */
  if (volume_load_checkpoint (v, &last_seq, &jfirst) == -1)
    goto err;

  /* 3. */
  if (journal_open (&v->journal, v->io, dir, &v->uuid, jfirst, last_seq,
                    journal_chunk_for (v->checkpoint_bytes),
                    volume_apply_record, v, &torn,
                    created ? JOURNAL_OPEN_CREATED : 0) == -1) {
    sv_error_prefix ("volume %s", name);
    goto err;
  }

  if (!created) {
    /* 4. */
    if (make_recovered_durable (v) == -1)
      goto err;

    /* 5. */
    journal_remove_old (&v->journal, jfirst);

    /* A flatten's end killed before its rename left superblock.new. */
    snprintf (path, sizeof path, "%s/superblock.new", dir);
    IO (v)->unlink (v->io->opaque, path);
  }

  /* 6. */
  snprintf (path, sizeof path, "%s/data", dir);
  v->data = IO (v)->open (v->io->opaque, path, O_RDWR, 0);
  if (v->data == -1) {
    sv_error (errno, "volume %s: open %s: %m", name, path);
    goto err;
  }
  if (IO (v)->size (v->io->opaque, v->data, &data_size) == -1) {
    sv_error (errno, "volume %s: size of %s: %m", name, path);
    goto err;
  }
  if (rebuild_alloc (v, data_size, &mapped_end) == -1)
    goto err;
  /* What lies past the last mapped cluster (a reservation, or data
   * whose mapping never became durable) is punched in step 7 and will
   * be reserved again as clusters are allocated there. */
  v->prealloc_end = mapped_end;

  if (created) {
    v->reclaim_from = UINT32_MAX;       /* nothing to reclaim */
    /* The journal's reservation, as step 8's flush leaves it: pins
     * take from it without I/O.  Creation reserved these blocks, so
     * this finds them allocated (best effort, as in the flush). */
    journal_reserve (&v->journal, 0, JOURNAL_WRITE);
    return v;
  }

  /* 7. */
  volume_punch_unmapped (v);

  /* 8. */
  if (volume_reclaim (v) == -1 || volume_flush (v) == -1)
    goto err;
  volume_dead_build (v);
  return v;

 err:;
  int e = errno;
  if (v->journal.h != -1)
    journal_close (&v->journal);
  volume_free (v);
  errno = e;
  return NULL;
}

struct volume *
volume_open (struct sv_pool *pool, const char *dir, const char *name)
{
  return open_volume (pool, dir, name, 0);
}

struct volume *
volume_open_created (struct sv_pool *pool, const char *dir, const char *name)
{
  return open_volume (pool, dir, name, 1);
}

int
volume_close (struct volume *v, int checkpoint)
{
  int r = 0, e;

  volume_reclaim_stop (v);
  if (!__atomic_load_n (&v->failed, __ATOMIC_SEQ_CST)) {
    r = volume_flush (v);
    if (r == 0 && checkpoint) {
      sv_lock (&v->admin_mu, LOCK_ADMIN);
      r = volume_checkpoint (v);
      sv_unlock (&v->admin_mu, LOCK_ADMIN);
    }
  }
  e = errno;
  journal_close (&v->journal);
  volume_free (v);
  errno = e;
  return r;
}

/* The offline checker (check.c) reads a volume without recovering it:
 * the same allocation and superblock checks as volume_open's first
 * step, and nothing opened for writing. */

struct volume *
volume_prepare (struct sv_pool *pool, const char *dir, const char *name)
{
  struct volume *v = calloc (1, sizeof *v);
  int i;

  if (v == NULL) {
    sv_error (ENOMEM, "volume %s: out of memory", name);
    return NULL;
  }
  v->pool = pool;
  v->io = pool->io;
  v->data = -1;
  v->journal.h = -1;
  v->checkpoint_bytes = pool->checkpoint_bytes;
  v->checkpoint = volume_checkpoint;
  snprintf (v->name, sizeof v->name, "%s", name);
  for (i = 0; i < VOL_STRIPES; i++)
    pthread_rwlock_init (&v->stripe[i], NULL);
  pthread_rwlock_init (&v->snap_lock, NULL);
  pthread_mutex_init (&v->admin_mu, NULL);
  pthread_mutex_init (&v->fl_mu, NULL);
  v->data_synced = UINT64_MAX;  /* the first flush cycle syncs the data */
  pthread_cond_init (&v->fl_cv, NULL);
  pthread_mutex_init (&v->gate.mu, NULL);
  pthread_cond_init (&v->gate.cv, NULL);
  pthread_mutex_init (&v->punch_mu, NULL);
  deadidx_init (&v->dead);
  pthread_mutex_init (&v->rc_mu, NULL);
  pthread_cond_init (&v->rc_cv, NULL);
  alloc_init (&v->alloc);
  v->live_gen = 1;
  if ((v->dir = strdup (dir)) == NULL) {
    sv_error (ENOMEM, "volume %s: out of memory", name);
    goto err;
  }
  if (read_superblock (v, name) == -1)
    goto err;
  v->subcluster_size = v->cluster_size / 64 > 4096 ? v->cluster_size / 64
    : 4096;
  v->nsub = v->cluster_size / v->subcluster_size;
  /* The pool's space account counts this volume's clusters. */
  v->alloc.shared = &pool->space.used;
  v->alloc.shared_unpunched = &pool->space.unpunched;
  v->alloc.unit = v->cluster_size;
  v->nclusters = (v->size + v->cluster_size - 1) / v->cluster_size;
  if (extmap_init (&v->map, v->nclusters) == -1) {
    sv_error (ENOMEM, "volume %s: out of memory", name);
    goto err;
  }
  return v;

 err:;
  int e = errno;
  volume_free (v);
  errno = e;
  return NULL;
}

void
volume_free_unopened (struct volume *v)
{
  volume_free (v);
}
