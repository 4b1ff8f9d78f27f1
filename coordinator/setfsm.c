/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * setfsm.c: the snapshot-set protocol as a pure state machine
 * (setfsm.h; docs/coordinator.md, "The set protocol").
 *
 * Design notes
 *
 * The machine advances a phase when the last call of the current one
 * has ended.  Entering a phase first asks for its record and waits for
 * the answer; only then do its calls go out:
 *
 *   phase       recorded    calls                         next
 *   preparing   preparing   writer.prepare to each writer freezing
 *                (durable; failing: rejected)
 *   freezing    freezing    writer.freeze to each writer  holding
 *                (none without writers; the window starts)
 *   holding     holding     hold.begin to each provider   committing
 *   committing  committing  hold.commit to each provider  thawing
 *   thawing     thawing     writer.thaw to each frozen    post-snapshot
 *                (+ snapshots; the window stops)
 *   post-snap.  -           writer.post_snapshot          committed
 *   committed   committed   - (durable, then answered; failing: abort)
 *   aborting    aborting    see below                     failed
 *   failed      failed      - (durable, then answered)
 *
 * Aborting, on the first failure in preparing..committing, when the
 * freeze window ends before thawing, when a frozen writer or a holding
 * provider goes away while freezing or holding, or when a record
 * fails: writer.thaw to each frozen writer and writer.abort to every
 * writer; each provider is cleaned up (cleanup_provider) at once, or
 * when its outstanding hold.begin or hold.commit ends.
 *
 * A participant's state is one enum; "failed" is sticky and shown
 * instead of the state's name, with the first error.
 *
 * A set revert (setfsm_new_revert) runs the same machine with other
 * phases; only two records, both durable, in the catalog's queue of
 * undos and deletions rather than the set table:
 *
 *   phase       recorded    calls                         next
 *   pre-restore -           writer.pre_restore to each    holding
 *                            writer (the window starts)
 *   holding     -           hold.begin to each provider   reverting
 *   reverting   undo-armed  hold.revert (with the undo    post-restore
 *                            set id) to each provider
 *   post-rest.  reverted    writer.post_restore to each   committed
 *                (the window stops) pre-restored writer,
 *                            snapshot.delete of the undo
 *                            set to each provider
 *   aborting    -           see below                     failed
 *
 * "undo-armed" queues a revert.undo on every provider before any
 * hold.revert goes out; "reverted", once every hold.revert answered,
 * turns them into deletions of the undo set in one transaction: it is
 * the point of no return.  Aborting, on any failure before it (a
 * writer's veto, a hold.begin or hold.revert that failed or went
 * unanswered, the window, a writer or holding provider gone, a record
 * that failed): writer.post_restore ("reverted": false) to every
 * pre-restored writer; each provider's hold released, and every
 * provider sent hold.revert is sent revert.undo, whatever its answer
 * was (revert.undo of a provider that did not revert answers "not
 * found": nothing to undo); an undo that fails stays queued for the
 * deleter, which runs it when the provider registers again.
 */

#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "setfsm.h"
#include "vector.h"

struct fsm_part {
  char *name;
  bool writer;
  enum setfsm_part_state state;
  bool failed;                  /* shown "failed", sticky */
  char *error;                  /* the first error, or NULL */
  unsigned freeze_timeout_ms;   /* writers */
};

DEFINE_VECTOR_TYPE (fsm_part_vector, struct fsm_part);
DEFINE_VECTOR_TYPE (action_vector, struct setfsm_action);

/* What the record being written is for: what its answer does. */
enum fsm_await {
  AWAIT_NONE,
  AWAIT_ENTER,                  /* entering ENTERING */
  AWAIT_ABORTING,               /* the abort's record: answer ignored */
  AWAIT_COMMITTED,
  AWAIT_FAILED,
  AWAIT_DELETION,               /* QUEUE_DELETION of AWAIT_PART */
};

struct setfsm {
  setfsm_oom_fn *oom;
  bool revert;                  /* setfsm_new_revert */
  unsigned window_ms;
  uint64_t term;                /* carried by every call; 0: none */
  enum setfsm_phase phase;
  enum setfsm_phase entering;   /* AWAIT_ENTER */
  enum fsm_await await;
  size_t await_part;
  fsm_part_vector parts;        /* writers first */
  size_t nwriters;
  size_t outstanding;           /* calls not yet ended */
  char *reason;
  enum setfsm_cause cause;       /* with REASON */
  struct setfsm_timings t;
  action_vector acts;
  size_t next_act;
};

static const char *const part_state_names[] = {
  [SETFSM_W_PENDING] = "pending",
  [SETFSM_W_PREPARED] = "prepared",
  [SETFSM_W_FROZEN] = "frozen",
  [SETFSM_W_THAWED] = "thawed",
  [SETFSM_W_DONE] = "done",
  [SETFSM_W_ABORTED] = "aborted",
  [SETFSM_P_PENDING] = "pending",
  [SETFSM_P_BEGIN_SENT] = "pending",
  [SETFSM_P_HELD] = "held",
  [SETFSM_P_HOLD_UNKNOWN] = "pending",
  [SETFSM_P_NOT_HELD] = "pending",
  [SETFSM_P_COMMIT_SENT] = "held",
  [SETFSM_P_COMMITTED] = "committed",
  [SETFSM_P_COMMIT_FAILED] = "held",
  [SETFSM_P_RELEASING] = "held",
  [SETFSM_P_RELEASED] = "released",
  [SETFSM_P_UNDOING] = "pending",
  [SETFSM_P_UNDOING_COMMITTED] = "committed",
  [SETFSM_P_DELETED] = "deleted",
  [SETFSM_P_DELETE_QUEUED] = "delete-queued",
  [SETFSM_W_PRE_RESTORED] = "pre-restored",
  [SETFSM_W_RESTORED] = "restored",
  [SETFSM_P_REVERT_SENT] = "held",
  [SETFSM_P_REVERTED] = "reverted",
  [SETFSM_P_REVERT_FAILED] = "not-reverted",
  [SETFSM_P_REVERT_UNKNOWN] = "held",
  [SETFSM_P_UNDOING_REVERT] = "undoing",
  [SETFSM_P_UNDONE] = "undone",
  [SETFSM_P_UNDO_QUEUED] = "undo-queued",
};

static const char *const record_names[] = {
  [SETFSM_REC_PREPARING] = "preparing",
  [SETFSM_REC_FREEZING] = "freezing",
  [SETFSM_REC_HOLDING] = "holding",
  [SETFSM_REC_COMMITTING] = "committing",
  [SETFSM_REC_THAWING] = "thawing",
  [SETFSM_REC_ABORTING] = "aborting",
  [SETFSM_REC_COMMITTED] = "committed",
  [SETFSM_REC_FAILED] = "failed",
  [SETFSM_REC_UNDO_ARMED] = "undo-armed",
  [SETFSM_REC_REVERTED] = "reverted",
};

static const char *const op_methods[] = {
  [SETFSM_PREPARE] = "writer.prepare",
  [SETFSM_FREEZE] = "writer.freeze",
  [SETFSM_THAW] = "writer.thaw",
  [SETFSM_POSTSNAP] = "writer.post_snapshot",
  [SETFSM_ABORT] = "writer.abort",
  [SETFSM_HOLD_BEGIN] = "hold.begin",
  [SETFSM_HOLD_COMMIT] = "hold.commit",
  [SETFSM_HOLD_RELEASE] = "hold.release",
  [SETFSM_HOLD_RELEASE_SET] = "hold.release",
  [SETFSM_DELETE] = "snapshot.delete",
  [SETFSM_PRE_RESTORE_OP] = "writer.pre_restore",
  [SETFSM_POST_RESTORE_OP] = "writer.post_restore",
  [SETFSM_HOLD_REVERT] = "hold.revert",
  [SETFSM_REVERT_UNDO] = "revert.undo",
};

static void advance_if_idle (struct setfsm *m, int64_t now);
static void advance_revert (struct setfsm *m, int64_t now);

/* Memory. */

static char *
dup_or_die (struct setfsm *m, const char *text)
{
  char *copy = strdup (text);

  if (copy == NULL)
    m->oom ();
  return copy;
}

static struct setfsm_action *
push_action (struct setfsm *m, enum setfsm_act_kind kind)
{
  struct setfsm_action *a;

  if (action_vector_reserve (&m->acts, 1) == -1)
    m->oom ();
  a = &m->acts.ptr[m->acts.len++];
  memset (a, 0, sizeof *a);
  a->kind = kind;
  return a;
}

/* Participants. */

static void
mark_failed (struct setfsm *m, size_t i, const char *error)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  pt->failed = true;
  free (pt->error);
  pt->error = dup_or_die (m, error);
}

