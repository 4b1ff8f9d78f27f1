/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * deleter.c: deletions left by failed snapshot sets, retried per
 * provider (deleter.h).
 *
 * Design notes
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
 * asked for while another runs follows it.
 *
 * Undos (rows of pending_undos, left by a set revert that failed or
 * was cut short by a crash) go in the same rounds: revert.undo of the
 * undo set id, done when answered, or "not found" (nothing to undo).
 * The undo of the revert running now is skipped: that revert's machine
 * decides it, and an undo sent behind its back could undo one provider
 * of a revert that then succeeds.
 *
 * Releases of set holds (rows of pending_releases, left by a
 * set.release while the provider was away) go first in a round, before
 * its undos and deletions, so that a deletion queued for the same set
 * finds the snapshots no longer held (the provider runs its calls in
 * order): snapshot.release of the set id and tag, done when answered,
 * or "not found" (the hold expired, or was released there).
 *
 * Each deletion goes after a hold.release by the set id, on the same
 * connection: a provider may still hold for a failed set whose
 * coordinator was killed, or lost its leadership, while the set held
 * (the releases it owed, below, were in its memory only), and the
 * volumes' writes, and the next set's hold.begin, would wait for the
 * lease.  Its answer changes nothing but a log line.
 *
 * A deletion, an undo and a set release each settle a row of the
 * catalog, and their calls end alike (queued_call_done): answered or
 * "not found" settles the row, anything else keeps it and fails the
 * round.  What differs (the method, what settling does and logs, how a
 * warning names the row) is the call's struct queued_kind.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "catalog.h"
#include "conf.h"
#include "deleter.h"
#include "jsonrpc.h"
#include "log.h"
#include "outcome.h"
#include "proto.h"
#include "registry.h"
#include "setfsm.h"             /* SET_CALL_TIMEOUT_MS */
#include "timespec.h"
#include "uuid.h"

/* The deletions waiting on one provider. */
struct deleter {
  TAILQ_ENTRY (deleter) entry;
  struct deleters *dl;
  char provider[PROTO_NAME_MAX + 1];
  struct event *timer;          /* the next round */
  unsigned backoff_ms;          /* the wait before a retry */
  size_t inflight;              /* calls of the round outstanding */
  bool failed;                  /* a deletion of this round failed */
  bool again;                   /* start another round when this one ends */
  json_t *releases;             /* set ids whose holds it may still have:
                                 * hold.release by set id at the next round */
};

struct deleters {
  struct coord *co;
  TAILQ_HEAD (, deleter) list;
  char running_undo[UUID_STRLEN + 1];   /* of the running revert, or "" */
};

struct queued_kind;

struct pending_call {
  struct deleters *dl;
  const struct queued_kind *kind;       /* a queued call's, else NULL */
  char provider[PROTO_NAME_MAX + 1];
  char set_id[UUID_STRLEN + 1];
  char tag[PROTO_TAG_MAX + 1];  /* a queued set release's */
  bool owed;                    /* a release by set id from d->releases */
};

static struct deleter *
deleter_find (struct deleters *dl, const char *provider)
{
  struct deleter *d;

  TAILQ_FOREACH (d, &dl->list, entry)
    if (strcmp (d->provider, provider) == 0)
      return d;
  return NULL;
}

static void deleter_cb (evutil_socket_t fd, short what, void *arg);

/* The deleter of PROVIDER, made if needed. */
static struct deleter *
deleter_get (struct deleters *dl, const char *provider)
{
  struct deleter *d = deleter_find (dl, provider);

  if (d != NULL)
    return d;
  d = calloc (1, sizeof *d);
  if (d == NULL)
    fatal ("deletions");
  d->dl = dl;
  snprintf (d->provider, sizeof d->provider, "%s", provider);
  d->backoff_ms = dl->co->conf->deletion_retry_ms;
  d->timer = evtimer_new (dl->co->base, deleter_cb, d);
  d->releases = json_array ();
  if (d->timer == NULL || d->releases == NULL)
    fatal ("deletions");
  TAILQ_INSERT_TAIL (&dl->list, d, entry);
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
  unsigned base = d->dl->co->conf->deletion_retry_ms;
  struct timeval tv;

  if (evtimer_pending (d->timer, NULL))
    return;
  log_info ("provider %s: retrying its queued deletions in %u ms",
            d->provider, d->backoff_ms);
  evtimer_add (d->timer, timespec_timeval_ms (&tv, d->backoff_ms));
  if (d->backoff_ms < base * DELETION_BACKOFF_MAX)
    d->backoff_ms *= 2;
}

