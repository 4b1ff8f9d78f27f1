/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * proto.c: the rules of the protocol's parameters (see proto.h).
 *
 * The coordinator checks set.create's label with the rule a provider
 * applies to hold.commit's, so a label that a provider would refuse is
 * refused before any writer is frozen or any volume held.
 */

#include <config.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "uuid.h"

static int
invalid (char *why, size_t len, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

const struct proto_param proto_snapshot_diff_params[] = {
  { "volume", PROTO_NAME, true, 0, 0 },
  { "from", PROTO_UUID, true, 0, 0 },
  { "to", PROTO_UUID, false, 0, 0 },
  { "cursor", PROTO_INT, false, 0, INT64_MAX },
  { "max_ranges", PROTO_INT, false, 1, PROTO_DIFF_RANGES_MAX },
  PROTO_END_PARAMS
};

/* Write the message to WHY; returns -1. */
static int
invalid (char *why, size_t len, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (why, len, fmt, ap);
  va_end (ap);
  return -1;
}

static bool
is_name_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int
proto_check_name (const char *what, const char *s, bool dot_ok, char *why,
                   size_t len)
{
  size_t i, n = strlen (s);

  if (n == 0)
    return invalid (why, len, "invalid %s: it is empty", what);
  if (n > PROTO_NAME_MAX)
    return invalid (why, len, "invalid %s '%.64s...': longer than %d bytes",
                    what, s, PROTO_NAME_MAX);
  if (!dot_ok && s[0] == '.')
    return invalid (why, len, "invalid %s '%s': it starts with '.'", what, s);
  for (i = 0; i < n; i++)
    if (!is_name_char (s[i]))
      return invalid (why, len, "invalid %s '%s': character '%c' is not one"
                      " of A-Z a-z 0-9 . _ -", what, s,
                      s[i] >= 32 && s[i] < 127 ? s[i] : '?');
  return 0;
}

bool
proto_is_writer_name (const char *s)
{
  char why[1];

  return proto_check_name ("name", s, true, why, sizeof why) == 0;
}

bool
proto_is_name (const char *s)
{
  char why[1];

  return proto_check_name ("name", s, false, why, sizeof why) == 0;
}

int
proto_check_label (const char *member, const char *s, size_t len, char *why,
                   size_t whylen)
{
  size_t i;

  if (len > PROTO_LABEL_MAX)
    return invalid (why, whylen, "'%s' is longer than %d bytes", member,
                    PROTO_LABEL_MAX);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char) s[i];

    if (c < 0x20 || c == 0x7f)
      return invalid (why, whylen, "'%s' contains a control character "
                      "(0x%02x) at byte %zu: a label is printable text",
                      member, c, i);
  }
  return 0;
}

int
proto_check_tag (const char *member, const char *s, char *why, size_t len)
{
  size_t i, n = strlen (s);

  if (n == 0)
    return invalid (why, len, "invalid %s: it is empty", member);
  if (n > PROTO_TAG_MAX)
    return invalid (why, len, "invalid %s '%.64s...': longer than %d bytes",
                    member, s, PROTO_TAG_MAX);
  for (i = 0; i < n; i++)
    if (!is_name_char (s[i]) && s[i] != ':' && s[i] != '@')
      return invalid (why, len, "invalid %s '%s': character '%c' is not one"
                      " of A-Z a-z 0-9 . _ : @ -", member, s,
                      s[i] >= 32 && s[i] < 127 ? s[i] : '?');
  return 0;
}

int
proto_check_string (const char *member, json_t *v, json_int_t min,
                    json_int_t max, char *why, size_t len)
{
  size_t n;

  if (!json_is_string (v))
    return invalid (why, len, "'%s' must be a string", member);
  n = json_string_length (v);
  if (memchr (json_string_value (v), '\0', n) != NULL)
    return invalid (why, len, "'%s' must not contain a NUL character",
                    member);
  if ((json_int_t) n < min)
    return invalid (why, len, "'%s' must not be empty", member);
  if ((json_int_t) n > max)
    return invalid (why, len, "'%s' is longer than %lld bytes", member,
                    (long long) max);
  return 0;
}

