/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * pool.h: the public interface of the snapvol volume engine (server/).
 *
 * A pool is a directory holding volumes.  A volume is a thin block
 * device with a copy-on-write extent map; a snapshot pins one
 * generation of it.  A view is what one NBD connection reads and
 * writes: the live volume (read-write) or one snapshot (read-only).
 *
 * Error convention: functions return 0 / -1 (or a pointer / NULL).
 * On failure errno is set and a message naming the object and the
 * problem is available from sv_errmsg() in the same thread until the
 * next engine call in that thread.  The engine never prints anything.
 *
 * Thread safety: every function may be called from any thread, at
 * the same time, on the same pool, volume or view, unless its comment
 * says otherwise.  No function holds a lock across a network round
 * trip; functions that "may block" may wait for disk I/O (fsync).
 */

#ifndef SNAPVOL_POOL_H
#define SNAPVOL_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "sio.h"

#define SV_NAME_MAX      64     /* volume name, bytes, without NUL: the
                                 * protocol's PROTO_NAME_MAX */
#define SV_LABEL_MAX     256    /* snapshot label, bytes, without NUL:
                                 * PROTO_LABEL_MAX */
#define SV_UUID_STRLEN   36     /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */
#define SV_TAG_MAX       64     /* a hold's tag, bytes: PROTO_TAG_MAX */
#define SV_HOLDS_MAX     64     /* holds per snapshot: PROTO_HOLDS_MAX */
#define SV_REVERTS_MAX   65536  /* reverts per volume, in its lifetime */
#define SV_CLONE_DEPTH_MAX 16   /* clones in a chain of origins */
#define SV_ORIGIN_MAX    (SV_NAME_MAX + 1 + SV_UUID_STRLEN)
                                /* "VOLUME@SNAPSHOT", bytes */

#define SV_CLUSTER_MIN     4096u
#define SV_CLUSTER_MAX     (1024u * 1024u)
#define SV_CLUSTER_DEFAULT (64u * 1024u)

/* Extent flags, with the same values as NBD's block status flags. */
#define SV_EXTENT_HOLE 1u
#define SV_EXTENT_ZERO 2u

struct sv_pool;
struct sv_view;
struct sv_hold;

struct sv_pool_options {
  /* Cluster size of volumes created without one; 0: the one the pool
   * header records (for a new pool: SV_CLUSTER_DEFAULT, recorded). */
  uint32_t default_cluster_size;
  const struct sv_io *io;          /* NULL: the POSIX implementation */
  /* Journal size (bytes) past which a checkpoint is written; 0: default. */
  uint64_t checkpoint_bytes;
  /* How many volumes of a snapshot set are made durable at once when it
   * is committed (their syncs overlap, and the filesystem can commit
   * them together); 0: the default (16); 1: one after another, which
   * keeps the order of I/O calls the same from run to run, as tests
   * that count or crash at the Nth call need. */
  unsigned flush_threads;
  /* From how many volumes a snapshot set is made durable by a group
   * commit (volume_flush_group: one filesystem sync for the data files
   * that changed, one for every journal, instead of two syncs per
   * volume); 0: the default (SV_GROUP_SYNC_DEFAULT); SV_GROUP_SYNC_NEVER:
   * never.  Tests lower it so that small sets take that path too. */
  unsigned group_sync_min;
  /* Bytes of a volume's data file reserved (fallocate, no content)
   * ahead of a newly allocated cluster past the reserved end, so that
   * the first writes after a snapshot fill reserved blocks instead of
   * holes; 0: the default (SV_PREALLOC_DEFAULT); SV_PREALLOC_NONE:
   * none, every block is allocated by the write that fills it. */
  uint64_t prealloc;
  /* How deep a read of the live volume may fall through older versions
   * of a cluster before a copy-on-write fills the whole cluster
   * instead (docs/design.md, "Copy-on-write rules"); 0: the default
   * (SV_FILL_DEPTH_DEFAULT).  Tests lower it to reach fills sooner. */
  unsigned fill_depth;
  /* A deletion's reclaim (docs/design.md, "Deleting a snapshot"):
   * clusters reclaimed per step of the background reclaim, 0: the
   * default (SV_RECLAIM_STEP_DEFAULT); and how many steps' worth
   * before the deletion returns, 0: the default
   * (SV_RECLAIM_INLINE_STEPS).  Tests lower both so that small
   * deletions go on in the background too. */
  unsigned reclaim_step;
  unsigned reclaim_inline_steps;
  /* The clock that decides whether a snapshot hold has expired, and
   * the age of snapshots for retention: Unix seconds; NULL: time().
   * Tests give one they move. */
  uint64_t (*clock) (void);
  /* Where the policies say what they delete, before they delete it
   * (docs/design.md, "Policies"): called with one line of text, from
   * the thread that applies the policy, no engine lock held.  NULL:
   * nowhere (the events, pool_policy_events, still say it). */
  void (*log) (void *opaque, const char *line);
  void *log_opaque;
};
#define SV_FILL_DEPTH_DEFAULT 32
#define SV_GROUP_SYNC_DEFAULT 8
#define SV_GROUP_SYNC_NEVER UINT32_MAX
#define SV_RECLAIM_STEP_DEFAULT 256
#define SV_RECLAIM_STEP_MAX 65536
#define SV_RECLAIM_INLINE_STEPS 16
#define SV_PREALLOC_DEFAULT (16u << 20)
#define SV_PREALLOC_NONE UINT64_MAX

