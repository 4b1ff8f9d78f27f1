/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * reason.c: see reason.h.
 */

#include <config.h>

#include <stdarg.h>
#include <stdio.h>

#include "reason.h"

int
reason_set (char *message, size_t len, const char *prefix,
            const char *fmt, ...)
{
  va_list ap;
  int n;

  n = snprintf (message, len, "%s", prefix);
  if (n < 0 || (size_t) n >= len)
    return -1;
  va_start (ap, fmt);
  vsnprintf (message + n, len - n, fmt, ap);
  va_end (ap);
  return -1;
}
