/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * libsnapvol-writer.c: the writer library (see snapvol-writer.h).
 *
 * Design notes
 *
 * The link to the coordinator is common/rpcpeer.c: its I/O loop runs in
 * the thread that called snapvol_writer_run, and its worker runs the
 * coordinator's calls, one at a time, in order.  A third thread, the
 * lease thread, thaws the application when the coordinator does not.
 *
 * Locks, taken in this order:
 *
 *   cb_lock   held while any application callback runs, so callbacks
 *             never overlap (the worker and the lease thread both call
 *             them);
 *   lock      the freeze state below and the lease thread's condition.
 *
 * Freeze state (under lock):
 *
 *   thawed --freeze callback ok--> frozen  (serial++, set, session,
 *                                           deadline = arrival of the
 *                                           call + window_ms)
 *   frozen --writer.thaw, writer.abort--> thawed  (worker)
 *   frozen --deadline passed, connection lost, stop--> thawed
 *                                          (lease thread, or run)
 *
 * A successful pre_restore enters the same state (frozen, with RESTORE
 * set): writer.post_restore ends it, as writer.thaw a freeze, and the
 * lease thread ends it with the post_restore callback ("reverted": -1)
 * where it would thaw.
 *
 * Whoever moves frozen -> thawed calls the thaw callback, so thaw runs
 * exactly once per successful freeze.  The move and the call happen
 * under cb_lock, and the serial tells a late party that the freeze it
 * saw has already ended.  The connection loss is seen twice over, so
 * that it cannot be missed: the disconnected hook moves the deadline of
 * a freeze of that session to now, and a freeze that completes on a
 * session no longer alive gets a deadline of now.
 *
 * Parameters from the coordinator are checked for type before use;
 * members we do not know are ignored, so that a newer coordinator can
 * add some.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jsonrpc.h"
#include "proto.h"
#include "rpcconn.h"
#include "rpcerr.h"
#include "rpcpeer.h"
#include "snapvol-writer.h"
#include "timespec.h"
#include "tls.h"
#include "uuid.h"
#include "vector.h"

#define FREEZE_TIMEOUT_DEFAULT 10000
#define MESSAGE_MAX 1024

struct snapvol_writer {
  /* Configuration: set before run, read by run's threads. */
  char *name;
  char *coordinator;
  char *certificate, *key, *ca;
  string_vector volumes;        /* PROVIDER/VOLUME strings, owned */
  unsigned freeze_timeout_ms;
  struct snapvol_writer_callbacks cbs;
  void *opaque;
  snapvol_writer_log_fn *log_fn;
  void *log_opaque;

  SSL_CTX *tls;                         /* made by the first run */
  _Atomic (struct rpcpeer *) peer;      /* made by the first run */
  atomic_bool stop_requested;
  atomic_bool running;

  pthread_mutex_t cb_lock;
  pthread_mutex_t lock;                 /* protects what follows */
  pthread_cond_t wake;                  /* for the lease thread */
  bool lease_stop;
  bool frozen;
  bool restore;                         /* frozen by pre_restore */
  uint64_t serial;                      /* counts freezes */
  char set_id[UUID_STRLEN + 1];         /* of the freeze */
  uint64_t session;                     /* the freeze came on this */
  unsigned window_ms;
  struct timespec deadline;             /* CLOCK_MONOTONIC */
  char thaw_reason[256];                /* why the deadline moved */
  /* The last freeze the library ended on its own, for writer.thaw. */
  char auto_set_id[UUID_STRLEN + 1];
  char auto_reason[256];
};

/* Errors. */

static __thread char error_buf[MESSAGE_MAX];
static __thread bool error_set;

const char *
snapvol_writer_error (void)
{
  return error_set ? error_buf : NULL;
}

static int set_error (const char *fmt, ...)
  __attribute__((format (printf, 1, 2)));

static int
set_error (const char *fmt, ...)
{
  va_list ap;
  int saved = errno;

  va_start (ap, fmt);
  vsnprintf (error_buf, sizeof error_buf, fmt, ap);
  va_end (ap);
  error_set = true;
  errno = saved;
  return -1;
}

/* Logging. */

static void wlog (struct snapvol_writer *w, int priority, const char *fmt,
                  ...)
  __attribute__((format (printf, 3, 4)));

