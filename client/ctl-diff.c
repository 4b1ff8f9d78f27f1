/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-diff.c: snapvolctl diff: the changed ranges between two
 * snapshots of a volume (or a snapshot and the live volume), fetched
 * page by page with snapshot.diff's cursor, from a control socket or,
 * for PROVIDER/VOLUME, through the coordinator (which forwards each
 * page to the provider, and takes snapshot set ids for FROM and TO).
 * Both print the same.
 *
 * The ranges of every page are kept (24 bytes each) and printed once
 * the last page is in, merged where one page's last range and the
 * next page's first touch and are of one kind: a failure on a later
 * page then prints only the error, never half a list.
 */

#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "humansize.h"
#include "log.h"
#include "output.h"
#include "uuid.h"
#include "vector.h"

struct diff_range {
  uint64_t offset, length;
  bool zero;
};
DEFINE_VECTOR_TYPE (diff_range_vector, struct diff_range);

/* Append the range R of a page to RS, merging it with the last one.
 * -1 on ENOMEM. */
static int
add_range (diff_range_vector *rs, struct diff_range r)
{
  if (rs->len > 0) {
    struct diff_range *last = &rs->ptr[rs->len - 1];

    if (last->offset + last->length == r.offset && last->zero == r.zero) {
      last->length += r.length;
      return 0;
    }
  }
  return diff_range_vector_append (rs, r);
}

/* Take the ranges of one page's answer RES into RS; its "next" into
 * *NEXT (UINT64_MAX for null) and its "size" into *SIZE.  NULL, or
 * why the answer is unusable. */
static const char *
take_page (json_t *res, uint64_t cursor, diff_range_vector *rs,
           uint64_t *next, uint64_t *size)
{
  json_t *ranges = json_object_get (res, "ranges");
  json_t *nx = json_object_get (res, "next"), *r;
  uint64_t end = rs->len ? rs->ptr[rs->len - 1].offset
    + rs->ptr[rs->len - 1].length : 0;
  size_t i;

  if (!json_is_object (res) || !json_is_array (ranges) ||
      !json_is_integer (json_object_get (res, "size")) ||
      !(json_is_null (nx) || json_is_integer (nx)))
    return "no \"ranges\", \"size\" or \"next\" in the result";
  *size = out_u64 (res, "size");
  json_array_foreach (ranges, i, r) {
    json_t *off = json_object_get (r, "offset");
    json_t *len = json_object_get (r, "length");
    const char *kind = out_str (r, "kind");
    struct diff_range d;

    if (!json_is_integer (off) || !json_is_integer (len) ||
        json_integer_value (off) < 0 || json_integer_value (len) <= 0 ||
        (strcmp (kind, "data") != 0 && strcmp (kind, "zero") != 0))
      return "a range lacks \"offset\", \"length\" or \"kind\"";
    d.offset = (uint64_t) json_integer_value (off);
    d.length = (uint64_t) json_integer_value (len);
    d.zero = strcmp (kind, "zero") == 0;
    if (d.offset < end || d.offset < cursor || d.length > *size ||
        d.offset > *size - d.length)
      return "ranges out of order or past the end of the volume";
    end = d.offset + d.length;
    if (add_range (rs, d) == -1)
      return "out of memory";
  }
  *next = json_is_null (nx) ? UINT64_MAX : (uint64_t) json_integer_value (nx);
  if (*next != UINT64_MAX && (*next <= cursor || *next < end))
    return "the next page does not start after this one";
  return NULL;
}

static void
print_json (const diff_range_vector *rs)
{
  size_t i;

  /* As out_json prints an array of objects: ", " and ": ". */
  putchar ('[');
  for (i = 0; i < rs->len; i++)
    printf ("%s{\"offset\": %" PRIu64 ", \"length\": %" PRIu64
            ", \"kind\": \"%s\"}", i ? ", " : "", rs->ptr[i].offset,
            rs->ptr[i].length, rs->ptr[i].zero ? "zero" : "data");
  printf ("]\n");
}