struct sv_volume_info {
  char name[SV_NAME_MAX + 1];
  char uuid[SV_UUID_STRLEN + 1];
  uint64_t size;                /* virtual size, bytes */
  uint32_t cluster_size;
  uint32_t subcluster_size;
  uint32_t generation;          /* the live generation */
  uint32_t nsnapshots;
  uint64_t created;             /* Unix time, seconds */
  uint64_t allocated_bytes;     /* data held for the volume and all its snapshots */
  uint64_t referenced_bytes;    /* data the live volume can read */
  uint64_t written_bytes;       /* live data written since the latest snapshot */
  uint64_t snapshot_bytes;      /* data only snapshots can read */
  uint32_t open_count;          /* open views of the live volume */
  /* Reclaim since the pool was opened (docs/design.md, "Deleting a
   * snapshot"): clusters the reclaims examined, bytes of data they
   * freed; DEAD_ENTRIES, the dead index's entries (0 and DEAD_INDEX 0
   * when it is not kept: a reverted volume). */
  uint64_t reclaim_visited, reclaim_freed_bytes;
  uint64_t dead_entries;
  int dead_index;
  /* A background reclaim (RECLAIM_RUNNING): clusters done of the
   * deletions it started (RECLAIM_TOTAL, which grows as it starts the
   * next), deletions queued behind them, bytes it freed so far. */
  int reclaim_running;
  uint64_t reclaim_done, reclaim_total, reclaim_queued, reclaim_run_freed;
  /* Clones (docs/design.md, "Clones"): ORIGIN is "VOLUME@SNAPSHOT-ID"
   * for a clone that reads through to it, "" otherwise; ORIGIN_MISSING
   * when that volume or snapshot is not in the pool (the clone is not
   * served).  FLATTEN_TOTAL > 0 while a flatten runs or after one
   * failed (FLATTEN_ERROR then says why): bytes of the clone looked
   * at so far, out of its size. */
  char origin[SV_ORIGIN_MAX + 1];
  int origin_missing;
  uint64_t flatten_done, flatten_total;
  char flatten_error[256];
};

/* A hold on a snapshot (pool_snapshot_hold). */
struct sv_snapshot_hold {
  char tag[SV_TAG_MAX + 1];
  uint64_t expires;             /* Unix seconds; 0: never */
};

struct sv_snapshot_info {
  char volume[SV_NAME_MAX + 1];
  char id[SV_UUID_STRLEN + 1];
  char set_id[SV_UUID_STRLEN + 1];
  char label[SV_LABEL_MAX + 1];
  uint64_t size;                /* the volume's size when pinned */
  uint64_t created;             /* Unix time, seconds */
  uint32_t generation;          /* the pinned generation */
  uint64_t referenced_bytes;    /* data the snapshot can read */
  uint64_t exclusive_bytes;     /* what deleting this snapshot alone frees */
  uint64_t written_bytes;       /* data written between the previous snapshot and this one */
  uint32_t open_count;          /* open views of this snapshot */
  /* Its holds, in the order they were taken, expired ones included;
   * HOLDS points into the allocation that holds the array (freed with
   * it). */
  struct sv_snapshot_hold *holds;
  size_t nholds;
};

