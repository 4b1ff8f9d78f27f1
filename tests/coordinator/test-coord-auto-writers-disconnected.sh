#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-auto-writers-disconnected.sh: with writers "auto" (the
# default), a set whose volumes have a registered writer that is not
# connected is refused with -32009 before anything is recorded or any
# writer or provider is asked to freeze or hold; the error names every
# such writer and the ways on (writers "none", a list, writer.forget).
# Each of those ways then works, and a set whose volumes have no
# absent writer is not affected.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 --volume logs:1048576
start_peer writer-db writer-db writer --volume storage-a/db
start_peer writer-logs writer-logs writer --volume storage-a/logs

# writer-db goes away; the coordinator keeps it registered.
stop_peer writer-db
db_away () {
    [ "$(jget "$(rpc backup writer.list)" '[w["connected"] for w in j["result"]]')" = '[false, true]' ]
}
wait_for db_away

both='"volumes":["storage-a/db","storage-a/logs"]'
out=$(rpc backup set.create "{$both,\"label\":\"auto\"}")
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32009,"message":"writers \"auto\": writer writer-db is registered for volumes of the set but not connected: start it, or name the writers of the set (\"writers\": [...]), or ask for none (\"writers\": \"none\"), or forget it (writer.forget)","data":{"writers":["writer-db"]}}}' \
    "auto with one writer away"
# Nothing was frozen, held or recorded: the provider was only asked
# for its volumes, the connected writer for nothing.
assert_eq "$(calls storage-a)" "volume.list" "calls to storage-a"
assert_eq "$(calls writer-logs)" "" "calls to writer-logs"
assert_eq "$(rpc backup set.list)" '{"jsonrpc":"2.0","id":1,"result":[]}' "sets recorded"
grep -q 'set.create refused: writers "auto": writer writer-db is registered' "$coord_log" ||
    fail "the refusal is not logged"

# A set of volumes whose writers are all here is not affected.
out=$(rpc backup set.create '{"volumes":["storage-a/logs"]}')
assert_eq "$(jget "$out" '[j["result"]["state"]] + [[p["name"], p["state"]] for p in j["result"]["participants"]]')" \
    '["committed", ["writer-logs", "done"], ["storage-a", "committed"]]' "a set of storage-a/logs"

# Both away: both named, in order.
stop_peer writer-logs
logs_away () {
    [ "$(jget "$(rpc backup writer.list)" '[w["connected"] for w in j["result"]]')" = '[false, false]' ]
}
wait_for logs_away
out=$(rpc backup set.create "{$both}")
assert_eq "$(jget "$out" '[j["error"]["code"], j["error"]["message"], j["error"]["data"]]')" \
    '[-32009, "writers \"auto\": writers writer-db, writer-logs are registered for volumes of the set but not connected: start them, or name the writers of the set (\"writers\": [...]), or ask for none (\"writers\": \"none\"), or forget them (writer.forget)", {"writers": ["writer-db", "writer-logs"]}]' \
    "auto with two writers away"

# The ways on.  "none": a crash-consistent set, asked for.
out=$(rpc backup set.create "{$both,\"writers\":\"none\"}")
assert_eq "$(jget "$out" '[j["result"]["state"]] + [[p["kind"], p["name"]] for p in j["result"]["participants"]]')" \
    '["committed", ["provider", "storage-a"]]' "writers none"
# A list: its writers must be connected.
out=$(rpc backup set.create "{$both,\"writers\":[\"writer-logs\"]}")
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32009,"message":"writer writer-logs is not connected"}}' \
    "a named writer that is away"
start_peer writer-logs writer-logs writer --volume storage-a/logs
out=$(rpc backup set.create "{$both,\"writers\":[\"writer-logs\"]}")
assert_eq "$(jget "$out" '[j["result"]["state"]] + [[p["name"], p["state"]] for p in j["result"]["participants"]]')" \
    '["committed", ["writer-logs", "done"], ["storage-a", "committed"]]' "writers [writer-logs]"
# Forgetting the absent writer: auto takes the one that is left.
out=$(rpc ops writer.forget '{"name":"writer-db"}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"result":{}}' "writer.forget"
out=$(rpc backup set.create "{$both}")
assert_eq "$(jget "$out" '[j["result"]["state"]] + [[p["name"], p["state"]] for p in j["result"]["participants"]]')" \
    '["committed", ["writer-logs", "done"], ["storage-a", "committed"]]' "auto after writer.forget"
# writer-logs took part in three sets, and was never called while away.
assert_eq "$(calls_with writer-logs set_id | cut -d' ' -f1 | sort | uniq -c | awk '{print $2, $1}')" \
    "writer.freeze 3
writer.post_snapshot 3
writer.prepare 3
writer.thaw 3" "calls to writer-logs"
stop_coordinator
