#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# The coordinator's etcd client (coordinator/etcd.c) against a real
# single-member etcd with client certificates: put, get, range, txn
# compares that hold and that fail, an error etcd answers, leases
# granted, kept alive, revoked and expired, and an endpoint list whose
# first member is dead (coordinator/test-etcd.c).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/etcd-single.sh"
: "${COORD_TESTS:=$abs_top_builddir/coordinator}"

start_etcd_single
run_etcd_program "$COORD_TESTS/test-etcd"
