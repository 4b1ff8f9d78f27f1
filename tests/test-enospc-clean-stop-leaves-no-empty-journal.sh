#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-enospc-clean-stop-leaves-no-empty-journal.sh: a clean stop on a
# full filesystem cannot write its checkpoint; the journal file it
# would have started is removed, not left empty.  An empty journal file
# left over (by an older snapvol, or a crash while one was created) is
# removed by `snapvolctl check --repair` on the full filesystem, without
# needing free space.  Afterwards every flushed write is served.  The
# pool lives on a small tmpfs the test mounts.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh mount umount
set -x

[ "$(id -u)" -eq 0 ] || skip "mounting a small tmpfs needs root"
mkdir "$tmp/fs"
mount -t tmpfs -o size=16m,mode=0700 snapvol-test "$tmp/fs" ||
    skip "cannot mount a tmpfs here"
cleanup_fn umount -l "$tmp/fs"

pool=$tmp/fs/pool
start_snapvol "$pool" volume=v:8M prealloc=0
nbdsh -u "$(uri v)" -c - <<'PY'
h.pwrite(b"\x37" * (1 << 20), 1 << 20)
h.flush()
PY

journals () { (cd "$pool/volumes/v" && ls journal.*); }
journals >"$tmp/journals.before"

dd if=/dev/zero of="$tmp/fs/filler" bs=64k status=none 2>/dev/null || :
assert_eq "$(df -k --output=avail "$tmp/fs" | tail -1 | tr -d ' ')" 0 \
    "free space on the full tmpfs (KiB)"

# The clean stop's checkpoint fails for want of space.
kill -TERM "$snapvol_pid"
wait "$snapvol_pid" || :
snapvol_pid=
grep -q "No space left on device" "$nbdkit_log" ||
    fail "the stop did not run out of space (nothing to test)"

# No empty journal file: the same files as before the stop, each with
# its header.
journals | diff -u "$tmp/journals.before" - ||
    fail "the failed checkpoint left a journal file behind"
for j in "$pool"/volumes/v/journal.*; do
    [ "$(stat -c %s "$j")" -ge 4096 ] || fail "$j is shorter than its header"
done

# An empty journal file after the last one, as a crash while it was
# created leaves: check finds it, --repair removes it on the full
# filesystem.
last=$(journals | tail -n 1)
next=$(printf 'journal.%016x' $(( 16#${last#journal.} + 1 )))
: >"$pool/volumes/v/$next"
status=0; "${ctl_env[@]}" "$SNAPVOLCTL" check "$pool" >"$tmp/check.out" || status=$?
cat "$tmp/check.out"
assert_eq "$status" 1 "exit status of check"
grep -q "^volume v: $pool/volumes/v/$next: the last journal file has an incomplete header and no record (a crash while it was created); repairable\$" "$tmp/check.out" ||
    fail "check does not report the empty journal file"
status=0; "${ctl_env[@]}" "$SNAPVOLCTL" check --repair "$pool" >"$tmp/repair.out" || status=$?
cat "$tmp/repair.out"
assert_eq "$status" 0 "exit status of check --repair on a full filesystem"
grep -q "^repaired: volume v: $pool/volumes/v/$next: removed (an incomplete journal file without records)\$" "$tmp/repair.out" ||
    fail "check --repair does not say it removed the empty journal file"
[ ! -e "$pool/volumes/v/$next" ] || fail "$next is still there"
assert_eq "$(df -k --output=avail "$tmp/fs" | tail -1 | tr -d ' ')" 0 \
    "free space after the repair (KiB)"

# Space back: the flushed write is served.
rm "$tmp/fs/filler"
start_snapvol "$pool"
nbdsh -u "$(uri v)" -c - <<'PY'
assert h.pread(1 << 20, 1 << 20) == b"\x37" * (1 << 20)
assert h.pread(1 << 20, 0) == bytes(1 << 20)
PY
stop_snapvol
check_sanitizer_log
