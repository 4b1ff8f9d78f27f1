/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * humansize.h: sizes in bytes, read from and written for people.
 */

#ifndef SNAPVOL_HUMANSIZE_H
#define SNAPVOL_HUMANSIZE_H

#include <stddef.h>
#include <stdint.h>

/* Enough for any humansize_format output ("1023.9 EiB"). */
#define HUMANSIZE_BUFLEN 32

/* Parse S: decimal digits, optionally followed by a multiplier K, M,
 * G, T, P or E (powers of 1024, either case) which may carry "i" and
 * then "B" ("10G", "10GiB", "10GB", "512m"), or by "B" alone.  Nothing
 * else is allowed: no sign, blanks or fraction.  Values above
 * INT64_MAX are refused (JSON integers are signed 64-bit).  Returns 0,
 * or -1 with a static string saying why in *WHY. */
extern int humansize_parse (const char *s, uint64_t *out, const char **why)
  __attribute__((nonnull));

/* Write N as "512 B", "64 KiB" or "1.5 GiB" into BUF and return BUF. */
extern char *humansize_format (uint64_t n, char *buf, size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_HUMANSIZE_H */
