#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-snapshot-hold-json.sh: snapshot holds through the control socket
# with snapvolctl: the exact JSON of snapshot hold, release, list (the
# "holds" member, after "export") and of a deletion refused because of
# a hold; the human output and the HOLDS column; the errors of a
# repeated tag, a missing hold, a bad tag and a bad --expires; a set
# held as a whole.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires jq
set -x

start_snapvol "$tmp/pool" volume=a:4M volume=b:4M

set_json=$(snapshot_create a b)
set=$(jq -r .set_id <<<"$set_json")
ida=$(jq -r '.snapshots[0].id' <<<"$set_json")
idb=$(jq -r '.snapshots[1].id' <<<"$set_json")

# snapshot.hold
assert_eq "$(snapvolctl --json snapshot hold "$ida" backup)" \
    "{\"id\": \"$ida\", \"tag\": \"backup\", \"held\": 1}" "hold --json"
before=$(date +%s)
assert_eq "$(snapvolctl snapshot hold --expires 3600 "$ida" job:7@host-1)" \
    "Held snapshot $ida with tag job:7@host-1." "hold with --expires"
after=$(date +%s)

# snapshot.list: "holds" after "export", in the order taken.
list=$(snapvolctl --json snapshot list a)
assert_eq "$(jq -c '.[0] | keys_unsorted' <<<"$list")" \
    '["volume","id","set_id","label","created","generation","size","referenced_bytes","exclusive_bytes","written_bytes","open_count","export","holds"]' \
    "members of a snapshot"
assert_eq "$(jq -c '.[0].holds[0]' <<<"$list")" '{"tag":"backup","expires":null}' \
    "the hold without expiry"
assert_eq "$(jq -r '.[0].holds[1].tag' <<<"$list")" job:7@host-1 "second hold's tag"
expires=$(jq -r '.[0].holds[1].expires' <<<"$list")
[ "$expires" -ge $((before + 3600)) ] && [ "$expires" -le $((after + 3600)) ] ||
    fail "expires $expires is not 3600 s after the hold ($before..$after)"
assert_eq "$(snapvolctl --json snapshot list b | jq -c '.[0].holds')" '[]' \
    "no holds on b"

# The HOLDS column.
snapvolctl snapshot list >"$tmp/list.txt"
cat "$tmp/list.txt"
head -1 "$tmp/list.txt" | grep -Eq 'EXCLUSIVE +HOLDS +LABEL' ||
    fail "no HOLDS column before LABEL"
grep -F "$ida" "$tmp/list.txt" | grep -Fq ' backup,job:7@host-1 ' ||
    fail "a's row does not show its holds"
grep -F "$idb" "$tmp/list.txt" | grep -Eq ' 0 B +- +- *$' ||
    fail "b's row does not show '-' for no holds"

# A deletion refused, by id and by set: nothing deleted.
out=$(snapvolctl --json snapshot delete "$ida" || :)
assert_eq "$out" "{\"error\": {\"code\": -32003, \"message\": \"snapshot $ida of volume a is held (tags: backup, job:7@host-1)\"}}" \
    "delete of a held snapshot"
expect_error "snapshot delete: snapshot $ida of volume a is held \\(tags: backup, job:7@host-1\\)" \
    snapvolctl snapshot delete "$set"
assert_eq "$(snapvolctl --json snapshot list | jq length)" 2 "snapshots left"

# Errors.
out=$(snapvolctl --json snapshot hold "$ida" backup || :)
assert_eq "$out" "{\"error\": {\"code\": -32002, \"message\": \"snapshot $ida of volume a already carries a hold tagged backup; nothing was held\"}}" \
    "a repeated tag"
out=$(snapvolctl --json snapshot release "$idb" backup || :)
assert_eq "$out" "{\"error\": {\"code\": -32001, \"message\": \"no hold tagged backup on snapshot $idb\"}}" \
    "release of a hold not there"
out=$(snapvolctl --json snapshot hold 01234567-89ab-cdef-0123-456789abcdef x || :)
assert_eq "$out" '{"error": {"code": -32001, "message": "no snapshot or snapshot set with id 01234567-89ab-cdef-0123-456789abcdef"}}' \
    "hold of an unknown id"
out=$(snapvolctl --json snapshot hold "$ida" 'a b' || :)
assert_eq "$out" "{\"error\": {\"code\": -32602, \"message\": \"invalid tag 'a b': character ' ' is not one of A-Z a-z 0-9 . _ : @ -\"}}" \
    "a bad tag"
out=$(snapvolctl --json snapshot hold --expires 0 "$ida" x || :)
assert_eq "$out" "{\"error\": {\"code\": 2, \"message\": \"invalid --expires '0': expected seconds from 1 to 315360000\"}}" \
    "a bad --expires"
expect_error "invalid ID 'nope'" snapvolctl snapshot release nope x

# A set held as a whole, then released: a's other holds stay.
assert_eq "$(snapvolctl --json snapshot hold "$set" nightly)" \
    "{\"id\": \"$set\", \"tag\": \"nightly\", \"held\": 2}" "hold of a set"
assert_eq "$(snapvolctl --json snapshot list | jq -c '[.[].holds[].tag]')" \
    '["backup","job:7@host-1","nightly","nightly"]' "holds after the set's"
assert_eq "$(snapvolctl --json snapshot release "$set" nightly)" \
    "{\"id\": \"$set\", \"tag\": \"nightly\", \"released\": 2}" "release of a set"

# snapshot.release, then the deletion goes through.
assert_eq "$(snapvolctl --json snapshot release "$ida" backup)" \
    "{\"id\": \"$ida\", \"tag\": \"backup\", \"released\": 1}" "release --json"
assert_eq "$(snapvolctl snapshot release "$ida" job:7@host-1)" \
    "Released hold job:7@host-1 of snapshot $ida." "release"
assert_eq "$(snapvolctl --json snapshot delete "$set")" \
    "{\"id\": \"$set\", \"deleted\": 2}" "the set's deletion once released"

stop_snapvol
check_sanitizer_log
