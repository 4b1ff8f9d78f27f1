/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ondisk.h: the on-disk format of pools and volumes.
 *
 * Design notes
 * ------------
 * Every metadata structure is made of fixed-width little-endian fields
 * encoded byte by byte (never by casting a struct), starts with a
 * CRC-32C of the rest of the block, carries a magic naming its kind and
 * a format version.  Files written by a newer version are refused, not
 * misread.  docs/design.md has the full picture; in short:
 *
 *   DIR/snapvol.pool                  pool header (one 4 KiB block)
 *   DIR/volumes/NAME/superblock       volume identity (one 4 KiB block)
 *   DIR/volumes/NAME/data             clusters, sparse; cluster p at p * cluster_size
 *   DIR/volumes/NAME/checkpoint       a full image of the extent map and snapshots
 *   DIR/volumes/NAME/journal.N        records after the checkpoint (N: 16 hex digits)
 */

#ifndef SNAPVOL_ONDISK_H
#define SNAPVOL_ONDISK_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Version 2: checksums bind each block to its location; journal files
 * carry durable marks (below).  Version 3: snapshot holds (journal
 * records SNAP_HOLD and SNAP_RELEASE, a hold section in checkpoints).
 * Version 4: reverts.  Version 5: clones (the superblock's origin
 * fields, below; versions of generation 0 in a clone's map).
 * Blocks of versions SV_FORMAT_OLDEST to SV_FORMAT_VERSION are read: a
 * version 2 checkpoint is a volume without holds; every block written
 * is sealed with SV_FORMAT_VERSION. */
#define SV_FORMAT_VERSION 5
#define SV_FORMAT_OLDEST 2
#define SV_BLOCK 4096
#define SV_SECTOR 512

#define SV_MAGIC_POOL  "SNAPVOLP"
#define SV_MAGIC_SUPER "SNAPVOLS"
#define SV_MAGIC_CKPT  "SNAPVOLC"
#define SV_MAGIC_JRNL  "SNAPVOLJ"
#define SV_MAGIC_MARK  "SNAPVOLM"
#define SV_MAGIC_POLICY "SNAPVOLY"

/* Common block header: a CRC-32C of the block's location (le64: its
 * byte offset in its file) followed by bytes [4, len) of the block,
 * then magic, version, and the block's kind-specific fields.  Sealed
 * and checked by ondisk_seal and ondisk_check only. */
#define OFF_CRC      0
#define OFF_MAGIC    8
#define OFF_VERSION  16

/* Pool header fields. */
#define POOL_OFF_CLUSTER  20      /* le32 default cluster size */
#define POOL_OFF_UUID     24      /* 16 bytes */

/* Volume superblock fields. */
#define SB_OFF_CLUSTER    20      /* le32 */
#define SB_OFF_SIZE       24      /* le64 */
#define SB_OFF_UUID       32      /* 16 */
#define SB_OFF_CREATED    48      /* le64 */
#define SB_OFF_NAMELEN    56      /* le32 */
#define SB_OFF_NAME       64      /* up to 64 bytes */
/* Version 5: a clone names its origin (docs/design.md, "Clones"); not
 * read before (a volume that is no clone). */
#define SB_OFF_FLAGS      128     /* le32: SB_CLONE, SB_FLATTENED */
#define SB_OFF_ORIGEN     132     /* le32: the origin snapshot's generation */
#define SB_OFF_ORIVOL     136     /* 16: the origin volume's uuid */
#define SB_OFF_ORISNAP    152     /* 16: the origin snapshot's id */
#define SB_OFF_ORINAMELEN 168     /* le32 */
#define SB_OFF_ORINAME    172     /* up to 64 bytes */
#define SB_CLONE          1u      /* reads through to the origin */
#define SB_FLATTENED      2u      /* was a clone: generation 0 may be mapped */

/* Checkpoint header fields (body follows at SV_BLOCK). */
#define CK_OFF_UUID       20      /* 16: the volume's uuid */
#define CK_OFF_LASTSEQ    40      /* le64: last journal record included */
#define CK_OFF_JFIRST     48      /* le64: first journal file to replay */
#define CK_OFF_LIVEGEN    56      /* le32 */
#define CK_OFF_NSNAPS     60      /* le32 */
#define CK_OFF_NENTRIES   64      /* le64 */
#define CK_OFF_BODYLEN    72      /* le64 */
#define CK_OFF_BODYCRC    80      /* le32 */
#define CK_OFF_NHOLDS     84      /* le32: holds (version 3; 0 before) */
#define CK_OFF_NREVERTS   88      /* le32: reverts (version 4; 0 before) */
#define CK_REVERT_LEN     8       /* le32 gen, le32 parent */

/* Journal file header: the header proper in its first sector (the
 * checksum covers [4, JH_LEN)), then two mark slots, one a sector
 * (JM_OFF_SLOT0 and JM_OFF_SLOT0 + JM_LEN); records follow at SV_BLOCK. */
#define JH_LEN            SV_SECTOR
#define JH_OFF_UUID       20      /* 16: the volume's uuid */
#define JH_OFF_NUMBER     40      /* le64: N in journal.N */
#define JH_OFF_SALT       48      /* le32: seeds every record's crc */

/* Journal mark: written after each commit's fdatasync returned, it says
 * that the records before END were acknowledged, so that replay can
 * tell a damaged record (before END: corruption) from a write cut short
 * by a crash (at or after END: a torn tail).  Two slots, written in
 * turn, so that a mark torn by a power cut leaves the other one.  Its
 * location is its offset; the file's salt ties it to this file. */
#define JM_OFF_SLOT0      SV_SECTOR
#define JM_LEN            SV_SECTOR
#define JM_OFF_SALT       20      /* le32: the file's salt */
#define JM_OFF_COUNT      24      /* le64: marks written to this file */
#define JM_OFF_END        32      /* le64: records before this offset were
                                   * acknowledged */
#define JM_OFF_SEQ        40      /* le64: the last of them (0: none) */

/* Journal record: le32 crc (salted, over [4, 16 + len)), le16 type,
 * le16 payload length, le64 sequence number, payload. */
#define JR_HDR 16
enum jr_type {
  JR_ENTRY_PUT = 1,     /* le64 vci, le32 gen, le32 phys, le64 alloc, le64 zero */
  JR_ENTRY_DROP = 2,    /* le64 vci, le32 gen, le32 zero */
  JR_SNAP_CREATE = 3,   /* snapshot record, below */
  JR_SNAP_DELETE = 4,   /* 16 bytes: snapshot id */
  JR_SNAP_HOLD = 5,     /* 16 id, le64 expiry, le16 tag length, tag */
  JR_SNAP_RELEASE = 6,  /* 16 id, le16 tag length, tag */
  JR_REVERT = 7,        /* le32 new live gen, le32 parent gen (version 4) */
};
#define JR_ENTRY_PUT_LEN  32
#define JR_ENTRY_DROP_LEN 16
#define JR_REVERT_LEN 8

/* Snapshot record (journal payload and checkpoint body): 16 id, 16 set
 * id, le32 gen, le32 label length, le64 created, le64 size, label. */
#define SNAP_REC_FIXED 56

/* Hold: at most SV_HOLDS_MAX per snapshot, tags of 1 to SV_TAG_MAX
 * bytes.  A checkpoint's hold section (after the map entries) holds
 * SNAP_HOLD payloads, CK_OFF_NHOLDS of them. */
#define HOLD_REC_FIXED 26       /* SNAP_HOLD: 16 + 8 + 2, then the tag */
#define RELEASE_REC_FIXED 18    /* SNAP_RELEASE: 16 + 2, then the tag */

/* Checkpoint entry: le64 vci, le32 gen, le32 phys, le64 alloc, le64 zero. */
#define CK_ENTRY_LEN 32

#define PHYS_NONE UINT32_MAX

/* Policy file (DIR/policy): a header of POLICY_HDR bytes, then
 * POLICY_OFF_COUNT entries of POLICY_ENTRY_LEN bytes whose CRC-32C is
 * at POLICY_OFF_BODYCRC.  It has a version of its own (POLICY_VERSION,
 * read from POLICY_OLDEST), independent of the volumes' format: the
 * file is written whole, and nothing else refers to it. */
#define POLICY_VERSION 1
#define POLICY_OLDEST 1
#define POLICY_HDR 512
#define POLICY_OFF_COUNT   20     /* le32: entries */
#define POLICY_OFF_BODYCRC 24     /* le32 */
#define POLICY_ENTRY_LEN 128
#define POLICY_MAX_ENTRIES 65536
/* Entry: le16 name length (0: the pool's default), name (64 bytes),
 * then the rules. */
#define PE_OFF_NAMELEN      0
#define PE_OFF_NAME         2
#define PE_OFF_KEEP_LAST    66    /* le32 */
#define PE_OFF_KEEP_YOUNGER 70    /* le64, seconds */
#define PE_OFF_KEEP_DAILY   78    /* le32 */
#define PE_OFF_KEEP_WEEKLY  82    /* le32 */
#define PE_OFF_LIMIT        86    /* le64, bytes; 0: none */
#define PE_OFF_RESERVE      94    /* le64, bytes; 0: none */
#define PE_OFF_ON_FULL      102   /* u8: 0 fail, 1 delete-oldest */

/* A kind of metadata block: its magic, what messages call it, how
 * many bytes its checksum covers, and the versions it is written with
 * and read from (0, 0: SV_FORMAT_VERSION, read from SV_FORMAT_OLDEST:
 * the volume format's). */
struct ondisk_kind {
  const char *magic;
  const char *what;
  size_t len;
  uint32_t version, oldest;
};
extern const struct ondisk_kind ondisk_pool, ondisk_super, ondisk_ckpt,
  ondisk_jrnl, ondisk_mark, ondisk_policy;

/* The checksum of BLK as a block of KIND at location LOC (what
 * ondisk_seal stores at OFF_CRC). */
extern uint32_t ondisk_checksum (const uint8_t *blk,
                                 const struct ondisk_kind *kind,
                                 uint64_t loc)
  __attribute__((nonnull));

/* Set BLK's magic and version for KIND and seal it with its checksum,
 * for location LOC (the byte offset where it will be written). */
extern void ondisk_seal (uint8_t *blk, const struct ondisk_kind *kind,
                         uint64_t loc)
  __attribute__((nonnull));

/* Check a block of KIND that a pread of PATH at LOC returned GOT bytes
 * of (-1: the read failed, errno set): length, magic, checksum and
 * version, in that order.  0, or -1 with an sv_error message naming
 * PATH and what is wrong: EILSEQ for a short block, a bad magic or a
 * checksum mismatch, EPROTONOSUPPORT for a version this snapvol does
 * not read, the read's errno for a failed read.  The kind-specific
 * fields are the caller's to check. */
extern int ondisk_check (const uint8_t *blk, ssize_t got,
                         const struct ondisk_kind *kind, uint64_t loc,
                         const char *path)
  __attribute__((nonnull));

/* Is CS a valid cluster size (a power of two, SV_CLUSTER_MIN to
 * SV_CLUSTER_MAX)? */
extern int ondisk_cluster_size_ok (uint32_t cs);

/* Check the pool header BLK read from PATH (ondisk_check, then its
 * fields) and decode its UUID and default cluster size.  0, or -1 with
 * an sv_error message as ondisk_check's. */
extern int ondisk_pool_decode (const uint8_t *blk, ssize_t got,
                               const char *path, uint8_t uuid[16],
                               uint32_t *cluster_size)
  __attribute__((nonnull));

static inline void
put_le16 (uint8_t *p, uint16_t v)
{
  p[0] = v; p[1] = v >> 8;
}

static inline void
put_le32 (uint8_t *p, uint32_t v)
{
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static inline void
put_le64 (uint8_t *p, uint64_t v)
{
  put_le32 (p, (uint32_t) v);
  put_le32 (p + 4, (uint32_t) (v >> 32));
}

static inline uint16_t
get_le16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | p[1] << 8);
}

static inline uint32_t
get_le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 |
    (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t
get_le64 (const uint8_t *p)
{
  return (uint64_t) get_le32 (p) | (uint64_t) get_le32 (p + 4) << 32;
}

#endif /* SNAPVOL_ONDISK_H */
