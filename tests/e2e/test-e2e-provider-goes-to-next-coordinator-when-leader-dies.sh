#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-provider-goes-to-next-coordinator-when-leader-dies.sh: a
# provider given "LEADER,OTHER" registers with the real coordinator
# (the first address); when that coordinator is killed, the provider's
# next round starts at the address after it, and it registers with the
# other coordinator (a scripted one that accepts registrations) within
# a few seconds (the backoff after a registered connection: 0.5 s), and
# serves its calls.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_fakecoord other
coordinator_address=127.0.0.1:$port,127.0.0.1:${fake_port[other]}
start_provider storage-a db:1M
! grep -q '"registered"' "$tmp/other.events" ||
    fail "the provider registered with the second address first"

kill9_coordinator
start=$(now_ms)
poll 10 grep -q '"registered"' "$tmp/other.events"
echo "registered with the other coordinator after $(( $(now_ms) - start )) ms"
assert_eq "$(fake_events other request |
             jq -c 'select(.method == "provider.register") | [.params.name, [.params.volumes[].name]]')" \
    '["storage-a",["db"]]' "the registration with the other coordinator"
r=$(fake_call other volume.list '{}')
assert_eq "$(jq -c '[.result[].name]' <<<"$r")" '["db"]' "a call from the other coordinator"
stop_provider storage-a
