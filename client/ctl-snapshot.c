/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-snapshot.c: snapvolctl snapshot commands.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "humansize.h"
#include "log.h"
#include "output.h"
#include "proto.h"
#include "uuid.h"

/* snapshot create */

/* The result of snapshot.create reduced to exactly the members, in
 * the order, that "snapshot create --json" promises:
 * {"set_id", "snapshots": [{"volume", "id", "export", "generation"}]}.
 * NULL with *WHY set if RES lacks one of them. */
static json_t *
created_set (json_t *res, const char **why)
{
  json_t *snaps = json_object_get (res, "snapshots");
  json_t *out, *list, *s;
  size_t i;

  if (!json_is_string (json_object_get (res, "set_id")) ||
      !json_is_array (snaps)) {
    *why = "no \"set_id\" or \"snapshots\" in the result";
    return NULL;
  }
  out = json_pack ("{s:O, s:[]}", "set_id", json_object_get (res, "set_id"),
                   "snapshots");
  list = json_object_get (out, "snapshots");
  if (list == NULL) {
    *why = "out of memory";
    return NULL;
  }
  json_array_foreach (snaps, i, s) {
    json_t *snap = json_pack ("{s:O, s:O, s:O, s:O}",
                              "volume", json_object_get (s, "volume"),
                              "id", json_object_get (s, "id"),
                              "export", json_object_get (s, "export"),
                              "generation", json_object_get (s, "generation"));

    /* json_pack fails on a missing member (NULL for "O"). */
    if (snap == NULL ||
        !json_is_string (json_object_get (snap, "volume")) ||
        !json_is_string (json_object_get (snap, "id")) ||
        !json_is_string (json_object_get (snap, "export")) ||
        !json_is_integer (json_object_get (snap, "generation"))) {
      json_decref (snap);
      json_decref (out);
      *why = "a snapshot in the result lacks \"volume\", \"id\", \"export\" "
        "or \"generation\"";
      return NULL;
    }
    if (json_array_append_new (list, snap) == -1) {
      json_decref (out);
      *why = "out of memory";
      return NULL;
    }
  }
  return out;
}

static void
print_created_set (json_t *set, const char *label)
{
  static const struct out_column cols[] = {
    { "VOLUME", 0 }, { "SNAPSHOT", 0 }, { "GENERATION", 1 }, { "EXPORT", 0 },
  };
  json_t *snaps = json_object_get (set, "snapshots"), *s;
  struct out_table *t = out_table_new (cols, sizeof cols / sizeof cols[0]);
  size_t i;

  printf ("Created snapshot set %s of %zu volume%s", out_str (set, "set_id"),
          json_array_size (snaps), json_array_size (snaps) == 1 ? "" : "s");
  if (label)
    printf (", label \"%s\"", label);
  printf (":\n");
  if (t == NULL)
    goto nomem;
  json_array_foreach (snaps, i, s) {
    char gen[24];

    snprintf (gen, sizeof gen, "%ju", (uintmax_t) out_u64 (s, "generation"));
    if (out_table_add (t, out_str (s, "volume"), out_str (s, "id"), gen,
                       out_str (s, "export")) == -1)
      goto nomem;
  }
  out_table_print (t);
  out_table_free (t);
  return;

 nomem:
  out_table_free (t);
  log_warnx ("snapshot create: out of memory");
}

static int
snapshot_create (struct ctl *ctl, const struct ctl_args *a)
{
  const char *label = a->opt[0];
  json_t *params, *volumes, *res, *set;
  const char *why = "";
  int i, r;

  params = json_pack ("{s:[]}", "volumes");
  volumes = json_object_get (params, "volumes");
  for (i = 0; volumes && i < a->argc; i++)
    if (json_array_append_new (volumes, json_string (a->argv[i])) == -1)
      volumes = NULL;
  if (params && volumes && label &&
      json_object_set_new (params, "label", json_string (label)) == -1)
    volumes = NULL;
  if (volumes == NULL) {
    json_decref (params);
    params = NULL;
  }

  res = ctl_call (ctl, "snapshot.create", params);
  if (res == NULL)
    return CTL_EXIT_FAILURE;
  set = created_set (res, &why);
  json_decref (res);
  if (set == NULL)
    return ctl_bad_answer (ctl, why);

  r = CTL_EXIT_OK;
  if (ctl->json)
    r = out_json (set) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
  else {
    out_sanitize (set);
    print_created_set (set, label);
  }
  json_decref (set);
  return r;
}

