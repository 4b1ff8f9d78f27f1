#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-provider-disconnect.sh: a provider that disconnects while
# it is asked to hold fails the set: the other provider's hold is
# released and the set deleted there, the writer is thawed and
# aborted, and the deletion on the provider that went away is kept in
# the catalog and done when it registers again.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 \
    --disconnect-on hold.begin
start_peer storage-b storage-b provider --volume logs:1048576
start_peer writer-db writer-db writer --volume storage-a/db

rpc backup set.create '{"volumes":["storage-a/db","storage-b/logs"],"label":"x"}' \
    >"$tmp/create.json"
cat "$tmp/create.json"
set_id=$(calls_with writer-db set_id | sed -n 's/^writer.prepare //p')
[ -n "$set_id" ] || fail "writer-db got no prepare"
reason="provider storage-a: the connection closed before the answer to hold.begin"

/usr/bin/python3 - "$tmp" "$set_id" "$reason" <<'PY'
import json, sys
tmp, sid, reason = sys.argv[1:]
err = json.loads(open(tmp + "/create.json").read())["error"]
assert err["code"] == -32010 and err["message"] == "snapshot set %s failed: %s" % (sid, reason), err
s = err["data"]
assert (s["state"], s["reason"], s["snapshots"]) == ("failed", reason, []), s
assert s["participants"] == [
    {"kind": "writer", "name": "writer-db", "state": "aborted", "error": None},
    {"kind": "provider", "name": "storage-a", "state": "failed",
     "error": "the connection closed before the answer to hold.begin"},
    {"kind": "provider", "name": "storage-b", "state": "deleted", "error": None}], s["participants"]
PY

# storage-b: its hold released (by its id), then the set deleted.
hold_b=$(/usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "answer" and e["method"] == "hold.begin":
        print(e["result"]["hold_id"])' "$tmp/storage-b.events")
assert_eq "$(calls_with storage-b hold_id)" "volume.list -
hold.begin -
hold.release $hold_b
snapshot.delete -" "calls to storage-b (hold ids)"
assert_eq "$(calls_with storage-b id)" "volume.list -
hold.begin -
hold.release -
snapshot.delete $set_id" "calls to storage-b (set id)"
assert_eq "$(calls_with writer-db set_id)" "writer.prepare $set_id
writer.freeze $set_id
writer.thaw $set_id
writer.abort $set_id" "calls to the writer"
assert_eq "$(calls storage-a)" "volume.list
hold.begin" "calls to storage-a before it went away"
out=$(rpc backup provider.list)
assert_eq "$(jget "$out" '[p["connected"] for p in j["result"]]')" '[false, true]' \
    "providers connected"

# storage-a comes back: the deletion it missed reaches it.
stop_peer storage-a
start_peer storage-a storage-a provider --volume db:1048576
wait_for grep -q "snapshot.delete" "$tmp/storage-a.events"
assert_eq "$(calls_with storage-a id | tail -n 1)" "snapshot.delete $set_id" \
    "the deletion done at registration"

# The set is still listed as failed, and set.delete removes it.
out=$(rpc backup set.delete "{\"set_id\":\"$set_id\"}")
assert_eq "$out" "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"set_id\":\"$set_id\",\"deleted\":0}}" \
    "set.delete of the failed set"
out=$(rpc backup set.list)
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"result":[]}' "set.list after set.delete"
stop_coordinator
