/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * crashsim.c: the power-loss simulating storage I/O layer (crashsim.h).
 *
 * Design notes
 * ------------
 * Content.  A file's bytes live in 4 KiB pages (NULL: a hole reading
 * zeroes), reference-counted and shared copy-on-write between a file's
 * current content, its durable content and the crash images taken
 * from it: a sync shares the current pages as the durable ones, and a
 * crash image starts from the durable pages.  A page with one reference
 * belongs to one content and is written in place; page counts are
 * atomic because images outlive, and are used apart from, their origin.
 *
 * Logs.  Each file keeps the writes (with a copy of their bytes),
 * punches and truncates made since its last sync, in order; each
 * directory keeps the entries added (create, mkdir, the target of a
 * rename to another directory), removed (unlink, rmdir, the source of
 * such a rename) and renamed within it since its last syncdir.  A
 * rename within a directory is one atomic change, as journaling
 * filesystems make it.
 *
 * A crash image replays, for every inode reachable from the root
 * through the resulting entries, its durable state plus each logged
 * change kept or not by a seeded choice, in log order, so that a change
 * kept after a dropped one lands as a disk that reorders writes would
 * leave it.  A kill -9 image (CRASHSIM_KEEP_ALL) replays nothing: it
 * copies current state, durable state and logs as they are, so the
 * changes the killed process never synced stay unsynced in the image,
 * and a power loss after the restart (a crash of the image) can still
 * drop them.  Directory changes are chosen independently of file data:
 * a name may survive while the data written to its file is lost, or the
 * reverse.  A rename whose source name did not survive is skipped.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crashsim.h"
#include "unit-helpers.h"

#define PAGE 4096u
#define SECTOR 512u

struct page {
  unsigned refs;
  uint8_t b[PAGE];
};

struct content {
  struct page **pg;
  size_t npg;                   /* slots in PG */
  uint64_t size;
};

enum fop_kind { FOP_WRITE, FOP_PUNCH, FOP_TRUNCATE };

struct fop {
  enum fop_kind kind;
  uint64_t off, len;            /* FOP_TRUNCATE: OFF is the new size */
  uint8_t *data;                /* FOP_WRITE */
};

enum nsop_kind { NS_ADD, NS_DEL, NS_RENAME };

struct inode;

struct nsop {
  enum nsop_kind kind;
  char *name, *to;              /* NS_RENAME: NAME becomes TO */
  struct inode *ino;            /* NS_ADD, NS_RENAME */
};

struct dent {
  char *name;
  struct inode *ino;
};

struct dir {
  struct dent *e;
  size_t n, cap;
};

struct inode {
  int is_dir;
  struct inode *all_next;       /* every inode of the crashsim */
  struct inode *copy;           /* while an image is built */
  /* Files. */
  struct content cur, dur;
  struct fop *log;
  size_t nlog, caplog;
  /* Directories. */
  struct dir ents, dents;       /* current, durable */
  struct nsop *ns;
  size_t nns, capns;
};

struct handle {
  struct inode *ino;            /* NULL: free slot */
  int writable;
  char *path;                   /* as opened, for messages */
};

struct crashsim {
  struct sv_io io;
  pthread_mutex_t mu;
  struct inode *root, *all;
  struct handle *h;
  size_t nh;
  uint64_t ops;
  crashsim_hook hook;
  void *hook_opaque;
};

static void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);

  if (p == NULL)
    abort ();
  return p;
}

static void *
xrealloc (void *p, size_t n)
{
  p = realloc (p, n ? n : 1);
  if (p == NULL)
    abort ();
  return p;
}

static char *
xstrdup (const char *s)
{
  char *p = strdup (s);

  if (p == NULL)
    abort ();
  return p;
}

/* Pages and contents. */

