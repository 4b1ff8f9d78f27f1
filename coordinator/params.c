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

static bool
is_name_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool
params_is_writer_name (const char *s)
{
  size_t i, n = strlen (s);

  if (n == 0 || n > NAME_MAX_LEN)
    return false;
  for (i = 0; i < n; i++)
    if (!is_name_char (s[i]))
      return false;
  return true;
}

bool
params_is_name (const char *s)
{
  return s[0] != '.' && params_is_writer_name (s);
}

int
params_split_pv (const char *s, char *provider, char *volume)
{
  const char *slash = strchr (s, '/');
  size_t n;

  if (slash == NULL)
    return -1;
  n = (size_t) (slash - s);
  if (n > NAME_MAX_LEN || strlen (slash + 1) > NAME_MAX_LEN)
    return -1;
  memcpy (provider, s, n);
  provider[n] = '\0';
  strcpy (volume, slash + 1);
  if (!params_is_name (provider) || !params_is_name (volume))
    return -1;
  return 0;
}

/* A string member: no NUL inside (C strings must agree with JSON). */
static int
check_string (const char *member, json_t *v, json_int_t min, json_int_t max,
              struct rpc_error *e)
{
  size_t len;

  if (!json_is_string (v))
    return rpc_fail (e, JSONRPC_INVALID_PARAMS, "'%s' must be a string",
                     member);
  len = json_string_length (v);
  if (memchr (json_string_value (v), '\0', len) != NULL)
    return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                     "'%s' must not contain a NUL character", member);
  if ((json_int_t) len < min)
    return rpc_fail (e, JSONRPC_INVALID_PARAMS, "'%s' must not be empty",
                     member);
  if ((json_int_t) len > max)
    return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                     "'%s' is longer than %lld bytes", member,
                     (long long) max);
  return 0;
}

int
params_check_pv_array (const char *member, json_t *v, size_t min,
                       size_t max, struct rpc_error *e)
{
  char provider[NAME_MAX_LEN + 1], volume[NAME_MAX_LEN + 1];
  size_t n = json_array_size (v), i, j;

  if (!json_is_array (v))
    return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                     "'%s' must be an array of \"PROVIDER/VOLUME\" strings",
                     member);
  if (n < min || n > max)
    return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                     "'%s' must hold %zu to %zu volumes, not %zu", member,
                     min, max, n);
  for (i = 0; i < n; i++) {
    json_t *s = json_array_get (v, i);

    if (check_string (member, s, 1, PV_MAX_LEN, e) == -1)
      return -1;
    if (params_split_pv (json_string_value (s), provider, volume) == -1)
      return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                       "'%s': '%s' is not of the form PROVIDER/VOLUME",
                       member, json_string_value (s));
  }
  /* Quadratic, but over at most SET_VOLUMES_MAX short strings. */
  for (i = 1; i < n; i++)
    for (j = 0; j < i; j++)
      if (json_equal (json_array_get (v, i), json_array_get (v, j)))
        return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                         "'%s' names '%s' twice", member,
                         json_string_value (json_array_get (v, i)));
  return 0;
}

