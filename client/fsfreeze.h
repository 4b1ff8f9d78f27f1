/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * fsfreeze.h: snapvol-writer's freeze of local filesystems
 * (--fsfreeze MOUNTPOINT): the FIFREEZE and FITHAW ioctls that
 * fsfreeze(8) uses, on the filesystems mounted from snapvol volumes,
 * for the pin of a snapshot set.
 *
 * Several mount points are frozen in the order given and thawed in the
 * reverse order.  docs/writers.md ("Filesystems: --fsfreeze")
 * describes the behaviour the user sees; the exact reasons are tested
 * by tests/e2e/test-e2e-writer-fsfreeze-*.sh.
 */

#ifndef SNAPVOL_FSFREEZE_H
#define SNAPVOL_FSFREEZE_H

#include <stddef.h>

#include "snapvol-writer.h"

struct fsfreeze;

/* The freezer of no filesystem yet.  NULL with errno ENOMEM. */
extern struct fsfreeze *fsfreeze_new (void);

/* Append the mount point PATH (copied) to F's list, frozen after those
 * added before it.  -1 with errno ENOMEM, or EEXIST if PATH is in the
 * list already. */
extern int fsfreeze_add (struct fsfreeze *f, const char *path)
  __attribute__((nonnull));

/* Free F (NULL is allowed).  Does not thaw: snapvol-writer's thaw and
 * abort events do that before the writer ends.  A freeze that did not
 * return in time (below) keeps what it needs: its thread thaws when
 * the ioctl returns, even after this. */
extern void fsfreeze_free (struct fsfreeze *f);

/* Handle event EV of the writer's set, within TIMEOUT_MS:
 *
 *   prepare        check that every path can be opened and is a mount
 *                  point, and that no freeze of an earlier set is still
 *                  waiting for its FIFREEZE to return;
 *   freeze         the same checks, then FIFREEZE on each mount point
 *                  in order;
 *   thaw, abort    FITHAW on each mount point this freezer froze, in
 *                  the reverse order (every one is tried, the first
 *                  failure is reported);
 *   other events   nothing.
 *
 * Returns 0, or -1 with a one-line reason in MESSAGE (LEN bytes,
 * NUL-terminated) starting "fsfreeze: " and naming the mount point and
 * the call.
 *
 * Nothing is left frozen by a failed freeze: the mount points frozen
 * before the one that failed are thawed before the answer.  FIFREEZE
 * writes out the filesystem's dirty data and may block for long; the
 * ioctls run in a thread of their own, and a FIFREEZE that has not
 * returned within TIMEOUT_MS fails the freeze at once (the mount points
 * frozen before it are thawed then), and its mount point is thawed by
 * that thread as soon as the FIFREEZE returns.  Blocks; not thread-safe
 * (snapvol-writer runs one event at a time). */
extern int fsfreeze_event (struct fsfreeze *f,
                           const struct snapvol_writer_event *ev,
                           int timeout_ms, char *message, size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_FSFREEZE_H */
