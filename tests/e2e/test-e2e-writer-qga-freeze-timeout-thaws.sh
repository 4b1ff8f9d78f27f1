#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-qga-freeze-timeout-thaws.sh: a qemu guest agent
# whose guest-fsfreeze-freeze does not answer within the writer's
# timeout (--freeze-timeout 2000: 1200 ms for the freeze, the rest for a
# thaw) fails the set with that reason; the agent, busy freezing,
# cannot take the thaw in time either, so the abort sends it again,
# and the guest ends thawed: the agent's last command is the thaw.

source "$(dirname "$0")/functions.sh"
set -x

QGAPEER=$abs_top_srcdir/tests/e2e/qgapeer.py
qsock=$tmp/qga.sock
write_conf
start_coordinator
start_provider storage-a db:8M
/usr/bin/python3 "$QGAPEER" serve slowfreeze:4000 "$qsock" "$tmp/qga.log" &
peer_pid=$!
stop_peer_qga ()
{
    kill -TERM "$peer_pid" 2>/dev/null
    wait "$peer_pid" 2>/dev/null || :
    return 0
}
cleanup_fn stop_peer_qga
poll 10 test -S "$qsock"
start_writer writer-db --qga "$qsock" --freeze-timeout 2000 storage-a/db

status=0
ctl --json set create storage-a/db >"$tmp/set.json" 2>"$tmp/set.err" || status=$?
cat "$tmp/set.json" "$tmp/set.err"
assert_eq "$status" 1 "exit status of set create"
reason="qemu guest agent at $qsock: guest-fsfreeze-freeze: no answer within 1200 ms; the thaw that followed failed too (qemu guest agent at $qsock: guest-sync-delimited: no answer within 600 ms): it is sent again at the abort"
assert_eq "$(jq -r '.reason' "$tmp/set.json")" \
    "writer writer-db: writer.freeze failed: $reason (error -32603)" "reason of the failed set"
assert_eq "$(provider_snapshots storage-a | jq -c .)" '[]' "snapshots on storage-a"

# The freeze ends in the guest after 4 s; the thaw of the abort follows.
thawed ()
{
    [ "$(grep -v guest-sync-delimited "$tmp/qga.log" | tail -n 1)" = "guest-fsfreeze-thaw thawed" ]
}
poll 20 thawed
assert_eq "$(grep -v guest-sync-delimited "$tmp/qga.log")" "guest-fsfreeze-status thawed
guest-fsfreeze-freeze frozen
guest-fsfreeze-thaw thawed" "the agent's commands"
assert_eq "$(/usr/bin/python3 "$QGAPEER" status "$qsock")" thawed "the agent's state"
assert_eq "$(events writer-db | cut -d' ' -f1 | tr '\n' ' ')" "prepare freeze abort " "events of writer-db"
assert_eq "$(ctl --json writer list | jq -r '.[] | select(.name == "writer-db") | .last_error')" \
    "writer.freeze failed: $reason (error -32603)" "writer-db's last error"

stop_writer writer-db
stop_provider storage-a
stop_coordinator
check_logs
