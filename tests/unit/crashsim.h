/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * crashsim.h: an in-memory implementation of the storage I/O interface
 * (sio.h) that simulates power loss, for the engine's crash tests.
 *
 * A crashsim is a small file system in memory.  Like a disk with a
 * volatile write cache under a filesystem that journals nothing on
 * its own, it keeps for every file the durable content and the writes,
 * punches and truncates made since the file's last sync, and for every
 * directory the durable entries and the creations, renames and
 * removals made since the directory's last syncdir.  A file's sync
 * makes its data (and size) durable, never its name: only syncdir of
 * the parent does that.
 *
 * crashsim_crash() materialises what the disk could hold if power were
 * lost at that moment: synced content is kept; each later change is,
 * by seeded random choice, kept, dropped or (a write spanning more than
 * one 512-byte sector) torn at sector boundaries; a write past the end
 * that is lost may still leave the file longer, reading zeroes.  The
 * result is a new crashsim, fully synced, on which the engine can be
 * opened again to run its recovery.  The kill -9 mode instead keeps
 * every change where it was, unsynced ones unsynced: recovery then runs
 * on what only the page cache held, and a crash of that image models a
 * power loss after the restart.
 *
 * Paths are absolute ("/pool/volumes/a/data"); the root directory
 * always exists.  Handles are small integers.  A crashsim may be used
 * from several threads (one mutex); crash images share file pages with
 * their origin copy-on-write, so taking one is cheap.
 */

#ifndef SNAPVOL_CRASHSIM_H
#define SNAPVOL_CRASHSIM_H

#include <stddef.h>
#include <stdint.h>

#include "sio.h"

struct crashsim;

/* A new file system holding only "/".  Never NULL (aborts on ENOMEM:
 * test code). */
extern struct crashsim *crashsim_new (void);
/* Free CS.  Crash images taken from it stay valid. */
extern void crashsim_free (struct crashsim *cs);
/* The I/O interface to pass as sv_pool_options.io; valid until
 * crashsim_free. */
extern const struct sv_io *crashsim_io (struct crashsim *cs);

/* Operations that change state (creating or truncating open, pwrite,
 * sync, punch, truncate, rename, unlink, mkdir, rmdir, syncdir) are
 * numbered from 1; reads, size, advise, allocate (a reservation: space
 * is never short here), listdir and close are not counted (a crash
 * after them equals a crash after the previous counted one).  Failed
 * operations are not counted. */
extern uint64_t crashsim_ops (struct crashsim *cs);

/* Called after every counted operation, without CS's lock held, in the
 * thread that made it: OP is its number, WHAT names it ("pwrite
 * /pool/volumes/a/data").  The hook may call crashsim_crash on CS. */
typedef void (*crashsim_hook) (void *opaque, struct crashsim *cs,
                               uint64_t op, const char *what);
extern void crashsim_set_hook (struct crashsim *cs, crashsim_hook fn,
                               void *opaque);

enum crashsim_mode {
  CRASHSIM_RANDOM,              /* each unsynced change kept, dropped or torn */
  CRASHSIM_SYNCED_ONLY,         /* every unsynced change lost */
  CRASHSIM_KEEP_ALL,            /* what kill -9 leaves: every change kept,
                                 * in the page cache: what was unsynced
                                 * stays unsynced in the image, so a
                                 * crash of the image may still lose it.
                                 * An exact copy of CS. */
};

/* What a crash image kept of the unsynced changes. */
struct crashsim_stats {
  uint64_t writes_kept, writes_dropped, writes_torn;
  uint64_t other_kept, other_dropped;       /* punches and truncates */
  uint64_t names_kept, names_dropped;       /* directory changes */
};

/* Lose power now: a new crashsim holding what the disk could hold,
 * chosen with MODE and the generator seeded by SEED (the same state and
 * seed give the same image).  STATS may be NULL. */
extern struct crashsim *crashsim_crash (struct crashsim *cs, uint64_t seed,
                                        enum crashsim_mode mode,
                                        struct crashsim_stats *stats);

/* Size and bytes allocated (pages holding data, like st_blocks * 512)
 * of the file at PATH.  -1 with errno if it does not exist. */
extern int crashsim_file_info (struct crashsim *cs, const char *path,
                               uint64_t *size, uint64_t *allocated);

/* Write the current content of CS below host directory DIR (created;
 * its parent must exist), e.g. to keep a failing image for a
 * post-mortem or for the offline checker.  -1 with errno on error. */
extern int crashsim_export (struct crashsim *cs, const char *dir);

#endif /* SNAPVOL_CRASHSIM_H */
