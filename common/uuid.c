/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * uuid.c: random (version 4) UUIDs and their text form.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "uuid.h"

int
uuid_generate (struct uuid *u)
{
  size_t got = 0;

  while (got < sizeof u->b) {
    ssize_t r = getrandom (u->b + got, sizeof u->b - got, 0);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    got += r;
  }
  u->b[6] = (u->b[6] & 0x0f) | 0x40;    /* version 4 */
  u->b[8] = (u->b[8] & 0x3f) | 0x80;    /* RFC 4122 variant */
  return 0;
}

void
uuid_format (const struct uuid *u, char out[UUID_STRLEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  size_t i, o = 0;

  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hex[u->b[i] >> 4];
    out[o++] = hex[u->b[i] & 15];
  }
  out[o] = '\0';
}

static int
hexval (char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int
uuid_parse (const char *s, struct uuid *u)
{
  size_t i, o = 0;

  if (strlen (s) != UUID_STRLEN)
    goto bad;
  for (i = 0; i < UUID_STRLEN; ) {
    int hi, lo;

    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        goto bad;
      i++;
      continue;
    }
    hi = hexval (s[i]);
    lo = hexval (s[i + 1]);
    if (hi < 0 || lo < 0)
      goto bad;
    u->b[o++] = (uint8_t) (hi << 4 | lo);
    i += 2;
  }
  return 0;
 bad:
  errno = EINVAL;
  return -1;
}

int
uuid_is_nil (const struct uuid *u)
{
  static const struct uuid nil;
  return memcmp (u, &nil, sizeof nil) == 0;
}
