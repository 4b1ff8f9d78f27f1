/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * methods.c: the methods peers call on the coordinator, each a small
 * function over validated parameters (docs/protocol.md, Part 2).
 *
 * Deny by default: every method names the roles that may call it, and
 * a method absent from the table does not exist.  The checks run in a
 * fixed order -- the method exists, the caller's roles allow it, the
 * parameters fit its table -- so a peer learns nothing about the
 * parameters of a method it may not call.
 */

#include <config.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "committed.h"
#include "conf.h"
#include "election.h"
#include "jsonrpc.h"
#include "methods.h"
#include "params.h"
#include "registry.h"
#include "roles.h"
#include "set.h"
#include "status.h"

struct call_ctx {
  struct coord *co;
  struct conn *c;
  json_t *params;
  struct reply_token tok;
  struct rpcerr *e;
  bool *deferred;
};

typedef json_t *method_fn (struct call_ctx *x);

static json_t *
fail_out_of_memory (struct call_ctx *x)
{
  rpcerr_nomem (x->e);
  return NULL;
}

/* A result built by the caller, or out of memory. */
static json_t *
result_or_nomem (struct call_ctx *x, json_t *r)
{
  return r ? r : fail_out_of_memory (x);
}

static const char *
param_string (json_t *params, const char *member)
{
  return json_string_value (json_object_get (params, member));
}

/* ping */

static const struct proto_param no_params[] = {
  PROTO_END_PARAMS
};

static json_t *
m_ping (struct call_ctx *x)
{
  return result_or_nomem (x, json_pack ("{s:I}", "time",
                                        (json_int_t) time (NULL)));
}

/* provider.register, writer.register */

static const struct proto_param provider_register_params[] = {
  { "name", PROTO_NAME, true, 0, 0 },
  { "nbd_uri", PROTO_STRING, true, 1, 1024 },
  { "volumes", PROTO_ANY, true, 0, 0 },
  { "version", PROTO_STRING, false, 0, 256 },
  PROTO_END_PARAMS
};

static bool
valid_nbd_uri (const char *uri)
{
  static const char *const schemes[] = {
    "nbd://", "nbds://", "nbd+unix://", "nbds+unix://", NULL
  };
  const char *const *s;
  const unsigned char *p;

  for (p = (const unsigned char *) uri; *p; p++)
    if (*p <= ' ' || *p >= 0x7f)
      return false;
  for (s = schemes; *s; s++)
    if (strncmp (uri, *s, strlen (*s)) == 0)
      return true;
  return false;
}

/* The result of provider.register and writer.register: the heartbeat,
 * and the term when there is one, so that a peer learns a new leader's
 * term as soon as it registers (docs/protocol.md, "Terms"). */
static json_t *
registered_result (struct call_ctx *x)
{
  json_t *result = json_pack ("{s:I}", "heartbeat_ms",
                              (json_int_t) x->co->conf->heartbeat_ms);

  if (result != NULL && x->co->term > 0 &&
      json_object_set_new (result, "term",
                           json_integer ((json_int_t) x->co->term)) == -1) {
    json_decref (result);
    result = NULL;
  }
  return result_or_nomem (x, result);
}

static json_t *
m_provider_register (struct call_ctx *x)
{
  if (!valid_nbd_uri (param_string (x->params, "nbd_uri"))) {
    rpcerr_set (x->e, JSONRPC_INVALID_PARAMS, "'nbd_uri': '%.256s' is not an "
                "nbd://, nbds://, nbd+unix:// or nbds+unix:// URI without "
                "blanks", param_string (x->params, "nbd_uri"));
    return NULL;
  }
  if (registry_register_provider (x->co->reg, x->c, x->params, x->e) == -1)
    return NULL;
  return registered_result (x);
}

static const struct proto_param writer_register_params[] = {
  { "name", PROTO_WRITER_NAME, true, 0, 0 },
  { "volumes", PROTO_ANY, true, 0, 0 },
  { "freeze_timeout_ms", PROTO_INT, false, PROTO_FREEZE_TIMEOUT_MIN_MS,
    PROTO_FREEZE_TIMEOUT_MAX_MS },
  PROTO_END_PARAMS
};

static json_t *
m_writer_register (struct call_ctx *x)
{
  if (registry_register_writer (x->co->reg, x->c, x->params, x->e) == -1)
    return NULL;
  return registered_result (x);
}

/* set.* */

