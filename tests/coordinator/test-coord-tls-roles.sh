#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-tls-roles.sh: who may talk to the coordinator.  A peer
# without a certificate, or with one from another CA, fails the TLS
# handshake and gets no answer; a verified certificate with no role
# gets one -32007 error and is disconnected; a method outside the
# caller's roles gets -32007 and the connection stays usable.  The
# coordinator's certificate is valid for 127.0.0.1 and localhost.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator

# No client certificate: the coordinator aborts the handshake.
out=$(/usr/bin/python3 "$PEER_PY" --ca "$pki/ca.crt" --port "$port" call ping) || :
echo "$out"
# (As below, the alert may be lost with the connection: EOF.  The
# coordinator's log says which check refused it.)
case $out in
    "TLS-ERROR: "*"certificate required"*|"TLS-ERROR: EOF occurred"*|CLOSED) ;;
    *) fail "a peer without a certificate got: $out" ;;
esac
wait_for grep -q "TLS handshake with 127.0.0.1:[0-9]* failed: .*peer did not return a certificate" "$coord_log"

# A certificate from another CA (with a CN that has a role here).
out=$(rpc intruder ping) || :
echo "$out"
# (The alert may be lost with the connection: the client then sees EOF.)
case $out in
    "TLS-ERROR: "*"unknown ca"*|"TLS-ERROR: EOF occurred"*|CLOSED) ;;
    *) fail "a peer with a certificate of another CA got: $out" ;;
esac
wait_for grep -q "TLS handshake with 127.0.0.1:[0-9]* failed: .*certificate verify failed" "$coord_log"

# A verified certificate with no role: one error, then the end.
out=$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"ping"}' | raw_session nobody)
assert_eq "$out" '{"jsonrpc":"2.0","id":null,"error":{"code":-32007,"message":"certificate CN=nobody,O=snapvol-test has no role"}}
CLOSED' "a certificate without a role"
grep -q "refused from 127.0.0.1:[0-9]*: certificate CN=nobody,O=snapvol-test has no role" "$coord_log" ||
    fail "the refusal is not logged"

# Methods outside the caller's roles; the connection stays open.
out=$(printf '%s\n' \
    '{"jsonrpc":"2.0","id":1,"method":"set.create","params":{"volumes":"all"}}' \
    '{"jsonrpc":"2.0","id":2,"method":"provider.register","params":{}}' \
    '{"jsonrpc":"2.0","id":3,"method":"set.list"}' \
    '{"jsonrpc":"2.0","id":"p","method":"ping"}' | raw_session writer-db 1)
echo "$out"
/usr/bin/python3 -c 'import json, sys
lines = sys.argv[1].split("\n")
assert lines[:3] == [
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32007,\"message\":\"role writer may not call set.create\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32007,\"message\":\"role writer may not call provider.register\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32007,\"message\":\"role writer may not call set.list\"}}"], lines
p = json.loads(lines[3])
assert p["id"] == "p" and isinstance(p["result"]["time"], int), p
assert lines[4:] == ["OPEN"], lines
' "$out"

out=$(rpc backup provider.forget '{"name":"storage-a"}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32007,"message":"role requester may not call provider.forget"}}' \
    "a requester forgetting a provider"
out=$(rpc storage-a set.get '{"set_id":"00000000-0000-4000-8000-000000000000"}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32007,"message":"role provider may not call set.get"}}' \
    "a provider calling set.get"
out=$(rpc ops provider.forget '{"name":"storage-a"}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"no provider named storage-a"}}' \
    "an admin forgetting an unknown provider"
# Roles come before parameters: a forbidden call learns nothing of them.
out=$(rpc backup writer.forget '{"bogus":1}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32007,"message":"role requester may not call writer.forget"}}' \
    "a forbidden call with bad parameters"

# A provider name is bound to its certificate (more in
# test-coord-name-bound-to-certificate.sh).
start_peer storage-a storage-a provider --volume db:1048576
out=$(rpc storage-b provider.register '{"name":"storage-a","nbd_uri":"nbd://h:1","volumes":[]}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32011,"message":"provider storage-a is bound to another certificate (CN=storage-a,O=snapvol-test): an admin must forget it (provider.forget) before another certificate may register under that name"}}' \
    "taking the name of a connected provider"
out=$(rpc ops provider.forget '{"name":"storage-a"}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"provider storage-a is connected"}}' \
    "forgetting a connected provider"

# The coordinator's certificate names localhost too.
out=$(/usr/bin/python3 "$PEER_PY" --ca "$pki/ca.crt" --cert "$pki/ops.crt" \
    --key "$pki/ops.key" --host localhost --port "$port" call provider.list)
assert_eq "$(jget "$out" '[p["name"] for p in j["result"]]')" '["storage-a"]' \
    "provider.list through localhost"
stop_coordinator
