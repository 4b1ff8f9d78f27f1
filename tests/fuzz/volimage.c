/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * volimage.c: building pool images from fuzz inputs, and the checks
 * run on the engine over them (see volimage.h).
 *
 * The blocks are encoded here from docs/design.md, independently of
 * the engine's writers, with only the field offsets of ondisk.h
 * shared: a disagreement between the two shows up as a refused image.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "ondisk.h"
#include "pool.h"
#include "volimage.h"

/* Files never grow past FILE_MAX: corrupt metadata can point data at
 * any of 2^32 clusters, and the engine must then fail, not the host. */
#define FILE_MAX  (64ull << 20)
#define TOTAL_MAX (256ull << 20)

/* Bytes of an export read and checked: a snapshot's size comes from
 * the image and may be anything. */
#define READ_MAX  (4u << 20)
/* Snapshots read per capture. */
#define SNAPS_MAX 16

#define VI_UUID    "snapvol-fuzz-vol"   /* 16 bytes */
#define POOL_UUID  "snapvol-fuzz-pol"
#define VI_SALT    0x5eed5a17u
#define VI_CREATED 1700000000u

static const uint32_t cluster_sizes[4] = {
  64 * 1024, 4 * 1024, 16 * 1024, 1024 * 1024
};

/* Volume sizes: small, since every run reads all of it several times;
 * with 4 KiB clusters past a radix-table boundary (512 clusters); each
 * ends in a partial cluster. */
static const uint64_t volume_sizes[4] = {
  8 * 65536ull + 4096 + 512,
  520 * 4096ull + 2048,
  12 * 16384ull + 512,
  2 * 1048576ull + 65536 + 512,
};

static void fail (const char *fmt, ...)
  __attribute__((format (printf, 1, 2), noreturn));

/* A broken rule: say which and abort, so that the fuzzer keeps the
 * input. */
static void
fail (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "volimage: ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n");
  abort ();
}

uint32_t
vimage_cluster_size (const struct vimage *im)
{
  return cluster_sizes[im->flags & VI_CLUSTER];
}

static uint32_t
subcluster_size (uint32_t cs)
{
  return cs / 64 > 4096 ? cs / 64 : 4096;
}

int
vimage_parse (struct vimage *im, const uint8_t *data, size_t len,
              enum vi_layout layout)
{
  const uint8_t *first, *second;
  size_t first_len;

  if (len < VI_CONTROL)
    return -1;
  memset (im, 0, sizeof *im);
  im->flags = data[0];
  im->split = data[1];
  im->op[0] = data[2];
  im->op[1] = data[3];
  first_len = get_le16 (data + 4);
  im->last_seq = data[6];
  im->live_gen = data[7];
  if (first_len > len - VI_CONTROL)
    first_len = len - VI_CONTROL;
  first = data + VI_CONTROL;
  second = first + first_len;
  if (layout == VI_CKPT_FIRST) {
    im->ckpt = first;
    im->ckpt_len = first_len;
    im->records = second;
    im->records_len = len - VI_CONTROL - first_len;
  }
  else {
    im->records = first;
    im->records_len = first_len;
    im->ckpt = second;
    im->ckpt_len = len - VI_CONTROL - first_len;
  }
  return 0;
}

uint8_t *
vimage_encode (const struct vimage *im, enum vi_layout layout, size_t *len)
{
  const uint8_t *first = layout == VI_CKPT_FIRST ? im->ckpt : im->records;
  const uint8_t *second = layout == VI_CKPT_FIRST ? im->records : im->ckpt;
  size_t first_len = layout == VI_CKPT_FIRST ? im->ckpt_len : im->records_len;
  size_t second_len = layout == VI_CKPT_FIRST ? im->records_len : im->ckpt_len;
  uint8_t *p;

  if (first_len > VI_PART_MAX) {
    errno = EINVAL;
    return NULL;
  }
  p = malloc (VI_CONTROL + first_len + second_len);
  if (p == NULL)
    return NULL;
  p[0] = im->flags;
  p[1] = im->split;
  p[2] = im->op[0];
  p[3] = im->op[1];
  put_le16 (p + 4, first_len);
  p[6] = im->last_seq;
  p[7] = im->live_gen;
  if (first_len > 0)
    memcpy (p + VI_CONTROL, first, first_len);
  if (second_len > 0)
    memcpy (p + VI_CONTROL + first_len, second, second_len);
  *len = VI_CONTROL + first_len + second_len;
  return p;
}

