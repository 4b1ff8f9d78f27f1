/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * output.c: what snapvolctl prints on stdout.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "humansize.h"
#include "log.h"
#include "output.h"
#include "vector.h"

int
out_json (json_t *v)
{
  /* Flags 0: one line, with ", " and ": " between members. */
  if (json_dumpf (v, stdout, JSON_ENCODE_ANY) == -1 ||
      putchar ('\n') == EOF) {
    log_warn ("write: stdout");
    return -1;
  }
  return 0;
}

static void
sanitize_string (json_t *v)
{
  const char *s = json_string_value (v);
  size_t n = json_string_length (v), i;
  char *copy;

  for (i = 0; i < n; i++)
    if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
      break;
  if (i == n)
    return;
  copy = malloc (n);
  if (copy == NULL)
    return;
  for (i = 0; i < n; i++)
    copy[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
  json_string_setn (v, copy, n);
  free (copy);
}

void
out_sanitize (json_t *v)
{
  const char *key;
  json_t *m;
  size_t i;

  switch (json_typeof (v)) {
  case JSON_STRING:
    sanitize_string (v);
    break;
  case JSON_OBJECT:
    json_object_foreach (v, key, m)
      out_sanitize (m);
    break;
  case JSON_ARRAY:
    json_array_foreach (v, i, m)
      out_sanitize (m);
    break;
  default:
    break;
  }
}

const char *
out_str (json_t *obj, const char *key)
{
  const char *s = json_string_value (json_object_get (obj, key));

  return s && *s ? s : "-";
}

uint64_t
out_u64 (json_t *obj, const char *key)
{
  json_t *v = json_object_get (obj, key);

  if (!json_is_integer (v) || json_integer_value (v) < 0)
    return 0;
  return (uint64_t) json_integer_value (v);
}

const char *
out_size (json_t *obj, const char *key, char *buf, size_t len)
{
  return humansize_format (out_u64 (obj, key), buf, len);
}

const char *
out_time (json_t *obj, const char *key, char *buf, size_t len)
{
  json_t *v = json_object_get (obj, key);
  time_t t;
  struct tm tm;

  if (!json_is_integer (v) || json_integer_value (v) <= 0)
    return "-";
  t = (time_t) json_integer_value (v);
  if (localtime_r (&t, &tm) == NULL ||
      strftime (buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
    return "-";
  return buf;
}

struct out_table {
  const struct out_column *cols;
  size_t ncols;
  size_t nrows;
  string_vector cells;          /* nrows * ncols strings, row by row */
};

struct out_table *
out_table_new (const struct out_column *cols, size_t ncols)
{
  struct out_table *t;

  if (ncols == 0 || ncols > OUT_TABLE_MAX_COLUMNS) {
    errno = EINVAL;
    return NULL;
  }
  t = calloc (1, sizeof *t);
  if (t) {
    t->cols = cols;
    t->ncols = ncols;
  }
  return t;
}

int
out_table_add (struct out_table *t, ...)
{
  va_list ap;
  size_t i;

  /* Room for the whole row first: the row is added whole or not at all. */
  if (string_vector_reserve (&t->cells, t->ncols) == -1)
    return -1;
  va_start (ap, t);
  for (i = 0; i < t->ncols; i++) {
    const char *s = va_arg (ap, const char *);
    char *copy = strdup (s ? s : "-");

    if (copy == NULL) {
      while (i-- > 0)
        free (t->cells.ptr[--t->cells.len]);
      va_end (ap);
      return -1;
    }
    t->cells.ptr[t->cells.len++] = copy;
  }
  va_end (ap);
  t->nrows++;
  return 0;
}

static void
print_row (const struct out_table *t, const size_t *width,
           const char *const *row)
{
  size_t i;

  for (i = 0; i < t->ncols; i++) {
    int w = (int) width[i];
    const char *sep = i + 1 < t->ncols ? "  " : "\n";

    if (t->cols[i].right)
      printf ("%*s%s", w, row[i], sep);
    else if (i + 1 < t->ncols)
      printf ("%-*s%s", w, row[i], sep);
    else                        /* no trailing blanks */
      printf ("%s%s", row[i], sep);
  }
}

void
out_table_print (const struct out_table *t)
{
  size_t width[OUT_TABLE_MAX_COLUMNS] = { 0 };
  const char *header[OUT_TABLE_MAX_COLUMNS];
  size_t i, r;

  for (i = 0; i < t->ncols; i++) {
    header[i] = t->cols[i].header;
    width[i] = strlen (header[i]);
    for (r = 0; r < t->nrows; r++) {
      size_t w = strlen (t->cells.ptr[r * t->ncols + i]);

      if (w > width[i])
        width[i] = w;
    }
  }
  print_row (t, width, header);
  for (r = 0; r < t->nrows; r++)
    print_row (t, width,
               (const char *const *) &t->cells.ptr[r * t->ncols]);
}

void
out_table_free (struct out_table *t)
{
  size_t i;

  if (t == NULL)
    return;
  for (i = 0; i < t->cells.len; i++)
    free (t->cells.ptr[i]);
  string_vector_reset (&t->cells);
  free (t);
}

int
out_list (json_t *list, const struct out_column *cols, size_t ncols,
          const char *none, const char *what, out_row_fn *row)
{
  struct out_table *t;
  json_t *elem;
  size_t i;

  if (json_array_size (list) == 0) {
    printf ("%s\n", none);
    return 0;
  }
  t = out_table_new (cols, ncols);
  if (t == NULL)
    goto nomem;
  json_array_foreach (list, i, elem)
    if (row (t, elem) == -1)
      goto nomem;
  out_table_print (t);
  out_table_free (t);
  return 0;

 nomem:
  out_table_free (t);
  log_warnx ("%s: out of memory", what);
  return -1;
}
