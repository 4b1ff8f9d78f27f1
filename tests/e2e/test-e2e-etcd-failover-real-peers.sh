#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-etcd-failover-real-peers.sh: two coordinators on a 3-member
# etcd cluster, a real provider (nbdkit with the plugin) and a real
# writer (snapvol-writer), both given the two coordinators' addresses,
# and snapvolctl with the same list.  A set commits through the
# leader; kill -9 of the leader; the provider and the writer find the
# other coordinator by themselves, and a new set commits there (with
# the writer frozen and thawed again) through snapvolctl's list.  The
# time from the kill to the committed set is printed ("failover: ...")
# and must stay under 8 s (the issue's target is 5 s with the default
# 3 s lease).  The set from before the kill is in the new leader's
# catalog, its snapshot still on the provider; nothing stays held.

source "$(dirname "$0")/functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"
set -x

ecoord_start_two
old=$(ecoord_wait_leader a b)
new=$(ecoord_other "$old")
coordinator_address=127.0.0.1:${ecoord_port[a]},127.0.0.1:${ecoord_port[b]}
port=${ecoord_port[$old]}          # for the helpers' own checks

cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
echo "\$SNAPVOL_EVENT" >>'$tmp/hooks.log'
EOF
start_provider storage-a db:1M
start_writer writer-db storage-a/db

ectl --json set create --label before storage-a/db >"$tmp/before.json"
assert_eq "$(jq -r .state "$tmp/before.json")" committed "the set before the kill"
before=$(jq -r .set_id "$tmp/before.json")
before_snap=$(jq -r '.snapshots[0].id' "$tmp/before.json")

t0=$(date +%s.%N)
ecoord_kill "$old" KILL
committed=
for (( i = 0; i < 150; i++ )); do
    if ectl --json set create --label after storage-a/db >"$tmp/after.json" 2>"$tmp/after.err" &&
       [ "$(jq -r .state "$tmp/after.json")" = committed ]; then
        committed=1
        break
    fi
    sleep 0.1
done
t1=$(date +%s.%N)
[ -n "$committed" ] || fail "no set committed after the kill: $(cat "$tmp/after.err" "$tmp/after.json")"
elapsed=$(/usr/bin/python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1")
echo "failover: kill -9 of the leader to a set committed with a real provider and writer: $elapsed s"
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 8 else 1)" "$elapsed" ||
    fail "failover took $elapsed s"

assert_eq "$(ecoord_role "$new")" leader "the role of $new"
assert_eq "$(jq -c '[.participants[] | [.kind, .name, .state]]' "$tmp/after.json")" \
    '[["writer","writer-db","done"],["provider","storage-a","committed"]]' "the set after the kill"

# The catalog from before the kill, on the new leader; the snapshots.
port=${ecoord_port[$new]}
assert_eq "$(ectl --json set list | jq -r --arg id "$before" \
    '.[] | select(.set_id == $id) | [.state, .label] | join(" ")')" \
    "committed before" "the set from before the kill"
provider_snapshots storage-a | jq -r '.[].id' | grep -qx "$before_snap" ||
    fail "the snapshot of the set before the kill is gone"

# The writer was frozen and thawed for each set; nothing stays held.
assert_eq "$(grep -c '^freeze$' "$tmp/hooks.log") $(grep -c '^thaw$' "$tmp/hooks.log")" \
    "2 2" "freezes and thaws of writer-db"
assert_eq "$(provider_holds storage-a | awk '$2 != ""' | wc -l)" 0 "snapshots held on storage-a"
stop_writer writer-db
stop_provider storage-a
