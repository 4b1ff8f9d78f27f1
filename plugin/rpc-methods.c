/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpc-methods.c: the control methods, each a small function mapping
 * validated JSON parameters to one engine call (docs/protocol.md).
 *
 * Every request's parameters are checked against the method's table
 * before the method runs: members must have the right type and range,
 * required ones must be present and unknown ones are refused, so the
 * methods below can read their parameters without further checks.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "cleanup.h"
#include "holds.h"
#include "jsonrpc.h"
#include "pool.h"
#include "proto.h"
#include "rpc-methods.h"
#include "rpcerr.h"
#include "uuid.h"

#define HOLD_TIMEOUT_DEFAULT   10000
#define HOLD_WAIT_DEFAULT      5000
/* "NAME@UUID" */
#define EXPORT_NAME_MAX (SV_NAME_MAX + 1 + SV_UUID_STRLEN)

/* Methods return their result, or NULL after filling their struct
 * rpcerr: these two fill it for the common cases. */

/* The engine call that just failed, as the engine described it. */
static json_t *
fail_engine (struct rpcerr *e)
{
  rpcerr_errno (e, errno, "%s", sv_errmsg ());
  return NULL;
}

static json_t *
fail_nomem (struct rpcerr *e)
{
  rpcerr_nomem (e);
  return NULL;
}

static json_t *
pack (struct rpcerr *e, const char *fmt, ...)
{
  json_error_t jerr;
  json_t *v;
  va_list ap;

  va_start (ap, fmt);
  v = json_vpack_ex (&jerr, 0, fmt, ap);
  va_end (ap);
  if (v == NULL)
    rpcerr_set (e, JSONRPC_INTERNAL_ERROR, "cannot build the result: %s",
                jerr.text);
  return v;
}

/* Parameter tables: the protocol's rules (common/proto.h), the same
 * the coordinator checks set.create against. */

#define NAME_PARAM(member, req) \
  { member, PROTO_STRING, req, 1, PROTO_NAME_MAX }
#define LABEL_PARAM { "label", PROTO_LABEL, false, 0, 0 }

static int
validate_params (json_t *params, const struct proto_param *table,
                 struct rpcerr *e)
{
  char why[sizeof e->message];

  if (proto_check_params (params, table, why, sizeof why) == 0)
    return 0;
  return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "%s", why);
}

/* Accessors for validated parameters. */

static const char *
get_string (json_t *params, const char *name)
{
  return json_string_value (json_object_get (params, name));
}

static json_int_t
get_int (json_t *params, const char *name, json_int_t absent)
{
  json_t *v = json_object_get (params, name);

  return v ? json_integer_value (v) : absent;
}

/* The UUID NAME in canonical (lower-case) form into OUT.  Returns
 * false if the member is absent. */
static bool
get_uuid (json_t *params, const char *name, char out[UUID_STRLEN + 1],
          struct uuid *u)
{
  const char *s = get_string (params, name);

  if (s == NULL || uuid_parse (s, u) == -1)
    return false;
  uuid_format (u, out);
  return true;
}

/* The names in the array NAME, pointing into PARAMS: free() the
 * array, not the strings.  NULL only when out of memory. */
static const char **
get_names (json_t *params, const char *name, size_t *n)
{
  json_t *array = json_object_get (params, name);
  const char **names;
  size_t i;

  *n = json_array_size (array);
  names = calloc (*n, sizeof *names);
  if (names == NULL)
    return NULL;
  for (i = 0; i < *n; i++)
    names[i] = json_string_value (json_array_get (array, i));
  return names;
}

/* Objects of the results. */

static json_t *volume_json_base (const struct sv_volume_info *v,
                                 struct rpcerr *e);

/* A clone's members of a volume object: "origin" ("VOLUME@SNAPSHOT")
 * and "origin_missing" for a clone; "flatten" {"done", "total"} (and
 * "error" once it failed) while a flatten runs or after one failed. */
static int
clone_members (json_t *o, const struct sv_volume_info *v, struct rpcerr *e)
{
  json_t *f = NULL;

  if (v->origin[0] != '\0' &&
      (json_object_set_new (o, "origin", json_string (v->origin)) == -1 ||
       json_object_set_new (o, "origin_missing",
                            json_boolean (v->origin_missing)) == -1))
    goto nomem;
  if (v->flatten_total == 0)
    return 0;
  f = pack (e, "{s:I, s:I}", "done", (json_int_t) v->flatten_done,
            "total", (json_int_t) v->flatten_total);
  if (f == NULL)
    return -1;
  if (v->flatten_error[0] != '\0' &&
      json_object_set_new (f, "error", json_string (v->flatten_error)) == -1)
    goto nomem;
  if (json_object_set_new (o, "flatten", f) == -1) {
    f = NULL;                   /* stolen, even on failure */
    goto nomem;
  }
  return 0;

 nomem:
  json_decref (f);
  fail_nomem (e);
  return -1;
}

/* "reclaim": {"done", "total", "queued", "freed_bytes"} while a
 * background reclaim of deleted snapshots runs (docs/protocol.md). */
