/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * space.c: the pool's space account and the space policy's check on
 * the write path (layer 3; design notes in space.h).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "errmsg.h"
#include "space.h"
#include "timespec.h"

int
space_init (struct space *sp, const char *dir)
{
  memset (sp, 0, sizeof *sp);
  sp->limit = SPACE_NO_LIMIT;
  sp->dir = strdup (dir);
  if (sp->dir == NULL)
    return sv_error (ENOMEM, "out of memory");
  pthread_mutex_init (&sp->stat_mu, NULL);
  return 0;
}

void
space_destroy (struct space *sp)
{
  pthread_mutex_destroy (&sp->stat_mu);
  free (sp->dir);
  sp->dir = NULL;
}

/* A coarse monotonic clock: read without a system call (vDSO). */
static uint64_t
now_ns (void)
{
  return (uint64_t) timespec_to_ns (timespec_now (CLOCK_MONOTONIC_COARSE));
}

/* statvfs the pool's filesystem and record what it said, unless
 * another thread is doing it (that one's answer will do). */
static void
restat (struct space *sp)
{
  struct statvfs st;

  if (pthread_mutex_trylock (&sp->stat_mu) != 0)
    return;
  if (statvfs (sp->dir, &st) == 0) {
    __atomic_store_n (&sp->stat_free, (uint64_t) st.f_bavail * st.f_frsize +
                      __atomic_load_n (&sp->unpunched, __ATOMIC_ACQUIRE),
                      __ATOMIC_RELAXED);
    __atomic_store_n (&sp->stat_used, space_used (sp), __ATOMIC_RELAXED);
  }
  /* A failed statvfs keeps the old estimate, and is tried again after
   * SPACE_STAT_MS. */
  __atomic_store_n (&sp->stat_ns, now_ns (), __ATOMIC_RELEASE);
  pthread_mutex_unlock (&sp->stat_mu);
}

void
space_set (struct space *sp, uint64_t limit, uint64_t reserve)
{
  __atomic_store_n (&sp->limit, limit, __ATOMIC_RELAXED);
  if (reserve > 0) {
    pthread_mutex_lock (&sp->stat_mu);
    __atomic_store_n (&sp->stat_ns, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock (&sp->stat_mu);
    restat (sp);
  }
  __atomic_store_n (&sp->reserve, reserve, __ATOMIC_RELAXED);
}

void
space_forget (struct space *sp)
{
  __atomic_store_n (&sp->stat_ns, 0, __ATOMIC_RELAXED);
}

/* The free bytes of the filesystem as estimated now. */
static uint64_t
free_estimate (struct space *sp)
{
  uint64_t f = __atomic_load_n (&sp->stat_free, __ATOMIC_RELAXED);
  uint64_t at = __atomic_load_n (&sp->stat_used, __ATOMIC_RELAXED);
  uint64_t used = space_used (sp);

  if (used <= at)
    return f;
  return used - at >= f ? 0 : f - (used - at);
}

static int
refuse (struct space *sp)
{
  __atomic_add_fetch (&sp->refused, 1, __ATOMIC_RELAXED);
  return -1;
}

int
space_admit (struct space *sp, uint64_t bytes)
{
  uint64_t limit = __atomic_load_n (&sp->limit, __ATOMIC_RELAXED);
  uint64_t reserve = __atomic_load_n (&sp->reserve, __ATOMIC_RELAXED);
  uint64_t used, age, f;

  if (limit == SPACE_NO_LIMIT && reserve == 0)
    return 0;
  used = space_used (sp);
  if (limit != SPACE_NO_LIMIT && (used >= limit || bytes > limit - used)) {
    sv_error (ENOSPC, "pool %s: space limit of %" PRIu64 " bytes reached (%"
              PRIu64 " bytes held)", sp->dir, limit, used);
    return refuse (sp);
  }
  if (reserve == 0)
    return 0;
  age = now_ns () - __atomic_load_n (&sp->stat_ns, __ATOMIC_ACQUIRE);
  if (age >= SPACE_STAT_MS * 1000000ull) {
    restat (sp);
    age = 0;
  }
  f = free_estimate (sp);
  if (f >= reserve && bytes <= f - reserve)
    return 0;
  if (age >= SPACE_STAT_RETRY_MS * 1000000ull) {
    restat (sp);
    f = free_estimate (sp);
    if (f >= reserve && bytes <= f - reserve)
      return 0;
  }
  sv_error (ENOSPC, "pool %s: free space reserve of %" PRIu64 " bytes reached"
            " (%" PRIu64 " bytes free on the filesystem)", sp->dir, reserve,
            f);
  return refuse (sp);
}
