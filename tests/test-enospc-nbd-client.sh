#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-enospc-nbd-client.sh: when the pool's filesystem is full, an NBD
# client's writes go on into the space the data file has reserved
# (prealloc=) and then fail with ENOSPC (new clusters and copy-on-write
# over a snapshot alike), reads of the live volume and of the snapshot
# go on returning the same bytes, no snapshot is deleted to make room,
# and once space comes back the same server takes writes again, and
# everything survives a restart.  The pool lives on a small tmpfs the
# test mounts.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq mount umount
set -x

[ "$(id -u)" -eq 0 ] || skip "mounting a small tmpfs needs root"
mkdir "$tmp/fs"
mount -t tmpfs -o size=24m,mode=0700 snapvol-test "$tmp/fs" ||
    skip "cannot mount a tmpfs here"
# Registered before the server starts, so it runs after the server is
# stopped (handlers run in reverse order).
cleanup_fn umount -l "$tmp/fs"

# 8 MiB reserved when the first cluster is allocated: clusters 0-127.
start_snapvol "$tmp/fs/pool" volume=v:64M prealloc=8M

# 4 MiB of pattern A, flushed, then a snapshot of it.
nbdsh -u "$(uri v)" -c - <<'PY'
buf = bytes([(i * 7 + 1) % 251 for i in range(1 << 20)])
for m in range(4):
    h.pwrite(buf, m << 20)
h.flush()
PY
snap=$(snapshot_create v | jq -r '.snapshots[0].id')
[ -n "$snap" ] || fail "no snapshot id"

# Fill the filesystem: dd stops at ENOSPC.
dd if=/dev/zero of="$tmp/fs/filler" bs=64k status=none 2>/dev/null || :
df -k "$tmp/fs"
avail=$(df -k --output=avail "$tmp/fs" | tail -1 | tr -d ' ')
assert_eq "$avail" 0 "free space on the full tmpfs (KiB)"

nbdsh -u "$(uri v)" -c - <<'PY'
import errno
a = bytes([(i * 7 + 1) % 251 for i in range(1 << 20)])
b = b"\xbb" * (1 << 20)

def must_fail_enospc(what, off):
    try:
        h.pwrite(b, off)
    except nbd.Error as e:
        assert e.errno in ("ENOSPC", errno.ENOSPC), "%s: errno %s, expected ENOSPC (%s)" % (what, e.errno, e.string)
        return
    raise AssertionError("%s: the write succeeded on a full filesystem" % what)

# The reserved clusters 64-127 take 4 MiB of new writes.
for m in range(4):
    h.pwrite(b, (32 + m) << 20)
for m in range(4):
    assert h.pread(1 << 20, (32 + m) << 20) == b, "reserved write %d reads back wrong" % m
# Past the reservation: new space, and copy-on-write over the
# snapshotted range.
must_fail_enospc("write to never-written space", 40 << 20)
must_fail_enospc("copy-on-write over the snapshot", 1 << 20)
# Reads are unaffected and see the old bytes everywhere.
for m in range(4):
    assert h.pread(1 << 20, m << 20) == a, "live MiB %d changed" % m
assert h.pread(1 << 20, 40 << 20) == bytes(1 << 20), "never-written space is not zero"
PY

# The snapshot was not deleted to make room, and reads its content.
assert_eq "$(snapvolctl --json snapshot list v | jq -r '[.[].id] | join(",")')" "$snap" \
    "snapshots after ENOSPC"
nbdsh -u "$(uri "v@$snap")" -c - <<'PY'
a = bytes([(i * 7 + 1) % 251 for i in range(1 << 20)])
for m in range(4):
    assert h.pread(1 << 20, m << 20) == a, "snapshot MiB %d changed" % m
PY

# Space comes back: the same server takes the same writes, no restart.
rm -f "$tmp/fs/filler"
nbdsh -u "$(uri v)" -c - <<'PY'
b = b"\xbb" * (1 << 20)
h.pwrite(b, 40 << 20)
h.pwrite(b, 1 << 20)
h.flush()
PY

stop_snapvol
start_snapvol "$tmp/fs/pool"
nbdsh -u "$(uri v)" -c - <<'PY'
a = bytes([(i * 7 + 1) % 251 for i in range(1 << 20)])
b = b"\xbb" * (1 << 20)
assert h.pread(1 << 20, 0) == a
assert h.pread(1 << 20, 1 << 20) == b, "the write made after space came back was lost"
assert h.pread(1 << 20, 2 << 20) == a
for m in (32, 33, 34, 35, 40):
    assert h.pread(1 << 20, m << 20) == b, "MiB %d lost" % m
PY
nbdsh -u "$(uri "v@$snap")" -c - <<'PY'
a = bytes([(i * 7 + 1) % 251 for i in range(1 << 20)])
for m in range(4):
    assert h.pread(1 << 20, m << 20) == a, "snapshot MiB %d changed after restart" % m
PY
stop_snapvol
check_sanitizer_log
