#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-freeze-timeout.sh: a writer whose freeze hook hangs,
# with --freeze-timeout 2000, fails the set within about 2 s.  Its hook
# and the hook's children are killed; the other writer, frozen, is
# thawed and aborted; no snapshot is left on either provider; the
# failed set names the writer that timed out.  A set without writers
# then succeeds without calling the hung writer, and so does a set with
# both writers once the hook no longer hangs.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:8M

# writer-db's freeze hangs while $tmp/hang exists: the hook and its
# sleeping child record their pids.  writer-logs' hooks do nothing.
touch "$tmp/hang"
cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = freeze ] && [ -e '$tmp/hang' ]; then
    echo \$\$ >'$tmp/hook.pid'
    /usr/bin/python3 -c 'import time; time.sleep(60)' '$tmp' &
    echo \$! >'$tmp/sleep.pid'
    wait
fi
exit 0
EOF
printf '#!/bin/sh\nexit 0\n' >"$tmp/writer-logs.hook"
# Should the test fail before the agent kills them (checking that the
# pids are still the hook's: its command line names $tmp).
kill_hung_hook ()
{
    local f pid
    for f in "$tmp/hook.pid" "$tmp/sleep.pid"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$tmp" ||
            kill -KILL "$pid" 2>/dev/null
    done
    return 0
}
cleanup_fn kill_hung_hook
start_writer writer-db --freeze-timeout 2000 storage-a/db
start_writer writer-logs storage-b/logs

start=$(now_ms)
status=0
ctl --json set create storage-a/db storage-b/logs >"$tmp/failed.json" 2>"$tmp/failed.err" || status=$?
elapsed=$(( $(now_ms) - start ))
cat "$tmp/failed.json" "$tmp/failed.err"
assert_eq "$status" 1 "exit status of the failed set create"
# The hook is killed at 1800 ms (the freeze timeout less its margin);
# the rest is a few round trips and the abort.
[ "$elapsed" -ge 1800 ] && [ "$elapsed" -lt 4000 ] ||
    fail "the set failed after $elapsed ms, expected about 2000"

set_id=$(jq -r .set_id "$tmp/failed.json")
reason="writer writer-db: writer.freeze failed: freeze hook did not finish within 1800 ms and was killed (error -32603)"
assert_eq "$(jq -r '[.state, .reason] | join(": ")' "$tmp/failed.json")" "failed: $reason" \
    "state and reason of the failed set"
assert_eq "$(jq -c '.snapshots' "$tmp/failed.json")" '[]' "snapshots of the failed set"
assert_eq "$(jq -c '[.participants[] | [.kind, .name, .state, .error]]' "$tmp/failed.json")" \
    '[["writer","writer-db","failed","writer.freeze failed: freeze hook did not finish within 1800 ms and was killed (error -32603)"],["writer","writer-logs","aborted",null],["provider","storage-a","deleted",null],["provider","storage-b","deleted",null]]' \
    "participants of the failed set"
grep -qF "snapshot set $set_id failed: $reason" "$tmp/failed.err" ||
    fail "snapvolctl's message does not give the reason"

# The hung hook and its child were killed (a grandchild of the agent
# may stay a zombie for a moment, until init reaps it).
gone ()
{
    ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1")" = Z ]
}
for f in hook sleep; do
    poll 2 gone "$(cat "$tmp/$f.pid")"
done

# writer-logs was frozen, then thawed and aborted; writer-db was
# aborted (not frozen, so no thaw).
assert_eq "$(events writer-logs)" "prepare $set_id
freeze $set_id
thaw $set_id
abort $set_id" "events of writer-logs"
assert_eq "$(events writer-db)" "prepare $set_id
freeze $set_id
abort $set_id" "events of writer-db"

# Nothing is left on either provider, and the live volumes take writes.
for p in storage-a:db storage-b:logs; do
    assert_eq "$(provider_snapshots "${p%:*}" | jq -c .)" '[]' "snapshots on ${p%:*}"
    nbd_write "$(puri "${p%:*}" "${p#*:}")" 0 "after the failed set"
    assert_eq "$(nbd_read "$(puri "${p%:*}" "${p#*:}")" 0 20)" "after the failed set" \
        "data written to ${p#*:} after the failed set"
done
ctl --json set show "$set_id" >"$tmp/show.json"
assert_eq "$(jq -cS . "$tmp/show.json")" "$(jq -cS . "$tmp/failed.json")" "set show of the failed set"
assert_eq "$(ctl --json writer list | jq -c '[.[] | [.name, .connected, .state, .last_event, .last_error]]')" \
    '[["writer-db",true,"failed","abort","writer.freeze failed: freeze hook did not finish within 1800 ms and was killed (error -32603)"],["writer-logs",true,"stable","abort",null]]' \
    "writer list after the failed set"

# A set without writers does not call the hung writer.
ctl --json set create storage-a/db storage-b/logs --writers none >"$tmp/none.json"
assert_eq "$(jq -r .state "$tmp/none.json")" committed "state of the set without writers"
assert_eq "$(jq -c '[.participants[] | .kind]' "$tmp/none.json")" '["provider","provider"]' \
    "participants of the set without writers"
assert_eq "$(events writer-db | wc -l)" 3 "events of writer-db after the set without writers"
assert_eq "$(nbd_read "$(jq -r '.snapshots[0].uri' "$tmp/none.json")" 0 20)" "after the failed set" \
    "content of the snapshot without writers"

# Once the hook no longer hangs, a set with both writers succeeds.
rm "$tmp/hang"
ctl --json set create storage-a/db storage-b/logs >"$tmp/ok.json"
ok_id=$(jq -r .set_id "$tmp/ok.json")
assert_eq "$(jq -c '[.state, [.participants[] | [.name, .state]]]' "$tmp/ok.json")" \
    '["committed",[["writer-db","done"],["writer-logs","done"],["storage-a","committed"],["storage-b","committed"]]]' \
    "the set after the hook was fixed"
for w in writer-db writer-logs; do
    assert_eq "$(events $w | grep "$ok_id")" "prepare $ok_id
freeze $ok_id
thaw $ok_id
post_snapshot $ok_id" "events of $w in the last set"
done
assert_eq "$(ctl --json set list | jq -c '[.[] | [.set_id, .state]]')" \
    "[[\"$ok_id\",\"committed\"],[\"$(jq -r .set_id "$tmp/none.json")\",\"committed\"],[\"$set_id\",\"failed\"]]" \
    "set list"

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
