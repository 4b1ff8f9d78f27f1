#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-export-list.sh: list_exports shows the live volumes and their
# snapshots, each with a description, and an unknown export name is
# refused with a message naming it.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdinfo nbdsh jq
set -x

start_snapvol "$tmp/pool" volume=vm1:64M volume=db1:32M
snap=$(snapshot_create --label nightly-backup vm1)
snap_export=$(jq -r '.snapshots[0].export' <<<"$snap")
set_id=$(jq -r '.set_id' <<<"$snap")

nbdinfo --list --json "$(uri '')" >"$tmp/list.json"
cat "$tmp/list.json"

# Exactly the two volumes and the one snapshot, under the names the
# snapshot create call returned.
names=$(jq -r '[.exports[]."export-name"] | sort | join(" ")' "$tmp/list.json")
expected=$(printf '%s\n' vm1 db1 "$snap_export" | sort | paste -sd' ')
assert_eq "$names" "$expected" "exported names"

export_field ()
{
    jq -r --arg n "$1" ".exports[] | select(.\"export-name\" == \$n) | $2" "$tmp/list.json"
}

assert_eq "$(export_field vm1 '."export-size"')" 67108864 "vm1 size"
assert_eq "$(export_field db1 '."export-size"')" 33554432 "db1 size"
assert_eq "$(export_field "$snap_export" '."export-size"')" 67108864 "snapshot size"
assert_eq "$(export_field vm1 .is_read_only)" false "vm1 read-only"
assert_eq "$(export_field "$snap_export" .is_read_only)" true "snapshot read-only"

# Each export has a description giving its size; the snapshot's also
# gives its creation time and label.
for name in vm1 db1 "$snap_export"; do
    desc=$(export_field "$name" '.description // ""')
    [ -n "$desc" ] || fail "$name has no description"
done
export_field vm1 .description | grep -Eq '64 ?Mi?B?|67108864' ||
    fail "vm1's description does not give its size"
export_field db1 .description | grep -Eq '32 ?Mi?B?|33554432' ||
    fail "db1's description does not give its size"
export_field vm1 .description | grep -Eq 'created [0-9]{4}-[0-9]{2}-[0-9]{2}T' ||
    fail "vm1's description does not give its creation time"
export_field "$snap_export" .description | grep -q nightly-backup ||
    fail "the snapshot's description does not give its label"
export_field "$snap_export" .description | grep -Eq '[0-9]{4}-[0-9]{2}-[0-9]{2}' ||
    fail "the snapshot's description does not give its creation time"

# The set id names the same snapshot.
nbdinfo --json "$(uri "vm1@$set_id")" >"$tmp/by-set.json"
assert_eq "$(jq -r '.exports[0].is_read_only' "$tmp/by-set.json")" true "vm1@set_id read-only"

# Unknown names are refused: the client hears it, and the server's log
# names the export and says what is wrong.
for bad in nosuch "vm1@00000000-0000-4000-8000-000000000000" "vm1@not-a-uuid" \
           "nosuch@$set_id"; do
    if nbdinfo "$(uri "$bad")" >"$tmp/out" 2>"$tmp/err"; then
        fail "export '$bad' was served"
    fi
    cat "$tmp/err"
    grep -qF "$bad" "$tmp/err" || fail "the client's error does not name '$bad'"
    grep -F "$bad" "$nbdkit_log" | grep -qi error ||
        fail "the server logged no error naming '$bad'"
done

# The server still serves after refusing.
assert_eq "$(nbdinfo --size "$(uri vm1)")" 67108864 "vm1 size after refusals"
stop_snapvol
check_sanitizer_log
