#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-snapshot-delete-reclaims-in-background.sh: deleting a snapshot
# that alone holds 16 MiB of 4 KiB clusters returns once the deletion is
# durable, and its 4096 clusters are freed in the background one per
# step (reclaim-step=1), with the progress in `volume list` (the
# "reclaim" member and a line under the table) until all are free.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq
set -x

M=$((1 << 20))
pool=$tmp/pool
start_snapvol "$pool" volume=v:16M cluster-size=4K reclaim-step=1

write_16m ()
{
    seed=$1 nbdsh -u "$(uri v)" -c - <<'PY'
import os, random
rnd = random.Random(int(os.environ["seed"]))
for i in range(2):
    h.pwrite(rnd.randbytes(8 << 20), i << 23)
h.flush()
PY
}

vol_json ()
{
    snapvolctl --json volume list | jq -c '.[] | select(.name == "v")'
}

write_16m 1
a=$(snapshot_create v | jq -r '.snapshots[0].id')
write_16m 2
b=$(snapshot_create v | jq -r '.snapshots[0].id')
write_16m 3
sum_a=$(export_md5 "v@$a")
sum_v=$(export_md5 v)
assert_eq "$(vol_json | jq .allocated_bytes)" $((48 * M)) "allocated before"
assert_eq "$(vol_json | jq .reclaim)" null "reclaim member before"

snapvolctl --json snapshot delete "$b" | tee "$tmp/delete.json"
assert_eq "$(jq -r .deleted "$tmp/delete.json")" 1 "snapshots deleted"
assert_eq "$(snapvolctl --json snapshot list v | jq -r '.[].id')" "$a" \
    "snapshots left"

# 16 clusters are freed before the call returns, the other 4080 one
# per step, each step synced: the reclaim is still running now (it
# takes seconds; the checks below take tens of milliseconds).
vol_json | tee "$tmp/vol.json"
assert_eq "$(jq -c '.reclaim | keys' "$tmp/vol.json")" \
    '["done","freed_bytes","queued","total"]' "reclaim members"
assert_eq "$(jq .reclaim.total "$tmp/vol.json")" 4096 "reclaim total"
assert_eq "$(jq .reclaim.queued "$tmp/vol.json")" 0 "reclaim queued"
done_=$(jq .reclaim.done "$tmp/vol.json")
freed=$(jq .reclaim.freed_bytes "$tmp/vol.json")
(( done_ >= 16 && done_ < 4096 )) || fail "reclaim done: $done_"
(( freed % 4096 == 0 && freed <= done_ * 4096 )) ||
    fail "reclaim freed_bytes: $freed with $done_ clusters done"

snapvolctl volume list | tee "$tmp/list.txt"
grep -Eq '^v: reclaiming deleted snapshots, [0-9]+ of 4096 clusters done \(0 more deletion\(s\) queued\), [0-9.]+ ?[KMG]?i?B? freed\.$' \
    "$tmp/list.txt" || fail "no progress line under the volume table"

# It ends (bounded: 4080 synced steps), and then the member is gone.
for (( i = 0; i < 1800; i++ )); do
    [ "$(vol_json | jq .reclaim)" = null ] && break
    sleep 0.1
done
vol_json | tee "$tmp/vol.json"
assert_eq "$(jq .reclaim "$tmp/vol.json")" null "reclaim member after"
assert_eq "$(jq .allocated_bytes "$tmp/vol.json")" $((32 * M)) \
    "allocated after the reclaim"
snapvolctl volume list | tee "$tmp/list.txt"
grep -q reclaiming "$tmp/list.txt" && fail "a progress line after the end"
assert_eq "$(export_md5 "v@$a")" "$sum_a" "snapshot A's content"
assert_eq "$(export_md5 v)" "$sum_v" "the live volume's content"

stop_snapvol
check_sanitizer_log
