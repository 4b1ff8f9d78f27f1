#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-etcd-quorum-lost-refuses-sets.sh: two etcd members of three
# killed: set.create fails with an error that names etcd (the catalog
# write, or "no leader is elected (etcd is unreachable or has no
# quorum: ...)" once the leader has
# stepped down, its lease not renewable without a quorum); nothing is
# committed meanwhile.  With the members back a leader is elected again
# and sets commit.

source "$(dirname "$0")/functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"
set -x

ecoord_start_two
leader=$(ecoord_wait_leader a b)
ecoord_provider storage-a storage-a --volume db:1048576
out=$(ecoord_set_create "$leader" '{"volumes":["storage-a/db"],"label":"before"}')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "the set before: $out"

etcd_kill_member 1
etcd_kill_member 2

# For 10 s (the leader steps down after its 3 s TTL): every answer is an
# error naming etcd.  A connection the stepping-down leader closes
# (it restarts) is tried again.
answers=0
end=$(( $(date +%s) + 10 ))
while [ "$(date +%s)" -lt "$end" ]; do
    out=$(ecoord_set_create "$leader" '{"volumes":["storage-a/db"],"label":"no-quorum"}') || :
    echo "$out"
    case $out in CLOSED*|TLS-ERROR*) sleep 0.2; continue ;; esac
    [ "$(jget "$out" 'j.get("error", {}).get("code", "none")')" != none ] ||
        fail "set.create without an etcd quorum did not fail: $out"
    [[ $(jget "$out" 'j["error"]["message"]') == *etcd* ]] ||
        fail "the error does not name etcd: $out"
    answers=$(( answers + 1 ))
    sleep 0.5
done
[ "$answers" -ge 2 ] || fail "only $answers answers without an etcd quorum"
other=$(ecoord_other "$leader")
out=$(ecoord_set_create "$other" '{"volumes":["storage-a/db"],"label":"no-quorum"}')
assert_eq "$(jget "$out" 'j["error"]["code"]')" -32012 "set.create on $other without quorum: $out"
[[ $(jget "$out" 'j["error"]["message"]') == *"no leader is elected (etcd is unreachable or has no quorum: etcd get /snapvol-test/leader: "* ]] ||
    fail "$other's answer without quorum: $out"

etcd_start_member 1
etcd_start_member 2
etcd_wait_healthy 0 1 2
leader=$(ecoord_wait_leader a b)
for (( i = 0; i < 50; i++ )); do
    out=$(ecoord_set_create "$leader" '{"volumes":["storage-a/db"],"label":"after"}')
    [ "$(jget "$out" 'j.get("result", {}).get("state")')" = committed ] && break
    sleep 0.2
done
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "a set with the quorum back: $out"
out=$(ecoord_call "$leader" backup set.list)
assert_eq "$(jget "$out" 'sorted(s["label"] for s in j["result"] if s["state"] == "committed")')" \
    '["after", "before"]' "the committed sets"
