#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-ctl-json-errors.sh: with --json, every failing snapvolctl command
# prints exactly one JSON object on stdout, {"error": {"code": N,
# "message": "..."}}, and exits non-zero: a wrong command line (code 2),
# local checks and connection failures (code 1), and the errors of a
# control socket and of the coordinator (their JSON-RPC codes).  The
# line on stderr stays.  (A failed snapshot set prints the set object
# instead: tests/peers/test-ctl-requester.sh.)

source "$abs_top_srcdir/tests/e2e/functions.sh"
set -x

# json_error STATUS EXPECTED-JSON SNAPVOLCTL-ARGS...: snapvolctl must
# exit with STATUS, print on stdout one JSON value equal to
# EXPECTED-JSON (compared as parsed by python3's json) and one line on
# stderr.
json_error ()
{
    local want_status=$1 want=$2 status=0
    shift 2
    "${ctl_env[@]}" "$SNAPVOLCTL" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/out" "$tmp/err"
    assert_eq "$status" "$want_status" "exit status of snapvolctl $*"
    /usr/bin/python3 - "$tmp/out" "$want" <<'PY' || fail "stdout of snapvolctl $*"
import json, sys
text = open(sys.argv[1]).read()
got = json.loads(text)          # one value and nothing else, or this fails
want = json.loads(sys.argv[2])
if text.count("\n") != 1 or not text.endswith("\n"):
    sys.exit("not one line: %r" % text)
if got != want:
    sys.exit("got %s\nwant %s" % (json.dumps(got), json.dumps(want)))
PY
    assert_eq "$(wc -l <"$tmp/err")" 1 "lines on stderr of snapvolctl $*"
}

# The command line.
json_error 2 '{"error": {"code": 2, "message": "unknown command '"'frobnicate'"' (see '"'snapvolctl --help'"')"}}' \
    --json frobnicate
json_error 2 '{"error": {"code": 2, "message": "unknown option '"'--bogus'"'"}}' \
    --bogus --json volume list
json_error 2 '{"error": {"code": 2, "message": "no command given"}}' --json
json_error 2 '{"error": {"code": 2, "message": "invalid SIZE '"'12Q'"': unknown suffix (use K, M, G, T, P or E, e.g. 10G or 512MiB)"}}' \
    --socket "$ctl" volume create w 12Q --json
json_error 2 '{"error": {"code": 2, "message": "no control socket: use --socket SOCKET or set SNAPVOL_SOCKET"}}' \
    --json volume list
json_error 2 '{"error": {"code": 2, "message": "invalid ID '"'not-a-uuid'"': expected a snapshot or set UUID"}}' \
    --json --socket "$ctl" snapshot delete not-a-uuid

# Local checks and connections.
json_error 1 '{"error": {"code": 1, "message": "cannot connect to '"$tmp/nosock"': No such file or directory"}}' \
    --json --socket "$tmp/nosock" volume list
json_error 1 '{"error": {"code": 1, "message": "'"$tmp"'/nopool is not a snapvol pool (no snapvol.pool file)"}}' \
    check --json "$tmp/nopool"

# The control socket's errors.
start_snapvol "$tmp/pool" volume=v:64M
json_error 1 '{"error": {"code": -32002, "message": "volume v already exists"}}' \
    --socket "$ctl" --json volume create v 64M
json_error 1 '{"error": {"code": -32001, "message": "no volume named nosuch"}}' \
    --socket "$ctl" --json volume delete nosuch
stop_snapvol

# The coordinator's: refused connection, an unknown set, a role that
# may not, and a certificate the client refuses.
write_conf
start_coordinator
missing=11111111-2222-4333-8444-555555555555
json_error 1 '{"error": {"code": 1, "message": "coordinator 127.0.0.1:1: connect: Connection refused"}}' \
    --json --coordinator 127.0.0.1:1 --cert "$pki/backup.crt" --key "$pki/backup.key" \
    --ca "$pki/ca.crt" set list
json_error 1 '{"error": {"code": -32001, "message": "no snapshot set '"$missing"'"}}' \
    --json --coordinator "127.0.0.1:$port" --cert "$pki/backup.crt" --key "$pki/backup.key" \
    --ca "$pki/ca.crt" set show "$missing"
json_error 1 '{"error": {"code": -32007, "message": "role writer may not call set.create"}}' \
    --json --coordinator "127.0.0.1:$port" --cert "$pki/writer-db.crt" --key "$pki/writer-db.key" \
    --ca "$pki/ca.crt" set create storage-a/db
json_error 1 '{"error": {"code": 1, "message": "coordinator 127.0.0.1:'"$port"': certificate verify failed: self-signed certificate in certificate chain"}}' \
    --json --coordinator "127.0.0.1:$port" --cert "$pki/backup.crt" --key "$pki/backup.key" \
    --ca "$pki/other-ca.crt" set list
stop_coordinator