/* Keep ERROR without failing the participant. */
static void
note_error (struct setfsm *m, size_t i, const char *error)
{
  if (m->parts.ptr[i].error == NULL)
    m->parts.ptr[i].error = dup_or_die (m, error);
}

static size_t
add_part (struct setfsm *m, const char *name, bool writer)
{
  struct fsm_part *pt;

  if (fsm_part_vector_reserve (&m->parts, 1) == -1)
    m->oom ();
  pt = &m->parts.ptr[m->parts.len];
  memset (pt, 0, sizeof *pt);
  pt->name = dup_or_die (m, name);
  pt->writer = writer;
  pt->state = writer ? SETFSM_W_PENDING : SETFSM_P_PENDING;
  if (writer)
    m->nwriters++;
  return m->parts.len++;
}

/* Actions. */

static void
send_call (struct setfsm *m, size_t i, enum setfsm_op op,
           unsigned timeout_ms)
{
  struct setfsm_action *a = push_action (m, SETFSM_ACT_CALL);

  a->part = i;
  a->op = op;
  a->timeout_ms = timeout_ms;
  a->term = m->term;
  m->outstanding++;
}

static void
ask_record (struct setfsm *m, enum setfsm_record record,
            enum fsm_await await)
{
  struct setfsm_action *a = push_action (m, SETFSM_ACT_RECORD);

