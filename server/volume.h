/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * volume.h: one volume of a pool: its files, extent map, snapshots,
 * write gate and flush machinery.  Internal to the engine.
 *
 * Design notes: lock order
 * ------------------------
 * The order of every mutex of the engine is written once, in
 * docs/design.md ("Concurrency"); change it there.  The write gate is
 * not a lock in that order: a write enters the gate before taking a
 * stripe lock, and a hold waits for the gate to drain while holding
 * nothing but admin_mu.
 */

#ifndef SNAPVOL_VOLUME_H
#define SNAPVOL_VOLUME_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "alloc.h"
#include "deadidx.h"
#include "extmap.h"
#include "genpath.h"
#include "journal.h"
#include "ondisk.h"
#include "pool.h"
#include "uuid.h"

#define VOL_STRIPES 256

struct pending_punch {
  uint64_t vci, mask, seq;
  uint32_t gen, phys;
};

/* An open-addressed table of snapshot keys (snapidx.c). */
struct snapidx {
  uint64_t *e;
  size_t cap;
};

/* A hold on a snapshot (snaphold.c). */
struct snap_hold {
  uint64_t expires;           /* Unix seconds; 0: never */
  char tag[SV_TAG_MAX + 1];
};

struct snap {
  struct uuid id, set;
  uint32_t gen;
  uint64_t created;
  uint64_t size;
  char label[SV_LABEL_MAX + 1];
  uint32_t open_count;        /* under pool->mu */
  /* Holds in the order taken, owned by the list entry (a copy, such as
   * a view's, must not use them); changed under snap_lock (write) with
   * pool->mu held, read under either. */
  struct snap_hold *holds;
  uint32_t nholds;
  /* The generations the snapshot sees (genpath.h): set in a view's
   * copy only (view_open), NULL in the list and for a snapshot whose
   * path holds no revert. */
  struct genpath *path;
};

/* The write gate: writers enter and leave without locks; a hold waits
 * until none is inside and keeps new ones out.  Holds nest (a
 * checkpoint may hold the gate while a snapshot hold has it too). */
struct gate {
  unsigned inflight;          /* atomic */
  unsigned held;              /* atomic: number of holds */
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

/* What a clone's superblock names (docs/design.md, "Clones"). */
struct clone_origin {
  struct uuid volume, snap;     /* the origin volume, its snapshot */
  uint32_t gen;                 /* the snapshot's generation */
  char name[SV_NAME_MAX + 1];   /* the origin volume's name */
};

/* A flatten in progress (clone.c). */
struct flatten;

struct volume {
  struct sv_pool *pool;
  const struct sv_io *io;
  char name[SV_NAME_MAX + 1];
  char *dir;
  struct uuid uuid;
  uint64_t size;
  uint64_t created;
  uint32_t cluster_size;
  uint32_t subcluster_size;
  uint32_t nsub;              /* subclusters per cluster, <= 64 */
  uint64_t nclusters;
  int data;                   /* data file handle */
  /* The data file is reserved (sv_pool_options.prealloc) up to here;
   * at open, the end of the last mapped cluster (the open punches the
   * rest).  Atomic. */
  uint64_t prealloc_end;

  struct extmap map;
  struct alloc alloc;
  struct journal journal;
  pthread_rwlock_t stripe[VOL_STRIPES];
  struct gate gate;