/* Building. */

static void
put (struct memfs *fs, const char *path, const void *data, size_t len)
{
  if (memfs_put (fs, path, data, len) == -1)
    fail ("memfs_put: %s: %m", path);
}

/* Start a block: magic and version; the checksum is set by seal. */
static void
block_init (uint8_t *blk, const char *magic)
{
  memset (blk, 0, SV_BLOCK);
  memcpy (blk + OFF_MAGIC, magic, 8);
  put_le32 (blk + OFF_VERSION, SV_FORMAT_VERSION);
}

/* Set the checksum of BLK (at location 0) for the kind its magic
 * names, leaving its version as it is (a seed may carry another). */
static void
seal (uint8_t *blk)
{
  static const struct ondisk_kind *const kinds[] = {
    &ondisk_pool, &ondisk_super, &ondisk_ckpt, &ondisk_jrnl,
  };
  size_t i;

  for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (memcmp (blk + OFF_MAGIC, kinds[i]->magic, 8) == 0)
      put_le32 (blk + OFF_CRC, ondisk_checksum (blk, kinds[i], 0));
}

static void
journal_name (char *buf, size_t len, uint64_t number)
{
  snprintf (buf, len, VI_VOLDIR "/journal.%016" PRIx64, number);
}

static void
journal_header (uint8_t *blk, uint64_t number)
{
  block_init (blk, SV_MAGIC_JRNL);
  memcpy (blk + JH_OFF_UUID, VI_UUID, 16);
  put_le64 (blk + JH_OFF_NUMBER, number);
  put_le32 (blk + JH_OFF_SALT, VI_SALT);
  seal (blk);
}

/* The length of the whole records at the start of P (N bytes): the
 * first COUNT of them, or all. */
static size_t
records_span (const uint8_t *p, size_t n, size_t count)
{
  size_t pos = 0;

  while (count-- > 0 && n - pos >= JR_HDR &&
         n - pos - JR_HDR >= get_le16 (p + pos + 6))
    pos += JR_HDR + get_le16 (p + pos + 6);
  return pos;
}

/* Write journal file NUMBER holding the N bytes of records at P,
 * their checksums recomputed unless VERBATIM. */
static void
put_journal (struct memfs *fs, uint64_t number, const uint8_t *p, size_t n,
             bool verbatim)
{
  uint8_t *file = malloc (SV_BLOCK + n);
  size_t pos = 0, end;
  char path[256];

  if (file == NULL)
    fail ("out of memory");
  journal_header (file, number);
  if (n > 0)
    memcpy (file + SV_BLOCK, p, n);
  end = verbatim ? 0 : records_span (p, n, SIZE_MAX);
  while (pos < end) {
    uint8_t *rec = file + SV_BLOCK + pos;
    size_t len = JR_HDR + get_le16 (rec + 6);
    uint8_t salt[4];

    put_le32 (salt, VI_SALT);
    put_le32 (rec, crc32c (crc32c (0, salt, 4), rec + 4, len - 4));
    pos += len;
  }
  journal_name (path, sizeof path, number);
  put (fs, path, file, SV_BLOCK + n);
  free (file);
}

/* Write the checkpoint; returns the first journal file number it
 * names. */
