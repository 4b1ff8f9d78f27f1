/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpcconn.h: a blocking JSON-RPC connection over TLS, from a peer
 * (provider, writer, requester) to the coordinator (docs/protocol.md,
 * Part 2).
 *
 * The socket is non-blocking underneath; every wait is a poll(2) with
 * a deadline that also watches an optional cancel descriptor, so a
 * thread blocked here can be woken by another (rpcpeer_stop).  Every
 * error message starts with the peer's name and address, as in
 * "coordinator 127.0.0.1:10810: certificate verify failed: ...".
 *
 * A connection is used by one thread at a time: OpenSSL's SSL object
 * is not thread-safe.  SIGPIPE is never raised by a write to a closed
 * connection, whatever the caller's signal disposition.
 */

#ifndef SNAPVOL_RPCCONN_H
#define SNAPVOL_RPCCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <openssl/ssl.h>

/* The coordinator's port when an address names none. */
#define RPCCONN_DEFAULT_PORT "10810"

struct rpcconn;

/* Split ADDRESS into a host and a port: "HOST:PORT", "[IPV6]:PORT",
 * "HOST" or "[IPV6]" (DEFAULT_PORT), or a bare IPv6 literal (more than
 * one colon, no brackets: DEFAULT_PORT).  *HOST and *PORT are malloc'd.
 * -1 with a message in ERR on a malformed address or ENOMEM. */
extern int rpcconn_split_address (const char *address,
                                  const char *default_port,
                                  char **host, char **port,
                                  char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 3, 4)));

/* Connect to ADDRESS (see rpcconn_split_address; IPv4, IPv6 or a host
 * name, every address of the name tried in turn), and complete the TLS
 * handshake with CTX (a tls_client_context), checking that the
 * certificate is issued for the host part of ADDRESS.  WHAT names the
 * peer in messages ("coordinator").  Everything must finish within
 * TIMEOUT_MS; CANCEL_FD (or -1) becoming readable aborts the wait with
 * ECANCELED.  Returns the connection, or NULL with errno and a message
 * in ERR.  Blocks (name resolution is not cancellable). */
extern struct rpcconn *rpcconn_open (SSL_CTX *ctx, const char *what,
                                     const char *address, int timeout_ms,
                                     int cancel_fd, char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 3, 6)));

/* Close the connection (a best-effort TLS close_notify that never
 * blocks) and free it.  C may be NULL. */
extern void rpcconn_close (struct rpcconn *c);

/* "coordinator HOST:PORT", for the caller's own messages.  Owned by C. */
extern const char *rpcconn_name (const struct rpcconn *c)
  __attribute__((nonnull));

/* ERR, a message from a function of C, without its leading
 * "coordinator HOST:PORT: ": the reason alone, to tell the peer. */
extern const char *rpcconn_reason (const struct rpcconn *c, const char *err)
  __attribute__((nonnull));

/* The socket and the poll(2) events it must be waited for before
 * rpcconn_recv can make progress: POLLIN usually, POLLOUT when TLS
 * must write first.  For callers that multiplex several descriptors;
 * call rpcconn_recv with timeout 0 first: it may hold buffered
 * messages the socket will never signal again. */
extern int rpcconn_fd (const struct rpcconn *c) __attribute__((nonnull));
extern short rpcconn_events (const struct rpcconn *c) __attribute__((nonnull));

/* A new id for a request sent on C (1, 2, 3, ...). */
extern json_int_t rpcconn_next_id (struct rpcconn *c) __attribute__((nonnull));

/* Send MSG framed, within TIMEOUT_MS (< 0: no limit).  While the
 * socket cannot take more, incoming bytes are read and buffered, so
 * two peers writing large messages to each other cannot deadlock.
 * -1 with errno (EMSGSIZE if MSG is over the message limit, ETIMEDOUT,
 * ECANCELED, EPIPE, ECONNRESET, EPROTO for a TLS error) and ERR. */
extern int rpcconn_send (struct rpcconn *c, json_t *msg, int timeout_ms,
                         char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 4)));

/* The next message, within TIMEOUT_MS (0: only what is buffered or
 * readable now; < 0: no limit), as a new reference to a JSON object
 * (not yet classified).  NULL with errno and ERR: ETIMEDOUT (nothing
 * complete yet: the connection is still usable), EBADMSG (the message
 * was not JSON or not an object: *CODE is the JSON-RPC error code to
 * answer with id null; the connection is still usable), EMSGSIZE (over
 * the limit: the stream is lost), ECONNRESET (closed by the peer),
 * ECANCELED, EPROTO (TLS error), or another errno. */