  /* Snapshots sorted by gen; the live generation and the latest
   * pinned one.  Changed under snap_lock (write) while the gate is
   * held, so writers inside the gate read them without the lock. */
  pthread_rwlock_t snap_lock;
  struct snap *snaps;
  size_t nsnaps, capsnaps;
  /* The snapshots by id and by set id (snapidx.c). */
  struct snapidx by_id, by_set;
  uint32_t live_gen;
  /* The reverts (genpath.h), sorted by gen; changed under snap_lock
   * (write) while the gate is held, with LIVE_PATH, the generations
   * the live volume sees (NULL: never reverted).  Readers of the live
   * volume do not enter the gate: they load LIVE_PATH atomically and
   * read again when it changed under them (volume_pread), so paths are
   * never freed before the volume: OLD_PATHS keeps them. */
  struct revert *reverts;
  size_t nreverts, capreverts;
  struct genpath *live_path;
  struct genpath **old_paths;
  size_t nold_paths;
  /* The copy-on-write threshold: the newest generation that a snapshot
   * pins or that a snapshot whose deletion is not yet durable pinned
   * (0: none).  Read atomically by writers. */
  uint32_t latest_gen;
  struct pending_delete { uint32_t gen; uint64_t seq; } *pend_del;
  /* Reclaim looks at the tables holding versions of this generation or
   * newer (UINT32_MAX: nothing to reclaim, 0: the whole map).  Lowered
   * by deletions under snap_lock; taken by volume_reclaim. */
  uint32_t reclaim_from;
  size_t npend_del, cappend_del;
  /* The generations of the deleted snapshots whose reclaim goes by the
   * dead index (deadidx.h): queued by deletions under snap_lock, taken
   * by volume_reclaim. */
  uint32_t *dead_queue;
  size_t ndead_queue, capdead_queue;
  /* The dead index: which clusters to visit when a snapshot goes. */
  struct deadidx dead;
  /* The deletion whose clusters are being reclaimed (snap.c's
   * job_next), under admin_mu: the index's entries of (P, N], K of
   * them done; TOTAL of them to reclaim (those of (G, N]), DONE of
   * those reclaimed. */
  struct dead_job {
    uint32_t g, n;
    struct deadent *e;
    size_t ne, k, total, done;
    int active;
  } dead_job;
  /* The background reclaim (snap.c): RC_MU (a leaf) guards RC_STOP and
   * RC_THREADS, signalled on RC_CV as a thread ends; RC_RUNNING is
   * changed under admin_mu and read atomically, with the progress of
   * the deletions it reclaims (clusters done of those started, and the
   * reclaim's freed bytes when it started), atomic. */
  pthread_mutex_t rc_mu;
  pthread_cond_t rc_cv;
  int rc_stop;
  unsigned rc_threads;
  int rc_running;
  uint64_t rc_done, rc_total, rc_freed_base;
  /* Background reclaims alive (atomic): while there is one, freed
   * clusters wait for it to punch them when the volume is idle
   * (volume_release_freed). */
  unsigned punch_defer;
  /* Reclaim's counters, for `volume list` (atomic): clusters the
   * reclaims since the open examined, bytes of data they freed. */
  uint64_t reclaim_visited, reclaim_freed;

  /* Serialises the long operations: snapshot deletion (reclaim) and
   * checkpoints.  A pin never takes it, so a hold never waits on it. */
  pthread_mutex_t admin_mu;

  /* Flush cycles (group commit): see volume_flush. */
  pthread_mutex_t fl_mu;
  pthread_cond_t fl_cv;
  int fl_running;
  uint64_t fl_started, fl_done, fl_failed;
  int failed;                 /* sticky errno after a failed data sync */
  /* Changes made to the data file (pwrite, subcluster punch, extend:
   * not the punch of a free cluster, punch_clusters), counted
   * after each returns (atomic, volume_data_changed), and their count
   * when the last data sync that succeeded began (flush cycles only;
   * UINT64_MAX after the open).  A flush cycle skips the data sync when
   * the two are equal: no write, punch or extension came after that
   * sync began, so every record the cycle commits maps data that sync
   * made durable. */
  uint64_t data_changes, data_synced;
  uint64_t checkpoint_bytes;
  /* volume_checkpoint (ckpt.c), set by volume_prepare: volume_flush
   * takes a checkpoint through it once the journal outgrew
   * checkpoint_bytes.  A callback, so that the data path calls nothing
   * above it. */
  int (*checkpoint) (struct volume *v);

  /* Subcluster punches waiting for durability (punch.c). */
  pthread_mutex_t punch_mu;
  struct pending_punch *punches;
  size_t npunch, cappunch;

  /* Clones (clone.c; docs/design.md, "Clones").  SB_FLAGS: the
   * superblock's (SB_CLONE, SB_FLATTENED), atomic: SB_CLONE is cleared
   * once a flatten's end is durable, and while it is set a subcluster
   * no version of the volume defines reads ORIGIN_SNAP of ORIGIN.
   * ORIGIN is resolved by pool_open once every volume is loaded (NULL
   * while unresolved or missing) and stays until the volume is freed
   * or a flatten ended; ORIGIN_SNAP is a copy of the origin's snapshot
   * (its path owned here). */
  unsigned sb_flags;
  struct clone_origin origin_of;
  struct volume *origin;
  struct snap origin_snap;
  /* Under pool->mu: the clones that read through to this volume, the
   * length of this volume's own chain of origins (0: no clone), and a
   * running flatten. */
  unsigned nclones;
  unsigned depth;
  struct flatten *flatten;

