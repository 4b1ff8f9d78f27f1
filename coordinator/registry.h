/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * registry.h: the providers and writers the coordinator knows, with
 * their connections (if connected) and volumes.  Mirrored in the
 * catalog, so that provider.list and writer.list show peers that are
 * away, and a restarted coordinator knows them.
 *
 * The registry owns every struct provider and struct writer and their
 * rows in the catalog; it sits above the transport (conn.h) and below
 * the set layer.  It calls nothing above it: what happens to peers is
 * announced through the struct registry_observer given to
 * registry_new.  Callers may read the structures (and keep a pointer
 * until the event loop runs again; a provider or writer is freed only
 * by registry_forget and registry_free), and change them only through
 * the functions here.  Nothing here blocks except catalog writes.
 */

#ifndef SNAPVOL_REGISTRY_H
#define SNAPVOL_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

#include "conn.h"
#include "coord.h"

#define WRITER_STATE_MAX 16

/* Every state a writer can be in (the design notes of registry.c),
 * NULL-terminated. */
extern const char *const registry_writer_states[];

struct provider {
  TAILQ_ENTRY (provider) entry;
  char *name;
  char *subject;                /* of the certificate that registered it */
  char *nbd_uri;
  char *version;                /* NULL if not given */
  struct conn *conn;            /* NULL when not connected */
  int64_t registered;           /* Unix seconds of the last registration */
  int64_t connected_since;      /* 0 when not connected */
  int64_t last_seen;            /* last message received */
  json_t *volumes;              /* [{"name", "uuid", "size"}] by name */
};

struct writer {
  TAILQ_ENTRY (writer) entry;
  char *name;
  char *subject;
  json_t *volumes;              /* ["PROVIDER/VOLUME", ...] */
  unsigned freeze_timeout_ms;
  struct conn *conn;
  int64_t registered;
  /* As writer.list shows them (docs/protocol.md). */
  char state[WRITER_STATE_MAX];
  char last_event[WRITER_STATE_MAX];    /* "" before the first call */
  int64_t last_event_time;
  char *last_error;             /* NULL: none */
  bool unsaved;                 /* changed since last in the catalog */
};

/* What the registry tells the layer above (the set layer) about peers.
 * Each callback gets the ARG given to registry_new, runs after the
 * registry's own state and the catalog are updated, and must not free
 * the peer or re-enter the function that announced it. */
struct registry_observer {
  /* P has just registered (its answer has not gone out yet). */
  void (*provider_registered) (void *arg, struct provider *p);
  /* The provider NAME was forgotten; its queued deletions are gone
   * from the catalog. */
  void (*provider_forgotten) (void *arg, const char *name);
  /* The connection of the provider or writer NAME (KIND) has closed. */
  void (*peer_gone) (void *arg, enum peer_kind kind, const char *name);
};

struct registry {
  struct coord *co;
  struct registry_observer obs; /* the layer above */
  void *obs_arg;
  TAILQ_HEAD (, provider) providers;    /* sorted by name */
  TAILQ_HEAD (, writer) writers;        /* sorted by name */
  /* Private. */
  struct event *flush_ev;               /* runs registry_flush_writers */
  bool flush_due;                       /* a writer is unsaved */
};

/* Load the providers and writers recorded in CO->cat, all not
 * connected, and announce what happens to them to OBS (copied) with
 * ARG.  Nothing is announced from registry_new itself.  NULL on failure
 * (logged). */
extern struct registry *registry_new (struct coord *co,
                                      const struct registry_observer *obs,
                                      void *arg)
  __attribute__((nonnull (1, 2)));
extern void registry_free (struct registry *reg);

/* Look up by name; NULL if unknown. */
extern struct provider *registry_provider (struct registry *reg,
                                           const char *name)
  __attribute__((nonnull));
extern struct writer *registry_writer (struct registry *reg,
                                       const char *name)
  __attribute__((nonnull));

/* provider.register and writer.register from C, with PARAMS already
 * checked against the method's table.  Records the peer in the
 * catalog, then binds it to C.  -1 with E set on refusal: -32011 if
 * the name is bound to another certificate subject, -32003 if C is
 * already registered as another peer, -32004 if the catalog failed. */
extern int registry_register_provider (struct registry *reg, struct conn *c,
                                       json_t *params, struct rpcerr *e)
  __attribute__((nonnull));
extern int registry_register_writer (struct registry *reg, struct conn *c,
                                     json_t *params, struct rpcerr *e)
  __attribute__((nonnull));

/* Replace P's volumes with VOLUMES (params_volumes form; stolen) and
 * record them.  -1 if the catalog failed (the memory copy is updated
 * anyway: it is what the provider has). */
extern int registry_set_volumes (struct registry *reg, struct provider *p,
                                 json_t *volumes)
  __attribute__((nonnull));

/* A message came from C (a registered peer). */
extern void registry_seen (struct registry *reg, struct conn *c)
  __attribute__((nonnull));
/* C, the connection of a registered peer, has closed. */
extern void registry_conn_closed (struct registry *reg, struct conn *c)
  __attribute__((nonnull));

/* Writer history for writer.list: the call EVENT ("prepare",
 * "freeze", "thaw", "post_snapshot", "abort") was made to W, and then
 * ended, with ERROR (NULL on success).  Recorded in the catalog with
 * every other writer changed within 100 ms, in one lazy transaction,
 * when they are up or registry_flush_writers runs, whichever is
 * first. */
extern void registry_writer_call (struct registry *reg, struct writer *w,
                                  const char *event)
  __attribute__((nonnull));
extern void registry_writer_answer (struct registry *reg, struct writer *w,
                                    const char *event, const char *error)
  __attribute__((nonnull (1, 2, 3)));

/* Record every writer changed since the last flush now, in one lazy
 * transaction.  The set layer calls it before each durable record of
 * a set (the first and the last), so that the writers' events are in
 * the catalog's log before the record that makes them durable.  A
 * catalog error is logged there. */
extern void registry_flush_writers (struct registry *reg)
  __attribute__((nonnull));

/* Results of provider.list, writer.list and volume.list (new
 * references; NULL on ENOMEM). */
extern json_t *registry_provider_list (struct registry *reg)
  __attribute__((nonnull));
extern json_t *registry_writer_list (struct registry *reg)
  __attribute__((nonnull));
extern json_t *registry_volume_list (struct registry *reg)
  __attribute__((nonnull));

/* provider.forget / writer.forget: remove the peer from the catalog,
 * which frees its name for any certificate; a provider's queued
 * deletions are dropped (each logged).  -1 with E set if unknown
 * (-32001), connected (-32003) or the catalog failed (-32004). */
extern int registry_forget (struct registry *reg, enum peer_kind kind,
                            const char *name, struct rpcerr *e)
  __attribute__((nonnull));

#endif /* SNAPVOL_REGISTRY_H */
