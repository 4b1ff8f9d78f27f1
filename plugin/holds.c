/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * holds.c: leases on the write holds taken through the control socket.
 *
 * Design notes
 *
 * A hold (pool_hold) blocks every write to its volumes until someone
 * ends it, and the engine keeps no lease of its own.  A coordinator
 * that dies between hold.begin and hold.commit must not leave volumes
 * frozen, so every hold taken through the control socket is recorded
 * here with a deadline, and a reaper thread releases it once the
 * deadline passes.
 *
 * States of a record (all transitions under holds->lock):
 *
 *   ACTIVE --holds_take-------> COMMITTED
 *   ACTIVE --holds_release----> RELEASED
 *   ACTIVE --deadline passed--> EXPIRED    (reaper, or holds_take /
 *                                           holds_release noticing it)
 *
 * A transition moves the struct sv_hold pointer out of the record, so
 * exactly one party ends a given hold; the engine call itself runs
 * after the lock is dropped, so that a slow commit never delays the
 * reaper or other clients.  Ended records stay as tombstones for
 * TOMBSTONE_SECONDS: a late commit is then answered "expired" rather
 * than "unknown", and a repeated release "already ended".
 *
 * A hold is not tied to the connection that took it: a coordinator
 * may lose its connection, reconnect and still commit or release.  A
 * hold whose client went away therefore runs until its lease ends.
 *
 * Deadlines use CLOCK_MONOTONIC: changing the wall clock neither
 * shortens nor extends a lease.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "holds.h"
#include "timespec.h"

/* How long an ended hold is remembered. */
#define TOMBSTONE_SECONDS 600
/* Records kept at most.  Active holds are bounded by the number of
 * volumes (a volume is in at most one hold); this bounds tombstones. */
#define MAX_RECORDS 4096

struct record {
  struct record *next;
  struct uuid id;
  struct uuid set_id;           /* the set it was taken for, if any */
  bool has_set_id;
  struct sv_hold *hold;         /* non-NULL exactly while ACTIVE */
  size_t nvolumes;
  enum hold_state state;
  /* ACTIVE: end of the lease; ended: when the tombstone is dropped. */
  struct timespec deadline;
};

struct holds {
  struct sv_pool *pool;
  pthread_mutex_t lock;         /* protects everything below */
  pthread_cond_t wake;          /* a record was added, or stopping */
  struct record *records;       /* newest first */
  size_t nrecords;
  bool stopping;
  bool reaper_started;
  pthread_t reaper;
};

/* Turn the active record R into a tombstone in STATE and return the
 * hold the caller must now end.  Called with the lock held. */
static struct sv_hold *
end_record (struct record *r, enum hold_state state)
{
  struct sv_hold *hold = r->hold;

  r->hold = NULL;
  r->state = state;
  r->deadline = timespec_deadline_ms (CLOCK_MONOTONIC,
                                      TOMBSTONE_SECONDS * 1000);
  return hold;
}

static struct record *
find_record (struct holds *holds, const struct uuid *id)
{
  struct record *r;

  for (r = holds->records; r != NULL; r = r->next)
    if (uuid_equal (&r->id, id))
      return r;
  return NULL;
}

/* Make room for one record by forgetting the oldest tombstone.  -1
 * if every record is an active hold.  Called with the lock held. */
static int
drop_oldest_tombstone (struct holds *holds)
{
  struct record **pp, **oldest = NULL, *r;

  for (pp = &holds->records; *pp != NULL; pp = &(*pp)->next)
    if ((*pp)->state != HOLD_ACTIVE)
      oldest = pp;
  if (oldest == NULL)
    return -1;
  r = *oldest;
  *oldest = r->next;
  free (r);
  holds->nrecords--;
  return 0;
}

static void
log_expired (const struct uuid *id, size_t nvolumes)
{
  char text[UUID_STRLEN + 1];

  uuid_format (id, text);
  nbdkit_debug ("control: hold %s on %zu volume(s) expired before commit; "
                "writes released", text, nvolumes);
}

