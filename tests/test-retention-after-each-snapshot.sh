#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-retention-after-each-snapshot.sh: with the pool's default
# keep_last 2 and volume b's own keep_last 3, every snapshot is followed
# by retention: after each one the snapshot list holds exactly the
# newest 2 of a (3 of b), in order; a set spanning a and b is deleted
# only when both volumes' rules let it go; every deletion is logged
# before it happens and listed by policy.events with its reason.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires jq
set -x

start_snapvol "$tmp/pool" volume=a:1M volume=b:1M

pol=$(snapvolctl --json policy set --keep-last 2)
assert_eq "$(jq -c . <<<"$pol")" \
    '{"retention_from":"pool","retention":{"keep_last":2,"keep_younger":0,"keep_daily":0,"keep_weekly":0},"space":{"limit":0,"reserve":0,"on_full":"fail","used":0}}' \
    "policy.set's answer for the pool"
pol=$(snapvolctl --json policy set --volume b --keep-last 3)
assert_eq "$(jq -c . <<<"$pol")" \
    '{"volume":"b","retention_from":"volume","retention":{"keep_last":3,"keep_younger":0,"keep_daily":0,"keep_weekly":0}}' \
    "policy.set's answer for volume b"

# list VOLUME: the snapshots' labels, oldest first.
list ()
{
    snapvolctl --json snapshot list "$1" | jq -c '[.[] | .label]'
}

ids=()
for i in 1 2 3 4; do
    ids+=("$(snapshot_create a --label "a$i" | jq -r '.snapshots[0].id')")
    case $i in
        1) want='["a1"]' ;;
        2) want='["a1","a2"]' ;;
        3) want='["a2","a3"]' ;;
        4) want='["a3","a4"]' ;;
    esac
    assert_eq "$(list a)" "$want" "a's snapshots after snapshot $i"
done
# The exact list: ids in generation order.
assert_eq "$(snapvolctl --json snapshot list a | jq -c '[.[] | [.id, .label, .generation]]')" \
    "[[\"${ids[2]}\",\"a3\",3],[\"${ids[3]}\",\"a4\",4]]" "a's snapshot list"

# Sets over a and b: b keeps 3, a keeps 2, and a set goes only when
# neither volume keeps its snapshot.
for i in 1 2 3; do
    snapshot_create a b --label "s$i" >/dev/null
done
assert_eq "$(list a)" '["s1","s2","s3"]' "a after three sets (s1 kept: b keeps it)"
assert_eq "$(list b)" '["s1","s2","s3"]' "b after three sets"
snapshot_create a b --label s4 >/dev/null
assert_eq "$(list a)" '["s2","s3","s4"]' "a after four sets"
assert_eq "$(list b)" '["s2","s3","s4"]' "b after four sets"

# Events, oldest first: a1 to a4 deleted; s1 kept on a while b keeps
# it, then deleted on both; s2 kept on a, which b keeps.  Each names
# the rule that let it go (snapshot ids shown as ID).
ev=$(snapvolctl --json policy events)
r2='retention (keep_last 2): not among the 2 newest'
r3='retention (keep_last 3): not among the 3 newest'
kept="$r2; kept: snapshot ID of volume b in the same set is kept by its rules"
assert_eq "$(jq -c '[.[] | [.action, .policy, .volume, .label // null,
                         (.reason | gsub("[0-9a-f-]{36}"; "ID"))]]' <<<"$ev")" \
    "$(jq -nc --arg r2 "$r2" --arg r3 "$r3" --arg k "$kept" '[
        ["deleted","retention","a",null,$r2], ["deleted","retention","a",null,$r2],
        ["deleted","retention","a",null,$r2], ["deleted","retention","a",null,$r2],
        ["kept","retention","a",null,$k],
        ["deleted","retention","a",null,$r2], ["deleted","retention","b",null,$r3],
        ["kept","retention","a",null,$k]]')" \
    "policy events"
assert_eq "$(jq -r '[.[0].id, .[1].id] | join(",")' <<<"$ev")" "${ids[0]},${ids[1]}" \
    "the first two deletions are a1 and a2"
# Each deletion was logged before it happened.
grep -c "policy: deleting snapshot ${ids[0]} of volume a" "$nbdkit_log" ||
    fail "the deletion of ${ids[0]} was not logged"
[ "$(grep -c 'policy: deleting snapshot' "$nbdkit_log")" -eq 6 ] ||
    fail "expected 6 deletion lines in the log"

# The table shows what the policy removed below the list.
snapvolctl snapshot list a >"$tmp/table"
cat "$tmp/table"
grep -q "^Deleted by policy:" "$tmp/table" || fail "no 'Deleted by policy' section"
grep -q "^  a@${ids[0]} (taken [^)]*) deleted [^:]*:[^:]*:[^:]*: retention (keep_last 2): not among the 2 newest\$" \
    "$tmp/table" || fail "a1's deletion is not in the table"

# The policy survives a restart.
stop_snapvol
start_snapvol "$tmp/pool"
assert_eq "$(snapvolctl --json policy get b | jq -c .retention.keep_last)" 3 \
    "b's keep_last after a restart"
assert_eq "$(snapvolctl --json policy get a | jq -r .retention_from)" pool \
    "a follows the pool's default"
stop_snapvol
check_sanitizer_log