static void
page_put (struct page *p)
{
  if (p && __atomic_sub_fetch (&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
    free (p);
}

static struct page *
page_get (struct page *p)
{
  if (p)
    __atomic_add_fetch (&p->refs, 1, __ATOMIC_ACQ_REL);
  return p;
}

static void
content_reserve (struct content *c, uint64_t size)
{
  size_t need = (size + PAGE - 1) / PAGE;

  if (need > c->npg) {
    size_t n = c->npg ? c->npg : 16;
    while (n < need)
      n *= 2;
    c->pg = xrealloc (c->pg, n * sizeof *c->pg);
    memset (c->pg + c->npg, 0, (n - c->npg) * sizeof *c->pg);
    c->npg = n;
  }
}

/* Page I of C, private to C and allocated. */
static struct page *
content_page_rw (struct content *c, size_t i)
{
  struct page *p = c->pg[i];

  if (p == NULL) {
    p = xmalloc (sizeof *p);
    p->refs = 1;
    memset (p->b, 0, PAGE);
    c->pg[i] = p;
  }
  else if (__atomic_load_n (&p->refs, __ATOMIC_ACQUIRE) > 1) {
    struct page *q = xmalloc (sizeof *q);
    q->refs = 1;
    memcpy (q->b, p->b, PAGE);
    page_put (p);
    c->pg[i] = q;
    p = q;
  }
  return p;
}

static void
content_write (struct content *c, const void *buf, uint64_t n, uint64_t off)
{
  const uint8_t *src = buf;

  if (n == 0)
    return;
  content_reserve (c, off + n);
  while (n > 0) {
    size_t i = off / PAGE, o = off % PAGE;
    size_t k = PAGE - o < n ? PAGE - o : n;
    memcpy (content_page_rw (c, i)->b + o, src, k);
    src += k;
    off += k;
    n -= k;
  }
  if (off > c->size)
    c->size = off;
}

static uint64_t
content_read (const struct content *c, void *buf, uint64_t n, uint64_t off)
{
  uint8_t *dst = buf;
  uint64_t done;

  if (off >= c->size)
    return 0;
  if (n > c->size - off)
    n = c->size - off;
  done = n;
  while (n > 0) {
    size_t i = off / PAGE, o = off % PAGE;
    size_t k = PAGE - o < n ? PAGE - o : n;
    if (i < c->npg && c->pg[i])
      memcpy (dst, c->pg[i]->b + o, k);
    else
      memset (dst, 0, k);
    dst += k;
    off += k;
    n -= k;
  }
  return done;
}

/* Make [OFF, OFF+LEN) read zeroes.  A page the range covers whole is
 * freed, past the end of file too (a filesystem frees a block a punch
 * covers); the others are zeroed in part.  The size does not change. */
static void
content_zero (struct content *c, uint64_t off, uint64_t len)
{
  uint64_t end = off + len, i;

  for (i = off / PAGE; i < c->npg && (uint64_t) i * PAGE < end; i++) {
    uint64_t ps = i * PAGE, pe = ps + PAGE;
    uint64_t zs = off > ps ? off : ps, ze = end < pe ? end : pe;

    if (c->pg[i] == NULL)
      continue;
    if (zs == ps && ze == pe) {
      page_put (c->pg[i]);
      c->pg[i] = NULL;
    }
    else
      memset (content_page_rw (c, i)->b + (zs - ps), 0, ze - zs);
  }
}

static void
content_truncate (struct content *c, uint64_t size)
{
  if (size < c->size) {
    size_t first = (size + PAGE - 1) / PAGE, i;
    if (size % PAGE && size / PAGE < c->npg && c->pg[size / PAGE])
      memset (content_page_rw (c, size / PAGE)->b + size % PAGE, 0,
              PAGE - size % PAGE);
    for (i = first; i < c->npg; i++) {
      page_put (c->pg[i]);
      c->pg[i] = NULL;
    }
  }
  c->size = size;
}

static void
content_free (struct content *c)
{
  size_t i;

  for (i = 0; i < c->npg; i++)
    page_put (c->pg[i]);
  free (c->pg);
  memset (c, 0, sizeof *c);
}

/* DST (empty) becomes a copy of SRC, sharing its pages. */
static void
content_share (struct content *dst, const struct content *src)
{
  size_t i;

  dst->npg = src->npg;
  dst->size = src->size;
  dst->pg = xmalloc ((src->npg ? src->npg : 1) * sizeof *dst->pg);
  for (i = 0; i < src->npg; i++)
    dst->pg[i] = page_get (src->pg[i]);
}

static uint64_t
content_allocated (const struct content *c)
{
  uint64_t n = 0;
  size_t i;

  for (i = 0; i < c->npg; i++)
    n += c->pg[i] != NULL;
  return n * PAGE;
}

/* Inodes and directories. */

static struct inode *
inode_new (struct crashsim *cs, int is_dir)
{
  struct inode *ino = xmalloc (sizeof *ino);

  memset (ino, 0, sizeof *ino);
  ino->is_dir = is_dir;
  ino->all_next = cs->all;
  cs->all = ino;
  return ino;
}

static void
dir_free (struct dir *d)
{
  size_t i;

  for (i = 0; i < d->n; i++)
    free (d->e[i].name);
  free (d->e);
  memset (d, 0, sizeof *d);
}

static void
log_free (struct inode *ino)
{
  size_t i;

  for (i = 0; i < ino->nlog; i++)
    free (ino->log[i].data);
  ino->nlog = 0;
  for (i = 0; i < ino->nns; i++) {
    free (ino->ns[i].name);
    free (ino->ns[i].to);
  }
  ino->nns = 0;
}

static void
inode_free (struct inode *ino)
{
  content_free (&ino->cur);
  content_free (&ino->dur);
  log_free (ino);
  free (ino->log);
  free (ino->ns);
  dir_free (&ino->ents);
  dir_free (&ino->dents);
  free (ino);
}

static struct dent *
dir_find (const struct dir *d, const char *name)
{
  size_t i;

  for (i = 0; i < d->n; i++)
    if (strcmp (d->e[i].name, name) == 0)
      return &d->e[i];
  return NULL;
}

/* Bind NAME to INO in D, replacing an existing entry. */
static void
dir_set (struct dir *d, const char *name, struct inode *ino)
{
  struct dent *e = dir_find (d, name);

  if (e) {
    e->ino = ino;
    return;
  }
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 8;
    d->e = xrealloc (d->e, d->cap * sizeof *d->e);
  }
  d->e[d->n].name = xstrdup (name);
  d->e[d->n].ino = ino;
  d->n++;
}

/* Remove NAME from D; keeps the order of the others (so that images are
 * built in a reproducible order). */
static void
dir_del (struct dir *d, const char *name)
{
  struct dent *e = dir_find (d, name);

  if (e) {
    free (e->name);
    memmove (e, e + 1, (d->e + d->n - e - 1) * sizeof *e);
    d->n--;
  }
}

static void
dir_copy (struct dir *dst, const struct dir *src)
{
  size_t i;

  dir_free (dst);
  for (i = 0; i < src->n; i++)
    dir_set (dst, src->e[i].name, src->e[i].ino);
}

static void
ns_log (struct inode *d, enum nsop_kind kind, const char *name,
        const char *to, struct inode *ino)
{
  struct nsop *op;

  if (d->nns == d->capns) {
    d->capns = d->capns ? d->capns * 2 : 8;
    d->ns = xrealloc (d->ns, d->capns * sizeof *d->ns);
  }
  op = &d->ns[d->nns++];
  op->kind = kind;
  op->name = xstrdup (name);
  op->to = to ? xstrdup (to) : NULL;
  op->ino = ino;
}

static void
file_log (struct inode *f, enum fop_kind kind, uint64_t off, uint64_t len,
          const void *data)
{
  struct fop *op;

  if (f->nlog == f->caplog) {
    f->caplog = f->caplog ? f->caplog * 2 : 16;
    f->log = xrealloc (f->log, f->caplog * sizeof *f->log);
  }
  op = &f->log[f->nlog++];
  op->kind = kind;
  op->off = off;
  op->len = len;
  op->data = NULL;
  if (data) {
    op->data = xmalloc (len);
    memcpy (op->data, data, len);
  }
}

/* Path lookup in the current namespace.  The directory holding the
 * last component of PATH into *PARENT and that component into LEAF
 * (empty for the root). */
static int
walk (struct crashsim *cs, const char *path, struct inode **parent,
      char *leaf, size_t leaflen)
{
  struct inode *d = cs->root;
  const char *p = path;

  leaf[0] = '\0';
  for (;;) {
    const char *end;
    size_t len;

    while (*p == '/')
      p++;
    if (*p == '\0')
      break;
    end = strchr (p, '/');
    len = end ? (size_t) (end - p) : strlen (p);
    if (len >= leaflen) {
      errno = ENAMETOOLONG;
      return -1;
    }
    if (leaf[0] != '\0') {
      /* The previous component was a directory on the way. */
      struct dent *e;
      if (strcmp (leaf, ".") != 0) {
        e = dir_find (&d->ents, leaf);
        if (e == NULL) {
          errno = ENOENT;
          return -1;
        }
        if (!e->ino->is_dir) {
          errno = ENOTDIR;
          return -1;
        }
        d = e->ino;
      }
    }
    memcpy (leaf, p, len);
    leaf[len] = '\0';
    p += len;
  }
  *parent = d;
  return 0;
}

/* The inode at PATH, or NULL with errno. */
static struct inode *
lookup (struct crashsim *cs, const char *path)
{
  struct inode *d;
  struct dent *e;
  char leaf[256];

  if (walk (cs, path, &d, leaf, sizeof leaf) == -1)
    return NULL;
  if (leaf[0] == '\0' || strcmp (leaf, ".") == 0)
    return d;
  e = dir_find (&d->ents, leaf);
  if (e == NULL) {
    errno = ENOENT;
    return NULL;
  }
  return e->ino;
}

static struct handle *
handle_get (struct crashsim *cs, int h)
{
  if (h < 0 || (size_t) h >= cs->nh || cs->h[h].ino == NULL) {
    errno = EBADF;
    return NULL;
  }
  return &cs->h[h];
}

/* Count a state-changing operation and call the hook; CS->mu held on
 * entry, released on return.  Returns R. */
static ssize_t
counted (struct crashsim *cs, ssize_t r, const char *fmt, ...)
{
  crashsim_hook hook = cs->hook;
  void *opaque = cs->hook_opaque;
  uint64_t op = ++cs->ops;
  char what[512];
  va_list ap;

  /* Format under the lock: the arguments may name a handle's path. */
  if (hook) {
    va_start (ap, fmt);
    vsnprintf (what, sizeof what, fmt, ap);
    va_end (ap);
  }
  pthread_mutex_unlock (&cs->mu);
  if (hook)
    hook (opaque, cs, op, what);
  return r;
}

static int
fail_unlock (struct crashsim *cs, int err)
{
  pthread_mutex_unlock (&cs->mu);
  errno = err;
  return -1;
}

/* The operations. */

static int
cs_open (void *o, const char *path, int flags, mode_t mode)
{
  struct crashsim *cs = o;
  struct inode *d, *ino;
  struct dent *e;
  char leaf[256];
  size_t i;
  int created = 0, truncated = 0;

  pthread_mutex_lock (&cs->mu);
  if (walk (cs, path, &d, leaf, sizeof leaf) == -1)
    return fail_unlock (cs, errno);
  if (leaf[0] == '\0')
    return fail_unlock (cs, EISDIR);
  e = dir_find (&d->ents, leaf);
  if (e) {
    if ((flags & O_CREAT) && (flags & O_EXCL))
      return fail_unlock (cs, EEXIST);
    ino = e->ino;
    if (ino->is_dir)
      return fail_unlock (cs, EISDIR);
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
      content_truncate (&ino->cur, 0);
      file_log (ino, FOP_TRUNCATE, 0, 0, NULL);
      truncated = 1;
    }
  }
  else {
    if (!(flags & O_CREAT))
      return fail_unlock (cs, ENOENT);
    ino = inode_new (cs, 0);
    dir_set (&d->ents, leaf, ino);
    ns_log (d, NS_ADD, leaf, NULL, ino);
    created = 1;
  }
  for (i = 0; i < cs->nh && cs->h[i].ino; i++)
    ;
  if (i == cs->nh) {
    size_t n = cs->nh ? cs->nh * 2 : 16;
    cs->h = xrealloc (cs->h, n * sizeof *cs->h);
    memset (cs->h + cs->nh, 0, (n - cs->nh) * sizeof *cs->h);
    cs->nh = n;
  }
  cs->h[i].ino = ino;
  cs->h[i].writable = (flags & O_ACCMODE) != O_RDONLY;
  cs->h[i].path = xstrdup (path);
  if (created || truncated)
    return counted (cs, (int) i, "%s %s", created ? "create" : "truncate",
                    path);
  pthread_mutex_unlock (&cs->mu);
  return (int) i;
}

