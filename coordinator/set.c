/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * set.c: snapshot sets (docs/protocol.md, Part 2, "set.create"): the
 * queue of set.create requests, resolving what a set takes, the glue
 * that runs the set protocol's state machine (setfsm.c) over the
 * connections and the catalog, and set.delete.  Deletions left over
 * from failed sets are retried by deleter.c.
 *
 * Design notes
 *
 * One set runs at a time; set.create requests wait in a FIFO queue
 * (at most SETS_QUEUE_MAX).  Nothing here blocks.  A set first
 * resolves: volume.list to each provider involved (refresh), then its
 * volumes, writers and providers; an error there refuses it before
 * anything is recorded.  Then the protocol runs in setfsm.c, which
 * holds every rule of it (phases, records, aborting, participant
 * states); this file turns the outcomes of calls (conn.c ends every
 * call exactly once, within its deadline), the freeze window's timer
 * and closed connections into its events, and executes the actions it
 * returns: calls with their parameters, catalog records, the window's
 * timer, queued deletions, the answer to the requester.
 *
 * writers "auto" takes every writer registered for a volume of the set,
 * and refuses the set, before anything is recorded, if one of them is
 * not connected (auto_writers).
 *
 * The registry tells us of a closed connection from inside its
 * closing; the event goes to the machine from the event loop
 * (gone_cb), so that no step of the machine is re-entered.
 *
 * set.revert runs in the same queue and through the same glue, as a
 * revert machine: revert.c resolves it and records and answers it
 * (its design notes).  What the two files share is in set-internal.h.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "catalog.h"
#include "cleanup.h"
#include "conf.h"
#include "deleter.h"
#include "fanout.h"
#include "jsonrpc.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "params.h"
#include "registry.h"
#include "set.h"
#include "set-internal.h"
#include "setfsm.h"
#include "timespec.h"
#include "uuid.h"
#include "vector.h"

/* writer.list's last_event of each writer.* call. */
static const char *const writer_events[] = {
  [SETFSM_PREPARE] = "prepare",
  [SETFSM_FREEZE] = "freeze",
  [SETFSM_THAW] = "thaw",
  [SETFSM_POSTSNAP] = "post_snapshot",
  [SETFSM_ABORT] = "abort",
  [SETFSM_PRE_RESTORE_OP] = "pre_restore",
  [SETFSM_POST_RESTORE_OP] = "post_restore",
};

/* One call a set makes. */
struct set_call {
  struct snapset *s;
  enum setfsm_op op;            /* unused for volume.list */
  size_t part;                  /* index in the machine (not volume.list) */
  char name[PROTO_NAME_MAX + 1];  /* the provider or writer called */
};

/* Helpers. */

static void
set_free (struct snapset *s)
{
  size_t i;

  if (s == NULL)
    return;
  for (i = 0; i < s->parts.len; i++) {
    json_decref (s->parts.ptr[i].volumes);
    json_decref (s->parts.ptr[i].snapshots);
    free (s->parts.ptr[i].mine);
    free (s->parts.ptr[i].encoded[0]);
    free (s->parts.ptr[i].encoded[1]);
  }
  part_vector_reset (&s->parts);
  setfsm_free (s->fsm);
  if (s->window)
    event_free (s->window);
  json_decref (s->params);
  json_decref (s->pv);
  json_decref (s->pv_index);
  json_decref (s->snapshots);
  json_decref (s->recorded);
  json_decref (s->target_set);
  free (s);
}

void
set_fsm_out_of_memory (void)
{
  fatalx ("snapshot set: out of memory");
}

/* Recording. */

json_t *
set_participants_json (struct snapset *s)
{
  json_t *list = json_array ();
  size_t i;

  for (i = 0; list != NULL && i < s->parts.len; i++) {
    const char *error = setfsm_part_error (s->fsm, i);
    json_t *o = json_pack ("{s:s, s:s, s:s, s:o}",
                           "kind", setfsm_is_writer (s->fsm, i)
                           ? "writer" : "provider",
                           "name", setfsm_part_name (s->fsm, i),
                           "state", setfsm_part_state_name (s->fsm, i),
                           "error", error ? json_string (error)
                           : json_null ());

    if (o == NULL || json_array_append_new (list, o) == -1) {
      json_decref (list);
      return NULL;
    }
  }
  return list;
}

/* How long the freeze window, the hold and the whole set of S lasted,
 * in ms (a phase not reached is 0; one not ended lasts until now). */
static void
phase_times (struct snapset *s, int64_t *freeze_ms, int64_t *hold_ms,
             int64_t *total_ms)
{
  const struct setfsm_timings *t = setfsm_timings (s->fsm);
  int64_t now = timespec_now_ms (CLOCK_MONOTONIC);

  *freeze_ms = *hold_ms = 0;
  if (t->first_freeze)
    *freeze_ms = (t->last_thaw ? t->last_thaw : now) - t->first_freeze;
  if (t->first_hold)
    *hold_ms = (t->last_commit ? t->last_commit : now) - t->first_hold;
  *total_ms = now - s->t_start;
}

/* The timings of a finished set. */
json_t *
set_timings_json (struct snapset *s)
{
  int64_t freeze_ms, hold_ms, total_ms;

  phase_times (s, &freeze_ms, &hold_ms, &total_ms);
  return json_pack ("{s:I, s:I, s:I}",
                    "freeze_ms", (json_int_t) freeze_ms,
                    "hold_ms", (json_int_t) hold_ms,
                    "total_ms", (json_int_t) total_ms);
}

/* Report the end of set.create S (RESULT) to the metrics: its phases'
 * durations, and why it failed. */
static void
count_set (struct snapset *s, enum metrics_result result)
{
  struct metrics *m = s->sets->co->metrics;
  const struct setfsm_timings *t = setfsm_timings (s->fsm);
  int64_t freeze_ms, hold_ms, total_ms;

  metrics_count_set (m, false, result);
  phase_times (s, &freeze_ms, &hold_ms, &total_ms);
  metrics_observe (m, METRICS_SET_DURATION, total_ms);
  if (t->first_freeze)
    metrics_observe (m, METRICS_FREEZE_WINDOW, freeze_ms);
  if (t->first_hold)
    metrics_observe (m, METRICS_HOLD, hold_ms);
  if (result == METRICS_FAILED)
    metrics_count_failure (m, setfsm_cause (s->fsm));
}

/* The set object of S in STATE; FINISHED adds the end time and
 * timings. */
static json_t *
set_json (struct snapset *s, const char *state, bool finished)
{
  json_t *set, *timings = finished ? set_timings_json (s) : json_null ();
  const char *reason = setfsm_reason (s->fsm);
  bool with_snapshots = strcmp (state, "thawing") == 0 ||
    strcmp (state, "committed") == 0;

  set = json_pack ("{s:s, s:s, s:s}", "set_id", s->id, "label", s->label,
                   "state", state);
  if (set == NULL || timings == NULL ||
      (reason && strcmp (state, "failed") == 0 &&
       json_object_set_new (set, "reason", json_string (reason)) == -1) ||
      json_object_set_new (set, "created", json_integer (s->created)) == -1 ||
      json_object_set_new (set, "finished", finished
                           ? json_integer (time (NULL)) : json_null ()) == -1 ||
      json_object_set_new (set, "snapshots", with_snapshots && s->snapshots
                           ? json_incref (s->snapshots) : json_array ()) == -1 ||
      json_object_set_new (set, "participants",
                           set_participants_json (s)) == -1 ||
      json_object_set (set, "timings", timings) == -1) {
    json_decref (set);
    json_decref (timings);
    return NULL;
  }
  json_decref (timings);
  return set;
}

