/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * set.c: the snapshot-set state machine (docs/protocol.md, Part 2,
 * "set.create"), set.delete, and deletions left over from failed sets.
 *
 * Design notes
 *
 * One set runs at a time; set.create requests wait in a FIFO queue
 * (at most SETS_QUEUE_MAX).  Nothing here blocks: each phase sends its
 * calls in parallel and the machine advances when the last of them has
 * ended (answered, failed, timed out or lost with its connection:
 * conn.c ends every call exactly once, within its deadline), so a set
 * can never be stuck.
 *
 *   phase       recorded    calls                         next
 *   resolving   -           volume.list to each provider  preparing
 *                           involved (refresh)            (or an error
 *                                                         before any
 *                                                         record)
 *   preparing   preparing   writer.prepare to each writer freezing
 *   freezing    freezing    writer.freeze to each writer  holding
 *   holding     holding     hold.begin to each provider   committing
 *   committing  committing  hold.commit to each provider  thawing
 *   thawing     thawing     writer.thaw to each writer    post-snapshot
 *                (+ snapshots)
 *   post-snap.  thawing     writer.post_snapshot          committed
 *   aborting    aborting    see below                     failed
 *
 * The state is recorded (durably) before the calls of its phase go
 * out, so a coordinator killed at any point finds the set unfinished
 * at restart, records it failed and deletes whatever it pinned
 * (catalog_fail_unfinished; deletions run when providers register).
 *
 * Aborting, on the first failure in preparing..committing, when the
 * freeze window runs out before thawing, or when the catalog refuses
 * the final "committed" record (a set is never answered committed
 * unless that record is durable): writer.thaw to each frozen writer
 * and writer.abort to every writer; for each provider, hold.release if
 * it holds, then snapshot.delete of the set id.  A provider whose
 * hold.begin or hold.commit is still outstanding is cleaned up when
 * that call ends (its hold id is not known before).  One whose
 * hold.begin ended without an answer (deadline, lost connection) may
 * hold under an id we never learnt: it gets hold.release by set id
 * (hold.begin carries the set id), which it runs after the hold.begin,
 * since a provider answers its calls in order.  A deletion that cannot
 * be done now is queued in the catalog and retried (see "Deletions
 * left by failed sets").  The set is recorded failed and answered when
 * every call has ended.
 *
 * writers "auto" takes every writer registered for a volume of the set,
 * and refuses the set, before anything is recorded, if one of them is
 * not connected (auto_writers).
 *
 * A participant whose connection closes with no call of the set
 * outstanding also aborts it, if that loses what the set relies on:
 * a frozen writer thaws on its own when its connection drops (or when
 * it stops), so while freezing or holding the application may be
 * writing again and the snapshots would not be consistent; a provider
 * that holds can no longer be committed or released.  The registry
 * tells us from inside a connection's closing; the abort runs from the
 * event loop (gone_cb), so that no step of the machine is re-entered.
 *
 * Participant states (set objects): the last step that participant
 * completed -- writers: pending, prepared, frozen, thawed, done,
 * aborted; providers: pending, held, committed, released, deleted,
 * delete-queued; or failed (sticky: its error says why).
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "catalog.h"
#include "conf.h"
#include "jsonrpc.h"
#include "log.h"
#include "params.h"
#include "set.h"
#include "uuid.h"

#define PART_STATE_MAX 16

enum phase {
  PH_QUEUED,
  PH_RESOLVING,
  PH_PREPARING,
  PH_FREEZING,
  PH_HOLDING,
  PH_COMMITTING,
  PH_THAWING,
  PH_POSTSNAP,
  PH_ABORTING,
};

enum op {
  OP_VOLUME_LIST,
  OP_PREPARE,
  OP_FREEZE,
  OP_THAW,
  OP_POSTSNAP,
  OP_ABORT,
  OP_HOLD_BEGIN,
  OP_HOLD_COMMIT,
  OP_HOLD_RELEASE,
  OP_HOLD_RELEASE_SET,
  OP_DELETE,
};

static const struct {
  const char *method;
  const char *event;            /* writer.list's last_event; NULL: provider */
} ops[] = {
  [OP_VOLUME_LIST] = { "volume.list", NULL },
  [OP_PREPARE] = { "writer.prepare", "prepare" },
  [OP_FREEZE] = { "writer.freeze", "freeze" },
  [OP_THAW] = { "writer.thaw", "thaw" },
  [OP_POSTSNAP] = { "writer.post_snapshot", "post_snapshot" },
  [OP_ABORT] = { "writer.abort", "abort" },
  [OP_HOLD_BEGIN] = { "hold.begin", NULL },
  [OP_HOLD_COMMIT] = { "hold.commit", NULL },
  [OP_HOLD_RELEASE] = { "hold.release", NULL },
  [OP_HOLD_RELEASE_SET] = { "hold.release", NULL },
  [OP_DELETE] = { "snapshot.delete", NULL },
};

struct part {
  bool writer;
  char *name;
  char state[PART_STATE_MAX];
  char *error;                  /* the first error, or NULL */
  bool failed;
  /* Writers. */
  bool frozen;
  bool gone;                    /* its connection closed: see gone_cb */
  /* Providers. */
  json_t *volumes;              /* names of its volumes, in set order */
  char hold_id[UUID_STRLEN + 1];
  bool held;                    /* a hold to release */
  bool begin_out, commit_out;   /* hold.begin / hold.commit outstanding */
  bool begin_unknown;           /* hold.begin ended without telling
                                 * whether it holds: release by set id */
  bool cleaned;                 /* release and delete sent */
  json_t *snapshots;            /* snapshot entries from hold.commit */
};

struct snapset {
  TAILQ_ENTRY (snapset) entry;
  struct sets *sets;
  struct reply_token tok;
  json_t *params;               /* set.create's, checked */
  enum phase phase;
  char id[UUID_STRLEN + 1];
  const char *label;            /* in PARAMS, or "" */
  unsigned freeze_window_ms, hold_timeout_ms;
  json_t *pv;                   /* ["PROVIDER/VOLUME"] in set order */
  json_t *snapshots;            /* the set's snapshot entries */
  struct part *parts;           /* writers first, then providers */
  size_t nparts, nwriters;
  size_t outstanding;           /* calls not yet ended */
  char *reason;                 /* why it failed */
  bool record_oom;              /* the last record failed for want of
                                 * memory, not in the catalog */
  int64_t created;
  int64_t t_start, t_first_freeze, t_last_thaw, t_first_hold, t_last_commit;
  struct event *window;         /* the freeze window */
};

/* The deletions waiting on one provider (see "Deletions left by failed
 * sets" below). */
struct deleter {
  TAILQ_ENTRY (deleter) entry;
  struct sets *sets;
  char provider[PROTO_NAME_MAX + 1];
  struct event *timer;          /* the next round */
  unsigned backoff_ms;          /* the wait before a retry */
  size_t inflight;              /* snapshot.delete calls outstanding */
  bool failed;                  /* a deletion of this round failed */
  bool again;                   /* start another round when this one ends */
  json_t *releases;             /* set ids whose holds it may still have:
                                 * hold.release by set id at the next round */
};

struct sets {
  struct coord *co;
  TAILQ_HEAD (, snapset) queue;
  size_t nqueued;
  struct snapset *running;
  struct event *kick;           /* starts the next set */
  TAILQ_HEAD (, deleter) deleters;
  struct event *gone_ev;        /* runs gone_cb */
};

/* One call a set makes. */
struct set_call {
  struct snapset *s;
  enum op op;
  size_t part;                  /* index in s->parts (not while resolving) */
  char name[PROTO_NAME_MAX + 1];  /* the provider or writer called */
};

static void advance (struct snapset *s);
static void set_abort (struct snapset *s, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));
static void deleter_failed (struct sets *sets, const char *provider);
static void owe_release (struct sets *sets, const char *provider,
                         const char *set_id);

