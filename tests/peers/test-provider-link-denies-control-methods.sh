#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-provider-link-denies-control-methods.sh: over the provider link
# the plugin serves only what the coordinator protocol needs
# (volume.list, hold.begin, hold.commit, hold.revert, hold.release,
# revert.undo, snapshot.list, snapshot.delete, snapshot.diff,
# snapshot.hold, snapshot.release and ping); every other control method --
# volume.create, volume.delete, volume.revert, snapshot.create, pool.info -- is
# refused with -32601 and does nothing, while the control socket still
# serves them all.

source "$(dirname "$0")/peers-functions.sh"
requires_snapvol
make_certs

start_fake <<'PY'
import uuid

p = coord.wait_register("provider.register")
allowed = ("only volume.list, hold.begin, hold.commit, hold.revert, "
           "hold.release, revert.undo, snapshot.list, snapshot.delete, "
           "snapshot.diff, snapshot.hold and snapshot.release")
for method, params in (
        ("volume.create", {"name": "x", "size": 1048576}),
        ("volume.delete", {"name": "v"}),
        ("volume.revert", {"name": "v",
                           "snapshot": "0b7d1c32-58a4-4c6e-9f4b-2d1e0c3a9b11"}),
        ("snapshot.create", {"volumes": ["v"], "label": "sneaky"}),
        ("pool.info", None),
        ("volume.frob", {})):
    r = coord.call(p, method, params)
    assert r == {"jsonrpc": "2.0", "id": r["id"], "error": {"code": -32601,
        "message": "method '%s' is not served on the coordinator link (%s)"
                   % (method, allowed)}}, r

# What the coordinator needs still works, ping included.
[vol] = coord.result(p, "volume.list", {})
assert (vol["name"], vol["snapshots"]) == ("v", 0), vol
assert isinstance(coord.result(p, "ping")["time"], int)
hold = coord.result(p, "hold.begin", {"volumes": ["v"], "timeout_ms": 5000})
set_id = str(uuid.uuid4())
res = coord.result(p, "hold.commit", {"hold_id": hold["hold_id"], "set_id": set_id})
assert res["set_id"] == set_id and len(res["snapshots"]) == 1, res
assert coord.result(p, "snapshot.hold", {"id": set_id, "tag": "coord:1"}) == \
    {"id": set_id, "tag": "coord:1", "held": 1}
snap_id = res["snapshots"][0]["id"]
r = coord.call(p, "snapshot.delete", {"id": set_id})
assert r["error"] == {"code": -32003, "message":
    "snapshot %s of volume v is held (tags: coord:1)" % snap_id,
    "data": {"errno": "EBUSY"}}, r
assert coord.result(p, "snapshot.release", {"id": set_id, "tag": "coord:1"}) == \
    {"id": set_id, "tag": "coord:1", "released": 1}
# snapshot.list is served (read only: what --rebuild-catalog asks).
[snap] = coord.result(p, "snapshot.list", {})
assert (snap["id"], snap["set_id"], snap["volume"]) == (snap_id, set_id, "v"), snap
assert coord.result(p, "snapshot.delete", {"id": set_id}) == {"id": set_id, "deleted": 1}
PY

start_snapvol "$tmp/pool" volume=v:8M $(provider_args provider1)
wait_fake

# Nothing the refused calls asked for happened; the control socket
# serves those methods as before.
assert_eq "$(snapvolctl --json volume list | jq -c '[.[] | [.name, .snapshots]]')" '[["v",0]]' \
    "volumes after the refused calls"
assert_eq "$(snapvolctl --json snapshot list)" "[]" "snapshots after the refused calls"
snapvolctl volume create x 1M >/dev/null
assert_eq "$(snapvolctl --json volume list | jq -c '[.[] | .name]')" '["v","x"]' \
    "volume create on the control socket"
stop_snapvol
check_sanitizer_log
