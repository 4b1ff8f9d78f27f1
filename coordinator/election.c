/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * election.c: campaigning for leadership on etcd, keeping it, and
 * noticing its loss (the rules are in election.h's design notes).
 */

#include <config.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "election.h"
#include "etcd.h"
#include "log.h"
#include "timespec.h"

#define ELECTION_WHY_MAX 512
/* Why no leader is known when etcd does not answer. */
#define ELECTION_ETCD_DOWN "etcd is unreachable or has no quorum: "
/* Bounds of the client's per-endpoint timeout: a third of the lease,
 * so that a renewal that times out leaves time for another. */
#define ELECTION_TIMEOUT_MIN_MS 200
#define ELECTION_TIMEOUT_MAX_MS 1000
/* A follower that etcd does not answer polls less often, doubling up
 * to this: each failed read blocked the loop for a timeout. */
#define ELECTION_BACKOFF_MAX_MS 2400

struct election {
  const struct config *conf;
  const struct election_ops *ops;
  void *arg;
  struct etcd *etcd;
  struct event *tick;
  char *leader_key;             /* PREFIX/leader */
  int64_t ttl_ms;               /* the lease's TTL */
  bool leading;
  bool over;                    /* lost() was called: nothing more runs */
  int64_t lease;                /* the leader's lease; 0: none */
  uint64_t term;                /* the leader key's create_revision */
  struct timespec renewed;      /* sent: the last renewal that succeeded */
  struct timespec next_renewal;
  char *leader;                 /* as last read; NULL: none known */
  char why[ELECTION_WHY_MAX];   /* why none is known */
  bool etcd_failing;            /* the failure is logged already */
  int64_t poll_ms;              /* until the next tick */
};

static void
set_leader (struct election *el, const void *value, size_t len)
{
  if (el->leader && strlen (el->leader) == len &&
      memcmp (el->leader, value, len) == 0)
    return;
  free (el->leader);
  el->leader = strndup (value, len);
  if (el->leader)
    log_info ("the leader is %s", el->leader);
}

static void set_no_leader (struct election *el, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* No leader is known, for the reason FMT. */
static void
set_no_leader (struct election *el, const char *fmt, ...)
{
  va_list ap;

  free (el->leader);
  el->leader = NULL;
  va_start (ap, fmt);
  vsnprintf (el->why, sizeof el->why, fmt, ap);
  va_end (ap);
}

/* An etcd call failed with ERR: logged once until one succeeds. */
static void
etcd_failed (struct election *el, const char *what, const char *err)
{
  if (!el->etcd_failing)
    log_warnx ("etcd: %s: %s", what, err);
  el->etcd_failing = true;
  el->poll_ms = el->poll_ms * 2 > ELECTION_BACKOFF_MAX_MS
    ? ELECTION_BACKOFF_MAX_MS : el->poll_ms * 2;
}

static void
etcd_answered (struct election *el)
{
  if (el->etcd_failing)
    log_info ("etcd answers again");
  el->etcd_failing = false;
  el->poll_ms = ELECTION_POLL_MS;
}

static bool
is_advertise (const struct election *el, const void *value, size_t len)
{
  const char *me = el->conf->advertise;

  return strlen (me) == len && memcmp (me, value, len) == 0;
}

static void
revoke_lease (struct election *el)
{
  char err[1024];

  if (el->lease == 0)
    return;
  if (etcd_lease_revoke (el->etcd, el->lease, err, sizeof err) == -1)
    log_debug ("etcd: revoke lease %" PRId64 ": %s", el->lease, err);
  el->lease = 0;
}

static void lose (struct election *el, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* Leadership is over for this process: give the lease back and tell
 * the owner, which restarts the daemon. */
static void
lose (struct election *el, const char *fmt, ...)
{
  char why[ELECTION_WHY_MAX];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (why, sizeof why, fmt, ap);
  va_end (ap);
  el->leading = false;
  el->over = true;
  event_del (el->tick);
  revoke_lease (el);
  el->ops->lost (el->arg, why);
}

static int64_t
since_ms (const struct timespec *t)
{
  struct timespec now = timespec_now (CLOCK_MONOTONIC);

  return timespec_to_ms (timespec_sub (now, *t));
}

/* The leader key is ours with TERM: we lead.  Serve, or give up. */
static void
won (struct election *el, uint64_t term)
{
  el->leading = true;
  el->term = term;
  free (el->leader);
  el->leader = strdup (el->conf->advertise);
  log_info ("elected leader with term %" PRIu64 " (lease %" PRId64
            ", TTL %u s)", term, el->lease, el->conf->etcd_lease_s);
  if (el->ops->elected (el->arg, el->etcd, term) == -1) {
    lose (el, "the leader of term %" PRIu64 " could not start serving",
          term);
    return;
  }
  if (since_ms (&el->renewed) >= el->ttl_ms)
    lose (el, "starting to serve took longer than the lease's TTL of %u s",
          el->conf->etcd_lease_s);
}

/* The leader key is absent: put it, bound to a new lease, if it still
 * is.  Whoever won, the next read of the key says who leads. */
static void
campaign (struct election *el)
{
  struct timespec sent = timespec_now (CLOCK_MONOTONIC);
  const char *me = el->conf->advertise;
  struct etcd_cmp cmp = {
    .key = el->leader_key, .target = ETCD_CREATE, .revision = 0,
  };
  struct etcd_op op = {
    .kind = ETCD_PUT, .key = el->leader_key, .value = me, .len = strlen (me),
  };
  struct etcd_kv kv = { 0 };
  bool succeeded, found;
  char err[1024];

  if (etcd_lease_grant (el->etcd, el->conf->etcd_lease_s, &el->lease, err,
                        sizeof err) == -1) {
    el->lease = 0;
    etcd_failed (el, "lease grant", err);
    set_no_leader (el, ELECTION_ETCD_DOWN "%s", err);
    return;
  }
  op.lease = el->lease;
  if (etcd_txn (el->etcd, &cmp, 1, &op, 1, &succeeded, NULL, err,
                sizeof err) == -1 ||
      (succeeded &&
       etcd_get (el->etcd, el->leader_key, &kv, &found, NULL, err,
                 sizeof err) == -1)) {
    etcd_failed (el, "campaign", err);
    set_no_leader (el, ELECTION_ETCD_DOWN "%s", err);
    revoke_lease (el);
    return;
  }
  if (!succeeded) {
    revoke_lease (el);
    return;
  }
  el->renewed = sent;
  el->next_renewal = timespec_add_ms (sent, el->ttl_ms / 3);
  /* Between the put and the read the lease cannot have gone (it was
   * granted a TTL ago at most), but check what the key says. */
  if (found && kv.lease == el->lease && is_advertise (el, kv.value, kv.len)
      && kv.create_revision > 0)
    won (el, (uint64_t) kv.create_revision);
  else
    revoke_lease (el);
  if (found)
    etcd_kv_free (&kv);
}

/* A follower's tick: who leads?  Campaign if nobody does. */
static void
follow (struct election *el)
{
  struct etcd_kv kv = { 0 };
  bool found;
  char err[1024];

  if (etcd_get (el->etcd, el->leader_key, &kv, &found, NULL, err,
                sizeof err) == -1) {
    etcd_failed (el, "read the leader key", err);
    set_no_leader (el, ELECTION_ETCD_DOWN "%s", err);
    return;
  }
  etcd_answered (el);
  if (!found) {
    campaign (el);
    return;
  }
  if (is_advertise (el, kv.value, kv.len))
    /* Written by this coordinator before it restarted: its lease is
     * not ours and runs out by itself within its TTL. */
    set_no_leader (el, "the leader key still names this coordinator's "
                   "previous run, lease %" PRId64 ", until that lease "
                   "expires", kv.lease);
  else
    set_leader (el, kv.value, kv.len);
  etcd_kv_free (&kv);
}

/* Renew the lease when its time has come.  Returns false when
 * leadership was lost (lose() was called). */
static bool
renew (struct election *el)
{
  struct timespec sent = timespec_now (CLOCK_MONOTONIC);
  int64_t ttl_left;
  char err[1024];

  if (timespec_cmp (&sent, &el->next_renewal) < 0)
    return true;
  if (etcd_lease_keepalive (el->etcd, el->lease, &ttl_left, err,
                            sizeof err) == -1) {
    etcd_failed (el, "lease keepalive", err);
    if (since_ms (&el->renewed) < el->ttl_ms)
      return true;
    lose (el, "the lease was not renewed for %u s (its TTL): %s",
          el->conf->etcd_lease_s, err);
    return false;
  }
  etcd_answered (el);
  if (ttl_left <= 0) {
    lose (el, "lease %" PRId64 " expired", el->lease);
    return false;
  }
  el->renewed = sent;
  el->next_renewal = timespec_add_ms (sent, el->ttl_ms / 3);
  return true;
}

/* The leader's tick: keep the lease, and check the key is still ours. */
static void
lead (struct election *el)
{
  struct etcd_kv kv = { 0 };
  bool found;
  char err[1024];

  if (since_ms (&el->renewed) >= el->ttl_ms) {
    lose (el, "the lease was not renewed for %u s (its TTL)",
          el->conf->etcd_lease_s);
    return;
  }
  if (!renew (el))
    return;
  if (etcd_get (el->etcd, el->leader_key, &kv, &found, NULL, err,
                sizeof err) == -1) {
    etcd_failed (el, "read the leader key", err);
    return;
  }
  if (!found)
    lose (el, "the leader key %s is gone", el->leader_key);
  else if (kv.create_revision != (int64_t) el->term ||
           !is_advertise (el, kv.value, kv.len))
    lose (el, "the leader key %s now holds %.*s with term %" PRId64,
          el->leader_key, (int) (kv.len < 256 ? kv.len : 256),
          (const char *) kv.value, kv.create_revision);
  if (found)
    etcd_kv_free (&kv);
}

static void
tick_cb (evutil_socket_t fd, short what, void *arg)
{
  struct election *el = arg;
  struct timeval tv;

  if (el->over)
    return;
  if (el->leading)
    lead (el);
  else
    follow (el);
  if (el->over)
    return;
  /* The leader keeps its pace whatever etcd does: its renewals. */
  if (el->leading)
    el->poll_ms = ELECTION_POLL_MS;
  tv.tv_sec = el->poll_ms / 1000;
  tv.tv_usec = (el->poll_ms % 1000) * 1000;
  if (event_add (el->tick, &tv) == -1)
    log_warnx ("election: cannot set its timer");
}

static int
etcd_timeout_ms (const struct config *conf)
{
  int ms = (int) (conf->etcd_lease_s * 1000u / 3);

  if (ms < ELECTION_TIMEOUT_MIN_MS)
    return ELECTION_TIMEOUT_MIN_MS;
  return ms > ELECTION_TIMEOUT_MAX_MS ? ELECTION_TIMEOUT_MAX_MS : ms;
}

struct election *
election_new (struct event_base *base, const struct config *conf,
              const struct election_ops *ops, void *arg, char *err,
              size_t errlen)
{
  struct etcd_conf ec = {
    .endpoints = (const char *const *) conf->etcd_endpoints.ptr,
    .nendpoints = conf->etcd_endpoints.len,
    .ca = conf->etcd_ca,
    .certificate = conf->etcd_certificate,
    .key = conf->etcd_key,
    .timeout_ms = etcd_timeout_ms (conf),
  };
  struct election *el;

  el = calloc (1, sizeof *el);
  if (el == NULL) {
    snprintf (err, errlen, "election: %m");
    return NULL;
  }
  el->conf = conf;
  el->ops = ops;
  el->arg = arg;
  el->ttl_ms = (int64_t) conf->etcd_lease_s * 1000;
  snprintf (el->why, sizeof el->why, "no leader is known yet");
  if (asprintf (&el->leader_key, "%s/leader", conf->etcd_prefix) == -1) {
    el->leader_key = NULL;
    snprintf (err, errlen, "election: %m");
    goto err;
  }
  el->etcd = etcd_open (&ec, err, errlen);
  if (el->etcd == NULL)
    goto err;
  el->poll_ms = ELECTION_POLL_MS;
  el->tick = evtimer_new (base, tick_cb, el);
  if (el->tick == NULL) {
    snprintf (err, errlen, "election: cannot set its timer");
    goto err;
  }
  event_active (el->tick, EV_TIMEOUT, 0);
  return el;

 err:
  election_free (el);
  return NULL;
}

void
election_free (struct election *el)
{
  if (el == NULL)
    return;
  if (el->tick)
    event_free (el->tick);
  if (el->etcd && el->leading) {
    revoke_lease (el);
    log_info ("leadership of term %" PRIu64 " given up", el->term);
  }
  if (el->etcd)
    etcd_close (el->etcd);
  free (el->leader_key);
  free (el->leader);
  free (el);
}

bool
election_is_leader (const struct election *el)
{
  return el->leading;
}

const char *
election_leader (const struct election *el, const char **why)
{
  if (el->leader == NULL && why)
    *why = el->why;
  return el->leader;
}
