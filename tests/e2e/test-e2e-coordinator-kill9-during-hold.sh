#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-coordinator-kill9-during-hold.sh: the coordinator killed
# with SIGKILL while a provider holds its volume for a set.  Nothing
# ends the hold but its lease (4 s here): a write issued right after
# the kill waits for the lease and completes when it ends, not later
# than the lease plus a small margin.  The other provider, whose
# hold.begin was still waiting, takes its hold after the coordinator
# died and is bounded by the lease the same way.  At
# restart the set is recorded failed, and as the providers reconnect
# the deletion of the set reaches each of them, leaving no snapshot.
#
# Landing the kill in the hold phase: storage-b's volume is already
# held through its control socket, so storage-b's hold.begin for the
# set waits (up to its wait_ms of 5 s) while storage-a holds; the test
# kills the coordinator as soon as storage-a's answer is logged, then
# ends the control socket's hold, so that storage-b's hold.begin takes
# its hold with nobody left to commit or release it.

source "$(dirname "$0")/functions.sh"
set -x

lease_ms=4000
margin_ms=1500
conf_hold_timeout=4s
write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:8M

start_writer writer-db storage-a/db storage-b/logs

# control NAME METHOD PARAMS: provider_control.
control ()
{
    provider_control "$@"
}
b_hold=$(control storage-b hold.begin '{"volumes":["logs"],"timeout_ms":30000}' | jq -r .hold_id)
[ -n "$b_hold" ] || fail "no hold on storage-b"

ctl --json set create storage-a/db storage-b/logs >"$tmp/set.json" 2>"$tmp/set.err" &
ctl_pid=$!
a_holds () { grep -q "CN=storage-a,O=snapvol-test): answer to hold.begin" "$coord_log"; }
poll 20 a_holds
kill9_coordinator
killed_at=$(now_ms)
set_id=$(awk '$2 == "prepare" { print $3 }' "$tmp/writer-db.evlog")
[ -n "$set_id" ] || fail "the writer saw no prepare"

# End the control socket's hold on storage-b at once (its hold.begin
# for the set waits for it 5 s at most): storage-b now takes the set's
# hold, with nobody left to commit or release it.
assert_eq "$(control storage-b hold.release "{\"hold_id\":\"$b_hold\"}")" '{"released": true}' \
    "the control socket's hold on storage-b"
released_at=$(now_ms)
# A write to each volume, at once, in parallel.
( nbd_write "$(puri storage-b logs)" 4096 "written after the kill" && now_ms >"$tmp/b-done" ) &
b_writer=$!
nbd_write "$(puri storage-a db)" 4096 "written during the hold"
a_done=$(now_ms)
wait "$b_writer" || fail "the write to storage-b failed"

# storage-a: the write waited for the lease, which began before the
# kill (when storage-a answered), and no longer.
write_ms=$(( a_done - killed_at ))
echo "the write to storage-a completed $write_ms ms after the kill"
[ "$write_ms" -ge $(( lease_ms - 1000 )) ] ||
    fail "the write to storage-a completed $write_ms ms after the kill: it was not held"
[ "$write_ms" -le $(( lease_ms + margin_ms )) ] ||
    fail "the write to storage-a completed $write_ms ms after the kill, later than the lease of $lease_ms ms"
# storage-b: its lease began when the control socket's hold ended.
write_ms=$(( $(cat "$tmp/b-done") - released_at ))
echo "the write to storage-b completed $write_ms ms after the control socket's hold ended"
[ "$write_ms" -ge $(( lease_ms - 1000 )) ] ||
    fail "the write to storage-b completed $write_ms ms after the control socket's hold ended: the set's hold was not taken"
[ "$write_ms" -le $(( lease_ms + margin_ms )) ] ||
    fail "the write to storage-b completed $write_ms ms after the control socket's hold ended, later than the lease of $lease_ms ms"
assert_eq "$(nbd_read "$(puri storage-a db)" 4096 23)" "written during the hold" \
    "the write to storage-a"
assert_eq "$(nbd_read "$(puri storage-b logs)" 4096 22)" "written after the kill" \
    "the write to storage-b"

status=0
wait "$ctl_pid" || status=$?
assert_eq "$status" 1 "exit status of set create when the coordinator died"
# The writer thawed on its own when its connection dropped.
thawed () { [ -n "$(event_time writer-db thaw "$set_id")" ]; }
poll 10 thawed
assert_eq "$(events writer-db)" "prepare $set_id
freeze $set_id
thaw $set_id" "events of the writer"

# Restart: the set is failed, and its deletion reaches both providers
# as they reconnect (they back off while the coordinator is down).
start_coordinator
assert_eq "$(ctl --json set show "$set_id" | jq -c '[.state, .reason, .snapshots]')" \
    '["failed","the coordinator restarted during the set",[]]' "the set after the restart"
grep -q "snapshot set $set_id was holding: recorded failed (the coordinator restarted during the set)" "$coord_log" ||
    fail "recovery did not find the set holding"
for p in storage-a storage-b; do
    deleted () { grep -q "provider $1: deleted what remained of snapshot set $set_id" "$coord_log"; }
    poll 40 deleted $p
    assert_eq "$(provider_snapshots $p | jq -c .)" '[]' "snapshots on $p"
done

stop_writer writer-db
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
