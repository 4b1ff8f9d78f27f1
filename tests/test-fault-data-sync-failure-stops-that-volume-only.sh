#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-fault-data-sync-failure-stops-that-volume-only.sh: when fdatasync
# of a volume's data file fails, the engine stops that volume on
# purpose (after a failed fdatasync Linux may have dropped the dirty
# pages, so the page cache can no longer be trusted; docs/design.md,
# "Flush"): the client's flush fails with EIO and the server's log says
# which volume and why; every later read, write and flush of it, and
# of its snapshots, fails with EIO even though the disk has healed, and
# a snapshot of it is refused.  Another volume of the pool keeps
# working, snapshots included.  After a restart every flushed byte and
# every snapshot of both volumes is intact and the volume works again.
# The fault comes from the preloaded shim (faultinject.c).

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/faultinject.sh"
requires_snapvol
requires nbdsh jq
requires_faultinject
set -x

faults_preload
start_snapvol "$tmp/pool" volume=v:16M volume=w:16M

# v: 2 MiB of pattern 1, a snapshot, pattern 2 over its first 64 KiB.
# w: 1 MiB of pattern 3.  All flushed.
nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(1, 0, 2 << 20), 0)
h.flush()
PY
snap_v=$(snapshot_create v | jq -r '.snapshots[0].id')
[ -n "$snap_v" ] && [ "$snap_v" != null ] || fail "no snapshot id"
nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(2, 0, 65536), 0)
h.flush()
PY
nbdsh_py "$(uri w)" <<'PY'
h.pwrite(pattern(3, 0, 1 << 20), 0)
h.flush()
PY

# One fdatasync of v's data fails, then the disk is fine again.
fault_set "fdatasync $(data_file v) EIO count=1"
nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(4, 4 << 20, 65536), 4 << 20)      # never flushed
expect_error("EIO", "flush", h.flush)
# Stopped: everything fails, though the fault is spent.
expect_error("EIO", "read after the failed flush", h.pread, 4096, 0)
expect_error("EIO", "write after the failed flush", h.pwrite,
             pattern(5, 0, 4096), 8 << 20)
expect_error("EIO", "write-zeroes after the failed flush", h.zero, 65536, 0)
expect_error("EIO", "flush after the failed flush", h.flush)
PY
assert_eq "$(fault_hits)" 1 "fdatasync calls failed"
grep -q "volume v: fdatasync data: Input/output error" "$nbdkit_log" ||
    fail "the log does not name volume v and the failed fdatasync"
grep -q "volume v: .*stopped the volume" "$nbdkit_log" ||
    fail "the log does not say that volume v is stopped"
nbdsh_py "$(uri "v@$snap_v")" <<'PY'
expect_error("EIO", "read of the stopped volume's snapshot", h.pread, 4096, 0)
PY
expect_error "volume v: .*stopped" snapvolctl snapshot create v

# The other volume works on, snapshots included.
snap_w=$(snapshot_create w | jq -r '.snapshots[0].id')
[ -n "$snap_w" ] && [ "$snap_w" != null ] || fail "no snapshot id for w"
nbdsh_py "$(uri w)" <<'PY'
assert h.pread(1 << 20, 0) == pattern(3, 0, 1 << 20)
h.pwrite(pattern(6, 0, 65536), 0)
h.flush()
assert h.pread(65536, 0) == pattern(6, 0, 65536)
PY
nbdsh_py "$(uri "w@$snap_w")" <<'PY'
assert h.pread(1 << 20, 0) == pattern(3, 0, 1 << 20)
PY
snapvolctl --json snapshot list | jq -c '[.[] | [.volume, .id]]' >"$tmp/snapshots.before"

# A restart recovers the volume from its journal.
fault_clear
stop_snapvol
start_snapvol "$tmp/pool"
assert_eq "$(snapvolctl --json snapshot list | jq -c '[.[] | [.volume, .id]]')" \
    "$(cat "$tmp/snapshots.before")" "snapshots after the restart"
nbdsh_py "$(uri v)" <<'PY'
assert h.pread(65536, 0) == pattern(2, 0, 65536), "flushed data lost"
assert h.pread((2 << 20) - 65536, 65536) == \
    pattern(1, 65536, (2 << 20) - 65536), "flushed data lost"
# The write whose flush failed is there or not, nothing else.
got = h.pread(65536, 4 << 20)
assert got in (pattern(4, 4 << 20, 65536), bytes(65536)), \
    "the unflushed write reads neither its data nor zeroes"
assert h.pread(4096, 8 << 20) == bytes(4096), "a refused write is there"
# And the volume works again.
h.pwrite(pattern(7, 8 << 20, 65536), 8 << 20)
h.flush()
assert h.pread(65536, 8 << 20) == pattern(7, 8 << 20, 65536)
PY
nbdsh_py "$(uri "v@$snap_v")" <<'PY'
assert h.pread(2 << 20, 0) == pattern(1, 0, 2 << 20), "the snapshot changed"
PY
nbdsh_py "$(uri w)" <<'PY'
assert h.pread(65536, 0) == pattern(6, 0, 65536)
assert h.pread((1 << 20) - 65536, 65536) == pattern(3, 65536, (1 << 20) - 65536)
PY
nbdsh_py "$(uri "w@$snap_w")" <<'PY'
assert h.pread(1 << 20, 0) == pattern(3, 0, 1 << 20)
PY
stop_snapvol
check_sanitizer_log
