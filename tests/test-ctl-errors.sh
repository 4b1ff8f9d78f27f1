#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-ctl-errors.sh: every failing snapvolctl command prints one line on
# stderr naming the problem, nothing on stdout, exits non-zero, and
# leaves nothing half done.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq
set -x

start_snapvol "$tmp/pool" volume=v:64M
missing_id=0b5e1f9c-7d3a-4c1e-9f00-123456789abc

# Bad input, refused before or by the server.
expect_error '12Q' snapvolctl volume create w 12Q
expect_error 'bad/name' snapvolctl volume create bad/name 1M
expect_error '1000|512' snapvolctl volume create w 1000
expect_error 'frobnicate' snapvolctl frobnicate
expect_error 'not-a-uuid' snapvolctl snapshot delete not-a-uuid
expect_error 'nosock' "$SNAPVOLCTL" --socket "$tmp/nosock" volume list

# Unknown names and ids.
expect_error 'nosuch' snapvolctl volume delete nosuch
expect_error 'nosuch' snapvolctl snapshot create nosuch
expect_error "$missing_id" snapvolctl snapshot delete "$missing_id"
expect_error 'nosuch' snapvolctl snapshot list nosuch

# A set naming one unknown volume makes no snapshot at all.
expect_error 'nosuch' snapvolctl snapshot create v nosuch
assert_eq "$(snapvolctl --json snapshot list | jq length)" 0 "snapshots after a failed set"

# Duplicates.
expect_error 'exist' snapvolctl volume create v 64M
expect_error 'duplicate|twice|more than once|repeated' snapvolctl snapshot create v v
assert_eq "$(snapvolctl --json snapshot list | jq length)" 0 "snapshots after a duplicate set"

# A volume with snapshots cannot be deleted.
id=$(snapshot_create v | jq -r '.snapshots[0].id')
expect_error 'snapshot' snapvolctl volume delete v
snapvolctl snapshot delete "$id" >/dev/null

# Nor can a volume open on an NBD connection.
ready=$tmp/ready
ready=$ready nbdsh -u "$(uri v)" -c - <<'PY' &
import os, time
open(os.environ["ready"], "w").close()
time.sleep(60)
PY
holder=$!
cleanup_fn kill "$holder"
for (( i = 0; i < 100; i++ )); do [ -e "$ready" ] && break; sleep 0.1; done
[ -e "$ready" ] || fail "the NBD client did not connect"
expect_error 'open|busy|in use' snapvolctl volume delete v
kill "$holder"
wait "$holder" || :

# Nothing was left half done: v is intact and can now be deleted.
assert_eq "$(snapvolctl --json volume list | jq -r '[.[].name] | join(",")')" v "volumes after the errors"
for (( i = 0; i < 50; i++ )); do
    snapvolctl volume delete v >/dev/null 2>&1 && break
    sleep 0.1       # the server may still be closing the connection
done
assert_eq "$(snapvolctl --json volume list | jq length)" 0 "volumes after the delete"
expect_error '\bv\b' snapvolctl volume delete v

stop_snapvol
check_sanitizer_log
