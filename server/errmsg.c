/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * errmsg.c: the engine's per-thread "last error" message.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"
#include "pool.h"

static __thread char errbuf[1024] = "no error";

const char *
sv_errmsg (void)
{
  return errbuf;
}

int
sv_error (int err, const char *fmt, ...)
{
  va_list ap;

  errno = err;                  /* for %m */
  va_start (ap, fmt);
  vsnprintf (errbuf, sizeof errbuf, fmt, ap);
  va_end (ap);
  errno = err;
  return -1;
}

void
sv_error_prefix (const char *fmt, ...)
{
  char prefix[256], old[sizeof errbuf];
  va_list ap;
  int saved = errno;

  va_start (ap, fmt);
  vsnprintf (prefix, sizeof prefix, fmt, ap);
  va_end (ap);
  memcpy (old, errbuf, sizeof old);
  old[sizeof old - 1] = '\0';
  {
    size_t pl = strlen (prefix);
    memcpy (errbuf, prefix, pl);
    errbuf[pl] = ':';
    errbuf[pl + 1] = ' ';
    snprintf (errbuf + pl + 2, sizeof errbuf - pl - 2, "%.*s",
              (int) (sizeof errbuf - pl - 3), old);
  }
  errno = saved;
}
