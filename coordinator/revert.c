/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * revert.c: set.revert (docs/coordinator.md, "Reverting a set"): queueing
 * a revert, resolving what it takes from the catalog's record of the
 * set reverted to, its records, and its answer.  Its calls, timer and
 * events go through set.c's glue like a set's.
 *
 * Design notes
 *
 * set.revert runs in the same queue as set.create, as a revert machine
 * (setfsm_new_revert): its id is the undo set id, a new UUID that
 * names its holds (hold.begin's set_id), the snapshots the providers
 * pin of what the volumes held (hold.revert's undo_set_id) and the
 * catalog's queued undos; the set reverted to is its target.  It is
 * resolved from the catalog's record of the target, not from
 * volume.list: every writer registered for one of its volumes takes
 * part and must be connected, every provider must be connected.
 *
 * Its records are not set objects: the undos are queued in the catalog
 * on every provider before any hold.revert (armed), then settled into
 * deletions of the undo set once every provider has reverted
 * (setfsm.c's design notes).  While it runs, the deleter skips its
 * undo (deleters_running_undo).
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "catalog.h"
#include "conf.h"
#include "deleter.h"
#include "jsonrpc.h"
#include "log.h"
#include "metrics.h"
#include "set.h"
#include "set-internal.h"
#include "uuid.h"

/* The names of the providers of S, in order.  NULL on ENOMEM. */
static json_t *
provider_names (struct snapset *s)
{
  json_t *names = json_array ();
  size_t i;

  for (i = setfsm_nwriters (s->fsm); names && i < s->parts.len; i++)
    if (json_array_append_new (names,
                               json_string (setfsm_part_name (s->fsm, i)))
        == -1) {
      json_decref (names);
      return NULL;
    }
  return names;
}

/* A revert's records (setfsm.c's design notes): its undos queued on
 * every provider, then turned into deletions of the undo set. */
int
revert_save_record (struct snapset *s, const struct setfsm_action *a)
{
  struct catalog *cat = s->sets->co->cat;
  json_t *names;
  int r;

  s->record_oom = false;
  if (a->record == SETFSM_REC_REVERTED)
    return catalog_undo_settle (cat, s->id);
  names = provider_names (s);
  if (names == NULL) {
    s->record_oom = true;
    return -1;
  }
  r = catalog_undo_arm (cat, s->id, names);
  json_decref (names);
  return r;
}

/* The answer to set.revert: what was reverted, or why not. */
static json_t *
revert_json (struct snapset *s, const char *state)
{
  const char *reason = setfsm_reason (s->fsm);
  json_t *o, *timings = set_timings_json (s);

  o = json_pack ("{s:s, s:s, s:s, s:b, s:O, s:o, s:o}",
                 "set_id", s->target, "undo_set_id", s->id, "state", state,
                 "force", s->force, "volumes", s->pv,
                 "participants", set_participants_json (s),
                 "timings", timings ? timings : json_null ());
  if (o != NULL && reason != NULL && strcmp (state, "failed") == 0 &&
      json_object_set_new (o, "reason", json_string (reason)) == -1) {
    json_decref (o);
    return NULL;
  }
  return o;
}

void
revert_reply_reverted (struct snapset *s)
{
  struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
  json_t *o = revert_json (s, "reverted");

  log_info ("snapshot set %s: %zu volumes reverted to it (undo set %s)",
            s->target, json_array_size (s->pv), s->id);
  metrics_count_set (s->sets->co->metrics, true, METRICS_COMMITTED);
  if (o == NULL)
    rpcerr_set (&e, JSONRPC_INTERNAL_ERROR, "snapshot set %s reverted, but "
                "the answer could not be built: out of memory", s->target);
  conn_reply (s->sets->co, s->tok, o, &e);
  set_done (s);
}

void
revert_reply_failed (struct snapset *s)
{
  struct rpcerr e = { .code = SV_RPC_SET_FAILED };
  const char *reason = setfsm_reason (s->fsm);

  log_warnx ("revert to snapshot set %s failed: %s", s->target, reason);
  metrics_count_set (s->sets->co->metrics, true, METRICS_FAILED);
  e.data = revert_json (s, "failed");
  rpcerr_set (&e, SV_RPC_SET_FAILED, "revert to snapshot set %s failed, "
              "nothing is reverted: %s", s->target, reason);
  conn_reply (s->sets->co, s->tok, NULL, &e);
  set_done (s);
}

/* set.revert's writers: every writer registered for a volume of the
 * set, each connected.  -1 after rejecting S. */
static int
revert_writers (struct snapset *s)
{
  struct writer *w;

  TAILQ_FOREACH (w, &s->sets->co->reg->writers, entry) {
    if (!set_writer_involved (s, w))
      continue;
    if (w->conn == NULL) {
      set_reject (s, SV_RPC_NOT_REGISTERED, "writer %s is registered for "
                  "volumes of snapshot set %s but not connected: start it, or "
                  "forget it (writer.forget); nothing was reverted", w->name,
                  s->target);
      return -1;
    }
    if (set_add_part (s, true, w->name) == -1) {
      set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
      return -1;
    }
  }
  return 0;
}

/* set.revert's volumes, from the target's record, each on a connected
 * provider.  -1 after rejecting S. */
static int
revert_volumes (struct snapset *s)
{
  struct registry *reg = s->sets->co->reg;
  json_t *snap;
  size_t i;

  json_array_foreach (json_object_get (s->target_set, "snapshots"), i,
                      snap) {
    const char *provider = json_string_value (json_object_get (snap,
                                                               "provider"));
    const char *volume = json_string_value (json_object_get (snap, "volume"));
    struct provider *p = registry_provider (reg, provider ? provider : "");

    if (provider == NULL || volume == NULL || p == NULL) {
      set_reject (s, SV_RPC_NOT_FOUND, "snapshot set %s: no provider named "
                  "%s; nothing was reverted", s->target,
                  provider ? provider : "?");
      return -1;
    }
    if (p->conn == NULL) {
      set_reject (s, SV_RPC_NOT_REGISTERED, "snapshot set %s: provider %s is "
                  "not connected; nothing was reverted", s->target, provider);
      return -1;
    }
    if (set_add_volume (s, provider, volume) == -1) {
      set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
      return -1;
    }
  }
  return 0;
}

/* set.revert: resolve from the target's record, then the machine. */
void
revert_start (struct snapset *s)
{
  s->pv = json_array ();
  s->fsm = setfsm_new_revert (s->freeze_window_ms, set_fsm_out_of_memory);
  if (s->pv == NULL) {
    set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
    return;
  }
  if (revert_volumes (s) == -1 || revert_writers (s) == -1)
    return;
  s->window = evtimer_new (s->sets->co->base, set_window_cb, s);
  if (set_add_providers (s) == -1 || s->window == NULL) {
    set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
    return;
  }
  deleters_running_undo (s->sets->deleters, s->id);
  log_info ("snapshot set %s: reverting %zu volumes on %zu providers to it, "
            "%zu writers (undo set %s)", s->target, json_array_size (s->pv),
            s->parts.len - setfsm_nwriters (s->fsm),
            setfsm_nwriters (s->fsm), s->id);
  setfsm_start (s->fsm, s->t_start);
  set_run_actions (s);
}

int
sets_revert (struct sets *sets, const char *set_id, bool force,
             struct reply_token tok, struct rpcerr *e)
{
  const struct config *conf = sets->co->conf;
  const char *state;
  struct snapset *s;
  struct uuid u;
  json_t *set;

  if (sets->nqueued >= SETS_QUEUE_MAX)
    return rpcerr_set (e, SV_RPC_BUSY, "%d snapshot sets are already waiting",
                       SETS_QUEUE_MAX);
  set = catalog_set_get (sets->co->cat, set_id, false);
  if (set == NULL)
    return errno == ENOENT
      ? rpcerr_set (e, SV_RPC_NOT_FOUND, "no snapshot set %s", set_id)
      : rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (sets->co->cat));
  state = json_string_value (json_object_get (set, "state"));
  if (state == NULL || strcmp (state, "committed") != 0) {
    rpcerr_set (e, JSONRPC_INVALID_PARAMS, "snapshot set %s is %s: only a "
                "committed set can be reverted to", set_id,
                state ? state : "unknown");
    json_decref (set);
    return -1;
  }
  s = calloc (1, sizeof *s);
  if (s == NULL || uuid_generate (&u) == -1) {
    free (s);
    json_decref (set);
    return rpcerr_set (e, JSONRPC_INTERNAL_ERROR, "cannot start the revert: "
                       "%s", strerror (errno));
  }
  s->sets = sets;
  s->tok = tok;
  s->revert = true;
  s->force = force;
  s->target_set = set;
  snprintf (s->target, sizeof s->target, "%s", set_id);
  uuid_format (&u, s->id);
  s->label = "";
  s->freeze_window_ms = conf->freeze_window_ms;
  s->hold_timeout_ms = conf->hold_timeout_ms;
  s->created = time (NULL);
  TAILQ_INSERT_TAIL (&sets->queue, s, entry);
  sets->nqueued++;
  event_active (sets->kick, EV_TIMEOUT, 1);
  return 0;
}