static const struct proto_param set_create_params[] = {
  { "volumes", PROTO_ANY, true, 0, 0 },
  { "writers", PROTO_ANY, false, 0, 0 },
  { "label", PROTO_LABEL, false, 0, 0 },
  { "freeze_window_ms", PROTO_INT, false, PROTO_FREEZE_WINDOW_MIN_MS,
    PROTO_FREEZE_WINDOW_MAX_MS },
  { "hold_timeout_ms", PROTO_INT, false, 1, PROTO_HOLD_TIMEOUT_MAX_MS },
  PROTO_END_PARAMS
};

static int
check_writers (json_t *v, struct rpcerr *e)
{
  size_t i, j;
  json_t *w;

  if (json_is_string (v)) {
    if (strcmp (json_string_value (v), "auto") == 0 ||
        strcmp (json_string_value (v), "none") == 0)
      return 0;
  }
  else if (json_is_array (v) &&
           json_array_size (v) <= PROTO_SET_VOLUMES_MAX) {
    json_array_foreach (v, i, w) {
      if (!json_is_string (w) ||
          strlen (json_string_value (w)) != json_string_length (w) ||
          !proto_is_writer_name (json_string_value (w)))
        return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'writers[%zu]' is not "
                           "a writer name", i);
      for (j = 0; j < i; j++)
        if (json_equal (w, json_array_get (v, j)))
          return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'writers' names "
                             "writer '%s' twice", json_string_value (w));
    }
    return 0;
  }
  return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'writers' must be \"auto\", "
                     "\"none\" or an array of writer names");
}

/* The configured freeze-window and hold-timeout are the defaults and
 * also the maxima: an admin bounds how long a requester may keep
 * applications frozen and writes held.  A requester may ask for less. */
static int
check_limit (json_t *params, const char *member, const char *directive,
             unsigned max_ms, struct rpcerr *e)
{
  json_t *v = json_object_get (params, member);

  if (v != NULL && json_integer_value (v) > (json_int_t) max_ms)
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'%s': %lld is more than "
                       "the coordinator's %s of %u ms", member,
                       (long long) json_integer_value (v), directive, max_ms);
  return 0;
}

static json_t *
m_set_create (struct call_ctx *x)
{
  const struct config *conf = x->co->conf;
  json_t *volumes = json_object_get (x->params, "volumes");
  json_t *writers = json_object_get (x->params, "writers");

  if (check_limit (x->params, "freeze_window_ms", "freeze-window",
                   conf->freeze_window_ms, x->e) == -1 ||
      check_limit (x->params, "hold_timeout_ms", "hold-timeout",
                   conf->hold_timeout_ms, x->e) == -1)
    return NULL;

  if (json_is_string (volumes)) {
    if (strcmp (json_string_value (volumes), "all") != 0) {
      rpcerr_set (x->e, JSONRPC_INVALID_PARAMS, "'volumes' must be \"all\" or "
                  "an array of \"PROVIDER/VOLUME\" strings");
      return NULL;
    }
  }
  else if (params_check_pv_array ("volumes", volumes, 1,
                                  PROTO_SET_VOLUMES_MAX, x->e) == -1)
    return NULL;
  if (writers != NULL && check_writers (writers, x->e) == -1)
    return NULL;
  if (sets_create (x->co->sets, x->params, x->tok, x->e) == -1)
    return NULL;
  *x->deferred = true;
  return NULL;
}

static const struct proto_param set_list_params[] = {
  { "state", PROTO_STRING, false, 1, 16 },
  PROTO_END_PARAMS
};

static json_t *
m_set_list (struct call_ctx *x)
{
  static const char *const states[] = {
    "preparing", "freezing", "holding", "committing", "thawing", "aborting",
    "committed", "failed", NULL
  };
  const char *state = param_string (x->params, "state");
  const char *const *s;
  json_t *list;

  if (state != NULL) {
    for (s = states; *s; s++)
      if (strcmp (*s, state) == 0)
        break;
    if (*s == NULL) {
      rpcerr_set (x->e, JSONRPC_INVALID_PARAMS, "'state': unknown state '%s'",
                  state);
      return NULL;
    }
  }
  list = catalog_set_list (x->co->cat, state);
  if (list == NULL)
    rpcerr_set (x->e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (x->co->cat));
  return list;
}

static const struct proto_param set_id_params[] = {
  { "set_id", PROTO_UUID, true, 0, 0 },
  PROTO_END_PARAMS
};

/* The set_id parameter in lower case. */
static void
set_id_param (struct call_ctx *x, char out[UUID_STRLEN + 1])
{
  struct uuid u;

  uuid_parse (param_string (x->params, "set_id"), &u);
  uuid_format (&u, out);
}