static int
reclaim_member (json_t *o, const struct sv_volume_info *v, struct rpcerr *e)
{
  json_t *r;

  if (!v->reclaim_running)
    return 0;
  r = pack (e, "{s:I, s:I, s:I, s:I}",
            "done", (json_int_t) v->reclaim_done,
            "total", (json_int_t) v->reclaim_total,
            "queued", (json_int_t) v->reclaim_queued,
            "freed_bytes", (json_int_t) v->reclaim_run_freed);
  if (r == NULL)
    return -1;
  if (json_object_set_new (o, "reclaim", r) == -1) {
    fail_nomem (e);
    return -1;
  }
  return 0;
}

static json_t *
volume_json (const struct sv_volume_info *v, struct rpcerr *e)
{
  json_t *o = volume_json_base (v, e);

  if (o != NULL && (clone_members (o, v, e) == -1 ||
                    reclaim_member (o, v, e) == -1)) {
    json_decref (o);
    return NULL;
  }
  return o;
}

static json_t *
volume_json_base (const struct sv_volume_info *v, struct rpcerr *e)
{
  return pack (e,
               "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I,"
               " s:I, s:I, s:I, s:I, s:I, s:s, s:I}",
               "name", v->name,
               "uuid", v->uuid,
               "size", (json_int_t) v->size,
               "cluster_size", (json_int_t) v->cluster_size,
               "subcluster_size", (json_int_t) v->subcluster_size,
               "generation", (json_int_t) v->generation,
               "snapshots", (json_int_t) v->nsnapshots,
               "created", (json_int_t) v->created,
               "allocated_bytes", (json_int_t) v->allocated_bytes,
               "referenced_bytes", (json_int_t) v->referenced_bytes,
               "written_bytes", (json_int_t) v->written_bytes,
               "snapshot_bytes", (json_int_t) v->snapshot_bytes,
               "open_count", (json_int_t) v->open_count,
               "export", v->name,
               "used_bytes", (json_int_t) v->allocated_bytes);
}

/* A snapshot's holds: [{"tag": TAG, "expires": SECONDS or null}]. */
static json_t *
holds_json (const struct sv_snapshot_info *s, struct rpcerr *e)
{
  json_auto_t *holds = json_array ();
  size_t i;

  if (holds == NULL)
    return fail_nomem (e);
  for (i = 0; i < s->nholds; i++) {
    json_t *h = pack (e, "{s:s, s:o}", "tag", s->holds[i].tag, "expires",
                      s->holds[i].expires
                      ? json_integer ((json_int_t) s->holds[i].expires)
                      : json_null ());
    if (h == NULL || json_array_append_new (holds, h) == -1)
      return h ? fail_nomem (e) : NULL;
  }
  return json_incref (holds);
}

static json_t *
snapshot_json (const struct sv_snapshot_info *s, struct rpcerr *e)
{
  char export[EXPORT_NAME_MAX + 1];
  json_t *holds = holds_json (s, e);

  if (holds == NULL)
    return NULL;
  snprintf (export, sizeof export, "%s@%s", s->volume, s->id);
  return pack (e,
               "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
               " s:s, s:o}",
               "volume", s->volume,
               "id", s->id,
               "set_id", s->set_id,
               "label", s->label,
               "created", (json_int_t) s->created,
               "generation", (json_int_t) s->generation,
               "size", (json_int_t) s->size,
               "referenced_bytes", (json_int_t) s->referenced_bytes,
               "exclusive_bytes", (json_int_t) s->exclusive_bytes,
               "written_bytes", (json_int_t) s->written_bytes,
               "open_count", (json_int_t) s->open_count,
               "export", export,
               "holds", holds);
}

/* The result of snapshot.create and hold.commit. */
static json_t *
snapshot_set_json (const char *set_id, const struct sv_snap_result *res,
                   size_t n, struct rpcerr *e)
{
  json_auto_t *snapshots = json_array ();
  size_t i;

  if (snapshots == NULL)
    return fail_nomem (e);
  for (i = 0; i < n; i++) {
    char export[EXPORT_NAME_MAX + 1];
    json_t *s;

    snprintf (export, sizeof export, "%s@%s", res[i].volume, res[i].id);
    s = pack (e, "{s:s, s:s, s:s, s:I}",
              "volume", res[i].volume,
              "id", res[i].id,
              "export", export,
              "generation", (json_int_t) res[i].generation);
    if (s == NULL || json_array_append_new (snapshots, s) == -1)
      return s ? fail_nomem (e) : NULL;
  }
  return pack (e, "{s:s, s:O}", "set_id", set_id, "snapshots", snapshots);
}

/* Retention after a pin (docs/design.md, "Policies"): what it
 * deletes is logged and kept as events; a failure to apply it is
 * logged, and does not fail the pin that succeeded. */
static void
apply_retention (const struct rpc_context *ctx)
{
  if (pool_policy_apply (ctx->pool, NULL) == -1)
    nbdkit_error ("policy: retention after a snapshot: %s", sv_errmsg ());
}

/* Methods. */

