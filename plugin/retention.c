/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * retention.c: the periodic retention pass (retention.h).  Retention
 * by age (keep_younger, keep_daily, keep_weekly) changes its mind as
 * time passes with no snapshot taken, so a pass runs every interval
 * besides the one after each snapshot.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "retention.h"
#include "timespec.h"

struct retention {
  struct sv_pool *pool;
  unsigned interval;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;            /* signalled to stop */
  bool stop;
};

void
retention_log (void *opaque, const char *line)
{
  nbdkit_error ("%s", line);
}

static void *
retention_thread (void *arg)
{
  struct retention *r = arg;
  struct timespec deadline;

  pthread_mutex_lock (&r->mu);
  while (!r->stop) {
    deadline = timespec_deadline_ms (CLOCK_MONOTONIC,
                                     (int64_t) r->interval * 1000);
    while (!r->stop &&
           pthread_cond_timedwait (&r->cv, &r->mu, &deadline) != ETIMEDOUT)
      ;
    if (r->stop)
      break;
    pthread_mutex_unlock (&r->mu);
    if (pool_policy_apply (r->pool, NULL) == -1)
      nbdkit_error ("policy: periodic retention: %s", sv_errmsg ());
    pthread_mutex_lock (&r->mu);
  }
  pthread_mutex_unlock (&r->mu);
  return NULL;
}

struct retention *
retention_start (struct sv_pool *pool, unsigned interval)
{
  struct retention *r = calloc (1, sizeof *r);
  pthread_condattr_t ca;
  int err;

  if (r == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  r->pool = pool;
  r->interval = interval;
  pthread_mutex_init (&r->mu, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&r->cv, &ca);
  pthread_condattr_destroy (&ca);
  err = pthread_create (&r->thread, NULL, retention_thread, r);
  if (err != 0) {
    errno = err;
    nbdkit_error ("retention: pthread_create: %m");
    pthread_cond_destroy (&r->cv);
    pthread_mutex_destroy (&r->mu);
    free (r);
    return NULL;
  }
  return r;
}

void
retention_stop (struct retention *r)
{
  if (r == NULL)
    return;
  pthread_mutex_lock (&r->mu);
  r->stop = true;
  pthread_cond_signal (&r->cv);
  pthread_mutex_unlock (&r->mu);
  pthread_join (r->thread, NULL);
  pthread_cond_destroy (&r->cv);
  pthread_mutex_destroy (&r->mu);
  free (r);
}
