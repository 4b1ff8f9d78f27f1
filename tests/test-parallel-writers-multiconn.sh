#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-parallel-writers-multiconn.sh: four fio jobs, each on its own NBD
# connection with 16 requests in flight, write one volume and verify
# what they wrote; a second pass verifies again, and so does a copy made
# with nbdcopy over four connections.  Then the same runs again with
# other data after a snapshot, which must still verify as the first.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh nbdcopy jq fio
requires_run fio --enghelp=nbd
set -x

start_snapvol "$tmp/pool" volume=v:64M

nbdsh -u "$(uri v)" -c 'assert h.can_multi_conn(), "the live volume does not advertise multi-conn"'

# Each job owns 16 MiB, written once in random order with 4 KiB blocks
# carrying a crc32c and their offset.
job=(--name=par --rw=randwrite --bs=4k --iodepth=16 --numjobs=4
     --size=16M --offset_increment=16M --verify=crc32c --verify_fatal=1
     --group_reporting --output-format=json)

# fio_check OUT WHAT BYTES-READ: fio reported no error and verified
# BYTES-READ bytes.  fio writes notices before its JSON.
fio_check ()
{
    local json
    json=$(sed -n '/^{/,$p' "$1")
    assert_eq "$(jq '[.jobs[].error] | add' <<<"$json")" 0 "$2: fio errors"
    assert_eq "$(jq '[.jobs[].read.io_bytes] | add' <<<"$json")" "$3" "$2: bytes verified"
}

# run_round SEED: write and verify over NBD, verify again over NBD,
# then verify an nbdcopy of the volume.
run_round ()
{
    local seed=$1
    fio "${job[@]}" --randseed="$seed" --ioengine=nbd --uri="$(uri v)" \
        --do_verify=1 --output="$tmp/write-$seed.json"
    fio_check "$tmp/write-$seed.json" "write and verify ($seed)" 67108864

    fio "${job[@]}" --randseed="$seed" --ioengine=nbd --uri="$(uri v)" \
        --verify_only --output="$tmp/verify-$seed.json"
    fio_check "$tmp/verify-$seed.json" "second verify ($seed)" 67108864

    nbdcopy --connections=4 "$(uri v)" "$tmp/copy-$seed.img"
    fio "${job[@]}" --randseed="$seed" --ioengine=psync --filename="$tmp/copy-$seed.img" \
        --verify_only --output="$tmp/copy-verify-$seed.json"
    fio_check "$tmp/copy-verify-$seed.json" "verify of the copy ($seed)" 67108864
}

run_round 1234
snap=$(snapshot_create v)
exp=$(jq -r '.snapshots[0].export' <<<"$snap")

# Every block is now shared with the snapshot: this round copies on write
# from four connections at once.
run_round 5678
cmp -s "$tmp/copy-1234.img" "$tmp/copy-5678.img" && fail "the second round wrote nothing new"

nbdcopy --connections=4 "$(uri "$exp")" "$tmp/snap.img"
cmp "$tmp/snap.img" "$tmp/copy-1234.img" || fail "the snapshot differs from the first round's data"
fio "${job[@]}" --randseed=1234 --ioengine=psync --filename="$tmp/snap.img" \
    --verify_only --output="$tmp/snap-verify.json"
fio_check "$tmp/snap-verify.json" "verify of the snapshot" 67108864

stop_snapvol
check_sanitizer_log
