#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-catalog-commits-per-set.sh: what a set with 20 writers
# writes to the catalog, counted by snapvol_coordinator_catalog_commits_total.
# Each of three sets makes exactly two durable commits (its first
# record and its committed one: a refresh that finds the provider's
# volumes unchanged writes nothing), and fewer than 6 lazy commits per
# writer: the writers' events (two per call, four calls) go into the
# catalog together, at most once per 100 ms (and before a durable
# record), not one transaction each (which was 8 per writer and more).

source "$(dirname "$0")/functions.sh"
requires curl
set -x

nwriters=20
mport=$(free_port)
write_conf "metrics 127.0.0.1 port $mport"
start_coordinator
start_provider storage-a v0:1M v1:1M
specs=()
for (( i = 1; i <= nwriters; i++ )); do
    specs+=("writer-$i=storage-a/v$(( i % 2 ))")
done
start_many_writers "${specs[@]}"

# commits SYNC: the counter of SYNC (durable, lazy) now.
commits ()
{
    curl -sS --max-time 10 "http://127.0.0.1:$mport/metrics" |
        sed -n "s/^snapvol_coordinator_catalog_commits_total{sync=\"$1\"} \([0-9]*\)\$/\1/p"
}

for (( n = 1; n <= 3; n++ )); do
    durable0=$(commits durable)
    lazy0=$(commits lazy)
    [ -n "$durable0" ] && [ -n "$lazy0" ] || fail "no catalog_commits_total in the metrics"
    ctl --json set create storage-a/v0 storage-a/v1 --label "s$n" >"$tmp/set$n.json"
    assert_eq "$(jq -r '.state' "$tmp/set$n.json")" committed "state of set $n"
    assert_eq "$(jq '[.participants[] | select(.kind == "writer" and .state == "done")] | length' \
        "$tmp/set$n.json")" "$nwriters" "writers done in set $n"
    durable=$(( $(commits durable) - durable0 ))
    lazy=$(( $(commits lazy) - lazy0 ))
    echo "set $n: $durable durable, $lazy lazy commits"
    assert_eq "$durable" 2 "durable commits of set $n"
    [ "$lazy" -lt $(( 6 * nwriters )) ] ||
        fail "set $n made $lazy lazy commits with $nwriters writers (one per writer event?)"
done

stop_writer sv-writers
stop_provider storage-a
stop_coordinator
check_logs
