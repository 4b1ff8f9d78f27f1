/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * params.h: checking the parameters of requests and the results of
 * calls, both untrusted JSON from peers.
 *
 * A leaf: pure functions, no state, no I/O.  Callers check a peer's
 * JSON here before they use it; the values passed in stay the
 * caller's, and what comes back through OUT is a new reference.
 */

#ifndef SNAPVOL_PARAMS_H
#define SNAPVOL_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "coord.h"
#include "proto.h"

/* "PROVIDER/VOLUME" */
#define PV_MAX_LEN (PROTO_NAME_MAX + 1 + PROTO_NAME_MAX)

/* Check PARAMS (NULL when the request had none) against TABLE, with
 * the protocol's rules (common/proto.h): -1 with E set to -32602 and a
 * message naming the member. */
extern int params_check (json_t *params, const struct proto_param *table,
                         struct rpcerr *e)
  __attribute__((nonnull (2, 3)));

/* Split "PROVIDER/VOLUME" into its two names (buffers of
 * PROTO_NAME_MAX + 1).  -1 if S is not of that form. */
extern int params_split_pv (const char *s, char *provider, char *volume)
  __attribute__((nonnull));

/* Check that V is an array of 0..MAX distinct "PROVIDER/VOLUME"
 * strings; MEMBER names it in the error. */
extern int params_check_pv_array (const char *member, json_t *v, size_t min,
                                  size_t max, struct rpcerr *e)
  __attribute__((nonnull (1, 5)));

/* A volume list as providers send it (Part 1's volume objects) into a
 * new array of {"name", "uuid", "size"} sorted by name, in *OUT.  -1
 * with E set if it is not an array of objects each with a valid
 * "name", a UUID "uuid" and an integer "size" >= 0, without duplicates.
 * Other members of the objects are ignored. */
extern int params_volumes (json_t *v, json_t **out, struct rpcerr *e)
  __attribute__((nonnull (2, 3)));

#endif /* SNAPVOL_PARAMS_H */
