/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * catalog.h: the coordinator's SQLite catalog: providers, their
 * volumes, writers, snapshot sets with their snapshots and
 * participants, and deletions waiting for a provider to come back.
 * The schema is in docs/coordinator.md.
 *
 * Every function blocks for its disk writes: a write returns once the
 * change is durable (WAL, synchronous=FULL), so a state recorded before
 * the coordinator acts on it survives kill -9 and power loss.  A
 * failing function logs the SQLite error once (log_warnx), keeps it
 * for catalog_errmsg and returns -1 or NULL; callers do not log again.
 * Not thread-safe: the coordinator has one thread.
 *
 * A leaf: it owns the SQLite handle and the file's lock, and calls no
 * other coordinator module.  Callers own every JSON value they pass in
 * and every one they get back (new references), and may use any
 * function between catalog_open and catalog_close.
 */

#ifndef SNAPVOL_CATALOG_H
#define SNAPVOL_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct catalog;

#define CATALOG_SCHEMA_VERSION 1

/* Open (creating if needed) the catalog at PATH and lock it for this
 * process: a second coordinator on the same file is refused.  NULL
 * with a message naming the file in ERR on failure. */
extern struct catalog *catalog_open (const char *path, char *err,
                                     size_t errlen)
  __attribute__((nonnull));
extern void catalog_close (struct catalog *cat);

/* The last error, for messages to peers ("disk I/O error"). */
extern const char *catalog_errmsg (struct catalog *cat)
  __attribute__((nonnull));

/* Providers.  VOLUMES is an array of {"name", "uuid", "size"}; it
 * replaces what was recorded.  Times are Unix seconds. */
extern int catalog_provider_save (struct catalog *cat, const char *name,
                                  const char *subject, const char *nbd_uri,
                                  const char *version, int64_t registered,
                                  int64_t last_seen, json_t *volumes)
  __attribute__((nonnull (1, 2, 3, 4, 8)));
extern int catalog_provider_seen (struct catalog *cat, const char *name,
                                  int64_t last_seen)
  __attribute__((nonnull));
/* Remove the provider NAME with its volumes and its pending deletions,
 * in one transaction.  Returns the set ids of the deletions dropped
 * (an array, perhaps empty; new reference), or NULL on error. */
extern json_t *catalog_provider_forget (struct catalog *cat,
                                        const char *name)
  __attribute__((nonnull));
/* Every provider, as an array of {"name", "subject", "nbd_uri",
 * "version" (string or null), "registered", "last_seen", "volumes"}
 * sorted by name.  New reference, or NULL. */
extern json_t *catalog_providers (struct catalog *cat)
  __attribute__((nonnull));

/* Writers.  WRITERS is an array of {"name", "subject", "volumes":
 * [string], "freeze_timeout_ms", "state", "last_event" (string or
 * null), "last_event_time" (int or null), "last_error" (string or
 * null), "registered"}; each replaces its writer's row, all in one
 * lazy transaction (an empty array writes nothing). */
extern int catalog_writers_save (struct catalog *cat, json_t *writers)
  __attribute__((nonnull));
extern int catalog_writer_forget (struct catalog *cat, const char *name)
  __attribute__((nonnull));
/* Every writer, as objects of the form catalog_writer_save takes,
 * sorted by name.  New reference, or NULL. */
extern json_t *catalog_writers (struct catalog *cat)
  __attribute__((nonnull));

/* How a commit is made (catalog.c's design notes): DURABLE, fsync'd
 * before the call returns; LAZY, written but not fsync'd, so that a
 * power loss (not a crash of the coordinator) may lose it.  Writers'
 * records and providers' last_seen are always lazy; everything else
 * is durable unless the call takes a catalog_sync. */
enum catalog_sync { CATALOG_DURABLE, CATALOG_LAZY };

/* Snapshot sets.  SET is a set object as docs/protocol.md describes it
 * ("set_id", "label", "state", optional "reason", "created",
 * "finished" (int or null), "snapshots", "participants", "timings"
 * (object or null)); it is recorded whole, replacing what was recorded
 * for its set id, in one transaction. */
extern int catalog_set_save (struct catalog *cat, json_t *set,
                             enum catalog_sync sync)
  __attribute__((nonnull));
/* As catalog_set_save, for a set whose snapshots were recorded by an
 * earlier save and are the same in SET: they are left as recorded
 * (SET's "snapshots" is not read), which spares rewriting a row per
 * snapshot (1,024 in a set of 1,024 volumes). */
extern int catalog_set_save_state (struct catalog *cat, json_t *set,
                                   enum catalog_sync sync)
  __attribute__((nonnull));
/* The set object of SET_ID (lower case), rebuilt from the catalog;
 * FULL adds "participants" and "timings".  NULL with errno ENOENT if
 * there is no such set, EIO on a catalog error. */
