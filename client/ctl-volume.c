/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-volume.c: snapvolctl volume commands.
 */

#include <config.h>

#include <stdio.h>

#include "ctl.h"
#include "humansize.h"
#include "log.h"
#include "output.h"

static int
print_created (json_t *vol)
{
  char size[HUMANSIZE_BUFLEN], cluster[HUMANSIZE_BUFLEN];

  printf ("Created volume %s: %s, cluster size %s, export \"%s\".\n",
          out_str (vol, "name"), out_size (vol, "size", size, sizeof size),
          out_size (vol, "cluster_size", cluster, sizeof cluster),
          out_str (vol, "export"));
  return CTL_EXIT_OK;
}

static int
volume_create (struct ctl *ctl, const struct ctl_args *a)
{
  const char *cluster_arg = a->opt[0];
  uint64_t size, cluster;
  json_t *params;

  if (ctl_parse_size (ctl, "SIZE", a->argv[1], &size) == -1 ||
      (cluster_arg &&
       ctl_parse_size (ctl, "--cluster-size", cluster_arg, &cluster) == -1))
    return CTL_EXIT_USAGE;

  params = json_pack ("{s:s, s:I}", "name", a->argv[0],
                      "size", (json_int_t) size);
  if (params && cluster_arg &&
      json_object_set_new (params, "cluster_size",
                           json_integer ((json_int_t) cluster)) == -1) {
    json_decref (params);
    params = NULL;
  }
  return ctl_print_result (ctl, ctl_call (ctl, "volume.create", params), false,
                           print_created);
}

/* One row of the volume list table. */
static int
volumes_row (struct out_table *t, json_t *v)
{
  char size[HUMANSIZE_BUFLEN], alloc[HUMANSIZE_BUFLEN];
  char ref[HUMANSIZE_BUFLEN], written[HUMANSIZE_BUFLEN];
  char bysnap[HUMANSIZE_BUFLEN];
  char cluster[HUMANSIZE_BUFLEN], created[OUT_TIME_BUFLEN];
  char nsnap[24], open[24];

  snprintf (nsnap, sizeof nsnap, "%ju", (uintmax_t) out_u64 (v, "snapshots"));
  snprintf (open, sizeof open, "%ju", (uintmax_t) out_u64 (v, "open_count"));
  return out_table_add (t, out_str (v, "name"),
                        out_size (v, "size", size, sizeof size),
                        out_size (v, "allocated_bytes", alloc, sizeof alloc),
                        out_size (v, "referenced_bytes", ref, sizeof ref),
                        out_size (v, "snapshot_bytes", bysnap, sizeof bysnap),
                        out_size (v, "written_bytes", written, sizeof written),
                        nsnap,
                        out_size (v, "cluster_size", cluster, sizeof cluster),
                        open,
                        out_time (v, "created", created, sizeof created));
}

/* Under the table, a line for each clone, each flatten and each
 * reclaim of deleted snapshots running in the background. */
static void
print_clones (json_t *list)
{
  char done[HUMANSIZE_BUFLEN], total[HUMANSIZE_BUFLEN];
  json_t *v, *f, *r;
  size_t i;

  json_array_foreach (list, i, v) {
    r = json_object_get (v, "reclaim");
    if (r != NULL)
      printf ("%s: reclaiming deleted snapshots, %" JSON_INTEGER_FORMAT
              " of %" JSON_INTEGER_FORMAT " clusters done (%"
              JSON_INTEGER_FORMAT " more deletion(s) queued), %s freed.\n",
              out_str (v, "name"),
              json_integer_value (json_object_get (r, "done")),
              json_integer_value (json_object_get (r, "total")),
              json_integer_value (json_object_get (r, "queued")),
              out_size (r, "freed_bytes", done, sizeof done));
    f = json_object_get (v, "flatten");
    if (json_object_get (v, "origin") != NULL)
      printf ("%s is a clone of %s%s.\n", out_str (v, "name"),
              out_str (v, "origin"),
              json_is_true (json_object_get (v, "origin_missing"))
              ? ", which is missing: not served" : "");
    if (f == NULL)
      continue;
    if (json_object_get (f, "error") != NULL)
      printf ("%s: flatten failed at %s of %s: %s\n", out_str (v, "name"),
              out_size (f, "done", done, sizeof done),
              out_size (f, "total", total, sizeof total),
              out_str (f, "error"));
    else
      printf ("%s: flattening, %s of %s done.\n", out_str (v, "name"),
              out_size (f, "done", done, sizeof done),
              out_size (f, "total", total, sizeof total));
  }
}

