/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * pool-internal.h: engine-internal declarations shared between the
 * pool, volume, snapshot and checkpoint modules.
 */

#ifndef SNAPVOL_POOL_INTERNAL_H
#define SNAPVOL_POOL_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "policyfile.h"
#include "pool.h"
#include "sio.h"
#include "space.h"
#include "uuid.h"

struct volume;

struct sv_pool {
  char *dir;
  char *voldir;                 /* DIR/volumes */
  const struct sv_io *io;
  uint32_t default_cluster_size;  /* the caller's, else the pool header's */
  int cluster_size_given;         /* the caller chose it (pool_open) */
  uint64_t checkpoint_bytes;
  unsigned flush_threads;       /* sv_pool_options.flush_threads, resolved */
  unsigned group_sync_min;      /* sv_pool_options.group_sync_min, resolved */
  uint64_t prealloc;            /* sv_pool_options.prealloc, resolved: 0 none */
  unsigned fill_depth;          /* sv_pool_options.fill_depth, resolved */
  size_t reclaim_step;          /* sv_pool_options.reclaim_step, resolved */
  size_t reclaim_inline;        /* reclaim_inline_steps of them */
  uint64_t (*clock) (void);     /* sv_pool_options.clock, or NULL */
  struct uuid_holder { uint8_t b[16]; } uuid;
  int lock_fd;                  /* holds the pool's lock (pool_lock), or -1 */

  /* Protects the volume list, open counts and hold flags. */
  pthread_mutex_t mu;
  pthread_cond_t hold_cv;       /* signalled when a hold ends */
  struct volume *volumes;       /* sorted by name */
  /* Serialises the id check and pin of snapshot sets
   * (pool_hold_commit) against each other and against changes of the
   * volume list (which also hold MU).  Held for in-memory work only:
   * it is taken while a set's writes are held.  MU > IDS_MU >
   * vol->snap_lock. */
  pthread_mutex_t ids_mu;

  /* Policies (policy.c).  SPACE: the space account and the write
   * path's check (space.h).  POLICY_MU, a leaf held for memory work
   * only, protects POLICIES (DIR/policy as loaded) and the event ring.
   * APPLY_MU serialises deletions by policy (retention, making room)
   * and policy changes: taken with no engine lock held, and held
   * across the deletions (so before pool->mu). */
  struct space space;
  pthread_mutex_t policy_mu;
  struct policy_table policies;
  struct sv_policy_event *events;       /* ring of SV_POLICY_EVENTS_MAX */
  uint64_t nevents;                     /* events ever recorded */
  pthread_mutex_t apply_mu;
  uint64_t room_made;           /* deletions to make room (atomic) */
  void (*log) (void *opaque, const char *line);
  void *log_opaque;
};

/* Deferred subcluster punches (volume.c / punch.c). */
extern int pending_punch_add (struct volume *v, uint64_t vci, uint32_t gen,
                              uint32_t phys, uint64_t mask, uint64_t seq);
extern void pending_punch_run (struct volume *v, uint64_t durable);
extern void pending_punch_free (struct volume *v);

/* Run FN as the volume's one flush cycle (volume.c). */
extern int volume_exclusive_cycle (struct volume *v,
                                   int (*fn) (struct volume *));

/* The pool's clock (sv_pool_options.clock): Unix seconds.  Inline, so
 * that every layer reads the same clock without calling up: holds'
 * expiry, snapshots' creation times, retention's ages. */
static inline uint64_t
pool_now (const struct sv_pool *pool)
{
  return pool->clock ? pool->clock () : (uint64_t) time (NULL);
}

/* Snapshot listings' holds (snaphold.c): hold_list_add copies the
 * holds of snapshot IDX of V (-1: none) into HL and counts them in SI
 * (snap_lock held); hold_list_attach appends them to the array *ALL of
 * NALL snapshots, in the order they were added, and points each
 * snapshot's holds at its own (one allocation: free (*ALL) frees
 * them), and frees HL's array.  0, or -1 with ENOMEM (the caller
 * frees HL's array). */
