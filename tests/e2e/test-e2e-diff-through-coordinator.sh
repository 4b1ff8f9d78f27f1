#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-diff-through-coordinator.sh: changed blocks through the
# coordinator, across two providers.  After a first set, writes, and a
# second set that also takes a new volume, `snapvolctl --coordinator
# ... diff PROVIDER/VOLUME FROM [TO]` prints exactly what the local
# `snapvolctl --socket ... diff` prints on each provider (JSON and
# table), whether FROM and TO are snapshot ids or set ids (resolved to
# the set's snapshot of the volume); snapshot.diff's result is the
# provider's with "volume" = "PROVIDER/VOLUME"; set.diff gives the
# pairs to diff, with "from" null for the volume the earlier set lacks.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:4M
start_provider storage-b logs:4M extra:4M

ctl --json set create storage-a/db storage-b/logs --label first >"$tmp/set1.json"
set1=$(jq -r .set_id "$tmp/set1.json")
nbd_write "$(puri storage-a db)" 1048576 "after the first set"
nbd_write "$(puri storage-a db)" 3145728 "and at 3 MiB"
nbd_write "$(puri storage-b logs)" 8192 "a log line"
nbd_write "$(puri storage-b extra)" 0 "extra"
ctl --json set create storage-a/db storage-b/logs storage-b/extra --label second >"$tmp/set2.json"
set2=$(jq -r .set_id "$tmp/set2.json")
nbd_write "$(puri storage-b logs)" 2097152 "after the second set"

snap ()  # snap SETFILE VOLUME: the id of the set's snapshot of VOLUME
{
    jq -r --arg v "$2" '.snapshots[] | select(.volume == $v) | .id' "$1"
}
a1=$(snap "$tmp/set1.json" db) a2=$(snap "$tmp/set2.json" db)
l1=$(snap "$tmp/set1.json" logs) l2=$(snap "$tmp/set2.json" logs)

# The provider's own diff, then the same through the coordinator, by
# snapshot id and by set id.
assert_eq "$(pctl storage-a --json diff db "$a1" "$a2")" \
    '[{"offset": 1048576, "length": 4096, "kind": "data"}, {"offset": 3145728, "length": 4096, "kind": "data"}]' \
    "local diff of db between the sets"
assert_eq "$(ctl --json diff storage-a/db "$a1" "$a2")" \
    "$(pctl storage-a --json diff db "$a1" "$a2")" "diff of db through the coordinator, by snapshot id"
assert_eq "$(ctl --json diff storage-a/db "$set1" "$set2")" \
    "$(pctl storage-a --json diff db "$a1" "$a2")" "diff of db through the coordinator, by set id"
assert_eq "$(ctl diff storage-a/db "$set1" "$set2")" \
    "$(pctl storage-a diff db "$a1" "$a2")" "the table of db's diff through the coordinator"
assert_eq "$(pctl storage-b --json diff logs "$l1")" \
    '[{"offset": 8192, "length": 4096, "kind": "data"}, {"offset": 2097152, "length": 4096, "kind": "data"}]' \
    "local diff of logs against the live volume"
assert_eq "$(ctl --json diff storage-b/logs "$set1")" \
    "$(pctl storage-b --json diff logs "$l1")" "diff of logs against the live volume, by set id"
assert_eq "$(ctl --json diff storage-b/logs "$l2")" \
    '[{"offset": 2097152, "length": 4096, "kind": "data"}]' "diff of logs since the second set"
assert_eq "$(ctl --json diff storage-b/logs "$set1" "$l2")" \
    '[{"offset": 8192, "length": 4096, "kind": "data"}]' "a set id and a snapshot id mixed"

# The raw result: the provider's, with the volume named as the
# coordinator names it and the ids resolved.
out=$(rpc backup snapshot.diff "{\"volume\":\"storage-a/db\",\"from\":\"${set1^^}\",\"to\":\"$set2\",\"max_ranges\":1}")
assert_eq "$out" "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"volume\":\"storage-a/db\",\"from\":\"$a1\",\"to\":\"$a2\",\"size\":4194304,\"granularity\":4096,\"ranges\":[{\"offset\":1048576,\"length\":4096,\"kind\":\"data\"}],\"next\":3145728}}" \
    "first page of snapshot.diff through the coordinator"
out=$(rpc backup snapshot.diff "{\"volume\":\"storage-a/db\",\"from\":\"$set1\",\"to\":\"$set2\",\"cursor\":3145728,\"max_ranges\":1}")
assert_eq "$out" "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"volume\":\"storage-a/db\",\"from\":\"$a1\",\"to\":\"$a2\",\"size\":4194304,\"granularity\":4096,\"ranges\":[{\"offset\":3145728,\"length\":4096,\"kind\":\"data\"}],\"next\":null}}" \
    "last page of snapshot.diff through the coordinator"

# set.diff: one pair per snapshot of the newer set, in its order.
e1=$(snap "$tmp/set2.json" extra)
out=$(rpc backup set.diff "{\"set_id\":\"$set2\",\"since\":\"$set1\"}")
assert_eq "$out" "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"set_id\":\"$set2\",\"since\":\"$set1\",\"volumes\":[{\"provider\":\"storage-a\",\"volume\":\"db\",\"from\":\"$a1\",\"to\":\"$a2\"},{\"provider\":\"storage-b\",\"volume\":\"logs\",\"from\":\"$l1\",\"to\":\"$l2\"},{\"provider\":\"storage-b\",\"volume\":\"extra\",\"from\":null,\"to\":\"$e1\"}]}}" \
    "set.diff of the second set since the first"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
