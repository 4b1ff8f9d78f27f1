/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * memio.c: an in-memory filesystem implementing the engine's I/O
 * interface, for the fuzz targets and the corpus generator.
 *
 * Design notes
 * ------------
 * The namespace is a flat array of nodes named by their full path; a
 * pool holds a handful of files, so linear search is the simple and
 * fast choice.  A node leaves the namespace on unlink (or when a rename
 * replaces it) but lives on while a handle refers to it, as an open
 * file descriptor keeps an unlinked inode alive.  Handles are indexes
 * into a table whose free slots are reused.  One mutex guards it all.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "memio.h"

struct mnode {
  char *path;                   /* NULL once out of the namespace */
  bool dir;
  uint8_t *data;
  uint64_t size;
  size_t cap;
  unsigned refs;                /* open handles */
};

struct mhandle {
  struct mnode *node;           /* NULL: a free slot */
  int flags;
};

struct memfs {
  pthread_mutex_t mu;
  struct sv_io io;
  uint64_t file_max, total_max, total;
  struct mnode **nodes;         /* the namespace */
  size_t nnodes, capnodes;
  struct mhandle *handles;
  size_t nhandles;
};

static const struct sv_io_ops memfs_ops;

static void
node_free (struct memfs *fs, struct mnode *n)
{
  fs->total -= n->size;
  free (n->data);
  free (n->path);
  free (n);
}

static struct mnode *
lookup (struct memfs *fs, const char *path)
{
  size_t i;

  for (i = 0; i < fs->nnodes; i++)
    if (strcmp (fs->nodes[i]->path, path) == 0)
      return fs->nodes[i];
  return NULL;
}

/* Take N out of the namespace; free it unless a handle holds it. */
static void
detach (struct memfs *fs, struct mnode *n)
{
  size_t i;

  for (i = 0; i < fs->nnodes; i++)
    if (fs->nodes[i] == n) {
      fs->nodes[i] = fs->nodes[--fs->nnodes];
      break;
    }
  free (n->path);
  n->path = NULL;
  if (n->refs == 0)
    node_free (fs, n);
}

/* Is PATH strictly below DIR?  With CHILD, directly in it. */
static bool
below (const char *path, const char *dir, bool child)
{
  size_t len = strcmp (dir, "/") == 0 ? 0 : strlen (dir);

  if (strncmp (path, dir, len) != 0 || path[len] != '/' ||
      path[len + 1] == '\0')
    return false;
  return !child || strchr (path + len + 1, '/') == NULL;
}

/* Check that the parent directory of PATH exists.  0, or -1 with
 * errno (only absolute paths are supported). */
