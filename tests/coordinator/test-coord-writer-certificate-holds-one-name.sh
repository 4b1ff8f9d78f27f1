#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-writer-certificate-holds-one-name.sh: a writer name and a
# writer certificate are bound both ways.  A certificate that holds a
# writer name cannot register a second one (-32011, logged), whether
# its writer is connected or not and across a restart; another
# certificate cannot take the name (-32011); the same certificate
# registering its own name again is accepted and replaces the older
# connection.  Once an admin forgets the name, the certificate may
# register another.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer writer-db writer-db writer --volume storage-a/db

# refused NAME WHO: peer.py as writer NAME with WHO's certificate is
# refused and sent nothing; prints the refusal.
refused ()
{
    local status=0
    rm -f "$tmp/refused.events"
    # shellcheck disable=SC2046
    timeout 20 /usr/bin/python3 "$PEER_PY" $(peer_tls "$2") writer --name "$1" \
        --volume storage-a/logs --events "$tmp/refused.events" >"$tmp/refused.out" 2>&1 || status=$?
    assert_eq "$status" 1 "exit status of $2 registering as writer $1"
    assert_eq "$(/usr/bin/python3 -c 'import json, sys
print(" ".join(json.loads(l)["event"] for l in open(sys.argv[1])))' "$tmp/refused.events")" \
        "connected refused" "events of $2 as writer $1"
    sed -n 's/^REGISTER-ERROR: //p' "$tmp/refused.out"
}

second_name='{"code": -32011, "message": "certificate CN=writer-db,O=snapvol-test is bound to writer writer-db: a certificate registers one writer name; an admin must forget writer writer-db (writer.forget) before this certificate may register as writer writer-other"}'
taken='{"code": -32011, "message": "writer writer-db is bound to another certificate (CN=writer-db,O=snapvol-test): an admin must forget it (writer.forget) before another certificate may register under that name"}'

# A second name from the same certificate, while its writer is connected.
assert_eq "$(refused writer-other writer-db)" "$second_name" "writer-db's certificate as writer-other"
grep -q "(CN=writer-db,O=snapvol-test): refused to register as writer writer-other: the certificate is bound to writer writer-db" "$coord_log" ||
    fail "the refusal is not logged"
# The name from another certificate.
assert_eq "$(refused writer-db writer-logs)" "$taken" "writer-logs's certificate as writer-db"

# The same certificate registering its own name again: accepted, the
# older connection is replaced.
# shellcheck disable=SC2046
/usr/bin/python3 "$PEER_PY" $(peer_tls writer-db) writer --name writer-db \
    --volume storage-a/db --events "$tmp/again.events" --ready "$tmp/again.ready" \
    >"$tmp/again.out" 2>&1 &
again_pid=$!
cleanup_fn kill "$again_pid"
wait_for test -e "$tmp/again.ready"
wait_for grep -q '"disconnected"' "$tmp/writer-db.events"
grep -q "replaced by a new registration of writer writer-db" "$coord_log" ||
    fail "the older connection was not replaced"
out=$(rpc backup writer.list)
assert_eq "$(jget "$out" '[[w["name"], w["subject"], w["connected"], w["volumes"]] for w in j["result"]]')" \
    '[["writer-db", "CN=writer-db,O=snapvol-test", true, ["storage-a/db"]]]' "writer.list"
kill "$again_pid"
wait "$again_pid" || :
stop_peer writer-db
wait_for eval '[ "$(jget "$(rpc backup writer.list)" "[w[\"connected\"] for w in j[\"result\"]]")" = "[false]" ]'

# Away, and after a restart: the binding is the catalog's.
stop_coordinator
start_coordinator
assert_eq "$(refused writer-other writer-db)" "$second_name" \
    "writer-db's certificate as writer-other after a restart"
assert_eq "$(refused writer-db writer-logs)" "$taken" \
    "writer-logs's certificate as writer-db after a restart"

# An admin forgets writer-db: the certificate may take another name.
assert_eq "$(rpc ops writer.forget '{"name":"writer-db"}')" '{"jsonrpc":"2.0","id":1,"result":{}}' \
    "writer.forget"
start_peer writer-other writer-db writer --volume storage-a/db
out=$(rpc backup writer.list)
assert_eq "$(jget "$out" '[[w["name"], w["subject"], w["connected"]] for w in j["result"]]')" \
    '[["writer-other", "CN=writer-db,O=snapvol-test", true]]' "writer.list after forgetting writer-db"
stop_peer writer-other
stop_coordinator
