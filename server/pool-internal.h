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

#include "pool.h"
#include "sio.h"

struct volume;

struct sv_pool {
  char *dir;
  char *voldir;                 /* DIR/volumes */
  const struct sv_io *io;
  uint32_t default_cluster_size;  /* the caller's, else the pool header's */
  int cluster_size_given;         /* the caller chose it (pool_open) */
  uint64_t checkpoint_bytes;
  unsigned flush_threads;       /* sv_pool_options.flush_threads, resolved */
  uint64_t prealloc;            /* sv_pool_options.prealloc, resolved: 0 none */
  unsigned fill_depth;          /* sv_pool_options.fill_depth, resolved */
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
};

/* Deferred subcluster punches (volume.c / punch.c). */
extern int pending_punch_add (struct volume *v, uint64_t vci, uint32_t gen,
                              uint32_t phys, uint64_t mask, uint64_t seq);
extern void pending_punch_run (struct volume *v, uint64_t durable);
extern void pending_punch_free (struct volume *v);

/* Run FN as the volume's one flush cycle (volume.c). */
extern int volume_exclusive_cycle (struct volume *v,
                                   int (*fn) (struct volume *));

/* Take the pool's exclusive lock, which keeps a served pool and
 * `snapvolctl check` apart: a flock on DIR/snapvol.pool.  Returns the
 * descriptor holding it (close it to release); -1 with EBUSY if another
 * process holds it. */
extern int pool_lock (const char *dir);

/* The pool's clock (sv_pool_options.clock): Unix seconds. */
extern uint64_t pool_now (struct sv_pool *pool);

/* Snapshot listings' holds (poolhold.c): hold_list_add copies the
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

/* Validation shared by the pool and the plugin-facing API. */
extern int sv_check_name (const char *name);

/* The pool's volume list (pool.c).  pool_find_volume: the volume NAME
 * or NULL, POOL->mu held.  pool_insert_volume: add V in name order,
 * POOL->mu held (takes ids_mu).  pool_remove_tree: remove directory DIR
 * and its files, best effort (a volume's directory has no
 * subdirectories). */
extern struct volume *pool_find_volume (struct sv_pool *pool,
                                        const char *name);
extern void pool_insert_volume (struct sv_pool *pool, struct volume *v);
extern void pool_remove_tree (struct sv_pool *pool, const char *dir);

#define DEFAULT_FLUSH_THREADS 16

#define DEFAULT_CHECKPOINT_BYTES (64ull << 20)

#endif /* SNAPVOL_POOL_INTERNAL_H */
