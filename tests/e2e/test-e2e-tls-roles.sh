#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-tls-roles.sh: what each certificate lets a real client do.
# A TLS client without a certificate, and one with a certificate from
# another CA, get no further than the handshake: no answer, nothing
# registered.  A certificate with no role is told so and closed.  A
# writer's certificate cannot create a set (snapvolctl names the role;
# no set is recorded).  nbdkit given the requester's certificate as a
# provider is refused registration: the provider list does not show it
# and nbdkit's log says why.  The requester's certificate works.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M

# tls_ping [WHO]: a ping over TLS with the system's ssl module, with
# WHO's certificate (none if not given); prints "answered: LINE" or
# "refused: WHY".
tls_ping ()
{
    /usr/bin/python3 - "$pki" "$port" "${1:-}" <<'PY'
import socket, ssl, sys
pki, port, who = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki + "/ca.crt")
if who:
    ctx.load_cert_chain(pki + "/" + who + ".crt", pki + "/" + who + ".key")
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    print("answered: " + data.decode().strip() if data else "refused: closed without an answer")
except (ssl.SSLError, OSError) as e:
    print("refused: %s" % e)
PY
}

# The requester's certificate gets an answer: the probe itself works.
tls_ping backup >"$tmp/backup.ping"
grep -Eq '^answered: \{"jsonrpc":"2.0","id":1,"result":\{"time":[0-9]+\}\}$' "$tmp/backup.ping" ||
    fail "the requester's ping: $(cat "$tmp/backup.ping")"

# No certificate: the handshake fails (TLS 1.3 tells the client with
# an alert after its Finished, so the failure shows at the first read);
# the coordinator logs why.
tls_ping >"$tmp/none.ping"
cat "$tmp/none.ping"
grep -q '^refused: ' "$tmp/none.ping" || fail "a client without a certificate: $(cat "$tmp/none.ping")"
grep -q 'TLS handshake with 127.0.0.1:[0-9]* failed: .*peer did not return a certificate' "$coord_log" ||
    fail "the coordinator did not log the handshake without a certificate"
# A certificate from another CA: the same.
tls_ping intruder >"$tmp/intruder.ping"
cat "$tmp/intruder.ping"
grep -q '^refused: ' "$tmp/intruder.ping" || fail "a client with another CA's certificate: $(cat "$tmp/intruder.ping")"
grep -q 'TLS handshake with 127.0.0.1:[0-9]* failed: .*certificate verify failed' "$coord_log" ||
    fail "the coordinator did not log the handshake with another CA's certificate"
# openssl s_client without a certificate: no JSON comes back either.
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"set.list"}' |
    timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$pki/ca.crt" \
        -verify_return_error -quiet >"$tmp/s_client.out" 2>"$tmp/s_client.err" || :
cat "$tmp/s_client.out" "$tmp/s_client.err"
! grep -q jsonrpc "$tmp/s_client.out" || fail "openssl s_client without a certificate got an answer"
grep -Eiq 'alert|error' "$tmp/s_client.err" || fail "openssl s_client reported no TLS failure"

# snapvolctl with another CA's certificate, and with no role.  (The
# coordinator closes at once after a failed handshake: the client may
# see the alert, or only the connection closing when the alert is lost
# to the reset of its unread request.)
expect_error 'unknown ca|certificate|connection closed' ctl_as intruder set create storage-a/db
expect_error 'has no role' ctl_as nobody set list

# A writer's certificate may not create a set, and none is recorded.
expect_error 'role writer may not call set\.create' ctl_as writer-db set create storage-a/db
status=0
ctl_as writer-db --json set create storage-a/db >/dev/null 2>&1 || status=$?
assert_eq "$status" 1 "exit status of set create with a writer's certificate"
assert_eq "$(ctl --json set list)" '[]' "sets after the refused set create"

# nbdkit with the requester's certificate as provider storage-c: it
# serves NBD, but the coordinator refuses its registration.
start_provider --no-wait --cert backup storage-c vol:8M
refused () { grep -q 'role requester may not call provider\.register' "$tmp/storage-c.log"; }
poll 20 refused
grep 'provider.register' "$tmp/storage-c.log"
assert_eq "$(ctl --json provider list | jq -c '[.[] | [.name, .connected]]')" \
    '[["storage-a",true]]' "provider list with storage-c refused"
assert_eq "$(ctl --json volumes | jq -c '[.[] | [.provider, .volume]]')" \
    '[["storage-a","db"]]' "volumes with storage-c refused"
nbd_write "$(puri storage-c vol)" 0 "served anyway"
assert_eq "$(nbd_read "$(puri storage-c vol)" 0 13)" "served anyway" "storage-c's own NBD service"

# Nothing the refused clients did is in the registry; the requester and
# the admin certificates work.
assert_eq "$(ctl --json writer list)" '[]' "writer list"
ctl --json set create storage-a/db --label ok >"$tmp/ok.json"
assert_eq "$(jq -c '[.state, .label, [.snapshots[] | .provider]]' "$tmp/ok.json")" \
    '["committed","ok",["storage-a"]]' "the requester's set"
assert_eq "$(ctl_as ops --json set list | jq -c '[.[] | .set_id]')" \
    "[\"$(jq -r .set_id "$tmp/ok.json")\"]" "set list as the admin"
stop_provider storage-c
stop_provider storage-a
stop_coordinator
check_logs
