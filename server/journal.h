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
 * first record that is short, fails its CRC or breaks the sequence:
 * that is the torn tail, cut off (the file is truncated and synced)
 * when it is in the last file.  Replay syncs every file it read and
 * deletes nothing the checkpoint covers: the caller does that with
 * journal_remove_old once it has made the checkpoint durable.
 *
 * Locking: MU protects the buffer and sequence numbers (short, never
 * held across I/O).  journal_commit and journal_rotate must be called
 * by one thread at a time (the volume's flush lock).
 */

#ifndef SNAPVOL_JOURNAL_H
#define SNAPVOL_JOURNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sio.h"
#include "uuid.h"

struct journal {
  const struct sv_io *io;
  char *dir;
  struct uuid uuid;
  pthread_mutex_t mu;

  /* Current file.  Changed only by journal_rotate. */
  uint64_t number;
  int h;
  uint32_t salt;
  uint64_t write_off;        /* end of what has been written */

  /* Buffered records (under MU). */
  uint8_t *buf;
  size_t len, cap;
  uint64_t next_seq;         /* to assign */
  uint64_t durable_seq;      /* last record known durable */
};

/* Callback applying one replayed record.  Returns -1 (with an
 * sv_error message) if the record's content is invalid. */
typedef int (*journal_apply_fn) (void *opaque, unsigned type,
                                 const uint8_t *payload, size_t len,
                                 uint64_t seq);

/* Create journal file NUMBER in DIR (header written and synced, the
 * directory synced). */
extern int journal_create_file (const struct sv_io *io, const char *dir,
                                const struct uuid *uuid, uint64_t number);

/* Replay journal files >= FIRST in DIR, applying records with seq >
 * AFTER_SEQ, and fdatasync each (what was read may have been in the
 * page cache only).  Files below FIRST are left alone.  On success J
 * is open for appending to the last file (one is created if none
 * exists).  Reports a torn tail it cut in *TORN_BYTES.  EILSEQ on
 * corruption that is not a torn tail. */
extern int journal_open (struct journal *j, const struct sv_io *io,
                         const char *dir, const struct uuid *uuid,
                         uint64_t first, uint64_t after_seq,
                         journal_apply_fn apply, void *opaque,
                         uint64_t *torn_bytes);
extern void journal_close (struct journal *j);

/* Buffer a record; returns its sequence number, 0 with ENOMEM. */
extern uint64_t journal_append (struct journal *j, unsigned type,
                                const void *payload, size_t len);

/* The last sequence number assigned. */
extern uint64_t journal_last_seq (struct journal *j);

/* Make buffered records durable: calls SYNC_DATA(OPAQUE), then writes
 * and syncs the records.  On failure the records stay buffered.
 * Returns the durable sequence number in *DURABLE. */
extern int journal_commit (struct journal *j,
                           int (*sync_data) (void *opaque), void *opaque,
                           uint64_t *durable);

/* Checkpoint support: switch appends to file NUMBER+1 (already created
 * with journal_create_file).  The records buffered so far, all with
 * seq <= *LAST_SEQ, stay queued for the old file: write them with
 * journal_flush_old and then delete the old file. */
struct journal_old {
  int h;
  uint64_t number;
  uint32_t salt;
  uint64_t write_off;
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

#endif /* SNAPVOL_JOURNAL_H */
