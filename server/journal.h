/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * journal.h: a volume's append-only, checksummed metadata journal.
 *
 * Design notes
 * ------------
 * Records are appended to an in-memory buffer (journal_append) and
 * written to the current journal file by journal_commit, which first
 * calls back to make the data file durable: a record is written only
 * after the data it maps is durable.  Every record carries a sequence
 * number (consecutive across files) and a CRC-32C seeded with the
 * file's random salt, so a torn or stale tail is recognised.
 *
 * Files are journal.N (N as 16 hex digits).  A checkpoint rotates the
 * journal: appends move to journal.N+1 and, once the checkpoint is
 * durable (its name too: the directory synced), every file below N+1
 * is deleted.  Replay reads the files >= the checkpoint's first file in
 * order, skips records the checkpoint already holds, and stops at the
 * first record that is short or fails its CRC; a good record out of
 * sequence is refused (a file lost or replaced).  Replay syncs every
 * file it read and deletes nothing the checkpoint covers: the caller
 * does that with journal_remove_old once it has made the checkpoint
 * durable.
 *
 * Torn tail or corruption (the journal mark)
 * ------------------------------------------
 * A crash can cut short only the write of the last commit, whose
 * fdatasync had not returned: nothing in it was acknowledged.  A bad
 * record anywhere else is corruption, and cutting the journal there
 * would drop acknowledged writes and snapshots.  The two look alike in
 * the records, so each commit says which is which:
 *   1-3. (journal_commit) sync the data, write the records, fdatasync.
 *   4. The records are durable: nothing is acknowledged yet.
 *   5. Write the file's mark (its header block, two slots used in
 *      turn): "records before offset E, the last one S, were
 *      acknowledged".  Not synced: a kill -9 keeps it, and the next
 *      commit's fdatasync makes it durable.
 * Replay stops at the first bad record; if that is before the newest
 * valid mark's E, the file is corrupt (EILSEQ naming the file, the
 * offset and what cutting would discard) and the volume does not open:
 * `snapvolctl check` reports it and only `check --repair
 * --discard-after-corruption` cuts there.  At or after E it is a torn
 * tail, cut as before.  A bad record followed by records in a later
 * file is corruption too.  Recovery marks what it replayed (records
 * past a mark a power cut took, which the recovered volume now serves
 * and builds on) before its sync.  What the mark cannot tell: after a power cut
 * (not a kill -9) the last commit's mark may not be on the disk, so a
 * record damaged in that one commit is still taken for a torn tail.
 *
 * Space (journal_reserve)
 * -----------------------
 * A change must not be accepted in memory when the disk has no room
 * for its record: on a full filesystem the commit would then fail
 * again and again, and the change could never become durable nor be
 * taken back.  So the current file's space is reserved ahead, in
 * chunks (sio allocate: fallocate with FALLOC_FL_KEEP_SIZE, which
 * changes neither the size nor what replay reads), and a change takes
 * its share before it touches anything:
 *   1. journal_reserve (N bytes): if the reserved space holds what is
 *      written, being written, buffered and promised, plus N, promise
 *      N; otherwise grow the reservation by a chunk (I/O under
 *      RESV_MU, never under MU) and promise.  If the space cannot be
 *      had: -1 with ENOSPC, nothing changed.
 *   2. Change memory; journal_append_reserved buffers the record, which
 *      takes its promise.
 *   3. journal_commit writes the records into reserved space: a full
 *      filesystem cannot make it fail.
 * A client's write leaves a headroom of the reservation to the others:
 * a pin, which must do no I/O while writes are held, takes its record
 * from what is reserved (JOURNAL_HELD), and a flush cycle grows the
 * reservation back afterwards.  A snapshot deletion, and the
 * cancellation of a failed pin, append without a reservation: they
 * must not fail for want of space (a deletion is how space comes back)
 * and use the headroom, or go past it, in which case only their flush
 * can fail with ENOSPC and is retried.  A reclaim reserves each record
 * and stops where space runs out (what it leaves is reclaimed later).
 * A new file (journal_create_file) gets its first chunk with its
 * header: a checkpoint that cannot get it fails before it rotates,
 * keeps the old file and runs again at a later flush.  A filesystem
 * that cannot reserve (EOPNOTSUPP) makes every reservation succeed:
 * the commit may then fail with ENOSPC as before, and is retried.
 *
 * Locking: RESV_MU > MU.  MU protects the buffer, the sequence numbers
 * and the space accounting (short, never held across I/O).  RESV_MU
 * serialises growing the reservation (an fallocate) and keeps the
 * current file from being rotated meanwhile.  journal_commit and
 * journal_rotate must be called by one thread at a time (the volume's
 * flush lock).
 */

