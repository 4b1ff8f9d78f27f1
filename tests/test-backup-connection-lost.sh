#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-connection-lost.sh: the source's NBD server dies in the
# middle of a backup: snapvolctl fails naming the lost connection,
# releases its holds, and leaves the manifest in progress (resumable),
# never complete.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
set -x

start_source 64M
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\x33" * (64 << 20), 0); h.flush()'
id=$(snap)
# Each read of the source waits 200 ms, one at a time: 64 reads of
# 1 MiB, 13 s, time to cut the connection in the middle.
start_delay_proxy "v@$id" 200ms

"${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl" backup --quiet --nbd "$proxy_uri" \
    --connections 1 v@"$id" "$tmp/c.img" 2>"$tmp/lost.err" &
pid=$!
wait_for resume_offset_above "$tmp/c.img" 0
kill -KILL "$proxy_pid"
status=0
wait "$pid" || status=$?
assert_eq "$status" 1 "exit status"
offset=$(manifest_get "$tmp/c.img" resume_offset)
err=$(cat "$tmp/lost.err")
case $err in
    "snapvolctl: backup: connection to nbd+unix:///v@$id?socket=$tmp/proxy.sock lost: "*"($tmp/c.img is incomplete: done below offset $offset; run the same command with --resume to continue)") ;;
    "snapvolctl: backup: cannot read nbd+unix:///v@$id?socket=$tmp/proxy.sock at offset "*"($tmp/c.img is incomplete: done below offset $offset; run the same command with --resume to continue)") ;;
    *) fail "unexpected error: $err" ;;
esac
assert_eq "$(manifest_get "$tmp/c.img" state)" in-progress "manifest after the lost connection"
assert_eq "$(holds_of "$id")" "" "holds after the failure"

check_sanitizer_log
