/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * policyfile.c: DIR/policy, the pool's policies on disk (layer 3).
 *
 * Design notes
 * ------------
 * The file is small and rewritten whole: a header block of POLICY_HDR
 * bytes (ondisk_policy: checksum of its location and bytes, magic
 * "SNAPVOLY", version POLICY_VERSION, the entry count and the body's
 * CRC-32C), then the entries (ondisk.h).  It is written as the pool
 * header is: to DIR/policy.tmp, fdatasync, rename over DIR/policy,
 * fsync DIR.  A reader checks the header with ondisk_check (length,
 * magic, checksum, version), then the body's checksum, then every
 * entry, and refuses the whole file on the first fault: the pool does
 * not open with a policy it cannot read (deleting the file, which
 * means "no policy", is the operator's decision, not ours).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "errmsg.h"
#include "ondisk.h"
#include "policyfile.h"
#include "proto.h"

#define IO(io) ((io)->ops)

void
policy_table_free (struct policy_table *t)
{
  free (t->v);
  t->v = NULL;
  t->n = 0;
}

static void
encode_entry (const struct policy_entry *e, uint8_t *p)
{
  size_t len = strlen (e->volume);

  memset (p, 0, POLICY_ENTRY_LEN);
  put_le16 (p + PE_OFF_NAMELEN, (uint16_t) len);
  memcpy (p + PE_OFF_NAME, e->volume, len);
  put_le32 (p + PE_OFF_KEEP_LAST, e->p.retention.keep_last);
  put_le64 (p + PE_OFF_KEEP_YOUNGER, e->p.retention.keep_younger);
  put_le32 (p + PE_OFF_KEEP_DAILY, e->p.retention.keep_daily);
  put_le32 (p + PE_OFF_KEEP_WEEKLY, e->p.retention.keep_weekly);
  put_le64 (p + PE_OFF_LIMIT, e->p.space_limit);
  put_le64 (p + PE_OFF_RESERVE, e->p.space_reserve);
  p[PE_OFF_ON_FULL] = (uint8_t) e->p.on_full;
}

/* Decode entry I at P; 0, or -1 with EILSEQ naming PATH and I. */
static int
decode_entry (const uint8_t *p, size_t i, const char *path,
              const struct policy_entry *prev, struct policy_entry *e)
{
  size_t len = get_le16 (p + PE_OFF_NAMELEN);
  char why[256];

  memset (e, 0, sizeof *e);
  if (len > SV_NAME_MAX)
    return sv_error (EILSEQ, "%s: entry %zu: name length %zu is over %d",
                     path, i, len, SV_NAME_MAX);
  memcpy (e->volume, p + PE_OFF_NAME, len);
  if ((i == 0) != (len == 0))
    return sv_error (EILSEQ, "%s: entry %zu: %s", path, i, i == 0
                     ? "the first entry is not the pool's default"
                     : "a second pool default");
  if (i > 0 && proto_check_name ("volume name", e->volume, false, why,
                                 sizeof why) == -1)
    return sv_error (EILSEQ, "%s: entry %zu: %s", path, i, why);
  if (i > 1 && strcmp (prev->volume, e->volume) >= 0)
    return sv_error (EILSEQ, "%s: entry %zu: volume %s is out of order or "
                     "repeated", path, i, e->volume);
  e->p.retention.keep_last = get_le32 (p + PE_OFF_KEEP_LAST);
  e->p.retention.keep_younger = get_le64 (p + PE_OFF_KEEP_YOUNGER);
  e->p.retention.keep_daily = get_le32 (p + PE_OFF_KEEP_DAILY);
  e->p.retention.keep_weekly = get_le32 (p + PE_OFF_KEEP_WEEKLY);
  e->p.space_limit = get_le64 (p + PE_OFF_LIMIT);
  e->p.space_reserve = get_le64 (p + PE_OFF_RESERVE);
  if (p[PE_OFF_ON_FULL] > SV_ON_FULL_DELETE_OLDEST)
    return sv_error (EILSEQ, "%s: entry %zu: unknown space action %u", path,
                     i, p[PE_OFF_ON_FULL]);
  e->p.on_full = p[PE_OFF_ON_FULL];
  if (i > 0 && (e->p.space_limit || e->p.space_reserve || e->p.on_full))
    return sv_error (EILSEQ, "%s: entry %zu: volume %s has a space policy "
                     "(space is per pool)", path, i, e->volume);
  return 0;
}

int
policyfile_load (const struct sv_io *io, const char *dir,
                 struct policy_table *t)
{
  char path[4096];
  uint8_t hdr[POLICY_HDR], *body = NULL;
  uint32_t count;
  size_t blen, i;
  ssize_t got;
  int h, e;

  t->v = calloc (1, sizeof *t->v);
  t->n = 1;
  if (t->v == NULL)
    return sv_error (ENOMEM, "out of memory");
  snprintf (path, sizeof path, "%s/policy", dir);
  h = IO (io)->open (io->opaque, path, O_RDONLY, 0);
  if (h == -1 && errno == ENOENT)
    return 0;
  if (h == -1) {
    sv_error (errno, "open: %s: %m", path);
    goto err;
  }
  got = IO (io)->pread (io->opaque, h, hdr, sizeof hdr, 0);
  if (ondisk_check (hdr, got, &ondisk_policy, 0, path) == -1)
    goto err_close;
  count = get_le32 (hdr + POLICY_OFF_COUNT);
  if (count == 0 || count > POLICY_MAX_ENTRIES) {
    sv_error (EILSEQ, "%s: %" PRIu32 " entries (1 to %d)", path, count,
              POLICY_MAX_ENTRIES);
    goto err_close;
  }
  blen = (size_t) count * POLICY_ENTRY_LEN;
  body = malloc (blen);
  free (t->v);
  t->v = calloc (count, sizeof *t->v);
  if (body == NULL || t->v == NULL) {
    sv_error (ENOMEM, "out of memory");
    goto err_close;
  }
  got = IO (io)->pread (io->opaque, h, body, blen, POLICY_HDR);
  if (got == -1) {
    sv_error (errno, "read: %s: %m", path);
    goto err_close;
  }
  if ((size_t) got != blen) {
    sv_error (EILSEQ, "%s: policy file is short (%zd of %zu bytes of "
              "entries)", path, got, blen);
    goto err_close;
  }
  if (IO (io)->pread (io->opaque, h, hdr, 1, POLICY_HDR + blen) != 0) {
    sv_error (EILSEQ, "%s: policy file has bytes after its %" PRIu32
              " entries", path, count);
    goto err_close;
  }
  if (crc32c (0, body, blen) != get_le32 (hdr + POLICY_OFF_BODYCRC)) {
    sv_error (EILSEQ, "%s: policy entries checksum mismatch", path);
    goto err_close;
  }
  for (i = 0; i < count; i++)
    if (decode_entry (body + i * POLICY_ENTRY_LEN, i, path,
                      i ? &t->v[i - 1] : NULL, &t->v[i]) == -1)
      goto err_close;
  t->n = count;
  IO (io)->close (io->opaque, h);
  free (body);
  return 0;

 err_close:
  e = errno;
  IO (io)->close (io->opaque, h);
  errno = e;
 err:
  e = errno;
  free (body);
  policy_table_free (t);
  errno = e;
  return -1;
}

int
policyfile_store (const struct sv_io *io, const char *dir,
                  const struct policy_table *t)
{
  char path[4096], tmp[4096];
  size_t blen = t->n * POLICY_ENTRY_LEN, i;
  uint8_t *buf = calloc (1, POLICY_HDR + blen);
  int h, e;

  if (buf == NULL)
    return sv_error (ENOMEM, "out of memory");
  for (i = 0; i < t->n; i++)
    encode_entry (&t->v[i], buf + POLICY_HDR + i * POLICY_ENTRY_LEN);
  put_le32 (buf + POLICY_OFF_COUNT, (uint32_t) t->n);
  put_le32 (buf + POLICY_OFF_BODYCRC, crc32c (0, buf + POLICY_HDR, blen));
  ondisk_seal (buf, &ondisk_policy, 0);

  snprintf (path, sizeof path, "%s/policy", dir);
  snprintf (tmp, sizeof tmp, "%s/policy.tmp", dir);
  h = IO (io)->open (io->opaque, tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (h == -1) {
    e = errno;
    free (buf);
    return sv_error (e, "create: %s: %m", tmp);
  }
  if (IO (io)->pwrite (io->opaque, h, buf, POLICY_HDR + blen, 0)
      != (ssize_t) (POLICY_HDR + blen) ||
      IO (io)->sync (io->opaque, h) == -1) {
    e = errno ? errno : EIO;
    IO (io)->close (io->opaque, h);
    IO (io)->unlink (io->opaque, tmp);
    free (buf);
    return sv_error (e, "write: %s: %m", tmp);
  }
  free (buf);
  IO (io)->close (io->opaque, h);
  if (IO (io)->rename (io->opaque, tmp, path) == -1) {
    e = errno;
    IO (io)->unlink (io->opaque, tmp);
    return sv_error (e, "rename: %s to %s: %m", tmp, path);
  }
  if (IO (io)->syncdir (io->opaque, dir) == -1)
    return sv_error (errno, "fsync: %s: %m", dir);
  return 0;
}
