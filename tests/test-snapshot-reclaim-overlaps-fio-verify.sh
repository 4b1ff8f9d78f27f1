#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-snapshot-reclaim-overlaps-fio-verify.sh: the bench's reclaim-
# over-NBD case (bench/sv-reclaimfio, scripts/bench --cases
# reclaimnbd) in small: fio writes 4 KiB blocks at random over NBD
# while a deleted snapshot that alone held the 16 MiB volume is
# reclaimed in the background (4,096 clusters, 16 per step, each step
# flushed); the reclaim's progress is seen moving while the writes
# run, and fio reads back and verifies every block it wrote, in the
# run with the reclaim and in the run without.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires fio jq python3
requires_run fio --enghelp=nbd
set -x

start_snapvol "$tmp/pool" volume=v:16M cluster-size=4K reclaim-step=16
mkdir "$tmp/work"
timeout 240 python3 "$abs_top_srcdir/bench/sv-reclaimfio" --socket "$ctl" \
    --volume v --uri "$(uri v)" --work "$tmp/work" --runs 1 \
    --seconds 4 --rate 1000 --lead 0.5 >"$tmp/out.json" ||
    fail "sv-reclaimfio failed (a fio verify error among the reasons)"
jq -c '.runs[0]' "$tmp/out.json"

assert_eq "$(jq -c '.runs[0] | keys' "$tmp/out.json")" \
    '["alone","background_s","delete_ms","during","fio","lead_s","overlap","p99_ratio","reclaim_s","window_s"]' \
    "members of a run"
# 4 s of writes at 1000 a second, every one verified, in both runs.
for run in alone during; do
    assert_eq "$(jq ".runs[0].fio.$run.written" "$tmp/out.json")" 16384000 \
        "bytes fio wrote ($run)"
    assert_eq "$(jq ".runs[0].fio.$run.verified" "$tmp/out.json")" 16384000 \
        "bytes fio verified ($run)"
    assert_eq "$(jq ".runs[0].fio.$run.error" "$tmp/out.json")" 0 \
        "fio's error ($run)"
done
# The snapshot alone held the whole volume: 4,096 clusters to reclaim,
# and the poll saw the count of those done change while fio wrote.
assert_eq "$(jq .runs[0].overlap.total "$tmp/out.json")" 4096 "reclaim total"
seen=$(jq .runs[0].overlap.done_seen "$tmp/out.json")
(( seen >= 2 )) ||
    fail "the reclaim's progress was not seen moving during the writes ($seen values)"
(( $(jq .runs[0].during.n "$tmp/out.json") > 0 )) ||
    fail "no write completed while the reclaim ran"
assert_eq "$(snapvolctl --json volume list | jq -c '.[] | select(.name == "v") | .reclaim')" \
    null "reclaim member after"
assert_eq "$(snapvolctl --json snapshot list v | jq length)" 2 \
    "snapshots left (the two the runs took)"

stop_snapvol
check_sanitizer_log
