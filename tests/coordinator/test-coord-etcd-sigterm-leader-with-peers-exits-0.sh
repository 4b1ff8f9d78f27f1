#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-etcd-sigterm-leader-with-peers-exits-0.sh: SIGTERM on a
# leading coordinator ('catalog etcd') while a provider and a writer
# are registered: it closes their connections, records them
# disconnected in the catalog on etcd, then gives its leadership up and
# exits with status 0 (with sanitizers: without a leak).  The other
# coordinator, elected, lists both as recorded then.  (The connections
# used to be closed after the etcd catalog was, and the first
# disconnection's catalog write crashed the daemon.)

source "$(dirname "$0")/functions.sh"
source "$abs_top_srcdir/tests/etcd-functions.sh"
set -x

ecoord_start_two
leader=$(ecoord_wait_leader a b)
follower=$(ecoord_other "$leader")
term=$(jget "$(ecoord_status "$leader")" 'j["term"]')

port=${ecoord_port[$leader]}
start_peer storage-a storage-a provider --volume db:1048576
start_peer writer-db writer-db writer --volume storage-a/db

lpid=${ecoord_pid[$leader]}
kill -TERM "$lpid"
timeout 20 tail -s 0.1 --pid="$lpid" -f /dev/null || fail "$leader did not stop"
status=0
wait "$lpid" || status=$?
ecoord_pid[$leader]=
assert_eq "$status" 0 "$leader's exit status after SIGTERM"
assert_eq "$(grep -E -o 'provider storage-a disconnected|writer writer-db disconnected|leadership of term [0-9]+ given up' \
                 "$tmp/$leader.log")" \
    "provider storage-a disconnected
writer writer-db disconnected
leadership of term $term given up" "$leader's last steps"
coord_log=$tmp/$leader.log check_coord_log

# What it recorded while stopping is on etcd: the new leader has it.
stop_peer storage-a
stop_peer writer-db
assert_eq "$(ecoord_wait_leader "$follower")" "$follower" "the leader after $leader stopped"
out=$(ecoord_call "$follower" backup provider.list)
assert_eq "$(jget "$out" '[[p["name"], p["connected"]] for p in j["result"]]')" \
    '[["storage-a", false]]' "provider.list on $follower"
out=$(ecoord_call "$follower" backup writer.list)
assert_eq "$(jget "$out" '[[w["name"], w["connected"], w["state"]] for w in j["result"]]')" \
    '[["writer-db", false, "disconnected"]]' "writer.list on $follower"
