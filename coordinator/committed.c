/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * committed.c: what a requester does with committed snapshot sets and
 * their snapshots: snapshot.diff forwarded to a provider, set.diff from
 * the catalog, set.hold and set.release across a set's providers
 * (committed.h).
 *
 * Design notes
 *
 * A set id given where a snapshot id may be (snapshot.diff's "from" and
 * "to") is looked up in the catalog first: an id that is no set's is
 * passed on as a snapshot id, for the provider to judge.  Only
 * committed sets have snapshots; a set in any other state is "not
 * found" for every method here.
 *
 * set.hold is all or none across the set's providers, as each
 * provider's snapshot.hold of a set id is within the provider: the
 * holds are asked for in parallel, and if any provider fails, the
 * providers that may hold (those that answered with a result, valid or
 * not, and those that did not answer in time or went away) are sent
 * snapshot.release before the requester is answered, with the first
 * failure in the set's order.  A provider that refused holds nothing,
 * and is not sent a release: the tag it refused may be another
 * requester's hold.  A release that fails is named in the answer, and
 * the hold then stays until released or expired.
 *
 * set.release is not all or none: a set whose provider died must not
 * keep its snapshots held on the others until the holds expire.  The
 * release is called on every connected provider; for each provider
 * not connected, or that goes away before answering, it is queued in
 * the catalog (pending_releases, run by deleter.c when the provider
 * registers), and the hold is forgotten (set_holds) in the same
 * transaction.  A provider that refuses or does not answer in time
 * fails the call, and then nothing is queued or forgotten: the
 * requester calls set.release again.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "committed.h"
#include "fanout.h"
#include "jsonrpc.h"
#include "log.h"
#include "outcome.h"
#include "params.h"
#include "registry.h"
#include "setfsm.h"             /* SET_CALL_TIMEOUT_MS */
#include "uuid.h"

/* The uuid member MEMBER of PARAMS (checked) in lower case. */
static void
uuid_param (json_t *params, const char *member, char out[UUID_STRLEN + 1])
{
  struct uuid u;

  uuid_parse (json_string_value (json_object_get (params, member)), &u);
  uuid_format (&u, out);
}

/* The set object of SET_ID if it is committed (a new reference), or
 * NULL with E set: -32001 if no set has that id or it is not
 * committed, -32004 if the catalog failed.  With OTHER_OK, an id no set
 * has gives NULL with errno ENOENT and E untouched. */
static json_t *
committed_set (struct coord *co, const char *set_id, bool other_ok,
               struct rpcerr *e)
{
  json_t *set = catalog_set_get (co->cat, set_id, false);
  const char *state;

  if (set == NULL) {
    if (errno != ENOENT)
      rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (co->cat));
    else if (!other_ok)
      rpcerr_set (e, SV_RPC_NOT_FOUND, "no snapshot set %s", set_id);
    return NULL;
  }
  state = json_string_value (json_object_get (set, "state"));
  if (state == NULL || strcmp (state, "committed") != 0) {
    rpcerr_set (e, SV_RPC_NOT_FOUND, "snapshot set %s is %s, not committed",
                set_id, state ? state : "unknown");
    json_decref (set);
    errno = EINVAL;
    return NULL;
  }
  return set;
}

/* The snapshot entry of PROVIDER/VOLUME in SET (borrowed), or NULL. */
static json_t *
set_snapshot (json_t *set, const char *provider, const char *volume)
{
  json_t *snaps = json_object_get (set, "snapshots"), *s;
  size_t i;

  json_array_foreach (snaps, i, s) {
    const char *p = json_string_value (json_object_get (s, "provider"));
    const char *v = json_string_value (json_object_get (s, "volume"));

    if (p && v && strcmp (p, provider) == 0 && strcmp (v, volume) == 0)
      return s;
  }
  return NULL;
}

/* snapshot.diff */

struct diff_call {
  struct coord *co;
  struct reply_token tok;
  char provider[PROTO_NAME_MAX + 1];
  char pv[PV_MAX_LEN + 1];
};