static int
cs_close (void *o, int h)
{
  struct crashsim *cs = o;
  struct handle *hd;

  pthread_mutex_lock (&cs->mu);
  if ((hd = handle_get (cs, h)) == NULL)
    return fail_unlock (cs, EBADF);
  hd->ino = NULL;
  free (hd->path);
  hd->path = NULL;
  pthread_mutex_unlock (&cs->mu);
  return 0;
}

static ssize_t
cs_pread (void *o, int h, void *buf, size_t n, uint64_t off)
{
  struct crashsim *cs = o;
  struct handle *hd;
  uint64_t r;

  pthread_mutex_lock (&cs->mu);
  if ((hd = handle_get (cs, h)) == NULL)
    return fail_unlock (cs, EBADF);
  r = content_read (&hd->ino->cur, buf, n, off);
  pthread_mutex_unlock (&cs->mu);
  return r;
}

static ssize_t
cs_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  struct crashsim *cs = o;
  struct handle *hd;

  pthread_mutex_lock (&cs->mu);
  if ((hd = handle_get (cs, h)) == NULL || !hd->writable)
    return fail_unlock (cs, EBADF);
  content_write (&hd->ino->cur, buf, n, off);
  file_log (hd->ino, FOP_WRITE, off, n, buf);
  return counted (cs, n, "pwrite %zu@%llu %s", n, (unsigned long long) off,
                  hd->path);
}

