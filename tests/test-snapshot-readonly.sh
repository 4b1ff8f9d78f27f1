#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-snapshot-readonly.sh: snapshot exports are advertised read-only,
# and writes, trims and zeroes sent to them anyway are refused by the
# server with EPERM or EROFS, leaving the content untouched.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdinfo nbdsh jq
set -x

start_snapvol "$tmp/pool" volume=v:64M
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\xab" * (1 << 20), 0); h.flush()'
snap=$(snapshot_create v)
exp=$(jq -r '.snapshots[0].export' <<<"$snap")

nbdinfo --json "$(uri "$exp")" >"$tmp/snap.json"
assert_eq "$(jq -r '.exports[0].is_read_only' "$tmp/snap.json")" true "nbdinfo read-only"
nbdinfo --json "$(uri v)" >"$tmp/live.json"
assert_eq "$(jq -r '.exports[0].is_read_only' "$tmp/live.json")" false "live volume read-only"

nbdsh -u "$(uri "$exp")" -c - <<'PY'
import errno

assert h.is_read_only(), "the snapshot is not advertised read-only"

def refused(what, fn):
    try:
        fn()
    except nbd.Error as e:
        return e
    raise AssertionError("%s on a snapshot succeeded" % what)

ops = [
    ("pwrite", lambda: h.pwrite(b"\x00" * 4096, 0)),
    ("trim", lambda: h.trim(65536, 0)),
    ("zero", lambda: h.zero(65536, 0)),
]
# libnbd refuses these itself, having seen the read-only flag ...
for what, fn in ops:
    refused(what, fn)
# ... so send them anyway: the server must refuse them too.
h.set_strict_mode(0)
for what, fn in ops:
    e = refused(what, fn)
    assert e.errnum in (errno.EPERM, errno.EROFS), \
        "%s on a snapshot failed with %s, not EPERM or EROFS" % (what, e.errno)
    print("%s refused: %s" % (what, e))

assert h.pread(1 << 20, 0) == b"\xab" * (1 << 20), "the snapshot's content changed"
assert h.pread(4096, 1 << 20) == bytes(4096), "the snapshot's content changed"
PY

# The live volume is still writable and unaffected.
nbdsh -u "$(uri v)" -c - <<'PY'
assert not h.is_read_only()
assert h.pread(1 << 20, 0) == b"\xab" * (1 << 20)
h.pwrite(b"\xcd" * 4096, 0)
assert h.pread(4096, 0) == b"\xcd" * 4096
PY

stop_snapvol
check_sanitizer_log
