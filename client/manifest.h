/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * manifest.h: the manifest beside a backup file (IMAGE.snapvol.json)
 * and its block digests (IMAGE.snapvol.sums): what the image holds,
 * whether it is complete, and where an interrupted backup stopped.
 *
 * The manifest is replaced atomically (a temporary file, fsync,
 * rename, fsync of the directory), so a crash leaves the old one or
 * the new one.  Its members are described in docs/backup.md.
 */

#ifndef SNAPVOL_MANIFEST_H
#define SNAPVOL_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#define MANIFEST_SUFFIX ".snapvol.json"
#define SUMS_SUFFIX     ".snapvol.sums"
#define MANIFEST_FORMAT 1

struct manifest {
  bool complete;                /* "state": "complete" / "in-progress" */
  char volume[2 * 64 + 2];      /* the source volume's name (or
                                 * PROVIDER/VOLUME), */
  char volume_uuid[40];         /* and identity */
  char snapshot[40];            /* the snapshot the image holds (or is
                                 * being brought to) */
  char set_id[40];
  uint64_t generation;
  uint64_t size;                /* bytes of the image */
  char since[40];               /* in progress: the base ("" = full) */
  uint64_t resume_offset;       /* in progress: done below this */
  int64_t time;                 /* Unix seconds of the last update */
  char sha256[65];              /* complete: hex, see docs/backup.md */
  uint64_t image_size;          /* complete: the file's size and */
  int64_t image_mtime_ns;       /*   mtime when the manifest was written */
};

/* Read the manifest at PATH into M.  0; 1 if there is none (ENOENT);
 * -1 with a message in ERR if it cannot be read or is not one. */
extern int manifest_read (const char *path, struct manifest *m, char *err,
                          size_t errlen)
  __attribute__((nonnull));

/* Replace the manifest at PATH by M, atomically and durably.  0, or -1
 * with a message in ERR. */
extern int manifest_write (const char *path, const struct manifest *m,
                           char *err, size_t errlen)
  __attribute__((nonnull));

/* Replace the file at PATH by the JSON value J (indented), atomically
 * and durably, as manifest_write does (the set manifest of snapvolctl
 * set backup uses it too).  0, or -1 with a message in ERR. */
extern int manifest_write_json (const char *path, json_t *j, char *err,
                                size_t errlen)
  __attribute__((nonnull));

/* The image hash of a digest table (COPY_DIGEST bytes per block) of
 * NBLOCKS blocks: SHA-256 over the digests in order, as lower-case hex
 * into OUT. */
extern void manifest_image_hash (const unsigned char *sums, uint64_t nblocks,
                                 char out[65])
  __attribute__((nonnull));

#endif /* SNAPVOL_MANIFEST_H */
