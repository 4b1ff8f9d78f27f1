#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-provider-link-hold-revert-undo.sh: over the provider link,
# hold.revert with undo_set_id reverts both held volumes to the set's
# snapshots and pins what they held before as the undo set (label
# revert-undo); revert.undo brings every volume back byte for byte and
# deletes the undo set; a second revert.undo finds nothing (-32001).
# An undo set id already taken is refused and nothing is reverted.

source "$(dirname "$0")/peers-functions.sh"
requires_snapvol
requires nbdsh
make_certs

start_fake <<'PY'
import uuid, nbd

sock = tmp + "/nbd.sock"
def uri(export):
    return "nbd+unix:///%s?socket=%s" % (export, sock)
def write(export, byte):
    h = nbd.NBD(); h.connect_uri(uri(export))
    h.pwrite(bytes([byte]) * 65536, 0); h.flush(); h.shutdown()
def read(export):
    h = nbd.NBD(); h.connect_uri(uri(export))
    b = h.pread(65536, 0); h.shutdown()
    return b

p = coord.wait_register("provider.register")
def closed():
    # nbdkit closes a connection after the client has gone: wait for it.
    for _ in range(200):
        if all(v["open_count"] == 0 for v in coord.result(p, "volume.list", {})):
            return
        time.sleep(0.05)
    raise AssertionError("a volume stayed open")
write("a", 0x11); write("b", 0x12)
set_id = str(uuid.uuid4())
hold = coord.result(p, "hold.begin", {"volumes": ["a", "b"], "timeout_ms": 10000})
coord.result(p, "hold.commit", {"hold_id": hold["hold_id"], "set_id": set_id})
write("a", 0x21); write("b", 0x22)
closed()

undo = str(uuid.uuid4())
hold = coord.result(p, "hold.begin", {"volumes": ["a", "b"], "timeout_ms": 10000})
res = coord.result(p, "hold.revert", {"hold_id": hold["hold_id"], "set_id": set_id,
                                      "undo_set_id": undo})
assert res["set_id"] == set_id, res
assert [r["volume"] for r in res["reverted"]] == ["a", "b"], res
assert read("a") == b"\x11" * 65536 and read("b") == b"\x12" * 65536, "not reverted"
snaps = coord.result(p, "snapshot.hold", {"id": undo, "tag": "t"})
assert snaps["held"] == 2, snaps
coord.result(p, "snapshot.release", {"id": undo, "tag": "t"})
assert read("a@" + undo) == b"\x21" * 65536, "the undo pin of a"
assert read("b@" + undo) == b"\x22" * 65536, "the undo pin of b"

# The same undo id again: taken, nothing reverted.
write("a", 0x31)
closed()
hold = coord.result(p, "hold.begin", {"volumes": ["a"], "timeout_ms": 10000})
r = coord.call(p, "hold.revert", {"hold_id": hold["hold_id"], "set_id": set_id,
                                  "undo_set_id": undo})
assert r["error"]["code"] == -32002, r
assert r["error"]["message"] == "volume a already has a snapshot in set %s" % undo, r
assert read("a") == b"\x31" * 65536, "a refused revert changed a"
closed()

res = coord.result(p, "revert.undo", {"undo_set_id": undo})
assert res["undo_set_id"] == undo and res["deleted"] == 2, res
assert sorted(r["volume"] for r in res["reverted"]) == ["a", "b"], res
assert read("a") == b"\x21" * 65536 and read("b") == b"\x22" * 65536, "not undone"
r = coord.call(p, "revert.undo", {"undo_set_id": undo})
assert r["error"] == {"code": -32001, "message": "no volume has a snapshot of "
                      "undo set %s: nothing to undo" % undo,
                      "data": {"errno": "ENOENT"}}, r
r = coord.call(p, "revert.undo", {"undo_set_id": "x"})
assert r["error"]["code"] == -32602, r
PY

start_snapvol "$tmp/pool" volume=a:64M volume=b:64M $(provider_args provider1)
wait_fake
# Only the set remains: the undo set is gone.
assert_eq "$(snapvolctl --json snapshot list | jq -c '[.[] | .label]')" '["",""]' \
          "snapshots after revert.undo"
stop_snapvol
check_sanitizer_log
