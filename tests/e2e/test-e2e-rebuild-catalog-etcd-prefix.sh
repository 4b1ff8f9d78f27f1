#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-rebuild-catalog-etcd-prefix.sh: --rebuild-catalog with
# 'catalog etcd'.  Two coordinators on a 3-member etcd cluster, two
# real providers given both addresses; three sets committed (each
# sharing a volume with the one before it, so that generations order
# them) and a fourth one deleted, its snapshots gone.  Both
# coordinators are stopped and the etcd prefix deleted with etcdctl;
# both start again with --rebuild-catalog --rebuild-wait 8s.  The
# leader's window starts when it is elected; when it ends, `set list
# --json` through the list of addresses shows exactly the three sets,
# newest first, with their labels and snapshots, marked rebuilt (the
# deleted set does not come back), and the follower has run no rebuild.
# kill -9 of the leader: the other coordinator, elected, lists the
# same sets from etcd at once (the rebuilt catalog was replicated), and
# its own rebuild, run as it is elected, keeps them as recorded.

source "$(dirname "$0")/rebuild-functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"
set -x

ecoord_start_two
leader=$(ecoord_wait_leader a b)
old_term=$(jget "$(ecoord_status "$leader")" 'j["term"]')
coordinator_address=127.0.0.1:${ecoord_port[a]},127.0.0.1:${ecoord_port[b]}

# ctl_as WHO ARGS...: snapvolctl through the list of both coordinators
# (for ctl, provider_connected and set_list_view too).
ctl_as ()
{
    local who=$1
    shift
    "${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "$coordinator_address" \
        --cert "$pki/$who.crt" --key "$pki/$who.key" --ca "$pki/ca.crt" "$@"
}

# ecoord_stop NAME: SIGTERM; it must exit with status 0.
ecoord_stop ()
{
    local pid=${ecoord_pid[$1]} status=0
    kill -TERM "$pid"
    timeout 20 tail -s 0.1 --pid="$pid" -f /dev/null || fail "coordinator $1 did not stop"
    wait "$pid" || status=$?
    ecoord_pid[$1]=
    [ "$status" -eq 0 ] || fail "coordinator $1 exited with status $status"
}

# rebuilds_done NAME: how many rebuilds NAME's log reports done since
# its restart with --rebuild-catalog.
rebuilds_done ()
{
    tail -n +"${log_from[$1]}" "$tmp/$1.log" | grep -c 'catalog rebuild: done' || :
}

start_provider storage-a db:4M web:4M
start_provider storage-b logs:4M

take_three_sets
s4=$(ctl --json set create storage-a/db storage-b/logs --label gone | jq -r .set_id)
ctl --json set delete "$s4" >/dev/null
assert_eq "$(for p in storage-a storage-b; do provider_snapshots $p; done |
             jq -s -c --arg id "$s4" '[.[][] | select(.set_id == $id)]')" \
    "[]" "the snapshots of the deleted set"

# Lose the catalog: both coordinators stopped, the prefix deleted.
ecoord_stop "$(ecoord_other "$leader")"
ecoord_stop "$leader"
[ "$(etcdctl_test get --prefix /snapvol-test/ --keys-only | grep -c /catalog/)" -gt 0 ] ||
    fail "no catalog keys under /snapvol-test/ before the deletion"
etcdctl_test del --prefix /snapvol-test/ >/dev/null || fail "etcdctl del failed"
assert_eq "$(etcdctl_test get --prefix /snapvol-test/ --keys-only)" "" "the prefix after the deletion"

cat >"$tmp/coordinator-rebuilding" <<SH
#!/bin/sh
exec "$COORDINATOR" --rebuild-catalog --rebuild-wait 8s "\$@"
SH
chmod +x "$tmp/coordinator-rebuilding"
declare -A log_from
for c in a b; do
    log_from[$c]=$(( $(wc -l <"$tmp/$c.log") + 1 ))
done
real_coordinator=$COORDINATOR
COORDINATOR=$tmp/coordinator-rebuilding
ecoord_start a
ecoord_start b
COORDINATOR=$real_coordinator
leader=$(ecoord_wait_leader a b)
follower=$(ecoord_other "$leader")
# etcd's revisions survive the deletion: the new term is larger, and
# the providers, which refuse a smaller term than they have seen,
# accept the new leader.
term=$(jget "$(ecoord_status "$leader")" 'j["term"]')
[ "$term" -gt "$old_term" ] || fail "term $term after the deletion is not above $old_term"
poll 30 provider_connected storage-a
poll 30 provider_connected storage-b
poll 60 eval '[ "$(rebuilds_done "$leader")" -gt 0 ]'

expected=$(three_sets_rebuilt)
assert_eq "$(set_list_view)" "$expected" "set list after the rebuild on $leader"
tail -n +"${log_from[$leader]}" "$tmp/$leader.log" |
    grep -q "catalog rebuild: done after 8000 ms: 2 providers answered, 3 sets found, 3 recorded, 0 already in the catalog, 0 not recorded (catalog errors), 0 revert undo snapshots skipped; providers that register from now on are not asked" ||
    fail "the rebuild's summary is not in $leader's log"
rebuilt=$(ctl --json set list)

# The follower has not rebuilt: its window starts only when elected.
assert_eq "$(ecoord_role "$follower")" follower "the role of $follower"
assert_eq "$(tail -n +"${log_from[$follower]}" "$tmp/$follower.log" | grep -c 'catalog rebuild' || :)" \
    0 "catalog rebuild lines in the follower's log"

# kill -9 of the leader: the follower leads and lists the rebuilt sets
# from etcd before any provider has registered with it.
ecoord_kill "$leader" KILL
assert_eq "$(ecoord_wait_leader "$follower")" "$follower" "the new leader"
assert_eq "$(ctl --json set list)" "$rebuilt" "set list on $follower as it is elected"

# Its own rebuild ran as it was elected, found the sets recorded and
# kept them as they are.
poll 30 provider_connected storage-a
poll 30 provider_connected storage-b
poll 60 eval '[ "$(rebuilds_done "$follower")" -gt 0 ]'
tail -n +"${log_from[$follower]}" "$tmp/$follower.log" >"$tmp/follower-since-restart.log"
elected=$(grep -n 'elected leader with term' "$tmp/follower-since-restart.log" | head -n 1 | cut -d: -f1)
first_rebuild=$(grep -n 'catalog rebuild' "$tmp/follower-since-restart.log" | head -n 1 | cut -d: -f1)
[ -n "$elected" ] && [ -n "$first_rebuild" ] && [ "$first_rebuild" -gt "$elected" ] ||
    fail "$follower's rebuild did not start after its election (lines $elected, $first_rebuild)"
grep -q "catalog rebuild: the catalog already records 3 sets: they are kept as recorded; only sets it does not know are added" \
    "$tmp/follower-since-restart.log" || fail "no warning about the catalog's sets on $follower"
for s in "$s1" "$s2" "$s3"; do
    grep -q "catalog rebuild: set $s is already in the catalog (committed): kept as recorded" \
        "$tmp/follower-since-restart.log" || fail "set $s is not said kept on $follower"
done
grep -q "catalog rebuild: done after 8000 ms: 2 providers answered, 3 sets found, 0 recorded, 3 already in the catalog, 0 not recorded (catalog errors), 0 revert undo snapshots skipped" \
    "$tmp/follower-since-restart.log" || fail "the rebuild's summary is not in $follower's log"
assert_eq "$(ctl --json set list)" "$rebuilt" "set list on $follower after its rebuild"

stop_provider storage-a
stop_provider storage-b
ecoord_stop "$follower"
check_logs
