/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * outcome.c: how the set code, the deleter and the requests forwarded
 * to providers describe a call that did not succeed (outcome.h).
 */

#include <config.h>

#include <stdio.h>

#include "jsonrpc.h"
#include "outcome.h"

const char *
call_outcome_describe (const struct call_outcome *o, const char *method,
                       char *buf, size_t len)
{
  switch (o->end) {
  case CALL_ERROR:
    snprintf (buf, len, "%s failed: %s (error %d)", method,
              o->message ? o->message : "", o->code);
    break;
  default:
    snprintf (buf, len, "%s", o->message ? o->message : "failed");
    break;
  }
  return buf;
}

int
call_outcome_error (const struct call_outcome *o, const char *provider,
                    struct rpcerr *e)
{
  int code;

  switch (o->end) {
  case CALL_ERROR:
    code = o->code;
    break;
  case CALL_TIMEOUT:
    code = SV_RPC_TIMEOUT;
    break;
  default:
    code = SV_RPC_NOT_REGISTERED;
    break;
  }
  json_decref (e->data);
  e->data = o->end == CALL_ERROR && o->data ? json_incref (o->data) : NULL;
  return rpcerr_set (e, code, "provider %s: %s", provider,
                     o->message ? o->message : "failed");
}
