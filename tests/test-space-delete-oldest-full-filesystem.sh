#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-space-delete-oldest-full-filesystem.sh: on a filesystem the test
# fills (a small tmpfs), with the pool's space policy on_full
# delete-oldest, a write that needs space deletes the oldest snapshot
# that is neither held nor open (a log line first, an event after) and
# then succeeds; the held snapshot survives, reads its content, and
# once nothing can be deleted writes fail with ENOSPC.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq mount umount
set -x

mount_small_tmpfs 24m
start_snapvol "$tmp/fs/pool" volume=v:64M prealloc=0

# Oldest: 4 MiB of 0xa1 that only s1 will read once they are
# overwritten; then s2 (held) over 4 MiB of 0xb2; the live volume 0xc3.
fill_mib v 0xa1 4
s1=$(snapshot_create v --label oldest | jq -r '.snapshots[0].id')
fill_mib v 0xb2 4
s2=$(snapshot_create v --label held | jq -r '.snapshots[0].id')
snapvolctl snapshot hold "$s2" keep-me
fill_mib v 0xc3 4
assert_eq "$(snapvolctl --json snapshot list v | jq -c '[.[] | .exclusive_bytes]')" \
    "[$((4 << 20)),$((4 << 20))]" "each snapshot alone holds 4 MiB"

out=$(snapvolctl --json policy set --on-full delete-oldest)
assert_eq "$(jq -c .space <<<"$out")" \
    "{\"limit\":0,\"reserve\":0,\"on_full\":\"delete-oldest\",\"used\":$((12 << 20))}" \
    "the space policy"

# Fill the filesystem.
fill_filesystem "$tmp/fs"
assert_eq "$(df -k --output=avail "$tmp/fs" | tail -1 | tr -d ' ')" 0 \
    "free space on the full tmpfs (KiB)"

# 2 MiB to never-written space: the filesystem refuses, the policy
# deletes s1 (the oldest, unheld), and the write goes through.
nbdsh -u "$(uri v)" -c - <<'PY'
b = b"\xd4" * (1 << 20)
for m in (32, 33):
    h.pwrite(b, m << 20)
h.flush()
for m in (32, 33):
    assert h.pread(1 << 20, m << 20) == b, "MiB %d reads back wrong" % m
PY
assert_eq "$(snapvolctl --json snapshot list v | jq -c '[.[] | [.id, .label]]')" \
    "[[\"$s2\",\"held\"]]" "snapshots after the write that needed room"
grep -E "policy: deleting snapshot $s1 of volume v \\(set [0-9a-f-]+\\): space \\(delete-oldest\\): .*No space left on device.*; the oldest snapshot neither held nor open goes first" \
    "$nbdkit_log" || fail "no log line before s1's deletion"
assert_eq "$(snapvolctl --json policy events | jq -c '[.[] | [.action, .policy, .id]]')" \
    "[[\"deleted\",\"space\",\"$s1\"]]" "the policy's events"

# Only the held snapshot is left: more new space fails with ENOSPC, and
# the held snapshot survives with its content.
nbdsh -u "$(uri v)" -c - <<'PY'
import errno
b = b"\xe5" * (1 << 20)
failed = None
for m in range(34, 64):
    try:
        h.pwrite(b, m << 20)
    except nbd.Error as e:
        failed = e
        break
assert failed is not None, "every write succeeded on a full filesystem"
assert failed.errno in ("ENOSPC", errno.ENOSPC), "errno %s (%s)" % (failed.errno, failed.string)
for m in range(4):
    assert h.pread(1 << 20, m << 20) == b"\xc3" * (1 << 20), "live MiB %d changed" % m
PY
grep -q "no snapshot can be deleted to make room (each is held or open), the write fails" \
    "$nbdkit_log" || fail "the log does not say that nothing could be deleted"
assert_eq "$(snapvolctl --json snapshot list v | jq -r '[.[].id] | join(",")')" "$s2" \
    "the held snapshot survives"
nbdsh -u "$(uri "v@$s2")" -c - <<'PY'
for m in range(4):
    assert h.pread(1 << 20, m << 20) == b"\xb2" * (1 << 20), "held snapshot MiB %d" % m
PY
rm -f "$tmp/fs/filler"
stop_snapvol
check_sanitizer_log
