/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * humansize.c: sizes in bytes, read from and written for people.
 */

#include <config.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "humansize.h"

static const char multipliers[] = "KMGTPE";

int
humansize_parse (const char *s, uint64_t *out, const char **why)
{
  uint64_t n = 0;
  const char *p = s, *m;
  unsigned shift = 0;

  if (*p == '\0') {
    *why = "empty";
    return -1;
  }
  if (!isdigit ((unsigned char) *p)) {
    *why = "not a number";
    return -1;
  }
  for (; isdigit ((unsigned char) *p); p++) {
    unsigned d = (unsigned) (*p - '0');

    if (n > (UINT64_MAX - d) / 10) {
      *why = "too large";
      return -1;
    }
    n = n * 10 + d;
  }

  if (*p == '.' || *p == ',') {
    *why = "not a whole number (use a smaller unit: 1536M, not 1.5G)";
    return -1;
  }
  if (*p != '\0' && (m = strchr (multipliers, toupper ((unsigned char) *p)))) {
    shift = 10 * (unsigned) (m - multipliers + 1);
    p++;
    if (*p == 'i' || *p == 'I')
      p++;
  }
  if (*p == 'B' || *p == 'b')
    p++;
  if (*p != '\0') {
    *why = "unknown suffix (use K, M, G, T, P or E, e.g. 10G or 512MiB)";
    return -1;
  }

  if (shift && n > (UINT64_MAX >> shift)) {
    *why = "too large";
    return -1;
  }
  n <<= shift;
  if (n > INT64_MAX) {
    *why = "too large";
    return -1;
  }
  *out = n;
  return 0;
}

char *
humansize_format (uint64_t n, char *buf, size_t len)
{
  static const char *const units[] =
    { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  size_t u = 0;
  double v;

  while (u + 1 < sizeof units / sizeof units[0] && n >> (10 * (u + 1)) > 0)
    u++;
  if (u == 0) {
    snprintf (buf, len, "%" PRIu64 " B", n);
    return buf;
  }
  if ((n & ((UINT64_C (1) << (10 * u)) - 1)) == 0) {
    snprintf (buf, len, "%" PRIu64 " %s", n >> (10 * u), units[u]);
    return buf;
  }
  v = (double) n / (double) (UINT64_C (1) << (10 * u));
  /* 1023.96 KiB would print as "1024.0 KiB": say "1.0 MiB" instead. */
  if (v >= 1023.95 && u + 1 < sizeof units / sizeof units[0]) {
    u++;
    v /= 1024;
  }
  snprintf (buf, len, "%.1f %s", v, units[u]);
  return buf;
}
