#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-release-queue-survives-coordinator-restart.sh: the
# release `set release` queues for a provider that is down is in the
# catalog: the coordinator is restarted before the provider comes
# back, and the provider, started again on the same pool, still has
# its hold released once it registers, after which the set can be
# deleted.

source "$(dirname "$0")/functions.sh"
set -x

start_set_two_providers

assert_eq "$(ctl --json set hold --expires 3600 "$set_id" nightly)" \
    "{\"set_id\": \"$set_id\", \"tag\": \"nightly\", \"held\": 2}" "set hold"

kill9_provider storage-b
poll 20 eval '! provider_connected storage-b'
assert_eq "$(ctl --json set release "$set_id" nightly)" \
    "{\"set_id\": \"$set_id\", \"tag\": \"nightly\", \"released\": 1, \"queued\": [\"storage-b\"]}" \
    "set release with storage-b down"
assert_eq "$(provider_holds storage-a)" "$a " "storage-a holds nothing"

stop_coordinator
start_coordinator
poll 20 provider_connected storage-a
assert_eq "$(catalog_set_holds "$set_id")" \
    '[]' "the catalog forgot the hold across the restart"

start_provider storage-b logs:4M
poll 20 eval "[ \"\$(provider_holds storage-b)\" = \"$b \" ]"

assert_eq "$(ctl --json set delete "$set_id")" \
    "{\"set_id\": \"$set_id\", \"deleted\": 2}" "set delete after the queued release"
assert_eq "$(provider_snapshots storage-a)$(provider_snapshots storage-b)" "[][]" \
    "no snapshot left on the providers"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