static int
cs_sync (void *o, int h)
{
  struct crashsim *cs = o;
  struct handle *hd;
  struct inode *ino;

  pthread_mutex_lock (&cs->mu);
  if ((hd = handle_get (cs, h)) == NULL)
    return fail_unlock (cs, EBADF);
  ino = hd->ino;
  content_free (&ino->dur);
  content_share (&ino->dur, &ino->cur);
  log_free (ino);
  return counted (cs, 0, "sync %s", hd->path);
}

static int
cs_punch (void *o, int h, uint64_t off, uint64_t len)
{
  struct crashsim *cs = o;
  struct handle *hd;

  pthread_mutex_lock (&cs->mu);
  if ((hd = handle_get (cs, h)) == NULL || !hd->writable)
    return fail_unlock (cs, EBADF);
  content_zero (&hd->ino->cur, off, len);
  file_log (hd->ino, FOP_PUNCH, off, len, NULL);
  return counted (cs, 0, "punch %llu@%llu %s", (unsigned long long) len,
                  (unsigned long long) off, hd->path);
}

static int
cs_truncate (void *o, int h, uint64_t size)
{
  struct crashsim *cs = o;
  struct handle *hd;

  pthread_mutex_lock (&cs->mu);
  if ((hd = handle_get (cs, h)) == NULL || !hd->writable)
    return fail_unlock (cs, EBADF);
  content_truncate (&hd->ino->cur, size);
  file_log (hd->ino, FOP_TRUNCATE, size, 0, NULL);
  return counted (cs, 0, "truncate %llu %s", (unsigned long long) size,
                  hd->path);
}

