/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * status.c: coordinator.status (see status.h): providers, writers, the
 * newest sets and what needs an operator's attention, in one answer.
 *
 * Design notes
 *
 * One method rather than provider.list, writer.list and set.list
 * called one after the other: those are three connections and three
 * instants (a set may commit between two of them, and a writer be
 * shown failed beside no failed set), set.list reads every set of
 * the catalog with its snapshots where a status shows five, and the
 * calls queued for providers are listed by no other method.
 *
 * "failures" holds what is wrong now, in this order:
 *   - the failed sets among the sets listed, newest first, with their
 *     reason;
 *   - the writers in state "failed", by name, with their last error
 *     (a writer keeps its last error after it recovers: the writers'
 *     list shows it, the failures do not);
 *   - the calls waiting for a provider in the catalog (deletions,
 *     releases, undos), oldest first, at most PROTO_STATUS_QUEUED_MAX.
 * Each has the same members, so that one table shows them all.
 */

#include <config.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "conf.h"
#include "election.h"
#include "jsonrpc.h"
#include "proto.h"
#include "registry.h"
#include "status.h"

/* Append O (stolen) to LIST.  -1 if O is NULL or the append fails. */
static int
append (json_t *list, json_t *o)
{
  return o == NULL ? -1 : json_array_append_new (list, o);
}

static json_t *
string_or_null (const char *s)
{
  return s != NULL ? json_string (s) : json_null ();
}

/* Whether V is the string S. */
static bool
is_string (json_t *v, const char *s)
{
  return json_is_string (v) && strcmp (json_string_value (v), s) == 0;
}

static json_t *
providers (struct registry *reg)
{
  json_t *list = json_array ();
  struct provider *p;

  TAILQ_FOREACH (p, &reg->providers, entry)
    if (list == NULL ||
        append (list, json_pack ("{s:s, s:s, s:I, s:s, s:I}",
                                 "name", p->name,
                                 "state", p->conn ? "connected"
                                 : "disconnected",
                                 "volumes",
                                 (json_int_t) json_array_size (p->volumes),
                                 "nbd_uri", p->nbd_uri,
                                 "last_seen", (json_int_t) p->last_seen))
        == -1) {
      json_decref (list);
      return NULL;
    }
  return list;
}

static json_t *
writers (struct registry *reg)
{
  json_t *list = json_array ();
  struct writer *w;

  TAILQ_FOREACH (w, &reg->writers, entry)
    if (list == NULL ||
        append (list, json_pack ("{s:s, s:s, s:I, s:o, s:o, s:o}",
                                 "name", w->name,
                                 "state", w->state,
                                 "volumes",
                                 (json_int_t) json_array_size (w->volumes),
                                 "last_event", w->last_event[0]
                                 ? json_string (w->last_event) : json_null (),
                                 "last_event_time", w->last_event[0]
                                 ? json_integer (w->last_event_time)
                                 : json_null (),
                                 "last_error",
                                 string_or_null (w->last_error))) == -1) {
      json_decref (list);
      return NULL;
    }
  return list;
}

/* One element of "failures"; TIME and REASON are stolen. */
static json_t *
failure (const char *kind, const char *name, const char *provider,
         json_t *time, json_t *reason)
{
  /* A text the catalog could not give as a string reads as null. */
  return json_pack ("{s:s, s:s?, s:s?, s:o, s:o}", "kind", kind,
                    "name", name, "provider", provider, "time", time,
                    "reason", reason);
}

/* The reason of a call queued in the catalog (catalog_queued's Q). */
static json_t *
queued_reason (json_t *q)
{
  const char *provider = json_string_value (json_object_get (q, "provider"));
  const char *tag = json_string_value (json_object_get (q, "tag"));
  char buf[256];

  if (provider == NULL)
    provider = "?";
  if (is_string (json_object_get (q, "kind"), "deletion"))
    snprintf (buf, sizeof buf, "snapshot.delete of the set queued for "
              "provider %s", provider);
  else if (is_string (json_object_get (q, "kind"), "release"))
    snprintf (buf, sizeof buf, "snapshot.release of hold %s queued for "
              "provider %s", tag ? tag : "?", provider);
  else
    snprintf (buf, sizeof buf, "revert.undo queued for provider %s",
              provider);
  return json_string (buf);
}

