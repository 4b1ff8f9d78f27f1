#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-status-shows-peers-sets-failures.sh: `snapvolctl status`
# after a committed set, a set failed by a writer's freeze hook, and a
# hold released while its provider was stopped.  --json gives exactly
# the documented members: both providers (one disconnected), both
# writers (the one whose hook failed in state "failed" with its
# error), the two sets newest first, and the failures: the failed set
# with its reason, the failed writer, the queued release.  --sets 1
# lists the newest set only.  The human output has the summary line
# and one aligned table per section.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M logs:8M
start_provider storage-b data:8M

cat >"$tmp/writer-logs.hook" <<'EOF'
#!/bin/sh
if [ "$SNAPVOL_EVENT" = freeze ]; then
    echo "the log cannot be flushed" >&2
    exit 4
fi
EOF
start_writer writer-db storage-a/db storage-b/data
start_writer writer-logs storage-a/logs

s1=$(ctl --json set create --writers writer-db --label first \
         storage-a/db storage-b/data | jq -r .set_id)
[[ $s1 =~ ^[0-9a-f-]{36}$ ]] || fail "set create: '$s1'"
status=0
ctl --json set create --label second storage-a/logs >"$tmp/s2.json" 2>"$tmp/s2.err" || status=$?
assert_eq "$status" 1 "exit status of the set whose writer fails to freeze"
s2=$(jq -r .set_id "$tmp/s2.json")
reason=$(jq -r .reason "$tmp/s2.json")
assert_eq "$reason" "writer writer-logs: writer.freeze failed: freeze hook exited with status 4: the log cannot be flushed (error -32603)" \
    "the failed set's reason"

# A release queued for a provider that is away.
ctl set hold "$s1" nightly >/dev/null
stop_provider storage-b
poll 20 eval '! provider_connected storage-b'
ctl set release "$s1" nightly >/dev/null

ctl --json status >"$tmp/status.json"
cat "$tmp/status.json"
assert_eq "$(jq -c 'keys_unsorted' "$tmp/status.json")" \
    '["providers","writers","sets","failures"]' "members of the status"

