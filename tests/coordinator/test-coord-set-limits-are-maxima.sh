#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-set-limits-are-maxima.sh: the configured freeze-window
# (20s here) and hold-timeout (5s) are the defaults of set.create and
# also the most a requester may ask for: more is -32602 naming the
# limit, before anything is called or recorded; less, or as much, is
# what the writers and providers are then told.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576
start_peer writer-db writer-db writer --volume storage-a/db

out=$(rpc backup set.create '{"volumes":["storage-a/db"],"freeze_window_ms":20001}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"'"'"'freeze_window_ms'"'"': 20001 is more than the coordinator'"'"'s freeze-window of 20000 ms"}}' \
    "a freeze window over the configured one"
out=$(rpc backup set.create '{"volumes":["storage-a/db"],"hold_timeout_ms":5001}')
assert_eq "$out" '{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"'"'"'hold_timeout_ms'"'"': 5001 is more than the coordinator'"'"'s hold-timeout of 5000 ms"}}' \
    "a hold lease over the configured one"
out=$(rpc backup set.create '{"volumes":["storage-a/db"],"freeze_window_ms":600000,"hold_timeout_ms":60000}')
assert_eq "$(jget "$out" 'j["error"]["message"]')" \
    "'freeze_window_ms': 600000 is more than the coordinator's freeze-window of 20000 ms" \
    "the protocol's maxima"
assert_eq "$(calls writer-db)" "" "calls to the writer"
assert_eq "$(calls storage-a)" "" "calls to the provider"
assert_eq "$(rpc backup set.list)" '{"jsonrpc":"2.0","id":1,"result":[]}' "sets recorded"

# Less, and as much, are taken and passed on.
out=$(rpc backup set.create '{"volumes":["storage-a/db"],"freeze_window_ms":3000,"hold_timeout_ms":700}')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "a set with less"
out=$(rpc backup set.create '{"volumes":["storage-a/db"],"freeze_window_ms":20000,"hold_timeout_ms":5000}')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "a set with as much"
out=$(rpc backup set.create '{"volumes":["storage-a/db"]}')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "a set with the defaults"
assert_eq "$(calls_with writer-db window_ms | grep freeze)" "writer.freeze 3000
writer.freeze 20000
writer.freeze 20000" "freeze windows the writer was told"
assert_eq "$(calls_with storage-a timeout_ms | grep hold.begin)" "hold.begin 700
hold.begin 5000
hold.begin 5000" "hold leases the provider was asked for"
stop_coordinator