static int
cs_size (void *o, int h, uint64_t *size)
{
  struct crashsim *cs = o;
  struct handle *hd;

  pthread_mutex_lock (&cs->mu);
  if ((hd = handle_get (cs, h)) == NULL)
    return fail_unlock (cs, EBADF);
  *size = hd->ino->cur.size;
  pthread_mutex_unlock (&cs->mu);
  return 0;
}

static int
cs_advise (void *o, int h, uint64_t off, uint64_t len)
{
  struct crashsim *cs = o;

  pthread_mutex_lock (&cs->mu);
  if (handle_get (cs, h) == NULL)
    return fail_unlock (cs, EBADF);
  pthread_mutex_unlock (&cs->mu);
  return 0;
}

static int
cs_rename (void *o, const char *from, const char *to)
{
  struct crashsim *cs = o;
  struct inode *fd, *td, *ino;
  struct dent *fe, *te;
  char fleaf[256], tleaf[256];

  pthread_mutex_lock (&cs->mu);
  if (walk (cs, from, &fd, fleaf, sizeof fleaf) == -1 ||
      walk (cs, to, &td, tleaf, sizeof tleaf) == -1)
    return fail_unlock (cs, errno);
  if (fleaf[0] == '\0' || tleaf[0] == '\0')
    return fail_unlock (cs, EBUSY);
  if ((fe = dir_find (&fd->ents, fleaf)) == NULL)
    return fail_unlock (cs, ENOENT);
  ino = fe->ino;
  te = dir_find (&td->ents, tleaf);
  if (te) {
    if (te->ino == ino) {
      pthread_mutex_unlock (&cs->mu);
      return 0;
    }
    if (ino->is_dir && !te->ino->is_dir)
      return fail_unlock (cs, ENOTDIR);
    if (!ino->is_dir && te->ino->is_dir)
      return fail_unlock (cs, EISDIR);
    if (te->ino->is_dir && te->ino->ents.n > 0)
      return fail_unlock (cs, ENOTEMPTY);
  }
  if (fd == td) {
    dir_del (&fd->ents, fleaf);
    dir_set (&fd->ents, tleaf, ino);
    ns_log (fd, NS_RENAME, fleaf, tleaf, ino);
  }
  else {
    dir_del (&fd->ents, fleaf);
    ns_log (fd, NS_DEL, fleaf, NULL, NULL);
    dir_set (&td->ents, tleaf, ino);
    ns_log (td, NS_ADD, tleaf, NULL, ino);
  }
  return counted (cs, 0, "rename %s %s", from, to);
}

static int
cs_unlink (void *o, const char *path)
{
  struct crashsim *cs = o;
  struct inode *d;
  struct dent *e;
  char leaf[256];

  pthread_mutex_lock (&cs->mu);
  if (walk (cs, path, &d, leaf, sizeof leaf) == -1)
    return fail_unlock (cs, errno);
  if (leaf[0] == '\0')
    return fail_unlock (cs, EISDIR);
  if ((e = dir_find (&d->ents, leaf)) == NULL)
    return fail_unlock (cs, ENOENT);
  if (e->ino->is_dir)
    return fail_unlock (cs, EISDIR);
  dir_del (&d->ents, leaf);
  ns_log (d, NS_DEL, leaf, NULL, NULL);
  return counted (cs, 0, "unlink %s", path);
}

static int
cs_mkdir (void *o, const char *path, mode_t mode)
{
  struct crashsim *cs = o;
  struct inode *d, *ino;
  char leaf[256];

  pthread_mutex_lock (&cs->mu);
  if (walk (cs, path, &d, leaf, sizeof leaf) == -1)
    return fail_unlock (cs, errno);
  if (leaf[0] == '\0' || dir_find (&d->ents, leaf))
    return fail_unlock (cs, EEXIST);
  ino = inode_new (cs, 1);
  dir_set (&d->ents, leaf, ino);
  ns_log (d, NS_ADD, leaf, NULL, ino);
  return counted (cs, 0, "mkdir %s", path);
}

static int
cs_rmdir (void *o, const char *path)
{
  struct crashsim *cs = o;
  struct inode *d;
  struct dent *e;
  char leaf[256];

  pthread_mutex_lock (&cs->mu);
  if (walk (cs, path, &d, leaf, sizeof leaf) == -1)
    return fail_unlock (cs, errno);
  if (leaf[0] == '\0')
    return fail_unlock (cs, EBUSY);
  if ((e = dir_find (&d->ents, leaf)) == NULL)
    return fail_unlock (cs, ENOENT);
  if (!e->ino->is_dir)
    return fail_unlock (cs, ENOTDIR);
  if (e->ino->ents.n > 0)
    return fail_unlock (cs, ENOTEMPTY);
  dir_del (&d->ents, leaf);
  ns_log (d, NS_DEL, leaf, NULL, NULL);
  return counted (cs, 0, "rmdir %s", path);
}

