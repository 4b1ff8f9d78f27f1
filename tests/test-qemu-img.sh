#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-qemu-img.sh: qemu's NBD client reads, writes, inspects and
# compares the live export and a snapshot export.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires qemu-img qemu-io jq
set -x

start_snapvol "$tmp/pool" volume=v:64M

# A source image with data and holes.
truncate -s 64M "$tmp/src.img"
for mb in 0 1 7 20 63; do
    head -c 1M /dev/urandom | dd of="$tmp/src.img" bs=1M seek="$mb" conv=notrunc status=none
done

qemu-img info --output=json "$(uri v)" >"$tmp/info.json"
cat "$tmp/info.json"
assert_eq "$(jq '."virtual-size"' "$tmp/info.json")" 67108864 "live virtual size"
assert_eq "$(jq -r .format "$tmp/info.json")" raw "live format"

qemu-img convert -n -f raw -O raw "$tmp/src.img" "$(uri v)"
qemu-img compare -f raw -F raw "$(uri v)" "$tmp/src.img"

snap=$(snapshot_create v)
exp=$(jq -r '.snapshots[0].export' <<<"$snap")
qemu-img info --output=json "$(uri "$exp")" >"$tmp/snap-info.json"
assert_eq "$(jq '."virtual-size"' "$tmp/snap-info.json")" 67108864 "snapshot virtual size"

# Overwrite the live volume through qemu-io.
qemu-io -f raw -c 'write -P 0x55 512k 2M' -c 'write -z 20M 1M' -c flush "$(uri v)"
status=0
qemu-img compare -q -f raw -F raw "$(uri v)" "$tmp/src.img" || status=$?
assert_eq "$status" 1 "qemu-img compare of the overwritten live volume"
qemu-io -f raw -c 'read -P 0x55 512k 2M' -c 'read -P 0 20M 1M' "$(uri v)" | tee "$tmp/io.out"
grep -q 'Pattern verification failed' "$tmp/io.out" && fail "the live volume reads wrong data"

# The snapshot still holds the source, whether compared directly or
# converted to qcow2 first.
qemu-img compare -f raw -F raw "$(uri "$exp")" "$tmp/src.img"
qemu-img convert -f raw -O qcow2 "$(uri "$exp")" "$tmp/snap.qcow2"
qemu-img compare -f qcow2 -F raw "$tmp/snap.qcow2" "$tmp/src.img"

# qemu cannot write to the snapshot.
if qemu-io -f raw -c 'write -P 0x66 0 64k' "$(uri "$exp")" >"$tmp/ro.out" 2>&1 &&
   ! grep -qi 'read-only\|permission\|denied\|failed' "$tmp/ro.out"; then
    fail "qemu-io wrote to a snapshot: $(cat "$tmp/ro.out")"
fi
cat "$tmp/ro.out"
qemu-img compare -f raw -F raw "$(uri "$exp")" "$tmp/src.img"

stop_snapvol
check_sanitizer_log
