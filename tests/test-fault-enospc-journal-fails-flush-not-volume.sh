#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-fault-enospc-journal-fails-flush-not-volume.sh: when writes to a
# volume's journal fail with ENOSPC, the flushes (and FUA writes) of
# that volume fail with ENOSPC and a snapshot of it is refused, leaving
# none; the volume is not stopped: it serves reads and takes writes,
# another volume is not affected, and once space is back the next flush
# makes everything durable, as a restart shows.  The faults come from
# the preloaded shim (faultinject.c).

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/faultinject.sh"
requires_snapvol
requires nbdsh jq
requires_faultinject
set -x

faults_preload
start_snapvol "$tmp/pool" volume=v:16M volume=w:16M

nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(1, 0, 1 << 20), 0)
h.flush()
PY

fault_set "pwrite $(journal_files v) ENOSPC"
nbdsh_py "$(uri v)" <<'PY'
M = 1 << 20
h.pwrite(pattern(2, M, M), M)
expect_error("ENOSPC", "flush", h.flush)
expect_error("ENOSPC", "FUA write", h.pwrite, pattern(3, 2 * M, 4096), 2 * M,
             nbd.CMD_FLAG_FUA)
expect_error("ENOSPC", "flush again", h.flush)
# Not stopped: reads and writes go on.
assert h.pread(M, 0) == pattern(1, 0, M)
assert h.pread(M, M) == pattern(2, M, M)
h.pwrite(pattern(4, 3 * M, 65536), 3 * M)
assert h.pread(65536, 3 * M) == pattern(4, 3 * M, 65536)
PY
[ "$(fault_hits)" -ge 3 ] || fail "the shim failed $(fault_hits) journal writes, expected at least 3"
grep -q "volumes/v/journal\.[0-9a-f]*: No space left on device" "$nbdkit_log" ||
    fail "the log does not name volume v's journal and ENOSPC"
expect_error "volumes/v/journal.*No space left on device" snapvolctl snapshot create v
assert_eq "$(snapvolctl --json snapshot list v | jq length)" 0 "snapshots of v"

nbdsh_py "$(uri w)" <<'PY'
h.pwrite(pattern(5, 0, 65536), 0)
h.flush()
PY

# Space is back: the next flush makes everything durable.
fault_clear
nbdsh_py "$(uri v)" <<'PY'
h.flush()
PY
stop_snapvol
start_snapvol "$tmp/pool"
nbdsh_py "$(uri v)" <<'PY'
M = 1 << 20
assert h.pread(M, 0) == pattern(1, 0, M)
assert h.pread(M, M) == pattern(2, M, M), "the write whose flush failed is lost"
assert h.pread(4096, 2 * M) == pattern(3, 2 * M, 4096), "the FUA write is lost"
assert h.pread(65536, 3 * M) == pattern(4, 3 * M, 65536)
PY
nbdsh_py "$(uri w)" <<'PY'
assert h.pread(65536, 0) == pattern(5, 0, 65536)
PY
assert_eq "$(snapvolctl --json snapshot list v | jq length)" 0 "snapshots of v"
stop_snapvol
check_sanitizer_log
