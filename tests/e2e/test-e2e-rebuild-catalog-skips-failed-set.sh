#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-rebuild-catalog-skips-failed-set.sh: a set that failed (its
# writer refused to freeze: nothing was pinned) leaves nothing on the
# providers, so a rebuild after the catalog is lost lists only the
# committed set, and the failed set's id is unknown to set show.

source "$(dirname "$0")/rebuild-functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:4M
start_provider storage-b logs:4M
printf '#!/bin/sh\nif [ "$SNAPVOL_EVENT" = freeze ] && [ -e %s/refuse ]; then\n    echo "not now" >&2\n    exit 1\nfi\nexit 0\n' \
    "$tmp" >"$tmp/writer-db.hook"
chmod +x "$tmp/writer-db.hook"
start_writer writer-db storage-a/db

ctl --json set create storage-a/db storage-b/logs --label good >"$tmp/s1.json"
s1=$(jq -r .set_id "$tmp/s1.json")
s1_db=$(jq -r '.snapshots[] | select(.volume == "db") | .id' "$tmp/s1.json")
s1_logs=$(jq -r '.snapshots[] | select(.volume == "logs") | .id' "$tmp/s1.json")
touch "$tmp/refuse"
status=0
ctl --json set create storage-a/db storage-b/logs --label bad >"$tmp/s2.json" 2>&1 || status=$?
assert_eq "$status" 1 "exit status of the failed set create"
s2=$(ctl --json set list --state failed | jq -r '.[0].set_id')
assert_eq "$(ctl --json set show "$s2" | jq -c '[.state, .label, .snapshots]')" \
    '["failed","bad",[]]' "the failed set before the loss"

lose_catalog
start_coordinator_rebuilding 6s
poll 30 provider_connected storage-a
poll 30 provider_connected storage-b
wait_rebuilt

assert_eq "$(set_list_view)" \
    "[$(rebuilt_json "$s1" good "$(snap_json storage-a db "$s1_db" 1)" "$(snap_json storage-b logs "$s1_logs" 1)")]" \
    "set list after the rebuild"
status=0
ctl set show "$s2" 2>"$tmp/get.err" || status=$?
assert_eq "$status:$(grep -v '^+' "$tmp/get.err")" "1:snapvolctl: set show: no snapshot set $s2 (not found, error -32001)" \
    "the failed set is not rebuilt"

stop_writer writer-db
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