static void
diff_done (void *arg, const struct call_outcome *o)
{
  struct diff_call *dc = arg;
  struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
  json_t *r = NULL;

  if (o->end == CALL_SHUTDOWN || dc->co->stopping) {
    free (dc);
    return;
  }
  if (o->end != CALL_OK)
    call_outcome_error (o, dc->provider, &e);
  else if (!json_is_object (o->result) ||
           !json_is_array (json_object_get (o->result, "ranges")))
    rpcerr_set (&e, JSONRPC_INTERNAL_ERROR, "provider %s: snapshot.diff "
                "answered with an invalid result (expected an object with "
                "\"ranges\")", dc->provider);
  /* A shallow copy: the ranges are shared, only "volume" changes (in
   * place, keeping the members' order). */
  else if ((r = json_copy (o->result)) == NULL ||
           json_object_set_new (r, "volume", json_string (dc->pv)) == -1) {
    json_decref (r);
    r = NULL;
    rpcerr_nomem (&e);
  }
  conn_reply (dc->co, dc->tok, r, &e);
  free (dc);
}

/* Resolve the id MEMBER of PARAMS (checked) for PROVIDER/VOLUME into
 * OUT: a committed set's id becomes its snapshot of the volume, any
 * other id stays as it is.  -1 with E set. */
static int
resolve_snapshot (struct coord *co, json_t *params, const char *member,
                  const char *provider, const char *volume,
                  char out[UUID_STRLEN + 1], struct rpcerr *e)
{
  char id[UUID_STRLEN + 1];
  json_t *set, *snap;
  const char *snap_id;

  uuid_param (params, member, id);
  set = committed_set (co, id, true, e);
  if (set == NULL) {
    if (errno != ENOENT)
      return -1;
    memcpy (out, id, sizeof id);
    return 0;
  }
  snap = set_snapshot (set, provider, volume);
  snap_id = json_string_value (json_object_get (snap, "id"));
  if (snap_id == NULL || strlen (snap_id) != UUID_STRLEN) {
    rpcerr_set (e, SV_RPC_NOT_FOUND, "snapshot set %s has no snapshot of "
                "%s/%s", id, provider, volume);
    json_decref (set);
    return -1;
  }
  memcpy (out, snap_id, UUID_STRLEN + 1);
  json_decref (set);
  return 0;
}

/* The parameters for the provider: PARAMS with the volume's own name,
 * checked with the providers' table, so that "from", "to", "cursor"
 * and "max_ranges" get the very checks and messages a provider gives.
 * NULL with E set. */
static json_t *
provider_diff_params (json_t *params, const char *volume, struct rpcerr *e)
{
  json_t *fwd = json_copy (params);
  char why[sizeof e->message];

  if (fwd == NULL ||
      json_object_set_new (fwd, "volume", json_string (volume)) == -1) {
    json_decref (fwd);
    rpcerr_nomem (e);
    return NULL;
  }
  if (proto_check_params (fwd, proto_snapshot_diff_params, why,
                          sizeof why) == -1) {
    json_decref (fwd);
    rpcerr_set (e, JSONRPC_INVALID_PARAMS, "%s", why);
    return NULL;
  }
  return fwd;
}

int
committed_snapshot_diff (struct coord *co, json_t *params,
                         struct reply_token tok, struct rpcerr *e)
{
  const char *pv = json_string_value (json_object_get (params, "volume"));
  char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];
  char from[UUID_STRLEN + 1], to[UUID_STRLEN + 1];
  struct diff_call *dc;
  struct provider *p;
  json_t *fwd;

  if (params_split_pv (pv, provider, volume) == -1)
    return rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'volume': '%s' is not "
                       "of the form PROVIDER/VOLUME", pv);
  fwd = provider_diff_params (params, volume, e);
  if (fwd == NULL)
    return -1;
  p = registry_provider (co->reg, provider);
  if (p == NULL) {
    rpcerr_set (e, SV_RPC_NOT_FOUND, "no provider named %s", provider);
    goto err;
  }
  if (p->conn == NULL) {
    rpcerr_set (e, SV_RPC_NOT_REGISTERED, "provider %s is not connected",
                provider);
    goto err;
  }
  if (resolve_snapshot (co, params, "from", provider, volume, from, e) == -1)
    goto err;
  if (json_object_get (params, "to") != NULL &&
      (resolve_snapshot (co, params, "to", provider, volume, to, e) == -1 ||
       json_object_set_new (fwd, "to", json_string (to)) == -1))
    goto err;
  if (json_object_set_new (fwd, "from", json_string (from)) == -1 ||
      (dc = calloc (1, sizeof *dc)) == NULL) {
    rpcerr_nomem (e);
    goto err;
  }
  dc->co = co;
  dc->tok = tok;
  snprintf (dc->provider, sizeof dc->provider, "%s", provider);
  snprintf (dc->pv, sizeof dc->pv, "%s", pv);
  conn_call (co, p->conn, "snapshot.diff", fwd, SET_CALL_TIMEOUT_MS,
             diff_done, dc);
  return 0;

 err:
  json_decref (fwd);
  return -1;
}

