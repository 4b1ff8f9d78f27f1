#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-resume-after-kill.sh: a backup killed with SIGKILL in
# the middle leaves its manifest "in-progress" (never "complete"), an
# incremental --since on it is refused, and --resume finishes it from
# where it stopped: the file then equals the snapshot export.  The same
# for a backup stopped by SIGTERM, which also releases its holds.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
set -x

start_source 64M
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\x5a" * (64 << 20), 0); h.flush()'
scribble 3 100
id=$(snap)
# Each read of the source waits 200 ms, one at a time: 64 reads of
# 1 MiB, 13 s.
start_delay_proxy "v@$id" 200ms
slow=(--nbd "$proxy_uri" --connections 1)

# Killed: the manifest is in progress, with the offset reached.
"${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl" backup --quiet "${slow[@]}" \
    v@"$id" "$tmp/r.img" 2>"$tmp/kill.err" &
pid=$!
wait_for resume_offset_above "$tmp/r.img" 0
kill -KILL "$pid"
wait "$pid" || :
assert_eq "$(manifest_get "$tmp/r.img" state)" in-progress "manifest after SIGKILL"
offset=$(manifest_get "$tmp/r.img" resume_offset)
# SIGKILL leaves the hold until its expiry (--hold-expires): end it.
tag=$(holds_of "$id")
case $tag in backup-*) ;; *) fail "no hold left by the killed backup: '$tag'" ;; esac
# The hold keeps the snapshot once no connection reads it any more.
refused_as_held ()
{
    ! snapvolctl snapshot delete "$id" 2>"$tmp/delete.err" >/dev/null &&
        grep -q "is held" "$tmp/delete.err"
}
wait_for refused_as_held
assert_eq "$(grep -v "^+" "$tmp/delete.err")" \
    "snapvolctl: snapshot delete: snapshot $id of volume v is held (tags: $tag)" "refused deletion"
snapvolctl snapshot release "$id" "$tag" >/dev/null
later=$(snap)
expect_fail "--since $id: $tmp/r.img holds an interrupted backup of $id (finish it with --resume)" \
    backup --since "$id" v@"$later" "$tmp/r.img"

# SIGTERM: the same, and the holds are released.
"${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl" backup --quiet --resume "${slow[@]}" \
    v@"$id" "$tmp/r.img" 2>"$tmp/term.err" &
pid=$!
wait_for resume_offset_above "$tmp/r.img" "$offset"
case $(holds_of "$id") in backup-*) ;; *) fail "no hold on $id during the backup" ;; esac
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
assert_eq "$status" 1 "exit status after SIGTERM"
offset=$(manifest_get "$tmp/r.img" resume_offset)
assert_eq "$(cat "$tmp/term.err")" \
    "snapvolctl: backup: interrupted by a signal ($tmp/r.img is incomplete: done below offset $offset; run the same command with --resume to continue)" \
    "error after SIGTERM"
assert_eq "$(manifest_get "$tmp/r.img" state)" in-progress "manifest after SIGTERM"
assert_eq "$(holds_of "$id")" "" "holds after SIGTERM"

# Resumed at full speed: complete and equal.
backup --json --resume v@"$id" "$tmp/r.img" >"$tmp/resume.json"
assert_eq "$(manifest_get "$tmp/r.img" state)" complete "manifest after --resume"
same_as_export "$tmp/r.img" "v@$id"
[ "$(jq .bytes_read "$tmp/resume.json")" -le $(( (64 << 20) - offset )) ] ||
    fail "--resume read $(jq .bytes_read "$tmp/resume.json") bytes, from offset $offset"
backup --quiet v@"$id" "$tmp/full.img"
assert_eq "$(manifest_get "$tmp/r.img" sha256)" "$(manifest_get "$tmp/full.img" sha256)" "hash after --resume"

check_sanitizer_log
