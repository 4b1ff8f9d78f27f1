/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * nodata.c: a storage layer for benchmarks of the map (sv-mapmem,
 * sv-diffcost): sio_posix with the data file's reads, writes, syncs
 * and reservations dropped.  Data bytes do not change the map, and
 * dropping them lets a run map millions of clusters with no disk; the
 * journal and checkpoint I/O stays real.
 */

#include <config.h>

#include <string.h>

#include "benchutil.h"
#include "nodata.h"

#define MAX_HANDLES 65536

/* The handles that are data files (sio_posix's handles are fds). */
static unsigned char is_data[MAX_HANDLES];

/* Every sync and syncdir asked of the layer, a data file's included
 * (bu_nodata_syncs). */
static uint64_t nsyncs;

static int
nd_open (void *o, const char *path, int flags, mode_t mode)
{
  size_t len = strlen (path);
  int h = sio_posix.ops->open (sio_posix.opaque, path, flags, mode);

  if (h >= 0 && h < MAX_HANDLES)
    is_data[h] = len >= 5 && strcmp (path + len - 5, "/data") == 0;
  else if (h >= MAX_HANDLES)
    bu_die ("open: %s: handle %d is too large to track", path, h);
  return h;
}

static int
nd_close (void *o, int h)
{
  is_data[h] = 0;
  return sio_posix.ops->close (sio_posix.opaque, h);
}

static ssize_t
nd_pread (void *o, int h, void *buf, size_t n, uint64_t off)
{
  if (is_data[h]) {
    memset (buf, 0, n);
    return n;
  }
  return sio_posix.ops->pread (sio_posix.opaque, h, buf, n, off);
}

static ssize_t
nd_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  if (is_data[h])
    return n;
  return sio_posix.ops->pwrite (sio_posix.opaque, h, buf, n, off);
}

static int
nd_sync (void *o, int h)
{
  __atomic_add_fetch (&nsyncs, 1, __ATOMIC_RELAXED);
  if (is_data[h])
    return 0;
  return sio_posix.ops->sync (sio_posix.opaque, h);
}

static int
nd_syncdir (void *o, const char *path)
{
  __atomic_add_fetch (&nsyncs, 1, __ATOMIC_RELAXED);
  return sio_posix.ops->syncdir (sio_posix.opaque, path);
}

uint64_t
bu_nodata_syncs (void)
{
  return __atomic_load_n (&nsyncs, __ATOMIC_RELAXED);
}

static int
nd_allocate (void *o, int h, uint64_t off, uint64_t len)
{
  if (is_data[h])
    return 0;
  return sio_posix.ops->allocate (sio_posix.opaque, h, off, len);
}

static int
nd_extend (void *o, int h, uint64_t off, uint64_t len)
{
  if (is_data[h])
    return 0;
  return sio_posix.ops->extend (sio_posix.opaque, h, off, len);
}

static struct sv_io_ops nodata_ops;
static struct sv_io nodata_io;

const struct sv_io *
bu_nodata_io (void)
{
  nodata_ops = *sio_posix.ops;
  nodata_ops.open = nd_open;
  nodata_ops.close = nd_close;
  nodata_ops.pread = nd_pread;
  nodata_ops.pwrite = nd_pwrite;
  nodata_ops.sync = nd_sync;
  nodata_ops.syncdir = nd_syncdir;
  nodata_ops.allocate = nd_allocate;
  nodata_ops.extend = nd_extend;
  nodata_io.ops = &nodata_ops;
  nodata_io.opaque = NULL;
  return &nodata_io;
}