static void
default_log (struct snapvol_writer *w, int priority, const char *msg)
{
  if (priority > SNAPVOL_WRITER_LOG_INFO)
    return;
  flockfile (stderr);
  fprintf (stderr, "snapvol writer %s: %s\n", w->name, msg);
  funlockfile (stderr);
}

static void
wlog (struct snapvol_writer *w, int priority, const char *fmt, ...)
{
  char msg[MESSAGE_MAX + 256];
  va_list ap;
  int saved = errno;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (w->log_fn)
    w->log_fn (w->log_opaque, priority, msg);
  else
    default_log (w, priority, msg);
  errno = saved;
}

/* Configuration. */

struct snapvol_writer *
snapvol_writer_new (const char *name)
{
  struct snapvol_writer *w;
  pthread_condattr_t attr;

  if (name == NULL || !proto_is_writer_name (name)) {
    set_error ("invalid writer name '%s': it must be 1 to %d characters "
               "from A-Z a-z 0-9 . _ -", name ? name : "", PROTO_NAME_MAX);
    errno = EINVAL;
    return NULL;
  }
  w = calloc (1, sizeof *w);
  if (w == NULL || (w->name = strdup (name)) == NULL) {
    free (w);
    set_error ("out of memory");
    return NULL;
  }
  w->freeze_timeout_ms = FREEZE_TIMEOUT_DEFAULT;
  atomic_init (&w->peer, NULL);
  atomic_init (&w->stop_requested, false);
  atomic_init (&w->running, false);
  pthread_mutex_init (&w->cb_lock, NULL);
  pthread_mutex_init (&w->lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&w->wake, &attr);
  pthread_condattr_destroy (&attr);
  return w;
}

void
snapvol_writer_free (struct snapvol_writer *w)
{
  size_t i;

  if (w == NULL)
    return;
  rpcpeer_free (atomic_load (&w->peer));
  SSL_CTX_free (w->tls);
  for (i = 0; i < w->volumes.len; i++)
    free (w->volumes.ptr[i]);
  string_vector_reset (&w->volumes);
  free (w->name);
  free (w->coordinator);
  free (w->certificate);
  free (w->key);
  free (w->ca);
  pthread_cond_destroy (&w->wake);
  pthread_mutex_destroy (&w->lock);
  pthread_mutex_destroy (&w->cb_lock);
  free (w);
}

/* Replace *VAR by a copy of VALUE. */
static int
set_string (char **var, const char *value, const char *what)
{
  char *copy;

  if (value == NULL || *value == '\0')
    return set_error ("%s must not be empty", what);
  copy = strdup (value);
  if (copy == NULL)
    return set_error ("out of memory");
  free (*var);
  *var = copy;
  return 0;
}

static int
check_idle (struct snapvol_writer *w)
{
  if (atomic_load (&w->running))
    return set_error ("writer %s is running: configure it before "
                      "snapvol_writer_run", w->name);
  return 0;
}

int
snapvol_writer_set_coordinator (struct snapvol_writer *w, const char *address)
{
  if (check_idle (w) == -1)
    return -1;
  return set_string (&w->coordinator, address, "the coordinator address");
}

int
snapvol_writer_set_tls (struct snapvol_writer *w, const char *certificate,
                        const char *key, const char *ca)
{
  if (check_idle (w) == -1 ||
      set_string (&w->certificate, certificate, "the certificate file") == -1 ||
      set_string (&w->key, key, "the key file") == -1 ||
      set_string (&w->ca, ca, "the CA file") == -1)
    return -1;
  /* New files: the next run loads them. */
  SSL_CTX_free (w->tls);
  w->tls = NULL;
  return 0;
}

int
snapvol_writer_add_volume (struct snapvol_writer *w, const char *volume)
{
  const char *slash = volume ? strchr (volume, '/') : NULL;
  char *copy;
  size_t i;

  if (check_idle (w) == -1)
    return -1;
  if (slash == NULL || slash == volume || slash[1] == '\0' ||
      strchr (slash + 1, '/') != NULL)
    return set_error ("invalid volume '%s': expected PROVIDER/VOLUME",
                      volume ? volume : "");
  for (i = 0; i < w->volumes.len; i++)
    if (strcmp (w->volumes.ptr[i], volume) == 0)
      return set_error ("volume %s is given twice", volume);
  copy = strdup (volume);
  if (copy == NULL || string_vector_append (&w->volumes, copy) == -1) {
    free (copy);
    return set_error ("out of memory");
  }
  return 0;
}