static int
check_parent (struct memfs *fs, const char *path)
{
  const char *slash = strrchr (path, '/');
  CLEANUP_FREE char *parent = NULL;
  struct mnode *p;

  if (path[0] != '/' || slash == NULL || slash[1] == '\0') {
    errno = EINVAL;
    return -1;
  }
  parent = slash == path ? strdup ("/") : strndup (path, slash - path);
  if (parent == NULL)
    return -1;
  p = lookup (fs, parent);
  if (p == NULL) {
    errno = ENOENT;
    return -1;
  }
  if (!p->dir) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

static struct mnode *
add_node (struct memfs *fs, const char *path, bool dir)
{
  struct mnode *n;

  if (fs->nnodes == fs->capnodes) {
    size_t ncap = fs->capnodes ? fs->capnodes * 2 : 16;
    struct mnode **nv = realloc (fs->nodes, ncap * sizeof *nv);
    if (nv == NULL)
      return NULL;
    fs->nodes = nv;
    fs->capnodes = ncap;
  }
  n = calloc (1, sizeof *n);
  if (n == NULL)
    return NULL;
  n->dir = dir;
  n->path = strdup (path);
  if (n->path == NULL) {
    free (n);
    return NULL;
  }
  fs->nodes[fs->nnodes++] = n;
  return n;
}

/* Make N exactly SIZE bytes long, zero-filling growth up to FILL (the
 * caller writes the rest of it). */
static int
resize (struct memfs *fs, struct mnode *n, uint64_t size, uint64_t fill)
{
  if (size > fs->file_max) {
    errno = EFBIG;
    return -1;
  }
  if (size > n->size && size - n->size > fs->total_max - fs->total) {
    errno = ENOSPC;
    return -1;
  }
  if (size > n->cap) {
    size_t ncap = n->cap ? n->cap : 4096;
    uint8_t *nd;
    while (ncap < size)
      ncap *= 2;
    nd = realloc (n->data, ncap);
    if (nd == NULL)
      return -1;
    n->data = nd;
    n->cap = ncap;
  }
  if (fill > size)
    fill = size;
  if (fill > n->size)
    memset (n->data + n->size, 0, fill - n->size);
  fs->total = fs->total - n->size + size;
  n->size = size;
  return 0;
}

enum access { ANY, READ, WRITE };

/* The node of handle H, or NULL with EBADF if H is not open or was not
 * opened for the access ACC. */
static struct mnode *
handle (struct memfs *fs, int h, enum access acc)
{
  int mode;

  if (h < 0 || (size_t) h >= fs->nhandles || fs->handles[h].node == NULL) {
    errno = EBADF;
    return NULL;
  }
  mode = fs->handles[h].flags & O_ACCMODE;
  if ((acc == READ && mode == O_WRONLY) || (acc == WRITE && mode == O_RDONLY)) {
    errno = EBADF;
    return NULL;
  }
  return fs->handles[h].node;
}

static int
m_open (void *o, const char *path, int flags, mode_t mode)
{
  struct memfs *fs = o;
  struct mnode *n;
  size_t h;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = lookup (fs, path);
  if (n != NULL && (flags & O_CREAT) && (flags & O_EXCL)) {
    errno = EEXIST;
    return -1;
  }
  if (n != NULL && n->dir) {
    errno = EISDIR;
    return -1;
  }
  if (n == NULL) {
    if (!(flags & O_CREAT)) {
      errno = ENOENT;
      return -1;
    }
    if (check_parent (fs, path) == -1 ||
        (n = add_node (fs, path, false)) == NULL)
      return -1;
  }
  else if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY)
    resize (fs, n, 0, 0);

  for (h = 0; h < fs->nhandles; h++)
    if (fs->handles[h].node == NULL)
      break;
  if (h == fs->nhandles) {
    struct mhandle *nh = realloc (fs->handles, (h + 1) * sizeof *nh);
    if (nh == NULL)
      return -1;
    fs->handles = nh;
    fs->nhandles++;
  }
  fs->handles[h].node = n;
  fs->handles[h].flags = flags;
  n->refs++;
  return (int) h;
}

static int
m_close (void *o, int h)
{
  struct memfs *fs = o;
  struct mnode *n;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = handle (fs, h, ANY);
  if (n == NULL)
    return -1;
  fs->handles[h].node = NULL;
  if (--n->refs == 0 && n->path == NULL)
    node_free (fs, n);
  return 0;
}

static ssize_t
m_pread (void *o, int h, void *buf, size_t len, uint64_t off)
{
  struct memfs *fs = o;
  struct mnode *n;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = handle (fs, h, READ);
  if (n == NULL)
    return -1;
  if (off >= n->size)
    return 0;
  if (len > n->size - off)
    len = n->size - off;
  memcpy (buf, n->data + off, len);
  return len;
}

static ssize_t
m_pwrite (void *o, int h, const void *buf, size_t len, uint64_t off)
{
  struct memfs *fs = o;
  struct mnode *n;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = handle (fs, h, WRITE);
  if (n == NULL)
    return -1;
  if (len == 0)
    return 0;
  if (off > fs->file_max || len > fs->file_max - off) {
    errno = EFBIG;
    return -1;
  }
  if (off + len > n->size && resize (fs, n, off + len, off) == -1)
    return -1;
  memcpy (n->data + off, buf, len);
  return len;
}

static int
m_sync (void *o, int h)
{
  struct memfs *fs = o;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  return handle (fs, h, ANY) ? 0 : -1;
}

static int
m_punch (void *o, int h, uint64_t off, uint64_t len)
{
  struct memfs *fs = o;
  struct mnode *n;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = handle (fs, h, WRITE);
  if (n == NULL)
    return -1;
  if (off < n->size) {
    if (len > n->size - off)
      len = n->size - off;
    memset (n->data + off, 0, len);
  }
  return 0;
}

