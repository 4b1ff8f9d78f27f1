/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpcpeer.h: a registered peer's lasting link to the coordinator
 * (docs/protocol.md, Part 2), shared by the plugin's provider link and
 * libsnapvol-writer: connect over TLS, register, send ping every
 * heartbeat, answer the coordinator's calls one at a time in the order
 * received, and on any failure reconnect with exponential backoff.
 *
 * Threads: rpcpeer_run is the I/O loop, in the caller's thread; it
 * starts one worker thread, which runs the calls (they may block for a
 * long time: hold.begin, a writer's freeze) while the I/O loop goes on
 * sending pings.  The worker starts with every signal blocked.
 */

#ifndef SNAPVOL_RPCPEER_H
#define SNAPVOL_RPCPEER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include <openssl/ssl.h>

#define RPCPEER_CONNECT_TIMEOUT_MS 10000
/* The same with several coordinators: a host that died without closing
 * its connections (its address silent, not refused) costs every round
 * this much, and the failover target is a few seconds. */
#define RPCPEER_LIST_CONNECT_TIMEOUT_MS 3000
#define RPCPEER_BACKOFF_MIN_MS 500
#define RPCPEER_BACKOFF_MAX_MS 30000
/* The longest wait between two rounds of the coordinators' addresses
 * when one of them answered that it is not the leader (an election is
 * under way): the failover target is a few seconds. */
#define RPCPEER_ELECTION_WAIT_MS 1000
/* heartbeat_ms when the registration result has none. */
#define RPCPEER_HEARTBEAT_DEFAULT_MS 5000

struct rpcpeer;

/* One call from the coordinator, as the worker runs it. */
struct rpcpeer_call {
  json_t *id;                   /* borrowed: the request's id */
  const char *method;
  json_t *params;               /* borrowed; NULL when omitted */
  uint64_t session;             /* the connection it came on */
  struct timespec received;     /* CLOCK_MONOTONIC, when it was read */
};

struct rpcpeer_ops {
  /* The registration request for a new connection: *METHOD (a static
   * string) and its params (a new reference).  Called by the I/O loop
   * at each connection.  NULL with a message in ERR fails this attempt
   * (retried after the backoff). */
  json_t *(*registration) (void *opaque, const char **method,
                           char *err, size_t errlen);
  /* Optional: the connection SESSION is registered; RESULT (borrowed)
   * is the registration's result.  I/O loop.  (The link itself logs the
   * registration at LOG_DEBUG only: this is where to say it louder.) */
  void (*registered) (void *opaque, uint64_t session, json_t *result);
  /* Answer one call: the JSON-RPC response (a new reference) for
   * CALL->id.  Worker thread, one call at a time, in order.  NULL (out
   * of memory) is answered with an internal error. */
  json_t *(*call) (void *opaque, const struct rpcpeer_call *call);
  /* Optional: the registered connection SESSION ended, for the reason
   * WHY.  I/O loop, after calls of the session can no longer be
   * answered (rpcpeer_session_alive is false). */
  void (*disconnected) (void *opaque, uint64_t session, const char *why);
  /* Log MSG (one line) at PRIORITY (LOG_ERR, LOG_WARNING, LOG_INFO or
   * LOG_DEBUG from <syslog.h>).  Any thread. */
  void (*log) (void *opaque, int priority, const char *msg);
};

struct rpcpeer_config {
  const char *what;             /* names the peer: "coordinator" */
  const char *address;          /* HOST:PORT[,HOST:PORT...]: the
                                 * coordinators, tried as rpcconn.h's
                                 * address lists say */
  SSL_CTX *tls;                 /* a tls_client_context; not owned */
  int connect_timeout_ms;       /* 0: RPCPEER_CONNECT_TIMEOUT_MS, or
                                 * RPCPEER_LIST_CONNECT_TIMEOUT_MS with
                                 * several addresses */
  int backoff_min_ms;           /* 0: RPCPEER_BACKOFF_MIN_MS */
  int backoff_max_ms;           /* 0: RPCPEER_BACKOFF_MAX_MS */
};

/* A new link (not yet running).  CFG's strings are copied; OPS must
 * outlive the link.  NULL with errno on failure (EINVAL: CFG->address
 * is not a valid list; rpcconn_targets_new says why). */
extern struct rpcpeer *rpcpeer_new (const struct rpcpeer_config *cfg,
                                    const struct rpcpeer_ops *ops,
                                    void *opaque)
  __attribute__((nonnull (1, 2)));

/* Run the link until rpcpeer_stop: connect, register, serve, and
 * reconnect after each failure.  With several addresses a failed
 * attempt goes on at once to the leader a coordinator named, or to the
 * next address; a round of the list that failed (one attempt for a
 * single address) waits 0.5 s doubling up to 30 s (at most
 * RPCPEER_ELECTION_WAIT_MS after a round in which a coordinator
 * answered that it is not the leader)
 * (with jitter; back to 0.5 s after any connection whose registration
 * was accepted, however long it lasted).  Each
 * failure (of a round: every attempt's reason, joined by "; ") is
 * logged at LOG_ERR when it differs from the previous one, at
 * LOG_DEBUG when it repeats; each attempt of a longer round at
 * LOG_DEBUG.  Returns 0 once stopped (at once if
 * rpcpeer_stop came first), -1 with errno if the worker thread could
 * not start.  The call running when stopped is finished first, so it
 * may take as long as that call. */
extern int rpcpeer_run (struct rpcpeer *p) __attribute__((nonnull));

/* Ask rpcpeer_run to return.  Any thread; async-signal-safe. */
extern void rpcpeer_stop (struct rpcpeer *p) __attribute__((nonnull));

/* Whether SESSION is the connection currently up.  Any thread. */
extern bool rpcpeer_session_alive (struct rpcpeer *p, uint64_t session)
  __attribute__((nonnull));

/* Free P, which must not be running.  P may be NULL. */
extern void rpcpeer_free (struct rpcpeer *p);

#endif /* SNAPVOL_RPCPEER_H */