/* Helpers. */

static void
set_free (struct snapset *s)
{
  size_t i;

  if (s == NULL)
    return;
  for (i = 0; i < s->nparts; i++) {
    free (s->parts[i].name);
    free (s->parts[i].error);
    json_decref (s->parts[i].volumes);
    json_decref (s->parts[i].snapshots);
  }
  free (s->parts);
  if (s->window)
    event_free (s->window);
  json_decref (s->params);
  json_decref (s->pv);
  json_decref (s->snapshots);
  free (s->reason);
  free (s);
}

static void
part_state (struct part *pt, const char *state)
{
  if (!pt->failed)
    snprintf (pt->state, sizeof pt->state, "%s", state);
}

/* Note ERROR on PT without failing it (a failed thaw, a deletion
 * queued): the set's outcome does not change. */
static void
part_note (struct part *pt, const char *error)
{
  if (pt->error == NULL)
    pt->error = strdup (error);
}

/* PT failed with ERROR: sticky. */
static void
part_failed (struct part *pt, const char *error)
{
  snprintf (pt->state, sizeof pt->state, "failed");
  pt->failed = true;
  free (pt->error);
  pt->error = strdup (error);
}

/* Describe an unsuccessful outcome of METHOD into BUF. */
static const char *
outcome_error (const struct call_outcome *o, const char *method, char *buf,
               size_t len)
{
  switch (o->end) {
  case CALL_ERROR:
    snprintf (buf, len, "%s failed: %s (error %d)", method,
              o->message ? o->message : "", o->code);
    break;
  default:
    snprintf (buf, len, "%s", o->message ? o->message : "failed");
    break;
  }
  return buf;
}

/* The NBD URI of EXPORT on a provider reached at NBD_URI: the export
 * name becomes the path, before any query ("nbd+unix:///?socket=P" ->
 * "nbd+unix:///EXPORT?socket=P"). */
static char *
export_uri (const char *nbd_uri, const char *export)
{
  const char *query = strchr (nbd_uri, '?');
  size_t base = query ? (size_t) (query - nbd_uri) : strlen (nbd_uri);
  char *uri;

  /* "nbd://h:p/" and "nbd+unix:///" lose their last '/', not the
   * "//" of the scheme. */
  while (base > 0 && nbd_uri[base - 1] == '/' &&
         !(base >= 3 && memcmp (nbd_uri + base - 3, "://", 3) == 0))
    base--;
  if (asprintf (&uri, "%.*s/%s%s", (int) base, nbd_uri, export,
                query ? query : "") == -1)
    return NULL;
  return uri;
}

/* Recording. */

static json_t *
participants_json (struct snapset *s)
{
  json_t *list = json_array ();
  size_t i;

  for (i = 0; list != NULL && i < s->nparts; i++) {
    struct part *pt = &s->parts[i];
    json_t *o = json_pack ("{s:s, s:s, s:s, s:s?}",
                           "kind", pt->writer ? "writer" : "provider",
                           "name", pt->name,
                           "state", pt->state,
                           "error", pt->error);

    if (o != NULL && json_object_get (o, "error") == NULL &&
        json_object_set_new (o, "error", json_null ()) == -1) {
      json_decref (o);
      o = NULL;
    }
    if (o == NULL || json_array_append_new (list, o) == -1) {
      json_decref (list);
      return NULL;
    }
  }
  return list;
}

/* The set object of S in STATE; FINISHED adds the end time and
 * timings. */
static json_t *
set_json (struct snapset *s, const char *state, bool finished)
{
  int64_t now = coord_now_ms ();
  json_t *set, *timings = json_null ();
  bool with_snapshots = strcmp (state, "thawing") == 0 ||
    strcmp (state, "committed") == 0;

  if (finished) {
    int64_t freeze_ms = 0, hold_ms = 0;

    if (s->t_first_freeze)
      freeze_ms = (s->t_last_thaw ? s->t_last_thaw : now) - s->t_first_freeze;
    if (s->t_first_hold)
      hold_ms = (s->t_last_commit ? s->t_last_commit : now) - s->t_first_hold;
    timings = json_pack ("{s:I, s:I, s:I}",
                         "freeze_ms", (json_int_t) freeze_ms,
                         "hold_ms", (json_int_t) hold_ms,
                         "total_ms", (json_int_t) (now - s->t_start));
  }
  set = json_pack ("{s:s, s:s, s:s}", "set_id", s->id, "label", s->label,
                   "state", state);
  if (set == NULL || timings == NULL ||
      (s->reason && strcmp (state, "failed") == 0 &&
       json_object_set_new (set, "reason", json_string (s->reason)) == -1) ||
      json_object_set_new (set, "created", json_integer (s->created)) == -1 ||
      json_object_set_new (set, "finished", finished
                           ? json_integer (coord_now ()) : json_null ()) == -1 ||
      json_object_set_new (set, "snapshots", with_snapshots && s->snapshots
                           ? json_incref (s->snapshots) : json_array ()) == -1 ||
      json_object_set_new (set, "participants", participants_json (s)) == -1 ||
      json_object_set (set, "timings", timings) == -1) {
    json_decref (set);
    json_decref (timings);
    return NULL;
  }
  json_decref (timings);
  return set;
}

/* Record S in STATE.  -1 if the catalog failed (logged there).
 *
 * The first record (preparing: the set exists, with its providers) is
 * durable before any call goes out, and so is the last (committed or
 * failed) before the requester is answered.  The phases between are
 * recorded lazily: a power loss that loses them leaves the set in an
 * earlier unfinished state, which recovery aborts all the same, by set
 * id on every provider of the set. */
static int
record (struct snapset *s, const char *state, bool finished)
{
  json_t *set = set_json (s, state, finished);
  enum catalog_sync sync = finished || strcmp (state, "preparing") == 0
    ? CATALOG_DURABLE : CATALOG_LAZY;
  int r;

