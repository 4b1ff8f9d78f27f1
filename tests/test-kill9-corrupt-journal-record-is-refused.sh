#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-kill9-corrupt-journal-record-is-refused.sh: one flipped byte in
# an acknowledged journal record is corruption, never a torn tail.
# After three flushed 64 KiB writes and a snapshot, nbdkit is killed
# with SIGKILL and the byte at offset 4116 of the journal (inside its
# first record) is flipped.  The server then refuses to start, naming
# the file and the offset; `snapvolctl check` reports a corrupt journal
# that is not repairable without loss, `check --repair` leaves every
# file alone, and only `check --repair --discard-after-corruption` cuts
# the journal, saying what it discards.  Flipped back instead, the pool
# serves every write and the snapshot.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq python3 md5sum
set -x

pool=$tmp/pool
start_snapvol "$pool" volume=v:8M

nbdsh -u "$(uri v)" -c - <<'PY'
for i in range(3):
    h.pwrite(bytes([0x41 + i]) * 65536, i * 65536)
    h.flush()
PY
snap=$(snapshot_create --label acked v | jq -r '.snapshots[0].id')
kill9_snapvol

journal=$(ls "$pool"/volumes/v/journal.* | tail -n 1)
flip ()
{
    python3 - "$journal" 4116 <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0x10]))
PY
}
flip
md5_pool () { (cd "$pool/volumes/v" && md5sum -- *); }
md5_pool >"$tmp/damaged.md5"

# The server refuses to start, naming the file, the offset and that the
# records after it were acknowledged.
status=0
# (timeout outside the sanitizer's preloads: they are for nbdkit.)
timeout 60 "${nbdkit_env[@]}" nbdkit -f -U "$sock" "$PLUGIN" dir="$pool" \
    control="$ctl" >"$tmp/start.out" 2>&1 || status=$?
cat "$tmp/start.out"
[ "$status" -ne 0 ] || fail "nbdkit started on a corrupt journal"
[ "$status" -ne 124 ] || fail "nbdkit neither started nor failed within 60 s"
grep -q "$journal: corrupt journal: a record that fails its checksum at offset 4096, but the records up to offset [0-9]* (record [0-9]*) were acknowledged; this is not a torn write" "$tmp/start.out" ||
    fail "the startup error does not name the corrupt journal record"

# check: corruption, not a torn tail, and not repairable by --repair.
status=0; "${ctl_env[@]}" "$SNAPVOLCTL" check "$pool" >"$tmp/check.out" || status=$?
cat "$tmp/check.out"
assert_eq "$status" 1 "exit status of check"
grep -q "^volume v: $journal: corrupt journal: .*; not repairable without loss: restore the volume's journal files from a backup, or run 'snapvolctl check --repair --discard-after-corruption' to cut the journal there, discarding the [0-9]* bytes from offset 4096 of $journal" "$tmp/check.out" ||
    fail "check does not report the corrupt journal"
! grep -q "torn tail" "$tmp/check.out" || fail "check calls the corruption a torn tail"
"${ctl_env[@]}" "$SNAPVOLCTL" check --json "$pool" >"$tmp/check.json" || :
assert_eq "$(jq -c '[.volumes[0].problems[] | [.kind, .repairable]]' "$tmp/check.json")" \
    '[["journal-corrupt",false],["not-checked",false]]' "problems in check --json"

status=0; "${ctl_env[@]}" "$SNAPVOLCTL" check --repair "$pool" >"$tmp/repair.out" || status=$?
cat "$tmp/repair.out"
assert_eq "$status" 1 "exit status of check --repair"
md5_pool | diff -u "$tmp/damaged.md5" - || fail "check --repair changed the volume's files"
expect_error "discard-after-corruption goes with --repair" \
    "${ctl_env[@]}" "$SNAPVOLCTL" check --discard-after-corruption "$pool"

# Flipped back: every write and the snapshot are there.
flip
start_snapvol "$pool"
for e in v "v@$snap"; do
    nbdsh -u "$(uri "$e")" -c - <<'PY'
for i in range(3):
    assert h.pread(65536, i * 65536) == bytes([0x41 + i]) * 65536, "write %d lost" % i
assert h.pread(65536, 3 * 65536) == bytes(65536)
PY
done
kill9_snapvol

# Corrupt again; the explicit discard cuts at the bad record and says
# what it discarded; the pool then opens without the discarded records.
flip
status=0
"${ctl_env[@]}" "$SNAPVOLCTL" check --repair --discard-after-corruption "$pool" \
    >"$tmp/discard.out" || status=$?
cat "$tmp/discard.out"
grep -q "^repaired: volume v: $journal: cut the corrupt journal at offset 4096 (--discard-after-corruption), discarding the [0-9]* bytes from offset 4096 of $journal (the records after record [0-9]*)" "$tmp/discard.out" ||
    fail "the discard does not say what it discarded"
status=0; "${ctl_env[@]}" "$SNAPVOLCTL" check "$pool" >"$tmp/after.out" || status=$?
cat "$tmp/after.out"
assert_eq "$status" 0 "exit status of check after the discard"
start_snapvol "$pool"
assert_eq "$(snapvolctl --json snapshot list v | jq length)" 0 "snapshots after the discard"
nbdsh -u "$(uri v)" -c 'assert h.pread(3 * 65536, 0) == bytes(3 * 65536)'
stop_snapvol
check_sanitizer_log
