/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * set-internal.h: what set.c and revert.c share, and nothing else may
 * see.  It owns the running set's state (struct snapset, its
 * participants, struct sets with the queue), declares the glue of
 * set.c that a revert reuses (rejecting, adding participants and
 * volumes, the set's JSON pieces, running the machine's actions), and
 * the entry points of revert.c that set.c's glue calls.  Included by
 * set.c and revert.c only; every other file sees set.h.
 *
 * None of these functions blocks; all run on the event loop.  A
 * function documented to reject S, or to end it, answers the requester
 * and frees S: the caller must not touch S afterwards.
 */

#ifndef SNAPVOL_SET_INTERNAL_H
#define SNAPVOL_SET_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <jansson.h>

#include "conn.h"
#include "coord.h"
#include "registry.h"
#include "set.h"
#include "setfsm.h"
#include "uuid.h"
#include "vector.h"

/* What the glue keeps of a participant; its state is in the machine. */
struct part {
  bool gone;                    /* its connection closed: see gone_cb */
  /* Writers. */
  size_t *mine;                 /* the indexes in the set's volumes of
                                 * those it registered, ascending */
  size_t nmine;
  size_t same;                  /* the first writer with the same volumes
                                 * of the set: its parameters are sent
                                 * (writer_params); this one, or earlier */
  char *encoded[2];             /* writer.prepare's and post_snapshot's
                                 * parameters, encoded once */
  /* Providers. */
  json_t *volumes;              /* names of its volumes, in set order */
  char hold_id[UUID_STRLEN + 1];
  json_t *snapshots;            /* snapshot entries from hold.commit */
};

DEFINE_VECTOR_TYPE (part_vector, struct part);

struct snapset {
  TAILQ_ENTRY (snapset) entry;
  struct sets *sets;
  struct reply_token tok;
  json_t *params;               /* set.create's, checked */
  struct setfsm *fsm;           /* NULL while queued or resolving */
  size_t resolving;             /* volume.list calls outstanding */
  char id[UUID_STRLEN + 1];
  const char *label;            /* in PARAMS, or "" */
  unsigned freeze_window_ms, hold_timeout_ms;
  json_t *pv;                   /* ["PROVIDER/VOLUME"] in set order */
  json_t *pv_index;             /* {"PROVIDER/VOLUME": its index in PV},
                                 * once PV is complete (set_pv_find) */
  json_t *snapshots;            /* the set's snapshot entries */
  bool snapshots_recorded;      /* in the catalog as they are here */
  json_t *recorded;             /* the final record, once saved: what
                                 * set.get shows of the set */
  part_vector parts;            /* as the machine's: writers first */
  char last_error[1200];        /* of the last call that ended */
  bool record_oom;              /* the last record failed for want of
                                 * memory, not in the catalog */
  int64_t created;
  int64_t t_start;
  struct event *window;         /* the freeze window */
  /* set.revert: ID is the undo set id. */
  bool revert, force;
  char target[UUID_STRLEN + 1]; /* the set reverted to */
  json_t *target_set;           /* its record */
};

struct sets {
  struct coord *co;
  TAILQ_HEAD (, snapset) queue;
  size_t nqueued;
  struct snapset *running;
  struct event *kick;           /* starts the next set */
  struct deleters *deleters;
  struct event *gone_ev;        /* runs gone_cb */
};

/* set.c: the glue that set.create and set.revert share. */

/* The machine's out-of-memory callback (setfsm_new): fatal. */
extern void set_fsm_out_of_memory (void) __attribute__((noreturn));

/* The participants of S as its set object shows them, and the timings
 * of S as it ends.  NULL on ENOMEM; the caller owns the result. */
extern json_t *set_participants_json (struct snapset *s)
  __attribute__((nonnull));
extern json_t *set_timings_json (struct snapset *s) __attribute__((nonnull));

/* The end of S: frees it, and starts the next set of the queue. */
extern void set_done (struct snapset *s) __attribute__((nonnull));

/* Refuse S with CODE and a message before anything was recorded or
 * called: answers the requester and ends S. */
extern void set_reject (struct snapset *s, int code, const char *fmt, ...)
  __attribute__((nonnull, format (printf, 3, 4)));

/* Whether the writer W is registered for one of the volumes of S,
 * which must be complete. */
extern bool set_writer_involved (struct snapset *s, const struct writer *w)
  __attribute__((nonnull));

/* Add the writer (WRITER true) or provider NAME as a participant of S
 * and its machine; a writer's volumes of the set are taken from the
 * registry then, so S's volumes must be complete.  -1 on ENOMEM; S is
 * not rejected. */
extern int set_add_part (struct snapset *s, bool writer, const char *name)
  __attribute__((nonnull));

/* Append PROVIDER/VOLUME to the volumes of S.  -1 on ENOMEM. */
extern int set_add_volume (struct snapset *s, const char *provider,
                           const char *volume) __attribute__((nonnull));

/* One participant per provider of the volumes of S, after its writers,
 * each with its volumes in set order.  -1 on ENOMEM. */
extern int set_add_providers (struct snapset *s) __attribute__((nonnull));

/* The freeze window's timer callback (ARG is the snapset). */
extern void set_window_cb (evutil_socket_t fd, short what, void *arg);

/* Execute every action the machine of S has asked for, in order.  S
 * may have ended (and be freed) on return. */
extern void set_run_actions (struct snapset *s) __attribute__((nonnull));

/* revert.c: set.revert's side of the glue. */

/* The record action A of the revert S (its undos armed on every
 * provider, or settled).  -1 if the catalog failed (logged there) or,
 * with S->record_oom set, for want of memory. */
extern int revert_save_record (struct snapset *s,
                               const struct setfsm_action *a)
  __attribute__((nonnull));

/* Answer set.revert: every volume reverted, or why not.  Ends S. */
extern void revert_reply_reverted (struct snapset *s)
  __attribute__((nonnull));
extern void revert_reply_failed (struct snapset *s) __attribute__((nonnull));

/* Resolve the revert S, taken from the queue, from its target's record,
 * then start its machine.  S may have been rejected (and freed) on
 * return. */
extern void revert_start (struct snapset *s) __attribute__((nonnull));

#endif /* SNAPVOL_SET_INTERNAL_H */
