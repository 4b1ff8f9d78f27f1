/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * cleanup.h: scope-bound cleanup with __attribute__((cleanup)).
 */

#ifndef SNAPVOL_CLEANUP_H
#define SNAPVOL_CLEANUP_H

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

extern void cleanup_free (void *ptr);
extern void cleanup_close (int *fd);
extern void cleanup_unlock (pthread_mutex_t **mutex);

#define CLEANUP_FREE __attribute__((cleanup (cleanup_free)))
#define CLEANUP_CLOSE __attribute__((cleanup (cleanup_close)))

/* Lock MUTEX until the end of the enclosing scope. */
#define SV_CONCAT_(a, b) a##b
#define SV_CONCAT(a, b) SV_CONCAT_ (a, b)
#define ACQUIRE_LOCK_FOR_CURRENT_SCOPE(mutex)                           \
  __attribute__((cleanup (cleanup_unlock)))                             \
  pthread_mutex_t *SV_CONCAT (lock_, __LINE__) = (mutex);               \
  pthread_mutex_lock (SV_CONCAT (lock_, __LINE__))

#endif /* SNAPVOL_CLEANUP_H */