static uint64_t
put_checkpoint (struct memfs *fs, const struct vimage *im)
{
  const char *path = VI_VOLDIR "/checkpoint";
  size_t head, body;
  uint64_t bodylen, jfirst;
  uint8_t *file;

  if (im->ckpt_len == 0 && !(im->flags & VI_CKPT_SHORT)) {
    uint8_t blk[SV_BLOCK];

    block_init (blk, SV_MAGIC_CKPT);
    memcpy (blk + CK_OFF_UUID, VI_UUID, 16);
    put_le64 (blk + CK_OFF_LASTSEQ, im->last_seq);
    put_le64 (blk + CK_OFF_JFIRST, 1);
    put_le32 (blk + CK_OFF_LIVEGEN, im->live_gen ? im->live_gen : 1);
    put_le32 (blk + CK_OFF_BODYCRC, crc32c (0, blk, 0));
    seal (blk);
    put (fs, path, blk, SV_BLOCK);
    return 1;
  }
  if (im->flags & VI_CKPT_SHORT) {
    /* A header torn short: the file is the header part alone. */
    head = im->ckpt_len < VI_CKPT_HEAD ? im->ckpt_len : VI_CKPT_HEAD;
    put (fs, path, im->ckpt, head);
    return 1;
  }

  head = im->ckpt_len < VI_CKPT_HEAD ? im->ckpt_len : VI_CKPT_HEAD;
  body = im->ckpt_len - head;
  file = calloc (1, SV_BLOCK + body);
  if (file == NULL)
    fail ("out of memory");
  memcpy (file, im->ckpt, head);
  if (body > 0)
    memcpy (file + SV_BLOCK, im->ckpt + head, body);
  if (!(im->flags & VI_VERBATIM)) {
    memcpy (file + CK_OFF_UUID, VI_UUID, 16);
    bodylen = get_le64 (file + CK_OFF_BODYLEN);
    put_le32 (file + CK_OFF_BODYCRC,
              crc32c (0, file + SV_BLOCK, bodylen < body ? bodylen : body));
    seal (file);
  }
  jfirst = get_le64 (file + CK_OFF_JFIRST);
  put (fs, path, file, SV_BLOCK + body);
  free (file);
  /* Keep F-1 and F+2 representable. */
  return jfirst >= 1 && jfirst < UINT64_MAX - 2 ? jfirst : 1;
}

/* The data file's size for cluster size index K: room for every
 * cluster of the volume twice (the live volume, and as much again for
 * the versions snapshots keep), which holds whatever the seeds'
 * workloads map, then one subcluster, so that the last cluster is
 * partial and a read there takes the short-read path.  The engine
 * refuses a mapping past the end of the file. */
static size_t
data_size (unsigned k)
{
  uint64_t cs = cluster_sizes[k];
  uint64_t clusters = (volume_sizes[k] + cs - 1) / cs;

  return 2 * clusters * cs + subcluster_size (cs);
}

/* The data file: a fixed pattern, so that mapped clusters read back
 * something other than zeroes.  The pattern is made once, as long as
 * the longest data file. */
static void
put_data (struct memfs *fs, unsigned k)
{
  static uint8_t *pattern;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  size_t i, max = 0;

  if (pattern == NULL) {
    for (i = 0; i < 4; i++)
      if (data_size (i) > max)
        max = data_size (i);
    if ((pattern = malloc (max)) == NULL)
      fail ("out of memory");
    for (i = 0; i < max; i++) {
      if (i % 8 == 0) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
      }
      pattern[i] = (uint8_t) (x >> (i % 8 * 8));
    }
  }
  put (fs, VI_VOLDIR "/data", pattern, data_size (k));
}

