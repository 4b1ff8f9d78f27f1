#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-peers-skip-follower-without-leader.sh: a provider, a writer
# and snapvolctl given two coordinators, "FOLLOWER,LEADER", where the
# first is a scripted follower that answers every request with -32012
# and no leader named ({"leader": null}, no leader elected yet): each
# goes on to the next address, registers with the real coordinator
# there, and a set with the writer commits.  The follower saw each
# peer's registration once before that.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_fakecoord follower --follower none
coordinator_address=127.0.0.1:${fake_port[follower]},127.0.0.1:$port
cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
echo "\$SNAPVOL_EVENT" >>'$tmp/hooks.log'
EOF
start_provider storage-a db:1M
start_writer writer-db storage-a/db

assert_eq "$(fake_events follower request | jq -r .method | sort)" \
    "provider.register
writer.register" "what the follower was asked"

"${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "$coordinator_address" \
    --cert "$pki/backup.crt" --key "$pki/backup.key" --ca "$pki/ca.crt" \
    --json set create storage-a/db >"$tmp/set.json"
assert_eq "$(jq -c '[.state, [.participants[] | [.kind, .name, .state]]]' "$tmp/set.json")" \
    '["committed",[["writer","writer-db","done"],["provider","storage-a","committed"]]]' "the set"
assert_eq "$(fake_events follower request | jq -r .method | sort)" \
    "provider.register
set.create
writer.register" "what the follower was asked, with snapvolctl's call"
poll 20 grep -qx post_snapshot "$tmp/hooks.log"
assert_eq "$(cat "$tmp/hooks.log")" "prepare
freeze
thaw
post_snapshot" "the writer's hooks"
stop_writer writer-db
stop_provider storage-a
