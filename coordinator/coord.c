/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * coord.c: small helpers shared by the coordinator's modules.
 */

#include <config.h>

#include <time.h>
#include <sys/time.h>

#include "coord.h"

int64_t
coord_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
coord_now (void)
{
  return (int64_t) time (NULL);
}

struct timeval *
coord_timeval (struct timeval *tv, int64_t ms)
{
  if (ms < 0)
    ms = 0;
  tv->tv_sec = ms / 1000;
  tv->tv_usec = (ms % 1000) * 1000;
  return tv;
}
