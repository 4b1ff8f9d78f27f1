/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-catalog-workload.h: for the tests of the catalog's replication
 * (test-catalog-replica.c, test-catalog-etcd.c): a sequence of every
 * catalog write function, and everything the read functions show.
 */

#ifndef SNAPVOL_TEST_CATALOG_WORKLOAD_H
#define SNAPVOL_TEST_CATALOG_WORKLOAD_H

#include <jansson.h>

#include "catalog.h"

/* Run every catalog write function on CAT, in an order that leaves
 * something in every table: providers with volumes (one forgotten,
 * its volumes cascading), writers, sets saved durable and lazy, holds
 * and releases, queued deletions, undos and releases, removals, and
 * recovery (catalog_fail_unfinished).  The set "set-newest" is
 * removed last, so that the next set's seq depends on sqlite_sequence.
 * Fails the test (cmocka) on any error. */
extern void workload_run (struct catalog *cat);

/* Save one more set, "set-after", and return its seq. */
extern int64_t workload_next_set (struct catalog *cat);

/* Every read function's answer for CAT, as one object (new
 * reference); the database size is left out. */
extern json_t *workload_dump (struct catalog *cat);

/* Fail the test unless A and B dump the same, printing both if not. */
extern void workload_assert_same (struct catalog *a, struct catalog *b);

#endif /* SNAPVOL_TEST_CATALOG_WORKLOAD_H */