  a->record = record;
  a->finished = record == SETFSM_REC_COMMITTED ||
    record == SETFSM_REC_FAILED;
  a->durable = a->finished || record == SETFSM_REC_PREPARING ||
    record == SETFSM_REC_UNDO_ARMED || record == SETFSM_REC_REVERTED;
  m->await = await;
}

/* A revert's provider I: release what it holds, undo what it may have
 * reverted. */
static void
cleanup_revert_provider (struct setfsm *m, size_t i)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  switch (pt->state) {
  case SETFSM_P_HELD:
    pt->state = SETFSM_P_RELEASING;
    send_call (m, i, SETFSM_HOLD_RELEASE, SET_CALL_TIMEOUT_MS);
    return;
  case SETFSM_P_HOLD_UNKNOWN:
    pt->state = SETFSM_P_RELEASED;
    send_call (m, i, SETFSM_HOLD_RELEASE_SET, SET_CALL_TIMEOUT_MS);
    return;
  case SETFSM_P_REVERTED:
  case SETFSM_P_REVERT_FAILED:
  case SETFSM_P_REVERT_UNKNOWN:
    /* A refusal, too: a hold.revert whose flush failed answers an
     * error with the revert in effect. */
    pt->state = SETFSM_P_UNDOING_REVERT;
    send_call (m, i, SETFSM_REVERT_UNDO, SET_CALL_TIMEOUT_MS);
    return;
  default:
    return;                     /* nothing held, or outstanding */
  }
}

/* Release what provider I holds and delete what it may have pinned. */
static void
cleanup_provider (struct setfsm *m, size_t i)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  if (m->revert) {
    cleanup_revert_provider (m, i);
    return;
  }
  switch (pt->state) {
  case SETFSM_P_HELD:
    pt->state = SETFSM_P_RELEASING;
    send_call (m, i, SETFSM_HOLD_RELEASE, SET_CALL_TIMEOUT_MS);
    break;
  case SETFSM_P_HOLD_UNKNOWN:
    /* It may hold, or come to hold, under an id we never learnt; it
     * runs calls in order, so a release by set id ends that hold. */
    pt->state = SETFSM_P_UNDOING;
    send_call (m, i, SETFSM_HOLD_RELEASE_SET, SET_CALL_TIMEOUT_MS);
    break;
  case SETFSM_P_COMMITTED:
    pt->state = SETFSM_P_UNDOING_COMMITTED;
    break;
  case SETFSM_P_PENDING:
  case SETFSM_P_NOT_HELD:
  case SETFSM_P_COMMIT_FAILED:
    pt->state = SETFSM_P_UNDOING;
    break;
  default:
    return;                     /* outstanding, or cleaned already */
  }
  send_call (m, i, SETFSM_DELETE, SET_CALL_TIMEOUT_MS);
}

static void
abort_set (struct setfsm *m, enum setfsm_cause cause, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));
static void send_abort_calls (struct setfsm *m);

static void
abort_set (struct setfsm *m, enum setfsm_cause cause, const char *fmt, ...)
{
  char reason[1024];
  va_list ap;

  if (m->phase == SETFSM_ABORTING)
    return;
  va_start (ap, fmt);
  vsnprintf (reason, sizeof reason, fmt, ap);
  va_end (ap);
  m->reason = dup_or_die (m, reason);
  m->cause = cause;
  m->phase = SETFSM_ABORTING;
  push_action (m, SETFSM_ACT_DISARM_WINDOW);
  if (m->revert)
    send_abort_calls (m);       /* a revert keeps no abort record */
  else
    ask_record (m, SETFSM_REC_ABORTING, AWAIT_ABORTING);
}

/* The calls of an abort, once its record is answered. */
static void
send_abort_calls (struct setfsm *m)
{
  size_t i;

  if (m->revert) {
    for (i = 0; i < m->nwriters; i++)
      if (m->parts.ptr[i].state == SETFSM_W_PRE_RESTORED)
        send_call (m, i, SETFSM_POST_RESTORE_OP, SET_CALL_TIMEOUT_MS);
    for (i = m->nwriters; i < m->parts.len; i++)
      cleanup_revert_provider (m, i);
    return;
  }
  for (i = 0; i < m->nwriters; i++) {
    if (m->parts.ptr[i].state == SETFSM_W_FROZEN)
      send_call (m, i, SETFSM_THAW, SET_CALL_TIMEOUT_MS);
    send_call (m, i, SETFSM_ABORT, SET_CALL_TIMEOUT_MS);
  }
  for (i = m->nwriters; i < m->parts.len; i++)
    cleanup_provider (m, i);
}

