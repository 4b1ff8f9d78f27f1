/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * snapidx.c: find a volume's snapshot by its id or its set's id in
 * constant time.
 *
 * Design notes
 * ------------
 * A pin checks, with writes held, that no snapshot of the volume is in
 * the set already; opening an export, listing and replay look
 * snapshots up by id.  A scan of the list made each of those linear in
 * the number of snapshots (a listing quadratic), so two open-addressed
 * tables, one per key, map a key to the generation of its snapshot,
 * and the generation to the list's index by binary search (the list is
 * sorted by generation and generations are unique).  An entry is one
 * word: 32 bits of the key's hash over the generation; a hit is checked
 * against the full key in the list, so hash collisions cost a probe and
 * nothing else.  Linear probing, at most half full, deletion by
 * backward shift (no tombstones, so probes stay short however many
 * snapshots come and go).  The tables grow in volume_snaps_reserve,
 * with the list, so that adding an entry after a record is in the
 * journal cannot fail.  Set ids come from clients and need not be
 * random: the hash mixes all 128 bits.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "volume.h"

#define ENTRY_EMPTY UINT64_MAX

static uint32_t
key_hash (const struct uuid *u)
{
  uint64_t a, b, x;

  memcpy (&a, u->b, 8);
  memcpy (&b, u->b + 8, 8);
  x = a ^ (b * 0x9e3779b97f4a7c15u);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 29;
  return (uint32_t) (x >> 32);
}

static const struct uuid *
key_of (const struct snap *s, int set)
{
  return set ? &s->set : &s->id;
}

static void
table_add (struct snapidx *t, uint32_t h, uint32_t gen)
{
  size_t mask = t->cap - 1, i;

  for (i = h & mask; t->e[i] != ENTRY_EMPTY; i = (i + 1) & mask)
    ;
  t->e[i] = (uint64_t) h << 32 | gen;
}

static void
table_del (struct snapidx *t, uint32_t h, uint32_t gen)
{
  size_t mask = t->cap - 1, i, j;
  uint64_t want = (uint64_t) h << 32 | gen;

  for (i = h & mask; t->e[i] != want; i = (i + 1) & mask)
    if (t->e[i] == ENTRY_EMPTY)
      return;                   /* not there: nothing to do */
  /* Backward shift: move up every later entry of the cluster whose
   * home is not in (i, j]. */
  for (j = (i + 1) & mask; t->e[j] != ENTRY_EMPTY; j = (j + 1) & mask) {
    size_t home = (t->e[j] >> 32) & mask;
    if (((j - home) & mask) >= ((j - i) & mask)) {
      t->e[i] = t->e[j];
      i = j;
    }
  }
  t->e[i] = ENTRY_EMPTY;
}

static ssize_t
table_find (const struct volume *v, const struct snapidx *t,
            const struct uuid *key, int set)
{
  uint32_t h = key_hash (key);
  size_t mask, i;

  if (t->cap == 0)
    return -1;
  mask = t->cap - 1;
  for (i = h & mask; t->e[i] != ENTRY_EMPTY; i = (i + 1) & mask) {
    size_t k;
    if ((uint32_t) (t->e[i] >> 32) != h)
      continue;
    k = volume_snap_lower_bound (v, (uint32_t) t->e[i]);
    if (k < v->nsnaps && v->snaps[k].gen == (uint32_t) t->e[i] &&
        uuid_equal (key_of (&v->snaps[k], set), key))
      return k;
  }
  return -1;
}

ssize_t
volume_snap_index (struct volume *v, const struct uuid *id, int set)
{
  return table_find (v, set ? &v->by_set : &v->by_id, id, set);
}

size_t
volume_snap_matches (struct volume *v, const struct uuid *id,
                     ssize_t hit[2])
{
  ssize_t a = volume_snap_index (v, id, 0), b = volume_snap_index (v, id, 1);

  /* One snapshot found both ways counts once; two in list order. */
  if (a == b)
    b = -1;
  if (a < 0 || (b >= 0 && b < a)) {
    ssize_t t = a;
    a = b;
    b = t;
  }
  hit[0] = a;
  hit[1] = b;
  return (a >= 0) + (b >= 0);
}

int
snapidx_reserve (struct volume *v, size_t nsnaps)
{
  size_t cap = 32, i;
  uint64_t *a, *b;

  while (cap < 2 * nsnaps)
    cap *= 2;
  if (cap <= v->by_id.cap)
    return 0;
  a = malloc (cap * sizeof *a);
  b = malloc (cap * sizeof *b);
  if (a == NULL || b == NULL) {
    free (a);
    free (b);
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  }
  memset (a, 0xff, cap * sizeof *a);
  memset (b, 0xff, cap * sizeof *b);
  free (v->by_id.e);
  free (v->by_set.e);
  v->by_id.e = a;
  v->by_set.e = b;
  v->by_id.cap = v->by_set.cap = cap;
  for (i = 0; i < v->nsnaps; i++)
    snapidx_add (v, &v->snaps[i]);
  return 0;
}

void
snapidx_add (struct volume *v, const struct snap *s)
{
  table_add (&v->by_id, key_hash (&s->id), s->gen);
  table_add (&v->by_set, key_hash (&s->set), s->gen);
}

void
snapidx_del (struct volume *v, const struct snap *s)
{
  table_del (&v->by_id, key_hash (&s->id), s->gen);
  table_del (&v->by_set, key_hash (&s->set), s->gen);
}

void
snapidx_free (struct volume *v)
{
  free (v->by_id.e);
  free (v->by_set.e);
  v->by_id.e = v->by_set.e = NULL;
  v->by_id.cap = v->by_set.cap = 0;
}