struct hold_list {
  struct sv_snapshot_hold *v;
  size_t n, cap;
};
extern int hold_list_add (struct hold_list *hl, struct volume *v,
                          ssize_t idx, struct sv_snapshot_info *si);
extern int hold_list_attach (struct hold_list *hl,
                             struct sv_snapshot_info **all, size_t nall);

/* The pool's volume list (pool.c).  pool_find_volume: the volume NAME
 * or NULL, POOL->mu held.  pool_insert_volume: add V in name order,
 * POOL->mu held (takes ids_mu).  pool_remove_tree: remove directory DIR
 * and its files, best effort (a volume's directory has no
 * subdirectories). */
extern struct volume *pool_find_volume (struct sv_pool *pool,
                                        const char *name);
extern void pool_insert_volume (struct sv_pool *pool, struct volume *v);
extern void pool_remove_tree (struct sv_pool *pool, const char *dir);
/* Where a new volume NAME goes (VOLDIR) and the temporary directory it
 * is made in first (TMPDIR, .tmp-NAME-UUID with a new UUID), each
 * PATH_MAX bytes.  -1 with the error set when no UUID can be made. */
extern int pool_new_volume_dirs (struct sv_pool *pool, const char *name,
                                 char *voldir, char *tmpdir);

/* Every snapshot of the pool as pool_snapshot_list describes them,
 * holds and open counts included, but without the byte counts: no
 * scan of the maps (poolvol.c). */
extern int pool_snapshot_list_brief (struct sv_pool *pool,
                                     struct sv_snapshot_info **out,
                                     size_t *n);

/* Space policy's delete-oldest (policy.c), for the write path
 * (view.c): a write that failed with ENOSPC after pool_room_made
 * returned SEEN calls pool_make_room (SEEN), which first punches the
 * free clusters not punched yet (volume.h, "Deferred punches"), and
 * if there were none deletes the oldest
 * snapshot (set) that is neither held nor open, logged first, when
 * the pool's action is delete-oldest and no other thread made room
 * since SEEN.  1: room was made (by this call or another): retry the
 * write; 0: nothing to delete, or the action is fail.  Keeps the
 * thread's error message (the write's).  Takes apply_mu; may block. */
extern uint64_t pool_room_made (struct sv_pool *pool);
extern int pool_make_room (struct sv_pool *pool, uint64_t seen);
/* Clones (pool.c; clone.c makes them and runs flattens).  A flatten
 * in progress: */
struct flatten {
  pthread_t thread;
  struct volume *v;
  int stop;                     /* atomic: pool_close asks it to end */
  int ended;                    /* atomic: the thread has returned */
  int failed;                   /* errno of a failure (after ENDED) */
  uint64_t done, total;         /* atomic: bytes looked at, of SIZE */
  char msg[256];                /* the failure's message */
};

/* Length of each volume's chain of origins, again (after a flatten
 * ended).  POOL->mu held. */
extern void pool_clone_depths (struct sv_pool *pool);
/* The names of the clones reading through to O (with SNAP, to that
 * snapshot of it) into BUF, ", "-separated; returns how many.
 * POOL->mu held. */
extern int pool_clone_names (struct sv_pool *pool, struct volume *o,
                             const struct uuid *snap, char *buf, size_t len);
/* Join and free V's flatten if it has ended, or with STOP, stop it
 * first (POOL->mu is dropped while joining).  POOL->mu held.  Returns
 * whether no flatten is left. */
extern int pool_flatten_reap (struct sv_pool *pool, struct volume *v,
                              int stop);
/* V's origin and flatten progress into VI.  POOL->mu held. */
extern void pool_flatten_info (struct sv_pool *pool, struct volume *v,
                               struct sv_volume_info *vi);

#define DEFAULT_FLUSH_THREADS 16

#define DEFAULT_CHECKPOINT_BYTES (64ull << 20)

#endif /* SNAPVOL_POOL_INTERNAL_H */
