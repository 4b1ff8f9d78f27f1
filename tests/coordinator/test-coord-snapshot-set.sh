#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-snapshot-set.sh: a snapshot set across two providers with
# two writers.  Each writer sees exactly prepare, freeze, thaw,
# post_snapshot for the set, with its own volumes and snapshots; every freeze is answered before the first
# hold.begin and every hold.commit before the first thaw; the set
# object has exactly the documented members with the providers'
# snapshots and their NBD URIs; and set.get / set.list return the same
# object from the catalog after the coordinator restarts.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 \
    --volume logs:2097152 --nbd-uri nbd://10.0.0.1:10809
start_peer storage-b storage-b provider --volume data:4194304 \
    --nbd-uri 'nbd+unix:///?socket=/run/snapvol/b.sock'
start_peer writer-db writer-db writer --volume storage-a/db \
    --volume storage-b/data --freeze-timeout 5000
start_peer writer-logs writer-logs writer --volume storage-a/logs

rpc backup set.create '{"volumes":["storage-a/db","storage-a/logs","storage-b/data"],"label":"nightly"}' \
    >"$tmp/create.json"
cat "$tmp/create.json"

/usr/bin/python3 - "$tmp" <<'PY'
import json, re, sys
tmp = sys.argv[1]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

def fail(msg):
    sys.exit("FAIL: " + msg)

def check(cond, msg):
    if not cond:
        fail(msg)

def events(name):
    return [json.loads(l) for l in open("%s/%s.events" % (tmp, name))]

def calls(name):
    return [e for e in events(name) if e["event"] == "call"]

resp = json.loads(open(tmp + "/create.json").read())
check(list(resp) == ["jsonrpc", "id", "result"], "not a result: %s" % resp)
s = resp["result"]
check(list(s) == ["set_id", "label", "state", "created", "finished",
                  "snapshots", "participants", "timings"],
      "set object members: %s" % list(s))
sid = s["set_id"]
check(UUID.match(sid), "set_id %r" % sid)
check(s["label"] == "nightly" and s["state"] == "committed", "label/state")
check(isinstance(s["created"], int) and s["finished"] >= s["created"], "times")

# The snapshots are the providers' hold.commit answers, in set order.
commits = {}
for p in ("storage-a", "storage-b"):
    for e in events(p):
        if e["event"] == "answer" and e["method"] == "hold.commit":
            check(e["result"]["set_id"] == sid, "commit set id on " + p)
            for snap in e["result"]["snapshots"]:
                commits[(p, snap["volume"])] = snap
expected = []
for p, v, base in (("storage-a", "db", "nbd://10.0.0.1:10809/%s"),
                   ("storage-a", "logs", "nbd://10.0.0.1:10809/%s"),
                   ("storage-b", "data",
                    "nbd+unix:///%s?socket=/run/snapvol/b.sock")):
    c = commits[(p, v)]
    check(c["export"] == "%s@%s" % (v, c["id"]), "export of " + v)
    expected.append({"provider": p, "volume": v, "id": c["id"],
                     "export": c["export"], "uri": base % c["export"],
                     "generation": c["generation"]})
check(s["snapshots"] == expected,
      "snapshots:\n%s\nexpected\n%s" % (json.dumps(s["snapshots"]), json.dumps(expected)))
for snap in s["snapshots"]:
    check(list(snap) == ["provider", "volume", "id", "export", "uri", "generation"],
          "snapshot members %s" % list(snap))
    check(UUID.match(snap["id"]), "snapshot id")

check(s["participants"] == [
    {"kind": "writer", "name": "writer-db", "state": "done", "error": None},
    {"kind": "writer", "name": "writer-logs", "state": "done", "error": None},
    {"kind": "provider", "name": "storage-a", "state": "committed", "error": None},
    {"kind": "provider", "name": "storage-b", "state": "committed", "error": None}],
    "participants %s" % json.dumps(s["participants"]))
t = s["timings"]
check(list(t) == ["freeze_ms", "hold_ms", "total_ms"], "timings members")
check(0 <= t["hold_ms"] <= t["freeze_ms"] <= t["total_ms"], "timings %s" % t)

# What each writer saw, in order, all for this set: its own volumes of
# the set and their snapshots, in set order.
mine = {"writer-db": ["storage-a/db", "storage-b/data"],
        "writer-logs": ["storage-a/logs"]}
for w in ("writer-db", "writer-logs"):
    pv = mine[w]
    snaps = [x for x in s["snapshots"]
             if "%s/%s" % (x["provider"], x["volume"]) in pv]
    c = calls(w)
    check([e["method"] for e in c] == ["writer.prepare", "writer.freeze",
                                       "writer.thaw", "writer.post_snapshot"],
          "%s saw %s" % (w, [e["method"] for e in c]))
    check(all(e["params"]["set_id"] == sid for e in c), w + ": set ids")
    check(c[0]["params"] == {"set_id": sid, "volumes": pv, "label": "nightly"},
          w + ": prepare params %s" % c[0]["params"])
    check(c[1]["params"] == {"set_id": sid, "window_ms": 20000},
          w + ": freeze params %s" % c[1]["params"])
    check(c[2]["params"] == {"set_id": sid}, w + ": thaw params")
    check(c[3]["params"] == {"set_id": sid, "snapshots": snaps},
          w + ": post_snapshot params")