static int
check_names (const struct proto_param *p, json_t *v, char *why, size_t len)
{
  size_t n = json_array_size (v), i, j;

  if (!json_is_array (v))
    return invalid (why, len, "'%s' must be an array of volume names",
                    p->name);
  if ((json_int_t) n < p->min || (json_int_t) n > p->max)
    return invalid (why, len, "'%s' must hold %lld to %lld volume names, "
                    "not %zu", p->name, (long long) p->min,
                    (long long) p->max, n);
  for (i = 0; i < n; i++) {
    char member[64];

    snprintf (member, sizeof member, "%s[%zu]", p->name, i);
    if (proto_check_string (member, json_array_get (v, i), 1,
                            PROTO_NAME_MAX, why, len) == -1)
      return -1;
  }
  /* Quadratic, but over at most PROTO_SET_VOLUMES_MAX short names. */
  for (i = 1; i < n; i++)
    for (j = 0; j < i; j++)
      if (json_equal (json_array_get (v, i), json_array_get (v, j)))
        return invalid (why, len, "'%s' names volume '%s' twice", p->name,
                        json_string_value (json_array_get (v, i)));
  return 0;
}

static int
check_param (const struct proto_param *p, json_t *v, char *why, size_t len)
{
  struct uuid u;
  json_int_t i;

  switch (p->type) {
  case PROTO_STRING:
    return proto_check_string (p->name, v, p->min, p->max, why, len);
  case PROTO_LABEL:
    if (proto_check_string (p->name, v, 0, PROTO_LABEL_MAX, why, len)
        == -1)
      return -1;
    return proto_check_label (p->name, json_string_value (v),
                              json_string_length (v), why, len);
  case PROTO_NAME:
  case PROTO_WRITER_NAME:
    if (proto_check_string (p->name, v, 1, PROTO_NAME_MAX, why, len) == -1)
      return -1;
    if (p->type == PROTO_NAME ? !proto_is_name (json_string_value (v))
        : !proto_is_writer_name (json_string_value (v)))
      return invalid (why, len, "'%s': invalid name '%s' (1 to %d bytes of "
                      "A-Z a-z 0-9 . _ -%s)", p->name,
                      json_string_value (v), PROTO_NAME_MAX,
                      p->type == PROTO_NAME ? ", not starting with '.'" : "");
    return 0;
  case PROTO_INT:
    if (!json_is_integer (v))
      return invalid (why, len, "'%s' must be an integer", p->name);
    i = json_integer_value (v);
    if (i < p->min || i > p->max)
      return invalid (why, len, "'%s' must be in %lld..%lld, not %lld",
                      p->name, (long long) p->min, (long long) p->max,
                      (long long) i);
    return 0;
  case PROTO_UUID:
    if (!json_is_string (v))
      return invalid (why, len, "'%s' must be a string", p->name);
    if (uuid_parse (json_string_value (v), &u) == -1)
      return invalid (why, len, "'%s' is not a UUID: '%.64s'", p->name,
                      json_string_value (v));
    return 0;
  case PROTO_TAG:
    if (proto_check_string (p->name, v, 1, PROTO_TAG_MAX, why, len) == -1)
      return -1;
    return proto_check_tag (p->name, json_string_value (v), why, len);
  case PROTO_NAMES:
    return check_names (p, v, why, len);
  case PROTO_ANY:
    return 0;
  }
  return invalid (why, len, "'%s': unknown parameter type", p->name);
}

int
proto_check_params (json_t *params, const struct proto_param *table,
                    char *why, size_t len)
{
  const struct proto_param *p;
  const char *key;
  json_t *v;

  if (params != NULL && !json_is_object (params))
    return invalid (why, len, "params must be an object");
  if (params != NULL) {
    json_object_foreach (params, key, v) {
      for (p = table; p->name != NULL; p++)
        if (strcmp (p->name, key) == 0)
          break;
      if (p->name == NULL)
        return invalid (why, len, "unknown member '%s'", key);
    }
  }
  for (p = table; p->name != NULL; p++) {
    v = params ? json_object_get (params, p->name) : NULL;
    if (v == NULL) {
      if (p->required)
        return invalid (why, len, "missing member '%s'", p->name);
      continue;
    }
    if (check_param (p, v, why, len) == -1)
      return -1;
  }
  return 0;
}

char *
proto_export_uri (const char *nbd_uri, const char *export)
{
  const char *query = strchr (nbd_uri, '?');
  size_t base = query ? (size_t) (query - nbd_uri) : strlen (nbd_uri);
  char *uri;

  /* "nbd://h:p/" and "nbd+unix:///" lose their last '/', not the
   * "//" of the scheme. */
  while (base > 0 && nbd_uri[base - 1] == '/' &&
         !(base >= 3 && memcmp (nbd_uri + base - 3, "://", 3) == 0))
    base--;
  if (asprintf (&uri, "%.*s/%s%s", (int) base, nbd_uri, export,
                query ? query : "") == -1)
    return NULL;
  return uri;
}
