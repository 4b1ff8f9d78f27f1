#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-kill9-snapshot-holds-survive.sh: snapshot holds acknowledged
# before a kill -9 of nbdkit are there after the restart (replayed from
# the journal), the held snapshots still cannot be deleted, and a
# release made before the kill stays made; then through a clean
# restart (the checkpoint) too.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires jq
set -x

start_snapvol "$tmp/pool" volume=a:4M volume=b:4M
set_json=$(snapshot_create a b)
set=$(jq -r .set_id <<<"$set_json")
ida=$(jq -r '.snapshots[0].id' <<<"$set_json")
idb=$(jq -r '.snapshots[1].id' <<<"$set_json")
snapvolctl snapshot hold "$set" nightly
snapvolctl snapshot hold "$ida" gone
snapvolctl snapshot hold --expires 86400 "$idb" backup:1
snapvolctl snapshot release "$ida" gone
holds=$(snapvolctl --json snapshot list | jq -c '[.[] | [.volume, [.holds[] | .tag, (.expires != null)]]]')
assert_eq "$holds" '[["a",["nightly",false]],["b",["nightly",false,"backup:1",true]]]' \
    "holds before the kill"
expires=$(snapvolctl --json snapshot list b | jq '.[0].holds[1].expires')

kill9_snapvol
start_snapvol "$tmp/pool"
assert_eq "$(snapvolctl --json snapshot list | jq -c '[.[] | [.volume, [.holds[] | .tag, (.expires != null)]]]')" \
    "$holds" "holds after kill -9"
assert_eq "$(snapvolctl --json snapshot list b | jq '.[0].holds[1].expires')" \
    "$expires" "the expiry after kill -9"
expect_error "snapshot $ida of volume a is held \\(tags: nightly\\)" \
    snapvolctl snapshot delete "$set"
assert_eq "$(snapvolctl --json snapshot list | jq length)" 2 "snapshots after the refusal"

# A clean restart: the holds come from the checkpoint.
stop_snapvol
start_snapvol "$tmp/pool"
assert_eq "$(snapvolctl --json snapshot list | jq -c '[.[] | [.volume, [.holds[] | .tag, (.expires != null)]]]')" \
    "$holds" "holds after a clean restart"
snapvolctl snapshot release "$set" nightly
snapvolctl snapshot release "$idb" backup:1
assert_eq "$(snapvolctl --json snapshot delete "$set")" \
    "{\"id\": \"$set\", \"deleted\": 2}" "the set's deletion once released"

stop_snapvol
check_sanitizer_log
