#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-provider-link-release-by-set-id.sh: a hold taken with a set_id
# can be released by that set id, without its hold id (what the
# coordinator does when its hold.begin missed its deadline and the
# hold id never reached it): the held write completes at once, long
# before the lease; only the holds of that set are released; hold.release
# takes exactly one of hold_id and set_id.

source "$(dirname "$0")/peers-functions.sh"
requires_snapvol
make_certs

start_fake <<'PY'
import threading, time, uuid, nbd

sock = tmp + "/nbd.sock"
def uri(export):
    return "nbd+unix:///%s?socket=%s" % (export, sock)

p = coord.wait_register("provider.register")
set_a, set_b = str(uuid.uuid4()), str(uuid.uuid4())
# Two holds, on two volumes, for two sets, each with a 30 s lease.
ha = coord.result(p, "hold.begin", {"volumes": ["a"], "timeout_ms": 30000, "set_id": set_a})
hb = coord.result(p, "hold.begin", {"volumes": ["b"], "timeout_ms": 30000, "set_id": set_b})

def writer(export, done):
    h = nbd.NBD()
    h.connect_uri(uri(export))
    h.pwrite(b"\xcc" * 4096, 0)
    h.flush()
    done.append(time.monotonic())
    h.shutdown()
done_a, done_b = [], []
ta = threading.Thread(target=writer, args=("a", done_a))
tb = threading.Thread(target=writer, args=("b", done_b))
ta.start(); tb.start()
time.sleep(0.7)
assert not done_a and not done_b, "a write completed while held"

start = time.monotonic()
r = coord.result(p, "hold.release", {"set_id": set_a.upper()})
assert r == {"released": True}, r
ta.join(5)
assert done_a and done_a[0] - start < 2, "the write to a did not complete at once"
assert not done_b, "releasing set a released set b's hold"
# Again: nothing left of set a.
assert coord.result(p, "hold.release", {"set_id": set_a}) == {"released": False}
# The released hold cannot be committed.
r = coord.call(p, "hold.commit", {"hold_id": ha["hold_id"], "set_id": set_a})
assert r["error"] == {"code": -32001, "message": "hold %s was released" % ha["hold_id"]}, r

# Exactly one of hold_id and set_id.
for params in ({}, {"hold_id": hb["hold_id"], "set_id": set_b}):
    r = coord.call(p, "hold.release", params)
    assert r["error"] == {"code": -32602,
                          "message": "give either 'hold_id' or 'set_id'"}, r
assert not done_b, "a refused release released set b"
# Set b by its hold id, as before.
assert coord.result(p, "hold.release", {"hold_id": hb["hold_id"]}) == {"released": True}
tb.join(5)
assert done_b, "the write to b did not complete after its release"
PY

start_snapvol "$tmp/pool" volume=a:8M volume=b:8M $(provider_args provider1)
wait_fake
assert_eq "$(snapvolctl --json snapshot list)" "[]" "snapshots"
stop_snapvol
check_sanitizer_log
