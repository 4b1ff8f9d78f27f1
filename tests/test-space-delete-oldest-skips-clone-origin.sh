#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-space-delete-oldest-skips-clone-origin.sh: with the space policy
# on_full delete-oldest on a filesystem the test fills, when the oldest
# snapshot cannot be deleted because a clone reads through to it, the
# policy keeps it (an event says why) and deletes the next oldest
# instead; the write that needed room succeeds and the clone still
# reads its origin.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq mount umount
set -x

mount_small_tmpfs 24m
start_snapvol "$tmp/fs/pool" volume=v:64M prealloc=0

# s1 (the oldest) is a clone's origin; s2 is the next oldest; both
# hold 4 MiB only they read once the live volume is overwritten.
fill_mib v 0xa1 4
s1=$(snapshot_create v --label origin | jq -r '.snapshots[0].id')
snapvolctl volume clone "v@$s1" c >/dev/null
fill_mib v 0xb2 4
s2=$(snapshot_create v --label next | jq -r '.snapshots[0].id')
fill_mib v 0xc3 4
snapvolctl --json policy set --on-full delete-oldest >/dev/null

fill_filesystem "$tmp/fs"
assert_eq "$(df -k --output=avail "$tmp/fs" | tail -1 | tr -d ' ')" 0 \
    "free space on the full tmpfs (KiB)"

# 2 MiB to never-written space: s1's deletion is refused (the clone),
# s2 is deleted, the write goes through.
nbdsh -u "$(uri v)" -c - <<'PY'
b = b"\xd4" * (1 << 20)
for m in (32, 33):
    h.pwrite(b, m << 20)
h.flush()
for m in (32, 33):
    assert h.pread(1 << 20, m << 20) == b, "MiB %d reads back wrong" % m
PY
assert_eq "$(snapvolctl --json snapshot list v | jq -c '[.[] | [.id, .label]]')" \
    "[[\"$s1\",\"origin\"]]" "snapshots after the write that needed room"
assert_eq "$(snapvolctl --json policy events | jq -c '[.[] | [.action, .policy, .id]]')" \
    "[[\"kept\",\"space\",\"$s1\"],[\"deleted\",\"space\",\"$s2\"]]" \
    "the policy's events"
snapvolctl --json policy events | jq -r '.[0].reason' |
    grep -q "the deletion failed: .*clone" ||
    fail "the kept event does not say the clone refused the deletion: $(snapvolctl --json policy events)"
nbdsh -u "$(uri c)" -c - <<'PY'
for m in range(4):
    assert h.pread(1 << 20, m << 20) == b"\xa1" * (1 << 20), "clone MiB %d" % m
PY
rm -f "$tmp/fs/filler"
stop_snapvol
check_sanitizer_log
