/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * conn.h: peer connections: TLS, framing, and JSON-RPC in both
 * directions on one connection (docs/protocol.md, Part 2).
 *
 * The transport: the bottom layer of the coordinator's calls.  It owns
 * the connection table, every struct conn and struct call, the TLS
 * sessions and the connection timers.  It knows no method and no peer
 * type beyond the heartbeat rule: what to do with a request, and what a
 * registered peer's traffic and closing mean, belong to the layer that
 * creates the table and passes its struct conn_ops to conns_new.
 *
 * Requests a peer sends go to conn_ops.request and are answered in the
 * order received, whether the answer is ready at once or later
 * (conn_reply).  Calls the coordinator makes (conn_call) are matched
 * to their answers by id and each has a deadline.
 *
 * Callers may: keep a struct conn pointer only until the connection
 * closes (conn_ops.peer_closed for a registered peer; the structure is
 * freed from the event loop after that), keep a struct reply_token for
 * as long as they like, and call any function here from a conn_ops
 * callback or a conn_call_fn.  Nothing here blocks.
 */

#ifndef SNAPVOL_CONN_H
#define SNAPVOL_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "conf.h"
#include "coord.h"

/* Bounds on what a connection may cost (docs/coordinator.md). */
#define CONN_CONNECT_TIMEOUT_MS 10000   /* TCP connect to first request */
#define CONN_IDLE_TIMEOUT_MS 300000     /* a requester with nothing to do */
#define CONN_HEARTBEATS_MISSED 3
#define CONN_MAX CONFIG_MAX_CONNECTIONS  /* connections at once */
/* Descriptors kept for what is not a connection (listeners, catalog,
 * event loop) when RLIMIT_NOFILE bounds the table. */
#define CONN_FD_SPARE 64
#define CONN_MAX_PENDING 16             /* requests read, not yet answered */

struct conn;

enum peer_kind {
  PEER_NONE = 0,                /* not registered (a requester, or not yet) */
  PEER_PROVIDER,
  PEER_WRITER,
};

/* How a call ended. */
enum call_end {
  CALL_OK,                      /* the peer answered with a result */
  CALL_ERROR,                   /* the peer answered with an error */
  CALL_TIMEOUT,                 /* no answer before the deadline */
  CALL_CLOSED,                  /* the connection ended (or there was none) */
  CALL_SHUTDOWN,                /* the coordinator is stopping: only clean up */
};

struct call_outcome {
  enum call_end end;
  json_t *result;               /* CALL_OK: the result (borrowed) */
  int code;                     /* CALL_ERROR: the peer's code */
  json_t *data;                 /* CALL_ERROR: its data, or NULL (borrowed) */
  const char *message;          /* why, for every end but CALL_OK: the
                                 * peer's message, or ours ("no answer to
                                 * writer.freeze within 1000 ms") */
};

/* Called exactly once per conn_call, from the event loop, never from
 * within conn_call itself.  The outcome and what it points to are
 * valid only during the call. */
typedef void conn_call_fn (void *arg, const struct call_outcome *o);

/* Identifies a request to answer later, even if its connection is gone
 * by then (the answer is then dropped). */
struct reply_token {
  uint64_t conn;
  uint64_t seq;
};

/* What the layer above does with a connection's traffic.  Each
 * callback gets the ARG given to conns_new and runs from the event
 * loop; none may free C (conn_close is allowed). */
struct conn_ops {
  /* Run the request METHOD with PARAMS (NULL if it had none) from C.
   * Returns the result (a new reference), or NULL with E set, or NULL
   * with *DEFERRED set when the answer will go to TOK later through
   * conn_reply.  C may be closed on return (the answer is dropped). */
  json_t *(*request) (void *arg, struct conn *c, const char *method,
                      json_t *params, struct reply_token tok,
                      struct rpcerr *e, bool *deferred);
  /* A message came from C, marked a registered peer by conn_set_peer. */
  void (*peer_seen) (void *arg, struct conn *c);
  /* C, marked a registered peer, has stopped serving (closing, or
   * the coordinator stopping).  Called once per connection; C is
   * already unmarked (conn_kind is PEER_NONE). */
  void (*peer_closed) (void *arg, struct conn *c);
};