extern json_t *catalog_set_get (struct catalog *cat, const char *set_id,
                                bool full)
  __attribute__((nonnull));
/* The order in which SET_ID was first recorded, in *SEQ: a set recorded
 * later has a larger one.  Sets run one at a time, so it is also the
 * order of their pins.  -1 with errno ENOENT if there is no such set,
 * EIO on a catalog error. */
extern int catalog_set_seq (struct catalog *cat, const char *set_id,
                            int64_t *seq)
  __attribute__((nonnull));
/* Every set (only those in STATE, if not NULL), newest first, without
 * participants and timings.  NULL on error. */
extern json_t *catalog_set_list (struct catalog *cat, const char *state)
  __attribute__((nonnull (1)));
/* How big the catalog is, for the metrics: sets by state (unfinished:
 * neither committed nor failed), their snapshots, deletions waiting
 * for a provider, and the database file's bytes (pages in use and
 * free).  0, or -1 (catalog_errmsg).  Reads only. */
struct catalog_stats {
  int64_t committed, failed, unfinished;
  int64_t snapshots, pending_deletions, bytes;
};
extern int catalog_stats (struct catalog *cat, struct catalog_stats *stats)
  __attribute__((nonnull));

/* For coordinator.status: the newest LIMIT sets, newest first, each
 * as {"set_id", "label", "state", "reason" (string or null),
 * "created", "finished" (int or null), "duration_ms" (the set's
 * total_ms, int or null), "snapshots" (how many)}.  New reference, or
 * NULL (catalog_errmsg).  Reads only. */
extern json_t *catalog_set_summaries (struct catalog *cat, int64_t limit)
  __attribute__((nonnull));
/* For coordinator.status: the oldest LIMIT calls waiting for a
 * provider, across pending_deletions, pending_releases and
 * pending_undos, oldest first, each as {"kind": "deletion" | "release"
 * | "undo", "provider", "set_id" (an undo's undo set id), "tag" (a
 * release's, else null), "queued" (Unix seconds)}.  New reference, or
 * NULL (catalog_errmsg).  Reads only. */
extern json_t *catalog_queued (struct catalog *cat, int64_t limit)
  __attribute__((nonnull));
/* How many write transactions CAT has committed since it was opened,
 * durable and lazy (catalog.c's design notes): what
 * snapvol_coordinator_catalog_commits_total shows. */
extern void catalog_commits (const struct catalog *cat, uint64_t *durable,
                             uint64_t *lazy)
  __attribute__((nonnull));

/* The names of the providers that took part in SET_ID, in order. */
extern json_t *catalog_set_providers (struct catalog *cat,
                                      const char *set_id)
  __attribute__((nonnull));
/* Remove SET_ID with its snapshots, participants and pending
 * deletions.  0 also if it did not exist. */
/* Record the hold TAG of SET_ID taken through the coordinator (until
 * EXPIRES, Unix seconds; 0: never), replacing one of the same tag; or
 * forget it (catalog_set_release; none recorded is not an error).  The
 * set objects list them as "holds".  Holds taken on a provider
 * directly are not known here.  0, or -1 (catalog_errmsg). */
extern int catalog_set_hold (struct catalog *cat, const char *set_id,
                             const char *tag, int64_t expires)
  __attribute__((nonnull));
extern int catalog_set_release (struct catalog *cat, const char *set_id,
                                const char *tag)
  __attribute__((nonnull));

extern int catalog_set_remove (struct catalog *cat, const char *set_id)
  __attribute__((nonnull));

/* Record every set not yet committed or failed as failed with REASON
 * at time NOW, without the snapshots it may have recorded (a failed
 * set has none: they are being deleted), and queue a deletion of it on
 * each of its providers, in one transaction.  Returns how many sets
 * were failed, or -1.  Used at startup (recovery) and when the
 * coordinator stops during a set. */
extern int catalog_fail_unfinished (struct catalog *cat, const char *reason,
                                    int64_t now)
  __attribute__((nonnull));

/* Deletions waiting for a provider: snapshot.delete of SET_ID on
 * PROVIDER.  Adding one that exists is not an error. */
extern int catalog_deletion_add (struct catalog *cat, const char *provider,
                                 const char *set_id)
  __attribute__((nonnull));
extern int catalog_deletion_remove (struct catalog *cat,
                                    const char *provider, const char *set_id)
  __attribute__((nonnull));
/* The set ids waiting on PROVIDER, oldest first.  NULL on error. */
extern json_t *catalog_deletions (struct catalog *cat, const char *provider)
  __attribute__((nonnull));

