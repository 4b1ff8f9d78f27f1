/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * backup.h: what snapvolctl set backup (ctl-setbackup.c) shares with
 * snapvolctl backup (ctl-backup.c): one volume's copy into a file with
 * its manifest, the coordinator's holds of a set, the signals that
 * stop a backup, and the options both parse.
 */

#ifndef SNAPVOL_BACKUP_H
#define SNAPVOL_BACKUP_H

#include <signal.h>
#include <stdint.h>

#include "copy.h"
#include "ctl.h"
#include "uuid.h"

/* A hold outlives a crashed backup by this much at most. */
#define BACKUP_HOLD_EXPIRES_DEFAULT_S 86400
#define BACKUP_CONNECTIONS_DEFAULT 4

/* One snapshot, known through the coordinator, to copy into a file. */
struct backup_job {
  const char *volume;           /* "PROVIDER/VOLUME" */
  const char *volume_uuid;
  const char *snapshot;         /* the snapshot id, */
  const char *set_id;           /* its set, */
  uint64_t size, generation;
  const char *uri;              /* and its export */
  const char *since;            /* the snapshot IMAGE holds (an
                                 * incremental), or NULL: a full copy */
  const char *image;            /* the file; its manifest beside it */
  unsigned connections;
  const char *tls_certificates; /* for nbds:// URIs, or NULL */
};

struct backup_result {
  struct copy_stats st;
  double seconds;
  char sha256[65];
};

/* Copy JOB into its image as snapvolctl backup does for a file (the
 * manifest in progress, then complete; --since's checks against the
 * image's manifest; the diff from the coordinator of CTL), without
 * holds (the caller holds the set), progress bar or summary.  Stopped
 * by a signal caught with backup_catch_signals.  0, or -1 after
 * reporting the failure once through CTL.  One job per thread may run
 * at a time: nothing is shared but the signal flag. */
extern int backup_volume (struct ctl *ctl, const struct backup_job *job,
                          struct backup_result *res)
  __attribute__((nonnull));

struct backup_signals {
  struct sigaction sigint, sigterm;
};

/* Catch SIGINT and SIGTERM until backup_restore_signals: a copy then
 * stops at its next request and fails "interrupted", and
 * backup_stopped returns the signal (0 until one arrives). */
extern void backup_catch_signals (struct backup_signals *old)
  __attribute__((nonnull));
extern void backup_restore_signals (const struct backup_signals *old)
  __attribute__((nonnull));
extern int backup_stopped (void);

/* A fresh hold tag, "backup-" and 12 random hex digits.  0, or -1 with
 * errno (getrandom). */
extern int backup_make_tag (char tag[32]) __attribute__((nonnull));

/* set.hold / set.release of SET_ID with TAG on the coordinator of CTL
 * (EXPIRES seconds).  0, or -1 after reporting the error. */
extern int backup_set_hold (struct ctl *ctl, const char *set_id,
                            const char *tag, int64_t expires)
  __attribute__((nonnull));
extern int backup_set_release (struct ctl *ctl, const char *set_id,
                               const char *tag)
  __attribute__((nonnull));

/* The uuid and size of PROVIDER/VOLUME PV from the coordinator's
 * volume.list; when it is not there, the error says whether the
 * provider is unknown, not connected, or lacks the volume.  0, or -1
 * after reporting the error. */
extern int backup_coord_volume (struct ctl *ctl, const char *pv,
                                char uuid[UUID_STRLEN + 1], uint64_t *size)
  __attribute__((nonnull));

/* --connections ARG (NULL: the default) and --hold-expires ARG.  0, or
 * -1 after ctl_usage_error. */
extern int backup_parse_connections (struct ctl *ctl, const char *arg,
                                     unsigned *out)
  __attribute__((nonnull (1, 3)));
extern int backup_parse_hold_expires (struct ctl *ctl, const char *arg,
                                      int64_t *out)
  __attribute__((nonnull (1, 3)));

#endif /* SNAPVOL_BACKUP_H */
