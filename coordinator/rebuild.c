/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rebuild.c: --rebuild-catalog, committed sets rebuilt from the
 * providers' snapshots (rebuild.h).
 *
 * Design notes
 *
 * What a provider knows.  snapshot.list gives, per snapshot, its
 * volume, id, set id, label, creation time, generation and export.  A
 * provider pins a set's snapshots at hold.commit, before the
 * coordinator decides the set's outcome, and keeps no mark of that
 * outcome: a set that failed after some providers pinned (its deletion
 * queued in the catalog that was lost) lists exactly as a committed
 * set does.  Only a revert's undo set is told apart, by its label
 * (PROTO_REVERT_UNDO_LABEL): it is never recorded.  Every other set found
 * is recorded committed, with the reason REBUILT_REASON, so that
 * set.get says where it came from; nothing is ever deleted here: an
 * admin who knows a set failed deletes it with set.delete.
 *
 * When.  Providers are asked as they register, during one window
 * (--rebuild-wait) that starts when the daemon serves (with 'catalog
 * etcd', when it is elected: every election runs a rebuild, which
 * merges); a provider that registers again is asked again, and its
 * last answer counts.
 * Nothing is recorded before the window ends, so that the sets are
 * recorded in one pass, oldest first (set.list lists by the order of
 * recording, newest first), each with the snapshots of every provider
 * that answered.  A provider that registers after the window is not
 * asked: run --rebuild-catalog again once it is back (the sets already
 * recorded are kept as they are, so its snapshots of those sets are
 * not added).
 *
 * Merge.  A set whose id the catalog already records, whatever its
 * state, is left as recorded: the catalog knows more than a provider
 * does (a failed set, a set taken during the window).  Sets are
 * recorded one transaction each, durable: a failing write is logged,
 * and the other sets are still recorded.
 */

#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "catalog.h"
#include "conf.h"
#include "log.h"
#include "proto.h"
#include "rebuild.h"
#include "setfsm.h"             /* SET_CALL_TIMEOUT_MS */
#include "timespec.h"
#include "uuid.h"

#define REBUILT_REASON "rebuilt from the providers' snapshots " \
  "(--rebuild-catalog)"

struct ask;

struct rebuild {
  struct coord *co;
  struct event *window;         /* the window's end */
  bool open;
  unsigned wait_ms;
  json_t *listings;             /* provider name -> its last snapshot.list */
  TAILQ_HEAD (, ask) waiting;   /* asks not yet sent */
};

/* One snapshot.list, waiting to be sent (on REBUILD's list) or in
 * flight (conn.c ends it). */
struct ask {
  TAILQ_ENTRY (ask) entry;
  struct rebuild *rb;
  struct event *ev;             /* sends it from the loop; NULL once sent */
  char provider[PROTO_NAME_MAX + 1];
};

int
rebuild_parse_wait (const char *s, unsigned *ms, char *why, size_t whylen)
{
  int r = conf_parse_duration (s, ms);

  if (r == -1 && errno == EINVAL) {
    snprintf (why, whylen, "--rebuild-wait: invalid duration '%s' (a "
              "number followed by ms, s, m or h)", s);
    return -1;
  }
  if (r == -1 || *ms < REBUILD_WAIT_MIN_MS ||
      *ms > REBUILD_WAIT_MAX_MS) {
    snprintf (why, whylen, "--rebuild-wait: %s is out of range (100ms to "
              "1h)", s);
    return -1;
  }
  return 0;
}

/* Whether SNAP, an element of PROVIDER's snapshot.list, is a snapshot
 * object as docs/protocol.md describes it; if not, log why. */
