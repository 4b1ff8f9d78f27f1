/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * coord.c: small helpers shared by the coordinator's modules.
 */

#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <sys/time.h>

#include "coord.h"

int
rpc_fail (struct rpc_error *e, int code, const char *fmt, ...)
{
  va_list ap;

  e->code = code;
  va_start (ap, fmt);
  vsnprintf (e->message, sizeof e->message, fmt, ap);
  va_end (ap);
  return -1;
}

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
