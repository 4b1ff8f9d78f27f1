/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ckpt.c: checkpoints: a full image of a volume's extent map and
 * snapshots, so that recovery replays only a short journal.
 *
 * Layer (docs/design.md's map; tests/test-engine-calls-go-down.sh):
 * volopen.c > ckpt.c > snap.c > volume.c > punch.c, snapidx.c: calls
 * snap.c (the snapshot record), volume.c (gate, flush cycle) and
 * punch.c, never volopen.c.
 *
 * Design notes: the checkpoint protocol (volume_checkpoint)
 * ---------------------------------------------------------
 * Runs as the volume's flush cycle (no other flush interleaves) with
 * admin_mu held (no snapshot deletion or reclaim); a pin, which does not
 * take admin_mu, is ordered against it by snap_lock.
 *   1. Create journal.N+1 (header written, its first chunk of space
 *      reserved, synced, directory synced).  Without space this fails
 *      here, before anything moved: journal.N goes on, within its own
 *      reservation, and a later flush tries the checkpoint again.
 *   2. Hold the write gate (drains writes; in-memory work only while
 *      held): rotate appends to journal.N+1, note S = the last record
 *      buffered for journal.N, copy the map and snapshots into a
 *      buffer; release the gate.
 *   3. fdatasync the data file: everything the image maps is durable.
 *      Write the records still buffered for journal.N and sync it.
 *   4. Write checkpoint.new (header + body, checksummed), fdatasync,
 *      rename it over checkpoint, fsync the directory.
 *   5. Delete every journal file below N+1 (journal.N, and any older
 *      one that a checkpoint undone by a crash left), fsync the
 *      directory.
 * A crash before 4 completes leaves the old checkpoint and journals
 * N and N+1, which replay to the same state; after 4, the files below
 * N+1 are skipped (their numbers are below the checkpoint's first
 * file) and removed at the next open.  Nothing is deleted before the
 * directory sync of 4: until then a power loss can bring back the old
 * checkpoint, which needs journal.N.
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
#include "ondisk.h"
#include "pool-internal.h"
#include "vector.h"
#include "volume.h"
#include "lockorder.h"

#define IO(v) ((v)->io->ops)

struct growbuf {
  uint8_t *p;
  size_t len, cap;
};

static uint8_t *
gb_reserve (struct growbuf *b, size_t n)
{
  if (n > b->cap - b->len) {
    uint8_t *np = vector_grow (b->p, b->len, &b->cap, n, 1);
    if (np == NULL)
      return NULL;
    b->p = np;
  }
  b->len += n;
  return b->p + b->len - n;
}

static void
fill_header (uint8_t *hdr, const struct uuid *uuid, uint64_t last_seq,
             uint64_t jfirst, uint32_t live_gen, uint32_t nsnaps,
             uint64_t nentries, uint32_t nholds, uint32_t nreverts,
             const uint8_t *body, uint64_t bodylen)
{
  memset (hdr, 0, SV_BLOCK);
  memcpy (hdr + CK_OFF_UUID, uuid->b, 16);
  put_le64 (hdr + CK_OFF_LASTSEQ, last_seq);
  put_le64 (hdr + CK_OFF_JFIRST, jfirst);
  put_le32 (hdr + CK_OFF_LIVEGEN, live_gen);
  put_le32 (hdr + CK_OFF_NSNAPS, nsnaps);
  put_le64 (hdr + CK_OFF_NENTRIES, nentries);
  put_le64 (hdr + CK_OFF_BODYLEN, bodylen);
  put_le32 (hdr + CK_OFF_BODYCRC, crc32c (0, body, bodylen));
  put_le32 (hdr + CK_OFF_NHOLDS, nholds);
  put_le32 (hdr + CK_OFF_NREVERTS, nreverts);
  ondisk_seal (hdr, &ondisk_ckpt, 0);
}

/* Write DIR/checkpoint.new, sync, rename to DIR/checkpoint, sync DIR. */
static int
write_checkpoint_file (const struct sv_io *io, const char *dir,
                       const uint8_t *hdr, const uint8_t *body,
                       uint64_t bodylen)
{
  char tmp[4096], path[4096];
  int h;

  snprintf (tmp, sizeof tmp, "%s/checkpoint.new", dir);
  snprintf (path, sizeof path, "%s/checkpoint", dir);
  h = io->ops->open (io->opaque, tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (h == -1)
    return sv_error (errno, "open: %s: %m", tmp);
  if (io->ops->pwrite (io->opaque, h, hdr, SV_BLOCK, 0) != SV_BLOCK ||
      (bodylen > 0 &&
       io->ops->pwrite (io->opaque, h, body, bodylen, SV_BLOCK) !=
       (ssize_t) bodylen) ||
      io->ops->sync (io->opaque, h) == -1) {
    int e = errno;
    io->ops->close (io->opaque, h);
    io->ops->unlink (io->opaque, tmp);
    return sv_error (e, "write: %s: %m", tmp);
  }
  io->ops->close (io->opaque, h);
  if (io->ops->rename (io->opaque, tmp, path) == -1)
    return sv_error (errno, "rename: %s: %m", path);
  if (io->ops->syncdir (io->opaque, dir) == -1)
    return sv_error (errno, "fsync: %s: %m", dir);
  return 0;
}

int
volume_write_empty_checkpoint (const struct sv_io *io, int h,
                               const char *path, const struct uuid *uuid)
{
  uint8_t hdr[SV_BLOCK];

  fill_header (hdr, uuid, 0, 1, 1, 0, 0, 0, 0, NULL, 0);
  if (io->ops->pwrite (io->opaque, h, hdr, SV_BLOCK, 0) != SV_BLOCK)
    return sv_error (errno, "write: %s: %m", path);
  return 0;
}

/* One hold of a checkpoint's hold section: the same rules as its
 * journal record's replay.  Returns its length, or -1. */
static ssize_t
load_hold (struct volume *v, const uint8_t *p, size_t len)
{
  struct snap_hold h;
  struct uuid id;
  ssize_t n = hold_decode (v, JR_SNAP_HOLD, p, len, &id, &h);

  if (n == -1 || hold_apply (v, JR_SNAP_HOLD, p, n) == -1)
    return -1;
  return n;
}

/* A checkpoint file read into memory: its header's counts and its
 * body (volume_load_checkpoint's first step). */
struct ckpt_in {
  char path[4096];
  uint8_t hdr[SV_BLOCK];
  uint8_t *body;                /* NULL when BODYLEN is 0 */
  uint64_t bodylen, nentries;
  uint32_t nsnaps, nholds, nreverts;
};

/* The header's counts into C, checked against each other and the
 * file's SIZE.  V->live_gen is set from it. */
static int
ckpt_counts (struct volume *v, struct ckpt_in *c, uint64_t size)
{
  const uint8_t *hdr = c->hdr;

  v->live_gen = get_le32 (hdr + CK_OFF_LIVEGEN);
  c->nsnaps = get_le32 (hdr + CK_OFF_NSNAPS);
  c->nentries = get_le64 (hdr + CK_OFF_NENTRIES);
  c->bodylen = get_le64 (hdr + CK_OFF_BODYLEN);
  /* Version 2 had no holds, version 3 no reverts (ondisk.h). */
  c->nholds = get_le32 (hdr + OFF_VERSION) >= 3
    ? get_le32 (hdr + CK_OFF_NHOLDS) : 0;
  c->nreverts = get_le32 (hdr + OFF_VERSION) >= 4
    ? get_le32 (hdr + CK_OFF_NREVERTS) : 0;
  if (size < SV_BLOCK || size - SV_BLOCK < c->bodylen ||
      c->nentries > c->bodylen / CK_ENTRY_LEN ||
      (uint64_t) c->nsnaps > c->bodylen / SNAP_REC_FIXED ||
      (uint64_t) c->nholds > c->bodylen / HOLD_REC_FIXED ||
      (uint64_t) c->nreverts > c->bodylen / CK_REVERT_LEN ||
      v->live_gen == 0 || v->live_gen == UINT32_MAX)
    return sv_error (EILSEQ, "volume %s: checkpoint %s is truncated or its"
                     " header is inconsistent", v->name, c->path);
  return 0;
}

/* Read the header and body of V's checkpoint from the open file H
 * into C, every check of the file as a whole done. */
static int
ckpt_read_open (struct volume *v, int h, struct ckpt_in *c)
{
  uint64_t size;
  ssize_t r = IO (v)->pread (v->io->opaque, h, c->hdr, SV_BLOCK, 0);

  if (ondisk_check (c->hdr, r, &ondisk_ckpt, 0, c->path) == -1) {
    sv_error_prefix ("volume %s", v->name);
    return -1;
  }
  if (memcmp (c->hdr + CK_OFF_UUID, v->uuid.b, 16) != 0)
    return sv_error (EILSEQ, "volume %s: checkpoint belongs to another volume",
                     v->name);
  if (IO (v)->size (v->io->opaque, h, &size) == -1)
    size = 0;                   /* reported as a truncated file */
  if (ckpt_counts (v, c, size) == -1)
    return -1;
  if (c->bodylen == 0)
    return 0;
  c->body = malloc (c->bodylen);
  if (c->body == NULL)
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  r = IO (v)->pread (v->io->opaque, h, c->body, c->bodylen, SV_BLOCK);
  if (r != (ssize_t) c->bodylen)
    return sv_error (r == -1 ? errno : EILSEQ,
                     "volume %s: cannot read checkpoint %s", v->name,
                     c->path);
  return 0;
}

static int
ckpt_read (struct volume *v, struct ckpt_in *c)
{
  int h, r;

  snprintf (c->path, sizeof c->path, "%s/checkpoint", v->dir);
  h = IO (v)->open (v->io->opaque, c->path, O_RDONLY, 0);
  if (h == -1)
    return sv_error (errno, "volume %s: open %s: %m", v->name, c->path);
  r = ckpt_read_open (v, h, c);
  IO (v)->close (v->io->opaque, h);
  if (r == -1)
    return -1;
  if (get_le32 (c->hdr + CK_OFF_BODYCRC) != crc32c (0, c->body, c->bodylen))
    return sv_error (EILSEQ, "volume %s: checkpoint %s checksum mismatch",
                     v->name, c->path);
  return 0;
}

/* The revert section, which ends the body: replayed in order from
 * generation 1, as the journal made them, each checked as its record
 * would be.  C->bodylen then ends before it. */
static int
load_reverts (struct volume *v, struct ckpt_in *c)
{
  uint32_t live_gen = v->live_gen, prev = 1;
  uint64_t roff, i;

  if ((uint64_t) c->nreverts * CK_REVERT_LEN > c->bodylen)
    return sv_error (EILSEQ, "volume %s: checkpoint %s is truncated or its"
                     " header is inconsistent", v->name, c->path);
  /* By offset: an empty checkpoint has no body at all (NULL). */
  roff = c->bodylen - (uint64_t) c->nreverts * CK_REVERT_LEN;
  for (i = 0; i < c->nreverts; i++, roff += CK_REVERT_LEN) {
    uint32_t g = get_le32 (c->body + roff);
    uint32_t parent = get_le32 (c->body + roff + 4);
    /* Generations between two reverts were snapshots' (or the live
     * volume's): the one before this revert was live. */
    if (g <= prev || g > live_gen)
      return sv_error (EILSEQ, "volume %s: checkpoint %s: revert %"
                       PRIu64 " of %" PRIu32 " makes generation %" PRIu32
                       ", out of order or past the live one %" PRIu32,
                       v->name, c->path, i, c->nreverts, g, live_gen);
    v->live_gen = g - 1;
    if (volume_revert_add (v, g, parent) == -1)
      return -1;
    prev = g;
  }
  v->live_gen = live_gen;
  c->bodylen -= (uint64_t) c->nreverts * CK_REVERT_LEN;
  return 0;
}

/* The snapshot records at *POS. */
static int
load_snaps (struct volume *v, const struct ckpt_in *c, uint64_t *pos)
{
  uint32_t i;

  for (i = 0; i < c->nsnaps; i++) {
    struct snap s;
    ssize_t n = volume_decode_snap (v, c->body + *pos, c->bodylen - *pos,
                                    &s);
    if (n == -1)
      return -1;
    if (s.gen >= v->live_gen)
      return sv_error (EILSEQ, "volume %s: checkpoint snapshot pins"
                       " generation %" PRIu32 " not older than live %"
                       PRIu32, v->name, s.gen, v->live_gen);
    if (volume_snap_insert (v, &s) == -1)
      return -1;
    *pos += n;
  }
  return 0;
}

/* The map entries at *POS. */
static int
load_entries (struct volume *v, const struct ckpt_in *c, uint64_t *pos)
{
  uint64_t i;

  if (c->bodylen - *pos < c->nentries * CK_ENTRY_LEN ||
      (c->nholds == 0 && c->bodylen - *pos != c->nentries * CK_ENTRY_LEN))
    return sv_error (EILSEQ, "volume %s: checkpoint %s body length does not"
                     " match its %" PRIu64 " entries", v->name, c->path,
                     c->nentries);
  for (i = 0; i < c->nentries; i++, *pos += CK_ENTRY_LEN) {
    const uint8_t *p = c->body + *pos;
    uint64_t vci = get_le64 (p);
    struct ext x = {
      .gen = get_le32 (p + 8), .phys = get_le32 (p + 12),
      .alloc = get_le64 (p + 16), .zero = get_le64 (p + 24),
    };
    if (volume_check_ext (v, vci, &x) == -1)
      return -1;
    if (x.gen >= v->live_gen + 1)
      return sv_error (EILSEQ, "volume %s: cluster %" PRIu64
                       " mapped at future generation %" PRIu32,
                       v->name, vci, x.gen);
    if (extmap_put (&v->map, vci, &x) == -1)
      return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  }
  return 0;
}

/* The hold section at *POS, which must end the body. */
static int
load_holds (struct volume *v, const struct ckpt_in *c, uint64_t *pos)
{
  uint32_t i;

  for (i = 0; i < c->nholds; i++) {
    ssize_t n = load_hold (v, c->body + *pos, c->bodylen - *pos);
    if (n == -1) {
      /* Its message names the volume: say where, once. */
      char why[512], vn[SV_NAME_MAX + 16];
      int e = errno;
      size_t skip;
      snprintf (why, sizeof why, "%s", sv_errmsg ());
      skip = snprintf (vn, sizeof vn, "volume %s: ", v->name);
      if (strncmp (why, vn, skip) != 0)
        skip = 0;
      return sv_error (e, "volume %s: checkpoint %s: hold %" PRIu32 " of %"
                       PRIu32 ": %s", v->name, c->path, i, c->nholds,
                       why + skip);
    }
    *pos += n;
  }
  if (*pos != c->bodylen)
    return sv_error (EILSEQ, "volume %s: checkpoint %s body has %" PRIu64
                     " bytes after its %" PRIu32 " holds", v->name, c->path,
                     c->bodylen - *pos, c->nholds);
  return 0;
}

int
volume_load_checkpoint (struct volume *v, uint64_t *last_seq,
                        uint64_t *jfirst)
{
  struct ckpt_in c = { .body = NULL };
  uint64_t pos = 0;
  int r;

  r = ckpt_read (v, &c);
  if (r == 0) {
    *last_seq = get_le64 (c.hdr + CK_OFF_LASTSEQ);
    *jfirst = get_le64 (c.hdr + CK_OFF_JFIRST);
    r = load_reverts (v, &c);
  }
  if (r == 0)
    r = load_snaps (v, &c, &pos);
  if (r == 0)
    r = load_entries (v, &c, &pos);
  if (r == 0)
    r = load_holds (v, &c, &pos);
  free (c.body);
  return r;
}

/* The hold section: every snapshot's holds as SNAP_HOLD payloads. */
static int
serialise_holds (struct volume *v, struct growbuf *b, uint32_t *nholds)
{
  size_t i, h;

  *nholds = 0;
  for (i = 0; i < v->nsnaps; i++)
    for (h = 0; h < v->snaps[i].nholds; h++) {
      uint8_t *p = gb_reserve (b, HOLD_REC_FIXED + SV_TAG_MAX);
      if (p == NULL)
        return -1;
      b->len -= HOLD_REC_FIXED + SV_TAG_MAX;
      b->len += hold_encode (JR_SNAP_HOLD, &v->snaps[i].id,
                             &v->snaps[i].holds[h], p);
      (*nholds)++;
    }
  return 0;
}

/* Serialise snapshots, map and holds into B (gate held: nothing
 * changes). */
static int
serialise (struct volume *v, struct growbuf *b, uint64_t *nentries,
           uint32_t *nholds)
{
  uint64_t vci = 0;
  size_t i;

  *nentries = 0;
  for (i = 0; i < v->nsnaps; i++) {
    uint8_t *p = gb_reserve (b, SNAP_REC_FIXED + SV_LABEL_MAX);
    if (p == NULL)
      return -1;
    b->len -= SNAP_REC_FIXED + SV_LABEL_MAX;
    b->len += volume_encode_snap (&v->snaps[i], p);
  }
  while (extmap_next (&v->map, &vci)) {
    union extvec_buf evbuf;
    const struct extvec *ev = extmap_get (&v->map, vci, &evbuf);
    uint32_t k;
    for (k = 0; k < ev->n; k++) {
      uint8_t *p = gb_reserve (b, CK_ENTRY_LEN);
      if (p == NULL)
        return -1;
      put_le64 (p, vci);
      put_le32 (p + 8, ev->v[k].gen);
      put_le32 (p + 12, ev->v[k].phys);
      put_le64 (p + 16, ev->v[k].alloc);
      put_le64 (p + 24, ev->v[k].zero);
      (*nentries)++;
    }
    vci++;
  }
  if (serialise_holds (v, b, nholds) == -1)
    return -1;
  for (i = 0; i < v->nreverts; i++) {
    uint8_t *p = gb_reserve (b, CK_REVERT_LEN);
    if (p == NULL)
      return -1;
    put_le32 (p, v->reverts[i].gen);
    put_le32 (p + 4, v->reverts[i].parent);
  }
  return 0;
}

static int
checkpoint_cycle (struct volume *v)
{
  struct journal_old old;
  struct growbuf body = { NULL, 0, 0 };
  uint8_t hdr[SV_BLOCK];
  uint64_t last_seq, nentries, jnext, durable;
  uint32_t live_gen, nsnaps, nholds, nreverts;
  int r = -1;

  /* 1. */
  jnext = v->journal.number + 1;
  if (journal_create_file (v->io, v->dir, &v->uuid, jnext,
                           v->journal.chunk) == -1) {
    sv_error_prefix ("volume %s: checkpoint (the current journal goes on)",
                     v->name);
    return -1;
  }

  /* 2. */
  gate_hold (&v->gate);
  sv_rdlock (&v->snap_lock, LOCK_SNAP);  /* a pin is before or after */
  if (journal_rotate (&v->journal, &old, &last_seq) == -1) {
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
    gate_release (&v->gate);
    return -1;
  }
  live_gen = v->live_gen;
  nsnaps = v->nsnaps;
  nreverts = (uint32_t) v->nreverts;
  r = serialise (v, &body, &nentries, &nholds);
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  gate_release (&v->gate);
  if (r == -1) {
    sv_error (ENOMEM, "volume %s: out of memory for a checkpoint", v->name);
    goto out;
  }
  r = -1;

  /* 3. */
  if (IO (v)->sync (v->io->opaque, v->data) == -1) {
    __atomic_store_n (&v->failed, errno, __ATOMIC_SEQ_CST);
    volume_stopped_error (v, errno);
    goto out;
  }
  if (journal_flush_old (&v->journal, &old) == -1)
    goto out;
  durable = last_seq;

  /* 4. */
  fill_header (hdr, &v->uuid, last_seq, jnext, live_gen, nsnaps, nentries,
               nholds, nreverts, body.p, body.len);
  if (write_checkpoint_file (v->io, v->dir, hdr, body.p, body.len) == -1)
    goto out;

  /* 5. */
  journal_drop_old (&v->journal, &old);
  if (journal_remove_old (&v->journal, jnext) > 0)
    IO (v)->syncdir (v->io->opaque, v->dir);
  pthread_mutex_lock (&v->journal.mu);
  if (v->journal.durable_seq < durable)
    v->journal.durable_seq = durable;
  pthread_mutex_unlock (&v->journal.mu);
  volume_snap_settle (v, durable);
  pending_punch_run (v, durable);
  volume_release_freed (v, durable);
  r = 0;

 out:
  if (r == -1 && old.h != -1) {
    /* Keep journal.N: recovery reads N and N+1 in order.  Records that
     * could not be written stay unacknowledged; fail the volume so
     * that nothing after them is acknowledged either. */
    if (old.buf != NULL) {
      __atomic_store_n (&v->failed, EIO, __ATOMIC_SEQ_CST);
      free (old.buf);
    }
    IO (v)->close (v->io->opaque, old.h);
  }
  free (body.p);
  return r;
}

int
volume_checkpoint (struct volume *v)
{
  return volume_exclusive_cycle (v, checkpoint_cycle);
}