static bool
snapshot_valid (const char *provider, json_t *snap)
{
  json_t *label = json_object_get (snap, "label");
  json_t *export = json_object_get (snap, "export");
  json_t *created = json_object_get (snap, "created");
  const char *volume = json_string_value (json_object_get (snap, "volume"));
  const char *id = json_string_value (json_object_get (snap, "id"));
  const char *set_id = json_string_value (json_object_get (snap, "set_id"));
  char why[256];
  struct uuid u;

  if (volume == NULL || !proto_is_name (volume) || id == NULL ||
      uuid_parse (id, &u) == -1 || set_id == NULL ||
      uuid_parse (set_id, &u) == -1 || !json_is_string (label) ||
      proto_check_label ("label", json_string_value (label),
                         json_string_length (label), why, sizeof why) == -1
      || !json_is_string (export) || json_string_length (export) > 256 ||
      strlen (json_string_value (export)) != json_string_length (export) ||
      !json_is_integer (created) || json_integer_value (created) < 0 ||
      !json_is_integer (json_object_get (snap, "generation"))) {
    log_warnx ("catalog rebuild: provider %s: snapshot.list answered with "
               "an invalid snapshot object: skipped", provider);
    return false;
  }
  return true;
}

/* The set SET_ID of SETS (set id -> set object being rebuilt), added
 * if new with SNAP's label. */
static json_t *
found_set (json_t *sets, const char *set_id, json_t *snap)
{
  json_t *set = json_object_get (sets, set_id);

  if (set != NULL)
    return set;
  set = json_pack ("{s:s, s:O, s:s, s:s, s:O, s:O, s:[], s:[], s:n}",
                   "set_id", set_id, "label", json_object_get (snap, "label"),
                   "state", "committed", "reason", REBUILT_REASON,
                   "created", json_object_get (snap, "created"),
                   "finished", json_object_get (snap, "created"),
                   "snapshots", "participants", "timings");
  if (set == NULL || json_object_set_new (sets, set_id, set) == -1)
    fatal ("catalog rebuild");
  return set;
}

/* Add SNAP, a valid snapshot of PROVIDER (reached at NBD_URI), to its
 * set in SETS: created is the oldest snapshot's time, finished the
 * newest's. */
static void
add_snapshot (json_t *sets, const char *provider, const char *nbd_uri,
              json_t *snap)
{
  char set_id[UUID_STRLEN + 1], id[UUID_STRLEN + 1];
  json_t *set, *parts, *part, *entry;
  json_int_t created = json_integer_value (json_object_get (snap, "created"));
  const char *export = json_string_value (json_object_get (snap, "export"));
  struct uuid u;
  size_t n;
  char *uri;

  uuid_parse (json_string_value (json_object_get (snap, "set_id")), &u);
  uuid_format (&u, set_id);
  uuid_parse (json_string_value (json_object_get (snap, "id")), &u);
  uuid_format (&u, id);
  set = found_set (sets, set_id, snap);
  if (created < json_integer_value (json_object_get (set, "created")))
    json_object_set_new (set, "created", json_integer (created));
  if (created > json_integer_value (json_object_get (set, "finished")))
    json_object_set_new (set, "finished", json_integer (created));
  uri = proto_export_uri (nbd_uri, export);
  if (uri == NULL)
    fatal ("catalog rebuild");
  entry = json_pack ("{s:s, s:O, s:s, s:s, s:s, s:O}", "provider", provider,
                     "volume", json_object_get (snap, "volume"), "id", id,
                     "export", export, "uri", uri,
                     "generation", json_object_get (snap, "generation"));
  free (uri);
  if (entry == NULL ||
      json_array_append_new (json_object_get (set, "snapshots"), entry) == -1)
    fatal ("catalog rebuild");
  parts = json_object_get (set, "participants");
  n = json_array_size (parts);
  part = n ? json_array_get (parts, n - 1) : NULL;
  if (part == NULL ||
      strcmp (json_string_value (json_object_get (part, "name")), provider)) {
    part = json_pack ("{s:s, s:s, s:s, s:n}", "kind", "provider",
                      "name", provider, "state", "committed", "error");
    if (part == NULL || json_array_append_new (parts, part) == -1)
      fatal ("catalog rebuild");
  }
}

/* Every set of the listings, by set id.  Providers in name order, each
 * one's snapshots in its order (by volume, then generation): a set's
 * snapshots come out by provider, then volume. */