struct memfs *
vimage_build (const struct vimage *im)
{
  uint32_t cs = vimage_cluster_size (im);
  struct memfs *fs = memfs_new (FILE_MAX, TOTAL_MAX);
  uint8_t blk[SV_BLOCK];
  uint64_t jfirst, jlast;
  bool verbatim = im->flags & VI_VERBATIM;
  char path[256];

  if (fs == NULL)
    fail ("memfs_new: %m");
  if (memfs_mkdir (fs, VI_POOL) == -1 ||
      memfs_mkdir (fs, VI_POOL "/volumes") == -1 ||
      memfs_mkdir (fs, VI_VOLDIR) == -1)
    fail ("memfs_mkdir: %m");

  block_init (blk, SV_MAGIC_POOL);
  put_le32 (blk + POOL_OFF_CLUSTER, SV_CLUSTER_DEFAULT);
  memcpy (blk + POOL_OFF_UUID, POOL_UUID, 16);
  seal (blk);
  put (fs, VI_POOL "/snapvol.pool", blk, SV_BLOCK);

  block_init (blk, SV_MAGIC_SUPER);
  put_le32 (blk + SB_OFF_CLUSTER, cs);
  put_le64 (blk + SB_OFF_SIZE, volume_sizes[im->flags & VI_CLUSTER]);
  memcpy (blk + SB_OFF_UUID, VI_UUID, 16);
  put_le64 (blk + SB_OFF_CREATED, VI_CREATED);
  put_le32 (blk + SB_OFF_NAMELEN, strlen (VI_VOLUME));
  memcpy (blk + SB_OFF_NAME, VI_VOLUME, strlen (VI_VOLUME));
  seal (blk);
  put (fs, VI_VOLDIR "/superblock", blk, SV_BLOCK);

  jfirst = put_checkpoint (fs, im);
  jlast = jfirst;
  if (im->flags & VI_SPLIT) {
    size_t at = records_span (im->records, im->records_len, im->split);
    put_journal (fs, jfirst, im->records, at, verbatim);
    put_journal (fs, ++jlast, im->records + at, im->records_len - at,
                 verbatim);
  }
  else
    put_journal (fs, jfirst, im->records, im->records_len, verbatim);
  if ((im->flags & VI_STALE) && jfirst > 1)
    put_journal (fs, jfirst - 1, im->records, im->records_len, verbatim);
  if (im->flags & VI_TORN_NEXT) {
    journal_header (blk, jlast + 1);
    journal_name (path, sizeof path, jlast + 1);
    put (fs, path, blk, SV_BLOCK / 3);
  }
  put_data (fs, im->flags & VI_CLUSTER);
  return fs;
}

/* Checking. */

struct export_state {
  char name[SV_NAME_MAX + 2 + SV_UUID_STRLEN];
  uint64_t size;
  uint32_t crc;                 /* of the bytes read (up to READ_MAX) */
};

struct pool_state {
  struct sv_volume_info vi;
  size_t nexports;
  struct export_state ex[1 + SNAPS_MAX];
};

struct extent_walk {
  const char *export;
  const uint8_t *data;          /* what was read */
  uint64_t len;                 /* how much */
  uint64_t next;                /* where the next extent must start */
};

static int
check_extent (void *opaque, uint64_t offset, uint64_t length, uint32_t flags)
{
  struct extent_walk *w = opaque;
  const uint8_t *p = w->data + offset;

  if (offset != w->next || length == 0)
    fail ("%s: extent [%" PRIu64 ", +%" PRIu64 ") does not follow the"
          " previous one, which ended at %" PRIu64, w->export, offset,
          length, w->next);
  if (length > w->len - offset)
    fail ("%s: extent [%" PRIu64 ", +%" PRIu64 ") goes past the %" PRIu64
          " bytes asked for", w->export, offset, length, w->len);
  if (flags & ~(SV_EXTENT_HOLE | SV_EXTENT_ZERO))
    fail ("%s: extent at %" PRIu64 " has unknown flags %#" PRIx32,
          w->export, offset, flags);
  /* Zero iff the first byte is and every byte equals the next. */
  if ((flags & SV_EXTENT_ZERO) &&
      (p[0] != 0 || memcmp (p, p + 1, length - 1) != 0))
    fail ("%s: extent [%" PRIu64 ", +%" PRIu64 ") is reported as zero but"
          " does not read as zeroes", w->export, offset, length);
  w->next = offset + length;
  return 0;
}

/* The buffer exports are read into, allocated once: a fresh one per
 * run costs more in page faults than the engine's work. */
static uint8_t *
read_buffer (void)
{
  static uint8_t *buf;

  if (buf == NULL && (buf = malloc (READ_MAX)) == NULL)
    fail ("out of memory");
  return buf;
}

/* Read export NAME up to READ_MAX bytes; record its size and
 * checksum.  An export listed by the engine must open and read. */
static void
capture_export (struct sv_pool *pool, const char *name, uint64_t listed_size,
                struct export_state *es)
{
  struct sv_view *view = view_open (pool, name);
  struct extent_walk w = { name, NULL, 0, 0 };
  uint8_t *buf = read_buffer ();
  uint64_t size, len, off;