static int
print_volumes (json_t *list)
{
  static const struct out_column cols[] = {
    { "NAME", 0 }, { "SIZE", 1 }, { "USED", 1 }, { "REFERENCED", 1 },
    { "USEDBYSNAPS", 1 }, { "WRITTEN", 1 }, { "SNAPSHOTS", 1 }, { "CLUSTER", 1 }, { "OPEN", 1 },
    { "CREATED", 0 },
  };

  if (out_list (list, cols, sizeof cols / sizeof cols[0], "No volumes.",
                "volume list", volumes_row) == -1)
    return CTL_EXIT_FAILURE;
  print_clones (list);
  return CTL_EXIT_OK;
}

static int
volume_list (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = a->argc ? json_pack ("{s:s}", "name", a->argv[0])
    : json_object ();

  return ctl_print_result (ctl, ctl_call (ctl, "volume.list", params), true,
                           print_volumes);
}

static int
print_deleted (json_t *res)
{
  printf ("Deleted volume %s.\n", out_str (res, "name"));
  return CTL_EXIT_OK;
}

static int
volume_delete (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = json_pack ("{s:s}", "name", a->argv[0]);

  return ctl_print_result (ctl, ctl_call (ctl, "volume.delete", params),
                           false, print_deleted);
}

static int
print_reverted (json_t *result)
{
  json_t *list = json_object_get (result, "reverted"), *r;
  size_t i;

  json_array_foreach (list, i, r)
    printf ("Reverted volume %s to snapshot %s (generation %" JSON_INTEGER_FORMAT
            "; live generation now %" JSON_INTEGER_FORMAT ").\n",
            out_str (r, "volume"), out_str (r, "snapshot"),
            json_integer_value (json_object_get (r, "parent_generation")),
            json_integer_value (json_object_get (r, "generation")));
  return CTL_EXIT_OK;
}

static int
volume_revert (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = json_pack ("{s:s, s:s, s:b}", "name", a->argv[0],
                              "snapshot", a->argv[1], "force",
                              a->opt[0] != NULL);

  return ctl_print_result (ctl, ctl_call (ctl, "volume.revert", params),
                           false, print_reverted);
}

static int
print_cloned (json_t *vol)
{
  char size[HUMANSIZE_BUFLEN];

  printf ("Created volume %s, a clone of %s: %s, export \"%s\".\n",
          out_str (vol, "name"), out_str (vol, "origin"),
          out_size (vol, "size", size, sizeof size), out_str (vol, "export"));
  return CTL_EXIT_OK;
}

static int
volume_clone (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = json_pack ("{s:s, s:s}", "origin", a->argv[0],
                              "name", a->argv[1]);

  return ctl_print_result (ctl, ctl_call (ctl, "volume.clone", params),
                           false, print_cloned);
}

static int
print_flattening (json_t *vol)
{
  printf ("Flattening volume %s in the background (volume list shows the"
          " progress).\n", out_str (vol, "name"));
  return CTL_EXIT_OK;
}

static int
volume_flatten (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = json_pack ("{s:s}", "name", a->argv[0]);

  return ctl_print_result (ctl, ctl_call (ctl, "volume.flatten", params),
                           false, print_flattening);
}

const struct ctl_command ctl_volume_commands[] = {
  { "volume", "create", "NAME SIZE [--cluster-size SIZE]",
    "Create a volume of SIZE bytes (a multiple of 512).",
    2, 2, { "cluster-size", NULL }, volume_create, 0, false },
  { "volume", "list", "[NAME]",
    "List the volumes (or one) with their size and space use.",
    0, 1, { NULL }, volume_list, 0, false },
  { "volume", "delete", "NAME",
    "Delete a volume.  It must have no snapshots and no open connection.",
    1, 1, { NULL }, volume_delete, 0, false },
  { "volume", "revert", "[--force] NAME SNAPSHOT",
    "Make the live volume's content that of its SNAPSHOT (or set id), at"
    " once, keeping every snapshot; refused while clients are connected"
    " unless --force (they must drop their caches).",
    2, 2, { "force", NULL }, volume_revert, 1u << 0, false },
  { "volume", "clone", "VOLUME@SNAPSHOT NEWNAME",
    "Create NEWNAME, a writable clone of the snapshot (or set id): no"
    " data is copied; until it is flattened the snapshot cannot be"
    " deleted.",
    2, 2, { NULL }, volume_clone, 0, false },
  { "volume", "flatten", "NAME",
    "Copy what the clone NAME still reads from its origin, in the"
    " background; then the origin's snapshot can be deleted.",
    1, 1, { NULL }, volume_flatten, 0, false },
  { NULL },
};