/* The set's snapshot entries, in the order of its volumes.  Each
 * provider's entries are in the order of its volumes (take_commit),
 * which are in set order (set_add_providers): the next entry of the
 * volume's provider is the volume's.  (Searching every provider's
 * entries for each volume was 130,000 comparisons for 1,024 volumes.) */
static int
gather_snapshots (struct snapset *s)
{
  json_t *all = json_array (), *pv;
  size_t nwriters = setfsm_nwriters (s->fsm), k, i;
  CLEANUP_FREE size_t *next = calloc (s->parts.len + 1, sizeof *next);

  if (all == NULL || next == NULL) {
    json_decref (all);
    return -1;
  }
  json_array_foreach (s->pv, k, pv) {
    char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];
    json_t *snap;

    params_split_pv (json_string_value (pv), provider, volume);
    for (i = nwriters; i < s->parts.len; i++)
      if (strcmp (setfsm_part_name (s->fsm, i), provider) == 0)
        break;
    if (i == s->parts.len)
      continue;
    snap = json_array_get (s->parts.ptr[i].snapshots, next[i]++);
    if (snap != NULL &&
        strcmp (json_string_value (json_object_get (snap, "volume")),
                volume) == 0 &&
        json_array_append (all, snap) == -1) {
      json_decref (all);
      return -1;
    }
  }
  json_decref (s->snapshots);
  s->snapshots = all;
  return 0;
}

/* Save S as the record action A asks.  -1 if the catalog failed (logged
 * there).
 *
 * The first record (preparing: the set exists, with its providers) is
 * durable before any call goes out, and so is the last (committed or
 * failed) before the requester is answered.  The phases between are
 * recorded lazily: a power loss that loses them leaves the set in an
 * earlier unfinished state, which recovery aborts all the same, by set
 * id on every provider of the set.  The snapshots, recorded with
 * thawing, are not written again with committed (the same
 * transaction log: committed durable makes thawing durable too). */
static int
save_record (struct snapset *s, const struct setfsm_action *a)
{
  const char *state = setfsm_record_name (a->record);
  enum catalog_sync sync = a->durable ? CATALOG_DURABLE : CATALOG_LAZY;
  json_t *set;
  int r;

  if (s->revert)
    return revert_save_record (s, a);
  if (a->record == SETFSM_REC_THAWING && gather_snapshots (s) == -1)
    fatal ("snapshot set %s", s->id);
  set = set_json (s, state, a->finished);
  s->record_oom = set == NULL;
  if (set == NULL) {
    log_warnx ("snapshot set %s: out of memory", s->id);
    return -1;
  }
  if (a->record == SETFSM_REC_COMMITTED && s->snapshots_recorded)
    r = catalog_set_save_state (s->sets->co->cat, set, sync);
  else
    r = catalog_set_save (s->sets->co->cat, set, sync);
  s->snapshots_recorded = r == 0 && a->record == SETFSM_REC_THAWING;
  if (r == 0 && (a->record == SETFSM_REC_COMMITTED ||
                 a->record == SETFSM_REC_FAILED)) {
    json_decref (s->recorded);
    s->recorded = json_incref (set);
  }
  json_decref (set);
  return r;
}

/* Why the last record of S failed. */
static const char *
record_error (struct snapset *s)
{
  return s->record_oom ? "out of memory"
    : catalog_errmsg (s->sets->co->cat);
}

/* The end of a set. */

void
set_done (struct snapset *s)
{
  struct sets *sets = s->sets;

  if (sets->running == s)
    sets->running = NULL;
  if (s->revert)
    deleters_running_undo (sets->deleters, NULL);
  set_free (s);
  event_active (sets->kick, EV_TIMEOUT, 1);
}

/* Fail set.create with E (its data is stolen) before anything was
 * recorded or called. */
static void
reject_error (struct snapset *s, struct rpcerr *e)
{
  log_info ("snapshot set %s: %s refused: %s", s->revert ? s->target : s->id,
            s->revert ? "set.revert" : "set.create", e->message);
  metrics_count_set (s->sets->co->metrics, s->revert, METRICS_REFUSED);
  conn_reply (s->sets->co, s->tok, NULL, e);
  set_done (s);
}

void
set_reject (struct snapset *s, int code, const char *fmt, ...)
{
  struct rpcerr e = { .data = NULL };
  va_list ap;

  va_start (ap, fmt);
  rpcerr_vset (&e, code, fmt, ap);
  va_end (ap);
  reject_error (s, &e);
}

/* The recorded set, as set.get shows it (the final record as saved,
 * which the catalog gives back as it was given: reading 1,024
 * snapshot rows back cost a set of that size 3 ms); else the
 * in-memory one. */
static json_t *
final_json (struct snapset *s, const char *state)
{
  json_t *set;

  if (s->recorded != NULL)
    return json_incref (s->recorded);
  set = catalog_set_get (s->sets->co->cat, s->id, true);

  return set ? set : set_json (s, state, true);
}

static void
reply_committed (struct snapset *s)
{
  struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
  json_t *set;

  log_info ("snapshot set %s committed: %zu snapshots", s->id,
            json_array_size (s->snapshots));
  count_set (s, METRICS_COMMITTED);
  set = final_json (s, "committed");
  if (set == NULL)
    rpcerr_set (&e, JSONRPC_INTERNAL_ERROR, "snapshot set %s committed, but "
                "its description could not be built: out of memory", s->id);
  conn_reply (s->sets->co, s->tok, set, &e);
  sets_retain (s->sets);
  set_done (s);
}

static void
reply_failed (struct snapset *s)
{
  struct rpcerr e = { .code = SV_RPC_SET_FAILED };
  const char *reason = setfsm_reason (s->fsm);

  log_warnx ("snapshot set %s failed: %s", s->id, reason);
  count_set (s, METRICS_FAILED);
  e.data = final_json (s, "failed");
  rpcerr_set (&e, SV_RPC_SET_FAILED, "snapshot set %s failed: %s", s->id,
              reason);
  conn_reply (s->sets->co, s->tok, NULL, &e);
  set_done (s);
}

/* Calls. */

static void protocol_call_done (void *arg, const struct call_outcome *o);
static void volume_list_done (void *arg, const struct call_outcome *o);

/* Send METHOD to the peer NAME (a writer if WRITER_EVENT is not NULL,
 * else a provider), with PARAMS (stolen), or if it is NULL with the
 * parameters ENCODED (borrowed), its end going to DONE with a
 * set_call. */
static void
send_to_peer (struct snapset *s, const char *method,
              const char *writer_event, enum setfsm_op op, size_t part,
              const char *name, json_t *params, const char *encoded,
              unsigned timeout_ms, conn_call_fn *done)
{
  struct registry *reg = s->sets->co->reg;
  struct set_call *sc = calloc (1, sizeof *sc);
  struct conn *c = NULL;

  if (sc == NULL || (params == NULL && encoded == NULL))
    fatal ("snapshot set %s: %s", s->id, method);
  sc->s = s;
  sc->op = op;
  sc->part = part;
  snprintf (sc->name, sizeof sc->name, "%s", name);
  if (writer_event != NULL) {
    struct writer *w = registry_writer (reg, name);

    if (w != NULL) {
      c = w->conn;
      registry_writer_call (reg, w, writer_event);
    }
  }
  else {
    struct provider *p = registry_provider (reg, name);

    if (p != NULL)
      c = p->conn;
  }
  if (params != NULL)
    conn_call (s->sets->co, c, method, params, timeout_ms, done, sc);
  else
    conn_call_encoded (s->sets->co, c, method, encoded, s->id, timeout_ms,
                       done, sc);
}