# Providers and writers: the stable fields exactly, times by type.
assert_eq "$(jq -c '.providers[] | del(.last_seen)' "$tmp/status.json")" \
"{\"name\":\"storage-a\",\"state\":\"connected\",\"volumes\":2,\"nbd_uri\":\"nbd+unix:///?socket=$tmp/storage-a.sock\"}
{\"name\":\"storage-b\",\"state\":\"disconnected\",\"volumes\":1,\"nbd_uri\":\"nbd+unix:///?socket=$tmp/storage-b.sock\"}" \
    "providers"
assert_eq "$(jq -c '[.providers[].last_seen | type]' "$tmp/status.json")" \
    '["number","number"]' "providers' last_seen"
assert_eq "$(jq -c '.writers[] | del(.last_event_time)' "$tmp/status.json")" \
'{"name":"writer-db","state":"stable","volumes":2,"last_event":"post_snapshot","last_error":null}
{"name":"writer-logs","state":"failed","volumes":1,"last_event":"abort","last_error":"writer.freeze failed: freeze hook exited with status 4: the log cannot be flushed (error -32603)"}' \
    "writers"
assert_eq "$(jq -c '[.writers[].last_event_time | type]' "$tmp/status.json")" \
    '["number","number"]' "writers' last_event_time"

# Sets, newest first.
assert_eq "$(jq -c '.sets[] | del(.created, .finished, .duration_ms)' "$tmp/status.json")" \
"{\"set_id\":\"$s2\",\"label\":\"second\",\"state\":\"failed\",\"reason\":\"$reason\",\"snapshots\":0}
{\"set_id\":\"$s1\",\"label\":\"first\",\"state\":\"committed\",\"reason\":null,\"snapshots\":2}" \
    "sets"
assert_eq "$(jq -c '[.sets[] | [.created, .finished, .duration_ms] | map(type)]' "$tmp/status.json")" \
    '[["number","number","number"],["number","number","number"]]' "sets' times"
assert_eq "$(jq '[.sets[] | select(.finished < .created)] | length' "$tmp/status.json")" 0 \
    "sets finished before they were created"

# Failures: the failed set, the failed writer, the queued release.
assert_eq "$(jq -c '.failures[] | del(.time)' "$tmp/status.json")" \
"{\"kind\":\"set\",\"name\":\"$s2\",\"provider\":null,\"reason\":\"$reason\"}
{\"kind\":\"writer\",\"name\":\"writer-logs\",\"provider\":null,\"reason\":\"writer.freeze failed: freeze hook exited with status 4: the log cannot be flushed (error -32603)\"}
{\"kind\":\"release\",\"name\":\"$s1\",\"provider\":\"storage-b\",\"reason\":\"snapshot.release of hold nightly queued for provider storage-b\"}" \
    "failures"
assert_eq "$(jq -c '[.failures[].time | type]' "$tmp/status.json")" \
    '["number","number","number"]' "failures' times"

# --sets 1: the newest set only.
assert_eq "$(ctl --json status --sets 1 | jq -c '[.sets[].set_id, (.failures | length)]')" \
    "[\"$s2\",3]" "status --sets 1"

# The human output: a summary line, then the sections' tables.
ctl status >"$tmp/status.txt"
cat "$tmp/status.txt"
summary=$(head -n 1 "$tmp/status.txt")
[[ $summary =~ ^"2 providers (1 connected), 2 writers (1 failed), last set failed "[0-9]+" s ago, 3 failures"$ ]] ||
    fail "summary: $summary"
assert_eq "$(grep -E '^[A-Z][a-z].*:$' "$tmp/status.txt")" \
"Providers:
Writers:
Sets, newest first:
Failures:" "section titles"
# Each table: its header, then rows aligned under it (columns found by
# the header's words).
assert_eq "$(grep -E '^(NAME|SET|KIND) ' "$tmp/status.txt" | tr -s ' ')" \
"NAME STATE VOLUMES NBD-URI LAST-SEEN
NAME STATE VOLUMES LAST-EVENT AT LAST-ERROR
SET STATE CREATED DURATION SNAPSHOTS LABEL
KIND NAME PROVIDER TIME REASON" "table headers"
assert_eq "$(grep -E '^storage-' "$tmp/status.txt" | awk '{ print $1, $2, $3, $4 }')" \
"storage-a connected 2 nbd+unix:///?socket=$tmp/storage-a.sock
storage-b disconnected 1 nbd+unix:///?socket=$tmp/storage-b.sock" "provider rows"
assert_eq "$(grep -E '^writer-' "$tmp/status.txt" | awk '{ print $1, $2, $3, $4 }')" \
"writer-db stable 2 post_snapshot
writer-logs failed 1 abort" "writer rows"
grep -qE "^writer-logs +failed +1 +abort +[0-9-]+ [0-9:]+ +writer.freeze failed: freeze hook exited with status 4: the log cannot be flushed \(error -32603\)$" \
    "$tmp/status.txt" || fail "the failed writer's row"
grep -qE "^$s2 +failed +[0-9-]+ [0-9:]+ +[0-9.]+ m?s +0 +second$" "$tmp/status.txt" || fail "the failed set's row"
grep -qE "^$s1 +committed +[0-9-]+ [0-9:]+ +[0-9.]+ m?s +2 +first$" "$tmp/status.txt" || fail "the committed set's row"
grep -qE "^set +$s2 +- +[0-9-]+ [0-9:]+ +writer writer-logs: writer.freeze failed" "$tmp/status.txt" ||
    fail "the failed set's failure row"
grep -qE "^release +$s1 +storage-b +[0-9-]+ [0-9:]+ +snapshot.release of hold nightly queued for provider storage-b$" \
    "$tmp/status.txt" || fail "the queued release's row"

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_coordinator
check_logs
