/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpc-client.h: one JSON-RPC call over a snapvol control socket.
 */

#ifndef SNAPVOL_RPC_CLIENT_H
#define SNAPVOL_RPC_CLIENT_H

#include <jansson.h>

/* Why a call failed.  WHERE says at which step; CODE is the server's
 * JSON-RPC error code (0 unless WHERE is RPC_FAILED_SERVER); MESSAGE
 * is one line saying what went wrong (control characters from the
 * server are replaced by '?'). */
enum rpc_stage {
  RPC_FAILED_CONNECT,           /* nothing was sent */
  RPC_FAILED_EXCHANGE,          /* sending, or no valid answer */
  RPC_FAILED_SERVER,            /* the server answered with an error */
};
struct rpc_error {
  enum rpc_stage where;
  int code;
  char errname[32];             /* the server's errno name, or "" */
  char message[1024];
};

/* Connect to the Unix socket PATH, send METHOD with PARAMS (stolen;
 * may be NULL) and wait up to TIMEOUT_MS for the answer.  Returns 0
 * with the result in *RESULT (a new reference), or -1 with E filled
 * in.  Prints nothing.  Blocks. */
extern int rpc_call (const char *path, int timeout_ms, const char *method,
                     json_t *params, json_t **result, struct rpc_error *e)
  __attribute__((nonnull (1, 3, 5, 6)));

#endif /* SNAPVOL_RPC_CLIENT_H */