/* Phases. */

static const enum setfsm_record enter_records[] = {
  [SETFSM_PREPARING] = SETFSM_REC_PREPARING,
  [SETFSM_FREEZING] = SETFSM_REC_FREEZING,
  [SETFSM_HOLDING] = SETFSM_REC_HOLDING,
  [SETFSM_COMMITTING] = SETFSM_REC_COMMITTING,
  [SETFSM_THAWING] = SETFSM_REC_THAWING,
};

/* Enter PHASE: its record first, its calls when that is answered. */
static void
enter_phase (struct setfsm *m, enum setfsm_phase phase)
{
  m->entering = phase;
  ask_record (m, enter_records[phase], AWAIT_ENTER);
}

static void
send_phase_calls (struct setfsm *m, int64_t now)
{
  size_t i;

  m->phase = m->entering;
  switch (m->phase) {
  case SETFSM_PREPARING:
    for (i = 0; i < m->nwriters; i++)
      send_call (m, i, SETFSM_PREPARE, m->parts.ptr[i].freeze_timeout_ms);
    break;
  case SETFSM_FREEZING:
    m->t.first_freeze = now;
    push_action (m, SETFSM_ACT_ARM_WINDOW)->deadline_ms = now + m->window_ms;
    for (i = 0; i < m->nwriters; i++)
      send_call (m, i, SETFSM_FREEZE, m->parts.ptr[i].freeze_timeout_ms);
    break;
  case SETFSM_HOLDING:
    m->t.first_hold = now;
    for (i = m->nwriters; i < m->parts.len; i++) {
      m->parts.ptr[i].state = SETFSM_P_BEGIN_SENT;
      /* The provider's default wait applies; the deadline is that
       * plus 5 s. */
      send_call (m, i, SETFSM_HOLD_BEGIN, SET_HOLD_WAIT_MS + 5000);
    }
    break;
  case SETFSM_COMMITTING:
    for (i = m->nwriters; i < m->parts.len; i++) {
      m->parts.ptr[i].state = SETFSM_P_COMMIT_SENT;
      send_call (m, i, SETFSM_HOLD_COMMIT, SET_CALL_TIMEOUT_MS);
    }
    break;
  case SETFSM_THAWING:
    for (i = 0; i < m->nwriters; i++)
      if (m->parts.ptr[i].state == SETFSM_W_FROZEN)
        send_call (m, i, SETFSM_THAW, SET_CALL_TIMEOUT_MS);
    break;
  case SETFSM_PRE_RESTORE:
    m->t.first_freeze = now;
    push_action (m, SETFSM_ACT_ARM_WINDOW)->deadline_ms = now + m->window_ms;
    for (i = 0; i < m->nwriters; i++)
      send_call (m, i, SETFSM_PRE_RESTORE_OP,
                 m->parts.ptr[i].freeze_timeout_ms);
    break;
  case SETFSM_REVERTING:
    for (i = m->nwriters; i < m->parts.len; i++) {
      m->parts.ptr[i].state = SETFSM_P_REVERT_SENT;
      send_call (m, i, SETFSM_HOLD_REVERT, SET_CALL_TIMEOUT_MS);
    }
    break;
  case SETFSM_POST_RESTORE:
    for (i = 0; i < m->nwriters; i++)
      if (m->parts.ptr[i].state == SETFSM_W_PRE_RESTORED)
        send_call (m, i, SETFSM_POST_RESTORE_OP, SET_CALL_TIMEOUT_MS);
    for (i = m->nwriters; i < m->parts.len; i++)
      send_call (m, i, SETFSM_DELETE, SET_CALL_TIMEOUT_MS);
    break;
  default:
    break;
  }
  advance_if_idle (m, now);
}

/* A revert's phases: the two records, at the step they guard. */
static void
advance_revert (struct setfsm *m, int64_t now)
{
  switch (m->phase) {
  case SETFSM_PRE_RESTORE:
    m->entering = SETFSM_HOLDING;
    send_phase_calls (m, now);
    return;
  case SETFSM_HOLDING:
    m->entering = SETFSM_REVERTING;
    ask_record (m, SETFSM_REC_UNDO_ARMED, AWAIT_ENTER);
    return;
  case SETFSM_REVERTING:
    push_action (m, SETFSM_ACT_DISARM_WINDOW);
    m->entering = SETFSM_POST_RESTORE;
    ask_record (m, SETFSM_REC_REVERTED, AWAIT_ENTER);
    return;
  case SETFSM_POST_RESTORE:
    m->phase = SETFSM_COMMITTED;
    push_action (m, SETFSM_ACT_REPLY_COMMITTED);
    return;
  case SETFSM_ABORTING:
    m->phase = SETFSM_FAILED;
    push_action (m, SETFSM_ACT_REPLY_FAILED);
    return;
  default:
    return;
  }
}