  s->record_oom = set == NULL;
  if (set == NULL) {
    log_warnx ("snapshot set %s: out of memory", s->id);
    return -1;
  }
  r = catalog_set_save (s->sets->co->cat, set, sync);
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

static void
set_done (struct snapset *s)
{
  struct sets *sets = s->sets;

  if (sets->running == s)
    sets->running = NULL;
  set_free (s);
  event_active (sets->kick, EV_TIMEOUT, 1);
}

static void reject (struct snapset *s, int code, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

/* Fail set.create with E (its data is stolen) before anything was
 * recorded or called. */
static void
reject_error (struct snapset *s, struct rpc_error *e)
{
  log_info ("set.create refused: %s", e->message);
  conn_reply (s->sets->co, s->tok, NULL, e);
  set_done (s);
}

static void
reject (struct snapset *s, int code, const char *fmt, ...)
{
  struct rpc_error e = { .code = code };
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (e.message, sizeof e.message, fmt, ap);
  va_end (ap);
  reject_error (s, &e);
}

/* The recorded set, as set.get shows it; else the in-memory one. */
static json_t *
final_json (struct snapset *s, const char *state)
{
  json_t *set = catalog_set_get (s->sets->co->cat, s->id, true);

  return set ? set : set_json (s, state, true);
}

static void
finish_committed (struct snapset *s)
{
  struct rpc_error e = { .code = JSONRPC_INTERNAL_ERROR };
  json_t *set;

  /* The requester may rely on "committed" only once it is durable: a
   * set whose record the catalog refused would be found unfinished at
   * the next start, failed and its snapshots deleted, after the
   * requester was told they exist.  So it is aborted now instead: the
   * pinned snapshots are deleted and the answer is a failure. */
  if (record (s, "committed", true) == -1) {
    set_abort (s, "cannot record the set as committed: %s",
               record_error (s));
    advance (s);
    return;
  }
  log_info ("snapshot set %s committed: %zu snapshots", s->id,
            json_array_size (s->snapshots));
  set = final_json (s, "committed");
  if (set == NULL)
    rpc_fail (&e, JSONRPC_INTERNAL_ERROR, "snapshot set %s committed, but "
              "its description could not be built: out of memory", s->id);
  conn_reply (s->sets->co, s->tok, set, &e);
  set_done (s);
}

static void
finish_failed (struct snapset *s)
{
  struct rpc_error e = { .code = SV_RPC_SET_FAILED };

  record (s, "failed", true);
  log_warnx ("snapshot set %s failed: %s", s->id, s->reason);
  e.data = final_json (s, "failed");
  snprintf (e.message, sizeof e.message, "snapshot set %s failed: %s",
            s->id, s->reason);
  conn_reply (s->sets->co, s->tok, NULL, &e);
  set_done (s);
}

/* Calls. */

static void call_done (void *arg, const struct call_outcome *o);

/* Call OP on the peer NAME (a provider, or a writer for writer.*);
 * PART is its index in S->parts (ignored while resolving). */
static void
call (struct snapset *s, enum op op, size_t part, const char *name,
      json_t *params, unsigned timeout_ms)
{
  struct registry *reg = s->sets->co->reg;
  struct set_call *sc = calloc (1, sizeof *sc);
  struct conn *c = NULL;

  if (sc == NULL)
    fatal ("snapshot set %s: %s", s->id, ops[op].method);
  sc->s = s;
  sc->op = op;
  sc->part = part;
  snprintf (sc->name, sizeof sc->name, "%s", name);
  if (ops[op].event != NULL) {
    struct writer *w = registry_writer (reg, name);

    if (w != NULL) {
      c = w->conn;
      registry_writer_call (reg, w, ops[op].event);
    }
  }
  else {
    struct provider *p = registry_provider (reg, name);

    if (p != NULL)
      c = p->conn;
  }
  s->outstanding++;
  conn_call (s->sets->co, c, ops[op].method, params, timeout_ms, call_done,
             sc);
}

/* writer.* with {"set_id", ...EXTRA} (EXTRA stolen, may be NULL). */
static void
call_writer (struct snapset *s, enum op op, size_t i, json_t *extra,
             unsigned timeout_ms)
{
  json_t *params = json_pack ("{s:s}", "set_id", s->id);

  if (params == NULL || (extra && json_object_update (params, extra) == -1))
    fatal ("snapshot set %s: out of memory", s->id);
  json_decref (extra);
  call (s, op, i, s->parts[i].name, params, timeout_ms);
}

static unsigned
freeze_timeout (struct snapset *s, size_t i)
{
  struct writer *w = registry_writer (s->sets->co->reg, s->parts[i].name);

  return w ? w->freeze_timeout_ms : 10000;
}

/* Release what provider I holds and delete what it may have pinned. */
static void
provider_cleanup (struct snapset *s, size_t i)
{
  struct part *pt = &s->parts[i];

  if (pt->cleaned)
    return;
  pt->cleaned = true;
  if (pt->held) {
    pt->held = false;
    call (s, OP_HOLD_RELEASE, i, pt->name,
          json_pack ("{s:s}", "hold_id", pt->hold_id), SET_CALL_TIMEOUT_MS);
  }
  else if (pt->begin_unknown) {
    /* hold.begin missed its deadline (or its answer was lost): the
     * provider may hold, or come to hold once it gets to the call,
     * under a hold id we never learnt.  It runs calls in order, so a
     * release of the set's holds sent now ends that hold, instead of
     * leaving writes blocked until its lease runs out. */
    log_info ("provider %s: releasing any hold of snapshot set %s by its "
              "set id", pt->name, s->id);
    call (s, OP_HOLD_RELEASE_SET, i, pt->name,
          json_pack ("{s:s}", "set_id", s->id), SET_CALL_TIMEOUT_MS);
  }
  call (s, OP_DELETE, i, pt->name, json_pack ("{s:s}", "id", s->id),
        SET_CALL_TIMEOUT_MS);
}

static void
set_abort (struct snapset *s, const char *fmt, ...)
{
  char reason[1024];
  va_list ap;
  size_t i;

  if (s->phase == PH_ABORTING)
    return;
  va_start (ap, fmt);
  vsnprintf (reason, sizeof reason, fmt, ap);
  va_end (ap);
  s->reason = strdup (reason);
  if (s->reason == NULL)
    fatal ("snapshot set %s", s->id);
  log_warnx ("snapshot set %s: aborting: %s", s->id, reason);
  s->phase = PH_ABORTING;
  evtimer_del (s->window);
  record (s, "aborting", false);

  for (i = 0; i < s->nwriters; i++) {
    if (s->parts[i].frozen)
      call_writer (s, OP_THAW, i, NULL, SET_CALL_TIMEOUT_MS);
    call_writer (s, OP_ABORT, i, json_pack ("{s:s}", "reason", reason),
                 SET_CALL_TIMEOUT_MS);
  }
  for (i = s->nwriters; i < s->nparts; i++)
    if (!s->parts[i].begin_out && !s->parts[i].commit_out)
      provider_cleanup (s, i);
}

/* Results. */

/* Check a hold.commit RESULT for provider I and keep its snapshot
 * entries.  -1 with WHY set if it is not the answer we asked for. */
static int
take_commit (struct snapset *s, size_t i, json_t *result, char *why,
             size_t len)
{
  struct part *pt = &s->parts[i];
  struct provider *p = registry_provider (s->sets->co->reg, pt->name);
  json_t *snaps = json_object_get (result, "snapshots"), *vol, *out;
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
  out = json_array ();
  if (out == NULL)
    fatal ("snapshot set %s", s->id);
  json_array_foreach (pt->volumes, k, vol) {
    const char *name = json_string_value (vol);
    json_t *snap, *entry = NULL;
    char *uri;

    json_array_foreach (snaps, j, snap) {
      json_t *id = json_object_get (snap, "id");
      json_t *export = json_object_get (snap, "export");
      json_t *gen = json_object_get (snap, "generation");
      struct uuid u;

      if (!json_is_string (json_object_get (snap, "volume")) ||
          strcmp (json_string_value (json_object_get (snap, "volume")), name))
        continue;
      if (!json_is_string (id) || uuid_parse (json_string_value (id), &u)
          == -1 || !json_is_string (export) ||
          json_string_length (export) > 256 ||
          strlen (json_string_value (export)) != json_string_length (export) ||
          !json_is_integer (gen)) {
        snprintf (why, len, "hold.commit answered with an invalid snapshot "
                  "of volume %s", name);
        json_decref (out);
        return -1;
      }
      uri = export_uri (p ? p->nbd_uri : "", json_string_value (export));
      if (uri == NULL)
        fatal ("snapshot set %s", s->id);
      {
        char text[UUID_STRLEN + 1];

        uuid_format (&u, text);
        entry = json_pack ("{s:s, s:s, s:s, s:O, s:s, s:O}",
                           "provider", pt->name, "volume", name, "id", text,
                           "export", export, "uri", uri, "generation", gen);
      }
      free (uri);
      break;
    }
    if (entry == NULL) {
      snprintf (why, len, "hold.commit answered without a snapshot of "
                "volume %s", name);
      json_decref (out);
      return -1;
    }
    if (json_array_append_new (out, entry) == -1)
      fatal ("snapshot set %s", s->id);
  }
  json_decref (pt->snapshots);
  pt->snapshots = out;
  return 0;
}

/* Whether the result of a call of OP follows the protocol (Part 2):
 * writer.* answer an object ({}, members ignored), hold.release
 * {"released": bool}, snapshot.delete an object.  volume.list,
 * hold.begin and hold.commit are checked where their members are read.
 * -1 with WHY set, naming the method and showing the result. */
static int
check_result (enum op op, json_t *result, char *why, size_t len)
{
  const char *expected = NULL;
  char *text;

  switch (op) {
  case OP_PREPARE:
  case OP_FREEZE:
  case OP_THAW:
  case OP_POSTSNAP:
  case OP_ABORT:
  case OP_DELETE:
    if (!json_is_object (result))
      expected = "an object";
    break;
  case OP_HOLD_RELEASE:
  case OP_HOLD_RELEASE_SET:
    if (!json_is_boolean (json_object_get (result, "released")))
      expected = "an object with a boolean \"released\"";
    break;
  case OP_VOLUME_LIST:
  case OP_HOLD_BEGIN:
  case OP_HOLD_COMMIT:
    break;
  }
  if (expected == NULL)
    return 0;
  text = json_dumps (result, JSON_COMPACT | JSON_ENCODE_ANY);
  snprintf (why, len, "%s answered with an invalid result: %.64s%s "
            "(expected %s)", ops[op].method, text ? text : "?",
            text && strlen (text) > 64 ? "..." : "", expected);
  free (text);
  return -1;
}

static void
call_done (void *arg, const struct call_outcome *o)
{
  struct set_call *sc = arg;
  struct snapset *s = sc->s;
  struct registry *reg = s->sets->co->reg;
  struct part *pt = s->phase == PH_RESOLVING ? NULL : &s->parts[sc->part];
  const char *method = ops[sc->op].method;
  bool ok = o->end == CALL_OK, bad_result = false;
  char err[1200] = "";

  s->outstanding--;
  if (o->end == CALL_SHUTDOWN || s->sets->co->stopping) {
    free (sc);
    return;
  }
  if (!ok)
    outcome_error (o, method, err, sizeof err);
  else if (check_result (sc->op, o->result, err, sizeof err) == -1) {
    ok = false;
    bad_result = true;
  }
  if (ops[sc->op].event != NULL) {
    struct writer *w = registry_writer (reg, sc->name);

    if (w != NULL)
      registry_writer_answer (reg, w, ops[sc->op].event, ok ? NULL : err);
  }

  switch (sc->op) {
  case OP_VOLUME_LIST: {
    struct provider *p = registry_provider (reg, sc->name);
    struct rpc_error e;
    json_t *volumes;

    if (ok && params_volumes (o->result, &volumes, &e) == -1) {
      ok = false;
      snprintf (err, sizeof err, "volume.list answered with an invalid "
                "result: %s", e.message);
    }
    if (!ok)
      log_warnx ("provider %s: %s; using the volumes it registered",
                 sc->name, err);
    else if (p != NULL)
      registry_set_volumes (reg, p, volumes);
    else
      json_decref (volumes);
    break;
  }

  case OP_PREPARE:
  case OP_FREEZE:
    if (ok) {
      if (sc->op == OP_FREEZE)
        pt->frozen = true;
      part_state (pt, sc->op == OP_FREEZE ? "frozen" : "prepared");
    }
    else {
      /* A writer that answered freeze, but not as the protocol says,
       * may have frozen: it is thawed with the others. */
      if (sc->op == OP_FREEZE && bad_result)
        pt->frozen = true;
      part_failed (pt, err);
      set_abort (s, "writer %s: %s", pt->name, err);
    }
    break;

  case OP_THAW:
  case OP_POSTSNAP:
  case OP_ABORT:
    if (sc->op == OP_THAW) {
      s->t_last_thaw = coord_now_ms ();
      pt->frozen = !ok && pt->frozen;
    }
    if (ok)
      part_state (pt, sc->op == OP_THAW ? "thawed"
                  : sc->op == OP_ABORT ? "aborted" : "done");
    else if (sc->op == OP_ABORT)
      part_note (pt, err);
    else
      /* The snapshots are taken: a writer that fails to thaw does
       * not undo them, but shows as failed. */
      part_failed (pt, err);
    break;

  case OP_HOLD_BEGIN: {
    const char *hold_id = json_string_value (json_object_get (o->result,
                                                              "hold_id"));
    struct uuid u;

    pt->begin_out = false;
    if (ok && (hold_id == NULL || uuid_parse (hold_id, &u) == -1)) {
      ok = false;
      snprintf (err, sizeof err, "hold.begin answered without a hold id");
    }
    /* Only a refusal says for sure that nothing is held. */
    pt->begin_unknown = !ok && o->end != CALL_ERROR;
    if (ok) {
      uuid_format (&u, pt->hold_id);
      pt->held = true;
      part_state (pt, "held");
    }
    else
      part_failed (pt, err);
    if (s->phase == PH_ABORTING)
      provider_cleanup (s, sc->part);
    else if (!ok)
      set_abort (s, "provider %s: %s", pt->name, err);
    break;
  }

  case OP_HOLD_COMMIT:
    pt->commit_out = false;
    pt->held = false;           /* a commit ends the hold, either way */
    s->t_last_commit = coord_now_ms ();
    if (ok && take_commit (s, sc->part, o->result, err, sizeof err) == -1)
      ok = false;
    if (ok)
      part_state (pt, "committed");
    else
      part_failed (pt, err);
    if (s->phase == PH_ABORTING)
      provider_cleanup (s, sc->part);
    else if (!ok)
      set_abort (s, "provider %s: %s", pt->name, err);
    break;

  case OP_HOLD_RELEASE:
    if (ok)
      part_state (pt, "released");
    else
      part_note (pt, err);
    if (!ok && o->end != CALL_ERROR)
      owe_release (s->sets, pt->name, s->id);
    break;

  case OP_HOLD_RELEASE_SET:
    if (ok && json_is_true (json_object_get (o->result, "released")))
      log_info ("provider %s: released a hold of snapshot set %s that "
                "hold.begin took after the coordinator stopped waiting",
                pt->name, s->id);
    else if (!ok && o->end != CALL_ERROR)
      owe_release (s->sets, pt->name, s->id);
    else if (!ok)
      log_warnx ("provider %s: %s; a hold of snapshot set %s it may have "
                 "taken ends with its lease", pt->name, err, s->id);
    break;

  case OP_DELETE:
    if (ok || (o->end == CALL_ERROR && o->code == SV_RPC_NOT_FOUND))
      part_state (pt, "deleted");
    else if (catalog_deletion_add (s->sets->co->cat, pt->name, s->id)
             == -1) {
      /* Logged by the catalog: nothing will retry it. */
      log_warnx ("provider %s: %s; the deletion of snapshot set %s could "
                 "not be queued: delete it there by hand", pt->name, err,
                 s->id);
      part_note (pt, err);
    }
    else {
      log_warnx ("provider %s: %s; the deletion of snapshot set %s is "
                 "queued and retried", pt->name, err, s->id);
      part_state (pt, "delete-queued");
      part_note (pt, err);
      deleter_failed (s->sets, pt->name);
    }
    break;
  }
  free (sc);
  advance (s);
}

/* Phases. */

static void
window_cb (evutil_socket_t fd, short what, void *arg)
{
  struct snapset *s = arg;

  if (s->phase == PH_FREEZING || s->phase == PH_HOLDING ||
      s->phase == PH_COMMITTING) {
    set_abort (s, "the freeze window of %u ms ran out before the snapshots "
               "were taken", s->freeze_window_ms);
    advance (s);
  }
}

/* Participants of the running set whose connection closed (marked by
 * sets_peer_gone): abort if the set relied on them (design notes). */
static void
gone_cb (evutil_socket_t fd, short what, void *arg)
{
  struct sets *sets = arg;
  struct snapset *s = sets->running;
  size_t i;

  if (s == NULL)
    return;
  for (i = 0; i < s->nparts; i++) {
    struct part *pt = &s->parts[i];

    if (!pt->gone)
      continue;
    pt->gone = false;
    if (s->phase != PH_FREEZING && s->phase != PH_HOLDING)
      continue;
    if (pt->writer && pt->frozen) {
      pt->frozen = false;       /* it thawed on its own */
      part_failed (pt, "disconnected while frozen");
      set_abort (s, "writer %s: disconnected while frozen", pt->name);
    }
    else if (!pt->writer && pt->held) {
      part_failed (pt, "disconnected while holding");
      set_abort (s, "provider %s: disconnected while holding", pt->name);
    }
  }
  advance (s);
}

/* Enter PHASE, recorded as STATE first; -1 (after aborting) if it
 * could not be recorded. */
static int
enter (struct snapset *s, enum phase phase, const char *state)
{
  if (record (s, state, false) == -1) {
    set_abort (s, "cannot record the set in the catalog: %s",
               record_error (s));
    return -1;
  }
  s->phase = phase;
  return 0;
}

static void
start_prepare (struct snapset *s)
{
  size_t i;

  s->phase = PH_PREPARING;
  for (i = 0; i < s->nwriters; i++)
    call_writer (s, OP_PREPARE, i,
                 json_pack ("{s:O, s:s}", "volumes", s->pv, "label",
                            s->label),
                 freeze_timeout (s, i));
}

static void
start_freeze (struct snapset *s)
{
  struct timeval tv;
  size_t i;

  if (s->nwriters == 0) {
    s->phase = PH_FREEZING;     /* nothing to freeze, no window */
    return;
  }
  if (enter (s, PH_FREEZING, "freezing") == -1)
    return;
  s->t_first_freeze = coord_now_ms ();
  evtimer_add (s->window, coord_timeval (&tv, s->freeze_window_ms));
  for (i = 0; i < s->nwriters; i++)
    call_writer (s, OP_FREEZE, i,
                 json_pack ("{s:I}", "window_ms",
                            (json_int_t) s->freeze_window_ms),
                 freeze_timeout (s, i));
}

static void
start_hold (struct snapset *s)
{
  size_t i;

  if (enter (s, PH_HOLDING, "holding") == -1)
    return;
  s->t_first_hold = coord_now_ms ();
  for (i = s->nwriters; i < s->nparts; i++) {
    struct part *pt = &s->parts[i];

    pt->begin_out = true;
    /* No wait_ms: the provider's default (SET_HOLD_WAIT_MS) applies,
     * and the deadline is that plus 5 s. */
    call (s, OP_HOLD_BEGIN, i, pt->name,
          json_pack ("{s:O, s:I, s:s}", "volumes", pt->volumes,
                     "timeout_ms", (json_int_t) s->hold_timeout_ms,
                     "set_id", s->id),
          SET_HOLD_WAIT_MS + 5000);
  }
}

static void
start_commit (struct snapset *s)
{
  size_t i;

  if (enter (s, PH_COMMITTING, "committing") == -1)
    return;
  for (i = s->nwriters; i < s->nparts; i++) {
    struct part *pt = &s->parts[i];

    pt->commit_out = true;
    call (s, OP_HOLD_COMMIT, i, pt->name,
          json_pack ("{s:s, s:s, s:s}", "hold_id", pt->hold_id,
                     "set_id", s->id, "label", s->label),
          SET_CALL_TIMEOUT_MS);
  }
}

/* The set's snapshot entries, in the order of its volumes. */
static int
gather_snapshots (struct snapset *s)
{
  json_t *all = json_array (), *pv;
  size_t k, i, j;

  if (all == NULL)
    return -1;
  json_array_foreach (s->pv, k, pv) {
    char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];

    params_split_pv (json_string_value (pv), provider, volume);
    for (i = s->nwriters; i < s->nparts; i++) {
      json_t *snap;

      if (strcmp (s->parts[i].name, provider) != 0)
        continue;
      json_array_foreach (s->parts[i].snapshots, j, snap)
        if (strcmp (json_string_value (json_object_get (snap, "volume")),
                    volume) == 0 &&
            json_array_append (all, snap) == -1) {
          json_decref (all);
          return -1;
        }
    }
  }
  s->snapshots = all;
  return 0;
}

static void
start_thaw (struct snapset *s)
{
  size_t i;

  evtimer_del (s->window);
  if (gather_snapshots (s) == -1)
    fatal ("snapshot set %s", s->id);
  if (enter (s, PH_THAWING, "thawing") == -1)
    return;
  for (i = 0; i < s->nwriters; i++)
    if (s->parts[i].frozen)
      call_writer (s, OP_THAW, i, NULL, SET_CALL_TIMEOUT_MS);
}

static void
start_post_snapshot (struct snapset *s)
{
  size_t i;

  s->phase = PH_POSTSNAP;
  for (i = 0; i < s->nwriters; i++)
    call_writer (s, OP_POSTSNAP, i,
                 json_pack ("{s:O}", "snapshots", s->snapshots),
                 SET_CALL_TIMEOUT_MS);
}

/* Resolving. */

static bool
writer_involved (const struct writer *w, json_t *pv)
{
  json_t *a, *b;
  size_t i, j;

  json_array_foreach (w->volumes, i, a)
    json_array_foreach (pv, j, b)
      if (json_equal (a, b))
        return true;
  return false;
}

static int
add_part (struct snapset *s, bool writer, const char *name)
{
  struct part *parts = realloc (s->parts, (s->nparts + 1) * sizeof *parts);
  struct part *pt;

  if (parts == NULL)
    return -1;
  s->parts = parts;
  pt = &parts[s->nparts];
  memset (pt, 0, sizeof *pt);
  pt->writer = writer;
  snprintf (pt->state, sizeof pt->state, "pending");
  if ((pt->name = strdup (name)) == NULL)
    return -1;
  s->nparts++;
  if (writer)
    s->nwriters++;
  else if ((pt->volumes = json_array ()) == NULL)
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
  struct rpc_error e = { .code = SV_RPC_NOT_REGISTERED };
  json_t *away = json_array ();
  char names[768] = "";
  size_t len = 0, i;
  struct writer *w;
  json_t *v;

  if (away == NULL)
    goto nomem;
  TAILQ_FOREACH (w, &reg->writers, entry)
    if (w->conn == NULL && writer_involved (w, s->pv) &&
        json_array_append_new (away, json_string (w->name)) == -1)
      goto nomem;
  if (json_array_size (away) == 0) {
    json_decref (away);
    TAILQ_FOREACH (w, &reg->writers, entry)
      if (writer_involved (w, s->pv) && add_part (s, true, w->name) == -1)
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
  rpc_fail (&e, SV_RPC_NOT_REGISTERED, "writers \"auto\": writer%s %s "
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
  reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
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
      reject (s, SV_RPC_NOT_REGISTERED, "no writer named %s is registered",
              name);
      return -1;
    }
    if (w->conn == NULL) {
      reject (s, SV_RPC_NOT_REGISTERED, "writer %s is not connected", name);
      return -1;
    }
    if (add_part (s, true, name) == -1)
      goto nomem;
  }
  return 0;

 nomem:
  reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
  return -1;
}

/* Append PROVIDER/VOLUME to the set. */
static int
add_volume (struct snapset *s, const char *provider, const char *volume)
{
  char pv[PV_MAX_LEN + 1];

  snprintf (pv, sizeof pv, "%s/%s", provider, volume);
  return json_array_append_new (s->pv, json_string (pv));
}

/* After the refresh: the set's volumes, writers and providers. */
static void
finish_resolve (struct snapset *s)
{
  struct registry *reg = s->sets->co->reg;
  json_t *volumes = json_object_get (s->params, "volumes"), *v;
  struct provider *p;
  size_t i, j;

  s->pv = json_array ();
  if (s->pv == NULL)
    goto nomem;
  if (json_is_string (volumes)) {               /* "all" */
    TAILQ_FOREACH (p, &reg->providers, entry) {
      if (p->conn == NULL)
        continue;
      json_array_foreach (p->volumes, i, v)
        if (add_volume (s, p->name,
                        json_string_value (json_object_get (v, "name")))
            == -1)
          goto nomem;
    }
    if (json_array_size (s->pv) == 0) {
      reject (s, SV_RPC_NOT_FOUND, "no connected provider has a volume");
      return;
    }
    if (json_array_size (s->pv) > PROTO_SET_VOLUMES_MAX) {
      reject (s, JSONRPC_INVALID_PARAMS, "'volumes': \"all\" is %zu "
              "volumes, more than %d", json_array_size (s->pv),
              PROTO_SET_VOLUMES_MAX);
      return;
    }
  }
  else {
    json_array_foreach (volumes, i, v) {
      char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];

      params_split_pv (json_string_value (v), provider, volume);
      p = registry_provider (reg, provider);
      if (p == NULL) {
        reject (s, SV_RPC_NOT_FOUND, "no provider named %s", provider);
        return;
      }
      if (p->conn == NULL) {
        reject (s, SV_RPC_NOT_REGISTERED, "provider %s is not connected",
                provider);
        return;
      }
      if (!registry_has_volume (p, volume, NULL)) {
        reject (s, SV_RPC_NOT_FOUND, "provider %s has no volume named %s",
                provider, volume);
        return;
      }
      if (add_volume (s, provider, volume) == -1)
        goto nomem;
    }
  }

