/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * view.c: views: a live volume or a snapshot opened for I/O by name
 * ("NAME" or "NAME@ID"), each call a thin step down to the volume; a
 * write refused for want of space asks the space policy for room
 * (policy.c) and is retried (layer 11).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "errmsg.h"
#include "ondisk.h"
#include "pool-internal.h"
#include "proto.h"
#include "utctime.h"
#include "volume.h"
#include "lockorder.h"

struct sv_view {
  struct sv_pool *pool;
  struct volume *v;
  int is_snap;
  struct snap snap;             /* a copy: the list may move */
};

/* Views. */

struct sv_view *
view_open (struct sv_pool *pool, const char *export)
{
  char name[SV_NAME_MAX + 1];
  const char *at = strchr (export, '@');
  size_t len = at ? (size_t) (at - export) : strlen (export);
  struct sv_view *view;
  struct volume *v;

  if (len > SV_NAME_MAX) {
    sv_error (ENOENT, "no export named '%.80s': the volume name is too long",
              export);
    return NULL;
  }
  memcpy (name, export, len);
  name[len] = '\0';
  if (sv_check_name (name) == -1) {
    sv_error_prefix ("export '%.80s'", export);
    errno = ENOENT;
    return NULL;
  }
  view = calloc (1, sizeof *view);
  if (view == NULL) {
    sv_error (ENOMEM, "out of memory");
    return NULL;
  }

  SV_LOCK_FOR_CURRENT_SCOPE (&pool->mu, LOCK_POOL);
  v = pool_find_volume (pool, name);
  if (v == NULL) {
    free (view);
    sv_error (ENOENT, "no export named '%.80s': there is no volume %s",
              export, name);
    return NULL;
  }
  if (volume_reads_origin (v) && v->origin == NULL) {
    free (view);
    sv_error (ENXIO, "export '%.80s' is not served: volume %s is a clone"
              " whose origin %s is missing", export, name, v->origin_of.name);
    return NULL;
  }
  view->pool = pool;
  view->v = v;
  if (at) {
    struct uuid id;
    ssize_t idx;

    if (uuid_parse (at + 1, &id) == -1) {
      free (view);
      sv_error (ENOENT, "no export named '%.80s': '%.40s' is not a snapshot"
                " or set id (a UUID)", export, at + 1);
      return NULL;
    }
    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    idx = volume_snap_index (v, &id, 0);
    if (idx < 0)
      idx = volume_snap_index (v, &id, 1);
    if (idx < 0) {
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
      free (view);
      sv_error (ENOENT, "no export named '%.80s': volume %s has no snapshot"
                " or set with id %s", export, name, at + 1);
      return NULL;
    }
    view->snap = v->snaps[idx];
    view->snap.holds = NULL;    /* the list's */
    view->snap.nholds = 0;
    if (volume_path_of (v, view->snap.gen, &view->snap.path) == -1) {
      sv_rwunlock (&v->snap_lock, LOCK_SNAP);
      free (view);
      return NULL;
    }
    v->snaps[idx].open_count++;
    view->is_snap = 1;
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  }
  else
    v->open_count++;
  return view;
}

void
view_close (struct sv_view *view)
{
  struct volume *v;

  if (view == NULL)
    return;
  v = view->v;
  sv_lock (&view->pool->mu, LOCK_POOL);
  if (view->is_snap) {
    ssize_t idx;
    sv_rdlock (&v->snap_lock, LOCK_SNAP);
    idx = volume_snap_index (v, &view->snap.id, 0);
    if (idx >= 0)
      v->snaps[idx].open_count--;
    sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  }
  else
    v->open_count--;
  sv_unlock (&view->pool->mu, LOCK_POOL);
  free (view->snap.path);
  free (view);
}

int
view_is_snapshot (const struct sv_view *view)
{
  return view->is_snap;
}

uint64_t
view_size (const struct sv_view *view)
{
  return view->is_snap ? view->snap.size : view->v->size;
}

void
view_format_size (uint64_t size, char *buf, size_t len)
{
  static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB",
                                       "PiB", "EiB" };
  size_t u = 0;

  while (u + 1 < sizeof units / sizeof units[0] && size >= 1024 &&
         size % 1024 == 0) {
    size /= 1024;
    u++;
  }
  snprintf (buf, len, "%" PRIu64 " %s", size, units[u]);
}

void
view_describe_volume (char *buf, size_t len, uint64_t size,
                      size_t nsnapshots, uint64_t created)
{
  char sz[32], when[UTCTIME_BUFSIZE];

  view_format_size (size, sz, sizeof sz);
  utctime_format (created, when, sizeof when);
  snprintf (buf, len, "live volume, %s, %zu snapshot%s, created %s", sz,
            nsnapshots, nsnapshots == 1 ? "" : "s", when);
}

