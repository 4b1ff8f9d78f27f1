/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * log.h: logging for daemons and tools, after OpenBSD's log.c.
 * log_warn appends ": strerror(errno)", log_warnx does not; fatal and
 * fatalx log and exit(1).  Messages go to stderr (or syslog once
 * log_init asked for it).  Library code (server/) does not log.
 */

#ifndef SNAPVOL_LOG_H
#define SNAPVOL_LOG_H

#include <stdarg.h>

/* PROGNAME prefixes every line; VERBOSE enables log_debug;
 * USE_SYSLOG sends lines to syslog(3) instead of stderr. */
extern void log_init (const char *progname, int verbose, int use_syslog);
extern void log_warn (const char *fmt, ...)
  __attribute__((format (printf, 1, 2)));
extern void log_warnx (const char *fmt, ...)
  __attribute__((format (printf, 1, 2)));
extern void log_info (const char *fmt, ...)
  __attribute__((format (printf, 1, 2)));
extern void log_debug (const char *fmt, ...)
  __attribute__((format (printf, 1, 2)));
extern void fatal (const char *fmt, ...)
  __attribute__((format (printf, 1, 2), noreturn));
extern void fatalx (const char *fmt, ...)
  __attribute__((format (printf, 1, 2), noreturn));

#endif /* SNAPVOL_LOG_H */