/* One snapshot made by a pin: the volume, its new snapshot id and the
 * generation pinned. */
struct sv_snap_result {
  char volume[SV_NAME_MAX + 1];
  char id[SV_UUID_STRLEN + 1];
  uint32_t generation;
};

/* Policies (policy.c; docs/design.md, "Policies"). */

/* Retention: a snapshot is kept when any rule that is on keeps it (the
 * union); with every rule off (all 0), nothing is deleted. */
struct sv_retention {
  uint32_t keep_last;           /* the N newest */
  uint64_t keep_younger;        /* those younger than this, seconds */
  uint32_t keep_daily;          /* the newest of each of the D latest UTC
                                 * days, today the first */
  uint32_t keep_weekly;         /* the newest of each of the W latest
                                 * weeks (from Monday 00:00 UTC), this
                                 * week the first */
};

enum sv_on_full {
  SV_ON_FULL_FAIL = 0,          /* writes that need space fail, ENOSPC */
  SV_ON_FULL_DELETE_OLDEST = 1, /* the oldest unheld, unopened snapshot
                                 * (its set's snapshots in the pool) is
                                 * deleted, then the write is retried */
};

/* A policy: the pool's default, or a volume's own retention (whose
 * space members are unused: space is per pool). */
struct sv_policy {
  struct sv_retention retention;
  uint64_t space_limit;         /* bytes of data held; 0: no limit */
  uint64_t space_reserve;       /* bytes left free on the filesystem;
                                 * 0: none */
  enum sv_on_full on_full;
};

#define SV_POLICY_EVENTS_MAX 256        /* events kept, the newest */
#define SV_POLICY_REASON_MAX 511

/* What a policy did, or would have done. */
struct sv_policy_event {
  uint64_t seq;                 /* 1, 2, ...: since the pool was opened */
  uint64_t time;                /* the pool's clock */
  char action[8];               /* "deleted" or "kept" */
  char policy[12];              /* "retention" or "space" */
  char volume[SV_NAME_MAX + 1];
  char id[SV_UUID_STRLEN + 1];
  char set_id[SV_UUID_STRLEN + 1];
  uint64_t created;             /* the snapshot's */
  char reason[SV_POLICY_REASON_MAX + 1];
};

/* The message describing the last failure of an engine call in this
 * thread.  Never NULL; owned by the engine. */
extern const char *sv_errmsg (void);

/* Open (and with create != 0, create if missing) the pool in DIR.
 * Replays every volume's journal; a torn journal tail is cut off.
 * Fails with EILSEQ on a corrupt metadata block, EPROTONOSUPPORT on a
 * pool or volume written by a newer format.  May block. */
extern struct sv_pool *pool_open (const char *dir,
                                  const struct sv_pool_options *opts,
                                  int create)
  __attribute__((nonnull (1)));

/* Flush every volume, write checkpoints, free the pool.  All views
 * must be closed and holds released first.  Returns -1 if a flush or
 * checkpoint failed (the pool is freed anyway; the journal is intact). */
extern int pool_close (struct sv_pool *pool);

/* Take the pool's exclusive lock, which keeps a served pool and
 * `snapvolctl check` apart: a flock on DIR/snapvol.pool.  Returns the
 * descriptor holding it (close it to release); -1 with EBUSY if another
 * process holds it. */
extern int pool_lock (const char *dir);

/* The volume-name rule (common/proto.c) as the pool applies it: 0, or
 * -1 with EINVAL and sv_errmsg() saying what is wrong. */
extern int sv_check_name (const char *name);

/* The cluster size of volumes created without one: the one pool_open
 * was given, else the one the pool header records. */
extern uint32_t pool_default_cluster_size (struct sv_pool *pool)
  __attribute__((nonnull));

