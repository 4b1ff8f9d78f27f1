#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-diff-and-holds-bad-input.sh: snapshot.diff, set.diff,
# set.hold and set.release refuse bad input with the documented error
# (exact JSON) before calling any provider: a volume not of the form
# PROVIDER/VOLUME, an unknown provider, parameters the providers' own
# table refuses, a failed (uncommitted) or unknown set, a set without a
# snapshot of the volume, `since` not older, a bad tag or expiry, a
# role that may not call them.  A provider's own error reaches the
# requester with its code and "provider NAME: " before its message.  A
# provider that disconnects during set.hold fails it, and the hold the
# other provider took is released before the answer.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576 \
    --fail-first "hold.commit:1:-32004:cannot sync the journal" \
    --fail "snapshot.diff:-32001:no volume named db" \
    --answer 'snapshot.hold:{"id":"x","tag":"t","held":1}' \
    --answer 'snapshot.release:{"id":"x","tag":"t","released":1}'
start_peer storage-b storage-b provider --volume logs:1048576 \
    --disconnect-on snapshot.hold

# A failed set, then two committed ones (the second without logs).
failed=$(jget "$(rpc backup set.create '{"volumes":["storage-a/db"],"writers":"none"}')" \
    'j["error"]["data"]["set_id"]')
s1=$(jget "$(rpc backup set.create '{"volumes":["storage-a/db","storage-b/logs"],"writers":"none"}')" \
    'j["result"]["set_id"]')
s2=$(jget "$(rpc backup set.create '{"volumes":["storage-a/db"],"writers":"none"}')" \
    'j["result"]["set_id"]')
nosuch=01234567-89ab-4def-8123-456789abcdef

# expect_error METHOD PARAMS CODE MESSAGE
expect_error ()
{
    assert_eq "$(rpc backup "$1" "$2")" \
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":$3,\"message\":\"$4\"}}" "$1 $2"
}

expect_error snapshot.diff "{\"volume\":\"storage-a\",\"from\":\"$s1\"}" \
    -32602 "'volume': 'storage-a' is not of the form PROVIDER/VOLUME"
expect_error snapshot.diff "{\"from\":\"$s1\"}" -32602 "missing member 'volume'"
expect_error snapshot.diff "{\"volume\":\"nosuch/db\",\"from\":\"$s1\"}" \
    -32001 "no provider named nosuch"
expect_error snapshot.diff '{"volume":"storage-a/db","from":"x"}' \
    -32602 "'from' is not a UUID: 'x'"
expect_error snapshot.diff "{\"volume\":\"storage-a/db\",\"from\":\"$s1\",\"cursor\":-1}" \
    -32602 "'cursor' must be in 0..9223372036854775807, not -1"
expect_error snapshot.diff "{\"volume\":\"storage-a/db\",\"from\":\"$s1\",\"max_ranges\":0}" \
    -32602 "'max_ranges' must be in 1..65536, not 0"
expect_error snapshot.diff "{\"volume\":\"storage-a/db\",\"from\":\"$s1\",\"m\":1}" \
    -32602 "unknown member 'm'"
expect_error snapshot.diff "{\"volume\":\"storage-a/db\",\"from\":\"$failed\"}" \
    -32001 "snapshot set $failed is failed, not committed"
expect_error snapshot.diff "{\"volume\":\"storage-b/logs\",\"from\":\"$s1\",\"to\":\"$s2\"}" \
    -32001 "snapshot set $s2 has no snapshot of storage-b/logs"
# A provider's own error, passed through.
expect_error snapshot.diff "{\"volume\":\"storage-a/db\",\"from\":\"$nosuch\"}" \
    -32001 "provider storage-a: no volume named db"

expect_error set.diff "{\"set_id\":\"$nosuch\",\"since\":\"$s1\"}" \
    -32001 "no snapshot set $nosuch"
expect_error set.diff "{\"set_id\":\"$s2\",\"since\":\"$failed\"}" \
    -32001 "snapshot set $failed is failed, not committed"
expect_error set.diff "{\"set_id\":\"$s1\",\"since\":\"$s2\"}" \
    -32602 "'since': snapshot set $s2 is not older than snapshot set $s1"
expect_error set.diff "{\"set_id\":\"$s1\",\"since\":\"$s1\"}" \
    -32602 "'since': snapshot set $s1 is not older than snapshot set $s1"
expect_error set.diff "{\"set_id\":\"$s1\"}" -32602 "missing member 'since'"

expect_error set.hold "{\"set_id\":\"$s1\",\"tag\":\"a b\"}" \
    -32602 "invalid tag 'a b': character ' ' is not one of A-Z a-z 0-9 . _ : @ -"
expect_error set.hold "{\"set_id\":\"$s1\",\"tag\":\"\"}" -32602 "'tag' must not be empty"
expect_error set.hold "{\"set_id\":\"$s1\",\"tag\":\"t\",\"expires_in\":0}" \
    -32602 "'expires_in' must be in 1..315360000, not 0"
expect_error set.hold "{\"set_id\":\"$nosuch\",\"tag\":\"t\"}" -32001 "no snapshot set $nosuch"
expect_error set.hold "{\"set_id\":\"$failed\",\"tag\":\"t\"}" \
    -32001 "snapshot set $failed is failed, not committed"
expect_error set.release "{\"set_id\":\"$nosuch\",\"tag\":\"t\"}" -32001 "no snapshot set $nosuch"
expect_error set.release "{\"set_id\":\"$s1\",\"tag\":\"a/b\"}" \
    -32602 "invalid tag 'a/b': character '/' is not one of A-Z a-z 0-9 . _ : @ -"
for m in snapshot.diff set.diff set.hold set.release; do
    assert_eq "$(rpc writer-db "$m" '{}')" \
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32007,\"message\":\"role writer may not call $m\"}}" \
        "$m as a writer"
done
# Nothing above reached a provider but the one snapshot.diff.
assert_eq "$(calls storage-a | grep -cE '^snapshot\.(diff|hold|release)$')" 1 \
    "calls to storage-a before set.hold"

# storage-b goes away during set.hold: storage-a's hold is released
# before the answer, and storage-b's possible hold is named.
expect_error set.hold "{\"set_id\":\"$s1\",\"tag\":\"nightly\",\"expires_in\":60}" \
    -32009 "provider storage-b: the connection closed before the answer to snapshot.hold; the set's hold on storage-a was released; releasing it on storage-b failed (not connected when snapshot.release was due): it holds there until released (set.release) or expired"
assert_eq "$(calls_with storage-a tag | grep -E '^snapshot\.(diff|hold|release) ')" "snapshot.diff -
snapshot.hold nightly
snapshot.release nightly" "calls to storage-a"

stop_coordinator
