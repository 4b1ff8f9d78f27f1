#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-control-socket-mode.sh: the control socket is a Unix socket with
# mode 0600 owned by the server's user, whatever the umask.

source "$(dirname "$0")/functions.sh"
requires_snapvol
set -x

# The most permissive umask: the plugin must set the mode itself.
old_umask=$(umask)
umask 0000
start_snapvol "$tmp/pool" volume=v:1M
umask "$old_umask"

assert_eq "$(stat -c %F "$ctl")" socket "control socket type"
assert_eq "$(stat -c %a "$ctl")" 600 "control socket mode"
assert_eq "$(stat -c %u "$ctl")" "$(id -u)" "control socket owner"

# And it answers.
snapvolctl volume list >/dev/null

stop_snapvol
check_sanitizer_log