#ifndef SNAPVOL_JOURNAL_H
#define SNAPVOL_JOURNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sio.h"
#include "uuid.h"

/* A journal file's newest mark (ondisk.h): the records before END, the
 * last of them SEQ, were acknowledged.  COUNT: marks written to the
 * file (0: none; END is then SV_BLOCK). */
struct journal_mark {
  uint64_t count;
  uint64_t end;
  uint64_t seq;
};

struct journal {
  const struct sv_io *io;
  char *dir;
  struct uuid uuid;
  pthread_mutex_t mu;

  /* Current file.  Changed only by journal_rotate. */
  uint64_t number;
  int h;
  uint32_t salt;
  uint64_t write_off;        /* end of what has been written (under MU) */
  struct journal_mark mark;  /* the current file's newest mark (commit) */

  /* Buffered records (under MU). */
  uint8_t *buf;
  size_t len, cap;
  uint64_t next_seq;         /* to assign */
  uint64_t durable_seq;      /* last record known durable */

  /* Space (under MU; see "Space" above). */
  pthread_mutex_t resv_mu;
  uint64_t resv_end;         /* the current file's space is reserved to here */
  uint64_t promised;         /* reserved for records not yet appended */
  uint64_t committing;       /* taken by journal_commit, not yet written */
  uint64_t chunk;            /* the reservation grows by this much */
  uint64_t headroom;         /* what a client's write leaves to others */
  int no_resv;               /* the filesystem cannot reserve */
};

/* Who asks for journal space (journal_reserve). */
enum journal_space {
  JOURNAL_WRITE,             /* a client's write, zero or trim: leaves the
                              * headroom; may block to grow the space */
  JOURNAL_ADMIN,             /* reclaim: may use the headroom, may block */
  JOURNAL_HELD,              /* writes are held (a pin): no I/O, may use
                              * the headroom */
};

/* Callback applying one replayed record.  Returns -1 (with an
 * sv_error message) if the record's content is invalid. */
typedef int (*journal_apply_fn) (void *opaque, unsigned type,
                                 const uint8_t *payload, size_t len,
                                 uint64_t seq);

/* Create journal file NUMBER in DIR (header written, RESERVE bytes of
 * space reserved after it, synced, the directory synced).  ENOSPC if
 * the space cannot be had; the file is then removed. */
extern int journal_create_file (const struct sv_io *io, const char *dir,
                                const struct uuid *uuid, uint64_t number,
                                uint64_t reserve);
/* The same, but nothing synced: returns the file's open handle, which
 * the caller syncs (IO->ops->sync, then the directory) and closes; a
 * new volume's creation syncs all its files together this way.  -1
 * with errno and a message on error; the file is then removed. */
extern int journal_start_file (const struct sv_io *io, const char *dir,
                               const struct uuid *uuid, uint64_t number,
                               uint64_t reserve);

/* How much journal space to reserve at a time for a volume that writes
 * a checkpoint every CHECKPOINT_BYTES of journal: 1/16 of it, from 16
 * KiB to 1 MiB. */
extern uint64_t journal_chunk_for (uint64_t checkpoint_bytes);

/* journal_open's FLAGS. */
enum {
  /* The files were just created and synced by the caller (a new
   * volume's): replay does not fdatasync them again. */
  JOURNAL_OPEN_CREATED = 1,
};

/* Replay journal files >= FIRST in DIR, applying records with seq >
 * AFTER_SEQ, and fdatasync each (what was read may have been in the
 * page cache only; not with JOURNAL_OPEN_CREATED in FLAGS).  Files below FIRST are left alone.  On success J
 * is open for appending to the last file (one is created if none
 * exists), reserving space CHUNK bytes at a time; no space is reserved
 * yet (journal_reserve (J, 0, JOURNAL_WRITE) does it).  Reports a torn
 * tail it cut in *TORN_BYTES.  EILSEQ on corruption that is not a torn
 * tail. */