int
snapvol_writer_set_freeze_timeout (struct snapvol_writer *w, unsigned ms)
{
  if (check_idle (w) == -1)
    return -1;
  if (ms < PROTO_FREEZE_TIMEOUT_MIN_MS || ms > PROTO_FREEZE_TIMEOUT_MAX_MS)
    return set_error ("invalid freeze timeout %u ms: it must be from %d to "
                      "%d ms", ms, PROTO_FREEZE_TIMEOUT_MIN_MS,
                      PROTO_FREEZE_TIMEOUT_MAX_MS);
  w->freeze_timeout_ms = ms;
  return 0;
}

int
snapvol_writer_set_callbacks (struct snapvol_writer *w,
                              const struct snapvol_writer_callbacks *cbs,
                              size_t size, void *opaque)
{
  if (check_idle (w) == -1)
    return -1;
  memset (&w->cbs, 0, sizeof w->cbs);
  if (cbs != NULL)
    memcpy (&w->cbs, cbs, size < sizeof w->cbs ? size : sizeof w->cbs);
  w->opaque = opaque;
  return 0;
}

int
snapvol_writer_set_log (struct snapvol_writer *w, snapvol_writer_log_fn *fn,
                        void *opaque)
{
  if (check_idle (w) == -1)
    return -1;
  w->log_fn = fn;
  w->log_opaque = opaque;
  return 0;
}

/* Callbacks. */

static snapvol_writer_callback *
callback_of (struct snapvol_writer *w, enum snapvol_writer_event_kind kind)
{
  switch (kind) {
  case SNAPVOL_WRITER_PREPARE: return w->cbs.prepare;
  case SNAPVOL_WRITER_FREEZE: return w->cbs.freeze;
  case SNAPVOL_WRITER_THAW: return w->cbs.thaw;
  case SNAPVOL_WRITER_POST_SNAPSHOT: return w->cbs.post_snapshot;
  case SNAPVOL_WRITER_ABORT: return w->cbs.abort;
  case SNAPVOL_WRITER_PRE_RESTORE: return w->cbs.pre_restore;
  case SNAPVOL_WRITER_POST_RESTORE: return w->cbs.post_restore;
  }
  return NULL;
}

static const char *
event_name (enum snapvol_writer_event_kind kind)
{
  switch (kind) {
  case SNAPVOL_WRITER_PREPARE: return "prepare";
  case SNAPVOL_WRITER_FREEZE: return "freeze";
  case SNAPVOL_WRITER_THAW: return "thaw";
  case SNAPVOL_WRITER_POST_SNAPSHOT: return "post_snapshot";
  case SNAPVOL_WRITER_ABORT: return "abort";
  case SNAPVOL_WRITER_PRE_RESTORE: return "pre_restore";
  case SNAPVOL_WRITER_POST_RESTORE: return "post_restore";
  }
  return "?";
}

/* Run the application's callback for EV.  Caller holds cb_lock.
 * 0, or -1 with a one-line reason in MESSAGE. */