# What each provider saw.
for p, vols in (("storage-a", ["db", "logs"]), ("storage-b", ["data"])):
    c = calls(p)
    check([e["method"] for e in c] == ["volume.list", "hold.begin", "hold.commit"],
          "%s saw %s" % (p, [e["method"] for e in c]))
    check(c[1]["params"] == {"volumes": vols, "timeout_ms": 5000, "set_id": sid},
          p + ": hold.begin params %s" % c[1]["params"])
    hold = [e for e in events(p) if e["event"] == "answer"
            and e["method"] == "hold.begin"][0]["result"]["hold_id"]
    check(c[2]["params"] == {"hold_id": hold, "set_id": sid, "label": "nightly"},
          p + ": hold.commit params %s" % c[2]["params"])

# One instant for every writer: all frozen (answered) before any hold,
# all committed before any thaw.
def answered(name, method):
    return [e["t"] for e in events(name) if e["event"] == "answer" and e["method"] == method]
def called(name, method):
    return [e["t"] for e in calls(name) if e["method"] == method]
last_freeze = max(answered("writer-db", "writer.freeze") + answered("writer-logs", "writer.freeze"))
first_hold = min(called("storage-a", "hold.begin") + called("storage-b", "hold.begin"))
last_commit = max(answered("storage-a", "hold.commit") + answered("storage-b", "hold.commit"))
first_thaw = min(called("writer-db", "writer.thaw") + called("writer-logs", "writer.thaw"))
check(last_freeze <= first_hold, "a hold began before every writer froze")
check(last_commit <= first_thaw, "a writer thawed before every provider committed")
print("set %s checked" % sid)
PY

set_id=$(jget "$(cat "$tmp/create.json")" 'j["result"]["set_id"]')

# Writers are back to stable after the set.
out=$(rpc backup writer.list)
/usr/bin/python3 -c 'import json, sys
ws = json.loads(sys.argv[1])["result"]
assert [(w["name"], w["state"], w["last_event"], w["last_error"], w["connected"]) for w in ws] == [
    ("writer-db", "stable", "post_snapshot", None, True),
    ("writer-logs", "stable", "post_snapshot", None, True)], ws
assert ws[0]["volumes"] == ["storage-a/db", "storage-b/data"] and ws[0]["freeze_timeout_ms"] == 5000, ws
' "$out"

# A second set: every volume, no writer.
rpc backup set.create '{"volumes":"all","writers":"none","label":"crash-consistent"}' >"$tmp/all.json"
/usr/bin/python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).read())["result"]
assert s["state"] == "committed", s
assert [(x["provider"], x["volume"]) for x in s["snapshots"]] == [
    ("storage-a", "db"), ("storage-a", "logs"), ("storage-b", "data")], s
assert [(p["kind"], p["name"]) for p in s["participants"]] == [
    ("provider", "storage-a"), ("provider", "storage-b")], s
assert s["timings"]["freeze_ms"] == 0, s
' "$tmp/all.json"
assert_eq "$(calls writer-db | wc -l)" 4 "calls to writer-db after a set without writers"

# Restart: the catalog answers set.get and set.list with the same objects.
stop_coordinator
start_coordinator
rpc backup set.get "{\"set_id\":\"$set_id\"}" >"$tmp/get.json"
rpc ops set.list >"$tmp/list.json"
rpc backup set.list '{"state":"failed"}' >"$tmp/list-failed.json"
rpc backup set.get '{"set_id":"00000000-0000-4000-8000-000000000000"}' >"$tmp/get-none.json"
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
load = lambda n: json.loads(open("%s/%s.json" % (tmp, n)).read())
created, allset = load("create")["result"], load("all")["result"]
got = load("get")["result"]
assert json.dumps(got) == json.dumps(created), "set.get after restart:\n%s\n%s" % (got, created)
lst = load("list")["result"]
short = lambda s: {k: v for k, v in s.items() if k not in ("participants", "timings")}
assert json.dumps(lst) == json.dumps([short(allset), short(created)]), "set.list: %s" % lst
assert load("list-failed")["result"] == [], "set.list failed"
assert load("get-none") == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32001,
    "message": "no snapshot set 00000000-0000-4000-8000-000000000000"}}, load("get-none")
PY

# The peers did not reconnect: they are listed as away.
out=$(rpc backup provider.list)
/usr/bin/python3 -c 'import json, sys
ps = json.loads(sys.argv[1])["result"]
assert [(p["name"], p["connected"], p["connected_since"], p["volumes"], p["nbd_uri"]) for p in ps] == [
    ("storage-a", False, None, 2, "nbd://10.0.0.1:10809"),
    ("storage-b", False, None, 1, "nbd+unix:///?socket=/run/snapvol/b.sock")], ps
' "$out"
stop_coordinator