  if (resolve_writers (s) == -1)
    return;
  json_array_foreach (s->pv, i, v) {
    char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];

    params_split_pv (json_string_value (v), provider, volume);
    for (j = s->nwriters; j < s->nparts; j++)
      if (strcmp (s->parts[j].name, provider) == 0)
        break;
    if (j == s->nparts && add_part (s, false, provider) == -1)
      goto nomem;
    if (json_array_append_new (s->parts[j].volumes, json_string (volume))
        == -1)
      goto nomem;
  }

  {
    struct uuid u;

    if (uuid_generate (&u) == -1) {
      reject (s, JSONRPC_INTERNAL_ERROR, "cannot make a set id: %s",
              strerror (errno));
      return;
    }
    uuid_format (&u, s->id);
  }
  s->created = coord_now ();
  s->window = evtimer_new (s->sets->co->base, window_cb, s);
  if (s->window == NULL)
    goto nomem;
  if (record (s, "preparing", false) == -1) {
    reject (s, s->record_oom ? JSONRPC_INTERNAL_ERROR : SV_RPC_IO_ERROR,
            "cannot record the set: %s", record_error (s));
    return;
  }
  log_info ("snapshot set %s: %zu volumes on %zu providers, %zu writers",
            s->id, json_array_size (s->pv), s->nparts - s->nwriters,
            s->nwriters);
  start_prepare (s);
  advance (s);
  return;

 nomem:
  reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
}

