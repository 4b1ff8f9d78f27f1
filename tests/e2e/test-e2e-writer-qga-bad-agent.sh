#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-qga-bad-agent.sh: snapvol-writer --qga with a socket
# that is not a working qemu guest agent fails the set with a reason
# naming the socket and what is wrong, shown in `writer list`; no
# snapshot is left; and a refused freeze is followed by a thaw, so the
# guest is never left frozen.  Cases: no socket, a socket that is not
# an agent (an SSH greeting), an agent that never answers, an agent
# that refuses guest-fsfreeze-freeze.  Then a working agent: the set
# commits, frozen then thawed.

source "$(dirname "$0")/functions.sh"
set -x

QGAPEER=$abs_top_srcdir/tests/e2e/qgapeer.py
qsock=$tmp/qga.sock
write_conf
start_coordinator
start_provider storage-a db:8M
start_writer writer-db --qga "$qsock" --freeze-timeout 2000 storage-a/db

peer_pid=
stop_peer_qga ()
{
    [ -n "$peer_pid" ] || return 0
    kill -TERM "$peer_pid" 2>/dev/null
    wait "$peer_pid" 2>/dev/null || :
    peer_pid=
    rm -f "$qsock"
    return 0
}
cleanup_fn stop_peer_qga
# serve MODE: a fresh fake agent on $qsock, its commands in $tmp/qga.log.
serve ()
{
    stop_peer_qga
    rm -f "$tmp/qga.log"
    /usr/bin/python3 "$QGAPEER" serve "$1" "$qsock" "$tmp/qga.log" &
    peer_pid=$!
    poll 10 test -S "$qsock"
}
# expect_failed_set EVENT REASON: a set fails with writer-db's REASON
# for EVENT, shown in writer list; no snapshot is left.
expect_failed_set ()
{
    local event=$1 reason=$2 status=0
    ctl --json set create storage-a/db >"$tmp/set.json" 2>"$tmp/set.err" || status=$?
    cat "$tmp/set.json" "$tmp/set.err"
    assert_eq "$status" 1 "exit status of set create"
    assert_eq "$(jq -r '.reason' "$tmp/set.json")" \
        "writer writer-db: writer.$event failed: $reason (error -32603)" "reason of the failed set"
    assert_eq "$(ctl --json writer list | jq -r '.[] | select(.name == "writer-db") | .last_error')" \
        "writer.$event failed: $reason (error -32603)" "writer-db's last error"
    assert_eq "$(provider_snapshots storage-a | jq -c .)" '[]' "snapshots on storage-a"
}

# Nothing listens.
expect_failed_set prepare "qemu guest agent at $qsock: connect: No such file or directory"

# An SSH server, not an agent.
serve notagent
expect_failed_set prepare "qemu guest agent at $qsock: guest-sync-delimited: the answer 'SSH-2.0-OpenSSH_9.2p1?' is not a qemu guest agent's"

# An agent that reads and never answers: prepare's budget is the
# freeze timeout less its margin.
serve silent
start=$(now_ms)
expect_failed_set prepare "qemu guest agent at $qsock: guest-sync-delimited: no answer within 1800 ms"
elapsed=$(( $(now_ms) - start ))
[ "$elapsed" -lt 4000 ] || fail "the set failed after $elapsed ms"

# An agent that refuses the freeze: a thaw follows.
serve refuse
expect_failed_set freeze "qemu guest agent at $qsock: guest-fsfreeze-freeze was refused: failed to freeze /mnt: Device or resource busy (GenericError); the guest was thawed"
assert_eq "$(cut -d' ' -f1 "$tmp/qga.log" | grep -v guest-sync-delimited)" "guest-fsfreeze-status
guest-fsfreeze-freeze
guest-fsfreeze-thaw" "the agent's commands"
assert_eq "$(/usr/bin/python3 "$QGAPEER" status "$qsock")" thawed "the agent's state after the refused freeze"

# A working agent: frozen for the pin, thawed after.
serve agent
ctl --json set create storage-a/db >"$tmp/ok.json"
assert_eq "$(jq -r .state "$tmp/ok.json")" committed "state of the set with a working agent"
assert_eq "$(grep -v guest-sync-delimited "$tmp/qga.log")" "guest-fsfreeze-status thawed
guest-fsfreeze-freeze frozen
guest-fsfreeze-thaw thawed" "the agent's commands in the set"
assert_eq "$(ctl --json writer list | jq -c '.[] | select(.name == "writer-db") | [.state, .last_event]')" \
    '["stable","post_snapshot"]' "writer-db after the set"

stop_peer_qga
stop_writer writer-db
stop_provider storage-a
stop_coordinator
check_logs
