#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-coordinator-kill9-midset.sh: the coordinator killed with
# SIGKILL in the middle of a set, then restarted on the same catalog.
#
# (a) Killed while one writer is frozen (the other's freeze hook is
#     slow): the frozen writer thaws on its own within a second or two,
#     the other as soon as its hook ends; at restart the set is
#     recorded failed.
# (b) Killed from a thaw hook, after every provider committed: the
#     snapshots are pinned on the providers but the set is not
#     committed.  After the restart and the providers' reconnection the
#     pinned snapshots are deleted on every provider and the set is
#     failed, its reason naming the restart.
#
# Providers and writers reconnect on their own, with backoff.  Then a
# new set succeeds.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:8M

# Hooks: each thaw logs its reason; writer-logs' freeze sleeps 3 s
# once if $tmp/slow-freeze exists; writer-db's thaw kills the
# coordinator once if $tmp/kill-on-thaw exists.
for w in writer-db writer-logs; do
    cat >"$tmp/$w.hook" <<EOF
#!/bin/sh
case \$SNAPVOL_EVENT in
freeze)
    if [ '$w' = writer-logs ] && [ -e '$tmp/slow-freeze' ]; then
        rm '$tmp/slow-freeze'
        sleep 3
    fi ;;
thaw)
    echo "\$SNAPVOL_SET_ID \$SNAPVOL_REASON" >>'$tmp/$w.reasons'
    if [ '$w' = writer-db ] && [ -e '$tmp/kill-on-thaw' ]; then
        rm '$tmp/kill-on-thaw'
        kill -KILL \$(cat '$tmp/coordinator.pid')
    fi ;;
esac
echo "\$SNAPVOL_EVENT" >>'$tmp/$w.done'
exit 0
EOF
done
start_writer writer-db storage-a/db
start_writer writer-logs storage-b/logs

# all_reconnected: both providers and both writers connected again.
all_reconnected ()
{
    [ "$(ctl --json provider list | jq -c '[.[] | .connected]')" = '[true,true]' ] &&
    [ "$(ctl --json writer list | jq -c '[.[] | .connected]')" = '[true,true]' ]
}

# --- (a) killed while writer-db is frozen -----------------------------
touch "$tmp/slow-freeze"
ctl --json set create storage-a/db storage-b/logs >"$tmp/a.json" 2>"$tmp/a.err" &
ctl_pid=$!
db_frozen () { grep -q "CN=writer-db,O=snapvol-test): answer to writer.freeze" "$coord_log"; }
poll 10 db_frozen
set_a=$(awk '$2 == "prepare" { print $3 }' "$tmp/writer-db.evlog")
killed_at=$(now_ms)
kill9_coordinator
status=0
wait "$ctl_pid" || status=$?
assert_eq "$status" 1 "exit status of set create when the coordinator died"

db_thawed () { [ -n "$(event_time writer-db thaw "$set_a")" ]; }
poll 5 db_thawed
thaw_ms=$(( $(event_time writer-db thaw "$set_a") - killed_at ))
[ "$thaw_ms" -ge 0 ] && [ "$thaw_ms" -lt 2000 ] ||
    fail "writer-db thawed $thaw_ms ms after the coordinator was killed"
logs_thawed () { [ -n "$(event_time writer-logs thaw "$set_a")" ]; }
poll 6 logs_thawed
for w in writer-db writer-logs; do
    assert_eq "$(events $w)" "prepare $set_a
freeze $set_a
thaw $set_a" "events of $w"
    assert_eq "$(cat "$tmp/$w.reasons")" "$set_a the connection to the coordinator was lost" \
        "SNAPVOL_REASON of the thaw of $w"
done

start_coordinator
assert_eq "$(ctl --json set show "$set_a" | jq -c '[.state, .reason, .snapshots]')" \
    '["failed","the coordinator restarted during the set",[]]' "set (a) after the restart"
poll 30 all_reconnected
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c .)" '[]' "snapshots on $p after (a)"
done

# --- (b) killed after the commit, from writer-db's thaw hook ----------
touch "$tmp/kill-on-thaw"
status=0
ctl --json set create storage-a/db storage-b/logs >"$tmp/b.json" 2>"$tmp/b.err" || status=$?
assert_eq "$status" 1 "exit status of set create when the coordinator died"
[ ! -e "$tmp/kill-on-thaw" ] || fail "the thaw hook did not run"
reap_coordinator
set_b=$(awk '$2 == "prepare" { s = $3 } END { print s }' "$tmp/writer-db.evlog")
[ "$set_b" != "$set_a" ] || fail "no new set was started"
# Pinned on both providers, not committed.
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c '[.[] | .set_id]')" "[\"$set_b\"]" \
        "snapshots pinned on $p while the coordinator is down"
done
assert_eq "$(events writer-db | grep -c "$set_b")" 3 "events of writer-db for set (b)"
assert_eq "$(events writer-db | grep "$set_b" | cut -d' ' -f1 | tr '\n' ' ')" \
    "prepare freeze thaw " "events of writer-db for set (b)"

start_coordinator
assert_eq "$(ctl --json set show "$set_b" | jq -c '[.state, .reason, .snapshots]')" \
    '["failed","the coordinator restarted during the set",[]]' "set (b) after the restart"
no_snapshots () {
    [ "$(provider_snapshots storage-a | jq length)" = 0 ] &&
    [ "$(provider_snapshots storage-b | jq length)" = 0 ]
}
poll 30 no_snapshots
for p in storage-a storage-b; do
    grep -q "provider $p: deleted what remained of snapshot set $set_b" "$coord_log" ||
        fail "the coordinator did not report the deletion on $p"
done
poll 30 all_reconnected

# --- a new set succeeds --------------------------------------------------
ctl --json set create storage-a/db storage-b/logs >"$tmp/ok.json"
ok_id=$(jq -r .set_id "$tmp/ok.json")
assert_eq "$(jq -c '[.state, [.participants[] | [.name, .state]]]' "$tmp/ok.json")" \
    '["committed",[["writer-db","done"],["writer-logs","done"],["storage-a","committed"],["storage-b","committed"]]]' \
    "the set after the restarts"
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c '[.[] | .set_id]')" "[\"$ok_id\"]" "snapshots on $p"
done
assert_eq "$(ctl --json set list | jq -c '[.[] | [.set_id, .state]]')" \
    "[[\"$ok_id\",\"committed\"],[\"$set_b\",\"failed\"],[\"$set_a\",\"failed\"]]" "set list"

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
