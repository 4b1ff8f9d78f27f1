#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-clone-reads-snapshot-writes-stay.sh: snapvolctl volume clone
# makes a writable export equal to the origin snapshot (qemu-img
# compare) right after the clone; writes to the clone leave the origin
# snapshot and the origin's live volume unchanged; the clone has
# snapshots of its own and survives a restart.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/clone-functions.sh"
requires_snapvol
requires qemu-img qemu-io nbdcopy jq md5sum
set -x

start_snapvol "$tmp/pool" volume=v:64M
truncate -s 64M "$tmp/src.img"
for mb in 0 3 31 63; do
    head -c 1M /dev/urandom | dd of="$tmp/src.img" bs=1M seek="$mb" conv=notrunc status=none
done
qemu-img convert -n -f raw -O raw "$tmp/src.img" "$(uri v)"
a=$(snap v)
qemu-io -f raw -c 'write -P 0x11 0 8M' -c flush "$(uri v)"
live_before=$(export_md5 v)

out=$(snapvolctl volume clone "v@$a" c)
assert_eq "$out" "Created volume c, a clone of v@$a: 64 MiB, export \"c\"." "clone output"
qemu-img compare -f raw -F raw "$(uri c)" "$(uri "v@$a")"
qemu-img compare -f raw -F raw "$(uri c)" "$tmp/src.img"
vol=$(snapvolctl --json volume list c | jq -c '.[0] | {name, size, cluster_size, origin, origin_missing}')
assert_eq "$vol" '{"name":"c","size":67108864,"cluster_size":65536,"origin":"v@'"$a"'","origin_missing":false}' "clone in volume list"
snapvolctl volume list | grep -Fx "c is a clone of v@$a."

# Writes to the clone: a partial sector, a whole range, zeroes, a trim.
qemu-io -f raw -c 'write -P 0x22 1000 700' -c 'write -P 0x33 4M 2M' \
    -c 'write -z 31M 512k' -c 'discard 63M 1M' -c flush "$(uri c)"
qemu-io -f raw -c 'read -P 0x22 1000 700' -c 'read -P 0x33 4M 2M' \
    -c 'read -P 0 31M 512k' -c 'read -P 0 63M 1M' "$(uri c)" | tee "$tmp/io.out"
grep -q 'Pattern verification failed' "$tmp/io.out" && fail "the clone reads wrong data"
cmp -n 1000 <(nbdcopy "$(uri c)" -) "$tmp/src.img"
qemu-img compare -f raw -F raw "$(uri "v@$a")" "$tmp/src.img"
assert_eq "$(export_md5 v)" "$live_before" "origin live volume after writes to the clone"

# A snapshot of the clone, more writes, and a restart.
s=$(snap c)
snap_md5=$(export_md5 c)
qemu-io -f raw -c 'write -P 0x44 0 1M' -c flush "$(uri c)"
clone_md5=$(export_md5 c)
stop_snapvol
start_snapvol "$tmp/pool"
assert_eq "$(export_md5 "c@$s")" "$snap_md5" "clone snapshot after restart"
assert_eq "$(export_md5 c)" "$clone_md5" "clone after restart"
qemu-img compare -f raw -F raw "$(uri "v@$a")" "$tmp/src.img"
assert_eq "$(export_md5 v)" "$live_before" "origin live volume after restart"
stop_snapvol
check_sanitizer_log
