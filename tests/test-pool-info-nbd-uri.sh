#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-pool-info-nbd-uri.sh: nbd-uri= is accepted without coordinator=
# and pool.info reports it as its last member, nbd_uri; without it
# nbd_uri is null.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires jq
set -x

start_snapvol "$tmp/pool" nbd-uri="nbd+unix:///?socket=$sock"
assert_eq "$(snapvolctl --json pool info | jq -c 'keys_unsorted')" \
    '["dir","version","default_cluster_size","volumes","nbd_uri"]' "pool.info members"
assert_eq "$(snapvolctl --json pool info | jq -r .nbd_uri)" "nbd+unix:///?socket=$sock" "nbd_uri"
stop_snapvol

start_snapvol "$tmp/pool"
assert_eq "$(snapvolctl --json pool info | jq -c .nbd_uri)" null "nbd_uri without nbd-uri="
