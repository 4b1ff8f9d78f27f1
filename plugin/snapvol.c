/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * snapvol.c: the nbdkit plugin: thin adapters from nbdkit callbacks to
 * the volume engine (server/pool.h), and the plugin's configuration.
 * The control socket (control.c) and the provider link to the
 * coordinator (provider.c) are started from here.
 *
 * Export names: "NAME" is the live volume (read-write), "NAME@ID" a
 * snapshot (read-only), ID being the snapshot's or its set's UUID.
 * Engine failures are reported with the engine's message and errno
 * (.errno_is_preserved), so the client gets the engine's error code.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "cleanup.h"
#include "control.h"
#include "exposure.h"
#include "pool.h"
#include "provider.h"
#include "retention.h"
#include "vector.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

_Static_assert (SV_EXTENT_HOLE == NBDKIT_EXTENT_HOLE &&
                SV_EXTENT_ZERO == NBDKIT_EXTENT_ZERO,
                "engine extent flags must be nbdkit's");

/* NBD limits export names and descriptions to 4096 bytes; ours are
 * far shorter. */
#define DESCRIPTION_MAX 1024

/* A volume named on the command line: volume=NAME:SIZE. */
struct volume_spec {
  char name[SV_NAME_MAX + 1];
  uint64_t size;
  const char *text;             /* NAME:SIZE as given, for messages */
};
DEFINE_VECTOR_TYPE (volume_spec_vector, struct volume_spec);

/* Configuration, fixed once .config_complete returns. */
static char *dir;
static char *control_path;
static uint32_t cluster_size;           /* 0: the engine's default */
static uint64_t prealloc;               /* 0: the engine's default */
static unsigned reclaim_step;           /* 0: the engine's default */
static unsigned retention_interval = RETENTION_INTERVAL_DEFAULT;
static bool retention_interval_given;
static volume_spec_vector volume_specs = empty_vector;

/* State from .get_ready to .cleanup. */
static struct sv_pool *pool;
static struct control *control;
static struct provider *provider;
static struct retention *retention;

struct handle {
  struct sv_view *view;
  char description[DESCRIPTION_MAX];
};

/* Report the engine call that just failed, keeping its errno for
 * nbdkit to send to the client. */
static int
engine_error (void)
{
  int err = errno;

  nbdkit_error ("%s", sv_errmsg ());
  errno = err;
  return -1;
}

/* Configuration. */

static int
config_once (char **var, const char *key, const char *value)
{
  if (*var != NULL) {
    nbdkit_error ("%s=%s: %s given twice", key, value, key);
    return -1;
  }
  /* nbdkit changes to / when it daemonizes. */
  *var = nbdkit_absolute_path (value);
  return *var ? 0 : -1;
}

static int
config_volume (const char *value)
{
  struct volume_spec v;
  const char *colon = strchr (value, ':');
  size_t namelen, i;
  int64_t size;

  if (colon == NULL || colon == value) {
    nbdkit_error ("volume=%s: expected NAME:SIZE, for example "
                  "volume=data:10G", value);
    return -1;
  }
  namelen = colon - value;
  if (namelen > SV_NAME_MAX) {
    nbdkit_error ("volume=%s: the name is longer than %d bytes",
                  value, SV_NAME_MAX);
    return -1;
  }
  size = nbdkit_parse_size (colon + 1);
  if (size == -1) {
    nbdkit_error ("volume=%s: invalid size '%s'", value, colon + 1);
    return -1;
  }
  if (size == 0) {
    nbdkit_error ("volume=%s: the size must be greater than 0", value);
    return -1;
  }
  for (i = 0; i < volume_specs.len; i++)
    if (strlen (volume_specs.ptr[i].name) == namelen &&
        memcmp (volume_specs.ptr[i].name, value, namelen) == 0) {
      nbdkit_error ("volume=%s: volume %.*s is given twice",
                    value, (int) namelen, value);
      return -1;
    }

  memcpy (v.name, value, namelen);
  v.name[namelen] = '\0';
  v.size = size;
  v.text = nbdkit_strdup_intern (value);
  if (v.text == NULL)
    return -1;
  if (volume_spec_vector_append (&volume_specs, v) == -1) {
    nbdkit_error ("volume=%s: %m", value);
    return -1;
  }
  return 0;
}