static void
start_post_snapshot (struct setfsm *m)
{
  size_t i;

  m->phase = SETFSM_POST_SNAPSHOT;
  for (i = 0; i < m->nwriters; i++)
    send_call (m, i, SETFSM_POSTSNAP, SET_CALL_TIMEOUT_MS);
}

/* Every call of the phase has ended: the next phase. */
static void
advance_if_idle (struct setfsm *m, int64_t now)
{
  if (m->outstanding > 0 || m->await != AWAIT_NONE)
    return;
  if (m->revert) {
    advance_revert (m, now);
    return;
  }
  switch (m->phase) {
  case SETFSM_PREPARING:
    if (m->nwriters > 0) {
      enter_phase (m, SETFSM_FREEZING);
      return;
    }
    m->phase = SETFSM_FREEZING;        /* nothing to freeze, no window */
    /* fall through */
  case SETFSM_FREEZING:
    enter_phase (m, SETFSM_HOLDING);
    return;
  case SETFSM_HOLDING:
    enter_phase (m, SETFSM_COMMITTING);
    return;
  case SETFSM_COMMITTING:
    push_action (m, SETFSM_ACT_DISARM_WINDOW);
    enter_phase (m, SETFSM_THAWING);
    return;
  case SETFSM_THAWING:
    start_post_snapshot (m);
    advance_if_idle (m, now);
    return;
  case SETFSM_POST_SNAPSHOT:
    ask_record (m, SETFSM_REC_COMMITTED, AWAIT_COMMITTED);
    return;
  case SETFSM_ABORTING:
    ask_record (m, SETFSM_REC_FAILED, AWAIT_FAILED);
    return;
  default:
    return;
  }
}

/* Call endings, one handler per kind of call. */

static void
writer_prepare_ended (struct setfsm *m, size_t i, enum setfsm_op op,
                      enum setfsm_end end, const char *error)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  if (end == SETFSM_ANSWERED) {
    pt->state = op == SETFSM_FREEZE ? SETFSM_W_FROZEN : SETFSM_W_PREPARED;
    return;
  }
  /* A writer that answered freeze, but not as the protocol says, may
   * have frozen: it is thawed with the others. */
  if (op == SETFSM_FREEZE && end == SETFSM_BAD_ANSWER)
    pt->state = SETFSM_W_FROZEN;
  mark_failed (m, i, error);
  abort_set (m, SETFSM_CAUSE_WRITER, "writer %s: %s", pt->name, error);
}

static void
writer_thaw_ended (struct setfsm *m, size_t i, enum setfsm_end end,
                   const char *error, int64_t now)
{
  m->t.last_thaw = now;
  if (end == SETFSM_ANSWERED)
    m->parts.ptr[i].state = SETFSM_W_THAWED;
  else
    /* The snapshots are taken: a writer that fails to thaw does not
     * undo them, but shows as failed. */
    mark_failed (m, i, error);
}

static void
writer_finish_ended (struct setfsm *m, size_t i, enum setfsm_op op,
                     enum setfsm_end end, const char *error)
{
  if (end == SETFSM_ANSWERED)
    m->parts.ptr[i].state = op == SETFSM_ABORT ? SETFSM_W_ABORTED
      : SETFSM_W_DONE;
  else if (op == SETFSM_ABORT)
    note_error (m, i, error);
  else
    mark_failed (m, i, error);
}

static void
writer_pre_restore_ended (struct setfsm *m, size_t i, enum setfsm_end end,
                          const char *error)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  /* A writer that answered not as the protocol says, or not at all,
   * may have stopped its application: it is sent post_restore with the
   * others.  Only a refusal says it did not stop. */
  if (end != SETFSM_REFUSED && end != SETFSM_NOT_FOUND)
    pt->state = SETFSM_W_PRE_RESTORED;
  /* Stopped after the abort's calls went out: its own post_restore. */
  if (m->phase == SETFSM_ABORTING && pt->state == SETFSM_W_PRE_RESTORED)
    send_call (m, i, SETFSM_POST_RESTORE_OP, SET_CALL_TIMEOUT_MS);
  if (end == SETFSM_ANSWERED)
    return;
  mark_failed (m, i, error);
  abort_set (m, SETFSM_CAUSE_WRITER, "writer %s: %s", pt->name, error);
}

static void
writer_post_restore_ended (struct setfsm *m, size_t i, enum setfsm_end end,
                           const char *error)
{
  if (end == SETFSM_ANSWERED)
    m->parts.ptr[i].state = SETFSM_W_RESTORED;
  else
    /* The revert is done, or undone: a writer that fails to reload
     * shows as failed, and changes neither. */
    mark_failed (m, i, error);
}