  /* Under pool->mu. */
  uint32_t open_count;
  int held;                   /* a pool_hold owns the volume */
  unsigned busy;              /* operations in progress: no deletion */
  struct volume *next;
};

/* Create the files of a new volume in VOLDIR (atomically: written in
 * TMPDIR, each synced once, TMPDIR synced, renamed to VOLDIR, the
 * pool's volume directory synced; volopen.c's design notes).  ORIGIN
 * (may be NULL): the new volume is a clone of it (superblock version
 * 5).  Durable on return, name included; open it with
 * volume_open_created.  -1 with errno and a message: TMPDIR may be
 * left, for the caller to remove. */
extern int volume_create_files (struct sv_pool *pool, const char *voldir,
                                const char *tmpdir, const char *name,
                                uint64_t size, uint32_t cluster_size,
                                const struct clone_origin *origin);
/* Replace V's superblock by one whose flags are FLAGS (SB_CLONE
 * cleared: the flatten's end): superblock.new written and synced, then
 * renamed over the superblock and the directory synced.  Durable on
 * return; a crash leaves the old superblock or the new one. */
extern int volume_rewrite_superblock (struct volume *v, unsigned flags)
  __attribute__((nonnull));

/* Does V read through to an origin (SB_CLONE)?  Atomic. */
static inline int
volume_reads_origin (const struct volume *v)
{
  return (__atomic_load_n (&v->sb_flags, __ATOMIC_ACQUIRE) & SB_CLONE)
    != 0;
}

/* Flatten one cluster of clone V (volume.c; docs/design.md, "Clones"):
 * under its stripe lock, copy into its version of generation 0 what a
 * view of V could still read from the origin in cluster VCI (the
 * subclusters no version of generation BOUND or older defines).  The
 * caller holds nothing; the gate is entered here.  0, or -1 with
 * errno (ENOSPC, EIO, ...; message set). */
extern int volume_flatten_cluster (struct volume *v, uint64_t vci,
                                   uint32_t bound)
  __attribute__((nonnull));
/* The newest generation every view of V sees (clone.c's bound):
 * min(live generation, oldest snapshot's, oldest revert's parent).
 * Takes snap_lock. */
extern uint32_t volume_flatten_bound (struct volume *v)
  __attribute__((nonnull));
/* Open a volume: load the checkpoint, replay the journal, make what
 * was read durable, reclaim, flush (volopen.c, "recovery").  NULL with
 * errno and a message. */
extern struct volume *volume_open (struct sv_pool *pool, const char *dir,
                                   const char *name);
/* Open the volume that volume_create_files has just created in DIR:
 * the same checks and reads as volume_open, but no sync and no write,
 * since creation made every file durable.  Only for that volume, right
 * after its creation: a volume found on disk may hold what only the
 * page cache has, and needs volume_open. */
extern struct volume *volume_open_created (struct sv_pool *pool,
                                           const char *dir,
                                           const char *name);
/* Flush, checkpoint (if CHECKPOINT), free. */
extern int volume_close (struct volume *v, int checkpoint);
/* Punch every byte of the data file that no version maps: whole free
 * clusters and the subclusters of mapped clusters that their version
 * does not hold.  Recovery's step 7, and so also what `snapvolctl check
 * --repair` does to leaked space (it repairs through volume_open).
 * Only for a volume that nothing else uses yet (no stripe locks taken)
 * and whose map is durable.  Best effort: a failed punch costs space. */
extern void volume_punch_unmapped (struct volume *v);

/* I/O on a view: SNAP NULL is the live volume. */
extern int volume_pread (struct volume *v, const struct snap *snap,
                         void *buf, uint32_t count, uint64_t off);
extern int volume_pwrite (struct volume *v, const void *buf, uint32_t count,
                          uint64_t off, int fua);
extern int volume_zero (struct volume *v, uint32_t count, uint64_t off,
                        int trim, int fua);
extern int volume_flush (struct volume *v);
/* volume_flush of the N volumes VOLS of one pool (one filesystem) at
 * once, their syncs shared: the data files that changed, made durable
 * by one syncfs, then every journal's records written and made durable
 * by one more (docs/design.md, "Group commit of a set").  The I/O layer
 * must have syncfs.  -1 if any volume's flush failed, with the first
 * failure's errno in errno and its message in MSG (the others are
 * flushed all the same). */
extern int volume_flush_group (struct volume **vols, size_t n, char *msg,
                               size_t msglen);
extern int volume_cache (struct volume *v, const struct snap *snap,
                         uint32_t count, uint64_t off);
extern int volume_extents (struct volume *v, const struct snap *snap,
                           uint32_t count, uint64_t off, int req_one,
                           sv_extent_fn fn, void *opaque);

/* Forget pending deletions durable up to DURABLE and lower the
 * copy-on-write threshold accordingly (flush cycles call it; volume.c,
 * below the snapshot code, since the data path's flush needs it).
 * Takes snap_lock. */
extern void volume_snap_settle (struct volume *v, uint64_t durable);

/* Write gate. */
extern void gate_hold (struct gate *g);
extern void gate_release (struct gate *g);

/* Deferred punches (alloc.h).  A flush cycle moves the clusters its
 * records freed to the state "waiting for a punch"
 * (volume_release_freed) and punches every cluster waiting, which
 * makes them allocatable, unless the volume defers its punches: while
 * a deletion reclaims (volume_reclaim_removed) and while its
 * background reclaim runs.  A reclaim frees clusters by the million
 * while the volume takes live writes, and each punch would stall them
 * behind the data file's inode lock; so the reclaim's thread punches
 * them itself, a slice at a time when no write came for a while
 * (snap.c, reclaim_thread), and a deletion reclaimed in full before it
 * returns punches what it freed at its end.  Until they are punched
 * the clusters count as free space, not used (space.h); a write that
 * the filesystem or the space policy refuses with ENOSPC punches them
 * at once and is retried (pool_make_room).  volume_punch_freed punches
 * up to MAX of them now and returns how many. */
extern void volume_release_freed (struct volume *v, uint64_t durable);
extern size_t volume_punch_freed (struct volume *v, size_t max);

/* Snapshots (snap.c).  volume_pin: called with the gate held. */
extern int volume_pin (struct volume *v, const struct uuid *set,
                       const char *label, struct uuid *id, uint32_t *gen);
/* Remove the snapshot with id ID, reclaim, make the deletion durable.
 * Takes admin_mu. */
extern int volume_snap_delete (struct volume *v, const struct uuid *id);
/* Index of the snapshot with id ID (or, with SET, of the set ID) in
 * v->snaps, or -1.  Caller holds snap_lock.  Constant time. */
extern ssize_t volume_snap_index (struct volume *v, const struct uuid *id,
                                  int set);
/* The snapshot with id ID and the one of the set ID (one per volume
 * at most, each, and counted once when they are the same), as indexes
 * in v->snaps in list order, -1 for none: HIT[0] is -1 only if both
 * are.  Returns how many.  Caller holds snap_lock. */
extern size_t volume_snap_matches (struct volume *v, const struct uuid *id,
                                   ssize_t hit[2]);
/* First index in v->snaps with gen >= G (snapidx.c). */
extern size_t volume_snap_lower_bound (const struct volume *v, uint32_t g);
/* The index's tables (snapidx.c): room for NSNAPS snapshots (0, or -1
 * with ENOMEM), then adding and removing a snapshot cannot fail. */
extern int snapidx_reserve (struct volume *v, size_t nsnaps);
extern void snapidx_add (struct volume *v, const struct snap *s);
extern void snapidx_del (struct volume *v, const struct snap *s);
extern void snapidx_free (struct volume *v);
/* Space accounting (a scan of the map).  Fills the byte counts,
 * generation and snapshot count of VI; with SIP, also a malloc'd array
 * describing every snapshot in generation order (open_count left 0). */
extern int volume_space (struct volume *v, struct sv_volume_info *vi,
                         struct sv_snapshot_info **sip, size_t *nsip);
/* The same array of snapshots without the scan (byte counts 0): what
 * the policies need, in time independent of the map's size. */
extern int volume_snapshots (struct volume *v,
                             struct sv_snapshot_info **sip, size_t *nsip);
/* Remove a snapshot from the list (journal record appended); the
 * caller then reclaims with volume_snap_delete's second half. */
extern int volume_snap_remove (struct volume *v, const struct uuid *id);
extern int volume_reclaim (struct volume *v);
/* The reclaim after deletions (volume_snap_remove): at most the
 * pool's reclaim_inline clusters now, then a flush; what is left goes
 * to a thread of the volume (docs/design.md, "Deleting a snapshot"):
 * the rest of the reclaim in steps of reclaim_step clusters, admin_mu
 * released between them, and the punches of the clusters freed, when
 * the volume is idle (volume.h, "Deferred punches").  Takes admin_mu.
 * 0, or -1 (ENOMEM: the volume is stopped; a failed flush). */
extern int volume_reclaim_removed (struct volume *v)
  __attribute__((nonnull));
/* Stop the background reclaim and wait for its thread (volume_close):
 * what it had left, the open's reclaim takes.  Takes nothing else. */
extern void volume_reclaim_stop (struct volume *v) __attribute__((nonnull));
/* Build the dead index (deadidx.h) from the map: at open, after the
 * reclaim, before the volume is shared.  Without memory the index is
 * left off (deletions then go over the tables, as without it);
 * cannot fail otherwise. */
extern void volume_dead_build (struct volume *v) __attribute__((nonnull));

/* Revert (snap.c; docs/design.md, "Revert").  volume_revert_prepare:
 * with the gate held, check that the snapshot with id ID is there and
 * get everything the revert needs (journal space from the headroom,
 * memory) into *RP, so that volume_revert_apply cannot fail; takes
 * snap_lock.  0, or -1 with errno (ENOENT: the snapshot is gone,
 * ENOSPC, ENOMEM, EOVERFLOW: no generation left) and nothing changed.
 * volume_revert_apply: append the REVERT record and make the live
 * volume read the snapshot's content; the caller then flushes and
 * reclaims.  volume_revert_cancel: give back what a prepare took. */
struct revert_prep {
  uint32_t parent;              /* the snapshot's generation */
  struct genpath *path;         /* the live volume's new path */
};
extern int volume_revert_prepare (struct volume *v, const struct uuid *id,
                                  struct revert_prep *rp)
  __attribute__((nonnull));
extern void volume_revert_apply (struct volume *v, struct revert_prep *rp)
  __attribute__((nonnull));
extern void volume_revert_cancel (struct volume *v, struct revert_prep *rp)
  __attribute__((nonnull));
/* Add the revert {GEN, PARENT} to the table and make the live volume's
 * path (replay and checkpoint load; snap_lock held or the volume not
 * yet shared).  0, or -1 with EILSEQ (a revert the engine never
 * writes: not the next generation, a parent not older than the live
 * one, past the limit) or ENOMEM, message naming the volume. */
extern int volume_revert_add (struct volume *v, uint32_t gen,
                              uint32_t parent)
  __attribute__((nonnull));
/* The path of the view at GEN (a snapshot's) into *OUT (NULL when
 * none is needed).  snap_lock held.  0, or -1 with ENOMEM reported. */
extern int volume_path_of (struct volume *v, uint32_t gen,
                           struct genpath **out)
  __attribute__((nonnull));

/* Checkpoint (ckpt.c).  Called with admin_mu held. */
extern int volume_checkpoint (struct volume *v);
/* Load the checkpoint at open: fills the map and snapshots. */
extern int volume_load_checkpoint (struct volume *v, uint64_t *last_seq,
                                   uint64_t *jfirst);
/* Write the checkpoint of a new, empty volume (first journal file 1,
 * no record) into the open, empty file H (PATH names it in messages).
 * Nothing is synced: the volume's creation syncs it with its other
 * files.  0, or -1 with errno and a message. */
extern int volume_write_empty_checkpoint (const struct sv_io *io, int h,
                                          const char *path,
                                          const struct uuid *uuid)
  __attribute__((nonnull));

/* Journal helpers shared by the I/O paths and replay.  The caller
 * reserved the record's space (journal_reserve) first: VOL_PUT_BYTES,
 * VOL_DROP_BYTES (ondisk.h sizes). */
#define VOL_PUT_BYTES (JR_HDR + JR_ENTRY_PUT_LEN)
#define VOL_DROP_BYTES (JR_HDR + JR_ENTRY_DROP_LEN)
extern uint64_t volume_log_put (struct volume *v, uint64_t vci,
                                const struct ext *x);
extern uint64_t volume_log_drop (struct volume *v, uint64_t vci,
                                 uint32_t gen);
/* Report that a failed fdatasync of the data file (errno ERR) stopped
 * the volume, and how to recover; returns -1 with errno ERR.  The
 * caller has set v->failed. */
extern int volume_stopped_error (struct volume *v, int err);
extern int volume_apply_record (void *opaque, unsigned type,
                                const uint8_t *p, size_t len, uint64_t seq);
/* Make room for one more snapshot in SNAPS and SNAP_SETS (snap_lock
 * held for writing, or the volume not yet shared; snap.c).  -1 with
 * ENOMEM (message set), nothing changed. */
extern int volume_snaps_reserve (struct volume *v);
extern int volume_snap_insert (struct volume *v, const struct snap *s);

/* Snapshot holds (snaphold.c).  The payloads of SNAP_HOLD (also a
 * checkpoint's hold section) and SNAP_RELEASE: hold_encode returns the
 * length written to P (room for HOLD_REC_FIXED + SV_TAG_MAX bytes),
 * hold_decode the length read, or -1 (EILSEQ, message naming the
 * volume) for a short record or an invalid tag. */
extern size_t hold_encode (unsigned type, const struct uuid *id,
                           const struct snap_hold *h, uint8_t *p);
extern ssize_t hold_decode (struct volume *v, unsigned type, const uint8_t *p,
                            size_t len, struct uuid *id, struct snap_hold *h);
/* The tag rule (proto_check_tag): 0, or -1 with EINVAL and a message. */
extern int hold_check_tag (const char *tag);
/* Index of the hold TAG of S, or -1. */
extern ssize_t hold_find (const struct snap *s, const char *tag);
/* Add H to S: 0, or -1 with EEXIST (S carries its tag), E2BIG
 * (SV_HOLDS_MAX holds) or ENOMEM, message set, nothing changed. */
extern int hold_add (struct volume *v, struct snap *s,
                     const struct snap_hold *h);
/* Remove S's hold number I; free all of S's holds. */
extern void hold_remove (struct snap *s, size_t i);
extern void hold_free_all (struct snap *s);
/* Refuse the deletion of S if a hold that has not expired at NOW holds
 * it: 0, or -1 with EBUSY and the message naming S, the volume and the
 * tags. */
extern int hold_check_delete (struct volume *v, const struct snap *s,
                              uint64_t now);
/* Replay a SNAP_HOLD or SNAP_RELEASE record (volume_apply_record). */
extern int hold_apply (struct volume *v, unsigned type, const uint8_t *p,
                       size_t len);

/* Codecs shared by the journal replay and the checkpoint (snap.c;
 * volume_check_ext, the one check of a version read from disk:
 * volume.c). */
extern ssize_t volume_decode_snap (struct volume *v, const uint8_t *p,
                                   size_t len, struct snap *s);
extern size_t volume_encode_snap (const struct snap *s, uint8_t *p);
extern int volume_check_ext (struct volume *v, uint64_t vci,
                             const struct ext *x);

/* For the offline checker (inspect.c): allocate the volume NAME in DIR and read its superblock (recovery
 * step 1), opening nothing for writing.  NULL with sv_errmsg() if the
 * superblock cannot be used.  Free with volume_free_unopened. */
extern struct volume *volume_prepare (struct sv_pool *pool, const char *dir,
                                      const char *name)
  __attribute__((nonnull));
extern void volume_free_unopened (struct volume *v);

static inline pthread_rwlock_t *
stripe_of (struct volume *v, uint64_t vci)
{
  return &v->stripe[vci % VOL_STRIPES];
}

/* Count a change to the data file of V, after the call that made it
 * returned (failed or not: a failed write may have changed part of its
 * range).  Every pwrite, punch and extension of v->data calls it, so
 * that the next flush cycle syncs the data file (sync_data). */
static inline void
volume_data_changed (struct volume *v)
{
  __atomic_add_fetch (&v->data_changes, 1, __ATOMIC_SEQ_CST);
}

#endif /* SNAPVOL_VOLUME_H */