/* KEY=VALUE as a size, given at most once (GIVEN: it was before).
 * Returns the size, or -1 after an error naming the parameter. */
static int64_t
config_size_once (const char *key, const char *value, int given)
{
  int64_t size;

  if (given) {
    nbdkit_error ("%s=%s: %s given twice", key, value, key);
    return -1;
  }
  size = nbdkit_parse_size (value);
  if (size == -1)
    nbdkit_error ("%s=%s: invalid size", key, value);
  return size;
}

static int
config_cluster_size (const char *value)
{
  int64_t size = config_size_once ("cluster-size", value, cluster_size != 0);

  if (size == -1)
    return -1;
  if (size < SV_CLUSTER_MIN || size > SV_CLUSTER_MAX ||
      (size & (size - 1)) != 0) {
    nbdkit_error ("cluster-size=%s: must be a power of two from 4K to 1M",
                  value);
    return -1;
  }
  cluster_size = (uint32_t) size;
  return 0;
}

static int
config_prealloc (const char *value)
{
  int64_t size = config_size_once ("prealloc", value, prealloc != 0);

  if (size == -1)
    return -1;
  if (size > (int64_t) 1 << 40) {
    nbdkit_error ("prealloc=%s: at most 1T", value);
    return -1;
  }
  prealloc = size == 0 ? SV_PREALLOC_NONE : (uint64_t) size;
  return 0;
}

static int
config_reclaim_step (const char *value)
{
  unsigned n;

  if (reclaim_step != 0) {
    nbdkit_error ("reclaim-step=%s: reclaim-step given twice", value);
    return -1;
  }
  if (nbdkit_parse_unsigned ("reclaim-step", value, &n) == -1)
    return -1;
  if (n < 1 || n > SV_RECLAIM_STEP_MAX) {
    nbdkit_error ("reclaim-step=%s: must be 1 to %d clusters", value,
                  SV_RECLAIM_STEP_MAX);
    return -1;
  }
  reclaim_step = n;
  return 0;
}

static int
config_retention_interval (const char *value)
{
  unsigned n;

  if (retention_interval_given) {
    nbdkit_error ("retention-interval=%s: retention-interval given twice",
                  value);
    return -1;
  }
  if (nbdkit_parse_unsigned ("retention-interval", value, &n) == -1)
    return -1;
  if (n < 1 || n > RETENTION_INTERVAL_MAX) {
    nbdkit_error ("retention-interval=%s: must be 1 to %d seconds", value,
                  RETENTION_INTERVAL_MAX);
    return -1;
  }
  retention_interval = n;
  retention_interval_given = true;
  return 0;
}

static int
snapvol_config (const char *key, const char *value)
{
  int r = provider_config (key, value);

  if (r <= 0)
    return r;
  if (strcmp (key, "dir") == 0)
    return config_once (&dir, key, value);
  if (strcmp (key, "control") == 0)
    return config_once (&control_path, key, value);
  if (strcmp (key, "volume") == 0)
    return config_volume (value);
  if (strcmp (key, "cluster-size") == 0)
    return config_cluster_size (value);
  if (strcmp (key, "prealloc") == 0)
    return config_prealloc (value);
  if (strcmp (key, "retention-interval") == 0)
    return config_retention_interval (value);
  if (strcmp (key, "reclaim-step") == 0)
    return config_reclaim_step (value);
  nbdkit_error ("%s=%s: unknown parameter '%s'", key, value, key);
  return -1;
}

static int
snapvol_config_complete (void)
{
  if (dir == NULL) {
    nbdkit_error ("the dir=DIR parameter is required: the directory of "
                  "the pool (created if missing)");
    return -1;
  }
  return provider_config_complete ();
}

#define snapvol_config_help \
  "dir=DIR              (required) The pool directory (created if missing).\n" \
  "volume=NAME:SIZE     Serve volume NAME, created with SIZE if missing.\n" \
  "cluster-size=SIZE    Cluster size of new volumes (4K..1M, default 64K).\n" \
  "prealloc=SIZE        Data file reserved ahead of new clusters (default\n" \
  "                     16M, 0: none).\n" \
  "control=SOCKET       Serve the JSON-RPC control socket at SOCKET.\n" \
  "retention-interval=SECONDS  How often retention runs besides after\n" \
  "                     each snapshot (1..86400, default 60).\n" \
  "reclaim-step=N       Clusters a deletion's background reclaim frees\n" \
  "                     per step (1..65536, default 256).\n" \
  provider_config_help

