/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * journal.c: the metadata journal: record codec, commit, rotation and
 * replay with torn-tail detection.  See journal.h for the design notes.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "crc32c.h"
#include "errmsg.h"
#include "journal.h"
#include "ondisk.h"
#include "pool.h"
#include "lockorder.h"

#define IO(j) ((j)->io->ops)

void
journal_path (char *buf, size_t len, const char *dir, uint64_t number)
{
  snprintf (buf, len, "%s/journal.%016" PRIx64, dir, number);
}

static uint32_t
record_crc (uint32_t salt, const uint8_t *rec, size_t len)
{
  uint8_t s[4];

  put_le32 (s, salt);
  return crc32c (crc32c (0, s, 4), rec + 4, len - 4);
}

uint64_t
journal_chunk_for (uint64_t checkpoint_bytes)
{
  uint64_t c = checkpoint_bytes / 16;

  if (c < 16 * 1024)
    c = 16 * 1024;
  if (c > 1024 * 1024)
    c = 1024 * 1024;
  return (c + SV_BLOCK - 1) / SV_BLOCK * SV_BLOCK;
}

/* Reserve [OFF, OFF+LEN) of file H.  0, or -1 with errno; EOPNOTSUPP
 * when the implementation or the filesystem cannot reserve. */
static int
allocate (const struct sv_io *io, int h, uint64_t off, uint64_t len)
{
  if (io->ops->allocate == NULL) {
    errno = EOPNOTSUPP;
    return -1;
  }
  if (io->ops->allocate (io->opaque, h, off, len) == -1) {
    if (errno == ENOTSUP)
      errno = EOPNOTSUPP;
    return -1;
  }
  return 0;
}

