/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * params.c: checking untrusted JSON from peers (see params.h).
 *
 * Everything a method or a state machine reads from a peer passes
 * here first: afterwards members have the right type and range, so the
 * code that holds authority reads them without further checks.
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "params.h"
#include "uuid.h"

int
params_split_pv (const char *s, char *provider, char *volume)
{
  const char *slash = strchr (s, '/');
  size_t n;

  if (slash == NULL)
    return -1;
  n = (size_t) (slash - s);
  if (n > PROTO_NAME_MAX || strlen (slash + 1) > PROTO_NAME_MAX)
    return -1;
  memcpy (provider, s, n);
  provider[n] = '\0';
  strcpy (volume, slash + 1);
  if (!proto_is_name (provider) || !proto_is_name (volume))
    return -1;
  return 0;
}

static int
check_string (const char *member, json_t *v, json_int_t min, json_int_t max,
              struct rpcerr *e)
{
  char why[sizeof e->message];

  if (proto_check_string (member, v, min, max, why, sizeof why) == -1)
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "%s", why);
  return 0;
}

int
params_check_pv_array (const char *member, json_t *v, size_t min,
                       size_t max, struct rpcerr *e)
{
  char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];
  size_t n = json_array_size (v), i;
  json_t *seen;

  if (!json_is_array (v))
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS,
                       "'%s' must be an array of \"PROVIDER/VOLUME\" strings",
                       member);
  if (n < min || n > max)
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS,
                       "'%s' must hold %zu to %zu volumes, not %zu", member,
                       min, max, n);
  for (i = 0; i < n; i++) {
    json_t *s = json_array_get (v, i);

    if (check_string (member, s, 1, PV_MAX_LEN, e) == -1)
      return -1;
    if (params_split_pv (json_string_value (s), provider, volume) == -1)
      return rpcerr_set (e, JSONRPC_INVALID_PARAMS,
                         "'%s': '%s' is not of the form PROVIDER/VOLUME",
                         member, json_string_value (s));
  }
  /* Names seen, as the keys of an object: comparing each with those
   * before it was half a million comparisons for a set of 1,024
   * volumes.  The names were checked above: no NUL inside. */
  seen = json_object ();
  if (seen == NULL)
    return rpcerr_set (e, JSONRPC_INTERNAL_ERROR, "out of memory");
  for (i = 0; i < n; i++) {
    const char *name = json_string_value (json_array_get (v, i));

    if (json_object_get (seen, name) != NULL) {
      rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'%s' names '%s' twice",
                  member, name);
      json_decref (seen);
      return -1;
    }
    if (json_object_set_new (seen, name, json_true ()) == -1) {
      json_decref (seen);
      return rpcerr_set (e, JSONRPC_INTERNAL_ERROR, "out of memory");
    }
  }
  json_decref (seen);
  return 0;
}

int
params_check (json_t *params, const struct proto_param *table,
              struct rpcerr *e)
{
  char why[sizeof e->message];

  if (proto_check_params (params, table, why, sizeof why) == -1)
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "%s", why);
  return 0;
}

static int
compare_volumes (const void *a, const void *b)
{
  json_t *const *x = a, *const *y = b;

  return strcmp (json_string_value (json_object_get (*x, "name")),
                 json_string_value (json_object_get (*y, "name")));
}

int
params_volumes (json_t *v, json_t **out, struct rpcerr *e)
{
  size_t n = json_array_size (v), i;
  json_t **sorted = NULL, *array = NULL;

  *out = NULL;
  if (!json_is_array (v))
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS,
                       "'volumes' must be an array of volume objects");
  if (n > 0 && (sorted = calloc (n, sizeof *sorted)) == NULL)
    return rpcerr_nomem (e);
  for (i = 0; i < n; i++) {
    json_t *vol = json_array_get (v, i), *name, *uuid, *size;
    struct uuid u;

    name = json_object_get (vol, "name");
    uuid = json_object_get (vol, "uuid");
    size = json_object_get (vol, "size");
    if (!json_is_object (vol) || !json_is_string (name) ||
        !proto_is_name (json_string_value (name)) ||
        strlen (json_string_value (name)) != json_string_length (name)) {
      rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'volumes[%zu]' must be a volume "
                  "object with a valid \"name\"", i);
      goto err;
    }
    if (!json_is_string (uuid) ||
        uuid_parse (json_string_value (uuid), &u) == -1) {
      rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'volumes[%zu]' (%s): \"uuid\" "
                  "must be a UUID", i, json_string_value (name));
      goto err;
    }
    if (!json_is_integer (size) || json_integer_value (size) < 0) {
      rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'volumes[%zu]' (%s): \"size\" "
                  "must be an integer >= 0", i, json_string_value (name));
      goto err;
    }
    sorted[i] = vol;
  }
  if (n > 0)
    qsort (sorted, n, sizeof *sorted, compare_volumes);
  array = json_array ();
  if (array == NULL)
    goto nomem;
  for (i = 0; i < n; i++) {
    char text[UUID_STRLEN + 1];
    struct uuid u;
    json_t *vol;

    if (i > 0 && compare_volumes (&sorted[i - 1], &sorted[i]) == 0) {
      rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'volumes' names volume '%s' "
                  "twice", json_string_value (json_object_get (sorted[i],
                                                                "name")));
      goto err;
    }
    uuid_parse (json_string_value (json_object_get (sorted[i], "uuid")), &u);
    uuid_format (&u, text);
    vol = json_pack ("{s:O, s:s, s:O}",
                     "name", json_object_get (sorted[i], "name"),
                     "uuid", text,
                     "size", json_object_get (sorted[i], "size"));
    if (vol == NULL || json_array_append_new (array, vol) == -1)
      goto nomem;
  }
  free (sorted);
  *out = array;
  return 0;

 nomem:
  rpcerr_nomem (e);
 err:
  free (sorted);
  json_decref (array);
  return -1;
}
