/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-setfsm-sim.c: a deterministic simulation of the set protocol
 * (setfsm.c) with writers, providers, a catalog and a coordinator that
 * crashes and recovers, driven by one seed.
 *
 * Design notes
 *
 * Each seed builds a world (0-3 writers, 1-4 providers, a message loss
 * rate, fault rates) and runs a few sets through the pure machine.
 * Messages take 1-50 ms (now and then seconds); per peer and direction
 * they arrive in order, as on a connection.  Faults: a lost request or
 * answer (the call ends at its deadline), a refusal, an answer not as
 * the protocol says, a peer killed (its calls end, the machine hears
 * it is gone; a writer thaws, a provider loses its holds but keeps its
 * snapshots; it comes back later and runs its queued deletions), a
 * catalog write that fails, and the coordinator killed between any two
 * actions (writers thaw; requests already sent still reach providers;
 * lazy records may be lost; at restart recovery records unfinished
 * sets failed and queues their deletions, as catalog_fail_unfinished
 * does).  The catalog is the records the machine asked for.
 *
 * Leader changes (coordinators sharing an etcd catalog, in the worlds
 * that have them): a leader is deposed between any two actions, as a
 * leader paused past its lease would be.  Its set stops where it is:
 * its records are refused (the catalog's leader guard), but the calls
 * of the event it was executing are sent late, 0.5-5 s on, when it
 * wakes (and those on the wire arrive as sent), with its term; its
 * writers stay connected, their freeze ending with its lease.  A new
 * leader with a higher term takes over 50-1000 ms later (the lease's
 * TTL), recovers as a restarted coordinator does, and each peer
 * registers with it 1-2000 ms later, learning the new term from the
 * answer.  Providers and writers keep the highest term they have seen
 * and refuse a call of a lower one with no effect (SV_RPC_STALE_TERM);
 * a crash in such a world also ends in a new leader with a higher
 * term.  Each call carries the term setfsm put in its action
 * (setfsm_set_term).
 *
 * Invariants, checked after every event and at the end:
 *   consistent cut  a set recorded or answered committed has, on every
 *                   provider, a snapshot pinned while its hold was
 *                   held, all holds held at one instant T, and every
 *                   writer frozen at T
 *   no half commit  a set recorded committed keeps a snapshot on every
 *                   provider; at the end no set is unfinished and no
 *                   provider keeps a snapshot of a set not committed
 *   thaw            every writer frozen for a set is sent writer.thaw
 *                   or writer.abort before the set is answered, unless
 *                   the coordinator crashed during the set (it thaws
 *                   when the connection drops, or when its lease ends)
 *   release         every hold taken for a set is ended by hold.commit
 *                   or hold.release, or owed a release, before the set
 *                   is answered, unless the coordinator crashed (its
 *                   lease ends it)
 *   liveness        the machine never waits with nothing outstanding
 *   fencing         no call of a deposed leader has an effect on a peer
 *                   that has registered with a later leader
 *   nothing held    at the end, once the world has been idle for a
 *                   lease, no writer is frozen and no hold is held
 *
 * Half the sets are set reverts (setfsm_new_revert).  A provider keeps,
 * per revert, whether its volumes hold the reverted content and whether
 * it holds the undo set; it may answer hold.revert with an error after
 * reverting (a flush that failed).  The catalog keeps the queued undos
 * and deletions (durable: they survive the coordinator's crash), which
 * the deleter runs when a provider registers, but the running revert's
 * undos.  A revert's invariants:
 *   all or none     once every provider is back and every deleter ran,
 *                   the providers of a revert are all reverted or all
 *                   not; all reverted if it was answered reverted, none
 *                   if answered failed; no undo set is left anywhere.
 *                   When a revert is answered failed, a provider still
 *                   reverted has its undo queued and the deleter told.
 *   reverted        a revert answered reverted has every provider
 *                   reverted when answered
 *   restore         every writer that may have run pre_restore is sent
 *                   writer.post_restore before the revert is answered
 *                   (the thaw check), unless the coordinator crashed or
 *                   the writer was killed (it restarts on its own); and
 *                   a revert answered reverted reverted no provider
 *                   while a writer not killed ran its application
 *
 * Environment: SETFSM_SIM_SEEDS (default 100000), SETFSM_SIM_FIRST (the
 * first seed, default 1), SETFSM_SIM_SEED (just that seed, with a
 * trace), SETFSM_SIM_SECONDS (run consecutive seeds for that long:
 * the soak, make set-soak).
 */

#include <config.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "setfsm.h"

#define MAX_PEERS 7
#define MAX_SETS 4
#define MAX_CALLS 512
#define MAX_EVENTS 1024
#define WINDOW_MS 1000
#define HOLD_LEASE_MS 2000
#define FREEZE_TIMEOUT_MS 10000

enum ev_kind {
  EV_REQUEST,                   /* a request reaches its peer */
  EV_ANSWER,                    /* an answer reaches the coordinator */
  EV_CALL_END,                  /* deadline passed or connection lost */
  EV_WINDOW,
  EV_GONE,
  EV_REVIVE,
  EV_RESTART,
  EV_TAKEOVER,                  /* a new leader, after a deposition */
  EV_REGISTER,                  /* a peer registers with the new leader */
};

struct event {
  int64_t at;
  uint64_t seq;
  enum ev_kind kind;
  int call, peer, part, gen, set, incarnation;
  enum setfsm_end end;
};

struct call {
  bool pending;
  bool late;                    /* sent by a deposed leader */
  int incarnation, set, part, peer, peer_epoch;
  enum setfsm_op op;
  uint64_t term;                /* the action's */
};

/* What a writer did for one set (a revert's pre_restore counts as its
 * freeze, post_restore as its thaw). */
struct freeze {
  bool froze, ended, thaw_sent, killed;
  int64_t start, end, lease_end;
};

/* What a provider did for one set. */
struct hold {
  bool taken, ended, end_sent, by_commit;
  int64_t start, end, lease_end;
  bool pinned, pinned_ever;
  int64_t pin_time;
};

struct simset {
  bool started, crashed, rejected, answered_committed, answered_failed;
  bool in_set[MAX_PEERS];
  int part_peer[MAX_PEERS];
  int nparts;
  int calls_made;
  int record, durable_record;   /* -1: none */
  struct freeze fz[MAX_PEERS];
  struct hold hd[MAX_PEERS];
  bool pending_deletion[MAX_PEERS];
  bool owed_release[MAX_PEERS];
  /* Reverts. */
  bool revert;
  bool rv_new[MAX_PEERS];       /* the provider holds the reverted content */
  bool undo_pin[MAX_PEERS];     /* it holds the undo set */
  int64_t rv_time[MAX_PEERS];   /* when it last reverted */
  bool undo_queued[MAX_PEERS];  /* the catalog's queued undo */
  bool undo_owed[MAX_PEERS];    /* the machine told the deleter */
};

struct peer {
  bool writer, alive;
  int epoch;
  int registered;               /* the incarnation it registered with */
  uint64_t term;                /* the highest term it has seen */
  int64_t last_request, last_answer;    /* arrival times, for order */
};

struct sim {
  uint64_t seed, rng;
  bool trace;
  int64_t now;
  uint64_t seq;
  /* The world. */
  int npeers, nwriters;
  struct peer peers[MAX_PEERS];
  unsigned loss, refuse, bad, slow, death, crash, record_fail; /* per 10000 */
  unsigned depose;              /* per 10000; a world with terms if > 0 */
  /* The coordinator. */
  bool up;
  int incarnation, running, window_gen;
  uint64_t term;                /* the leader's; 0 without leader changes */
  struct setfsm *fsm;
  struct simset sets[MAX_SETS];
  struct call calls[MAX_CALLS];
  int ncalls;
  struct event events[MAX_EVENTS];
  int nevents;
  const char *violation;
  char why[512];
  /* Tallies. */
  unsigned committed, failed, rejected, crashes, deaths;
  unsigned deposed, stale;      /* leader changes, calls refused stale */
};

static struct sim *cur;

/* Randomness. */

static uint64_t
next_random (struct sim *sim)
{
  uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static unsigned
below (struct sim *sim, unsigned n)
{
  return (unsigned) (next_random (sim) % n);
}

static bool
chance (struct sim *sim, unsigned per_10000)
{
  return below (sim, 10000) < per_10000;
}

static int64_t
message_delay (struct sim *sim)
{
  if (chance (sim, sim->slow))
    return 1000 + below (sim, 3000);
  return 1 + below (sim, 50);
}

/* Reporting. */

static void
trace (struct sim *sim, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

static void
trace (struct sim *sim, const char *fmt, ...)
{
  va_list ap;

  if (!sim->trace)
    return;
  printf ("%8" PRId64 " ms  ", sim->now);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
}

static void
violated (struct sim *sim, const char *invariant, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

/* Note the first violation; the seed's run stops at the next check. */
static void
violated (struct sim *sim, const char *invariant, const char *fmt, ...)
{
  va_list ap;

  if (sim->violation != NULL)
    return;
  sim->violation = invariant;
  va_start (ap, fmt);
  vsnprintf (sim->why, sizeof sim->why, fmt, ap);
  va_end (ap);
}

static void
out_of_memory (void)
{
  fprintf (stderr, "test-setfsm-sim: out of memory (seed %" PRIu64 ")\n",
           cur ? cur->seed : 0);
  abort ();
}

/* The event queue. */

static struct event *
schedule (struct sim *sim, enum ev_kind kind, int64_t at)
{
  struct event *e;

  if (sim->nevents == MAX_EVENTS) {
    violated (sim, "simulator", "more than %d events queued", MAX_EVENTS);
    return &sim->events[0];
  }
  e = &sim->events[sim->nevents++];
  memset (e, 0, sizeof *e);
  e->kind = kind;
  e->at = at;
  e->seq = sim->seq++;
  return e;
}

/* Take the earliest event (the first scheduled among equals). */
static bool
take_event (struct sim *sim, struct event *out)
{
  int best = -1, i;

  for (i = 0; i < sim->nevents; i++)
    if (best == -1 || sim->events[i].at < sim->events[best].at ||
        (sim->events[i].at == sim->events[best].at &&
         sim->events[i].seq < sim->events[best].seq))
      best = i;
  if (best == -1)
    return false;
  *out = sim->events[best];
  sim->events[best] = sim->events[--sim->nevents];
  if (out->at > sim->now)
    sim->now = out->at;
  return true;
}

/* Invariants. */

static int64_t
freeze_end (const struct freeze *f)
{
  return f->ended ? f->end : f->lease_end;
}

/* A set that is committed must be a consistent cut (design notes). */
static void
check_cut (struct sim *sim, int set, const char *when)
{
  struct simset *ss = &sim->sets[set];
  int64_t t = 0;
  int p;

  for (p = sim->nwriters; p < sim->npeers; p++) {
    const struct hold *h = &ss->hd[p];

    if (!ss->in_set[p])
      continue;
    if (!h->taken || !h->pinned_ever) {
      violated (sim, "consistent cut", "set %d %s but provider %d never "
                "%s", set, when, p, h->taken ? "pinned" : "held");
      return;
    }
    if (h->start > t)
      t = h->start;
  }
  for (p = 0; p < sim->npeers; p++) {
    const struct hold *h = &ss->hd[p];
    const struct freeze *f = &ss->fz[p];

    if (!ss->in_set[p])
      continue;
    if (!sim->peers[p].writer &&
        (h->pin_time < t || !h->by_commit || h->end != h->pin_time))
      violated (sim, "consistent cut", "set %d %s but provider %d pinned "
                "at %" PRId64 " ms, not under every hold (all held from "
                "%" PRId64 " ms)", set, when, p, h->pin_time, t);
    if (sim->peers[p].writer &&
        (!f->froze || f->start > t || freeze_end (f) < t))
      violated (sim, "consistent cut", "set %d %s but writer %d was not "
                "frozen at %" PRId64 " ms, when every hold was held", set,
                when, p, t);
  }
}

/* The set has been answered: the machine ended what it began. */
static void
check_cleanup (struct sim *sim, int set)
{
  struct simset *ss = &sim->sets[set];
  int p;

  if (ss->crashed)
    return;
  for (p = 0; p < sim->npeers; p++) {
    if (!ss->in_set[p])
      continue;
    /* A writer killed during a revert restarts on its own: nothing
     * to send it. */
    if (ss->fz[p].froze && !ss->fz[p].thaw_sent &&
        !(ss->revert && ss->fz[p].killed))
      violated (sim, "thaw", "set %d answered but writer %d, frozen, was "
                "sent neither writer.thaw nor writer.abort", set, p);
    if (ss->hd[p].taken && !ss->hd[p].end_sent && !ss->owed_release[p])
      violated (sim, "release", "set %d answered but provider %d, which "
                "held, was sent neither hold.commit nor hold.release",
                set, p);
    if (ss->answered_failed && ss->hd[p].pinned &&
        !ss->pending_deletion[p])
      violated (sim, "no half commit", "set %d answered failed but its "
                "snapshot on provider %d is neither deleted nor queued",
                set, p);
  }
}

/* After every event. */
static void
check_step (struct sim *sim)
{
  int set, p;

  for (set = 0; set < MAX_SETS; set++) {
    struct simset *ss = &sim->sets[set];

    if (ss->revert)
      continue;                 /* records nothing in the set table */
    if (ss->answered_committed && ss->durable_record != SETFSM_REC_COMMITTED)
      violated (sim, "no half commit", "set %d answered committed but "
                "recorded %s", set, ss->durable_record == -1 ? "nothing"
                : setfsm_record_name (ss->durable_record));
    if (ss->record != SETFSM_REC_COMMITTED)
      continue;
    for (p = sim->nwriters; p < sim->npeers; p++)
      if (ss->in_set[p] && !ss->hd[p].pinned)
        violated (sim, "no half commit", "set %d recorded committed but "
                  "provider %d has no snapshot of it", set, p);
  }
}

/* A revert at the end: all or none, no undo set left. */
static void
check_revert_end (struct sim *sim, int set)
{
  struct simset *ss = &sim->sets[set];
  int p, first = -1;

  for (p = sim->nwriters; p < sim->npeers; p++) {
    if (!ss->in_set[p])
      continue;
    if (ss->undo_pin[p] || ss->undo_queued[p])
      violated (sim, "all or none", "revert %d left %s on provider %d",
                set, ss->undo_pin[p] ? "its undo set" : "a queued undo", p);
    if (first == -1)
      first = p;
    else if (ss->rv_new[p] != ss->rv_new[first])
      violated (sim, "all or none", "revert %d: provider %d is %sreverted, "
                "provider %d is %sreverted", set, first,
                ss->rv_new[first] ? "" : "not ", p,
                ss->rv_new[p] ? "" : "not ");
    if (ss->answered_committed && !ss->rv_new[p])
      violated (sim, "all or none", "revert %d answered reverted but "
                "provider %d is not", set, p);
    if (ss->answered_failed && ss->rv_new[p])
      violated (sim, "all or none", "revert %d answered failed but "
                "provider %d is reverted", set, p);
  }
}

/* A revert answered reverted: every provider reverted, while every
 * writer not killed was stopped. */
static void
check_reverted (struct sim *sim, int set)
{
  struct simset *ss = &sim->sets[set];
  int p, w;

  for (p = sim->nwriters; p < sim->npeers; p++) {
    if (!ss->in_set[p])
      continue;
    if (!ss->rv_new[p])
      violated (sim, "reverted", "revert %d answered reverted but provider "
                "%d is not", set, p);
    for (w = 0; w < sim->nwriters; w++) {
      const struct freeze *f = &ss->fz[w];

      if (ss->in_set[w] && !f->killed &&
          (!f->froze || f->start > ss->rv_time[p] ||
           freeze_end (f) < ss->rv_time[p]))
        violated (sim, "restore", "revert %d: provider %d reverted at %"
                  PRId64 " ms while writer %d ran its application", set, p,
                  ss->rv_time[p], w);
    }
  }
}

/* A revert answered failed: a provider still reverted is being undone
 * (unless the answer raced a request still on its way). */
static void
check_revert_failed (struct sim *sim, int set)
{
  struct simset *ss = &sim->sets[set];
  int p;

  for (p = sim->nwriters; p < sim->npeers; p++)
    if (ss->in_set[p] && ss->rv_new[p] &&
        !(ss->undo_queued[p] && ss->undo_owed[p]))
      violated (sim, "all or none", "revert %d answered failed but "
                "provider %d is reverted and its undo is not owed", set, p);
}

/* At the end, everything back and every deletion run. */
static void
check_end (struct sim *sim)
{
  int64_t idle = sim->now + (HOLD_LEASE_MS > WINDOW_MS ? HOLD_LEASE_MS
                             : WINDOW_MS);
  int set, p;

  for (set = 0; set < MAX_SETS; set++) {
    struct simset *ss = &sim->sets[set];

    for (p = 0; p < sim->npeers; p++) {
      const struct freeze *f = &ss->fz[p];
      const struct hold *h = &ss->hd[p];

      if (f->froze && !f->ended && f->lease_end > idle)
        violated (sim, "nothing held", "writer %d is still frozen for set "
                  "%d a lease after the end", p, set);
      if (h->taken && !h->ended && h->lease_end > idle)
        violated (sim, "nothing held", "provider %d still holds for set %d "
                  "a lease after the end", p, set);
    }

    if (ss->revert) {
      check_revert_end (sim, set);
      continue;
    }

    if (ss->record != -1 && ss->record != SETFSM_REC_COMMITTED &&
        ss->record != SETFSM_REC_FAILED)
      violated (sim, "no half commit", "set %d still recorded %s after "
                "recovery", set, setfsm_record_name (ss->record));
    if (ss->record == SETFSM_REC_COMMITTED)
      continue;
    for (p = sim->nwriters; p < sim->npeers; p++)
      if (ss->hd[p].pinned)
        violated (sim, "no half commit", "set %d is not committed but "
                  "provider %d still has its snapshot", set, p);
  }
}

/* Peers. */

static void
end_freeze (struct freeze *f, int64_t now)
{
  if (f->froze && !f->ended) {
    f->ended = true;
    f->end = now < f->lease_end ? now : f->lease_end;
  }
}

static void
end_hold (struct hold *h, int64_t now, bool by_commit)
{
  if (h->taken && !h->ended) {
    h->ended = true;
    h->by_commit = by_commit && now < h->lease_end;
    h->end = now < h->lease_end ? now : h->lease_end;
  }
}

static enum setfsm_end
writer_handles (struct sim *sim, struct call *c)
{
  struct freeze *f = &sim->sets[c->set].fz[c->peer];

  if (c->op == SETFSM_FREEZE || c->op == SETFSM_PRE_RESTORE_OP) {
    if (chance (sim, sim->refuse))
      return SETFSM_REFUSED;
    f->froze = true;
    f->start = sim->now;
    f->lease_end = sim->now + WINDOW_MS;
    return chance (sim, sim->bad) ? SETFSM_BAD_ANSWER : SETFSM_ANSWERED;
  }
  if (c->op == SETFSM_THAW || c->op == SETFSM_ABORT ||
      c->op == SETFSM_POST_RESTORE_OP)
    end_freeze (f, sim->now);
  if (c->op == SETFSM_PREPARE && chance (sim, sim->refuse))
    return SETFSM_REFUSED;
  return SETFSM_ANSWERED;
}

/* PROVIDER reverts for SET, pinning its undo set. */
static void
provider_reverts (struct sim *sim, int set, int p)
{
  struct simset *ss = &sim->sets[set];

  ss->rv_new[p] = ss->undo_pin[p] = true;
  ss->rv_time[p] = sim->now;
}

/* PROVIDER runs revert.undo for SET. */
static enum setfsm_end
provider_undoes (struct sim *sim, int set, int p)
{
  struct simset *ss = &sim->sets[set];

  if (!ss->undo_pin[p])
    return SETFSM_NOT_FOUND;
  ss->rv_new[p] = ss->undo_pin[p] = false;
  return SETFSM_ANSWERED;
}

/* The calls of a revert that differ from a set's. */
static enum setfsm_end
provider_handles_revert (struct sim *sim, struct call *c)
{
  struct simset *ss = &sim->sets[c->set];
  struct hold *h = &ss->hd[c->peer];

  switch (c->op) {
  case SETFSM_HOLD_REVERT:
    if (!h->taken || h->ended || sim->now >= h->lease_end ||
        chance (sim, sim->refuse)) {
      end_hold (h, sim->now, false);
      return SETFSM_REFUSED;
    }
    provider_reverts (sim, c->set, c->peer);
    end_hold (h, sim->now, true);
    /* A flush that failed: reverted, answered an error. */
    if (chance (sim, sim->refuse))
      return SETFSM_REFUSED;
    return chance (sim, sim->bad) ? SETFSM_BAD_ANSWER : SETFSM_ANSWERED;
  case SETFSM_REVERT_UNDO:
    if (chance (sim, sim->refuse))
      return SETFSM_REFUSED;    /* another hold on the volume */
    return provider_undoes (sim, c->set, c->peer);
  case SETFSM_DELETE:
    if (chance (sim, sim->refuse))
      return SETFSM_REFUSED;
    if (!ss->undo_pin[c->peer])
      return SETFSM_NOT_FOUND;
    ss->undo_pin[c->peer] = false;
    return SETFSM_ANSWERED;
  default:
    return SETFSM_REFUSED;
  }
}

/* A hold release by id or by set id, or a deletion, from any coordinator
 * (the deleter's are applied directly: apply_deletions). */
static enum setfsm_end
provider_handles (struct sim *sim, struct call *c)
{
  struct hold *h = &sim->sets[c->set].hd[c->peer];

  if (sim->sets[c->set].revert && (c->op == SETFSM_HOLD_REVERT ||
                                   c->op == SETFSM_REVERT_UNDO ||
                                   c->op == SETFSM_DELETE))
    return provider_handles_revert (sim, c);
  switch (c->op) {
  case SETFSM_HOLD_BEGIN:
    if (chance (sim, sim->refuse))
      return SETFSM_REFUSED;
    h->taken = true;
    h->start = sim->now;
    h->lease_end = sim->now + HOLD_LEASE_MS;
    return chance (sim, sim->bad) ? SETFSM_BAD_ANSWER : SETFSM_ANSWERED;
  case SETFSM_HOLD_COMMIT:
    if (!h->taken || h->ended || sim->now >= h->lease_end) {
      end_hold (h, sim->now, false);
      return SETFSM_REFUSED;
    }
    h->pinned = h->pinned_ever = true;
    h->pin_time = sim->now;
    end_hold (h, sim->now, true);
    return chance (sim, sim->bad) ? SETFSM_BAD_ANSWER : SETFSM_ANSWERED;
  case SETFSM_HOLD_RELEASE:
  case SETFSM_HOLD_RELEASE_SET:
    end_hold (h, sim->now, false);
    return SETFSM_ANSWERED;
  case SETFSM_DELETE:
    if (chance (sim, sim->refuse))
      return SETFSM_REFUSED;    /* a snapshot still open */
    if (!h->pinned)
      return SETFSM_NOT_FOUND;
    h->pinned = false;
    return SETFSM_ANSWERED;
  default:
    return SETFSM_REFUSED;
  }
}

static void
deliver_request (struct sim *sim, const struct event *e)
{
  struct call *c = &sim->calls[e->call];
  struct peer *pr = &sim->peers[c->peer];
  struct event *answer;
  enum setfsm_end end;
  int64_t at;

  if (!pr->alive || pr->epoch != c->peer_epoch)
    return;                     /* lost with the connection */
  if (pr->writer && c->incarnation != sim->incarnation && !c->late)
    return;                     /* the writer saw its connection drop */
  if (c->term < pr->term) {
    trace (sim, "peer %d refuses %s of set %d: stale term %" PRIu64
           " (%" PRIu64 " is current)", c->peer, setfsm_op_method (c->op),
           c->set, c->term, pr->term);
    sim->stale++;
    end = SETFSM_REFUSED;
  }
  else {
    if (c->incarnation < pr->registered)
      violated (sim, "fencing", "peer %d, registered with coordinator %d, "
                "ran %s of set %d from deposed coordinator %d (term %"
                PRIu64 ", peer's %" PRIu64 ")", c->peer, pr->registered,
                setfsm_op_method (c->op), c->set, c->incarnation, c->term,
                pr->term);
    end = pr->writer ? writer_handles (sim, c) : provider_handles (sim, c);
    trace (sim, "peer %d runs %s of set %d: %d", c->peer,
           setfsm_op_method (c->op), c->set, end);
  }
  if (chance (sim, sim->loss)) {
    trace (sim, "  its answer is lost");
    return;
  }
  at = sim->now + message_delay (sim);
  if (at < pr->last_answer)
    at = pr->last_answer;
  pr->last_answer = at;
  answer = schedule (sim, EV_ANSWER, at);
  answer->call = e->call;
  answer->end = end;
}

/* A provider registers: its deleter runs the releases it is owed and
 * the deletions queued for it (coordinator/set.c's deleter). */
static void
apply_deletions (struct sim *sim, int p)
{
  int set;

  for (set = 0; set < MAX_SETS; set++) {
    struct simset *ss = &sim->sets[set];

    if (ss->owed_release[p]) {
      end_hold (&ss->hd[p], sim->now, false);
      ss->owed_release[p] = false;
    }
    /* The deleter leaves the running revert's undos to it. */
    if (ss->undo_queued[p] && !(sim->fsm != NULL && set == sim->running)) {
      provider_undoes (sim, set, p);
      ss->undo_queued[p] = false;
    }
    if (ss->pending_deletion[p]) {
      ss->hd[p].pinned = false;
      if (ss->revert)
        ss->undo_pin[p] = false;
      ss->pending_deletion[p] = false;
    }
  }
}

/* The coordinator. */

static void run_actions (struct sim *sim);

/* Whether peer P is connected to the coordinator running now. */
static bool
connected (const struct sim *sim, int p)
{
  return sim->peers[p].alive && sim->peers[p].registered == sim->incarnation;
}

/* Peer P registers with the coordinator running now: it learns its term
 * from the answer, and a provider's deleter runs. */
static void
peer_registers (struct sim *sim, int p)
{
  struct peer *pr = &sim->peers[p];

  trace (sim, "peer %d registers (term %" PRIu64 ")", p, sim->term);
  pr->registered = sim->incarnation;
  if (sim->term > pr->term)
    pr->term = sim->term;
  if (!pr->writer)
    apply_deletions (sim, p);
}

static void
send_request (struct sim *sim, const struct setfsm_action *a)
{
  struct simset *ss = &sim->sets[sim->running];
  int peer = ss->part_peer[a->part];
  struct peer *pr = &sim->peers[peer];
  struct call *c;
  int id = sim->ncalls;

  if (sim->ncalls == MAX_CALLS) {
    violated (sim, "simulator", "more than %d calls", MAX_CALLS);
    return;
  }
  c = &sim->calls[sim->ncalls++];
  c->pending = true;
  c->late = false;
  c->term = a->term;
  c->incarnation = sim->incarnation;
  c->set = sim->running;
  c->part = (int) a->part;
  c->peer = peer;
  c->peer_epoch = pr->epoch;
  c->op = a->op;
  ss->calls_made++;
  if (a->op == SETFSM_THAW || a->op == SETFSM_ABORT ||
      a->op == SETFSM_POST_RESTORE_OP)
    ss->fz[peer].thaw_sent = true;
  if (a->op == SETFSM_HOLD_COMMIT || a->op == SETFSM_HOLD_RELEASE ||
      a->op == SETFSM_HOLD_RELEASE_SET || a->op == SETFSM_HOLD_REVERT)
    ss->hd[peer].end_sent = true;
  trace (sim, "coordinator sends %s to peer %d", setfsm_op_method (a->op),
         peer);
  if (!connected (sim, peer)) {
    schedule (sim, EV_CALL_END, sim->now + 1)->call = id;
    return;
  }
  schedule (sim, EV_CALL_END, sim->now + a->timeout_ms)->call = id;
  if (chance (sim, sim->loss)) {
    trace (sim, "  the request is lost");
    return;
  }
  {
    int64_t at = sim->now + message_delay (sim);

    if (at < pr->last_request)
      at = pr->last_request;
    pr->last_request = at;
    schedule (sim, EV_REQUEST, at)->call = id;
  }
}

/* A revert's records: the catalog's undos, then their settling into
 * deletions of the undo set, each one durable transaction. */
static void
save_revert_record (struct sim *sim, const struct setfsm_action *a, bool ok)
{
  struct simset *ss = &sim->sets[sim->running];
  int p;

  trace (sim, "record %s: %s", setfsm_record_name (a->record),
         ok ? "saved" : "fails");
  for (p = sim->nwriters; ok && p < sim->npeers; p++) {
    if (!ss->in_set[p])
      continue;
    if (a->record == SETFSM_REC_UNDO_ARMED)
      ss->undo_queued[p] = true;
    else if (ss->undo_queued[p]) {
      ss->undo_queued[p] = false;
      ss->pending_deletion[p] = true;
    }
  }
  setfsm_recorded (sim->fsm, ok, ok ? NULL : "disk I/O error", sim->now);
}

static void
save_record (struct sim *sim, const struct setfsm_action *a)
{
  struct simset *ss = &sim->sets[sim->running];
  bool ok = !chance (sim, sim->record_fail);

  if (ss->revert) {
    save_revert_record (sim, a, ok);
    return;
  }
  trace (sim, "record %s: %s", setfsm_record_name (a->record),
         ok ? "saved" : "fails");
  if (ok) {
    if (a->record == SETFSM_REC_COMMITTED)
      check_cut (sim, sim->running, "recorded committed");
    ss->record = a->record;
    if (a->durable)
      ss->durable_record = a->record;
  }
  setfsm_recorded (sim->fsm, ok, ok ? NULL : "disk I/O error", sim->now);
}

/* The set ended: the coordinator forgets the machine. */
static void
set_answered (struct sim *sim)
{
  setfsm_free (sim->fsm);
  sim->fsm = NULL;
  sim->running = -1;
}

static void
crash_coordinator (struct sim *sim)
{
  int64_t restart;
  int set, p, i;

  trace (sim, "the coordinator is killed");
  sim->crashes++;
  sim->up = false;
  sim->incarnation++;
  setfsm_free (sim->fsm);
  sim->fsm = NULL;
  if (sim->running != -1)
    sim->sets[sim->running].crashed = true;
  sim->running = -1;
  for (set = 0; set < MAX_SETS; set++) {
    struct simset *ss = &sim->sets[set];

    /* Lazy records may not have reached the disk. */
    if (chance (sim, 5000))
      ss->record = ss->durable_record;
    for (p = 0; p < sim->npeers; p++) {
      end_freeze (&ss->fz[p], sim->now);  /* writers lose the connection */
      ss->owed_release[p] = false;         /* kept in memory only */
    }
  }
  /* A provider runs what reached it from the killed coordinator before
   * it sees the connection drop and registers with the new one. */
  restart = sim->now + 50 + below (sim, 1000);
  for (i = 0; i < sim->nevents; i++)
    if (sim->events[i].kind == EV_REQUEST &&
        !sim->peers[sim->calls[sim->events[i].call].peer].writer &&
        sim->events[i].at >= restart)
      restart = sim->events[i].at + 1;
  schedule (sim, EV_RESTART, restart);
}

/* A call of the deposed coordinator INCARNATION's set SET, sent when it
 * wakes up, on the connection it had (none if the peer restarted). */
static void
send_late (struct sim *sim, int set, const struct setfsm_action *a,
           int incarnation)
{
  struct simset *ss = &sim->sets[set];
  int peer = ss->part_peer[a->part];
  struct peer *pr = &sim->peers[peer];
  struct call *c;
  int64_t at;

  if (sim->ncalls == MAX_CALLS) {
    violated (sim, "simulator", "more than %d calls", MAX_CALLS);
    return;
  }
  c = &sim->calls[sim->ncalls];
  memset (c, 0, sizeof *c);
  c->late = true;
  c->term = a->term;
  c->incarnation = incarnation;
  c->set = set;
  c->part = (int) a->part;
  c->peer = peer;
  c->peer_epoch = pr->epoch;
  c->op = a->op;
  at = sim->now + 500 + below (sim, 4500);
  if (at < pr->last_request)
    at = pr->last_request;
  pr->last_request = at;
  trace (sim, "the deposed coordinator will send %s to peer %d at %" PRId64
         " ms", setfsm_op_method (a->op), peer, at);
  schedule (sim, EV_REQUEST, at)->call = sim->ncalls++;
}

/* The leader is deposed before executing A (paused past its lease).
 * Its set stops; the calls of A's event go out late, with its term;
 * its records would be refused.  A new leader takes over. */
static void
depose_leader (struct sim *sim, const struct setfsm_action *a)
{
  struct setfsm_action late[64];
  const struct setfsm_action *next;
  int n = 0, i, set, p, old = sim->incarnation, running = sim->running;

  trace (sim, "the coordinator (term %" PRIu64 ") is deposed", sim->term);
  sim->deposed++;
  if (a->kind == SETFSM_ACT_CALL)
    late[n++] = *a;
  while ((next = setfsm_next_action (sim->fsm)) != NULL)
    if (next->kind == SETFSM_ACT_CALL && n < 64)
      late[n++] = *next;
  /* What is on the wire still arrives, writers included: their
   * connections stay up. */
  for (i = 0; i < sim->ncalls; i++)
    if (sim->calls[i].incarnation == old)
      sim->calls[i].late = true;
  for (i = 0; i < n; i++)
    if (chance (sim, 5000))
      send_late (sim, running, &late[i], old);
  setfsm_free (sim->fsm);
  sim->fsm = NULL;
  sim->sets[running].crashed = true;
  sim->running = -1;
  sim->up = false;
  sim->incarnation++;
  for (set = 0; set < MAX_SETS; set++) {
    struct simset *ss = &sim->sets[set];

    if (chance (sim, 5000))
      ss->record = ss->durable_record;
    for (p = 0; p < sim->npeers; p++)
      ss->owed_release[p] = false;
  }
  schedule (sim, EV_TAKEOVER, sim->now + 50 + below (sim, 950));
}

/* Execute one action; false if the coordinator was killed first. */
static bool
run_action (struct sim *sim, const struct setfsm_action *a)
{
  struct simset *ss = &sim->sets[sim->running];

  if (chance (sim, sim->crash)) {
    crash_coordinator (sim);
    return false;
  }
  if (sim->depose > 0 && chance (sim, sim->depose)) {
    depose_leader (sim, a);
    return false;
  }
  switch (a->kind) {
  case SETFSM_ACT_RECORD:
    save_record (sim, a);
    break;
  case SETFSM_ACT_CALL:
    send_request (sim, a);
    break;
  case SETFSM_ACT_ARM_WINDOW:
    schedule (sim, EV_WINDOW, a->deadline_ms)->gen = ++sim->window_gen;
    break;
  case SETFSM_ACT_DISARM_WINDOW:
    sim->window_gen++;
    break;
  case SETFSM_ACT_QUEUE_DELETION:
    ss->pending_deletion[ss->part_peer[a->part]] = true;
    setfsm_recorded (sim->fsm, true, NULL, sim->now);
    break;
  case SETFSM_ACT_OWE_RELEASE:
    ss->owed_release[ss->part_peer[a->part]] = true;
    break;
  case SETFSM_ACT_UNDO_DONE:
    ss->undo_queued[ss->part_peer[a->part]] = false;
    break;
  case SETFSM_ACT_OWE_UNDO:
    ss->undo_owed[ss->part_peer[a->part]] = true;     /* the deleter's */
    break;
  case SETFSM_ACT_DELETION_DONE:
    ss->pending_deletion[ss->part_peer[a->part]] = false;
    break;
  case SETFSM_ACT_REPLY_COMMITTED:
    trace (sim, "set %d answered committed", sim->running);
    ss->answered_committed = true;
    sim->committed++;
    if (ss->revert)
      check_reverted (sim, sim->running);
    else
      check_cut (sim, sim->running, "answered committed");
    check_cleanup (sim, sim->running);
    set_answered (sim);
    return false;
  case SETFSM_ACT_REPLY_FAILED:
    trace (sim, "set %d answered failed: %s", sim->running,
           setfsm_reason (sim->fsm));
    ss->answered_failed = true;
    sim->failed++;
    if (ss->revert)
      check_revert_failed (sim, sim->running);
    check_cleanup (sim, sim->running);
    set_answered (sim);
    return false;
  case SETFSM_ACT_REJECT:
    ss->rejected = true;
    sim->rejected++;
    if (ss->calls_made > 0)
      violated (sim, "reject", "set %d rejected after %d calls",
                sim->running, ss->calls_made);
    set_answered (sim);
    return false;
  }
  return true;
}

static void
run_actions (struct sim *sim)
{
  const struct setfsm_action *next;

  while (sim->fsm != NULL && (next = setfsm_next_action (sim->fsm)) != NULL) {
    struct setfsm_action a = *next;

    if (!run_action (sim, &a))
      return;
  }
}

/* Restart: recovery records every unfinished set failed and queues
 * the deletion of its snapshots on each of its providers; providers
 * register again and their deleters run. */
static void
recover (struct sim *sim)
{
  int set, p;

  sim->up = true;
  if (sim->depose > 0)
    sim->term++;                /* a new election */
  for (set = 0; set < MAX_SETS; set++) {
    struct simset *ss = &sim->sets[set];

    if (ss->record == -1 || ss->record == SETFSM_REC_COMMITTED ||
        ss->record == SETFSM_REC_FAILED)
      continue;
    ss->record = ss->durable_record = SETFSM_REC_FAILED;
    for (p = sim->nwriters; p < sim->npeers; p++)
      if (ss->in_set[p])
        ss->pending_deletion[p] = true;
  }
}

static void
restart_coordinator (struct sim *sim)
{
  int p;

  trace (sim, "the coordinator restarts");
  recover (sim);
  for (p = 0; p < sim->npeers; p++)
    if (sim->peers[p].alive)
      peer_registers (sim, p);
}

/* A new leader after a deposition: the peers find it one by one. */
static void
take_over (struct sim *sim)
{
  int p;

  recover (sim);
  trace (sim, "a new leader (term %" PRIu64 ") takes over", sim->term);
  for (p = 0; p < sim->npeers; p++)
    if (sim->peers[p].alive) {
      struct event *e = schedule (sim, EV_REGISTER,
                                  sim->now + 1 + below (sim, 2000));

      e->peer = p;
      e->incarnation = sim->incarnation;
    }
}

static void
kill_peer (struct sim *sim, int p)
{
  struct peer *pr = &sim->peers[p];
  int set, i;

  trace (sim, "peer %d is killed", p);
  sim->deaths++;
  pr->alive = false;
  pr->epoch++;
  for (set = 0; set < MAX_SETS; set++) {
    struct freeze *f = &sim->sets[set].fz[p];

    if (f->froze && !f->ended)
      f->killed = true;
    end_freeze (f, sim->now);
    end_hold (&sim->sets[set].hd[p], sim->now, false);
  }
  for (i = 0; i < sim->ncalls; i++)
    if (sim->calls[i].pending && sim->calls[i].peer == p &&
        sim->calls[i].incarnation == sim->incarnation)
      schedule (sim, EV_CALL_END, sim->now + 1)->call = i;
  if (sim->fsm != NULL && sim->sets[sim->running].in_set[p])
    for (i = 0; i < sim->sets[sim->running].nparts; i++)
      if (sim->sets[sim->running].part_peer[i] == p) {
        struct event *e = schedule (sim, EV_GONE, sim->now + 1);

        e->part = i;
        e->set = sim->running;
        e->incarnation = sim->incarnation;
      }
  schedule (sim, EV_REVIVE, sim->now + 100 + below (sim, 3000))->peer = p;
}

static void
end_call (struct sim *sim, int id, enum setfsm_end end)
{
  struct call *c = &sim->calls[id];

  if (!c->pending || c->incarnation != sim->incarnation || sim->fsm == NULL)
    return;
  c->pending = false;
  trace (sim, "%s to peer %d ends: %d", setfsm_op_method (c->op), c->peer,
         end);
  setfsm_call_ended (sim->fsm, (size_t) c->part, c->op, end,
                     end == SETFSM_ANSWERED ? NULL : "simulated failure",
                     sim->now);
  run_actions (sim);
}

static void
handle_event (struct sim *sim, const struct event *e)
{
  switch (e->kind) {
  case EV_REQUEST:
    deliver_request (sim, e);
    break;
  case EV_ANSWER:
    end_call (sim, e->call, e->end);
    break;
  case EV_CALL_END:
    end_call (sim, e->call, SETFSM_NO_ANSWER);
    break;
  case EV_WINDOW:
    if (sim->fsm != NULL && e->gen == sim->window_gen) {
      trace (sim, "the freeze window ends");
      setfsm_window_ended (sim->fsm, sim->now);
      run_actions (sim);
    }
    break;
  case EV_GONE:
    if (sim->fsm != NULL && e->set == sim->running &&
        e->incarnation == sim->incarnation) {
      setfsm_peer_gone (sim->fsm, (size_t) e->part, sim->now);
      run_actions (sim);
    }
    break;
  case EV_REVIVE:
    trace (sim, "peer %d is back", e->peer);
    sim->peers[e->peer].alive = true;
    if (sim->up)
      peer_registers (sim, e->peer);
    break;
  case EV_RESTART:
    restart_coordinator (sim);
    break;
  case EV_TAKEOVER:
    take_over (sim);
    break;
  case EV_REGISTER:
    if (e->incarnation == sim->incarnation && sim->up &&
        sim->peers[e->peer].alive && !connected (sim, e->peer))
      peer_registers (sim, e->peer);
    break;
  }
}

/* Maybe kill a peer now. */
static void
inject_death (struct sim *sim)
{
  int p;

  if (!chance (sim, sim->death))
    return;
  p = (int) below (sim, (unsigned) sim->npeers);
  if (sim->peers[p].alive)
    kill_peer (sim, p);
}

/* Run events until the coordinator is up with no set running. */
static bool
run_until_idle (struct sim *sim)
{
  struct event e;

  while (sim->violation == NULL && (!sim->up || sim->fsm != NULL)) {
    if (!take_event (sim, &e)) {
      violated (sim, "liveness", "set %d waits with nothing outstanding",
                sim->running);
      return false;
    }
    handle_event (sim, &e);
    inject_death (sim);
    check_step (sim);
  }
  return sim->violation == NULL;
}

static void
start_set (struct sim *sim, int set)
{
  struct simset *ss = &sim->sets[set];
  int p, providers = 0;
  char name[24];

  for (p = sim->nwriters; p < sim->npeers; p++)
    providers += connected (sim, p);
  if (providers == 0) {
    p = sim->nwriters + (int) below (sim, (unsigned) (sim->npeers -
                                                      sim->nwriters));
    sim->peers[p].alive = true;
    peer_registers (sim, p);
  }
  ss->revert = chance (sim, 5000);
  sim->fsm = ss->revert ? setfsm_new_revert (WINDOW_MS, out_of_memory)
    : setfsm_new (WINDOW_MS, out_of_memory);
  setfsm_set_term (sim->fsm, sim->term);
  sim->running = set;
  ss->started = true;
  for (p = 0; p < sim->npeers; p++) {
    if (!connected (sim, p))
      continue;
    ss->in_set[p] = true;
    ss->part_peer[ss->nparts++] = p;
    snprintf (name, sizeof name, "peer-%d", p);
    if (sim->peers[p].writer)
      setfsm_add_writer (sim->fsm, name, FREEZE_TIMEOUT_MS);
    else
      setfsm_add_provider (sim->fsm, name);
  }
  trace (sim, "set %d starts with %d participants", set, ss->nparts);
  setfsm_start (sim->fsm, sim->now);
  run_actions (sim);
}

static void
build_world (struct sim *sim, uint64_t seed)
{
  static const unsigned loss[] = { 0, 0, 50, 200, 500 };
  int p, set;

  memset (sim, 0, sizeof *sim);
  sim->seed = sim->rng = seed;
  sim->nwriters = (int) below (sim, 4);
  sim->npeers = sim->nwriters + 1 + (int) below (sim, 3 + (sim->nwriters < 3));
  for (p = 0; p < sim->npeers; p++) {
    sim->peers[p].writer = p < sim->nwriters;
    sim->peers[p].alive = true;
  }
  sim->loss = loss[below (sim, 5)];
  sim->refuse = below (sim, 3) * 100;
  sim->bad = below (sim, 2) * 100;
  sim->slow = below (sim, 2) * 100;
  sim->death = below (sim, 3) * 50;
  sim->crash = below (sim, 3) * 100;
  sim->record_fail = below (sim, 2) * 200;
  sim->depose = below (sim, 3) * 100;
  sim->term = sim->depose > 0;
  for (p = 0; p < sim->npeers; p++)
    sim->peers[p].term = sim->term;
  sim->up = true;
  sim->running = -1;
  for (set = 0; set < MAX_SETS; set++)
    sim->sets[set].record = sim->sets[set].durable_record = -1;
}

/* One seed: the sets, then everyone back, the queued deletions run, and
 * the end checks.  0 if every invariant held. */
static int
run_seed (struct sim *sim, uint64_t seed, bool with_trace)
{
  struct event e;
  int set, p;

  build_world (sim, seed);
  sim->trace = with_trace;
  cur = sim;
  for (set = 0; set < MAX_SETS && sim->violation == NULL; set++) {
    if (!run_until_idle (sim))
      break;
    start_set (sim, set);
    check_step (sim);
  }
  if (sim->violation == NULL && run_until_idle (sim)) {
    /* Nothing is running: drain what is in flight, bring everyone back. */
    sim->death = 0;
    while (take_event (sim, &e) && sim->violation == NULL)
      handle_event (sim, &e);
    /* A final restart: what recovery leaves is checked. */
    restart_coordinator (sim);
    for (p = 0; p < sim->npeers; p++) {
      sim->peers[p].alive = true;
      peer_registers (sim, p);
    }
    check_step (sim);
    check_end (sim);
  }
  setfsm_free (sim->fsm);
  sim->fsm = NULL;
  cur = NULL;
  if (sim->violation == NULL)
    return 0;
  fprintf (stderr, "test-setfsm-sim: seed %" PRIu64 ": invariant \"%s\" "
           "violated at %" PRId64 " ms: %s\n"
           "  rerun with a trace: SETFSM_SIM_SEED=%" PRIu64
           " coordinator/test-setfsm-sim\n",
           seed, sim->violation, sim->now, sim->why, seed);
  return -1;
}

static uint64_t
env_number (const char *name, uint64_t dflt)
{
  const char *v = getenv (name);

  return v && *v ? strtoull (v, NULL, 10) : dflt;
}

static double
seconds_since (const struct timespec *t0)
{
  struct timespec t;

  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double) (t.tv_sec - t0->tv_sec) +
    (double) (t.tv_nsec - t0->tv_nsec) / 1e9;
}

int
main (void)
{
  static struct sim sim;
  uint64_t first = env_number ("SETFSM_SIM_FIRST", 1);
  uint64_t seeds = env_number ("SETFSM_SIM_SEEDS", 100000);
  uint64_t seconds = env_number ("SETFSM_SIM_SECONDS", 0);
  uint64_t seed, ran = 0, failures = 0;
  unsigned committed = 0, failed = 0, rejected = 0, crashes = 0, deaths = 0;
  unsigned deposed = 0, stale = 0;
  struct timespec t0;

  if (getenv ("SETFSM_SIM_SEED") != NULL) {
    seed = env_number ("SETFSM_SIM_SEED", 1);
    return run_seed (&sim, seed, true) == 0 ? 0 : 1;
  }
  clock_gettime (CLOCK_MONOTONIC, &t0);
  for (seed = first; seconds ? seconds_since (&t0) < (double) seconds
         : seed < first + seeds; seed++) {
    if (run_seed (&sim, seed, false) == -1 && ++failures >= 10)
      break;
    ran++;
    committed += sim.committed;
    failed += sim.failed;
    rejected += sim.rejected;
    crashes += sim.crashes;
    deaths += sim.deaths;
    deposed += sim.deposed;
    stale += sim.stale;
  }
  printf ("test-setfsm-sim: seeds %" PRIu64 "..%" PRIu64 " (%" PRIu64
          " runs) in %.2f s: %u sets committed, %u failed, %u refused; "
          "%u coordinator crashes, %u leaders deposed, %u calls refused "
          "for a stale term, %u peers killed; %" PRIu64 " seeds failed\n",
          first, seed - 1, ran, seconds_since (&t0), committed, failed,
          rejected, crashes, deposed, stale, deaths, failures);
  return failures == 0 ? 0 : 1;
}
