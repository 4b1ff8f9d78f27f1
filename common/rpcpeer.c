/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpcpeer.c: a registered peer's lasting link to the coordinator
 * (see rpcpeer.h).
 *
 * Design notes
 *
 * Two threads.  The I/O loop (rpcpeer_run) owns the connection: only
 * it reads and writes the SSL object.  The worker runs the
 * coordinator's calls.  They meet in two queues under p->lock:
 *
 *   I/O loop --jobs--> worker      requests, in the order read
 *   worker   --done--> I/O loop    responses, in the order run;
 *                                  a byte on wake_pipe says so
 *
 * so calls are answered one at a time, in order, while the I/O loop
 * keeps sending pings: a hold.begin waiting up to a minute, or a
 * writer's freeze hook, never makes the link look dead.
 *
 * Sessions: each connection gets a number; p->live is the number of
 * the connection up now (0 between connections).  A job or a response
 * of another session is dropped: its connection is gone, and the
 * coordinator counts the call as failed.  The call running when the
 * connection drops finishes; its answer is dropped.
 *
 * Requests are queued for the worker only once everything readable
 * has been read (drain_input): requests read together with the end of
 * their connection are dropped, never run.  That is the case of a peer
 * stopped (SIGSTOP, a VM paused) for longer than the coordinator's
 * heartbeat: the coordinator gave the calls up as failed and closed
 * the connection, and running them at resumption would, say, take a
 * hold that no one will ever commit or release.
 *
 * Terms (fencing, docs/protocol.md): the link keeps the highest
 * coordinator term it has seen, from register results and calls, in
 * memory.  The worker checks each call's "term" (absent: 0) before the
 * call runs: a lower one is refused with SV_RPC_STALE_TERM and nothing
 * else happens, so a deposed coordinator that wakes up late can
 * neither hold, pin nor thaw.  The check is here, in the one link that
 * providers and writers share, so that no method can miss it; ping is
 * answered whatever its term (it does nothing).
 *
 * Stopping: rpcpeer_stop sets `stopping` and writes to stop_pipe,
 * which nobody drains, so every later poll of it returns at once.
 *
 * Backoff: the wait before the next attempt starts at backoff_min_ms
 * and doubles after each attempt that fails, up to backoff_max_ms.  A
 * connection whose registration the coordinator accepted resets it:
 * the next wait is backoff_min_ms again, however short the connection
 * was.  A registered connection proves the coordinator and our
 * credentials work, so its end is not part of a run of failures (a
 * coordinator restarted, a peer replaced by a newer registration);
 * counting it as one made a provider cut off six times in a minute
 * wait 16 s.  A coordinator that accepts and then drops every
 * registration costs one attempt per backoff_min_ms.
 *
 * Several coordinators: the address list is rpcconn_targets' (rpcconn.h):
 * within a round the next attempt follows at once; the backoff comes
 * between rounds.  A round in which a coordinator answered that it is
 * not the leader waits at most RPCPEER_ELECTION_WAIT_MS, however far
 * the backoff has grown: a coordinator is up and an election is under
 * way (or the leader is being reached another way), which ends within
 * the leader lease's TTL, and a peer that waited 4 or 8 s more would
 * miss the failover target (a new set 5 s after the leader died).  The
 * backoff still doubles underneath, for when no coordinator answers.
 *
 * Logging: a failure to connect or register is logged at LOG_ERR when
 * its message differs from the previous failure's, at LOG_DEBUG when it
 * repeats, so a coordinator down for a day costs one line.  The end of
 * a registered connection is a change of state: LOG_WARNING.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <syslog.h>
#include <unistd.h>

#include "jsonrpc.h"
#include "rpcconn.h"
#include "rpcerr.h"
#include "rpcpeer.h"
#include "timespec.h"

/* The registration must be answered within this (the coordinator's own
 * limit for a first request is 10 s from the connect). */
#define REGISTER_TIMEOUT_MS 10000
/* How long a response may wait for the coordinator to take it. */
#define SEND_TIMEOUT_MS 30000
/* A coordinator that answers no ping for this many heartbeats is gone. */
#define MISSED_HEARTBEATS 3
/* Accepted heartbeat_ms from a registration result. */
#define HEARTBEAT_MIN_MS 50
#define HEARTBEAT_MAX_MS 3600000

