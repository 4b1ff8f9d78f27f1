#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-backup-connection-lost.sh: the NBD connection to one
# provider is lost in the middle of `set backup` (its proxy killed):
# the other volume is backed up in full and its image is complete, the
# lost one's image stays "in-progress", the set backup fails naming how
# many volumes failed, the set manifest stays "in-progress" (nothing
# claims a complete set) and the holds are released on both providers.

source "$(dirname "$0")/functions.sh"
requires qemu-img
set -x
source "$(dirname "$0")/slow-set-backup.sh"

kill -KILL "$proxy_pid"
status=0
wait "$backup_pid" || status=$?
assert_eq "$status" 1 "exit status after the connection was lost"
assert_eq "$(tail -n 1 "$tmp/bk.err")" \
    "snapvolctl: set backup: 1 of 2 volumes failed: $tmp/bk/snapvol-set.json records an incomplete backup of set $set1" \
    "the set backup's error"
grep -q "^snapvolctl: set backup storage-b/logs: " "$tmp/bk.err" ||
    fail "no error names storage-b/logs: $(cat "$tmp/bk.err")"
assert_eq "$(jq -r '[.state, .set_id] | join(" ")' "$tmp/bk/snapvol-set.json")" \
    "in-progress $set1" "the set manifest after the lost connection"
assert_eq "$(jq -r .state "$tmp/bk/storage-a/db.img.snapvol.json")" complete "db's image"
assert_eq "$(jq -r .state "$tmp/bk/storage-b/logs.img.snapvol.json")" in-progress "logs' image"
db=$(jq -r '.snapshots[] | select(.volume == "db") | .id' "$tmp/set1.json")
qemu-img compare -q -f raw -F raw "$tmp/bk/storage-a/db.img" "$(puri storage-a "db@$db")" ||
    fail "db's image differs from its export"
assert_eq "$(holds_left)" 0 "holds after the lost connection"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
