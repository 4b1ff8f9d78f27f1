/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * cleanup.c: helpers called by the CLEANUP_* attributes.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "cleanup.h"

void
cleanup_free (void *ptr)
{
  free (*(void **) ptr);
}

void
cleanup_close (int *fd)
{
  int saved = errno;

  if (*fd >= 0)
    close (*fd);
  errno = saved;
}

void
cleanup_unlock (pthread_mutex_t **mutex)
{
  pthread_mutex_unlock (*mutex);
}
