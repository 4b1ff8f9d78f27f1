#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-clone-origin-delete-refused-until-flatten.sh: while a clone
# reads through to it, deleting the origin snapshot or the origin
# volume is refused naming the clone (exact error JSON); snapvolctl
# volume flatten copies what the clone still reads, with writes to the
# clone going on, and shows its progress; then the snapshot and the
# volume can be deleted and the clone's content is what it was.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/clone-functions.sh"
requires_snapvol
requires nbdsh nbdcopy jq md5sum
set -x

start_snapvol "$tmp/pool" volume=v:256M
nbdsh -u "$(uri v)" -c '
import os
for i in range(0, 256, 2):
    h.pwrite(os.urandom(1 << 20), i << 20)
h.flush()'
a=$(snap v)
snapvolctl volume clone "v@$a" c
nbdsh -u "$(uri c)" -c 'h.pwrite(b"\x5a" * (3 << 20), 10 << 20); h.flush()'

json_error '{"error": {"code": -32003, "message": "snapshot '"$a"' of volume v is the origin of clones: c (flatten or delete them first); nothing was deleted"}}' \
    snapshot delete "$a"
json_error '{"error": {"code": -32003, "message": "volume v has clones reading through to it: c (flatten or delete them first)"}}' \
    volume delete v

# Flatten while a client writes to the clone.
nbdsh -u "$(uri c)" -c '
for i in range(64):
    h.pwrite(bytes([i]) * 65536, (100 << 20) + i * 3 * 65536)
h.flush()' &
writer=$!
out=$(snapvolctl --json volume flatten c)
# Its progress, unless it ended already.
assert_eq "$(jq -r '.flatten.total == 268435456 or (has("origin") | not)' <<<"$out")" \
    true "flatten progress in the answer: $out"
wait $writer
wait_flattened c
expected=$(export_md5 c)
nbdsh -u "$(uri c)" -c '
for i in range(64):
    assert h.pread(65536, (100 << 20) + i * 3 * 65536) == bytes([i]) * 65536
assert h.pread(3 << 20, 10 << 20) == b"\x5a" * (3 << 20)'

out=$(snapvolctl snapshot delete "$a")
assert_eq "$(export_md5 c)" "$expected" "clone after the origin snapshot's deletion"
snapvolctl volume delete v
assert_eq "$(export_md5 c)" "$expected" "clone after the origin's deletion"
stop_snapvol
start_snapvol "$tmp/pool"
assert_eq "$(export_md5 c)" "$expected" "clone after a restart"
stop_snapvol
check_sanitizer_log
