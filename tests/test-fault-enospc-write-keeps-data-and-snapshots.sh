#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-fault-enospc-write-keeps-data-and-snapshots.sh: when writes to a
# volume's data file fail with ENOSPC, an NBD client's writes fail with
# ENOSPC (new space, copy-on-write over a snapshot, in place, FUA, the
# data edges of a write-zeroes), flushes and trims work, every flushed
# byte reads back exactly, the snapshot reads its exact content, no
# snapshot is deleted to make room, and once space is back the same
# server takes writes again, which survive a restart.  Unlike
# test-enospc-nbd-client.sh (a full tmpfs) it needs no root: the
# preloaded shim (faultinject.c) fails the plugin's writes and
# fallocates of that one file.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/faultinject.sh"
requires_snapvol
requires nbdsh jq
requires_faultinject
set -x

faults_preload
start_snapvol "$tmp/pool" volume=v:64M volume=w:16M

# 4 MiB of pattern 1 and a snapshot of it; then pattern 2 over the
# second MiB (copied on write, so later writes there go in place).
nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(1, 0, 4 << 20), 0)
h.flush()
PY
snap=$(snapshot_create v | jq -r '.snapshots[0].id')
[ -n "$snap" ] && [ "$snap" != null ] || fail "no snapshot id"
nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(2, 1 << 20, 1 << 20), 1 << 20)
h.flush()
PY
snapvolctl --json snapshot list >"$tmp/snapshots.before"

fault_set "pwrite,fallocate $(data_file v) ENOSPC"
# What needs no data space works: flush, trim (which frees space), and
# write-zeroes of whole blocks.  They change the snapshot's exclusive
# bytes, so the snapshot list is compared after them.
nbdsh_py "$(uri v)" <<'PY'
M = 1 << 20
h.flush()
h.trim(65536, 3 * M)
h.zero(65536, 3 * M + 65536)
h.flush()
PY
snapvolctl --json snapshot list >"$tmp/snapshots.trimmed"

nbdsh_py "$(uri v)" <<'PY'
M = 1 << 20
new = pattern(3, 0, M)
expect_error("ENOSPC", "write to never-written space", h.pwrite, new, 32 * M)
expect_error("ENOSPC", "copy-on-write over the snapshot", h.pwrite, new, 0)
expect_error("ENOSPC", "write in place", h.pwrite, new, M)
expect_error("ENOSPC", "FUA write", h.pwrite, new[:4096], 2 * M,
             nbd.CMD_FLAG_FUA)
expect_error("ENOSPC", "write-zeroes with partial blocks", h.zero, 1000,
             3 * M + 100)
h.flush()
# Every flushed byte is there.
assert h.pread(M, 0) == pattern(1, 0, M), "MiB 0 changed"
assert h.pread(M, M) == pattern(2, M, M), "MiB 1 changed"
assert h.pread(M, 2 * M) == pattern(1, 2 * M, M), "MiB 2 changed"
assert h.pread(131072, 3 * M) == bytes(131072), "trimmed range not zero"
assert h.pread(M - 131072, 3 * M + 131072) == \
    pattern(1, 3 * M + 131072, M - 131072), "MiB 3 changed"
assert h.pread(M, 32 * M) == bytes(M), "never-written space is not zero"
PY
[ "$(fault_hits)" -ge 5 ] || fail "the shim failed $(fault_hits) calls, expected at least 5"
grep -q "volume v: write data at cluster .*No space left on device" "$nbdkit_log" ||
    fail "no message naming volume v and ENOSPC in the log"

# No snapshot was deleted to make room, the failed writes changed
# nothing about them, and the snapshot reads its content.
snapvolctl --json snapshot list >"$tmp/snapshots.during"
diff -u "$tmp/snapshots.trimmed" "$tmp/snapshots.during" ||
    fail "failed writes changed the snapshot list"
assert_eq "$(jq -c '[.[] | [.volume, .id, .set_id, .created, .generation]]' "$tmp/snapshots.during")" \
    "$(jq -c '[.[] | [.volume, .id, .set_id, .created, .generation]]' "$tmp/snapshots.before")" \
    "snapshots while out of space"
nbdsh_py "$(uri "v@$snap")" <<'PY'
assert h.pread(4 << 20, 0) == pattern(1, 0, 4 << 20), "the snapshot changed"
PY

# Another volume of the pool is not affected.
nbdsh_py "$(uri w)" <<'PY'
h.pwrite(pattern(4, 0, 1 << 20), 0)
h.flush()
assert h.pread(1 << 20, 0) == pattern(4, 0, 1 << 20)
PY

# Space is back: the same server takes the same writes.
fault_clear
nbdsh_py "$(uri v)" <<'PY'
M = 1 << 20
new = pattern(3, 0, M)
h.pwrite(new, 32 * M)
h.pwrite(new, 0)
h.pwrite(new, M)
h.pwrite(new[:4096], 2 * M, nbd.CMD_FLAG_FUA)
h.zero(1000, 3 * M + 100)
h.flush()
assert h.pread(M, 32 * M) == new
assert h.pread(M, 0) == new
PY

stop_snapvol
start_snapvol "$tmp/pool"
nbdsh_py "$(uri v)" <<'PY'
M = 1 << 20
new = pattern(3, 0, M)
assert h.pread(M, 0) == new
assert h.pread(M, M) == new
assert h.pread(4096, 2 * M) == new[:4096]
assert h.pread(M - 4096, 2 * M + 4096) == pattern(1, 2 * M + 4096, M - 4096)
assert h.pread(131072, 3 * M) == bytes(131072)
assert h.pread(M - 131072, 3 * M + 131072) == \
    pattern(1, 3 * M + 131072, M - 131072)
assert h.pread(M, 32 * M) == new
PY
nbdsh_py "$(uri "v@$snap")" <<'PY'
assert h.pread(4 << 20, 0) == pattern(1, 0, 4 << 20), \
    "the snapshot changed after the restart"
PY
assert_eq "$(snapvolctl --json snapshot list | jq -c '[.[] | [.volume, .id]]')" \
    "$(jq -c '[.[] | [.volume, .id]]' "$tmp/snapshots.before")" \
    "snapshots after the restart"
stop_snapvol
check_sanitizer_log