/* The connection table, serving OPS (copied) with ARG.  conns_new: NULL
 * on ENOMEM.  conns_free closes every connection and ends every
 * outstanding call with CALL_SHUTDOWN (callbacks run at once, from
 * conns_free), then runs the loop's queued callbacks, which hold what
 * libevent has not released yet. */
extern struct conns *conns_new (struct coord *co, const struct conn_ops *ops,
                                void *arg)
  __attribute__((nonnull (1, 2)));
extern void conns_free (struct conns *conns);

/* Take a new TCP connection FD (accepted by listener.c) and start the
 * TLS handshake.  FD is owned by the connection from now on (closed on
 * error too).  HOST is the peer's IP address (the per-address limit
 * counts by it), ADDR names the peer in logs ("HOST:PORT").  To make
 * room it may close other connections still in their handshake (see
 * conn.c, Room); the new one is refused only when every connection of
 * a full table has finished its handshake. */
extern void conn_accept (struct coord *co, int fd, const char *host,
                         const char *addr)
  __attribute__((nonnull));

/* accept(2) failed for lack of descriptors: close up to N of the
 * connections still in their handshake, oldest silent ones first.
 * Returns how many were closed; their descriptors are free once the
 * event loop has run once more. */
extern size_t conns_shed (struct coord *co, size_t n)
  __attribute__((nonnull));

/* Call METHOD with PARAMS (stolen; may be NULL) on C, which may be NULL
 * (the peer is not connected: CB gets CALL_CLOSED).  CB gets the
 * outcome once, after at most TIMEOUT_MS.  Never fails. */
extern void conn_call (struct coord *co, struct conn *c, const char *method,
                       json_t *params, unsigned timeout_ms,
                       conn_call_fn *cb, void *arg)
  __attribute__((nonnull (1, 3, 6)));

/* conn_call with PARAMS already encoded: the compact JSON text of an
 * object (borrowed), for one set of parameters sent to many peers;
 * SET_ID (or NULL) names the set in the log lines of the call. */
extern void conn_call_encoded (struct coord *co, struct conn *c,
                               const char *method, const char *params,
                               const char *set_id, unsigned timeout_ms,
                               conn_call_fn *cb, void *arg)
  __attribute__((nonnull (1, 3, 4, 7)));

/* Answer the request TOK with RESULT (stolen), or if RESULT is NULL with
 * the error E (its data is stolen).  Dropped if the connection is
 * gone. */
extern void conn_reply (struct coord *co, struct reply_token tok,
                        json_t *result, struct rpcerr *e)
  __attribute__((nonnull (1)));

/* Close C now: outstanding calls end with CALL_CLOSED, a registered
 * peer is reported through conn_ops.peer_closed.  WHY is logged. */
extern void conn_close (struct conn *c, const char *why)
  __attribute__((nonnull));

/* Mark C as the connection of a registered provider or writer PEER:
 * from now on it must send a message every heartbeat. */
extern void conn_set_peer (struct conn *c, enum peer_kind kind, void *peer)
  __attribute__((nonnull));
extern enum peer_kind conn_kind (const struct conn *c)
  __attribute__((nonnull));
extern void *conn_peer (const struct conn *c) __attribute__((nonnull));

/* The peer certificate's subject (RFC 2253) and its roles. */
extern const char *conn_subject (const struct conn *c)
  __attribute__((nonnull));
extern unsigned conn_roles (const struct conn *c) __attribute__((nonnull));
/* "peer #7 (CN=storage-1)", for log messages; static storage of C. */
extern const char *conn_name (const struct conn *c) __attribute__((nonnull));

#endif /* SNAPVOL_CONN_H */
