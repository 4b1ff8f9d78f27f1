#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-retention-keeps-last-n.sh: with `keep-sets 2` in the
# coordinator's configuration, each committed set is followed by the
# deletion (set.delete's path, on both providers and in the catalog) of
# every committed set older than the newest two, except a set held
# through the coordinator (set.hold: `set list` shows its holds, and
# the log says why it is kept) and a set held on a provider directly
# (the provider refuses, the refusal is logged, the set stays listed).
# Released, a held set goes at the next committed set.

source "$(dirname "$0")/functions.sh"
set -x

write_conf "keep-sets 2"
start_coordinator
start_provider storage-a db:4M
start_provider storage-b logs:4M

# new_set LABEL: take a set of both volumes, print its id.
new_set ()
{
    ctl --json set create storage-a/db storage-b/logs --label "$1" | jq -r .set_id
}

# sets: the catalog's committed sets, newest first, as LABEL or
# LABEL(TAGS), comma-separated.
sets ()
{
    ctl --json set list --state committed |
        jq -r '[.[] | .label + (if (.holds | length) > 0
                                then "(" + ([.holds[].tag] | join(",")) + ")"
                                else "" end)] | join(",")'
}

# snaps NAME: the labels of provider NAME's snapshots, oldest first.
snaps ()
{
    provider_snapshots "$1" | jq -r '[.[].label] | join(",")'
}

s1=$(new_set one)
s2=$(new_set two)
ctl set hold "$s1" backup >/dev/null
assert_eq "$(ctl --json set list | jq -c --arg id "$s1" '.[] | select(.set_id == $id) | .holds')" \
    '[{"tag":"backup","expires":null}]' "set list shows the hold"
ctl set list >"$tmp/table"
cat "$tmp/table"
grep -Eq "^$s1 +committed +[0-9: -]+ +2 +backup +one\$" "$tmp/table" ||
    fail "the set list table does not show the hold"

# Three sets: one is past the newest two, but held.
s3=$(new_set three)
poll 20 grep -q "set retention (keep-sets 2): snapshot set $s1 kept: held (tags: backup)" "$coord_log"
assert_eq "$(sets)" "three,two,one(backup)" "sets after the third"

# Four: two goes from both providers and the catalog; one stays.
s4=$(new_set four)
poll 20 eval '[ "$(sets)" = "four,three,one(backup)" ]'
assert_eq "$(snaps storage-a)" one,three,four "storage-a's snapshots"
assert_eq "$(snaps storage-b)" one,three,four "storage-b's snapshots"
grep -q "set retention (keep-sets 2): deleting snapshot set $s2" "$coord_log" ||
    fail "the deletion of set two was not logged"

# A hold taken on storage-a directly: the coordinator does not know it,
# asks for the deletion, and the provider refuses; the set stays.
a3=$(provider_snapshots storage-a | jq -r '.[] | select(.label == "three") | .id')
pctl storage-a snapshot hold "$a3" local-copy
s5=$(new_set five)
poll 20 grep -q "snapshot set $s3: deletion failed: provider storage-a: snapshot $a3 of volume db is held (tags: local-copy)" "$coord_log"
assert_eq "$(sets)" "five,four,three,one(backup)" "sets after the refused deletion"
assert_eq "$(snaps storage-a)" one,three,four,five "storage-a keeps three"

# Released through the coordinator: one goes at the next set.
ctl set release "$s1" backup >/dev/null
pctl storage-a snapshot release "$a3" local-copy
new_set six >/dev/null
poll 20 eval '[ "$(sets)" = "six,five" ]'
assert_eq "$(snaps storage-a)" five,six "storage-a's snapshots at the end"
assert_eq "$(snaps storage-b)" five,six "storage-b's snapshots at the end"

stop_provider storage-a
stop_provider storage-b
stop_coordinator
