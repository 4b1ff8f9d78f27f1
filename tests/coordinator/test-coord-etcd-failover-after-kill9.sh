#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-etcd-failover-after-kill9.sh: kill -9 of the leading
# coordinator: the other one leads within the lease's TTL (default 3 s),
# with a larger term, finds the set committed before the kill in the
# catalog on etcd, and a new set commits there once the provider has
# found it.  The time from the kill to the committed set is measured
# and printed ("failover: ..."); the issue's target is 5 s with the
# defaults, the test fails past 8 s (a loaded 2-core machine delays
# every step).

source "$(dirname "$0")/functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"
set -x

ecoord_start_two
old=$(ecoord_wait_leader a b)
new=$(ecoord_other "$old")
old_term=$(jget "$(ecoord_status "$old")" 'j["term"]')

ecoord_provider storage-a storage-a --volume db:1048576
out=$(ecoord_set_create "$old" '{"volumes":["storage-a/db"],"label":"before"}')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "the set before the kill: $out"
before=$(jget "$out" 'j["result"]["set_id"]')

t0=$(date +%s.%N)
ecoord_kill "$old" KILL
committed=
for (( i = 0; i < 100; i++ )); do
    out=$(ecoord_set_create "$new" '{"volumes":["storage-a/db"],"label":"after"}') || :
    if [ "$(jget "$out" 'j.get("result", {}).get("state")')" = committed ]; then
        committed=1
        break
    fi
    sleep 0.1
done
t1=$(date +%s.%N)
[ -n "$committed" ] || fail "no set committed on $new after the kill: $out"
elapsed=$(/usr/bin/python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1")
echo "failover: kill -9 of the leader to a committed set on the other coordinator: $elapsed s"
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 8 else 1)" "$elapsed" ||
    fail "failover took $elapsed s"

# A larger term, and the catalog of the old one.
st=$(ecoord_status "$new")
assert_eq "$(jget "$st" 'j["role"]')" leader "the role of $new"
new_term=$(jget "$st" 'j["term"]')
[ "$new_term" -gt "$old_term" ] || fail "term $new_term is not above $old_term"
out=$(ecoord_call "$new" backup set.get "{\"set_id\":\"$before\"}")
assert_eq "$(jget "$out" '[j["result"]["state"], j["result"]["label"]]')" \
    '["committed", "before"]' "the set committed before the kill, on $new"
grep -q "elected leader with term $new_term" "$tmp/$new.log" || fail "no election in $new's log"
