#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-provider-refuses-stale-term.sh: fencing on the provider's
# side (docs/protocol.md, "Terms").  A real provider (nbdkit with the
# plugin) registers with a scripted coordinator, which takes a hold
# with term 7 and commits it; then calls with term 5, as a deposed
# leader waking up late would: hold.begin, hold.commit and
# snapshot.delete are each refused with the exact -32013 error, and
# nothing is held, pinned or deleted (the control socket's snapshot
# list is the same before and after).  A call without a term (0) is
# refused the same way, and one with term 7 still works.

source "$(dirname "$0")/functions.sh"
set -x

start_fakecoord leader
coordinator_address=127.0.0.1:${fake_port[leader]}
start_provider --no-wait storage-a db:1M
poll 20 grep -q '"registered"' "$tmp/leader.events"

set1=11111111-1111-4111-8111-111111111111
set2=22222222-2222-4222-8222-222222222222
fresh=$(fake_call leader hold.begin '{"volumes":["db"],"set_id":"'$set1'","term":7}')
echo "$fresh"
hold=$(jq -r .result.hold_id <<<"$fresh")
[ -n "$hold" ] && [ "$hold" != null ] || fail "hold.begin with term 7 failed: $fresh"
r=$(fake_call leader hold.commit '{"hold_id":"'"$hold"'","set_id":"'$set1'","term":7}')
snap=$(jq -r '.result.snapshots[0].id' <<<"$r")
[ -n "$snap" ] && [ "$snap" != null ] || fail "hold.commit with term 7 failed: $r"
before=$(provider_holds storage-a)
assert_eq "$before" "$snap " "the snapshots after the term-7 set"

stale='{"code":-32013,"message":"stale coordinator term 5: term 7 is current; nothing was done","data":{"term":7}}'
r=$(fake_call leader hold.begin '{"volumes":["db"],"set_id":"'$set2'","term":5}')
assert_eq "$(jq -c .error <<<"$r")" "$stale" "hold.begin with term 5"
assert_eq "$(jq -c .result <<<"$r")" null "hold.begin with term 5 has no result"
r=$(fake_call leader hold.commit '{"hold_id":"'"$hold"'","set_id":"'$set2'","term":5}')
assert_eq "$(jq -c .error <<<"$r")" "$stale" "hold.commit with term 5"
r=$(fake_call leader snapshot.delete '{"id":"'"$snap"'","term":5}')
assert_eq "$(jq -c .error <<<"$r")" "$stale" "snapshot.delete with term 5"
r=$(fake_call leader snapshot.delete '{"id":"'"$snap"'"}')
assert_eq "$(jq -c .error <<<"$r")" \
    '{"code":-32013,"message":"stale coordinator term 0: term 7 is current; nothing was done","data":{"term":7}}' \
    "snapshot.delete without a term"

# Nothing was held: writes go through at once, and a new hold by the
# current term finds no other hold in its way (wait_ms 0).
assert_eq "$(provider_holds storage-a)" "$before" "the snapshots after the stale calls"
timeout 10 /usr/bin/python3 "$NBDIO" write "$(puri storage-a db)" 0 written ||
    fail "a write blocked or failed after the stale hold.begin"
r=$(fake_call leader hold.begin '{"volumes":["db"],"wait_ms":0,"term":7}')
hold=$(jq -r .result.hold_id <<<"$r")
[ -n "$hold" ] && [ "$hold" != null ] || fail "hold.begin with term 7 after the stale calls: $r"
r=$(fake_call leader hold.release '{"hold_id":"'"$hold"'","term":8}')
assert_eq "$(jq -c .result <<<"$r")" '{"released":true}' "hold.release with term 8"
r=$(fake_call leader hold.begin '{"volumes":["db"],"wait_ms":0,"term":7}')
assert_eq "$(jq -c .error.data <<<"$r")" '{"term":8}' "term 7 after term 8"
grep -F "refused hold.begin from stale term 5 (term 7 is current)" "$tmp/storage-a.log" ||
    fail "the provider did not log the refusal"
stop_provider storage-a
