/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-policy.c: snapvolctl policy commands (retention and space
 * policies; docs/design.md, "Policies").
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "humansize.h"
#include "output.h"
#include "proto.h"

/* policy get */

/* SECS as "7d", "12h", "90m" or "45s": the largest unit that divides
 * it. */
static void
format_duration (uint64_t secs, char *buf, size_t len)
{
  static const struct { char unit; uint64_t secs; } units[] = {
    { 'w', 604800 }, { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 },
  };
  size_t i;

  for (i = 0; i < sizeof units / sizeof units[0]; i++)
    if (secs % units[i].secs == 0) {
      snprintf (buf, len, "%ju%c", (uintmax_t) (secs / units[i].secs),
                units[i].unit);
      return;
    }
  snprintf (buf, len, "%jus", (uintmax_t) secs);
}

static void
print_retention (json_t *r)
{
  char younger[64];
  uint64_t y = out_u64 (r, "keep_younger");

  if (y == 0)
    snprintf (younger, sizeof younger, "-");
  else
    format_duration (y, younger, sizeof younger);
  printf ("Keep last:             %ju\n"
          "Keep younger than:     %s\n"
          "Keep daily (days):     %ju\n"
          "Keep weekly (weeks):   %ju\n",
          (uintmax_t) out_u64 (r, "keep_last"), younger,
          (uintmax_t) out_u64 (r, "keep_daily"),
          (uintmax_t) out_u64 (r, "keep_weekly"));
}

static int
print_policy (json_t *res)
{
  json_t *space = json_object_get (res, "space");
  char limit[HUMANSIZE_BUFLEN], reserve[HUMANSIZE_BUFLEN];
  char used[HUMANSIZE_BUFLEN];

  if (json_is_string (json_object_get (res, "volume")))
    printf ("Volume:                %s (retention from the %s)\n",
            out_str (res, "volume"),
            strcmp (out_str (res, "retention_from"), "volume") == 0
            ? "volume's own policy" : "pool's default");
  print_retention (json_object_get (res, "retention"));
  if (json_is_object (space)) {
    printf ("Space limit:           %s\n"
            "Space reserve:         %s\n"
            "When full:             %s\n"
            "Data held:             %s\n",
            out_u64 (space, "limit") ? out_size (space, "limit", limit,
                                                 sizeof limit) : "-",
            out_u64 (space, "reserve") ? out_size (space, "reserve", reserve,
                                                   sizeof reserve) : "-",
            out_str (space, "on_full"),
            out_size (space, "used", used, sizeof used));
  }
  return CTL_EXIT_OK;
}

static int
policy_get (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = a->argc ? json_pack ("{s:s}", "volume", a->argv[0])
    : json_object ();

  return ctl_print_result (ctl, ctl_call (ctl, "policy.get", params), false,
                           print_policy);
}

/* policy set */

/* --keep-younger DURATION: seconds, or a number with s, m, h, d or w. */
static int
parse_duration (const struct ctl *ctl, const char *arg, json_int_t *out)
{
  static const struct { char unit; uint64_t secs; } units[] = {
    { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
    { 'w', 604800 },
  };
  unsigned long long n;
  uint64_t mul = 1;
  char *end;
  size_t i;

  errno = 0;
  n = strtoull (arg, &end, 10);
  if (errno == 0 && end != arg && arg[0] != '-' && end[0] != '\0' &&
      end[1] == '\0') {
    mul = 0;
    for (i = 0; i < sizeof units / sizeof units[0]; i++)
      if (units[i].unit == end[0])
        mul = units[i].secs;
    end += mul != 0;
  }
  if (errno != 0 || end == arg || arg[0] == '-' || *end != '\0' ||
      mul == 0 || n > PROTO_KEEP_YOUNGER_MAX_S / mul)
    return ctl_usage_error (ctl, "invalid --keep-younger '%s': expected "
                            "seconds, or a number with s, m, h, d or w, up to "
                            "%lld s", arg,
                            (long long) PROTO_KEEP_YOUNGER_MAX_S), -1;
  *out = (json_int_t) (n * mul);
  return 0;
}

static int
parse_count (const struct ctl *ctl, const char *what, const char *arg,
             json_int_t *out)
{
  unsigned long long n;
  char *end;

  errno = 0;
  n = strtoull (arg, &end, 10);
  if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' ||
      n > PROTO_KEEP_MAX) {
    ctl_usage_error (ctl, "invalid %s '%s': expected a count from 0 to %d",
                     what, arg, PROTO_KEEP_MAX);
    return -1;
  }
  *out = (json_int_t) n;
  return 0;
}

/* Options of policy set, in the order of the table's options[]. */
enum { P_VOLUME, P_LAST, P_YOUNGER, P_DAILY, P_WEEKLY, P_LIMIT, P_RESERVE,
       P_ON_FULL };

