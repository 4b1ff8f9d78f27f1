/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * registry.c: providers, writers and their volumes (see registry.h).
 *
 * Design notes
 *
 * A name is bound to the certificate subject that first registered
 * it, as the catalog records it, until an admin forgets the name
 * (provider.forget, writer.forget): a registration under that name
 * from any other subject is refused (SV_RPC_NAME_BOUND), connected or
 * not.  Otherwise a certificate that merely holds the role could take
 * a provider's name while it is away, be sent the deletions queued for
 * it, and have its nbd_uri handed to requesters.  The binding is by
 * subject, so a renewed certificate with the same subject keeps the
 * name.
 *
 * Writers are bound the other way too: a certificate subject holds one
 * writer name.  A writer's name is what set.create's "writers" and
 * writers "auto" go by, and a writer registered for a volume but away
 * makes every "auto" set of that volume fail; without this, one writer
 * certificate could register any number of names, for any volumes,
 * and claim the names of writers that have not registered yet.  Hosts
 * with several writers give each its own certificate.  Provider names
 * are not bound this way: a storage host may run several plugins under
 * one certificate.
 *
 * A name belongs to one connection at a time.  A second registration
 * of a connected name (from the bound subject: a peer that restarted
 * before we noticed) closes the older connection first, and its
 * disconnection is then ignored here because the peer no longer
 * points to it.  A connection registers once, as one provider or one
 * writer.
 *
 * Writer states (writer.list), after VSS's writer status:
 *
 *   registered            -> stable
 *   writer.prepare sent   -> preparing
 *   ... answered          -> prepared
 *   writer.freeze answered-> frozen
 *   writer.thaw answered  -> thawed
 *   post_snapshot answered-> stable
 *   writer.abort answered -> stable, unless failed
 *   any call failed       -> failed (last_error says why) until the
 *                            next successful set or registration
 *   connection closed     -> disconnected
 *
 * Writer history: the catalog's row of a writer follows these states
 * lazily (catalog.c's design notes), and a set changes every writer's
 * row twice per call, so those changes are not written one by one: a
 * row changed by a call or its answer is marked unsaved, and every
 * unsaved row goes into one transaction WRITER_FLUSH_MS later (or
 * earlier, when the set layer is about to write a durable set record,
 * or the coordinator stops: registry_flush_writers).  One transaction
 * per row made a set with 100 writers write 800 of them; one per pass
 * of the event loop, about 43 (the answers of 100 writers arrive over
 * many passes) with 1,150 rows; this, about 9 with 160.  A kill -9 loses at most the last
 * WRITER_FLUSH_MS of the history shown by writer.list; a power loss,
 * what the last durable transaction did not cover, as for every lazy
 * row.  Registration and disconnection are saved at once, as before.
 *
 * A refresh (volume.list before a set) that finds a provider's volumes
 * unchanged writes nothing: the catalog has them already.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "catalog.h"
#include "conf.h"
#include "jsonrpc.h"
#include "log.h"
#include "params.h"
#include "registry.h"
#include "timespec.h"

/* How long a changed writer row waits for others before it is written
 * (design notes: "Writer history"). */
#define WRITER_FLUSH_MS 100

const char *const registry_writer_states[] = {
  "stable", "preparing", "prepared", "frozen", "thawed", "restoring",
  "failed", "disconnected", NULL,
};

static void
provider_free (struct provider *p)
{
  if (p == NULL)
    return;
  free (p->name);
  free (p->subject);
  free (p->nbd_uri);
  free (p->version);
  json_decref (p->volumes);
  free (p);
}

static void
writer_free (struct writer *w)
{
  if (w == NULL)
    return;
  free (w->name);
  free (w->subject);
  json_decref (w->volumes);
  free (w->last_error);
  free (w);
}

/* Replace the malloc'd string *FIELD with a copy of S (NULL allowed).
 * -1 on ENOMEM (the old value stays). */
static int
replace_string (char **field, const char *s)
{
  char *copy = NULL;

  if (s != NULL && (copy = strdup (s)) == NULL)
    return -1;
  free (*field);
  *field = copy;
  return 0;
}

static void
insert_provider (struct registry *reg, struct provider *p)
{
  struct provider *q;

  TAILQ_FOREACH (q, &reg->providers, entry)
    if (strcmp (q->name, p->name) > 0) {
      TAILQ_INSERT_BEFORE (q, p, entry);
      return;
    }
  TAILQ_INSERT_TAIL (&reg->providers, p, entry);
}

static void
insert_writer (struct registry *reg, struct writer *w)
{
  struct writer *q;

  TAILQ_FOREACH (q, &reg->writers, entry)
    if (strcmp (q->name, w->name) > 0) {
      TAILQ_INSERT_BEFORE (q, w, entry);
      return;
    }
  TAILQ_INSERT_TAIL (&reg->writers, w, entry);
}

/* Loading. */

static const char *
member_string (json_t *obj, const char *member)
{
  return json_string_value (json_object_get (obj, member));
}

static int64_t
member_int (json_t *obj, const char *member)
{
  return json_integer_value (json_object_get (obj, member));
}

static int
load_from_catalog (struct registry *reg)
{
  json_t *providers = catalog_providers (reg->co->cat);
  json_t *writers = NULL, *v;
  size_t i;

  if (providers == NULL)
    return -1;
  json_array_foreach (providers, i, v) {
    struct provider *p = calloc (1, sizeof *p);

    if (p == NULL || (p->name = strdup (member_string (v, "name"))) == NULL ||
        replace_string (&p->subject, member_string (v, "subject")) == -1 ||
        replace_string (&p->nbd_uri, member_string (v, "nbd_uri")) == -1 ||
        replace_string (&p->version, member_string (v, "version")) == -1)
      goto nomem;
    p->registered = member_int (v, "registered");
    p->last_seen = member_int (v, "last_seen");
    p->volumes = json_incref (json_object_get (v, "volumes"));
    insert_provider (reg, p);
    continue;
  nomem:
    provider_free (p);
    goto err;
  }

  writers = catalog_writers (reg->co->cat);
  if (writers == NULL)
    goto err_logged;
  json_array_foreach (writers, i, v) {
    struct writer *w = calloc (1, sizeof *w);
    const char *last_event;

    if (w == NULL || (w->name = strdup (member_string (v, "name"))) == NULL ||
        replace_string (&w->subject, member_string (v, "subject")) == -1 ||
        replace_string (&w->last_error,
                        member_string (v, "last_error")) == -1) {
      writer_free (w);
      goto err;
    }
    w->volumes = json_incref (json_object_get (v, "volumes"));
    w->freeze_timeout_ms = (unsigned) member_int (v, "freeze_timeout_ms");
    w->registered = member_int (v, "registered");
    snprintf (w->state, sizeof w->state, "disconnected");
    last_event = member_string (v, "last_event");
    snprintf (w->last_event, sizeof w->last_event, "%s",
              last_event ? last_event : "");
    w->last_event_time = member_int (v, "last_event_time");
    insert_writer (reg, w);
  }
  json_decref (providers);
  json_decref (writers);
  return 0;

 err:
  log_warnx ("registry: out of memory");
 err_logged:
  json_decref (providers);
  json_decref (writers);
  return -1;
}

static void flush_cb (evutil_socket_t fd, short what, void *arg);

struct registry *
registry_new (struct coord *co, const struct registry_observer *obs,
              void *arg)
{
  struct registry *reg = calloc (1, sizeof *reg);

  if (reg == NULL) {
    log_warn ("registry");
    return NULL;
  }
  reg->co = co;
  reg->obs = *obs;
  reg->obs_arg = arg;
  TAILQ_INIT (&reg->providers);
  TAILQ_INIT (&reg->writers);
  reg->flush_ev = event_new (co->base, -1, 0, flush_cb, reg);
  if (reg->flush_ev == NULL) {
    log_warnx ("registry: cannot make an event");
    registry_free (reg);
    return NULL;
  }
  if (load_from_catalog (reg) == -1) {
    registry_free (reg);
    return NULL;
  }
  return reg;
}

void
registry_free (struct registry *reg)
{
  struct provider *p;
  struct writer *w;

  if (reg == NULL)
    return;
  if (reg->flush_ev != NULL) {
    registry_flush_writers (reg);
    event_free (reg->flush_ev);
  }
  while ((p = TAILQ_FIRST (&reg->providers)) != NULL) {
    TAILQ_REMOVE (&reg->providers, p, entry);
    provider_free (p);
  }
  while ((w = TAILQ_FIRST (&reg->writers)) != NULL) {
    TAILQ_REMOVE (&reg->writers, w, entry);
    writer_free (w);
  }
  free (reg);
}

struct provider *
registry_provider (struct registry *reg, const char *name)
{
  struct provider *p;

  TAILQ_FOREACH (p, &reg->providers, entry)
    if (strcmp (p->name, name) == 0)
      return p;
  return NULL;
}

struct writer *
registry_writer (struct registry *reg, const char *name)
{
  struct writer *w;

  TAILQ_FOREACH (w, &reg->writers, entry)
    if (strcmp (w->name, name) == 0)
      return w;
  return NULL;
}

/* Registration. */

/* Whether C may take NAME of KIND, bound to the certificate subject
 * BOUND (NULL for a name not known yet) and held by the connection
 * HOLDER (NULL if not connected); closes HOLDER if it is replaced. */
static int
claim_name (struct conn *c, enum peer_kind kind, void *peer,
            const char *name, struct conn *holder, const char *bound,
            struct rpcerr *e)
{
  const char *what = kind == PEER_PROVIDER ? "provider" : "writer";
  char why[256];

  if (conn_kind (c) != PEER_NONE && conn_peer (c) != peer)
    return rpcerr_set (e, SV_RPC_BUSY, "this connection is already "
                       "registered as %s %s",
                       conn_kind (c) == PEER_PROVIDER ? "provider" : "writer",
                       conn_kind (c) == PEER_PROVIDER
                       ? ((struct provider *) conn_peer (c))->name
                       : ((struct writer *) conn_peer (c))->name);
  if (bound != NULL && strcmp (bound, conn_subject (c)) != 0) {
    log_warnx ("%s: refused to register as %s %s, which is bound to the "
               "certificate %s", conn_name (c), what, name, bound);
    return rpcerr_set (e, SV_RPC_NAME_BOUND, "%s %s is bound to another "
                       "certificate (%.256s): an admin must forget it "
                       "(%s.forget) before another certificate may register "
                       "under that name", what, name, bound, what);
  }
  if (holder == NULL || holder == c)
    return 0;
  snprintf (why, sizeof why, "replaced by a new registration of %s %s",
            what, name);
  conn_close (holder, why);
  return 0;
}

int
registry_register_provider (struct registry *reg, struct conn *c,
                            json_t *params, struct rpcerr *e)
{
  const char *name = member_string (params, "name");
  const char *nbd_uri = member_string (params, "nbd_uri");
  const char *version = member_string (params, "version");
  struct provider *p = registry_provider (reg, name), *fresh = NULL;
  json_t *volumes = NULL;
  int64_t now = time (NULL);

  if (params_volumes (json_object_get (params, "volumes"), &volumes, e) == -1)
    return -1;
  if (claim_name (c, PEER_PROVIDER, p, name, p ? p->conn : NULL,
                  p ? p->subject : NULL, e) == -1)
    goto err;
  if (catalog_provider_save (reg->co->cat, name, conn_subject (c), nbd_uri,
                             version, now, now, volumes) == -1) {
    rpcerr_set (e, SV_RPC_IO_ERROR, "cannot record provider %s: %s", name,
                catalog_errmsg (reg->co->cat));
    goto err;
  }
  if (p == NULL) {
    p = fresh = calloc (1, sizeof *p);
    if (p == NULL || (p->name = strdup (name)) == NULL)
      goto nomem;
  }
  if (replace_string (&p->subject, conn_subject (c)) == -1 ||
      replace_string (&p->nbd_uri, nbd_uri) == -1 ||
      replace_string (&p->version, version) == -1)
    goto nomem;
  if (fresh != NULL)
    insert_provider (reg, fresh);
  json_decref (p->volumes);
  p->volumes = volumes;
  p->registered = p->connected_since = p->last_seen = now;
  p->conn = c;
  conn_set_peer (c, PEER_PROVIDER, p);
  log_info ("%s: registered as provider %s (%s, %zu volumes)",
            conn_name (c), name, nbd_uri, json_array_size (volumes));
  reg->obs.provider_registered (reg->obs_arg, p);
  return 0;

 nomem:
  provider_free (fresh);
  rpcerr_nomem (e);
 err:
  json_decref (volumes);
  return -1;
}

/* The catalog form of W. */
static json_t *
writer_catalog_record (const struct writer *w)
{
  return json_pack ("{s:s, s:s, s:O, s:I, s:s, s:s?, s:o, s:s?, s:I}",
                    "name", w->name,
                    "subject", w->subject,
                    "volumes", w->volumes,
                    "freeze_timeout_ms", (json_int_t) w->freeze_timeout_ms,
                    "state", w->state,
                    "last_event", w->last_event[0] ? w->last_event : NULL,
                    "last_event_time", w->last_event[0]
                    ? json_integer (w->last_event_time) : json_null (),
                    "last_error", w->last_error,
                    "registered", (json_int_t) w->registered);
}

/* Record W in the catalog now. */
static int
save_writer (struct registry *reg, const struct writer *w)
{
  json_t *recs = json_array ();
  int r;

  if (recs == NULL ||
      json_array_append_new (recs, writer_catalog_record (w)) == -1) {
    json_decref (recs);
    log_warnx ("writer %s: cannot record it: out of memory", w->name);
    return -1;
  }
  r = catalog_writers_save (reg->co->cat, recs);
  json_decref (recs);
  return r;
}

/* Record W with the other writers changed within WRITER_FLUSH_MS
 * (design notes: "Writer history"). */
static void
save_writer_later (struct registry *reg, struct writer *w)
{
  struct timeval tv;

  w->unsaved = true;
  if (!reg->flush_due) {
    reg->flush_due = true;
    evtimer_add (reg->flush_ev, timespec_timeval_ms (&tv, WRITER_FLUSH_MS));
  }
}

void
registry_flush_writers (struct registry *reg)
{
  json_t *recs;
  struct writer *w;

  if (!reg->flush_due)
    return;
  reg->flush_due = false;
  evtimer_del (reg->flush_ev);
  recs = json_array ();
  TAILQ_FOREACH (w, &reg->writers, entry) {
    if (!w->unsaved)
      continue;
    w->unsaved = false;
    if (recs != NULL &&
        json_array_append_new (recs, writer_catalog_record (w)) == -1) {
      json_decref (recs);
      recs = NULL;
    }
  }
  if (recs == NULL)
    log_warnx ("writers: cannot record their last events: out of memory");
  else
    catalog_writers_save (reg->co->cat, recs);
  json_decref (recs);
}

static void
flush_cb (evutil_socket_t fd, short what, void *arg)
{
  registry_flush_writers (arg);
}

/* A certificate subject holds one writer name (design notes): -1 with
 * E set if C's subject is bound to a writer other than NAME. */
static int
claim_subject (struct registry *reg, struct conn *c, const char *name,
               struct rpcerr *e)
{
  const char *subject = conn_subject (c);
  struct writer *w;

  TAILQ_FOREACH (w, &reg->writers, entry)
    if (strcmp (w->subject, subject) == 0 && strcmp (w->name, name) != 0) {
      log_warnx ("%s: refused to register as writer %s: the certificate is "
                 "bound to writer %s", conn_name (c), name, w->name);
      return rpcerr_set (e, SV_RPC_NAME_BOUND, "certificate %.256s is bound "
                         "to writer %s: a certificate registers one writer "
                         "name; an admin must forget writer %s "
                         "(writer.forget) before this certificate may "
                         "register as writer %s",
                         subject, w->name, w->name, name);
    }
  return 0;
}

int
registry_register_writer (struct registry *reg, struct conn *c,
                          json_t *params, struct rpcerr *e)
{
  const char *name = member_string (params, "name");
  json_t *volumes = json_object_get (params, "volumes");
  json_t *timeout = json_object_get (params, "freeze_timeout_ms");
  struct writer *w = registry_writer (reg, name), *fresh = NULL;
  struct writer next;

  if (params_check_pv_array ("volumes", volumes, 0, PROTO_SET_VOLUMES_MAX,
                             e) == -1)
    return -1;
  if (claim_name (c, PEER_WRITER, w, name, w ? w->conn : NULL,
                  w ? w->subject : NULL, e) == -1 ||
      claim_subject (reg, c, name, e) == -1)
    return -1;

  /* What will be recorded, built before anything changes. */
  memset (&next, 0, sizeof next);
  next.name = (char *) name;
  next.subject = (char *) conn_subject (c);
  next.volumes = volumes;
  next.freeze_timeout_ms = timeout ? (unsigned) json_integer_value (timeout)
    : 10000;
  next.registered = time (NULL);
  snprintf (next.state, sizeof next.state, "stable");
  if (w != NULL) {
    memcpy (next.last_event, w->last_event, sizeof next.last_event);
    next.last_event_time = w->last_event_time;
    next.last_error = w->last_error;
  }
  if (save_writer (reg, &next) == -1)
    return rpcerr_set (e, SV_RPC_IO_ERROR, "cannot record writer %s: %s", name,
                       catalog_errmsg (reg->co->cat));

  if (w == NULL) {
    w = fresh = calloc (1, sizeof *w);
    if (w == NULL || (w->name = strdup (name)) == NULL) {
      writer_free (fresh);
      return rpcerr_nomem (e);
    }
  }
  if (replace_string (&w->subject, conn_subject (c)) == -1) {
    writer_free (fresh);
    return rpcerr_nomem (e);
  }
  if (fresh != NULL)
    insert_writer (reg, fresh);
  json_decref (w->volumes);
  w->volumes = json_incref (volumes);
  w->freeze_timeout_ms = next.freeze_timeout_ms;
  w->registered = next.registered;
  memcpy (w->state, next.state, sizeof w->state);
  w->conn = c;
  conn_set_peer (c, PEER_WRITER, w);
  log_info ("%s: registered as writer %s (%zu volumes, freeze timeout "
            "%u ms)", conn_name (c), name, json_array_size (volumes),
            w->freeze_timeout_ms);
  return 0;
}

int
registry_set_volumes (struct registry *reg, struct provider *p,
                      json_t *volumes)
{
  bool same = json_equal (p->volumes, volumes);

  json_decref (p->volumes);
  p->volumes = volumes;
  if (!same &&
      catalog_provider_save (reg->co->cat, p->name, p->subject, p->nbd_uri,
                             p->version, p->registered, p->last_seen,
                             volumes) == -1)
    return -1;
  return 0;
}

/* Connections. */

void
registry_seen (struct registry *reg, struct conn *c)
{
  if (conn_kind (c) == PEER_PROVIDER)
    ((struct provider *) conn_peer (c))->last_seen = time (NULL);
}

void
registry_conn_closed (struct registry *reg, struct conn *c)
{
  struct provider *p;
  struct writer *w;

  /* The peer may have moved to a newer connection already. */
  TAILQ_FOREACH (p, &reg->providers, entry)
    if (p->conn == c) {
      p->conn = NULL;
      p->connected_since = 0;
      catalog_provider_seen (reg->co->cat, p->name, p->last_seen);
      log_info ("provider %s disconnected", p->name);
      reg->obs.peer_gone (reg->obs_arg, PEER_PROVIDER, p->name);
    }
  TAILQ_FOREACH (w, &reg->writers, entry)
    if (w->conn == c) {
      w->conn = NULL;
      snprintf (w->state, sizeof w->state, "disconnected");
      save_writer (reg, w);
      log_info ("writer %s disconnected", w->name);
      reg->obs.peer_gone (reg->obs_arg, PEER_WRITER, w->name);
    }
}

void
registry_writer_call (struct registry *reg, struct writer *w,
                      const char *event)
{
  snprintf (w->last_event, sizeof w->last_event, "%s", event);
  w->last_event_time = time (NULL);
  if (w->conn != NULL && strcmp (event, "prepare") == 0)
    snprintf (w->state, sizeof w->state, "preparing");
  save_writer_later (reg, w);
}

void
registry_writer_answer (struct registry *reg, struct writer *w,
                        const char *event, const char *error)
{
  const char *state = NULL;

  if (error != NULL) {
    replace_string (&w->last_error, error);
    state = "failed";
  }
  else if (strcmp (event, "prepare") == 0)
    state = "prepared";
  else if (strcmp (event, "freeze") == 0)
    state = "frozen";
  else if (strcmp (event, "thaw") == 0)
    state = "thawed";
  else if (strcmp (event, "post_snapshot") == 0 ||
           strcmp (event, "post_restore") == 0)
    state = "stable";
  else if (strcmp (event, "pre_restore") == 0)
    state = "restoring";
  else if (strcmp (event, "abort") == 0 && strcmp (w->state, "failed") != 0)
    state = "stable";
  if (state != NULL && w->conn != NULL)
    snprintf (w->state, sizeof w->state, "%s", state);
  save_writer_later (reg, w);
}

/* Lists. */

/* Append O (stolen) to *LIST.  If *LIST or O is NULL (their
 * constructor failed) or the append fails, release both, set *LIST to
 * NULL and return -1. */
static int
list_append (json_t **list, json_t *o)
{
  if (*list == NULL || o == NULL)
    json_decref (o);
  else if (json_array_append_new (*list, o) == 0)
    return 0;
  /* else json_array_append_new released O. */
  json_decref (*list);
  *list = NULL;
  return -1;
}

json_t *
registry_provider_list (struct registry *reg)
{
  json_t *list = json_array ();
  struct provider *p;

  TAILQ_FOREACH (p, &reg->providers, entry) {
    json_t *o = json_pack ("{s:s, s:s, s:s, s:b, s:o, s:I, s:I}",
                           "name", p->name,
                           "subject", p->subject,
                           "nbd_uri", p->nbd_uri,
                           "connected", p->conn != NULL,
                           "connected_since", p->conn
                           ? json_integer (p->connected_since) : json_null (),
                           "last_seen", (json_int_t) p->last_seen,
                           "volumes",
                           (json_int_t) json_array_size (p->volumes));

    if (list_append (&list, o) == -1)
      return NULL;
  }
  return list;
}

json_t *
registry_writer_list (struct registry *reg)
{
  json_t *list = json_array ();
  struct writer *w;

  TAILQ_FOREACH (w, &reg->writers, entry) {
    json_t *o = json_pack ("{s:s, s:s, s:O, s:I, s:b, s:s, s:o, s:o, s:o}",
                           "name", w->name,
                           "subject", w->subject,
                           "volumes", w->volumes,
                           "freeze_timeout_ms",
                           (json_int_t) w->freeze_timeout_ms,
                           "connected", w->conn != NULL,
                           "state", w->state,
                           "last_event", w->last_event[0]
                           ? json_string (w->last_event) : json_null (),
                           "last_event_time", w->last_event[0]
                           ? json_integer (w->last_event_time) : json_null (),
                           "last_error", w->last_error
                           ? json_string (w->last_error) : json_null ());

    if (list_append (&list, o) == -1)
      return NULL;
  }
  return list;
}

json_t *
registry_volume_list (struct registry *reg)
{
  json_t *list = json_array ();
  struct provider *p;

  TAILQ_FOREACH (p, &reg->providers, entry) {
    json_t *v;
    size_t i;

    if (p->conn == NULL)
      continue;
    json_array_foreach (p->volumes, i, v) {
      json_t *o = json_pack ("{s:s, s:O, s:O, s:O}",
                             "provider", p->name,
                             "volume", json_object_get (v, "name"),
                             "size", json_object_get (v, "size"),
                             "uuid", json_object_get (v, "uuid"));

      if (list_append (&list, o) == -1)
        return NULL;
    }
  }
  return list;
}

int
registry_forget (struct registry *reg, enum peer_kind kind, const char *name,
                 struct rpcerr *e)
{
  struct catalog *cat = reg->co->cat;

  if (kind == PEER_PROVIDER) {
    struct provider *p = registry_provider (reg, name);

    if (p == NULL)
      return rpcerr_set (e, SV_RPC_NOT_FOUND, "no provider named %s", name);
    json_t *dropped, *id;
    size_t i;

    if (p->conn != NULL)
      return rpcerr_set (e, SV_RPC_BUSY, "provider %s is connected", name);
    dropped = catalog_provider_forget (cat, name);
    if (dropped == NULL)
      return rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (cat));
    /* Nothing will ever delete these: say what is left behind. */
    json_array_foreach (dropped, i, id)
      log_warnx ("provider %s forgotten: dropped its queued deletion of "
                 "snapshot set %s (delete it there by hand if the provider "
                 "still has it)", name, json_string_value (id));
    json_decref (dropped);
    reg->obs.provider_forgotten (reg->obs_arg, name);
    TAILQ_REMOVE (&reg->providers, p, entry);
    provider_free (p);
  }
  else {
    struct writer *w = registry_writer (reg, name);

    if (w == NULL)
      return rpcerr_set (e, SV_RPC_NOT_FOUND, "no writer named %s", name);
    if (w->conn != NULL)
      return rpcerr_set (e, SV_RPC_BUSY, "writer %s is connected", name);
    if (catalog_writer_forget (cat, name) == -1)
      return rpcerr_set (e, SV_RPC_IO_ERROR, "%s", catalog_errmsg (cat));
    TAILQ_REMOVE (&reg->writers, w, entry);
    writer_free (w);
  }
  log_info ("%s %s forgotten", kind == PEER_PROVIDER ? "provider" : "writer",
            name);
  return 0;
}
