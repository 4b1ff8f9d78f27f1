#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-kill9-during-snapshots.sh: kill -9 of nbdkit while writes run and
# snapshots are being created and deleted, three times over.  After each
# restart every snapshot whose creation returned success (and that was
# not deleted since) is listed and reads back byte for byte as it did
# before the crash, a snapshot whose deletion returned success stays
# gone, and the volume is readable and writable.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh nbdcopy jq fio
requires_run fio --enghelp=nbd
set -x

pool=$tmp/pool
start_snapvol "$pool" volume=v:32M cluster-size=16K
nbdcopy <(head -c 32M /dev/urandom) "$(uri v)"

declare -A kept=()      # snapshot id -> saved copy of its content
declare -A gone=()      # snapshot ids deleted with success

for cycle in 1 2 3; do
    fio --name=load --ioengine=nbd --uri="$(uri v)" --rw=randwrite --bs=4k \
        --iodepth=8 --size=32M --time_based --runtime=60 \
        --output="$tmp/fio.out" >/dev/null 2>&1 &
    fio_pid=$!
    cleanup_fn kill "$fio_pid"
    sleep 0.3

    for i in 1 2 3; do
        id=$(snapshot_create --label "c$cycle-$i" v | jq -r '.snapshots[0].id')
        nbdcopy --connections=2 "$(uri "v@$id")" "$tmp/$id.img"
        kept[$id]=$tmp/$id.img
    done
    # Delete the oldest snapshot still kept.
    oldest=$(snapvolctl --json snapshot list v | jq -r '.[0].id')
    snapvolctl snapshot delete "$oldest" >/dev/null
    gone[$oldest]=1
    rm -f "${kept[$oldest]}"
    unset "kept[$oldest]"

    # Crash in the middle of the next snapshot, whose outcome is unknown.
    snapvolctl --json snapshot create --label "c$cycle-inflight" v >"$tmp/inflight.json" 2>/dev/null &
    inflight_pid=$!
    sleep 0.0$(( RANDOM % 10 ))
    kill9_snapvol
    wait "$inflight_pid" || :
    kill "$fio_pid" 2>/dev/null || :
    wait "$fio_pid" || :

    start_snapvol "$pool"
    snapvolctl --json snapshot list v >"$tmp/list.json"
    cat "$tmp/list.json"
    listed=$(jq -r '.[].id' "$tmp/list.json")
    inflight=$(jq -r '.snapshots[0].id // empty' "$tmp/inflight.json" 2>/dev/null || :)
    if [ -n "$inflight" ]; then
        # Its creation returned success before the kill: it must be there.
        grep -qx "$inflight" <<<"$listed" || fail "snapshot $inflight, created before the crash, is missing"
    fi
    for id in "${!kept[@]}"; do
        grep -qx "$id" <<<"$listed" || fail "cycle $cycle: snapshot $id is missing after the crash"
        nbdcopy "$(uri "v@$id")" "$tmp/check.img"
        cmp "$tmp/check.img" "${kept[$id]}" || fail "cycle $cycle: snapshot $id changed across the crash"
    done
    for id in "${!gone[@]}"; do
        ! grep -qx "$id" <<<"$listed" || fail "cycle $cycle: deleted snapshot $id came back"
    done
    # Any other snapshot (the one in flight) must at least be readable.
    for id in $listed; do
        [ -n "${kept[$id]:-}" ] && continue
        nbdcopy "$(uri "v@$id")" - >/dev/null || fail "snapshot $id is not readable"
        kept[$id]=$tmp/$id.img
        nbdcopy "$(uri "v@$id")" "${kept[$id]}"
    done
    nbdcopy "$(uri v)" - >/dev/null
done

nbdsh -u "$(uri v)" -c - <<'PY'
h.pwrite(b"\x77" * 65536, 1 << 20)
h.flush()
assert h.pread(65536, 1 << 20) == b"\x77" * 65536
PY
stop_snapvol
check_sanitizer_log
