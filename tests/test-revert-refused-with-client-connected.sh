#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-revert-refused-with-client-connected.sh: snapvolctl volume
# revert is refused, naming the open client, while an NBD client has
# the live volume open, and changes nothing; once it is gone the revert
# makes the live volume read the snapshot, and a later snapshot stays.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq md5sum
set -x

start_snapvol "$tmp/pool" volume=v:8M
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\xab" * (8 << 20), 0); h.flush()'
a=$(snapshot_create v | jq -r '.snapshots[0].id')
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\xcd" * (8 << 20), 0); h.flush()'
b=$(snapshot_create v | jq -r '.snapshots[0].id')
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\xef" * (4 << 20), 0); h.flush()'
before=$(export_md5 v)

# A client that stays connected until told to go.
nbdsh -u "$(uri v)" -c "
import os, time
open('$tmp/connected', 'w').close()
for i in range(600):
    if os.path.exists('$tmp/go'):
        break
    time.sleep(0.1)
" &
client=$!
cleanup_fn kill $client
for i in $(seq 1 300); do [ -e "$tmp/connected" ] && break; sleep 0.1; done
[ -e "$tmp/connected" ] || fail "the client did not connect"

expect_error "volume v is open by 1 client: revert refused while clients are connected" \
    snapvolctl volume revert v "$a"
touch "$tmp/go"
wait $client
assert_eq "$(export_md5 v)" "$before" "live volume after the refused revert"

out=$(snapvolctl volume revert v "$a")
assert_eq "$out" "Reverted volume v to snapshot $a (generation 1; live generation now 4)." "revert output"
assert_eq "$(export_md5 v)" "$(export_md5 "v@$a")" "live volume after the revert"
nbdsh -u "$(uri "v@$b")" -c 'assert h.pread(8 << 20, 0) == b"\xcd" * (8 << 20)'
nbdsh -u "$(uri v)" -c 'assert h.pread(8 << 20, 0) == b"\xab" * (8 << 20)'