static int
print_table (const diff_range_vector *rs, uint64_t size)
{
  static const struct out_column cols[] = {
    { "OFFSET", 1 }, { "LENGTH", 1 }, { "KIND", 0 }, { "SIZE", 1 },
  };
  char data[HUMANSIZE_BUFLEN], zero[HUMANSIZE_BUFLEN], of[HUMANSIZE_BUFLEN];
  uint64_t nd = 0, nz = 0;
  struct out_table *t = NULL;
  size_t i;

  if (rs->len > 0 &&
      (t = out_table_new (cols, sizeof cols / sizeof cols[0])) == NULL)
    goto nomem;
  for (i = 0; i < rs->len; i++) {
    char off[24], len[24], human[HUMANSIZE_BUFLEN];

    snprintf (off, sizeof off, "%" PRIu64, rs->ptr[i].offset);
    snprintf (len, sizeof len, "%" PRIu64, rs->ptr[i].length);
    if (out_table_add (t, off, len, rs->ptr[i].zero ? "zero" : "data",
                       humansize_format (rs->ptr[i].length, human,
                                         sizeof human)) == -1)
      goto nomem;
    if (rs->ptr[i].zero)
      nz += rs->ptr[i].length;
    else
      nd += rs->ptr[i].length;
  }
  if (t != NULL)
    out_table_print (t);
  out_table_free (t);
  printf ("%zu range%s: %s data, %s zero (of %s)\n", rs->len,
          rs->len == 1 ? "" : "s", humansize_format (nd, data, sizeof data),
          humansize_format (nz, zero, sizeof zero),
          humansize_format (size, of, sizeof of));
  return CTL_EXIT_OK;

 nomem:
  out_table_free (t);
  log_warnx ("diff: out of memory");
  return CTL_EXIT_FAILURE;
}

/* The arguments, checked before any round trip: a typo gets a usage
 * error.  0, or -1 after ctl_usage_error. */
static int
check_args (const struct ctl *ctl, const char *volume, const char *from,
            const char *to)
{
  const char *what = ctl->coordinator ? "a snapshot or snapshot set UUID"
    : "a snapshot UUID";
  struct uuid u;

  if (ctl->coordinator && ctl_check_pv (ctl, volume) == -1)
    return -1;
  if (uuid_parse (from, &u) == -1) {
    ctl_usage_error (ctl, "invalid FROM '%s': expected %s", from, what);
    return -1;
  }
  if (to && uuid_parse (to, &u) == -1) {
    ctl_usage_error (ctl, "invalid TO '%s': expected %s", to, what);
    return -1;
  }
  return 0;
}

static int
diff_run (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *(*call) (struct ctl *, const char *, json_t *)
    = ctl->coordinator ? ctl_coord_call : ctl_call;
  const char *volume = a->argv[0], *from = a->argv[1];
  const char *to = a->argc > 2 ? a->argv[2] : NULL;
  diff_range_vector rs = empty_vector;
  uint64_t cursor = 0, next, size = 0;
  int r;

  if (check_args (ctl, volume, from, to) == -1)
    return CTL_EXIT_USAGE;
  do {
    json_t *params = json_pack ("{s:s, s:s, s:I}", "volume", volume,
                                "from", from, "cursor", (json_int_t) cursor);
    const char *why;
    json_t *res;

    if (params && to && json_object_set_new (params, "to",
                                             json_string (to)) == -1) {
      json_decref (params);
      params = NULL;
    }
    res = call (ctl, "snapshot.diff", params);
    if (res == NULL) {
      free (rs.ptr);
      return CTL_EXIT_FAILURE;
    }
    why = take_page (res, cursor, &rs, &next, &size);
    json_decref (res);
    if (why != NULL) {
      free (rs.ptr);
      return ctl_bad_answer (ctl, why);
    }
    cursor = next;
  } while (next != UINT64_MAX);

  r = CTL_EXIT_OK;
  if (ctl->json)
    print_json (&rs);
  else
    r = print_table (&rs, size);
  free (rs.ptr);
  return r;
}

const struct ctl_command ctl_diff_commands[] = {
  { "diff", "", "[--json] VOLUME FROM [TO]",
    "List the ranges that changed between snapshot FROM and snapshot TO "
    "of VOLUME (or the live volume); with --coordinator, VOLUME is "
    "PROVIDER/VOLUME and FROM and TO may be snapshot set ids.",
    2, 3, { NULL }, diff_run, 0, CTL_EITHER },
  { NULL },
};
