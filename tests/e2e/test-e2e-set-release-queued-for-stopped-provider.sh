#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-release-queued-for-stopped-provider.sh: a set held on
# two providers, one of which is killed, is released with `set release`
# on the provider still connected at once, and queued for the other:
# the answer names the queued provider, the catalog forgets the hold,
# and the killed provider, started again on the same pool, releases its
# hold once it registers, after which the set can be deleted.

source "$(dirname "$0")/functions.sh"
set -x

start_set_two_providers

assert_eq "$(ctl --json set hold --expires 3600 "$set_id" backup:1@host)" \
    "{\"set_id\": \"$set_id\", \"tag\": \"backup:1@host\", \"held\": 2}" "set hold"
assert_eq "$(catalog_set_holds "$set_id")" \
    '["backup:1@host"]' "the catalog records the hold"

kill9_provider storage-b
poll 20 eval '! provider_connected storage-b'

assert_eq "$(ctl --json set release "$set_id" backup:1@host)" \
    "{\"set_id\": \"$set_id\", \"tag\": \"backup:1@host\", \"released\": 1, \"queued\": [\"storage-b\"]}" \
    "set release with storage-b down"
assert_eq "$(provider_holds storage-a)" "$a " "storage-a holds nothing"
assert_eq "$(catalog_set_holds "$set_id")" \
    '[]' "the catalog forgot the hold"

start_provider storage-b logs:4M
poll 20 eval "[ \"\$(provider_holds storage-b)\" = \"$b \" ]"
poll 20 grep -qF "provider storage-b: released the hold backup:1@host of snapshot set $set_id queued by set.release" "$coord_log"

assert_eq "$(ctl --json set delete "$set_id")" \
    "{\"set_id\": \"$set_id\", \"deleted\": 2}" "set delete after the queued release"
assert_eq "$(provider_snapshots storage-a)$(provider_snapshots storage-b)" "[][]" \
    "no snapshot left on the providers"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
