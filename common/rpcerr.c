/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpcerr.c: why a JSON-RPC request failed, and error responses.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#include "jsonrpc.h"
#include "rpcerr.h"

int
rpcerr_vset (struct rpcerr *e, int code, const char *fmt, va_list ap)
{
  int saved = errno;

  e->code = code;
  vsnprintf (e->message, sizeof e->message, fmt, ap);
  errno = saved;
  return -1;
}

int
rpcerr_set (struct rpcerr *e, int code, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  rpcerr_vset (e, code, fmt, ap);
  va_end (ap);
  return -1;
}

int
rpcerr_errno (struct rpcerr *e, int err, const char *fmt, ...)
{
  va_list ap;

  json_decref (e->data);
  e->data = jsonrpc_errno_data (err);
  va_start (ap, fmt);
  rpcerr_vset (e, jsonrpc_code_from_errno (err), fmt, ap);
  va_end (ap);
  return -1;
}

int
rpcerr_nomem (struct rpcerr *e)
{
  return rpcerr_set (e, JSONRPC_INTERNAL_ERROR, "out of memory");
}

int
rpcerr_unknown_method (struct rpcerr *e, const char *method)
{
  return rpcerr_set (e, JSONRPC_METHOD_NOT_FOUND, "unknown method '%s'",
                     method);
}

json_t *
rpcerr_response (json_t *id, struct rpcerr *e)
{
  json_t *data = e->data;

  e->data = NULL;
  return jsonrpc_error (id, e->code, data, "%s", e->message);
}

json_t *
rpcerr_too_long (json_t *id)
{
  return jsonrpc_error (id, JSONRPC_INTERNAL_ERROR,
                        jsonrpc_errno_data (EMSGSIZE),
                        "the result is longer than the %d-byte message limit",
                        JSONRPC_MAX_MESSAGE);
}

void
rpcerr_clear (struct rpcerr *e)
{
  json_decref (e->data);
  e->data = NULL;
}
