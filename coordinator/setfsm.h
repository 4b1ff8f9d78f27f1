/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * setfsm.h: the snapshot-set protocol as a pure state machine: events
 * in, actions out, no I/O and no clock (docs/coordinator.md, "The set
 * protocol").
 *
 * The caller (set.c, or the simulator of test-setfsm-sim.c) owns the
 * machine and feeds it events: the start, the end of each call it was
 * asked to make, the answer of each record it was asked to write, the
 * end of the freeze window, a peer gone.  Each event appends actions
 * to the machine's list; the caller takes them in order with
 * setfsm_next_action and executes them.  A SETFSM_ACT_RECORD or
 * SETFSM_ACT_QUEUE_DELETION action is always the last of its event and
 * must be answered, before any other event, with setfsm_recorded.
 * Every SETFSM_ACT_CALL must end exactly once with setfsm_call_ended.
 * Times are milliseconds on any monotonic clock, passed in with the
 * events.
 *
 * Nothing here fails but for memory: a function that cannot allocate
 * calls the OOM callback given to setfsm_new, which must not return
 * (the coordinator's calls fatalx).
 */

#ifndef SNAPVOL_SETFSM_H
#define SNAPVOL_SETFSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deadlines of the calls a set makes (docs/protocol.md, Part 2). */
#define SET_CALL_TIMEOUT_MS 30000       /* volume.list, commit, thaw, ... */
#define SET_HOLD_WAIT_MS 5000           /* hold.begin's default wait_ms */

enum setfsm_phase {
  SETFSM_NEW,                   /* before setfsm_start */
  SETFSM_PREPARING,
  SETFSM_FREEZING,
  SETFSM_HOLDING,
  SETFSM_COMMITTING,
  SETFSM_THAWING,
  SETFSM_POST_SNAPSHOT,
  SETFSM_ABORTING,
  SETFSM_PRE_RESTORE,           /* revert: writer.pre_restore */
  SETFSM_REVERTING,             /* revert: hold.revert */
  SETFSM_POST_RESTORE,          /* revert: writer.post_restore, the undo
                                 * set's deletion */
  SETFSM_COMMITTED,             /* final: answered committed (reverted) */
  SETFSM_FAILED,                /* final: answered failed */
  SETFSM_REJECTED,              /* final: the first record failed */
};

/* A participant's state: what it has done in the protocol.  The name
 * shown in the set object comes from setfsm_part_state_name. */
enum setfsm_part_state {
  /* Writers. */
  SETFSM_W_PENDING,
  SETFSM_W_PREPARED,
  SETFSM_W_FROZEN,              /* to thaw */
  SETFSM_W_THAWED,
  SETFSM_W_DONE,
  SETFSM_W_ABORTED,
  SETFSM_W_PRE_RESTORED,        /* revert: to post-restore */
  SETFSM_W_RESTORED,
  /* Providers. */
  SETFSM_P_PENDING,
  SETFSM_P_BEGIN_SENT,          /* hold.begin outstanding */
  SETFSM_P_HELD,                /* a hold to commit or release */
  SETFSM_P_HOLD_UNKNOWN,        /* hold.begin ended unanswered: may hold */
  SETFSM_P_NOT_HELD,            /* hold.begin refused */
  SETFSM_P_COMMIT_SENT,         /* hold.commit outstanding */
  SETFSM_P_COMMITTED,           /* pinned; the hold ended */
  SETFSM_P_COMMIT_FAILED,       /* the hold ended, nothing pinned known */
  SETFSM_P_RELEASING,           /* cleanup: hold.release + delete sent */
  SETFSM_P_RELEASED,            /* cleanup: released, delete outstanding */
  SETFSM_P_UNDOING,             /* cleanup of a pending or failed one */
  SETFSM_P_UNDOING_COMMITTED,   /* cleanup of a committed one */
  SETFSM_P_DELETED,
  SETFSM_P_DELETE_QUEUED,       /* left to the deleter */
  /* Providers in a revert. */
  SETFSM_P_REVERT_SENT,         /* hold.revert outstanding */
  SETFSM_P_REVERTED,            /* reverted, its undo set pinned */
  SETFSM_P_REVERT_FAILED,       /* hold.revert refused */
  SETFSM_P_REVERT_UNKNOWN,      /* hold.revert ended unanswered */
  SETFSM_P_UNDOING_REVERT,      /* revert.undo outstanding */
  SETFSM_P_UNDONE,              /* back as it was (or never reverted) */
  SETFSM_P_UNDO_QUEUED,         /* left to the deleter */
};

enum setfsm_op {
  SETFSM_PREPARE,               /* writer.prepare */
  SETFSM_FREEZE,                /* writer.freeze */
  SETFSM_THAW,                  /* writer.thaw */
  SETFSM_POSTSNAP,              /* writer.post_snapshot */
  SETFSM_ABORT,                 /* writer.abort */
  SETFSM_HOLD_BEGIN,
  SETFSM_HOLD_COMMIT,
  SETFSM_HOLD_RELEASE,          /* by the hold id hold.begin gave */
  SETFSM_HOLD_RELEASE_SET,      /* by set id */
  SETFSM_DELETE,                /* snapshot.delete of the set id (of
                                 * a revert: of the undo set id) */
  SETFSM_PRE_RESTORE_OP,        /* writer.pre_restore */
  SETFSM_POST_RESTORE_OP,       /* writer.post_restore */
  SETFSM_HOLD_REVERT,           /* hold.revert with the undo set id */
  SETFSM_REVERT_UNDO,           /* revert.undo of the undo set id */
};

/* How a call ended, as the caller classified it. */
enum setfsm_end {
  SETFSM_ANSWERED,              /* a result as the protocol says (for
                                 * hold.begin: with a hold id, for
                                 * hold.commit: every volume's snapshot) */
  SETFSM_BAD_ANSWER,            /* a result, not as the protocol says */
  SETFSM_REFUSED,               /* an error answer */
  SETFSM_NOT_FOUND,             /* an error answer: no such object */
  SETFSM_NO_ANSWER,             /* deadline passed or connection lost */
};

enum setfsm_act_kind {
  SETFSM_ACT_RECORD,            /* save the set as RECORD_STATE; answer */
  SETFSM_ACT_CALL,              /* call OP on participant PART */
  SETFSM_ACT_ARM_WINDOW,        /* the freeze window ends at DEADLINE_MS */
  SETFSM_ACT_DISARM_WINDOW,
  SETFSM_ACT_QUEUE_DELETION,    /* record PART's deletion; answer */
  SETFSM_ACT_OWE_RELEASE,       /* PART may hold: release by set id when
                                 * it registers again */
  SETFSM_ACT_REPLY_COMMITTED,   /* final */
  SETFSM_ACT_REPLY_FAILED,      /* final: the reason is setfsm_reason */
  SETFSM_ACT_REJECT,            /* final: nothing recorded, nothing sent */
  /* Revert only. */
  SETFSM_ACT_UNDO_DONE,         /* PART's undo is done (or not needed):
                                 * drop its queued undo */
  SETFSM_ACT_OWE_UNDO,          /* PART's undo failed: the deleter runs
                                 * its queued undo */
  SETFSM_ACT_DELETION_DONE,     /* PART deleted the undo set: drop its
                                 * queued deletion */
};

/* Set states as recorded in the catalog. */
enum setfsm_record {
  SETFSM_REC_PREPARING,
  SETFSM_REC_FREEZING,
  SETFSM_REC_HOLDING,
  SETFSM_REC_COMMITTING,
  SETFSM_REC_THAWING,           /* with the snapshots */
  SETFSM_REC_ABORTING,
  SETFSM_REC_COMMITTED,         /* final, with the snapshots */
  SETFSM_REC_FAILED,            /* final */
  /* Revert: what the catalog keeps of it, both durable. */
  SETFSM_REC_UNDO_ARMED,        /* queue revert.undo on every provider */
  SETFSM_REC_REVERTED,          /* turn them into deletions of the undo
                                 * set: the revert's point of no return */
};

struct setfsm_action {
  enum setfsm_act_kind kind;
  size_t part;                  /* CALL, QUEUE_DELETION, OWE_RELEASE */
  enum setfsm_op op;            /* CALL */
  unsigned timeout_ms;          /* CALL */
  uint64_t term;                /* CALL: the coordinator's term, sent as
                                 * the call's "term" (0: not sent); a
                                 * peer that has seen a higher one
                                 * refuses the call (SV_RPC_STALE_TERM)
                                 * and does nothing */
  enum setfsm_record record;    /* RECORD */
  bool durable;                 /* RECORD: fsync before answering */
  bool finished;                /* RECORD: the last one */
  int64_t deadline_ms;          /* ARM_WINDOW */
};

struct setfsm;

typedef void setfsm_oom_fn (void);

/* A set of WINDOW_MS of freeze window, in SETFSM_NEW.  OOM must not
 * return. */
extern struct setfsm *setfsm_new (unsigned window_ms, setfsm_oom_fn *oom)
  __attribute__((nonnull));
/* A set revert (docs/coordinator.md, "Reverting a set"): the writers
 * get writer.pre_restore and writer.post_restore instead of the freeze
 * calls, and the providers hold.revert instead of hold.commit, all or
 * none: a failure undoes every provider (revert.undo).  WINDOW_MS
 * bounds pre_restore to the last hold.revert. */
extern struct setfsm *setfsm_new_revert (unsigned window_ms,
                                         setfsm_oom_fn *oom)
  __attribute__((nonnull));
/* The term of the coordinator running the machine (coordinators
 * sharing an etcd catalog, docs/coordinator.md): every SETFSM_ACT_CALL
 * carries it.  Set
 * before setfsm_start; 0 (the default, a coordinator with the SQLite
 * catalog) sends none.  A machine keeps its term to the end: a
 * coordinator deposed during a set goes on sending the term it had,
 * which peers that saw its successor's refuse. */
extern void setfsm_set_term (struct setfsm *m, uint64_t term)
  __attribute__((nonnull));
extern uint64_t setfsm_term (const struct setfsm *m)
  __attribute__((nonnull));
extern bool setfsm_is_revert (const struct setfsm *m)
  __attribute__((nonnull));
extern void setfsm_free (struct setfsm *m);

/* Add the participants before setfsm_start: every writer first, then
 * the providers.  Returns the participant's index. */
extern size_t setfsm_add_writer (struct setfsm *m, const char *name,
                                 unsigned freeze_timeout_ms)
  __attribute__((nonnull));
extern size_t setfsm_add_provider (struct setfsm *m, const char *name)
  __attribute__((nonnull));

/* Events. */
extern void setfsm_start (struct setfsm *m, int64_t now_ms)
  __attribute__((nonnull));
/* Call OP to PART ended with END; ERROR says why for every END but
 * SETFSM_ANSWERED. */
extern void setfsm_call_ended (struct setfsm *m, size_t part,
                               enum setfsm_op op, enum setfsm_end end,
                               const char *error, int64_t now_ms)
  __attribute__((nonnull (1)));
/* The last RECORD or QUEUE_DELETION action succeeded (OK) or failed
 * with ERROR. */
extern void setfsm_recorded (struct setfsm *m, bool ok, const char *error,
                             int64_t now_ms)
  __attribute__((nonnull (1)));
extern void setfsm_window_ended (struct setfsm *m, int64_t now_ms)
  __attribute__((nonnull));
/* PART's connection closed (it is no longer frozen, or holding). */
extern void setfsm_peer_gone (struct setfsm *m, size_t part, int64_t now_ms)
  __attribute__((nonnull));

/* The next action to execute, or NULL.  Valid until the next event. */
extern const struct setfsm_action *setfsm_next_action (struct setfsm *m)
  __attribute__((nonnull));

/* Queries. */
extern enum setfsm_phase setfsm_phase (const struct setfsm *m)
  __attribute__((nonnull));
extern size_t setfsm_nparts (const struct setfsm *m) __attribute__((nonnull));
extern size_t setfsm_nwriters (const struct setfsm *m)
  __attribute__((nonnull));
extern bool setfsm_is_writer (const struct setfsm *m, size_t part)
  __attribute__((nonnull));
extern const char *setfsm_part_name (const struct setfsm *m, size_t part)
  __attribute__((nonnull));
extern enum setfsm_part_state setfsm_part_state (const struct setfsm *m,
                                                 size_t part)
  __attribute__((nonnull));
/* "pending", "frozen", ... or "failed": the name the set object shows. */
extern const char *setfsm_part_state_name (const struct setfsm *m,
                                           size_t part)
  __attribute__((nonnull));
/* The participant's first error, or NULL. */
extern const char *setfsm_part_error (const struct setfsm *m, size_t part)
  __attribute__((nonnull));
/* What made a set fail, for counting (the metrics): a writer refused
 * or did not answer, a provider did, the freeze window ran out, a
 * participant's connection closed while it mattered, the catalog
 * could not record the set. */
enum setfsm_cause {
  SETFSM_CAUSE_WRITER,
  SETFSM_CAUSE_PROVIDER,
  SETFSM_CAUSE_WINDOW,
  SETFSM_CAUSE_DISCONNECTED,
  SETFSM_CAUSE_CATALOG,
};
#define SETFSM_NCAUSES 5

/* The cause of a failed set (with setfsm_reason); undefined before it
 * failed. */
extern enum setfsm_cause setfsm_cause (const struct setfsm *m)
  __attribute__((nonnull));
/* "writer", "provider", "freeze_window", "disconnected", "catalog". */
extern const char *setfsm_cause_name (enum setfsm_cause cause);

/* Why the set failed, or NULL. */
extern const char *setfsm_reason (const struct setfsm *m)
  __attribute__((nonnull));
/* "preparing", ...: the state a record action names. */
extern const char *setfsm_record_name (enum setfsm_record r);
extern const char *setfsm_op_method (enum setfsm_op op);

struct setfsm_timings {
  int64_t start, first_freeze, last_thaw, first_hold, last_commit; /* 0: not */
};
extern const struct setfsm_timings *setfsm_timings (const struct setfsm *m)
  __attribute__((nonnull));

#endif /* SNAPVOL_SETFSM_H */