extern json_t *rpcconn_recv (struct rpcconn *c, int timeout_ms, int *code,
                             char *err, size_t errlen)
  __attribute__((nonnull (1, 3, 4)));

/* Called for a request or notification that arrives while rpcconn_call
 * waits for its answer.  MSG is borrowed (json_incref to keep it).  The
 * callback must not use C (it may queue MSG and answer later). */
typedef void rpcconn_request_fn (void *opaque, json_t *msg);

/* Send a request for METHOD with PARAMS (stolen; may be NULL) and wait
 * up to TIMEOUT_MS for its response, handing every request from the
 * peer that arrives meanwhile to ON_REQUEST (when NULL such requests
 * are answered with -32601: this peer takes no requests).  Responses
 * to other ids are dropped.  An error response with id null (the peer
 * could not read our request, or refused the connection) is taken as
 * the answer.  Returns the response (a new reference: it has "result"
 * or "error"), or NULL with errno and ERR when no response came. */
extern json_t *rpcconn_call (struct rpcconn *c, const char *method,
                             json_t *params, int timeout_ms,
                             rpcconn_request_fn *on_request, void *opaque,
                             char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 7)));

/* If RESPONSE is an error response, return 1 and its code, message and
 * data (borrowed; data may be NULL); else 0. */
extern int rpcconn_response_error (json_t *response, int *code,
                                   const char **message, json_t **data)
  __attribute__((nonnull (1, 2, 3)));

/* Address lists: the rule by which every peer (provider, writer,
 * snapvolctl) finds the leading coordinator among several
 * (docs/protocol.md, "Several coordinators").
 *
 * A list is "ADDRESS[,ADDRESS...]" (each as rpcconn_split_address
 * takes it, at most RPCCONN_MAX_ADDRESSES).  A round tries each
 * address once, in order, starting where the previous round said
 * (below); an address that answers SV_RPC_NOT_LEADER naming a leader
 * makes the leader the next attempt, once per round (the usual TLS
 * checks apply to it: its certificate must name its host).  When the
 * round is over the caller waits its backoff (rpcpeer) or gives up
 * (snapvolctl).  A round after one that reached a coordinator starts
 * at the address after it: when that coordinator died, the next one is
 * the likeliest new leader.  A one-address list is one attempt per
 * round, plus the redirect: today's single coordinator, unchanged. */
#define RPCCONN_MAX_ADDRESSES 16

struct rpcconn_targets;

/* Parse LIST.  NULL with errno (EINVAL, ENOMEM) and a message in ERR
 * naming the bad address (for a single address the message of
 * rpcconn_split_address).  The first round starts at the first
 * address. */
extern struct rpcconn_targets *rpcconn_targets_new (const char *list,
                                                    char *err, size_t errlen)
  __attribute__((nonnull (1, 2)));
extern void rpcconn_targets_free (struct rpcconn_targets *t);

/* The number of addresses in the list. */
extern size_t rpcconn_targets_count (const struct rpcconn_targets *t)
  __attribute__((nonnull));

/* The address to try next in this round (owned by T, valid until the
 * next call on T), or NULL when the round is over. */
extern const char *rpcconn_targets_next (struct rpcconn_targets *t)
  __attribute__((nonnull));

/* The attempt at the address rpcconn_targets_next returned failed for
 * WHY (a message naming the address, kept for rpcconn_targets_why);
 * LEADER (or NULL) is the leader its SV_RPC_NOT_LEADER answer named. */
extern void rpcconn_targets_failed (struct rpcconn_targets *t,
                                    const char *why, const char *leader)
  __attribute__((nonnull (1, 2)));

/* The attempt at the address rpcconn_targets_next returned reached the
 * leader: the next round starts after it. */
extern void rpcconn_targets_reached (struct rpcconn_targets *t)
  __attribute__((nonnull));

/* Why this round's attempts failed: with one attempt its WHY as
 * given, with more each WHY joined by "; ".  Owned by T. */
extern const char *rpcconn_targets_why (const struct rpcconn_targets *t)
  __attribute__((nonnull));

/* Begin a new round (after the caller's backoff). */
extern void rpcconn_targets_new_round (struct rpcconn_targets *t)
  __attribute__((nonnull));

/* If RESPONSE is a coordinator's SV_RPC_NOT_LEADER answer (code -32012
 * with data {"leader": "HOST:PORT"} or {"leader": null}), return true, with *LEADER the leader named (borrowed from RESPONSE)
 * or NULL when none is elected. */
extern bool rpcconn_not_leader (json_t *response, const char **leader)
  __attribute__((nonnull));

#endif /* SNAPVOL_RPCCONN_H */
