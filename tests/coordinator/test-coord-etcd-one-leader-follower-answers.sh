#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-etcd-one-leader-follower-answers.sh: two coordinators on
# one 3-member etcd cluster elect exactly one leader; the leader key
# names it with its term; the follower answers every request but
# coordinator.status with -32012 naming the leader (exact JSON),
# registrations included, and coordinator.status with its role and the
# leader; the leader serves.

source "$(dirname "$0")/functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"
set -x

ecoord_start_two

leader=$(ecoord_wait_leader a b)
if [ "$leader" = a ]; then follower=b; else follower=a; fi
lport=${ecoord_port[$leader]}
fport=${ecoord_port[$follower]}

# Exactly one leads, and stays so.
sleep 1
assert_eq "$(ecoord_role "$leader") $(ecoord_role "$follower")" "leader follower" \
    "the roles of $leader and $follower"

# The leader key: the leader's address, its term the key's creation.
key=$(etcdctl_test get /snapvol-test/leader -w json)
assert_eq "$(jget "$key" '__import__("base64").b64decode(j["kvs"][0]["value"]).decode()')" \
    "127.0.0.1:$lport" "the leader key's value"
term=$(jget "$key" 'str(j["kvs"][0]["create_revision"])')
st=$(ecoord_status "$leader")
assert_eq "$(jget "$st" '[j["role"], j["advertise"], j["leader"], j["term"]]')" \
    "[\"leader\", \"127.0.0.1:$lport\", \"127.0.0.1:$lport\", $term]" \
    "the leader's coordinator.status"

# The follower's coordinator.status.
out=$(ecoord_call "$follower" backup coordinator.status)
assert_eq "$out" \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"role\":\"follower\",\"advertise\":\"127.0.0.1:$fport\",\"leader\":\"127.0.0.1:$lport\"}}" \
    "the follower's coordinator.status"

# Every other request: not the leader, naming it.
not_leader="{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32012,\"message\":\"coordinator 127.0.0.1:$fport is not the leader; the leader is 127.0.0.1:$lport\",\"data\":{\"leader\":\"127.0.0.1:$lport\"}}}"
assert_eq "$(ecoord_call "$follower" backup set.list)" "$not_leader" "set.list on the follower"
assert_eq "$(ecoord_call "$follower" backup set.create '{"volumes":["storage-a/db"]}')" \
    "$not_leader" "set.create on the follower"
assert_eq "$(ecoord_call "$follower" ops ping)" "$not_leader" "ping on the follower"
assert_eq "$(ecoord_call "$follower" storage-a provider.register \
    '{"name":"storage-a","nbd_uri":"nbd://127.0.0.1:1","volumes":[]}')" \
    "$not_leader" "provider.register on the follower"

# The leader serves: a provider registers, a set commits.
port=$lport
start_peer storage-a storage-a provider --volume db:1048576
out=$(ecoord_call "$leader" backup set.create '{"volumes":["storage-a/db"]}')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "a set on the leader: $out"

# The follower logged no campaign win.
! grep -q "elected leader" "$tmp/$follower.log" || fail "the follower was elected too"

# SIGTERM on the leader: it exits with status 0 (with sanitizers:
# without a leak) after revoking its lease, so the leader key no longer
# names it as soon as it has exited; the other one takes over.
stop_peer storage-a
lpid=${ecoord_pid[$leader]}
kill -TERM "$lpid"
timeout 20 tail -s 0.1 --pid="$lpid" -f /dev/null || fail "$leader did not stop"
status=0
wait "$lpid" || status=$?
ecoord_pid[$leader]=
assert_eq "$status" 0 "$leader's exit status after SIGTERM"
grep -q "leadership of term $term given up" "$tmp/$leader.log" || fail "no lease revocation logged"
key=$(etcdctl_test get /snapvol-test/leader --print-value-only)
[ "$key" != "127.0.0.1:$lport" ] || fail "the leader key still names $leader after it stopped"
assert_eq "$(ecoord_wait_leader "$follower")" "$follower" "the leader after $leader stopped"
coord_log=$tmp/$leader.log check_coord_log
