#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-cross-volume-consistency.sh: snapshot sets across two nbdkit
# processes are taken at one instant.  A client writes increasing
# sequence numbers alternately to a volume on each (n to A, wait for
# the write to complete, n to B, n+1 to A, ...) while 16 sets are taken
# through the coordinator.  In every set, with a and b the numbers in
# the snapshots of A and B: b <= a <= b + 1 (a snapshot of B taken
# later than A's would let b pass a); across sets the numbers never go
# back; and they moved (the client was running), none torn.

source "$(dirname "$0")/functions.sh"
set -x

nsets=16
write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:8M

# The client: each write is one 4 KiB block at offset 0 holding the
# number 512 times (a torn write would show).  It runs until
# $tmp/stop exists, then prints the last number it wrote to both.
cat >"$tmp/client.py" <<'PY'
import os, struct, sys
import nbd
uri_a, uri_b, stop = sys.argv[1:4]
a, b = nbd.NBD(), nbd.NBD()
a.connect_uri(uri_a)
b.connect_uri(uri_b)
n = 0
while not os.path.exists(stop):
    n += 1
    block = struct.pack("<Q", n) * 512
    a.pwrite(block, 0)
    b.pwrite(block, 0)
a.flush()
b.flush()
a.shutdown()
b.shutdown()
print(n)
PY
/usr/bin/python3 "$tmp/client.py" "$(puri storage-a db)" "$(puri storage-b logs)" \
    "$tmp/stop" >"$tmp/client.out" 2>"$tmp/client.log" &
client_pid=$!
cleanup_fn kill "$client_pid"

# The client has started writing before the first set.
started () { [ "$(nbd_read "$(puri storage-b logs)" 0 8 | od -An -tu8 | tr -d ' ')" -gt 0 ]; }
poll 10 started

for (( i = 1; i <= nsets; i++ )); do
    ctl --json set create storage-a/db storage-b/logs --writers none \
        --label "seq-$i" >"$tmp/set-$i.json"
    assert_eq "$(jq -r .state "$tmp/set-$i.json")" committed "state of set $i"
    kill -0 "$client_pid" || fail "the client died"
    sleep 0.1
done
touch "$tmp/stop"
status=0
wait "$client_pid" || status=$?
cat "$tmp/client.log"
assert_eq "$status" 0 "exit status of the client"
last=$(cat "$tmp/client.out")

# Read every snapshot back over NBD and check the invariants.
/usr/bin/python3 - "$tmp" "$nsets" "$last" <<'PY'
import json, struct, sys
import nbd
tmp, nsets, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def seq(uri):
    h = nbd.NBD()
    h.connect_uri(uri)
    data = h.pread(4096, 0)
    h.shutdown()
    values = set(struct.unpack("<512Q", data))
    assert len(values) == 1, "%s: torn block: %s" % (uri, sorted(values)[:4])
    return values.pop()

prev = (0, 0)
seen = []
for i in range(1, nsets + 1):
    s = json.load(open("%s/set-%d.json" % (tmp, i)))
    uris = {x["provider"]: x["uri"] for x in s["snapshots"]}
    assert sorted(uris) == ["storage-a", "storage-b"], s["snapshots"]
    a, b = seq(uris["storage-a"]), seq(uris["storage-b"])
    print("set %2d %s: a=%d b=%d" % (i, s["set_id"], a, b))
    assert b <= a <= b + 1, "set %d: a=%d b=%d: not one instant" % (i, a, b)
    assert a >= prev[0] and b >= prev[1], "set %d went back: %s -> %s" % (i, prev, (a, b))
    prev = (a, b)
    seen.append(a)
# Plausible: the client wrote before the first set, kept writing
# through them, and wrote no less than the last set shows.
assert seen[0] > 0, seen
assert len(set(seen)) >= nsets // 2, "the numbers hardly moved: %s" % seen
assert last >= seen[-1], (last, seen[-1])
print("client wrote %d, sets saw %d..%d" % (last, seen[0], seen[-1]))
PY

# The live volumes end with the client's last number on both.
for v in storage-a/db storage-b/logs; do
    assert_eq "$(nbd_read "$(puri "${v%/*}" "${v#*/}")" 0 8 | od -An -tu8 | tr -d ' ')" "$last" \
        "the last number on $v"
done
assert_eq "$(ctl --json set list | jq length)" "$nsets" "sets recorded"
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq length)" "$nsets" "snapshots on $p"
done

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
