/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * fanout.c: one call to each provider of a snapshot set, and one
 * callback when all have ended (fanout.h).
 *
 * conn.c ends every call exactly once, within its deadline, from the
 * event loop; the fan-out counts them down and runs the callback on
 * the last.  What an outcome points to lives only during conn.c's
 * callback, so each is copied into its struct fanout_call.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanout.h"
#include "jsonrpc.h"
#include "log.h"
#include "outcome.h"
#include "registry.h"

static void
fanout_free (struct fanout *f)
{
  size_t i;

  for (i = 0; i < f->n; i++) {
    free (f->calls[i].message);
    json_decref (f->calls[i].result);
    json_decref (f->calls[i].data);
  }
  free (f->calls);
  free (f);
}

/* Why RESULT is not what the fan-out asked for, or NULL. */
static char *
check_result (const struct fanout *f, json_t *result)
{
  json_t *v = f->member ? json_object_get (result, f->member) : NULL;
  char *text, *why = NULL;

  if (json_is_object (result) &&
      (f->member == NULL || (json_is_integer (v) &&
                             json_integer_value (v) >= 0)))
    return NULL;
  text = json_dumps (result, JSON_COMPACT | JSON_ENCODE_ANY);
  if (asprintf (&why, "%s answered with an invalid result: %.200s "
                "(expected an object%s%s%s)", f->method,
                text ? text : "?", f->member ? " with an integer \"" : "",
                f->member ? f->member : "", f->member ? "\" >= 0" : "") == -1)
    why = NULL;
  free (text);
  return why;
}

static void
fanout_call_done (void *arg, const struct call_outcome *o)
{
  struct fanout_call *fc = arg;
  struct fanout *f = fc->owner;

  fc->end = o->end;
  if (o->end == CALL_SHUTDOWN || f->co->stopping)
    f->stopping = true;
  else if (o->end == CALL_OK) {
    fc->result = json_incref (o->result);
    fc->message = check_result (f, o->result);
    fc->invalid = fc->message != NULL;
    if (fc->invalid)
      log_warnx ("provider %s: %s", fc->provider, fc->message);
  }
  else {
    fc->code = o->code;
    fc->data = o->data ? json_incref (o->data) : NULL;
    fc->message = strdup (o->message ? o->message : "failed");
    if (fc->message == NULL)
      fatal ("%s", f->method);
  }
  if (--f->outstanding == 0) {
    f->done (f->arg, f);
    fanout_free (f);
  }
}

int
fanout_start (struct coord *co, const char *set_id, json_t *providers,
              const char *method, json_t *params, const char *member,
              bool all_connected, unsigned timeout_ms, fanout_done_fn *done,
              void *arg, struct rpcerr *e)
{
  struct fanout *f;
  json_t *v;
  size_t i;

  if (all_connected)
    json_array_foreach (providers, i, v) {
      struct provider *p = registry_provider (co->reg, json_string_value (v));

      if (p == NULL || p->conn == NULL)
        return rpcerr_set (e, SV_RPC_NOT_REGISTERED, "provider %s of "
                           "snapshot set %s is not connected",
                           json_string_value (v), set_id);
    }
  f = calloc (1, sizeof *f);
  if (f == NULL ||
      (f->calls = calloc (json_array_size (providers) + 1,
                          sizeof *f->calls)) == NULL) {
    free (f);
    return rpcerr_nomem (e);
  }
  f->co = co;
  f->method = method;
  f->member = member;
  f->done = done;
  f->arg = arg;
  f->n = json_array_size (providers);
  /* One more than the calls, so that none can end F before all are
   * made (conn.c never ends a call from within conn_call, but the
   * count should not depend on it). */
  f->outstanding = f->n + 1;
  json_array_foreach (providers, i, v) {
    struct fanout_call *fc = &f->calls[i];
    struct provider *p = registry_provider (co->reg, json_string_value (v));

    fc->owner = f;
    snprintf (fc->provider, sizeof fc->provider, "%s", json_string_value (v));
    conn_call (co, p ? p->conn : NULL, method, json_deep_copy (params),
               timeout_ms, fanout_call_done, fc);
  }
  if (--f->outstanding == 0) {
    done (arg, f);
    fanout_free (f);
  }
  return 0;
}

bool
fanout_ok (const struct fanout *f, size_t i, int code_done)
{
  const struct fanout_call *fc = &f->calls[i];

  return (fc->end == CALL_OK && !fc->invalid) ||
    (fc->end == CALL_ERROR && code_done != 0 && fc->code == code_done);
}

size_t
fanout_first_failure (const struct fanout *f, int code_done)
{
  size_t i;

  for (i = 0; i < f->n; i++)
    if (!fanout_ok (f, i, code_done))
      break;
  return i;
}

json_int_t
fanout_sum (const struct fanout *f, const char *member)
{
  json_int_t sum = 0;
  size_t i;

  for (i = 0; i < f->n; i++) {
    json_t *v = json_object_get (f->calls[i].result, member);

    if (f->calls[i].end == CALL_OK && !f->calls[i].invalid &&
        json_is_integer (v) && json_integer_value (v) > 0)
      sum += json_integer_value (v);
  }
  return sum;
}

int
fanout_error (const struct fanout *f, size_t i, struct rpcerr *e)
{
  const struct fanout_call *fc = &f->calls[i];
  struct call_outcome o = {
    .end = fc->end, .code = fc->code, .data = fc->data,
    .message = fc->message,
  };

  if (fc->invalid) {
    json_decref (e->data);
    e->data = NULL;
    return rpcerr_set (e, JSONRPC_INTERNAL_ERROR, "provider %s: %s",
                       fc->provider, fc->message);
  }
  return call_outcome_error (&o, fc->provider, e);
}
