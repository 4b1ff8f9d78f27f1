/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * volume.c: a volume's data path: reads, copy-on-write writes, zero and
 * trim, block status, and the group-commit flush.
 *
 * Layer (docs/design.md's map; tests/test-engine-calls-go-down.sh):
 * the volume layer's bottom: volopen.c > ckpt.c > snap.c > volume.c >
 * punch.c, snapidx.c.  Calls only punch.c and the layers below (journal,
 * map, allocator); the checkpoint it triggers goes through
 * v->checkpoint.
 *
 * Design notes
 * ------------
 * Copy-on-write decision (write_cluster).  Let L be the latest pinned
 * generation.  The newest version of a cluster can be written in place
 * iff its gen > L: then no snapshot can see it.  Otherwise the write
 * goes to a new version at the live generation, in a newly allocated
 * cluster, holding only the subclusters written; the others fall
 * through to older versions.  A partially written subcluster is
 * completed from the bytes the live volume reads there (a 4 KiB
 * read-modify-write at most, never a whole cluster), except when the
 * new version would fall through fill_depth versions or more (32 by
 * default, sv_pool_options): then it is filled completely so that
 * reads stay bounded.  The depth that
 * counts is the chain a read can walk (chain_depth): from the newest
 * version down to the first one below which every subcluster is
 * defined, not every version the cluster keeps for its snapshots.  A
 * cluster rewritten between every pair of snapshots thus pays one
 * whole-cluster fill per fill_depth copies on write, not one per
 * write once it has fill_depth versions.  A read resolves all its
 * subclusters in one walk down the chain (resolve_range), so the
 * depth costs it once per cluster, not once per subcluster.
 *
 * Concurrency.  Writes, zeroes and trims enter the volume's write gate
 * (lock-free unless a hold is in progress) and take the write lock of
 * the cluster's stripe across the data pwrite and the journal append,
 * so that for one cluster the order of records in the journal is the
 * order of changes in memory.  Reads take the stripe's read lock.
 *
 * Flush (volume_flush): numbered phases, one cycle at a time, each
 * cycle covering every request completed before it started:
 *   1. take the buffered journal records;
 *   2. fdatasync the data file (the data every record maps), unless
 *      nothing changed it since the last sync that succeeded began:
 *      every pwrite, subcluster punch and extension of the data file
 *      is counted after it returns and before the write is acknowledged
 *      or its record appended (not the punch of a free cluster, which
 *      no record maps), so an unchanged count means the records of
 *      phase 1 map only data already durable (a pin or a deletion on
 *      an idle volume then costs one fdatasync, the journal's);
 *   3. write the records to the journal file and fdatasync it;
 *   4. release clusters and subclusters freed by records now durable:
 *      punch holes, then make the clusters allocatable; a reclaim
 *      defers the punches of whole clusters, and their clusters wait
 *      (volume.h, "Deferred punches").
 * A failed fdatasync of the data file fails the volume: the page cache
 * can no longer be trusted, so every later request fails with EIO until
 * the pool is reopened and the journal replayed.
 *
 * Running out of space.  A write, zero or trim that changes the map
 * reserves its journal record's space (journal.h, "Space") before it
 * writes data or changes memory: on a full filesystem it fails there
 * with ENOSPC and nothing changed, and the volume goes on (reads,
 * flushes, writes that change no bitmap); it works again once space is
 * back.  Data space comes from the data file's pwrite, which fails
 * with ENOSPC before anything is recorded.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "crc32c.h"
#include "errmsg.h"
#include "ondisk.h"
#include "pool-internal.h"
#include "volume.h"
#include "lockorder.h"

#define IO(v) ((v)->io->ops)

enum { SUB_HOLE = 0, SUB_ZERO = 1, SUB_DATA = 2 };

static inline uint64_t
bits_range (unsigned first, unsigned last)
{
  uint64_t hi = last >= 63 ? ~0ull : (1ull << (last + 1)) - 1;
  return hi & ~((1ull << first) - 1);
}

static inline uint64_t
all_bits (const struct volume *v)
{
  return bits_range (0, v->nsub - 1);
}

/* The generations the live volume sees: NULL until it is reverted.
 * Writers read it inside the gate (it changes only while the gate is
 * held); readers load it once per request (volume_pread). */
static inline const struct genpath *
live_path (struct volume *v)
{
  return __atomic_load_n (&v->live_path, __ATOMIC_ACQUIRE);
}

/* What the view of PATH whose newest visible version is TOP reads in
 * subcluster S. */
static int
resolve (const struct extvec *ev, const struct genpath *path, int top,
         unsigned s, uint32_t *phys)
{
  uint64_t bit = 1ull << s;
  int i;

  for (i = top; i >= 0; i = extvec_older (ev, path, i)) {
    if (ev->v[i].alloc & bit) {
      *phys = ev->v[i].phys;
      return SUB_DATA;
    }
    if (ev->v[i].zero & bit)
      return SUB_ZERO;
  }
  return SUB_HOLE;
}

/* What the view whose newest visible version is TOP reads in each
 * subcluster of [S0, S1]: KIND[s] and, for data, PHYS[s].  One walk
 * down the versions, ending as soon as all of them are found, so that
 * a read costs the depth of the chain once, not once per subcluster. */
static void
resolve_range (const struct extvec *ev, const struct genpath *path, int top,
               unsigned s0, unsigned s1, uint8_t *kind, uint32_t *phys)
{
  uint64_t want = bits_range (s0, s1), seen = 0;
  unsigned s;
  int i;

  for (i = top; i >= 0 && seen != want; i = extvec_older (ev, path, i)) {
    uint64_t d = ev->v[i].alloc & want & ~seen;
    uint64_t z = ev->v[i].zero & want & ~seen & ~d;

    for (; d; d &= d - 1) {
      s = (unsigned) __builtin_ctzll (d);
      kind[s] = SUB_DATA;
      phys[s] = ev->v[i].phys;
    }
    for (; z; z &= z - 1)
      kind[__builtin_ctzll (z)] = SUB_ZERO;
    seen |= (ev->v[i].alloc | ev->v[i].zero) & want;
  }
  for (s = s0; s <= s1; s++)
    if (!((seen >> s) & 1))
      kind[s] = SUB_HOLE;
}

/* How many versions a read from a new version on top of TOP may walk:
 * versions TOP, TOP-1, ... down to the first at which every subcluster
 * is defined (data or zero) by it or a newer one, or to the oldest. */
static int
chain_depth (struct volume *v, const struct extvec *ev, int top)
{
  const struct genpath *path = live_path (v);
  uint64_t all = all_bits (v), seen = 0;
  int i, d = 0;

  for (i = top; i >= 0 && seen != all; i = extvec_older (ev, path, i)) {
    seen |= ev->v[i].alloc | ev->v[i].zero;
    d++;
  }
  return d;
}

/* Gate. */

static void
gate_enter (struct gate *g)
{
  for (;;) {
    __atomic_add_fetch (&g->inflight, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n (&g->held, __ATOMIC_SEQ_CST))
      return;
    /* A hold is in progress: step back out and wait for its end. */
    if (__atomic_sub_fetch (&g->inflight, 1, __ATOMIC_SEQ_CST) == 0) {
      pthread_mutex_lock (&g->mu);
      pthread_cond_broadcast (&g->cv);
      pthread_mutex_unlock (&g->mu);
    }
    pthread_mutex_lock (&g->mu);
    while (__atomic_load_n (&g->held, __ATOMIC_SEQ_CST))
      pthread_cond_wait (&g->cv, &g->mu);
    pthread_mutex_unlock (&g->mu);
  }
}

static void
gate_leave (struct gate *g)
{
  if (__atomic_sub_fetch (&g->inflight, 1, __ATOMIC_SEQ_CST) == 0 &&
      __atomic_load_n (&g->held, __ATOMIC_SEQ_CST)) {
    pthread_mutex_lock (&g->mu);
    pthread_cond_broadcast (&g->cv);
    pthread_mutex_unlock (&g->mu);
  }
}

void
gate_hold (struct gate *g)
{
  pthread_mutex_lock (&g->mu);
  __atomic_add_fetch (&g->held, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n (&g->inflight, __ATOMIC_SEQ_CST) > 0)
    pthread_cond_wait (&g->cv, &g->mu);
  pthread_mutex_unlock (&g->mu);
}

void
gate_release (struct gate *g)
{
  pthread_mutex_lock (&g->mu);
  if (__atomic_sub_fetch (&g->held, 1, __ATOMIC_SEQ_CST) == 0)
    pthread_cond_broadcast (&g->cv);
  pthread_mutex_unlock (&g->mu);
}

/* Journal helpers. */

/* The caller reserved VOL_PUT_BYTES (VOL_DROP_BYTES) of journal
 * space for each record. */
uint64_t
volume_log_put (struct volume *v, uint64_t vci, const struct ext *x)
{
  uint8_t p[JR_ENTRY_PUT_LEN];

  put_le64 (p, vci);
  put_le32 (p + 8, x->gen);
  put_le32 (p + 12, x->phys);
  put_le64 (p + 16, x->alloc);
  put_le64 (p + 24, x->zero);
  return journal_append_reserved (&v->journal, JR_ENTRY_PUT, p, sizeof p);
}

uint64_t
volume_log_drop (struct volume *v, uint64_t vci, uint32_t gen)
{
  uint8_t p[JR_ENTRY_DROP_LEN];

  memset (p, 0, sizeof p);
  put_le64 (p, vci);
  put_le32 (p + 8, gen);
  return journal_append_reserved (&v->journal, JR_ENTRY_DROP, p, sizeof p);
}

/* A write, zero or trim of cluster VCI that gets no journal space:
 * ENOSPC (or the reservation's own error) and nothing changed. */
static int
no_journal_space (struct volume *v, uint64_t vci)
{
  return sv_error (errno, "volume %s: cannot reserve journal space for"
                   " cluster %" PRIu64 " in %s/journal.%016" PRIx64 ": %m;"
                   " nothing was changed (free space, then write again)",
                   v->name, vci, v->dir, v->journal.number);
}

/* A journal append that fails leaves memory ahead of what can ever be
 * made durable: fail the volume rather than acknowledge it. */
/* Check a version read from disk. */
int
volume_check_ext (struct volume *v, uint64_t vci, const struct ext *x)
{
  uint64_t valid = v->nsub == 64 ? ~0ull : (1ull << v->nsub) - 1;

  if (vci >= v->nclusters)
    return sv_error (EILSEQ, "volume %s: mapping for cluster %" PRIu64
                     " beyond the end (%" PRIu64 " clusters)",
                     v->name, vci, v->nclusters);
  /* Generation 0 holds what a flatten copied from a clone's origin. */
  if ((x->gen == 0 && !(v->sb_flags & (SB_CLONE | SB_FLATTENED))) ||
      x->gen == UINT32_MAX)
    return sv_error (EILSEQ, "volume %s: cluster %" PRIu64
                     " has a mapping with invalid generation %" PRIu32,
                     v->name, vci, x->gen);
  if ((x->alloc | x->zero) & ~valid || (x->alloc & x->zero))
    return sv_error (EILSEQ, "volume %s: cluster %" PRIu64
                     " has invalid subcluster bitmaps", v->name, vci);
  if ((x->alloc == 0) != (x->phys == PHYS_NONE))
    return sv_error (EILSEQ, "volume %s: cluster %" PRIu64
                     " has an inconsistent physical cluster", v->name, vci);
  return 0;
}

static int
fail_volume (struct volume *v, int err, const char *what)
{
  __atomic_store_n (&v->failed, err, __ATOMIC_SEQ_CST);
  return sv_error (err, "volume %s: %s: %m; the volume is stopped until"
                   " the pool is reopened", v->name, what);
}

int
volume_stopped_error (struct volume *v, int err)
{
  errno = err;
  return sv_error (err, "volume %s: fdatasync data: %m; the volume is"
                   " stopped: the page cache may hold writes the disk lost,"
                   " so every request fails with EIO until the pool is"
                   " reopened (restart the server), which replays the"
                   " journal: what was flushed is intact%s", v->name,
                   err == ENOSPC ? "; free space on the pool's filesystem"
                   " first" : "");
}

static int
check_failed (struct volume *v)
{
  int err = __atomic_load_n (&v->failed, __ATOMIC_SEQ_CST);

  if (err)
    return sv_error (EIO, "volume %s: an earlier metadata or sync failure"
                     " (%s) stopped the volume; to recover, %sreopen the"
                     " pool (restart the server): the journal is replayed"
                     " and what was flushed is intact", v->name,
                     strerror (err), err == ENOSPC
                     ? "free space on the pool's filesystem, then " : "");
  return 0;
}

/* Subcluster punches deferred until the record clearing them is
 * durable (pool-internal.h). */
static int
defer_punch (struct volume *v, uint64_t vci, uint32_t gen, uint32_t phys,
             uint64_t mask, uint64_t seq)
{
  return pending_punch_add (v, vci, gen, phys, mask, seq);
}

/* Reads. */

static int
read_data (struct volume *v, void *buf, size_t len, uint64_t off)
{
  ssize_t r = IO (v)->pread (v->io->opaque, v->data, buf, len, off);

  if (r == -1)
    return sv_error (errno, "volume %s: read data at %" PRIu64 ": %m",
                     v->name, off);
  if ((size_t) r < len)          /* beyond the end of a sparse file */
    memset ((char *) buf + r, 0, len - r);
  return 0;
}

/* Read LEN bytes at OFF (of the volume) that no version of V
 * defines: zeroes, or for a clone what its origin's snapshot reads
 * there.  The origin's stripe locks are taken inside the clone's
 * (ranks may nest: a clone's stripe before its origin's, never the
 * other way, so chains cannot deadlock).  A flatten's end clears
 * SB_CLONE, then waits for every stripe of the clone once before it
 * lets the origin go, so ORIGIN stays valid while a stripe is held. */
static int
read_hole (struct volume *v, char *buf, uint32_t len, uint64_t off)
{
  struct volume *o;

  if (!volume_reads_origin (v)) {
    memset (buf, 0, len);
    return 0;
  }
  o = __atomic_load_n (&v->origin, __ATOMIC_ACQUIRE);
  if (o == NULL)
    return sv_error (ENXIO, "volume %s: its origin %s is missing", v->name,
                     v->origin_of.name);
  return volume_pread (o, &v->origin_snap, buf, len, off);
}

/* Read [OFF, OFF+LEN) of cluster VCI as the view at GEN with PATH
 * sees it.  The caller holds the stripe lock. */
static int
read_cluster_locked (struct volume *v, uint32_t gen,
                     const struct genpath *path, uint64_t vci,
                     char *buf, uint32_t off, uint32_t len)
{
  union extvec_buf evbuf;
  const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
  int top = extvec_top_path (ev, gen, path);
  uint32_t ss = v->subcluster_size;
  uint32_t pos = off, end = off + len;
  uint8_t kinds[64];
  uint32_t physs[64];

  if (top < 0)
    return read_hole (v, buf, len, vci * v->cluster_size + off);
  resolve_range (ev, path, top, off / ss, (end - 1) / ss, kinds, physs);
  while (pos < end) {
    unsigned s = pos / ss;
    int kind = kinds[s];
    uint32_t phys = kind == SUB_DATA ? physs[s] : 0, run_end;

    /* Extend the run over following subclusters of the same kind
     * (and, for data, the same physical cluster: contiguous). */
    run_end = (s + 1) * ss;
    while (run_end < end) {
      unsigned t = run_end / ss;
      if (kinds[t] != kind || (kind == SUB_DATA && physs[t] != phys))
        break;
      run_end += ss;
    }
    if (run_end > end)
      run_end = end;
    if (kind == SUB_DATA) {
      if (read_data (v, buf + (pos - off), run_end - pos,
                     (uint64_t) phys * v->cluster_size + pos) == -1)
        return -1;
    }
    else if (kind == SUB_HOLE) {
      if (read_hole (v, buf + (pos - off), run_end - pos,
                     vci * v->cluster_size + pos) == -1)
        return -1;
    }
    else
      memset (buf + (pos - off), 0, run_end - pos);
    pos = run_end;
  }
  return 0;
}

static int
check_range (struct volume *v, uint64_t size, uint32_t count, uint64_t off)
{
  if (off > size || count > size - off)
    return sv_error (EINVAL, "volume %s: request [%" PRIu64 ", +%" PRIu32
                     ") is past the end (size %" PRIu64 ")",
                     v->name, off, count, size);
  return 0;
}

/* Read COUNT bytes at OFF into BUF as the view at GEN with PATH sees
 * them, cluster by cluster. */
static int
read_range (struct volume *v, uint32_t gen, const struct genpath *path,
            char *p, uint32_t count, uint64_t off)
{
  while (count > 0) {
    uint64_t vci = off / v->cluster_size;
    uint32_t coff = off % v->cluster_size;
    uint32_t n = v->cluster_size - coff < count ? v->cluster_size - coff : count;
    int r;

    sv_rdlock (stripe_of (v, vci), LOCK_STRIPE);
    r = read_cluster_locked (v, gen, path, vci, p, coff, n);
    sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
    if (r == -1)
      return -1;
    p += n;
    off += n;
    count -= n;
  }
  return 0;
}

int
volume_pread (struct volume *v, const struct snap *snap, void *buf,
              uint32_t count, uint64_t off)
{
  const struct genpath *path;

  /* A stopped volume's data file may have lost writes its page cache
   * still shows: a read could return what a crash would not keep. */
  if (check_range (v, snap ? snap->size : v->size, count, off) == -1 ||
      check_failed (v) == -1)
    return -1;
  if (snap)
    return read_range (v, snap->gen, snap->path, buf, count, off);
  /* The live volume: a revert may land between two clusters of the
   * read (reads do not enter the write gate).  Its path changes with
   * every revert and paths are never freed before the volume, so an
   * unchanged path at the end means no revert came in between: the
   * read saw the old content or the new one, never a mix.  Otherwise
   * it reads again; without reverts this costs one atomic load. */
  do {
    path = live_path (v);
    if (read_range (v, UINT32_MAX, path, buf, count, off) == -1)
      return -1;
  } while (live_path (v) != path);
  return 0;
}

/* Writes. */

/* Reserve the data file ahead of cluster PHYS, newly allocated, when
 * it lies past what is reserved already, and extend the file over the
 * reserved range.  The first writes after a snapshot go to new
 * clusters, each filling one subcluster of its cluster: into a hole
 * past the end of the file, each such write makes the filesystem
 * allocate a block, extend its delayed-allocation records and the
 * file's size (a journal handle per write on ext4), which costs
 * several times an overwrite; into a reserved range inside the file
 * it costs less than half of that (docs/performance.md).  A
 * reservation changes no content, so a crash or a failure here loses
 * nothing: the range reads as zeroes, no version maps it, and the
 * open punches it (volume_punch_unmapped); on ENOSPC or a filesystem
 * that cannot reserve, the writes go on into holes.  The extension
 * never shortens the file, whatever order two reservations land in.
 * One writer reserves the next range, the others go on. */
static void
prealloc_ahead (struct volume *v, uint32_t phys)
{
  uint64_t cs = v->cluster_size, start = (uint64_t) phys * cs;
  uint64_t len = v->pool->prealloc, cur, next;

  if (len == 0 || IO (v)->extend == NULL)
    return;
  cur = __atomic_load_n (&v->prealloc_end, __ATOMIC_RELAXED);
  if (start + cs <= cur)
    return;
  len = (len + cs - 1) / cs * cs;
  next = start + len;
  if (!__atomic_compare_exchange_n (&v->prealloc_end, &cur, next, 0,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    return;
  (void) IO (v)->extend (v->io->opaque, v->data, start, len);
  volume_data_changed (v);
}

/* Physical clusters taken together for one request over several
 * clusters.  Clusters allocated one at a time interleave when requests
 * run in parallel (a 1 MiB write filling new space gets every other
 * cluster, or worse, at 8 in flight), and then a later write over the
 * same range can no longer be one pwrite (write_run_in_place) and the
 * filesystem sees it scattered.  So the first cluster of a request
 * that needs a new physical cluster takes a run for all the clusters
 * left in the request; clusters that then take the write in place
 * leave theirs unused, and the request frees what is left at its end
 * (run_release).  Only the in-memory allocator knows of a run:
 * nothing is recorded until a cluster is mapped. */
struct phys_run {
  uint32_t next;                /* next physical cluster of the run */
  uint32_t left;                /* clusters of the run not yet used */
  uint32_t want;                /* clusters left in the request */
  int none;                     /* no run to be had: one by one */
};

#define RUN_MAX 512             /* clusters in one run, at most */

static void
run_release (struct volume *v, struct phys_run *run)
{
  while (run->left > 0) {
    alloc_put_now (&v->alloc, run->next++);
    run->left--;
  }
}

/* A new physical cluster, from RUN when there is one (RUN may be NULL).
 * New clusters are taken only as the pool's space policy admits them
 * (space.h): -1 with ENOSPC and *REFUSED set when it does not, the
 * message naming the limit or the reserve. */
static int
get_phys (struct volume *v, struct phys_run *run, uint32_t *p, int *refused)
{
  struct space *sp = &v->pool->space;

  *refused = 0;
  if (run != NULL && run->left == 0 && run->want >= 2 && !run->none) {
    uint32_t n = run->want < RUN_MAX ? run->want : RUN_MAX;
    /* No run (none near, the space cannot grow by N, or the policy
     * would not admit N): one cluster, which may still be found. */
    if (space_admit (sp, (uint64_t) n * v->cluster_size) == 0 &&
        alloc_get_run (&v->alloc, n, &run->next) == 0)
      run->left = n;
    else
      run->none = 1;
  }
  if (run != NULL && run->left > 0) {
    *p = run->next++;
    run->left--;
    return 0;
  }
  if (space_admit (sp, v->cluster_size) == -1) {
    *refused = 1;
    return -1;
  }
  return alloc_get (&v->alloc, p);
}

/* One cluster's write (write_cluster_locked): the version it leaves
 * and the bytes it writes. */
struct cluster_write {
  struct ext x;                 /* the version written */
  int in_place;                 /* X is the top version, changed in place */
  int fill;                     /* X is new and defines every subcluster */
  int changed;                  /* X differs from the top version: a record */
  int new_phys;                 /* X.phys was taken for this write */
  uint32_t wstart, wend;        /* the bytes of the cluster written ... */
  const char *src;              /* ... from here */
  char *bounce;                 /* owned: SRC when the data is completed */
};

static void
cluster_write_free (struct cluster_write *w)
{
  free (w->bounce);
}

#define CLEANUP_CLUSTER_WRITE __attribute__((cleanup (cluster_write_free)))

/* Choose the version that takes the write (the design notes'
 * copy-on-write decision): the top version of EV in place when no
 * snapshot can see it, else a new one at the live generation, filled
 * whole when a read would fall through fill_depth versions. */
static void
choose_version (struct volume *v, const struct extvec *ev, int top,
                struct cluster_write *w)
{
  w->in_place = top >= 0 &&
    ev->v[top].gen > __atomic_load_n (&v->latest_gen, __ATOMIC_SEQ_CST);
  if (w->in_place)
    w->x = ev->v[top];
  else {
    w->x.gen = v->live_gen;
    w->x.phys = PHYS_NONE;
    w->x.alloc = w->x.zero = 0;
    w->fill = chain_depth (v, ev, top) >= (int) v->pool->fill_depth;
  }
}

/* Define every subcluster of the new version so that reads never fall
 * through: the whole cluster as the live volume reads it, with DATA
 * (LEN bytes, subclusters MASK) at OFF. */
static int
fill_whole (struct volume *v, uint64_t vci, const struct extvec *ev,
            int top, const char *data, uint32_t off, uint32_t len,
            uint64_t mask, struct cluster_write *w)
{
  uint32_t cs = v->cluster_size, p;
  unsigned s;

  w->bounce = malloc (cs);
  if (w->bounce == NULL)
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  if (read_cluster_locked (v, UINT32_MAX, live_path (v), vci, w->bounce, 0,
                           cs) == -1)
    return -1;
  memcpy (w->bounce + off, data, len);
  for (s = 0; s < v->nsub; s++) {
    int k = (mask >> s) & 1 ? SUB_DATA
      : resolve (ev, live_path (v), top, s, &p);

    /* A clone's hole reads its origin: data. */
    if (k == SUB_DATA || (k == SUB_HOLE && volume_reads_origin (v)))
      w->x.alloc |= 1ull << s;
    else
      w->x.zero |= 1ull << s;
  }
  w->wstart = 0;
  w->wend = cs;
  w->src = w->bounce;
  return 0;
}

/* Complete partially written subclusters that hold nothing yet in
 * this version from what the live volume reads there; DATA (LEN bytes
 * at OFF) then defines subclusters MASK. */
static int
complete_partial (struct volume *v, uint64_t vci, const char *data,
                  uint32_t off, uint32_t len, uint64_t mask,
                  struct cluster_write *w)
{
  uint32_t ss = v->subcluster_size;
  unsigned s0 = off / ss, s1 = (off + len - 1) / ss;
  int head = off % ss != 0 && !((w->x.alloc >> s0) & 1);
  int tail = (off + len) % ss != 0 && !((w->x.alloc >> s1) & 1);

  if (head || tail) {
    w->wstart = head ? s0 * ss : off;
    w->wend = tail ? (s1 + 1) * ss : off + len;
    w->bounce = malloc (w->wend - w->wstart);
    if (w->bounce == NULL)
      return sv_error (ENOMEM, "volume %s: out of memory", v->name);
    if (head && read_cluster_locked (v, UINT32_MAX, live_path (v), vci,
                                     w->bounce, s0 * ss, ss) == -1)
      return -1;
    if (tail && (!head || s1 != s0) &&
        read_cluster_locked (v, UINT32_MAX, live_path (v), vci,
                             w->bounce + (s1 * ss - w->wstart), s1 * ss,
                             ss) == -1)
      return -1;
    memcpy (w->bounce + (off - w->wstart), data, len);
    w->src = w->bounce;
  }
  w->x.alloc |= mask;
  w->x.zero &= ~mask;
  return 0;
}

/* A physical cluster for the new version, from RUN if it has one.  On
 * failure the record's journal space is given back. */
static int
take_phys (struct volume *v, struct phys_run *run, struct cluster_write *w)
{
  int refused;

  if (get_phys (v, run, &w->x.phys, &refused) == -1) {
    int e = errno;
    journal_unreserve (&v->journal, VOL_PUT_BYTES);
    if (refused) {
      errno = e;                /* space_admit's message stands */
      return -1;
    }
    return sv_error (e, "volume %s: cannot allocate a cluster: %m",
                     v->name);
  }
  w->new_phys = 1;
  prealloc_ahead (v, w->x.phys);
  return 0;
}

/* pwrite LEN bytes of BUF at OFF of the data file of V, counted as a
 * change of it (volume_data_changed).  pwrite's result. */
static ssize_t
data_pwrite (struct volume *v, const void *buf, size_t len, uint64_t off)
{
  ssize_t r = IO (v)->pwrite (v->io->opaque, v->data, buf, len, off);

  volume_data_changed (v);
  return r;
}

/* Write the data of W into its physical cluster: the defined
 * subclusters of a filled version, else the bytes written.  -1 with
 * errno from the pwrite, nothing reported. */
static int
write_data (struct volume *v, const struct cluster_write *w)
{
  uint32_t ss = v->subcluster_size, cs = v->cluster_size;
  uint64_t base = (uint64_t) w->x.phys * cs;
  unsigned s;

  if (!w->fill)
    return data_pwrite (v, w->src, w->wend - w->wstart,
                        base + w->wstart) == -1 ? -1 : 0;
  for (s = 0; s < v->nsub; ) {
    unsigned e = s;
    if (!((w->x.alloc >> s) & 1)) {
      s++;
      continue;
    }
    while (e + 1 < v->nsub && ((w->x.alloc >> (e + 1)) & 1))
      e++;
    if (data_pwrite (v, w->src + s * ss, (e - s + 1) * ss,
                     base + s * ss) == -1)
      return -1;
    s = e + 1;
  }
  return 0;
}

/* Map the version of W, whose data is written: in memory, then the
 * journal record (its space reserved). */
static int
map_version (struct volume *v, uint64_t vci, const struct cluster_write *w)
{
  if (extmap_put (&v->map, vci, &w->x) == -1) {
    if (w->new_phys)
      alloc_put_now (&v->alloc, w->x.phys);
    journal_unreserve (&v->journal, VOL_PUT_BYTES);
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  }
  if (volume_log_put (v, vci, &w->x) == 0)
    return fail_volume (v, errno, "journal append");
  return 0;
}

/* Keep the dead index (deadidx.h) as version X of cluster VCI gains
 * the subclusters ADDED; EV is the cluster before the change, IS_NEW
 * says X is a new version.  A new version over older ones is noted
 * whatever it defines, since writes in place at the live generation
 * add to it later without a note; a version of an older generation
 * written in place (the newest snapshot's deletion lowered the
 * copy-on-write threshold under it) is noted when what it gains
 * shadows an older version.  Stripe write lock held, gate entered
 * (the reverts and the live generation do not move). */
static void
dead_note (struct volume *v, uint64_t vci, const struct extvec *ev,
           const struct ext *x, uint64_t added, int is_new)
{
  uint64_t older = 0;
  uint32_t k;

  if (ev == NULL || added == 0 || v->nreverts > 0)
    return;
  if (!is_new && x->gen == v->live_gen)
    return;
  for (k = 0; k < ev->n && ev->v[k].gen < x->gen; k++)
    older |= ev->v[k].alloc | ev->v[k].zero;
  if (is_new ? k == 0 : (older & added) == 0)
    return;
  deadidx_add (&v->dead, x->gen, vci, x->gen == v->live_gen);
}

/* Write LEN bytes at OFF of cluster VCI of the live volume, taking a
 * new physical cluster from RUN if it needs one (RUN may be NULL).
 * Stripe write lock held, gate entered. */
static int
write_cluster_locked (struct volume *v, uint64_t vci, const char *data,
                      uint32_t off, uint32_t len, struct phys_run *run)
{
  union extvec_buf evbuf;
  const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
  int top = extvec_top_path (ev, UINT32_MAX, live_path (v));
  uint32_t ss = v->subcluster_size;
  uint64_t mask = bits_range (off / ss, (off + len - 1) / ss);
  CLEANUP_CLUSTER_WRITE struct cluster_write w = {
    .wstart = off, .wend = off + len, .src = data,
  };
  int e;

  choose_version (v, ev, top, &w);
  if (w.fill ? fill_whole (v, vci, ev, top, data, off, len, mask, &w)
      : complete_partial (v, vci, data, off, len, mask, &w))
    return -1;

  /* The record's journal space before anything changes: on a full
   * filesystem the write fails here, with nothing written. */
  w.changed = !w.in_place || w.x.phys == PHYS_NONE ||
    ev->v[top].alloc != w.x.alloc || ev->v[top].zero != w.x.zero;
  if (w.changed &&
      journal_reserve (&v->journal, VOL_PUT_BYTES, JOURNAL_WRITE) == -1)
    return no_journal_space (v, vci);
  if (w.x.phys == PHYS_NONE && take_phys (v, run, &w) == -1)
    return -1;

  /* The data first; the mapping is recorded after it. */
  if (write_data (v, &w) == -1) {
    e = errno;
    if (w.new_phys)
      alloc_put_now (&v->alloc, w.x.phys);
    if (w.changed)
      journal_unreserve (&v->journal, VOL_PUT_BYTES);
    return sv_error (e, "volume %s: write data at cluster %" PRIu64 ": %m",
                     v->name, vci);
  }
  if (!w.changed)
    return 0;
  dead_note (v, vci, ev, &w.x, (w.x.alloc | w.x.zero) &
             ~(w.in_place ? ev->v[top].alloc | ev->v[top].zero : 0),
             !w.in_place);
  return map_version (v, vci, &w);
}

/* One write over several clusters that all take it in place: the
 * top version of each is the live volume's own and already holds data
 * in every subcluster written (so no record, no copy), and their
 * physical clusters follow one another.  Then one pwrite does what a
 * pwrite per cluster would (a 1 MiB request is 16 of them at 64 KiB
 * clusters, each paying the filesystem's per-call cost).  Takes the
 * first cluster's stripe lock and tries the next ones', so that it
 * never waits holding a lock (no lock order to keep); stops at the
 * first cluster that does not qualify.  Sets *DONE to the bytes
 * written, 0 when fewer than two clusters qualify (the caller then
 * writes cluster by cluster).  Gate entered. */
static int
write_run_in_place (struct volume *v, const char *data, uint64_t off,
                    uint32_t count, uint32_t *done)
{
  uint64_t cs = v->cluster_size, ss = v->subcluster_size;
  uint64_t c0 = off / cs, k = (off + count - 1) / cs - c0 + 1, i, m;
  uint32_t latest = __atomic_load_n (&v->latest_gen, __ATOMIC_SEQ_CST);
  uint32_t phys0 = PHYS_NONE;
  uint64_t len;
  int r = 0;

  *done = 0;
  if (k > VOL_STRIPES)
    k = VOL_STRIPES;
  sv_wrlock (stripe_of (v, c0), LOCK_STRIPE);
  for (i = 1; i < k; i++)
    if (sv_trywrlock (stripe_of (v, c0 + i), LOCK_STRIPE) != 0)
      break;
  k = i;                                      /* clusters locked */
  for (m = 0; m < k; m++) {
    union extvec_buf evbuf;
    const struct extvec *ev = extmap_get (&v->map, c0 + m, &evbuf);
    uint64_t lo = m == 0 ? off % cs : 0;
    uint64_t hi = c0 + m == (off + count - 1) / cs
      ? (off + count - 1) % cs + 1 : cs;
    const struct ext *top;

    if (ev == NULL || extvec_top_path (ev, UINT32_MAX, live_path (v)) !=
        (int) ev->n - 1)
      break;                    /* nothing, or a branch a revert left */
    top = &ev->v[ev->n - 1];
    if (top->gen <= latest || top->phys == PHYS_NONE ||
        (bits_range (lo / ss, (hi - 1) / ss) & ~top->alloc) != 0 ||
        (m > 0 && top->phys != phys0 + m))
      break;
    if (m == 0)
      phys0 = top->phys;
  }
  if (m >= 2) {
    len = (c0 + m) * cs - off;
    if (len > count)
      len = count;
    if (data_pwrite (v, data, len, (uint64_t) phys0 * cs + off % cs) == -1)
      r = sv_error (errno, "volume %s: write data at clusters %" PRIu64
                    "-%" PRIu64 ": %m", v->name, c0, c0 + m - 1);
    else
      *done = (uint32_t) len;
  }
  for (i = 0; i < k; i++)
    sv_rwunlock (stripe_of (v, c0 + i), LOCK_STRIPE);
  return r;
}

int
volume_pwrite (struct volume *v, const void *buf, uint32_t count,
               uint64_t off, int fua)
{
  const char *p = buf;
  int r = 0, try_run = 1;
  struct phys_run run = { PHYS_NONE, 0, 0, 0 };

  if (check_range (v, v->size, count, off) == -1 || check_failed (v) == -1)
    return -1;
  gate_enter (&v->gate);
  while (count > 0) {
    uint64_t vci = off / v->cluster_size;
    uint32_t coff = off % v->cluster_size;
    uint32_t n = v->cluster_size - coff < count ? v->cluster_size - coff : count;

    /* Several clusters: in place in one pwrite if they allow it (once
     * they do not, the rest of the request goes cluster by cluster). */
    if (try_run && n < count) {
      uint32_t done;
      r = write_run_in_place (v, p, off, count, &done);
      if (r == -1)
        break;
      if (done > 0) {
        p += done;
        off += done;
        count -= done;
        continue;
      }
      try_run = 0;
    }
    run.want = (uint32_t) ((off + count - 1) / v->cluster_size - vci + 1);
    sv_wrlock (stripe_of (v, vci), LOCK_STRIPE);
    r = write_cluster_locked (v, vci, p, coff, n, &run);
    sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
    if (r == -1)
      break;
    p += n;
    off += n;
    count -= n;
  }
  run_release (v, &run);
  gate_leave (&v->gate);
  if (r == 0 && fua)
    r = volume_flush (v);
  return r;
}

/* Flatten. */

/* Is [P, P+LEN) all zero bytes? */
static int
all_zero_bytes (const char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

/* The subclusters of cluster VCI that a view of V could still read
 * from the origin: those no version of generation BOUND or older
 * defines (every view sees those generations), within the volume's
 * size; and in *X the cluster's version of generation 0, or an empty
 * one.  Stripe lock held. */
static uint64_t
flatten_need (struct volume *v, uint64_t vci, uint32_t bound, struct ext *x)
{
  union extvec_buf evbuf;
  const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
  uint64_t defined = 0, cstart = vci * v->cluster_size;
  uint64_t live = v->size - cstart;
  unsigned n = live >= v->cluster_size ? v->nsub
    : (unsigned) ((live + v->subcluster_size - 1) / v->subcluster_size);
  uint32_t i;

  x->gen = 0;
  x->phys = PHYS_NONE;
  x->alloc = x->zero = 0;
  for (i = 0; ev && i < ev->n && ev->v[i].gen <= bound; i++) {
    defined |= ev->v[i].alloc | ev->v[i].zero;
    if (ev->v[i].gen == 0)
      *x = ev->v[i];
  }
  return (n == 64 ? ~0ull : (1ull << n) - 1) & ~defined;
}

/* Write the subclusters DATA of BUF (the cluster's bytes) into X's
 * physical cluster. */
static int
flatten_write (struct volume *v, const char *buf, uint64_t data,
               const struct ext *x)
{
  uint32_t ss = v->subcluster_size;
  uint64_t base = (uint64_t) x->phys * v->cluster_size;

  for (; data; ) {
    unsigned s = (unsigned) __builtin_ctzll (data), e = s;

    while (e + 1 < 64 && ((data >> (e + 1)) & 1))
      e++;
    if (data_pwrite (v, buf + s * ss, (e - s + 1) * ss,
                     base + (uint64_t) s * ss) == -1)
      return -1;
    data &= ~bits_range (s, e);
  }
  return 0;
}

/* The dead index after a flatten gives the version of generation 0
 * of VCI the subclusters ADDED: the newer versions defining them now
 * shadow it.  Stripe write lock held, gate entered. */
static void
flatten_note (struct volume *v, uint64_t vci, uint64_t added)
{
  union extvec_buf evbuf;
  const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
  uint32_t k;

  if (ev == NULL || v->nreverts > 0)
    return;
  for (k = 0; k < ev->n; k++)
    if (ev->v[k].gen > 0 && ((ev->v[k].alloc | ev->v[k].zero) & added))
      deadidx_add (&v->dead, ev->v[k].gen, vci, 0);
}

/* The body of volume_flatten_cluster: stripe write lock held, gate
 * entered.  BUF: room for a cluster. */
static int
flatten_locked (struct volume *v, uint64_t vci, uint32_t bound, char *buf)
{
  uint32_t ss = v->subcluster_size, cs = v->cluster_size;
  uint64_t cstart = vci * cs, len = v->size - cstart;
  uint64_t need, data = 0, zero = 0;
  struct ext x;
  int new_phys = 0;
  unsigned s;

  need = flatten_need (v, vci, bound, &x);
  if (need == 0)
    return 0;
  if (len > cs)
    len = cs;
  memset (buf + len, 0, cs - len);
  if (read_hole (v, buf, (uint32_t) len, cstart) == -1)
    return -1;
  for (s = 0; s < v->nsub; s++)
    if ((need >> s) & 1) {
      if (all_zero_bytes (buf + s * ss, ss))
        zero |= 1ull << s;
      else
        data |= 1ull << s;
    }
  if (journal_reserve (&v->journal, VOL_PUT_BYTES, JOURNAL_WRITE) == -1)
    return no_journal_space (v, vci);
  if (data && x.phys == PHYS_NONE) {
    int refused;

    if (get_phys (v, NULL, &x.phys, &refused) == -1) {
      int e = errno;
      journal_unreserve (&v->journal, VOL_PUT_BYTES);
      if (refused) {
        errno = e;              /* space_admit's message stands */
        return -1;
      }
      return sv_error (e, "volume %s: cannot allocate a cluster: %m",
                       v->name);
    }
    new_phys = 1;
    prealloc_ahead (v, x.phys);
  }
  /* The data first (into subclusters no version maps: nobody reads
   * them), the mapping after it. */
  if (data && flatten_write (v, buf, data, &x) == -1) {
    int e = errno;
    if (new_phys)
      alloc_put_now (&v->alloc, x.phys);
    journal_unreserve (&v->journal, VOL_PUT_BYTES);
    return sv_error (e, "volume %s: write data at cluster %" PRIu64 ": %m",
                     v->name, vci);
  }
  x.alloc |= data;
  x.zero |= zero;
  flatten_note (v, vci, data | zero);
  if (extmap_put (&v->map, vci, &x) == -1) {
    if (new_phys)
      alloc_put_now (&v->alloc, x.phys);
    journal_unreserve (&v->journal, VOL_PUT_BYTES);
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  }
  if (volume_log_put (v, vci, &x) == 0)
    return fail_volume (v, errno, "journal append");
  return 0;
}

int
volume_flatten_cluster (struct volume *v, uint64_t vci, uint32_t bound)
{
  char *buf;
  int r;

  if (check_failed (v) == -1)
    return -1;
  buf = malloc (v->cluster_size);
  if (buf == NULL)
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  gate_enter (&v->gate);
  sv_wrlock (stripe_of (v, vci), LOCK_STRIPE);
  r = flatten_locked (v, vci, bound, buf);
  sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
  gate_leave (&v->gate);
  free (buf);
  return r;
}

/* Make whole subclusters MASK of cluster VCI read as zero, in the map
 * only.  Stripe write lock held, gate entered. */
static int
zero_cluster_locked (struct volume *v, uint64_t vci, uint64_t mask)
{
  union extvec_buf evbuf;
  const struct genpath *path = live_path (v);
  const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
  int top = extvec_top_path (ev, UINT32_MAX, path);
  struct ext x;
  uint64_t cleared, seq;
  uint32_t oldphys = PHYS_NONE, p;
  unsigned s;
  int all_zero = 1, clone = volume_reads_origin (v), k;

  /* A hole reads as zero, except in a clone (its origin's content). */
  if (top < 0 && !clone)
    return 0;                   /* never written: already zero */
  for (s = 0; s < v->nsub && top >= 0; s++)
    if ((mask >> s) & 1 &&
        ((k = resolve (ev, path, top, s, &p)) == SUB_DATA ||
         (k == SUB_HOLE && clone))) {
      all_zero = 0;
      break;
    }
  if (all_zero && top >= 0)
    return 0;
  /* One record at most, a put or a smaller drop: its space first. */
  if (journal_reserve (&v->journal, VOL_PUT_BYTES, JOURNAL_WRITE) == -1)
    return no_journal_space (v, vci);

  if (top >= 0 &&
      ev->v[top].gen > __atomic_load_n (&v->latest_gen, __ATOMIC_SEQ_CST)) {
    /* Only the live volume sees this version: change it in place. */
    x = ev->v[top];
    cleared = x.alloc & mask;
    x.alloc &= ~mask;
    x.zero |= mask;
    if (extvec_older (ev, path, top) < 0 && !clone)
      x.zero = 0;               /* nothing older: zero and hole agree */
    if (x.alloc == 0) {
      oldphys = x.phys;
      x.phys = PHYS_NONE;
    }
    dead_note (v, vci, ev, &x, (x.alloc | x.zero) &
               ~(ev->v[top].alloc | ev->v[top].zero), 0);
    if ((x.alloc | x.zero) == 0) {
      journal_unreserve (&v->journal, VOL_PUT_BYTES - VOL_DROP_BYTES);
      seq = volume_log_drop (v, vci, x.gen);
      if (seq == 0)
        return fail_volume (v, errno, "journal append");
      extmap_drop (&v->map, vci, x.gen);
    }
    else {
      if (extmap_put (&v->map, vci, &x) == -1) {
        journal_unreserve (&v->journal, VOL_PUT_BYTES);
        return sv_error (ENOMEM, "volume %s: out of memory", v->name);
      }
      seq = volume_log_put (v, vci, &x);
      if (seq == 0)
        return fail_volume (v, errno, "journal append");
    }
    if (oldphys != PHYS_NONE) {
      if (alloc_put_after (&v->alloc, oldphys, seq) == -1)
        return 0;               /* leaked, never reused wrongly */
    }
    else if (cleared)
      defer_punch (v, vci, x.gen, x.phys, cleared, seq);
    return 0;
  }

  /* A snapshot sees the newest version: record the zeroes in a new
   * version, leaving the old one to the snapshot. */
  x.gen = v->live_gen;
  x.phys = PHYS_NONE;
  x.alloc = 0;
  x.zero = mask;
  dead_note (v, vci, ev, &x, mask, 1);
  if (extmap_put (&v->map, vci, &x) == -1) {
    journal_unreserve (&v->journal, VOL_PUT_BYTES);
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  }
  if (volume_log_put (v, vci, &x) == 0)
    return fail_volume (v, errno, "journal append");
  return 0;
}

int
volume_zero (struct volume *v, uint32_t count, uint64_t off, int trim,
             int fua)
{
  static const char zeroes[SV_CLUSTER_MAX];
  uint32_t ss = v->subcluster_size;
  int r = 0;

  if (check_range (v, v->size, count, off) == -1 || check_failed (v) == -1)
    return -1;
  gate_enter (&v->gate);
  while (count > 0 && r == 0) {
    uint64_t vci = off / v->cluster_size;
    uint32_t coff = off % v->cluster_size;
    uint32_t n = v->cluster_size - coff < count ? v->cluster_size - coff : count;
    uint32_t a = (coff + ss - 1) / ss * ss;       /* whole subclusters */
    uint32_t b = (coff + n) / ss * ss;

    /* The end of a volume whose size is not a multiple of the
     * subcluster counts as whole: nothing beyond it is readable. */
    if (off + n == v->size && (coff + n) % ss != 0)
      b = (coff + n + ss - 1) / ss * ss;

    sv_wrlock (stripe_of (v, vci), LOCK_STRIPE);
    if (a < b)
      r = zero_cluster_locked (v, vci, bits_range (a / ss, b / ss - 1));
    if (!trim && r == 0) {
      /* Partial subclusters at the edges are written as data. */
      if (a > b)
        r = write_cluster_locked (v, vci, zeroes, coff, n, NULL);
      else {
        if (r == 0 && coff < a)
          r = write_cluster_locked (v, vci, zeroes, coff, a - coff,
                                   NULL);
        if (r == 0 && b < coff + n)
          r = write_cluster_locked (v, vci, zeroes, b, coff + n - b,
                                   NULL);
      }
    }
    sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
    off += n;
    count -= n;
  }
  gate_leave (&v->gate);
  if (r == 0 && fua)
    r = volume_flush (v);
  return r;
}

/* Flush. */

static int
sync_data (void *opaque)
{
  struct volume *v = opaque;
  uint64_t changes = __atomic_load_n (&v->data_changes, __ATOMIC_SEQ_CST);

  /* Nothing changed the data file since the last sync began (a pin or
   * a deletion of an idle volume): the records to commit map only data
   * that sync made durable. */
  if (changes == v->data_synced)
    return 0;
  if (IO (v)->sync (v->io->opaque, v->data) == -1) {
    int e = errno;
    __atomic_store_n (&v->failed, e, __ATOMIC_SEQ_CST);
    return volume_stopped_error (v, e);
  }
  v->data_synced = changes;
  return 0;
}

/* alloc_punch_freed's punch: N clusters from P, best effort (a failed
 * punch only costs space).  Not counted as a change of the data file
 * (volume_data_changed): no record maps a free cluster, so no flush
 * needs the hole durable, and a reclaim waiting for the volume to be
 * idle must not take its own punches for writes. */
static void
punch_clusters (void *opaque, uint32_t p, uint32_t n)
{
  struct volume *v = opaque;

  IO (v)->punch (v->io->opaque, v->data, (uint64_t) p * v->cluster_size,
                 (uint64_t) n * v->cluster_size);
}

size_t
volume_punch_freed (struct volume *v, size_t max)
{
  return alloc_punch_freed (&v->alloc, max, punch_clusters, v);
}

void
volume_release_freed (struct volume *v, uint64_t durable)
{
  alloc_release (&v->alloc, durable);
  if (__atomic_load_n (&v->punch_defer, __ATOMIC_ACQUIRE) == 0)
    volume_punch_freed (v, SIZE_MAX);
}

/* The copy-on-write threshold (v->latest_gen) after a change of the
 * snapshot list or of the pending deletions.  snap_lock held for
 * writing. */
static void
update_latest (struct volume *v)
{
  uint32_t g = v->nsnaps ? v->snaps[v->nsnaps - 1].gen : 0;
  size_t i;

  for (i = 0; i < v->npend_del; i++)
    if (v->pend_del[i].gen > g)
      g = v->pend_del[i].gen;
  __atomic_store_n (&v->latest_gen, g, __ATOMIC_SEQ_CST);
}

/* A flush cycle's step 4 for snapshot deletions: a deletion durable up
 * to DURABLE no longer holds the threshold up. */
void
volume_snap_settle (struct volume *v, uint64_t durable)
{
  size_t i, keep = 0;

  sv_wrlock (&v->snap_lock, LOCK_SNAP);
  if (v->npend_del > 0) {
    for (i = 0; i < v->npend_del; i++)
      if (v->pend_del[i].seq > durable)
        v->pend_del[keep++] = v->pend_del[i];
    v->npend_del = keep;
    update_latest (v);
  }
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
}

/* Before the sync of a flush that follows many writes: start the
 * writeback of the data file slice by slice, yielding the CPU between
 * slices, so that fdatasync finds little left to write.  Writing back
 * thousands of scattered pages is tens of milliseconds of kernel work
 * in the calling thread that the scheduler does not interrupt for a
 * request's thread (pace.h's reason, in the kernel); in slices, a
 * request waits for one slice at most.  A hint only: the sync that
 * follows is what makes the data durable, and a failure here is its
 * to report.  At most WRITEBACK_SLICES calls, however large the file. */
#define WRITEBACK_MIN_CHANGES 1024      /* data writes since the last sync */
#define WRITEBACK_SLICES 64
#define WRITEBACK_SLICE_MIN (32ull << 20)

static void
writeback_ahead (struct volume *v)
{
  uint64_t changes = __atomic_load_n (&v->data_changes, __ATOMIC_SEQ_CST);
  uint64_t end, slice, off;

  if (IO (v)->writeback == NULL ||
      changes - v->data_synced < WRITEBACK_MIN_CHANGES)
    return;
  end = (uint64_t) alloc_nphys (&v->alloc) * v->cluster_size;
  slice = end / WRITEBACK_SLICES;
  if (slice < WRITEBACK_SLICE_MIN)
    slice = WRITEBACK_SLICE_MIN;
  for (off = 0; off < end; off += slice) {
    (void) IO (v)->writeback (v->io->opaque, v->data, off, slice);
    sched_yield ();
  }
}

/* One flush cycle (phases in the design notes).  Called with
 * fl_running set by this thread. */
static void flush_settle (struct volume *v, uint64_t durable);

static int
flush_cycle (struct volume *v)
{
  uint64_t durable;

  writeback_ahead (v);
  if (journal_commit (&v->journal, sync_data, v, &durable) == -1)
    return -1;
  flush_settle (v, durable);
  return 0;
}

/* What a flush cycle does once the records up to DURABLE are durable. */
static void
flush_settle (struct volume *v, uint64_t durable)
{
  volume_snap_settle (v, durable);
  pending_punch_run (v, durable);
  volume_release_freed (v, durable);
  /* Grow the journal's reservation back to its headroom (pins take
   * from it without I/O).  Best effort: without space the writes that
   * need some fail with ENOSPC themselves. */
  journal_reserve (&v->journal, 0, JOURNAL_WRITE);
}

/* Run FN as a flush cycle: wait for the cycle in progress, run, and
 * record the result.  Returns FN's result. */
static uint64_t
cycle_begin (struct volume *v)
{
  uint64_t mine;

  pthread_mutex_lock (&v->fl_mu);
  while (v->fl_running)
    pthread_cond_wait (&v->fl_cv, &v->fl_mu);
  v->fl_running = 1;
  mine = ++v->fl_started;
  pthread_mutex_unlock (&v->fl_mu);
  return mine;
}

static void
cycle_end (struct volume *v, uint64_t mine, int r)
{
  pthread_mutex_lock (&v->fl_mu);
  v->fl_running = 0;
  v->fl_done = mine;
  if (r == -1)
    v->fl_failed = mine;
  pthread_cond_broadcast (&v->fl_cv);
  pthread_mutex_unlock (&v->fl_mu);
}

int
volume_exclusive_cycle (struct volume *v, int (*fn) (struct volume *))
{
  uint64_t mine = cycle_begin (v);
  int r = fn (v);

  cycle_end (v, mine, r);
  return r;
}

static int checkpoint_if_due (struct volume *v);

int
volume_flush (struct volume *v)
{
  uint64_t target;
  int r = 0;

  if (check_failed (v) == -1)
    return -1;
  /* Group commit: any cycle that starts after this point covers every
   * request completed before it. */
  pthread_mutex_lock (&v->fl_mu);
  target = v->fl_started + 1;
  while (v->fl_done < target) {
    if (!v->fl_running) {
      pthread_mutex_unlock (&v->fl_mu);
      r = volume_exclusive_cycle (v, flush_cycle);
      pthread_mutex_lock (&v->fl_mu);
      if (r == 0 && v->fl_done >= target)
        break;
      if (r == -1)
        break;
      continue;
    }
    pthread_cond_wait (&v->fl_cv, &v->fl_mu);
  }
  if (r == 0 && v->fl_failed >= target)
    r = sv_error (EIO, "volume %s: flush failed", v->name);
  pthread_mutex_unlock (&v->fl_mu);
  if (r == -1)
    return -1;
  return checkpoint_if_due (v);
}

/* After a flush: a checkpoint once the journal has grown past its
 * size, unless one is being written. */
static int
checkpoint_if_due (struct volume *v)
{
  int r = 0;

  if (v->journal.write_off > v->checkpoint_bytes &&
      sv_trylock (&v->admin_mu, LOCK_ADMIN) == 0) {
    r = v->checkpoint (v);
    sv_unlock (&v->admin_mu, LOCK_ADMIN);
  }
  return r;
}

/* One member of a group flush (volume_flush_group). */
struct group_member {
  struct volume *v;
  uint64_t cycle;
  uint64_t changes;             /* data_changes when the records were taken */
  struct journal_taken t;
  int r;                        /* -1 once one of its steps failed ... */
  int err;                      /* ... with this errno */
  char why[512];                /* and this message */
};

/* Member M's step returned R: on failure keep why (sv_errmsg is the
 * thread's, and the next step of another member replaces it). */
static int
member_step (struct group_member *m, int r)
{
  if (r == -1 && m->r == 0) {
    m->err = errno ? errno : EIO;
    snprintf (m->why, sizeof m->why, "%s", sv_errmsg ());
  }
  m->r = r;
  return r;
}

/* The data of the members whose data file changed since its last sync,
 * durable: by one syncfs, or where that fails or cannot be done, file
 * by file (a member whose sync fails fails, as in sync_data). */
static void
group_sync_data (struct group_member *m, size_t n, int h)
{
  const struct sv_io *io = m[0].v->io;
  size_t i, dirty = 0;

  for (i = 0; i < n; i++)
    dirty += m[i].r == 0 && m[i].changes != m[i].v->data_synced;
  if (dirty == 0)
    return;
  if (io->ops->syncfs (io->opaque, h) == 0) {
    for (i = 0; i < n; i++)
      if (m[i].r == 0)
        m[i].v->data_synced = m[i].changes;
    return;
  }
  for (i = 0; i < n; i++)
    if (m[i].r == 0 && member_step (&m[i], sync_data (m[i].v)) == -1)
      journal_untake (&m[i].v->journal, &m[i].t);
}

int
volume_flush_group (struct volume **vols, size_t n, char *msg,
                    size_t msglen)
{
  struct group_member *m = calloc (n, sizeof *m);
  const struct sv_io *io = vols[0]->io;
  int h = vols[0]->journal.h;
  size_t i, records = 0;
  struct group_member *first = NULL;

  if (m == NULL)
    return sv_error (ENOMEM, "flush of %zu volumes: out of memory", n);
  /* Phase 1, every member: its flush cycle, and the records buffered. */
  for (i = 0; i < n; i++) {
    m[i].v = vols[i];
    m[i].cycle = cycle_begin (vols[i]);
    if (member_step (&m[i], check_failed (vols[i])) == 0) {
      m[i].changes = __atomic_load_n (&vols[i]->data_changes,
                                      __ATOMIC_SEQ_CST);
      journal_take (&vols[i]->journal, &m[i].t);
    }
  }
  /* Phase 2: the data those records map; phase 3: the records, written,
   * then made durable by one more syncfs (file by file if it fails). */
  group_sync_data (m, n, h);
  for (i = 0; i < n; i++)
    if (m[i].r == 0 &&
        member_step (&m[i], journal_write_taken (&m[i].v->journal,
                                                 &m[i].t)) == 0)
      records += m[i].t.len;
  if (records > 0 && io->ops->syncfs (io->opaque, h) == -1)
    for (i = 0; i < n; i++)
      if (m[i].r == 0)
        member_step (&m[i], journal_sync_taken (&m[i].v->journal, &m[i].t));
  /* Phases 4-5, what a cycle does after, and a checkpoint if due. */
  for (i = 0; i < n; i++) {
    uint64_t durable;

    if (m[i].r == 0 &&
        member_step (&m[i], journal_publish (&m[i].v->journal, &m[i].t,
                                             &durable)) == 0)
      flush_settle (m[i].v, durable);
    cycle_end (m[i].v, m[i].cycle, m[i].r);
  }
  for (i = 0; i < n; i++) {
    if (m[i].r == 0)
      member_step (&m[i], checkpoint_if_due (m[i].v));
    if (m[i].r == -1 && first == NULL)
      first = &m[i];
  }
  if (first != NULL) {
    snprintf (msg, msglen, "%s", first->why);
    errno = first->err;
  }
  free (m);
  return first != NULL ? -1 : 0;
}

int
volume_cache (struct volume *v, const struct snap *snap, uint32_t count,
              uint64_t off)
{
  uint32_t gen = snap ? snap->gen : UINT32_MAX;
  const struct genpath *path = snap ? snap->path : live_path (v);

  if (check_range (v, snap ? snap->size : v->size, count, off) == -1)
    return -1;
  while (count > 0) {
    uint64_t vci = off / v->cluster_size;
    uint32_t coff = off % v->cluster_size;
    uint32_t n = v->cluster_size - coff < count ? v->cluster_size - coff : count;
    union extvec_buf evbuf;
    const struct extvec *ev;
    int top;

    sv_rdlock (stripe_of (v, vci), LOCK_STRIPE);
    ev = extmap_get (&v->map, vci, &evbuf);
    top = extvec_top_path (ev, gen, path);
    if (top >= 0) {
      unsigned s;
      for (s = coff / v->subcluster_size;
           s <= (coff + n - 1) / v->subcluster_size; s++) {
        uint32_t p;
        if (resolve (ev, path, top, s, &p) == SUB_DATA)
          IO (v)->advise (v->io->opaque, v->data,
                          (uint64_t) p * v->cluster_size +
                          (uint64_t) s * v->subcluster_size,
                          v->subcluster_size);
      }
    }
    sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
    off += n;
    count -= n;
  }
  return 0;
}

int
volume_extents (struct volume *v, const struct snap *snap, uint32_t count,
                uint64_t off, int req_one, sv_extent_fn fn, void *opaque)
{
  uint32_t gen = snap ? snap->gen : UINT32_MAX;
  const struct genpath *path = snap ? snap->path : live_path (v);
  uint64_t end = off + count, run_start = off;
  uint32_t run_flags = UINT32_MAX;
  uint32_t ss = v->subcluster_size;
  int clone = volume_reads_origin (v);

  if (check_range (v, snap ? snap->size : v->size, count, off) == -1)
    return -1;
  while (off < end) {
    uint64_t vci = off / v->cluster_size;
    union extvec_buf evbuf;
    const struct extvec *ev;
    int top;
    uint64_t cl_end = (vci + 1) * v->cluster_size;

    sv_rdlock (stripe_of (v, vci), LOCK_STRIPE);
    ev = extmap_get (&v->map, vci, &evbuf);
    top = extvec_top_path (ev, gen, path);
    while (off < end && off < cl_end) {
      unsigned s = (off % v->cluster_size) / ss;
      uint64_t sub_end = vci * v->cluster_size + (uint64_t) (s + 1) * ss;
      uint32_t p, flags;

      int k = top >= 0 ? resolve (ev, path, top, s, &p) : SUB_HOLE;

      /* What a clone reads through is reported as data. */
      flags = k == SUB_DATA || (k == SUB_HOLE && clone)
        ? 0 : SV_EXTENT_HOLE | SV_EXTENT_ZERO;
      if (sub_end > end)
        sub_end = end;
      if (flags != run_flags && run_flags != UINT32_MAX) {
        if (fn (opaque, run_start, off - run_start, run_flags) == -1) {
          sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
          return -1;
        }
        if (req_one) {
          sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
          return 0;
        }
        run_start = off;
      }
      run_flags = flags;
      off = sub_end;
    }
    sv_rwunlock (stripe_of (v, vci), LOCK_STRIPE);
  }
  if (run_flags != UINT32_MAX && off > run_start)
    return fn (opaque, run_start, off - run_start, run_flags);
  return 0;
}
