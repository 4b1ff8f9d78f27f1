/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * fanout.h: one call to each provider of a snapshot set, in parallel,
 * and one callback when every call has ended: how set.delete, set.hold
 * and set.release reach the providers of a set.
 *
 * Below the set layer and above the transport: it owns the calls'
 * outcomes (copied out of conn.c's callbacks) until the callback
 * returns, and knows no method.
 */

#ifndef SNAPVOL_FANOUT_H
#define SNAPVOL_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "conn.h"
#include "coord.h"
#include "proto.h"

/* How one call ended, kept until the fan-out's callback returns. */
struct fanout_call {
  char provider[PROTO_NAME_MAX + 1];
  enum call_end end;
  int code;                     /* CALL_ERROR: the provider's code */
  char *message;                /* every end but CALL_OK; owned */
  json_t *result;               /* CALL_OK: the result; owned */
  json_t *data;                 /* CALL_ERROR: its data or NULL; owned */
  bool invalid;                 /* CALL_OK, but the result is not an
                                 * object with the integer member asked
                                 * for: counts as failed, and MESSAGE
                                 * says why */
  struct fanout *owner;         /* private */
};

struct fanout {
  struct coord *co;
  const char *method;           /* static storage */
  bool stopping;                /* the coordinator is stopping: the
                                 * callback only frees what it owns */
  size_t n;
  struct fanout_call *calls;    /* in the order of the providers given */
  /* Private. */
  size_t outstanding;
  const char *member;
  void (*done) (void *arg, const struct fanout *f);
  void *arg;
};

typedef void fanout_done_fn (void *arg, const struct fanout *f);

/* Call METHOD (static storage) with a copy of PARAMS (borrowed) on each
 * provider named in PROVIDERS (an array of names, borrowed) of the
 * snapshot set SET_ID, in
 * parallel, each with a deadline of TIMEOUT_MS.  A result that is not
 * an object, or lacks the integer member MEMBER (static storage; NULL:
 * any object will do), counts as failed.  DONE gets every outcome once
 * all calls have ended, from the event loop, never from within
 * fanout_start; the fan-out is freed when it returns.
 *
 * With ALL_CONNECTED, every provider must be connected: otherwise -1
 * with E set to -32009 naming the first one that is not ("provider P
 * of snapshot set S is not connected"), and nothing
 * is called.  Without it a provider not connected gets CALL_CLOSED.
 * -1 with E set on ENOMEM too; DONE is then never called. */
extern int fanout_start (struct coord *co, const char *set_id,
                         json_t *providers, const char *method,
                         json_t *params, const char *member,
                         bool all_connected, unsigned timeout_ms,
                         fanout_done_fn *done, void *arg, struct rpcerr *e)
  __attribute__((nonnull (1, 2, 3, 4, 5, 9, 11)));

/* Whether call I of F succeeded: CALL_OK with a valid result, or the
 * error CODE_DONE (0: none) which the caller counts as done (set.delete
 * and set.release count -32001 so). */
extern bool fanout_ok (const struct fanout *f, size_t i, int code_done)
  __attribute__((nonnull));

/* The index of the first call of F, in the providers' order, that did
 * not succeed (fanout_ok), or F->n if all did. */
extern size_t fanout_first_failure (const struct fanout *f, int code_done)
  __attribute__((nonnull));

/* The sum of the integer member MEMBER of the valid results of F. */
extern json_int_t fanout_sum (const struct fanout *f, const char *member)
  __attribute__((nonnull));

/* The requester's error for call I of F, which did not succeed:
 * call_outcome_error's (the provider's code, data and message after
 * "provider NAME: "), or -32603 for an invalid result.  Returns -1. */
extern int fanout_error (const struct fanout *f, size_t i, struct rpcerr *e)
  __attribute__((nonnull));

#endif /* SNAPVOL_FANOUT_H */
