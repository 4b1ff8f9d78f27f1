#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-provider-retries-each-second-while-no-leader.sh: a provider
# given two coordinators, a follower with no leader elected and an
# address nobody listens on, keeps trying rounds of both at most about
# a second apart (an election is under way: RPCPEER_ELECTION_WAIT_MS),
# instead of backing off to 2, 4, 8 s, which would miss the failover
# target.  Each failed round is logged as one error line naming both
# addresses and why, once while it repeats.

source "$(dirname "$0")/functions.sh"
set -x

start_fakecoord follower --follower none
dead=127.0.0.1:$(free_port)
follower=127.0.0.1:${fake_port[follower]}
coordinator_address=$follower,$dead
start_provider --no-wait storage-a db:1M

registrations ()
{
    [ "$(fake_events follower request | grep -c provider.register)" -ge 6 ]
}
poll 20 registrations
# The gaps between the first six attempts: 0.5 s, then at most 1 s each
# (plus the time of one attempt, which a loaded machine stretches); a
# doubling backoff has 2, 4 and 8 s.
gaps=$(jq -s '[.[] | select(.event == "request") | .t] | .[0:6] |
              [range(1; length) as $i | .[$i] - .[$i - 1]]' "$tmp/follower.events")
echo "gaps: $gaps"
assert_eq "$(jq 'map(select(. > 2.8)) | length' <<<"$gaps")" 0 "gaps over 2.8 s"

grep -c -F "nbdkit: error: coordinator $follower: provider.register refused: coordinator $follower is not the leader; no leader is elected (the test's follower) (error -32012); coordinator $dead: connect: Connection refused; retrying in" \
    "$tmp/storage-a.log" >"$tmp/count" || :
assert_eq "$(cat "$tmp/count")" 1 "the round's error lines"
stop_provider storage-a
