#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-kill9-recovery.sh: the coordinator killed with SIGKILL in
# the middle of a set (a writer stalls in freeze) finds the set in its
# catalog at restart, records it failed, and the snapshot.delete of the
# set id reaches each provider when it registers again; no deletion is
# left pending afterwards.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 --reconnect
start_peer storage-b storage-b provider --volume logs:1048576 --reconnect
start_peer writer-db writer-db writer --volume storage-a/db \
    --freeze-timeout 60000 --stall writer.freeze
start_peer writer-logs writer-logs writer --volume storage-b/logs

rpc backup set.create '{"volumes":["storage-a/db","storage-b/logs"]}' \
    >"$tmp/create.out" &
requester=$!
wait_for grep -q '"writer.freeze"' "$tmp/writer-db.events"
set_id=$(calls_with writer-db set_id | sed -n 's/^writer.freeze //p')
[ -n "$set_id" ] || fail "no freeze seen"

kill9_coordinator
wait "$requester" || :
assert_eq "$(cat "$tmp/create.out")" CLOSED "what the requester got"

# The providers reconnect by themselves; the writers are gone.
start_coordinator
for p in storage-a storage-b; do
    wait_for grep -q '"snapshot.delete"' "$tmp/$p.events"
    assert_eq "$(calls_with $p id | tail -n 1)" "snapshot.delete $set_id" \
        "deletion on $p"
done
grep -q "recovery: 1 unfinished snapshot set recorded failed" "$coord_log" ||
    fail "recovery not logged"

out=$(rpc backup set.list)
/usr/bin/python3 -c 'import json, sys
sets = json.loads(sys.argv[1])["result"]
assert len(sets) == 1, sets
s = sets[0]
assert (s["set_id"], s["state"], s["reason"], s["snapshots"]) == (
    sys.argv[2], "failed", "the coordinator restarted during the set", []), s
assert isinstance(s["finished"], int), s
' "$out" "$set_id"

# The deletions were done: the catalog keeps none.  (Read after the
# coordinator stopped: it holds the catalog locked while it runs.)
wait_for grep -q "deleted what remained of snapshot set $set_id" "$coord_log"
[ "$(grep -c "deleted what remained of snapshot set $set_id" "$coord_log")" -eq 2 ] ||
    fail "not every provider's deletion was done"
stop_coordinator
/usr/bin/python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("SELECT count(*) FROM pending_deletions").fetchone()[0] == 0
row = db.execute("SELECT state, reason FROM sets WHERE set_id = ?", (sys.argv[2],)).fetchone()
assert row == ("failed", "the coordinator restarted during the set"), row
assert db.execute("SELECT version FROM schema_version").fetchone()[0] == 1
' "$catalog" "$set_id"
