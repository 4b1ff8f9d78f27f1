#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-provider-link-serves-snapshot-diff.sh: the coordinator may call
# snapshot.diff over the provider link: a snapshot taken through the
# link diffs against the live volume with the result the control
# socket gives, written ranges included, and errors come back with
# their codes.

source "$(dirname "$0")/peers-functions.sh"
requires_snapvol
requires nbdsh
make_certs

start_fake <<'PY'
import subprocess, uuid

p = coord.wait_register("provider.register")
hold = coord.result(p, "hold.begin", {"volumes": ["v"], "timeout_ms": 5000})
set_id = str(uuid.uuid4())
res = coord.result(p, "hold.commit", {"hold_id": hold["hold_id"], "set_id": set_id})
snap = res["snapshots"][0]["id"]

subprocess.run(["nbdsh", "-u", "nbd+unix:///v?socket=" + tmp + "/nbd.sock",
                "-c", "h.pwrite(b'x' * 8192, 65536); h.flush()"], check=True)
r = coord.result(p, "snapshot.diff", {"volume": "v", "from": snap})
assert r == {"volume": "v", "from": snap, "to": None, "size": 16 << 20,
             "granularity": 4096,
             "ranges": [{"offset": 65536, "length": 8192, "kind": "data"}],
             "next": None}, r
r = coord.call(p, "snapshot.diff", {"volume": "w", "from": snap})
assert r["error"] == {"code": -32001, "message": "no volume named w",
                      "data": {"errno": "ENOENT"}}, r
PY

start_snapvol "$tmp/pool" volume=v:16M $(provider_args provider1)
wait_fake
stop_snapvol
check_sanitizer_log
