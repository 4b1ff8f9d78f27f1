/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * snaphold.c: the holds of one volume's snapshots: their records, the
 * rules a hold obeys, and their replay.
 *
 * Design notes
 * ------------
 * A hold is (snapshot, tag, expiry), kept in the snapshot's list entry.
 * While a hold whose expiry has not passed is on a snapshot, the
 * snapshot cannot be deleted (hold_check_delete); an expired hold does
 * not hold, and stays listed until it is released or the snapshot's
 * deletion drops it with the snapshot (SNAP_DELETE drops every hold of
 * the snapshot, in replay too, so no record of its own is needed).
 *
 * Records (ondisk.h): SNAP_HOLD (id, expiry, tag) and SNAP_RELEASE (id,
 * tag).  A checkpoint's hold section is a list of SNAP_HOLD payloads.
 * Replay refuses what the live engine never writes: a hold of a
 * snapshot that does not exist, a tag held twice, more than
 * SV_HOLDS_MAX holds, the release of a hold that is not there, and a
 * tag outside the rule, each EILSEQ naming the volume.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "ondisk.h"
#include "pool-internal.h"
#include "proto.h"
#include "volume.h"

_Static_assert (SV_TAG_MAX == PROTO_TAG_MAX, "one tag limit");
_Static_assert (SV_HOLDS_MAX == PROTO_HOLDS_MAX, "one hold limit");

int
hold_check_tag (const char *tag)
{
  char why[256];

  if (proto_check_tag ("tag", tag, why, sizeof why) == -1)
    return sv_error (EINVAL, "%s", why);
  return 0;
}

size_t
hold_encode (unsigned type, const struct uuid *id, const struct snap_hold *h,
             uint8_t *p)
{
  size_t n = strlen (h->tag), off = 16;

  memcpy (p, id->b, 16);
  if (type == JR_SNAP_HOLD) {
    put_le64 (p + off, h->expires);
    off += 8;
  }
  put_le16 (p + off, n);
  memcpy (p + off + 2, h->tag, n);
  return off + 2 + n;
}

ssize_t
hold_decode (struct volume *v, unsigned type, const uint8_t *p, size_t len,
             struct uuid *id, struct snap_hold *h)
{
  size_t fixed = type == JR_SNAP_HOLD ? HOLD_REC_FIXED : RELEASE_REC_FIXED;
  size_t n;

  if (len < fixed)
    return sv_error (EILSEQ, "volume %s: snapshot hold record is short",
                     v->name);
  memset (h, 0, sizeof *h);
  memcpy (id->b, p, 16);
  if (type == JR_SNAP_HOLD)
    h->expires = get_le64 (p + 16);
  n = get_le16 (p + fixed - 2);
  if (n == 0 || n > SV_TAG_MAX || fixed + n > len)
    return sv_error (EILSEQ, "volume %s: snapshot hold record has a tag"
                     " length of %zu", v->name, n);
  memcpy (h->tag, p + fixed, n);
  h->tag[n] = '\0';
  if (memchr (h->tag, '\0', n) != NULL || hold_check_tag (h->tag) == -1)
    return sv_error (EILSEQ, "volume %s: snapshot hold record has an"
                     " invalid tag", v->name);
  return fixed + n;
}

ssize_t
hold_find (const struct snap *s, const char *tag)
{
  uint32_t i;

  for (i = 0; i < s->nholds; i++)
    if (strcmp (s->holds[i].tag, tag) == 0)
      return i;
  return -1;
}

int
hold_add (struct volume *v, struct snap *s, const struct snap_hold *h)
{
  char sid[UUID_STRLEN + 1];
  struct snap_hold *nh;

  uuid_format (&s->id, sid);
  if (hold_find (s, h->tag) >= 0)
    return sv_error (EEXIST, "snapshot %s of volume %s already carries a"
                     " hold tagged %s", sid, v->name, h->tag);
  if (s->nholds >= SV_HOLDS_MAX)
    return sv_error (E2BIG, "snapshot %s of volume %s already carries %d"
                     " holds, the most a snapshot can", sid, v->name,
                     SV_HOLDS_MAX);
  nh = realloc (s->holds, (s->nholds + 1) * sizeof *nh);
  if (nh == NULL)
    return sv_error (ENOMEM, "volume %s: out of memory", v->name);
  s->holds = nh;
  s->holds[s->nholds++] = *h;
  return 0;
}

void
hold_remove (struct snap *s, size_t i)
{
  memmove (&s->holds[i], &s->holds[i + 1],
           (s->nholds - i - 1) * sizeof s->holds[0]);
  s->nholds--;
}

void
hold_free_all (struct snap *s)
{
  free (s->holds);
  s->holds = NULL;
  s->nholds = 0;
}

int
hold_check_delete (struct volume *v, const struct snap *s, uint64_t now)
{
  char sid[UUID_STRLEN + 1];
  char tags[SV_HOLDS_MAX * (SV_TAG_MAX + 2) + 1];
  size_t len = 0;
  uint32_t i;

  tags[0] = '\0';
  for (i = 0; i < s->nholds; i++) {
    if (s->holds[i].expires != 0 && s->holds[i].expires <= now)
      continue;
    len += snprintf (tags + len, sizeof tags - len, "%s%s",
                     len ? ", " : "", s->holds[i].tag);
  }
  if (len == 0)
    return 0;
  uuid_format (&s->id, sid);
  return sv_error (EBUSY, "snapshot %s of volume %s is held (tags: %s)",
                   sid, v->name, tags);
}

int
hold_apply (struct volume *v, unsigned type, const uint8_t *p, size_t len)
{
  struct snap_hold h;
  struct uuid id;
  ssize_t n, k, i;

  n = hold_decode (v, type, p, len, &id, &h);
  if (n == -1)
    return -1;
  if ((size_t) n != len)
    return sv_error (EILSEQ, "volume %s: snapshot hold record of %zu bytes"
                     " has %zu bytes after its tag", v->name, len,
                     len - (size_t) n);
  k = volume_snap_index (v, &id, 0);
  if (k < 0)
    return sv_error (EILSEQ, "volume %s: %s of an unknown snapshot",
                     v->name, type == JR_SNAP_HOLD ? "hold" : "release");
  if (type == JR_SNAP_RELEASE) {
    i = hold_find (&v->snaps[k], h.tag);
    if (i < 0)
      return sv_error (EILSEQ, "volume %s: release of hold %s, which the"
                       " snapshot does not carry", v->name, h.tag);
    hold_remove (&v->snaps[k], i);
    return 0;
  }
  if (hold_add (v, &v->snaps[k], &h) == -1) {
    if (errno == ENOMEM)
      return -1;
    /* Replay: the engine never writes this, the record is corrupt. */
    sv_error_prefix ("corrupt hold record");
    errno = EILSEQ;
    return -1;
  }
  return 0;
}
