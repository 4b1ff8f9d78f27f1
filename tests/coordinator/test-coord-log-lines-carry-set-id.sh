#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-log-lines-carry-set-id.sh: every line the coordinator logs
# (with -v) about a set carries the set's id: the calls to writers and
# providers and their answers, the refresh's warning when volume.list
# fails, the start, the commit, and a set.create refused after it was
# queued.  A line is about a set when it names a call of the set
# protocol, a snapshot set, or a refused set.create.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 \
    --fail 'volume.list:-32000:busy'
start_peer writer-db writer-db writer --volume storage-a/db

rpc backup set.create '{"volumes":["storage-a/db"],"writers":["writer-db"]}' >"$tmp/set.json"
set_id=$(jget "$(cat "$tmp/set.json")" 'j["result"]["set_id"]')
rpc backup set.create '{"volumes":["storage-a/db"],"writers":["writer-nobody"]}' >"$tmp/refused.json"
assert_eq "$(jget "$(cat "$tmp/refused.json")" 'j["error"]["message"]')" \
    "no writer named writer-nobody is registered" "the refusal"
stop_coordinator

about_a_set='writer\.(prepare|freeze|thaw|post_snapshot|abort)|hold\.(begin|commit|release)|snapshot\.delete|snapshot set|set\.create refused|using the volumes it registered'
uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
grep -E "$about_a_set" "$coord_log" >"$tmp/about.txt" || fail "no line about a set"
cat "$tmp/about.txt"
if grep -vE "$uuid" "$tmp/about.txt" >"$tmp/without.txt"; then
    fail "lines about a set without its id: $(cat "$tmp/without.txt")"
fi

# The set's own lines carry its id, for each step.
for want in "-> writer.prepare \(id [0-9]+, set $set_id\)" \
            "answer to writer.freeze \(id [0-9]+, set $set_id\)" \
            "-> hold.commit \(id [0-9]+, set $set_id\)" \
            "snapshot set $set_id: provider storage-a: volume.list failed: busy \(error -32000\); using the volumes it registered" \
            "snapshot set $set_id: 1 volumes on 1 providers, 1 writers" \
            "snapshot set $set_id committed: 1 snapshots"; do
    grep -qE -- "$want" "$tmp/about.txt" || fail "no line matching '$want'"
done
grep -qE "snapshot set $uuid: set.create refused: no writer named writer-nobody is registered" \
    "$tmp/about.txt" || fail "the refusal's line"
