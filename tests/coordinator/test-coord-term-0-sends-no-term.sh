#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-term-0-sends-no-term.sh: a coordinator with the SQLite
# catalog has term 0, and term 0 is never sent (docs/protocol.md,
# "Terms"): a committed set, a failed set (the writer refuses its
# freeze) and a set deletion call the providers and writers with
# params that have no "term" member, and the provider.register and
# writer.register results are exactly {"heartbeat_ms": ...}.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 \
    --nbd-uri nbd://10.0.0.1:10809
start_peer writer-db writer-db writer --volume storage-a/db \
    --fail-first=writer.freeze:1:-32000:not-now

rpc backup set.create '{"volumes":["storage-a/db"]}' >"$tmp/failed.json"
assert_eq "$(jq -c .error.code "$tmp/failed.json")" -32010 "the first set fails"
rpc backup set.create '{"volumes":["storage-a/db"]}' >"$tmp/set.json"
assert_eq "$(jq -r .result.state "$tmp/set.json")" committed "the second set"
rpc backup set.delete '{"set_id":"'"$(jq -r .result.set_id "$tmp/set.json")"'"}' >"$tmp/delete.json"
assert_eq "$(jq -c .error "$tmp/delete.json")" null "the deletion"

assert_eq "$(calls storage-a | sort | uniq | tr '\n' ' ')" \
    "hold.begin hold.commit snapshot.delete volume.list " "the provider's calls"
assert_eq "$(calls writer-db | sort | uniq | tr '\n' ' ')" \
    "writer.abort writer.freeze writer.post_snapshot writer.prepare writer.thaw " \
    "the writer's calls"
assert_eq "$(cat "$tmp/storage-a.events" "$tmp/writer-db.events" |
             jq -c 'select(.event == "call" and (.params | has("term")))')" "" \
    "calls with a term"

stop_peer storage-a
stop_peer writer-db
assert_eq "$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"provider.register","params":{"name":"storage-a","nbd_uri":"nbd://10.0.0.1:10809","volumes":[],"version":"test"}}' |
             raw_session storage-a 1 | head -n 1)" \
    '{"jsonrpc":"2.0","id":1,"result":{"heartbeat_ms":1000}}' "provider.register's result"
assert_eq "$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"writer.register","params":{"name":"writer-db","volumes":["storage-a/db"]}}' |
             raw_session writer-db 1 | head -n 1)" \
    '{"jsonrpc":"2.0","id":1,"result":{"heartbeat_ms":1000}}' "writer.register's result"
stop_coordinator
