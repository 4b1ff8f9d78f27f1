/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * metrics.h: the coordinator's counters and histograms of snapshot
 * sets, and their text in the Prometheus exposition format 0.0.4
 * (docs/coordinator.md, "Metrics").
 *
 * A leaf: the set layer reports to it (a set ended, how long its
 * phases took, why it failed); the endpoint (exporter.c) renders it
 * together with the gauges it reads at scrape time.  Counting is
 * always on, whether or not an endpoint serves it; nothing here
 * blocks or fails but for memory while rendering.  Not thread-safe:
 * the coordinator has one thread.
 */

#ifndef SNAPVOL_METRICS_H
#define SNAPVOL_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "setfsm.h"             /* enum setfsm_cause */

/* How a set.create or set.revert ended. */
enum metrics_result {
  METRICS_COMMITTED,            /* committed (a revert: reverted) */
  METRICS_FAILED,               /* the protocol ran and failed */
  METRICS_REFUSED,              /* refused before anything was recorded */
};
#define METRICS_NRESULTS 3

/* The histograms, each of milliseconds shown as seconds. */
enum metrics_hist {
  METRICS_SET_DURATION,         /* set.create: start to answer */
  METRICS_FREEZE_WINDOW,        /* first writer.freeze to last thaw */
  METRICS_HOLD,                 /* first hold.begin to last hold.commit */
};
#define METRICS_NHISTS 3

struct metrics;

/* NULL on ENOMEM. */
extern struct metrics *metrics_new (void);
extern void metrics_free (struct metrics *m);

/* A set.create (REVERT false) or set.revert (REVERT true) ended with
 * RESULT. */
extern void metrics_count_set (struct metrics *m, bool revert,
                               enum metrics_result result)
  __attribute__((nonnull));
/* A set.create failed for CAUSE (with METRICS_FAILED). */
extern void metrics_count_failure (struct metrics *m, enum setfsm_cause cause)
  __attribute__((nonnull));
/* One observation of MS milliseconds (negative counts as 0). */
extern void metrics_observe (struct metrics *m, enum metrics_hist h,
                             int64_t ms)
  __attribute__((nonnull));

/* Append M's counters and histograms to OUT, each with its # HELP and
 * # TYPE lines.  -1 on ENOMEM. */
extern int metrics_render (const struct metrics *m, struct evbuffer *out)
  __attribute__((nonnull));

/* For the gauges read at scrape time: the # HELP and # TYPE gauge
 * lines of NAME (without the snapvol_coordinator_ prefix), then one
 * sample of it, with the label LABEL="VALUE" unless LABEL is NULL.
 * -1 on ENOMEM. */
extern int metrics_gauge_header (struct evbuffer *out, const char *name,
                                 const char *help)
  __attribute__((nonnull));
/* The same for a counter read at scrape time (its lines through
 * metrics_gauge). */
extern int metrics_counter_header (struct evbuffer *out, const char *name,
                                   const char *help)
  __attribute__((nonnull));
extern int metrics_gauge (struct evbuffer *out, const char *name,
                          const char *label, const char *value, int64_t v)
  __attribute__((nonnull (1, 2)));

#endif /* SNAPVOL_METRICS_H */