typedef json_t *method_fn (const struct rpc_context *ctx, json_t *params,
                           struct rpcerr *e);

static const struct proto_param pool_info_params[] = {
  PROTO_END_PARAMS
};

static json_t *
pool_info (const struct rpc_context *ctx, json_t *params, struct rpcerr *e)
{
  return pack (e, "{s:s, s:s, s:I, s:I, s:s?}",
               "dir", ctx->dir,
               "version", PACKAGE_VERSION,
               "default_cluster_size", (json_int_t) ctx->default_cluster_size,
               "volumes", (json_int_t) pool_volume_count (ctx->pool),
               "nbd_uri", ctx->nbd_uri);
}

/* The volume object of NAME. */
static json_t *
describe_volume (const struct rpc_context *ctx, const char *name,
                 struct rpcerr *e)
{
  CLEANUP_FREE struct sv_volume_info *info = NULL;
  size_t n;

  if (pool_volume_list (ctx->pool, name, &info, &n) == -1)
    return fail_engine (e);
  if (n != 1) {
    rpcerr_errno (e, ENOENT,
                  "volume %s was deleted while it was being described", name);
    return NULL;
  }
  return volume_json (&info[0], e);
}

static const struct proto_param volume_create_params[] = {
  NAME_PARAM ("name", true),
  { "size", PROTO_INT, true, 1, INT64_MAX },
  { "cluster_size", PROTO_INT, false, SV_CLUSTER_MIN, SV_CLUSTER_MAX },
  PROTO_END_PARAMS
};

static json_t *
volume_create (const struct rpc_context *ctx, json_t *params,
               struct rpcerr *e)
{
  const char *name = get_string (params, "name");
  /* Both were range-checked by validate_params. */
  uint64_t size = get_int (params, "size", 0);
  uint32_t cluster_size = (uint32_t) get_int (params, "cluster_size", 0);

  if (pool_volume_create (ctx->pool, name, size, cluster_size) == -1)
    return fail_engine (e);
  return describe_volume (ctx, name, e);
}

static const struct proto_param volume_clone_params[] = {
  { "origin", PROTO_STRING, true, 1, SV_ORIGIN_MAX },
  NAME_PARAM ("name", true),
  PROTO_END_PARAMS
};

/* A writable clone of a snapshot: the new volume's object. */
static json_t *
volume_clone (const struct rpc_context *ctx, json_t *params,
              struct rpcerr *e)
{
  const char *name = get_string (params, "name");

  if (pool_volume_clone (ctx->pool, get_string (params, "origin"),
                         name) == -1)
    return fail_engine (e);
  return describe_volume (ctx, name, e);
}

static const struct proto_param volume_flatten_params[] = {
  NAME_PARAM ("name", true),
  PROTO_END_PARAMS
};

/* Start a flatten: the volume's object, with its progress. */
static json_t *
volume_flatten (const struct rpc_context *ctx, json_t *params,
                struct rpcerr *e)
{
  const char *name = get_string (params, "name");

  if (pool_volume_flatten (ctx->pool, name) == -1)
    return fail_engine (e);
  return describe_volume (ctx, name, e);
}

static const struct proto_param volume_list_params[] = {
  NAME_PARAM ("name", false),
  PROTO_END_PARAMS
};

static json_t *
volume_list (const struct rpc_context *ctx, json_t *params,
             struct rpcerr *e)
{
  CLEANUP_FREE struct sv_volume_info *info = NULL;
  json_auto_t *list = json_array ();
  size_t n, i;

  if (list == NULL)
    return fail_nomem (e);
  if (pool_volume_list (ctx->pool, get_string (params, "name"),
                        &info, &n) == -1)
    return fail_engine (e);
  for (i = 0; i < n; i++) {
    json_t *v = volume_json (&info[i], e);

    if (v == NULL || json_array_append_new (list, v) == -1)
      return v ? fail_nomem (e) : NULL;
  }
  return json_incref (list);
}

static const struct proto_param volume_delete_params[] = {
  NAME_PARAM ("name", true),
  PROTO_END_PARAMS
};

static json_t *
volume_delete (const struct rpc_context *ctx, json_t *params,
               struct rpcerr *e)
{
  const char *name = get_string (params, "name");

  if (pool_volume_delete (ctx->pool, name) == -1)
    return fail_engine (e);
  return pack (e, "{s:s}", "name", name);
}

