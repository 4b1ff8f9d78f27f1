#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-many-writers-many-volumes.sh: the short form of the
# benchmark's scale case (bench/coord.sh): two nbdkit providers of 32
# volumes each and 20 writers in one bench/sv-writers process, each
# writer registered for one volume.  Three sets of all 64 volumes with
# writers "auto": each is committed with its 64 snapshots in the order
# asked, every writer "done" and both providers "committed", no error;
# each provider then has exactly the 32 snapshots of the set; the set
# is deleted before the next.  The writers end "stable" after
# post_snapshot.  No time bound: the machine running make check may be
# busy; bench/coord.sh measures the time.

source "$(dirname "$0")/functions.sh"
set -x

nwriters=20
vols=()
for (( i = 0; i < 32; i++ )); do
    vols+=("v$i:1M")
done
write_conf
start_coordinator
start_provider storage-a "${vols[@]}"
start_provider storage-b "${vols[@]}"
specs=()
for (( i = 0; i < nwriters; i++ )); do
    specs+=("writer-$i=storage-$( (( i % 2 )) && echo b || echo a)/v$(( i / 2 ))")
done
start_many_writers "${specs[@]}"

asked=()
for p in storage-a storage-b; do
    for (( i = 0; i < 32; i++ )); do
        asked+=("$p/v$i")
    done
done
asked_json=$(printf '%s\n' "${asked[@]}" | jq -R . | jq -sc .)

for (( n = 1; n <= 3; n++ )); do
    ctl --json set create "${asked[@]}" --label "many$n" >"$tmp/set$n.json"
    set_id=$(jq -r .set_id "$tmp/set$n.json")
    assert_eq "$(jq -r .state "$tmp/set$n.json")" committed "state of set $n"
    assert_eq "$(jq -c '[.snapshots[] | "\(.provider)/\(.volume)"]' "$tmp/set$n.json")" \
        "$asked_json" "snapshots of set $n, in the order asked"
    assert_set_all_done "$tmp/set$n.json" "$n" 2 "$nwriters"
    for p in storage-a storage-b; do
        assert_eq "$(provider_snapshots $p |
                     jq --arg s "$set_id" '[.[] | select(.set_id == $s)] | length')" 32 \
            "snapshots of set $n on $p"
    done
    ctl --json set delete "$set_id" >"$tmp/del$n.json"
    assert_eq "$(jq -c '[.set_id, .deleted]' "$tmp/del$n.json")" "[\"$set_id\",64]" \
        "deletion of set $n"
done

assert_writers_stable

stop_writer sv-writers
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