/* The entries of LIST (the set's volumes, or its snapshots: one for
 * each volume, in the same order, see gather_snapshots) at the indexes
 * of writer I's volumes.  NULL on ENOMEM. */
static json_t *
writer_entries (struct snapset *s, size_t i, json_t *list)
{
  const struct part *pt = &s->parts.ptr[i];
  json_t *out = json_array ();
  size_t k;

  for (k = 0; out != NULL && k < pt->nmine; k++)
    if (json_array_append (out, json_array_get (list, pt->mine[k])) == -1) {
      json_decref (out);
      out = NULL;
    }
  return out;
}

/* The parameters of the protocol call OP to participant I. */
static json_t *
protocol_params (struct snapset *s, enum setfsm_op op, size_t i)
{
  struct part *pt = &s->parts.ptr[i];

  switch (op) {
  case SETFSM_PREPARE:
    return json_pack ("{s:s, s:o, s:s}", "set_id", s->id, "volumes",
                      writer_entries (s, i, s->pv), "label", s->label);
  case SETFSM_FREEZE:
    return json_pack ("{s:s, s:I}", "set_id", s->id, "window_ms",
                      (json_int_t) s->freeze_window_ms);
  case SETFSM_THAW:
    return json_pack ("{s:s}", "set_id", s->id);
  case SETFSM_POSTSNAP:
    return json_pack ("{s:s, s:o}", "set_id", s->id,
                      "snapshots", writer_entries (s, i, s->snapshots));
  case SETFSM_ABORT:
    return json_pack ("{s:s, s:s}", "set_id", s->id,
                      "reason", setfsm_reason (s->fsm));
  case SETFSM_HOLD_BEGIN:
    /* No wait_ms: the provider's default (SET_HOLD_WAIT_MS) applies. */
    return json_pack ("{s:O, s:I, s:s}", "volumes", pt->volumes,
                      "timeout_ms", (json_int_t) s->hold_timeout_ms,
                      "set_id", s->id);
  case SETFSM_HOLD_COMMIT:
    return json_pack ("{s:s, s:s, s:s}", "hold_id", pt->hold_id,
                      "set_id", s->id, "label", s->label);
  case SETFSM_HOLD_RELEASE:
    return json_pack ("{s:s}", "hold_id", pt->hold_id);
  case SETFSM_HOLD_RELEASE_SET:
    return json_pack ("{s:s}", "set_id", s->id);
  case SETFSM_DELETE:
    return json_pack ("{s:s}", "id", s->id);
  case SETFSM_PRE_RESTORE_OP:
    return json_pack ("{s:s, s:O, s:I}", "set_id", s->target, "volumes",
                      s->pv, "window_ms", (json_int_t) s->freeze_window_ms);
  case SETFSM_POST_RESTORE_OP:
    return json_pack ("{s:s, s:b}", "set_id", s->target, "reverted",
                      setfsm_phase (s->fsm) != SETFSM_ABORTING);
  case SETFSM_HOLD_REVERT:
    return json_pack ("{s:s, s:s, s:s, s:b}", "hold_id", pt->hold_id,
                      "set_id", s->target, "undo_set_id", s->id,
                      "force", s->force);
  case SETFSM_REVERT_UNDO:
    return json_pack ("{s:s}", "undo_set_id", s->id);
  }
  return NULL;
}

/* The parameters of OP to writer I, encoded, if OP is writer.prepare
 * or writer.post_snapshot; else NULL.  Those two carry the writer's own
 * volumes and snapshots of the set, as VSS gives each writer its own
 * components: sending every writer all of a set of 1,024 volumes made
 * 100 writers parse 20 MB of JSON per set.  They do not change once the
 * phase that sends them has begun, and writers with the same volumes
 * (part.same) send the same text, encoded once. */
static const char *
writer_params (struct snapset *s, enum setfsm_op op, size_t i)
{
  size_t first = s->parts.ptr[i].same;
  char **text;
  json_t *params;

  if (op != SETFSM_PREPARE && op != SETFSM_POSTSNAP)
    return NULL;
  text = &s->parts.ptr[first].encoded[op == SETFSM_POSTSNAP];
  if (*text == NULL) {
    params = protocol_params (s, op, first);
    *text = params ? json_dumps (params, JSON_COMPACT) : NULL;
    json_decref (params);
    if (*text == NULL)
      fatal ("snapshot set %s: %s", s->id, setfsm_op_method (op));
  }
  return *text;
}

/* Execute the machine's call action A. */
static void
send_protocol_call (struct snapset *s, const struct setfsm_action *a)
{
  const char *name = setfsm_part_name (s->fsm, a->part);
  bool writer = setfsm_is_writer (s->fsm, a->part);
  const char *encoded = writer ? writer_params (s, a->op, a->part) : NULL;

  if (a->op == SETFSM_HOLD_RELEASE_SET)
    log_info ("provider %s: releasing any hold of snapshot set %s by its "
              "set id", name, s->id);
  send_to_peer (s, setfsm_op_method (a->op),
                writer ? writer_events[a->op] : NULL, a->op, a->part, name,
                encoded ? NULL : protocol_params (s, a->op, a->part), encoded,
                a->timeout_ms, protocol_call_done);
}

/* Results. */

/* Check a hold.commit RESULT for provider I and keep its snapshot
 * entries.  -1 with WHY set if it is not the answer we asked for. */
static int
take_commit (struct snapset *s, size_t i, json_t *result, char *why,
             size_t len)
{
  struct part *pt = &s->parts.ptr[i];
  const char *pname = setfsm_part_name (s->fsm, i);
  struct provider *p = registry_provider (s->sets->co->reg, pname);
  json_t *snaps = json_object_get (result, "snapshots"), *vol, *out, *snap;
  json_t *byname;
  const char *set_id = json_string_value (json_object_get (result, "set_id"));
  struct uuid mine, theirs;
  size_t k, j;

  uuid_parse (s->id, &mine);
  if (set_id == NULL || uuid_parse (set_id, &theirs) == -1 ||
      !uuid_equal (&mine, &theirs)) {
    snprintf (why, len, "hold.commit answered for another set id");
    return -1;
  }
  if (!json_is_array (snaps)) {
    snprintf (why, len, "hold.commit answered without a snapshot list");
    return -1;
  }
  /* The answer's first snapshot of each volume, by volume name: looking
   * each volume up in the list was 8,000 comparisons per provider of
   * 128 volumes. */
  out = json_array ();
  byname = json_object ();
  if (out == NULL || byname == NULL)
    fatal ("snapshot set %s", s->id);
  json_array_foreach (snaps, j, snap) {
    const char *name = json_string_value (json_object_get (snap, "volume"));

    if (name != NULL && json_object_get (byname, name) == NULL &&
        json_object_set (byname, name, snap) == -1)
      fatal ("snapshot set %s", s->id);
  }
  json_array_foreach (pt->volumes, k, vol) {
    const char *name = json_string_value (vol);
    json_t *entry = NULL;
    char *uri;

    snap = json_object_get (byname, name);
    if (snap != NULL) {
      json_t *id = json_object_get (snap, "id");
      json_t *export = json_object_get (snap, "export");
      json_t *gen = json_object_get (snap, "generation");
      struct uuid u;

      if (!json_is_string (id) || uuid_parse (json_string_value (id), &u)
          == -1 || !json_is_string (export) ||
          json_string_length (export) > 256 ||
          strlen (json_string_value (export)) != json_string_length (export) ||
          !json_is_integer (gen)) {
        snprintf (why, len, "hold.commit answered with an invalid snapshot "
                  "of volume %s", name);
        json_decref (out);
        json_decref (byname);
        return -1;
      }
      uri = proto_export_uri (p ? p->nbd_uri : "", json_string_value (export));
      if (uri == NULL)
        fatal ("snapshot set %s", s->id);
      {
        char text[UUID_STRLEN + 1];

        uuid_format (&u, text);
        entry = json_pack ("{s:s, s:s, s:s, s:O, s:s, s:O}",
                           "provider", pname, "volume", name, "id", text,
                           "export", export, "uri", uri, "generation", gen);
      }
      free (uri);
    }
    if (entry == NULL) {
      snprintf (why, len, "hold.commit answered without a snapshot of "
                "volume %s", name);
      json_decref (out);
      json_decref (byname);
      return -1;
    }
    if (json_array_append_new (out, entry) == -1)
      fatal ("snapshot set %s", s->id);
  }
  json_decref (byname);
  json_decref (pt->snapshots);
  pt->snapshots = out;
  return 0;
}