  if (view == NULL)
    fail ("view_open %s: a listed export does not open: %s", name,
          sv_errmsg ());
  size = view_size (view);
  if (size != listed_size)
    fail ("%s: view size %" PRIu64 " but listed with size %" PRIu64,
          name, size, listed_size);
  len = size < READ_MAX ? size : READ_MAX;
  for (off = 0; off < len; ) {
    uint32_t n = len - off < (1u << 20) ? len - off : (1u << 20);
    if (view_pread (view, buf + off, n, off) == -1)
      fail ("view_pread %s at %" PRIu64 ": %s", name, off, sv_errmsg ());
    off += n;
  }
  /* The tail of an export too large to read whole. */
  if (size > len && size - len >= 512) {
    uint8_t tail[512];
    if (view_pread (view, tail, sizeof tail, size - sizeof tail) == -1)
      fail ("view_pread %s at its end: %s", name, sv_errmsg ());
  }
  w.data = buf;
  w.len = len;
  if (len > 0 && view_extents (view, len, 0, 0, check_extent, &w) == -1)
    fail ("view_extents %s: %s", name, sv_errmsg ());
  if (w.next != len)
    fail ("%s: extents end at %" PRIu64 ", not at %" PRIu64, name, w.next,
          len);
  snprintf (es->name, sizeof es->name, "%s", name);
  es->size = size;
  es->crc = crc32c (0, buf, len);
  view_close (view);
}

static void
capture (struct sv_pool *pool, struct pool_state *st)
{
  struct sv_volume_info *vi = NULL;
  struct sv_snapshot_info *si = NULL;
  size_t nv = 0, ns = 0, i;
  char name[sizeof st->ex[0].name];

  if (pool_volume_list (pool, NULL, &vi, &nv) == -1)
    fail ("pool_volume_list: %s", sv_errmsg ());
  if (nv != 1 || strcmp (vi[0].name, VI_VOLUME) != 0)
    fail ("pool_volume_list: %zu volumes, expected only " VI_VOLUME, nv);
  if (pool_snapshot_list (pool, VI_VOLUME, &si, &ns) == -1)
    fail ("pool_snapshot_list: %s", sv_errmsg ());
  if (ns != vi[0].nsnapshots)
    fail ("pool_snapshot_list: %zu snapshots, but the volume lists %" PRIu32,
          ns, vi[0].nsnapshots);
  st->vi = vi[0];
  capture_export (pool, VI_VOLUME, vi[0].size, &st->ex[0]);
  st->nexports = 1;
  for (i = 0; i < ns && i < SNAPS_MAX; i++) {
    snprintf (name, sizeof name, VI_VOLUME "@%s", si[i].id);
    capture_export (pool, name, si[i].size, &st->ex[st->nexports++]);
  }
  free (vi);
  free (si);
}

static void
compare (const struct pool_state *a, const struct pool_state *b)
{
  size_t i;

#define SAME(field)                                                     \
  if (a->vi.field != b->vi.field)                                       \
    fail ("after a clean close and reopen, " #field " is %" PRIu64      \
          ", was %" PRIu64, (uint64_t) b->vi.field, (uint64_t) a->vi.field)
  SAME (size);
  SAME (generation);
  SAME (nsnapshots);
  SAME (allocated_bytes);
  SAME (referenced_bytes);
  SAME (written_bytes);
  SAME (snapshot_bytes);
#undef SAME
  if (a->nexports != b->nexports)
    fail ("after a clean close and reopen, %zu exports, were %zu",
          b->nexports, a->nexports);
  for (i = 0; i < a->nexports; i++)
    if (strcmp (a->ex[i].name, b->ex[i].name) != 0 ||
        a->ex[i].size != b->ex[i].size || a->ex[i].crc != b->ex[i].crc)
      fail ("after a clean close and reopen, export %s (%" PRIu64 " bytes,"
            " crc %08" PRIx32 ") became %s (%" PRIu64 " bytes, crc %08"
            PRIx32 ")", a->ex[i].name, a->ex[i].size, a->ex[i].crc,
            b->ex[i].name, b->ex[i].size, b->ex[i].crc);
}

/* Offset for the exercise step: op byte K picks a place anywhere in
 * the volume, for a request of LEN bytes. */
