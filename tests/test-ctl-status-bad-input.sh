#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-ctl-status-bad-input.sh: `snapvolctl status` refuses a wrong
# command line before connecting to anything: an unknown option, a
# --sets that is not a number from 1 to 100 or has no value, an
# argument, no coordinator.  Each gets exactly one line on stderr (the
# text asserted), nothing on stdout, exit status 2; with --json also
# the error object on stdout.

source "$(dirname "$0")/functions.sh"
[ -x "$SNAPVOLCTL" ] || skip "snapvolctl is not built: $SNAPVOLCTL"
set -x

unset SNAPVOL_COORDINATOR SNAPVOL_CERT SNAPVOL_KEY SNAPVOL_CA SNAPVOL_SOCKET
# Nothing listens there, and the files need not exist: every case is
# refused before the certificate is read or a connection is made.
coord=(--coordinator 127.0.0.1:1 --cert "$tmp/no.crt" --key "$tmp/no.key" --ca "$tmp/no-ca.crt")

# refused MESSAGE ARGS...: snapvolctl ARGS... exits 2 with exactly
# "snapvolctl: MESSAGE" on stderr and nothing on stdout.
refused ()
{
    local message=$1 status=0
    shift
    "${ctl_env[@]}" "$SNAPVOLCTL" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    assert_eq "$status" 2 "exit status of snapvolctl $*"
    assert_eq "$(cat "$tmp/err")" "snapvolctl: $message" "stderr of snapvolctl $*"
    assert_eq "$(cat "$tmp/out")" "" "stdout of snapvolctl $*"
}

refused "status: unknown option '--frob'" "${coord[@]}" status --frob
refused "status: unknown option '-x'" "${coord[@]}" status -x
refused "status: invalid --sets 'abc': expected a number of sets from 1 to 100" \
    "${coord[@]}" status --sets abc
refused "status: invalid --sets '5x': expected a number of sets from 1 to 100" \
    "${coord[@]}" status --sets 5x
refused "status: invalid --sets '0': expected a number of sets from 1 to 100" \
    "${coord[@]}" status --sets 0
refused "status: invalid --sets '101': expected a number of sets from 1 to 100" \
    "${coord[@]}" status --sets 101
refused "status: invalid --sets '': expected a number of sets from 1 to 100" \
    "${coord[@]}" status --sets ''
refused "status: option '--sets' needs an argument" "${coord[@]}" status --sets
refused "status: too many arguments (expected: [--sets N])" "${coord[@]}" status all
refused "status: no coordinator: use --coordinator HOST:PORT or set SNAPVOL_COORDINATOR" \
    status
refused "status: no coordinator: use --coordinator HOST:PORT or set SNAPVOL_COORDINATOR" \
    --socket "$tmp/ctl.sock" status --sets 3
refused "status: the coordinator needs a client certificate: give --cert, --key and --ca (or SNAPVOL_CERT, SNAPVOL_KEY and SNAPVOL_CA)" \
    --coordinator 127.0.0.1:1 status

# With --json the same error is also one object on stdout.
status=0
"${ctl_env[@]}" "$SNAPVOLCTL" "${coord[@]}" --json status --sets abc >"$tmp/out" 2>"$tmp/err" || status=$?
assert_eq "$status" 2 "exit status with --json"
assert_eq "$(cat "$tmp/out")" \
    '{"error": {"code": 2, "message": "invalid --sets '"'abc'"': expected a number of sets from 1 to 100"}}' \
    "the error as JSON"
assert_eq "$(cat "$tmp/err")" \
    "snapvolctl: status: invalid --sets 'abc': expected a number of sets from 1 to 100" "stderr with --json"