static void
hold_revert_ended (struct setfsm *m, size_t i, enum setfsm_end end,
                   const char *error, int64_t now)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  m->t.last_commit = now;
  if (end == SETFSM_ANSWERED)
    pt->state = SETFSM_P_REVERTED;
  else {
    pt->state = end == SETFSM_REFUSED || end == SETFSM_NOT_FOUND
      ? SETFSM_P_REVERT_FAILED : SETFSM_P_REVERT_UNKNOWN;
    mark_failed (m, i, error);
  }
  if (m->phase == SETFSM_ABORTING)
    cleanup_revert_provider (m, i);
  else if (end != SETFSM_ANSWERED)
    abort_set (m, SETFSM_CAUSE_PROVIDER, "provider %s: %s", pt->name, error);
}

static void
revert_undo_ended (struct setfsm *m, size_t i, enum setfsm_end end,
                   const char *error)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  if (end == SETFSM_ANSWERED || end == SETFSM_NOT_FOUND) {
    pt->state = SETFSM_P_UNDONE;
    push_action (m, SETFSM_ACT_UNDO_DONE)->part = i;
    return;
  }
  note_error (m, i, error);
  pt->state = SETFSM_P_UNDO_QUEUED;
  push_action (m, SETFSM_ACT_OWE_UNDO)->part = i;
}

/* The undo set's deletion after a revert: the provider stays
 * "reverted" either way. */
static void
undo_delete_ended (struct setfsm *m, size_t i, enum setfsm_end end,
                   const char *error)
{
  if (end == SETFSM_ANSWERED || end == SETFSM_NOT_FOUND) {
    push_action (m, SETFSM_ACT_DELETION_DONE)->part = i;
    return;
  }
  note_error (m, i, error);
  push_action (m, SETFSM_ACT_QUEUE_DELETION)->part = i;
  m->await = AWAIT_DELETION;
  m->await_part = i;
}

static void
hold_begin_ended (struct setfsm *m, size_t i, enum setfsm_end end,
                  const char *error)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  if (end == SETFSM_ANSWERED)
    pt->state = SETFSM_P_HELD;
  else {
    /* Only a refusal says for sure that nothing is held. */
    pt->state = end == SETFSM_REFUSED || end == SETFSM_NOT_FOUND
      ? SETFSM_P_NOT_HELD : SETFSM_P_HOLD_UNKNOWN;
    mark_failed (m, i, error);
  }
  if (m->phase == SETFSM_ABORTING)
    cleanup_provider (m, i);
  else if (end != SETFSM_ANSWERED)
    abort_set (m, SETFSM_CAUSE_PROVIDER, "provider %s: %s", pt->name, error);
}

static void
hold_commit_ended (struct setfsm *m, size_t i, enum setfsm_end end,
                   const char *error, int64_t now)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  /* A commit ends the hold, either way. */
  m->t.last_commit = now;
  if (end == SETFSM_ANSWERED)
    pt->state = SETFSM_P_COMMITTED;
  else {
    pt->state = SETFSM_P_COMMIT_FAILED;
    mark_failed (m, i, error);
  }
  if (m->phase == SETFSM_ABORTING)
    cleanup_provider (m, i);
  else if (end != SETFSM_ANSWERED)
    abort_set (m, SETFSM_CAUSE_PROVIDER, "provider %s: %s", pt->name, error);
}

static void
hold_release_ended (struct setfsm *m, size_t i, enum setfsm_op op,
                    enum setfsm_end end, const char *error)
{
  struct fsm_part *pt = &m->parts.ptr[i];

  if (end == SETFSM_ANSWERED) {
    if (pt->state == SETFSM_P_RELEASING)
      pt->state = SETFSM_P_RELEASED;
    return;
  }
  if (op == SETFSM_HOLD_RELEASE)
    note_error (m, i, error);
  /* Unanswered, it may still hold: released when it comes back. */
  if (end == SETFSM_NO_ANSWER || end == SETFSM_BAD_ANSWER)
    push_action (m, SETFSM_ACT_OWE_RELEASE)->part = i;
}

static void
delete_ended (struct setfsm *m, size_t i, enum setfsm_end end,
              const char *error)
{
  if (end == SETFSM_ANSWERED || end == SETFSM_NOT_FOUND) {
    m->parts.ptr[i].state = SETFSM_P_DELETED;
    return;
  }
  note_error (m, i, error);
  push_action (m, SETFSM_ACT_QUEUE_DELETION)->part = i;
  m->await = AWAIT_DELETION;
  m->await_part = i;
}

/* Events. */

