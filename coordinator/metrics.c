/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * metrics.c: counters and histograms of snapshot sets, rendered in the
 * Prometheus text format 0.0.4.  Every metric is named
 * snapvol_coordinator_*; every label value a counter can take is shown
 * from the start, at 0, so that rate() sees the first increment.
 * Histogram buckets are cumulative, in seconds, and end with +Inf;
 * _sum is in seconds, _count the number of observations.
 */

#include <config.h>

#include <inttypes.h>
#include <stdlib.h>

#include "metrics.h"

#define PREFIX "snapvol_coordinator_"

/* Bucket bounds in milliseconds, from a fast local set to the longest
 * a set may take (a 600 s freeze window and its calls). */
static const int64_t bounds_ms[] = {
  5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
  120000, 300000, 600000,
};
#define NBOUNDS (sizeof bounds_ms / sizeof bounds_ms[0])

struct hist {
  uint64_t buckets[NBOUNDS];    /* not cumulative: in (bound[i-1], bound[i]] */
  uint64_t count;
  int64_t sum_ms;
};

struct metrics {
  uint64_t sets[METRICS_NRESULTS];
  uint64_t reverts[METRICS_NRESULTS];
  uint64_t failures[SETFSM_NCAUSES];
  struct hist hists[METRICS_NHISTS];
};

static const char *const result_names[METRICS_NRESULTS] = {
  [METRICS_COMMITTED] = "committed",
  [METRICS_FAILED] = "failed",
  [METRICS_REFUSED] = "refused",
};

static const char *const revert_result_names[METRICS_NRESULTS] = {
  [METRICS_COMMITTED] = "reverted",
  [METRICS_FAILED] = "failed",
  [METRICS_REFUSED] = "refused",
};

static const struct {
  const char *name, *help;
} hist_info[METRICS_NHISTS] = {
  [METRICS_SET_DURATION] = {
    "set_duration_seconds",
    "Snapshot sets that ran the protocol (committed or failed), from "
    "their start to their answer." },
  [METRICS_FREEZE_WINDOW] = {
    "freeze_window_seconds",
    "How long writers were frozen in a set: first writer.freeze to the "
    "last thaw." },
  [METRICS_HOLD] = {
    "hold_seconds",
    "How long providers held writes in a set: first hold.begin to the "
    "last hold.commit." },
};

struct metrics *
metrics_new (void)
{
  return calloc (1, sizeof (struct metrics));
}

void
metrics_free (struct metrics *m)
{
  free (m);
}

void
metrics_count_set (struct metrics *m, bool revert, enum metrics_result result)
{
  if (revert)
    m->reverts[result]++;
  else
    m->sets[result]++;
}

void
metrics_count_failure (struct metrics *m, enum setfsm_cause cause)
{
  if ((unsigned) cause < SETFSM_NCAUSES)
    m->failures[cause]++;
}

void
metrics_observe (struct metrics *m, enum metrics_hist h, int64_t ms)
{
  struct hist *hi = &m->hists[h];
  size_t i;

  if (ms < 0)
    ms = 0;
  for (i = 0; i < NBOUNDS && ms > bounds_ms[i]; i++)
    ;
  if (i < NBOUNDS)
    hi->buckets[i]++;
  hi->count++;
  hi->sum_ms += ms;
}

int
metrics_gauge_header (struct evbuffer *out, const char *name,
                      const char *help)
{
  return evbuffer_add_printf (out, "# HELP " PREFIX "%s %s\n"
                              "# TYPE " PREFIX "%s gauge\n", name, help,
                              name) < 0 ? -1 : 0;
}

int
metrics_counter_header (struct evbuffer *out, const char *name,
                        const char *help)
{
  return evbuffer_add_printf (out, "# HELP " PREFIX "%s %s\n"
                              "# TYPE " PREFIX "%s counter\n", name, help,
                              name) < 0 ? -1 : 0;
}

