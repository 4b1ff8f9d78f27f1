#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-fault-eio-write-fails-that-write-only.sh: when writes to a
# volume's data file fail with EIO, an NBD client's writes to that
# volume fail with EIO (new space, copy-on-write over a snapshot, in
# place, FUA, the data edges of a write-zeroes) and change nothing:
# reads, flushes and the snapshot are as before, another volume is not
# affected, and once the disk heals the same server takes the same
# writes, which survive a restart.  The faults come from the preloaded
# shim (faultinject.c).

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/faultinject.sh"
requires_snapvol
requires nbdsh jq
requires_faultinject
set -x

faults_preload
start_snapvol "$tmp/pool" volume=v:16M volume=w:16M

# 2 MiB of pattern 1, a snapshot of it, then pattern 2 over its second
# MiB (copied on write, so later writes there go in place).
nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(1, 0, 2 << 20), 0)
h.flush()
PY
snap=$(snapshot_create v | jq -r '.snapshots[0].id')
[ -n "$snap" ] && [ "$snap" != null ] || fail "no snapshot id"
nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(2, 1 << 20, 1 << 20), 1 << 20)
h.flush()
PY

fault_set "pwrite $(data_file v) EIO"
nbdsh_py "$(uri v)" <<'PY'
new = pattern(3, 0, 65536)
expect_error("EIO", "write to never-written space", h.pwrite, new, 8 << 20)
expect_error("EIO", "copy-on-write over the snapshot", h.pwrite, new, 0)
expect_error("EIO", "write in place", h.pwrite, new, 1 << 20)
expect_error("EIO", "FUA write", h.pwrite, new, 1 << 20, nbd.CMD_FLAG_FUA)
expect_error("EIO", "write-zeroes with partial blocks", h.zero, 1000, 100)
# Nothing changed, and flushes work.
h.flush()
assert h.pread(1 << 20, 0) == pattern(1, 0, 1 << 20)
assert h.pread(1 << 20, 1 << 20) == pattern(2, 1 << 20, 1 << 20)
assert h.pread(65536, 8 << 20) == bytes(65536)
PY
[ "$(fault_hits)" -ge 5 ] || fail "the shim failed $(fault_hits) writes, expected at least 5"
grep -q "volume v: write data at cluster .*Input/output error" "$nbdkit_log" ||
    fail "no message naming volume v and the failed write in the log"

# The other volume and the snapshot are not affected.
nbdsh_py "$(uri w)" <<'PY'
h.pwrite(pattern(4, 0, 1 << 20), 0)
h.flush()
assert h.pread(1 << 20, 0) == pattern(4, 0, 1 << 20)
PY
nbdsh_py "$(uri "v@$snap")" <<'PY'
assert h.pread(2 << 20, 0) == pattern(1, 0, 2 << 20), "the snapshot changed"
PY

# The disk heals: the same writes succeed on the same server.
fault_clear
nbdsh_py "$(uri v)" <<'PY'
new = pattern(3, 0, 65536)
h.pwrite(new, 8 << 20)
h.pwrite(new, 0)
h.pwrite(new, 1 << 20, nbd.CMD_FLAG_FUA)
h.zero(1000, 70000)
h.flush()
PY

stop_snapvol
start_snapvol "$tmp/pool"
nbdsh_py "$(uri v)" <<'PY'
new = pattern(3, 0, 65536)
M = 1 << 20
assert h.pread(65536, 0) == new
assert h.pread(70000 - 65536, 65536) == pattern(1, 65536, 70000 - 65536)
assert h.pread(1000, 70000) == bytes(1000)
assert h.pread(M - 71000, 71000) == pattern(1, 71000, M - 71000)
assert h.pread(65536, M) == new
assert h.pread(M - 65536, M + 65536) == pattern(2, M + 65536, M - 65536)
assert h.pread(65536, 8 * M) == new
PY
nbdsh_py "$(uri "v@$snap")" <<'PY'
assert h.pread(2 << 20, 0) == pattern(1, 0, 2 << 20), "the snapshot changed"
PY
stop_snapvol
check_sanitizer_log
