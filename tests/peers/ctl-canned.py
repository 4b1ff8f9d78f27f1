# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# ctl-canned.py: the scenario of test-ctl-requester.sh: canned answers
# of a coordinator to snapvolctl's requester commands.  Runs until
# $tmp/done appears, then saves every request received in
# $tmp/requests.json.  A second coordinator, whose certificate names
# another host, listens on the port in $tmp/port2.

import json

SET = "0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31"
FAILED = "7c1d6e2a-4b8f-4e0a-9d3c-5a6b7c8d9e0f"
UNKNOWN = "11111111-2222-4333-8444-555555555555"
OFFLINE = "99999999-8888-4777-8666-555555555555"

def snap(provider, volume, sid, gen):
    export = "%s@%s" % (volume, sid)
    return {"provider": provider, "volume": volume, "id": sid, "export": export,
            "uri": "nbd://%s:10809/%s" % (provider, export), "generation": gen}

committed = {
    "set_id": SET, "label": "nightly", "state": "committed",
    "created": 1767225600, "finished": 1767225601,
    "snapshots": [snap("store1", "db", "d1e22a0c-3a87-48dc-b613-2cb2bbb10b92", 4),
                  snap("store2", "logs", "1302e89c-5537-4f27-95f0-bf307b6ebe38", 12)],
    "participants": [
        {"kind": "writer", "name": "pg1", "state": "thawed", "error": None},
        {"kind": "provider", "name": "store1", "state": "committed", "error": None},
        {"kind": "provider", "name": "store2", "state": "committed", "error": None}],
    "timings": {"freeze_ms": 120, "hold_ms": 15, "total_ms": 340},
}
failed = {
    "set_id": FAILED, "label": "fail", "state": "failed",
    "created": 1767229200, "finished": 1767229203,
    "reason": "writer pg1 refused writer.freeze",
    "snapshots": [],
    "participants": [
        {"kind": "writer", "name": "pg1", "state": "failed",
         "error": "freeze hook exited with status 3: cannot lock tables"},
        {"kind": "provider", "name": "store1", "state": "released", "error": None}],
    "timings": {"freeze_ms": 2003, "hold_ms": 0, "total_ms": 2010},
}

def brief(s):
    return {k: v for k, v in s.items() if k not in ("participants", "timings")}

def error(code, message, data=None):
    e = {"code": code, "message": message}
    if data is not None:
        e["data"] = data
    return {"error": e}

def set_create(peer, params):
    if peer.cn != "admin":
        return error(-32007, "role writer may not call set.create")
    if params.get("label") == "fail":
        return error(-32010, "snapshot set %s failed: writer pg1 refused "
                     "writer.freeze" % FAILED, failed)
    return {"result": committed}

def set_list(peer, params):
    sets = [brief(failed), brief(committed)]
    if params.get("state"):
        sets = [s for s in sets if s["state"] == params["state"]]
    return {"result": sets}

def set_get(peer, params):
    for s in (committed, failed):
        if s["set_id"] == params["set_id"]:
            return {"result": s}
    return error(-32001, "no snapshot set %s" % params["set_id"])

def set_delete(peer, params):
    if params["set_id"] == OFFLINE:
        return error(-32009, "provider store2 of set %s is not connected" % OFFLINE)
    if params["set_id"] != SET:
        return error(-32001, "no snapshot set %s" % params["set_id"])
    return {"result": {"set_id": SET, "deleted": 2}}

def forget(kind):
    def handler(peer, params):
        if params["name"] in ("web", "store2"):
            return {"result": {}}
        if params["name"] in ("pg1", "store1"):
            return error(-32003, "%s %s is connected" % (kind, params["name"]))
        return error(-32001, "no %s named %s" % (kind, params["name"]))
    return handler

coord.handlers.update({
    "writer.forget": forget("writer"),
    "provider.forget": forget("provider"),
    "set.create": set_create,
    "set.list": set_list,
    "set.get": set_get,
    "set.delete": set_delete,
})
coord.canned.update({
    "writer.list": {"result": [
        {"name": "pg1", "subject": "CN=pg1,O=snapvol test",
         "volumes": ["store1/db", "store2/logs"], "freeze_timeout_ms": 10000,
         "connected": True, "state": "thawed", "last_event": "post_snapshot",
         "last_event_time": 1767225601, "last_error": None},
        {"name": "web", "subject": "CN=web,O=snapvol test", "volumes": [],
         "freeze_timeout_ms": 5000, "connected": False, "state": "disconnected",
         "last_event": None, "last_event_time": None,
         "last_error": "writer.thaw: no answer within 30000 ms"}]},
    "provider.list": {"result": [
        {"name": "store1", "subject": "CN=store1,O=snapvol test",
         "nbd_uri": "nbd://store1:10809", "connected": True,
         "connected_since": 1767225000, "last_seen": 1767225601, "volumes": 1},
        {"name": "store2", "subject": "CN=store2,O=snapvol test",
         "nbd_uri": "nbds://store2:10809", "connected": False,
         "connected_since": None, "last_seen": 1767220000, "volumes": 2}]},
    "volume.list": {"result": [
        {"provider": "store1", "volume": "db", "size": 10737418240,
         "uuid": "6f008e70-1215-494f-be69-758f01aefa3d"},
        {"provider": "store2", "volume": "logs", "size": 1073741824,
         "uuid": "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"}]},
})

other = FakeCoordinator(pki + "/wrongname.crt", pki + "/wrongname.key", pki + "/ca.crt")
with open(tmp + "/port2", "w") as f:
    f.write("%d\n" % other.port)

while not os.path.exists(tmp + "/done"):
    time.sleep(0.05)
with open(tmp + "/requests.json", "w") as f:
    for cn, method, params in coord.requests:
        f.write(json.dumps([cn, method, params], separators=(",", ":")) + "\n")
other.close()
