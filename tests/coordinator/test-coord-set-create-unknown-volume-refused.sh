#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-set-create-unknown-volume-refused.sh: set.create naming a
# volume its provider does not have, or a provider that is not
# registered, is refused with -32001 naming it, after the refresh and
# before anything is recorded: no writer is called, no set is in the
# catalog.  A set of the provider's two volumes, named in the other
# order than the provider lists them, is then taken with its snapshots
# in the order asked, and the writer registered for one of them gets
# that volume and its snapshot only.
source "$(dirname "$0")/functions.sh"
set -x
write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 --volume logs:1048576
start_peer writer-db writer-db writer --volume storage-a/db

# refused PARAMS MESSAGE: set.create with PARAMS is answered -32001
# with MESSAGE.
refused ()
{
    local out
    out=$(rpc backup set.create "$1")
    assert_eq "$(jget "$out" '[j["error"]["code"], j["error"]["message"]]')" \
        "$(jget "[-32001, $(jget "{\"m\": \"$2\"}" 'json.dumps(j["m"])')]" 'j')" \
        "set.create $1"
}

refused '{"volumes":["storage-a/db","storage-a/nothing"]}' \
    "provider storage-a has no volume named nothing"
refused '{"volumes":["storage-a/db","storage-z/db"]}' \
    "no provider named storage-z"
assert_eq "$(calls writer-db)" "" "calls to the writer"
assert_eq "$(jget "$(rpc backup set.list)" 'j["result"]')" "[]" "sets in the catalog"

out=$(rpc backup set.create '{"volumes":["storage-a/logs","storage-a/db"]}')
assert_eq "$(jget "$out" '[j["result"]["state"]] + [s["volume"] for s in j["result"]["snapshots"]]')" \
    '["committed", "logs", "db"]' "the set of logs and db"
assert_eq "$(/usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "call" and e["method"] == "writer.prepare":
        print(json.dumps(e["params"]["volumes"]))
    if e["event"] == "call" and e["method"] == "writer.post_snapshot":
        print(json.dumps([s["volume"] for s in e["params"]["snapshots"]]))' "$tmp/writer-db.events" | tr '\n' ' ')" \
    '["storage-a/db"] ["db"] ' "the writer's volumes and snapshots"

stop_peer writer-db
stop_peer storage-a
stop_coordinator
