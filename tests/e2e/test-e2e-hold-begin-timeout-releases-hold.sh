#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-hold-begin-timeout-releases-hold.sh: a provider whose
# hold.begin misses the coordinator's deadline (10 s: the provider's
# default wait of 5 s plus 5 s) fails the set, and the hold it takes
# when it gets to the call at last -- under a hold id the coordinator
# never learns -- is released at once by hold.release with the set id,
# not left to block writes for its 30 s lease.
#
# The provider is stopped (SIGSTOP) by the writer's freeze hook, so
# hold.begin waits in its socket; it is resumed once the coordinator
# has given up and sent the release.  The heartbeat is 5 s, so the
# coordinator does not drop the stopped provider first (3 heartbeats).

source "$(dirname "$0")/functions.sh"
set -x

conf_hold_timeout=30s
conf_heartbeat=5s
write_conf
start_coordinator
start_provider storage-a db:8M

cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = freeze ]; then
    '$tmp/stop-process' '$tmp/storage-a.pid' || exit 1
fi
exit 0
EOF
start_writer writer-db storage-a/db

ctl --json set create storage-a/db --hold-timeout 30000 >"$tmp/set.json" 2>"$tmp/set.err" &
ctl_pid=$!
cleanup_fn kill -CONT "$(cat "$tmp/storage-a.pid")"
released () { grep -q "provider storage-a: releasing any hold of snapshot set" "$coord_log"; }
poll 20 released
resumed_at=$(now_ms)
kill -CONT "$(cat "$tmp/storage-a.pid")"
status=0
wait "$ctl_pid" || status=$?
cat "$tmp/set.json" "$tmp/set.err"
assert_eq "$status" 1 "exit status of the failed set create"

# Writes to the volume go through at once: the hold is gone.
nbd_write "$(puri storage-a db)" 0 "after the set"
write_ms=$(( $(now_ms) - resumed_at ))
[ "$write_ms" -lt 3000 ] ||
    fail "a write to storage-a completed $write_ms ms after it resumed (the lease is 30000 ms)"
assert_eq "$(nbd_read "$(puri storage-a db)" 0 13)" "after the set" "the write"

set_id=$(jq -r .set_id "$tmp/set.json")
assert_eq "$(jq -c '[.state, .reason]' "$tmp/set.json")" \
    '["failed","provider storage-a: no answer to hold.begin within 10000 ms"]' "the failed set"
assert_eq "$(jq -c '[.participants[] | [.kind, .name, .state, .error]]' "$tmp/set.json")" \
    '[["writer","writer-db","aborted",null],["provider","storage-a","failed","no answer to hold.begin within 10000 ms"]]' \
    "participants of the set"
# The coordinator released by set id, and the provider had a hold to release.
assert_eq "$(grep -o 'CN=storage-a,O=snapvol-test): -> [a-z.]*' "$coord_log" | cut -d' ' -f3)" \
    "volume.list
hold.begin
hold.release
snapshot.delete" "calls to storage-a"
grep -q "provider storage-a: released a hold of snapshot set $set_id that hold.begin took after the coordinator stopped waiting" "$coord_log" ||
    fail "the provider did not report a released hold"
assert_eq "$(provider_snapshots storage-a | jq -c .)" '[]' "snapshots on storage-a"
assert_eq "$(events writer-db)" "prepare $set_id
freeze $set_id
thaw $set_id
abort $set_id" "events of the writer"

stop_writer writer-db
stop_provider storage-a
stop_coordinator
check_logs
