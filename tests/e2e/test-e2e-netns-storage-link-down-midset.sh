#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-netns-storage-link-down-midset.sh: storage host B is cut off
# (its port on the switch down, as a pulled cable: no reset, silence)
# in the middle of a set across storage hosts A and B, on the topology
# of netns-functions.sh with TLS on every link.  writer-db's freeze
# hook pulls the cable, so the coordinator's hold.begin to storage-b
# goes nowhere; with a heartbeat of 500 ms the coordinator drops
# storage-b and the set fails cleanly: state failed, the reason names
# storage-b, no snapshot; both writers are thawed (thaw, then abort);
# storage-a holds nothing and keeps no snapshot of the failed set
# within its hold lease (5 s).  With the cable back, storage-b
# registers again by itself, keeps no hold and no snapshot of the
# failed set either, and a new set across A and B commits.

source "$(dirname "$0")/netns-functions.sh"
set -x

conf_heartbeat=500ms
conf_hold_timeout=5s
ns_setup
ns_pki
ns_write_conf
ns_start_coordinator
ns_start_provider a storage-a db:4M
ns_start_provider b storage-b logs:4M

# writer-db's freeze hook pulls storage-b's cable, once.
cat >"$tmp/writer-db.hook" <<HOOK
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = freeze ] && [ ! -e '$tmp/pulled' ]; then
    : >'$tmp/pulled'
    ip -n '$(ns sw)' link set port-b down || exit 1
fi
exit 0
HOOK
ns_start_writer writer-db storage-a/db
ns_start_writer writer-logs storage-b/logs

status=0
ctl --json set create storage-a/db storage-b/logs >"$tmp/failed.json" 2>"$tmp/failed.err" ||
    status=$?
failed_at=$(now_ms)
cat "$tmp/failed.json" "$tmp/failed.err"
assert_eq "$status" 1 "exit status of the failed set create"
[ -e "$tmp/pulled" ] || fail "the freeze hook did not pull storage-b's cable"
set_id=$(jq -r .set_id "$tmp/failed.json")
assert_eq "$(jq -c '[.state, .reason, .snapshots]' "$tmp/failed.json")" \
    '["failed","provider storage-b: the connection closed before the answer to hold.begin",[]]' \
    "the failed set"
assert_eq "$(ctl --json set show "$set_id" | jq -r .state)" failed "the set's state in the catalog"
poll 10 eval '! provider_connected storage-b'
grep -q "provider storage-b: any hold of snapshot set $set_id it has is released (by set id) when it registers again" "$coord_log" ||
    fail "the coordinator did not keep the release for storage-b"

# Both writers were thawed, then told the set was aborted.
for w in writer-db writer-logs; do
    poll 10 eval "[ \"\$(events $w | tail -n 1)\" = \"abort $set_id\" ]"
    assert_eq "$(events $w)" "prepare $set_id
freeze $set_id
thaw $set_id
abort $set_id" "events of $w"
done

# storage-a holds nothing, and keeps no snapshot of the failed set,
# within its lease (5 s, counted from the failure at the latest).
a_clean ()
{
    [ "$(provider_snapshots storage-a | jq -c --arg s "$set_id" \
        '[.[] | select((.holds | length) > 0 or .set_id == $s)]')" = '[]' ]
}
poll 10 a_clean
echo "storage-a clean $(( $(now_ms) - failed_at )) ms after the failure"

# The cable back: storage-b, which found its coordinator silent for 3
# heartbeats, registers again by itself; the coordinator sends it the
# release and the deletion of the failed set it kept for it, so that
# storage-b holds nothing of it.
ns_link b up
poll 40 provider_connected storage-b
grep -q "no answer to ping for 1500 ms; reconnecting" "$tmp/storage-b.log" ||
    fail "storage-b did not say why it reconnected"
deleted () { grep -q "provider storage-b: deleted what remained of snapshot set $set_id" "$coord_log"; }
poll 10 deleted
b_clean ()
{
    [ "$(provider_snapshots storage-b | jq -c '[.[] | select((.holds | length) > 0 or .set_id != null)]')" = '[]' ]
}
poll 10 b_clean

# A new set across A and B commits.
ctl --json set create storage-a/db storage-b/logs >"$tmp/ok.json"
ok_id=$(jq -r .set_id "$tmp/ok.json")
assert_eq "$(jq -c '[.state, [.participants[] | [.name, .state]]]' "$tmp/ok.json")" \
    '["committed",[["writer-db","done"],["writer-logs","done"],["storage-a","committed"],["storage-b","committed"]]]' \
    "the set after the cable is back"
for w in writer-db writer-logs; do
    assert_eq "$(events $w | tail -n 4)" "prepare $ok_id
freeze $ok_id
thaw $ok_id
post_snapshot $ok_id" "events of $w in the new set"
done
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c '[.[] | .set_id]')" "[\"$ok_id\"]" "snapshots on $p"
done

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