static int
run_callback (struct snapvol_writer *w, struct snapvol_writer_event *ev,
              char *message, size_t len)
{
  snapvol_writer_callback *cb = callback_of (w, ev->kind);
  char *p;
  int r;

  ev->name = event_name (ev->kind);
  message[0] = '\0';
  wlog (w, SNAPVOL_WRITER_LOG_DEBUG, "set %s: %s%s%s", ev->set_id, ev->name,
        ev->reason ? ": " : "", ev->reason ? ev->reason : "");
  if (cb == NULL)
    return 0;
  r = cb (w->opaque, ev, message, len);
  if (r == 0)
    return 0;
  message[len - 1] = '\0';
  for (p = message; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  if (message[0] == '\0')
    snprintf (message, len, "the %s callback failed", ev->name);
  wlog (w, SNAPVOL_WRITER_LOG_WARNING, "set %s: %s failed: %s", ev->set_id,
        ev->name, message);
  return -1;
}

/* The freeze lease. */

/* End the freeze number SERIAL on our own, for REASON, unless someone
 * ended it first.  Takes cb_lock and lock. */
static void
thaw_on_our_own (struct snapvol_writer *w, uint64_t serial,
                 const char *reason)
{
  struct snapvol_writer_event ev = { .kind = SNAPVOL_WRITER_THAW };
  char set_id[UUID_STRLEN + 1], why[256], message[MESSAGE_MAX];

  pthread_mutex_lock (&w->cb_lock);
  pthread_mutex_lock (&w->lock);
  if (!w->frozen || w->serial != serial) {
    pthread_mutex_unlock (&w->lock);
    pthread_mutex_unlock (&w->cb_lock);
    return;
  }
  if (w->restore) {
    ev.kind = SNAPVOL_WRITER_POST_RESTORE;
    ev.reverted = -1;
  }
  w->frozen = false;
  memcpy (set_id, w->set_id, sizeof set_id);
  snprintf (why, sizeof why, "%s", reason);
  memcpy (w->auto_set_id, set_id, sizeof set_id);
  snprintf (w->auto_reason, sizeof w->auto_reason, "%s", why);
  pthread_mutex_unlock (&w->lock);

  wlog (w, SNAPVOL_WRITER_LOG_WARNING, "set %s: %s on our own: %s",
        set_id, ev.kind == SNAPVOL_WRITER_THAW ? "thawing"
        : "ending the restore", why);
  ev.set_id = set_id;
  ev.reason = why;
  run_callback (w, &ev, message, sizeof message);
  pthread_mutex_unlock (&w->cb_lock);
}

static void *
lease_thread (void *arg)
{
  struct snapvol_writer *w = arg;

  pthread_mutex_lock (&w->lock);
  while (!w->lease_stop) {
    if (w->frozen &&
        timespec_ms_until (CLOCK_MONOTONIC, &w->deadline) <= 0) {
      uint64_t serial = w->serial;
      char reason[256];

      if (w->thaw_reason[0])
        snprintf (reason, sizeof reason, "%s", w->thaw_reason);
      else if (w->restore)
        snprintf (reason, sizeof reason, "writer.post_restore did not come "
                  "within the window of %u ms", w->window_ms);
      else
        snprintf (reason, sizeof reason, "neither writer.thaw nor "
                  "writer.abort came within the freeze window of %u ms",
                  w->window_ms);
      pthread_mutex_unlock (&w->lock);
      thaw_on_our_own (w, serial, reason);
      pthread_mutex_lock (&w->lock);
      continue;
    }
    if (w->frozen)
      pthread_cond_timedwait (&w->wake, &w->lock, &w->deadline);
    else
      pthread_cond_wait (&w->wake, &w->lock);
  }
  pthread_mutex_unlock (&w->lock);
  return NULL;
}

/* Make the lease thread thaw the freeze of SESSION (0: any) now. */
static void
expire_now (struct snapvol_writer *w, uint64_t session, const char *reason)
{
  pthread_mutex_lock (&w->lock);
  if (w->frozen && (session == 0 || w->session == session)) {
    w->deadline = timespec_now (CLOCK_MONOTONIC);
    snprintf (w->thaw_reason, sizeof w->thaw_reason, "%s", reason);
    pthread_cond_signal (&w->wake);
  }
  pthread_mutex_unlock (&w->lock);
}

/* Calls from the coordinator. */

/* A method fills its struct rpcerr when it fails; code 0 means it
 * succeeded (its result is {}). */

/* The string member KEY of PARAMS: NULL (with A set) if it is missing
 * and REQUIRED, or not a string. */
static const char *
get_string (json_t *params, const char *key, bool required,
            struct rpcerr *a)
{
  json_t *v = json_object_get (params, key);

  if (v == NULL) {
    if (required)
      rpcerr_set (a, JSONRPC_INVALID_PARAMS, "missing member '%s'", key);
    return NULL;
  }
  if (!json_is_string (v)) {
    rpcerr_set (a, JSONRPC_INVALID_PARAMS, "'%s' must be a string", key);
    return NULL;
  }
  return json_string_value (v);
}

/* The "volumes" of PARAMS into EV (malloc'd array of pointers into
 * PARAMS: the caller frees ev->volumes).  -1 with A set. */
static int
get_volumes (json_t *params, struct snapvol_writer_event *ev,
             struct rpcerr *a)
{
  json_t *list = json_object_get (params, "volumes"), *v;
  const char **volumes;
  size_t i;

  if (!json_is_array (list)) {
    rpcerr_set (a, JSONRPC_INVALID_PARAMS, "'volumes' must be an array of "
            "PROVIDER/VOLUME strings");
    return -1;
  }
  volumes = calloc (json_array_size (list) + 1, sizeof *volumes);
  if (volumes == NULL) {
    rpcerr_nomem (a);
    return -1;
  }
  json_array_foreach (list, i, v) {
    if (!json_is_string (v)) {
      rpcerr_set (a, JSONRPC_INVALID_PARAMS, "'volumes' must be an array of "
              "PROVIDER/VOLUME strings");
      free (volumes);
      return -1;
    }
    volumes[i] = json_string_value (v);
  }
  ev->volumes = volumes;
  ev->nvolumes = json_array_size (list);
  return 0;
}

static void
do_prepare (struct snapvol_writer *w, json_t *params,
            struct snapvol_writer_event *ev, struct rpcerr *a)
{
  const char **volumes;

  ev->label = json_object_get (params, "label") == NULL ? ""
    : get_string (params, "label", false, a);
  if (ev->label == NULL || get_volumes (params, ev, a) == -1)
    return;
  volumes = (const char **) ev->volumes;
  pthread_mutex_lock (&w->cb_lock);
  if (run_callback (w, ev, a->message, sizeof a->message) == -1)
    a->code = JSONRPC_INTERNAL_ERROR;
  pthread_mutex_unlock (&w->cb_lock);
  free (volumes);
}

static void
do_freeze (struct snapvol_writer *w, const struct rpcpeer_call *call,
           struct snapvol_writer_event *ev, struct rpcerr *a)
{
  json_t *window = json_object_get (call->params, "window_ms");
  struct timespec deadline;
  json_int_t ms;

  if (!json_is_integer (window) || (ms = json_integer_value (window)) < 1 ||
      ms > 3600000) {
    rpcerr_set (a, JSONRPC_INVALID_PARAMS, "'window_ms' must be an integer "
            "from 1 to 3600000");
    return;
  }
  ev->window_ms = (unsigned) ms;
  /* The window counts from the call's arrival, not from the end of
   * the callback. */
  deadline = timespec_add_ms (call->received, ev->window_ms);

  pthread_mutex_lock (&w->cb_lock);
  pthread_mutex_lock (&w->lock);
  if (w->frozen) {
    bool same = strcmp (w->set_id, ev->set_id) == 0;

    pthread_mutex_unlock (&w->lock);
    pthread_mutex_unlock (&w->cb_lock);
    if (!same)
      rpcerr_set (a, SV_RPC_BUSY, "writer %s is frozen for set %s", w->name,
              w->set_id);
    return;                     /* a repeated freeze: already done */
  }
  pthread_mutex_unlock (&w->lock);

  if (run_callback (w, ev, a->message, sizeof a->message) == -1) {
    a->code = JSONRPC_INTERNAL_ERROR;
    pthread_mutex_unlock (&w->cb_lock);
    return;
  }

  pthread_mutex_lock (&w->lock);
  w->frozen = true;
  w->restore = ev->kind == SNAPVOL_WRITER_PRE_RESTORE;
  w->serial++;
  snprintf (w->set_id, sizeof w->set_id, "%s", ev->set_id);
  w->session = call->session;
  w->window_ms = ev->window_ms;
  w->deadline = deadline;
  w->thaw_reason[0] = '\0';
  if (!rpcpeer_session_alive (atomic_load (&w->peer), call->session)) {
    w->deadline = timespec_now (CLOCK_MONOTONIC);
    snprintf (w->thaw_reason, sizeof w->thaw_reason,
              "the connection to the coordinator was lost");
  }
  pthread_cond_signal (&w->wake);
  pthread_mutex_unlock (&w->lock);
  pthread_mutex_unlock (&w->cb_lock);
}

/* writer.pre_restore: a freeze (the same lease) whose end is
 * post_restore. */
static void
do_pre_restore (struct snapvol_writer *w, const struct rpcpeer_call *call,
                struct snapvol_writer_event *ev, struct rpcerr *a)
{
  if (get_volumes (call->params, ev, a) == -1)
    return;
  do_freeze (w, call, ev, a);
  free ((void *) ev->volumes);
}

/* writer.post_restore {set_id, reverted}. */
static void
do_post_restore (struct snapvol_writer *w, json_t *params,
                 struct snapvol_writer_event *ev, struct rpcerr *a)
{
  json_t *reverted = json_object_get (params, "reverted");
  bool ours;

  if (!json_is_boolean (reverted)) {
    rpcerr_set (a, JSONRPC_INVALID_PARAMS, "'reverted' must be true or "
                "false");
    return;
  }
  ev->reverted = json_is_true (reverted);
  pthread_mutex_lock (&w->cb_lock);
  pthread_mutex_lock (&w->lock);
  ours = w->frozen && w->restore && strcmp (w->set_id, ev->set_id) == 0;
  if (ours)
    w->frozen = false;
  else if (!w->frozen && strcmp (w->auto_set_id, ev->set_id) == 0)
    rpcerr_set (a, SV_RPC_EXPIRED, "writer %s had already ended the restore "
                "on its own: %s", w->name, w->auto_reason);
  else if (w->frozen)
    rpcerr_set (a, SV_RPC_BUSY, "writer %s is %s for set %s, not %s",
                w->name, w->restore ? "restoring" : "frozen", w->set_id,
                ev->set_id);
  pthread_mutex_unlock (&w->lock);
  if (ours && run_callback (w, ev, a->message, sizeof a->message) == -1)
    a->code = JSONRPC_INTERNAL_ERROR;
  pthread_mutex_unlock (&w->cb_lock);
}

/* writer.thaw, and the thaw of writer.abort (REASON non-NULL). */
static void
do_thaw (struct snapvol_writer *w, struct snapvol_writer_event *ev,
         const char *reason, struct rpcerr *a)
{
  struct snapvol_writer_event thaw = {
    .kind = SNAPVOL_WRITER_THAW, .set_id = ev->set_id, .reason = reason,
  };
  bool ours;

  pthread_mutex_lock (&w->lock);
  ours = w->frozen && !w->restore && strcmp (w->set_id, ev->set_id) == 0;
  if (ours)
    w->frozen = false;
  else if (reason == NULL && !w->frozen &&
           strcmp (w->auto_set_id, ev->set_id) == 0)
    rpcerr_set (a, SV_RPC_EXPIRED, "writer %s had already thawed on its own: %s",
            w->name, w->auto_reason);
  else if (reason == NULL && w->frozen)
    rpcerr_set (a, SV_RPC_BUSY, "writer %s is frozen for set %s, not %s",
            w->name, w->set_id, ev->set_id);
  pthread_mutex_unlock (&w->lock);
  /* Not frozen for this set: nothing to thaw (writer.thaw may repeat). */
  if (ours && run_callback (w, &thaw, a->message, sizeof a->message) == -1)
    a->code = JSONRPC_INTERNAL_ERROR;
}

static void
do_post_snapshot (struct snapvol_writer *w, json_t *params,
                  struct snapvol_writer_event *ev, struct rpcerr *a)
{
  json_t *list = json_object_get (params, "snapshots"), *s;
  struct snapvol_writer_snapshot *snaps;
  char *text;
  size_t i;

  if (!json_is_array (list)) {
    rpcerr_set (a, JSONRPC_INVALID_PARAMS, "'snapshots' must be an array");
    return;
  }
  snaps = calloc (json_array_size (list) + 1, sizeof *snaps);
  /* The JSON text is made only for a callback that may read it: for
   * a writer of 1,024 volumes it is 200 KiB to encode again. */
  text = callback_of (w, SNAPVOL_WRITER_POST_SNAPSHOT)
    ? json_dumps (list, JSON_COMPACT) : strdup ("[]");
  if (snaps == NULL || text == NULL) {
    free (snaps);
    free (text);
    rpcerr_nomem (a);
    return;
  }
  json_array_foreach (list, i, s) {
    json_t *gen = json_object_get (s, "generation");

    snaps[i].provider = json_string_value (json_object_get (s, "provider"));
    snaps[i].volume = json_string_value (json_object_get (s, "volume"));
    snaps[i].id = json_string_value (json_object_get (s, "id"));
    snaps[i].export_name = json_string_value (json_object_get (s, "export"));
    snaps[i].uri = json_string_value (json_object_get (s, "uri"));
    snaps[i].generation = json_is_integer (gen) ? json_integer_value (gen) : 0;
    if (!json_is_object (s) || snaps[i].volume == NULL ||
        snaps[i].id == NULL || snaps[i].export_name == NULL) {
      rpcerr_set (a, JSONRPC_INVALID_PARAMS, "snapshot %zu lacks a string "
              "'volume', 'id' or 'export'", i);
      free (snaps);
      free (text);
      return;
    }
  }
  ev->snapshots = snaps;
  ev->nsnapshots = json_array_size (list);
  ev->snapshots_json = text;
  pthread_mutex_lock (&w->cb_lock);
  if (run_callback (w, ev, a->message, sizeof a->message) == -1)
    a->code = JSONRPC_INTERNAL_ERROR;
  pthread_mutex_unlock (&w->cb_lock);
  free (snaps);
  free (text);
}

static void
do_abort (struct snapvol_writer *w, json_t *params,
          struct snapvol_writer_event *ev, struct rpcerr *a)
{
  char reason[MESSAGE_MAX], thaw_message[MESSAGE_MAX];
  struct rpcerr thawed = { 0 };

  ev->reason = json_object_get (params, "reason") == NULL ? "aborted"
    : get_string (params, "reason", false, a);
  if (ev->reason == NULL)
    return;
  pthread_mutex_lock (&w->cb_lock);
  snprintf (reason, sizeof reason, "the set was aborted: %s", ev->reason);
  do_thaw (w, ev, reason, &thawed);
  snprintf (thaw_message, sizeof thaw_message, "%s", thawed.message);
  if (run_callback (w, ev, a->message, sizeof a->message) == -1)
    a->code = JSONRPC_INTERNAL_ERROR;
  else if (thawed.code != 0)
    rpcerr_set (a, thawed.code, "thaw failed: %s", thaw_message);
  pthread_mutex_unlock (&w->cb_lock);
}

static const struct {
  const char *method;
  enum snapvol_writer_event_kind kind;
} methods[] = {
  { "writer.prepare", SNAPVOL_WRITER_PREPARE },
  { "writer.freeze", SNAPVOL_WRITER_FREEZE },
  { "writer.thaw", SNAPVOL_WRITER_THAW },
  { "writer.post_snapshot", SNAPVOL_WRITER_POST_SNAPSHOT },
  { "writer.abort", SNAPVOL_WRITER_ABORT },
  { "writer.pre_restore", SNAPVOL_WRITER_PRE_RESTORE },
  { "writer.post_restore", SNAPVOL_WRITER_POST_RESTORE },
};

static json_t *
call (void *opaque, const struct rpcpeer_call *c)
{
  struct snapvol_writer *w = opaque;
  struct snapvol_writer_event ev = { .kind = 0 };
  struct rpcerr a = { .code = 0 };
  struct uuid u;
  size_t i;

  for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strcmp (methods[i].method, c->method) == 0)
      ev.kind = methods[i].kind;
  if (ev.kind == 0) {
    rpcerr_unknown_method (&a, c->method);
    return rpcerr_response (c->id, &a);
  }
  if (c->params != NULL && !json_is_object (c->params)) {
    rpcerr_set (&a, JSONRPC_INVALID_PARAMS, "params must be an object");
    return rpcerr_response (c->id, &a);
  }
  ev.set_id = get_string (c->params, "set_id", true, &a);
  if (ev.set_id != NULL && uuid_parse (ev.set_id, &u) == -1)
    rpcerr_set (&a, JSONRPC_INVALID_PARAMS, "'set_id' must be a UUID");

  if (a.code == 0) {
    switch (ev.kind) {
    case SNAPVOL_WRITER_PREPARE:
      do_prepare (w, c->params, &ev, &a);
      break;
    case SNAPVOL_WRITER_FREEZE:
      do_freeze (w, c, &ev, &a);
      break;
    case SNAPVOL_WRITER_THAW:
      pthread_mutex_lock (&w->cb_lock);
      do_thaw (w, &ev, NULL, &a);
      pthread_mutex_unlock (&w->cb_lock);
      break;
    case SNAPVOL_WRITER_POST_SNAPSHOT:
      do_post_snapshot (w, c->params, &ev, &a);
      break;
    case SNAPVOL_WRITER_ABORT:
      do_abort (w, c->params, &ev, &a);
      break;
    case SNAPVOL_WRITER_PRE_RESTORE:
      do_pre_restore (w, c, &ev, &a);
      break;
    case SNAPVOL_WRITER_POST_RESTORE:
      do_post_restore (w, c->params, &ev, &a);
      break;
    }
  }
  if (a.code != 0)
    return rpcerr_response (c->id, &a);
  return jsonrpc_result (c->id, json_object ());
}

