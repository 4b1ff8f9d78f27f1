#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-fsfreeze-stuck-freeze-thawed-when-it-returns.sh: a
# FIFREEZE that does not return within the writer's deadline (the
# filesystem's device is stuck, so the dirty data cannot be written
# out) fails the freeze at once with that reason; the filesystem frozen
# before it is thawed then (a write to it completes), and the next
# set's prepare is refused while the FIFREEZE is still blocked.  When
# the device goes on, the FIFREEZE returns and the writer thaws that
# filesystem at once; the next set commits.
#
# The stuck device: ext4 on a loop device over nbdfuse's file of an
# nbdkit memory disk, with dirty data in the page cache and nbdkit
# stopped (SIGSTOP).

source "$(dirname "$0")/functions.sh"
set -x

requires nbdfuse losetup
write_conf
start_coordinator
start_provider storage-a db:8M
mount_ext4 fs-a

# The stuck filesystem, fs-s.  Its cleanup lets nbdkit go on first: the
# FIFREEZE, the thaw and the unmount all wait for it.
mkdir "$tmp/fuse" "$tmp/fs-s"
nbdkit -U "$tmp/disk.sock" -P "$tmp/disk.pid" memory 64M
# The daemon writes its pid file after its parent has returned.
poll 10 test -s "$tmp/disk.pid"
disk_pid=$(cat "$tmp/disk.pid")
loopdev=
fuse_pid=
stuck_cleanup ()
{
    kill -CONT "$disk_pid" 2>/dev/null
    fsfreeze -u "$tmp/fs-s" 2>/dev/null
    _stop_writers
    umount "$tmp/fs-s" 2>/dev/null
    [ -z "$loopdev" ] || losetup -d "$loopdev" 2>/dev/null
    umount "$tmp/fuse" 2>/dev/null
    [ -z "$fuse_pid" ] || wait "$fuse_pid" 2>/dev/null
    kill "$disk_pid" 2>/dev/null
    return 0
}
cleanup_fn stuck_cleanup
nbdfuse "$tmp/fuse" "nbd+unix:///?socket=$tmp/disk.sock" &
fuse_pid=$!
poll 10 test -s "$tmp/fuse/nbd"
loopdev=$(losetup -f --show "$tmp/fuse/nbd") || skip "cannot attach a loop device to nbdfuse's file"
mke2fs -q -t ext4 "$loopdev"
mount "$loopdev" "$tmp/fs-s" || skip "cannot mount ext4 on a loop device over nbdfuse"
echo data >"$tmp/fs-a/file"
echo data >"$tmp/fs-s/file"
sync

start_writer writer-db --fsfreeze "$tmp/fs-a" --fsfreeze "$tmp/fs-s" \
    --freeze-timeout 5000 storage-a/db

# Dirty data the FIFREEZE must write out, then the device stops.
dd if=/dev/urandom of="$tmp/fs-s/big" bs=1M count=8 status=none
"$tmp/stop-process" "$tmp/disk.pid"

status=0
start=$(now_ms)
ctl --json set create storage-a/db >"$tmp/set.json" 2>"$tmp/set.err" || status=$?
elapsed=$(( $(now_ms) - start ))
cat "$tmp/set.json" "$tmp/set.err"
assert_eq "$status" 1 "exit status of set create"
reason="fsfreeze: FIFREEZE $tmp/fs-s did not return within 4500 ms; $tmp/fs-a was thawed; $tmp/fs-s is thawed when its FIFREEZE returns"
assert_eq "$(jq -r '.reason' "$tmp/set.json")" \
    "writer writer-db: writer.freeze failed: $reason (error -32603)" "reason of the failed set"
assert_eq "$(ctl --json writer list | jq -r '.[] | select(.name == "writer-db") | .last_error')" \
    "writer.freeze failed: $reason (error -32603)" "writer-db's last error"
[ "$elapsed" -lt 12000 ] || fail "the set failed after $elapsed ms"
timeout 5 sh -c "echo more >>'$tmp/fs-a/file'" || fail "a write to fs-a did not complete"
thaw_says_not_frozen "$tmp/fs-a"

# While the FIFREEZE is blocked, the next set is refused at prepare.
status=0
ctl --json set create storage-a/db >"$tmp/set2.json" 2>"$tmp/set2.err" || status=$?
assert_eq "$status" 1 "exit status of the second set create"
assert_eq "$(jq -r '.reason' "$tmp/set2.json")" \
    "writer writer-db: writer.prepare failed: fsfreeze: FIFREEZE $tmp/fs-s of an earlier set has not returned yet (error -32603)" \
    "reason of the second set"

# The device goes on: the FIFREEZE returns and the writer thaws fs-s.
kill -CONT "$disk_pid"
poll 30 grep -q "fsfreeze: thawed $tmp/fs-s\$" "$tmp/writer-db.log"
grep -F "fsfreeze: FIFREEZE $tmp/fs-s returned after its set had given up on it; thawing it" \
    "$tmp/writer-db.log" || fail "writer-db did not say why it thawed fs-s"
timeout 10 sh -c "echo more >>'$tmp/fs-s/file'" || fail "a write to fs-s did not complete"
thaw_says_not_frozen "$tmp/fs-s"
assert_eq "$(grep -oE 'fsfreeze: (froze|thawed) .*' "$tmp/writer-db.log")" "fsfreeze: froze $tmp/fs-a
fsfreeze: thawed $tmp/fs-a
fsfreeze: froze $tmp/fs-s
fsfreeze: thawed $tmp/fs-s" "writer-db's freezes and thaws"

ctl --json set create storage-a/db >"$tmp/ok.json"
assert_eq "$(jq -r .state "$tmp/ok.json")" committed "state of the set once the device went on"
thaw_says_not_frozen "$tmp/fs-a"
thaw_says_not_frozen "$tmp/fs-s"

stop_writer writer-db
stop_provider storage-a
stop_coordinator
check_logs
