/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-status.c: snapvolctl status: the coordinator's providers,
 * writers, newest snapshot sets and failures at one instant
 * (coordinator.status), as `zpool status` and `ceph status` show
 * theirs: a line of summary, then one table per section.
 *
 * The summary's "ago" is measured on this host's clock against the
 * coordinator's times; a clock behind the coordinator's reads as 0 s.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "output.h"
#include "proto.h"

/* Options of status (the index in its row of the table). */
enum { ST_SETS };

/* Count the elements of LIST whose KEY is the string VALUE. */
static size_t
count_with (json_t *list, const char *key, const char *value)
{
  json_t *v;
  size_t i, n = 0;

  json_array_foreach (list, i, v)
    n += strcmp (out_str (v, key), value) == 0;
  return n;
}

/* "12 s ago", "5 min ago", "3 h ago", "2 d ago" from Unix seconds T. */
static const char *
ago (uint64_t t, char *buf, size_t len)
{
  time_t now = time (NULL);
  uint64_t s = (uint64_t) now > t ? (uint64_t) now - t : 0;

  if (s < 120)
    snprintf (buf, len, "%ju s ago", (uintmax_t) s);
  else if (s < 2 * 3600)
    snprintf (buf, len, "%ju min ago", (uintmax_t) (s / 60));
  else if (s < 2 * 86400)
    snprintf (buf, len, "%ju h ago", (uintmax_t) (s / 3600));
  else
    snprintf (buf, len, "%ju d ago", (uintmax_t) (s / 86400));
  return buf;
}

/* The newest set, for the summary: "last set committed 12 s ago" when
 * it is finished, "last set freezing, started 3 s ago" while it runs. */
static void
print_last_set (json_t *sets)
{
  json_t *last = json_array_get (sets, 0);
  char buf[32];

  if (last == NULL)
    printf ("no sets");
  else if (out_u64 (last, "finished") > 0)
    printf ("last set %s %s", out_str (last, "state"),
            ago (out_u64 (last, "finished"), buf, sizeof buf));
  else
    printf ("last set %s, started %s", out_str (last, "state"),
            ago (out_u64 (last, "created"), buf, sizeof buf));
}

/* "2 providers (2 connected), 3 writers (1 failed), last set committed
 * 12 s ago, 1 failure". */
static void
print_summary (json_t *st)
{
  json_t *providers = json_object_get (st, "providers");
  json_t *writers = json_object_get (st, "writers");
  size_t np = json_array_size (providers), nw = json_array_size (writers);
  size_t failed = count_with (writers, "state", "failed");
  size_t away = count_with (writers, "state", "disconnected");
  size_t nf = json_array_size (json_object_get (st, "failures"));

  printf ("%zu provider%s (%zu connected), ", np, np == 1 ? "" : "s",
          count_with (providers, "state", "connected"));
  printf ("%zu writer%s (", nw, nw == 1 ? "" : "s");
  if (failed == 0 && away == 0)
    printf ("none failed");
  else if (failed > 0 && away > 0)
    printf ("%zu failed, %zu disconnected", failed, away);
  else if (failed > 0)
    printf ("%zu failed", failed);
  else
    printf ("%zu disconnected", away);
  printf ("), ");
  print_last_set (json_object_get (st, "sets"));
  if (nf > 0)
    printf (", %zu failure%s", nf, nf == 1 ? "" : "s");
  printf ("\n");
}

/* Member KEY of O, an integer, as text ("-" if it is not one). */
static const char *
int_or_dash (json_t *o, const char *key, char *buf, size_t len)
{
  json_t *v = json_object_get (o, key);

  if (!json_is_integer (v))
    return "-";
  snprintf (buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value (v));
  return buf;
}

static int
provider_row (struct out_table *t, json_t *p)
{
  char n[24], seen[OUT_TIME_BUFLEN];

  return out_table_add (t, out_str (p, "name"), out_str (p, "state"),
                        int_or_dash (p, "volumes", n, sizeof n),
                        out_str (p, "nbd_uri"),
                        out_time (p, "last_seen", seen, sizeof seen));
}

static int
writer_row (struct out_table *t, json_t *w)
{
  char n[24], at[OUT_TIME_BUFLEN];

  return out_table_add (t, out_str (w, "name"), out_str (w, "state"),
                        int_or_dash (w, "volumes", n, sizeof n),
                        out_str (w, "last_event"),
                        out_time (w, "last_event_time", at, sizeof at),
                        out_str (w, "last_error"));
}

