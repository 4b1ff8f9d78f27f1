/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * methods.h: the methods peers call on the coordinator
 * (docs/protocol.md, Part 2).
 *
 * The top layer of requests: it owns the table of methods (name, roles
 * allowed, parameter schema, handler) and nothing else.  Each handler
 * checks what it is given and calls down into the set layer, the
 * registry or the catalog; nothing calls up into methods.c but the
 * transport, through the conn_ops.request callback main.c fills with
 * methods_dispatch.
 */

#ifndef SNAPVOL_METHODS_H
#define SNAPVOL_METHODS_H

#include <stdbool.h>

#include <jansson.h>

#include "conn.h"
#include "coord.h"

/* Run METHOD with PARAMS (NULL if the request had none) for the peer
 * on C.  The method must exist (-32601), C's roles must allow it
 * (-32007) and the parameters must fit its table (-32602), in that
 * order, before anything runs.  Returns the result (a new reference),
 * or NULL with E set, or NULL with *DEFERRED set when the answer will
 * go to TOK later (set.create, set.delete, set.hold, set.release,
 * snapshot.diff).  Does not block except for
 * catalog writes. */
extern json_t *methods_dispatch (struct coord *co, struct conn *c,
                                 const char *method, json_t *params,
                                 struct reply_token tok, struct rpcerr *e,
                                 bool *deferred)
  __attribute__((nonnull (1, 2, 3, 6, 7)));

#endif /* SNAPVOL_METHODS_H */