/* Whether the result of a call of OP follows the protocol (Part 2):
 * writer.* answer an object ({}, members ignored), hold.release
 * {"released": bool}, snapshot.delete an object.  hold.begin and
 * hold.commit are checked where their members are read (take_answer).
 * -1 with WHY set, naming the method and showing the result. */
static int
check_result (enum setfsm_op op, json_t *result, char *why, size_t len)
{
  const char *expected = NULL;
  char *text;

  switch (op) {
  case SETFSM_PREPARE:
  case SETFSM_FREEZE:
  case SETFSM_THAW:
  case SETFSM_POSTSNAP:
  case SETFSM_ABORT:
  case SETFSM_DELETE:
  case SETFSM_PRE_RESTORE_OP:
  case SETFSM_POST_RESTORE_OP:
    if (!json_is_object (result))
      expected = "an object";
    break;
  case SETFSM_HOLD_REVERT:
  case SETFSM_REVERT_UNDO:
    if (!json_is_array (json_object_get (result, "reverted")))
      expected = "an object with an array \"reverted\"";
    break;
  case SETFSM_HOLD_RELEASE:
  case SETFSM_HOLD_RELEASE_SET:
    if (!json_is_boolean (json_object_get (result, "released")))
      expected = "an object with a boolean \"released\"";
    break;
  case SETFSM_HOLD_BEGIN:
  case SETFSM_HOLD_COMMIT:
    break;
  }
  if (expected == NULL)
    return 0;
  text = json_dumps (result, JSON_COMPACT | JSON_ENCODE_ANY);
  snprintf (why, len, "%s answered with an invalid result: %.64s%s "
            "(expected %s)", setfsm_op_method (op), text ? text : "?",
            text && strlen (text) > 64 ? "..." : "", expected);
  free (text);
  return -1;
}

/* Provider NAME undid a revert but could not delete its undo set (a
 * snapshot of it open): the deleter deletes it as a failed set's. */
static void
undo_set_left (struct snapset *s, const char *name)
{
  if (catalog_deletion_add (s->sets->co->cat, name, s->id) == 0)
    deleters_deletion_queued (s->sets->deleters, name);
}

/* Keep what an answer of SC carries (a hold id, snapshots).  -1 with
 * WHY set if it does not follow the protocol. */
static int
take_answer (struct set_call *sc, json_t *result, char *why, size_t len)
{
  struct snapset *s = sc->s;

  if (check_result (sc->op, result, why, len) == -1)
    return -1;
  if (sc->op == SETFSM_HOLD_BEGIN) {
    const char *hold_id = json_string_value (json_object_get (result,
                                                              "hold_id"));
    struct uuid u;

    if (hold_id == NULL || uuid_parse (hold_id, &u) == -1) {
      snprintf (why, len, "hold.begin answered without a hold id");
      return -1;
    }
    uuid_format (&u, s->parts.ptr[sc->part].hold_id);
  }
  else if (sc->op == SETFSM_HOLD_COMMIT)
    return take_commit (s, sc->part, result, why, len);
  else if (sc->op == SETFSM_HOLD_REVERT &&
           json_array_size (json_object_get (result, "reverted")) !=
           json_array_size (s->parts.ptr[sc->part].volumes)) {
    snprintf (why, len, "hold.revert answered with %zu volumes reverted, "
              "not %zu", json_array_size (json_object_get (result,
                                                           "reverted")),
              json_array_size (s->parts.ptr[sc->part].volumes));
    return -1;
  }
  else if (sc->op == SETFSM_REVERT_UNDO &&
           json_integer_value (json_object_get (result, "deleted")) == 0)
    undo_set_left (s, sc->name);
  return 0;
}

/* The machine's view of how the call of SC ended, with WHY set for
 * every end but SETFSM_ANSWERED. */
static enum setfsm_end
classify_outcome (struct set_call *sc, const struct call_outcome *o,
                  char *why, size_t len)
{
  switch (o->end) {
  case CALL_OK:
    return take_answer (sc, o->result, why, len) == -1
      ? SETFSM_BAD_ANSWER : SETFSM_ANSWERED;
  case CALL_ERROR:
    call_outcome_describe (o, setfsm_op_method (sc->op), why, len);
    return o->code == SV_RPC_NOT_FOUND ? SETFSM_NOT_FOUND : SETFSM_REFUSED;
  default:
    call_outcome_describe (o, setfsm_op_method (sc->op), why, len);
    return SETFSM_NO_ANSWER;
  }
}

/* What only the log says of the end of a release by set id. */
static void
log_release_by_set_id (struct snapset *s, const char *name,
                       enum setfsm_end end, const struct call_outcome *o)
{
  if (end == SETFSM_ANSWERED &&
      json_is_true (json_object_get (o->result, "released")))
    log_info ("provider %s: released a hold of snapshot set %s that "
              "hold.begin took after the coordinator stopped waiting",
              name, s->id);
  else if (end == SETFSM_REFUSED || end == SETFSM_NOT_FOUND)
    log_warnx ("provider %s: %s; a hold of snapshot set %s it may have "
               "taken ends with its lease", name, s->last_error, s->id);
}

static void
protocol_call_done (void *arg, const struct call_outcome *o)
{
  struct set_call *sc = arg;
  struct snapset *s = sc->s;
  struct registry *reg = s->sets->co->reg;
  enum setfsm_end end;

  if (o->end == CALL_SHUTDOWN || s->sets->co->stopping) {
    free (sc);
    return;
  }
  s->last_error[0] = '\0';
  end = classify_outcome (sc, o, s->last_error, sizeof s->last_error);
  if (setfsm_is_writer (s->fsm, sc->part)) {
    struct writer *w = registry_writer (reg, sc->name);

    if (w != NULL)
      registry_writer_answer (reg, w, writer_events[sc->op],
                              end == SETFSM_ANSWERED ? NULL : s->last_error);
  }
  if (sc->op == SETFSM_HOLD_RELEASE_SET)
    log_release_by_set_id (s, sc->name, end, o);
  setfsm_call_ended (s->fsm, sc->part, sc->op, end,
                     end == SETFSM_ANSWERED ? NULL : s->last_error,
                     timespec_now_ms (CLOCK_MONOTONIC));
  free (sc);
  set_run_actions (s);
}

/* Executing the machine's actions. */

/* Record the failed deletion of participant I in the catalog, for the
 * deleter.  0 if it is queued. */
