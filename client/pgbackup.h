/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * pgbackup.h: snapvol-writer's PostgreSQL integration (--postgres
 * CONNINFO): a backup of the cluster (pg_backup_start, non-exclusive)
 * around the pin of a snapshot set, through libpq.
 *
 * freeze opens a connection and runs pg_backup_start(label, true) on
 * it, with a fast checkpoint; the connection is kept until the thaw,
 * which runs pg_backup_stop(false) on it and keeps the backup label it
 * returns (a file per set in the label directory, or the writer's log).
 * Closing the connection of a backup in progress aborts it on the
 * server, so a writer that dies leaves nothing in backup mode.
 *
 * docs/writers.md ("PostgreSQL: --postgres") describes the behaviour
 * the user sees, and why the label must not go into a data directory
 * restored from the snapshot; the exact reasons are tested by
 * tests/e2e/test-e2e-writer-postgres-*.sh.
 */

#ifndef SNAPVOL_PGBACKUP_H
#define SNAPVOL_PGBACKUP_H

#include <stddef.h>

#include "snapvol-writer.h"

struct pgbackup;

/* Check the connection string CONNINFO (a libpq "key=value ..." string
 * or a postgresql:// URI) without connecting.  0, or -1 with libpq's
 * reason in MESSAGE (LEN bytes, one line). */
extern int pgbackup_check_conninfo (const char *conninfo, char *message,
                                    size_t len)
  __attribute__((nonnull));

/* The client of the server CONNINFO (copied), keeping the backup
 * labels in the directory LABEL_DIR (copied; NULL: in the log).  NULL
 * with errno ENOMEM.  Nothing is connected until the first event. */
extern struct pgbackup *pgbackup_new (const char *conninfo,
                                      const char *label_dir)
  __attribute__((nonnull (1)));

/* Free P (NULL is allowed), closing its connection: a backup still in
 * progress is aborted by the server when the connection closes. */
extern void pgbackup_free (struct pgbackup *p);

/* Handle event EV of the writer's set, within TIMEOUT_MS (connect
 * included):
 *
 *   prepare        connect, check that the server is PostgreSQL 15 or
 *                  later and that the user may run pg_backup_start,
 *                  and disconnect;
 *   freeze         connect and run pg_backup_start('snapvol set SET_ID',
 *                  true), keeping the connection;
 *   thaw           pg_backup_stop(false) on it, write the label to
 *                  LABEL_DIR/SET_ID.backup_label (and the tablespace
 *                  map, if any, to LABEL_DIR/SET_ID.tablespace_map) or
 *                  to the log, and disconnect;
 *   abort          pg_backup_stop(false) on it, the label dropped, and
 *                  disconnect;
 *   other events   nothing.
 *
 * Returns 0, or -1 with a one-line reason in MESSAGE (LEN bytes,
 * NUL-terminated) starting "postgres: " and naming the call: libpq's
 * or the server's message is quoted.
 *
 * A query that has not returned within TIMEOUT_MS is cancelled
 * (PQcancel) and the connection closed, so a pg_backup_start that
 * could not finish in time leaves no backup in progress.  A failed
 * thaw or abort closes the connection too.  Blocks; not thread-safe
 * (snapvol-writer runs one event at a time). */
extern int pgbackup_event (struct pgbackup *p,
                           const struct snapvol_writer_event *ev,
                           int timeout_ms, char *message, size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_PGBACKUP_H */
