#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-trim-zero-extents.sh: trims and write-zeroes of whole clusters
# allocate nothing, show as holes and zeroes in the live volume's block
# status while the snapshot still shows (and reads) its data, and block
# status never claims zeroes where data is.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdinfo nbdsh nbdcopy jq
set -x

M=$((1 << 20))
pool=$tmp/pool
start_snapvol "$pool" volume=v:64M

vol_field ()
{
    snapvolctl --json volume list | jq -r --arg f "$1" '.[] | select(.name == "v") | .[$f]'
}

# Data in [0, 8M), then a snapshot.
head -c 8M /dev/urandom >"$tmp/data.img"
img=$tmp/data.img nbdsh -u "$(uri v)" -c - <<'PY'
import os
with open(os.environ["img"], "rb") as f:
    h.pwrite(f.read(), 0)
h.flush()
PY
snap=$(snapshot_create v)
exp=$(jq -r '.snapshots[0].export' <<<"$snap")
allocated=$(vol_field allocated_bytes)
# The data file (docs/design.md, "Pool layout").
data_du ()
{
    echo $(( $(stat -c '%b * %B' "$pool/volumes/v/data") ))
}
du_before=$(data_du)

# Whole clusters: trim [0, 1M), zero [1M, 2M) allowing holes, zero
# [2M, 3M) without, fast-zero [16M, 32M) never written.
nbdsh -u "$(uri v)" -c - <<'PY'
M = 1 << 20
h.trim(M, 0)
h.zero(M, M)
h.zero(M, 2 * M, nbd.CMD_FLAG_NO_HOLE)
assert h.can_fast_zero(), "the volume does not support fast zero"
h.zero(16 * M, 16 * M, nbd.CMD_FLAG_FAST_ZERO)
h.flush()
assert h.pread(2 * M, M) == bytes(2 * M), "zeroed range does not read as zeroes"
PY

assert_eq "$(vol_field allocated_bytes)" "$allocated" "allocated_bytes after trim and zero"
du_after=$(data_du)
echo "data file disk usage: $du_before -> $du_after"
(( du_after <= du_before )) || fail "trim and zero allocated space: $du_before -> $du_after bytes"

nbdinfo --map --json "$(uri v)" >"$tmp/live-map.json"
nbdinfo --map --json "$(uri "$exp")" >"$tmp/snap-map.json"
cat "$tmp/live-map.json" "$tmp/snap-map.json"

# check_map MAP START END WHAT MASK WANT: every extent overlapping
# [START, END) has (type & MASK) == WANT; the map covers the volume.
check_map ()
{
    map=$1 start=$2 end=$3 what=$4 mask=$5 want=$6 python3 - <<'PY'
import json, os
ext = json.load(open(os.environ["map"]))
start, end = int(os.environ["start"]), int(os.environ["end"])
mask, want = int(os.environ["mask"]), int(os.environ["want"])
pos = 0
for e in ext:
    assert e["offset"] == pos, "map has a gap or overlap at %d" % pos
    pos += e["length"]
    if e["offset"] < end and e["offset"] + e["length"] > start:
        assert e["type"] & mask == want, "%s: extent %s" % (os.environ["what"], e)
assert pos == 64 << 20, "map covers %d bytes" % pos
PY
}

check_map "$tmp/live-map.json" 0 $((1 * M)) "live trimmed range" 1 1
check_map "$tmp/live-map.json" $((1 * M)) $((3 * M)) "live zeroed range" 2 2
check_map "$tmp/live-map.json" $((3 * M)) $((8 * M)) "live data" 3 0
check_map "$tmp/live-map.json" $((8 * M)) $((64 * M)) "live unwritten" 3 3
check_map "$tmp/snap-map.json" 0 $((8 * M)) "snapshot data" 3 0
check_map "$tmp/snap-map.json" $((8 * M)) $((64 * M)) "snapshot unwritten" 3 3

# Block status is truthful: a range reported as zero reads as zeroes,
# on both exports.
for e in v "$exp"; do
    nbdsh --base-allocation -u "$(uri "$e")" -c - <<'PY'
M = 1 << 20
size = h.get_size()
zero_ranges = []
off = 0
while off < size:
    reached = [off]
    def cb(metacontext, offset, entries, err):
        if metacontext != nbd.CONTEXT_BASE_ALLOCATION:
            return 0
        pos = offset
        for i in range(0, len(entries), 2):
            if entries[i + 1] & nbd.STATE_ZERO:
                zero_ranges.append((pos, entries[i]))
            pos += entries[i]
        reached[0] = pos
        return 0
    h.block_status(min(size - off, 64 * M), off, cb)
    assert reached[0] > off, "block status made no progress at %d" % off
    off = min(reached[0], size)
for pos, n in zero_ranges:
    while n > 0:
        k = min(n, 4 * M)
        assert h.pread(k, pos) == bytes(k), "range at %d reported zero but holds data" % pos
        pos += k
        n -= k
PY
done

# The snapshot reads its data; the live volume keeps [3M, 8M).
nbdcopy "$(uri "$exp")" "$tmp/snap.img"
cmp -n $((8 * M)) "$tmp/snap.img" "$tmp/data.img" || fail "the snapshot lost data"
nbdcopy "$(uri v)" "$tmp/live.img"
cmp -n $((5 * M)) -i $((3 * M)) "$tmp/live.img" "$tmp/data.img" ||
    fail "the live volume lost data outside the trimmed and zeroed ranges"

# Partial clusters: zero a 6 KiB range inside data.
nbdsh -u "$(uri v)" -c - <<'PY'
M = 1 << 20
h.zero(6144, 5 * M + 1000)
assert h.pread(6144, 5 * M + 1000) == bytes(6144)
assert h.pread(1000, 5 * M) != bytes(1000)
PY

stop_snapvol
check_sanitizer_log