static json_t *
m_set_get (struct call_ctx *x)
{
  char id[UUID_STRLEN + 1];
  json_t *set;

  set_id_param (x, id);
  set = catalog_set_get (x->co->cat, id, true);
  if (set == NULL) {
    if (errno == ENOENT)
      rpcerr_set (x->e, SV_RPC_NOT_FOUND, "no snapshot set %s", id);
    else
      rpcerr_set (x->e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (x->co->cat));
  }
  return set;
}

static const struct proto_param set_revert_params[] = {
  { "set_id", PROTO_UUID, true, 0, 0 },
  { "force", PROTO_ANY, false, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
m_set_revert (struct call_ctx *x)
{
  json_t *force = json_object_get (x->params, "force");
  char id[UUID_STRLEN + 1];

  if (force != NULL && !json_is_boolean (force)) {
    rpcerr_set (x->e, JSONRPC_INVALID_PARAMS,
                "'force' must be true or false");
    return NULL;
  }
  set_id_param (x, id);
  if (sets_revert (x->co->sets, id, json_is_true (force), x->tok,
                   x->e) == -1)
    return NULL;
  *x->deferred = true;
  return NULL;
}

static json_t *
m_set_delete (struct call_ctx *x)
{
  char id[UUID_STRLEN + 1];

  set_id_param (x, id);
  if (sets_delete (x->co->sets, id, x->tok, x->e) == -1)
    return NULL;
  *x->deferred = true;
  return NULL;
}

/* Changed blocks and holds (committed.c). */

/* "volume" is PROVIDER/VOLUME here; the other members are checked by
 * committed.c with the providers' own table, proto_snapshot_diff_params,
 * once the volume's name stands in for PROVIDER/VOLUME. */
static const struct proto_param snapshot_diff_params[] = {
  { "volume", PROTO_STRING, true, 1, PV_MAX_LEN },
  { "from", PROTO_ANY, true, 0, 0 },
  { "to", PROTO_ANY, false, 0, 0 },
  { "cursor", PROTO_ANY, false, 0, 0 },
  { "max_ranges", PROTO_ANY, false, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
m_snapshot_diff (struct call_ctx *x)
{
  if (committed_snapshot_diff (x->co, x->params, x->tok, x->e) == -1)
    return NULL;
  *x->deferred = true;
  return NULL;
}

static const struct proto_param set_diff_params[] = {
  { "set_id", PROTO_UUID, true, 0, 0 },
  { "since", PROTO_UUID, true, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
m_set_diff (struct call_ctx *x)
{
  return committed_set_diff (x->co, x->params, x->e);
}

static const struct proto_param set_hold_params[] = {
  { "set_id", PROTO_UUID, true, 0, 0 },
  { "tag", PROTO_TAG, true, 0, 0 },
  { "expires_in", PROTO_INT, false, 1, PROTO_HOLD_EXPIRES_MAX_S },
  PROTO_END_PARAMS
};

static json_t *
m_set_hold (struct call_ctx *x)
{
  if (committed_set_hold (x->co, x->params, x->tok, x->e) == -1)
    return NULL;
  *x->deferred = true;
  return NULL;
}

static const struct proto_param set_release_params[] = {
  { "set_id", PROTO_UUID, true, 0, 0 },
  { "tag", PROTO_TAG, true, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
m_set_release (struct call_ctx *x)
{
  if (committed_set_release (x->co, x->params, x->tok, x->e) == -1)
    return NULL;
  *x->deferred = true;
  return NULL;
}

/* Lists and forgetting. */

static json_t *
m_provider_list (struct call_ctx *x)
{
  return result_or_nomem (x, registry_provider_list (x->co->reg));
}

static json_t *
m_writer_list (struct call_ctx *x)
{
  return result_or_nomem (x, registry_writer_list (x->co->reg));
}

static json_t *
m_volume_list (struct call_ctx *x)
{
  return result_or_nomem (x, registry_volume_list (x->co->reg));
}

static const struct proto_param forget_params[] = {
  { "name", PROTO_WRITER_NAME, true, 0, 0 },
  PROTO_END_PARAMS
};

static json_t *
forget_peer (struct call_ctx *x, enum peer_kind kind)
{
  if (registry_forget (x->co->reg, kind, param_string (x->params, "name"),
                       x->e) == -1)
    return NULL;
  return result_or_nomem (x, json_object ());
}

static json_t *
m_provider_forget (struct call_ctx *x)
{
  return forget_peer (x, PEER_PROVIDER);
}

static json_t *
m_writer_forget (struct call_ctx *x)
{
  return forget_peer (x, PEER_WRITER);
}

/* coordinator.status */

static const struct proto_param status_params[] = {
  { "sets", PROTO_INT, false, 1, PROTO_STATUS_SETS_MAX },
  PROTO_END_PARAMS
};

static json_t *
m_status (struct call_ctx *x)
{
  json_t *sets = json_object_get (x->params, "sets");

  if (x->co->election && !election_is_leader (x->co->election))
    return status_follower (x->co, x->e);

  return status_get (x->co, sets ? json_integer_value (sets)
                     : PROTO_STATUS_SETS_DEFAULT, x->e);
}

#define ROLE_REQ (ROLE_REQUESTER | ROLE_ADMIN)

static const struct method {
  const char *name;
  unsigned roles;               /* who may call it */
  const struct proto_param *params;
  method_fn *fn;
} methods[] = {
  { "ping", ROLE_ANY, no_params, m_ping },
  { "provider.register", ROLE_PROVIDER, provider_register_params,
    m_provider_register },
  { "writer.register", ROLE_WRITER, writer_register_params,
    m_writer_register },
  { "set.create", ROLE_REQ, set_create_params, m_set_create },
  { "set.list", ROLE_REQ, set_list_params, m_set_list },
  { "set.get", ROLE_REQ, set_id_params, m_set_get },
  { "set.delete", ROLE_REQ, set_id_params, m_set_delete },
  { "set.revert", ROLE_ADMIN, set_revert_params, m_set_revert },
  { "set.diff", ROLE_REQ, set_diff_params, m_set_diff },
  { "set.hold", ROLE_REQ, set_hold_params, m_set_hold },
  { "set.release", ROLE_REQ, set_release_params, m_set_release },
  { "snapshot.diff", ROLE_REQ, snapshot_diff_params, m_snapshot_diff },
  { "provider.list", ROLE_REQ, no_params, m_provider_list },
  { "writer.list", ROLE_REQ, no_params, m_writer_list },
  { "volume.list", ROLE_REQ, no_params, m_volume_list },
  { "coordinator.status", ROLE_REQ, status_params, m_status },
  { "provider.forget", ROLE_ADMIN, forget_params, m_provider_forget },
  { "writer.forget", ROLE_ADMIN, forget_params, m_writer_forget },
};

/* A coordinator that does not lead answers every request but
 * coordinator.status with this, naming the leader when it knows it
 * (docs/protocol.md, "Several coordinators"); it never proxies. */
static void
not_leader (struct coord *co, struct rpcerr *e)
{
  const char *why = NULL;
  const char *leader = election_leader (co->election, &why);

  if (leader) {
    rpcerr_set (e, SV_RPC_NOT_LEADER, "coordinator %s is not the leader; "
                "the leader is %s", co->conf->advertise, leader);
    e->data = json_pack ("{s:s}", "leader", leader);
  }
  else {
    rpcerr_set (e, SV_RPC_NOT_LEADER, "coordinator %s is not the leader; "
                "no leader is elected (%s)", co->conf->advertise, why);
    e->data = json_pack ("{s:n}", "leader");
  }
}

json_t *
methods_dispatch (struct coord *co, struct conn *c, const char *method,
                  json_t *params, struct reply_token tok, struct rpcerr *e,
                  bool *deferred)
{
  struct call_ctx x = {
    .co = co, .c = c, .params = params, .tok = tok, .e = e,
    .deferred = deferred,
  };
  const struct method *m = NULL;
  char roles[64];
  size_t i;

  *deferred = false;
  if (co->election && !election_is_leader (co->election) &&
      strcmp (method, "coordinator.status") != 0) {
    not_leader (co, e);
    return NULL;
  }
  for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strcmp (methods[i].name, method) == 0)
      m = &methods[i];
  if (m == NULL) {
    rpcerr_unknown_method (e, method);
    return NULL;
  }
  if ((m->roles & conn_roles (c)) == 0) {
    unsigned mine = conn_roles (c);

    rpcerr_set (e, SV_RPC_FORBIDDEN, "role%s %s may not call %s",
                (mine & (mine - 1)) ? "s" : "",
                roles_names (mine, roles, sizeof roles), method);
    return NULL;
  }
  if (params_check (params, m->params, e) == -1)
    return NULL;
  return m->fn (&x);
}