/* Create a volume.  NAME: 1..64 of [A-Za-z0-9._-], not starting with
 * '.'.  SIZE: a multiple of 512, > 0.  CLUSTER_SIZE: a power of two in
 * [4 KiB, 1 MiB], or 0 for the pool default.  EEXIST if it exists.
 * Durable on return.  May block. */
extern int pool_volume_create (struct sv_pool *pool, const char *name,
                               uint64_t size, uint32_t cluster_size)
  __attribute__((nonnull (1, 2)));

/* Delete a volume.  EBUSY if it is open or held, if clones read
 * through to it or a flatten of it runs, ENOTEMPTY if it has
 * snapshots, ENOENT if missing.  Durable on return.  May block. */
extern int pool_volume_delete (struct sv_pool *pool, const char *name)
  __attribute__((nonnull));

/* Create the volume NAME as a writable clone of ORIGIN,
 * "VOLUME@SNAPSHOT" (a snapshot id or a set id of VOLUME), with its
 * size and cluster size (docs/design.md, "Clones"): no data is copied,
 * and a subcluster the clone never wrote reads the snapshot.  Durable
 * and atomic (a crash leaves no clone or the whole one).  Until the
 * clone is flattened, the snapshot cannot be deleted nor the origin
 * volume.  0, or -1 with errno: EINVAL (a bad name or id; ORIGIN not
 * VOLUME@SNAPSHOT: a live volume cannot be cloned), EEXIST (NAME
 * exists), ENOENT (no such volume or snapshot), EXDEV (the snapshot
 * is another volume's), EMLINK (the chain of origins would be longer
 * than SV_CLONE_DEPTH_MAX), ENXIO (ORIGIN is a clone whose own origin
 * is missing).  May block. */
extern int pool_volume_clone (struct sv_pool *pool, const char *origin,
                              const char *name)
  __attribute__((nonnull));

/* Start flattening the clone NAME in the background: copy into it
 * what it still reads from its origin, in steps of one cluster (writes
 * go on), then drop the dependency durably; progress in
 * pool_volume_list.  0 once started, or -1 with errno: ENOENT, EINVAL
 * (NAME is not a clone), ENXIO (its origin is missing), EALREADY (a
 * flatten of NAME runs).  A flatten stopped by pool_close or a restart
 * is started again by calling this again: it copies what is still
 * missing. */
extern int pool_volume_flatten (struct sv_pool *pool, const char *name)
  __attribute__((nonnull));

/* Wait until the flatten of NAME (if any) has ended: 0 when none runs
 * or it succeeded, -1 with its error otherwise.  For tests and tools
 * that flatten synchronously. */
extern int pool_volume_flatten_wait (struct sv_pool *pool, const char *name)
  __attribute__((nonnull));

/* How many volumes the pool holds (no scan of their maps, unlike
 * pool_volume_list). */
extern size_t pool_volume_count (struct sv_pool *pool)
  __attribute__((nonnull));

/* Describe volumes (NAME NULL: all, sorted by name).  *OUT is
 * allocated by the engine, freed by the caller with free(). */
extern int pool_volume_list (struct sv_pool *pool, const char *name,
                             struct sv_volume_info **out, size_t *n)
  __attribute__((nonnull (1, 3, 4)));

/* Describe snapshots (VOLUME NULL: all volumes), sorted by volume
 * then generation.  *OUT is freed by the caller with free(). */
extern int pool_snapshot_list (struct sv_pool *pool, const char *volume,
                               struct sv_snapshot_info **out, size_t *n)
  __attribute__((nonnull (1, 3, 4)));

/* Pin the live generation of N volumes at one instant: writes in
 * flight finish first and are in the snapshots, writes that arrive
 * later are not.  Writes are held only for the in-memory pin.
 * Returns once the snapshots and the data they cover are durable.
 * SET_ID: the set's UUID, or NULL to make one; written to SET_ID_OUT.
 * RES: an array of N results, filled in the order of VOLUMES.
 * LABEL may be NULL.  May block.
 * On failure the set's snapshots are deleted, with one exception, the
 * one every failed flush has: when the disk keeps failing, a deletion
 * cannot be made durable either.  If a volume's flush (or its
 * deletion's) fails after the set's record was written, the record may
 * have reached the disk, and that volume's snapshot may be found,
 * exactly as pinned, at the next open, on that volume only or on
 * several: the volumes of a set are flushed independently.  Callers
 * that must not keep it delete the set by its id after the reopen (the
 * coordinator does so for every failed set). */