/* The link's other operations. */

static json_t *
registration (void *opaque, const char **method, char *err, size_t errlen)
{
  struct snapvol_writer *w = opaque;
  json_t *params, *volumes;
  size_t i;

  params = json_pack ("{s:s, s:[], s:i}", "name", w->name, "volumes",
                      "freeze_timeout_ms", (int) w->freeze_timeout_ms);
  volumes = json_object_get (params, "volumes");
  for (i = 0; volumes && i < w->volumes.len; i++)
    if (json_array_append_new (volumes,
                               json_string (w->volumes.ptr[i])) == -1)
      volumes = NULL;
  if (volumes == NULL) {
    json_decref (params);
    snprintf (err, errlen, "out of memory");
    return NULL;
  }
  *method = "writer.register";
  return params;
}

static void
registered (void *opaque, uint64_t session, json_t *result)
{
  struct snapvol_writer *w = opaque;

  wlog (w, SNAPVOL_WRITER_LOG_INFO, "coordinator %s: registered as writer "
        "%s", w->coordinator, w->name);
}

static void
disconnected (void *opaque, uint64_t session, const char *why)
{
  struct snapvol_writer *w = opaque;

  expire_now (w, session, atomic_load (&w->stop_requested)
              ? "the writer is stopping"
              : "the connection to the coordinator was lost");
}