void
setfsm_call_ended (struct setfsm *m, size_t part, enum setfsm_op op,
                   enum setfsm_end end, const char *error, int64_t now_ms)
{
  if (error == NULL)
    error = "failed";
  m->outstanding--;
  switch (op) {
  case SETFSM_PREPARE:
  case SETFSM_FREEZE:
    writer_prepare_ended (m, part, op, end, error);
    break;
  case SETFSM_THAW:
    writer_thaw_ended (m, part, end, error, now_ms);
    break;
  case SETFSM_POSTSNAP:
  case SETFSM_ABORT:
    writer_finish_ended (m, part, op, end, error);
    break;
  case SETFSM_HOLD_BEGIN:
    hold_begin_ended (m, part, end, error);
    break;
  case SETFSM_HOLD_COMMIT:
    hold_commit_ended (m, part, end, error, now_ms);
    break;
  case SETFSM_HOLD_RELEASE:
  case SETFSM_HOLD_RELEASE_SET:
    hold_release_ended (m, part, op, end, error);
    break;
  case SETFSM_DELETE:
    if (m->revert)
      undo_delete_ended (m, part, end, error);
    else
      delete_ended (m, part, end, error);
    break;
  case SETFSM_PRE_RESTORE_OP:
    writer_pre_restore_ended (m, part, end, error);
    break;
  case SETFSM_POST_RESTORE_OP:
    writer_post_restore_ended (m, part, end, error);
    break;
  case SETFSM_HOLD_REVERT:
    hold_revert_ended (m, part, end, error, now_ms);
    break;
  case SETFSM_REVERT_UNDO:
    revert_undo_ended (m, part, end, error);
    break;
  }
  advance_if_idle (m, now_ms);
}

static void
deletion_recorded (struct setfsm *m, bool ok)
{
  if (ok && !m->revert)
    m->parts.ptr[m->await_part].state = SETFSM_P_DELETE_QUEUED;
}

void
setfsm_recorded (struct setfsm *m, bool ok, const char *error,
                 int64_t now_ms)
{
  enum fsm_await await = m->await;

  m->await = AWAIT_NONE;
  switch (await) {
  case AWAIT_ENTER:
    if (ok)
      send_phase_calls (m, now_ms);
    else if (m->entering == SETFSM_PREPARING) {
      m->phase = SETFSM_REJECTED;
      push_action (m, SETFSM_ACT_REJECT);
    }
    else
      abort_set (m, SETFSM_CAUSE_CATALOG, "cannot record the set in the catalog: %s",
                 error ? error : "failed");
    return;
  case AWAIT_ABORTING:
    send_abort_calls (m);
    break;
  case AWAIT_COMMITTED:
    if (ok) {
      m->phase = SETFSM_COMMITTED;
      push_action (m, SETFSM_ACT_REPLY_COMMITTED);
      return;
    }
    /* The requester may rely on "committed" only once it is durable:
     * the set is aborted instead, its snapshots deleted. */
    abort_set (m, SETFSM_CAUSE_CATALOG, "cannot record the set as committed: %s",
               error ? error : "failed");
    return;
  case AWAIT_FAILED:
    m->phase = SETFSM_FAILED;
    push_action (m, SETFSM_ACT_REPLY_FAILED);
    return;
  case AWAIT_DELETION:
    deletion_recorded (m, ok);
    break;
  case AWAIT_NONE:
    return;
  }
  advance_if_idle (m, now_ms);
}

void
setfsm_start (struct setfsm *m, int64_t now_ms)
{
  m->t.start = now_ms;
  if (m->revert) {
    m->entering = SETFSM_PRE_RESTORE;
    send_phase_calls (m, now_ms);
    return;
  }
  enter_phase (m, SETFSM_PREPARING);
}

void
setfsm_window_ended (struct setfsm *m, int64_t now_ms)
{
  if (m->revert) {
    if (m->phase == SETFSM_PRE_RESTORE || m->phase == SETFSM_HOLDING ||
        m->phase == SETFSM_REVERTING)
      abort_set (m, SETFSM_CAUSE_WINDOW, "the window of %u ms ran out before every volume was "
                 "reverted", m->window_ms);
    return;
  }
  if (m->phase != SETFSM_FREEZING && m->phase != SETFSM_HOLDING &&
      m->phase != SETFSM_COMMITTING)
    return;
  abort_set (m, SETFSM_CAUSE_WINDOW, "the freeze window of %u ms ran out before the snapshots "
             "were taken", m->window_ms);
}

/* A revert's participant PT gone: a pre-restored writer restarts its
 * application on its own, a provider ends its holds. */
static void
revert_peer_gone (struct setfsm *m, size_t part)
{
  struct fsm_part *pt = &m->parts.ptr[part];

  if (m->phase != SETFSM_PRE_RESTORE && m->phase != SETFSM_HOLDING &&
      m->phase != SETFSM_REVERTING)
    return;
  if (pt->writer && pt->state == SETFSM_W_PRE_RESTORED) {
    pt->state = SETFSM_W_RESTORED;    /* it restarted on its own */
    mark_failed (m, part, "disconnected before post_restore");
    abort_set (m, SETFSM_CAUSE_DISCONNECTED, "writer %s: disconnected before post_restore", pt->name);
  }
  else if (!pt->writer && pt->state == SETFSM_P_HELD) {
    mark_failed (m, part, "disconnected while holding");
    abort_set (m, SETFSM_CAUSE_DISCONNECTED, "provider %s: disconnected while holding", pt->name);
  }
}