static int
queue_deletion (struct snapset *s, size_t i)
{
  const char *name = setfsm_part_name (s->fsm, i);

  if (catalog_deletion_add (s->sets->co->cat, name, s->id) == -1) {
    /* Logged by the catalog: nothing will retry it. */
    log_warnx ("provider %s: %s; the deletion of snapshot set %s could "
               "not be queued: delete it there by hand", name,
               s->last_error, s->id);
    return -1;
  }
  log_warnx ("provider %s: %s; the deletion of snapshot set %s is "
             "queued and retried", name, s->last_error, s->id);
  deleters_deletion_queued (s->sets->deleters, name);
  return 0;
}

static void
arm_window (struct snapset *s, int64_t deadline_ms)
{
  struct timeval tv;
  int64_t wait = deadline_ms - timespec_now_ms (CLOCK_MONOTONIC);

  evtimer_add (s->window, timespec_timeval_ms (&tv, wait > 0 ? wait : 0));
}

/* Execute A.  True if S has ended (and is freed). */
static bool
run_action (struct snapset *s, const struct setfsm_action *a)
{
  switch (a->kind) {
  case SETFSM_ACT_RECORD: {
    bool ok;

    /* The writers' events before the record that makes them durable. */
    if (a->durable)
      registry_flush_writers (s->sets->co->reg);
    ok = save_record (s, a) == 0;

    setfsm_recorded (s->fsm, ok, ok ? NULL : record_error (s),
                     timespec_now_ms (CLOCK_MONOTONIC));
    return false;
  }
  case SETFSM_ACT_CALL:
    send_protocol_call (s, a);
    return false;
  case SETFSM_ACT_ARM_WINDOW:
    arm_window (s, a->deadline_ms);
    return false;
  case SETFSM_ACT_DISARM_WINDOW:
    evtimer_del (s->window);
    return false;
  case SETFSM_ACT_QUEUE_DELETION:
    setfsm_recorded (s->fsm, queue_deletion (s, a->part) == 0, NULL,
                     timespec_now_ms (CLOCK_MONOTONIC));
    return false;
  case SETFSM_ACT_OWE_RELEASE:
    deleters_owe_release (s->sets->deleters,
                          setfsm_part_name (s->fsm, a->part), s->id);
    return false;
  case SETFSM_ACT_REPLY_COMMITTED:
    if (s->revert)
      revert_reply_reverted (s);
    else
      reply_committed (s);
    return true;
  case SETFSM_ACT_REPLY_FAILED:
    if (s->revert)
      revert_reply_failed (s);
    else
      reply_failed (s);
    return true;
  case SETFSM_ACT_UNDO_DONE:
    catalog_undo_remove (s->sets->co->cat,
                         setfsm_part_name (s->fsm, a->part), s->id);
    return false;
  case SETFSM_ACT_OWE_UNDO:
    log_warnx ("provider %s: %s; the undo of revert %s is queued and "
               "retried", setfsm_part_name (s->fsm, a->part), s->last_error,
               s->id);
    deleters_deletion_queued (s->sets->deleters,
                              setfsm_part_name (s->fsm, a->part));
    return false;
  case SETFSM_ACT_DELETION_DONE:
    catalog_deletion_remove (s->sets->co->cat,
                             setfsm_part_name (s->fsm, a->part), s->id);
    return false;
  case SETFSM_ACT_REJECT:
    set_reject (s, s->record_oom ? JSONRPC_INTERNAL_ERROR : SV_RPC_IO_ERROR,
                "cannot record the set: %s", record_error (s));
    return true;
  }
  return false;
}

/* Execute every action the machine has asked for, in order (a record
 * is answered at once, which may ask for more).  True if S has ended
 * (and is freed). */
static bool
run_actions_ended (struct snapset *s)
{
  const struct setfsm_action *next;

  while ((next = setfsm_next_action (s->fsm)) != NULL) {
    struct setfsm_action a = *next;     /* the list may grow under us */

    if (run_action (s, &a))
      return true;
  }
  return false;
}

void
set_run_actions (struct snapset *s)
{
  (void) run_actions_ended (s);
}

/* Events from the loop. */

void
set_window_cb (evutil_socket_t fd, short what, void *arg)
{
  struct snapset *s = arg;

  setfsm_window_ended (s->fsm, timespec_now_ms (CLOCK_MONOTONIC));
  set_run_actions (s);
}

/* Participants of the running set whose connection closed (marked by
 * sets_peer_gone). */
static void
gone_cb (evutil_socket_t fd, short what, void *arg)
{
  struct sets *sets = arg;
  struct snapset *s = sets->running;
  size_t i;

  if (s == NULL || s->fsm == NULL)
    return;
  for (i = 0; i < s->parts.len; i++) {
    if (!s->parts.ptr[i].gone)
      continue;
    s->parts.ptr[i].gone = false;
    setfsm_peer_gone (s->fsm, i, timespec_now_ms (CLOCK_MONOTONIC));
    if (run_actions_ended (s))
      return;
  }
}

/* Resolving. */

/* The index in the volumes of S of "PROVIDER/VOLUME" NAME, or -1.  The
 * first call indexes them: S's volumes must be complete.  A set of
 * 1,024 volumes and 100 writers made 300,000 comparisons of names per
 * set when each writer's volumes were searched for in the list. */
static ssize_t
set_pv_find (struct snapset *s, const char *name)
{
  json_t *v;
  size_t k;

  if (s->pv_index == NULL) {
    if ((s->pv_index = json_object ()) == NULL)
      fatal ("snapshot set %s", s->id);
    json_array_foreach (s->pv, k, v)
      if (json_object_get (s->pv_index, json_string_value (v)) == NULL &&
          json_object_set_new (s->pv_index, json_string_value (v),
                               json_integer ((json_int_t) k)) == -1)
        fatal ("snapshot set %s", s->id);
  }
  v = json_object_get (s->pv_index, name);
  return v ? (ssize_t) json_integer_value (v) : -1;
}

bool
set_writer_involved (struct snapset *s, const struct writer *w)
{
  json_t *a;
  size_t i;

  json_array_foreach (w->volumes, i, a)
    if (json_is_string (a) && set_pv_find (s, json_string_value (a)) >= 0)
      return true;
  return false;
}

static int
index_cmp (const void *a, const void *b)
{
  size_t x = *(const size_t *) a, y = *(const size_t *) b;

  return x < y ? -1 : x > y;
}

/* Which of the set's volumes the writer W registered (PT->mine), and
 * the first writer of S registered for the same ones (PT->same; the
 * writers are the parts before PT).  -1 on ENOMEM. */
static int
writer_volumes (struct snapset *s, const struct writer *w, struct part *pt)
{
  size_t j, me = (size_t) (pt - s->parts.ptr);
  json_t *a;

  pt->mine = malloc ((json_array_size (w ? w->volumes : NULL) + 1) *
                    sizeof *pt->mine);
  if (pt->mine == NULL)
    return -1;
  json_array_foreach (w ? w->volumes : NULL, j, a) {
    ssize_t k = json_is_string (a) ? set_pv_find (s, json_string_value (a))
      : -1;
    size_t i;

    for (i = 0; k >= 0 && i < pt->nmine && pt->mine[i] != (size_t) k; i++)
      ;
    if (k >= 0 && i == pt->nmine)
      pt->mine[pt->nmine++] = (size_t) k;
  }
  qsort (pt->mine, pt->nmine, sizeof *pt->mine, index_cmp);
  pt->same = me;
  for (j = 0; j < me; j++)
    if (s->parts.ptr[j].same == j && s->parts.ptr[j].nmine == pt->nmine &&
        memcmp (s->parts.ptr[j].mine, pt->mine,
                pt->nmine * sizeof *pt->mine) == 0) {
      pt->same = j;
      break;
    }
  return 0;
}