static void
deleter_round_end (struct deleter *d)
{
  struct provider *p = registry_provider (d->dl->co->reg, d->provider);
  bool failed = d->failed;
  struct timeval tv;

  d->failed = false;
  if (d->again) {
    d->again = false;
    evtimer_del (d->timer);
    evtimer_add (d->timer, timespec_timeval_ms (&tv, 0));
  }
  else if (!failed)
    d->backoff_ms = d->dl->co->conf->deletion_retry_ms;
  else if (p != NULL && p->conn != NULL)
    deleter_retry_later (d);
  /* A provider that went away starts again when it registers. */
}

/* The kinds of queued call (a deletion, an undo, a set release), each
 * settling one row of the catalog.  What differs between them: the
 * method, what is done once a call settled its row (logged, the row
 * removed), and how a warning names the row. */
struct queued_kind {
  const char *method;
  void (*settled) (struct deleter *d, const struct pending_call *pc,
                   const struct call_outcome *o);
  void (*name) (const struct pending_call *pc, char *buf, size_t len);
};

static void
deletion_settled (struct deleter *d, const struct pending_call *pc,
                  const struct call_outcome *o)
{
  log_info ("provider %s: deleted what remained of snapshot set %s",
            pc->provider, pc->set_id);
  catalog_deletion_remove (pc->dl->co->cat, pc->provider, pc->set_id);
}

static void
deletion_name (const struct pending_call *pc, char *buf, size_t len)
{
  snprintf (buf, len, "deletion of snapshot set %s", pc->set_id);
}

static void
undo_settled (struct deleter *d, const struct pending_call *pc,
              const struct call_outcome *o)
{
  struct catalog *cat = pc->dl->co->cat;

  log_info ("provider %s: undid the revert of undo set %s%s",
            pc->provider, pc->set_id, o->end == CALL_OK ? ""
            : " (nothing was reverted there)");
  /* Its undo snapshots, if their deletion failed there, are deleted
   * as a failed set's. */
  if (o->end == CALL_OK &&
      json_integer_value (json_object_get (o->result, "deleted")) == 0 &&
      catalog_deletion_add (cat, pc->provider, pc->set_id) == 0 &&
      d != NULL)
    d->failed = true;
  catalog_undo_remove (cat, pc->provider, pc->set_id);
}

static void
undo_name (const struct pending_call *pc, char *buf, size_t len)
{
  snprintf (buf, len, "undo of revert %s", pc->set_id);
}

static void
set_release_settled (struct deleter *d, const struct pending_call *pc,
                     const struct call_outcome *o)
{
  log_info ("provider %s: released the hold %s of snapshot set %s "
            "queued by set.release%s", pc->provider, pc->tag, pc->set_id,
            o->end == CALL_OK ? "" : " (it no longer held there)");
  catalog_release_remove (pc->dl->co->cat, pc->provider, pc->set_id,
                          pc->tag);
}

static void
set_release_name (const struct pending_call *pc, char *buf, size_t len)
{
  snprintf (buf, len, "release of hold %s of snapshot set %s", pc->tag,
            pc->set_id);
}

static const struct queued_kind queued_deletion = {
  "snapshot.delete", deletion_settled, deletion_name,
};
static const struct queued_kind queued_undo = {
  "revert.undo", undo_settled, undo_name,
};
static const struct queued_kind queued_set_release = {
  "snapshot.release", set_release_settled, set_release_name,
};

/* A queued call (a deletion, an undo, a set release) ended: answered,
 * or "not found", settles its row; anything else leaves it queued and
 * marks the round failed, to be retried. */
static void
queued_call_done (void *arg, const struct call_outcome *o)
{
  struct pending_call *pc = arg;
  const struct queued_kind *kind = pc->kind;
  struct deleters *dl = pc->dl;
  struct deleter *d;

  if (o->end == CALL_SHUTDOWN || dl->co->stopping) {
    free (pc);
    return;
  }
  d = deleter_find (dl, pc->provider);
  if (o->end == CALL_OK ||
      (o->end == CALL_ERROR && o->code == SV_RPC_NOT_FOUND))
    kind->settled (d, pc, o);
  else {
    char err[1200], name[sizeof pc->tag + sizeof pc->set_id + 64];

    kind->name (pc, name, sizeof name);
    log_warnx ("provider %s: %s; the %s stays queued", pc->provider,
               call_outcome_describe (o, kind->method, err, sizeof err),
               name);
    if (d != NULL)
      d->failed = true;
  }
  free (pc);
  /* D is gone if the provider was forgotten meanwhile. */
  if (d != NULL && --d->inflight == 0)
    deleter_round_end (d);
}