static void
snapvol_dump_plugin (void)
{
  printf ("snapvol_version=%s\n", PACKAGE_VERSION);
  printf ("snapvol_default_cluster_size=%u\n", SV_CLUSTER_DEFAULT);
}

/* Create the volume named on the command line, or check that the one
 * in the pool has the size asked for. */
static int
ensure_volume (const struct volume_spec *v)
{
  CLEANUP_FREE struct sv_volume_info *info = NULL;
  char have[32], want[32];
  size_t n = 0;

  if (pool_volume_list (pool, v->name, &info, &n) == -1 && errno != ENOENT) {
    nbdkit_error ("volume=%s: %s", v->text, sv_errmsg ());
    return -1;
  }
  if (n == 0) {
    if (pool_volume_create (pool, v->name, v->size, 0) == -1) {
      nbdkit_error ("volume=%s: %s", v->text, sv_errmsg ());
      return -1;
    }
    nbdkit_debug ("created volume %s of %" PRIu64 " bytes", v->name, v->size);
    return 0;
  }
  if (info[0].size != v->size) {
    view_format_size (info[0].size, have, sizeof have);
    view_format_size (v->size, want, sizeof want);
    nbdkit_error ("volume=%s: volume %s already exists with size %s "
                  "(%" PRIu64 " bytes), not %s (%" PRIu64 " bytes)",
                  v->text, v->name, have, info[0].size, want, v->size);
    return -1;
  }
  return 0;
}

/* A clone whose origin is missing is not served: say so at start, for
 * each (the pool serves the rest). */
static void
report_missing_origins (void)
{
  struct sv_volume_info *vi;
  size_t n, i;

  if (pool_volume_list (pool, NULL, &vi, &n) == -1) {
    nbdkit_error ("%s", sv_errmsg ());
    return;
  }
  for (i = 0; i < n; i++)
    if (vi[i].origin_missing)
      nbdkit_error ("volume %s is a clone of %s, which is missing from the"
                    " pool: it is not served (snapvolctl check %s)",
                    vi[i].name, vi[i].origin, dir);
  free (vi);
}

static int
snapvol_get_ready (void)
{
  const struct sv_pool_options opts = {
    .default_cluster_size = cluster_size,
    .prealloc = prealloc,
    .reclaim_step = reclaim_step,
    .log = retention_log,
  };
  size_t i;

  pool = pool_open (dir, &opts, 1);
  if (pool == NULL)
    return engine_error ();
  report_missing_origins ();
  for (i = 0; i < volume_specs.len; i++)
    if (ensure_volume (&volume_specs.ptr[i]) == -1)
      goto err;
  if (control_path != NULL) {
    control = control_listen (control_path, pool, dir,
                              pool_default_cluster_size (pool));
    if (control == NULL)
      goto err;
  }
  if (provider_enabled ()) {
    provider = provider_new (pool, dir, pool_default_cluster_size (pool));
    if (provider == NULL)
      goto err;
  }
  return 0;

 err:
  /* .cleanup is not called when .get_ready fails. */
  control_stop (control);
  control = NULL;
  pool_close (pool);
  pool = NULL;
  return -1;
}

static int
snapvol_after_fork (void)
{
  exposure_check ();
  if (control && control_start (control) == -1)
    return -1;
  retention = retention_start (pool, retention_interval);
  if (retention == NULL)
    return -1;
  return provider ? provider_start (provider) : 0;
}

static void
snapvol_cleanup (void)
{
  /* Holds are released before the pool goes, as pool_close asks. */
  provider_stop (provider);
  provider = NULL;
  retention_stop (retention);
  retention = NULL;
  control_stop (control);
  control = NULL;
  if (pool != NULL && pool_close (pool) == -1)
    nbdkit_error ("%s", sv_errmsg ());
  pool = NULL;
}

