/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * log.c: logging for daemons and tools, after OpenBSD's log.c.
 *
 * The settings are written once by log_init, before any thread is
 * started, and only read afterwards.  Each line is written under the
 * stdio lock of stderr so that lines from several threads never mix.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *log_progname;
static int log_verbose;
static int log_to_syslog;

void
log_init (const char *progname, int verbose, int use_syslog)
{
  log_progname = progname;
  log_verbose = verbose;
  log_to_syslog = use_syslog;
  if (use_syslog)
    openlog (progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static const char *
progname (void)
{
  return log_progname ? log_progname : program_invocation_short_name;
}

/* Log one line at PRI.  With WITH_ERRNO, ": strerror(ERR)" follows the
 * message (or stands alone if FMT is NULL). */
static void
vlog (int pri, bool with_errno, int err, const char *fmt, va_list ap)
{
  char ebuf[128];
  const char *estr = with_errno ? strerror_r (err, ebuf, sizeof ebuf) : NULL;

  if (log_to_syslog) {
    char msg[1024] = "";

    if (fmt)
      vsnprintf (msg, sizeof msg, fmt, ap);
    if (estr)
      syslog (pri, "%s%s%s", msg, fmt ? ": " : "", estr);
    else
      syslog (pri, "%s", msg);
    return;
  }

  flockfile (stderr);
  fprintf (stderr, "%s: ", progname ());
  if (fmt)
    vfprintf (stderr, fmt, ap);
  if (estr)
    fprintf (stderr, "%s%s", fmt ? ": " : "", estr);
  fputc ('\n', stderr);
  funlockfile (stderr);
}

void
log_warn (const char *fmt, ...)
{
  int err = errno;
  va_list ap;

  va_start (ap, fmt);
  vlog (LOG_ERR, true, err, fmt, ap);
  va_end (ap);
  errno = err;
}

void
log_warnx (const char *fmt, ...)
{
  int err = errno;
  va_list ap;

  va_start (ap, fmt);
  vlog (LOG_ERR, false, 0, fmt, ap);
  va_end (ap);
  errno = err;
}

void
log_info (const char *fmt, ...)
{
  int err = errno;
  va_list ap;

  va_start (ap, fmt);
  vlog (LOG_INFO, false, 0, fmt, ap);
  va_end (ap);
  errno = err;
}

void
log_debug (const char *fmt, ...)
{
  int err = errno;
  va_list ap;

  if (!log_verbose)
    return;
  va_start (ap, fmt);
  vlog (LOG_DEBUG, false, 0, fmt, ap);
  va_end (ap);
  errno = err;
}

void
fatal (const char *fmt, ...)
{
  int err = errno;
  va_list ap;

  va_start (ap, fmt);
  vlog (LOG_CRIT, true, err, fmt, ap);
  va_end (ap);
  exit (EXIT_FAILURE);
}

void
fatalx (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vlog (LOG_CRIT, false, 0, fmt, ap);
  va_end (ap);
  exit (EXIT_FAILURE);
}
