/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sio.h: the storage I/O interface.  Every byte the engine reads or
 * writes, and every sync, punch and rename, goes through one of these
 * operations, so that a test can substitute an implementation that
 * records writes and simulates power loss.
 *
 * Handles are small non-negative integers owned by the implementation.
 * Every operation returns 0 (or a count) on success, -1 with errno set
 * on failure; short reads at end of file return the bytes read.
 */

#ifndef SNAPVOL_SIO_H
#define SNAPVOL_SIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sv_io_ops {
  int (*open) (void *opaque, const char *path, int flags, mode_t mode);
  int (*close) (void *opaque, int h);
  ssize_t (*pread) (void *opaque, int h, void *buf, size_t n, uint64_t off);
  ssize_t (*pwrite) (void *opaque, int h, const void *buf, size_t n,
                     uint64_t off);
  int (*sync) (void *opaque, int h);                 /* fdatasync */
  int (*punch) (void *opaque, int h, uint64_t off, uint64_t len);
  int (*truncate) (void *opaque, int h, uint64_t size);
  int (*size) (void *opaque, int h, uint64_t *size);
  int (*advise) (void *opaque, int h, uint64_t off, uint64_t len); /* WILLNEED */
  int (*rename) (void *opaque, const char *from, const char *to);
  int (*unlink) (void *opaque, const char *path);
  int (*mkdir) (void *opaque, const char *path, mode_t mode);
  int (*rmdir) (void *opaque, const char *path);
  int (*syncdir) (void *opaque, const char *path);
  /* Names in DIR except "." and "..": *NAMES is a malloc'd array of
   * malloc'd strings, freed by the caller. */
  int (*listdir) (void *opaque, const char *dir, char ***names, size_t *n);
  /* Reserve disk space for [OFF, OFF+LEN) of the file without changing
   * its size or content (fallocate with FALLOC_FL_KEEP_SIZE), so that
   * later writes there cannot fail for want of space.  ENOSPC when the
   * filesystem is full; EOPNOTSUPP when it cannot reserve, and NULL in
   * an implementation that cannot: callers then go on without. */
  int (*allocate) (void *opaque, int h, uint64_t off, uint64_t len);
  /* The same reservation, and the file made at least OFF+LEN bytes long
   * (fallocate with mode 0): never shorter, no byte's content changed,
   * the new range reads as zeroes.  Writes inside the file's size then
   * do not have to extend it each time.  Same errors; NULL where the
   * implementation cannot reserve. */
  int (*extend) (void *opaque, int h, uint64_t off, uint64_t len);
  /* Make every file of the filesystem holding H durable, as if each
   * were synced (syncfs): one sync for the journals of a whole set
   * (volume_flush_group).  NULL where the implementation cannot:
   * callers then sync file by file. */
  int (*syncfs) (void *opaque, int h);
  /* Start writing back the dirty pages of [OFF, OFF+LEN) of the file,
   * without waiting for them (sync_file_range with
   * SYNC_FILE_RANGE_WRITE): only a head start for a sync to come,
   * never durability.  NULL where the implementation has no such
   * thing: callers then leave it all to the sync. */
  int (*writeback) (void *opaque, int h, uint64_t off, uint64_t len);
};

struct sv_io {
  const struct sv_io_ops *ops;
  void *opaque;
};

/* The POSIX implementation (files on the local filesystem). */
extern const struct sv_io sio_posix;

#endif /* SNAPVOL_SIO_H */