struct job {
  struct job *next;
  json_t *msg;                  /* the request */
  uint64_t session;
  struct timespec received;
};

struct done {
  struct done *next;
  json_t *reply;
  uint64_t session;
};

struct rpcpeer {
  char *what;
  struct rpcconn_targets *targets;
  SSL_CTX *tls;
  int connect_timeout_ms, backoff_min_ms, backoff_max_ms;
  const struct rpcpeer_ops *ops;
  void *opaque;

  int stop_pipe[2];
  int wake_pipe[2];
  atomic_bool stopping;
  _Atomic uint64_t live;        /* the session up now, 0 if none */
  _Atomic uint64_t term;        /* the highest coordinator term seen */
  uint64_t next_session;        /* I/O loop only */
  unsigned seed;                /* I/O loop only: backoff jitter */
  char last_failure[1024];      /* I/O loop only */

  pthread_mutex_t lock;         /* protects what follows */
  pthread_cond_t work;          /* a job was queued, or worker_stop */
  struct job *jobs, **jobs_tail;
  struct done *done, **done_tail;
  bool worker_stop;
};

static void plog (struct rpcpeer *p, int priority, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

static void
plog (struct rpcpeer *p, int priority, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  int saved = errno;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  p->ops->log (p->opaque, priority, msg);
  errno = saved;
}


struct rpcpeer *
rpcpeer_new (const struct rpcpeer_config *cfg, const struct rpcpeer_ops *ops,
             void *opaque)
{
  struct rpcpeer *p = calloc (1, sizeof *p);
  char err[512];

  if (p == NULL)
    return NULL;
  p->stop_pipe[0] = p->stop_pipe[1] = -1;
  p->wake_pipe[0] = p->wake_pipe[1] = -1;
  pthread_mutex_init (&p->lock, NULL);
  pthread_cond_init (&p->work, NULL);
  p->jobs_tail = &p->jobs;
  p->done_tail = &p->done;
  atomic_init (&p->stopping, false);
  atomic_init (&p->live, 0);
  atomic_init (&p->term, 0);
  p->what = strdup (cfg->what ? cfg->what : "coordinator");
  p->targets = rpcconn_targets_new (cfg->address, err, sizeof err);
  if (p->what == NULL || p->targets == NULL)
    goto err;
  p->tls = cfg->tls;
  p->connect_timeout_ms = cfg->connect_timeout_ms > 0
    ? cfg->connect_timeout_ms
    : rpcconn_targets_count (p->targets) > 1
    ? RPCPEER_LIST_CONNECT_TIMEOUT_MS : RPCPEER_CONNECT_TIMEOUT_MS;
  p->backoff_min_ms = cfg->backoff_min_ms > 0
    ? cfg->backoff_min_ms : RPCPEER_BACKOFF_MIN_MS;
  p->backoff_max_ms = cfg->backoff_max_ms > 0
    ? cfg->backoff_max_ms : RPCPEER_BACKOFF_MAX_MS;
  if (p->backoff_max_ms < p->backoff_min_ms)
    p->backoff_max_ms = p->backoff_min_ms;
  p->ops = ops;
  p->opaque = opaque;
  if (getrandom (&p->seed, sizeof p->seed, GRND_NONBLOCK) != sizeof p->seed)
    p->seed = (unsigned) getpid () ^
      (unsigned) timespec_now_ms (CLOCK_MONOTONIC);
  if (pipe2 (p->stop_pipe, O_CLOEXEC | O_NONBLOCK) == -1 ||
      pipe2 (p->wake_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
    goto err;
  return p;

 err:
  rpcpeer_free (p);
  return NULL;
}

void
rpcpeer_stop (struct rpcpeer *p)
{
  int saved = errno;

  atomic_store (&p->stopping, true);
  /* Only write(2) here: this may run in a signal handler.  A full pipe
   * already wakes everyone. */
  if (write (p->stop_pipe[1], "", 1) == -1) {
    /* nothing more to do */
  }
  errno = saved;
}

bool
rpcpeer_session_alive (struct rpcpeer *p, uint64_t session)
{
  return session != 0 && atomic_load (&p->live) == session;
}

static void
free_jobs (struct job *j)
{
  while (j) {
    struct job *next = j->next;

    json_decref (j->msg);
    free (j);
    j = next;
  }
}

static void
free_done (struct done *d)
{
  while (d) {
    struct done *next = d->next;

    json_decref (d->reply);
    free (d);
    d = next;
  }
}

void
rpcpeer_free (struct rpcpeer *p)
{
  size_t i;

  if (p == NULL)
    return;
  free_jobs (p->jobs);
  free_done (p->done);
  for (i = 0; i < 2; i++) {
    if (p->stop_pipe[i] >= 0)
      close (p->stop_pipe[i]);
    if (p->wake_pipe[i] >= 0)
      close (p->wake_pipe[i]);
  }
  pthread_cond_destroy (&p->work);
  pthread_mutex_destroy (&p->lock);
  free (p->what);
  rpcconn_targets_free (p->targets);
  free (p);
}

/* Worker. */

/* The answer to a ping from the coordinator: it is answered here, in
 * order with the other calls, so no ops->call need know it. */
static json_t *
answer_ping (json_t *id)
{
  return jsonrpc_result (id, json_pack ("{s:I}", "time",
                                        (json_int_t) time (NULL)));
}

/* Terms (design notes).  Raise the highest term seen to TERM.  Any
 * thread. */
static void
term_seen (struct rpcpeer *p, uint64_t term)
{
  uint64_t seen = atomic_load (&p->term);

  while (term > seen &&
         !atomic_compare_exchange_weak (&p->term, &seen, term))
    ;
}

/* Whether the call of METHOD with PARAMS (borrowed) comes from a term
 * no older than any seen: then its term, taken out of PARAMS (it is the
 * link's, not the method's), is the highest seen.  Else *REPLY is the
 * answer to ID that refuses it, before anything is done. */
static bool
term_current (struct rpcpeer *p, json_t *id, const char *method,
              json_t *params, json_t **reply)
{
  json_t *member = json_object_get (params, "term");
  uint64_t term = 0, seen;

  if (member != NULL) {
    if (!json_is_integer (member) || json_integer_value (member) < 0) {
      *reply = jsonrpc_error (id, JSONRPC_INVALID_PARAMS, NULL,
                              "'term': expected a non-negative integer; "
                              "nothing was done");
      return false;
    }
    term = (uint64_t) json_integer_value (member);
    json_object_del (params, "term");
  }
  seen = atomic_load (&p->term);
  if (term < seen) {
    plog (p, LOG_WARNING, "%s: refused %.64s from stale term %" PRIu64
          " (term %" PRIu64 " is current)", p->what, method, term, seen);
    *reply = jsonrpc_error (id, SV_RPC_STALE_TERM,
                            json_pack ("{s:I}", "term", (json_int_t) seen),
                            "stale coordinator term %" PRIu64 ": term %"
                            PRIu64 " is current; nothing was done",
                            term, seen);
    return false;
  }
  term_seen (p, term);
  return true;
}

static void
run_job (struct rpcpeer *p, struct job *j)
{
  json_t *id = json_object_get (j->msg, "id");
  const char *method = json_string_value (json_object_get (j->msg, "method"));
  struct rpcpeer_call call = {
    .id = id,
    .method = method,
    .params = json_object_get (j->msg, "params"),
    .session = j->session,
    .received = j->received,
  };
  struct done *d;
  json_t *reply;

  if (strcmp (method, "ping") == 0)
    reply = answer_ping (id);
  else if (term_current (p, id, method, call.params, &reply))
    reply = p->ops->call (p->opaque, &call);
  if (reply == NULL)
    reply = jsonrpc_error (id, JSONRPC_INTERNAL_ERROR, NULL,
                           "out of memory");
  d = calloc (1, sizeof *d);
  if (reply == NULL || d == NULL) {
    plog (p, LOG_ERR, "%s: cannot answer %.64s: out of memory", p->what,
          method);
    json_decref (reply);
    free (d);
    return;
  }
  d->reply = reply;
  d->session = j->session;
  pthread_mutex_lock (&p->lock);
  *p->done_tail = d;
  p->done_tail = &d->next;
  pthread_mutex_unlock (&p->lock);
  if (write (p->wake_pipe[1], "", 1) == -1 && errno != EAGAIN)
    plog (p, LOG_ERR, "%s: write: %m", p->what);
}

static void *
worker (void *arg)
{
  struct rpcpeer *p = arg;

  pthread_mutex_lock (&p->lock);
  for (;;) {
    struct job *j;

    while (p->jobs == NULL && !p->worker_stop)
      pthread_cond_wait (&p->work, &p->lock);
    if (p->worker_stop)
      break;
    j = p->jobs;
    p->jobs = j->next;
    if (p->jobs == NULL)
      p->jobs_tail = &p->jobs;
    pthread_mutex_unlock (&p->lock);

    if (rpcpeer_session_alive (p, j->session))
      run_job (p, j);
    j->next = NULL;
    free_jobs (j);

    pthread_mutex_lock (&p->lock);
  }
  pthread_mutex_unlock (&p->lock);
  return NULL;
}

/* Queue the request MSG (borrowed) of SESSION for the worker. */
static void
enqueue (struct rpcpeer *p, json_t *msg, uint64_t session)
{
  struct job *j = calloc (1, sizeof *j);

  if (j == NULL) {
    plog (p, LOG_ERR, "%s: dropped a call: out of memory", p->what);
    return;
  }
  j->msg = json_incref (msg);
  j->session = session;
  j->received = timespec_now (CLOCK_MONOTONIC);
  pthread_mutex_lock (&p->lock);
  *p->jobs_tail = j;
  p->jobs_tail = &j->next;
  pthread_cond_signal (&p->work);
  pthread_mutex_unlock (&p->lock);
}

/* I/O loop. */

/* What a session is doing, for the handlers below. */
struct session {
  struct rpcpeer *p;
  struct rpcconn *conn;
  uint64_t id;
  int heartbeat_ms;
  json_int_t last_ping_id;      /* the latest ping sent, 0 if none */
  int64_t unanswered_since;     /* first ping not answered yet, or 0 */
  int64_t next_ping;
  json_t *read;                 /* requests of this drain, not queued yet */
  char why[1024];               /* why the session ended */
  char leader[256];             /* the leader a refusal named, or "" */
  bool not_leader;              /* refused: that coordinator does not lead */
};

/* A request arriving while the registration is in flight. */
static void
on_early_request (void *opaque, json_t *msg)
{
  struct session *s = opaque;

  if (json_object_get (msg, "id") != NULL)
    enqueue (s->p, msg, s->id);
}

static int drain_messages (struct session *s);

/* Take one message of the coordinator.  -1 ends the session. */
static int
handle (struct session *s, json_t *msg)
{
  struct rpcpeer *p = s->p;
  json_t *id = json_object_get (msg, "id");
  char why[256];
  int code;
  const char *message;

  switch (jsonrpc_classify (msg, why, sizeof why)) {
  case JSONRPC_REQUEST:
    if (json_array_append (s->read, msg) == -1) {
      snprintf (s->why, sizeof s->why, "out of memory");
      return -1;
    }
    return 0;
  case JSONRPC_NOTIFICATION:
    plog (p, LOG_DEBUG, "%s: ignored the notification %.64s", p->what,
          json_string_value (json_object_get (msg, "method")));
    return 0;
  case JSONRPC_RESPONSE:
    if (json_is_integer (id) && json_integer_value (id) > 0 &&
        json_integer_value (id) <= s->last_ping_id) {
      s->unanswered_since = 0;
      if (rpcconn_response_error (msg, &code, &message, NULL))
        plog (p, LOG_DEBUG, "%s: ping refused: %s (error %d)", p->what,
              message, code);
    }
    else if (json_is_null (id) &&
             rpcconn_response_error (msg, &code, &message, NULL))
      plog (p, LOG_WARNING, "%s: error from the coordinator: %s "
            "(error %d)", rpcconn_name (s->conn), message, code);
    else
      plog (p, LOG_DEBUG, "%s: dropped a response to no request of ours",
            rpcconn_name (s->conn));
    return 0;
  case JSONRPC_INVALID:
  default: {
    json_t *reply;
    char err[256];

    if (!json_is_string (id) && !json_is_integer (id))
      id = NULL;
    reply = jsonrpc_error (id, JSONRPC_INVALID_REQUEST, NULL, "%s", why);
    if (reply == NULL || rpcconn_send (s->conn, reply, SEND_TIMEOUT_MS, err,
                                       sizeof err) == -1) {
      snprintf (s->why, sizeof s->why, "%s", reply ? err : "out of memory");
      json_decref (reply);
      return -1;
    }
    json_decref (reply);
    return 0;
  }
  }
}

/* Queue the requests read by this drain for the worker, or, when the
 * session ends with them (END), drop them: the coordinator can never
 * get their answers and has counted them as failed. */
static void
take_requests (struct session *s, bool end)
{
  size_t n = json_array_size (s->read), i;

  if (end && n > 0)
    plog (s->p, LOG_WARNING, "%s: dropped %zu call%s read together with "
          "the end of the connection (first: %.64s)", s->p->what, n,
          n == 1 ? "" : "s",
          json_string_value (json_object_get (json_array_get (s->read, 0),
                                              "method")));
  for (i = 0; !end && i < n; i++)
    enqueue (s->p, json_array_get (s->read, i), s->id);
  json_array_clear (s->read);
}

/* Read every message available now, then queue the requests read
 * (design notes).  -1 ends the session. */
static int
drain_input (struct session *s)
{
  int r = drain_messages (s);

  take_requests (s, r == -1);
  return r;
}

/* Read every message available now.  -1 ends the session. */
static int
drain_messages (struct session *s)
{
  for (;;) {
    char err[512];
    json_t *msg;
    int code, r;

    msg = rpcconn_recv (s->conn, 0, &code, err, sizeof err);
    if (msg == NULL) {
      if (errno == ETIMEDOUT)
        return 0;
      if (errno == EBADMSG) {
        json_t *reply = jsonrpc_error (NULL, code, NULL, "%s",
                                       rpcconn_reason (s->conn, err));

        plog (s->p, LOG_DEBUG, "%s", err);
        if (reply != NULL &&
            rpcconn_send (s->conn, reply, SEND_TIMEOUT_MS, err,
                          sizeof err) == -1) {
          json_decref (reply);
          snprintf (s->why, sizeof s->why, "%s", err);
          return -1;
        }
        json_decref (reply);
        continue;
      }
      snprintf (s->why, sizeof s->why, "%s", err);
      return -1;
    }
    r = handle (s, msg);
    json_decref (msg);
    if (r == -1)
      return -1;
  }
}

/* Send the worker's answers for this session.  -1 ends the session. */
static int
send_answers (struct session *s)
{
  struct rpcpeer *p = s->p;
  struct done *list, *d;
  char buf[64], err[512];
  int r = 0;

  while (read (p->wake_pipe[0], buf, sizeof buf) > 0)
    ;
  pthread_mutex_lock (&p->lock);
  list = p->done;
  p->done = NULL;
  p->done_tail = &p->done;
  pthread_mutex_unlock (&p->lock);

  for (d = list; d != NULL && r == 0; d = d->next) {
    if (d->session != s->id)
      continue;
    if (rpcconn_send (s->conn, d->reply, SEND_TIMEOUT_MS, err,
                      sizeof err) == 0)
      continue;
    if (errno == EMSGSIZE) {
      /* The caller still gets an answer to its id. */
      json_t *e = rpcerr_too_long (json_object_get (d->reply, "id"));

      if (e != NULL &&
          rpcconn_send (s->conn, e, SEND_TIMEOUT_MS, err, sizeof err) == 0) {
        json_decref (e);
        continue;
      }
      json_decref (e);
    }
    snprintf (s->why, sizeof s->why, "%s", err);
    r = -1;
  }
  free_done (list);
  return r;
}

/* Send a ping when one is due and check the last ones were answered.
 * Returns the milliseconds until the next check, or -1 to end. */
static int
heartbeat (struct session *s)
{
  int64_t now = timespec_now_ms (CLOCK_MONOTONIC), wait;
  char err[512];

  if (s->unanswered_since != 0 &&
      now - s->unanswered_since >= (int64_t) MISSED_HEARTBEATS *
      s->heartbeat_ms) {
    snprintf (s->why, sizeof s->why, "%s: no answer to ping for %d ms",
              rpcconn_name (s->conn), MISSED_HEARTBEATS * s->heartbeat_ms);
    return -1;
  }
  if (now >= s->next_ping) {
    json_int_t id = rpcconn_next_id (s->conn);
    json_t *ping = jsonrpc_request (id, "ping", NULL);

    if (ping == NULL ||
        rpcconn_send (s->conn, ping, SEND_TIMEOUT_MS, err, sizeof err) == -1) {
      snprintf (s->why, sizeof s->why, "%s", ping ? err : "out of memory");
      json_decref (ping);
      return -1;
    }
    json_decref (ping);
    s->last_ping_id = id;
    if (s->unanswered_since == 0)
      s->unanswered_since = now;
    s->next_ping = now + s->heartbeat_ms;
  }
  wait = s->next_ping - now;
  if (s->unanswered_since != 0) {
    int64_t dead = s->unanswered_since +
      (int64_t) MISSED_HEARTBEATS * s->heartbeat_ms - now;

    if (dead < wait)
      wait = dead;
  }
  return wait < 0 ? 0 : (int) wait;
}

/* Serve a registered connection until it fails or we stop. */
static void
serve (struct session *s)
{
  struct rpcpeer *p = s->p;

  s->next_ping = timespec_now_ms (CLOCK_MONOTONIC) + s->heartbeat_ms;
  s->read = json_array ();
  if (s->read == NULL) {
    snprintf (s->why, sizeof s->why, "out of memory");
    return;
  }
  for (;;) {
    struct pollfd fds[3] = {
      { .fd = rpcconn_fd (s->conn), .events = rpcconn_events (s->conn) },
      { .fd = p->wake_pipe[0], .events = POLLIN },
      { .fd = p->stop_pipe[0], .events = POLLIN },
    };
    int timeout;

    if (drain_input (s) == -1 || send_answers (s) == -1)
      return;
    timeout = heartbeat (s);
    if (timeout == -1)
      return;
    if (poll (fds, 3, timeout) == -1 && errno != EINTR) {
      snprintf (s->why, sizeof s->why, "poll: %m");
      return;
    }
    if (fds[2].revents != 0) {
      snprintf (s->why, sizeof s->why, "stopping");
      return;
    }
  }
}

/* One connection to ADDRESS, from connect to its end.  Returns true if
 * it got registered; S->why says why it ended, S->leader the leader a
 * coordinator that is not the leader named. */
static bool
session (struct rpcpeer *p, struct session *s, const char *address)
{
  json_t *params, *res = NULL, *result, *term;
  const char *method = NULL, *message, *leader;
  bool registered = false;
  char err[512];
  int code;

  s->conn = rpcconn_open (p->tls, p->what, address, p->connect_timeout_ms,
                          p->stop_pipe[0], s->why, sizeof s->why);
  if (s->conn == NULL)
    return false;
  s->id = ++p->next_session;
  atomic_store (&p->live, s->id);

  params = p->ops->registration (p->opaque, &method, err, sizeof err);
  if (params == NULL) {
    snprintf (s->why, sizeof s->why, "%s: cannot register: %s",
              rpcconn_name (s->conn), err);
    goto out;
  }
  res = rpcconn_call (s->conn, method, params, REGISTER_TIMEOUT_MS,
                      on_early_request, s, s->why, sizeof s->why);
  if (res == NULL)
    goto out;
  if (rpcconn_response_error (res, &code, &message, NULL)) {
    snprintf (s->why, sizeof s->why, "%s: %s refused: %s (error %d)",
              rpcconn_name (s->conn), method, message, code);
    s->not_leader = rpcconn_not_leader (res, &leader);
    if (s->not_leader && leader != NULL && strlen (leader) < sizeof s->leader)
      strcpy (s->leader, leader);
    goto out;
  }
  result = json_object_get (res, "result");
  s->heartbeat_ms = RPCPEER_HEARTBEAT_DEFAULT_MS;
  if (json_is_integer (json_object_get (result, "heartbeat_ms"))) {
    json_int_t hb = json_integer_value (json_object_get (result,
                                                         "heartbeat_ms"));

    if (hb >= HEARTBEAT_MIN_MS && hb <= HEARTBEAT_MAX_MS)
      s->heartbeat_ms = (int) hb;
    else
      plog (p, LOG_WARNING, "%s: ignored heartbeat_ms %lld (outside %d..%d)",
            rpcconn_name (s->conn), (long long) hb, HEARTBEAT_MIN_MS,
            HEARTBEAT_MAX_MS);
  }
  term = json_object_get (result, "term");
  if (json_is_integer (term) && json_integer_value (term) >= 0)
    term_seen (p, (uint64_t) json_integer_value (term));
  registered = true;
  p->last_failure[0] = '\0';
  plog (p, LOG_DEBUG, "%s: registered (heartbeat %d ms)",
        rpcconn_name (s->conn), s->heartbeat_ms);
  if (p->ops->registered)
    p->ops->registered (p->opaque, s->id, result);
  serve (s);

 out:
  atomic_store (&p->live, 0);
  json_decref (res);
  json_decref (s->read);
  s->read = NULL;
  if (registered && p->ops->disconnected)
    p->ops->disconnected (p->opaque, s->id, s->why);
  rpcconn_close (s->conn);
  s->conn = NULL;
  return registered;
}

/* Sleep MS unless stopped.  false if stopped. */
static bool
pause_ms (struct rpcpeer *p, int ms)
{
  int64_t end = timespec_now_ms (CLOCK_MONOTONIC) + ms;

  while (!atomic_load (&p->stopping)) {
    struct pollfd pfd = { .fd = p->stop_pipe[0], .events = POLLIN };
    int64_t left = end - timespec_now_ms (CLOCK_MONOTONIC);

    if (left <= 0)
      return true;
    poll (&pfd, 1, (int) left);
  }
  return false;
}

/* Log the end of an attempt (see the design notes). */
static void
log_failure (struct rpcpeer *p, bool registered, const char *why, int wait)
{
  if (registered) {
    plog (p, LOG_WARNING, "%s; reconnecting in %.1f s", why, wait / 1000.0);
    return;
  }
  if (strcmp (why, p->last_failure) == 0) {
    plog (p, LOG_DEBUG, "%s; retrying in %.1f s", why, wait / 1000.0);
    return;
  }
  snprintf (p->last_failure, sizeof p->last_failure, "%s", why);
  plog (p, LOG_ERR, "%s; retrying in %.1f s, then less often", why,
        wait / 1000.0);
}

/* The wait before the next round, with backoff DELAY (design notes):
 * at most RPCPEER_ELECTION_WAIT_MS (or backoff_min_ms if longer) while
 * a coordinator of the last round is ELECTING.  Jitter: 75% to 100%,
 * so that peers cut off together do not all come back at the same
 * instant. */
static int
round_wait (struct rpcpeer *p, int delay, bool electing)
{
  int cap = p->backoff_min_ms > RPCPEER_ELECTION_WAIT_MS
    ? p->backoff_min_ms : RPCPEER_ELECTION_WAIT_MS;

  if (electing && delay > cap)
    delay = cap;
  return delay - (int) (rand_r (&p->seed) % (unsigned) (delay / 4 + 1));
}

int
rpcpeer_run (struct rpcpeer *p)
{
  sigset_t all, old;
  pthread_t thread;
  int delay = p->backoff_min_ms, err;
  bool electing = false;        /* a coordinator of this round is not the
                                 * leader (design notes) */

  if (atomic_load (&p->stopping))
    return 0;
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, &old);
  p->worker_stop = false;
  err = pthread_create (&thread, NULL, worker, p);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (err != 0) {
    errno = err;
    return -1;
  }

  while (!atomic_load (&p->stopping)) {
    const char *address = rpcconn_targets_next (p->targets);
    struct session s = { .p = p };
    bool registered;
    const char *why = s.why;
    int wait;

    if (address != NULL) {
      registered = session (p, &s, address);
      if (atomic_load (&p->stopping))
        break;
      if (!registered) {
        /* The next address of the round, or the leader named, at once. */
        rpcconn_targets_failed (p->targets, s.why,
                                s.leader[0] ? s.leader : NULL);
        electing = electing || s.not_leader;
        if (rpcconn_targets_count (p->targets) > 1 || s.leader[0])
          plog (p, LOG_DEBUG, "%s", s.why);
        continue;
      }
      rpcconn_targets_reached (p->targets);
      delay = p->backoff_min_ms;
    }
    else {                      /* the round failed: back off */
      registered = false;
      why = rpcconn_targets_why (p->targets);
    }
    wait = round_wait (p, delay, electing);
    log_failure (p, registered, why, wait);
    rpcconn_targets_new_round (p->targets);
    electing = false;
    if (!pause_ms (p, wait))
      break;
    delay = delay > p->backoff_max_ms / 2 ? p->backoff_max_ms : delay * 2;
  }

  pthread_mutex_lock (&p->lock);
  p->worker_stop = true;
  pthread_cond_signal (&p->work);
  pthread_mutex_unlock (&p->lock);
  pthread_join (thread, NULL);
  return 0;
}