static void
peer_log (void *opaque, int priority, const char *msg)
{
  wlog (opaque, priority, "%s", msg);
}

static const struct rpcpeer_ops ops = {
  .registration = registration,
  .registered = registered,
  .call = call,
  .disconnected = disconnected,
  .log = peer_log,
};

/* Running. */

/* Load the TLS files and make the link, once. */
static int
prepare_run (struct snapvol_writer *w)
{
  char err[512];
  struct rpcpeer *p;

  if (w->coordinator == NULL)
    return set_error ("no coordinator address: call "
                      "snapvol_writer_set_coordinator");
  if (w->certificate == NULL)
    return set_error ("no certificate, key and CA: call "
                      "snapvol_writer_set_tls (the coordinator requires "
                      "a client certificate)");
  if (w->tls == NULL) {
    const struct tls_files files = {
      .certificate = w->certificate, .key = w->key, .ca = w->ca,
    };

    w->tls = tls_client_context (&files, err, sizeof err);
    if (w->tls == NULL)
      return set_error ("%s", err);
  }
  if (atomic_load (&w->peer) == NULL) {
    const struct rpcpeer_config cfg = {
      .what = "coordinator", .address = w->coordinator, .tls = w->tls,
    };
    struct rpcconn_targets *targets;

    targets = rpcconn_targets_new (w->coordinator, err, sizeof err);
    if (targets == NULL)
      return set_error ("%s", err);
    rpcconn_targets_free (targets);
    p = rpcpeer_new (&cfg, &ops, w);
    if (p == NULL)
      return set_error ("cannot create the link: %m");
    atomic_store (&w->peer, p);
  }
  return 0;
}

