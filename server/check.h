/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * check.h: the offline pool checker behind `snapvolctl check`: verifies
 * every checksum and invariant of a pool that is not being served and
 * repairs what can be repaired without losing data.
 */

#ifndef SNAPVOL_CHECK_H
#define SNAPVOL_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* One finding, or one change made by a repair.  KIND is a short stable
 * identifier ("torn-journal-tail", "cluster-shared", ...); MESSAGE is
 * one line in plain words naming the volume, the file and the object,
 * and for a problem that cannot be repaired, what the user can do. */
struct check_item {
  char *kind;
  char *message;
  int repairable;               /* problems only: --repair can fix it */
  char *fix;                    /* problems only: what the repair does
                                 * (past tense), NULL if not repairable */
};

struct check_list {
  struct check_item *v;
  size_t n, cap;
};

struct check_volume {
  char *name;
  struct check_list problems;   /* what is wrong (after a repair: still) */
  struct check_list repaired;   /* what a repair changed */
};

struct check_report {
  char *pool;                   /* the directory, as given */
  struct check_list problems;   /* the pool itself: header, directories */
  struct check_list repaired;
  struct check_volume *volumes; /* sorted by name */
  size_t nvolumes;
  int clean;                    /* no problem (left) anywhere */
};

#define CHECK_REPAIR 1u         /* repair what is safe, then check again */
#define CHECK_DISCARD_AFTER_CORRUPTION 2u /* with CHECK_REPAIR: also cut a
                                 * corrupt journal at its first bad record,
                                 * discarding the acknowledged records from
                                 * there (each cut is reported, with what
                                 * it lost) */

/* Check the pool in DIR, which must not be open anywhere: the pool's
 * lock is taken for the whole check (EBUSY if a server holds it).
 * Reads every metadata file and the allocation of every data file;
 * with CHECK_REPAIR, also fixes what is safe (cuts torn journal tails,
 * punches leaked space, reclaims what no view reads through the
 * engine's recovery, removes leftovers), never anything else, and
 * reports the pool as a second check finds it.  Returns a report
 * (free it with check_report_free), or NULL with errno and sv_errmsg()
 * when DIR cannot be checked at all (not a pool, locked, out of
 * memory).  Problems found are in the report, not errors.  May block. */
extern struct check_report *check_pool (const char *dir, unsigned flags)
  __attribute__((nonnull));
extern void check_report_free (struct check_report *r);

/* Engine internals the checker uses, defined at the end of journal.c
 * and volopen.c so that the checker reads files with the same code as
 * recovery.  Not for other callers. */

struct sv_pool;
struct sv_io;
struct uuid;
struct volume;

/* Receives one finding of journal_check: KIND and MESSAGE as in struct
 * check_item; FIX says what recovery does about it (past tense), NULL
 * when it must not be left to recovery. */
typedef void (*journal_report_fn) (void *opaque, const char *kind,
                                   int repairable, const char *message,
                                   const char *fix);

/* Read the journal files of the volume in DIR as journal_open does
 * (same header, record, checksum, sequence and mark checks, records
 * after AFTER_SEQ passed to APPLY) without changing any file: what
 * recovery would do to a file (remove it, cut its tail) goes to REPORT
 * instead.  APPLY NULL: the checkpoint is unknown; every file is read
 * for its checksums and sequence only.  A corrupt journal (a bad
 * record before what was acknowledged) is reported as "journal-corrupt":
 * not repairable, or with DISCARDABLE, repairable by cutting it there
 * (journal_discard_corrupt), APPLY then having seen what would be
 * left.  Returns 0 if the journal was read to the point where recovery
 * (or that cut) would stop, -1 if it could not be (an unrepairable
 * finding was reported; what APPLY saw is incomplete). */
extern int journal_check (const struct sv_io *io, const char *dir,
                          const struct uuid *uuid, uint64_t first,
                          uint64_t after_seq,
                          int (*apply) (void *opaque, unsigned type,
                                        const uint8_t *payload, size_t len,
                                        uint64_t seq),
                          void *opaque, journal_report_fn report,
                          void *ropaque, int discardable)
  __attribute__((nonnull (1, 2, 3, 8)));

/* Scan as journal_check does (reporting the same findings) and cut a
 * corrupt journal ("journal-corrupt") at its first bad record: the
 * file is truncated there, its marks set there and synced, and every
 * later journal file removed.  The finding is reported as repairable,
 * its FIX saying what was discarded.  0, or -1 if the scan stopped on
 * something else (reported). */
extern int journal_discard_corrupt (const struct sv_io *io, const char *dir,
                                    const struct uuid *uuid, uint64_t first,
                                    uint64_t after_seq,
                                    journal_report_fn report, void *ropaque)
  __attribute__((nonnull (1, 2, 3, 6)));

/* Allocate the volume NAME in DIR and read its superblock (recovery
 * step 1), opening nothing for writing.  NULL with sv_errmsg() if the
 * superblock cannot be used.  Free with volume_free_unopened. */
extern struct volume *volume_prepare (struct sv_pool *pool, const char *dir,
                                      const char *name)
  __attribute__((nonnull));
extern void volume_free_unopened (struct volume *v);

#endif /* SNAPVOL_CHECK_H */
