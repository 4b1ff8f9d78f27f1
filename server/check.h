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

#endif /* SNAPVOL_CHECK_H */
