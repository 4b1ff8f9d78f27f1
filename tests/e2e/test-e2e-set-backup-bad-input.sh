#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-backup-bad-input.sh: the exact errors of `backup` and
# `set backup` through the coordinator for an unknown set, provider or
# volume, a set without the volume, a snapshot of another volume,
# --since a newer set, and a DIR whose set manifest is of another set
# or of an interrupted backup; nothing is printed on stdout, no image
# or manifest is written, and no hold is left behind.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:4M other:4M

ctl --json set create storage-a/db --writers none --label one >"$tmp/set1.json"
set1=$(jq -r .set_id "$tmp/set1.json")
snap1=$(jq -r '.snapshots[0].id' "$tmp/set1.json")
ctl --json set create storage-a/db storage-a/other --writers none --label two >"$tmp/set2.json"
set2=$(jq -r .set_id "$tmp/set2.json")
other2=$(jq -r '.snapshots[] | select(.volume == "other") | .id' "$tmp/set2.json")
nope=0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31

# expect_error MESSAGE ARGS...: snapvolctl through the coordinator must
# fail with exactly MESSAGE on stderr and nothing on stdout.
expect_error ()
{
    local want=$1 status=0
    shift
    ctl "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    [ "$status" -eq 1 ] || fail "'$*' exited with status $status, expected 1"
    [ ! -s "$tmp/out" ] || fail "'$*' printed on stdout: $(cat "$tmp/out")"
    assert_eq "$(grep -v '^+' "$tmp/err")" "$want" "error of '$*'"
}

expect_error "snapvolctl: set backup: no snapshot set $nope (not found, error -32001)" \
    set backup "$nope" "$tmp/bk"
[ ! -e "$tmp/bk" ] || fail "a failed set backup made its DIR"
expect_error "snapvolctl: backup: no provider named nowhere" \
    backup "nowhere/db@$set1" "$tmp/x.img"
expect_error "snapvolctl: backup: provider storage-a has no volume nothing" \
    backup "storage-a/nothing@$set1" "$tmp/x.img"
expect_error "snapvolctl: backup: snapshot set $set1 has no snapshot of storage-a/other" \
    backup "storage-a/other@$set1" "$tmp/x.img"
expect_error "snapvolctl: backup: volume storage-a/db has no snapshot $nope (no committed snapshot set or snapshot of it has that id)" \
    backup "storage-a/db@$nope" "$tmp/x.img"
expect_error "snapvolctl: backup: --since $other2 is a snapshot of volume storage-a/other, not storage-a/db" \
    backup "storage-a/db@$set2" "$tmp/x.img" --since "$other2"
[ ! -e "$tmp/x.img" ] || fail "a failed backup wrote its image"

# DIR holds set2; --since set1 names the mismatch; --since a newer set
# is the coordinator's refusal.
ctl set backup "$set2" "$tmp/bk" --quiet
expect_error "snapvolctl: set backup: --since $set1: $tmp/bk holds snapshot set $set2 ($tmp/bk/snapvol-set.json), not $set1" \
    set backup "$set2" "$tmp/bk" --since "$set1"
expect_error "snapvolctl: set backup: 'since': snapshot set $set2 is not older than snapshot set $set1 (invalid params, error -32602)" \
    set backup "$set1" "$tmp/bk" --since "$set2"
expect_error "snapvolctl: set backup: --since $set1: $tmp/empty has no set manifest ($tmp/empty/snapvol-set.json): nothing says it holds set $set1" \
    set backup "$set2" "$tmp/empty" --since "$set1"

# An interrupted backup's manifest is not a base.
jq '.state = "in-progress"' "$tmp/bk/snapvol-set.json" >"$tmp/m" && mv "$tmp/m" "$tmp/bk/snapvol-set.json"
set3=$(ctl --json set create storage-a/db --writers none | jq -r .set_id)
expect_error "snapvolctl: set backup: --since $set2: $tmp/bk holds an interrupted backup of set $set2 ($tmp/bk/snapvol-set.json is in-progress): take a full set backup" \
    set backup "$set3" "$tmp/bk" --since "$set2"

assert_eq "$(provider_snapshots storage-a | jq -r '[.[].holds | length] | add')" 0 "holds left"

stop_provider storage-a
stop_coordinator
check_logs
