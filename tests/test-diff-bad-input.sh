#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-diff-bad-input.sh: snapvolctl diff --json and snapshot.diff
# refuse bad input with one error object naming what is wrong: an
# unknown volume, an unknown or deleted FROM or TO, FROM not older than
# TO, a snapshot of another volume, a cursor past the end or negative,
# max_ranges out of range, a FROM that is not a UUID.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires jq
set -x

# json_error STATUS EXPECTED-JSON SNAPVOLCTL-ARGS...: snapvolctl must
# exit with STATUS and print exactly EXPECTED-JSON on stdout.
json_error ()
{
    local want_status=$1 want=$2 status=0
    shift 2
    "${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/out" "$tmp/err"
    assert_eq "$status" "$want_status" "exit status of snapvolctl $*"
    assert_eq "$(cat "$tmp/out")" "$want" "stdout of snapvolctl $*"
    assert_eq "$(wc -l <"$tmp/err")" 1 "lines on stderr of snapvolctl $*"
}

# rpc_error PARAMS EXPECTED-ERROR: snapshot.diff with PARAMS answers
# exactly EXPECTED-ERROR (the "error" member, compared as JSON).
rpc_error ()
{
    python3 - "$ctl" "$1" "$2" <<'PY'
import json, socket, sys
path, params, want = sys.argv[1:]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "snapshot.diff",
                      "params": json.loads(params)}).encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    buf += s.recv(65536)
got = json.loads(buf)
assert got.get("error") == json.loads(want), "got %s\nwant %s" % (got, want)
PY
}

start_snapvol "$tmp/pool" volume=a:1M volume=b:1M
a1=$(snapshot_create a | jq -r '.snapshots[0].id')
a2=$(snapshot_create a | jq -r '.snapshots[0].id')
a3=$(snapshot_create a | jq -r '.snapshots[0].id')
b1=$(snapshot_create b | jq -r '.snapshots[0].id')
snapvolctl snapshot delete "$a3"
none=11111111-2222-4333-8444-555555555555

json_error 1 '{"error": {"code": -32001, "message": "no volume named nosuch"}}' \
    diff --json nosuch "$a1"
json_error 1 '{"error": {"code": -32001, "message": "volume a has no snapshot '$none' (from)"}}' \
    diff --json a "$none" "$a2"
json_error 1 '{"error": {"code": -32001, "message": "volume a has no snapshot '$none' (to)"}}' \
    diff --json a "$a1" "$none"
json_error 1 '{"error": {"code": -32001, "message": "volume a has no snapshot '$a3' (to)"}}' \
    diff --json a "$a1" "$a3"
json_error 1 '{"error": {"code": -32602, "message": "from snapshot '$a2' (generation 2) is not older than to snapshot '$a1' (generation 1)"}}' \
    diff --json a "$a2" "$a1"
json_error 1 '{"error": {"code": -32602, "message": "snapshot '$b1' is a snapshot of volume b, not a"}}' \
    diff --json a "$b1"
json_error 1 '{"error": {"code": -32602, "message": "snapshot '$b1' is a snapshot of volume b, not a"}}' \
    diff --json a "$a1" "$b1"
json_error 2 '{"error": {"code": 2, "message": "invalid FROM '"'x'"': expected a snapshot UUID"}}' \
    diff --json a x
json_error 2 '{"error": {"code": 2, "message": "missing arguments (expected: [--json] VOLUME FROM [TO])"}}' \
    diff --json a

# What the command line cannot send: the cursor and max_ranges.
rpc_error '{"volume": "a", "from": "'$a1'", "cursor": 1048577}' \
    '{"code": -32602, "message": "cursor 1048577 is past the end of volume a (1048576 bytes)", "data": {"errno": "EINVAL"}}'
rpc_error '{"volume": "a", "from": "'$a1'", "cursor": -1}' \
    '{"code": -32602, "message": "'"'cursor'"' must be in 0..9223372036854775807, not -1"}'
rpc_error '{"volume": "a", "from": "'$a1'", "max_ranges": 0}' \
    '{"code": -32602, "message": "'"'max_ranges'"' must be in 1..65536, not 0"}'
rpc_error '{"volume": "a", "from": "'$a1'", "max_ranges": 65537}' \
    '{"code": -32602, "message": "'"'max_ranges'"' must be in 1..65536, not 65537"}'
rpc_error '{"volume": "a", "from": "not-a-uuid"}' \
    '{"code": -32602, "message": "'"'from'"' is not a UUID: '"'not-a-uuid'"'"}'
rpc_error '{"volume": "a", "from": "'$a1'", "bogus": 1}' \
    '{"code": -32602, "message": "unknown member '"'bogus'"'"}'

stop_snapvol
check_sanitizer_log
