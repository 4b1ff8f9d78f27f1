/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpcerr.h: why a JSON-RPC request failed, and the error responses
 * every server of the protocol sends (the plugin's control socket and
 * provider link, libsnapvol-writer, the coordinator).
 *
 * A method fills a struct rpcerr where it fails (once, naming what is
 * wrong) and returns; whoever answers turns it into the response with
 * rpcerr_response.  The codes are those of common/jsonrpc.h.
 */

#ifndef SNAPVOL_RPCERR_H
#define SNAPVOL_RPCERR_H

#include <stdarg.h>
#include <jansson.h>

#define RPCERR_MESSAGE_MAX 1024

struct rpcerr {
  int code;                     /* JSON-RPC error code; 0: none yet */
  json_t *data;                 /* owned; NULL for none */
  char message[RPCERR_MESSAGE_MAX];
};

/* Set E to CODE and the formatted message (truncated to fit), keeping
 * E->data.  Returns -1, for "return rpcerr_set (...)" in functions
 * returning int.  Keeps errno. */
extern int rpcerr_set (struct rpcerr *e, int code, const char *fmt, ...)
  __attribute__((format (printf, 3, 4), nonnull (1, 3)));
extern int rpcerr_vset (struct rpcerr *e, int code, const char *fmt,
                        va_list ap)
  __attribute__((format (printf, 3, 0), nonnull (1, 3)));

/* A failure with errno ERR: the code follows ERR
 * (jsonrpc_code_from_errno) and the data is {"errno": "NAME"}, so that
 * callers can act on it.  Returns -1.  Keeps errno. */
extern int rpcerr_errno (struct rpcerr *e, int err, const char *fmt, ...)
  __attribute__((format (printf, 3, 4), nonnull (1, 3)));

/* "out of memory", JSONRPC_INTERNAL_ERROR.  Returns -1. */
extern int rpcerr_nomem (struct rpcerr *e) __attribute__((nonnull));

/* "unknown method 'METHOD'", JSONRPC_METHOD_NOT_FOUND.  Returns -1. */
extern int rpcerr_unknown_method (struct rpcerr *e, const char *method)
  __attribute__((nonnull));

/* The error response to ID (borrowed; NULL is sent as null) for E.
 * Steals E->data.  A new reference, or NULL on ENOMEM. */
extern json_t *rpcerr_response (json_t *id, struct rpcerr *e)
  __attribute__((nonnull (2)));

/* The error response to ID when the result could not be framed
 * (jsonrpc_encode failed with EMSGSIZE): the caller still gets an
 * answer to its id.  A new reference, or NULL on ENOMEM. */
extern json_t *rpcerr_too_long (json_t *id);

/* Release E->data (E may be reused afterwards). */
extern void rpcerr_clear (struct rpcerr *e) __attribute__((nonnull));

#endif /* SNAPVOL_RPCERR_H */