/* Refresh the volumes of every provider the set may use. */
static void
start_set (struct snapset *s)
{
  struct registry *reg = s->sets->co->reg;
  json_t *volumes = json_object_get (s->params, "volumes"), *v;
  json_t *seen = json_array ();
  struct provider *p;
  size_t i;

  s->phase = PH_RESOLVING;
  s->t_start = coord_now_ms ();
  if (seen == NULL) {
    reject (s, JSONRPC_INTERNAL_ERROR, "out of memory");
    return;
  }
  if (json_is_string (volumes)) {               /* "all" */
    TAILQ_FOREACH (p, &reg->providers, entry)
      if (p->conn != NULL)
        json_array_append_new (seen, json_string (p->name));
  }
  else {
    json_array_foreach (volumes, i, v) {
      char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];
      json_t *name, *q;
      size_t k;
      bool dup = false;

      params_split_pv (json_string_value (v), provider, volume);
      p = registry_provider (reg, provider);
      if (p == NULL) {
        json_decref (seen);
        reject (s, SV_RPC_NOT_FOUND, "no provider named %s", provider);
        return;
      }
      if (p->conn == NULL) {
        json_decref (seen);
        reject (s, SV_RPC_NOT_REGISTERED, "provider %s is not connected",
                provider);
        return;
      }
      name = json_string (provider);
      json_array_foreach (seen, k, q)
        dup = dup || json_equal (q, name);
      if (dup)
        json_decref (name);
      else
        json_array_append_new (seen, name);
    }
  }
  json_array_foreach (seen, i, v)
    call (s, OP_VOLUME_LIST, 0, json_string_value (v), json_object (),
          SET_CALL_TIMEOUT_MS);
  json_decref (seen);
  advance (s);
}