/* The reaper: end each active hold when its deadline passes and
 * forget old tombstones, sleeping until the nearest deadline. */
static void *
reaper (void *arg)
{
  struct holds *holds = arg;

  pthread_mutex_lock (&holds->lock);
  while (!holds->stopping) {
    struct record **pp, *r;
    struct timespec now, next = { 0, 0 };
    struct sv_hold *expired = NULL;
    struct uuid expired_id = { { 0 } };
    size_t expired_nvolumes = 0;
    bool have_next = false;

    now = timespec_now (CLOCK_MONOTONIC);
    for (pp = &holds->records; (r = *pp) != NULL; ) {
      if (timespec_cmp (&r->deadline, &now) <= 0) {
        if (r->state == HOLD_ACTIVE) {
          expired_id = r->id;
          expired_nvolumes = r->nvolumes;
          expired = end_record (r, HOLD_EXPIRED);
          break;
        }
        *pp = r->next;
        free (r);
        holds->nrecords--;
        continue;
      }
      if (!have_next || timespec_cmp (&r->deadline, &next) < 0) {
        next = r->deadline;
        have_next = true;
      }
      pp = &r->next;
    }

    if (expired != NULL) {
      /* The record already says EXPIRED, so nobody else will touch
       * this hold while the lock is dropped. */
      pthread_mutex_unlock (&holds->lock);
      log_expired (&expired_id, expired_nvolumes);
      pool_hold_release (holds->pool, expired);
      pthread_mutex_lock (&holds->lock);
      continue;
    }
    if (have_next)
      pthread_cond_timedwait (&holds->wake, &holds->lock, &next);
    else
      pthread_cond_wait (&holds->wake, &holds->lock);
  }
  pthread_mutex_unlock (&holds->lock);
  return NULL;
}

struct holds *
holds_new (struct sv_pool *pool)
{
  struct holds *holds;
  pthread_condattr_t attr;
  int err;

  holds = calloc (1, sizeof *holds);
  if (holds == NULL)
    return NULL;
  holds->pool = pool;

  err = pthread_condattr_init (&attr);
  if (err == 0) {
    err = pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    if (err == 0)
      err = pthread_cond_init (&holds->wake, &attr);
    pthread_condattr_destroy (&attr);
  }
  if (err != 0) {
    free (holds);
    errno = err;
    return NULL;
  }
  pthread_mutex_init (&holds->lock, NULL);
  return holds;
}

int
holds_start (struct holds *holds)
{
  int err;

  err = pthread_create (&holds->reaper, NULL, reaper, holds);
  if (err != 0) {
    errno = err;
    return -1;
  }
  holds->reaper_started = true;
  return 0;
}

void
holds_free (struct holds *holds)
{
  struct record *r, *next;

  if (holds == NULL)
    return;

  pthread_mutex_lock (&holds->lock);
  holds->stopping = true;
  pthread_cond_signal (&holds->wake);
  pthread_mutex_unlock (&holds->lock);
  if (holds->reaper_started)
    pthread_join (holds->reaper, NULL);

  for (r = holds->records; r != NULL; r = next) {
    next = r->next;
    if (r->state == HOLD_ACTIVE) {
      char text[UUID_STRLEN + 1];

      uuid_format (&r->id, text);
      nbdkit_debug ("control: releasing hold %s at shutdown", text);
      pool_hold_release (holds->pool, r->hold);
    }
    free (r);
  }
  pthread_cond_destroy (&holds->wake);
  pthread_mutex_destroy (&holds->lock);
  free (holds);
}