static int
m_truncate (void *o, int h, uint64_t size)
{
  struct memfs *fs = o;
  struct mnode *n;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = handle (fs, h, WRITE);
  if (n == NULL)
    return -1;
  return resize (fs, n, size, size);
}

static int
m_size (void *o, int h, uint64_t *size)
{
  struct memfs *fs = o;
  struct mnode *n;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = handle (fs, h, ANY);
  if (n == NULL)
    return -1;
  *size = n->size;
  return 0;
}

static int
m_advise (void *o, int h, uint64_t off, uint64_t len)
{
  return m_sync (o, h);
}

/* Is N the node FROM, or below it when FROM is a directory? */
static bool
in_tree (const struct mnode *n, const struct mnode *src, const char *from)
{
  return n == src || (src->dir && below (n->path, from, false));
}

/* Rename SRC (named FROM) and, for a directory, everything below it,
 * to TO.  The new names are all made before any is changed, so that
 * ENOMEM changes nothing. */
static int
rename_tree (struct memfs *fs, struct mnode *src, const char *from,
             const char *to)
{
  size_t i, k = 0, nmove = 0, flen = strlen (from);
  CLEANUP_FREE struct mnode **moved = NULL;
  CLEANUP_FREE char **names = NULL;

  for (i = 0; i < fs->nnodes; i++)
    if (in_tree (fs->nodes[i], src, from))
      nmove++;
  moved = calloc (nmove, sizeof *moved);
  names = calloc (nmove, sizeof *names);
  if (moved == NULL || names == NULL)
    return -1;
  for (i = 0; i < fs->nnodes; i++) {
    struct mnode *n = fs->nodes[i];

    if (!in_tree (n, src, from))
      continue;
    names[k] = malloc (strlen (to) + strlen (n->path + flen) + 1);
    if (names[k] == NULL) {
      while (k > 0)
        free (names[--k]);
      return -1;
    }
    strcpy (names[k], to);
    strcat (names[k], n->path + flen);
    moved[k++] = n;
  }
  for (k = 0; k < nmove; k++) {
    free (moved[k]->path);
    moved[k]->path = names[k];
  }
  return 0;
}

static int
m_rename (void *o, const char *from, const char *to)
{
  struct memfs *fs = o;
  struct mnode *src, *dst;
  size_t i;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  src = lookup (fs, from);
  if (src == NULL) {
    errno = ENOENT;
    return -1;
  }
  if (check_parent (fs, to) == -1)
    return -1;
  if (strcmp (from, to) == 0)
    return 0;
  if (below (to, from, false)) {
    errno = EINVAL;
    return -1;
  }
  dst = lookup (fs, to);
  if (dst != NULL) {
    if (src->dir && !dst->dir) {
      errno = ENOTDIR;
      return -1;
    }
    if (!src->dir && dst->dir) {
      errno = EISDIR;
      return -1;
    }
    for (i = 0; dst->dir && i < fs->nnodes; i++)
      if (below (fs->nodes[i]->path, to, true)) {
        errno = ENOTEMPTY;
        return -1;
      }
  }

  if (rename_tree (fs, src, from, to) == -1)
    return -1;
  if (dst != NULL)
    detach (fs, dst);
  return 0;
}

static int
m_unlink (void *o, const char *path)
{
  struct memfs *fs = o;
  struct mnode *n;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = lookup (fs, path);
  if (n == NULL) {
    errno = ENOENT;
    return -1;
  }
  if (n->dir) {
    errno = EISDIR;
    return -1;
  }
  detach (fs, n);
  return 0;
}

static int
m_mkdir (void *o, const char *path, mode_t mode)
{
  struct memfs *fs = o;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  if (lookup (fs, path) != NULL) {
    errno = EEXIST;
    return -1;
  }
  if (check_parent (fs, path) == -1 || add_node (fs, path, true) == NULL)
    return -1;
  return 0;
}

static int
m_rmdir (void *o, const char *path)
{
  struct memfs *fs = o;
  struct mnode *n;
  size_t i;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = lookup (fs, path);
  if (n == NULL) {
    errno = ENOENT;
    return -1;
  }
  if (!n->dir) {
    errno = ENOTDIR;
    return -1;
  }
  if (strcmp (path, "/") == 0) {
    errno = EBUSY;
    return -1;
  }
  for (i = 0; i < fs->nnodes; i++)
    if (below (fs->nodes[i]->path, path, true)) {
      errno = ENOTEMPTY;
      return -1;
    }
  detach (fs, n);
  return 0;
}

