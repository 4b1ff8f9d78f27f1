#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-replication-through-coordinator.sh: `snapvolctl --coordinator
# ... backup PROVIDER/VOLUME@SET PROVIDER2/VOLUME2 --dest-coordinator
# HOST:PORT [--since SET]`: a chain of three replications from
# storage-a/db into storage-b/replica, full then incremental; after each,
# the destination has a set of that one volume labelled
# replica-of:SNAPSHOT whose export equals the source snapshot's, snapshot
# by snapshot; --since refuses when the destination's latest replica is
# not of BASE.

source "$(dirname "$0")/functions.sh"
requires qemu-img
set -x

write_conf
start_coordinator
start_provider storage-a db:4M
start_provider storage-b replica:4M

declare -a sets snaps
for i in 0 1 2; do
    nbd_write "$(puri storage-a db)" $(( i * 1048576 + 8192 )) "generation $i"
    ctl --json set create storage-a/db --writers none --label "src-$i" >"$tmp/src$i.json"
    sets[i]=$(jq -r .set_id "$tmp/src$i.json")
    snaps[i]=$(jq -r '.snapshots[0].id' "$tmp/src$i.json")
done

ctl --json backup "storage-a/db@${sets[0]}" storage-b/replica \
    --dest-coordinator "127.0.0.1:$port" >"$tmp/r0.json"
ctl --json backup "storage-a/db@${sets[1]}" storage-b/replica --since "${sets[0]}" \
    --dest-coordinator "127.0.0.1:$port" >"$tmp/r1.json"
assert_eq "$(jq -r .bytes_read "$tmp/r1.json")" 4096 "bytes read by the first incremental replication"

# The latest replica is of sets[1]: --since sets[0] again is refused.
ctl backup "storage-a/db@${sets[2]}" storage-b/replica --since "${snaps[0]}" \
    --dest-coordinator "127.0.0.1:$port" 2>"$tmp/stale.err" && fail "a replication since a stale base succeeded"
out=$(grep -v '^+' "$tmp/stale.err")
latest=$(ctl --json set list | jq -r '[.[] | select(.snapshots[0].volume == "replica")][0].snapshots[0].id')
assert_eq "$out" "snapvolctl: backup: --since ${snaps[0]}: the latest snapshot of the destination volume storage-b/replica is $latest (label \"replica-of:${snaps[1]}\"), not the replica of ${snaps[0]}" \
    "replication since a stale base"

ctl --json backup "storage-a/db@${snaps[2]}" storage-b/replica --since "${snaps[1]}" \
    --dest-coordinator "127.0.0.1:$port" >"$tmp/r2.json"

# Snapshot by snapshot: the replica sets, oldest first, are of the
# source snapshots in order and hold the same bytes.
ctl --json set list | jq -r '[.[] | select(.snapshots[0].volume == "replica")] | reverse | .[] | "\(.label) \(.snapshots[0].id)"' >"$tmp/replicas"
assert_eq "$(cut -d' ' -f1 "$tmp/replicas" | tr '\n' ' ')" \
    "replica-of:${snaps[0]} replica-of:${snaps[1]} replica-of:${snaps[2]} " "the replica sets' labels"
i=0
while read -r label id; do
    qemu-img compare -q -f raw -F raw "$(puri storage-b "replica@$id")" "$(puri storage-a "db@${snaps[i]}")" ||
        fail "replica $id differs from source snapshot ${snaps[i]}"
    i=$((i + 1))
done <"$tmp/replicas"
assert_eq "$i" 3 "replicas compared"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
