#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-progress-bar.sh: snapvolctl backup draws a progress bar
# (percent, bytes done and total, rate, time left) when stderr is a
# terminal, none with --quiet, and none when stderr is not a terminal.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
requires script
set -x

start_source 64M
scribble 5 50
id=$(snap)

# On a terminal (script(1) gives the command one).
script -qec "$SNAPVOLCTL --socket $ctl backup v@$id $tmp/t.img >/dev/null" /dev/null \
    >"$tmp/tty.out" </dev/null
grep -Eq '100% [0-9.]+ [KMG]?i?B / 64 MiB  [0-9.]+ [KMG]?i?B/s  [0-9]+:[0-9]{2} left' "$tmp/tty.out" ||
    fail "no final progress line: $(cat -v "$tmp/tty.out")"
same_as_export "$tmp/t.img" "v@$id"

# --quiet on a terminal: nothing at all.
script -qec "$SNAPVOLCTL --socket $ctl backup --quiet v@$id $tmp/q.img" /dev/null \
    >"$tmp/quiet.out" </dev/null
assert_eq "$(cat -v "$tmp/quiet.out")" "" "output with --quiet"

# Not a terminal: the summary on stdout, nothing on stderr.
"$SNAPVOLCTL" --socket "$ctl" backup v@"$id" "$tmp/n.img" >"$tmp/n.out" 2>"$tmp/n.err"
assert_eq "$(cat "$tmp/n.err")" "" "stderr when not a terminal"
grep -q "^Backed up v@$id to $tmp/n.img: " "$tmp/n.out" || fail "no summary: $(cat "$tmp/n.out")"