int
snapvol_writer_run (struct snapvol_writer *w)
{
  struct rpcpeer *p;
  sigset_t all, old;
  pthread_t lease;
  int err, r = 0;
  uint64_t serial;
  bool frozen;

  error_set = false;
  if (atomic_exchange (&w->running, true))
    return set_error ("writer %s is already running", w->name);
  if (prepare_run (w) == -1) {
    atomic_store (&w->running, false);
    return -1;
  }
  p = atomic_load (&w->peer);
  /* A stop that came before the link existed. */
  if (atomic_load (&w->stop_requested))
    rpcpeer_stop (p);

  w->lease_stop = false;
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, &old);
  err = pthread_create (&lease, NULL, lease_thread, w);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (err != 0) {
    atomic_store (&w->running, false);
    errno = err;
    return set_error ("cannot start the lease thread: %m");
  }

  if (rpcpeer_run (p) == -1)
    r = set_error ("cannot start the worker thread: %m");

  /* No call runs now: never return frozen. */
  pthread_mutex_lock (&w->lock);
  frozen = w->frozen;
  serial = w->serial;
  pthread_mutex_unlock (&w->lock);
  if (frozen)
    thaw_on_our_own (w, serial, "the writer is stopping");

  pthread_mutex_lock (&w->lock);
  w->lease_stop = true;
  pthread_cond_signal (&w->wake);
  pthread_mutex_unlock (&w->lock);
  pthread_join (lease, NULL);
  atomic_store (&w->running, false);
  return r;
}

void
snapvol_writer_stop (struct snapvol_writer *w)
{
  struct rpcpeer *p;

  atomic_store (&w->stop_requested, true);
  p = atomic_load (&w->peer);
  if (p != NULL)
    rpcpeer_stop (p);
}
