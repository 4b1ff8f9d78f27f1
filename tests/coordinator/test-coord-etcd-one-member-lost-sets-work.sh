#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-etcd-one-member-lost-sets-work.sh: one etcd member of three
# killed (kill -9; the first of the coordinators' endpoints, so that
# each call meets the dead one first): the leader keeps its lease and
# sets keep committing; with the member back, still.

source "$(dirname "$0")/functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"
set -x

ecoord_start_two
leader=$(ecoord_wait_leader a b)
term=$(jget "$(ecoord_status "$leader")" 'j["term"]')
ecoord_provider storage-a storage-a --volume db:1048576

etcd_kill_member 0
etcd_wait_healthy 1 2
# Over more than two lease TTLs: every set commits, the leader stays.
for n in 1 2 3 4 5 6; do
    out=$(ecoord_set_create "$leader" "{\"volumes\":[\"storage-a/db\"],\"label\":\"set-$n\"}")
    assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "set $n with member 0 dead: $out"
    sleep 1
done
st=$(ecoord_status "$leader")
assert_eq "$(jget "$st" '[j["role"], j["term"]]')" "[\"leader\", $term]" \
    "$leader's role and term with member 0 dead"
! grep -q "leadership lost" "$tmp/$leader.log" || fail "$leader lost leadership"

etcd_start_member 0
etcd_wait_healthy 0 1 2
out=$(ecoord_set_create "$leader" '{"volumes":["storage-a/db"],"label":"set-back"}')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "a set with member 0 back: $out"
out=$(ecoord_call "$leader" backup set.list)
assert_eq "$(jget "$out" 'len(j["result"])')" 7 "sets in the catalog"