static void
advance (struct snapset *s)
{
  if (s->outstanding > 0)
    return;
  switch (s->phase) {
  case PH_QUEUED:
    break;
  case PH_RESOLVING:
    finish_resolve (s);
    break;
  case PH_PREPARING:
    start_freeze (s);
    advance (s);
    break;
  case PH_FREEZING:
    start_hold (s);
    advance (s);
    break;
  case PH_HOLDING:
    start_commit (s);
    advance (s);
    break;
  case PH_COMMITTING:
    start_thaw (s);
    advance (s);
    break;
  case PH_THAWING:
    start_post_snapshot (s);
    advance (s);
    break;
  case PH_POSTSNAP:
    finish_committed (s);
    break;
  case PH_ABORTING:
    finish_failed (s);
    break;
  }
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
             struct rpc_error *e)
{
  const struct config *conf = sets->co->conf;
  struct snapset *s;
  json_t *v;

  if (sets->nqueued >= SETS_QUEUE_MAX)
    return rpc_fail (e, SV_RPC_BUSY, "%d snapshot sets are already waiting",
                     SETS_QUEUE_MAX);
  s = calloc (1, sizeof *s);
  if (s == NULL)
    return rpc_fail (e, JSONRPC_INTERNAL_ERROR, "out of memory");
  s->sets = sets;
  s->tok = tok;
  s->params = json_incref (params);
  s->phase = PH_QUEUED;
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

/* set.delete. */

struct setdel {
  struct sets *sets;
  struct reply_token tok;
  char id[UUID_STRLEN + 1];
  size_t outstanding;
  json_int_t deleted;
  bool failed;
  struct rpc_error e;
};

struct setdel_call {
  struct setdel *d;
  char provider[PROTO_NAME_MAX + 1];
};

static void
setdel_finish (struct setdel *d)
{
  struct catalog *cat = d->sets->co->cat;

  if (!d->failed && catalog_set_remove (cat, d->id) == -1) {
    d->failed = true;
    rpc_fail (&d->e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (cat));
  }
  if (d->failed)
    conn_reply (d->sets->co, d->tok, NULL, &d->e);
  else {
    log_info ("snapshot set %s deleted (%lld snapshots)", d->id,
              (long long) d->deleted);
    conn_reply (d->sets->co, d->tok,
                json_pack ("{s:s, s:I}", "set_id", d->id,
                           "deleted", d->deleted), &d->e);
  }
  free (d);
}

static void
setdel_done (void *arg, const struct call_outcome *o)
{
  struct setdel_call *dc = arg;
  struct setdel *d = dc->d;

  d->outstanding--;
  if (o->end == CALL_SHUTDOWN || d->sets->co->stopping) {
    free (dc);
    if (d->outstanding == 0)
      free (d);
    return;
  }
  if (o->end == CALL_OK) {
    json_t *n = json_object_get (o->result, "deleted");

    if (json_is_integer (n) && json_integer_value (n) > 0)
      d->deleted += json_integer_value (n);
  }
  else if (!(o->end == CALL_ERROR && o->code == SV_RPC_NOT_FOUND) &&
           !d->failed) {
    char err[1200];

    d->failed = true;
    outcome_error (o, "snapshot.delete", err, sizeof err);
    rpc_fail (&d->e, o->end == CALL_ERROR ? o->code
              : o->end == CALL_TIMEOUT ? SV_RPC_TIMEOUT
              : SV_RPC_NOT_REGISTERED,
              "provider %s: %s", dc->provider, err);
  }
  free (dc);
  if (d->outstanding == 0)
    setdel_finish (d);
}

int
sets_delete (struct sets *sets, const char *set_id, struct reply_token tok,
             struct rpc_error *e)
{
  struct coord *co = sets->co;
  json_t *set, *providers, *v;
  struct setdel *d;
  size_t i;