/* Add a participant to S and its machine.  -1 on ENOMEM. */
int
set_add_part (struct snapset *s, bool writer, const char *name)
{
  struct part *pt;

  if (part_vector_reserve (&s->parts, 1) == -1)
    return -1;
  pt = &s->parts.ptr[s->parts.len];
  memset (pt, 0, sizeof *pt);
  if (writer) {
    struct writer *w = registry_writer (s->sets->co->reg, name);

    if (writer_volumes (s, w, pt) == -1) {
      free (pt->mine);
      return -1;
    }
    setfsm_add_writer (s->fsm, name, w ? w->freeze_timeout_ms : 10000);
  }
  else
    setfsm_add_provider (s->fsm, name);
  s->parts.len++;
  if (!writer && (pt->volumes = json_array ()) == NULL)
    return -1;
  return 0;
}

/* writers "auto": every writer registered for a volume of the set.
 * One that is registered but not connected cannot be frozen, and
 * leaving it out would make the set crash-consistent for its
 * application without anyone choosing that: the set is refused, before
 * anything is recorded or called, naming each such writer.  -1 after
 * rejecting S. */
static int
auto_writers (struct snapset *s)
{
  struct registry *reg = s->sets->co->reg;
  struct rpcerr e = { .code = SV_RPC_NOT_REGISTERED };
  json_t *away = json_array ();
  char names[768] = "";
  size_t len = 0, i;
  struct writer *w;
  json_t *v;

  if (away == NULL)
    goto nomem;
  TAILQ_FOREACH (w, &reg->writers, entry)
    if (w->conn == NULL && set_writer_involved (s, w) &&
        json_array_append_new (away, json_string (w->name)) == -1)
      goto nomem;
  if (json_array_size (away) == 0) {
    json_decref (away);
    TAILQ_FOREACH (w, &reg->writers, entry)
      if (set_writer_involved (s, w) &&
          set_add_part (s, true, w->name) == -1)
        goto nomem;
    return 0;
  }

  json_array_foreach (away, i, v) {
    int n = snprintf (names + len, sizeof names - len, "%s%s",
                      i == 0 ? "" : ", ", json_string_value (v));

    if (n < 0 || (size_t) n >= sizeof names - len) {
      snprintf (names + len, sizeof names - len, ", ...");
      break;
    }
    len += (size_t) n;
  }
  rpcerr_set (&e, SV_RPC_NOT_REGISTERED, "writers \"auto\": writer%s %s "
              "%s registered for volumes of the set but not connected: "
              "start %s, or name the writers of the set (\"writers\": "
              "[...]), or ask for none (\"writers\": \"none\"), or forget "
              "%s (writer.forget)",
              json_array_size (away) > 1 ? "s" : "", names,
              json_array_size (away) > 1 ? "are" : "is",
              json_array_size (away) > 1 ? "them" : "it",
              json_array_size (away) > 1 ? "them" : "it");
  e.data = json_pack ("{s:o}", "writers", away);
  reject_error (s, &e);
  return -1;

 nomem:
  json_decref (away);
  set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
  return -1;
}

/* The writers of the set, as parts.  -1 after rejecting S. */
static int
resolve_writers (struct snapset *s)
{
  struct registry *reg = s->sets->co->reg;
  json_t *writers = json_object_get (s->params, "writers"), *v;
  struct writer *w;
  size_t i;

  if (writers == NULL || json_is_string (writers)) {
    if (writers != NULL &&
        strcmp (json_string_value (writers), "none") == 0)
      return 0;
    return auto_writers (s);
  }
  json_array_foreach (writers, i, v) {
    const char *name = json_string_value (v);

    w = registry_writer (reg, name);
    if (w == NULL) {
      set_reject (s, SV_RPC_NOT_REGISTERED, "no writer named %s is registered",
                  name);
      return -1;
    }
    if (w->conn == NULL) {
      set_reject (s, SV_RPC_NOT_REGISTERED, "writer %s is not connected",
                  name);
      return -1;
    }
    if (set_add_part (s, true, name) == -1)
      goto nomem;
  }
  return 0;

 nomem:
  set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
  return -1;
}

/* Append PROVIDER/VOLUME to the set. */
int
set_add_volume (struct snapset *s, const char *provider, const char *volume)
{
  char pv[PV_MAX_LEN + 1];

  snprintf (pv, sizeof pv, "%s/%s", provider, volume);
  return json_array_append_new (s->pv, json_string (pv));
}

/* The set's volumes when it asks for "all" of them.  -1 after
 * rejecting S. */
static int
resolve_all_volumes (struct snapset *s)
{
  struct provider *p;
  json_t *v;
  size_t i;

  TAILQ_FOREACH (p, &s->sets->co->reg->providers, entry) {
    if (p->conn == NULL)
      continue;
    json_array_foreach (p->volumes, i, v)
      if (set_add_volume (s, p->name, json_string_value
                          (json_object_get (v, "name"))) == -1) {
        set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
        return -1;
      }
  }
  if (json_array_size (s->pv) == 0) {
    set_reject (s, SV_RPC_NOT_FOUND, "no connected provider has a volume");
    return -1;
  }
  if (json_array_size (s->pv) > PROTO_SET_VOLUMES_MAX) {
    set_reject (s, JSONRPC_INVALID_PARAMS, "'volumes': \"all\" is %zu "
                "volumes, more than %d", json_array_size (s->pv),
                PROTO_SET_VOLUMES_MAX);
    return -1;
  }
  return 0;
}

/* The names of the volumes of provider P, as the keys of an object
 * kept in KNOWN under P's name (made at the first call for P).  NULL on
 * ENOMEM. */
static json_t *
provider_volume_names (json_t *known, const struct provider *p)
{
  json_t *names = json_object_get (known, p->name), *v;
  size_t i;

  if (names != NULL)
    return names;
  names = json_object ();
  if (names == NULL || json_object_set_new (known, p->name, names) == -1)
    return NULL;
  json_array_foreach (p->volumes, i, v) {
    const char *name = json_string_value (json_object_get (v, "name"));

    if (name != NULL && json_object_set_new (names, name, json_true ()) == -1)
      return NULL;
  }
  return names;
}

/* The set's volumes as named in its parameters.  Each provider's
 * volume names are indexed once: looking each of 1,024 volumes up in
 * its provider's list was 65,000 comparisons per set.  -1 after
 * rejecting S. */
static int
resolve_named_volumes (struct snapset *s, json_t *volumes)
{
  struct registry *reg = s->sets->co->reg;
  json_t *v, *names, *known = json_object ();
  size_t i;

  if (known == NULL)
    goto nomem;
  json_array_foreach (volumes, i, v) {
    char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];
    struct provider *p;

    params_split_pv (json_string_value (v), provider, volume);
    p = registry_provider (reg, provider);
    if (p == NULL) {
      json_decref (known);
      set_reject (s, SV_RPC_NOT_FOUND, "no provider named %s", provider);
      return -1;
    }
    if (p->conn == NULL) {
      json_decref (known);
      set_reject (s, SV_RPC_NOT_REGISTERED, "provider %s is not connected",
                  provider);
      return -1;
    }
    names = provider_volume_names (known, p);
    if (names == NULL)
      goto nomem;
    if (json_object_get (names, volume) == NULL) {
      json_decref (known);
      set_reject (s, SV_RPC_NOT_FOUND, "provider %s has no volume named %s",
                  provider, volume);
      return -1;
    }
    if (set_add_volume (s, provider, volume) == -1)
      goto nomem;
  }
  json_decref (known);
  return 0;

 nomem:
  json_decref (known);
  set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
  return -1;
}

/* One participant per provider of the set's volumes, with its volumes
 * in set order.  -1 on ENOMEM. */
