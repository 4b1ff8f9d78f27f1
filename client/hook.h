/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * hook.h: running a writer agent's hook command with a deadline.
 */

#ifndef SNAPVOL_HOOK_H
#define SNAPVOL_HOOK_H

#include <stddef.h>

/* After SIGTERM, a hook gets this long to exit before SIGKILL. */
#define HOOK_KILL_GRACE_MS 2000

/* Run CMD with /bin/sh -c, in a process group of its own, with the
 * NAME=VALUE strings of ENV (NULL-terminated) added to (or replacing
 * in) our environment, stdin from /dev/null, our stdout, and its
 * stderr captured.  Every signal has its default action and none is
 * blocked in the hook, whatever our own threads do.
 *
 * Waits up to TIMEOUT_MS for it to exit; if it is still running then,
 * its process group gets SIGTERM, then SIGKILL HOOK_KILL_GRACE_MS
 * later.  Returns 0 if it exited with status 0; else -1 with a
 * one-line reason in MESSAGE (LEN bytes) naming the hook WHAT
 * ("freeze hook exited with status 3"), followed by the last lines of
 * its stderr.  Blocks; thread-safe (posix_spawn). */
extern int hook_run (const char *what, const char *cmd, char *const *env,
                     int timeout_ms, char *message, size_t len)
  __attribute__((nonnull (1, 2, 3, 5)));

#endif /* SNAPVOL_HOOK_H */