  if (sets->running != NULL && strcmp (sets->running->id, set_id) == 0)
    return rpc_fail (e, SV_RPC_BUSY, "snapshot set %s is being taken",
                     set_id);
  set = catalog_set_get (co->cat, set_id, false);
  if (set == NULL)
    return errno == ENOENT
      ? rpc_fail (e, SV_RPC_NOT_FOUND, "no snapshot set %s", set_id)
      : rpc_fail (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (co->cat));
  json_decref (set);
  providers = catalog_set_providers (co->cat, set_id);
  if (providers == NULL)
    return rpc_fail (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (co->cat));
  json_array_foreach (providers, i, v) {
    struct provider *p = registry_provider (co->reg, json_string_value (v));

    if (p == NULL || p->conn == NULL) {
      rpc_fail (e, SV_RPC_NOT_REGISTERED, "provider %s of snapshot set %s "
                "is not connected", json_string_value (v), set_id);
      json_decref (providers);
      return -1;
    }
  }

  d = calloc (1, sizeof *d);
  if (d == NULL) {
    json_decref (providers);
    return rpc_fail (e, JSONRPC_INTERNAL_ERROR, "out of memory");
  }
  d->sets = sets;
  d->tok = tok;
  snprintf (d->id, sizeof d->id, "%s", set_id);
  d->e.code = JSONRPC_INTERNAL_ERROR;
  /* One more than the calls, so that none can finish D before all
   * are made. */
  d->outstanding = 1;
  json_array_foreach (providers, i, v) {
    struct setdel_call *dc = calloc (1, sizeof *dc);

    if (dc == NULL)
      fatal ("set.delete");
    dc->d = d;
    snprintf (dc->provider, sizeof dc->provider, "%s", json_string_value (v));
    d->outstanding++;
    conn_call (co, registry_provider (co->reg, dc->provider)->conn,
               "snapshot.delete", json_pack ("{s:s}", "id", set_id),
               SET_CALL_TIMEOUT_MS, setdel_done, dc);
  }
  json_decref (providers);
  d->outstanding--;
  if (d->outstanding == 0)
    setdel_finish (d);
  return 0;
}

/* Deletions left by failed sets.
 *
 * A snapshot.delete of a failed set's id that could not be done (the
 * provider was away, or refused: a snapshot open on an NBD connection)
 * is a row of pending_deletions.  Each provider with such rows has a
 * deleter that runs them in rounds: one snapshot.delete per row, in
 * parallel.  A round starts when the provider registers (after the
 * answer to its registration), and, while it stays connected, again
 * after a round or a set's deletion failed: first after deletion-retry,
 * then twice as long after each further failure, up to
 * DELETION_BACKOFF_MAX times deletion-retry.  A round that succeeds, or
 * a registration, starts the wait from deletion-retry again.  A
 * deletion answered "not found" is done.  Rounds never overlap: one
 * asked for while another runs follows it. */

#define DELETION_BACKOFF_MAX 32

struct pending_call {
  struct sets *sets;
  char provider[PROTO_NAME_MAX + 1];
  char set_id[UUID_STRLEN + 1];
};

static struct deleter *
deleter_find (struct sets *sets, const char *provider)
{
  struct deleter *d;

  TAILQ_FOREACH (d, &sets->deleters, entry)
    if (strcmp (d->provider, provider) == 0)
      return d;
  return NULL;
}

static void deleter_cb (evutil_socket_t fd, short what, void *arg);

/* The deleter of PROVIDER, made if needed. */
static struct deleter *
deleter_get (struct sets *sets, const char *provider)
{
  struct deleter *d = deleter_find (sets, provider);

  if (d != NULL)
    return d;
  d = calloc (1, sizeof *d);
  if (d == NULL)
    fatal ("deletions");
  d->sets = sets;
  snprintf (d->provider, sizeof d->provider, "%s", provider);
  d->backoff_ms = sets->co->conf->deletion_retry_ms;
  d->timer = evtimer_new (sets->co->base, deleter_cb, d);
  d->releases = json_array ();
  if (d->timer == NULL || d->releases == NULL)
    fatal ("deletions");
  TAILQ_INSERT_TAIL (&sets->deleters, d, entry);
  return d;
}

static void
deleter_free (struct deleter *d)
{
  if (d->timer)
    event_free (d->timer);
  json_decref (d->releases);
  free (d);
}

/* Start the next round of D after its backoff, which then doubles. */
static void
deleter_retry_later (struct deleter *d)
{
  unsigned base = d->sets->co->conf->deletion_retry_ms;
  struct timeval tv;

  if (evtimer_pending (d->timer, NULL))
    return;
  log_info ("provider %s: retrying its queued deletions in %u ms",
            d->provider, d->backoff_ms);
  evtimer_add (d->timer, coord_timeval (&tv, d->backoff_ms));
  if (d->backoff_ms < base * DELETION_BACKOFF_MAX)
    d->backoff_ms *= 2;
}

static void
deleter_round_end (struct deleter *d)
{
  struct provider *p = registry_provider (d->sets->co->reg, d->provider);
  bool failed = d->failed;
  struct timeval tv;

  d->failed = false;
  if (d->again) {
    d->again = false;
    evtimer_del (d->timer);
    evtimer_add (d->timer, coord_timeval (&tv, 0));
  }
  else if (!failed)
    d->backoff_ms = d->sets->co->conf->deletion_retry_ms;
  else if (p != NULL && p->conn != NULL)
    deleter_retry_later (d);
  /* A provider that went away starts again when it registers. */
}

static void
pending_done (void *arg, const struct call_outcome *o)
{
  struct pending_call *pc = arg;
  struct sets *sets = pc->sets;
  struct deleter *d;

  if (o->end == CALL_SHUTDOWN || sets->co->stopping) {
    free (pc);
    return;
  }
  d = deleter_find (sets, pc->provider);
  if (o->end == CALL_OK ||
      (o->end == CALL_ERROR && o->code == SV_RPC_NOT_FOUND)) {
    log_info ("provider %s: deleted what remained of snapshot set %s",
              pc->provider, pc->set_id);
    catalog_deletion_remove (sets->co->cat, pc->provider, pc->set_id);
  }
  else {
    char err[1200];

    log_warnx ("provider %s: %s; the deletion of snapshot set %s stays "
               "queued", pc->provider,
               outcome_error (o, "snapshot.delete", err, sizeof err),
               pc->set_id);
    if (d != NULL)
      d->failed = true;
  }
  free (pc);
  /* D is gone if the provider was forgotten meanwhile. */
  if (d != NULL && --d->inflight == 0)
    deleter_round_end (d);
}

/* The release of a set's holds that a provider was owed (owe_release)
 * ended.  Anything but a lost call settles it: the provider ran it. */
static void
release_done (void *arg, const struct call_outcome *o)
{
  struct pending_call *pc = arg;
  struct sets *sets = pc->sets;
  struct deleter *d;
  json_t *v;
  size_t k;

  if (o->end == CALL_SHUTDOWN || sets->co->stopping) {
    free (pc);
    return;
  }
  d = deleter_find (sets, pc->provider);
  if (o->end == CALL_OK &&
      json_is_true (json_object_get (o->result, "released")))
    log_info ("provider %s: released a hold of snapshot set %s that it "
              "took while the coordinator could not reach it",
              pc->provider, pc->set_id);
  if (d != NULL && (o->end == CALL_OK || o->end == CALL_ERROR))
    json_array_foreach (d->releases, k, v)
      if (strcmp (json_string_value (v), pc->set_id) == 0) {
        json_array_remove (d->releases, k);
        break;
      }
  free (pc);
  if (d != NULL && --d->inflight == 0)
    deleter_round_end (d);
}

/* P may hold, under an id we never learnt, for the set SET_ID, which
 * is no longer in progress: its hold.begin ended without an answer, or
 * the hold.release could not reach it.  A hold.release by set id goes
 * at the next round of its deleter, when it registers again, so that
 * writes are not held until the lease runs out. */
static void
owe_release (struct sets *sets, const char *provider, const char *set_id)
{
  struct deleter *d = deleter_get (sets, provider);
  json_t *v;
  size_t k;

  json_array_foreach (d->releases, k, v)
    if (strcmp (json_string_value (v), set_id) == 0)
      return;
  if (json_array_append_new (d->releases, json_string (set_id)) == -1)
    fatal ("deletions");
  log_info ("provider %s: any hold of snapshot set %s it has is released "
            "(by set id) when it registers again", provider, set_id);
}

/* Send P the releases it is owed, before its deletions (it runs its
 * calls in order). */
static void
deleter_send_releases (struct deleter *d, struct provider *p)
{
  json_t *v;
  size_t k;

  json_array_foreach (d->releases, k, v) {
    struct pending_call *pc = calloc (1, sizeof *pc);

    if (pc == NULL)
      fatal ("deletions");
    pc->sets = d->sets;
    snprintf (pc->provider, sizeof pc->provider, "%s", p->name);
    snprintf (pc->set_id, sizeof pc->set_id, "%s", json_string_value (v));
    log_info ("provider %s: releasing any hold of snapshot set %s by its "
              "set id", p->name, pc->set_id);
    d->inflight++;
    conn_call (d->sets->co, p->conn, "hold.release",
               json_pack ("{s:s}", "set_id", pc->set_id),
               SET_CALL_TIMEOUT_MS, release_done, pc);
  }
}

/* A round of D: the releases it is owed, then every deletion queued
 * for its provider. */
static void
deleter_cb (evutil_socket_t fd, short what, void *arg)
{
  struct deleter *d = arg;
  struct sets *sets = d->sets;
  struct coord *co = sets->co;
  struct provider *p = registry_provider (co->reg, d->provider);
  json_t *ids, *id;
  size_t k;

  if (d->inflight > 0) {
    d->again = true;
    return;
  }
  if (p == NULL || p->conn == NULL || co->stopping)
    return;
  deleter_send_releases (d, p);
  ids = catalog_deletions (co->cat, p->name);
  if (ids == NULL) {
    deleter_retry_later (d);    /* the catalog failed: logged there */
    return;
  }
  json_array_foreach (ids, k, id) {
    struct pending_call *pc = calloc (1, sizeof *pc);

    if (pc == NULL)
      fatal ("deletions");
    pc->sets = sets;
    snprintf (pc->provider, sizeof pc->provider, "%s", p->name);
    snprintf (pc->set_id, sizeof pc->set_id, "%s", json_string_value (id));
    log_info ("provider %s: deleting what remains of snapshot set %s",
              p->name, pc->set_id);
    d->inflight++;
    conn_call (co, p->conn, "snapshot.delete",
               json_pack ("{s:s}", "id", pc->set_id), SET_CALL_TIMEOUT_MS,
               pending_done, pc);
  }
  json_decref (ids);
}

/* A set's deletion on PROVIDER failed and was queued: retry it while
 * the provider stays connected. */
static void
deleter_failed (struct sets *sets, const char *provider)
{
  struct deleter *d = deleter_get (sets, provider);
  struct provider *p = registry_provider (sets->co->reg, provider);

  if (d->inflight > 0)
    d->failed = true;           /* the round's end schedules the retry */
  else if (p != NULL && p->conn != NULL)
    deleter_retry_later (d);
}

void
sets_provider_registered (struct sets *sets, struct provider *p)
{
  struct deleter *d = deleter_get (sets, p->name);
  struct timeval tv;

  /* From the loop: the answer to the registration goes out first. */
  d->backoff_ms = sets->co->conf->deletion_retry_ms;
  evtimer_del (d->timer);
  evtimer_add (d->timer, coord_timeval (&tv, 0));
}

void
sets_provider_forgotten (struct sets *sets, const char *name)
{
  struct deleter *d = deleter_find (sets, name);

  if (d != NULL) {
    TAILQ_REMOVE (&sets->deleters, d, entry);
    deleter_free (d);
  }
}

void
sets_peer_gone (struct sets *sets, bool writer, const char *name)
{
  struct snapset *s = sets->running;
  size_t i;

  if (s == NULL)
    return;
  for (i = 0; i < s->nparts; i++)
    if (s->parts[i].writer == writer && strcmp (s->parts[i].name, name) == 0) {
      s->parts[i].gone = true;
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
  TAILQ_INIT (&sets->deleters);
  sets->kick = event_new (co->base, -1, 0, kick_cb, sets);
  sets->gone_ev = event_new (co->base, -1, 0, gone_cb, sets);
  if (sets->kick == NULL || sets->gone_ev == NULL) {
    sets_free (sets);
    return NULL;
  }
  return sets;
}

void
sets_shutdown (struct sets *sets)
{
  struct snapset *s = sets->running;

  if (s != NULL && s->phase > PH_RESOLVING) {
    log_warnx ("snapshot set %s: the coordinator is stopping", s->id);
    catalog_fail_unfinished (sets->co->cat,
                             "the coordinator was stopped during the set",
                             coord_now ());
  }
}

void
sets_free (struct sets *sets)
{
  struct snapset *s;
  struct deleter *d;

  if (sets == NULL)
    return;
  set_free (sets->running);
  while ((s = TAILQ_FIRST (&sets->queue)) != NULL) {
    TAILQ_REMOVE (&sets->queue, s, entry);
    set_free (s);
  }
  while ((d = TAILQ_FIRST (&sets->deleters)) != NULL) {
    TAILQ_REMOVE (&sets->deleters, d, entry);
    deleter_free (d);
  }
  if (sets->kick)
    event_free (sets->kick);
  if (sets->gone_ev)
    event_free (sets->gone_ev);
  free (sets);
}
