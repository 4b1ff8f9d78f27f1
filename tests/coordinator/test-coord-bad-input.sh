#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-bad-input.sh: bad input gets the documented error and
# never crashes the coordinator.  Malformed JSON, batches, invalid
# requests, unknown methods and bad parameters are answered in order
# on a connection that stays open; responses to nothing and
# notifications get no answer; a message over 1 MiB gets one -32600
# error and the connection is closed; a registered peer silent for 3
# heartbeats, a TCP connection without TLS and a TLS connection without
# a request for 10 s are disconnected.

source "$(dirname "$0")/functions.sh"
set -x

# The silent connections below are timed against 10 s; the default
# handshake-timeout is 5 s.
write_conf "handshake-timeout 10s"
start_coordinator

# Connections that never speak, checked at the end (10 s).
/usr/bin/python3 - "$port" >"$tmp/silent-tcp.out" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t = time.monotonic()
while s.recv(4096):
    pass
print("closed after %.1f s" % (time.monotonic() - t))
PY
silent_tcp=$!
/usr/bin/python3 - "$port" "$pki" >"$tmp/silent-tls.out" <<'PY' &
import socket, ssl, sys, time
port, pki = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(pki + "/ca.crt")
ctx.load_cert_chain(pki + "/backup.crt", pki + "/backup.key")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
t = time.monotonic()
try:
    while s.recv(4096):
        pass
except (ssl.SSLError, OSError):
    pass
print("closed after %.1f s" % (time.monotonic() - t))
PY
silent_tls=$!

# One connection, many mistakes, answered in order.
printf '%s\n' \
    '{"jsonrpc":"2.0","id":1,"method":"ping"' \
    '{"jsonrpc":"2.0","id":2,"method":"volume.frob"}' \
    '[{"jsonrpc":"2.0","id":3,"method":"ping"}]' \
    '{"id":4,"method":"ping"}' \
    '{"jsonrpc":"2.0","id":5,"method":"set.get","params":["x"]}' \
    '{"jsonrpc":"2.0","id":6,"method":"set.get","params":{"set_id":"x","sise":1}}' \
    '{"jsonrpc":"2.0","id":7,"method":"set.get","params":{"set_id":"nope"}}' \
    '{"jsonrpc":"2.0","id":99,"result":{}}' \
    '{"jsonrpc":"2.0","method":"ping"}' \
    '' \
    '{"jsonrpc":"2.0","id":8,"method":"set.create","params":{"volumes":["a/b","a/b"]}}' \
    '{"jsonrpc":"2.0","id":9,"method":"set.create","params":{"volumes":["nope"]}}' \
    '{"jsonrpc":"2.0","id":10,"method":"set.create","params":{"volumes":["x/y"]}}' \
    '{"jsonrpc":"2.0","id":11,"method":"set.create","params":{"volumes":"all","writers":7}}' \
    '"just a string"' \
    '{"jsonrpc":"2.0","id":"last","method":"ping"}' >"$tmp/mistakes"
raw_session backup 1 <"$tmp/mistakes" >"$tmp/mistakes.out"
cat "$tmp/mistakes.out"
/usr/bin/python3 - "$tmp/mistakes.out" <<'PY'
import json, re, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "" and lines[-2] == "OPEN", lines[-3:]
lines = lines[:-2]
first = json.loads(lines[0])
assert first["id"] is None and first["error"]["code"] == -32700, first
assert re.match(r"invalid JSON at byte \d+: ", first["error"]["message"]), first
last = json.loads(lines[-1])
assert last["id"] == "last" and isinstance(last["result"]["time"], int), last
expected = [
    '{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"unknown method \'volume.frob\'"}}',
    '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch requests are not supported"}}',
    '{"jsonrpc":"2.0","id":4,"error":{"code":-32600,"message":"missing member \\"jsonrpc\\""}}',
    '{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"params must be an object"}}',
    '{"jsonrpc":"2.0","id":6,"error":{"code":-32602,"message":"unknown member \'sise\'"}}',
    '{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"\'set_id\' is not a UUID: \'nope\'"}}',
    '{"jsonrpc":"2.0","id":8,"error":{"code":-32602,"message":"\'volumes\' names \'a/b\' twice"}}',
    '{"jsonrpc":"2.0","id":9,"error":{"code":-32602,"message":"\'volumes\': \'nope\' is not of the form PROVIDER/VOLUME"}}',
    '{"jsonrpc":"2.0","id":10,"error":{"code":-32001,"message":"no provider named x"}}',
    '{"jsonrpc":"2.0","id":11,"error":{"code":-32602,"message":"\'writers\' must be \\"auto\\", \\"none\\" or an array of writer names"}}',
    '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"a message must be a JSON object, not a string"}}',
]
got = lines[1:-1]
for g, e in zip(got, expected):
    assert g == e, "\ngot      %s\nexpected %s" % (g, e)
assert len(got) == len(expected), got
PY

# Over 1 MiB: one error, then the connection is closed; with and
# without a newline at the end.
/usr/bin/python3 -c 'import sys
sys.stdout.write("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":\"" + "A" * (1 << 20) + "\"}}\n")' \
    >"$tmp/big"
head -c $(( (1 << 20) + 100000 )) /dev/zero | tr '\0' 'B' >"$tmp/big-no-newline"
for f in big big-no-newline; do
    out=$(raw_session backup 5 <"$tmp/$f")
    assert_eq "$out" '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"message longer than 1048576 bytes"}}
CLOSED' "answer to $f"
done
grep -q "sent a message longer than 1048576 bytes" "$coord_log" || fail "not logged"

# A writer that stops sending pings is dropped after 3 heartbeats (1 s);
# one that pings stays.
start_peer writer-db writer-db writer --volume storage-a/db
start_peer writer-logs writer-logs writer --volume storage-a/logs --silent
wait_for grep -q '"disconnected"' "$tmp/writer-logs.events"
/usr/bin/python3 -c 'import json, sys
ev = {json.loads(l)["event"]: json.loads(l)["t"] for l in open(sys.argv[1])}
gap = ev["disconnected"] - ev["registered"]
assert 2.8 <= gap <= 4.5, "disconnected %.2f s after registering" % gap
' "$tmp/writer-logs.events"
grep -q "peer #[0-9]* (CN=writer-logs,O=snapvol-test): no message for 3000 ms (3 heartbeats of 1000 ms)" "$coord_log" ||
    fail "heartbeat timeout not logged"
out=$(rpc backup writer.list)
assert_eq "$(jget "$out" '[(w["name"], w["connected"], w["state"]) for w in j["result"]]')" \
    '[["writer-db", true, "stable"], ["writer-logs", false, "disconnected"]]' \
    "writers after the heartbeat timeout"
! grep -q '"disconnected"' "$tmp/writer-db.events" || fail "writer-db was dropped"

wait "$silent_tcp" "$silent_tls"
for f in silent-tcp silent-tls; do
    grep -Eq '^closed after (9\.[5-9]|1[01]\.[0-9]) s$' "$tmp/$f.out" ||
        fail "$f: $(cat "$tmp/$f.out")"
done
grep -q "no TLS handshake within 10000 ms of connecting" "$coord_log" || fail "handshake timeout not logged"
grep -q "(CN=backup,O=snapvol-test): no request within 10000 ms of connecting" "$coord_log" ||
    fail "first-request timeout not logged"

# Still serving.
out=$(rpc backup ping)
jget "$out" 'j["result"]["time"]' | grep -Eq '^[0-9]+$' || fail "ping: $out"
stop_coordinator
