/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * jsonrpc.h: JSON-RPC 2.0 messages and their framing.
 *
 * Framing (docs/protocol.md): each message is one JSON object in
 * compact form (no raw newline inside), UTF-8, followed by a single
 * '\n'.  A message longer than JSONRPC_MAX_MESSAGE bytes (newline
 * excluded) is a protocol error: the receiver answers with an error
 * if it can and closes the connection.  The framer is independent of
 * the transport: the Unix control socket and TLS streams use it alike.
 */

#ifndef SNAPVOL_JSONRPC_H
#define SNAPVOL_JSONRPC_H

#include <stddef.h>
#include <jansson.h>

#define JSONRPC_MAX_MESSAGE (1024 * 1024)

/* Standard JSON-RPC 2.0 error codes. */
#define JSONRPC_PARSE_ERROR      (-32700)
#define JSONRPC_INVALID_REQUEST  (-32600)
#define JSONRPC_METHOD_NOT_FOUND (-32601)
#define JSONRPC_INVALID_PARAMS   (-32602)
#define JSONRPC_INTERNAL_ERROR   (-32603)

/* snapvol application error codes (documented in docs/protocol.md).
 * The error's "data" member carries {"errno": "ENOENT"} where useful. */
#define SV_RPC_NOT_FOUND     (-32001)   /* no such volume, snapshot or hold */
#define SV_RPC_EXISTS        (-32002)   /* already exists */
#define SV_RPC_BUSY          (-32003)   /* in use, held, or has snapshots */
#define SV_RPC_IO_ERROR      (-32004)   /* the engine failed an I/O */
#define SV_RPC_NO_SPACE      (-32005)
#define SV_RPC_EXPIRED       (-32006)   /* a hold's lease expired */
#define SV_RPC_FORBIDDEN     (-32007)   /* the peer's role may not call this */
#define SV_RPC_TIMEOUT       (-32008)
/* The coordinator protocol's (docs/protocol.md, Part 2). */
#define SV_RPC_NOT_REGISTERED (-32009) /* register first; peer not connected */
#define SV_RPC_SET_FAILED     (-32010)
#define SV_RPC_NAME_BOUND     (-32011) /* the name is another certificate's */
#define SV_RPC_NOT_LEADER     (-32012) /* this coordinator is a follower */
#define SV_RPC_STALE_TERM     (-32013) /* a call of a deposed leader's term */

/* Format a message into ERR (ERRLEN bytes; nothing if ERR is NULL or
 * ERRLEN 0), keeping errno: the error text of every function here and
 * in rpcconn.c that reports through a caller's buffer. */
extern void jsonrpc_seterr (char *err, size_t errlen, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

/* Map an errno value to the SV_RPC_* code that fits it best
 * (EINVAL and the like map to JSONRPC_INVALID_PARAMS, anything
 * without a better fit to JSONRPC_INTERNAL_ERROR). */
extern int jsonrpc_code_from_errno (int err);
/* The symbolic name of ERR ("ENOENT"), or NULL if it has none here.
 * The string is static. */
extern const char *jsonrpc_errno_name (int err);
/* A new {"errno": "ENOENT"} object for an error's "data" member, or
 * NULL if ERR has no name (or on ENOMEM). */
extern json_t *jsonrpc_errno_data (int err);

/* Incremental line framer.  Owned by the caller; zero-initialise it
 * with JSONRPC_FRAMER_INIT, release with jsonrpc_framer_free. */
struct jsonrpc_framer {
  char *buf;
  size_t len, cap;
  size_t scan;          /* bytes already known to hold no '\n' */
  size_t start;         /* first byte not yet taken by _next */
};
#define JSONRPC_FRAMER_INIT { NULL, 0, 0, 0, 0 }

/* Append LEN received bytes.  -1 with ENOMEM. */
extern int jsonrpc_framer_feed (struct jsonrpc_framer *f,
                                const void *data, size_t len);
/* Take the next complete message.  Returns 1 and a malloc'd,
 * NUL-terminated copy (without the newline) in *MSG, 0 if no complete
 * message is buffered, -1 with EMSGSIZE if the buffered message
 * exceeds JSONRPC_MAX_MESSAGE (or ENOMEM).  Lines holding only blanks
 * (space, tab, CR) are skipped.  After EMSGSIZE the stream cannot be
 * resynchronised: every later call fails the same way. */
extern int jsonrpc_framer_next (struct jsonrpc_framer *f, char **msg,
                                size_t *len);
extern void jsonrpc_framer_free (struct jsonrpc_framer *f);

/* Serialise MSG compactly followed by '\n' into a malloc'd,
 * NUL-terminated buffer; *LEN counts the newline, not the NUL.  NULL
 * with ENOMEM, or EMSGSIZE if the message would exceed
 * JSONRPC_MAX_MESSAGE (the peer would refuse it). */
extern char *jsonrpc_encode (json_t *msg, size_t *len);

/* The framed request of id ID calling METHOD with PARAMS, the compact
 * JSON text of an object (json_dumps with JSON_COMPACT), as
 * jsonrpc_encode would frame jsonrpc_request's message: for sending
 * one set of parameters to many peers without encoding it for each.
 * PARAMS is trusted to be such a text; the message is byte for byte
 * the one jsonrpc_encode makes.  NULL with EMSGSIZE or ENOMEM, as
 * jsonrpc_encode, or EINVAL if METHOD is not valid UTF-8 or longer
 * than 100 bytes. */
extern char *jsonrpc_request_encoded (json_int_t id, const char *method,
                                      const char *params, size_t *len)
  __attribute__((nonnull (2, 3)));

/* Parse one framed message.  On failure returns NULL and puts a
 * JSON-RPC error code in *CODE and a message in ERR (ERRLEN bytes). */
extern json_t *jsonrpc_decode (const char *text, size_t len, int *code,
                               char *err, size_t errlen);

/* Kinds of message, after checking "jsonrpc": "2.0" and member types. */
enum jsonrpc_kind {
  JSONRPC_INVALID = 0,
  JSONRPC_REQUEST,        /* method + id */
  JSONRPC_NOTIFICATION,   /* method, no id */
  JSONRPC_RESPONSE,       /* result or error, with id */
};
/* Classify MSG; on JSONRPC_INVALID, ERR says why. */
extern enum jsonrpc_kind jsonrpc_classify (json_t *msg, char *err,
                                           size_t errlen);

/* Builders.  Each returns a new reference, or NULL on ENOMEM.  They
 * steal the references to PARAMS / RESULT / DATA (which may be NULL). */
extern json_t *jsonrpc_request (json_int_t id, const char *method,
                                json_t *params);
extern json_t *jsonrpc_result (json_t *id, json_t *result);
extern json_t *jsonrpc_error (json_t *id, int code, json_t *data,
                              const char *fmt, ...)
  __attribute__((format (printf, 4, 5)));

/* Blocking helpers for file descriptors (Unix sockets, pipes). */
/* Write all of MSG framed.  -1 with errno on failure. */
extern int jsonrpc_send_fd (int fd, json_t *msg);
/* Read the next message from FD into a new reference.  TIMEOUT_MS < 0
 * waits forever.  NULL with errno: ETIMEDOUT, ECONNRESET at EOF,
 * EMSGSIZE, EBADMSG if the text is not JSON (ERR says why). */
extern json_t *jsonrpc_recv_fd (int fd, struct jsonrpc_framer *f,
                                int timeout_ms, char *err, size_t errlen);

#endif /* SNAPVOL_JSONRPC_H */
