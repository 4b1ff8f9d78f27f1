#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-freeze-timeout.sh: a writer that never answers
# writer.freeze fails the set within its freeze timeout.  The other
# writer, frozen, is thawed and aborted; every provider gets
# snapshot.delete of the set id and no hold; the failed set names the
# culprit in its reason and participants, and set.get shows the same.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576
start_peer storage-b storage-b provider --volume logs:1048576
start_peer writer-db writer-db writer --volume storage-a/db \
    --freeze-timeout 1500 --stall writer.freeze
start_peer writer-logs writer-logs writer --volume storage-b/logs

start=$(date +%s%N)
rpc backup set.create '{"volumes":["storage-a/db","storage-b/logs"]}' >"$tmp/create.json"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$tmp/create.json"
# The freeze deadline is 1.5 s; the rest is a few round trips.
[ "$elapsed_ms" -ge 1500 ] && [ "$elapsed_ms" -lt 4500 ] ||
    fail "set.create took $elapsed_ms ms"

set_id=$(calls_with writer-db set_id | sed -n 's/^writer.freeze //p')
[ -n "$set_id" ] || fail "writer-db got no freeze"
reason="writer writer-db: no answer to writer.freeze within 1500 ms"

/usr/bin/python3 - "$tmp" "$set_id" "$reason" <<'PY'
import json, sys
tmp, sid, reason = sys.argv[1:]
resp = json.loads(open(tmp + "/create.json").read())
err = resp["error"]
assert err["code"] == -32010, err
assert err["message"] == "snapshot set %s failed: %s" % (sid, reason), err["message"]
s = err["data"]
assert list(s) == ["set_id", "label", "state", "reason", "created", "finished",
                   "snapshots", "participants", "timings"], list(s)
assert (s["set_id"], s["state"], s["reason"], s["snapshots"]) == (sid, "failed", reason, []), s
assert s["participants"] == [
    {"kind": "writer", "name": "writer-db", "state": "failed",
     "error": "no answer to writer.freeze within 1500 ms"},
    {"kind": "writer", "name": "writer-logs", "state": "aborted", "error": None},
    {"kind": "provider", "name": "storage-a", "state": "deleted", "error": None},
    {"kind": "provider", "name": "storage-b", "state": "deleted", "error": None}], s["participants"]
# The deadline is a libevent timer, armed from the loop's cached time
# and read back in whole milliseconds: it may end a millisecond or two
# before a clock read when the call went out says 1500 ms.
assert s["timings"]["hold_ms"] == 0 and 1490 <= s["timings"]["freeze_ms"] < 3000, s["timings"]
PY

# Exactly what each peer saw, all for this set.
assert_eq "$(calls_with writer-logs set_id)" "writer.prepare $set_id
writer.freeze $set_id
writer.thaw $set_id
writer.abort $set_id" "calls to the writer that froze"
assert_eq "$(calls_with writer-db set_id)" "writer.prepare $set_id
writer.freeze $set_id
writer.abort $set_id" "calls to the writer that did not answer"
for p in storage-a storage-b; do
    assert_eq "$(calls_with $p id)" "volume.list -
snapshot.delete $set_id" "calls to $p"
done
# writer.abort carries the reason.
/usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "call" and e["method"] == "writer.abort":
        assert e["params"] == {"set_id": sys.argv[2], "reason": sys.argv[3]}, e
' "$tmp/writer-logs.events" "$set_id" "$reason"

# set.get answers the same set object; writer.list shows the culprit.
rpc backup set.get "{\"set_id\":\"$set_id\"}" >"$tmp/get.json"
rpc backup writer.list >"$tmp/writers.json"
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
created = json.loads(open(tmp + "/create.json").read())["error"]["data"]
got = json.loads(open(tmp + "/get.json").read())["result"]
assert json.dumps(got) == json.dumps(created), (got, created)
ws = json.loads(open(tmp + "/writers.json").read())["result"]
assert [(w["name"], w["state"], w["last_event"], w["last_error"]) for w in ws] == [
    ("writer-db", "failed", "abort", "no answer to writer.freeze within 1500 ms"),
    ("writer-logs", "stable", "abort", None)], ws
PY

# The coordinator is not stuck: the next set (without the culprit) commits.
out=$(rpc backup set.create '{"volumes":["storage-b/logs"]}')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "state of the next set"
stop_coordinator