/* set.diff */

/* The pair to diff for the snapshot S of the newer set: from SINCE's
 * snapshot of the same volume, or null. */
static json_t *
diff_pair (json_t *s, json_t *since)
{
  const char *provider = json_string_value (json_object_get (s, "provider"));
  const char *volume = json_string_value (json_object_get (s, "volume"));
  json_t *old = provider && volume
    ? set_snapshot (since, provider, volume) : NULL;

  return json_pack ("{s:s?, s:s?, s:s?, s:O}", "provider", provider,
                    "volume", volume,
                    "from", json_string_value (json_object_get (old, "id")),
                    "to", json_object_get (s, "id"));
}

json_t *
committed_set_diff (struct coord *co, json_t *params, struct rpcerr *e)
{
  char set_id[UUID_STRLEN + 1], since_id[UUID_STRLEN + 1];
  json_t *set = NULL, *since = NULL, *volumes = NULL, *s, *r = NULL;
  int64_t set_seq, since_seq;
  size_t i;

  uuid_param (params, "set_id", set_id);
  uuid_param (params, "since", since_id);
  if ((set = committed_set (co, set_id, false, e)) == NULL ||
      (since = committed_set (co, since_id, false, e)) == NULL)
    goto out;
  if (catalog_set_seq (co->cat, set_id, &set_seq) == -1 ||
      catalog_set_seq (co->cat, since_id, &since_seq) == -1) {
    rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (co->cat));
    goto out;
  }
  if (since_seq >= set_seq) {
    rpcerr_set (e, JSONRPC_INVALID_PARAMS, "'since': snapshot set %s is not "
                "older than snapshot set %s", since_id, set_id);
    goto out;
  }
  volumes = json_array ();
  if (volumes == NULL)
    goto nomem;
  json_array_foreach (json_object_get (set, "snapshots"), i, s)
    if (json_array_append_new (volumes, diff_pair (s, since)) == -1)
      goto nomem;
  r = json_pack ("{s:s, s:s, s:O}", "set_id", set_id, "since", since_id,
                 "volumes", volumes);
  if (r == NULL)
    goto nomem;
  goto out;

 nomem:
  rpcerr_nomem (e);
 out:
  json_decref (volumes);
  json_decref (since);
  json_decref (set);
  return r;
}

/* set.hold, set.release */

struct set_op {
  struct coord *co;
  struct reply_token tok;
  char id[UUID_STRLEN + 1];
  char tag[PROTO_TAG_MAX + 1];
  json_int_t expires_in;        /* set.hold's, 0: none */
  struct rpcerr e;              /* set.hold: the failure being undone */
  json_t *queued;               /* set.release: the providers it is
                                 * queued for (away) */
};

