/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * memio.h: an in-memory filesystem behind the engine's I/O interface
 * (server/sio.h), so that the fuzz targets and the corpus generator
 * run the engine on images built in memory, without touching disk.
 *
 * It keeps POSIX semantics where the engine relies on them: files
 * stay readable through open handles after unlink or rename, rename
 * replaces a file and moves a directory with everything below it,
 * reads past the end are short, holes read as zeroes.  Sync does
 * nothing: every write is durable at once (crash simulation is the
 * business of another test).  Sizes are capped so that corrupt
 * metadata pointing far into a file fails with EFBIG or ENOSPC
 * instead of exhausting memory.
 *
 * Paths are taken literally ("/a/b" and "/a//b" differ); the engine
 * builds them as "DIR/NAME".
 */

#ifndef SNAPVOL_MEMIO_H
#define SNAPVOL_MEMIO_H

#include <stddef.h>
#include <stdint.h>

#include "sio.h"

struct memfs;

/* A new, empty filesystem holding only the directory "/".  FILE_MAX:
 * the largest file (EFBIG past it); TOTAL_MAX: the bytes of all
 * files together (ENOSPC past it).  NULL with ENOMEM. */
extern struct memfs *memfs_new (uint64_t file_max, uint64_t total_max);
/* Free FS and every file, open or not. */
extern void memfs_free (struct memfs *fs);

/* The I/O interface over FS, for struct sv_pool_options.io.  Valid
 * while FS lives.  Every operation may be called from any thread. */
extern const struct sv_io *memfs_io (struct memfs *fs)
  __attribute__((nonnull));

/* Create (or replace) the file PATH holding LEN bytes of DATA.
 * 0, or -1 with errno (ENOENT if the parent directory is missing). */
extern int memfs_put (struct memfs *fs, const char *path, const void *data,
                      size_t len)
  __attribute__((nonnull (1, 2)));
/* A malloc'd copy of the file PATH, its length in *LEN.  NULL with
 * errno (ENOENT, EISDIR, ENOMEM). */
extern uint8_t *memfs_get (struct memfs *fs, const char *path, size_t *len)
  __attribute__((nonnull));
/* Create the directory PATH.  0, or -1 with errno (EEXIST, ENOENT). */
extern int memfs_mkdir (struct memfs *fs, const char *path)
  __attribute__((nonnull));
/* How many handles are open: after pool_close, or after pool_open
 * failed, the engine must have closed every one. */
extern size_t memfs_open_handles (struct memfs *fs)
  __attribute__((nonnull));

#endif /* SNAPVOL_MEMIO_H */
