/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * inspect.c: a volume read as recovery reads it, changing nothing, for
 * the offline checker (the contract is in inspect.h).
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "inspect.h"
#include "pool-internal.h"
#include "volume.h"

/* The engine's functions take a pool: an offline one has the I/O, the
 * defaults and no volumes, lock or threads. */
struct inspect {
  struct sv_pool pool;
  struct volume *v;
};

static void
offline_pool_init (struct sv_pool *pool, const struct sv_io *io)
{
  memset (pool, 0, sizeof *pool);
  pool->io = io;
  pool->lock_fd = -1;
  pool->checkpoint_bytes = DEFAULT_CHECKPOINT_BYTES;
  pool->default_cluster_size = SV_CLUSTER_DEFAULT;
  pthread_mutex_init (&pool->mu, NULL);
  pthread_mutex_init (&pool->ids_mu, NULL);
  pthread_cond_init (&pool->hold_cv, NULL);
}

static void
offline_pool_destroy (struct sv_pool *pool)
{
  pthread_mutex_destroy (&pool->mu);
  pthread_mutex_destroy (&pool->ids_mu);
  pthread_cond_destroy (&pool->hold_cv);
}

struct inspect *
inspect_open (const struct sv_io *io, const char *dir, const char *name)
{
  struct inspect *in = malloc (sizeof *in);

  if (in == NULL) {
    sv_error (ENOMEM, "volume %s: out of memory", name);
    return NULL;
  }
  offline_pool_init (&in->pool, io);
  in->v = volume_prepare (&in->pool, dir, name);
  if (in->v == NULL) {
    int e = errno;
    offline_pool_destroy (&in->pool);
    free (in);
    errno = e;
    return NULL;
  }
  return in;
}

void
inspect_close (struct inspect *in)
{
  if (in == NULL)
    return;
  volume_free_unopened (in->v);
  offline_pool_destroy (&in->pool);
  free (in);
}

int
inspect_load_checkpoint (struct inspect *in, uint64_t *last_seq,
                         uint64_t *jfirst)
{
  return volume_load_checkpoint (in->v, last_seq, jfirst);
}

int
inspect_read_journal (struct inspect *in, uint64_t jfirst,
                      uint64_t after_seq, int replay,
                      journal_report_fn report, void *ropaque,
                      int discardable)
{
  struct volume *v = in->v;

  return journal_check (v->io, v->dir, &v->uuid, jfirst, after_seq,
                        replay ? volume_apply_record : NULL, v,
                        report, ropaque, discardable);
}

void
inspect_info (const struct inspect *in, struct inspect_info *info)
{
  const struct volume *v = in->v;

  info->uuid = v->uuid;
  info->cluster_size = v->cluster_size;
  info->subcluster_size = v->subcluster_size;
  info->nsub = v->nsub;
  info->live_gen = v->live_gen;
  info->nsnaps = v->nsnaps;
}

void
inspect_snap (const struct inspect *in, size_t i, struct inspect_snap *snap)
{
  const struct snap *s = &in->v->snaps[i];

  snap->id = s->id;
  snap->set = s->set;
  snap->gen = s->gen;
}

void
inspect_origin (const struct inspect *in, struct inspect_origin *o)
{
  const struct volume *v = in->v;

  memset (o, 0, sizeof *o);
  o->flags = v->sb_flags;
  if (!(v->sb_flags & SB_CLONE))
    return;
  o->volume = v->origin_of.volume;
  o->snap = v->origin_of.snap;
  o->gen = v->origin_of.gen;
  snprintf (o->name, sizeof o->name, "%s", v->origin_of.name);
}

size_t
inspect_snaps_between (const struct inspect *in, uint32_t a, uint32_t b)
{
  return volume_snap_lower_bound (in->v, b) -
    volume_snap_lower_bound (in->v, a);
}

void
inspect_reverts (const struct inspect *in, const struct revert **rv,
                 size_t *n)
{
  *rv = in->v->reverts;
  *n = in->v->nreverts;
}

const struct extvec *
inspect_versions (struct inspect *in, uint64_t *vci, union extvec_buf *buf)
{
  if (!extmap_next (&in->v->map, vci))
    return NULL;
  return extmap_get (&in->v->map, *vci, buf);
}

int
inspect_check_version (struct inspect *in, uint64_t vci, const struct ext *x)
{
  return volume_check_ext (in->v, vci, x);
}

int
inspect_discard_corrupt (struct inspect *in, uint64_t jfirst,
                         uint64_t after_seq, journal_report_fn report,
                         void *ropaque)
{
  struct volume *v = in->v;

  return journal_discard_corrupt (v->io, v->dir, &v->uuid, jfirst,
                                  after_seq, report, ropaque);
}

int
inspect_recover (const struct sv_io *io, const char *dir, const char *name)
{
  struct sv_pool pool;
  struct volume *v;
  int r = 0, e;

  offline_pool_init (&pool, io);
  v = volume_open (&pool, dir, name);
  if (v == NULL || (volume_close (v, 1) == -1 && errno != ENOSPC))
    r = -1;
  e = errno;
  offline_pool_destroy (&pool);
  errno = e;
  return r;
}
