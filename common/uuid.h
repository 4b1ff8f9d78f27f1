/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * uuid.h: random (version 4) UUIDs and their text form.
 */

#ifndef SNAPVOL_UUID_H
#define SNAPVOL_UUID_H

#include <stdint.h>
#include <string.h>

#define UUID_STRLEN 36

struct uuid {
  uint8_t b[16];
};

/* Fill U with a random version 4 UUID from getrandom(2).  -1 on error. */
extern int uuid_generate (struct uuid *u) __attribute__((nonnull));
/* Lower-case text form, NUL-terminated, into OUT (37 bytes). */
extern void uuid_format (const struct uuid *u, char out[UUID_STRLEN + 1])
  __attribute__((nonnull));
/* Parse the 36-character text form (either case).  -1 with EINVAL. */
extern int uuid_parse (const char *s, struct uuid *u) __attribute__((nonnull));
extern int uuid_is_nil (const struct uuid *u) __attribute__((nonnull));
/* Inline: the engine compares every snapshot of a volume with a set id
 * while writes are held (a pin refuses a set id the volume has), so
 * this must cost a couple of loads, not a call. */
static inline int __attribute__((nonnull))
uuid_equal (const struct uuid *a, const struct uuid *b)
{
  return memcmp (a->b, b->b, sizeof a->b) == 0;
}

#endif /* SNAPVOL_UUID_H */
