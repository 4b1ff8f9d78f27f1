/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * exporter.h: the Prometheus endpoint of the 'metrics' directive
 * (docs/coordinator.md, "Metrics"): GET /metrics over plain HTTP.
 *
 * At the top of the layers, beside methods.c: a scrape reads the
 * counters of metrics.c and, at that moment, gauges from the set
 * layer, the registry and the catalog.  It changes nothing.
 */

#ifndef SNAPVOL_EXPORTER_H
#define SNAPVOL_EXPORTER_H

#include "coord.h"

/* Bind and listen on the 'metrics' address of CO->conf, if any, before
 * the daemon forks, so that a bad or busy address is an error on the
 * terminal: -1 after logging "FILE:LINE: metrics ADDRESS port PORT:
 * ...".  Warns when the address is not a loopback one (plain HTTP).
 * Sets CO->exporter (NULL without the directive). */
extern int exporter_bind (struct coord *co) __attribute__((nonnull));

/* Serve scrapes on CO->base; -1 on failure (logged).  Nothing to do
 * without the directive. */
extern int exporter_start (struct coord *co) __attribute__((nonnull));

extern void exporter_free (struct exporter *ex);

#endif /* SNAPVOL_EXPORTER_H */
