#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-snapshot-set-consistent.sh: a snapshot set pins its volumes at
# one instant while writes run on both.
#
# A writer writes sequence number n to volume a, waits for it, then n to
# volume b, then n+1 to a, and so on.  In a consistent cut the snapshot
# of a holds the same number as b's, or one more: seq(a) - seq(b) is 0
# or 1.  A cut taken at different instants on a and b shows b ahead of
# a, or a ahead by more than one.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq
set -x

start_snapvol "$tmp/pool" volume=a:32M volume=b:32M

# Each number goes into one of 128 slots, one per 64 KiB, so the writes
# move over many clusters; the latest number is the largest in any slot.
# Every slot is a 4 KiB block holding its number 512 times, so a torn
# block is caught too.
cat >"$tmp/slots.py" <<'PY'
import struct
SLOTS = 128
STRIDE = 65536
BLOCK = 4096

def block(n):
    return struct.pack("<Q", n) * (BLOCK // 8)

def offset(n):
    return (n % SLOTS) * STRIDE

def latest(handle, name):
    best = 0
    for s in range(SLOTS):
        buf = handle.pread(BLOCK, s * STRIDE)
        n = struct.unpack_from("<Q", buf)[0]
        if buf != block(n):
            raise AssertionError("%s: torn block in slot %d" % (name, s))
        best = max(best, n)
    return best
PY

stop=$tmp/stop progress=$tmp/progress
PYTHONPATH=$tmp stop=$stop progress=$progress \
    a="$(uri a)" b="$(uri b)" nbdsh -n -c - <<'PY' &
import os, time
import nbd
from slots import block, offset
ha = nbd.NBD(); ha.connect_uri(os.environ["a"])
hb = nbd.NBD(); hb.connect_uri(os.environ["b"])
n = 0
deadline = time.monotonic() + 60
while not os.path.exists(os.environ["stop"]) and time.monotonic() < deadline:
    n += 1
    ha.pwrite(block(n), offset(n))
    hb.pwrite(block(n), offset(n))
    if n % 50 == 0:
        with open(os.environ["progress"] + ".new", "w") as f:
            f.write("%d\n" % n)
        os.rename(os.environ["progress"] + ".new", os.environ["progress"])
print("writer: wrote %d pairs" % n)
PY
writer=$!
cleanup_fn kill "$writer"

wait_progress ()
{
    local i
    for (( i = 0; i < 300; i++ )); do
        [ -s "$progress" ] && [ "$(cat "$progress")" -ge "$1" ] && return 0
        kill -0 "$writer" || fail "the writer died"
        sleep 0.1
    done
    fail "the writer did not reach $1 writes"
}

# Several sets, naming the volumes in both orders.
wait_progress 200
sets=()
for i in 1 2 3 4 5 6 7 8; do
    if (( i % 2 )); then vols=(a b); else vols=(b a); fi
    sets+=("$(snapshot_create --label "set-$i" "${vols[@]}")")
    sleep 0.2
done
touch "$stop"
wait "$writer" || fail "the writer failed"

prev_a=0
for s in "${sets[@]}"; do
    echo "$s"
    assert_eq "$(jq -r '[.snapshots[].volume] | sort | join(",")' <<<"$s")" a,b "set members"
    PYTHONPATH=$tmp prev_a=$prev_a \
        a="$(uri "$(jq -r '.snapshots[] | select(.volume == "a") | .export' <<<"$s")")" \
        b="$(uri "$(jq -r '.snapshots[] | select(.volume == "b") | .export' <<<"$s")")" \
        nbdsh -n -c - >"$tmp/seq" <<'PY'
import os
import nbd
from slots import latest
ha = nbd.NBD(); ha.connect_uri(os.environ["a"])
hb = nbd.NBD(); hb.connect_uri(os.environ["b"])
sa = latest(ha, "a")
sb = latest(hb, "b")
print("seq(a)=%d seq(b)=%d" % (sa, sb))
assert sa > 0, "the snapshot of a holds no write"
assert 0 <= sa - sb <= 1, "inconsistent cut: seq(a)=%d seq(b)=%d" % (sa, sb)
assert sa >= int(os.environ["prev_a"]), "a later set holds older data"
print(sa)
PY
    cat "$tmp/seq"
    prev_a=$(tail -n 1 "$tmp/seq")
done

stop_snapvol
check_sanitizer_log