static int
add_set_failures (json_t *failures, json_t *sets)
{
  json_t *s;
  size_t i;

  json_array_foreach (sets, i, s) {
    json_t *reason = json_object_get (s, "reason");

    if (!is_string (json_object_get (s, "state"), "failed"))
      continue;
    if (append (failures,
                failure ("set",
                         json_string_value (json_object_get (s, "set_id")),
                         NULL,
                         json_incref (json_object_get (s, "finished")),
                         json_is_string (reason) ? json_incref (reason)
                         : json_string ("unknown"))) == -1)
      return -1;
  }
  return 0;
}

static int
add_writer_failures (json_t *failures, struct registry *reg)
{
  struct writer *w;

  TAILQ_FOREACH (w, &reg->writers, entry)
    if (strcmp (w->state, "failed") == 0 &&
        append (failures,
                failure ("writer", w->name, NULL,
                         w->last_event[0] ? json_integer (w->last_event_time)
                         : json_null (),
                         json_string (w->last_error ? w->last_error
                                      : "unknown"))) == -1)
      return -1;
  return 0;
}

static int
add_queued_failures (json_t *failures, json_t *queued)
{
  json_t *q;
  size_t i;

  json_array_foreach (queued, i, q)
    if (append (failures,
                failure (json_string_value (json_object_get (q, "kind")),
                         json_string_value (json_object_get (q, "set_id")),
                         json_string_value (json_object_get (q,
                                                             "provider")),
                         json_incref (json_object_get (q, "queued")),
                         queued_reason (q))) == -1)
      return -1;
  return 0;
}

/* With 'catalog etcd': this coordinator's part in the election. */
static json_t *
leadership (struct coord *co)
{
  const char *why = NULL;
  const char *leader = election_leader (co->election, &why);
  bool leading = election_is_leader (co->election);
  json_t *o;

  o = json_pack ("{s:s, s:s, s:o}", "role", leading ? "leader" : "follower",
                 "advertise", co->conf->advertise,
                 "leader", string_or_null (leader));
  if (o == NULL)
    return NULL;
  if ((leading && json_object_set_new (o, "term",
                                       json_integer ((json_int_t) co->term))
       == -1) ||
      (leader == NULL && json_object_set_new (o, "reason", json_string (why))
       == -1)) {
    json_decref (o);
    return NULL;
  }
  return o;
}

json_t *
status_follower (struct coord *co, struct rpcerr *e)
{
  json_t *status = leadership (co);

  if (status == NULL)
    rpcerr_nomem (e);
  return status;
}

json_t *
status_get (struct coord *co, int64_t nsets, struct rpcerr *e)
{
  json_t *sets = NULL, *queued = NULL, *failures = NULL, *status = NULL;

  sets = catalog_set_summaries (co->cat, nsets);
  queued = sets ? catalog_queued (co->cat, PROTO_STATUS_QUEUED_MAX) : NULL;
  if (queued == NULL) {
    rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (co->cat));
    goto out;
  }
  failures = json_array ();
  if (failures == NULL ||
      add_set_failures (failures, sets) == -1 ||
      add_writer_failures (failures, co->reg) == -1 ||
      add_queued_failures (failures, queued) == -1)
    goto nomem;
  status = json_pack ("{s:o, s:o, s:O, s:O}",
                      "providers", providers (co->reg),
                      "writers", writers (co->reg),
                      "sets", sets, "failures", failures);
  if (status == NULL)
    goto nomem;
  if (co->election && json_object_update_missing_new (status,
                                                      leadership (co)) == -1) {
    json_decref (status);
    status = NULL;
    goto nomem;
  }
  goto out;

 nomem:
  rpcerr_nomem (e);
 out:
  json_decref (sets);
  json_decref (queued);
  json_decref (failures);
  return status;
}
