#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-nbdcopy-snapshot.sh: a backup pulls a snapshot export with
# nbdcopy while the live volume is being written; every copy equals the
# content the volume had when the snapshot was taken.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdcopy jq fio
requires_run fio --enghelp=nbd
set -x

start_snapvol "$tmp/pool" volume=v:64M

head -c 48M /dev/urandom >"$tmp/src.img"
truncate -s 64M "$tmp/src.img"
nbdcopy "$tmp/src.img" "$(uri v)"
assert_eq "$(export_md5 v)" "$(md5 "$tmp/src.img")" "live content before the snapshot"

snap=$(snapshot_create --label backup v)
exp=$(jq -r '.snapshots[0].export' <<<"$snap")

fio --name=live --ioengine=nbd --uri="$(uri v)" --rw=randwrite --bs=4k \
    --iodepth=8 --numjobs=2 --size=64M --time_based --runtime=60 \
    --output="$tmp/fio.out" >/dev/null 2>&1 &
fio_pid=$!
cleanup_fn kill "$fio_pid"
sleep 1

for i in 1 2 3; do
    nbdcopy --connections=4 --requests=16 "$(uri "$exp")" "$tmp/copy.img"
    cmp "$tmp/copy.img" "$tmp/src.img" || fail "copy $i of the snapshot differs"
    # Single connection, small requests: a slower copy, more interleaving.
    nbdcopy --connections=1 --request-size=65536 "$(uri "$exp")" - | cmp - "$tmp/src.img" ||
        fail "streamed copy $i of the snapshot differs"
done

kill -0 "$fio_pid" || fail "fio ended before the copies did: $(cat "$tmp/fio.out")"
kill "$fio_pid"
wait "$fio_pid" || :
[ "$(export_md5 v)" != "$(md5 "$tmp/src.img")" ] || fail "the live volume was not written"
assert_eq "$(export_md5 "$exp")" "$(md5 "$tmp/src.img")" "the snapshot after the writes"

stop_snapvol
check_sanitizer_log