int
holds_add (struct holds *holds, struct sv_hold *hold, size_t nvolumes,
           unsigned timeout_ms, const struct uuid *set_id,
           char id[UUID_STRLEN + 1])
{
  struct record *r;
  int err;

  r = calloc (1, sizeof *r);
  if (r == NULL)
    goto err;
  if (uuid_generate (&r->id) == -1)
    goto err;
  uuid_format (&r->id, id);
  r->hold = hold;
  r->nvolumes = nvolumes;
  if (set_id != NULL) {
    r->set_id = *set_id;
    r->has_set_id = true;
  }
  r->state = HOLD_ACTIVE;
  r->deadline = timespec_deadline_ms (CLOCK_MONOTONIC, timeout_ms);

  pthread_mutex_lock (&holds->lock);
  if (holds->nrecords >= MAX_RECORDS &&
      drop_oldest_tombstone (holds) == -1) {
    pthread_mutex_unlock (&holds->lock);
    errno = EAGAIN;
    goto err;
  }
  r->next = holds->records;
  holds->records = r;
  holds->nrecords++;
  /* The new deadline may be nearer than the one the reaper sleeps on. */
  pthread_cond_signal (&holds->wake);
  pthread_mutex_unlock (&holds->lock);
  return 0;

 err:
  err = errno;
  free (r);
  pool_hold_release (holds->pool, hold);
  errno = err;
  return -1;
}

/* End the active hold ID as ENDING (HOLD_COMMITTED or HOLD_RELEASED):
 * HOLD_ACTIVE, with its pin in *HOLD and its volume count in
 * *NVOLUMES.  A hold past its deadline is ended as expired instead
 * (logged, its pin released): HOLD_EXPIRED.  Else the state of a hold
 * that is not active, HOLD_UNKNOWN for none. */
static enum hold_state
end_active (struct holds *holds, const struct uuid *id,
            enum hold_state ending, struct sv_hold **hold,
            size_t *nvolumes)
{
  struct sv_hold *expired = NULL;
  enum hold_state state;
  struct timespec now;
  struct record *r;

  now = timespec_now (CLOCK_MONOTONIC);
  pthread_mutex_lock (&holds->lock);
  r = find_record (holds, id);
  if (r == NULL)
    state = HOLD_UNKNOWN;
  else if (r->state != HOLD_ACTIVE)
    state = r->state;
  else if (timespec_cmp (&r->deadline, &now) <= 0) {
    /* The lease is over even if the reaper has not woken up yet: a
     * commit must never pin after the deadline it was promised. */
    *nvolumes = r->nvolumes;
    expired = end_record (r, HOLD_EXPIRED);
    state = HOLD_EXPIRED;
  }
  else {
    *nvolumes = r->nvolumes;
    *hold = end_record (r, ending);
    state = HOLD_ACTIVE;
  }
  pthread_mutex_unlock (&holds->lock);

  if (expired != NULL) {
    log_expired (id, *nvolumes);
    pool_hold_release (holds->pool, expired);
  }
  return state;
}

enum hold_state
holds_take (struct holds *holds, const struct uuid *id,
            struct sv_hold **hold, size_t *nvolumes)
{
  return end_active (holds, id, HOLD_COMMITTED, hold, nvolumes);
}

enum hold_state
holds_release (struct holds *holds, const struct uuid *id)
{
  struct sv_hold *hold = NULL;
  size_t nvolumes = 0;
  enum hold_state state;

  state = end_active (holds, id, HOLD_RELEASED, &hold, &nvolumes);
  if (hold != NULL)
    pool_hold_release (holds->pool, hold);
  return state;
}

size_t
holds_release_set (struct holds *holds, const struct uuid *set_id)
{
  size_t n = 0;

  /* One hold at a time, so that the engine call runs without the lock
   * (design notes); a hold released meanwhile is no longer active. */
  for (;;) {
    struct sv_hold *hold = NULL;
    struct record *r;

    pthread_mutex_lock (&holds->lock);
    for (r = holds->records; r != NULL; r = r->next)
      if (r->state == HOLD_ACTIVE && r->has_set_id &&
          uuid_equal (&r->set_id, set_id)) {
        hold = end_record (r, HOLD_RELEASED);
        break;
      }
    pthread_mutex_unlock (&holds->lock);
    if (hold == NULL)
      return n;
    pool_hold_release (holds->pool, hold);
    n++;
  }
}