int
set_add_providers (struct snapset *s)
{
  size_t nwriters = setfsm_nwriters (s->fsm), i, j;
  json_t *v;

  json_array_foreach (s->pv, i, v) {
    char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];

    params_split_pv (json_string_value (v), provider, volume);
    for (j = nwriters; j < s->parts.len; j++)
      if (strcmp (setfsm_part_name (s->fsm, j), provider) == 0)
        break;
    if (j == s->parts.len && set_add_part (s, false, provider) == -1)
      return -1;
    if (json_array_append_new (s->parts.ptr[j].volumes, json_string (volume))
        == -1)
      return -1;
  }
  return 0;
}

/* After the refresh: the set's volumes, writers and providers, then
 * the protocol starts. */
static void
finish_resolve (struct snapset *s)
{
  json_t *volumes = json_object_get (s->params, "volumes");

  s->pv = json_array ();
  s->fsm = setfsm_new (s->freeze_window_ms, set_fsm_out_of_memory);
  if (s->pv == NULL)
    goto nomem;
  if (json_is_string (volumes)                  /* "all" */
      ? resolve_all_volumes (s) == -1
      : resolve_named_volumes (s, volumes) == -1)
    return;
  if (resolve_writers (s) == -1)
    return;
  if (set_add_providers (s) == -1)
    goto nomem;
  s->created = time (NULL);
  s->window = evtimer_new (s->sets->co->base, set_window_cb, s);
  if (s->window == NULL)
    goto nomem;
  setfsm_start (s->fsm, s->t_start);
  if (run_actions_ended (s))
    return;                     /* the first record failed: rejected */
  log_info ("snapshot set %s: %zu volumes on %zu providers, %zu writers",
            s->id, json_array_size (s->pv),
            s->parts.len - setfsm_nwriters (s->fsm), setfsm_nwriters (s->fsm));
  return;

 nomem:
  set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
}

static void
volume_list_done (void *arg, const struct call_outcome *o)
{
  struct set_call *sc = arg;
  struct snapset *s = sc->s;
  struct registry *reg = s->sets->co->reg;
  struct provider *p = registry_provider (reg, sc->name);
  char err[1200] = "";
  json_t *volumes;

  s->resolving--;
  if (o->end == CALL_SHUTDOWN || s->sets->co->stopping) {
    free (sc);
    return;
  }
  if (o->end != CALL_OK)
    log_warnx ("snapshot set %s: provider %s: %s; using the volumes it "
               "registered", s->id, sc->name,
               call_outcome_describe (o, "volume.list", err, sizeof err));
  else {
    struct rpcerr e = { .code = 0 };

    if (params_volumes (o->result, &volumes, &e) == -1)
      log_warnx ("snapshot set %s: provider %s: volume.list answered with "
                 "an invalid result: %s; using the volumes it registered",
                 s->id, sc->name, e.message);
    else if (p != NULL)
      registry_set_volumes (reg, p, volumes);
    else
      json_decref (volumes);
  }
  free (sc);
  if (s->resolving == 0)
    finish_resolve (s);
}

/* The providers a set may use: the connected ones for "all", else
 * those named, once each.  NULL after rejecting S. */
static json_t *
providers_to_refresh (struct snapset *s)
{
  struct registry *reg = s->sets->co->reg;
  json_t *volumes = json_object_get (s->params, "volumes"), *v;
  json_t *seen = json_array ();
  struct provider *p;
  size_t i;

  if (seen == NULL) {
    set_reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
    return NULL;
  }
  if (json_is_string (volumes)) {               /* "all" */
    TAILQ_FOREACH (p, &reg->providers, entry)
      if (p->conn != NULL)
        json_array_append_new (seen, json_string (p->name));
    return seen;
  }
  json_array_foreach (volumes, i, v) {
    char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];
    json_t *name, *q;
    size_t k;
    bool dup = false;

    params_split_pv (json_string_value (v), provider, volume);
    p = registry_provider (reg, provider);
    if (p == NULL || p->conn == NULL) {
      json_decref (seen);
      if (p == NULL)
        set_reject (s, SV_RPC_NOT_FOUND, "no provider named %s", provider);
      else
        set_reject (s, SV_RPC_NOT_REGISTERED, "provider %s is not connected",
                    provider);
      return NULL;
    }
    name = json_string (provider);
    json_array_foreach (seen, k, q)
      dup = dup || json_equal (q, name);
    if (dup)
      json_decref (name);
    else
      json_array_append_new (seen, name);
  }
  return seen;
}

/* Refresh the volumes of every provider the set may use. */
static void
start_set (struct snapset *s)
{
  json_t *seen, *v;
  size_t i;

  s->t_start = timespec_now_ms (CLOCK_MONOTONIC);
  if (s->revert) {
    revert_start (s);
    return;
  }
  seen = providers_to_refresh (s);
  if (seen == NULL)
    return;
  json_array_foreach (seen, i, v) {
    s->resolving++;
    send_to_peer (s, "volume.list", NULL, 0, 0, json_string_value (v),
                  json_object (), NULL, SET_CALL_TIMEOUT_MS,
                  volume_list_done);
  }
  json_decref (seen);
  if (s->resolving == 0)
    finish_resolve (s);
}

/* The queue. */

static void
kick_cb (evutil_socket_t fd, short what, void *arg)
{
  struct sets *sets = arg;
  struct snapset *s;

  if (sets->running != NULL || sets->co->stopping ||
      (s = TAILQ_FIRST (&sets->queue)) == NULL)
    return;
  TAILQ_REMOVE (&sets->queue, s, entry);
  sets->nqueued--;
  sets->running = s;
  start_set (s);
}

int
sets_create (struct sets *sets, json_t *params, struct reply_token tok,
             struct rpcerr *e)
{
  const struct config *conf = sets->co->conf;
  struct snapset *s;
  struct uuid u;
  json_t *v;

  if (sets->nqueued >= SETS_QUEUE_MAX)
    return rpcerr_set (e, SV_RPC_BUSY, "%d snapshot sets are already waiting",
                       SETS_QUEUE_MAX);
  s = calloc (1, sizeof *s);
  if (s == NULL || uuid_generate (&u) == -1) {
    free (s);
    return rpcerr_set (e, JSONRPC_INTERNAL_ERROR, "cannot make a set id: "
                       "%s", strerror (errno));
  }
  /* The id names the set in every log line, from the refresh on. */
  uuid_format (&u, s->id);
  s->sets = sets;
  s->tok = tok;
  s->params = json_incref (params);
  v = json_object_get (params, "label");
  s->label = v ? json_string_value (v) : "";
  v = json_object_get (params, "freeze_window_ms");
  s->freeze_window_ms = v ? (unsigned) json_integer_value (v)
    : conf->freeze_window_ms;
  v = json_object_get (params, "hold_timeout_ms");
  s->hold_timeout_ms = v ? (unsigned) json_integer_value (v)
    : conf->hold_timeout_ms;
  TAILQ_INSERT_TAIL (&sets->queue, s, entry);
  sets->nqueued++;
  event_active (sets->kick, EV_TIMEOUT, 1);
  return 0;
}

/* set.delete: snapshot.delete of the set id on every provider of the
 * set, through a fan-out.  "Not found" counts as done.  The error
 * passed on is that of the first provider, in the set's order, that
 * failed, so that the answer does not depend on which answered first. */

struct setdel {
  struct sets *sets;
  struct reply_token tok;
  char id[UUID_STRLEN + 1];
};

