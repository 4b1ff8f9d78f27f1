#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-flood-from-many-addresses.sh: 2000 silent TCP connections
# spread over 40 addresses (127.0.0.2 to 127.0.0.41, 50 each: under the
# per-address bound of 128) would fill the table; connections in their
# handshake may take all of it but reserved-connections (128) slots,
# and past that the oldest silent one is closed for each new one.
# 100 of 100 provider registrations and `snapvolctl set create` calls
# from 127.0.0.1 succeed, 98 or more within 1 s and none after 3 s (flood_probe).

source "$(dirname "$0")/functions.sh"
set -x

start_flood_coordinator
flood_probe "$(seq -s, -f '127.0.0.%g' 2 41)"
grep -Eq 'peer #[0-9]+ \(127\.0\.0\.[0-9]+:[0-9]+\): closed while still in its TLS handshake, [0-9.]+ s after connecting, to make room: too many connections in their TLS handshake \(the table less reserved-connections\)$' "$coord_log" ||
    fail "shedding not logged"
! grep -q 'handshakes-per-address' "$coord_log" || fail "the per-address bound was hit"
stop_coordinator