/* snapshot list */

void
ctl_format_holds (json_t *holds, char *buf, size_t len)
{
  uint64_t now = (uint64_t) time (NULL);
  size_t i, off = 0;
  json_t *h;

  buf[0] = '\0';
  json_array_foreach (holds, i, h) {
    json_t *exp = json_object_get (h, "expires");
    int expired = json_is_integer (exp) &&
      (uint64_t) json_integer_value (exp) <= now;

    if (off < len)
      off += snprintf (buf + off, len - off, "%s%s%s", i ? "," : "",
                       out_str (h, "tag"), expired ? "(expired)" : "");
  }
  if (buf[0] == '\0')
    snprintf (buf, len, "-");
}

/* One row of the snapshot list table. */
static int
snapshots_row (struct out_table *t, json_t *s)
{
  char created[OUT_TIME_BUFLEN], size[HUMANSIZE_BUFLEN];
  char ref[HUMANSIZE_BUFLEN], excl[HUMANSIZE_BUFLEN], gen[24];
  char holds[PROTO_HOLDS_MAX * (PROTO_TAG_MAX + 12) + 2];

  snprintf (gen, sizeof gen, "%ju", (uintmax_t) out_u64 (s, "generation"));
  ctl_format_holds (json_object_get (s, "holds"), holds, sizeof holds);
  return out_table_add (t, out_str (s, "volume"), out_str (s, "id"),
                        out_str (s, "set_id"), gen,
                        out_time (s, "created", created, sizeof created),
                        out_size (s, "size", size, sizeof size),
                        out_size (s, "referenced_bytes", ref, sizeof ref),
                        out_size (s, "exclusive_bytes", excl, sizeof excl),
                        holds, out_str (s, "label"));
}

static int
print_snapshots (json_t *list)
{
  static const struct out_column cols[] = {
    { "VOLUME", 0 }, { "ID", 0 }, { "SET", 0 }, { "GEN", 1 },
    { "CREATED", 0 }, { "SIZE", 1 }, { "REFERENCED", 1 },
    { "EXCLUSIVE", 1 }, { "HOLDS", 0 }, { "LABEL", 0 },
  };

  return out_list (list, cols, sizeof cols / sizeof cols[0], "No snapshots.",
                   "snapshot list", snapshots_row) == 0
    ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}

/* Below the table: the snapshots of VOLUME (NULL: all) that a policy
 * deleted, from policy.events (the server keeps the latest 256
 * events). */
static void
print_policy_deletions (struct ctl *ctl, const char *volume)
{
  json_t *events = ctl_call (ctl, "policy.events", json_object ()), *ev;
  char when[OUT_TIME_BUFLEN], created[OUT_TIME_BUFLEN];
  size_t i;
  int first = 1;

  if (!json_is_array (events)) {
    json_decref (events);
    return;
  }
  out_sanitize (events);
  json_array_foreach (events, i, ev) {
    if (strcmp (out_str (ev, "action"), "deleted") != 0 ||
        (volume && strcmp (out_str (ev, "volume"), volume) != 0))
      continue;
    if (first)
      printf ("\nDeleted by policy:\n");
    first = 0;
    printf ("  %s@%s (taken %s) deleted %s: %s\n", out_str (ev, "volume"),
            out_str (ev, "id"), out_time (ev, "created", created,
                                          sizeof created),
            out_time (ev, "time", when, sizeof when), out_str (ev, "reason"));
  }
  json_decref (events);
}

static int
snapshot_list (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = a->argc ? json_pack ("{s:s}", "volume", a->argv[0])
    : json_object ();
  int r = ctl_print_result (ctl, ctl_call (ctl, "snapshot.list", params),
                            true, print_snapshots);

  if (r == CTL_EXIT_OK && !ctl->json)
    print_policy_deletions (ctl, a->argc ? a->argv[0] : NULL);
  return r;
}

/* snapshot delete */

