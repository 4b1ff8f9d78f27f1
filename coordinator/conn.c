/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * conn.c: peer connections (see conn.h).
 *
 * Design notes
 *
 * Life of a connection:
 *
 *   accepted --TLS handshake--> open --conn_close--> gone
 *        \                        \
 *         \-- no role: one -32007  \-- message over 1 MiB: one -32600
 *             error, then ---------+---> flushing --sent--> lingering --> gone
 *
 * "flushing" waits for the error to be written; "lingering" shuts the
 * write side down and reads (and discards) what the peer still sends
 * until it closes or LINGER_MS pass: closing a socket with unread input
 * would send a reset that can destroy the error before the peer reads
 * it.  From the moment a connection stops being open, it takes no
 * request and makes no call; its outstanding calls have been ended
 * with CALL_CLOSED and the layer above told (conn_ops.peer_closed).
 *
 * Freeing: code up the stack may still hold a pointer to a connection
 * it just closed (a registration closes the connection it replaces),
 * so the structure is freed later, by its own "reaper" event.  Calls
 * do not point to a closed connection: they are detached first.
 *
 * Timers (one per connection, re-armed by mode):
 *   - until the first request: CONN_CONNECT_TIMEOUT_MS from accept;
 *   - a registered provider or writer: CONN_HEARTBEATS_MISSED
 *     heartbeats from the last message received;
 *   - anything else: CONN_IDLE_TIMEOUT_MS with nothing outstanding.
 *
 * Order: requests are queued as read; each gets its answer in place
 * (at once, or later through conn_reply), and answers leave from the
 * head of the queue only, so they go out in request order.  More than
 * CONN_MAX_PENDING unanswered requests stop reading from the peer until
 * answers go out.
 *
 * Room: a connection counts as "in its handshake" from accept until
 * its TLS handshake is done; nobody knows who it is yet.  Such
 * connections are bounded three ways, so that whoever can reach the
 * port without a certificate cannot keep peers out:
 *   - each has conf->handshake_timeout_ms to finish the handshake;
 *   - one IP address may have conf->handshakes_per_address of them;
 *   - together they may take the table but conf->reserved_connections
 *     slots, which only connections past their handshake hold.
 * When a new connection would exceed a bound, an older connection in
 * its handshake is closed to make room ("shed") rather than the new one
 * refused: refusing the newest would let a flood that keeps its slots
 * busy lock out a real peer from the same address, while shedding the
 * oldest lets every new connection in long enough to show itself.  The
 * one shed is the oldest that has sent nothing yet ("quiet"), else the
 * one whose handshake made progress least recently ("talking"): a real
 * peer sends its ClientHello at once, a flood of idle sockets never
 * does.  Quiet and talking are kept as lists in age order, for every
 * connection and per address (struct source), so a shed is O(1).  The
 * table also shrinks to what RLIMIT_NOFILE allows (raised towards
 * CONN_MAX + CONN_FD_SPARE at start), so accept(2) rarely fails with
 * EMFILE; when it does, listener.c sheds through conns_shed.
 *
 * Callbacks of calls always run from the event loop: a call that
 * cannot be sent, or whose connection closes, is ended through its
 * timer event made active, never from inside conn_call or conn_close.
 * So the set state machine is never re-entered halfway through a step.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "conn.h"
#include "jsonrpc.h"
#include "log.h"
#include "roles.h"
#include "tls.h"
#include "timespec.h"

#define READ_CHUNK 65536
#define LINGER_MS 2000
/* Unsent output beyond which a peer that does not read is dropped. */
#define MAX_OUTPUT (64u << 20)
#define SOURCE_BUCKETS 256
/* Connections shed are logged once, then summed up this often. */
#define SHED_REPORT_MS 10000

struct inreq {
  TAILQ_ENTRY (inreq) entry;
  uint64_t seq;
  json_t *id;                   /* the request's id (or null) */
  json_t *reply;                /* the whole answer, once known */
};

struct call {
  TAILQ_ENTRY (call) entry;     /* in its connection's calls */
  TAILQ_ENTRY (call) all;       /* in every call not yet ended */
  struct coord *co;
  struct conn *conn;            /* NULL once detached */
  json_int_t id;
  char method[32];
  char set[48];                 /* ", set ID" of a call about a set, or "" */
  unsigned timeout_ms;
  struct event *ev;             /* the deadline, or the deferred end */
  enum call_end end;            /* how it ends when EV fires */
  char why[160];
  conn_call_fn *cb;
  void *arg;
};

enum conn_state {
  CONN_HANDSHAKE,
  CONN_OPEN,
  CONN_FLUSHING,
  CONN_LINGERING,
  CONN_GONE,
};

enum timer_mode {
  TIMER_CONNECT,
  TIMER_HEARTBEAT,
  TIMER_IDLE,
};

/* The connections in their handshake from one IP address. */
struct source {
  LIST_ENTRY (source) entry;    /* in its hash bucket */
  char host[INET6_ADDRSTRLEN];
  unsigned n;
  TAILQ_HEAD (, conn) quiet, talking;
};

struct conn {
  TAILQ_ENTRY (conn) entry;
  struct coord *co;
  uint64_t serial;
  enum conn_state state;
  struct bufferevent *bev;
  char addr[64];
  char *subject, *cn;
  unsigned roles;
  char name[160];

  struct jsonrpc_framer framer;
  bool read_paused;

  TAILQ_HEAD (, inreq) inreqs;
  size_t npending;
  uint64_t next_seq;

  TAILQ_HEAD (, call) calls;
  json_int_t next_id;

  struct event *timer;
  enum timer_mode mode;
  bool got_request;

  enum peer_kind kind;
  void *peer;

  struct event *resume;         /* go on reading after a pause */
  struct event *reaper;         /* frees the structure */

  /* In its handshake (src != NULL): see the design notes, Room. */
  struct source *src;
  bool talking;                 /* it has sent something */
  bool shed;                    /* being closed to make room: quietly */
  TAILQ_ENTRY (conn) hs_all;    /* in conns->quiet or conns->talking */
  TAILQ_ENTRY (conn) hs_src;    /* in src->quiet or src->talking */
  int64_t accepted_ms;
};

