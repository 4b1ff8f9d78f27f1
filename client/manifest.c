/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * manifest.c: the manifest beside a backup file (see manifest.h).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "copy.h"
#include "manifest.h"

static void
copy_member (json_t *obj, const char *key, char *out, size_t len)
{
  const char *s = json_string_value (json_object_get (obj, key));

  snprintf (out, len, "%s", s ? s : "");
}

int
manifest_read (const char *path, struct manifest *m, char *err, size_t errlen)
{
  json_error_t jerr;
  json_t *j, *v;
  const char *state;

  memset (m, 0, sizeof *m);
  j = json_load_file (path, 0, &jerr);
  if (j == NULL) {
    if (access (path, F_OK) == -1 && errno == ENOENT)
      return 1;
    snprintf (err, errlen, "cannot read the manifest %s: %s", path, jerr.text);
    return -1;
  }
  state = json_string_value (json_object_get (j, "state"));
  v = json_object_get (j, "format");
  if (!json_is_integer (v) || json_integer_value (v) != MANIFEST_FORMAT ||
      state == NULL || !json_is_string (json_object_get (j, "volume_uuid")) ||
      !json_is_string (json_object_get (j, "snapshot")) ||
      !json_is_integer (json_object_get (j, "size"))) {
    snprintf (err, errlen, "%s is not a snapvol backup manifest of format %d",
              path, MANIFEST_FORMAT);
    json_decref (j);
    return -1;
  }
  m->complete = strcmp (state, "complete") == 0;
  copy_member (j, "volume", m->volume, sizeof m->volume);
  copy_member (j, "volume_uuid", m->volume_uuid, sizeof m->volume_uuid);
  copy_member (j, "snapshot", m->snapshot, sizeof m->snapshot);
  copy_member (j, "set_id", m->set_id, sizeof m->set_id);
  copy_member (j, "since", m->since, sizeof m->since);
  copy_member (j, "sha256", m->sha256, sizeof m->sha256);
  m->generation = json_integer_value (json_object_get (j, "generation"));
  m->size = json_integer_value (json_object_get (j, "size"));
  m->resume_offset = json_integer_value (json_object_get (j, "resume_offset"));
  m->time = json_integer_value (json_object_get (j, "time"));
  m->image_size = json_integer_value (json_object_get (j, "image_size"));
  m->image_mtime_ns = json_integer_value (json_object_get (j,
                                                           "image_mtime_ns"));
  json_decref (j);
  return 0;
}

static json_t *
manifest_json (const struct manifest *m)
{
#define STR_OR_NULL(s) ((s)[0] ? json_string (s) : json_null ())
  if (m->complete)
    return json_pack ("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o,"
                      " s:i, s:I, s:I}",
                      "format", MANIFEST_FORMAT,
                      "state", "complete",
                      "volume", m->volume,
                      "volume_uuid", m->volume_uuid,
                      "snapshot", m->snapshot,
                      "set_id", m->set_id,
                      "generation", (json_int_t) m->generation,
                      "size", (json_int_t) m->size,
                      "time", (json_int_t) m->time,
                      "sha256", STR_OR_NULL (m->sha256),
                      "sha256_block_size", COPY_BLOCK,
                      "image_size", (json_int_t) m->image_size,
                      "image_mtime_ns", (json_int_t) m->image_mtime_ns);
  return json_pack ("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o,"
                    " s:I}",
                    "format", MANIFEST_FORMAT,
                    "state", "in-progress",
                    "volume", m->volume,
                    "volume_uuid", m->volume_uuid,
                    "snapshot", m->snapshot,
                    "set_id", m->set_id,
                    "generation", (json_int_t) m->generation,
                    "size", (json_int_t) m->size,
                    "time", (json_int_t) m->time,
                    "since", STR_OR_NULL (m->since),
                    "resume_offset", (json_int_t) m->resume_offset);
#undef STR_OR_NULL
}

/* fsync the directory holding PATH, so a rename in it is durable. */
static int
sync_dir (const char *path, char *err, size_t errlen)
{
  char *copy = strdup (path);
  const char *dir;
  int fd, r = -1;

  if (copy == NULL) {
    snprintf (err, errlen, "out of memory");
    return -1;
  }
  dir = dirname (copy);
  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || fsync (fd) == -1)
    snprintf (err, errlen, "fsync: %s: %s", dir, strerror (errno));
  else
    r = 0;
  if (fd != -1)
    close (fd);
  free (copy);
  return r;
}

int
manifest_write (const char *path, const struct manifest *m, char *err,
                size_t errlen)
{
  json_t *j = manifest_json (m);
  int r;

  if (j == NULL) {
    snprintf (err, errlen, "cannot build the manifest: out of memory");
    return -1;
  }
  r = manifest_write_json (path, j, err, errlen);
  json_decref (j);
  return r;
}

int
manifest_write_json (const char *path, json_t *j, char *err, size_t errlen)
{
  char tmp[4200];
  char *text;
  size_t len;
  int fd;

  text = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  if (text == NULL) {
    snprintf (err, errlen, "cannot build the manifest: out of memory");
    return -1;
  }
  len = strlen (text);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1 || write (fd, text, len) != (ssize_t) len ||
      write (fd, "\n", 1) != 1 || fsync (fd) == -1) {
    snprintf (err, errlen, "cannot write %s: %s", tmp, strerror (errno));
    goto err;
  }
  if (close (fd) == -1) {
    fd = -1;
    snprintf (err, errlen, "close: %s: %s", tmp, strerror (errno));
    goto err;
  }
  fd = -1;
  if (rename (tmp, path) == -1) {
    snprintf (err, errlen, "rename %s to %s: %s", tmp, path, strerror (errno));
    goto err;
  }
  free (text);
  return sync_dir (path, err, errlen);

 err:
  if (fd != -1)
    close (fd);
  unlink (tmp);
  free (text);
  return -1;
}

void
manifest_image_hash (const unsigned char *sums, uint64_t nblocks,
                     char out[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0, i;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  uint64_t done = 0;

  out[0] = '\0';
  if (ctx == NULL || EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL) != 1)
    goto out;
  while (done < nblocks) {
    uint64_t n = nblocks - done > (1u << 20) ? (1u << 20) : nblocks - done;

    if (EVP_DigestUpdate (ctx, sums + done * COPY_DIGEST,
                          n * COPY_DIGEST) != 1)
      goto out;
    done += n;
  }
  if (EVP_DigestFinal_ex (ctx, md, &mdlen) != 1)
    goto out;
  for (i = 0; i < mdlen && i < 32; i++)
    snprintf (out + 2 * i, 3, "%02x", md[i]);
 out:
  EVP_MD_CTX_free (ctx);
}