static void
snapvol_unload (void)
{
  free (dir);
  free (control_path);
  volume_spec_vector_reset (&volume_specs);
  provider_unload ();
}

/* Exports. */

static int
add_volume_export (struct nbdkit_exports *exports,
                   const struct sv_volume_info *v)
{
  char desc[DESCRIPTION_MAX];

  view_describe_volume (desc, sizeof desc, v->size, v->nsnapshots,
                        v->created);
  return nbdkit_add_export (exports, v->name, desc);
}

static int
add_snapshot_export (struct nbdkit_exports *exports,
                     const struct sv_snapshot_info *s)
{
  char name[SV_NAME_MAX + 1 + SV_UUID_STRLEN + 1], desc[DESCRIPTION_MAX];

  snprintf (name, sizeof name, "%s@%s", s->volume, s->id);
  view_describe_snapshot (desc, sizeof desc, s->volume, s->size, s->created,
                          s->label);
  return nbdkit_add_export (exports, name, desc);
}

static int
snapvol_list_exports (int readonly, int is_tls,
                      struct nbdkit_exports *exports)
{
  CLEANUP_FREE struct sv_volume_info *volumes = NULL;
  CLEANUP_FREE struct sv_snapshot_info *snapshots = NULL;
  size_t nvolumes, nsnapshots, i;

  if (pool_volume_list (pool, NULL, &volumes, &nvolumes) == -1 ||
      pool_snapshot_list (pool, NULL, &snapshots, &nsnapshots) == -1)
    return engine_error ();
  for (i = 0; i < nvolumes; i++)
    if (add_volume_export (exports, &volumes[i]) == -1)
      return -1;
  for (i = 0; i < nsnapshots; i++)
    if (add_snapshot_export (exports, &snapshots[i]) == -1)
      return -1;
  return 0;
}

/* The default export "" is the only volume, when there is one. */
static const char *
snapvol_default_export (int readonly, int is_tls)
{
  CLEANUP_FREE struct sv_volume_info *volumes = NULL;
  size_t n;

  if (pool_volume_list (pool, NULL, &volumes, &n) == -1) {
    engine_error ();
    return NULL;
  }
  if (n == 1)
    return nbdkit_strdup_intern (volumes[0].name);
  if (n == 0)
    nbdkit_error ("the pool holds no volume yet: create one with "
                  "volume=NAME:SIZE or through the control socket");
  else
    nbdkit_error ("an export name is required: the pool holds %zu volumes "
                  "(list the exports with: nbdinfo --list URI)", n);
  return NULL;
}

static void *
snapvol_open (int readonly)
{
  struct handle *h;

  h = malloc (sizeof *h);
  if (h == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  h->view = view_open (pool, nbdkit_export_name ());
  if (h->view == NULL) {
    engine_error ();
    free (h);
    return NULL;
  }
  return h;
}

static void
snapvol_close (void *handle)
{
  struct handle *h = handle;

  view_close (h->view);
  free (h);
}

/* Negotiation. */

static int64_t
snapvol_get_size (void *handle)
{
  struct handle *h = handle;

  return view_size (h->view);
}

static const char *
snapvol_export_description (void *handle)
{
  struct handle *h = handle;

  view_describe (h->view, h->description, sizeof h->description);
  return h->description;
}

static int
snapvol_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                    uint32_t *maximum)
{
  struct handle *h = handle;

  view_block_size (h->view, minimum, preferred, maximum);
  return 0;
}

/* Snapshots are read-only: nbdkit then advertises the export
 * read-only and refuses writes, trims and zeroes itself. */
static int
snapvol_can_write (void *handle)
{
  struct handle *h = handle;

  return !view_is_snapshot (h->view);
}

static int
snapvol_can_flush (void *handle)
{
  return 1;
}

static int
snapvol_is_rotational (void *handle)
{
  return 0;
}

/* Trim, zero and fast zero apply to live volumes only. */
static int
snapvol_can_trim (void *handle)
{
  return snapvol_can_write (handle);
}

static int
snapvol_can_zero (void *handle)
{
  return snapvol_can_write (handle);
}

/* Fast zero is honest: the engine zeroes whole clusters in metadata
 * and fails the rest with ENOTSUP rather than writing zeroes. */