static int
print_deleted (json_t *res)
{
  uint64_t n = out_u64 (res, "deleted");

  if (n == 1)
    printf ("Deleted snapshot %s.\n", out_str (res, "id"));
  else
    printf ("Deleted %ju snapshots of set %s.\n", (uintmax_t) n,
            out_str (res, "id"));
  return CTL_EXIT_OK;
}

static int
snapshot_delete (struct ctl *ctl, const struct ctl_args *a)
{
  struct uuid u;

  /* Caught here, a typo costs no round trip and gets a usage error. */
  if (uuid_parse (a->argv[0], &u) == -1)
    return ctl_usage_error (ctl, "invalid ID '%s': expected a snapshot or "
                            "set UUID", a->argv[0]);
  return ctl_print_result (ctl, ctl_call (ctl, "snapshot.delete",
                                          json_pack ("{s:s}", "id",
                                                     a->argv[0])),
                           false, print_deleted);
}

/* snapshot hold, snapshot release */

static int
print_held (json_t *res)
{
  uint64_t n = out_u64 (res, "held");

  if (n == 1)
    printf ("Held snapshot %s with tag %s.\n", out_str (res, "id"),
            out_str (res, "tag"));
  else
    printf ("Held %ju snapshots of set %s with tag %s.\n", (uintmax_t) n,
            out_str (res, "id"), out_str (res, "tag"));
  return CTL_EXIT_OK;
}

static int
print_released (json_t *res)
{
  uint64_t n = out_u64 (res, "released");

  if (n == 1)
    printf ("Released hold %s of snapshot %s.\n", out_str (res, "tag"),
            out_str (res, "id"));
  else
    printf ("Released hold %s of %ju snapshots of set %s.\n",
            out_str (res, "tag"), (uintmax_t) n, out_str (res, "id"));
  return CTL_EXIT_OK;
}

/* The parameters {id, tag} of a hold or a release, or NULL after a
 * usage error. */
static json_t *
hold_params (struct ctl *ctl, const struct ctl_args *a)
{
  struct uuid u;

  if (uuid_parse (a->argv[0], &u) == -1) {
    ctl_usage_error (ctl, "invalid ID '%s': expected a snapshot or set UUID",
                     a->argv[0]);
    return NULL;
  }
  return json_pack ("{s:s, s:s}", "id", a->argv[0], "tag", a->argv[1]);
}

static int
snapshot_hold (struct ctl *ctl, const struct ctl_args *a)
{
  json_int_t secs = 0;
  json_t *params;

  if (a->opt[0] && ctl_parse_expires (ctl, a->opt[0], &secs) == -1)
    return CTL_EXIT_USAGE;
  if ((params = hold_params (ctl, a)) == NULL)
    return CTL_EXIT_USAGE;
  if (secs && json_object_set_new (params, "expires_in",
                                   json_integer (secs)) == -1) {
    json_decref (params);
    params = NULL;
  }
  return ctl_print_result (ctl, ctl_call (ctl, "snapshot.hold", params),
                           false, print_held);
}

static int
snapshot_release (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = hold_params (ctl, a);

  if (params == NULL)
    return CTL_EXIT_USAGE;
  return ctl_print_result (ctl, ctl_call (ctl, "snapshot.release", params),
                           false, print_released);
}

const struct ctl_command ctl_snapshot_commands[] = {
  { "snapshot", "create", "[--label TEXT] VOLUME...",
    "Snapshot the volumes at one instant, as one snapshot set.",
    1, -1, { "label", NULL }, snapshot_create, 0, false },
  { "snapshot", "list", "[VOLUME]",
    "List the snapshots (of every volume, or of one).",
    0, 1, { NULL }, snapshot_list, 0, false },
  { "snapshot", "delete", "ID",
    "Delete a snapshot, or every snapshot of a set.",
    1, 1, { NULL }, snapshot_delete, 0, false },
  { "snapshot", "hold", "[--expires SECONDS] ID TAG",
    "Hold a snapshot, or every snapshot of a set, so that it cannot be"
    " deleted until the hold is released (or expires).",
    2, 2, { "expires", NULL }, snapshot_hold, 0, false },
  { "snapshot", "release", "ID TAG",
    "Release the hold TAG of a snapshot, or of a set's snapshots.",
    2, 2, { NULL }, snapshot_release, 0, false },
  { NULL },
};
