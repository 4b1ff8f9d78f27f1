#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-ctl-names-every-coordinator-tried.sh: snapvolctl given a
# list of coordinators none of which leads -- two ports nobody listens
# on and a follower with no leader elected -- tries each once and gives
# up with one error naming every address and why, exactly.  With one
# address that is down, the message is today's (the address's own
# reason alone).  A malformed list is refused naming the bad address.

source "$(dirname "$0")/functions.sh"
set -x

start_fakecoord follower --follower none
down1=$(free_port)
down2=$(free_port)
follower=127.0.0.1:${fake_port[follower]}
list=127.0.0.1:$down1,$follower,127.0.0.1:$down2

tls=(--cert "$pki/backup.crt" --key "$pki/backup.key" --ca "$pki/ca.crt")

status=0
"${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "$list" "${tls[@]}" set list >"$tmp/out" 2>"$tmp/err" || status=$?
assert_eq "$status" 1 "the exit status"
assert_eq "$(cat "$tmp/out")" "" "the output"
assert_eq "$(cat "$tmp/err")" "snapvolctl: set list: no leading coordinator at $list: coordinator 127.0.0.1:$down1: connect: Connection refused; coordinator $follower: coordinator $follower is not the leader; no leader is elected (the test's follower) (error -32012); coordinator 127.0.0.1:$down2: connect: Connection refused" \
    "the error"
assert_eq "$(fake_events follower request | jq -r .method)" "set.list" \
    "what the follower was asked"

status=0
"${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "127.0.0.1:$down1" "${tls[@]}" set list >"$tmp/out" 2>"$tmp/err" || status=$?
assert_eq "$status" 1 "the exit status with one address"
assert_eq "$(cat "$tmp/err")" "snapvolctl: coordinator 127.0.0.1:$down1: connect: Connection refused" \
    "the error with one address"

status=0
"${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "127.0.0.1:$down1,,$follower" "${tls[@]}" set list >"$tmp/out" 2>"$tmp/err" || status=$?
assert_eq "$status" 1 "the exit status with an empty address"
assert_eq "$(cat "$tmp/err")" "snapvolctl: invalid address list '127.0.0.1:$down1,,$follower': an empty address (expected HOST:PORT,HOST:PORT)" \
    "the error with an empty address"
status=0
"${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "127.0.0.1:$down1,127.0.0.1:99999" "${tls[@]}" set list >"$tmp/out" 2>"$tmp/err" || status=$?
assert_eq "$(cat "$tmp/err")" "snapvolctl: invalid address '127.0.0.1:99999': the port must be a number from 1 to 65535" \
    "the error with a bad port"
