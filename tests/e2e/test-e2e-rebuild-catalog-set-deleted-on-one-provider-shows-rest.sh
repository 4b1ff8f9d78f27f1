#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-rebuild-catalog-set-deleted-on-one-provider-shows-rest.sh:
# a set of two providers whose snapshot was deleted on one of them (on
# its control socket, behind the coordinator's back) is rebuilt with the
# snapshot the other still holds, and can be deleted; a set whose snapshots are gone everywhere is not listed.

source "$(dirname "$0")/rebuild-functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:4M
start_provider storage-b logs:4M

ctl --json set create storage-a/db storage-b/logs --label both >"$tmp/s1.json"
ctl --json set create storage-a/db storage-b/logs --label gone >"$tmp/s2.json"
s1=$(jq -r .set_id "$tmp/s1.json")
s2=$(jq -r .set_id "$tmp/s2.json")
s1_db=$(jq -r '.snapshots[] | select(.volume == "db") | .id' "$tmp/s1.json")
s1_logs=$(jq -r '.snapshots[] | select(.volume == "logs") | .id' "$tmp/s1.json")

assert_eq "$(pctl storage-b --json snapshot delete "$s1_logs")" \
    "{\"id\": \"$s1_logs\", \"deleted\": 1}" "s1's logs deleted on storage-b"
assert_eq "$(pctl storage-a --json snapshot delete "$s2")$(pctl storage-b --json snapshot delete "$s2")" \
    "{\"id\": \"$s2\", \"deleted\": 1}{\"id\": \"$s2\", \"deleted\": 1}" "s2 deleted everywhere"

lose_catalog
start_coordinator_rebuilding 6s
poll 30 provider_connected storage-a
poll 30 provider_connected storage-b
wait_rebuilt

assert_eq "$(set_list_view)" \
    "[$(rebuilt_json "$s1" both "$(snap_json storage-a db "$s1_db" 1)")]" \
    "set list after the rebuild"
grep -q "catalog rebuild: done after 6000 ms: 2 providers answered, 1 set found, 1 recorded, 0 already in the catalog" "$coord_log" ||
    fail "the rebuild's summary is not in the log"

# The set deletes as any other: on the provider that holds it.
assert_eq "$(ctl --json set delete "$s1")" \
    "{\"set_id\": \"$s1\", \"deleted\": 1}" "set delete of the rebuilt set"
assert_eq "$(provider_snapshots storage-a)$(provider_snapshots storage-b)" "[][]" \
    "no snapshot left on the providers"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
