#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-vm-snapshot-mid-write.sh: a Linux guest whose virtio disk is a
# snapvol volume makes an ext4 filesystem on it and writes files,
# syncing every second file, without pausing; the test takes snapshots
# while it writes.  Each snapshot, pulled with nbdcopy, has a journal
# that e2fsck replays, is clean after that, and holds every file the
# guest had synced before the snapshot was taken, byte for byte (its
# SHA-256 as the guest computed it).
#
# SNAPVOL_VM_ROUNDS (default 1) snapshots, SNAPVOL_VM_KIB (default 256)
# KiB per file: `make check-vm` takes more and bigger ones.

source "$(dirname "$0")/functions.sh"
set -x

rounds=${SNAPVOL_VM_ROUNDS:-1}
kib=${SNAPVOL_VM_KIB:-256}
start_snapvol "$tmp/pool" volume=vm:256M

start_vm vm "$(uri vm)" "sv.mode=midwrite sv.kib=$kib sv.max=$(( 200 * 1024 / kib ))"
vm_wait vm 240 '^ready midwrite$'

# synced_now: the last file the guest has synced, as far as we know now.
synced_now ()
{
    vm_lines vm | sed -n 's/^synced //p' | tail -n 1
}
# At least four more synced files before each snapshot.
last=0
declare -a snaps synced
for (( r = 0; r < rounds; r++ )); do
    vm_wait vm 240 "^synced ($(seq -s '|' $(( last + 4 )) 2 400))\$"
    synced[r]=$(synced_now)
    snaps[r]=$(snapshot_create vm | jq -r '.snapshots[0].export')
    last=${synced[r]}
done
# The guest was still writing: it stops when told to.
vm_lines vm | grep -q "^sum f$(( last + 1 )) " ||
    vm_wait vm 60 "^sum f$(( last + 1 )) "
vm_say vm stop
vm_wait vm 120 '^done$'
vm_wait_exit vm 60
vm_lines vm | grep -q '^write-done ' || fail "the guest did not finish writing"
written=$(vm_lines vm | sed -n 's/^write-done //p')
[ "$written" -gt "$last" ] ||
    fail "the guest wrote $written files, not more than the $last synced before the last snapshot"

for (( r = 0; r < rounds; r++ )); do
    img=$tmp/snap$r.img
    nbdcopy "$(uri "${snaps[r]}")" "$img"
    fsck_replays "$img"
    for (( i = 1; i <= synced[r]; i++ )); do
        want=$(vm_lines vm | sed -n "s/^sum f$i //p")
        assert_eq "$(fs_file "$img" /f$i | sha256sum | cut -d' ' -f1)" "$want" \
            "SHA-256 of f$i in snapshot $r (synced up to f${synced[r]})"
    done
    rm -f "$img"
done
echo "$test_name: $rounds snapshots taken while the guest wrote, up to f$last synced; $written files written"
stop_snapvol
