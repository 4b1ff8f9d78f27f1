/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * params.h: checking the parameters of requests and the results of
 * calls, both untrusted JSON from peers.
 */

#ifndef SNAPVOL_PARAMS_H
#define SNAPVOL_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "coord.h"

#define NAME_MAX_LEN 64         /* provider, volume and writer names */
#define LABEL_MAX_LEN 256
#define SET_VOLUMES_MAX 1024
/* "PROVIDER/VOLUME" */
#define PV_MAX_LEN (NAME_MAX_LEN + 1 + NAME_MAX_LEN)

enum param_type {
  P_STRING,             /* MIN..MAX bytes, no NUL */
  P_NAME,               /* a provider or volume name (docs/protocol.md) */
  P_WRITER_NAME,        /* 1-64 bytes of A-Za-z0-9._- */
  P_INT,                /* an integer in MIN..MAX */
  P_UUID,               /* a UUID in text form */
  P_ANY,                /* checked by the method itself */
};

struct param {
  const char *name;
  enum param_type type;
  bool required;
  json_int_t min, max;
};
#define END_PARAMS { NULL, 0, false, 0, 0 }

/* Check PARAMS (NULL when the request had none) against TABLE: an
 * object whose members are all in TABLE, with the required ones
 * present and each of its type.  -1 with E set to -32602 and a message
 * naming the member. */
extern int params_check (json_t *params, const struct param *table,
                         struct rpc_error *e)
  __attribute__((nonnull (2, 3)));

/* Whether S is a provider or volume name: 1 to 64 bytes of
 * A-Z a-z 0-9 . _ -, not starting with '.'. */
extern bool params_is_name (const char *s) __attribute__((nonnull));
/* Whether S is a writer name: 1 to 64 bytes of A-Z a-z 0-9 . _ -. */
extern bool params_is_writer_name (const char *s) __attribute__((nonnull));

/* Split "PROVIDER/VOLUME" into its two names (buffers of
 * NAME_MAX_LEN + 1).  -1 if S is not of that form. */
extern int params_split_pv (const char *s, char *provider, char *volume)
  __attribute__((nonnull));

/* Check that V is an array of 0..MAX distinct "PROVIDER/VOLUME"
 * strings; MEMBER names it in the error. */
extern int params_check_pv_array (const char *member, json_t *v, size_t min,
                                  size_t max, struct rpc_error *e)
  __attribute__((nonnull (1, 5)));

/* A volume list as providers send it (Part 1's volume objects) into a
 * new array of {"name", "uuid", "size"} sorted by name, in *OUT.  -1
 * with E set if it is not an array of objects each with a valid
 * "name", a UUID "uuid" and an integer "size" >= 0, without duplicates.
 * Other members of the objects are ignored. */
extern int params_volumes (json_t *v, json_t **out, struct rpc_error *e)
  __attribute__((nonnull (2, 3)));

#endif /* SNAPVOL_PARAMS_H */
