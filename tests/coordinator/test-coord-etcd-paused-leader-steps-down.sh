#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-etcd-paused-leader-steps-down.sh: no split brain.  The
# leading coordinator is stopped (SIGSTOP) past its lease; the other
# one is elected meanwhile with a larger term.  A set.create already
# sent to the stopped one (its connection was open before the stop)
# is read when it resumes (SIGCONT): it commits nothing -- the catalog
# on etcd refuses its write, or it has stepped down first -- the
# paused coordinator logs that it lost leadership, restarts itself
# and follows the new leader, and the new leader's catalog holds
# nothing of the set it was asked for.

source "$(dirname "$0")/functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"
set -x

ecoord_start_two
old=$(ecoord_wait_leader a b)
new=$(ecoord_other "$old")
ecoord_provider storage-a storage-a --volume db:1048576

# A requester connected to the leader now, that sends set.create 6 s
# later, while the leader is stopped (the request waits in its socket).
req='{"jsonrpc":"2.0","id":1,"method":"set.create","params":{"volumes":["storage-a/db"],"label":"from-the-paused-one"}}'
( sleep 6; echo "$req" ) |
    port=${ecoord_port[$old]} raw_session backup 20 >"$tmp/paused.out" 2>&1 &
raw_pid=$!
sleep 1
ecoord_kill "$old" STOP
stopped_at=$(date +%s)

# The other one leads (the stopped one's lease runs out within 3 s).
now_leader=$(ecoord_wait_leader "$new")
assert_eq "$now_leader" "$new" "the leader while $old is stopped"
while [ $(( $(date +%s) - stopped_at )) -lt 7 ]; do sleep 0.2; done
ecoord_kill "$old" CONT

# It steps down: logged, restarted (same process: -f), a follower.
wait_for grep -q "leadership lost: " "$tmp/$old.log"
grep "leadership lost: " "$tmp/$old.log"
for (( i = 0; i < 100; i++ )); do
    [ "$(ecoord_role "$old")" = follower ] && break
    sleep 0.2
done
out=$(ecoord_call "$old" backup coordinator.status)
assert_eq "$(jget "$out" '[j["result"]["role"], j["result"]["leader"]]')" \
    "[\"follower\", \"127.0.0.1:${ecoord_port[$new]}\"]" "$old after SIGCONT"
assert_eq "$(ecoord_role "$new")" leader "$new after $old resumed"

# The request it read after resuming committed nothing.
wait "$raw_pid" || :
cat "$tmp/paused.out"
! grep -q '"state":"committed"' "$tmp/paused.out" ||
    fail "the paused coordinator committed a set: $(cat "$tmp/paused.out")"
out=$(ecoord_call "$new" backup set.list)
[[ $out != *from-the-paused-one* ]] ||
    fail "the new leader's catalog holds the paused coordinator's set: $out"

# And the new leader serves.
out=$(ecoord_set_create "$new" '{"volumes":["storage-a/db"]}')
for (( i = 0; i < 50; i++ )); do
    [ "$(jget "$out" 'j.get("result", {}).get("state")')" = committed ] && break
    sleep 0.2
    out=$(ecoord_set_create "$new" '{"volumes":["storage-a/db"]}')
done
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "a set on $new: $out"