static int
snapvol_can_fast_zero (void *handle)
{
  return snapvol_can_write (handle);
}

static int
snapvol_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
snapvol_can_multi_conn (void *handle)
{
  return 1;
}

static int
snapvol_can_extents (void *handle)
{
  return 1;
}

static int
snapvol_can_cache (void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

/* Data. */

static int
snapvol_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  struct handle *h = handle;

  return view_pread (h->view, buf, count, offset) ? engine_error () : 0;
}

static int
snapvol_pwrite (void *handle, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;

  return view_pwrite (h->view, buf, count, offset,
                      flags & NBDKIT_FLAG_FUA) ? engine_error () : 0;
}

static int
snapvol_flush (void *handle, uint32_t flags)
{
  struct handle *h = handle;

  return view_flush (h->view) ? engine_error () : 0;
}

static int
snapvol_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;

  return view_trim (h->view, count, offset,
                    flags & NBDKIT_FLAG_FUA) ? engine_error () : 0;
}

static int
snapvol_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;

  if (view_zero (h->view, count, offset,
                 !!(flags & NBDKIT_FLAG_MAY_TRIM),
                 !!(flags & NBDKIT_FLAG_FAST_ZERO),
                 !!(flags & NBDKIT_FLAG_FUA)) == -1) {
    /* A refused fast zero is an answer, not an error worth a log line. */
    if (errno == ENOTSUP && (flags & NBDKIT_FLAG_FAST_ZERO))
      return -1;
    return engine_error ();
  }
  return 0;
}

struct extents_ctx {
  struct nbdkit_extents *extents;
  bool failed;          /* nbdkit_add_extent failed and reported it */
};

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, uint32_t flags)
{
  struct extents_ctx *ctx = opaque;

  if (nbdkit_add_extent (ctx->extents, offset, length, flags) == -1) {
    ctx->failed = true;
    return -1;
  }
  return 0;
}

static int
snapvol_extents (void *handle, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents)
{
  struct handle *h = handle;
  struct extents_ctx ctx = { .extents = extents, .failed = false };

  if (view_extents (h->view, count, offset, !!(flags & NBDKIT_FLAG_REQ_ONE),
                    add_extent, &ctx) == -1)
    return ctx.failed ? -1 : engine_error ();
  return 0;
}

static int
snapvol_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;

  return view_cache (h->view, count, offset) ? engine_error () : 0;
}

static struct nbdkit_plugin plugin = {
  .name               = "snapvol",
  .longname           = "snapvol: volumes with copy-on-write snapshots",
  .version            = PACKAGE_VERSION,
  .description        = "Serves the volumes of a snapvol pool read-write "
                        "and their snapshots read-only.",
  .unload             = snapvol_unload,
  .config             = snapvol_config,
  .config_complete    = snapvol_config_complete,
  .config_help        = snapvol_config_help,
  .magic_config_key   = NULL,
  .dump_plugin        = snapvol_dump_plugin,
  .get_ready          = snapvol_get_ready,
  .after_fork         = snapvol_after_fork,
  .cleanup            = snapvol_cleanup,
  .list_exports       = snapvol_list_exports,
  .default_export     = snapvol_default_export,
  .open               = snapvol_open,
  .close              = snapvol_close,
  .get_size           = snapvol_get_size,
  .export_description = snapvol_export_description,
  .block_size         = snapvol_block_size,
  .can_write          = snapvol_can_write,
  .can_flush          = snapvol_can_flush,
  .is_rotational      = snapvol_is_rotational,
  .can_trim           = snapvol_can_trim,
  .can_zero           = snapvol_can_zero,
  .can_fast_zero      = snapvol_can_fast_zero,
  .can_fua            = snapvol_can_fua,
  .can_multi_conn     = snapvol_can_multi_conn,
  .can_extents        = snapvol_can_extents,
  .can_cache          = snapvol_can_cache,
  .pread              = snapvol_pread,
  .pwrite             = snapvol_pwrite,
  .flush              = snapvol_flush,
  .trim               = snapvol_trim,
  .zero               = snapvol_zero,
  .extents            = snapvol_extents,
  .cache              = snapvol_cache,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
