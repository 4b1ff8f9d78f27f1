#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-kill9-flushed-data-survives.sh: kill -9 of nbdkit in the middle
# of a write and flush workload loses nothing that was acknowledged
# before a flush or written with FUA, and every snapshot reads back
# byte for byte as before the crash.
#
# The 64 MiB volume is used in three parts:
#   [0, 16M)   written and flushed, or written with FUA, before the
#              crash workload starts: must read back exactly;
#   [16M, 32M) a writer puts one numbered 4 KiB block after another,
#              each flushed or FUA, and logs it once acknowledged:
#              every logged block must read back exactly;
#   [32M, 64M) written before the snapshots, then overwritten by fio
#              without flushes until the kill: content undefined, but
#              it must be readable, and the snapshots cover it.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh nbdcopy jq fio
requires_run fio --enghelp=nbd
set -x

M=$((1 << 20))
start_snapvol "$tmp/pool" volume=v:64M

# Phase 1: data in [0, 8M) and [32M, 64M), flushed.
head -c 64M /dev/urandom >"$tmp/random.img"
cp "$tmp/random.img" "$tmp/live.img"
dd if=/dev/zero of="$tmp/live.img" bs=1M seek=8 count=24 conv=notrunc status=none
model=$tmp/live.img nbdsh -u "$(uri v)" -c - <<'PY'
import os
with open(os.environ["model"], "rb") as f:
    data = f.read()
M = 1 << 20
for off in list(range(0, 8 * M, 65536)) + list(range(32 * M, 64 * M, M)):
    n = 65536 if off < 8 * M else M
    h.pwrite(data[off:off + n], off)
h.flush()
PY

snap1=$(snapshot_create --label before-crash v)
exp1=$(jq -r '.snapshots[0].export' <<<"$snap1")
nbdcopy "$(uri "$exp1")" "$tmp/snap1.img"
cmp "$tmp/snap1.img" "$tmp/live.img" || fail "the snapshot differs from what was written"

# Still phase 1: FUA writes into [8M, 16M) (no flush after them), and
# flushed overwrites of [0, 8M), which the snapshot holds.
model=$tmp/live.img nbdsh -u "$(uri v)" -c - <<'PY'
import os, random
path = os.environ["model"]
with open(path, "rb") as f:
    model = bytearray(f.read())
M = 1 << 20
rnd = random.Random(11)
for _ in range(128):
    off = rnd.randrange(0, 8 * M, 4096)
    buf = rnd.randbytes(4096)
    h.pwrite(buf, off)
    model[off:off + 4096] = buf
h.flush()
assert h.can_fua(), "the volume does not support FUA"
for i in range(256):
    off = 8 * M + i * 32768
    buf = rnd.randbytes(16384)
    h.pwrite(buf, off, nbd.CMD_FLAG_FUA)
    model[off:off + 16384] = buf
with open(path, "wb") as f:
    f.write(model)
PY

# Phase 2, the crash workload: fio rewrites [32M, 64M) without flushes
# while a writer logs numbered blocks in [16M, 32M) as they are made
# durable, alternately by FUA and by flush.
fio --name=crash --ioengine=nbd --uri="$(uri v)" --rw=randwrite --bs=4k \
    --iodepth=16 --numjobs=2 --offset=32M --size=32M --time_based --runtime=60 \
    --output="$tmp/fio.out" >/dev/null 2>&1 &
fio_pid=$!
cleanup_fn kill "$fio_pid"

acked=$tmp/acked
log=$acked nbdsh -u "$(uri v)" -c - >"$tmp/writer.out" 2>&1 <<'PY' &
import hashlib, os
M = 1 << 20
log = open(os.environ["log"], "a")
for i in range(4096):
    buf = hashlib.sha256(b"%d" % i).digest() * 128
    if i % 2:
        h.pwrite(buf, 16 * M + i * 4096, nbd.CMD_FLAG_FUA)
    else:
        h.pwrite(buf, 16 * M + i * 4096)
        h.flush()
    log.write("%d\n" % i)
    log.flush()
PY
writer_pid=$!
cleanup_fn kill "$writer_pid"

# A second snapshot taken during the workload, copied out before the kill.
sleep 0.5
snap2=$(snapshot_create --label during-load v)
exp2=$(jq -r '.snapshots[0].export' <<<"$snap2")
nbdcopy "$(uri "$exp2")" "$tmp/snap2.img"
cmp -n $((16 * M)) "$tmp/snap2.img" "$tmp/live.img" ||
    fail "the second snapshot lost flushed data"
sleep 1

kill -0 "$fio_pid" || fail "fio ended before the kill: $(cat "$tmp/fio.out")"
kill9_snapvol
wait "$fio_pid" || :
wait "$writer_pid" || :
nacked=$(wc -l <"$acked")
echo "acknowledged blocks before the kill: $nacked"
[ "$nacked" -gt 10 ] || fail "the writer made too little progress ($nacked blocks)"

start_snapvol "$tmp/pool"

# [0, 16M) exactly as flushed.
nbdcopy "$(uri v)" "$tmp/after.img"
cmp -n $((16 * M)) "$tmp/after.img" "$tmp/live.img" ||
    fail "flushed or FUA data in [0, 16M) was lost"

# Every acknowledged block of the writer.
acked=$acked img=$tmp/after.img python3 - <<'PY'
import hashlib, os
M = 1 << 20
with open(os.environ["img"], "rb") as f:
    data = f.read()
with open(os.environ["acked"]) as f:
    acked = [int(line) for line in f if line.strip()]
for i in acked:
    want = hashlib.sha256(b"%d" % i).digest() * 128
    off = 16 * M + i * 4096
    assert data[off:off + 4096] == want, "acknowledged block %d was lost" % i
print("%d acknowledged blocks intact" % len(acked))
PY

# Both snapshots exactly as before the crash.
nbdcopy "$(uri "$exp1")" "$tmp/snap1.after"
cmp "$tmp/snap1.after" "$tmp/snap1.img" || fail "the first snapshot changed across the crash"
nbdcopy "$(uri "$exp2")" "$tmp/snap2.after"
cmp "$tmp/snap2.after" "$tmp/snap2.img" || fail "the second snapshot changed across the crash"
assert_eq "$(snapvolctl --json snapshot list v | jq -r '[.[].label] | join(",")')" \
    before-crash,during-load "snapshot labels after the crash"

# The volume takes writes again.
nbdsh -u "$(uri v)" -c - <<'PY'
h.pwrite(b"\x5a" * 65536, 40 << 20)
h.flush()
assert h.pread(65536, 40 << 20) == b"\x5a" * 65536
PY

stop_snapvol
check_sanitizer_log
