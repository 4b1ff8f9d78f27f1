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

#include "check.h"
#include "cleanup.h"
#include "crc32c.h"
#include "errmsg.h"
#include "journal.h"
#include "ondisk.h"
#include "pool.h"

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
journal_create_file (const struct sv_io *io, const char *dir,
                     const struct uuid *uuid, uint64_t number,
                     uint64_t reserve)
{
  char path[4096];
  uint8_t hdr[SV_BLOCK];
  struct uuid rnd;
  int h;

  journal_path (path, sizeof path, dir, number);
  memset (hdr, 0, sizeof hdr);
  memcpy (hdr + OFF_MAGIC, SV_MAGIC_JRNL, 8);
  put_le32 (hdr + OFF_VERSION, SV_FORMAT_VERSION);
  memcpy (hdr + JH_OFF_UUID, uuid->b, 16);
  put_le64 (hdr + JH_OFF_NUMBER, number);
  if (uuid_generate (&rnd) == -1)
    return sv_error (errno, "getrandom: %m");
  memcpy (hdr + JH_OFF_SALT, rnd.b, 4);
  put_le32 (hdr + OFF_CRC, crc32c (0, hdr + 4, SV_BLOCK - 4));

  h = io->ops->open (io->opaque, path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (h == -1)
    return sv_error (errno, "open: %s: %m", path);
  if (io->ops->pwrite (io->opaque, h, hdr, SV_BLOCK, 0) != SV_BLOCK) {
    int e = errno;
    io->ops->close (io->opaque, h);
    return sv_error (e, "write: %s: %m", path);
  }
  /* The file's first records have their space before anyone can
   * append: a checkpoint that cannot get it fails here, before it
   * rotates, and the journal it would have replaced goes on. */
  if (reserve > 0 && allocate (io, h, SV_BLOCK, reserve) == -1 &&
      errno != EOPNOTSUPP) {
    int e = errno;
    io->ops->close (io->opaque, h);
    io->ops->unlink (io->opaque, path);
    return sv_error (e, "reserve %" PRIu64 " bytes: %s: %m", reserve, path);
  }
  if (io->ops->sync (io->opaque, h) == -1) {
    int e = errno;
    io->ops->close (io->opaque, h);
    return sv_error (e, "fdatasync: %s: %m", path);
  }
  io->ops->close (io->opaque, h);
  if (io->ops->syncdir (io->opaque, dir) == -1)
    return sv_error (errno, "fsync: %s: %m", dir);
  return 0;
}

/* Read and check a journal header.  Returns 0, or -1 with a message. */
static int
read_header (struct journal *j, int h, const char *path, uint64_t number,
             uint32_t *salt)
{
  uint8_t hdr[SV_BLOCK];
  ssize_t r = IO (j)->pread (j->io->opaque, h, hdr, SV_BLOCK, 0);

  if (r == -1)
    return sv_error (errno, "read: %s: %m", path);
  if (r != SV_BLOCK)
    return sv_error (EILSEQ, "%s: journal header is short (%zd bytes)", path, r);
  if (memcmp (hdr + OFF_MAGIC, SV_MAGIC_JRNL, 8) != 0)
    return sv_error (EILSEQ, "%s: not a snapvol journal (bad magic)", path);
  if (get_le32 (hdr + OFF_CRC) != crc32c (0, hdr + 4, SV_BLOCK - 4))
    return sv_error (EILSEQ, "%s: journal header checksum mismatch", path);
  if (get_le32 (hdr + OFF_VERSION) > SV_FORMAT_VERSION)
    return sv_error (EPROTONOSUPPORT,
                     "%s: journal format version %" PRIu32
                     " is newer than this snapvol supports (%d)",
                     path, get_le32 (hdr + OFF_VERSION), SV_FORMAT_VERSION);
  if (memcmp (hdr + JH_OFF_UUID, j->uuid.b, 16) != 0)
    return sv_error (EILSEQ, "%s: journal belongs to another volume", path);
  if (get_le64 (hdr + JH_OFF_NUMBER) != number)
    return sv_error (EILSEQ, "%s: journal header names file %" PRIu64,
                     path, get_le64 (hdr + JH_OFF_NUMBER));
  *salt = get_le32 (hdr + JH_OFF_SALT);
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

/* Replay one file.  *END receives the offset after the last good
 * record; *TORN is set when something follows it. */
static int
replay_file (struct journal *j, int h, const char *path, uint32_t salt,
             uint64_t after_seq, uint64_t *expect, journal_apply_fn apply,
             void *opaque, uint64_t *end, int *torn)
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
  *torn = 0;

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
    if (have - pos < JR_HDR)
      break;
    type = get_le16 (buf + pos + 4);
    len = get_le16 (buf + pos + 6);
    seq = get_le64 (buf + pos + 8);
    if (have - pos < (size_t) JR_HDR + len)
      break;
    if (get_le32 (buf + pos) != record_crc (salt, buf + pos, JR_HDR + len))
      break;
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
  }
  *end = off;
  *torn = off < size;
  return 0;
}

