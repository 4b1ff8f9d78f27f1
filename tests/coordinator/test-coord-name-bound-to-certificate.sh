#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-name-bound-to-certificate.sh: a provider or writer name
# belongs to the certificate subject that first registered it, also
# while it is away and after a restart of the coordinator: another
# certificate with the same role is refused with -32011 and is sent
# nothing (not the deletions queued for the name, and its nbd_uri is
# not recorded).  provider.forget / writer.forget free the name; a
# provider's queued deletions are dropped with it (and logged), so the
# next holder of the name is not sent them.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 \
    --nbd-uri nbd://10.0.0.1:10809 --disconnect-on hold.begin
start_peer writer-db writer-db writer --volume storage-a/db

# A set that fails with storage-a gone: its deletion waits for storage-a.
rpc backup set.create '{"volumes":["storage-a/db"]}' >"$tmp/create.json"
set_id=$(jget "$(cat "$tmp/create.json")" 'j["error"]["data"]["set_id"]')
assert_eq "$(jget "$(cat "$tmp/create.json")" '[j["error"]["code"], [[p["name"], p["state"]] for p in j["error"]["data"]["participants"]]]')" \
    '[-32010, [["writer-db", "aborted"], ["storage-a", "failed"]]]' "the failed set"
stop_peer writer-db
wait_for eval '[ "$(jget "$(rpc backup writer.list)" "[w[\"connected\"] for w in j[\"result\"]]")" = "[false]" ]'

# impostor NAME WHO MODE ARGS...: peer.py as NAME with WHO's
# certificate; it must be refused.  Prints the refusal.
impostor ()
{
    local name=$1 who=$2 mode=$3 status=0
    shift 3
    rm -f "$tmp/impostor.events"
    # shellcheck disable=SC2046
    timeout 20 /usr/bin/python3 "$PEER_PY" $(peer_tls "$who") "$mode" --name "$name" \
        --events "$tmp/impostor.events" "$@" >"$tmp/impostor.out" 2>&1 || status=$?
    assert_eq "$status" 1 "exit status of $who registering as $mode $name"
    # It was sent nothing: registered never, called never.
    assert_eq "$(/usr/bin/python3 -c 'import json, sys
print(" ".join(json.loads(l)["event"] for l in open(sys.argv[1])))' "$tmp/impostor.events")" \
        "connected refused" "events of $who as $name"
    sed -n 's/^REGISTER-ERROR: //p' "$tmp/impostor.out"
}

provider_refusal='{"code": -32011, "message": "provider storage-a is bound to another certificate (CN=storage-a,O=snapvol-test): an admin must forget it (provider.forget) before another certificate may register under that name"}'
writer_refusal='{"code": -32011, "message": "writer writer-db is bound to another certificate (CN=writer-db,O=snapvol-test): an admin must forget it (writer.forget) before another certificate may register under that name"}'

# Another provider certificate takes the name of the provider away.
assert_eq "$(impostor storage-a storage-b provider --volume db:1048576 --nbd-uri nbd://10.6.6.6:1)" \
    "$provider_refusal" "storage-b registering as provider storage-a"
assert_eq "$(impostor writer-db writer-logs writer --volume storage-a/db)" \
    "$writer_refusal" "writer-logs registering as writer writer-db"
grep -q "refused to register as provider storage-a, which is bound to the certificate CN=storage-a,O=snapvol-test" "$coord_log" ||
    fail "the refusal is not logged"

# The binding is in the catalog: it survives a restart.
stop_coordinator
start_coordinator
assert_eq "$(impostor storage-a storage-b provider --volume db:1048576 --nbd-uri nbd://10.6.6.6:1)" \
    "$provider_refusal" "storage-b registering as storage-a after a restart"
assert_eq "$(impostor writer-db writer-logs writer)" \
    "$writer_refusal" "writer-logs registering as writer-db after a restart"
out=$(rpc backup provider.list)
assert_eq "$(jget "$out" '[[p["name"], p["subject"], p["nbd_uri"], p["connected"]] for p in j["result"]]')" \
    '[["storage-a", "CN=storage-a,O=snapvol-test", "nbd://10.0.0.1:10809", false]]' "provider.list"
out=$(rpc backup writer.list)
assert_eq "$(jget "$out" '[[w["name"], w["subject"], w["connected"]] for w in j["result"]]')" \
    '[["writer-db", "CN=writer-db,O=snapvol-test", false]]' "writer.list"
grep -q "deleting what remains of snapshot set" "$coord_log" &&
    fail "a deletion was sent to an impostor"

# An admin forgets them: storage-a's queued deletion goes with it.
assert_eq "$(rpc ops provider.forget '{"name":"storage-a"}')" '{"jsonrpc":"2.0","id":1,"result":{}}' \
    "provider.forget"
assert_eq "$(rpc ops writer.forget '{"name":"writer-db"}')" '{"jsonrpc":"2.0","id":1,"result":{}}' \
    "writer.forget"
grep -q "provider storage-a forgotten: dropped its queued deletion of snapshot set $set_id (delete it there by hand if the provider still has it)" "$coord_log" ||
    fail "the dropped deletion is not logged"
assert_eq "$(rpc ops provider.forget '{"name":"storage-a"}')" \
    '{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"no provider named storage-a"}}' \
    "provider.forget of a forgotten provider"
assert_eq "$(rpc ops writer.forget '{"name":"writer-db"}')" \
    '{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"no writer named writer-db"}}' \
    "writer.forget of a forgotten writer"

# Now the other certificates may take the names, and are sent nothing
# of what the old holder left.
rm -f "$tmp/storage-a.events" "$tmp/writer-db.events"
start_peer storage-a storage-b provider --volume db:1048576 --nbd-uri nbd://10.0.0.2:10809
start_peer writer-db writer-logs writer --volume storage-a/db
sleep 1
assert_eq "$(calls storage-a)" "" "calls to the new storage-a"
out=$(rpc backup provider.list)
assert_eq "$(jget "$out" '[[p["name"], p["subject"], p["nbd_uri"], p["connected"]] for p in j["result"]]')" \
    '[["storage-a", "CN=storage-b,O=snapvol-test", "nbd://10.0.0.2:10809", true]]' "provider.list after the new registration"
# ... and the name is theirs from now on.
stop_peer storage-a
stop_peer writer-db
wait_for eval '[ "$(jget "$(rpc backup provider.list)" "[p[\"connected\"] for p in j[\"result\"]]")" = "[false]" ]'
assert_eq "$(impostor storage-a storage-a provider --volume db:1048576)" \
    '{"code": -32011, "message": "provider storage-a is bound to another certificate (CN=storage-b,O=snapvol-test): an admin must forget it (provider.forget) before another certificate may register under that name"}' \
    "the first certificate registering as storage-a after the name moved"
stop_coordinator
/usr/bin/python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
assert db.execute("SELECT count(*) FROM pending_deletions").fetchone()[0] == 0
assert db.execute("SELECT name, subject FROM providers").fetchall() == [("storage-a", "CN=storage-b,O=snapvol-test")]
assert db.execute("SELECT name, subject FROM writers").fetchall() == [("writer-db", "CN=writer-logs,O=snapvol-test")]
' "$catalog"
