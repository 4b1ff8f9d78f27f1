#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-fsfreeze-bad-input.sh: snapvol-writer --fsfreeze
# with a mount point it cannot freeze fails the set with a reason
# naming the path and what is wrong, shown in `writer list`, and leaves
# no snapshot and nothing frozen.  Cases: a path that does not exist, a
# directory that is not a mount point, a file on a mounted filesystem;
# a filesystem that refuses FIFREEZE (tmpfs) after one that froze (the
# first is thawed at once: a write to it completes); a filesystem
# someone else froze (EBUSY: it is left as it was, frozen by them).
# Then two good mount points: the set commits.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M
mount_ext4 fs-a
mkdir "$tmp/plain" "$tmp/tmpfs"
mount -t tmpfs -o size=1M tmpfs "$tmp/tmpfs" || skip "cannot mount a tmpfs"
test_mounts+=("$tmp/tmpfs")
echo data >"$tmp/fs-a/file"

# with_writer MOUNT...: (re)start writer-db freezing MOUNT...
with_writer ()
{
    local m
    local -a args=()
    stop_writer writer-db
    for m in "$@"; do args+=(--fsfreeze "$m"); done
    start_writer writer-db "${args[@]}" --freeze-timeout 3000 storage-a/db
}
# expect_failed_set EVENT REASON: a set fails with writer-db's REASON
# for EVENT, shown in writer list; no snapshot is left.
expect_failed_set ()
{
    local event=$1 reason=$2 status=0
    ctl --json set create storage-a/db >"$tmp/set.json" 2>"$tmp/set.err" || status=$?
    cat "$tmp/set.json" "$tmp/set.err"
    assert_eq "$status" 1 "exit status of set create"
    assert_eq "$(jq -r '.reason' "$tmp/set.json")" \
        "writer writer-db: writer.$event failed: $reason (error -32603)" "reason of the failed set"
    assert_eq "$(ctl --json writer list | jq -r '.[] | select(.name == "writer-db") | .last_error')" \
        "writer.$event failed: $reason (error -32603)" "writer-db's last error"
    assert_eq "$(provider_snapshots storage-a | jq -c .)" '[]' "snapshots on storage-a"
}
# writes_complete MOUNT: a write to MOUNT completes within 5 s.
writes_complete ()
{
    timeout 5 sh -c "echo more >>'$1/file' && sync '$1/file'" ||
        fail "a write to $1 did not complete: it is frozen"
}

with_writer "$tmp/none"
expect_failed_set prepare "fsfreeze: $tmp/none: No such file or directory"

with_writer "$tmp/fs-a" "$tmp/plain"
expect_failed_set prepare "fsfreeze: $tmp/plain is not a mount point"

with_writer "$tmp/fs-a/file"
expect_failed_set prepare "fsfreeze: $tmp/fs-a/file is not a mount point"

# tmpfs has no freeze: fs-a, frozen first, is thawed before the answer.
with_writer "$tmp/fs-a" "$tmp/tmpfs"
expect_failed_set freeze "fsfreeze: FIFREEZE $tmp/tmpfs: Operation not supported; $tmp/fs-a was thawed"
writes_complete "$tmp/fs-a"
thaw_says_not_frozen "$tmp/fs-a"
assert_eq "$(grep -oE 'fsfreeze: (froze|thawed) .*' "$tmp/writer-db.log")" "fsfreeze: froze $tmp/fs-a
fsfreeze: thawed $tmp/fs-a" "writer-db's freezes and thaws"
set_id=$(jq -r .set_id "$tmp/set.json")
assert_eq "$(events writer-db | grep -F "$set_id")" "prepare $set_id
freeze $set_id
abort $set_id" "events of writer-db"

# A filesystem frozen by someone else: FIFREEZE says EBUSY, and the
# writer does not thaw what it did not freeze.
fsfreeze -f "$tmp/fs-a"
with_writer "$tmp/fs-a"
expect_failed_set freeze "fsfreeze: FIFREEZE $tmp/fs-a: Device or resource busy"
fsfreeze -u "$tmp/fs-a" || fail "fs-a was thawed by the writer, which had not frozen it"
writes_complete "$tmp/fs-a"

# Good mount points: the set commits, and fs-a is thawed after.
mount_ext4 fs-b
with_writer "$tmp/fs-a" "$tmp/fs-b"
ctl --json set create storage-a/db >"$tmp/ok.json"
assert_eq "$(jq -r .state "$tmp/ok.json")" committed "state of the set with good mount points"
writes_complete "$tmp/fs-a"
thaw_says_not_frozen "$tmp/fs-a"
thaw_says_not_frozen "$tmp/fs-b"

stop_writer writer-db
stop_provider storage-a
stop_coordinator
check_logs