static void
setdel_done (void *arg, const struct fanout *f)
{
  struct setdel *d = arg;
  struct catalog *cat = d->sets->co->cat;
  struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
  size_t bad = fanout_first_failure (f, SV_RPC_NOT_FOUND);
  json_int_t deleted = fanout_sum (f, "deleted");

  if (f->stopping) {
    free (d);
    return;
  }
  if (bad < f->n)
    fanout_error (f, bad, &e);
  else if (catalog_set_remove (cat, d->id) == -1)
    rpcerr_set (&e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (cat));
  else {
    log_info ("snapshot set %s deleted (%lld snapshots)", d->id,
              (long long) deleted);
    conn_reply (d->sets->co, d->tok,
                json_pack ("{s:s, s:I}", "set_id", d->id,
                           "deleted", deleted), &e);
    free (d);
    return;
  }
  log_warnx ("snapshot set %s: deletion failed: %s", d->id, e.message);
  conn_reply (d->sets->co, d->tok, NULL, &e);
  free (d);
}

int
sets_delete (struct sets *sets, const char *set_id, struct reply_token tok,
             struct rpcerr *e)
{
  struct coord *co = sets->co;
  json_t *set, *providers, *params;
  struct setdel *d;
  int r;

  if (sets->running != NULL && strcmp (sets->running->id, set_id) == 0)
    return rpcerr_set (e, SV_RPC_BUSY, "snapshot set %s is being taken",
                       set_id);
  if (sets->running != NULL && sets->running->revert &&
      strcmp (sets->running->target, set_id) == 0)
    return rpcerr_set (e, SV_RPC_BUSY, "snapshot set %s is being reverted "
                       "to", set_id);
  set = catalog_set_get (co->cat, set_id, false);
  if (set == NULL)
    return errno == ENOENT
      ? rpcerr_set (e, SV_RPC_NOT_FOUND, "no snapshot set %s", set_id)
      : rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (co->cat));
  json_decref (set);
  providers = catalog_set_providers (co->cat, set_id);
  if (providers == NULL)
    return rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (co->cat));
  d = calloc (1, sizeof *d);
  params = json_pack ("{s:s}", "id", set_id);
  if (d == NULL || params == NULL) {
    free (d);
    json_decref (params);
    json_decref (providers);
    return rpcerr_nomem (e);
  }
  d->sets = sets;
  d->tok = tok;
  snprintf (d->id, sizeof d->id, "%s", set_id);
  r = fanout_start (co, set_id, providers, "snapshot.delete", params, NULL,
                    true, SET_CALL_TIMEOUT_MS, setdel_done, d, e);
  json_decref (params);
  json_decref (providers);
  if (r == -1)
    free (d);
  return r;
}

/* Set retention (keep-sets N, docs/coordinator.md): after each
 * committed set, every committed set older than the newest N is
 * deleted through set.delete's own path, with nobody to answer (the
 * outcome is logged), unless the catalog records a hold on it that has
 * not expired.  A hold taken on a provider directly is not in the
 * catalog: that provider refuses the deletion (the set is held), the
 * refusal is logged, and the set stays listed, to be tried again after
 * the next committed set. */

/* The tags of SET's holds (from the catalog) that have not expired at
 * NOW into BUF; whether there is one. */
static bool
set_held (json_t *set, time_t now, char *buf, size_t len)
{
  json_t *h;
  size_t i, off = 0;
  bool held = false;

  buf[0] = '\0';
  json_array_foreach (json_object_get (set, "holds"), i, h) {
    json_t *exp = json_object_get (h, "expires");

    if (json_is_integer (exp) && json_integer_value (exp) <= now)
      continue;
    if (off < len)
      off += snprintf (buf + off, len - off, "%s%s", held ? ", " : "",
                       json_string_value (json_object_get (h, "tag")));
    held = true;
  }
  return held;
}

void
sets_retain (struct sets *sets)
{
  struct coord *co = sets->co;
  unsigned keep = co->conf->keep_sets;
  const struct reply_token nobody = { 0, 0 };
  json_t *list, *set;
  time_t now = time (NULL);
  size_t i;

  if (keep == 0)
    return;
  list = catalog_set_list (co->cat, "committed");
  if (list == NULL) {
    log_warnx ("set retention: %s", catalog_errmsg (co->cat));
    return;
  }
  /* Newest first. */
  json_array_foreach (list, i, set) {
    const char *id = json_string_value (json_object_get (set, "set_id"));
    struct rpcerr e = { .code = JSONRPC_INTERNAL_ERROR };
    char tags[1024];

    if (i < keep || id == NULL)
      continue;
    if (set_held (set, now, tags, sizeof tags)) {
      log_info ("set retention (keep-sets %u): snapshot set %s kept: held "
                "(tags: %s)", keep, id, tags);
      continue;
    }
    log_info ("set retention (keep-sets %u): deleting snapshot set %s",
              keep, id);
    if (sets_delete (sets, id, nobody, &e) == -1) {
      log_warnx ("set retention: snapshot set %s kept: %s", id, e.message);
      rpcerr_clear (&e);
    }
  }
  json_decref (list);
}

void
sets_provider_registered (struct sets *sets, struct provider *p)
{
  deleters_provider_registered (sets->deleters, p->name);
}

void
sets_provider_forgotten (struct sets *sets, const char *name)
{
  deleters_provider_forgotten (sets->deleters, name);
}

void
sets_peer_gone (struct sets *sets, bool writer, const char *name)
{
  struct snapset *s = sets->running;
  size_t i;

  if (s == NULL || s->fsm == NULL)
    return;
  for (i = 0; i < s->parts.len; i++)
    if (setfsm_is_writer (s->fsm, i) == writer &&
        strcmp (setfsm_part_name (s->fsm, i), name) == 0) {
      s->parts.ptr[i].gone = true;
      event_active (sets->gone_ev, EV_TIMEOUT, 1);
    }
}

/* Life. */

struct sets *
sets_new (struct coord *co)
{
  struct sets *sets = calloc (1, sizeof *sets);

  if (sets == NULL)
    return NULL;
  sets->co = co;
  TAILQ_INIT (&sets->queue);
  sets->deleters = deleters_new (co);
  sets->kick = event_new (co->base, -1, 0, kick_cb, sets);
  sets->gone_ev = event_new (co->base, -1, 0, gone_cb, sets);
  if (sets->deleters == NULL || sets->kick == NULL || sets->gone_ev == NULL) {
    sets_free (sets);
    return NULL;
  }
  return sets;
}

void
sets_counts (const struct sets *sets, size_t *running, size_t *queued)
{
  *running = sets->running != NULL;
  *queued = sets->nqueued;
}

void
sets_shutdown (struct sets *sets)
{
  struct snapset *s = sets->running;

  /* A revert's undos are in the catalog already: run at the restart. */
  if (s != NULL && s->fsm != NULL && !s->revert &&
      setfsm_phase (s->fsm) != SETFSM_NEW &&
      setfsm_phase (s->fsm) != SETFSM_REJECTED) {
    log_warnx ("snapshot set %s: the coordinator is stopping", s->id);
    catalog_fail_unfinished (sets->co->cat,
                             "the coordinator was stopped during the set",
                             time (NULL));
  }
}

void
sets_free (struct sets *sets)
{
  struct snapset *s;

  if (sets == NULL)
    return;
  set_free (sets->running);
  while ((s = TAILQ_FIRST (&sets->queue)) != NULL) {
    TAILQ_REMOVE (&sets->queue, s, entry);
    set_free (s);
  }
  deleters_free (sets->deleters);
  if (sets->kick)
    event_free (sets->kick);
  if (sets->gone_ev)
    event_free (sets->gone_ev);
  free (sets);
}