void
setfsm_peer_gone (struct setfsm *m, size_t part, int64_t now_ms)
{
  struct fsm_part *pt = &m->parts.ptr[part];

  if (m->revert) {
    revert_peer_gone (m, part);
    return;
  }
  if (m->phase != SETFSM_FREEZING && m->phase != SETFSM_HOLDING)
    return;
  if (pt->writer && pt->state == SETFSM_W_FROZEN) {
    pt->state = SETFSM_W_THAWED;      /* it thawed on its own */
    mark_failed (m, part, "disconnected while frozen");
    abort_set (m, SETFSM_CAUSE_DISCONNECTED, "writer %s: disconnected while frozen", pt->name);
  }
  else if (!pt->writer && pt->state == SETFSM_P_HELD) {
    mark_failed (m, part, "disconnected while holding");
    abort_set (m, SETFSM_CAUSE_DISCONNECTED, "provider %s: disconnected while holding", pt->name);
  }
}

const struct setfsm_action *
setfsm_next_action (struct setfsm *m)
{
  if (m->next_act == m->acts.len) {
    m->next_act = m->acts.len = 0;
    return NULL;
  }
  return &m->acts.ptr[m->next_act++];
}

/* Life and queries. */

struct setfsm *
setfsm_new (unsigned window_ms, setfsm_oom_fn *oom)
{
  struct setfsm *m = calloc (1, sizeof *m);

  if (m == NULL) {
    oom ();
    return NULL;
  }
  m->oom = oom;
  m->window_ms = window_ms;
  m->phase = SETFSM_NEW;
  return m;
}

struct setfsm *
setfsm_new_revert (unsigned window_ms, setfsm_oom_fn *oom)
{
  struct setfsm *m = setfsm_new (window_ms, oom);

  m->revert = true;
  return m;
}

void
setfsm_set_term (struct setfsm *m, uint64_t term)
{
  m->term = term;
}

uint64_t
setfsm_term (const struct setfsm *m)
{
  return m->term;
}

bool
setfsm_is_revert (const struct setfsm *m)
{
  return m->revert;
}

void
setfsm_free (struct setfsm *m)
{
  size_t i;

  if (m == NULL)
    return;
  for (i = 0; i < m->parts.len; i++) {
    free (m->parts.ptr[i].name);
    free (m->parts.ptr[i].error);
  }
  fsm_part_vector_reset (&m->parts);
  free (m->reason);
  action_vector_reset (&m->acts);
  free (m);
}

size_t
setfsm_add_writer (struct setfsm *m, const char *name,
                   unsigned freeze_timeout_ms)
{
  size_t i = add_part (m, name, true);

  m->parts.ptr[i].freeze_timeout_ms = freeze_timeout_ms;
  return i;
}

size_t
setfsm_add_provider (struct setfsm *m, const char *name)
{
  return add_part (m, name, false);
}

enum setfsm_phase
setfsm_phase (const struct setfsm *m)
{
  return m->phase;
}

size_t
setfsm_nparts (const struct setfsm *m)
{
  return m->parts.len;
}

size_t
setfsm_nwriters (const struct setfsm *m)
{
  return m->nwriters;
}

bool
setfsm_is_writer (const struct setfsm *m, size_t part)
{
  return m->parts.ptr[part].writer;
}

const char *
setfsm_part_name (const struct setfsm *m, size_t part)
{
  return m->parts.ptr[part].name;
}

enum setfsm_part_state
setfsm_part_state (const struct setfsm *m, size_t part)
{
  return m->parts.ptr[part].state;
}

const char *
setfsm_part_state_name (const struct setfsm *m, size_t part)
{
  return m->parts.ptr[part].failed ? "failed"
    : part_state_names[m->parts.ptr[part].state];
}

const char *
setfsm_part_error (const struct setfsm *m, size_t part)
{
  return m->parts.ptr[part].error;
}

enum setfsm_cause
setfsm_cause (const struct setfsm *m)
{
  return m->cause;
}

const char *
setfsm_cause_name (enum setfsm_cause cause)
{
  static const char *const names[] = {
    [SETFSM_CAUSE_WRITER] = "writer",
    [SETFSM_CAUSE_PROVIDER] = "provider",
    [SETFSM_CAUSE_WINDOW] = "freeze_window",
    [SETFSM_CAUSE_DISCONNECTED] = "disconnected",
    [SETFSM_CAUSE_CATALOG] = "catalog",
  };

  return (size_t) cause < sizeof names / sizeof names[0] && names[cause]
    ? names[cause] : "unknown";
}

const char *
setfsm_reason (const struct setfsm *m)
{
  return m->reason;
}

const char *
setfsm_record_name (enum setfsm_record r)
{
  return record_names[r];
}

const char *
setfsm_op_method (enum setfsm_op op)
{
  return op_methods[op];
}

const struct setfsm_timings *
setfsm_timings (const struct setfsm *m)
{
  return &m->t;
}
