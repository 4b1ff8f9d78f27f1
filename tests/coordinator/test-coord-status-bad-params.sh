#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-status-bad-params.sh: coordinator.status refuses a "sets"
# that is not an integer from 1 to 100, an unknown member and the
# roles provider and writer, each with the documented error (exact
# JSON); a coordinator with no peer and no set answers four empty
# lists, and an admin may call it too.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator

# expect_error WHO PARAMS CODE MESSAGE
expect_error ()
{
    assert_eq "$(rpc "$1" coordinator.status "$2")" \
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":$3,\"message\":\"$4\"}}" "$1 $2"
}

expect_error backup '{"sets":0}' -32602 "'sets' must be in 1..100, not 0"
expect_error backup '{"sets":101}' -32602 "'sets' must be in 1..100, not 101"
expect_error backup '{"sets":"5"}' -32602 "'sets' must be an integer"
expect_error backup '{"sets":2.5}' -32602 "'sets' must be an integer"
expect_error backup '{"limit":5}' -32602 "unknown member 'limit'"
expect_error storage-a '{}' -32007 "role provider may not call coordinator.status"
expect_error writer-db '{}' -32007 "role writer may not call coordinator.status"

empty='{"jsonrpc":"2.0","id":1,"result":{"providers":[],"writers":[],"sets":[],"failures":[]}}'
assert_eq "$(rpc backup coordinator.status '{}')" "$empty" "status of an empty coordinator"
assert_eq "$(rpc backup coordinator.status)" "$empty" "status without params"
assert_eq "$(rpc ops coordinator.status '{"sets":100}')" "$empty" "status as the admin"

stop_coordinator
