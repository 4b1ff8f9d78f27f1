#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-provider-paused-during-hold-keeps-no-hold.sh: a provider
# paused (SIGSTOP) while it runs the set's hold.begin, for longer than
# 3 heartbeats, is dropped by the coordinator and the set fails.  When
# it resumes (SIGCONT) its hold.begin goes on and takes the hold that
# its dropped connection asked for; the coordinator, which could not
# deliver its hold.release then, sends it by set id as soon as the
# provider registers again.  So a write to the volume completes within
# 1 s of SIGCONT (the lease is 10 s), and the next set succeeds at once
# (not "volume db is held by another snapshot operation").
#
# Landing the pause: storage-a's volume is held through its control
# socket first, so the set's hold.begin waits in storage-a (up to its
# wait_ms of 5 s); once storage-a logs that it runs the call, it is
# stopped.  With a heartbeat of 500 ms the coordinator drops it 1.5 s
# later.  The test resumes it, ends the control socket's hold, and
# storage-a's hold.begin takes the set's hold with its connection gone.

source "$(dirname "$0")/functions.sh"
set -x

conf_hold_timeout=10s
conf_heartbeat=500ms
write_conf
start_coordinator
SNAPVOL_TEST_VERBOSE=1 start_provider storage-a db:8M
start_writer writer-db storage-a/db

# control METHOD PARAMS: provider_control on storage-a.
control ()
{
    provider_control storage-a "$@"
}
ctl_hold=$(control hold.begin '{"volumes":["db"],"timeout_ms":30000}' | jq -r .hold_id)
[ -n "$ctl_hold" ] || fail "no hold through the control socket"

ctl --json set create storage-a/db --hold-timeout 10000 >"$tmp/failed.json" 2>"$tmp/failed.err" &
ctl_pid=$!
running () { grep -q "provider link: hold.begin" "$tmp/storage-a.log"; }
poll 20 running
"$tmp/stop-process" "$tmp/storage-a.pid"
cleanup_fn kill -CONT "$(cat "$tmp/storage-a.pid")"
status=0
wait "$ctl_pid" || status=$?
cat "$tmp/failed.json" "$tmp/failed.err"
assert_eq "$status" 1 "exit status of the failed set create"
set_id=$(jq -r .set_id "$tmp/failed.json")
assert_eq "$(jq -c '[.state, .reason, .snapshots]' "$tmp/failed.json")" \
    "[\"failed\",\"provider storage-a: the connection closed before the answer to hold.begin\",[]]" "the failed set"
grep -q "provider storage-a: any hold of snapshot set $set_id it has is released (by set id) when it registers again" "$coord_log" ||
    fail "the coordinator did not keep the release for storage-a"

# Resume storage-a and end the control socket's hold: the set's
# hold.begin, still running, takes the hold.
resumed_at=$(now_ms)
kill -CONT "$(cat "$tmp/storage-a.pid")"
assert_eq "$(control hold.release "{\"hold_id\":\"$ctl_hold\"}")" '{"released": true}' \
    "the control socket's hold"
nbd_write "$(puri storage-a db)" 0 "after the pause"
write_ms=$(( $(now_ms) - resumed_at ))
echo "the write completed $write_ms ms after SIGCONT"
[ "$write_ms" -lt 1000 ] ||
    fail "a write to storage-a completed $write_ms ms after it resumed (the lease is 10000 ms)"
assert_eq "$(nbd_read "$(puri storage-a db)" 0 15)" "after the pause" "the write"
grep -q "provider storage-a: released a hold of snapshot set $set_id that it took while the coordinator could not reach it" "$coord_log" ||
    fail "the hold storage-a took was not released by the coordinator"
deleted () { grep -q "provider storage-a: deleted what remained of snapshot set $set_id" "$coord_log"; }
poll 10 deleted

# The next set succeeds at once.
ctl --json set create storage-a/db --hold-timeout 10000 >"$tmp/ok.json"
ok_id=$(jq -r .set_id "$tmp/ok.json")
assert_eq "$(jq -c '[.state, [.participants[] | [.name, .state]]]' "$tmp/ok.json")" \
    '["committed",[["writer-db","done"],["storage-a","committed"]]]' "the set after the pause"
assert_eq "$(nbd_read "$(jq -r '.snapshots[0].uri' "$tmp/ok.json")" 0 15)" "after the pause" \
    "content of the snapshot"
assert_eq "$(events writer-db)" "prepare $set_id
freeze $set_id
thaw $set_id
abort $set_id
prepare $ok_id
freeze $ok_id
thaw $ok_id
post_snapshot $ok_id" "events of the writer"
assert_eq "$(provider_snapshots storage-a | jq -c '[.[] | .set_id]')" "[\"$ok_id\"]" \
    "snapshots on storage-a"

stop_writer writer-db
stop_provider storage-a
stop_coordinator
check_logs
