#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-hold-commit-lease.sh: the two-phase pin of the control socket, as
# a coordinator drives it.  hold.begin holds new writes; hold.commit pins
# what was written before the hold and lets the held writes through,
# after the pin; a hold whose lease runs out releases the writes by
# itself, and committing it then fails with SV_RPC_EXPIRED.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq
set -x

start_snapvol "$tmp/pool" volume=v:64M
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\xaa" * 65536, 0); h.flush()'

# rpc METHOD PARAMS-JSON: one JSON-RPC call on the control socket;
# prints the whole response.
rpc ()
{
    method=$1 params=$2 python3 - "$ctl" <<'PY'
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = {"jsonrpc": "2.0", "id": 1, "method": os.environ["method"],
       "params": json.loads(os.environ["params"])}
s.sendall(json.dumps(req).encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode().strip())
PY
}

# start_write BYTE DONE-FILE: write 64 KiB of BYTE at offset 0 in the
# background; DONE-FILE appears when the write has completed.
start_write ()
{
    byte=$1 marker=$2 nbdsh -u "$(uri v)" -c - <<'PY' &
import os
h.pwrite(bytes([int(os.environ["byte"], 16)]) * 65536, 0)
open(os.environ["marker"], "w").close()
PY
    writer=$!
}

# wait_for FILE SECONDS: true if FILE appears within SECONDS.
wait_for ()
{
    local i
    for (( i = 0; i < $2 * 10; i++ )); do
        [ -e "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# 1. Hold, write, commit: the held write lands after the pin.
rpc hold.begin '{"volumes": ["v"], "timeout_ms": 10000}' | tee "$tmp/begin.json"
hold_id=$(jq -r .result.hold_id "$tmp/begin.json")
assert_eq "$(jq -c .result.volumes "$tmp/begin.json")" '["v"]' "held volumes"
(( $(jq .result.expires_in_ms "$tmp/begin.json") <= 10000 )) || fail "lease longer than asked"

start_write bb "$tmp/write1.done"
sleep 1
[ ! -e "$tmp/write1.done" ] || fail "a write completed while the volume was held"

set_id=$(cat /proc/sys/kernel/random/uuid)
rpc hold.commit "{\"hold_id\": \"$hold_id\", \"set_id\": \"$set_id\", \"label\": \"held\"}" |
    tee "$tmp/commit.json"
assert_eq "$(jq -r .result.set_id "$tmp/commit.json")" "$set_id" "committed set id"
exp=$(jq -r '.result.snapshots[0].export' "$tmp/commit.json")
wait_for "$tmp/write1.done" 10 || fail "the held write did not complete after the commit"
wait "$writer"

nbdsh -u "$(uri "$exp")" -c 'assert h.pread(65536, 0) == b"\xaa" * 65536, "the held write is in the snapshot"'
nbdsh -u "$(uri v)" -c 'assert h.pread(65536, 0) == b"\xbb" * 65536, "the held write was lost"'

# 2. A lease that runs out releases the writes, and cannot be committed.
rpc hold.begin '{"volumes": ["v"], "timeout_ms": 1000}' | tee "$tmp/begin2.json"
hold_id=$(jq -r .result.hold_id "$tmp/begin2.json")
start_write cc "$tmp/write2.done"
wait_for "$tmp/write2.done" 10 || fail "the write stayed held after the lease expired"
wait "$writer"
rpc hold.commit "{\"hold_id\": \"$hold_id\", \"set_id\": \"$(cat /proc/sys/kernel/random/uuid)\"}" |
    tee "$tmp/commit2.json"
assert_eq "$(jq .error.code "$tmp/commit2.json")" -32006 "commit of an expired hold"
assert_eq "$(snapvolctl --json snapshot list | jq length)" 1 "snapshots after an expired hold"
assert_eq "$(rpc hold.release "{\"hold_id\": \"$hold_id\"}" | jq .result.released)" false \
    "release of an expired hold"

# 3. Release: the writes go on, nothing is pinned; releasing again is harmless.
rpc hold.begin '{"volumes": ["v"]}' | tee "$tmp/begin3.json"
hold_id=$(jq -r .result.hold_id "$tmp/begin3.json")
start_write dd "$tmp/write3.done"
sleep 0.5
[ ! -e "$tmp/write3.done" ] || fail "a write completed while the volume was held"
assert_eq "$(rpc hold.release "{\"hold_id\": \"$hold_id\"}" | jq .result.released)" true "release"
wait_for "$tmp/write3.done" 10 || fail "the write stayed held after the release"
wait "$writer"
assert_eq "$(rpc hold.release "{\"hold_id\": \"$hold_id\"}" | jq .result.released)" false "second release"
assert_eq "$(snapvolctl --json snapshot list | jq length)" 1 "snapshots after a released hold"

# 4. Unknown holds.
rpc hold.commit "{\"hold_id\": \"$(cat /proc/sys/kernel/random/uuid)\", \"set_id\": \"$set_id\"}" |
    tee "$tmp/commit4.json"
assert_eq "$(jq .error.code "$tmp/commit4.json")" -32001 "commit of an unknown hold"

nbdsh -u "$(uri v)" -c 'assert h.pread(65536, 0) == b"\xdd" * 65536'
stop_snapvol
check_sanitizer_log