/* "412 ms", "3.2 s" or "-". */
static const char *
duration (json_t *set, char *buf, size_t len)
{
  json_t *v = json_object_get (set, "duration_ms");
  json_int_t ms;

  if (!json_is_integer (v) || (ms = json_integer_value (v)) < 0)
    return "-";
  if (ms < 1000)
    snprintf (buf, len, "%" JSON_INTEGER_FORMAT " ms", ms);
  else
    snprintf (buf, len, "%.1f s", (double) ms / 1000);
  return buf;
}

static int
set_row (struct out_table *t, json_t *s)
{
  char created[OUT_TIME_BUFLEN], d[32], n[24];

  return out_table_add (t, out_str (s, "set_id"), out_str (s, "state"),
                        out_time (s, "created", created, sizeof created),
                        duration (s, d, sizeof d),
                        int_or_dash (s, "snapshots", n, sizeof n),
                        out_str (s, "label"));
}

static int
failure_row (struct out_table *t, json_t *f)
{
  char at[OUT_TIME_BUFLEN];

  return out_table_add (t, out_str (f, "kind"), out_str (f, "name"),
                        out_str (f, "provider"),
                        out_time (f, "time", at, sizeof at),
                        out_str (f, "reason"));
}

static int
print_status (json_t *st)
{
  static const struct out_column pcols[] = {
    { "NAME", 0 }, { "STATE", 0 }, { "VOLUMES", 1 }, { "NBD-URI", 0 },
    { "LAST-SEEN", 0 },
  };
  static const struct out_column wcols[] = {
    { "NAME", 0 }, { "STATE", 0 }, { "VOLUMES", 1 }, { "LAST-EVENT", 0 },
    { "AT", 0 }, { "LAST-ERROR", 0 },
  };
  static const struct out_column scols[] = {
    { "SET", 0 }, { "STATE", 0 }, { "CREATED", 0 }, { "DURATION", 1 },
    { "SNAPSHOTS", 1 }, { "LABEL", 0 },
  };
  static const struct out_column fcols[] = {
    { "KIND", 0 }, { "NAME", 0 }, { "PROVIDER", 0 }, { "TIME", 0 },
    { "REASON", 0 },
  };
#define NCOLS(c) (sizeof (c) / sizeof (c)[0])

  print_summary (st);
  printf ("\nProviders:\n");
  if (out_list (json_object_get (st, "providers"), pcols, NCOLS (pcols),
                "No providers.", "status", provider_row) == -1)
    return CTL_EXIT_FAILURE;
  printf ("\nWriters:\n");
  if (out_list (json_object_get (st, "writers"), wcols, NCOLS (wcols),
                "No writers.", "status", writer_row) == -1)
    return CTL_EXIT_FAILURE;
  printf ("\nSets, newest first:\n");
  if (out_list (json_object_get (st, "sets"), scols, NCOLS (scols),
                "No snapshot sets.", "status", set_row) == -1)
    return CTL_EXIT_FAILURE;
  printf ("\nFailures:\n");
  if (out_list (json_object_get (st, "failures"), fcols, NCOLS (fcols),
                "No failures.", "status", failure_row) == -1)
    return CTL_EXIT_FAILURE;
#undef NCOLS
  return CTL_EXIT_OK;
}

/* --sets N, 1 to PROTO_STATUS_SETS_MAX.  -1 after a usage error. */
static int
parse_sets (const struct ctl *ctl, const char *arg, json_int_t *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (arg, &end, 10);
  if (errno || end == arg || *end || v < 1 || v > PROTO_STATUS_SETS_MAX) {
    ctl_usage_error (ctl, "invalid --sets '%s': expected a number of sets "
                     "from 1 to %d", arg, PROTO_STATUS_SETS_MAX);
    return -1;
  }
  *out = v;
  return 0;
}

static int
status (struct ctl *ctl, const struct ctl_args *a)
{
  json_int_t n = 0;

  if (a->opt[ST_SETS] && parse_sets (ctl, a->opt[ST_SETS], &n) == -1)
    return CTL_EXIT_USAGE;
  return ctl_print_result (ctl, ctl_coord_call (ctl, "coordinator.status",
                                                n ? json_pack ("{s:I}",
                                                               "sets", n)
                                                : json_object ()),
                           false, print_status);
}

const struct ctl_command ctl_status_commands[] = {
  { "status", "", "[--sets N]",
    "Show the coordinator's providers, writers, newest snapshot sets "
    "(--sets N, default 5) and failures, with a summary line.",
    0, 0, { "sets", NULL }, status, 0, true },
  { NULL },
};