int
journal_start_file (const struct sv_io *io, const char *dir,
                    const struct uuid *uuid, uint64_t number,
                    uint64_t reserve)
{
  char path[4096];
  uint8_t hdr[SV_BLOCK];
  struct uuid rnd;
  int h;

  journal_path (path, sizeof path, dir, number);
  memset (hdr, 0, sizeof hdr);
  memcpy (hdr + JH_OFF_UUID, uuid->b, 16);
  put_le64 (hdr + JH_OFF_NUMBER, number);
  if (uuid_generate (&rnd) == -1)
    return sv_error (errno, "getrandom: %m");
  memcpy (hdr + JH_OFF_SALT, rnd.b, 4);
  ondisk_seal (hdr, &ondisk_jrnl, 0);

  /* A creation that fails removes its file: an empty journal left
   * behind (on a full filesystem, say) would otherwise need space to be
   * cleaned up. */
  h = io->ops->open (io->opaque, path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (h == -1)
    return sv_error (errno, "open: %s: %m", path);
  if (io->ops->pwrite (io->opaque, h, hdr, SV_BLOCK, 0) != SV_BLOCK) {
    sv_error (errno, "write: %s: %m", path);
    goto err;
  }
  /* The file's first records have their space before anyone can
   * append: a checkpoint that cannot get it fails here, before it
   * rotates, and the journal it would have replaced goes on. */
  if (reserve > 0 && allocate (io, h, SV_BLOCK, reserve) == -1 &&
      errno != EOPNOTSUPP) {
    sv_error (errno, "reserve %" PRIu64 " bytes: %s: %m", reserve, path);
    goto err;
  }
  return h;

 err:;
  int e = errno;
  io->ops->close (io->opaque, h);
  io->ops->unlink (io->opaque, path);
  errno = e;
  return -1;
}

int
journal_create_file (const struct sv_io *io, const char *dir,
                     const struct uuid *uuid, uint64_t number,
                     uint64_t reserve)
{
  char path[4096];
  int h = journal_start_file (io, dir, uuid, number, reserve);

  if (h == -1)
    return -1;
  /* The reservation needs no fsync: what lies past the records is
   * counted as unreserved at the next open (journal_open). */
  if (io->ops->sync (io->opaque, h) == -1) {
    int e = errno;
    journal_path (path, sizeof path, dir, number);
    io->ops->close (io->opaque, h);
    io->ops->unlink (io->opaque, path);
    return sv_error (e, "fdatasync: %s: %m", path);
  }
  io->ops->close (io->opaque, h);
  if (io->ops->syncdir (io->opaque, dir) == -1)
    return sv_error (errno, "fsync: %s: %m", dir);
  return 0;
}

/* The newest valid mark in HDR, the first block of a file whose salt
 * is SALT; a file without one has none acknowledged: *MARK is then
 * {0, SV_BLOCK, 0}.  A slot that fails its check is one a power cut
 * tore, or never written: the other one stands. */
static void
decode_marks (const uint8_t *hdr, uint32_t salt, struct journal_mark *mark)
{
  unsigned k;

  mark->count = 0;
  mark->end = SV_BLOCK;
  mark->seq = 0;
  for (k = 0; k < 2; k++) {
    const uint8_t *m = hdr + JM_OFF_SLOT0 + k * JM_LEN;
    uint64_t loc = JM_OFF_SLOT0 + k * JM_LEN;
    int e = errno;

    if (ondisk_check (m, JM_LEN, &ondisk_mark, loc, "mark") == -1 ||
        get_le32 (m + JM_OFF_SALT) != salt) {
      errno = e;
      continue;
    }
    if (get_le64 (m + JM_OFF_COUNT) > mark->count) {
      mark->count = get_le64 (m + JM_OFF_COUNT);
      mark->end = get_le64 (m + JM_OFF_END);
      mark->seq = get_le64 (m + JM_OFF_SEQ);
    }
  }
}

/* Read and check a journal header and its marks.  Returns 0, or -1
 * with a message. */
static int
read_header (struct journal *j, int h, const char *path, uint64_t number,
             uint32_t *salt, struct journal_mark *mark)
{
  uint8_t hdr[SV_BLOCK];
  ssize_t r = IO (j)->pread (j->io->opaque, h, hdr, SV_BLOCK, 0);

  if (r != -1 && r < SV_BLOCK)
    return sv_error (EILSEQ, "%s: journal header is short (%zd bytes)", path, r);
  if (ondisk_check (hdr, r, &ondisk_jrnl, 0, path) == -1)
    return -1;
  if (memcmp (hdr + JH_OFF_UUID, j->uuid.b, 16) != 0)
    return sv_error (EILSEQ, "%s: journal belongs to another volume", path);
  if (get_le64 (hdr + JH_OFF_NUMBER) != number)
    return sv_error (EILSEQ, "%s: journal header names file %" PRIu64,
                     path, get_le64 (hdr + JH_OFF_NUMBER));
  *salt = get_le32 (hdr + JH_OFF_SALT);
  decode_marks (hdr, *salt, mark);
  return 0;
}

/* Say durably-to-be that the records of file H (PATH, salted SALT)
 * before END, the last of them SEQ, were acknowledged: the next slot
 * of *MARK, not synced (the next fdatasync of the file carries it; a
 * kill -9 keeps it at once).  0, or -1 with a message. */
static int
write_mark (const struct sv_io *io, int h, const char *path, uint32_t salt,
            struct journal_mark *mark, uint64_t end, uint64_t seq)
{
  uint8_t m[JM_LEN];
  uint64_t count = mark->count + 1;
  uint64_t loc = JM_OFF_SLOT0 + (count & 1) * JM_LEN;

  memset (m, 0, sizeof m);
  put_le32 (m + JM_OFF_SALT, salt);
  put_le64 (m + JM_OFF_COUNT, count);
  put_le64 (m + JM_OFF_END, end);
  put_le64 (m + JM_OFF_SEQ, seq);
  ondisk_seal (m, &ondisk_mark, loc);
  if (io->ops->pwrite (io->opaque, h, m, JM_LEN, loc) != JM_LEN)
    return sv_error (errno, "write: %s: journal mark: %m", path);
  mark->count = count;
  mark->end = end;
  mark->seq = seq;
  return 0;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return x < y ? -1 : x > y;
}

/* The journal file numbers in DIR, sorted. */
static int
list_journals (struct journal *j, uint64_t **nums, size_t *n)
{
  char **names = NULL;
  size_t nn = 0, i, k = 0;
  uint64_t *v;

  if (IO (j)->listdir (j->io->opaque, j->dir, &names, &nn) == -1)
    return sv_error (errno, "opendir: %s: %m", j->dir);
  v = malloc ((nn ? nn : 1) * sizeof *v);
  for (i = 0; i < nn; i++) {
    char *end;
    if (v && strncmp (names[i], "journal.", 8) == 0 &&
        strlen (names[i]) == 8 + 16) {
      uint64_t x = strtoull (names[i] + 8, &end, 16);
      if (*end == '\0')
        v[k++] = x;
    }
    free (names[i]);
  }
  free (names);
  if (v == NULL)
    return sv_error (ENOMEM, "%s: out of memory", j->dir);
  qsort (v, k, sizeof *v, cmp_u64);
  *nums = v;
  *n = k;
  return 0;
}

/* Why replay stopped before the end of a file. */
enum tail_kind { TAIL_NONE, TAIL_SHORT, TAIL_CHECKSUM };

static const char *const tail_what[] = {
  [TAIL_NONE] = "nothing",
  [TAIL_SHORT] = "an incomplete record",
  [TAIL_CHECKSUM] = "a record that fails its checksum",
};

/* Where replay of one file stopped. */
struct replay_end {
  uint64_t end;                 /* after the last good record */
  uint64_t size;                /* the file's size */
  enum tail_kind why;           /* what is at END (TAIL_NONE: END is SIZE) */
  int at_mark;                  /* a record ended at the mark's offset */
};

/* Replay one file, whose newest mark is MARK, into RE. */
static int
replay_file (struct journal *j, int h, const char *path, uint32_t salt,
             const struct journal_mark *mark, uint64_t after_seq,
             uint64_t *expect, journal_apply_fn apply, void *opaque,
             struct replay_end *re)
{
  uint64_t size, off = SV_BLOCK;
  CLEANUP_FREE uint8_t *buf = NULL;
  size_t bufsz = 1 << 20, have = 0, pos = 0;
  uint64_t bufoff = SV_BLOCK;

  if (IO (j)->size (j->io->opaque, h, &size) == -1)
    return sv_error (errno, "stat: %s: %m", path);
  buf = malloc (bufsz);
  if (buf == NULL)
    return sv_error (ENOMEM, "%s: out of memory", path);
  re->size = size;
  re->why = TAIL_NONE;
  re->at_mark = mark->end == SV_BLOCK;

  for (;;) {
    uint16_t type, len;
    uint64_t seq;

    /* Make sure the buffer holds a whole header and payload. */
    if (have - pos < JR_HDR + 65535 && bufoff + have < size) {
      ssize_t r;
      memmove (buf, buf + pos, have - pos);
      bufoff += pos;
      have -= pos;
      pos = 0;
      r = IO (j)->pread (j->io->opaque, h, buf + have, bufsz - have,
                         bufoff + have);
      if (r == -1)
        return sv_error (errno, "read: %s: %m", path);
      have += r;
    }
    if (have - pos == 0)
      break;
    re->why = TAIL_SHORT;
    if (have - pos < JR_HDR)
      break;
    type = get_le16 (buf + pos + 4);
    len = get_le16 (buf + pos + 6);
    seq = get_le64 (buf + pos + 8);
    if (have - pos < (size_t) JR_HDR + len)
      break;
    re->why = TAIL_CHECKSUM;
    if (get_le32 (buf + pos) != record_crc (salt, buf + pos, JR_HDR + len))
      break;
    re->why = TAIL_NONE;
    if (*expect == 0 && seq > after_seq + 1)
      return sv_error (EILSEQ, "%s: journal starts at record %" PRIu64
                       " but the checkpoint ends at record %" PRIu64,
                       path, seq, after_seq);
    if (*expect != 0 && seq != *expect)
      /* Records are appended in sequence and each file has its own
       * salt: a record that passes its checksum in the wrong place is
       * not a torn write but a lost or replaced file. */
      return sv_error (EILSEQ, "%s: the record at offset %" PRIu64
                       " is record %" PRIu64 " but record %" PRIu64
                       " was expected (a journal file is missing or was"
                       " replaced)", path, bufoff + pos, seq, *expect);
    if (seq > after_seq) {
      if (apply (opaque, type, buf + pos + JR_HDR, len, seq) == -1) {
        sv_error_prefix ("%s: record %" PRIu64 " at offset %" PRIu64,
                         path, seq, bufoff + pos);
        errno = EILSEQ;
        return -1;
      }
    }
    *expect = seq + 1;
    pos += JR_HDR + len;
    off = bufoff + pos;
    if (off == mark->end) {
      if (seq != mark->seq)
        return sv_error (EILSEQ, "%s: the journal mark says that record %"
                         PRIu64 " ends at offset %" PRIu64 ", but record %"
                         PRIu64 " does", path, mark->seq, mark->end, seq);
      re->at_mark = 1;
    }
  }
  re->end = off;
  return 0;
}

/* Is what replay found in PATH consistent with its mark?  A bad record
 * before the mark's offset was acknowledged, so it is corruption, not a
 * write cut short by a crash.  0, or -1 (EILSEQ) with a message that
 * says what opening would have to discard. */
static int
check_mark (const char *path, const struct journal_mark *mark,
            const struct replay_end *re)
{
  if (re->end < mark->end)
    return sv_error (EILSEQ, "%s: corrupt journal: %s at offset %" PRIu64
                     ", but the records up to offset %" PRIu64 " (record %"
                     PRIu64 ") were acknowledged; this is not a torn write,"
                     " and cutting the journal there would discard %" PRIu64
                     " acknowledged bytes", path,
                     re->end == re->size ? "the file ends" : tail_what[re->why],
                     re->end, mark->end, mark->seq, mark->end - re->end);
  if (!re->at_mark)
    return sv_error (EILSEQ, "%s: corrupt journal: the journal mark says"
                     " records end at offset %" PRIu64 ", but no record"
                     " ends there", path, mark->end);
  return 0;
}

/* How many of the journal files NUMS[I+1..N) hold records (anything
 * past the header), and *BYTES of them.  A file that cannot be opened
 * counts as one that does: the caller then reports corruption rather
 * than cut what may be acknowledged. */
static size_t
later_records (struct journal *j, const uint64_t *nums, size_t n, size_t i,
               uint64_t *bytes)
{
  char path[4096];
  uint64_t size;
  size_t k, count = 0;
  int h, r;

  *bytes = 0;
  for (k = i + 1; k < n; k++) {
    journal_path (path, sizeof path, j->dir, nums[k]);
    h = IO (j)->open (j->io->opaque, path, O_RDONLY, 0);
    if (h == -1) {
      count++;
      continue;
    }
    r = IO (j)->size (j->io->opaque, h, &size);
    IO (j)->close (j->io->opaque, h);
    if (r == -1 || size > SV_BLOCK) {
      count++;
      *bytes += r == -1 ? 0 : size - SV_BLOCK;
    }
  }
  return count;
}

/* What one journal file holds, as recovery judges it (journal_open)
 * and as the checker reports it (journal_check): the one place for
 * these rules. */
enum verdict {
  FILE_FAILED,          /* unreadable or invalid: sv_errmsg() */
  FILE_TORN_HEADER,     /* the last file, empty, its header torn */
  FILE_GOOD,            /* read to its end */
  FILE_TORN_TAIL,       /* a tail after the acknowledged records */
  FILE_CORRUPT,         /* a bad record among acknowledged ones:
                         * sv_errmsg() says where */
  FILE_BEHIND_CHECKPOINT, /* its records end before the checkpoint's */
};

/* The file in question and what judging it found. */
struct judged {
  uint32_t salt;
  struct journal_mark mark;
  struct replay_end re;
  uint64_t size;
  const char *failed_in;        /* FILE_FAILED: "journal-header" or
                                 * "journal-record" */
};

/* Judge file I of the N files NUMS of J, open as H (PATH), replaying
 * its records after AFTER_SEQ into APPLY with *EXPECT the next record
 * (0: none yet).  CHECK_SEQ: the checkpoint's AFTER_SEQ is known, so a
 * journal that ends before it is reported. */
static enum verdict
judge_file (struct journal *j, const uint64_t *nums, size_t n, size_t i,
            int h, const char *path, uint64_t after_seq, uint64_t *expect,
            journal_apply_fn apply, void *opaque, int check_seq,
            struct judged *out)
{
  uint64_t bytes;

  out->failed_in = "journal-header";
  if (read_header (j, h, path, nums[i], &out->salt, &out->mark) == -1) {
    if (i == n - 1 && errno == EILSEQ &&
        IO (j)->size (j->io->opaque, h, &out->size) == 0 &&
        out->size <= SV_BLOCK)
      return FILE_TORN_HEADER;
    return FILE_FAILED;
  }
  out->failed_in = "journal-record";
  if (replay_file (j, h, path, out->salt, &out->mark, after_seq, expect,
                   apply, opaque, &out->re) == -1)
    return FILE_FAILED;
  if (check_mark (path, &out->mark, &out->re) == -1)
    return FILE_CORRUPT;
  if (check_seq && *expect != 0 && *expect <= after_seq)
    return FILE_BEHIND_CHECKPOINT;
  if (out->re.end == out->re.size)
    return FILE_GOOD;
  /* A torn tail is legitimate in the last file, or in the file before
   * empty ones (a crash while a checkpoint wrote the old file's last
   * records): later files then hold no record. */
  if (later_records (j, nums, n, i, &bytes) > 0) {
    sv_error (EILSEQ, "%s: corrupt journal: %s at offset %" PRIu64
              " in a journal file followed by more records", path,
              tail_what[out->re.why], out->re.end);
    return FILE_CORRUPT;
  }
  return FILE_TORN_TAIL;
}

/* What journal_open's replay of the files carries from one to the next. */
struct opening {
  const uint64_t *nums;
  size_t n;
  uint64_t after_seq;
  uint64_t expect;              /* the next record (0: none seen yet) */
  journal_apply_fn apply;
  void *opaque;
  uint64_t *torn_bytes;
  int created;                  /* JOURNAL_OPEN_CREATED */
};

/* Cut the torn tail of PATH (open as H) at RE->end, so that later
 * appends never sit in front of stale bytes. */
static int
cut_torn_tail (struct journal *j, struct opening *op, int h,
               const char *path, const struct replay_end *re)
{
  if (IO (j)->truncate (j->io->opaque, h, re->end) == -1)
    return sv_error (errno, "truncate: %s: %m", path);
  *op->torn_bytes += re->size - re->end;
  return 0;
}

/* Make what replay read of PATH (open as H) durable, then mark it.
 * What was replayed may sit in the page cache only (a kill -9 before
 * the commit's fdatasync): recovery builds on it, so it must be on the
 * disk before anything is destroyed.  Records past the mark (a power
 * cut took the last mark, or a kill -9 came before it) are then
 * marked, as a commit does, after the sync: the recovered volume
 * serves and builds on them, so a record damaged there later is
 * corruption, not a torn tail. */
static int
settle_file (struct journal *j, struct opening *op, int h, const char *path,
             uint32_t salt, struct journal_mark *mark,
             const struct replay_end *re)
{
  /* A file its creator synced holds nothing the page cache alone
   * has. */
  if (!op->created && IO (j)->sync (j->io->opaque, h) == -1)
    return sv_error (errno, "fdatasync: %s: %m", path);
  if (mark->end != re->end &&
      (write_mark (j->io, h, path, salt, mark, re->end,
                   op->expect ? op->expect - 1 : op->after_seq) == -1 ||
       IO (j)->sync (j->io->opaque, h) == -1)) {
    sv_error_prefix ("%s: marking the replayed records", path);
    return -1;
  }
  return 0;
}

/* Replay file I of OP into J and make it J's current file.  A header
 * torn while the last file was being created (an empty file) drops
 * the file.  0, or -1 with a message. */
static int
open_file (struct journal *j, struct opening *op, size_t i)
{
  struct judged f;
  char path[4096];
  int h;

  journal_path (path, sizeof path, j->dir, op->nums[i]);
  h = IO (j)->open (j->io->opaque, path, O_RDWR, 0);
  if (h == -1)
    return sv_error (errno, "open: %s: %m", path);
  switch (judge_file (j, op->nums, op->n, i, h, path, op->after_seq,
                      &op->expect, op->apply, op->opaque, 1, &f)) {
  case FILE_TORN_HEADER:
    IO (j)->close (j->io->opaque, h);
    IO (j)->unlink (j->io->opaque, path);
    *op->torn_bytes += f.size;
    return 0;
  case FILE_BEHIND_CHECKPOINT:
    sv_error (EILSEQ, "%s: journal ends at record %" PRIu64
              " but the checkpoint holds records up to %" PRIu64,
              path, op->expect - 1, op->after_seq);
    goto err;
  case FILE_FAILED:
  case FILE_CORRUPT:
    goto err;
  case FILE_TORN_TAIL:
    if (cut_torn_tail (j, op, h, path, &f.re) == -1)
      goto err;
    break;
  case FILE_GOOD:
    break;
  }
  if (settle_file (j, op, h, path, f.salt, &f.mark, &f.re) == -1)
    goto err;
  if (j->h != -1)
    IO (j)->close (j->io->opaque, j->h);
  j->h = h;
  j->number = op->nums[i];
  j->salt = f.salt;
  j->write_off = f.re.end;
  j->mark = f.mark;
  return 0;

 err:
  IO (j)->close (j->io->opaque, h);
  return -1;
}

/* Give J a file to append to when replay found none: create file
 * NUMBER (journal_create_file) and open it. */
static int
open_new_file (struct journal *j, uint64_t number)
{
  char path[4096];
  uint32_t salt;

  if (journal_create_file (j->io, j->dir, &j->uuid, number, 0) == -1)
    return -1;
  journal_path (path, sizeof path, j->dir, number);
  j->h = IO (j)->open (j->io->opaque, path, O_RDWR, 0);
  if (j->h == -1)
    return sv_error (errno, "open: %s: %m", path);
  if (read_header (j, j->h, path, number, &salt, &j->mark) == -1)
    return -1;
  j->number = number;
  j->salt = salt;
  j->write_off = SV_BLOCK;
  return 0;
}

int
journal_open (struct journal *j, const struct sv_io *io, const char *dir,
              const struct uuid *uuid, uint64_t first, uint64_t after_seq,
              uint64_t chunk, journal_apply_fn apply, void *opaque,
              uint64_t *torn_bytes, unsigned flags)
{
  CLEANUP_FREE uint64_t *nums = NULL;
  struct opening op = {
    .after_seq = after_seq, .apply = apply, .opaque = opaque,
    .torn_bytes = torn_bytes, .created = !!(flags & JOURNAL_OPEN_CREATED),
  };
  size_t i;

  memset (j, 0, sizeof *j);
  j->io = io;
  j->uuid = *uuid;
  j->h = -1;
  j->chunk = chunk;
  j->headroom = chunk / 4;
  *torn_bytes = 0;
  if ((j->dir = strdup (dir)) == NULL)
    return sv_error (ENOMEM, "out of memory");
  pthread_mutex_init (&j->mu, NULL);
  pthread_mutex_init (&j->resv_mu, NULL);

  if (list_journals (j, &nums, &op.n) == -1)
    goto err;
  op.nums = nums;

  /* Records at or before the checkpoint may be absent (their file was
   * deleted after the checkpoint); the first record found must then
   * follow the checkpoint directly or be covered by it.  Files below
   * FIRST are covered by the checkpoint: removed by journal_remove_old,
   * and only once the caller has made the checkpoint's name durable
   * (until then a power loss can bring back the checkpoint that still
   * needs them). */
  for (i = 0; i < op.n; i++)
    if (nums[i] >= first && open_file (j, &op, i) == -1)
      goto err;

  if (op.expect == 0 || op.expect <= after_seq)
    op.expect = after_seq + 1;
  j->next_seq = op.expect;
  j->durable_seq = op.expect - 1;
  if (j->h == -1 && open_new_file (j, first) == -1)
    goto err;
  /* What lies past the end of the records, reserved or not, is
   * unknown: count nothing as reserved. */
  j->resv_end = j->write_off;
  return 0;

 err:
  journal_close (j);
  return -1;
}

void
journal_close (struct journal *j)
{
  if (j->h != -1)
    IO (j)->close (j->io->opaque, j->h);
  j->h = -1;
  free (j->buf);
  free (j->dir);
  j->buf = NULL;
  j->dir = NULL;
  pthread_mutex_destroy (&j->mu);
  pthread_mutex_destroy (&j->resv_mu);
}

/* Does the reservation hold N more bytes for WHO?  MU held. */
static int
space_fits (const struct journal *j, size_t n, enum journal_space who)
{
  uint64_t need = j->write_off + j->committing + j->len + j->promised + n;

  if (who == JOURNAL_WRITE)
    need += j->headroom;
  return j->no_resv || need <= j->resv_end;
}

int
journal_reserve (struct journal *j, size_t n, enum journal_space who)
{
  uint64_t from, to;
  int h, tries;

  pthread_mutex_lock (&j->mu);
  if (space_fits (j, n, who)) {
    j->promised += n;
    pthread_mutex_unlock (&j->mu);
    return 0;
  }
  pthread_mutex_unlock (&j->mu);
  if (who == JOURNAL_HELD) {
    errno = ENOSPC;
    return -1;
  }

  /* Grow the reservation: one thread at a time, MU not held across the
   * fallocate.  Others may take part of what is added meanwhile, hence
   * the loop; two rounds always suffice unless space runs out. */
  sv_lock (&j->resv_mu, LOCK_RESV);
  for (tries = 0; ; tries++) {
    pthread_mutex_lock (&j->mu);
    if (space_fits (j, n, who)) {
      j->promised += n;
      pthread_mutex_unlock (&j->mu);
      sv_unlock (&j->resv_mu, LOCK_RESV);
      return 0;
    }
    from = j->resv_end;
    to = j->write_off + j->committing + j->len + j->promised + n +
      j->headroom + j->chunk;
    to = (to + SV_BLOCK - 1) / SV_BLOCK * SV_BLOCK;
    h = j->h;
    pthread_mutex_unlock (&j->mu);
    if (tries == 4) {
      sv_unlock (&j->resv_mu, LOCK_RESV);
      errno = ENOSPC;
      return -1;
    }
    if (allocate (j->io, h, from, to - from) == -1) {
      int e = errno;
      if (e == EOPNOTSUPP) {
        pthread_mutex_lock (&j->mu);
        j->no_resv = 1;
        pthread_mutex_unlock (&j->mu);
        continue;
      }
      sv_unlock (&j->resv_mu, LOCK_RESV);
      errno = e;
      return -1;
    }
    pthread_mutex_lock (&j->mu);
    if (to > j->resv_end)
      j->resv_end = to;
    pthread_mutex_unlock (&j->mu);
  }
}

void
journal_unreserve (struct journal *j, size_t n)
{
  pthread_mutex_lock (&j->mu);
  j->promised -= n < j->promised ? n : j->promised;
  pthread_mutex_unlock (&j->mu);
}

static uint64_t
append (struct journal *j, unsigned type, const void *payload, size_t len,
        int reserved)
{
  uint64_t seq;
  uint8_t *rec;

  pthread_mutex_lock (&j->mu);
  if (reserved)
    j->promised -= JR_HDR + len < j->promised ? JR_HDR + len : j->promised;
  /* Not vector.h: every commit takes the buffer and the next append
   * starts from nothing, so the first allocation is a whole 64 KiB
   * (vector.h's would start at 8 bytes and reallocate a dozen times
   * per flush cycle, under j->mu). */
  if (j->len + JR_HDR + len > j->cap) {
    size_t ncap = j->cap ? j->cap * 2 : 65536;
    uint8_t *nb;
    while (ncap < j->len + JR_HDR + len)
      ncap *= 2;
    nb = realloc (j->buf, ncap);
    if (nb == NULL) {
      pthread_mutex_unlock (&j->mu);
      errno = ENOMEM;
      return 0;
    }
    j->buf = nb;
    j->cap = ncap;
  }
  seq = j->next_seq++;
  rec = j->buf + j->len;
  put_le16 (rec + 4, type);
  put_le16 (rec + 6, len);
  put_le64 (rec + 8, seq);
  memcpy (rec + JR_HDR, payload, len);
  put_le32 (rec, record_crc (j->salt, rec, JR_HDR + len));
  j->len += JR_HDR + len;
  pthread_mutex_unlock (&j->mu);
  return seq;
}

uint64_t
journal_append (struct journal *j, unsigned type, const void *payload,
                size_t len)
{
  return append (j, type, payload, len, 0);
}

uint64_t
journal_append_reserved (struct journal *j, unsigned type,
                         const void *payload, size_t len)
{
  return append (j, type, payload, len, 1);
}

uint64_t
journal_last_seq (struct journal *j)
{
  uint64_t s;

  pthread_mutex_lock (&j->mu);
  s = j->next_seq - 1;
  pthread_mutex_unlock (&j->mu);
  return s;
}

/* Put records taken by a failed commit back in front of the buffer. */
static void
untake (struct journal *j, uint8_t *buf, size_t len)
{
  pthread_mutex_lock (&j->mu);
  j->committing = 0;
  if (j->len == 0) {
    free (j->buf);
    j->buf = buf;
    j->cap = j->len = len;
  }
  else {
    uint8_t *nb = malloc (len + j->len);
    if (nb != NULL) {
      memcpy (nb, buf, len);
      memcpy (nb + len, j->buf, j->len);
      free (j->buf);
      j->buf = nb;
      j->len += len;
      j->cap = j->len;
    }
    /* On ENOMEM the records are lost from memory: the volume is then
     * failed by the caller, which never acknowledges them. */
    free (buf);
  }
  pthread_mutex_unlock (&j->mu);
}

void
journal_take (struct journal *j, struct journal_taken *t)
{
  pthread_mutex_lock (&j->mu);
  t->buf = j->buf;
  t->len = j->len;
  t->last = j->next_seq - 1;
  j->buf = NULL;
  j->len = j->cap = 0;
  j->committing = t->len;
  pthread_mutex_unlock (&j->mu);
}

void
journal_untake (struct journal *j, struct journal_taken *t)
{
  untake (j, t->buf, t->len);
  t->buf = NULL;
  t->len = 0;
}

/* CALL on the records T took failed (errno): give them back, and
 * report the failure naming the file. */
static int
taken_failed (struct journal *j, struct journal_taken *t, const char *call)
{
  int e = errno;
  char path[4096];

  journal_path (path, sizeof path, j->dir, j->number);
  journal_untake (j, t);
  return sv_error (e, "%s: %s: %s", call, path, strerror (e));
}

int
journal_write_taken (struct journal *j, struct journal_taken *t)
{
  if (t->len > 0 &&
      IO (j)->pwrite (j->io->opaque, j->h, t->buf, t->len, j->write_off) !=
      (ssize_t) t->len)
    return taken_failed (j, t, "write");
  return 0;
}

int
journal_sync_taken (struct journal *j, struct journal_taken *t)
{
  if (t->len > 0 && IO (j)->sync (j->io->opaque, j->h) == -1)
    return taken_failed (j, t, "fdatasync");
  return 0;
}

int
journal_publish (struct journal *j, struct journal_taken *t,
                 uint64_t *durable)
{
  char path[4096];

  free (t->buf);
  t->buf = NULL;

  /* Phase 4: the records are durable. */
  pthread_mutex_lock (&j->mu);
  j->write_off += t->len;
  j->committing = 0;
  j->durable_seq = t->last;
  pthread_mutex_unlock (&j->mu);
  *durable = t->last;

  /* Phase 5: mark them acknowledged before anyone is told so: from now
   * on a damaged record before the mark is corruption, never a torn
   * tail.  The mark needs no sync of its own: a kill -9 keeps it, and
   * the next commit's sync carries it to the disk.  If it cannot be
   * written the flush fails (the records are durable all the same) and
   * the next commit writes it again. */
  if (j->mark.end != j->write_off) {
    journal_path (path, sizeof path, j->dir, j->number);
    if (write_mark (j->io, j->h, path, j->salt, &j->mark, j->write_off,
                    j->durable_seq) == -1)
      return -1;
  }
  return 0;
}

int
journal_commit (struct journal *j, int (*sync_data) (void *), void *opaque,
                uint64_t *durable)
{
  struct journal_taken t;

  /* Phase 1: take the buffered records.  Each was appended after the
   * data write it maps had completed. */
  journal_take (j, &t);
  /* Phase 2: make the data durable before any record that maps it. */
  if (sync_data (opaque) == -1) {
    journal_untake (j, &t);
    return -1;
  }
  /* Phase 3: write the records and sync the journal. */
  if (journal_write_taken (j, &t) == -1 || journal_sync_taken (j, &t) == -1)
    return -1;
  return journal_publish (j, &t, durable);
}

int
journal_rotate (struct journal *j, struct journal_old *old,
                uint64_t *last_seq)
{
  struct journal_mark mark;
  char path[4096];
  uint32_t salt;
  int h;

  journal_path (path, sizeof path, j->dir, j->number + 1);
  h = IO (j)->open (j->io->opaque, path, O_RDWR, 0);
  if (h == -1)
    return sv_error (errno, "open: %s: %m", path);
  if (read_header (j, h, path, j->number + 1, &salt, &mark) == -1) {
    IO (j)->close (j->io->opaque, h);
    return -1;
  }

  sv_lock (&j->resv_mu, LOCK_RESV);
  pthread_mutex_lock (&j->mu);
  old->h = j->h;
  old->number = j->number;
  old->salt = j->salt;
  old->write_off = j->write_off;
  old->buf = j->buf;
  old->len = j->len;
  *last_seq = j->next_seq - 1;
  old->last_seq = *last_seq;
  j->buf = NULL;
  j->len = j->cap = 0;
  old->mark = j->mark;
  j->h = h;
  j->number++;
  j->salt = salt;
  j->mark = mark;
  j->write_off = SV_BLOCK;
  /* journal_create_file reserved a chunk (or the filesystem cannot
   * reserve, which no_resv then says). */
  j->resv_end = SV_BLOCK + j->chunk;
  pthread_mutex_unlock (&j->mu);
  sv_unlock (&j->resv_mu, LOCK_RESV);
  return 0;
}

int
journal_flush_old (struct journal *j, struct journal_old *old)
{
  char path[4096];

  if (old->len == 0)
    return 0;
  journal_path (path, sizeof path, j->dir, old->number);
  /* The old records were encoded with the old file's salt. */
  if (IO (j)->pwrite (j->io->opaque, old->h, old->buf, old->len,
                      old->write_off) != (ssize_t) old->len ||
      IO (j)->sync (j->io->opaque, old->h) == -1)
    return sv_error (errno, "write: %s: %m", path);
  old->write_off += old->len;
  /* As a commit's phase 5: the checkpoint's flush acknowledges them. */
  if (write_mark (j->io, old->h, path, old->salt, &old->mark,
                  old->write_off, old->last_seq) == -1)
    return -1;
  free (old->buf);
  old->buf = NULL;
  old->len = 0;
  return 0;
}

void
journal_drop_old (struct journal *j, struct journal_old *old)
{
  IO (j)->close (j->io->opaque, old->h);
  old->h = -1;
  free (old->buf);
  old->buf = NULL;
}

int
journal_remove_old (struct journal *j, uint64_t first)
{
  CLEANUP_FREE uint64_t *nums = NULL;
  char path[4096];
  size_t n = 0, i;
  int removed = 0;

  if (list_journals (j, &nums, &n) == -1)
    return -1;
  /* Every file below FIRST, not only the one a checkpoint replaces: a
   * checkpoint undone by a crash leaves its predecessor behind, and the
   * next checkpoint covers both. */
  for (i = 0; i < n && nums[i] < first; i++) {
    journal_path (path, sizeof path, j->dir, nums[i]);
    if (IO (j)->unlink (j->io->opaque, path) == 0)
      removed++;
  }
  return removed;
}

/* Offline checking and repair
 * ---------------------------
 * journal_check (for check.c) reads a volume's journal files exactly as
 * journal_open does, with the same header, record, checksum, sequence
 * and mark checks, but changes nothing: what recovery would do to a
 * file is reported instead, together with whether that is safe.
 * journal_discard_corrupt runs the same scan and makes the one repair
 * that loses acknowledged records, only when the user asks for it by
 * name (check --repair --discard-after-corruption). */

static int
apply_nothing (void *opaque, unsigned type, const uint8_t *payload,
               size_t len, uint64_t seq)
{
  return 0;
}

/* Report the failure in sv_errmsg() as a problem that must not be left
 * to recovery, with what the user can do. */
static void
report_error (journal_report_fn report, void *ropaque, const char *kind)
{
  char msg[2048];

  snprintf (msg, sizeof msg, "%s; not repairable: %s", sv_errmsg (),
            strcmp (kind, "journal-unreadable") == 0
            ? "check the file's permissions and the disk"
            : "restore the volume's journal files from a backup");
  report (ropaque, kind, 0, msg, NULL);
}

/* The scan shared by journal_check and journal_discard_corrupt. */
struct scan {
  struct journal j;
  const uint64_t *nums;
  size_t n;
  uint64_t first, after_seq, expect;
  journal_apply_fn apply;
  void *opaque;
  journal_report_fn report;
  void *ropaque;
  enum scan_mode {
    SCAN_CHECK,                 /* corruption is not repairable */
    SCAN_DISCARDABLE,           /* a cut at corruption is the repair */
    SCAN_DISCARD,               /* cut there */
  } mode;
};

/* Cut file I (open as H) at RE->end, set its marks there (the last
 * record before it is LAST), sync, and remove every later file.  0, or
 * -1 with a message. */
static int
cut_corrupt (struct scan *sc, size_t i, int h, const char *path,
             uint32_t salt, const struct replay_end *re, uint64_t last)
{
  struct journal_mark mark = { 0, SV_BLOCK, 0 };
  char later[4096];
  size_t k;

  /* Both slots, so that neither still claims the discarded records. */
  if (IO (&sc->j)->truncate (sc->j.io->opaque, h, re->end) == -1)
    return sv_error (errno, "truncate: %s: %m", path);
  if (write_mark (sc->j.io, h, path, salt, &mark, re->end, last) == -1 ||
      write_mark (sc->j.io, h, path, salt, &mark, re->end, last) == -1)
    return -1;
  if (IO (&sc->j)->sync (sc->j.io->opaque, h) == -1)
    return sv_error (errno, "fdatasync: %s: %m", path);
  for (k = i + 1; k < sc->n; k++) {
    journal_path (later, sizeof later, sc->j.dir, sc->nums[k]);
    if (IO (&sc->j)->unlink (sc->j.io->opaque, later) == -1 &&
        errno != ENOENT)
      return sv_error (errno, "unlink: %s: %m", later);
  }
  if (IO (&sc->j)->syncdir (sc->j.io->opaque, sc->j.dir) == -1)
    return sv_error (errno, "fsync: %s: %m", sc->j.dir);
  return 0;
}

/* File I (PATH, open as H) is corrupt at RE->end: the scan's first
 * error is in sv_errmsg().  Report it with what a cut there would
 * discard: as not repairable (SCAN_CHECK: returns -1, the scan stops)
 * or as repaired by that cut (returns 1: what follows is what the cut
 * discards), making the cut in SCAN_DISCARD. */
static int
corrupt_file (struct scan *sc, size_t i, int h, const char *path,
              uint32_t salt, const struct replay_end *re)
{
  char msg[16384], lost[8192], fix[16384];
  uint64_t later_bytes;
  size_t nlater = later_records (&sc->j, sc->nums, sc->n, i, &later_bytes);
  uint64_t last = sc->expect ? sc->expect - 1 : sc->after_seq;

  snprintf (lost, sizeof lost, "the %" PRIu64 " bytes from offset %" PRIu64
            " of %s (the records after record %" PRIu64 ")%s", re->size -
            re->end, re->end, path, last, nlater ? " and later journal"
            " files" : "");
  if (nlater > 0)
    snprintf (lost + strlen (lost), sizeof lost - strlen (lost),
              " (%zu, %" PRIu64 " bytes of records)", nlater, later_bytes);
  if (sc->mode == SCAN_CHECK) {
    snprintf (msg, sizeof msg, "%s; not repairable without loss: restore"
              " the volume's journal files from a backup, or run 'snapvolctl"
              " check --repair --discard-after-corruption' to cut the"
              " journal there, discarding %s", sv_errmsg (), lost);
    sc->report (sc->ropaque, "journal-corrupt", 0, msg, NULL);
    return -1;
  }
  snprintf (msg, sizeof msg, "%s", sv_errmsg ());
  snprintf (fix, sizeof fix, "%s: cut the corrupt journal at offset %"
            PRIu64 " (--discard-after-corruption), discarding %s", path,
            re->end, lost);
  if (sc->mode == SCAN_DISCARD &&
      cut_corrupt (sc, i, h, path, salt, re, last) == -1) {
    report_error (sc->report, sc->ropaque, "journal-unreadable");
    return -1;
  }
  sc->report (sc->ropaque, "journal-corrupt", 1, msg, fix);
  return 1;
}

/* Report the torn tail of PATH that recovery cuts. */
static void
torn_tail (struct scan *sc, const char *path, const struct replay_end *re)
{
  char msg[8192], fix[8192];

  snprintf (msg, sizeof msg, "%s: torn tail: the %" PRIu64 " bytes from"
            " offset %" PRIu64 " begin with %s (a write cut short by a"
            " crash, past the last acknowledged record)", path,
            re->size - re->end, re->end, tail_what[re->why]);
  snprintf (fix, sizeof fix, "%s: cut the torn tail (%" PRIu64 " bytes"
            " from offset %" PRIu64 ")", path, re->size - re->end, re->end);
  sc->report (sc->ropaque, "torn-journal-tail", 1, msg, fix);
}

/* Check file I.  0 to go on, 1 when the scan ends at a corruption
 * that a discard cuts (or cut), -1 when it must stop (reported). */
static int
scan_file (struct scan *sc, size_t i)
{
  char path[4096], msg[8192], fix[8192];
  struct judged f;
  int h, r = 0;

  journal_path (path, sizeof path, sc->j.dir, sc->nums[i]);
  h = IO (&sc->j)->open (sc->j.io->opaque, path,
                         sc->mode == SCAN_DISCARD ? O_RDWR : O_RDONLY, 0);
  if (h == -1) {
    sv_error (errno, "open: %s: %m", path);
    report_error (sc->report, sc->ropaque, "journal-unreadable");
    return -1;
  }
  switch (judge_file (&sc->j, sc->nums, sc->n, i, h, path, sc->after_seq,
                      &sc->expect, sc->apply, sc->opaque,
                      sc->apply != apply_nothing, &f)) {
  case FILE_TORN_HEADER:
    snprintf (msg, sizeof msg, "%s: the last journal file has an"
              " incomplete header and no record (a crash while it was"
              " created)", path);
    snprintf (fix, sizeof fix, "%s: removed (an incomplete journal file"
              " without records)", path);
    sc->report (sc->ropaque, "torn-journal-header", 1, msg, fix);
    break;
  case FILE_FAILED:
    report_error (sc->report, sc->ropaque, f.failed_in);
    r = -1;
    break;
  case FILE_CORRUPT:
    r = corrupt_file (sc, i, h, path, f.salt, &f.re);
    break;
  case FILE_BEHIND_CHECKPOINT:
    snprintf (msg, sizeof msg, "%s: the journal ends at record %" PRIu64
              " but the checkpoint holds records up to %" PRIu64 "; not"
              " repairable: restore the volume's journal files from a"
              " backup", path, sc->expect - 1, sc->after_seq);
    sc->report (sc->ropaque, "journal-sequence", 0, msg, NULL);
    r = -1;
    break;
  case FILE_TORN_TAIL:
    torn_tail (sc, path, &f.re);
    break;
  case FILE_GOOD:
    break;
  }
  IO (&sc->j)->close (sc->j.io->opaque, h);
  return r;
}

static int
scan (const struct sv_io *io, const char *dir, const struct uuid *uuid,
      uint64_t first, uint64_t after_seq, journal_apply_fn apply,
      void *opaque, journal_report_fn report, void *ropaque,
      enum scan_mode mode)
{
  CLEANUP_FREE uint64_t *nums = NULL;
  CLEANUP_FREE char *dircopy = strdup (dir);
  struct scan sc = {
    .j = { .io = io, .uuid = *uuid, .h = -1 },
    .first = first, .after_seq = after_seq, .apply = apply,
    .opaque = opaque, .report = report, .ropaque = ropaque,
    .mode = mode,
  };
  char path[4096], msg[8192], fix[8192];
  size_t i;
  int found = 0, r;

  if (dircopy == NULL) {
    sv_error (ENOMEM, "%s: out of memory", dir);
    report_error (report, ropaque, "journal-unreadable");
    return -1;
  }
  sc.j.dir = dircopy;
  if (apply == NULL) {
    /* Skip every record (none is past the sequence number), but follow
     * the sequence from the first one found. */
    sc.apply = apply_nothing;
    sc.after_seq = UINT64_MAX - 1;
    sc.first = 0;
  }
  if (list_journals (&sc.j, &nums, &sc.n) == -1) {
    report_error (report, ropaque, "journal-unreadable");
    return -1;
  }
  sc.nums = nums;

  for (i = 0; i < sc.n; i++) {
    if (nums[i] < sc.first) {
      journal_path (path, sizeof path, dir, nums[i]);
      snprintf (msg, sizeof msg, "%s: left over from a checkpoint that"
                " finished (the checkpoint replays from journal.%016" PRIx64
                ")", path, sc.first);
      snprintf (fix, sizeof fix, "%s: removed (left over from a finished"
                " checkpoint)", path);
      report (ropaque, "stale-journal", 1, msg, fix);
      continue;
    }
    found = 1;
    r = scan_file (&sc, i);
    if (r != 0)
      return r == 1 ? 0 : -1;
  }

  if (apply != NULL && !found) {
    journal_path (path, sizeof path, dir, first);
    snprintf (msg, sizeof msg, "%s: missing, though the checkpoint names it"
              " as the first journal file to replay (records written after"
              " the checkpoint, if there were any, are lost)", path);
    snprintf (fix, sizeof fix, "%s: created empty", path);
    report (ropaque, "missing-journal", 1, msg, fix);
  }
  return 0;
}

int
journal_check (const struct sv_io *io, const char *dir,
               const struct uuid *uuid, uint64_t first, uint64_t after_seq,
               journal_apply_fn apply, void *opaque,
               journal_report_fn report, void *ropaque, int discardable)
{
  return scan (io, dir, uuid, first, after_seq, apply, opaque, report,
               ropaque, discardable ? SCAN_DISCARDABLE : SCAN_CHECK);
}

int
journal_discard_corrupt (const struct sv_io *io, const char *dir,
                         const struct uuid *uuid, uint64_t first,
                         uint64_t after_seq, journal_report_fn report,
                         void *ropaque)
{
  return scan (io, dir, uuid, first, after_seq, apply_nothing, NULL, report,
               ropaque, SCAN_DISCARD);
}
