#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-flood-from-the-peers-address.sh: a flood of 2000 silent
# TCP connections from 127.0.0.1, the very address the legitimate
# peers connect from, does not keep them out either: of the
# connections in their handshake from one address, the coordinator
# closes the oldest that has sent nothing, so a peer that sends its
# ClientHello at once is not the one closed.  100 of 100 provider
# registrations and `snapvolctl set create` calls succeed, 98 or more within 1 s (none after 3 s)
# each (flood_probe); a per-address limit that refused new connections
# would have refused them all.

source "$(dirname "$0")/functions.sh"
set -x

start_flood_coordinator
flood_probe 127.0.0.1
grep -Eq 'peer #[0-9]+ \(127\.0\.0\.1:[0-9]+\): closed while still in its TLS handshake, [0-9.]+ s after connecting, to make room: too many connections in their TLS handshake from its address \(handshakes-per-address\)$' "$coord_log" ||
    fail "shedding not logged"
stop_coordinator
