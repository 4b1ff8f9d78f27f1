#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-refuses-stale-term.sh: fencing on the writer's side
# (docs/protocol.md, "Terms").  A real snapvol-writer with hooks
# registers with a scripted coordinator whose register result carries
# term 7: a prepare with term 5 is refused at once (the term came from
# the registration).  Then prepare, freeze and thaw of set 1 with term
# 7 run their hooks; after them every call with term 5 -- prepare,
# freeze, thaw, abort, post_snapshot, pre_restore, post_restore of set
# 2 -- is refused with the exact -32013 error, and no hook runs for any
# of them (the hooks' log holds set 1's three events only).

source "$(dirname "$0")/functions.sh"
set -x

start_fakecoord leader --term 7
coordinator_address=127.0.0.1:${fake_port[leader]}
cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
echo "\$SNAPVOL_EVENT \$SNAPVOL_SET_ID" >>'$tmp/hooks.log'
EOF
start_writer --no-wait writer-db storage-a/db
poll 20 grep -q '"registered"' "$tmp/leader.events"

set1=11111111-1111-4111-8111-111111111111
set2=22222222-2222-4222-8222-222222222222
stale='{"code":-32013,"message":"stale coordinator term 5: term 7 is current; nothing was done","data":{"term":7}}'

r=$(fake_call leader writer.prepare '{"set_id":"'$set2'","volumes":["storage-a/db"],"label":"x","term":5}')
assert_eq "$(jq -c .error <<<"$r")" "$stale" "prepare with term 5 after a register result of term 7"

r=$(fake_call leader writer.prepare '{"set_id":"'$set1'","volumes":["storage-a/db"],"label":"x","term":7}')
assert_eq "$(jq -c .result <<<"$r")" '{}' "prepare with term 7"
r=$(fake_call leader writer.freeze '{"set_id":"'$set1'","window_ms":20000,"term":7}')
assert_eq "$(jq -c .result <<<"$r")" '{}' "freeze with term 7"
r=$(fake_call leader writer.thaw '{"set_id":"'$set1'","term":7}')
assert_eq "$(jq -c .result <<<"$r")" '{}' "thaw with term 7"

for call in \
    'writer.prepare {"set_id":"'$set2'","volumes":["storage-a/db"],"label":"x","term":5}' \
    'writer.freeze {"set_id":"'$set2'","window_ms":20000,"term":5}' \
    'writer.thaw {"set_id":"'$set2'","term":5}' \
    'writer.abort {"set_id":"'$set2'","reason":"stale","term":5}' \
    'writer.post_snapshot {"set_id":"'$set2'","snapshots":[],"term":5}' \
    'writer.pre_restore {"set_id":"'$set2'","volumes":["storage-a/db"],"window_ms":20000,"term":5}' \
    'writer.post_restore {"set_id":"'$set2'","reverted":true,"term":5}'
do
    r=$(fake_call leader ${call%% *} "${call#* }")
    assert_eq "$(jq -c .error <<<"$r")" "$stale" "${call%% *} with term 5"
done

# The refused calls ran no hook: the agent answers a call only once its
# hook has ended, so the log is complete now.
assert_eq "$(cat "$tmp/hooks.log")" "prepare $set1
freeze $set1
thaw $set1" "the hooks run"
grep -F "refused writer.freeze from stale term 5 (term 7 is current)" "$tmp/writer-db.log" ||
    fail "the writer did not log the refusal"
stop_writer writer-db
