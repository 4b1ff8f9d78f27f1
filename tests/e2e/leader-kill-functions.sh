# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# leader-kill-functions.sh: kill -9 of the leading coordinator in one
# phase of a set (docs/coordinator.md, "Snapshot sets", "Recovery after
# kill -9" and "Several coordinators on etcd"), for the tests
# test-e2e-etcd-leader-kill9-in-*.sh, on top of functions.sh and
# etcd-functions.sh.
#
# The world: a 3-member etcd cluster, coordinators a and b on it with
# the default hold-timeout of 10 s, a real provider storage-a (nbdkit
# with the plugin, volumes db and logs), the real writers writer-db (on
# storage-a/db) and writer-logs (on storage-a/logs) with hooks, and
# optionally a scripted provider storage-b (peer.py, volume logs) for a
# phase that only a slow provider makes last.  Every peer is given the
# addresses of both coordinators.
#
# Each writer's hook appends "EVENT SET_ID" to $tmp/NAME.hooks when it
# starts; when $tmp/NAME.slow-EVENT exists it removes it, creates
# $tmp/NAME.in-EVENT and sleeps 3 s, so that the phase of that event
# lasts.
#
#   lk_start [STORAGE-B-ARGS...]  the world; with arguments, storage-b
#                             too, with these peer.py options
#   lk_set_start              set.create of every volume, in the
#                             background, on the leader; sets $killed
#                             (its id) once the leader logged it
#   lk_kill                   kill -9 of the leader ($old); sets $t0
#   lk_failover PHASE         a new set on the new leader, retried
#                             until committed; prints "failover: PHASE:
#                             N.NN s", fails from 8 s on; sets $after
#   lk_check STATE            what recovery of a set recorded STATE
#                             left: see there
#   lk_hooks NAME SET_ID      NAME's hook events of the set, on one line
#   lk_stop                   stop the writers and storage-a (each must
#                             exit with status 0); no sanitizer report
#                             in any log

source "$(dirname "${BASH_SOURCE[0]}")/functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"

lk_volumes=(storage-a/db storage-a/logs)

# lk_control NAME METHOD PARAMS: provider_control's answer as compact
# JSON.
lk_control ()
{
    provider_control "$@" | jq -c .
}

_lk_hook ()
{
    local w=$1
    cat >"$tmp/$w.hook" <<EOF
#!/bin/sh
echo "\$SNAPVOL_EVENT \$SNAPVOL_SET_ID" >>'$tmp/$w.hooks'
if [ -e '$tmp/$w.slow-'"\$SNAPVOL_EVENT" ]; then
    rm '$tmp/$w.slow-'"\$SNAPVOL_EVENT"
    touch '$tmp/$w.in-'"\$SNAPVOL_EVENT"
    sleep 3
fi
exit 0
EOF
}