extern int pool_snapshot_create (struct sv_pool *pool,
                                 const char *const *volumes, size_t n,
                                 const char *label, const char *set_id,
                                 char set_id_out[SV_UUID_STRLEN + 1],
                                 struct sv_snap_result *res)
  __attribute__((nonnull (1, 2, 6, 7)));

/* Delete the snapshot with id ID, or every snapshot of the set ID.
 * Frees what no remaining view can read (reused and hole-punched
 * once the deletion is durable).  EBUSY if a snapshot is open, held
 * by a hold that has not expired, or the origin of clones (none is
 * then deleted; the message names the snapshot and, for holds, their
 * tags, for clones their names), ENOENT if nothing
 * has that id.  A deleted snapshot's expired holds go with it.  *NDELETED (may be
 * NULL) receives how many snapshots were deleted.  May block. */
extern int pool_snapshot_delete (struct sv_pool *pool, const char *id,
                                 size_t *ndeleted)
  __attribute__((nonnull (1, 2)));

/* Hold the snapshot with id ID, or every snapshot of the set ID in
 * this pool (all or none), under TAG (1..SV_TAG_MAX bytes of
 * [A-Za-z0-9._:@-]) until EXPIRES (Unix seconds by the pool's clock;
 * 0: never): a held snapshot cannot be deleted.  Durable before
 * return.  Returns how many snapshots now carry the hold (>= 1), or -1
 * with errno: EINVAL (bad id or tag), ENOENT (nothing
 * has that id), EEXIST (a snapshot already carries TAG, expired or
 * not; nothing held), E2BIG (a snapshot has SV_HOLDS_MAX holds),
 * ENOSPC (no journal space; nothing held), or the error of the flush
 * (the hold is then in memory, and may or may not be found after a
 * reopen: release it).  Takes pool->mu and each volume's snap_lock;
 * may block (journal reservation, flush). */
extern int pool_snapshot_hold (struct sv_pool *pool, const char *id,
                               const char *tag, uint64_t expires)
  __attribute__((nonnull));

/* Release the hold TAG of the snapshot ID, or of every snapshot of the
 * set ID that carries it.  Durable before return.  Returns how many
 * holds were released (>= 1), or -1 with errno:
 * EINVAL (bad id or tag), ENOENT (nothing has that id, or nothing with
 * that id carries TAG), or the error of the flush (as a deletion's: it
 * takes no journal reservation, so that holds can be released on a
 * full disk).  May block. */
extern int pool_snapshot_release (struct sv_pool *pool, const char *id,
                                  const char *tag)
  __attribute__((nonnull));

/* Phase one of a pin: drain the writes in flight on N volumes and
 * hold new ones.  Waits up to WAIT_MS for another hold on the same
 * volumes to end, then fails with EBUSY.  The caller must end the hold
 * with pool_hold_commit or pool_hold_release promptly: the engine
 * keeps no lease of its own (the plugin's control layer does). */
extern struct sv_hold *pool_hold (struct sv_pool *pool,
                                  const char *const *volumes, size_t n,
                                  unsigned wait_ms)
  __attribute__((nonnull (1, 2)));

/* Phase two: pin every held volume, release the writes, make the
 * snapshots durable, and free HOLD (whatever the outcome).  SET_ID
 * must be a UUID string (the set's id, chosen by the caller).  RES is
 * an array of as many results as volumes were held, in hold order.
 * On failure no snapshot of the set remains (but see
 * pool_snapshot_create for a failing journal).  May block. */
extern int pool_hold_commit (struct sv_pool *pool, struct sv_hold *hold,
                             const char *set_id, const char *label,
                             struct sv_snap_result *res)
  __attribute__((nonnull (1, 2, 3, 5)));

