/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sio.c: the POSIX implementation of the storage I/O interface.
 * Handles are file descriptors.
 */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sio.h"
#include "vector.h"

static int
px_open (void *o, const char *path, int flags, mode_t mode)
{
  return open (path, flags | O_CLOEXEC, mode);
}

static int
px_close (void *o, int h)
{
  return close (h);
}

static ssize_t
px_pread (void *o, int h, void *buf, size_t n, uint64_t off)
{
  size_t done = 0;

  while (done < n) {
    ssize_t r = pread (h, (char *) buf + done, n - done, off + done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == 0)
      break;
    done += r;
  }
  return done;
}

static ssize_t
px_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  size_t done = 0;

  while (done < n) {
    ssize_t r = pwrite (h, (const char *) buf + done, n - done, off + done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    done += r;
  }
  return done;
}

static int
px_sync (void *o, int h)
{
  return fdatasync (h);
}

static int
px_writeback (void *o, int h, uint64_t off, uint64_t len)
{
  return sync_file_range (h, (off_t) off, (off_t) len, SYNC_FILE_RANGE_WRITE);
}

static int
px_punch (void *o, int h, uint64_t off, uint64_t len)
{
  return fallocate (h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
}

static int
px_truncate (void *o, int h, uint64_t size)
{
  return ftruncate (h, size);
}

static int
px_size (void *o, int h, uint64_t *size)
{
  struct stat st;

  if (fstat (h, &st) == -1)
    return -1;
  *size = st.st_size;
  return 0;
}

static int
px_syncfs (void *o, int h)
{
  return syncfs (h);
}

static int
px_advise (void *o, int h, uint64_t off, uint64_t len)
{
  int r = posix_fadvise (h, off, len, POSIX_FADV_WILLNEED);
  if (r != 0) {
    errno = r;
    return -1;
  }
  return 0;
}

static int
px_rename (void *o, const char *from, const char *to)
{
  return rename (from, to);
}

static int
px_unlink (void *o, const char *path)
{
  return unlink (path);
}

static int
px_mkdir (void *o, const char *path, mode_t mode)
{
  return mkdir (path, mode);
}

static int
px_rmdir (void *o, const char *path)
{
  return rmdir (path);
}

static int
px_syncdir (void *o, const char *path)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r;

  if (fd == -1)
    return -1;
  r = fsync (fd);
  if (r == -1) {
    int e = errno;
    close (fd);
    errno = e;
    return -1;
  }
  return close (fd);
}

static int
px_listdir (void *o, const char *dir, char ***names, size_t *n)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  char **v = NULL;
  size_t len = 0, cap = 0;

  if (d == NULL)
    return -1;
  while ((errno = 0, de = readdir (d)) != NULL) {
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    if (len == cap) {
      char **nv = vector_grow (v, len, &cap, 1, sizeof *nv);
      if (nv == NULL)
        goto err;
      v = nv;
    }
    if ((v[len] = strdup (de->d_name)) == NULL)
      goto err;
    len++;
  }
  if (errno != 0)
    goto err;
  closedir (d);
  *names = v;
  *n = len;
  return 0;

 err:;
  int e = errno;
  while (len > 0)
    free (v[--len]);
  free (v);
  closedir (d);
  errno = e;
  return -1;
}

static int
px_allocate (void *o, int h, uint64_t off, uint64_t len)
{
  int r;

  do
    r = fallocate (h, FALLOC_FL_KEEP_SIZE, off, len);
  while (r == -1 && errno == EINTR);
  return r;
}

static int
px_extend (void *o, int h, uint64_t off, uint64_t len)
{
  int r;

  do
    r = fallocate (h, 0, off, len);
  while (r == -1 && errno == EINTR);
  return r;
}

static const struct sv_io_ops posix_ops = {
  .open = px_open,
  .close = px_close,
  .pread = px_pread,
  .pwrite = px_pwrite,
  .sync = px_sync,
  .punch = px_punch,
  .truncate = px_truncate,
  .size = px_size,
  .advise = px_advise,
  .rename = px_rename,
  .unlink = px_unlink,
  .mkdir = px_mkdir,
  .rmdir = px_rmdir,
  .syncdir = px_syncdir,
  .listdir = px_listdir,
  .allocate = px_allocate,
  .extend = px_extend,
  .syncfs = px_syncfs,
  .writeback = px_writeback,
};

const struct sv_io sio_posix = { &posix_ops, NULL };
