/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * reason.h: the one-line reason an integration of snapvol-writer
 * (--fsfreeze, --postgres) gives for an event it failed, which the
 * writer sends to the coordinator and `writer list` shows as the
 * writer's last error.
 */

#ifndef SNAPVOL_REASON_H
#define SNAPVOL_REASON_H

#include <stddef.h>

/* Write PREFIX and then FMT's text into MESSAGE (LEN bytes, always
 * terminated, cut to fit).  Returns -1, so that a failing step can
 * end with `return reason_set (...)`. */
extern int reason_set (char *message, size_t len, const char *prefix,
                       const char *fmt, ...)
  __attribute__((format (printf, 4, 5), nonnull (1, 3, 4)));

#endif /* SNAPVOL_REASON_H */
