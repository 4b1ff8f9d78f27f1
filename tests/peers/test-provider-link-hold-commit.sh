#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-provider-link-hold-commit.sh: the plugin registers with the
# coordinator over mutual TLS and runs the coordinator's calls with the
# control socket's code: hold.begin holds writes, hold.commit pins what
# was written before (the snapshot export reads back exactly those
# bytes while the live volume has the held write), snapshot.delete
# deletes the set, errors come back as the control socket gives them.
# The link pings every heartbeat, and the control socket keeps working.

source "$(dirname "$0")/peers-functions.sh"
requires_snapvol
requires nbdsh
make_certs

start_fake <<'PY'
import threading, uuid, nbd

sock = tmp + "/nbd.sock"
def uri(export):
    return "nbd+unix:///%s?socket=%s" % (export, sock)

p = coord.wait_register("provider.register")
assert p.cn == "provider1", p.cn
reg = p.params
assert sorted(reg) == ["name", "nbd_uri", "version", "volumes"], reg
assert reg["name"] == "provider1", reg
assert reg["nbd_uri"] == "nbd+unix:///?socket=" + sock, reg
assert [(v["name"], v["size"], v["snapshots"]) for v in reg["volumes"]] == \
    [("v", 64 << 20, 0)], reg["volumes"]

h = nbd.NBD()
h.connect_uri(uri("v"))
h.pwrite(b"\xaa" * 65536, 0)
h.flush()

hold = coord.result(p, "hold.begin", {"volumes": ["v"], "timeout_ms": 10000})
assert hold["volumes"] == ["v"] and hold["expires_in_ms"] == 10000, hold

done = threading.Event()
def write_bb():
    h2 = nbd.NBD()
    h2.connect_uri(uri("v"))
    h2.pwrite(b"\xbb" * 65536, 0)
    h2.flush()
    done.set()
t = threading.Thread(target=write_bb)
t.start()
assert not done.wait(0.7), "a write completed while the volume was held"

set_id = str(uuid.uuid4())
res = coord.result(p, "hold.commit",
                   {"hold_id": hold["hold_id"], "set_id": set_id, "label": "peers"})
assert res["set_id"] == set_id, res
[snap] = res["snapshots"]
assert snap["volume"] == "v" and snap["export"] == "v@" + snap["id"], snap
assert done.wait(10), "the held write did not complete after the commit"
t.join()

s = nbd.NBD()
s.connect_uri(uri(snap["export"]))
assert s.is_read_only()
assert s.pread(65536, 0) == b"\xaa" * 65536, "the snapshot lost its pinned bytes"
s.shutdown()
assert h.pread(65536, 0) == b"\xbb" * 65536, "the live volume lost the held write"
h.shutdown()

[vol] = coord.result(p, "volume.list", {"name": "v"})
assert vol["snapshots"] == 1, vol

# Errors come back as the control socket gives them.
r = coord.call(p, "hold.commit", {"hold_id": hold["hold_id"], "set_id": set_id})
assert r["error"] == {"code": -32001,
                      "message": "hold %s was already committed" % hold["hold_id"]}, r
r = coord.call(p, "volume.frob", {})
assert r["error"] == {"code": -32601, "message":
    "method 'volume.frob' is not served on the coordinator link (only "
    "volume.list, hold.begin, hold.commit, hold.revert, hold.release, "
    "revert.undo, snapshot.list, snapshot.delete, snapshot.diff, "
    "snapshot.hold and "
    "snapshot.release)"}, r
r = coord.call(p, "volume.list", {"nmae": "v"})
assert r["error"]["code"] == -32602, r

assert coord.result(p, "snapshot.delete", {"id": set_id}) == {"id": set_id, "deleted": 1}
r = coord.call(p, "snapshot.delete", {"id": set_id})
assert r["error"]["code"] == -32001, r

# Heartbeat: 500 ms here.
n = sum(1 for m, _ in p.requests if m == "ping")
time.sleep(1.3)
pings = sum(1 for m, _ in p.requests if m == "ping") - n
assert 2 <= pings <= 4, "%d pings in 1.3 s with a 500 ms heartbeat" % pings
assert all(params is None for m, params in p.requests if m == "ping")
PY

start_snapvol "$tmp/pool" volume=v:64M $(provider_args provider1)
wait_fake

# The control socket still works, and sees what the coordinator did.
assert_eq "$(snapvolctl --json snapshot list)" "[]" "snapshots after snapshot.delete"
assert_eq "$(snapvolctl --json volume list | jq -r '.[0].name')" v "volume list"
stop_snapvol
check_sanitizer_log
