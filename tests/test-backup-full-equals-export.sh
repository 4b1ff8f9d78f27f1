#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-full-equals-export.sh: a full backup of a snapshot to a
# file equals the snapshot export (qemu-img compare) and what nbdcopy
# copies from it, stays sparse, carries a complete manifest, prints the
# documented --json summary, leaves no hold behind, and an NBD
# destination gets the same bytes.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
set -x

start_source 256M
# 32 MiB of data in a 256 MiB volume, scattered, plus zeroes and trims.
scribble 1 200
id=$(snap)
# Written after the snapshot: must not be in the backup.
scribble 2 50

backup --json v@"$id" "$tmp/full.img" >"$tmp/summary.json"
same_as_export "$tmp/full.img" "v@$id"
nbdcopy "$(uri "v@$id")" "$tmp/nbdcopy.img"
cmp "$tmp/full.img" "$tmp/nbdcopy.img" || fail "the backup differs from nbdcopy's copy"

# The summary: exactly these members, consistent numbers.
assert_eq "$(jq -c 'keys_unsorted' "$tmp/summary.json")" \
    '["bytes_read","bytes_written","bytes_skipped","seconds","rate","sha256"]' "summary members"
read_=$(jq .bytes_read "$tmp/summary.json")
skipped=$(jq .bytes_skipped "$tmp/summary.json")
assert_eq "$((read_ + skipped))" "$((256 << 20))" "bytes read + skipped"
[ "$(jq .bytes_written "$tmp/summary.json")" -le "$read_" ] || fail "wrote more than it read"

# Sparse: the file uses about what the snapshot references, not 256 MiB.
used=$(du -k "$tmp/full.img" | cut -f1)
[ "$used" -lt $(( (read_ >> 10) + 1024 )) ] || fail "the backup uses $used KiB, read $read_ bytes: not sparse"
[ "$used" -lt 65536 ] || fail "the backup uses $used KiB of 256 MiB"

# The manifest, complete, naming the snapshot.
img=$tmp/full.img
assert_eq "$(manifest_get "$img" state)" complete "manifest state"
assert_eq "$(manifest_get "$img" snapshot)" "$id" "manifest snapshot"
assert_eq "$(manifest_get "$img" volume)" v "manifest volume"
assert_eq "$(manifest_get "$img" volume_uuid)" \
    "$(snapvolctl --json volume list | jq -r '.[] | select(.name == "v") | .uuid')" "manifest volume uuid"
assert_eq "$(manifest_get "$img" set_id)" \
    "$(snapvolctl --json snapshot list v | jq -r --arg id "$id" '.[] | select(.id == $id) | .set_id')" "manifest set id"
assert_eq "$(manifest_get "$img" size)" "$((256 << 20))" "manifest size"
assert_eq "$(manifest_get "$img" sha256)" "$(jq -r .sha256 "$tmp/summary.json")" "manifest sha256"
# The image hash, computed independently: SHA-256 over the SHA-256 of
# every 4 KiB block.
want=$(python3 -c '
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    while True:
        b = f.read(4096)
        if not b:
            break
        h.update(hashlib.sha256(b).digest())
print(h.hexdigest())' "$img")
assert_eq "$(manifest_get "$img" sha256)" "$want" "image hash"
[ ! -e "$img.snapvol.json.tmp" ] || fail "a temporary manifest was left behind"

# The holds were released.
assert_eq "$(holds_of "$id")" "" "holds after the backup"

# To an NBD destination (nbdkit memory, with garbage in it first).
nbdkit -f -U "$tmp/mem.sock" --exit-with-parent memory 256M &
cleanup_fn kill $!
wait_for test -S "$tmp/mem.sock"
nbdsh -u "nbd+unix:///?socket=$tmp/mem.sock" -c 'h.pwrite(b"\xff" * (1 << 20), 0)'
backup --quiet v@"$id" "nbd+unix:///?socket=$tmp/mem.sock"
nbdcopy "nbd+unix:///?socket=$tmp/mem.sock" "$tmp/mem.img"
cmp "$tmp/mem.img" "$tmp/full.img" || fail "the NBD destination differs"

check_sanitizer_log
