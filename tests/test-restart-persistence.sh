#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-restart-persistence.sh: after a clean stop (SIGTERM) and a
# restart, every volume and snapshot is listed with the same attributes
# and reads back identically; naming a volume on the command line again
# does not recreate it.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh nbdcopy nbdinfo jq
set -x

pool=$tmp/pool
start_snapvol "$pool" volume=a:64M
snapvolctl volume create b 32M

fill ()
{
    vol=$1 seed=$2 nbdsh -u "$(uri "$1")" -c - <<'PY'
import random, os
rnd = random.Random(int(os.environ["seed"]))
size = h.get_size()
for _ in range(200):
    n = rnd.choice([512, 4096, 65536, 300000])
    h.pwrite(rnd.randbytes(n), rnd.randrange(0, size - n))
h.trim(1 << 20, 4 << 20)
h.zero(1 << 20, 8 << 20)
h.flush()
PY
}

fill a 1
fill b 2
snapshot_create --label set-one a b >/dev/null
fill a 3
snapshot_create --label a-only a >/dev/null
fill a 4
fill b 5

# What must survive: the lists (less what depends on open connections)
# and the content of every export.
record ()
{
    snapvolctl --json volume list | jq -S 'map(del(.open_count))' >"$tmp/volumes.$1"
    snapvolctl --json snapshot list | jq -S 'map(del(.open_count))' >"$tmp/snapshots.$1"
    nbdinfo --list --json "$(uri '')" |
        jq -S '[.exports[] | {n: ."export-name", d: .description, s: ."export-size", ro: .is_read_only}] | sort_by(.n)' \
        >"$tmp/exports.$1"
    : >"$tmp/content.$1"
    local e
    for e in $(jq -r '.[].n' "$tmp/exports.$1"); do
        echo "$e $(export_md5 "$e")" >>"$tmp/content.$1"
    done
}

record before
cat "$tmp/volumes.before" "$tmp/snapshots.before" "$tmp/content.before"
assert_eq "$(wc -l <"$tmp/content.before")" 5 "exports before the restart"

stop_snapvol
start_snapvol "$pool"
record after
for f in volumes snapshots exports content; do
    diff -u "$tmp/$f.before" "$tmp/$f.after" || fail "$f changed across a restart"
done

# Naming an existing volume again serves it as it is.
stop_snapvol
start_snapvol "$pool" volume=a:64M volume=b:32M
record again
for f in volumes snapshots exports content; do
    diff -u "$tmp/$f.before" "$tmp/$f.again" || fail "$f changed when restarted with volume="
done

stop_snapvol
check_sanitizer_log