/* Add the formatted text to E's message (cut if it does not fit). */
static void append (struct rpcerr *e, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

static void
append (struct rpcerr *e, const char *fmt, ...)
{
  size_t n = strlen (e->message);
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (e->message + n, sizeof e->message - n, fmt, ap);
  va_end (ap);
}

/* The names of the providers of F whose call may have held: every one
 * but those that answered with an error (nothing held there).  NULL on
 * ENOMEM. */
static json_t *
may_hold (const struct fanout *f)
{
  json_t *names = json_array ();
  size_t i;

  for (i = 0; names != NULL && i < f->n; i++)
    if (f->calls[i].end != CALL_ERROR &&
        json_array_append_new (names,
                               json_string (f->calls[i].provider)) == -1) {
      json_decref (names);
      names = NULL;
    }
  return names;
}

/* Answer the failed set.hold OP with its error, and free it. */
static void
hold_failed (struct set_op *op)
{
  log_warnx ("snapshot set %s: set.hold %s failed: %s", op->id, op->tag,
             op->e.message);
  conn_reply (op->co, op->tok, NULL, &op->e);
  free (op);
}

/* The undoing releases of a failed set.hold have ended: name what they
 * did in the answer, and give it. */
static void
undo_done (void *arg, const struct fanout *f)
{
  struct set_op *op = arg;
  size_t i, nok = 0;

  if (f->stopping) {
    rpcerr_clear (&op->e);
    free (op);
    return;
  }
  for (i = 0; i < f->n; i++)
    if (fanout_ok (f, i, SV_RPC_NOT_FOUND))
      append (&op->e, "%s%s", nok++ ? ", " : "; the set's hold on ",
              f->calls[i].provider);
  if (nok > 0)
    append (&op->e, " was released");
  for (i = 0; i < f->n; i++)
    if (!fanout_ok (f, i, SV_RPC_NOT_FOUND))
      append (&op->e, "; releasing it on %s failed (%s): it holds there "
              "until released (set.release) or expired",
              f->calls[i].provider, f->calls[i].message);
  hold_failed (op);
}

static void
hold_done (void *arg, const struct fanout *f)
{
  struct set_op *op = arg;
  size_t bad = fanout_first_failure (f, 0);
  struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
  json_t *names, *params;

  if (f->stopping) {
    free (op);
    return;
  }
  if (bad == f->n) {
    log_info ("snapshot set %s: held as %s on %zu providers", op->id,
              op->tag, f->n);
    /* Recorded for set.list and set retention; the providers hold
     * either way, so a failure here is logged, not answered. */
    if (catalog_set_hold (op->co->cat, op->id, op->tag, op->expires_in
                          ? (int64_t) time (NULL) + op->expires_in : 0)
        == -1)
      log_warnx ("snapshot set %s: the hold %s is not in the catalog: %s",
                 op->id, op->tag, catalog_errmsg (op->co->cat));
    conn_reply (op->co, op->tok,
                json_pack ("{s:s, s:s, s:I}", "set_id", op->id, "tag",
                           op->tag, "held", fanout_sum (f, "held")), &e);
    free (op);
    return;
  }
  fanout_error (f, bad, &op->e);
  names = may_hold (f);
  params = json_pack ("{s:s, s:s}", "id", op->id, "tag", op->tag);
  if (names != NULL && json_array_size (names) == 0)
    hold_failed (op);           /* every provider refused: none holds */
  else if (names == NULL || params == NULL ||
           fanout_start (op->co, op->id, names, "snapshot.release", params,
                         "released", false, SET_CALL_TIMEOUT_MS, undo_done,
                         op, &e) == -1) {
    append (&op->e, "; the holds taken could not be released (out of "
            "memory): release them with set.release");
    hold_failed (op);
  }
  json_decref (names);
  json_decref (params);
}

/* The providers of F that released (or held nothing), and those, in
 * OP->queued, that were away or went away before answering: queue the
 * release for these and forget the hold.  -1 with E set if a provider
 * refused, did not answer in time, or the queue could not be written:
 * nothing is recorded then. */
static int
release_record (struct set_op *op, const struct fanout *f, struct rpcerr *e)
{
  size_t i;

  for (i = 0; i < f->n; i++)
    if (f->calls[i].end == CALL_CLOSED &&
        json_array_append_new (op->queued,
                               json_string (f->calls[i].provider)) == -1)
      return rpcerr_nomem (e);
    else if (f->calls[i].end != CALL_CLOSED &&
             !fanout_ok (f, i, SV_RPC_NOT_FOUND))
      return fanout_error (f, i, e);
  if (catalog_release_queue (op->co->cat, op->id, op->tag, op->queued)
      == 0)
    return 0;
  if (json_array_size (op->queued) > 0)
    return rpcerr_set (e, SV_RPC_IO_ERROR, "%s",
                       catalog_errmsg (op->co->cat));
  /* Every provider released: a failure to forget the hold is logged,
   * not answered. */
  log_warnx ("snapshot set %s: the release of %s is not in the catalog: "
             "%s", op->id, op->tag, catalog_errmsg (op->co->cat));
  return 0;
}

/* The answer to a set.release that released or queued everywhere. */
static json_t *
release_result (const struct set_op *op, const struct fanout *f)
{
  json_t *r = json_pack ("{s:s, s:s, s:I}", "set_id", op->id, "tag",
                         op->tag, "released", fanout_sum (f, "released"));

  if (r != NULL && json_array_size (op->queued) > 0 &&
      json_object_set (r, "queued", op->queued) == -1) {
    json_decref (r);
    r = NULL;
  }
  return r;
}

static void
release_done (void *arg, const struct fanout *f)
{
  struct set_op *op = arg;
  struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
  json_t *r = NULL;
  char *away;

  if (!f->stopping && release_record (op, f, &e) == 0) {
    away = json_dumps (op->queued, JSON_COMPACT);
    log_info ("snapshot set %s: released %s%s%s", op->id, op->tag,
              json_array_size (op->queued) ? "; queued for " : "",
              json_array_size (op->queued) && away ? away : "");
    free (away);
    r = release_result (op, f);
    if (r == NULL)
      rpcerr_nomem (&e);
  }
  if (!f->stopping)
    conn_reply (op->co, op->tok, r, &e);
  rpcerr_clear (&e);
  json_decref (op->queued);
  free (op);
}

/* Move the names of PROVIDERS that are not connected to QUEUED. */
static int
take_away (struct coord *co, json_t *providers, json_t *queued)
{
  size_t i = 0;

  while (i < json_array_size (providers)) {
    json_t *v = json_array_get (providers, i);
    struct provider *p = registry_provider (co->reg, json_string_value (v));

    if (p != NULL && p->conn != NULL)
      i++;
    else if (json_array_append (queued, v) == -1 ||
             json_array_remove (providers, i) == -1)
      return -1;
  }
  return 0;
}

/* Start METHOD with the set id on every provider of the committed set
 * of PARAMS, each call's result carrying the integer MEMBER; DONE
 * answers.  -1 with E set if nothing was called. */
static int
set_op_start (struct coord *co, json_t *params, const char *method,
              const char *member, fanout_done_fn *done, bool queue_away,
              struct reply_token tok, struct rpcerr *e)
{
  json_t *set, *providers = NULL, *fwd = NULL;
  json_t *expires = json_object_get (params, "expires_in");
  struct set_op *op = calloc (1, sizeof *op);
  int r = -1;

  if (op == NULL)
    return rpcerr_nomem (e);
  op->co = co;
  op->tok = tok;
  op->e.code = JSONRPC_INTERNAL_ERROR;
  uuid_param (params, "set_id", op->id);
  snprintf (op->tag, sizeof op->tag, "%s",
            json_string_value (json_object_get (params, "tag")));
  op->expires_in = expires ? json_integer_value (expires) : 0;
  set = committed_set (co, op->id, false, e);
  if (set == NULL)
    goto out;
  json_decref (set);
  providers = catalog_set_providers (co->cat, op->id);
  if (providers == NULL) {
    rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (co->cat));
    goto out;
  }
  fwd = json_pack ("{s:s, s:s}", "id", op->id, "tag", op->tag);
  if (fwd == NULL || (expires != NULL &&
                      json_object_set (fwd, "expires_in", expires) == -1)) {
    rpcerr_nomem (e);
    goto out;
  }
  if (queue_away &&
      ((op->queued = json_array ()) == NULL ||
       take_away (co, providers, op->queued) == -1)) {
    rpcerr_nomem (e);
    goto out;
  }
  if (json_array_size (providers) == 0 && queue_away) {
    /* Nothing to call: answer now (conn_reply from within a method is
     * sent once the method returns deferred). */
    struct fanout none = { .co = co, .method = method };

    done (op, &none);
    op = NULL;
    r = 0;
  }
  else
    r = fanout_start (co, op->id, providers, method, fwd, member,
                      !queue_away, SET_CALL_TIMEOUT_MS, done, op, e);
 out:
  json_decref (fwd);
  json_decref (providers);
  if (r == -1 && op != NULL) {
    json_decref (op->queued);
    free (op);
  }
  return r;
}

int
committed_set_hold (struct coord *co, json_t *params, struct reply_token tok,
                    struct rpcerr *e)
{
  return set_op_start (co, params, "snapshot.hold", "held", hold_done, false,
                       tok, e);
}

int
committed_set_release (struct coord *co, json_t *params,
                       struct reply_token tok, struct rpcerr *e)
{
  return set_op_start (co, params, "snapshot.release", "released",
                       release_done, true, tok, e);
}