/* Every file durable, as a sync of each would make it.  Directories
 * are left as they are: the engine orders its renames and creations
 * with syncdir, and a simulation that made them durable here would
 * hide a missing one. */
static int
cs_syncfs (void *o, int h)
{
  struct crashsim *cs = o;
  struct inode *ino;

  pthread_mutex_lock (&cs->mu);
  if (handle_get (cs, h) == NULL)
    return fail_unlock (cs, EBADF);
  for (ino = cs->all; ino != NULL; ino = ino->all_next)
    if (!ino->is_dir) {
      content_free (&ino->dur);
      content_share (&ino->dur, &ino->cur);
      log_free (ino);
    }
  return counted (cs, 0, "syncfs");
}

static int
cs_syncdir (void *o, const char *path)
{
  struct crashsim *cs = o;
  struct inode *d;

  pthread_mutex_lock (&cs->mu);
  if ((d = lookup (cs, path)) == NULL)
    return fail_unlock (cs, errno);
  if (!d->is_dir)
    return fail_unlock (cs, ENOTDIR);
  dir_copy (&d->dents, &d->ents);
  log_free (d);
  return counted (cs, 0, "syncdir %s", path);
}

static int
cs_listdir (void *o, const char *path, char ***names, size_t *n)
{
  struct crashsim *cs = o;
  struct inode *d;
  char **v;
  size_t i;

  pthread_mutex_lock (&cs->mu);
  if ((d = lookup (cs, path)) == NULL)
    return fail_unlock (cs, errno);
  if (!d->is_dir)
    return fail_unlock (cs, ENOTDIR);
  v = xmalloc ((d->ents.n ? d->ents.n : 1) * sizeof *v);
  for (i = 0; i < d->ents.n; i++)
    v[i] = xstrdup (d->ents.e[i].name);
  *names = v;
  *n = d->ents.n;
  pthread_mutex_unlock (&cs->mu);
  return 0;
}

/* Space is never short here and a reservation changes no content:
 * nothing to do, nothing counted. */
static int
cs_allocate (void *o, int h, uint64_t off, uint64_t len)
{
  struct crashsim *cs = o;

  pthread_mutex_lock (&cs->mu);
  if (handle_get (cs, h) == NULL)
    return fail_unlock (cs, EBADF);
  pthread_mutex_unlock (&cs->mu);
  return 0;
}

/* A reservation that extends the file: the size grows (never
 * shrinks), logged as a truncate to the new size, which a crash keeps
 * or drops like any unsynced change of size. */
static int
cs_extend (void *o, int h, uint64_t off, uint64_t len)
{
  struct crashsim *cs = o;
  struct handle *hd;

  pthread_mutex_lock (&cs->mu);
  if ((hd = handle_get (cs, h)) == NULL || !hd->writable)
    return fail_unlock (cs, EBADF);
  if (off + len <= hd->ino->cur.size) {
    pthread_mutex_unlock (&cs->mu);
    return 0;
  }
  content_truncate (&hd->ino->cur, off + len);
  file_log (hd->ino, FOP_TRUNCATE, off + len, 0, NULL);
  return counted (cs, 0, "extend %llu %s", (unsigned long long) (off + len),
                  hd->path);
}

static const struct sv_io_ops crashsim_ops_table = {
  .open = cs_open,
  .close = cs_close,
  .pread = cs_pread,
  .pwrite = cs_pwrite,
  .sync = cs_sync,
  .syncfs = cs_syncfs,
  .punch = cs_punch,
  .truncate = cs_truncate,
  .size = cs_size,
  .advise = cs_advise,
  .rename = cs_rename,
  .unlink = cs_unlink,
  .mkdir = cs_mkdir,
  .rmdir = cs_rmdir,
  .syncdir = cs_syncdir,
  .listdir = cs_listdir,
  .allocate = cs_allocate,
  .extend = cs_extend,
};

/* Life cycle. */

struct crashsim *
crashsim_new (void)
{
  struct crashsim *cs = xmalloc (sizeof *cs);

  memset (cs, 0, sizeof *cs);
  pthread_mutex_init (&cs->mu, NULL);
  cs->io.ops = &crashsim_ops_table;
  cs->io.opaque = cs;
  cs->root = inode_new (cs, 1);
  return cs;
}

void
crashsim_free (struct crashsim *cs)
{
  size_t i;

  while (cs->all) {
    struct inode *ino = cs->all;
    cs->all = ino->all_next;
    inode_free (ino);
  }
  for (i = 0; i < cs->nh; i++)
    free (cs->h[i].path);
  free (cs->h);
  pthread_mutex_destroy (&cs->mu);
  free (cs);
}