/* One volume reverted (pool_volume_revert, pool_hold_revert). */
struct sv_revert_result {
  char volume[SV_NAME_MAX + 1];
  char snapshot[SV_UUID_STRLEN + 1];    /* the snapshot's id */
  uint32_t generation;                  /* the new live generation */
  uint32_t parent;                      /* the snapshot's generation */
};

/* Phase two, revert variant (docs/design.md, "Revert"): make each held
 * volume's live content that of its snapshot SNAPSHOTS[i] (an id, or a
 * set id: the set's snapshot of that volume), in hold order, all or
 * none; release the writes, make the reverts durable, reclaim what
 * only the abandoned generations read, and free HOLD (whatever the
 * outcome).  O(1) in the volume's size: no data is copied, and every
 * snapshot, older or newer than the one reverted to, stays as it was.
 * Unless FORCE, a volume with open views of its live volume is
 * refused; with FORCE it is reverted under them: each read returns the
 * old content or the new one, never a mix, and what clients cached is
 * theirs to drop.  With UNDO_SET_ID (a UUID, not NULL), the live
 * generation of every held volume is first pinned as a snapshot of
 * the set UNDO_SET_ID (label PROTO_REVERT_UNDO_LABEL), with the writes still
 * held and in the same flush as the REVERT records, so that
 * pool_revert_undo can bring the volumes back: EEXIST if that id is
 * taken.  RES: one result per held volume.  0, or -1 with
 * errno, nothing reverted: EINVAL (a bad id), ENOENT (the volume has
 * no such snapshot, or it was deleted meanwhile), EXDEV (the snapshot
 * is another volume's), EBUSY (live volume open, no FORCE), ENOSPC (no
 * journal space for a record), EMLINK (SV_REVERTS_MAX reverts),
 * ENOMEM; or the error of the flush, after which the reverts are in
 * effect in memory and may or may not be found after a reopen (as for
 * any change whose flush failed).  While it runs, the snapshots count
 * as open: their deletion fails with EBUSY.  May block. */
extern int pool_hold_revert (struct sv_pool *pool, struct sv_hold *hold,
                             const char *const *snapshots, int force,
                             const char *undo_set_id,
                             struct sv_revert_result *res)
  __attribute__((nonnull (1, 2, 3, 6)));

/* Undo a revert made with UNDO_SET_ID (docs/design.md, "Reverting a
 * set across providers"): revert, with force, every volume that has a
 * snapshot of the set UNDO_SET_ID to it (each volume of the revert
 * that pinned it, whether or not its REVERT record became durable),
 * all or none.  The caller then deletes the set (pool_snapshot_delete):
 * until it does, an undo done again reverts to it again.  *RESP
 * (malloc'd, the caller frees it) and *NP: one result per volume
 * reverted back.  0, or -1 with errno: EINVAL (a bad id), ENOENT (no
 * volume has a snapshot of the set: nothing to undo, or undone and
 * deleted already), or pool_hold's and pool_hold_revert's.  May
 * block. */
extern int pool_revert_undo (struct sv_pool *pool, const char *undo_set_id,
                             struct sv_revert_result **resp, size_t *np)
  __attribute__((nonnull));

/* pool_hold and pool_hold_revert of one volume. */
extern int pool_volume_revert (struct sv_pool *pool, const char *name,
                               const char *snapshot, int force,
                               struct sv_revert_result *res)
  __attribute__((nonnull));

/* Release a hold without pinning and free it. */
extern void pool_hold_release (struct sv_pool *pool, struct sv_hold *hold)
  __attribute__((nonnull));

/* The pool's default policy (VOLUME NULL) or VOLUME's own retention
 * into *OUT; *OWN (may be NULL) says whether VOLUME has one of its own
 * (else *OUT is the pool default, which applies to it).  ENOENT for a
 * volume that does not exist.  Takes the policy mutex only. */
extern int pool_policy_get (struct sv_pool *pool, const char *volume,
                            struct sv_policy *out, int *own)
  __attribute__((nonnull (1, 3)));

