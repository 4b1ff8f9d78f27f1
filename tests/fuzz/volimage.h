/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * volimage.h: the pool images that fuzz-journal and fuzz-checkpoint
 * feed to the engine, how a fuzz input describes one, and the checks
 * run on the engine once it has opened (or refused) the image.
 *
 * An image is a pool in memory (memio.h) holding one volume, "vol",
 * whose pool header, superblock, journal headers and data file are
 * built here, valid and deterministic (fixed UUID, fixed journal salt),
 * and whose checkpoint and journal records come from the input.
 *
 * Input layout (both targets; docs/fuzzing.md has the full story):
 *
 *   0   flags (VI_* below)
 *   1   split: index of the first record that goes in the second
 *       journal file (with VI_SPLIT)
 *   2   op[0], 3  op[1]: offsets used by VI_EXERCISE
 *   4   le16: length of the first part
 *   6   S (last record included) of the built-in checkpoint
 *   7   live generation of the built-in checkpoint (0 counts as 1)
 *   8   first part, then the second part (the rest of the input)
 *
 * fuzz-journal's first part is the checkpoint and its second the
 * records, so that the records are what mutations mostly reach;
 * fuzz-checkpoint has them the other way round.  An empty checkpoint
 * part means the built-in one: no snapshot, no mapping, journal file 1.
 * A checkpoint part holds the header's first VI_CKPT_HEAD bytes (the
 * rest of the 4096-byte header is zero) followed by the body.
 *
 * Unless VI_VERBATIM is set, the harness repairs what a mutation
 * almost always breaks and the engine checks first: every record's
 * checksum, the checkpoint's volume UUID, body checksum and header
 * checksum.  Mutations then reach the decoders and the replay logic
 * instead of dying at a checksum.
 */

#ifndef SNAPVOL_VOLIMAGE_H
#define SNAPVOL_VOLIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "memio.h"

#define VI_POOL      "/pool"
#define VI_VOLUME    "vol"
#define VI_VOLDIR    VI_POOL "/volumes/" VI_VOLUME

#define VI_CONTROL   8          /* bytes before the first part */
#define VI_CKPT_HEAD 88         /* checkpoint header bytes an input carries */
#define VI_PART_MAX  65535      /* the first part's length is a le16 */

/* Flags. */
#define VI_CLUSTER    0x03      /* cluster size: 64 KiB, 4 KiB, 16 KiB, 1 MiB */
#define VI_VERBATIM   0x04      /* keep checksums and UUID as given */
#define VI_SPLIT      0x08      /* records over journal files F and F+1 */
#define VI_STALE      0x10      /* add journal F-1, covered by the checkpoint */
#define VI_TORN_NEXT  0x20      /* add a last journal file with a torn header */
#define VI_EXERCISE   0x40      /* write, zero, trim, pin and delete after open */
#define VI_CKPT_SHORT 0x80      /* the checkpoint file is only the header part */

enum vi_layout {
  VI_CKPT_FIRST,                /* fuzz-journal */
  VI_RECORDS_FIRST,             /* fuzz-checkpoint */
};

struct vimage {
  uint8_t flags;
  uint8_t split;
  uint8_t op[2];
  uint8_t last_seq, live_gen;   /* the built-in checkpoint */
  const uint8_t *ckpt;          /* NULL or empty: the built-in checkpoint */
  size_t ckpt_len;
  const uint8_t *records;
  size_t records_len;
};

/* Decode a fuzz input (DATA is borrowed by IM).  -1 if it is too short
 * to describe an image. */
extern int vimage_parse (struct vimage *im, const uint8_t *data, size_t len,
                         enum vi_layout layout)
  __attribute__((nonnull));
/* Encode IM as a fuzz input: a malloc'd buffer of *LEN bytes.  NULL
 * with EINVAL if the first part is longer than VI_PART_MAX. */
extern uint8_t *vimage_encode (const struct vimage *im, enum vi_layout layout,
                               size_t *len)
  __attribute__((nonnull));

extern uint32_t vimage_cluster_size (const struct vimage *im)
  __attribute__((nonnull));

/* Build the pool IM describes in a new in-memory filesystem.  Aborts
 * if that fails (a harness bug, not an engine one). */
extern struct memfs *vimage_build (const struct vimage *im)
  __attribute__((nonnull));

/* Build IM, open it with the engine, read every export, optionally
 * exercise it, close it, open it again and compare.  Returns 0 if the
 * engine opened the pool, -1 if it refused it.  Aborts, naming the
 * broken rule on stderr, when the engine breaks one:
 *   - a refusal comes with errno EILSEQ or EPROTONOSUPPORT (or a
 *     resource error) and a message, and leaves no file open;
 *   - every export reads completely, its extents tile it, and what
 *     they call zero reads as zeroes;
 *   - the volume and snapshot lists agree with each other;
 *   - pool_close leaves no file open, and after a successful close the
 *     pool opens again and reads back exactly as before. */
extern int vimage_check (const struct vimage *im)
  __attribute__((nonnull));

#endif /* SNAPVOL_VOLIMAGE_H */