static int
by_name (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static json_t *
collect_sets (struct rebuild *rb, unsigned *undo_sets)
{
  size_t n = json_object_size (rb->listings), i = 0, k;
  const char **names = calloc (n ? n : 1, sizeof *names);
  json_t *sets = json_object (), *listing, *snap;
  const char *provider;

  if (sets == NULL || names == NULL)
    fatal ("catalog rebuild");
  json_object_foreach (rb->listings, provider, listing)
    names[i++] = provider;
  qsort (names, n, sizeof *names, by_name);
  for (i = 0; i < n; i++) {
    struct provider *p = registry_provider (rb->co->reg, names[i]);

    provider = names[i];
    listing = json_object_get (rb->listings, provider);

    json_array_foreach (listing, k, snap) {
      if (!snapshot_valid (provider, snap))
        continue;
      if (strcmp (json_string_value (json_object_get (snap, "label")),
                  PROTO_REVERT_UNDO_LABEL) == 0) {
        (*undo_sets)++;
        continue;
      }
      add_snapshot (sets, provider, p ? p->nbd_uri : "", snap);
    }
  }
  free (names);
  return sets;
}

/* Whether set X was taken before set Y, when nothing else says:
 * the older pin time, then the smaller id. */
static bool
older (json_t *x, json_t *y)
{
  json_int_t tx = json_integer_value (json_object_get (x, "created"));
  json_int_t ty = json_integer_value (json_object_get (y, "created"));

  if (tx != ty)
    return tx < ty;
  return strcmp (json_string_value (json_object_get (x, "set_id")),
                 json_string_value (json_object_get (y, "set_id"))) < 0;
}

/* One snapshot of a found set, for ordering: its volume's generation
 * says which of two sets pinned it first. */
struct pin {
  const char *provider, *volume;
  json_int_t generation;
  size_t set;
};

static int
by_volume_generation (const void *a, const void *b)
{
  const struct pin *x = a, *y = b;
  int c = strcmp (x->provider, y->provider);

  if (c == 0)
    c = strcmp (x->volume, y->volume);
  if (c == 0 && x->generation != y->generation)
    c = x->generation < y->generation ? -1 : 1;
  return c;
}

/* SETS (N of them) in the order they were taken: a set that pinned a
 * volume at a lower generation than another set comes first (pins of
 * one volume are ordered by its generations, whatever the clocks
 * say); otherwise the older pin time, then the smaller id.  Pin times
 * are seconds, so sets taken within one second are common.  O(N^2)
 * comparisons: a catalog of 10000 sets takes a fraction of a second,
 * once. */
static void
order_sets (json_t **sets, size_t n)
{
  size_t npins = 0, i, j, k, done;
  size_t *indeg = calloc (n ? n : 1, sizeof *indeg);
  bool *taken = calloc (n ? n : 1, sizeof *taken);
  json_t **out = calloc (n ? n : 1, sizeof *out), *snap;
  struct pin *pins;

  for (i = 0; i < n; i++)
    npins += json_array_size (json_object_get (sets[i], "snapshots"));
  pins = calloc (npins ? npins : 1, sizeof *pins);
  if (indeg == NULL || taken == NULL || out == NULL || pins == NULL)
    fatal ("catalog rebuild");
  npins = 0;
  for (i = 0; i < n; i++)
    json_array_foreach (json_object_get (sets[i], "snapshots"), k, snap) {
      pins[npins].provider = json_string_value (json_object_get (snap, "provider"));
      pins[npins].volume = json_string_value (json_object_get (snap, "volume"));
      pins[npins].generation =
        json_integer_value (json_object_get (snap, "generation"));
      pins[npins++].set = i;
    }
  qsort (pins, npins, sizeof *pins, by_volume_generation);
  /* Pin K must follow pin K-1 of the same volume. */
  for (k = 1; k < npins; k++)
    if (strcmp (pins[k].provider, pins[k - 1].provider) == 0 &&
        strcmp (pins[k].volume, pins[k - 1].volume) == 0)
      indeg[pins[k].set]++;
  for (done = 0; done < n; done++) {
    size_t best = n;

    for (i = 0; i < n; i++)
      if (!taken[i] && indeg[i] == 0 &&
          (best == n || older (sets[i], sets[best])))
        best = i;
    if (best == n)              /* a cycle: generations that disagree */
      for (i = 0; i < n; i++)
        if (!taken[i] && (best == n || older (sets[i], sets[best])))
          best = i;
    taken[best] = true;
    out[done] = sets[best];
    for (k = 1; k < npins; k++)
      if (pins[k - 1].set == best && indeg[pins[k].set] > 0 &&
          strcmp (pins[k].provider, pins[k - 1].provider) == 0 &&
          strcmp (pins[k].volume, pins[k - 1].volume) == 0)
        indeg[pins[k].set]--;
  }
  for (j = 0; j < n; j++)
    sets[j] = out[j];
  free (pins);
  free (out);
  free (taken);
  free (indeg);
}

/* Record the sets of SETS the catalog does not know, oldest first. */
static void
record_sets (struct rebuild *rb, json_t *sets, unsigned *added,
             unsigned *kept, unsigned *failed)
{
  size_t n = json_object_size (sets), i = 0;
  json_t **order = calloc (n ? n : 1, sizeof *order), *set, *known;
  const char *set_id;

  if (order == NULL)
    fatal ("catalog rebuild");
  json_object_foreach (sets, set_id, set)
    order[i++] = set;
  order_sets (order, n);
  for (i = 0; i < n; i++) {
    set_id = json_string_value (json_object_get (order[i], "set_id"));
    known = catalog_set_get (rb->co->cat, set_id, false);
    if (known != NULL) {
      log_info ("catalog rebuild: set %s is already in the catalog (%s): "
                "kept as recorded", set_id,
                json_string_value (json_object_get (known, "state")));
      json_decref (known);
      (*kept)++;
    }
    else if (errno != ENOENT ||
             catalog_set_save (rb->co->cat, order[i], CATALOG_DURABLE) == -1) {
      log_warnx ("catalog rebuild: set %s not recorded: %s", set_id,
                 catalog_errmsg (rb->co->cat));
      (*failed)++;
    }
    else {
      log_info ("catalog rebuild: set %s (label \"%s\") recorded committed "
                "with %zu snapshot%s", set_id,
                json_string_value (json_object_get (order[i], "label")),
                json_array_size (json_object_get (order[i], "snapshots")),
                json_array_size (json_object_get (order[i], "snapshots"))
                == 1 ? "" : "s");
      (*added)++;
    }
  }
  free (order);
}

/* The window ended: record what was found. */
static void
window_ended (evutil_socket_t fd, short what, void *arg)
{
  struct rebuild *rb = arg;
  unsigned added = 0, kept = 0, failed = 0, undo_sets = 0;
  json_t *sets;

  rb->open = false;
  sets = collect_sets (rb, &undo_sets);
  record_sets (rb, sets, &added, &kept, &failed);
  log_info ("catalog rebuild: done after %u ms: %zu provider%s answered, "
            "%zu set%s found, %u recorded, %u already in the catalog, "
            "%u not recorded (catalog errors), %u revert undo "
            "snapshot%s skipped; providers that register from now on are "
            "not asked", rb->wait_ms, json_object_size (rb->listings),
            json_object_size (rb->listings) == 1 ? "" : "s",
            json_object_size (sets), json_object_size (sets) == 1 ? "" : "s",
            added, kept, failed, undo_sets, undo_sets == 1 ? "" : "s");
  json_decref (sets);
}

static void
ask_free (struct ask *a)
{
  if (a->ev) {
    TAILQ_REMOVE (&a->rb->waiting, a, entry);
    event_free (a->ev);
  }
  free (a);
}

static void
listed (void *arg, const struct call_outcome *o)
{
  struct ask *a = arg;
  struct rebuild *rb = a->rb;

  if (o->end == CALL_SHUTDOWN)
    ;
  else if (!rb->open)
    log_warnx ("catalog rebuild: provider %s answered snapshot.list after "
               "the window ended: not used", a->provider);
  else if (o->end != CALL_OK)
    log_warnx ("catalog rebuild: provider %s: snapshot.list failed: %s",
               a->provider, o->message);
  else if (!json_is_array (o->result))
    log_warnx ("catalog rebuild: provider %s: snapshot.list answered "
               "without an array: not used", a->provider);
  else {
    if (json_object_set (rb->listings, a->provider, o->result) == -1)
      fatal ("catalog rebuild");
    log_info ("catalog rebuild: provider %s lists %zu snapshot%s",
              a->provider, json_array_size (o->result),
              json_array_size (o->result) == 1 ? "" : "s");
  }
  ask_free (a);
}

static void
send_ask (evutil_socket_t fd, short what, void *arg)
{
  struct ask *a = arg;
  struct rebuild *rb = a->rb;
  struct provider *p = registry_provider (rb->co->reg, a->provider);

  TAILQ_REMOVE (&rb->waiting, a, entry);
  event_free (a->ev);
  a->ev = NULL;
  if (!rb->open || rb->co->stopping || p == NULL || p->conn == NULL) {
    ask_free (a);
    return;
  }
  conn_call (rb->co, p->conn, "snapshot.list", json_object (),
             SET_CALL_TIMEOUT_MS, listed, a);
}

void
rebuild_provider_registered (struct rebuild *rb, struct provider *p)
{
  struct ask *a;
  struct timeval tv;

  if (!rb->open)
    return;
  a = calloc (1, sizeof *a);
  if (a == NULL)
    fatal ("catalog rebuild");
  a->rb = rb;
  snprintf (a->provider, sizeof a->provider, "%s", p->name);
  /* From the loop: the answer to the registration goes out first. */
  a->ev = evtimer_new (rb->co->base, send_ask, a);
  if (a->ev == NULL || evtimer_add (a->ev, timespec_timeval_ms (&tv, 0))
      == -1)
    fatalx ("catalog rebuild: cannot schedule a call");
  TAILQ_INSERT_TAIL (&rb->waiting, a, entry);
}

struct rebuild *
rebuild_start (struct coord *co, unsigned wait_ms)
{
  struct rebuild *rb = calloc (1, sizeof *rb);
  struct catalog_stats st;
  struct timeval tv;

  if (rb == NULL) {
    log_warn ("catalog rebuild");
    return NULL;
  }
  rb->co = co;
  rb->wait_ms = wait_ms;
  rb->open = true;
  TAILQ_INIT (&rb->waiting);
  rb->listings = json_object ();
  rb->window = evtimer_new (co->base, window_ended, rb);
  if (rb->listings == NULL || rb->window == NULL ||
      evtimer_add (rb->window, timespec_timeval_ms (&tv, wait_ms)) == -1) {
    log_warnx ("catalog rebuild: cannot start the window");
    rebuild_free (rb);
    return NULL;
  }
  if (catalog_stats (co->cat, &st) == 0 &&
      st.committed + st.failed + st.unfinished > 0)
    log_warnx ("catalog rebuild: the catalog already records %lld set%s: "
               "they are kept as recorded; only sets it does not know are "
               "added", (long long) (st.committed + st.failed +
                                     st.unfinished),
               st.committed + st.failed + st.unfinished == 1 ? "" : "s");
  log_info ("catalog rebuild: asking every provider that registers within "
            "%u ms for its snapshots", wait_ms);
  return rb;
}

void
rebuild_free (struct rebuild *rb)
{
  struct ask *a;

  if (rb == NULL)
    return;
  while ((a = TAILQ_FIRST (&rb->waiting)) != NULL)
    ask_free (a);
  if (rb->window)
    event_free (rb->window);
  json_decref (rb->listings);
  free (rb);
}
