#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-hold-blocks-set-delete.sh: `snapvolctl set hold SET TAG`
# holds every snapshot of a set on both providers; `set delete` of the
# held set is then refused with the provider's -32003 and its message
# naming the tags, and nothing is deleted on either provider nor in
# the catalog; `set release` releases both, after which `set delete`
# deletes the set everywhere.  set.hold is all or none: when one
# provider already holds the tag (a local hold), the hold taken on the
# other is released and the error names the refusing provider; when a
# provider is down, nothing is held anywhere.

source "$(dirname "$0")/functions.sh"
set -x

start_set_two_providers

assert_eq "$(ctl --json set hold --expires 3600 "$set_id" backup:1@host)" \
    "{\"set_id\": \"$set_id\", \"tag\": \"backup:1@host\", \"held\": 2}" "set hold"
assert_eq "$(provider_holds storage-a)" "$a backup:1@host" "holds on storage-a"
assert_eq "$(provider_holds storage-b)" "$b backup:1@host" "holds on storage-b"
assert_eq "$(ctl set hold "$set_id" nightly)" \
    "Held snapshot set $set_id with tag nightly: 2 snapshots." "set hold, as text"

# The held set cannot be deleted: the first provider's refusal, as it
# gave it; nothing deleted anywhere.
status=0
ctl --json set delete "$set_id" >"$tmp/delete.out" 2>"$tmp/delete.err" || status=$?
assert_eq "$status" 1 "exit status of set delete of a held set"
assert_eq "$(cat "$tmp/delete.out")" \
    "{\"error\": {\"code\": -32003, \"message\": \"provider storage-a: snapshot $a of volume db is held (tags: backup:1@host, nightly)\"}}" \
    "set delete of a held set"
assert_eq "$(grep "^snapvolctl:" "$tmp/delete.err")" \
    "snapvolctl: set delete: provider storage-a: snapshot $a of volume db is held (tags: backup:1@host, nightly) (busy, error -32003)" \
    "the refusal on stderr"
assert_eq "$(provider_holds storage-a)" "$a backup:1@host,nightly" "storage-a keeps its snapshot"
assert_eq "$(provider_holds storage-b)" "$b backup:1@host,nightly" "storage-b keeps its snapshot"
assert_eq "$(ctl --json set list | jq -r '.[].set_id')" "$set_id" "the set stays in the catalog"

# Released on both (a provider with no such hold counts as done).
assert_eq "$(ctl --json set release "$set_id" backup:1@host)" \
    "{\"set_id\": \"$set_id\", \"tag\": \"backup:1@host\", \"released\": 2}" "set release"
assert_eq "$(ctl set release "$set_id" backup:1@host)" \
    "Released hold backup:1@host of snapshot set $set_id: 0 snapshots." "set release of a released hold"
ctl set release "$set_id" nightly

# All or none: storage-b already carries "mine" on its snapshot.
pctl storage-b snapshot hold "$b" mine
status=0
ctl --json set hold "$set_id" mine >"$tmp/hold.out" 2>/dev/null || status=$?
assert_eq "$status" 1 "exit status of a refused set hold"
assert_eq "$(cat "$tmp/hold.out")" \
    "{\"error\": {\"code\": -32002, \"message\": \"provider storage-b: snapshot $b of volume logs already carries a hold tagged mine; nothing was held; the set's hold on storage-a was released\"}}" \
    "set hold refused by one provider"
assert_eq "$(provider_holds storage-a)" "$a " "storage-a holds nothing after the refused set hold"
assert_eq "$(provider_holds storage-b)" "$b mine" "storage-b keeps only its own hold"
pctl storage-b snapshot release "$b" mine

# All or none: a provider down.
stop_provider storage-b
poll 20 eval '! provider_connected storage-b'
status=0
ctl --json set hold "$set_id" down >"$tmp/hold.out" 2>/dev/null || status=$?
assert_eq "$status" 1 "exit status of set hold with a provider down"
assert_eq "$(cat "$tmp/hold.out")" \
    "{\"error\": {\"code\": -32009, \"message\": \"provider storage-b of snapshot set $set_id is not connected\"}}" \
    "set hold with a provider down"
assert_eq "$(provider_holds storage-a)" "$a " "storage-a holds nothing with storage-b down"
start_provider storage-b logs:4M

# Released, the set is deleted everywhere.
assert_eq "$(ctl --json set delete "$set_id")" \
    "{\"set_id\": \"$set_id\", \"deleted\": 2}" "set delete after the release"
assert_eq "$(provider_snapshots storage-a)$(provider_snapshots storage-b)" "[][]" \
    "no snapshot left on the providers"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
