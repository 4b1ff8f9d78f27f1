/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * inspect.h: the engine's read-only view of one volume's files, the
 * offline checker's (check.c) only window on the engine.
 *
 * Design notes
 * ------------
 * A volume is read as recovery reads it: the same superblock,
 * checkpoint, journal and record checks (volume_open's steps 1-3, the
 * same functions), so the checker and the engine cannot disagree on
 * what a volume holds.  Everything goes into memory only: nothing is
 * opened for writing, no file is cut, removed or synced.  The caller
 * then looks at the result (geometry, snapshots, versions) without
 * seeing struct volume.  Two calls at the end, inspect_discard_corrupt
 * and inspect_recover, are the checker's repairs and the only ones here
 * that write.
 *
 * Layer: above volopen.c (it calls recovery's steps); nothing in the
 * engine calls it.  The pool must not be served: the caller holds the
 * pool's lock (pool_lock).  Handles are not shared between threads.
 */

#ifndef SNAPVOL_INSPECT_H
#define SNAPVOL_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "extmap.h"
#include "genpath.h"
#include "journal.h"
#include "pool.h"
#include "sio.h"
#include "uuid.h"

/* One volume, read into memory. */
struct inspect;

/* What a volume is, as read so far. */
struct inspect_info {
  struct uuid uuid;
  uint32_t cluster_size;
  uint32_t subcluster_size;
  uint32_t nsub;                /* subclusters per cluster */
  uint32_t live_gen;
  size_t nsnaps;
};

/* One snapshot: index I of inspect_snap, in the order of the list
 * read (generation order unless the files say otherwise). */
struct inspect_snap {
  struct uuid id, set;
  uint32_t gen;
};

/* Recovery's step 1: read and check the superblock of the volume NAME
 * in DIR (DIR/volumes/NAME) through IO.  NULL with errno and
 * sv_errmsg() if it cannot be used.  Free with inspect_close. */
extern struct inspect *inspect_open (const struct sv_io *io,
                                     const char *dir, const char *name)
  __attribute__((nonnull));
extern void inspect_close (struct inspect *in);

/* Recovery's step 2: load the checkpoint (map and snapshots as of
 * record *LAST_SEQ; the journal starts at file *JFIRST).  0, or -1
 * with errno and sv_errmsg(). */
extern int inspect_load_checkpoint (struct inspect *in, uint64_t *last_seq,
                                    uint64_t *jfirst)
  __attribute__((nonnull));

/* Recovery's step 3 without its writes: journal_check over the files
 * from JFIRST, records after AFTER_SEQ applied to the map and
 * snapshots when REPLAY (the checkpoint loaded), read for their
 * checksums and sequence only otherwise.  Findings go to REPORT;
 * DISCARDABLE as journal_check's.  Returns journal_check's result. */
extern int inspect_read_journal (struct inspect *in, uint64_t jfirst,
                                 uint64_t after_seq, int replay,
                                 journal_report_fn report, void *ropaque,
                                 int discardable)
  __attribute__((nonnull (1, 5)));

/* What was read.  The snapshots: I < info.nsnaps.  Cannot fail. */
extern void inspect_info (const struct inspect *in,
                          struct inspect_info *info)
  __attribute__((nonnull));
extern void inspect_snap (const struct inspect *in, size_t i,
                          struct inspect_snap *snap)
  __attribute__((nonnull));
/* What the superblock says of clones (docs/design.md, "Clones"):
 * FLAGS (SB_CLONE, SB_FLATTENED) and, with SB_CLONE, the origin it
 * names. */
struct inspect_origin {
  unsigned flags;
  struct uuid volume, snap;
  uint32_t gen;
  char name[SV_NAME_MAX + 1];
};
extern void inspect_origin (const struct inspect *in,
                            struct inspect_origin *o)
  __attribute__((nonnull));
/* The number of snapshots pinning a generation in [A, B) (the list in
 * generation order). */
extern size_t inspect_snaps_between (const struct inspect *in, uint32_t a,
                                     uint32_t b)
  __attribute__((nonnull));

/* The reverts read (genpath.h), sorted by generation; valid until the
 * next call that reads.  Cannot fail. */
extern void inspect_reverts (const struct inspect *in,
                             const struct revert **rv, size_t *n)
  __attribute__((nonnull));

/* The versions of the first mapped cluster at or after *VCI, oldest
 * first, or NULL when there is none (*VCI is then undefined).  *VCI is
 * set to that cluster; the result may live in BUF and is valid until
 * the next call. */
extern const struct extvec *inspect_versions (struct inspect *in,
                                              uint64_t *vci,
                                              union extvec_buf *buf)
  __attribute__((nonnull));
/* Check version X of cluster VCI as recovery does (bounds, generation,
 * bitmaps, physical cluster): 0, or -1 with EILSEQ and sv_errmsg()
 * naming what is wrong. */
extern int inspect_check_version (struct inspect *in, uint64_t vci,
                                  const struct ext *x)
  __attribute__((nonnull));

/* Repairs: these write. */

/* journal_discard_corrupt on IN's journal (the files from JFIRST,
 * records after AFTER_SEQ): cut a corrupt journal at its first bad
 * record.  0, or -1 (reported to REPORT). */
extern int inspect_discard_corrupt (struct inspect *in, uint64_t jfirst,
                                    uint64_t after_seq,
                                    journal_report_fn report, void *ropaque)
  __attribute__((nonnull (1, 4)));

/* Open the volume NAME in DIR with the engine's recovery and close it
 * with a checkpoint, as a server would: what recovery repairs is
 * durable on return.  A checkpoint that finds no space is no failure
 * (it only shortens the next recovery).  0, or -1 with errno and
 * sv_errmsg(). */
extern int inspect_recover (const struct sv_io *io, const char *dir,
                            const char *name)
  __attribute__((nonnull));

#endif /* SNAPVOL_INSPECT_H */
