#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-provider-reconnect.sh: when the coordinator goes away, the
# provider link retries with exponential backoff (0.5 s, 1 s, 2 s, ...)
# and registers again once the coordinator is back; a hold taken before
# the outage can still be committed after it; each outage costs one
# error line in the log, not one per attempt; and nbdkit stops at once
# while the link is waiting to retry.

source "$(dirname "$0")/peers-functions.sh"
requires_snapvol
make_certs

start_fake <<'PY'
import uuid

p = coord.wait_register("provider.register")
hold = coord.result(p, "hold.begin", {"volumes": ["v"], "timeout_ms": 20000})

# The coordinator dies for 3 s.  Attempts come after about 0.5, 1.5 and
# 3.5 s (each wait 75-100% of 0.5, 1, 2, 4 s): the link is back within
# about 7.5 s, and not before the coordinator is.
t0 = time.time()
coord.stop()
time.sleep(3)
coord.start()
p = coord.wait_register("provider.register", timeout=10)
took = time.time() - t0
assert 3 <= took <= 8, "registered again %.1f s after the outage began" % took
attempts = sum(1 for e in coord.events if e[1] == "connect" and e[0] >= t0)
assert attempts == 1, "%d connections after the restart" % attempts
assert [v["name"] for v in p.params["volumes"]] == ["v"], p.params

# The hold outlived the connection that took it.
set_id = str(uuid.uuid4())
res = coord.result(p, "hold.commit", {"hold_id": hold["hold_id"], "set_id": set_id})
assert res["set_id"] == set_id and res["snapshots"][0]["volume"] == "v", res
assert coord.result(p, "snapshot.delete", {"id": set_id})["deleted"] == 1
PY

start_snapvol "$tmp/pool" volume=v:16M $(provider_args provider1)
wait_fake

# The coordinator is gone again.  The second connection registered, so
# the backoff starts again from 0.5 s: one attempt, refused, is logged
# within the 2 s (the next waits 1 s at least: its repeat is not
# logged as an error).
sleep 2
t0=$(date +%s%N)
stop_snapvol
t1=$(date +%s%N)
(( (t1 - t0) / 1000000 < 3000 )) || fail "nbdkit took $(( (t1 - t0) / 1000000 )) ms to stop"

errors=$(grep 'error:' "$nbdkit_log" | sed -E 's/[0-9]+\.[0-9] s/N s/')
echo "$errors"
expected="nbdkit: error: coordinator 127.0.0.1:$port: connection closed; reconnecting in N s
nbdkit: error: coordinator 127.0.0.1:$port: connect: Connection refused; retrying in N s, then less often
nbdkit: error: coordinator 127.0.0.1:$port: connection closed; reconnecting in N s
nbdkit: error: coordinator 127.0.0.1:$port: connect: Connection refused; retrying in N s, then less often"
assert_eq "$errors" "$expected" "errors logged by the provider link"
check_sanitizer_log