void
view_describe_snapshot (char *buf, size_t len, const char *volume,
                        uint64_t size, uint64_t created, const char *label)
{
  char sz[32], when[UTCTIME_BUFSIZE];

  view_format_size (size, sz, sizeof sz);
  utctime_format (created, when, sizeof when);
  snprintf (buf, len, "snapshot of %s, %s, taken %s%s%s%s", volume, sz, when,
            label[0] ? ", label \"" : "", label, label[0] ? "\"" : "");
}

void
view_describe (struct sv_view *view, char *buf, size_t len)
{
  struct volume *v = view->v;
  size_t ns;

  if (view->is_snap) {
    view_describe_snapshot (buf, len, v->name, view->snap.size,
                            view->snap.created, view->snap.label);
    return;
  }
  sv_rdlock (&v->snap_lock, LOCK_SNAP);
  ns = v->nsnaps;
  sv_rwunlock (&v->snap_lock, LOCK_SNAP);
  view_describe_volume (buf, len, v->size, ns, v->created);
}

void
view_block_size (const struct sv_view *view, uint32_t *minimum,
                 uint32_t *preferred, uint32_t *maximum)
{
  *minimum = 1;
  *preferred = view->v->subcluster_size;
  *maximum = 64 * 1024 * 1024;
}

static int
refuse_snapshot (struct sv_view *view, const char *what)
{
  char id[UUID_STRLEN + 1];

  uuid_format (&view->snap.id, id);
  return sv_error (EROFS, "%s refused: %s@%s is a read-only snapshot",
                   what, view->v->name, id);
}

int
view_pread (struct sv_view *view, void *buf, uint32_t count, uint64_t offset)
{
  return volume_pread (view->v, view->is_snap ? &view->snap : NULL, buf,
                       count, offset);
}

int
view_pwrite (struct sv_view *view, const void *buf, uint32_t count,
             uint64_t offset, int fua)
{
  uint64_t seen;
  int r;

  if (view->is_snap)
    return refuse_snapshot (view, "write");
  /* A write the pool has no room for may get room from the space
   * policy (delete-oldest): each round deletes one snapshot set, so
   * this ends when the write fits or nothing is left to delete. */
  do {
    seen = pool_room_made (view->pool);
    r = volume_pwrite (view->v, buf, count, offset, fua);
  } while (r == -1 && errno == ENOSPC && pool_make_room (view->pool, seen));
  return r;
}

int
view_zero (struct sv_view *view, uint32_t count, uint64_t offset,
           int may_trim, int fast, int fua)
{
  uint32_t ss = view->v->subcluster_size;
  uint64_t end = offset + count, seen;
  int r;

  if (view->is_snap)
    return refuse_snapshot (view, "zero");
  if (offset > view->v->size || count > view->v->size - offset)
    return sv_error (EINVAL, "volume %s: request [%" PRIu64 ", +%" PRIu32
                     ") is past the end (size %" PRIu64 ")",
                     view->v->name, offset, count, view->v->size);
  /* Whole subclusters are a metadata change; edges are data writes. */
  if (fast && count > 0 &&
      (offset % ss != 0 || (end % ss != 0 && end != view->v->size)))
    return sv_error (ENOTSUP, "volume %s: fast zero of [%" PRIu64 ", +%"
                     PRIu32 ") would write partial %" PRIu32
                     "-byte blocks as data", view->v->name, offset, count, ss);
  do {
    seen = pool_room_made (view->pool);
    r = volume_zero (view->v, count, offset, 0, fua);
  } while (r == -1 && errno == ENOSPC && pool_make_room (view->pool, seen));
  return r;
}

int
view_trim (struct sv_view *view, uint32_t count, uint64_t offset, int fua)
{
  if (view->is_snap)
    return refuse_snapshot (view, "trim");
  return volume_zero (view->v, count, offset, 1, fua);
}

int
view_flush (struct sv_view *view)
{
  return volume_flush (view->v);
}

int
view_cache (struct sv_view *view, uint32_t count, uint64_t offset)
{
  return volume_cache (view->v, view->is_snap ? &view->snap : NULL, count,
                       offset);
}

int
view_extents (struct sv_view *view, uint32_t count, uint64_t offset,
              int req_one, sv_extent_fn fn, void *opaque)
{
  return volume_extents (view->v, view->is_snap ? &view->snap : NULL, count,
                         offset, req_one, fn, opaque);
}
