#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-retention-keeps-held-snapshot.sh: a retention rule that would
# delete a held snapshot is not an error: policy.set succeeds, the held
# snapshot is kept (and so is its whole set), one event says why with
# the hold's tags, and once the hold is released the next pass deletes
# it.  A snapshot open on an NBD connection is kept the same way.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires jq nbdsh
set -x

start_snapvol "$tmp/pool" volume=v:1M

s1=$(snapshot_create v --label one | jq -r '.snapshots[0].id')
s2=$(snapshot_create v --label two | jq -r '.snapshots[0].id')
snapvolctl snapshot hold "$s1" backup-job
snapvolctl snapshot hold "$s1" replica

# keep_last 1 wants one and two gone but for the newest: two is the
# newest, one is held.
out=$(snapvolctl --json policy set --keep-last 1)
assert_eq "$(jq -c .retention.keep_last <<<"$out")" 1 "policy.set answered"
assert_eq "$(snapvolctl --json snapshot list v | jq -c '[.[] | .label]')" \
    '["one","two"]' "snapshots after policy.set"
assert_eq "$(snapvolctl --json policy events | jq -c '[.[] | [.action, .id, .reason]]')" \
    "[[\"kept\",\"$s1\",\"retention (keep_last 1): not among the 1 newest; kept: held (tags: backup-job, replica)\"]]" \
    "the event of the held snapshot"

# Another snapshot: two goes, one stays, and the event is not repeated.
s3=$(snapshot_create v --label three | jq -r '.snapshots[0].id')
assert_eq "$(snapvolctl --json snapshot list v | jq -c '[.[] | [.id, .label]]')" \
    "[[\"$s1\",\"one\"],[\"$s3\",\"three\"]]" "snapshots after the third"
assert_eq "$(snapvolctl --json policy events | jq -c '[.[] | [.action, .id]]')" \
    "[[\"kept\",\"$s1\"],[\"deleted\",\"$s2\"]]" "events after the third"

# Open on an NBD connection: kept while the connection lasts.
snapvolctl snapshot release "$s1" backup-job
snapvolctl snapshot release "$s1" replica
nbdsh -u "$(uri "v@$s1")" -c - <<PY
import subprocess
out = subprocess.run(["$SNAPVOLCTL", "--socket", "$ctl", "--json", "snapshot",
                      "create", "v", "--label", "four"], check=True,
                     capture_output=True, text=True).stdout
PY
assert_eq "$(snapvolctl --json snapshot list v | jq -c '[.[] | .label]')" \
    '["one","four"]' "snapshots while one was open (three deleted)"
assert_eq "$(snapvolctl --json policy events |
             jq -r --arg id "$s1" '[.[] | select(.id == $id)][-1].reason')" \
    "retention (keep_last 1): not among the 1 newest; kept: open on 1 NBD connection(s)" \
    "the event of the open snapshot"

# Released and closed: the next snapshot's pass deletes it.
snapshot_create v --label five >/dev/null
assert_eq "$(snapvolctl --json snapshot list v | jq -c '[.[] | .label]')" \
    '["five"]' "snapshots after the release"
assert_eq "$(snapvolctl --json policy events | jq -c '[.[] | select(.action == "deleted") | .id] | index("'"$s1"'") != null')" \
    true "one's deletion is an event"
stop_snapvol
check_sanitizer_log
