#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-peers-follow-named-leader.sh: a provider, a writer and
# snapvolctl given only a scripted follower's address, which answers
# every request with -32012 naming the real coordinator as the leader:
# each follows the redirect, the provider and the writer register with
# the real coordinator, and snapvolctl's set create commits there.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_fakecoord follower --follower "127.0.0.1:$port"
coordinator_address=127.0.0.1:${fake_port[follower]}
cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
echo "\$SNAPVOL_EVENT" >>'$tmp/hooks.log'
EOF
start_provider storage-a db:1M
start_writer writer-db storage-a/db

"${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "$coordinator_address" \
    --cert "$pki/backup.crt" --key "$pki/backup.key" --ca "$pki/ca.crt" \
    --json set create storage-a/db >"$tmp/set.json"
assert_eq "$(jq -c '[.state, [.participants[] | [.kind, .name, .state]]]' "$tmp/set.json")" \
    '["committed",[["writer","writer-db","done"],["provider","storage-a","committed"]]]' "the set"
assert_eq "$(fake_events follower request | jq -r .method | sort)" \
    "provider.register
set.create
writer.register" "what the follower was asked"
grep -F "provider.register refused: coordinator 127.0.0.1:${fake_port[follower]} is not the leader; the leader is 127.0.0.1:$port (error -32012)" \
    "$tmp/storage-a.log" && fail "the redirect is not a failure to log" || :
stop_writer writer-db
stop_provider storage-a
