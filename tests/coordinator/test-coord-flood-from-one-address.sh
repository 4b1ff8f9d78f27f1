#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-flood-from-one-address.sh: 2000 plain TCP connections
# that send nothing, held open from 127.0.0.2 and reopened as fast as
# the coordinator closes them, do not keep peers out: one address may
# have at most handshakes-per-address (128) connections in their TLS
# handshake, and the oldest silent one is closed for each new one.
# Meanwhile, from 127.0.0.1, 100 of 100 provider registrations (a new
# TLS connection each) and 100 of 100 `snapvolctl set create` calls
# succeed (98 or more within 1 s, none after 3 s: flood_probe), and the provider already registered stays
# connected (flood_probe).  Before, the flood filled the
# 1024-connection table for 10 s at a time and every new connection
# was refused.

source "$(dirname "$0")/functions.sh"
set -x

start_flood_coordinator
flood_probe 127.0.0.2
# Shed by the per-address bound.
grep -Eq 'peer #[0-9]+ \(127\.0\.0\.2:[0-9]+\): closed while still in its TLS handshake, [0-9.]+ s after connecting, to make room: too many connections in their TLS handshake from its address \(handshakes-per-address\)$' "$coord_log" ||
    fail "shedding not logged"
stop_coordinator