static int
m_syncdir (void *o, const char *path)
{
  struct memfs *fs = o;
  struct mnode *n;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = lookup (fs, path);
  if (n == NULL) {
    errno = ENOENT;
    return -1;
  }
  if (!n->dir) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

static int
m_listdir (void *o, const char *dir, char ***names, size_t *count)
{
  struct memfs *fs = o;
  struct mnode *d;
  char **v;
  size_t i, k = 0, skip;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  d = lookup (fs, dir);
  if (d == NULL) {
    errno = ENOENT;
    return -1;
  }
  if (!d->dir) {
    errno = ENOTDIR;
    return -1;
  }
  skip = strcmp (dir, "/") == 0 ? 1 : strlen (dir) + 1;
  v = malloc ((fs->nnodes ? fs->nnodes : 1) * sizeof *v);
  if (v == NULL)
    return -1;
  for (i = 0; i < fs->nnodes; i++) {
    if (!below (fs->nodes[i]->path, dir, true))
      continue;
    v[k] = strdup (fs->nodes[i]->path + skip);
    if (v[k] == NULL) {
      while (k > 0)
        free (v[--k]);
      free (v);
      return -1;
    }
    k++;
  }
  *names = v;
  *count = k;
  return 0;
}

static const struct sv_io_ops memfs_ops = {
  .open = m_open,
  .close = m_close,
  .pread = m_pread,
  .pwrite = m_pwrite,
  .sync = m_sync,
  .punch = m_punch,
  .truncate = m_truncate,
  .size = m_size,
  .advise = m_advise,
  .rename = m_rename,
  .unlink = m_unlink,
  .mkdir = m_mkdir,
  .rmdir = m_rmdir,
  .syncdir = m_syncdir,
  .listdir = m_listdir,
};

struct memfs *
memfs_new (uint64_t file_max, uint64_t total_max)
{
  struct memfs *fs = calloc (1, sizeof *fs);

  if (fs == NULL)
    return NULL;
  pthread_mutex_init (&fs->mu, NULL);
  fs->io.ops = &memfs_ops;
  fs->io.opaque = fs;
  fs->file_max = file_max;
  fs->total_max = total_max;
  if (add_node (fs, "/", true) == NULL) {
    memfs_free (fs);
    errno = ENOMEM;
    return NULL;
  }
  return fs;
}

void
memfs_free (struct memfs *fs)
{
  size_t i;

  if (fs == NULL)
    return;
  for (i = 0; i < fs->nhandles; i++) {
    struct mnode *n = fs->handles[i].node;
    if (n != NULL && --n->refs == 0 && n->path == NULL)
      node_free (fs, n);
  }
  for (i = 0; i < fs->nnodes; i++)
    node_free (fs, fs->nodes[i]);
  free (fs->nodes);
  free (fs->handles);
  pthread_mutex_destroy (&fs->mu);
  free (fs);
}

const struct sv_io *
memfs_io (struct memfs *fs)
{
  return &fs->io;
}

size_t
memfs_open_handles (struct memfs *fs)
{
  size_t i, n = 0;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  for (i = 0; i < fs->nhandles; i++)
    if (fs->handles[i].node != NULL)
      n++;
  return n;
}

int
memfs_put (struct memfs *fs, const char *path, const void *data, size_t len)
{
  int h = m_open (fs, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ssize_t r;

  if (h == -1)
    return -1;
  r = m_pwrite (fs, h, data, len, 0);
  m_close (fs, h);
  return r == (ssize_t) len ? 0 : -1;
}

uint8_t *
memfs_get (struct memfs *fs, const char *path, size_t *len)
{
  struct mnode *n;
  uint8_t *copy;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&fs->mu);
  n = lookup (fs, path);
  if (n == NULL) {
    errno = ENOENT;
    return NULL;
  }
  if (n->dir) {
    errno = EISDIR;
    return NULL;
  }
  copy = malloc (n->size ? n->size : 1);
  if (copy == NULL)
    return NULL;
  if (n->size > 0)
    memcpy (copy, n->data, n->size);
  *len = n->size;
  return copy;
}

int
memfs_mkdir (struct memfs *fs, const char *path)
{
  return m_mkdir (fs, path, 0700);
}