/* Send P the undos queued for it, but the running revert's. */
static int
deleter_send_undos (struct deleter *d, struct provider *p)
{
  json_t *ids = catalog_undos (d->dl->co->cat, p->name), *id;
  size_t k;

  if (ids == NULL)
    return -1;
  json_array_foreach (ids, k, id) {
    struct pending_call *pc;

    if (strcmp (json_string_value (id), d->dl->running_undo) == 0)
      continue;
    pc = calloc (1, sizeof *pc);
    if (pc == NULL)
      fatal ("deletions");
    pc->dl = d->dl;
    pc->kind = &queued_undo;
    snprintf (pc->provider, sizeof pc->provider, "%s", p->name);
    snprintf (pc->set_id, sizeof pc->set_id, "%s", json_string_value (id));
    log_info ("provider %s: undoing the revert of undo set %s", p->name,
              pc->set_id);
    d->inflight++;
    conn_call (d->dl->co, p->conn, queued_undo.method,
               json_pack ("{s:s}", "undo_set_id", pc->set_id),
               SET_CALL_TIMEOUT_MS, queued_call_done, pc);
  }
  json_decref (ids);
  return 0;
}

/* Send P the set releases queued for it (set.release). */
static int
deleter_send_set_releases (struct deleter *d, struct provider *p)
{
  json_t *rows = catalog_releases (d->dl->co->cat, p->name), *row;
  size_t k;

  if (rows == NULL)
    return -1;
  json_array_foreach (rows, k, row) {
    struct pending_call *pc = calloc (1, sizeof *pc);

    if (pc == NULL)
      fatal ("deletions");
    pc->dl = d->dl;
    pc->kind = &queued_set_release;
    snprintf (pc->provider, sizeof pc->provider, "%s", p->name);
    snprintf (pc->set_id, sizeof pc->set_id, "%s",
              json_string_value (json_object_get (row, "set_id")));
    snprintf (pc->tag, sizeof pc->tag, "%s",
              json_string_value (json_object_get (row, "tag")));
    log_info ("provider %s: releasing the hold %s of snapshot set %s "
              "queued by set.release", p->name, pc->tag, pc->set_id);
    d->inflight++;
    conn_call (d->dl->co, p->conn, queued_set_release.method,
               json_pack ("{s:s, s:s}", "id", pc->set_id, "tag", pc->tag),
               SET_CALL_TIMEOUT_MS, queued_call_done, pc);
  }
  json_decref (rows);
  return 0;
}

/* A hold.release by set id ended: one the provider was owed
 * (deleters_owe_release), or the one ahead of a queued deletion of the
 * set.  Anything but a lost call settles an owed one: the provider ran
 * it.  The one ahead of a deletion never fails the round: the deletion
 * follows it on the same connection whatever it answered. */
static void
release_call_done (void *arg, const struct call_outcome *o)
{
  struct pending_call *pc = arg;
  struct deleters *dl = pc->dl;
  struct deleter *d;
  json_t *v;
  size_t k;

  if (o->end == CALL_SHUTDOWN || dl->co->stopping) {
    free (pc);
    return;
  }
  d = deleter_find (dl, pc->provider);
  if (o->end == CALL_OK &&
      json_is_true (json_object_get (o->result, "released")))
    log_info (pc->owed
              ? "provider %s: released a hold of snapshot set %s that it "
              "took while the coordinator could not reach it"
              : "provider %s: released a hold of snapshot set %s before "
              "deleting it", pc->provider, pc->set_id);
  if (d != NULL && pc->owed && (o->end == CALL_OK || o->end == CALL_ERROR))
    json_array_foreach (d->releases, k, v)
      if (strcmp (json_string_value (v), pc->set_id) == 0) {
        json_array_remove (d->releases, k);
        break;
      }
  free (pc);
  if (d != NULL && --d->inflight == 0)
    deleter_round_end (d);
}

/* Send P hold.release of SET_ID by set id, OWED or ahead of its
 * deletion. */
static void
deleter_send_release (struct deleter *d, struct provider *p,
                      const char *set_id, bool owed)
{
  struct pending_call *pc = calloc (1, sizeof *pc);

  if (pc == NULL)
    fatal ("deletions");
  pc->dl = d->dl;
  pc->owed = owed;
  snprintf (pc->provider, sizeof pc->provider, "%s", p->name);
  snprintf (pc->set_id, sizeof pc->set_id, "%s", set_id);
  d->inflight++;
  conn_call (d->dl->co, p->conn, "hold.release",
             json_pack ("{s:s}", "set_id", set_id), SET_CALL_TIMEOUT_MS,
             release_call_done, pc);
}