const struct sv_io *
crashsim_io (struct crashsim *cs)
{
  return &cs->io;
}

uint64_t
crashsim_ops (struct crashsim *cs)
{
  uint64_t n;

  pthread_mutex_lock (&cs->mu);
  n = cs->ops;
  pthread_mutex_unlock (&cs->mu);
  return n;
}

void
crashsim_set_hook (struct crashsim *cs, crashsim_hook fn, void *opaque)
{
  pthread_mutex_lock (&cs->mu);
  cs->hook = fn;
  cs->hook_opaque = opaque;
  pthread_mutex_unlock (&cs->mu);
}

/* Crash images. */

struct image {
  struct crashsim *to;
  uint64_t rng;
  enum crashsim_mode mode;
  struct crashsim_stats *st;
};

enum fate { KEEP, DROP, TEAR };

static enum fate
choose (struct image *im, int tearable)
{
  uint64_t r;

  if (im->mode == CRASHSIM_KEEP_ALL)
    return KEEP;
  if (im->mode == CRASHSIM_SYNCED_ONLY)
    return DROP;
  r = ut_rand_below (&im->rng, 8);
  if (r < 3)
    return KEEP;
  if (r < 6 || !tearable)
    return DROP;
  return TEAR;
}

/* Apply the sectors of write OP that survive a tear: a prefix, a
 * suffix, or any subset, cut at absolute 512-byte boundaries. */
static void
tear_write (struct image *im, struct content *c, const struct fop *op)
{
  uint64_t first = op->off / SECTOR;
  uint64_t last = (op->off + op->len - 1) / SECTOR;
  uint64_t n = last - first + 1, cut = 1 + ut_rand_below (&im->rng, n - 1);
  unsigned style = ut_rand_below (&im->rng, 3);
  uint64_t s;

  for (s = first; s <= last; s++) {
    uint64_t lo = s * SECTOR > op->off ? s * SECTOR : op->off;
    uint64_t hi = (s + 1) * SECTOR < op->off + op->len
      ? (s + 1) * SECTOR : op->off + op->len;
    int keep = style == 0 ? s - first < cut
      : style == 1 ? s - first >= cut : (int) ut_rand_below (&im->rng, 2);
    if (keep)
      content_write (c, op->data + (lo - op->off), hi - lo, lo);
  }
}

static void
replay_file (struct image *im, const struct inode *from, struct content *c)
{
  size_t i;

  content_share (c, &from->dur);
  for (i = 0; i < from->nlog; i++) {
    const struct fop *op = &from->log[i];
    int tearable = op->kind == FOP_WRITE && op->len > 0 &&
      op->off / SECTOR != (op->off + op->len - 1) / SECTOR;
    enum fate f = choose (im, tearable);

    if (op->kind != FOP_WRITE) {
      if (f == KEEP) {
        im->st->other_kept++;
        if (op->kind == FOP_PUNCH)
          content_zero (c, op->off, op->len);
        else
          content_truncate (c, op->off);
      }
      else
        im->st->other_dropped++;
      continue;
    }
    if (f == KEEP) {
      im->st->writes_kept++;
      content_write (c, op->data, op->len, op->off);
      continue;
    }
    if (f == TEAR) {
      im->st->writes_torn++;
      tear_write (im, c, op);
    }
    else
      im->st->writes_dropped++;
    /* The size may have reached the disk without the data. */
    if (op->off + op->len > c->size && im->mode == CRASHSIM_RANDOM &&
        ut_rand_below (&im->rng, 4) == 0)
      content_truncate (c, op->off + op->len);
  }
}

static struct inode *image_inode (struct image *im, struct inode *from);

static void
replay_dir (struct image *im, struct inode *from, struct inode *to)
{
  struct dir d = { NULL, 0, 0 };
  size_t i;

  dir_copy (&d, &from->dents);
  for (i = 0; i < from->nns; i++) {
    const struct nsop *op = &from->ns[i];
    struct dent *e;

    if (choose (im, 0) != KEEP) {
      im->st->names_dropped++;
      continue;
    }
    im->st->names_kept++;
    switch (op->kind) {
    case NS_ADD:
      dir_set (&d, op->name, op->ino);
      break;
    case NS_DEL:
      dir_del (&d, op->name);
      break;
    case NS_RENAME:
      e = dir_find (&d, op->name);
      if (e && e->ino == op->ino) {
        dir_del (&d, op->name);
        dir_set (&d, op->to, op->ino);
      }
      break;
    }
  }
  for (i = 0; i < d.n; i++)
    dir_set (&to->ents, d.e[i].name, image_inode (im, d.e[i].ino));
  dir_copy (&to->dents, &to->ents);
  dir_free (&d);
}

/* The copy of FROM in the image (made once, even when it is reachable
 * by two names). */