/* Does any of the journal files NUMS hold a record (anything past its
 * header)?  Errors count as "yes": the caller then reports corruption. */
static int
later_files_have_records (struct journal *j, const uint64_t *nums, size_t n)
{
  char path[4096];
  uint64_t size;
  size_t i;
  int h, r;

  for (i = 0; i < n; i++) {
    journal_path (path, sizeof path, j->dir, nums[i]);
    h = IO (j)->open (j->io->opaque, path, O_RDONLY, 0);
    if (h == -1)
      return 1;
    r = IO (j)->size (j->io->opaque, h, &size);
    IO (j)->close (j->io->opaque, h);
    if (r == -1 || size > SV_BLOCK)
      return 1;
  }
  return 0;
}

int
journal_open (struct journal *j, const struct sv_io *io, const char *dir,
              const struct uuid *uuid, uint64_t first, uint64_t after_seq,
              uint64_t chunk, journal_apply_fn apply, void *opaque,
              uint64_t *torn_bytes)
{
  CLEANUP_FREE uint64_t *nums = NULL;
  size_t n = 0, i;
  uint64_t expect = after_seq + 1, last_number = first;
  char path[4096];
  int h = -1;

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

  if (list_journals (j, &nums, &n) == -1)
    goto err;

  /* Records at or before the checkpoint may be absent (their file was
   * deleted after the checkpoint); the first record found must then
   * follow the checkpoint directly or be covered by it. */
  expect = 0;
  for (i = 0; i < n; i++) {
    uint64_t end = SV_BLOCK, size;
    uint32_t salt;
    int torn;

    journal_path (path, sizeof path, dir, nums[i]);
    if (nums[i] < first)
      /* Covered by the checkpoint.  Removed by journal_remove_old, and
       * only once the caller has made the checkpoint's name durable:
       * until then a power loss can bring back the checkpoint that
       * still needs this file. */
      continue;
    h = IO (j)->open (io->opaque, path, O_RDWR, 0);
    if (h == -1) {
      sv_error (errno, "open: %s: %m", path);
      goto err;
    }
    if (read_header (j, h, path, nums[i], &salt) == -1) {
      /* A header torn while the file was being created (the last file,
       * empty): drop the file.  Anything else is corruption. */
      if (i == n - 1 && errno == EILSEQ &&
          IO (j)->size (io->opaque, h, &size) == 0 && size <= SV_BLOCK) {
        IO (j)->close (io->opaque, h);
        h = -1;
        IO (j)->unlink (io->opaque, path);
        *torn_bytes += size;
        continue;
      }
      goto err;
    }
    if (replay_file (j, h, path, salt, after_seq, &expect, apply, opaque,
                     &end, &torn) == -1)
      goto err;
    if (expect != 0 && expect <= after_seq) {
      sv_error (EILSEQ, "%s: journal ends at record %" PRIu64
                " but the checkpoint holds records up to %" PRIu64,
                path, expect - 1, after_seq);
      goto err;
    }
    if (torn) {
      if (IO (j)->size (io->opaque, h, &size) == -1) {
        sv_error (errno, "stat: %s: %m", path);
        goto err;
      }
      /* A torn tail is legitimate in the last file, or in the file
       * before an empty one (a crash while a checkpoint was writing the
       * old file's last records): later files then hold no record. */
      if (i != n - 1 && later_files_have_records (j, nums + i + 1,
                                                  n - i - 1)) {
        sv_error (EILSEQ, "%s: bad record at offset %" PRIu64
                  " in a journal file followed by more records", path, end);
        goto err;
      }
      /* Cut the torn tail so that later appends never sit in front of
       * stale bytes. */
      if (IO (j)->truncate (io->opaque, h, end) == -1 ||
          IO (j)->sync (io->opaque, h) == -1) {
        sv_error (errno, "truncate: %s: %m", path);
        goto err;
      }
      *torn_bytes += size - end;
    }
    else if (IO (j)->sync (io->opaque, h) == -1) {
      /* What was replayed may sit in the page cache only (a kill -9
       * before the commit's fdatasync): recovery builds on it, so it
       * must be on the disk before anything is destroyed. */
      sv_error (errno, "fdatasync: %s: %m", path);
      goto err;
    }
    if (j->h != -1)
      IO (j)->close (io->opaque, j->h);
    j->h = h;
    h = -1;
    j->number = nums[i];
    j->salt = salt;
    j->write_off = end;
    last_number = nums[i];
  }

  if (expect == 0)
    expect = after_seq + 1;
  else if (expect <= after_seq)
    expect = after_seq + 1;
  j->next_seq = expect;
  j->durable_seq = expect - 1;

  if (j->h == -1) {
    uint32_t salt;
    if (journal_create_file (io, dir, uuid, last_number, 0) == -1)
      goto err;
    journal_path (path, sizeof path, dir, last_number);
    j->h = IO (j)->open (io->opaque, path, O_RDWR, 0);
    if (j->h == -1) {
      sv_error (errno, "open: %s: %m", path);
      goto err;
    }
    if (read_header (j, j->h, path, last_number, &salt) == -1)
      goto err;
    j->number = last_number;
    j->salt = salt;
    j->write_off = SV_BLOCK;
  }
  /* What lies past the end of the records, reserved or not, is
   * unknown: count nothing as reserved. */
  j->resv_end = j->write_off;
  return 0;

 err:
  if (h != -1)
    IO (j)->close (io->opaque, h);
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
  pthread_mutex_lock (&j->resv_mu);
  for (tries = 0; ; tries++) {
    pthread_mutex_lock (&j->mu);
    if (space_fits (j, n, who)) {
      j->promised += n;
      pthread_mutex_unlock (&j->mu);
      pthread_mutex_unlock (&j->resv_mu);
      return 0;
    }
    from = j->resv_end;
    to = j->write_off + j->committing + j->len + j->promised + n +
      j->headroom + j->chunk;
    to = (to + SV_BLOCK - 1) / SV_BLOCK * SV_BLOCK;
    h = j->h;
    pthread_mutex_unlock (&j->mu);
    if (tries == 4) {
      pthread_mutex_unlock (&j->resv_mu);
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
      pthread_mutex_unlock (&j->resv_mu);
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

int
journal_commit (struct journal *j, int (*sync_data) (void *), void *opaque,
                uint64_t *durable)
{
  uint8_t *buf;
  size_t len;
  uint64_t last;
  char path[4096];

  /* Phase 1: take the buffered records.  Each was appended after the
   * data write it maps had completed. */
  pthread_mutex_lock (&j->mu);
  buf = j->buf;
  len = j->len;
  last = j->next_seq - 1;
  j->buf = NULL;
  j->len = j->cap = 0;
  j->committing = len;
  pthread_mutex_unlock (&j->mu);

  /* Phase 2: make the data durable before any record that maps it. */
  if (sync_data (opaque) == -1) {
    untake (j, buf, len);
    return -1;
  }

  /* Phase 3: write the records and sync the journal. */
  if (len > 0) {
    journal_path (path, sizeof path, j->dir, j->number);
    if (IO (j)->pwrite (j->io->opaque, j->h, buf, len, j->write_off) !=
        (ssize_t) len) {
      int e = errno;
      untake (j, buf, len);
      return sv_error (e, "write: %s: %m", path);
    }
    if (IO (j)->sync (j->io->opaque, j->h) == -1) {
      int e = errno;
      untake (j, buf, len);
      return sv_error (e, "fdatasync: %s: %m", path);
    }
  }
  free (buf);

  /* Phase 4: the records are durable. */
  pthread_mutex_lock (&j->mu);
  j->write_off += len;
  j->committing = 0;
  j->durable_seq = last;
  pthread_mutex_unlock (&j->mu);
  *durable = last;
  return 0;
}

int
journal_rotate (struct journal *j, struct journal_old *old,
                uint64_t *last_seq)
{
  char path[4096];
  uint32_t salt;
  int h;

  journal_path (path, sizeof path, j->dir, j->number + 1);
  h = IO (j)->open (j->io->opaque, path, O_RDWR, 0);
  if (h == -1)
    return sv_error (errno, "open: %s: %m", path);
  if (read_header (j, h, path, j->number + 1, &salt) == -1) {
    IO (j)->close (j->io->opaque, h);
    return -1;
  }

  pthread_mutex_lock (&j->resv_mu);
  pthread_mutex_lock (&j->mu);
  old->h = j->h;
  old->number = j->number;
  old->salt = j->salt;
  old->write_off = j->write_off;
  old->buf = j->buf;
  old->len = j->len;
  *last_seq = j->next_seq - 1;
  j->buf = NULL;
  j->len = j->cap = 0;
  j->h = h;
  j->number++;
  j->salt = salt;
  j->write_off = SV_BLOCK;
  /* journal_create_file reserved a chunk (or the filesystem cannot
   * reserve, which no_resv then says). */
  j->resv_end = SV_BLOCK + j->chunk;
  pthread_mutex_unlock (&j->mu);
  pthread_mutex_unlock (&j->resv_mu);
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

/* Offline checking
 * ----------------
 * journal_check (for check.c) reads a volume's journal files exactly as
 * journal_open does, with the same header, record, checksum and
 * sequence checks, but changes nothing: what recovery would do to a
 * file is reported instead, together with whether that is safe. */

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

enum tail_kind { TAIL_SHORT, TAIL_CHECKSUM, TAIL_SEQUENCE };

/* Why the bytes from END to SIZE are not the next record: cut short,
 * failing the checksum, or a good record out of sequence (*SEQ then
 * receives its number).  -1 with a message if they cannot be read. */
static int
classify_tail (struct journal *j, int h, const char *path, uint32_t salt,
               uint64_t end, uint64_t size, uint64_t *seq)
{
  uint8_t hdr[JR_HDR];
  CLEANUP_FREE uint8_t *rec = NULL;
  uint16_t len;

  if (size - end < JR_HDR)
    return TAIL_SHORT;
  if (IO (j)->pread (j->io->opaque, h, hdr, JR_HDR, end) != JR_HDR)
    return sv_error (errno, "read: %s: %m", path);
  len = get_le16 (hdr + 6);
  if (size - end < (uint64_t) JR_HDR + len)
    return TAIL_SHORT;
  if ((rec = malloc (JR_HDR + len)) == NULL)
    return sv_error (ENOMEM, "%s: out of memory", path);
  if (IO (j)->pread (j->io->opaque, h, rec, JR_HDR + len, end) !=
      (ssize_t) JR_HDR + len)
    return sv_error (errno, "read: %s: %m", path);
  if (get_le32 (rec) != record_crc (salt, rec, JR_HDR + len))
    return TAIL_CHECKSUM;
  *seq = get_le64 (rec + 8);
  return TAIL_SEQUENCE;
}

/* Report what follows the last good record of PATH (the last journal
 * file with records).  Returns 0 for a torn tail that recovery cuts
 * safely, -1 otherwise (reported). */
static int
check_tail (struct journal *j, int h, const char *path, uint32_t salt,
            uint64_t end, uint64_t expect, journal_report_fn report,
            void *ropaque)
{
  static const char *const why[] = {
    [TAIL_SHORT] = "an incomplete record",
    [TAIL_CHECKSUM] = "a record that fails its checksum",
  };
  char msg[8192], fix[8192];
  uint64_t size, seq = 0;
  int kind;

  if (IO (j)->size (j->io->opaque, h, &size) == -1) {
    sv_error (errno, "stat: %s: %m", path);
    report_error (report, ropaque, "journal-unreadable");
    return -1;
  }
  kind = classify_tail (j, h, path, salt, end, size, &seq);
  if (kind == -1) {
    report_error (report, ropaque, "journal-unreadable");
    return -1;
  }
  if (kind == TAIL_SEQUENCE) {
    /* Records are written in sequence and every file has its own salt:
     * a good record out of place is not a torn write. */
    snprintf (msg, sizeof msg, "%s: the record at offset %" PRIu64 " is"
              " record %" PRIu64 " but record %" PRIu64 " was expected (a"
              " journal file is missing or was replaced); opening the pool"
              " would discard the %" PRIu64 " bytes from there; not"
              " repairable: restore the volume's journal files from a"
              " backup", path, end, seq, expect, size - end);
    report (ropaque, "journal-sequence", 0, msg, NULL);
    return -1;
  }
  snprintf (msg, sizeof msg, "%s: torn tail: the %" PRIu64 " bytes from"
            " offset %" PRIu64 " begin with %s (a write cut short by a"
            " crash; nothing after it was acknowledged)", path, size - end,
            end, why[kind]);
  snprintf (fix, sizeof fix, "%s: cut the torn tail (%" PRIu64 " bytes"
            " from offset %" PRIu64 ")", path, size - end, end);
  report (ropaque, "torn-journal-tail", 1, msg, fix);
  return 0;
}

int
journal_check (const struct sv_io *io, const char *dir,
               const struct uuid *uuid, uint64_t first, uint64_t after_seq,
               journal_apply_fn apply, void *opaque,
               journal_report_fn report, void *ropaque)
{
  struct journal j = { .io = io, .uuid = *uuid, .h = -1 };
  CLEANUP_FREE uint64_t *nums = NULL;
  CLEANUP_FREE char *dircopy = strdup (dir);
  char path[4096], msg[8192], fix[8192];
  uint64_t expect = 0;
  size_t n = 0, i;
  int known = apply != NULL, found = 0, r = 0;

  if (dircopy == NULL) {
    sv_error (ENOMEM, "%s: out of memory", dir);
    report_error (report, ropaque, "journal-unreadable");
    return -1;
  }
  j.dir = dircopy;
  if (!known) {
    /* Skip every record (none is past the sequence number), but follow
     * the sequence from the first one found. */
    apply = apply_nothing;
    after_seq = UINT64_MAX - 1;
    first = 0;
  }
  if (list_journals (&j, &nums, &n) == -1) {
    report_error (report, ropaque, "journal-unreadable");
    return -1;
  }

  for (i = 0; i < n && r == 0; i++) {
    uint64_t end = SV_BLOCK, size;
    uint32_t salt;
    int h, torn;

    journal_path (path, sizeof path, dir, nums[i]);
    if (nums[i] < first) {
      snprintf (msg, sizeof msg, "%s: left over from a checkpoint that"
                " finished (the checkpoint replays from journal.%016" PRIx64
                ")", path, first);
      snprintf (fix, sizeof fix, "%s: removed (left over from a finished"
                " checkpoint)", path);
      report (ropaque, "stale-journal", 1, msg, fix);
      continue;
    }
    found = 1;
    h = IO (&j)->open (io->opaque, path, O_RDONLY, 0);
    if (h == -1) {
      sv_error (errno, "open: %s: %m", path);
      report_error (report, ropaque, "journal-unreadable");
      r = -1;
      break;
    }
    if (read_header (&j, h, path, nums[i], &salt) == -1) {
      if (i == n - 1 && errno == EILSEQ &&
          IO (&j)->size (io->opaque, h, &size) == 0 && size <= SV_BLOCK) {
        snprintf (msg, sizeof msg, "%s: the last journal file has an"
                  " incomplete header and no record (a crash while it was"
                  " created)", path);
        snprintf (fix, sizeof fix, "%s: removed (an incomplete journal file"
                  " without records)", path);
        report (ropaque, "torn-journal-header", 1, msg, fix);
      }
      else {
        report_error (report, ropaque, "journal-header");
        r = -1;
      }
      IO (&j)->close (io->opaque, h);
      continue;
    }
    if (replay_file (&j, h, path, salt, after_seq, &expect, apply, opaque,
                     &end, &torn) == -1) {
      report_error (report, ropaque, "journal-record");
      r = -1;
    }
    else if (known && expect != 0 && expect <= after_seq) {
      snprintf (msg, sizeof msg, "%s: the journal ends at record %" PRIu64
                " but the checkpoint holds records up to %" PRIu64 "; not"
                " repairable: restore the volume's journal files from a"
                " backup", path, expect - 1, after_seq);
      report (ropaque, "journal-sequence", 0, msg, NULL);
      r = -1;
    }
    else if (torn && i != n - 1 &&
             later_files_have_records (&j, nums + i + 1, n - i - 1)) {
      snprintf (msg, sizeof msg, "%s: bad record at offset %" PRIu64 " in a"
                " journal file followed by more records; not repairable:"
                " restore the volume's journal files from a backup", path,
                end);
      report (ropaque, "journal-corrupt", 0, msg, NULL);
      r = -1;
    }
    else if (torn)
      r = check_tail (&j, h, path, salt, end, expect ? expect : after_seq + 1,
                      report, ropaque);
    IO (&j)->close (io->opaque, h);
  }

  if (r == 0 && known && !found) {
    journal_path (path, sizeof path, dir, first);
    snprintf (msg, sizeof msg, "%s: missing, though the checkpoint names it"
              " as the first journal file to replay (records written after"
              " the checkpoint, if there were any, are lost)", path);
    snprintf (fix, sizeof fix, "%s: created empty", path);
    report (ropaque, "missing-journal", 1, msg, fix);
  }
  return r;
}