extern int journal_open (struct journal *j, const struct sv_io *io,
                         const char *dir, const struct uuid *uuid,
                         uint64_t first, uint64_t after_seq, uint64_t chunk,
                         journal_apply_fn apply, void *opaque,
                         uint64_t *torn_bytes, unsigned flags);
extern void journal_close (struct journal *j);

/* Reserve space for N bytes of records (see "Space" above; a record
 * takes JR_HDR plus its payload).  0, or -1 with errno (ENOSPC, or the
 * error of the reservation) and nothing reserved.  May block on an
 * fallocate unless WHO is JOURNAL_HELD.  Takes RESV_MU and MU. */
extern int journal_reserve (struct journal *j, size_t n,
                            enum journal_space who);
/* Give back N bytes reserved and not used. */
extern void journal_unreserve (struct journal *j, size_t n);

/* Buffer a record; returns its sequence number, 0 with ENOMEM.
 * journal_append_reserved takes the record's space from what the
 * caller reserved (and gives it back on failure); journal_append uses
 * none (see "Space" above for who may). */
extern uint64_t journal_append (struct journal *j, unsigned type,
                                const void *payload, size_t len);
extern uint64_t journal_append_reserved (struct journal *j, unsigned type,
                                         const void *payload, size_t len);

/* The last sequence number assigned. */
extern uint64_t journal_last_seq (struct journal *j);

/* Make buffered records durable: calls SYNC_DATA(OPAQUE), then writes
 * and syncs the records.  On failure the records stay buffered.
 * Returns the durable sequence number in *DURABLE. */
extern int journal_commit (struct journal *j,
                           int (*sync_data) (void *opaque), void *opaque,
                           uint64_t *durable);

/* journal_commit in its steps, for a commit whose syncs are shared by
 * the journals of several volumes (a set's group commit, volume.c):
 * journal_take takes the buffered records into T (phase 1; the caller
 * then makes the data they map durable), journal_write_taken writes
 * them without a sync (phase 3), the caller makes them durable (one
 * syncfs for the group, or journal_sync_taken for this file alone), and
 * journal_publish records them durable and writes the mark (phases
 * 4-5).  journal_untake gives the records back to the buffer, as a
 * failed journal_commit does; journal_write_taken and
 * journal_sync_taken do it themselves when they fail. */
struct journal_taken {
  uint8_t *buf;
  size_t len;
  uint64_t last;                /* the last sequence number taken */
};
extern void journal_take (struct journal *j, struct journal_taken *t);
extern int journal_write_taken (struct journal *j, struct journal_taken *t);
extern int journal_sync_taken (struct journal *j, struct journal_taken *t);
extern void journal_untake (struct journal *j, struct journal_taken *t);
extern int journal_publish (struct journal *j, struct journal_taken *t,
                            uint64_t *durable);

/* Checkpoint support: switch appends to file NUMBER+1 (already created
 * with journal_create_file, reserving J's chunk).  The records buffered
 * so far, all with seq <= *LAST_SEQ, stay queued for the old file
 * (inside its reserved space): write them with journal_flush_old and
 * then delete the old file. */
struct journal_old {
  int h;
  uint64_t number;
  uint32_t salt;
  uint64_t write_off;
  uint64_t last_seq;
  struct journal_mark mark;
  uint8_t *buf;
  size_t len;
};
extern int journal_rotate (struct journal *j, struct journal_old *old,
                           uint64_t *last_seq);
extern int journal_flush_old (struct journal *j, struct journal_old *old);
/* Close the old file and free what journal_rotate left in OLD. */
extern void journal_drop_old (struct journal *j, struct journal_old *old);

/* Unlink every journal file of J's directory numbered below FIRST.
 * Call it only once a checkpoint whose first file is FIRST is durable,
 * name included.  Best effort (a file left over is skipped by replay
 * and removed next time); returns the files removed, -1 if the
 * directory cannot be listed. */
extern int journal_remove_old (struct journal *j, uint64_t first);

/* Path of journal file NUMBER in DIR into BUF. */
extern void journal_path (char *buf, size_t len, const char *dir,
                          uint64_t number);

/* Offline checking (for inspect.c, the checker's window on the engine). */

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

#endif /* SNAPVOL_JOURNAL_H */