static struct inode *
image_inode (struct image *im, struct inode *from)
{
  struct inode *to;

  if (from->copy)
    return from->copy;
  to = inode_new (im->to, from->is_dir);
  from->copy = to;
  if (from->is_dir)
    replay_dir (im, from, to);
  else {
    replay_file (im, from, &to->cur);
    content_share (&to->dur, &to->cur);
  }
  return to;
}

/* CRASHSIM_KEEP_ALL: TO (new, empty) becomes a copy of FROM with the
 * same split between durable and unsynced state.  Everything reachable
 * is copied: through the current entries, the durable ones (a name
 * removed but not yet synced away comes back after a crash) and the
 * logged changes. */
static struct inode *clone_inode (struct image *im, struct inode *from);

static void
clone_into (struct image *im, struct inode *from, struct inode *to)
{
  size_t i;

  from->copy = to;
  if (!from->is_dir) {
    content_share (&to->cur, &from->cur);
    content_share (&to->dur, &from->dur);
    for (i = 0; i < from->nlog; i++) {
      const struct fop *op = &from->log[i];
      file_log (to, op->kind, op->off, op->len, op->data);
      if (op->kind == FOP_WRITE)
        im->st->writes_kept++;
      else
        im->st->other_kept++;
    }
    return;
  }
  for (i = 0; i < from->ents.n; i++)
    dir_set (&to->ents, from->ents.e[i].name,
             clone_inode (im, from->ents.e[i].ino));
  for (i = 0; i < from->dents.n; i++)
    dir_set (&to->dents, from->dents.e[i].name,
             clone_inode (im, from->dents.e[i].ino));
  for (i = 0; i < from->nns; i++) {
    const struct nsop *op = &from->ns[i];
    ns_log (to, op->kind, op->name, op->to,
            op->ino ? clone_inode (im, op->ino) : NULL);
    im->st->names_kept++;
  }
}

static struct inode *
clone_inode (struct image *im, struct inode *from)
{
  struct inode *to;

  if (from->copy)
    return from->copy;
  to = inode_new (im->to, from->is_dir);
  clone_into (im, from, to);
  return to;
}

struct crashsim *
crashsim_crash (struct crashsim *cs, uint64_t seed, enum crashsim_mode mode,
                struct crashsim_stats *stats)
{
  struct crashsim_stats dummy;
  struct image im;
  struct inode *ino;

  memset (&dummy, 0, sizeof dummy);
  if (stats)
    memset (stats, 0, sizeof *stats);
  im.to = crashsim_new ();
  im.rng = seed;
  im.mode = mode;
  im.st = stats ? stats : &dummy;

  pthread_mutex_lock (&cs->mu);
  /* The root of the image is the new crashsim's own root. */
  cs->root->copy = im.to->root;
  if (mode == CRASHSIM_KEEP_ALL)
    clone_into (&im, cs->root, im.to->root);
  else
    replay_dir (&im, cs->root, im.to->root);
  for (ino = cs->all; ino; ino = ino->all_next)
    ino->copy = NULL;
  pthread_mutex_unlock (&cs->mu);
  return im.to;
}

int
crashsim_file_info (struct crashsim *cs, const char *path, uint64_t *size,
                    uint64_t *allocated)
{
  struct inode *ino;

  pthread_mutex_lock (&cs->mu);
  if ((ino = lookup (cs, path)) == NULL)
    return fail_unlock (cs, errno);
  if (ino->is_dir)
    return fail_unlock (cs, EISDIR);
  *size = ino->cur.size;
  *allocated = content_allocated (&ino->cur);
  pthread_mutex_unlock (&cs->mu);
  return 0;
}

static int
export_dir (const struct inode *d, const char *host)
{
  size_t i;

  if (mkdir (host, 0700) == -1)
    return -1;
  for (i = 0; i < d->ents.n; i++) {
    const struct inode *ino = d->ents.e[i].ino;
    char *path;
    int r = 0;

    if (asprintf (&path, "%s/%s", host, d->ents.e[i].name) == -1)
      return -1;
    if (ino->is_dir)
      r = export_dir (ino, path);
    else {
      int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      size_t p;
      if (fd == -1)
        r = -1;
      for (p = 0; r == 0 && p < ino->cur.npg; p++)
        if (ino->cur.pg[p] && (uint64_t) p * PAGE < ino->cur.size) {
          uint64_t n = ino->cur.size - (uint64_t) p * PAGE;
          if (n > PAGE)
            n = PAGE;
          if (pwrite (fd, ino->cur.pg[p]->b, n, (off_t) p * PAGE) != (ssize_t) n)
            r = -1;
        }
      if (r == 0 && ftruncate (fd, ino->cur.size) == -1)
        r = -1;
      if (fd != -1)
        close (fd);
    }
    free (path);
    if (r == -1)
      return -1;
  }
  return 0;
}

int
crashsim_export (struct crashsim *cs, const char *dir)
{
  int r;

  pthread_mutex_lock (&cs->mu);
  r = export_dir (cs->root, dir);
  pthread_mutex_unlock (&cs->mu);
  return r;
}