/* P may hold, under an id we never learnt, for the set SET_ID, which
 * is no longer in progress: its hold.begin ended without an answer, or
 * the hold.release could not reach it.  A hold.release by set id goes
 * at the next round of its deleter, when it registers again, so that
 * writes are not held until the lease runs out. */
void
deleters_owe_release (struct deleters *dl, const char *provider,
                      const char *set_id)
{
  struct deleter *d = deleter_get (dl, provider);
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
    log_info ("provider %s: releasing any hold of snapshot set %s by its "
              "set id", p->name, json_string_value (v));
    deleter_send_release (d, p, json_string_value (v), true);
  }
}

/* A round of D: the releases it is owed, then the set releases, undos
 * and deletions queued for its provider, each deletion after a
 * release of the set's holds. */
static void
deleter_cb (evutil_socket_t fd, short what, void *arg)
{
  struct deleter *d = arg;
  struct deleters *dl = d->dl;
  struct coord *co = dl->co;
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
  ids = deleter_send_set_releases (d, p) == -1 ||
    deleter_send_undos (d, p) == -1 ? NULL
    : catalog_deletions (co->cat, p->name);
  if (ids == NULL) {
    deleter_retry_later (d);    /* the catalog failed: logged there */
    return;
  }
  json_array_foreach (ids, k, id) {
    struct pending_call *pc = calloc (1, sizeof *pc);

    if (pc == NULL)
      fatal ("deletions");
    pc->dl = dl;
    pc->kind = &queued_deletion;
    snprintf (pc->provider, sizeof pc->provider, "%s", p->name);
    snprintf (pc->set_id, sizeof pc->set_id, "%s", json_string_value (id));
    log_info ("provider %s: deleting what remains of snapshot set %s",
              p->name, pc->set_id);
    /* A provider may still hold for the set: its coordinator was
     * killed, or lost its leadership, while the set held, and the
     * release it owed was in its memory only.  Without this the
     * volumes' writes would wait for the lease. */
    deleter_send_release (d, p, pc->set_id, false);
    d->inflight++;
    conn_call (co, p->conn, queued_deletion.method,
               json_pack ("{s:s}", "id", pc->set_id), SET_CALL_TIMEOUT_MS,
               queued_call_done, pc);
  }
  json_decref (ids);
}

/* A set's deletion on PROVIDER failed and was queued: retry it while
 * the provider stays connected. */
void
deleters_deletion_queued (struct deleters *dl, const char *provider)
{
  struct deleter *d = deleter_get (dl, provider);
  struct provider *p = registry_provider (dl->co->reg, provider);

  if (d->inflight > 0)
    d->failed = true;           /* the round's end schedules the retry */
  else if (p != NULL && p->conn != NULL)
    deleter_retry_later (d);
}

void
deleters_running_undo (struct deleters *dl, const char *undo_set_id)
{
  snprintf (dl->running_undo, sizeof dl->running_undo, "%s",
            undo_set_id ? undo_set_id : "");
}

void
deleters_provider_registered (struct deleters *dl, const char *provider)
{
  struct deleter *d = deleter_get (dl, provider);
  struct timeval tv;

  /* From the loop: the answer to the registration goes out first. */
  d->backoff_ms = dl->co->conf->deletion_retry_ms;
  evtimer_del (d->timer);
  evtimer_add (d->timer, timespec_timeval_ms (&tv, 0));
}

void
deleters_provider_forgotten (struct deleters *dl, const char *provider)
{
  struct deleter *d = deleter_find (dl, provider);

  if (d != NULL) {
    TAILQ_REMOVE (&dl->list, d, entry);
    deleter_free (d);
  }
}


struct deleters *
deleters_new (struct coord *co)
{
  struct deleters *dl = calloc (1, sizeof *dl);

  if (dl == NULL)
    return NULL;
  dl->co = co;
  TAILQ_INIT (&dl->list);
  return dl;
}

void
deleters_free (struct deleters *dl)
{
  struct deleter *d;

  if (dl == NULL)
    return;
  while ((d = TAILQ_FIRST (&dl->list)) != NULL) {
    TAILQ_REMOVE (&dl->list, d, entry);
    deleter_free (d);
  }
  free (dl);
}
