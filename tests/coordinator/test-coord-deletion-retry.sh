#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-deletion-retry.sh: a failed set's snapshots that a
# provider refuses to delete (a snapshot open on an NBD connection)
# while it stays connected are deleted later, by retries on a timer:
# first after deletion-retry (300 ms here), then twice as long after
# each further failure, until the deletion is done; then no more.

source "$(dirname "$0")/functions.sh"
set -x

write_conf "deletion-retry 300ms"
start_coordinator
# storage-a pins its volume, then refuses the first two deletions.
start_peer storage-a storage-a provider --volume db:1048576 \
    --fail-first "snapshot.delete:2:-32003:a snapshot of the set is open on an NBD connection"
# storage-b fails its commit, which fails the set.
start_peer storage-b storage-b provider --volume logs:1048576 \
    --fail "hold.commit:-32004:cannot sync the journal"

rpc backup set.create '{"volumes":["storage-a/db","storage-b/logs"],"writers":"none"}' \
    >"$tmp/create.json"
cat "$tmp/create.json"
set_id=$(jget "$(cat "$tmp/create.json")" 'j["error"]["data"]["set_id"]')
assert_eq "$(jget "$(cat "$tmp/create.json")" '[j["error"]["code"], j["error"]["data"]["reason"], j["error"]["data"]["participants"]]')" \
    '[-32010, "provider storage-b: hold.commit failed: cannot sync the journal (error -32004)", [{"kind": "provider", "name": "storage-a", "state": "delete-queued", "error": "snapshot.delete failed: a snapshot of the set is open on an NBD connection (error -32003)"}, {"kind": "provider", "name": "storage-b", "state": "failed", "error": "hold.commit failed: cannot sync the journal (error -32004)"}]]' \
    "the failed set"

# deletions: storage-a's snapshot.delete calls and answers, as
# "TIME METHOD-PARAM ANSWER" lines.
deletions ()
{
    /usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("method") != "snapshot.delete":
        continue
    if e["event"] == "call":
        print("%.6f call %s" % (e["t"], e["params"]["id"]))
    elif e["event"] == "answer":
        print("%.6f answer %s" % (e["t"], json.dumps(e["error"]["code"] if e["error"] else e["result"])))
' "$tmp/storage-a.events"
}
done_deleting () { deletions | grep -q '"deleted"'; }
wait_for done_deleting
sleep 1.5                       # no further retry comes

deletions
assert_eq "$(deletions | cut -d' ' -f2-)" "call $set_id
answer -32003
call $set_id
answer -32003
call $set_id
answer {\"id\": \"$set_id\", \"deleted\": 1}" "storage-a's deletions"
/usr/bin/python3 -c 'import sys
lines = [l.split() for l in sys.argv[1].splitlines()]
t = [float(l[0]) for l in lines if l[1] == "call"]
first, second = t[1] - t[0], t[2] - t[1]
# 300 ms, then 600 ms, from the coordinator'"'"'s clock (libevent
# caches it: a few ms of slack below), with room for a loaded host.
assert 0.28 <= first < 1.8, "first retry after %.3f s" % first
assert 0.58 <= second < 2.1, "second retry after %.3f s" % second
print("retries after %.3f s and %.3f s" % (first, second))
' "$(deletions)"
grep -q "provider storage-a: retrying its queued deletions in 300 ms" "$coord_log" ||
    fail "the first retry is not logged"
grep -q "provider storage-a: retrying its queued deletions in 600 ms" "$coord_log" ||
    fail "the second retry is not logged"
grep -q "provider storage-a: deleted what remained of snapshot set $set_id" "$coord_log" ||
    fail "the deletion is not logged"
# storage-b answered "not found" at once: nothing was queued for it.
assert_eq "$(calls_with storage-b id)" "volume.list -
hold.begin -
hold.commit -
snapshot.delete $set_id" "calls to storage-b"
stop_coordinator
/usr/bin/python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("SELECT count(*) FROM pending_deletions").fetchone()[0] == 0
' "$catalog"
