#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-rebuild-catalog-lists-committed-sets.sh: three sets
# committed across two providers; the coordinator is stopped and its
# SQLite catalog deleted; started with --rebuild-catalog, it asks both
# providers for their snapshots as they register and, when the window
# ends, `set list --json` shows exactly the three sets, newest first,
# each with its label and the snapshots each provider holds (by
# provider, then volume), marked rebuilt; a rebuilt set can be held and
# released, a set taken afterwards works as usual, and a restart without the option keeps the list.
# Every set shares a volume with the one before it: pin times are
# seconds, so only the volumes' generations order sets taken within one
# second (two sets sharing no volume in one second have no order to find).

source "$(dirname "$0")/rebuild-functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:4M web:4M
start_provider storage-b logs:4M

take_three_sets

lose_catalog
start_coordinator_rebuilding 8s
poll 30 provider_connected storage-a
poll 30 provider_connected storage-b
wait_rebuilt

expected=$(three_sets_rebuilt)
assert_eq "$(set_list_view)" "$expected" "set list after the rebuild"
grep -q "catalog rebuild: done after 8000 ms: 2 providers answered, 3 sets found, 3 recorded, 0 already in the catalog, 0 not recorded (catalog errors), 0 revert undo snapshots skipped; providers that register from now on are not asked" "$coord_log" ||
    fail "the rebuild's summary is not in the log"

# The times are the providers' pin times: created <= finished.
assert_eq "$(ctl --json set list | jq -c '[.[] | .created <= .finished and .created > 0]')" \
    '[true,true,true]' "created and finished"

# A rebuilt set is an ordinary committed set: held and released on
# every provider through the coordinator; a new set works.
assert_eq "$(ctl --json set hold "$s3" keep)" \
    "{\"set_id\": \"$s3\", \"tag\": \"keep\", \"held\": 3}" "set hold of a rebuilt set"
assert_eq "$(ctl --json set release "$s3" keep)" \
    "{\"set_id\": \"$s3\", \"tag\": \"keep\", \"released\": 3}" "set release of a rebuilt set"
s4=$(ctl --json set create storage-a/db --label four | jq -r .set_id)
assert_eq "$(ctl --json set list | jq -c '[.[] | .set_id]')" \
    "[\"$s4\",\"$s3\",\"$s2\",\"$s1\"]" "a new set after the rebuild"

# Restarted without the option, the catalog keeps what was rebuilt.
stop_coordinator
start_coordinator
assert_eq "$(ctl --json set list | jq -c '[.[] | .set_id]')" \
    "[\"$s4\",\"$s3\",\"$s2\",\"$s1\"]" "the rebuilt sets after a restart"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