lk_start ()
{
    local c
    etcd_start_cluster
    for c in a b; do
        ecoord_conf "$c"
        sed -i 's/^hold-timeout 5s$/hold-timeout 10s/' "$tmp/$c.conf"
        grep -qx 'hold-timeout 10s' "$tmp/$c.conf" || fail "no hold-timeout in $tmp/$c.conf"
        ecoord_start "$c"
    done
    old=$(ecoord_wait_leader a b)
    new=$(ecoord_other "$old")
    coordinator_address=127.0.0.1:${ecoord_port[a]},127.0.0.1:${ecoord_port[b]}
    port=${ecoord_port[$old]}           # for the helpers' own checks

    start_provider storage-a db:1M logs:1M
    if [ $# -gt 0 ]; then
        ecoord_provider storage-b storage-b --volume logs:1048576 "$@"
        lk_volumes+=(storage-b/logs)
    fi
    _lk_hook writer-db
    _lk_hook writer-logs
    start_writer writer-db storage-a/db
    start_writer writer-logs storage-a/logs
}

lk_set_start ()
{
    local i
    { set +x; ectl --json set create --label killed "${lk_volumes[@]}" \
        >"$tmp/killed.json" 2>"$tmp/killed.err"; } &
    lk_ctl_pid=$!
    for (( i = 0; i < 100; i++ )); do
        killed=$(sed -n 's/.*snapshot set \([0-9a-f-]*\): [0-9]* volumes on .*/\1/p' \
                     "$tmp/$old.log" | tail -n 1)
        [ -z "$killed" ] || return 0
        sleep 0.1
    done
    fail "the leader $old did not start the set within 10 s"
}

# lk_answered PEER METHOD: whether the leader has logged PEER's answer
# to METHOD.
lk_answered ()
{
    grep -q "(CN=$1,O=snapvol-test): answer to $2" "$tmp/$old.log"
}

lk_kill ()
{
    t0=$(date +%s.%N)
    ecoord_kill "$old" KILL
}

lk_failover ()
{
    local phase=$1 committed= i t1 elapsed
    for (( i = 0; i < 150; i++ )); do
        if ectl --json set create --label after "${lk_volumes[@]}" \
               >"$tmp/after.json" 2>"$tmp/after.err" &&
           [ "$(jq -r .state "$tmp/after.json")" = committed ]; then
            committed=1
            break
        fi
        sleep 0.1
    done
    t1=$(date +%s.%N)
    [ -n "$committed" ] ||
        fail "no set committed after the kill: $(cat "$tmp/after.err" "$tmp/after.json")"
    after=$(jq -r .set_id "$tmp/after.json")
    elapsed=$(/usr/bin/python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1")
    echo "failover: $phase: $elapsed s"
    /usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 8 else 1)" "$elapsed" ||
        fail "failover from a kill in $phase took $elapsed s"
    assert_eq "$(ecoord_role "$new")" leader "the role of $new"
    port=${ecoord_port[$new]}
}

lk_hooks ()
{
    awk -v s="$2" '$2 == s { printf "%s%s", sep, $1; sep = " " } END { print "" }' \
        "$tmp/$1.hooks"
}

# _lk_deleted NAME: the new leader has done the deletion of $killed on
# provider NAME.
_lk_deleted ()
{
    grep -q "provider $1: deleted what remained of snapshot set $killed" "$tmp/$new.log"
}

# lk_check STATE: the killed set was found recorded STATE by the new
# leader's recovery and is failed everywhere: set show, set list (with
# the set committed after the kill), no snapshot of it on any provider
# once the queued deletions are done, no hold of it left on storage-a,
# every writer thawed or never frozen; the client of the killed set
# saw its connection end.
lk_check ()
{
    local state=$1 status=0 p
    wait "$lk_ctl_pid" || status=$?
    assert_eq "$status $(cat "$tmp/killed.err")" \
        "1 snapvolctl: set create: coordinator 127.0.0.1:${ecoord_port[$old]}: the connection was closed without an answer to set.create (was our certificate refused?)" \
        "snapvolctl of the killed set"
    grep -q "snapshot set $killed was $state: recorded failed (the coordinator restarted during the set)" \
        "$tmp/$new.log" || fail "the recovery on $new did not find set $killed $state"
    assert_eq "$(ectl --json set show "$killed" | jq -c '[.state, .reason, .snapshots]')" \
        '["failed","the coordinator restarted during the set",[]]' "the killed set on $new"
    assert_eq "$(ectl --json set list | jq -c '[.[] | [.set_id, .state]]')" \
        "[[\"$after\",\"committed\"],[\"$killed\",\"failed\"]]" "set list on $new"

    poll 20 _lk_deleted storage-a
    assert_eq "$(provider_snapshots storage-a | jq -c '[.[] | [.volume, .set_id]] | sort')" \
        "[[\"db\",\"$after\"],[\"logs\",\"$after\"]]" "snapshots on storage-a"
    assert_eq "$(provider_holds storage-a | awk '$2 != ""' | wc -l)" 0 \
        "snapshots held on storage-a"
    assert_eq "$(lk_control storage-a hold.release "{\"set_id\":\"$killed\"}")" \
        '{"released":false}' "a hold of the killed set on storage-a"
    if [ -n "${peer_pids[storage-b]:-}" ]; then
        poll 20 _lk_deleted storage-b
        assert_eq "$(jq -c --arg s "$killed" 'select(.event == "call" and .method == "snapshot.delete"
                        and .params.id == $s) | .method' "$tmp/storage-b.events" | sort -u)" \
            '"snapshot.delete"' "the deletion of the killed set on storage-b"
    fi
    for p in writer-db writer-logs; do
        assert_eq "$(lk_hooks "$p" "$after")" "prepare freeze thaw post_snapshot" \
            "hooks of $p for the set after the kill"
    done
}

lk_stop ()
{
    stop_writer writer-db
    stop_writer writer-logs
    stop_provider storage-a
    check_logs
}
