#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-netns-scale-sets.sh: the short form of the benchmark's scale
# case (bench/coord.sh, coord_scale) on separate hosts (network
# namespaces on one bridge, see netns-functions.sh): 8 storage hosts
# s0..s7, each running nbdkit with the plugin as provider storage-sN
# with 16 volumes; the coordinator on host c over mutual TLS; 100
# writers in one bench/sv-writers process on host w, writer K
# registered for volume vK/8 of storage-s(K mod 8); snapvolctl on host
# k.  Ten sets of all 128 volumes with writers "auto": each is
# committed with exactly the 128 snapshots asked (provider/volume
# pairs, in the order asked, 128 distinct ids), all 8 providers
# "committed" and all 100 writers "done"; each writer answered
# prepare, freeze, thaw and post_snapshot once per set (sv-writers
# --counts) and ends "stable"; each provider then has 16 snapshots of
# each set and no hold on any; deleting the sets leaves no snapshot.
# The median and the longest set time are printed; the only bound on
# them is a loose one (the machine running make check may be busy):
# bench/coord.sh measures the time.

source "$(dirname "$0")/netns-functions.sh"
set -x

nhosts=8
nvols=16
nwriters=100
nsets=10

ns_storage_hosts $nhosts
ns_setup
ns_pki
ns_write_conf
ns_start_coordinator
vols=()
for (( i = 0; i < nvols; i++ )); do
    vols+=("v$i:1M")
done
for (( h = 0; h < nhosts; h++ )); do
    ns_start_provider "s$h" "storage-s$h" "${vols[@]}"
done
specs=()
for (( i = 0; i < nwriters; i++ )); do
    specs+=("writer-$i=storage-s$(( i % nhosts ))/v$(( i / nhosts ))")
done
start_many_writers --counts "${specs[@]}"

asked=()
for (( h = 0; h < nhosts; h++ )); do
    for (( i = 0; i < nvols; i++ )); do
        asked+=("storage-s$h/v$i")
    done
done
asked_json=$(printf '%s\n' "${asked[@]}" | jq -R . | jq -sc .)

set_ids=()
times=()
for (( n = 1; n <= nsets; n++ )); do
    t0=$(now_ms)
    ctl --json set create "${asked[@]}" --label "scale$n" >"$tmp/set$n.json"
    times+=($(( $(now_ms) - t0 )))
    set_ids+=("$(jq -r .set_id "$tmp/set$n.json")")
    assert_eq "$(jq -r .state "$tmp/set$n.json")" committed "state of set $n"
    assert_eq "$(jq -c '[.snapshots[] | "\(.provider)/\(.volume)"]' "$tmp/set$n.json")" \
        "$asked_json" "snapshots of set $n, in the order asked"
    assert_eq "$(jq '[.snapshots[].id] | unique | length' "$tmp/set$n.json")" 128 \
        "distinct snapshot ids of set $n"
    assert_set_all_done "$tmp/set$n.json" "$n" "$nhosts" "$nwriters"
done

assert_writers_stable

# Every writer was called once per set for each step, and never aborted.
stop_writer sv-writers
expected=$(for (( i = 0; i < nwriters; i++ )); do
               echo "writer-$i prepare=$nsets freeze=$nsets thaw=$nsets post_snapshot=$nsets abort=0"
           done)
assert_eq "$(grep '^writer-' "$tmp/sv-writers.log")" "$expected" "the calls each writer answered"

# Each provider has the 16 snapshots of each set, and holds none.
sets_json=$(printf '%s\n' "${set_ids[@]}" | jq -R . | jq -sc 'sort')
for (( h = 0; h < nhosts; h++ )); do
    provider_snapshots "storage-s$h" >"$tmp/snaps-s$h.json"
    assert_eq "$(jq -c 'group_by(.set_id) | map([.[0].set_id, length])' "$tmp/snaps-s$h.json")" \
        "$(jq -c --argjson n $nvols 'map([., $n])' <<<"$sets_json")" \
        "snapshots of each set on storage-s$h"
    assert_eq "$(jq '[.[].holds | length] | add' "$tmp/snaps-s$h.json")" 0 \
        "holds left on storage-s$h"
done

for id in "${set_ids[@]}"; do
    ctl --json set delete "$id" >"$tmp/del.json"
    assert_eq "$(jq -c '[.set_id, .deleted]' "$tmp/del.json")" "[\"$id\",128]" "deletion of set $id"
done
for (( h = 0; h < nhosts; h++ )); do
    assert_eq "$(provider_snapshots "storage-s$h" | jq -c .)" '[]' \
        "snapshots left on storage-s$h after the deletions"
done

# The time of a set, from snapvolctl started on host k to its answer:
# printed for the reader; bounded only loosely.
mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
echo "set of 128 volumes, 8 storage hosts, 100 writers, over namespaces:" \
     "median $(( (sorted[nsets / 2 - 1] + sorted[nsets / 2]) / 2 )) ms," \
     "max ${sorted[nsets - 1]} ms ($nsets sets)"
[ "${sorted[nsets - 1]}" -lt 20000 ] ||
    fail "a set took ${sorted[nsets - 1]} ms, more than the loose bound of 20 s"

for (( h = 0; h < nhosts; h++ )); do
    stop_provider "storage-s$h"
done
stop_coordinator
check_logs
