/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * snapvol-writer.h: libsnapvol-writer, the library of snapvol writers.
 *
 * A writer is the agent beside an application (a database, a
 * filesystem) whose data lives on snapvol volumes.  It registers with
 * snapvol-coordinator and, when a snapshot set of its volumes is taken,
 * is asked to prepare, then to freeze (make its data stable on the
 * volumes and stop writing), and after the pin to thaw; it then learns
 * the snapshots taken (post-snapshot), or is told the set was aborted.
 * docs/writers.md explains the protocol and this API with examples.
 *
 * The library does the protocol: TLS with client certificates,
 * registration, heartbeats, reconnection with backoff, and the freeze
 * lease.  The application gives callbacks.
 *
 * A set revert (VSS's restore) asks the writers of its volumes for
 * pre_restore (stop the application, close its files; a refusal vetoes
 * the revert) and, after the volumes were reverted or the revert was
 * given up, post_restore (reload, start again).  post_restore follows
 * a successful pre_restore exactly once, under the same lease as thaw
 * follows freeze.
 *
 * The freeze lease is enforced here, not left to the application: once
 * freeze has succeeded, thaw is called exactly once, by whichever comes
 * first of writer.thaw or writer.abort from the coordinator, the end of
 * the freeze window (window_ms after the freeze call arrived), the loss
 * of the connection, or snapvol_writer_stop.  So an application is
 * never left frozen by a coordinator that died.
 *
 * Threads: callbacks run one at a time, never concurrently, in a thread
 * of the library (not the one calling snapvol_writer_run); the library's
 * threads run with every signal blocked.  All functions are thread-safe
 * unless said otherwise.
 *
 * Errors: functions return 0 / -1 or NULL; snapvol_writer_error gives
 * the message of the calling thread's last failure.  Nothing is printed
 * on stdout; log messages go to the log callback (stderr by default).
 */

#ifndef SNAPVOL_WRITER_H
#define SNAPVOL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The message of the calling thread's last failed call, or NULL. */
extern const char *snapvol_writer_error (void);

struct snapvol_writer;

/* A new writer named NAME (1 to 64 bytes of A-Z a-z 0-9 . _ -, unique
 * among the coordinator's writers).  NULL on error. */
extern struct snapvol_writer *snapvol_writer_new (const char *name);

/* Free W.  It must not be running. */
extern void snapvol_writer_free (struct snapvol_writer *w);

/* The coordinator: "HOST:PORT", "[IPV6]:PORT", or HOST (port 10810).
 * The coordinator's certificate must be issued for HOST. */
extern int snapvol_writer_set_coordinator (struct snapvol_writer *w,
                                           const char *address);

/* Our certificate (PEM, chain allowed), its key, and the CA bundle the
 * coordinator's certificate must chain to.  The files are read by
 * snapvol_writer_run. */
extern int snapvol_writer_set_tls (struct snapvol_writer *w,
                                   const char *certificate, const char *key,
                                   const char *ca);

/* Add a volume the application uses, as "PROVIDER/VOLUME".  A writer
 * with no volume is involved only in sets that name it. */
extern int snapvol_writer_add_volume (struct snapvol_writer *w,
                                      const char *volume);

/* How long prepare and freeze may take, 100 to 600000 ms (default
 * 10000): the coordinator fails the set if either takes longer. */
extern int snapvol_writer_set_freeze_timeout (struct snapvol_writer *w,
                                              unsigned ms);

/* What the coordinator asks. */
enum snapvol_writer_event_kind {
  SNAPVOL_WRITER_PREPARE = 1,
  SNAPVOL_WRITER_FREEZE,
  SNAPVOL_WRITER_THAW,
  SNAPVOL_WRITER_POST_SNAPSHOT,
  SNAPVOL_WRITER_ABORT,
  SNAPVOL_WRITER_PRE_RESTORE,
  SNAPVOL_WRITER_POST_RESTORE,
};

/* One snapshot of a committed set. */
struct snapvol_writer_snapshot {
  const char *provider;
  const char *volume;
  const char *id;               /* the snapshot's UUID */
  const char *export_name;      /* "VOLUME@ID" */
  const char *uri;              /* NBD URI of the snapshot, or NULL */
  int64_t generation;
};

/* An event, valid during the callback only. */
struct snapvol_writer_event {
  enum snapvol_writer_event_kind kind;
  const char *name;             /* "prepare", "freeze", "thaw",
                                 * "post_snapshot", "abort",
                                 * "pre_restore", "post_restore" */
  const char *set_id;           /* the snapshot set's UUID */
  /* PREPARE: the set's label and this writer's volumes of the set
   * ("PROVIDER/VOLUME"), in the set's order. */
  const char *label;
  const char *const *volumes;
  size_t nvolumes;
  /* FREEZE, PRE_RESTORE: the coordinator thaws us (sends
   * post_restore) within this, else we do.  PRE_RESTORE: set_id is the
   * set the volumes are reverted to, volumes all those of the set. */
  unsigned window_ms;
  /* POST_SNAPSHOT: the snapshots of this writer's volumes, parsed and
   * as JSON text. */
  const struct snapvol_writer_snapshot *snapshots;
  size_t nsnapshots;
  const char *snapshots_json;
  /* THAW: NULL when the coordinator asked, else why the library thaws
   * on its own ("the freeze window of 60000 ms ran out", "the
   * connection to the coordinator was lost", "the writer is
   * stopping").  ABORT: the coordinator's reason.  POST_RESTORE: as
   * THAW's. */
  const char *reason;
  /* POST_RESTORE: 1 if the volumes were reverted, 0 if not (the revert
   * failed or was vetoed: they hold what they held before
   * pre_restore), -1 if unknown (the library ends the restore on its
   * own: REASON says why). */
  int reverted;
};

/* A callback returns 0 on success, or -1 to refuse the call, with a
 * one-line reason in MESSAGE (LEN bytes, NUL-terminated) that the
 * coordinator records.  A refused prepare or freeze fails the set.  A
 * freeze that fails must leave the application running: the library
 * calls thaw only after a successful freeze.  A missing callback
 * succeeds at once. */
typedef int snapvol_writer_callback (void *opaque,
                                     const struct snapvol_writer_event *ev,
                                     char *message, size_t len);

struct snapvol_writer_callbacks {
  snapvol_writer_callback *prepare;
  snapvol_writer_callback *freeze;
  snapvol_writer_callback *thaw;
  snapvol_writer_callback *post_snapshot;
  snapvol_writer_callback *abort;
  snapvol_writer_callback *pre_restore;
  snapvol_writer_callback *post_restore;
};

/* Set the callbacks (the structure is copied; pass sizeof *CBS as SIZE,
 * so that a program built against an older, shorter structure keeps
 * working) and the OPAQUE pointer they get. */
extern int snapvol_writer_set_callbacks (struct snapvol_writer *w,
                                         const struct snapvol_writer_callbacks
                                         *cbs, size_t size, void *opaque);

/* Log priorities, as syslog's. */
#define SNAPVOL_WRITER_LOG_ERR      3
#define SNAPVOL_WRITER_LOG_WARNING  4
#define SNAPVOL_WRITER_LOG_INFO     6
#define SNAPVOL_WRITER_LOG_DEBUG    7

/* Where log lines go: FN (any thread, possibly concurrently) gets a
 * priority and one line without newline.  By default lines of
 * priority INFO and above go to stderr, prefixed with the writer's
 * name; FN NULL restores that. */
typedef void snapvol_writer_log_fn (void *opaque, int priority,
                                    const char *message);
extern int snapvol_writer_set_log (struct snapvol_writer *w,
                                   snapvol_writer_log_fn *fn, void *opaque);

/* Run the writer until snapvol_writer_stop: connect, register, answer
 * the coordinator, reconnect after failures (0.5 s doubling to 30 s).
 * Blocks.  Returns 0 once stopped, after thawing if frozen; -1 at once
 * if the configuration is incomplete or wrong (no coordinator, TLS
 * files that cannot be read: snapvol_writer_error says which).  A
 * coordinator that cannot be reached is not an error: it is retried.
 * At most one run at a time per writer. */
extern int snapvol_writer_run (struct snapvol_writer *w);

/* Make snapvol_writer_run return (after the callback running now, and
 * a thaw if frozen).  Async-signal-safe: may be called from a signal
 * handler.  Before run, it makes run return at once. */
extern void snapvol_writer_stop (struct snapvol_writer *w);

#ifdef __cplusplus
}
#endif

#endif /* SNAPVOL_WRITER_H */