static uint64_t
op_offset (const struct vimage *im, int k, uint64_t size, uint32_t len,
           uint32_t unit)
{
  uint64_t off = (uint64_t) im->op[k] * (size / 256);

  if (unit > 1)
    off -= off % unit;
  else
    off += im->op[k] % 3 * 1000;        /* unaligned: partial subclusters */
  return off + len <= size ? off : size - len;
}

/* Changes after open, to run the write paths over a state the engine
 * loaded: copy-on-write against loaded snapshots, allocation among
 * loaded clusters, zeroing, trimming, pinning and deletion with its
 * reclaim.  Failures are allowed; the checks come after. */
static void
exercise (struct sv_pool *pool, const struct vimage *im)
{
  const char *vols[1] = { VI_VOLUME };
  char set_id[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;
  struct sv_snapshot_info *si = NULL;
  uint32_t min, ss, max, len;
  struct sv_view *view;
  uint64_t size;
  size_t ns = 0;
  uint8_t *buf;

  view = view_open (pool, VI_VOLUME);
  if (view == NULL)
    fail ("view_open " VI_VOLUME ": %s", sv_errmsg ());
  view_block_size (view, &min, &ss, &max);
  size = view_size (view);
  len = 2 * ss + 1000 < size ? 2 * ss + 1000 : (uint32_t) size;
  buf = malloc (len);
  if (buf == NULL)
    fail ("out of memory");
  memset (buf, 0xa0 | (im->op[0] & 0x0f), len);

  view_pwrite (view, buf, len, op_offset (im, 0, size, len, 1), 0);
  pool_snapshot_create (pool, vols, 1, "exercise", NULL, set_id, &res);
  memset (buf, 0x50 | (im->op[1] & 0x0f), len);
  view_pwrite (view, buf, len, op_offset (im, 1, size, len, 1), 1);
  view_zero (view, 2 * ss < size ? 2 * ss : size,
             op_offset (im, 0, size, 2 * ss < size ? 2 * ss : size, ss),
             1, 0, 0);
  view_trim (view, ss + 1000 < size ? ss + 1000 : size,
             op_offset (im, 1, size, ss + 1000 < size ? ss + 1000 : size, ss),
             0);
  if (pool_snapshot_list (pool, VI_VOLUME, &si, &ns) == 0 && ns > 0)
    pool_snapshot_delete (pool, si[0].id, NULL);
  view_flush (view);
  free (si);
  free (buf);
  view_close (view);
}

static struct sv_pool *
open_pool (struct memfs *fs)
{
  struct sv_pool_options opts = { .io = memfs_io (fs) };

  return pool_open (VI_POOL, &opts, 0);
}

int
vimage_check (const struct vimage *im)
{
  struct memfs *fs = vimage_build (im);
  struct pool_state before, after;
  struct sv_pool *pool;
  size_t n;

  pool = open_pool (fs);
  if (pool == NULL) {
    int e = errno;

    if (e != EILSEQ && e != EPROTONOSUPPORT && e != ENOMEM && e != EFBIG &&
        e != ENOSPC)
      fail ("pool_open refused the image with errno %d (%s), not EILSEQ or"
            " EPROTONOSUPPORT: %s", e, strerror (e), sv_errmsg ());
    if (sv_errmsg ()[0] == '\0')
      fail ("pool_open refused the image without a message");
    if ((n = memfs_open_handles (fs)) != 0)
      fail ("pool_open failed and left %zu files open: %s", n, sv_errmsg ());
    memfs_free (fs);
    return -1;
  }

  if (im->flags & VI_EXERCISE)
    exercise (pool, im);
  capture (pool, &before);
  if (pool_close (pool) == 0) {
    if ((n = memfs_open_handles (fs)) != 0)
      fail ("pool_close left %zu files open", n);
    pool = open_pool (fs);
    if (pool == NULL)
      fail ("the pool was opened and closed cleanly, but does not open"
            " again: %s", sv_errmsg ());
    capture (pool, &after);
    compare (&before, &after);
    if (pool_close (pool) == -1)
      fail ("pool_close after a clean reopen: %s", sv_errmsg ());
  }
  if ((n = memfs_open_handles (fs)) != 0)
    fail ("pool_close left %zu files open", n);
  memfs_free (fs);
  return 0;
}