static int
check_param (const struct param *p, json_t *v, struct rpc_error *e)
{
  struct uuid u;
  json_int_t i;

  switch (p->type) {
  case P_STRING:
    return check_string (p->name, v, p->min, p->max, e);
  case P_NAME:
  case P_WRITER_NAME:
    if (check_string (p->name, v, 1, NAME_MAX_LEN, e) == -1)
      return -1;
    if (p->type == P_NAME ? !params_is_name (json_string_value (v))
        : !params_is_writer_name (json_string_value (v)))
      return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                       "'%s': invalid name '%s' (1 to %d bytes of "
                       "A-Z a-z 0-9 . _ -%s)", p->name,
                       json_string_value (v), NAME_MAX_LEN,
                       p->type == P_NAME ? ", not starting with '.'" : "");
    return 0;
  case P_INT:
    if (!json_is_integer (v))
      return rpc_fail (e, JSONRPC_INVALID_PARAMS, "'%s' must be an integer",
                       p->name);
    i = json_integer_value (v);
    if (i < p->min || i > p->max)
      return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                       "'%s' must be in %lld..%lld, not %lld", p->name,
                       (long long) p->min, (long long) p->max, (long long) i);
    return 0;
  case P_UUID:
    if (!json_is_string (v))
      return rpc_fail (e, JSONRPC_INVALID_PARAMS, "'%s' must be a string",
                       p->name);
    if (uuid_parse (json_string_value (v), &u) == -1)
      return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                       "'%s' is not a UUID: '%.64s'", p->name,
                       json_string_value (v));
    return 0;
  case P_ANY:
    return 0;
  }
  return rpc_fail (e, JSONRPC_INTERNAL_ERROR, "'%s': unknown parameter type",
                   p->name);
}

int
params_check (json_t *params, const struct param *table, struct rpc_error *e)
{
  const struct param *p;
  const char *key;
  json_t *v;

  if (params != NULL && !json_is_object (params))
    return rpc_fail (e, JSONRPC_INVALID_PARAMS, "params must be an object");
  if (params != NULL) {
    json_object_foreach (params, key, v) {
      for (p = table; p->name != NULL; p++)
        if (strcmp (p->name, key) == 0)
          break;
      if (p->name == NULL)
        return rpc_fail (e, JSONRPC_INVALID_PARAMS, "unknown member '%s'",
                         key);
    }
  }
  for (p = table; p->name != NULL; p++) {
    v = params ? json_object_get (params, p->name) : NULL;
    if (v == NULL) {
      if (p->required)
        return rpc_fail (e, JSONRPC_INVALID_PARAMS, "missing member '%s'",
                         p->name);
      continue;
    }
    if (check_param (p, v, e) == -1)
      return -1;
  }
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
params_volumes (json_t *v, json_t **out, struct rpc_error *e)
{
  size_t n = json_array_size (v), i;
  json_t **sorted = NULL, *array = NULL;

  *out = NULL;
  if (!json_is_array (v))
    return rpc_fail (e, JSONRPC_INVALID_PARAMS,
                     "'volumes' must be an array of volume objects");
  if (n > 0 && (sorted = calloc (n, sizeof *sorted)) == NULL)
    return rpc_fail (e, JSONRPC_INTERNAL_ERROR, "out of memory");
  for (i = 0; i < n; i++) {
    json_t *vol = json_array_get (v, i), *name, *uuid, *size;
    struct uuid u;

    name = json_object_get (vol, "name");
    uuid = json_object_get (vol, "uuid");
    size = json_object_get (vol, "size");
    if (!json_is_object (vol) || !json_is_string (name) ||
        !params_is_name (json_string_value (name)) ||
        strlen (json_string_value (name)) != json_string_length (name)) {
      rpc_fail (e, JSONRPC_INVALID_PARAMS, "'volumes[%zu]' must be a volume "
                "object with a valid \"name\"", i);
      goto err;
    }
    if (!json_is_string (uuid) ||
        uuid_parse (json_string_value (uuid), &u) == -1) {
      rpc_fail (e, JSONRPC_INVALID_PARAMS, "'volumes[%zu]' (%s): \"uuid\" "
                "must be a UUID", i, json_string_value (name));
      goto err;
    }
    if (!json_is_integer (size) || json_integer_value (size) < 0) {
      rpc_fail (e, JSONRPC_INVALID_PARAMS, "'volumes[%zu]' (%s): \"size\" "
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
      rpc_fail (e, JSONRPC_INVALID_PARAMS, "'volumes' names volume '%s' "
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
  rpc_fail (e, JSONRPC_INTERNAL_ERROR, "out of memory");
 err:
  free (sorted);
  json_decref (array);
  return -1;
}