int
metrics_gauge (struct evbuffer *out, const char *name, const char *label,
               const char *value, int64_t v)
{
  int r;

  if (label != NULL)
    r = evbuffer_add_printf (out, PREFIX "%s{%s=\"%s\"} %" PRId64 "\n", name,
                             label, value, v);
  else
    r = evbuffer_add_printf (out, PREFIX "%s %" PRId64 "\n", name, v);
  return r < 0 ? -1 : 0;
}

/* A counter with one label over NAMES[N]. */
static int
render_counter (struct evbuffer *out, const char *name, const char *help,
                const char *label, const char *const *names,
                const uint64_t *values, size_t n)
{
  size_t i;

  if (evbuffer_add_printf (out, "# HELP " PREFIX "%s %s\n"
                           "# TYPE " PREFIX "%s counter\n", name, help,
                           name) < 0)
    return -1;
  for (i = 0; i < n; i++)
    if (evbuffer_add_printf (out, PREFIX "%s{%s=\"%s\"} %" PRIu64 "\n", name,
                             label, names[i], values[i]) < 0)
      return -1;
  return 0;
}

/* Milliseconds as seconds, exactly and shortest ("2.5", "0.01", "60"). */
static int
add_seconds (struct evbuffer *out, int64_t ms)
{
  int64_t frac = ms % 1000;
  int digits = 3;

  if (frac == 0)
    return evbuffer_add_printf (out, "%" PRId64, ms / 1000);
  while (frac % 10 == 0) {
    frac /= 10;
    digits--;
  }
  return evbuffer_add_printf (out, "%" PRId64 ".%0*" PRId64, ms / 1000,
                              digits, frac);
}

static int
render_hist (struct evbuffer *out, enum metrics_hist h, const struct hist *hi)
{
  const char *name = hist_info[h].name;
  uint64_t cumulative = 0;
  size_t i;

  if (evbuffer_add_printf (out, "# HELP " PREFIX "%s %s\n"
                           "# TYPE " PREFIX "%s histogram\n", name,
                           hist_info[h].help, name) < 0)
    return -1;
  for (i = 0; i < NBOUNDS; i++) {
    cumulative += hi->buckets[i];
    if (evbuffer_add_printf (out, PREFIX "%s_bucket{le=\"", name) < 0 ||
        add_seconds (out, bounds_ms[i]) < 0 ||
        evbuffer_add_printf (out, "\"} %" PRIu64 "\n", cumulative) < 0)
      return -1;
  }
  if (evbuffer_add_printf (out, PREFIX "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                           PREFIX "%s_sum ", name, hi->count, name) < 0 ||
      add_seconds (out, hi->sum_ms) < 0 ||
      evbuffer_add_printf (out, "\n" PREFIX "%s_count %" PRIu64 "\n", name,
                           hi->count) < 0)
    return -1;
  return 0;
}

int
metrics_render (const struct metrics *m, struct evbuffer *out)
{
  const char *causes[SETFSM_NCAUSES];
  size_t i;

  for (i = 0; i < SETFSM_NCAUSES; i++)
    causes[i] = setfsm_cause_name ((enum setfsm_cause) i);
  if (render_counter (out, "sets_total", "Snapshot sets (set.create) "
                      "ended, by result.", "result", result_names, m->sets,
                      METRICS_NRESULTS) == -1 ||
      render_counter (out, "set_failures_total", "Failed snapshot sets "
                      "(set.create), by what failed.", "cause", causes,
                      m->failures, SETFSM_NCAUSES) == -1 ||
      render_counter (out, "reverts_total", "Set reverts (set.revert) "
                      "ended, by result.", "result", revert_result_names,
                      m->reverts, METRICS_NRESULTS) == -1)
    return -1;
  for (i = 0; i < METRICS_NHISTS; i++)
    if (render_hist (out, (enum metrics_hist) i, &m->hists[i]) == -1)
      return -1;
  return 0;
}
