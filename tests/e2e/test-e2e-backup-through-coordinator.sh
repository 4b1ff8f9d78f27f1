#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-backup-through-coordinator.sh: `snapvolctl --coordinator ...
# backup PROVIDER/VOLUME@ID DEST [--since ID]` against a real provider:
# by snapshot id and by set id, a full backup then an incremental one,
# each image equal to the snapshot's export (qemu-img compare); the
# incremental reads only what changed; the manifest names the volume
# as PROVIDER/VOLUME with its uuid; the set holds taken meanwhile are
# released at the end.

source "$(dirname "$0")/functions.sh"
requires qemu-img
set -x

write_conf
start_coordinator
start_provider storage-a db:8M

nbd_write "$(puri storage-a db)" 0 "the first block"
nbd_write "$(puri storage-a db)" 6291456 "at 6 MiB"
ctl --json set create storage-a/db --writers none --label one >"$tmp/set1.json"
set1=$(jq -r .set_id "$tmp/set1.json")
snap1=$(jq -r '.snapshots[0].id' "$tmp/set1.json")
nbd_write "$(puri storage-a db)" 4194304 "after the first set"
ctl --json set create storage-a/db --writers none --label two >"$tmp/set2.json"
set2=$(jq -r .set_id "$tmp/set2.json")
snap2=$(jq -r '.snapshots[0].id' "$tmp/set2.json")
uuid=$(ctl --json volumes | jq -r '.[] | select(.volume == "db") | .uuid')

# Full, by snapshot id.
ctl --json backup "storage-a/db@$snap1" "$tmp/db.img" >"$tmp/full.json"
qemu-img compare -q -f raw -F raw "$tmp/db.img" "$(puri storage-a "db@$snap1")" ||
    fail "the full backup differs from the export of $snap1"
assert_eq "$(jq -r '[.state, .volume, .volume_uuid, .snapshot, .set_id, .size] | join(" ")' "$tmp/db.img.snapvol.json")" \
    "complete storage-a/db $uuid $snap1 $set1 8388608" "the manifest of the full backup"
assert_eq "$(jq -r .sha256 "$tmp/full.json")" "$(jq -r .sha256 "$tmp/db.img.snapvol.json")" \
    "the summary's sha256 is the manifest's"

# Incremental, by set id (source and base): only the changed block is read.
ctl --json backup "storage-a/db@$set2" "$tmp/db.img" --since "$set1" >"$tmp/incr.json"
qemu-img compare -q -f raw -F raw "$tmp/db.img" "$(puri storage-a "db@$snap2")" ||
    fail "the incremental backup differs from the export of $snap2"
assert_eq "$(jq -r .bytes_read "$tmp/incr.json")" 4096 "bytes read by the incremental"
assert_eq "$(jq -r '[.state, .snapshot, .set_id] | join(" ")' "$tmp/db.img.snapvol.json")" \
    "complete $snap2 $set2" "the manifest of the incremental backup"

# A full backup by set id to a second file equals the incremental chain.
ctl backup "storage-a/db@$set2" "$tmp/db2.img" --quiet
cmp "$tmp/db.img" "$tmp/db2.img" || fail "the full and the incremental backups of $set2 differ"

# Nothing holds the sets any more: both can be deleted.
assert_eq "$(provider_snapshots storage-a | jq -r '[.[].holds | length] | add')" 0 \
    "holds left on the provider"
ctl set delete "$set1" >/dev/null
ctl set delete "$set2" >/dev/null

stop_provider storage-a
stop_coordinator
check_logs
