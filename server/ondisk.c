/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ondisk.c: the one validator and sealer of every metadata block, used
 * by the engine's readers and writers and by the offline checker, so
 * that the two can never disagree on what a valid block is.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "crc32c.h"
#include "errmsg.h"
#include "ondisk.h"
#include "pool.h"

const struct ondisk_kind ondisk_pool = { SV_MAGIC_POOL, "pool header", SV_BLOCK, 0, 0 };
const struct ondisk_kind ondisk_super = { SV_MAGIC_SUPER, "superblock", SV_BLOCK, 0, 0 };
const struct ondisk_kind ondisk_ckpt = { SV_MAGIC_CKPT, "checkpoint header", SV_BLOCK, 0, 0 };
const struct ondisk_kind ondisk_jrnl = { SV_MAGIC_JRNL, "journal header", JH_LEN, 0, 0 };
const struct ondisk_kind ondisk_mark = { SV_MAGIC_MARK, "journal mark", JM_LEN, 0, 0 };
const struct ondisk_kind ondisk_policy = { SV_MAGIC_POLICY, "policy file",
                                           POLICY_HDR, POLICY_VERSION,
                                           POLICY_OLDEST };

/* The version KIND is written with, and the oldest one read. */
static uint32_t
kind_version (const struct ondisk_kind *kind)
{
  return kind->version ? kind->version : SV_FORMAT_VERSION;
}

static uint32_t
kind_oldest (const struct ondisk_kind *kind)
{
  return kind->oldest ? kind->oldest : SV_FORMAT_OLDEST;
}

/* The checksum binds the block to where it belongs: a block written to
 * the wrong place fails it as surely as a damaged one. */
uint32_t
ondisk_checksum (const uint8_t *blk, const struct ondisk_kind *kind,
                 uint64_t loc)
{
  uint8_t l[8];

  put_le64 (l, loc);
  return crc32c (crc32c (0, l, sizeof l), blk + 4, kind->len - 4);
}

void
ondisk_seal (uint8_t *blk, const struct ondisk_kind *kind, uint64_t loc)
{
  memcpy (blk + OFF_MAGIC, kind->magic, 8);
  put_le32 (blk + OFF_VERSION, kind_version (kind));
  put_le32 (blk + OFF_CRC, ondisk_checksum (blk, kind, loc));
}

int
ondisk_check (const uint8_t *blk, ssize_t got, const struct ondisk_kind *kind,
              uint64_t loc, const char *path)
{
  uint32_t ver;

  if (got == -1)
    return sv_error (errno, "read: %s: %m", path);
  if ((size_t) got < kind->len)
    return sv_error (EILSEQ, "%s: %s is short (%zd of %zu bytes)",
                     path, kind->what, got, kind->len);
  if (memcmp (blk + OFF_MAGIC, kind->magic, 8) != 0)
    return sv_error (EILSEQ, "%s: not a snapvol %s (bad magic)",
                     path, kind->what);
  if (get_le32 (blk + OFF_CRC) != ondisk_checksum (blk, kind, loc))
    return sv_error (EILSEQ, "%s: %s checksum mismatch", path, kind->what);
  ver = get_le32 (blk + OFF_VERSION);
  if (ver > kind_version (kind))
    return sv_error (EPROTONOSUPPORT, "%s: %s format version %" PRIu32
                     " is newer than this snapvol supports (%" PRIu32
                     "); upgrade snapvol", path, kind->what, ver,
                     kind_version (kind));
  if (ver < kind_oldest (kind))
    return sv_error (EPROTONOSUPPORT, "%s: %s format version %" PRIu32
                     " is older than this snapvol reads (%" PRIu32 "); serve"
                     " or copy the pool with the snapvol that made it", path,
                     kind->what, ver, kind_oldest (kind));
  return 0;
}

int
ondisk_cluster_size_ok (uint32_t cs)
{
  return cs >= SV_CLUSTER_MIN && cs <= SV_CLUSTER_MAX && (cs & (cs - 1)) == 0;
}

int
ondisk_pool_decode (const uint8_t *blk, ssize_t got, const char *path,
                    uint8_t uuid[16], uint32_t *cluster_size)
{
  uint32_t cs;

  if (ondisk_check (blk, got, &ondisk_pool, 0, path) == -1)
    return -1;
  cs = get_le32 (blk + POOL_OFF_CLUSTER);
  if (!ondisk_cluster_size_ok (cs))
    return sv_error (EILSEQ, "%s: pool header has an invalid default cluster"
                     " size %" PRIu32, path, cs);
  memcpy (uuid, blk + POOL_OFF_UUID, 16);
  *cluster_size = cs;
  return 0;
}
