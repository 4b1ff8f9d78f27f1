#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-incremental-starts-writeback-of-small-writes.sh: an
# incremental backup of 200 scattered 4 KiB blocks starts the writeback
# of its writes while it copies (client/copy.c: every 16 small writes
# of a connection, one sync_file_range over their span), instead of
# leaving them all for the final fsync: strace shows at least
# ceil(200 / 16) = 13 sync_file_range calls on the image over a range
# (not the whole-file hint "0, 0" of the progress tick), and the image
# equals the export.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
requires strace
set -x

start_source 64M
scribble 4 40
base=$(snap)
backup --quiet v@"$base" "$tmp/inc.img"

# 200 single blocks 256 KiB apart: 200 ranges that do not merge.
nbdsh -u "$(uri v)" -c '
import random
r = random.Random(12)
for i in range(200):
    h.pwrite(r.randbytes(4096), i * 262144)
h.flush()
'
id=$(snap)

# LeakSanitizer cannot run under ptrace.
ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=openat,sync_file_range \
    -o "$tmp/strace.out" "${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl" \
    backup --quiet --since "$base" v@"$id" "$tmp/inc.img"

# The image's descriptor: the last openat of it (the first is the
# --since check's read of nothing but its size; strace prints the path).
fd=$(awk -v p="\"$tmp/inc.img\"" 'index($0, p ",") && / = [0-9]+$/ { fd = $NF } END { print fd }' \
     "$tmp/strace.out")
[ -n "$fd" ] || fail "no openat of $tmp/inc.img in the trace"
# (A call that overlaps another thread's is printed "<unfinished ...>".)
ranged=$(grep -Ec "sync_file_range\\($fd, [0-9]+, [1-9][0-9]*, SYNC_FILE_RANGE_WRITE" \
         "$tmp/strace.out" || :)
[ "$ranged" -ge 13 ] ||
    fail "$ranged sync_file_range calls over a range of the image, expected at least 13"

same_as_export "$tmp/inc.img" "v@$id"
assert_eq "$(manifest_get "$tmp/inc.img" snapshot)" "$id" "manifest snapshot"

check_sanitizer_log
