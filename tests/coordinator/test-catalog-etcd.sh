#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# The catalog on etcd (coordinator/catalog-etcd.c) against a real
# single-member etcd with client certificates: every catalog write
# appended and loaded back into a catalog that reads the same, a
# refused leadership guard (EPERM, nothing changed or appended),
# compaction then load, a changeset and an image over etcd's request
# limit, a gap in the log refused (coordinator/test-catalog-etcd.c).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/etcd-single.sh"
: "${COORD_TESTS:=$abs_top_builddir/coordinator}"

start_etcd_single
run_etcd_program "$COORD_TESTS/test-catalog-etcd"
