#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-revert-force-client-reads-old-or-new.sh: snapvolctl volume
# revert --force while an NBD client reads the live volume in 4 MiB
# requests (64 clusters each): every read returns the old content or
# the snapshot's, never a mix, and reads after the revert the new.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq
set -x

start_snapvol "$tmp/pool" volume=v:16M
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\xab" * (16 << 20), 0); h.flush()'
a=$(snapshot_create v | jq -r '.snapshots[0].id')
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\xcd" * (16 << 20), 0); h.flush()'

nbdsh -u "$(uri v)" -c "
import os, time
old, new = b'\xcd' * (4 << 20), b'\xab' * (4 << 20)
seen = {'old': 0, 'new': 0}
open('$tmp/reading', 'w').close()
deadline = time.time() + 60
while time.time() < deadline:
    for off in range(0, 16 << 20, 4 << 20):
        buf = h.pread(4 << 20, off)
        if buf == old:
            seen['old'] += 1
        elif buf == new:
            seen['new'] += 1
        else:
            raise AssertionError('read at %d mixes old and new content' % off)
    if os.path.exists('$tmp/reverted') and seen['new'] >= 8:
        break
assert seen['new'] >= 8, seen
open('$tmp/seen', 'w').write('%d %d' % (seen['old'], seen['new']))
" &
reader=$!
cleanup_fn kill $reader
for i in $(seq 1 300); do [ -e "$tmp/reading" ] && break; sleep 0.1; done
[ -e "$tmp/reading" ] || fail "the reader did not start"

snapvolctl volume revert --force v "$a"
touch "$tmp/reverted"
wait $reader || fail "the reader saw a mix, or no new content"
cat "$tmp/seen"
nbdsh -u "$(uri v)" -c 'assert h.pread(16 << 20, 0) == b"\xab" * (16 << 20)'
