#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-rebuild-catalog-keeps-recorded-sets.sh: --rebuild-catalog on
# a catalog that is not empty merges: the sets it records are kept
# exactly as recorded (no reason added, their times and order
# unchanged), and only a set it does not know is added.  The catalog
# here is an old copy, from before the third set was taken.

source "$(dirname "$0")/rebuild-functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:4M
ctl --json set create storage-a/db --label one >"$tmp/s1.json"
ctl --json set create storage-a/db --label two >"$tmp/s2.json"
s3_before=$(ctl --json set list)
stop_coordinator
cp "$catalog" "$tmp/old-catalog.db"
[ ! -e "$catalog-wal" ] || cp "$catalog-wal" "$tmp/old-catalog.db-wal"
start_coordinator
poll 30 provider_connected storage-a
ctl --json set create storage-a/db --label three >"$tmp/s3.json"
s3=$(jq -r .set_id "$tmp/s3.json")
s3_db=$(jq -r '.snapshots[0].id' "$tmp/s3.json")

lose_catalog
cp "$tmp/old-catalog.db" "$catalog"
[ ! -e "$tmp/old-catalog.db-wal" ] || cp "$tmp/old-catalog.db-wal" "$catalog-wal"
start_coordinator_rebuilding 5s
poll 30 provider_connected storage-a
wait_rebuilt

assert_eq "$(ctl --json set list | jq -c '.[1:]')" "$(jq -c . <<<"$s3_before")" \
    "the recorded sets are kept as they were"
assert_eq "$(ctl --json set list | jq -c '[.[0] | del(.created, .finished)]')" \
    "[$(rebuilt_json "$s3" three "$(snap_json storage-a db "$s3_db" 3)")]" \
    "the set the old catalog lacked is added"
grep -q "catalog rebuild: the catalog already records 2 sets: they are kept as recorded; only sets it does not know are added" "$coord_log" ||
    fail "no warning about the catalog's sets"
grep -q "catalog rebuild: done after 5000 ms: 1 provider answered, 3 sets found, 1 recorded, 2 already in the catalog" "$coord_log" ||
    fail "the rebuild's summary is not in the log"

stop_provider storage-a
stop_coordinator
check_logs
