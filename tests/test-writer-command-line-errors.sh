#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-writer-command-line-errors.sh: snapvol-writer refuses a bad
# command line before it connects anywhere, with exit status 2 and one
# line on stderr naming what is wrong; --help and --version exit 0.

source "$(dirname "$0")/functions.sh"
set -x

writer=$abs_top_builddir/client/snapvol-writer
[ -x "$writer" ] || skip "snapvol-writer is not built: $writer"
unset SNAPVOL_COORDINATOR SNAPVOL_CERT SNAPVOL_KEY SNAPVOL_CA

# refused STDERR ARGS...: snapvol-writer ARGS exits 2, prints nothing
# on stdout and exactly STDERR on stderr.
refused ()
{
    local want=$1 status=0
    shift
    "${ctl_env[@]}" "$writer" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    assert_eq "$status" 2 "exit status of snapvol-writer $*"
    assert_eq "$(cat "$tmp/out")" "" "stdout of snapvol-writer $*"
    assert_eq "$(cat "$tmp/err")" "snapvol-writer: $want" "stderr of snapvol-writer $*"
}

tls=(--cert c.crt --key c.key --ca ca.crt)
refused "--name NAME is required" --coordinator 127.0.0.1:1 "${tls[@]}"
refused "no coordinator: use --coordinator HOST:PORT or set SNAPVOL_COORDINATOR" \
    --name w1 "${tls[@]}"
refused "the coordinator needs a client certificate: give --cert, --key and --ca (or SNAPVOL_CERT, SNAPVOL_KEY, SNAPVOL_CA)" \
    --name w1 --coordinator 127.0.0.1:1 --cert c.crt
refused "invalid --freeze-timeout '99': expected milliseconds from 100 to 600000" \
    --name w1 --freeze-timeout 99
refused "invalid --freeze-timeout '10s': expected milliseconds from 100 to 600000" \
    --name w1 --freeze-timeout 10s
refused "invalid --qga '': expected the path of the qemu guest agent's socket" \
    --name w1 --qga ''
refused "--qga may be given once" --name w1 --qga /run/a.sock --qga /run/b.sock
long=/run/$(printf 'q%.0s' $(seq 1 110)).sock
refused "invalid --qga '$long': a Unix socket path has at most 107 bytes" \
    --name w1 --qga "$long"
refused "invalid --fsfreeze '': expected the path of a mount point" \
    --name w1 --fsfreeze ''
refused "--fsfreeze '/srv/a' is given twice" \
    --name w1 --fsfreeze /srv/a --fsfreeze /srv/b --fsfreeze /srv/a
refused "invalid --postgres 'host=/run/postgresql port': missing \"=\" after \"port\" in connection info string" \
    --name w1 --postgres 'host=/run/postgresql port'
refused "invalid --postgres 'colour=blue': invalid connection option \"colour\"" \
    --name w1 --postgres 'colour=blue'
refused "--postgres may be given once" --name w1 --postgres port=5432 --postgres port=5433
refused "invalid --postgres-label-dir '$tmp/none': No such file or directory" \
    --name w1 --postgres port=5432 --postgres-label-dir "$tmp/none"
touch "$tmp/file"
refused "invalid --postgres-label-dir '$tmp/file': not a directory" \
    --name w1 --postgres port=5432 --postgres-label-dir "$tmp/file"
refused "--postgres-label-dir needs --postgres" \
    --name w1 --coordinator 127.0.0.1:1 "${tls[@]}" --postgres-label-dir "$tmp"
refused "option '--name' needs an argument" --name
refused "unknown option '-x'" -x
refused "unknown option '--frobnicate'" --frobnicate
refused "unexpected argument 'extra'" --name w1 extra
# The environment stands in for the options.
SNAPVOL_COORDINATOR=127.0.0.1:1 SNAPVOL_CERT=c.crt SNAPVOL_KEY=c.key \
    refused "--name NAME is required"

"${ctl_env[@]}" "$writer" --version >"$tmp/out" || fail "--version failed"
grep -Eq '^snapvol-writer \(snapvol\) [0-9]' "$tmp/out" || fail "--version: $(cat "$tmp/out")"
"${ctl_env[@]}" "$writer" --help >"$tmp/out" || fail "--help failed"
grep -q '^Usage: snapvol-writer --coordinator HOST:PORT' "$tmp/out" || fail "--help: $(head -1 "$tmp/out")"