/* Replace the pool's default policy (VOLUME NULL) or VOLUME's own
 * retention (the space members must be 0 and fail: space is per
 * pool).  A volume policy whose rules are all off is removed: the
 * volume follows the pool default again.  Written to DIR/policy
 * (temporary file, fsync, rename, directory fsync) before it takes
 * effect.  EINVAL naming the member for a bad value, ERANGE for a
 * space limit below the data already held (the message gives both
 * numbers), ENOENT for an unknown volume, the I/O error of the write.
 * Does not apply retention (pool_policy_apply does).  May block. */
extern int pool_policy_set (struct sv_pool *pool, const char *volume,
                            const struct sv_policy *policy)
  __attribute__((nonnull (1, 3)));

/* Apply retention to every volume's snapshots: delete what no rule
 * of its volume's policy keeps, unless it is held, open, or in a set
 * whose other snapshots in the pool stay; log each deletion before it
 * happens, and record every deletion and every snapshot kept against
 * the rules as an event.  Costs a listing of the snapshots, no scan of
 * the maps, and the deletions.  *NDELETED (may be NULL): snapshots
 * deleted.  A deletion that fails (a hold taken meanwhile) is an
 * event, not an error.  -1 only when the snapshots cannot be listed.
 * Serialised with every other deletion by policy; may block. */
extern int pool_policy_apply (struct sv_pool *pool, size_t *ndeleted)
  __attribute__((nonnull (1)));

/* The events, oldest first, at most SV_POLICY_EVENTS_MAX: *OUT is
 * freed by the caller with free(). */
extern int pool_policy_events (struct sv_pool *pool,
                               struct sv_policy_event **out, size_t *n)
  __attribute__((nonnull));

/* Bytes of data the pool holds (every volume's clusters in use): what
 * the space limit is compared with. */
extern uint64_t pool_space_used (struct sv_pool *pool)
  __attribute__((nonnull));

/* Views. */

/* Open the export EXPORT: "NAME" (the live volume) or "NAME@ID" (a
 * snapshot; ID is its id or its set's id).  Snapshots are always
 * read-only.  ENOENT with a message naming what was not found. */
extern struct sv_view *view_open (struct sv_pool *pool, const char *export)
  __attribute__((nonnull));
extern void view_close (struct sv_view *view);

extern int view_is_snapshot (const struct sv_view *view);
extern uint64_t view_size (const struct sv_view *view);
/* Writes into BUF (LEN bytes) a one-line description of the export:
 * size, creation time, label; the text view_describe_volume or
 * view_describe_snapshot makes, so that a client sees the same
 * description for one export as in the export list. */
extern void view_describe (struct sv_view *view, char *buf, size_t len);
/* The descriptions of exports, the only place their text is made:
 * "live volume, 64 MiB, 1 snapshot, created 2026-01-31T12:00:00Z" and
 * "snapshot of vm1, 64 MiB, taken 2026-01-31T12:00:00Z, label \"x\""
 * (no label part when LABEL is "").  Truncated to LEN; never fail. */
extern void view_describe_volume (char *buf, size_t len, uint64_t size,
                                  size_t nsnapshots, uint64_t created)
  __attribute__((nonnull));
extern void view_describe_snapshot (char *buf, size_t len,
                                    const char *volume, uint64_t size,
                                    uint64_t created, const char *label)
  __attribute__((nonnull));
/* SIZE for people: "64 MiB", or in bytes when it is not a whole number
 * of a larger unit. */
extern void view_format_size (uint64_t size, char *buf, size_t len)
  __attribute__((nonnull));
/* Minimum 1, preferred = subcluster size, maximum 64 MiB. */
extern void view_block_size (const struct sv_view *view, uint32_t *minimum,
                             uint32_t *preferred, uint32_t *maximum);

/* I/O.  Requests past the end fail with EINVAL; writes to a snapshot
 * view with EROFS.  FUA makes the request durable before returning.
 * All may block. */
extern int view_pread (struct sv_view *view, void *buf, uint32_t count,
                       uint64_t offset);
extern int view_pwrite (struct sv_view *view, const void *buf,
                        uint32_t count, uint64_t offset, int fua);
/* MAY_TRIM: the range may be deallocated.  FAST: fail with ENOTSUP
 * rather than write zeroes as data. */
