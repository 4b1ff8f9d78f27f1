#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-backup-sigterm-releases-hold.sh: SIGTERM in the middle
# of `set backup` (one volume read through a slow proxy): snapvolctl
# stops the copies, releases the set hold on both providers, says the
# backup is incomplete, exits 1, and leaves the set manifest "in-progress"
# (nothing claims a complete set); the set can then be deleted.

source "$(dirname "$0")/functions.sh"
requires qemu-img
set -x
source "$(dirname "$0")/slow-set-backup.sh"

kill -TERM "$backup_pid"
status=0
wait "$backup_pid" || status=$?
assert_eq "$status" 1 "exit status after SIGTERM"
assert_eq "$(tail -n 1 "$tmp/bk.err")" \
    "snapvolctl: set backup: interrupted by signal 15: $tmp/bk/snapvol-set.json records an incomplete backup of set $set1" \
    "the set backup's error"
[ ! -s "$tmp/bk.out" ] || fail "the interrupted set backup printed: $(cat "$tmp/bk.out")"
assert_eq "$(jq -r '[.state, .set_id] | join(" ")' "$tmp/bk/snapvol-set.json")" \
    "in-progress $set1" "the set manifest after SIGTERM"
assert_eq "$(jq -r .state "$tmp/bk/storage-b/logs.img.snapvol.json")" in-progress \
    "the interrupted image's manifest"
assert_eq "$(holds_left)" 0 "holds after SIGTERM"
ctl set delete "$set1" >/dev/null

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
