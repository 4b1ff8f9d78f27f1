/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * punch.c: subcluster hole punching deferred until the metadata change
 * that stopped referencing the subclusters is durable.
 *
 * Layer (docs/design.md's map; tests/test-engine-calls-go-down.sh):
 * the volume layer's bottom, beside snapidx.c: calls only the map.
 *
 * Design notes
 * ------------
 * A punch must never destroy bytes that a durable mapping still
 * references: before the record clearing a subcluster is durable, a
 * crash would bring the old mapping back (and a snapshot deletion that
 * did not survive the crash must find its data intact).  When the
 * punch finally runs, the cluster may have been written again; so it
 * re-checks, under the stripe lock, that the version still exists with
 * the same physical cluster and punches only subclusters that are still
 * unallocated in it.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>

#include "ondisk.h"
#include "pool-internal.h"
#include "vector.h"
#include "volume.h"
#include "lockorder.h"

int
pending_punch_add (struct volume *v, uint64_t vci, uint32_t gen,
                   uint32_t phys, uint64_t mask, uint64_t seq)
{
  int r = 0;

  pthread_mutex_lock (&v->punch_mu);
  if (v->npunch == v->cappunch) {
    struct pending_punch *np = vector_grow (v->punches, v->npunch,
                                            &v->cappunch, 1, sizeof *np);
    if (np == NULL) {
      r = -1;                   /* the space stays used: harmless */
      goto out;
    }
    v->punches = np;
  }
  v->punches[v->npunch++] = (struct pending_punch) {
    .vci = vci, .mask = mask, .seq = seq, .gen = gen, .phys = phys,
  };
 out:
  pthread_mutex_unlock (&v->punch_mu);
  return r;
}

void
pending_punch_run (struct volume *v, uint64_t durable)
{
  struct pending_punch *ready = NULL;
  size_t i, keep = 0, nready = 0;

  pthread_mutex_lock (&v->punch_mu);
  if (v->npunch > 0)
    ready = malloc (v->npunch * sizeof *ready);
  for (i = 0; i < v->npunch; i++) {
    if (v->punches[i].seq <= durable && ready != NULL)
      ready[nready++] = v->punches[i];
    else
      v->punches[keep++] = v->punches[i];
  }
  v->npunch = keep;
  pthread_mutex_unlock (&v->punch_mu);

  for (i = 0; i < nready; i++) {
    struct pending_punch *pp = &ready[i];
    union extvec_buf evbuf;
    const struct extvec *ev;
    uint32_t k;

    sv_wrlock (stripe_of (v, pp->vci), LOCK_STRIPE);
    ev = extmap_get (&v->map, pp->vci, &evbuf);
    for (k = 0; ev != NULL && k < ev->n; k++) {
      uint64_t m;
      unsigned s;

      if (ev->v[k].gen != pp->gen || ev->v[k].phys != pp->phys)
        continue;
      m = pp->mask & ~ev->v[k].alloc;
      for (s = 0; s < v->nsub; s++)
        if ((m >> s) & 1)
          v->io->ops->punch (v->io->opaque, v->data,
                             (uint64_t) pp->phys * v->cluster_size +
                             (uint64_t) s * v->subcluster_size,
                             v->subcluster_size);
      volume_data_changed (v);
    }
    sv_rwunlock (stripe_of (v, pp->vci), LOCK_STRIPE);
  }
  free (ready);
}

void
pending_punch_free (struct volume *v)
{
  free (v->punches);
  v->punches = NULL;
  v->npunch = v->cappunch = 0;
}
