/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * errmsg.h: the engine's per-thread "last error" message (sv_errmsg).
 */

#ifndef SNAPVOL_ERRMSG_H
#define SNAPVOL_ERRMSG_H

/* Record a message for sv_errmsg() and set errno to ERR.  "%m" in FMT
 * expands to strerror(ERR).  Always returns -1, so that callers can
 * write `return sv_error (EINVAL, "...")`. */
extern int sv_error (int err, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* Prefix the current message with "PREFIX: ", keeping errno. */
extern void sv_error_prefix (const char *fmt, ...)
  __attribute__((format (printf, 1, 2)));

#endif /* SNAPVOL_ERRMSG_H */