extern int view_zero (struct sv_view *view, uint32_t count, uint64_t offset,
                      int may_trim, int fast, int fua);
extern int view_trim (struct sv_view *view, uint32_t count, uint64_t offset,
                      int fua);
extern int view_flush (struct sv_view *view);
/* Prefetch the range into the page cache. */
extern int view_cache (struct sv_view *view, uint32_t count, uint64_t offset);

/* Report the allocation of [OFFSET, OFFSET+COUNT) by calling FN for
 * consecutive extents, in order, starting at OFFSET; with REQ_ONE only
 * the first extent is required.  FN returns -1 to stop with error. */
typedef int (*sv_extent_fn) (void *opaque, uint64_t offset, uint64_t length,
                             uint32_t flags);
extern int view_extents (struct sv_view *view, uint32_t count,
                         uint64_t offset, int req_one,
                         sv_extent_fn fn, void *opaque);

/* Changed blocks (diff.c; docs/design.md, "Changed blocks"). */

enum sv_diff_kind { SV_DIFF_DATA = 1, SV_DIFF_ZERO = 2 };

/* Called for each changed range in ascending offset order; adjacent
 * ranges of one kind are merged before the call.  Return 0 to go on,
 * -1 to stop (the diff then fails with the errno FN set). */
typedef int (*sv_diff_fn) (uint64_t offset, uint64_t length,
                           enum sv_diff_kind kind, void *opaque);

/* The ranges of VOLUME whose content may differ between snapshot FROM
 * and snapshot TO (TO NULL: the live volume), at subcluster
 * granularity: every byte that differs is in one, and nothing that no
 * write, trim or zero reached between them is, but for the documented
 * fill over-report.  A range is SV_DIFF_ZERO when TO reads zeroes
 * there (written zeroes or trimmed), SV_DIFF_DATA otherwise.  Ranges
 * never pass TO's size.
 *
 * One page: from byte START (rounded down to a subcluster boundary)
 * on, at most MAX_RANGES (>= 1) calls of FN.  *NEXT gets the
 * subcluster-aligned offset where the next page starts (pass it as
 * START), or UINT64_MAX when the diff is complete; pages never overlap
 * and each reports at least one range unless it is the last.
 * FROM/TO are snapshot ids, or set ids (the set's snapshot of VOLUME),
 * as UUID text in any case.  While the page runs, FROM and TO count as
 * open (their deletion fails with EBUSY).  Takes pool->mu and the
 * volume's snapshot lock briefly, then stripe read locks one cluster
 * at a time; FN is called with no lock held.  Never blocks on I/O.
 * 0, or -1 with errno: ENOENT (no such volume, or no snapshot FROM/TO
 * on it; the message names which), EINVAL (a bad id, FROM not older
 * than TO, START past the end, MAX_RANGES 0), EXDEV (FROM or TO is a
 * snapshot of another volume), or FN's errno. */
extern int pool_snapshot_diff (struct sv_pool *pool, const char *volume,
                               const char *from, const char *to,
                               uint64_t start, size_t max_ranges,
                               sv_diff_fn fn, void *opaque, uint64_t *next)
  __attribute__((nonnull (1, 2, 3, 7, 9)));

/* What a diff of the same arguments covers, checked as
 * pool_snapshot_diff checks them (same errors), without walking the
 * map: constant time. */
struct sv_diff_info {
  uint64_t size;                /* TO's size (the volume's for live) */
  uint32_t granularity;         /* the subcluster size */
  uint32_t cluster_size;
  uint32_t from_generation;
  uint32_t to_generation;       /* 0 for the live volume */
  char from_id[SV_UUID_STRLEN + 1];     /* snapshot ids, canonical */
  char to_id[SV_UUID_STRLEN + 1];       /* "" for the live volume */
};
extern int pool_snapshot_diff_info (struct sv_pool *pool, const char *volume,
                                    const char *from, const char *to,
                                    uint64_t start, struct sv_diff_info *info)
  __attribute__((nonnull (1, 2, 3, 6)));

#endif /* SNAPVOL_POOL_H */