/* Undos waiting for a provider (docs/coordinator.md, "Reverting a
 * set"): revert.undo of UNDO_SET_ID on PROVIDER.  catalog_undo_arm
 * queues one on each of PROVIDERS (an array of names), durably, in one
 * transaction, before any hold.revert goes out; catalog_undo_settle,
 * once every provider reverted, turns every undo of UNDO_SET_ID into a
 * deletion of that set (pending_deletions), in one transaction.  0 or
 * -1 (logged). */
extern int catalog_undo_arm (struct catalog *cat, const char *undo_set_id,
                             json_t *providers)
  __attribute__((nonnull));
extern int catalog_undo_settle (struct catalog *cat, const char *undo_set_id)
  __attribute__((nonnull));
extern int catalog_undo_remove (struct catalog *cat, const char *provider,
                                const char *undo_set_id)
  __attribute__((nonnull));
/* The undo set ids waiting on PROVIDER, oldest first.  NULL on error. */
extern json_t *catalog_undos (struct catalog *cat, const char *provider)
  __attribute__((nonnull));

/* Releases waiting for a provider (set.release while it was away):
 * snapshot.release of SET_ID and TAG on PROVIDER.
 * catalog_release_queue queues one on each of PROVIDERS (an array of
 * names, possibly empty) and forgets the set's hold TAG (set_holds),
 * durably, in one transaction.  0 or -1 (catalog_errmsg). */
extern int catalog_release_queue (struct catalog *cat, const char *set_id,
                                  const char *tag, json_t *providers)
  __attribute__((nonnull));
extern int catalog_release_remove (struct catalog *cat, const char *provider,
                                   const char *set_id, const char *tag)
  __attribute__((nonnull));
/* The releases waiting on PROVIDER, oldest first: an array of
 * {"set_id", "tag"}.  NULL on error. */
extern json_t *catalog_releases (struct catalog *cat, const char *provider)
  __attribute__((nonnull));

/* Replication (catalog.c's design notes; the catalog on etcd,
 * catalog-etcd.h).
 *
 * A replica function is called inside each write transaction of CAT,
 * before its COMMIT, with the transaction's changes as an SQLite
 * changeset (LEN bytes, valid during the call only) and its
 * durability.  It returns 0 to let the transaction commit, or -1 with
 * errno set and a message in ERR to roll it back: the catalog call
 * then fails with -1 (or NULL), that errno, and ERR as catalog_errmsg.
 * A transaction that changes nothing does not call it. */
typedef int (*catalog_replicate_fn) (void *opaque, const void *changeset,
                                     size_t len, enum catalog_sync sync,
                                     char *err, size_t errlen);
/* An empty catalog in memory, with the schema a replicated catalog
 * has (docs/coordinator.md).  NULL with a message in ERR. */
extern struct catalog *catalog_open_memory (char *err, size_t errlen)
  __attribute__((nonnull));
/* From now on (FN NULL: no more) every write transaction of CAT, an
 * in-memory catalog, is handed to FN with OPAQUE. */
extern void catalog_set_replica (struct catalog *cat,
                                 catalog_replicate_fn fn, void *opaque)
  __attribute__((nonnull (1)));
/* Optional companions of the replica: COMMITTED (may be NULL) is
 * called after each replicated transaction has committed, outside any
 * transaction, so that the replica may read the whole catalog
 * (catalog_image); RELEASE (may be NULL) is called with the replica's
 * OPAQUE when the replica is replaced or CAT is closed. */
extern void catalog_set_replica_hooks (struct catalog *cat,
                                       void (*committed) (void *opaque),
                                       void (*release) (void *opaque))
  __attribute__((nonnull (1)));
/* Replay CHANGESET (LEN bytes), as a replica function got it, into CAT
 * (an in-memory catalog, normally without a replica: what it applies
 * is not handed on), in one transaction.  -1 with errno EILSEQ when it
 * does not apply exactly (a row missing, present or different: the
 * catalogs have diverged; nothing applied), EINVAL, EIO;
 * catalog_errmsg says which. */
extern int catalog_apply (struct catalog *cat, const void *changeset,
                          size_t len)
  __attribute__((nonnull));
/* The whole of CAT as bytes (sqlite3_serialize), in a new buffer for
 * free () in *IMAGE, *LEN bytes.  Not inside a write.  0, or -1 with
 * errno ENOMEM. */
extern int catalog_image (struct catalog *cat, void **image, size_t *len)
  __attribute__((nonnull));
/* An in-memory catalog holding a copy of IMAGE (catalog_image's bytes),
 * checked (a whole SQLite database, a replicated catalog's schema of
 * this version) before use.  NULL with a message in ERR. */
extern struct catalog *catalog_open_image (const void *image, size_t len,
                                           char *err, size_t errlen)
  __attribute__((nonnull));

#endif /* SNAPVOL_CATALOG_H */