static const struct proto_param snapshot_create_params[] = {
  { "volumes", PROTO_NAMES, true, 1, PROTO_SET_VOLUMES_MAX },
  LABEL_PARAM,
  { "set_id", PROTO_UUID, false, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
snapshot_create (const struct rpc_context *ctx, json_t *params,
                 struct rpcerr *e)
{
  CLEANUP_FREE const char **volumes = NULL;
  CLEANUP_FREE struct sv_snap_result *res = NULL;
  char set_id[UUID_STRLEN + 1], set_id_out[SV_UUID_STRLEN + 1];
  bool have_set_id;
  struct uuid u;
  size_t n;

  volumes = get_names (params, "volumes", &n);
  res = calloc (n, sizeof *res);
  if (volumes == NULL || res == NULL)
    return fail_nomem (e);
  have_set_id = get_uuid (params, "set_id", set_id, &u);
  if (pool_snapshot_create (ctx->pool, volumes, n,
                            get_string (params, "label"),
                            have_set_id ? set_id : NULL,
                            set_id_out, res) == -1)
    return fail_engine (e);
  apply_retention (ctx);
  return snapshot_set_json (set_id_out, res, n, e);
}

static const struct proto_param snapshot_list_params[] = {
  NAME_PARAM ("volume", false),
  PROTO_END_PARAMS
};

static json_t *
snapshot_list (const struct rpc_context *ctx, json_t *params,
               struct rpcerr *e)
{
  CLEANUP_FREE struct sv_snapshot_info *info = NULL;
  json_auto_t *list = json_array ();
  size_t n, i;

  if (list == NULL)
    return fail_nomem (e);
  if (pool_snapshot_list (ctx->pool, get_string (params, "volume"),
                          &info, &n) == -1)
    return fail_engine (e);
  for (i = 0; i < n; i++) {
    json_t *s = snapshot_json (&info[i], e);

    if (s == NULL || json_array_append_new (list, s) == -1)
      return s ? fail_nomem (e) : NULL;
  }
  return json_incref (list);
}

static const struct proto_param snapshot_delete_params[] = {
  { "id", PROTO_UUID, true, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
snapshot_delete (const struct rpc_context *ctx, json_t *params,
                 struct rpcerr *e)
{
  char id[UUID_STRLEN + 1];
  size_t deleted = 0;
  struct uuid u;

  get_uuid (params, "id", id, &u);
  if (pool_snapshot_delete (ctx->pool, id, &deleted) == -1)
    return fail_engine (e);
  return pack (e, "{s:s, s:I}", "id", id, "deleted", (json_int_t) deleted);
}

static const struct proto_param snapshot_hold_params[] = {
  { "id", PROTO_UUID, true, 0, 0 },
  { "tag", PROTO_TAG, true, 0, 0 },
  { "expires_in", PROTO_INT, false, 1, PROTO_HOLD_EXPIRES_MAX_S },
  PROTO_END_PARAMS
};

static json_t *
snapshot_hold (const struct rpc_context *ctx, json_t *params,
               struct rpcerr *e)
{
  const char *tag = get_string (params, "tag");
  json_int_t expires_in = get_int (params, "expires_in", 0);
  char id[UUID_STRLEN + 1];
  struct uuid u;
  int n;

  get_uuid (params, "id", id, &u);
  n = pool_snapshot_hold (ctx->pool, id, tag, expires_in
                          ? (uint64_t) time (NULL) + (uint64_t) expires_in
                          : 0);
  if (n == -1)
    return fail_engine (e);
  return pack (e, "{s:s, s:s, s:i}", "id", id, "tag", tag, "held", n);
}

static const struct proto_param snapshot_release_params[] = {
  { "id", PROTO_UUID, true, 0, 0 },
  { "tag", PROTO_TAG, true, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
snapshot_release (const struct rpc_context *ctx, json_t *params,
                  struct rpcerr *e)
{
  const char *tag = get_string (params, "tag");
  char id[UUID_STRLEN + 1];
  struct uuid u;
  int n;

  get_uuid (params, "id", id, &u);
  n = pool_snapshot_release (ctx->pool, id, tag);
  if (n == -1)
    return fail_engine (e);
  return pack (e, "{s:s, s:s, s:i}", "id", id, "tag", tag, "released", n);
}

static const struct proto_param hold_begin_params[] = {
  { "volumes", PROTO_NAMES, true, 1, PROTO_SET_VOLUMES_MAX },
  { "timeout_ms", PROTO_INT, false, 1, PROTO_HOLD_TIMEOUT_MAX_MS },
  { "wait_ms", PROTO_INT, false, 0, PROTO_HOLD_WAIT_MAX_MS },
  { "set_id", PROTO_UUID, false, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
hold_begin (const struct rpc_context *ctx, json_t *params,
            struct rpcerr *e)
{
  CLEANUP_FREE const char **volumes = NULL;
  unsigned timeout_ms =
    (unsigned) get_int (params, "timeout_ms", HOLD_TIMEOUT_DEFAULT);
  unsigned wait_ms = (unsigned) get_int (params, "wait_ms", HOLD_WAIT_DEFAULT);
  char id[UUID_STRLEN + 1], set_id[UUID_STRLEN + 1];
  struct uuid set_uuid;
  bool for_set = get_uuid (params, "set_id", set_id, &set_uuid);
  struct sv_hold *hold;
  size_t n;

  volumes = get_names (params, "volumes", &n);
  if (volumes == NULL)
    return fail_nomem (e);
  hold = pool_hold (ctx->pool, volumes, n, wait_ms);
  if (hold == NULL)
    return fail_engine (e);
  /* The lease starts once the writes are drained, so the caller gets
   * all of timeout_ms to reach its commit. */
  if (holds_add (ctx->holds, hold, n, timeout_ms,
                 for_set ? &set_uuid : NULL, id) == -1) {
    int err = errno;

    rpcerr_errno (e, err, "cannot record the hold: %s", strerror (err));
    return NULL;
  }
  return pack (e, "{s:s, s:O, s:I}",
               "hold_id", id,
               "volumes", json_object_get (params, "volumes"),
               "expires_in_ms", (json_int_t) timeout_ms);
}

/* Take the active hold HOLD_ID (UUID) for hold.commit or hold.revert,
 * which end it: 0 with *HOLD and its volumes' count in *N, or -1 with
 * E saying why not (an expired hold: nothing was VERB). */
static int
take_hold (const struct rpc_context *ctx, const struct uuid *uuid,
           const char *hold_id, const char *verb, struct sv_hold **hold,
           size_t *n, struct rpcerr *e)
{
  switch (holds_take (ctx->holds, uuid, hold, n)) {
  case HOLD_ACTIVE:
    return 0;
  case HOLD_EXPIRED:
    return rpcerr_set (e, SV_RPC_EXPIRED, "hold %s expired before it was "
                       "committed: nothing was %s", hold_id, verb);
  case HOLD_COMMITTED:
    return rpcerr_set (e, SV_RPC_NOT_FOUND, "hold %s was already "
                       "committed", hold_id);
  case HOLD_RELEASED:
    return rpcerr_set (e, SV_RPC_NOT_FOUND, "hold %s was released",
                       hold_id);
  case HOLD_UNKNOWN:
  default:
    return rpcerr_set (e, SV_RPC_NOT_FOUND, "no hold %s", hold_id);
  }
}

static const struct proto_param hold_commit_params[] = {
  { "hold_id", PROTO_UUID, true, 0, 0 },
  { "set_id", PROTO_UUID, true, 0, 0 },
  LABEL_PARAM,
  PROTO_END_PARAMS
};

static json_t *
hold_commit (const struct rpc_context *ctx, json_t *params,
             struct rpcerr *e)
{
  CLEANUP_FREE struct sv_snap_result *res = NULL;
  char hold_id[UUID_STRLEN + 1], set_id[UUID_STRLEN + 1];
  struct sv_hold *hold = NULL;
  struct uuid hold_uuid, set_uuid;
  size_t n = 0;

  get_uuid (params, "hold_id", hold_id, &hold_uuid);
  get_uuid (params, "set_id", set_id, &set_uuid);
  if (take_hold (ctx, &hold_uuid, hold_id, "pinned", &hold, &n, e) == -1)
    return NULL;

  /* From here this function owns the hold and must end it. */
  res = calloc (n, sizeof *res);
  if (res == NULL) {
    pool_hold_release (ctx->pool, hold);
    return fail_nomem (e);
  }
  if (pool_hold_commit (ctx->pool, hold, set_id,
                        get_string (params, "label"), res) == -1)
    return fail_engine (e);
  apply_retention (ctx);
  return snapshot_set_json (set_id, res, n, e);
}

static const struct proto_param hold_release_params[] = {
  { "hold_id", PROTO_UUID, false, 0, 0 },
  { "set_id", PROTO_UUID, false, 0, 0 },
  PROTO_END_PARAMS
};

/* Idempotent: releasing a hold that already ended, or one this
 * process never knew (it may predate a restart), answers false.  With
 * set_id instead of hold_id, every active hold taken for that set is
 * released: what a coordinator does when hold.begin missed its
 * deadline and the hold id never reached it. */
static json_t *
hold_release (const struct rpc_context *ctx, json_t *params,
              struct rpcerr *e)
{
  bool by_hold = json_object_get (params, "hold_id") != NULL;
  bool by_set = json_object_get (params, "set_id") != NULL;
  char id[UUID_STRLEN + 1];
  struct uuid u;
  bool released;

  if (by_hold == by_set) {
    rpcerr_set (e, JSONRPC_INVALID_PARAMS, "give either 'hold_id' or "
                "'set_id'");
    return NULL;
  }
  get_uuid (params, by_hold ? "hold_id" : "set_id", id, &u);
  if (by_hold)
    released = holds_release (ctx->holds, &u) == HOLD_ACTIVE;
  else
    released = holds_release_set (ctx->holds, &u) > 0;
  return pack (e, "{s:b}", "released", released);
}

/* snapshot.diff: one page of the changed ranges, the parameters
 * checked by the protocol's table (common/proto.c). */

struct diff_page {
  json_t *ranges;
};

static int
add_range (uint64_t offset, uint64_t length, enum sv_diff_kind kind,
           void *opaque)
{
  struct diff_page *pg = opaque;
  json_t *r = json_pack ("{s:I, s:I, s:s}",
                         "offset", (json_int_t) offset,
                         "length", (json_int_t) length,
                         "kind", kind == SV_DIFF_ZERO ? "zero" : "data");

  if (r == NULL || json_array_append_new (pg->ranges, r) == -1) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

static json_t *
snapshot_diff (const struct rpc_context *ctx, json_t *params,
               struct rpcerr *e)
{
  const char *volume = get_string (params, "volume");
  char from[UUID_STRLEN + 1], to[UUID_STRLEN + 1];
  bool have_to;
  struct uuid u;
  json_int_t max = get_int (params, "max_ranges", PROTO_DIFF_RANGES_DEFAULT);
  uint64_t cursor = (uint64_t) get_int (params, "cursor", 0), next;
  struct sv_diff_info info;
  json_auto_t *ranges = json_array ();
  struct diff_page pg = { ranges };

  if (ranges == NULL)
    return fail_nomem (e);
  get_uuid (params, "from", from, &u);
  have_to = get_uuid (params, "to", to, &u);
  if (max > PROTO_DIFF_RANGES_PER_ANSWER)
    max = PROTO_DIFF_RANGES_PER_ANSWER;
  if (pool_snapshot_diff_info (ctx->pool, volume, from, have_to ? to : NULL,
                               cursor, &info) == -1 ||
      pool_snapshot_diff (ctx->pool, volume, from, have_to ? to : NULL,
                          cursor, (size_t) max, add_range, &pg, &next) == -1)
    return fail_engine (e);
  return pack (e, "{s:s, s:s, s:s?, s:I, s:I, s:O, s:o}",
               "volume", volume,
               "from", from,
               "to", have_to ? to : NULL,
               "size", (json_int_t) info.size,
               "granularity", (json_int_t) info.granularity,
               "ranges", ranges,
               "next", next == UINT64_MAX ? json_null ()
               : json_integer ((json_int_t) next));
}

/* The optional boolean FORCE of a revert: 0 or 1 into *FORCE, or -1
 * with the error set. */
static int
get_force (json_t *params, int *force, struct rpcerr *e)
{
  json_t *f = json_object_get (params, "force");

  *force = 0;
  if (f == NULL)
    return 0;
  if (!json_is_boolean (f))
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS,
                       "'force' must be true or false");
  *force = json_is_true (f);
  return 0;
}

static json_t *
revert_json (const struct sv_revert_result *res, size_t n, struct rpcerr *e)
{
  json_t *list = json_array ();
  size_t i;

  if (list == NULL)
    return fail_nomem (e);
  for (i = 0; i < n; i++) {
    json_t *v = pack (e, "{s:s, s:s, s:I, s:I}",
                      "volume", res[i].volume,
                      "snapshot", res[i].snapshot,
                      "generation", (json_int_t) res[i].generation,
                      "parent_generation", (json_int_t) res[i].parent);
    if (v == NULL || json_array_append_new (list, v) == -1) {
      json_decref (list);
      return v ? fail_nomem (e) : NULL;
    }
  }
  return list;
}

static const struct proto_param volume_revert_params[] = {
  NAME_PARAM ("name", true),
  { "snapshot", PROTO_UUID, true, 0, 0 },
  { "force", PROTO_ANY, false, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
volume_revert (const struct rpc_context *ctx, json_t *params,
               struct rpcerr *e)
{
  char id[UUID_STRLEN + 1];
  struct sv_revert_result res;
  struct uuid u;
  int force;
  json_t *list;

  if (get_force (params, &force, e) == -1)
    return NULL;
  get_uuid (params, "snapshot", id, &u);
  if (pool_volume_revert (ctx->pool, get_string (params, "name"), id, force,
                          &res) == -1)
    return fail_engine (e);
  list = revert_json (&res, 1, e);
  if (list == NULL)
    return NULL;
  return pack (e, "{s:o}", "reverted", list);
}

static const struct proto_param hold_revert_params[] = {
  { "hold_id", PROTO_UUID, true, 0, 0 },
  { "set_id", PROTO_UUID, true, 0, 0 },
  { "force", PROTO_ANY, false, 0, 0 },
  { "undo_set_id", PROTO_UUID, false, 0, 0 },
  PROTO_END_PARAMS
};

/* The revert variant of hold.commit: every held volume reverted to its
 * snapshot of the set SET_ID, all or none (pool_hold_revert); with
 * UNDO_SET_ID, what each volume held before is pinned as that set in
 * the same step, for revert.undo. */
static json_t *
hold_revert (const struct rpc_context *ctx, json_t *params,
             struct rpcerr *e)
{
  CLEANUP_FREE struct sv_revert_result *res = NULL;
  CLEANUP_FREE const char **ids = NULL;
  char hold_id[UUID_STRLEN + 1], set_id[UUID_STRLEN + 1];
  char undo_id[UUID_STRLEN + 1];
  struct sv_hold *hold = NULL;
  struct uuid hold_uuid, set_uuid, undo_uuid;
  const char *undo = NULL;
  size_t n = 0, i;
  int force;
  json_t *list;

  if (get_force (params, &force, e) == -1)
    return NULL;
  get_uuid (params, "hold_id", hold_id, &hold_uuid);
  get_uuid (params, "set_id", set_id, &set_uuid);
  if (get_uuid (params, "undo_set_id", undo_id, &undo_uuid))
    undo = undo_id;
  if (take_hold (ctx, &hold_uuid, hold_id, "reverted", &hold, &n, e) == -1)
    return NULL;

  /* From here this function owns the hold and must end it. */
  res = calloc (n, sizeof *res);
  ids = calloc (n, sizeof *ids);
  if (res == NULL || ids == NULL) {
    pool_hold_release (ctx->pool, hold);
    return fail_nomem (e);
  }
  for (i = 0; i < n; i++)
    ids[i] = set_id;
  if (pool_hold_revert (ctx->pool, hold, ids, force, undo, res) == -1)
    return fail_engine (e);
  list = revert_json (res, n, e);
  if (list == NULL)
    return NULL;
  return pack (e, "{s:s, s:o}", "set_id", set_id, "reverted", list);
}

/* policy.get, policy.set, policy.events. */

static const char *const on_full_names[] = {
  [SV_ON_FULL_FAIL] = "fail",
  [SV_ON_FULL_DELETE_OLDEST] = "delete-oldest",
};

static json_t *
policy_json (const struct rpc_context *ctx, const char *volume,
             struct rpcerr *e)
{
  struct sv_policy p;
  int own = 0;
  json_t *o;

  if (pool_policy_get (ctx->pool, volume, &p, &own) == -1)
    return fail_engine (e);
  o = pack (e, "{s:s*, s:s, s:{s:I, s:I, s:I, s:I}}",
            "volume", volume,
            "retention_from", volume && own ? "volume" : "pool",
            "retention",
            "keep_last", (json_int_t) p.retention.keep_last,
            "keep_younger", (json_int_t) p.retention.keep_younger,
            "keep_daily", (json_int_t) p.retention.keep_daily,
            "keep_weekly", (json_int_t) p.retention.keep_weekly);
  if (o == NULL || volume != NULL)
    return o;
  if (json_object_set_new (o, "space", json_pack
                           ("{s:I, s:I, s:s, s:I}",
                            "limit", (json_int_t) p.space_limit,
                            "reserve", (json_int_t) p.space_reserve,
                            "on_full", on_full_names[p.on_full],
                            "used", (json_int_t)
                            pool_space_used (ctx->pool))) == -1) {
    json_decref (o);
    return fail_nomem (e);
  }
  return o;
}

static const struct proto_param policy_get_params[] = {
  { "volume", PROTO_NAME, false, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
policy_get (const struct rpc_context *ctx, json_t *params, struct rpcerr *e)
{
  return policy_json (ctx, get_string (params, "volume"), e);
}

static const struct proto_param policy_set_params[] = {
  { "volume", PROTO_NAME, false, 0, 0 },
  { "keep_last", PROTO_INT, false, 0, PROTO_KEEP_MAX },
  { "keep_younger", PROTO_INT, false, 0, PROTO_KEEP_YOUNGER_MAX_S },
  { "keep_daily", PROTO_INT, false, 0, PROTO_KEEP_MAX },
  { "keep_weekly", PROTO_INT, false, 0, PROTO_KEEP_MAX },
  { "space_limit", PROTO_INT, false, 0, INT64_MAX },
  { "space_reserve", PROTO_INT, false, 0, INT64_MAX },
  { "on_full", PROTO_STRING, false, 1, 32 },
  PROTO_END_PARAMS
};

/* The members of policy.set that VOLUME may not have (space is per
 * pool), and ON_FULL's value: 0, or -1 with E filled. */
static int
check_policy_set (json_t *params, const char *volume, int *on_full,
                  struct rpcerr *e)
{
  static const char *const pool_only[] = { "space_limit", "space_reserve",
                                           "on_full" };
  const char *of = get_string (params, "on_full");
  size_t i;

  for (i = 0; volume && i < sizeof pool_only / sizeof pool_only[0]; i++)
    if (json_object_get (params, pool_only[i]))
      return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'%s' cannot be given "
                         "with 'volume': the space policy is the pool's",
                         pool_only[i]);
  *on_full = -1;
  for (i = 0; of && i < sizeof on_full_names / sizeof on_full_names[0]; i++)
    if (strcmp (of, on_full_names[i]) == 0)
      *on_full = (int) i;
  if (of && *on_full == -1)
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'on_full' must be \"fail\""
                       " or \"delete-oldest\", not \"%.32s\"", of);
  return 0;
}

static json_t *
policy_set (const struct rpc_context *ctx, json_t *params, struct rpcerr *e)
{
  const char *volume = get_string (params, "volume");
  struct sv_policy p;
  int own = 0, on_full;

  if (check_policy_set (params, volume, &on_full, e) == -1)
    return NULL;
  if (pool_policy_get (ctx->pool, volume, &p, &own) == -1)
    return fail_engine (e);
  /* A volume's own rules start empty, not as a copy of the pool's. */
  if (volume && !own)
    memset (&p.retention, 0, sizeof p.retention);
  if (volume)
    p.space_limit = p.space_reserve = 0, p.on_full = SV_ON_FULL_FAIL;
  p.retention.keep_last = get_int (params, "keep_last",
                                   p.retention.keep_last);
  p.retention.keep_younger = get_int (params, "keep_younger",
                                      p.retention.keep_younger);
  p.retention.keep_daily = get_int (params, "keep_daily",
                                    p.retention.keep_daily);
  p.retention.keep_weekly = get_int (params, "keep_weekly",
                                     p.retention.keep_weekly);
  p.space_limit = get_int (params, "space_limit", p.space_limit);
  p.space_reserve = get_int (params, "space_reserve", p.space_reserve);
  if (on_full != -1)
    p.on_full = on_full;
  if (pool_policy_set (ctx->pool, volume, &p) == -1)
    return fail_engine (e);
  apply_retention (ctx);
  return policy_json (ctx, volume, e);
}

static const struct proto_param policy_events_params[] = {
  PROTO_END_PARAMS
};

/* The policy events, oldest first. */
static json_t *
policy_events (const struct rpc_context *ctx, json_t *params,
               struct rpcerr *e)
{
  CLEANUP_FREE struct sv_policy_event *ev = NULL;
  json_auto_t *list = json_array ();
  size_t n, i;

  if (list == NULL)
    return fail_nomem (e);
  if (pool_policy_events (ctx->pool, &ev, &n) == -1)
    return fail_engine (e);
  for (i = 0; i < n; i++) {
    json_t *o = pack (e, "{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:s}",
                      "seq", (json_int_t) ev[i].seq,
                      "time", (json_int_t) ev[i].time,
                      "action", ev[i].action,
                      "policy", ev[i].policy,
                      "volume", ev[i].volume,
                      "id", ev[i].id,
                      "set_id", ev[i].set_id,
                      "created", (json_int_t) ev[i].created,
                      "reason", ev[i].reason);
    if (o == NULL || json_array_append_new (list, o) == -1)
      return o ? fail_nomem (e) : NULL;
  }
  return json_incref (list);
}

static const struct proto_param revert_undo_params[] = {
  { "undo_set_id", PROTO_UUID, true, 0, 0 },
  PROTO_END_PARAMS
};

/* Bring back the volumes an undoable hold.revert reverted
 * (pool_revert_undo), then delete the undo set: the volumes are back
 * whether or not that works (a snapshot of it open), so a failed
 * deletion is "deleted": 0, for the coordinator to retry. */
static json_t *
revert_undo (const struct rpc_context *ctx, json_t *params,
             struct rpcerr *e)
{
  CLEANUP_FREE struct sv_revert_result *res = NULL;
  char undo_id[UUID_STRLEN + 1];
  struct uuid u;
  size_t n, deleted;
  json_t *list;

  get_uuid (params, "undo_set_id", undo_id, &u);
  if (pool_revert_undo (ctx->pool, undo_id, &res, &n) == -1)
    return fail_engine (e);
  if (pool_snapshot_delete (ctx->pool, undo_id, &deleted) == -1)
    deleted = 0;
  list = revert_json (res, n, e);
  if (list == NULL)
    return NULL;
  return pack (e, "{s:s, s:o, s:I}", "undo_set_id", undo_id,
               "reverted", list, "deleted", (json_int_t) deleted);
}

static const struct method {
  const char *name;
  const struct proto_param *params;
  method_fn *fn;
} methods[] = {
  { "pool.info", pool_info_params, pool_info },
  { "volume.create", volume_create_params, volume_create },
  { "volume.list", volume_list_params, volume_list },
  { "volume.delete", volume_delete_params, volume_delete },
  { "volume.revert", volume_revert_params, volume_revert },
  { "volume.clone", volume_clone_params, volume_clone },
  { "volume.flatten", volume_flatten_params, volume_flatten },
  { "snapshot.create", snapshot_create_params, snapshot_create },
  { "snapshot.list", snapshot_list_params, snapshot_list },
  { "snapshot.delete", snapshot_delete_params, snapshot_delete },
  { "snapshot.diff", proto_snapshot_diff_params, snapshot_diff },
  { "snapshot.hold", snapshot_hold_params, snapshot_hold },
  { "snapshot.release", snapshot_release_params, snapshot_release },
  { "hold.begin", hold_begin_params, hold_begin },
  { "hold.commit", hold_commit_params, hold_commit },
  { "hold.revert", hold_revert_params, hold_revert },
  { "revert.undo", revert_undo_params, revert_undo },
  { "hold.release", hold_release_params, hold_release },
  { "policy.get", policy_get_params, policy_get },
  { "policy.set", policy_set_params, policy_set },
  { "policy.events", policy_events_params, policy_events },
};

json_t *
rpc_call (const struct rpc_context *ctx, json_t *id, const char *method,
          json_t *params)
{
  struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
  const struct method *m = NULL;
  json_t *result = NULL;
  size_t i;

  for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strcmp (methods[i].name, method) == 0)
      m = &methods[i];
  if (m == NULL) {
    rpcerr_unknown_method (&e, method);
    return rpcerr_response (id, &e);
  }

  if (validate_params (params, m->params, &e) == 0)
    result = m->fn (ctx, params, &e);
  if (result != NULL)
    return jsonrpc_result (id, result);
  return rpcerr_response (id, &e);
}
