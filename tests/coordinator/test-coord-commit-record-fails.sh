#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-commit-record-fails.sh: a set whose "committed" record the
# catalog refuses is never answered committed.  It is aborted: the
# snapshots the providers pinned are deleted, the writers get
# writer.abort, and the requester gets -32010 with a reason naming the
# catalog's error; the set is recorded failed with that reason, and so
# it stays after a restart.
#
# The catalog is made to fail by lowering the coordinator's file size
# limit (RLIMIT_FSIZE, with prlimit) to 1 byte while the writer holds
# back its answer to writer.post_snapshot, the last call before the
# record, so every write to the catalog fails with EFBIG; the limit is
# lifted once the provider has been asked to delete the snapshots.

source "$(dirname "$0")/functions.sh"
requires prlimit
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 --delay snapshot.delete:2000
start_peer writer-db writer-db writer --volume storage-a/db --delay writer.post_snapshot:1500

rpc backup set.create '{"volumes":["storage-a/db"],"label":"doomed"}' >"$tmp/create.json" &
requester=$!
cleanup_fn kill "$requester"

called () { calls "$1" | grep -qx "$2"; }
wait_for called writer-db writer.post_snapshot
prlimit --pid "$coord_pid" --fsize=1:
wait_for called storage-a snapshot.delete
prlimit --pid "$coord_pid" --fsize=unlimited:
wait "$requester"
cat "$tmp/create.json"

set_id=$(calls_with writer-db set_id | sed -n 's/^writer.prepare //p')
[ -n "$set_id" ] || fail "no prepare seen"
reason="cannot record the set as committed: catalog $catalog: COMMIT: disk I/O error"
/usr/bin/python3 - "$tmp" "$set_id" "$reason" <<'PY'
import json, sys
tmp, sid, reason = sys.argv[1:]
resp = json.loads(open(tmp + "/create.json").read())
assert "result" not in resp, resp
err = resp["error"]
assert err["code"] == -32010, err
assert err["message"] == "snapshot set %s failed: %s" % (sid, reason), err["message"]
s = err["data"]
assert (s["set_id"], s["label"], s["state"], s["reason"], s["snapshots"]) == (
    sid, "doomed", "failed", reason, []), s
assert s["participants"] == [
    {"kind": "writer", "name": "writer-db", "state": "aborted", "error": None},
    {"kind": "provider", "name": "storage-a", "state": "deleted", "error": None}], s["participants"]
PY

# The writer was told the set failed after all; the provider deleted
# exactly the snapshot it had pinned for the set.
assert_eq "$(calls_with writer-db set_id)" "writer.prepare $set_id
writer.freeze $set_id
writer.thaw $set_id
writer.post_snapshot $set_id
writer.abort $set_id" "calls to the writer"
assert_eq "$(calls_with storage-a id)" "volume.list -
hold.begin -
hold.commit -
snapshot.delete $set_id" "calls to the provider"
/usr/bin/python3 -c 'import json, sys
ans = [json.loads(l) for l in open(sys.argv[1])]
ans = [e for e in ans if e["event"] == "answer" and e["method"] in ("hold.commit", "snapshot.delete")]
assert [e["method"] for e in ans] == ["hold.commit", "snapshot.delete"], ans
assert len(ans[0]["result"]["snapshots"]) == 1, ans[0]
assert ans[1]["result"] == {"id": sys.argv[2], "deleted": 1}, ans[1]
for line in open(sys.argv[3]):
    e = json.loads(line)
    if e["event"] == "call" and e["method"] == "writer.abort":
        assert e["params"] == {"set_id": sys.argv[2], "reason": sys.argv[4]}, e
' "$tmp/storage-a.events" "$set_id" "$tmp/writer-db.events" "$reason"

# The catalog says failed, with the same reason, before and after a
# restart (no recovery was needed: the failed record was durable).
out=$(rpc backup set.get "{\"set_id\":\"$set_id\"}")
assert_eq "$(jget "$out" '[j["result"]["state"], j["result"]["reason"], j["result"]["snapshots"]]')" \
    "[\"failed\", \"$reason\", []]" "set.get"
stop_coordinator
start_coordinator
out=$(rpc backup set.get "{\"set_id\":\"$set_id\"}")
assert_eq "$(jget "$out" '[j["result"]["state"], j["result"]["reason"], j["result"]["snapshots"]]')" \
    "[\"failed\", \"$reason\", []]" "set.get after a restart"
grep -q "recovery: .* recorded failed" "$coord_log" && fail "the restart had a set to recover"
stop_coordinator
