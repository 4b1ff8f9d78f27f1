#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-space-reclaim.sh: space accounting follows overwrites under a
# snapshot, and deleting the snapshot frees its exclusive clusters: the
# volume's allocated_bytes and the pool's disk usage go down, and the
# freed space is reused by later writes.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq
set -x

M=$((1 << 20))
slack=$((64 * 1024))            # one cluster of rounding either way
pool=$tmp/pool
start_snapvol "$pool" volume=v:64M

vol_field ()
{
    snapvolctl --json volume list | jq -r --arg f "$1" '.[] | select(.name == "v") | .[$f]'
}

# The volume's data file (docs/design.md, "Pool layout"): its disk
# usage and its apparent size, in bytes.
data=$pool/volumes/v/data
data_du ()
{
    [ -f "$data" ] || fail "no data file $data"
    echo $(( $(stat -c '%b * %B' "$data") ))
}
data_size ()
{
    stat -c %s "$data"
}

# assert_about ACTUAL EXPECTED WHAT: within one cluster.
assert_about ()
{
    local d=$(( $1 - $2 ))
    (( d < 0 )) && d=$(( -d ))
    (( d <= slack )) || fail "$3: got $1, expected $2 (+/- $slack)"
}

write_16m ()
{
    off=$1 seed=$2 nbdsh -u "$(uri v)" -c - <<'PY'
import os, random
rnd = random.Random(int(os.environ["seed"]))
off = int(os.environ["off"])
for i in range(16):
    h.pwrite(rnd.randbytes(1 << 20), off + i * (1 << 20))
h.flush()
PY
}

assert_eq "$(vol_field allocated_bytes)" 0 "allocated_bytes of a new volume"

write_16m 0 1
assert_about "$(vol_field allocated_bytes)" $((16 * M)) "allocated_bytes after 16 MiB"
assert_about "$(vol_field referenced_bytes)" $((16 * M)) "referenced_bytes after 16 MiB"

snap=$(snapshot_create v)
id=$(jq -r '.snapshots[0].id' <<<"$snap")

# Overwrite all of it: the snapshot now holds 16 MiB alone.
write_16m 0 2
snapvolctl --json snapshot list v | tee "$tmp/snaps.json"
assert_eq "$(jq length "$tmp/snaps.json")" 1 "snapshot count"
assert_eq "$(jq -r '.[0].id' "$tmp/snaps.json")" "$id" "snapshot id"
assert_about "$(jq '.[0].exclusive_bytes' "$tmp/snaps.json")" $((16 * M)) "exclusive_bytes"
assert_about "$(vol_field allocated_bytes)" $((32 * M)) "allocated_bytes after the overwrite"
assert_about "$(vol_field referenced_bytes)" $((16 * M)) "referenced_bytes after the overwrite"
assert_about "$(vol_field snapshot_bytes)" $((16 * M)) "snapshot_bytes after the overwrite"

du_before=$(data_du)
size_before=$(data_size)
snapvolctl --json snapshot delete "$id" | tee "$tmp/delete.json"
assert_eq "$(jq -r .deleted "$tmp/delete.json")" 1 "snapshots deleted"
assert_eq "$(snapvolctl --json snapshot list v | jq length)" 0 "snapshots left"
assert_about "$(vol_field allocated_bytes)" $((16 * M)) "allocated_bytes after the delete"

# The freed clusters are punched out of the data file once the deletion
# is durable, which may be just after the call returns.
for (( i = 0; i < 100; i++ )); do
    du_after=$(data_du)
    (( du_after <= du_before - 16 * M + slack )) && break
    sleep 0.1
done
echo "data file disk usage: $du_before -> $du_after"
(( du_after <= du_before - 16 * M + slack )) ||
    fail "the data file's disk usage went from $du_before to $du_after bytes only"

# New data reuses the freed clusters rather than growing the data file.
write_16m $((32 * M)) 3
assert_about "$(vol_field allocated_bytes)" $((32 * M)) "allocated_bytes after new writes"
size_after=$(data_size)
echo "data file size: $size_before -> $size_after"
(( size_after <= size_before )) ||
    fail "the data file grew from $size_before to $size_after bytes instead of reusing freed clusters"
(( $(data_du) <= du_before + slack )) || fail "the data file uses more space than before the delete"

stop_snapvol
check_sanitizer_log