static int
add_int (json_t *params, const char *member, json_int_t v)
{
  return json_object_set_new (params, member, json_integer (v));
}

static int
policy_set (struct ctl *ctl, const struct ctl_args *a)
{
  static const char *const counts[][2] = {
    [P_LAST] = { "--keep-last", "keep_last" },
    [P_DAILY] = { "--keep-daily", "keep_daily" },
    [P_WEEKLY] = { "--keep-weekly", "keep_weekly" },
  };
  json_t *params = json_object ();
  json_int_t v;
  uint64_t size;
  int i, given = 0;

  if (params == NULL)
    return ctl_call (ctl, "policy.set", NULL) ? CTL_EXIT_OK
      : CTL_EXIT_FAILURE;
  for (i = P_LAST; i <= P_ON_FULL; i++)
    given |= a->opt[i] != NULL;
  if (!given) {
    json_decref (params);
    return ctl_usage_error (ctl, "give at least one of --keep-last, "
                            "--keep-younger, --keep-daily, --keep-weekly, "
                            "--space-limit, --space-reserve, --on-full");
  }
  if (a->opt[P_VOLUME])
    json_object_set_new (params, "volume", json_string (a->opt[P_VOLUME]));
  for (i = P_LAST; i <= P_WEEKLY; i++) {
    if (i == P_YOUNGER || a->opt[i] == NULL)
      continue;
    if (parse_count (ctl, counts[i][0], a->opt[i], &v) == -1)
      goto usage;
    add_int (params, counts[i][1], v);
  }
  if (a->opt[P_YOUNGER]) {
    if (parse_duration (ctl, a->opt[P_YOUNGER], &v) == -1)
      goto usage;
    add_int (params, "keep_younger", v);
  }
  if (a->opt[P_LIMIT]) {
    if (ctl_parse_size (ctl, "--space-limit", a->opt[P_LIMIT], &size) == -1)
      goto usage;
    add_int (params, "space_limit", (json_int_t) size);
  }
  if (a->opt[P_RESERVE]) {
    if (ctl_parse_size (ctl, "--space-reserve", a->opt[P_RESERVE],
                        &size) == -1)
      goto usage;
    add_int (params, "space_reserve", (json_int_t) size);
  }
  if (a->opt[P_ON_FULL])
    json_object_set_new (params, "on_full", json_string (a->opt[P_ON_FULL]));
  return ctl_print_result (ctl, ctl_call (ctl, "policy.set", params), false,
                           print_policy);

 usage:
  json_decref (params);
  return CTL_EXIT_USAGE;
}

/* policy events */

static int
events_row (struct out_table *t, json_t *ev)
{
  char when[OUT_TIME_BUFLEN];

  return out_table_add (t, out_time (ev, "time", when, sizeof when),
                        out_str (ev, "action"), out_str (ev, "policy"),
                        out_str (ev, "volume"), out_str (ev, "id"),
                        out_str (ev, "reason"));
}

int
ctl_print_policy_events (json_t *list)
{
  static const struct out_column cols[] = {
    { "TIME", 0 }, { "ACTION", 0 }, { "POLICY", 0 }, { "VOLUME", 0 },
    { "SNAPSHOT", 0 }, { "REASON", 0 },
  };

  return out_list (list, cols, sizeof cols / sizeof cols[0],
                   "No policy events.", "policy events", events_row) == 0
    ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}

static int
policy_events (struct ctl *ctl, const struct ctl_args *a)
{
  return ctl_print_result (ctl, ctl_call (ctl, "policy.events",
                                          json_object ()), true,
                           ctl_print_policy_events);
}

const struct ctl_command ctl_policy_commands[] = {
  { "policy", "get", "[VOLUME]",
    "Show the pool's policy (retention default and space), or the "
    "retention that applies to VOLUME.",
    0, 1, { NULL }, policy_get, 0, false },
  { "policy", "set", "[--volume V] [--keep-last N] [--keep-younger DURATION]"
    " [--keep-daily D] [--keep-weekly W] [--space-limit SIZE]"
    " [--space-reserve SIZE] [--on-full fail|delete-oldest]",
    "Change the pool's policy, or VOLUME's own retention (0 turns a rule "
    "off); retention is applied at once.",
    0, 0, { "volume", "keep-last", "keep-younger", "keep-daily",
            "keep-weekly", "space-limit", "space-reserve", "on-full" },
    policy_set, 0, false },
  { "policy", "events", "",
    "List what the policies deleted, and the snapshots they kept against "
    "their rules (held, open, or in a kept set), oldest first.",
    0, 0, { NULL }, policy_events, 0, false },
  { NULL },
};
