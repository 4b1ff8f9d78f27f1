#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-provider-killed-during-hold.sh: a provider killed with
# SIGKILL while the set is in its hold phase fails the set; the other
# provider is released at once (a write to its volume completes well
# within the 8 s hold lease), keeps no snapshot, and the writer is
# thawed.  The killed provider, restarted on the same pool, has no
# snapshot either, and a set across both then succeeds.
#
# Landing the kill in the hold phase: the writer's freeze hook stops
# storage-a (SIGSTOP) and leaves a helper behind that, 1 s later, kills
# storage-b and, once the coordinator has seen storage-b go, resumes
# storage-a.  hold.begin reaches storage-b, which holds at once, while
# storage-a's hold.begin waits in its socket; the coordinator cannot
# leave the hold phase before storage-a answers.  storage-a is stopped
# for 1 to 2.5 s, less than the 3 heartbeats (1 s each) after which the
# coordinator would drop it.

source "$(dirname "$0")/functions.sh"
set -x

# The sets ask for an 8 s lease: the coordinator must allow it.
conf_hold_timeout=8s
write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:8M
nbd_write "$(puri storage-a db)" 0 "storage-a before the set"
nbd_write "$(puri storage-b logs)" 0 "storage-b before the set"

touch "$tmp/kill-b"
cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = freeze ] && [ -e '$tmp/kill-b' ]; then
    rm '$tmp/kill-b'
    '$tmp/stop-process' '$tmp/storage-a.pid' || exit 1
    setsid sh -c 'sleep 1
        echo "\$(( \$(date +%s%N) / 1000000 ))" >"$tmp/killed.ms"
        kill -KILL \$(cat "$tmp/storage-b.pid")
        i=0
        until grep -q "provider storage-b disconnected" "$coord_log" || [ \$i -ge 30 ]; do
            sleep 0.05; i=\$((i + 1))
        done
        kill -CONT \$(cat "$tmp/storage-a.pid")' </dev/null >/dev/null 2>&1 &
fi
exit 0
EOF
start_writer writer-db storage-a/db storage-b/logs

start=$(now_ms)
status=0
ctl --json set create storage-a/db storage-b/logs --hold-timeout 8000 \
    >"$tmp/failed.json" 2>"$tmp/failed.err" || status=$?
failed_at=$(now_ms)
# storage-a takes writes at once: its hold was released, not left to
# its lease.
nbd_write "$(puri storage-a db)" 4096 "storage-a after the set"
write_ms=$(( $(now_ms) - failed_at ))
cat "$tmp/failed.json" "$tmp/failed.err"
assert_eq "$status" 1 "exit status of the failed set create"
[ "$write_ms" -lt 2000 ] || fail "a write to storage-a took $write_ms ms after the set failed"
[ -s "$tmp/killed.ms" ] || fail "the helper did not kill storage-b"
killed_at=$(cat "$tmp/killed.ms")
# The set ended soon after the kill, not at the end of a lease.
[ $(( failed_at - killed_at )) -lt 3000 ] ||
    fail "the set failed $(( failed_at - killed_at )) ms after storage-b was killed"
kill9_provider storage-b        # reap it

set_id=$(jq -r .set_id "$tmp/failed.json")
assert_eq "$(jq -r .state "$tmp/failed.json")" failed "state of the set"
assert_eq "$(jq -r .reason "$tmp/failed.json")" "provider storage-b: disconnected while holding" \
    "reason of the failed set"
assert_eq "$(jq -c '.snapshots' "$tmp/failed.json")" '[]' "snapshots of the failed set"
assert_eq "$(jq -c '[.participants[] | [.kind, .name, .state]]' "$tmp/failed.json")" \
    '[["writer","writer-db","aborted"],["provider","storage-a","deleted"],["provider","storage-b","failed"]]' \
    "participants of the failed set"
[ "$(jq -r '.timings.hold_ms' "$tmp/failed.json")" -ge 900 ] ||
    fail "the set did not reach the hold phase: $(jq -c .timings "$tmp/failed.json")"
# storage-a answered hold.begin (after SIGCONT), and its hold was
# released, never committed.
assert_eq "$(grep -o 'CN=storage-a,O=snapvol-test): -> hold\.[a-z]*' "$coord_log" | cut -d' ' -f3)" \
    "hold.begin
hold.release" "hold calls to storage-a"
assert_eq "$(events writer-db)" "prepare $set_id
freeze $set_id
thaw $set_id
abort $set_id" "events of the writer"
assert_eq "$(provider_snapshots storage-a | jq -c .)" '[]' "snapshots on storage-a"
assert_eq "$(nbd_read "$(puri storage-a db)" 4096 23)" "storage-a after the set" \
    "the write to storage-a after the set"

# storage-b comes back on the same pool: the coordinator deletes what
# may remain of the set there (nothing: it held, it never pinned); its
# data flushed before the set is there.
start_provider storage-b logs:8M
deleted () { grep -q "provider storage-b: deleted what remained of snapshot set $set_id" "$coord_log"; }
poll 10 deleted
assert_eq "$(provider_snapshots storage-b | jq -c .)" '[]' "snapshots on storage-b after its restart"
assert_eq "$(nbd_read "$(puri storage-b logs)" 0 24)" "storage-b before the set" \
    "storage-b's data after its restart"
assert_eq "$(ctl --json provider list | jq -c '[.[] | [.name, .connected]]')" \
    '[["storage-a",true],["storage-b",true]]' "provider list"

ctl --json set create storage-a/db storage-b/logs --hold-timeout 8000 >"$tmp/ok.json"
ok_id=$(jq -r .set_id "$tmp/ok.json")
assert_eq "$(jq -c '[.state, [.participants[] | [.name, .state]]]' "$tmp/ok.json")" \
    '["committed",[["writer-db","done"],["storage-a","committed"],["storage-b","committed"]]]' \
    "the set after storage-b's restart"
assert_eq "$(nbd_read "$(jq -r '.snapshots[] | select(.provider == "storage-b") | .uri' "$tmp/ok.json")" 0 24)" \
    "storage-b before the set" "content of storage-b's snapshot"
assert_eq "$(nbd_read "$(jq -r '.snapshots[] | select(.provider == "storage-a") | .uri' "$tmp/ok.json")" 4096 23)" \
    "storage-a after the set" "content of storage-a's snapshot"
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c '[.[] | .set_id]')" "[\"$ok_id\"]" "snapshots on $p"
done

stop_writer writer-db
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
