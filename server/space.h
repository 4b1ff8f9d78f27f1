/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * space.h: the pool's space account and the check of its space policy
 * on the write path (layer 3; docs/design.md, "Policies").
 *
 * Design notes
 * ------------
 * USED counts the bytes of physical clusters in use (or pending free)
 * in every open volume of the pool: each volume's allocator adds and
 * subtracts its cluster size as bits change (alloc.c, under its own
 * mutex, with one atomic add), so the pool's total is one atomic load.
 *
 * space_admit runs before a volume allocates new clusters (never for
 * a write in place).  With no limit and no reserve it is two atomic
 * loads.  With a limit it compares USED with it.  With a reserve it
 * estimates the filesystem's free space as what statvfs said last
 * minus what the pool allocated since, and calls statvfs again only
 * when that estimate is older than SPACE_STAT_MS, or when it says the
 * reserve is reached (to see space freed by others), at most once per
 * SPACE_STAT_RETRY_MS: no system call per write.
 *
 * UNPUNCHED counts the bytes of freed clusters waiting for their hole
 * punch (alloc.h): the filesystem still counts them as used, but a
 * punch gives them back at once (one is made when the filesystem
 * refuses a write: pool_make_room), so the estimate adds them to what
 * statvfs said (read after it: a punch in between makes the estimate
 * smaller, never larger).
 *
 * Every field is atomic; STAT_MU (a leaf) only keeps two threads from
 * calling statvfs at once.
 */

#ifndef SNAPVOL_SPACE_H
#define SNAPVOL_SPACE_H

#include <pthread.h>
#include <stdint.h>

#define SPACE_NO_LIMIT UINT64_MAX
#define SPACE_STAT_MS 100       /* the free-space estimate's age, at most */
#define SPACE_STAT_RETRY_MS 10  /* statvfs at most this often when full */

struct space {
  uint64_t used;                /* bytes of clusters in use, all volumes */
  uint64_t unpunched;           /* bytes of clusters waiting for a punch */
  uint64_t limit;               /* SPACE_NO_LIMIT: none */
  uint64_t reserve;             /* bytes the filesystem keeps free; 0: none */
  /* The last statvfs: its free bytes plus UNPUNCHED, USED at that
   * time, when. */
  uint64_t stat_free, stat_used, stat_ns;
  uint64_t refused;             /* allocations refused, ever */
  pthread_mutex_t stat_mu;
  char *dir;                    /* where statvfs looks: the pool */
};

/* 0, or -1 with ENOMEM (sv_error). */
extern int space_init (struct space *sp, const char *dir)
  __attribute__((nonnull));
extern void space_destroy (struct space *sp) __attribute__((nonnull));

/* Set the limit (SPACE_NO_LIMIT: none) and the reserve (0: none);
 * the next space_admit sees them.  Calls statvfs when a reserve is
 * set, so that the first check has a fresh estimate. */
extern void space_set (struct space *sp, uint64_t limit, uint64_t reserve)
  __attribute__((nonnull));

/* May the pool allocate BYTES more?  0, or -1 with ENOSPC and an
 * sv_error message naming the limit or the reserve and the numbers.
 * Takes no lock but STAT_MU (rarely, see above); never blocks on
 * I/O but statvfs. */
extern int space_admit (struct space *sp, uint64_t bytes)
  __attribute__((nonnull));

/* Forget the free-space estimate: the next space_admit calls statvfs
 * (after a deletion freed space). */
extern void space_forget (struct space *sp) __attribute__((nonnull));

/* Bytes in use, all volumes. */
static inline uint64_t
space_used (const struct space *sp)
{
  return __atomic_load_n (&sp->used, __ATOMIC_RELAXED);
}

#endif /* SNAPVOL_SPACE_H */