struct conns {
  struct coord *co;
  struct conn_ops ops;          /* the layer above */
  void *ops_arg;
  TAILQ_HEAD (, conn) list;     /* not gone */
  TAILQ_HEAD (, conn) dead;     /* gone, waiting for their reaper */
  TAILQ_HEAD (, call) calls;    /* every call not yet ended */
  size_t n;
  uint64_t next_serial;

  size_t max;                   /* connections at once */
  size_t max_handshakes;        /* of them in their handshake */
  size_t nhandshakes;
  TAILQ_HEAD (, conn) quiet, talking;
  LIST_HEAD (, source) sources[SOURCE_BUCKETS];
  struct event *report;         /* sums up connections shed */
  uint64_t shed_since_report;
  const char *last_shed_why;
};

static void close_now (struct conn *c, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));
static void take_messages (struct conn *c);

static void shed_report_cb (evutil_socket_t fd, short what, void *arg);

/* How many connections the descriptor limit allows, after raising the
 * soft limit as far as CONN_MAX needs and the hard limit lets us. */
static size_t
table_size_from_rlimit (void)
{
  const rlim_t want = CONN_MAX + CONN_FD_SPARE;
  struct rlimit rl;
  size_t n;

  if (getrlimit (RLIMIT_NOFILE, &rl) == -1) {
    log_warn ("getrlimit RLIMIT_NOFILE");
    return CONN_MAX;
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    struct rlimit raised = rl;

    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want
      ? want : rl.rlim_max;
    if (raised.rlim_cur > rl.rlim_cur &&
        setrlimit (RLIMIT_NOFILE, &raised) == 0)
      rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
    return CONN_MAX;
  n = rl.rlim_cur > 2 * CONN_FD_SPARE ? (size_t) rl.rlim_cur - CONN_FD_SPARE
    : CONN_FD_SPARE;
  log_warnx ("RLIMIT_NOFILE allows %llu descriptors: at most %zu "
             "connections at once instead of %d",
             (unsigned long long) rl.rlim_cur, n, CONN_MAX);
  return n;
}

struct conns *
conns_new (struct coord *co, const struct conn_ops *ops, void *arg)
{
  struct conns *conns = calloc (1, sizeof *conns);
  size_t i, reserve;

  if (conns == NULL)
    return NULL;
  conns->co = co;
  conns->ops = *ops;
  conns->ops_arg = arg;
  TAILQ_INIT (&conns->list);
  TAILQ_INIT (&conns->dead);
  TAILQ_INIT (&conns->calls);
  TAILQ_INIT (&conns->quiet);
  TAILQ_INIT (&conns->talking);
  for (i = 0; i < SOURCE_BUCKETS; i++)
    LIST_INIT (&conns->sources[i]);
  conns->report = evtimer_new (co->base, shed_report_cb, conns);
  if (conns->report == NULL) {
    free (conns);
    return NULL;
  }
  conns->max = table_size_from_rlimit ();
  /* A small table (a low RLIMIT_NOFILE) still lets handshakes in. */
  reserve = co->conf->reserved_connections;
  if (reserve > conns->max / 2)
    reserve = conns->max / 2;
  conns->max_handshakes = conns->max - reserve;
  return conns;
}

/* Accessors. */

const char *
conn_subject (const struct conn *c)
{
  return c->subject ? c->subject : "";
}

unsigned
conn_roles (const struct conn *c)
{
  return c->roles;
}

const char *
conn_name (const struct conn *c)
{
  return c->name;
}

enum peer_kind
conn_kind (const struct conn *c)
{
  return c->kind;
}

void *
conn_peer (const struct conn *c)
{
  return c->peer;
}

/* Room (see the design notes). */

static unsigned
source_hash (const char *host)
{
  unsigned h = 2166136261u;

  for (; *host; host++)
    h = (h ^ (unsigned char) *host) * 16777619u;
  return h % SOURCE_BUCKETS;
}

static struct source *
source_find (struct conns *conns, const char *host)
{
  struct source *src;

  LIST_FOREACH (src, &conns->sources[source_hash (host)], entry)
    if (strcmp (src->host, host) == 0)
      return src;
  return NULL;
}

/* Count C, just accepted from HOST, as in its handshake.  -1 on
 * ENOMEM. */
static int
handshake_begin (struct conn *c, const char *host, bool talking)
{
  struct conns *conns = c->co->conns;
  struct source *src = source_find (conns, host);

  if (src == NULL) {
    src = calloc (1, sizeof *src);
    if (src == NULL)
      return -1;
    snprintf (src->host, sizeof src->host, "%s", host);
    TAILQ_INIT (&src->quiet);
    TAILQ_INIT (&src->talking);
    LIST_INSERT_HEAD (&conns->sources[source_hash (host)], src, entry);
  }
  c->src = src;
  c->talking = talking;
  src->n++;
  conns->nhandshakes++;
  if (talking) {
    TAILQ_INSERT_TAIL (&conns->talking, c, hs_all);
    TAILQ_INSERT_TAIL (&src->talking, c, hs_src);
  }
  else {
    TAILQ_INSERT_TAIL (&conns->quiet, c, hs_all);
    TAILQ_INSERT_TAIL (&src->quiet, c, hs_src);
  }
  return 0;
}

/* Take C, in its handshake, off the lists it is on (quiet or talking,
 * of all connections and of its source). */
static void
handshake_unlist (struct conn *c)
{
  struct conns *conns = c->co->conns;
  struct source *src = c->src;

  if (c->talking) {
    TAILQ_REMOVE (&conns->talking, c, hs_all);
    TAILQ_REMOVE (&src->talking, c, hs_src);
  }
  else {
    TAILQ_REMOVE (&conns->quiet, c, hs_all);
    TAILQ_REMOVE (&src->quiet, c, hs_src);
  }
}

/* C is no longer in its handshake (done, or closed). */
static void
handshake_end (struct conn *c)
{
  struct conns *conns = c->co->conns;
  struct source *src = c->src;

  if (src == NULL)
    return;
  handshake_unlist (c);
  c->src = NULL;
  conns->nhandshakes--;
  if (--src->n == 0) {
    LIST_REMOVE (src, entry);
    free (src);
  }
}

/* The handshake of C made progress: it is the last to shed among those
 * talking. */
static void
handshake_progress (struct conn *c)
{
  struct conns *conns = c->co->conns;
  struct source *src = c->src;

  if (src == NULL)
    return;
  handshake_unlist (c);
  c->talking = true;
  TAILQ_INSERT_TAIL (&conns->talking, c, hs_all);
  TAILQ_INSERT_TAIL (&src->talking, c, hs_src);
}

/* OpenSSL's info callback: SSL_CB_ACCEPT_LOOP comes with each step of
 * the server's handshake.  The first comes before anything is read, in
 * state TLS_ST_BEFORE, which the state leaves only once the peer's
 * ClientHello has been read.  (SSL_CB_ACCEPT_LOOP shares a bit with
 * SSL_CB_ACCEPT_EXIT, which comes whenever SSL_accept waits for input:
 * compare it whole.) */
static void
ssl_info_cb (const SSL *ssl, int where, int ret)
{
  struct conn *c = SSL_get_app_data (ssl);

  if (c != NULL && where == SSL_CB_ACCEPT_LOOP &&
      SSL_get_state (ssl) != TLS_ST_BEFORE)
    handshake_progress (c);
}

static void
shed_report_cb (evutil_socket_t fd, short what, void *arg)
{
  struct conns *conns = arg;
  struct timeval tv;

  if (conns->shed_since_report == 0)
    return;
  log_warnx ("closed %llu more connections still in their TLS handshake "
             "in the last %d s to make room (the latest: %s)",
             (unsigned long long) conns->shed_since_report,
             SHED_REPORT_MS / 1000, conns->last_shed_why);
  conns->shed_since_report = 0;
  evtimer_add (conns->report, timespec_timeval_ms (&tv, SHED_REPORT_MS));
}

/* Close C, in its handshake, to make room for another; WHY says which
 * bound (static string).  The first is logged, then one line sums up
 * every SHED_REPORT_MS. */
static void
shed_handshake (struct conn *c, const char *why)
{
  struct conns *conns = c->co->conns;
  struct timeval tv;

  conns->last_shed_why = why;
  if (evtimer_pending (conns->report, NULL))
    conns->shed_since_report++;
  else {
    log_warnx ("%s: closed while still in its TLS handshake, %.1f s after "
               "connecting, to make room: %s", c->name,
               (timespec_now_ms (CLOCK_MONOTONIC) - c->accepted_ms) / 1000.0,
               why);
    evtimer_add (conns->report, timespec_timeval_ms (&tv, SHED_REPORT_MS));
  }
  c->shed = true;
  close_now (c, "closed to make room: %s", why);
}

/* The connection to shed first among QUIET and TALKING, or NULL. */
static struct conn *
first_to_shed (struct conn *quiet, struct conn *talking)
{
  return quiet != NULL ? quiet : talking;
}

size_t
conns_shed (struct coord *co, size_t n)
{
  struct conns *conns = co->conns;
  size_t i;

  for (i = 0; i < n; i++) {
    struct conn *c = first_to_shed (TAILQ_FIRST (&conns->quiet),
                                    TAILQ_FIRST (&conns->talking));

    if (c == NULL)
      break;
    shed_handshake (c, "no descriptor left for a new connection (EMFILE)");
  }
  return i;
}

/* Make room for a connection from HOST: false if there is none, the
 * table being full of connections past their handshake. */
static bool
make_room (struct coord *co, const char *host)
{
  struct conns *conns = co->conns;
  struct source *src = source_find (conns, host);

  if (src != NULL && src->n >= co->conf->handshakes_per_address)
    shed_handshake (first_to_shed (TAILQ_FIRST (&src->quiet),
                                   TAILQ_FIRST (&src->talking)),
                    "too many connections in their TLS handshake from its "
                    "address (handshakes-per-address)");
  if (conns->nhandshakes >= conns->max_handshakes || conns->n >= conns->max) {
    struct conn *c = first_to_shed (TAILQ_FIRST (&conns->quiet),
                                    TAILQ_FIRST (&conns->talking));

    if (c != NULL)
      shed_handshake (c, "too many connections in their TLS handshake "
                      "(the table less reserved-connections)");
  }
  return conns->n < conns->max;
}

/* Timers. */

static void
arm_timer (struct conn *c)
{
  struct timeval tv;
  int64_t ms;

  if (c->state != CONN_OPEN && c->state != CONN_HANDSHAKE)
    return;
  if (!c->got_request) {
    /* Armed once at accept; neither a response nor a notification
     * counts as the first request. */
    if (c->mode == TIMER_CONNECT)
      return;
    c->mode = TIMER_CONNECT;
    ms = CONN_CONNECT_TIMEOUT_MS;
  }
  else if (c->kind != PEER_NONE) {
    c->mode = TIMER_HEARTBEAT;
    ms = (int64_t) c->co->conf->heartbeat_ms * CONN_HEARTBEATS_MISSED;
  }
  else {
    c->mode = TIMER_IDLE;
    ms = CONN_IDLE_TIMEOUT_MS;
  }
  evtimer_add (c->timer, timespec_timeval_ms (&tv, ms));
}

static void
conn_timeout_cb (evutil_socket_t fd, short what, void *arg)
{
  struct conn *c = arg;

  switch (c->state) {
  case CONN_HANDSHAKE:
    close_now (c, "no TLS handshake within %u ms of connecting",
               c->co->conf->handshake_timeout_ms);
    return;
  case CONN_FLUSHING:
  case CONN_LINGERING:
    close_now (c, "closed");
    return;
  case CONN_GONE:
    return;
  case CONN_OPEN:
    break;
  }
  switch (c->mode) {
  case TIMER_CONNECT:
    close_now (c, "no request within %d ms of connecting",
               CONN_CONNECT_TIMEOUT_MS);
    break;
  case TIMER_HEARTBEAT:
    close_now (c, "no message for %u ms (%d heartbeats of %u ms)",
               c->co->conf->heartbeat_ms * CONN_HEARTBEATS_MISSED,
               CONN_HEARTBEATS_MISSED, c->co->conf->heartbeat_ms);
    break;
  case TIMER_IDLE:
    if (c->npending > 0 || !TAILQ_EMPTY (&c->calls))
      arm_timer (c);
    else
      close_now (c, "idle for %d ms", CONN_IDLE_TIMEOUT_MS);
    break;
  }
}

/* Calls. */

static void
call_free (struct call *call)
{
  TAILQ_REMOVE (&call->co->conns->calls, call, all);
  event_free (call->ev);
  free (call);
}

/* End CALL (detached from its connection) as its END says. */
static void
call_end (struct call *call, const struct call_outcome *o)
{
  call->cb (call->arg, o);
  call_free (call);
}

static void
call_timer_cb (evutil_socket_t fd, short what, void *arg)
{
  struct call *call = arg;
  struct call_outcome o = { .end = call->end, .message = call->why };

  if (call->conn != NULL) {
    TAILQ_REMOVE (&call->conn->calls, call, entry);
    call->conn = NULL;
  }
  if (o.end == CALL_TIMEOUT) {
    o.code = SV_RPC_TIMEOUT;
    snprintf (call->why, sizeof call->why, "no answer to %s within %u ms",
              call->method, call->timeout_ms);
  }
  else if (o.end == CALL_ERROR)
    o.code = JSONRPC_INTERNAL_ERROR;
  call_end (call, &o);
}

/* End CALL later, from the event loop, with END and WHY. */
static void
call_end_later (struct call *call, enum call_end end, const char *why)
{
  call->end = end;
  snprintf (call->why, sizeof call->why, "%s", why);
  event_del (call->ev);
  event_active (call->ev, EV_TIMEOUT, 1);
}

/* Detach every outstanding call of C and end it later with CALL_CLOSED. */
static void
detach_calls (struct conn *c)
{
  struct call *call;

  while ((call = TAILQ_FIRST (&c->calls)) != NULL) {
    char why[160];

    TAILQ_REMOVE (&c->calls, call, entry);
    call->conn = NULL;
    snprintf (why, sizeof why, "the connection closed before the answer "
              "to %s", call->method);
    call_end_later (call, CALL_CLOSED, why);
  }
}

/* Writing. */

/* Queue the framed message BUF (LEN bytes, not stolen) for C.  -1 if C
 * must be dropped (already done). */
static int
send_text (struct conn *c, const char *buf, size_t len)
{
  if (c->bev == NULL || c->state == CONN_GONE) {
    errno = ENOTCONN;
    return -1;
  }
  if (bufferevent_write (c->bev, buf, len) == -1) {
    close_now (c, "cannot queue a message for sending");
    errno = ENOTCONN;
    return -1;
  }
  if (evbuffer_get_length (bufferevent_get_output (c->bev)) > MAX_OUTPUT) {
    close_now (c, "more than %u bytes sent are not read by the peer",
               MAX_OUTPUT);
    errno = ENOTCONN;
    return -1;
  }
  return 0;
}

/* Queue MSG (not stolen) for C.  -1 if C must be dropped (already done)
 * or with EMSGSIZE if MSG is too long to send (C stays). */
static int
send_msg (struct conn *c, json_t *msg)
{
  char *buf;
  size_t len;
  int r;

  if (c->bev == NULL || c->state == CONN_GONE) {
    errno = ENOTCONN;
    return -1;
  }
  buf = jsonrpc_encode (msg, &len);
  if (buf == NULL) {
    if (errno == EMSGSIZE)
      return -1;
    close_now (c, "cannot encode a message: %m");
    errno = ENOTCONN;
    return -1;
  }
  r = send_text (c, buf, len);
  free (buf);
  return r;
}

/* The set a call to a peer is about, for the log lines of the call:
 * its "set_id" (or a revert's "undo_set_id", or the "id" a
 * snapshot.delete deletes), when it has one. */
static void
call_set_id (struct call *call, json_t *params)
{
  const char *id = json_string_value (json_object_get (params, "set_id"));

  if (id == NULL)
    id = json_string_value (json_object_get (params, "undo_set_id"));
  if (id == NULL && strcmp (call->method, "snapshot.delete") == 0)
    id = json_string_value (json_object_get (params, "id"));
  if (id != NULL)
    snprintf (call->set, sizeof call->set, ", set %.36s", id);
}

/* A new call of METHOD, not yet sent, with its end going to CB. */
static struct call *
call_new (struct coord *co, const char *method, unsigned timeout_ms,
          conn_call_fn *cb, void *arg)
{
  struct call *call = calloc (1, sizeof *call);

  if (call == NULL || (call->ev = evtimer_new (co->base, call_timer_cb,
                                               call)) == NULL)
    /* Without memory for the call nothing can report its end: a
     * state machine waiting for it would wait forever. */
    fatal ("conn_call %s", method);
  call->co = co;
  TAILQ_INSERT_TAIL (&co->conns->calls, call, all);
  call->cb = cb;
  call->arg = arg;
  call->timeout_ms = timeout_ms;
  call->end = CALL_TIMEOUT;
  snprintf (call->method, sizeof call->method, "%s", method);
  return call;
}

/* Whether CALL may go out on C; if not, it is ended later. */
static bool
call_can_go (struct call *call, struct conn *c)
{
  char why[96];

  if (c != NULL && c->state == CONN_OPEN)
    return true;
  snprintf (why, sizeof why, "not connected when %s was due", call->method);
  call_end_later (call, CALL_CLOSED, why);
  return false;
}

/* CALL went out on C (SENT 0), or could not (-1 with errno as send_msg
 * sets it): wait for its answer, or end it later. */
static void
call_sent (struct call *call, struct conn *c, int sent)
{
  struct timeval tv;

  if (sent == -1) {
    if (errno == EMSGSIZE)
      call_end_later (call, CALL_ERROR,
                      "the request is longer than the message limit");
    else
      call_end_later (call, CALL_CLOSED, "the connection closed");
    return;
  }
  log_debug ("%s: -> %s (id %lld%s)", c->name, call->method,
             (long long) call->id, call->set);
  call->conn = c;
  TAILQ_INSERT_TAIL (&c->calls, call, entry);
  evtimer_add (call->ev, timespec_timeval_ms (&tv, call->timeout_ms));
}

/* Fencing (docs/protocol.md, "Terms"): every call to a provider or a
 * writer carries the coordinator's term when it has one, so that a
 * peer that has seen a newer leader refuses a deposed one's calls.
 * Here is the one place calls are made, so no method can miss it.
 * PARAMS (stolen, may be NULL) with "term" added; NULL on ENOMEM. */
static json_t *
params_with_term (const struct coord *co, json_t *params)
{
  if (co->term == 0)
    return params;
  if (params == NULL && (params = json_object ()) == NULL)
    return NULL;
  if (json_object_set_new (params, "term",
                           json_integer ((json_int_t) co->term)) == -1) {
    json_decref (params);
    return NULL;
  }
  return params;
}

/* The same for PARAMS already encoded (a compact JSON object's text):
 * a new text with "term" first, or NULL with errno (0: no term to add,
 * use PARAMS as it is). */
static char *
encoded_with_term (const struct coord *co, const char *params)
{
  char *text;

  errno = 0;
  if (co->term == 0)
    return NULL;
  if (asprintf (&text, "{\"term\":%" PRIu64 "%s%s", co->term,
                strcmp (params, "{}") == 0 ? "" : ",", params + 1) == -1) {
    errno = ENOMEM;
    return NULL;
  }
  return text;
}

void
conn_call (struct coord *co, struct conn *c, const char *method,
           json_t *params, unsigned timeout_ms, conn_call_fn *cb, void *arg)
{
  struct call *call = call_new (co, method, timeout_ms, cb, arg);
  json_t *msg;
  int sent;

  call_set_id (call, params);
  if (!call_can_go (call, c)) {
    json_decref (params);
    return;
  }
  call->id = ++c->next_id;
  params = params_with_term (co, params);
  msg = params ? jsonrpc_request (call->id, method, params) : NULL;
  if (msg == NULL) {
    call_end_later (call, CALL_ERROR, "out of memory");
    return;
  }
  sent = send_msg (c, msg);
  json_decref (msg);
  call_sent (call, c, sent);
}

void
conn_call_encoded (struct coord *co, struct conn *c, const char *method,
                   const char *params, const char *set_id,
                   unsigned timeout_ms, conn_call_fn *cb, void *arg)
{
  struct call *call = call_new (co, method, timeout_ms, cb, arg);
  char *buf, *termed;
  size_t len;

  if (set_id != NULL)
    snprintf (call->set, sizeof call->set, ", set %.36s", set_id);
  if (!call_can_go (call, c))
    return;
  call->id = ++c->next_id;
  termed = encoded_with_term (co, params);
  buf = termed || errno == 0
    ? jsonrpc_request_encoded (call->id, method, termed ? termed : params,
                               &len)
    : NULL;
  free (termed);
  if (buf == NULL) {
    if (errno == EMSGSIZE)
      call_sent (call, c, -1);
    else
      call_end_later (call, CALL_ERROR, "out of memory");
    return;
  }
  call_sent (call, c, send_text (c, buf, len));
  free (buf);
}

/* Answers to peers' requests. */

static void
inreq_free (struct inreq *r)
{
  json_decref (r->id);
  json_decref (r->reply);
  free (r);
}

/* Send the answers at the head of the queue that are ready. */
static void
flush_replies (struct conn *c)
{
  struct inreq *r;

  while (c->state == CONN_OPEN && (r = TAILQ_FIRST (&c->inreqs)) != NULL &&
         r->reply != NULL) {
    TAILQ_REMOVE (&c->inreqs, r, entry);
    c->npending--;
    if (send_msg (c, r->reply) == -1 && errno == EMSGSIZE) {
      /* A result too long to frame still gets an answer to its id. */
      json_t *e = rpcerr_too_long (r->id);

      if (e == NULL || send_msg (c, e) == -1)
        close_now (c, "cannot send an answer");
      json_decref (e);
    }
    inreq_free (r);
  }
  if (c->state != CONN_OPEN)
    return;
  if (c->npending == 0 && c->mode == TIMER_IDLE)
    arm_timer (c);
  if (c->read_paused && c->npending < CONN_MAX_PENDING) {
    c->read_paused = false;
    bufferevent_enable (c->bev, EV_READ);
    /* Input already read waits for pump_input(). */
    event_active (c->resume, EV_TIMEOUT, 1);
  }
}

static struct conn *
find_open_conn (struct coord *co, uint64_t serial)
{
  struct conn *c;

  TAILQ_FOREACH (c, &co->conns->list, entry)
    if (c->serial == serial)
      return c->state == CONN_OPEN ? c : NULL;
  return NULL;
}

/* Put the answer for R: RESULT (stolen) or the error E. */
static int
inreq_set_answer (struct inreq *r, json_t *result, struct rpcerr *e)
{
  if (result != NULL)
    r->reply = jsonrpc_result (r->id, result);
  else
    r->reply = rpcerr_response (r->id, e);
  return r->reply ? 0 : -1;
}

void
conn_reply (struct coord *co, struct reply_token tok, json_t *result,
            struct rpcerr *e)
{
  struct conn *c = find_open_conn (co, tok.conn);
  struct inreq *r = NULL;

  if (c != NULL)
    TAILQ_FOREACH (r, &c->inreqs, entry)
      if (r->seq == tok.seq)
        break;
  if (r == NULL || r->reply != NULL) {
    log_debug ("answer to a request of a closed connection dropped");
    json_decref (result);
    if (e)
      rpcerr_clear (e);
    return;
  }
  if (inreq_set_answer (r, result, e) == -1) {
    close_now (c, "cannot build an answer: out of memory");
    return;
  }
  flush_replies (c);
}

/* Incoming messages. */

/* Queue a request (or an unreadable message) to answer, with ID. */
static struct inreq *
queue_request (struct conn *c, json_t *id)
{
  struct inreq *r = calloc (1, sizeof *r);

  if (r == NULL)
    return NULL;
  r->id = json_is_string (id) || json_is_integer (id) ? json_incref (id)
    : json_null ();
  r->seq = ++c->next_seq;
  TAILQ_INSERT_TAIL (&c->inreqs, r, entry);
  c->npending++;
  return r;
}

/* Answer a message that is not a valid request with CODE. */
static void
answer_invalid (struct conn *c, json_t *id, int code, const char *message)
{
  struct inreq *r = queue_request (c, id);

  if (r == NULL ||
      (r->reply = jsonrpc_error (r->id, code, NULL, "%s", message)) == NULL) {
    close_now (c, "out of memory");
    return;
  }
  flush_replies (c);
}

static void
handle_request (struct conn *c, json_t *msg)
{
  struct conns *conns = c->co->conns;
  struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
  const char *method = json_string_value (json_object_get (msg, "method"));
  struct inreq *r = queue_request (c, json_object_get (msg, "id"));
  struct reply_token tok;
  bool deferred = false;
  json_t *result;

  if (r == NULL) {
    close_now (c, "out of memory");
    return;
  }
  if (!c->got_request) {
    c->got_request = true;
    arm_timer (c);
  }
  log_debug ("%s: <- %.64s", c->name, method);
  tok.conn = c->serial;
  tok.seq = r->seq;
  result = conns->ops.request (conns->ops_arg, c, method,
                              json_object_get (msg, "params"), tok, &e,
                              &deferred);
  if (c->state != CONN_OPEN) {
    json_decref (result);
    rpcerr_clear (&e);
    return;
  }
  if (deferred)
    return;
  if (inreq_set_answer (r, result, &e) == -1) {
    close_now (c, "cannot build an answer: out of memory");
    return;
  }
  flush_replies (c);
}

static struct call *
find_call (struct conn *c, json_t *id)
{
  struct call *call;

  if (!json_is_integer (id))
    return NULL;
  TAILQ_FOREACH (call, &c->calls, entry)
    if (call->id == json_integer_value (id))
      return call;
  return NULL;
}

static void
handle_response (struct conn *c, json_t *msg)
{
  json_t *id = json_object_get (msg, "id");
  json_t *error = json_object_get (msg, "error");
  struct call *call = find_call (c, id);
  struct call_outcome o = { .end = CALL_OK };

  if (call == NULL) {
    if (json_is_null (id))
      log_warnx ("%s: error without a request id: %.256s", c->name,
                 json_string_value (json_object_get (error, "message")));
    else
      log_info ("%s: dropped an answer to no outstanding request", c->name);
    return;
  }
  TAILQ_REMOVE (&c->calls, call, entry);
  call->conn = NULL;
  event_del (call->ev);
  if (error != NULL) {
    o.end = CALL_ERROR;
    o.code = (int) json_integer_value (json_object_get (error, "code"));
    o.message = json_string_value (json_object_get (error, "message"));
    o.data = json_object_get (error, "data");
  }
  else
    o.result = json_object_get (msg, "result");
  log_debug ("%s: answer to %s (id %lld%s)%s", c->name, call->method,
             (long long) call->id, call->set, error ? ": error" : "");
  call_end (call, &o);
}

static void
handle_message (struct conn *c, const char *text, size_t len)
{
  json_t *msg;
  char err[256];
  int code;

  /* Any message shows the peer is alive. */
  if (c->kind != PEER_NONE) {
    c->co->conns->ops.peer_seen (c->co->conns->ops_arg, c);
    arm_timer (c);
  }
  msg = jsonrpc_decode (text, len, &code, err, sizeof err);
  if (msg == NULL) {
    answer_invalid (c, NULL, code, err);
    return;
  }
  switch (jsonrpc_classify (msg, err, sizeof err)) {
  case JSONRPC_REQUEST:
    handle_request (c, msg);
    break;
  case JSONRPC_NOTIFICATION:
    /* Every method has a result its caller needs: a notification is
     * the caller's mistake, and is neither run nor answered. */
    log_debug ("%s: ignored notification %.64s", c->name,
               json_string_value (json_object_get (msg, "method")));
    break;
  case JSONRPC_RESPONSE:
    handle_response (c, msg);
    break;
  case JSONRPC_INVALID:
  default:
    answer_invalid (c, json_object_get (msg, "id"), JSONRPC_INVALID_REQUEST,
                    err);
    break;
  }
  json_decref (msg);
}

/* Closing. */

static void
conn_free_cb (evutil_socket_t fd, short what, void *arg)
{
  struct conn *c = arg;

  TAILQ_REMOVE (&c->co->conns->dead, c, entry);
  event_free (c->timer);
  event_free (c->resume);
  event_free (c->reaper);
  jsonrpc_framer_free (&c->framer);
  free (c->subject);
  free (c->cn);
  free (c);
}

/* Stop being open: no more requests or calls. */
static void
stop_serving (struct conn *c)
{
  struct inreq *r;

  detach_calls (c);
  while ((r = TAILQ_FIRST (&c->inreqs)) != NULL) {
    TAILQ_REMOVE (&c->inreqs, r, entry);
    inreq_free (r);
  }
  c->npending = 0;
  if (c->kind != PEER_NONE) {
    c->kind = PEER_NONE;        /* the layer above is told once */
    c->co->conns->ops.peer_closed (c->co->conns->ops_arg, c);
  }
}

static void
vclose_now (struct conn *c, const char *fmt, va_list ap)
{
  char why[512];

  if (c->state == CONN_GONE)
    return;
  vsnprintf (why, sizeof why, fmt, ap);
  if ((c->state == CONN_OPEN || c->state == CONN_HANDSHAKE) && !c->shed)
    log_info ("%s: %s", c->name, why);
  else
    log_debug ("%s: %s", c->name, why);
  if (c->state == CONN_OPEN)
    stop_serving (c);
  handshake_end (c);
  c->state = CONN_GONE;
  if (c->bev != NULL) {
    SSL *ssl = bufferevent_openssl_get_ssl (c->bev);

    /* OpenSSL must not call back into C once it is freed. */
    if (ssl != NULL)
      SSL_set_app_data (ssl, NULL);
    bufferevent_free (c->bev);
  }
  c->bev = NULL;
  evtimer_del (c->timer);
  TAILQ_REMOVE (&c->co->conns->list, c, entry);
  TAILQ_INSERT_TAIL (&c->co->conns->dead, c, entry);
  c->co->conns->n--;
  event_active (c->reaper, EV_TIMEOUT, 1);
}

static void
close_now (struct conn *c, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vclose_now (c, fmt, ap);
  va_end (ap);
}

void
conn_close (struct conn *c, const char *why)
{
  close_now (c, "%s", why);
}

/* Send ERROR (stolen), then close C without losing it (see the design
 * notes: flushing, then lingering).  C must be open. */
static void
close_after (struct conn *c, json_t *error, const char *why)
{
  struct timeval tv;

  log_info ("%s: %s", c->name, why);
  stop_serving (c);
  if (error != NULL && send_msg (c, error) == -1) {
    json_decref (error);
    return;                     /* dropped */
  }
  json_decref (error);
  c->state = CONN_FLUSHING;
  evtimer_add (c->timer, timespec_timeval_ms (&tv, LINGER_MS));
  /* The write callback runs when the output buffer empties. */
  bufferevent_enable (c->bev, EV_READ | EV_WRITE);
  if (evbuffer_get_length (bufferevent_get_output (c->bev)) == 0) {
    shutdown (bufferevent_getfd (c->bev), SHUT_WR);
    c->state = CONN_LINGERING;
  }
}

static void
bev_write_cb (struct bufferevent *bev, void *arg)
{
  struct conn *c = arg;

  if (c->state == CONN_FLUSHING &&
      evbuffer_get_length (bufferevent_get_output (bev)) == 0) {
    shutdown (bufferevent_getfd (bev), SHUT_WR);
    c->state = CONN_LINGERING;
  }
}

/* Reading. */

/* Take the messages framed so far, as long as C is open and not
 * paused. */
static void
take_messages (struct conn *c)
{
  char *text;
  size_t len;
  int r;

  while (c->state == CONN_OPEN) {
    if (c->npending >= CONN_MAX_PENDING) {
      c->read_paused = true;
      bufferevent_disable (c->bev, EV_READ);
      return;
    }
    r = jsonrpc_framer_next (&c->framer, &text, &len);
    if (r == 0)
      return;
    if (r == -1) {
      if (errno == EMSGSIZE) {
        /* The stream cannot be resynchronised: answer, then close. */
        json_t *e = jsonrpc_error (NULL, JSONRPC_INVALID_REQUEST, NULL,
                                   "message longer than %d bytes",
                                   JSONRPC_MAX_MESSAGE);
        char why[96];

        snprintf (why, sizeof why, "sent a message longer than %d bytes",
                  JSONRPC_MAX_MESSAGE);
        close_after (c, e, why);
      }
      else
        close_now (c, "framing: %m");
      return;
    }
    handle_message (c, text, len);
    free (text);
  }
}

/* Move input to the framer one chunk at a time and take the messages
 * it completes, until the input is used up, C pauses or closes.  One
 * chunk at a time, so that a line over the limit is refused as soon as
 * it is over, however much more the peer sent. */
static void
pump_input (struct conn *c)
{
  char buf[READ_CHUNK];

  for (;;) {
    struct evbuffer *in;
    size_t n;
    int got;

    take_messages (c);
    if (c->state != CONN_OPEN || c->read_paused)
      return;
    in = bufferevent_get_input (c->bev);
    n = evbuffer_get_length (in);
    if (n == 0)
      return;
    got = evbuffer_remove (in, buf, n < sizeof buf ? n : sizeof buf);
    if (got <= 0 || jsonrpc_framer_feed (&c->framer, buf, (size_t) got)
        == -1) {
      close_now (c, "cannot buffer input: out of memory");
      return;
    }
  }
}

static void
resume_reading_cb (evutil_socket_t fd, short what, void *arg)
{
  pump_input (arg);
}

static void
bev_read_cb (struct bufferevent *bev, void *arg)
{
  struct conn *c = arg;

  if (c->state != CONN_OPEN) {
    struct evbuffer *in = bufferevent_get_input (bev);

    evbuffer_drain (in, evbuffer_get_length (in));
    return;
  }
  pump_input (c);
}

/* The openssl errors of BEV as one line, or the socket error. */
static const char *
bev_error_string (struct bufferevent *bev, char *buf, size_t len)
{
  unsigned long e, first = 0;

  while ((e = bufferevent_get_openssl_error (bev)) != 0)
    if (first == 0)
      first = e;
  if (first != 0) {
    ERR_error_string_n (first, buf, len);
    return buf;
  }
  if (EVUTIL_SOCKET_ERROR () != 0)
    return evutil_socket_error_to_string (EVUTIL_SOCKET_ERROR ());
  return "connection closed";
}

static void
handshake_done (struct conn *c)
{
  SSL *ssl = bufferevent_openssl_get_ssl (c->bev);
  int64_t left;
  struct timeval tv;
  char roles[64];

  handshake_end (c);
  /* The first request is due CONN_CONNECT_TIMEOUT_MS from the connect. */
  left = CONN_CONNECT_TIMEOUT_MS -
    (timespec_now_ms (CLOCK_MONOTONIC) - c->accepted_ms);
  evtimer_add (c->timer, timespec_timeval_ms (&tv, left));
  c->subject = tls_peer_subject (ssl);
  c->cn = tls_peer_common_name (ssl);
  if (c->subject == NULL) {
    close_now (c, "TLS handshake without a verified client certificate");
    return;
  }
  snprintf (c->name, sizeof c->name, "peer #%llu (%.120s)",
            (unsigned long long) c->serial, c->subject);
  c->roles = roles_of (c->co->conf, c->subject, c->cn);
  c->state = CONN_OPEN;
  if (c->roles == 0) {
    char why[704];
    json_t *e = jsonrpc_error (NULL, SV_RPC_FORBIDDEN, NULL,
                               "certificate %s has no role", c->subject);

    snprintf (why, sizeof why, "refused from %s: certificate %.512s has no "
              "role", c->addr, c->subject);
    close_after (c, e, why);
    return;
  }
  log_info ("%s: connected from %s, %s, roles %s", c->name, c->addr,
            SSL_get_version (ssl), roles_names (c->roles, roles,
                                                sizeof roles));
}

static void
bev_event_cb (struct bufferevent *bev, short what, void *arg)
{
  struct conn *c = arg;
  char buf[256];

  if (what & BEV_EVENT_CONNECTED) {
    if (c->state == CONN_HANDSHAKE)
      handshake_done (c);
    return;
  }
  if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
    return;
  switch (c->state) {
  case CONN_HANDSHAKE:
    close_now (c, "TLS handshake with %s failed: %s", c->addr,
               bev_error_string (bev, buf, sizeof buf));
    break;
  case CONN_OPEN:
    if (what & BEV_EVENT_EOF)
      close_now (c, "disconnected");
    else
      close_now (c, "disconnected: %s",
                 bev_error_string (bev, buf, sizeof buf));
    break;
  default:
    close_now (c, "closed");
    break;
  }
}

void
conn_accept (struct coord *co, int fd, const char *host, const char *addr)
{
  struct conns *conns = co->conns;
  struct conn *c;
  struct timeval tv;
  SSL *ssl = NULL;
  int one = 1;
  char byte;
  bool talking;

  if (co->stopping) {
    close (fd);
    return;
  }
  if (!make_room (co, host)) {
    log_warnx ("refused a connection from %s: %zu connections already, "
               "none of them in its TLS handshake", addr, conns->n);
    close (fd);
    return;
  }
  /* A real peer has usually sent its ClientHello by now. */
  talking = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c = calloc (1, sizeof *c);
  if (c == NULL)
    goto err;
  c->co = co;
  c->serial = ++conns->next_serial;
  c->state = CONN_HANDSHAKE;
  c->mode = TIMER_CONNECT;
  c->accepted_ms = timespec_now_ms (CLOCK_MONOTONIC);
  snprintf (c->addr, sizeof c->addr, "%s", addr);
  snprintf (c->name, sizeof c->name, "peer #%llu (%s)",
            (unsigned long long) c->serial, addr);
  TAILQ_INIT (&c->inreqs);
  TAILQ_INIT (&c->calls);
  c->timer = evtimer_new (co->base, conn_timeout_cb, c);
  c->resume = event_new (co->base, -1, 0, resume_reading_cb, c);
  c->reaper = event_new (co->base, -1, 0, conn_free_cb, c);
  ssl = SSL_new (co->tls);
  if (c->timer == NULL || c->resume == NULL || c->reaper == NULL ||
      ssl == NULL)
    goto err;
  /* A peer that closes without close_notify has just gone away: our
   * framing detects a truncated message on its own, and OpenSSL 3
   * would otherwise report an error for it. */
  SSL_set_options (ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_set_app_data (ssl, c);
  SSL_set_info_callback (ssl, ssl_info_cb);
  /* On success the bufferevent owns SSL and FD (CLOSE_ON_FREE). */
  c->bev = bufferevent_openssl_socket_new (co->base, fd, ssl,
                                           BUFFEREVENT_SSL_ACCEPTING,
                                           BEV_OPT_CLOSE_ON_FREE |
                                           BEV_OPT_DEFER_CALLBACKS);
  if (c->bev == NULL)
    goto err;
  ssl = NULL;
  fd = -1;
  if (handshake_begin (c, host, talking) == -1) {
    SSL_set_app_data (bufferevent_openssl_get_ssl (c->bev), NULL);
    bufferevent_free (c->bev);
    goto err;
  }
  bufferevent_openssl_set_allow_dirty_shutdown (c->bev, 1);
  bufferevent_setcb (c->bev, bev_read_cb, bev_write_cb, bev_event_cb, c);
  bufferevent_enable (c->bev, EV_READ | EV_WRITE);
  evtimer_add (c->timer,
               timespec_timeval_ms (&tv, co->conf->handshake_timeout_ms));
  TAILQ_INSERT_TAIL (&conns->list, c, entry);
  conns->n++;
  log_debug ("%s: accepted", c->name);
  return;

 err:
  log_warnx ("refused a connection from %s: out of memory", addr);
  if (ssl)
    SSL_free (ssl);
  if (fd >= 0)
    close (fd);
  if (c) {
    if (c->timer)
      event_free (c->timer);
    if (c->resume)
      event_free (c->resume);
    if (c->reaper)
      event_free (c->reaper);
    free (c);
  }
}

void
conn_set_peer (struct conn *c, enum peer_kind kind, void *peer)
{
  c->kind = kind;
  c->peer = peer;
  arm_timer (c);
}

/* A bufferevent freed while libevent has one of its deferred callbacks
 * queued (BEV_OPT_DEFER_CALLBACKS: an EOF read but not yet delivered)
 * is only released when that callback runs, and event_base_free drops
 * queued callbacks without running them.  So run the loop until what
 * is queued has run: the bufferevents' own callbacks are unset by now,
 * and everyone else's sees co->stopping.  Bounded: a callback may
 * queue another (the finalizer of a bufferevent it released). */
static void
release_deferred (struct event_base *base)
{
  int i;

  for (i = 0; i < 8 && event_base_get_num_events (base,
                                                  EVENT_BASE_COUNT_ACTIVE)
       > 0; i++)
    event_base_loop (base, EVLOOP_NONBLOCK);
}

void
conns_free (struct conns *conns)
{
  struct conn *c;
  struct call *call;

  if (conns == NULL)
    return;
  while ((c = TAILQ_FIRST (&conns->list)) != NULL)
    close_now (c, "the coordinator is stopping");
  while ((c = TAILQ_FIRST (&conns->dead)) != NULL)
    conn_free_cb (-1, 0, c);
  /* The owners of the calls are going away too: end each now. */
  while ((call = TAILQ_FIRST (&conns->calls)) != NULL) {
    struct call_outcome o = { .end = CALL_SHUTDOWN,
                              .message = "the coordinator is stopping" };

    if (call->conn != NULL)
      TAILQ_REMOVE (&call->conn->calls, call, entry);
    call->conn = NULL;
    call_end (call, &o);
  }
  event_free (conns->report);
  release_deferred (conns->co->base);
  free (conns);
}
