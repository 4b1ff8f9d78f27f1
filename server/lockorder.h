/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * lockorder.h: the engine's ordered locks, taken through these
 * wrappers so that a debug build (configure --enable-debug) checks the
 * order written in docs/design.md ("Concurrency") at every acquisition.
 *
 * Design notes
 * ------------
 * Each ordered lock has a rank, outermost first.  A thread may take a
 * lock of rank R only while it holds no lock of a higher rank; locks of
 * one rank may nest (the stripes of a run of clusters, in order).  The
 * leaves (journal.mu, alloc.mu, map.locks[], punch_mu, gate.mu, a set
 * flush's job.mu) are taken with plain pthread calls: each is held for
 * memory work only, with no other lock taken inside.  In a debug build
 * a thread's held locks are counted per rank (thread-local, the one
 * piece of global state, and only there) and an acquisition out of
 * order aborts naming both ranks and the call site; otherwise the
 * wrappers are the pthread calls themselves.
 */

#ifndef SNAPVOL_LOCKORDER_H
#define SNAPVOL_LOCKORDER_H

#include <pthread.h>

enum lock_rank {
  LOCK_POOL = 1,        /* pool->mu */
  LOCK_ADMIN,           /* vol->admin_mu */
  LOCK_IDS,             /* pool->ids_mu */
  LOCK_SNAP,            /* vol->snap_lock */
  LOCK_STRIPE,          /* vol->stripe[] */
  LOCK_RESV,            /* journal.resv_mu */
  LOCK_RANKS
};

/* Count an acquisition of RANK by this thread, aborting if it holds a
 * lock of a higher rank; count a release.  Called by the wrappers
 * below only when SV_LOCK_ORDER_CHECK is defined (--enable-debug). */
extern void lockorder_acquire (enum lock_rank rank, const char *file,
                               int line);
extern void lockorder_release (enum lock_rank rank);

#ifdef SV_LOCK_ORDER_CHECK
#define LOCKORDER_ACQUIRE(rank, file, line) lockorder_acquire (rank, file, line)
#define LOCKORDER_RELEASE(rank) lockorder_release (rank)
#else
#define LOCKORDER_ACQUIRE(rank, file, line) ((void) 0)
#define LOCKORDER_RELEASE(rank) ((void) 0)
#endif

#define sv_lock(m, rank) \
  (LOCKORDER_ACQUIRE ((rank), __FILE__, __LINE__), pthread_mutex_lock (m))
#define sv_unlock(m, rank) \
  (pthread_mutex_unlock (m), LOCKORDER_RELEASE (rank))
#define sv_rdlock(l, rank) \
  (LOCKORDER_ACQUIRE ((rank), __FILE__, __LINE__), pthread_rwlock_rdlock (l))
#define sv_wrlock(l, rank) \
  (LOCKORDER_ACQUIRE ((rank), __FILE__, __LINE__), pthread_rwlock_wrlock (l))
#define sv_rwunlock(l, rank) \
  (pthread_rwlock_unlock (l), LOCKORDER_RELEASE (rank))

/* pthread_mutex_trylock through the check: 0 if taken (counted). */
static inline int __attribute__((unused))
sv_trylock_at (pthread_mutex_t *m, enum lock_rank rank, const char *file,
               int line)
{
  int r = pthread_mutex_trylock (m);

  if (r == 0)
    LOCKORDER_ACQUIRE (rank, file, line);
  return r;
}
#define sv_trylock(m, rank) sv_trylock_at ((m), (rank), __FILE__, __LINE__)

/* pthread_rwlock_trywrlock through the check: 0 if taken (counted). */
static inline int __attribute__((unused))
sv_trywrlock_at (pthread_rwlock_t *l, enum lock_rank rank, const char *file,
                 int line)
{
  int r = pthread_rwlock_trywrlock (l);

  if (r == 0)
    LOCKORDER_ACQUIRE (rank, file, line);
  return r;
}
#define sv_trywrlock(l, rank) \
  sv_trywrlock_at ((l), (rank), __FILE__, __LINE__)

/* Hold mutex M of RANK until the end of the scope. */
struct lock_scope {
  pthread_mutex_t *m;
  enum lock_rank rank;
};

static inline void __attribute__((unused))
lock_scope_end (struct lock_scope *s)
{
  sv_unlock (s->m, s->rank);
}

#define SV_LOCK_FOR_CURRENT_SCOPE(mutex, rank)                          \
  __attribute__((cleanup (lock_scope_end)))                             \
  struct lock_scope SV_LOCK_SCOPE_NAME (__LINE__) =                      \
    { (mutex), (rank) };                                                \
  sv_lock (SV_LOCK_SCOPE_NAME (__LINE__).m, (rank))
#define SV_LOCK_SCOPE_NAME(line) SV_LOCK_SCOPE_NAME2 (line)
#define SV_LOCK_SCOPE_NAME2(line) lock_scope_##line

#endif /* SNAPVOL_LOCKORDER_H */
