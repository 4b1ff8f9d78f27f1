#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-fault-eio-read-fails-that-read-only.sh: when reads of a volume's
# data file fail with EIO, an NBD client's read of that volume fails
# with EIO, and nothing else: another volume of the pool reads and
# writes as before, the failing volume takes writes and flushes, and
# once the disk heals it reads back every byte, with no restart.  The
# faults come from the preloaded shim (faultinject.c).

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/faultinject.sh"
requires_snapvol
requires nbdsh
requires_faultinject
set -x

faults_preload
start_snapvol "$tmp/pool" volume=v:16M volume=w:16M

# 2 MiB of data in each volume, flushed.
nbdsh_py "$(uri v)" <<'PY'
h.pwrite(pattern(1, 0, 2 << 20), 0)
h.flush()
PY
nbdsh_py "$(uri w)" <<'PY'
h.pwrite(pattern(2, 0, 2 << 20), 0)
h.flush()
PY

fault_set "pread $(data_file v) EIO"

nbdsh_py "$(uri v)" <<'PY'
expect_error("EIO", "read of 4 KiB", h.pread, 4096, 8192)
expect_error("EIO", "read of 1 MiB", h.pread, 1 << 20, 512 << 10)
# A read of never-written space reads no file: zeroes, as always.
assert h.pread(65536, 8 << 20) == bytes(65536)
# Writes and flushes do not read the data file (no snapshot here).
h.pwrite(pattern(3, 4 << 20, 1 << 20), 4 << 20)
h.flush()
PY
hits=$(fault_hits)
[ "$hits" -ge 2 ] || fail "the shim failed $hits reads, expected at least 2"

# The other volume is not affected.
nbdsh_py "$(uri w)" <<'PY'
assert h.pread(2 << 20, 0) == pattern(2, 0, 2 << 20)
h.pwrite(pattern(4, 1 << 20, 65536), 1 << 20)
h.flush()
assert h.pread(65536, 1 << 20) == pattern(4, 1 << 20, 65536)
PY
[ "$(fault_hits)" -eq "$hits" ] || fail "the other volume's I/O met the faults"

# The engine says which volume and what failed.
grep -q "volume v: read data at .*Input/output error" "$nbdkit_log" ||
    fail "no message naming volume v and the failed read in the log"

# The disk heals: the same server reads everything back.
fault_clear
nbdsh_py "$(uri v)" <<'PY'
assert h.pread(2 << 20, 0) == pattern(1, 0, 2 << 20), "flushed data changed"
assert h.pread(1 << 20, 4 << 20) == pattern(3, 4 << 20, 1 << 20), \
    "the write made during the faults is not there"
h.pwrite(pattern(5, 0, 4096), 0)
h.flush()
assert h.pread(8192, 0) == pattern(5, 0, 4096) + pattern(1, 4096, 4096)
PY

stop_snapvol
check_sanitizer_log
