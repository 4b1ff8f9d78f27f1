#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-user-drops-privileges.sh: with 'user nobody', a coordinator
# started as root reads its key (root's, mode 0600), binds, and then
# runs with every uid and gid of nobody: it still takes a snapshot set
# and writes its catalog as nobody.  An unknown user is refused, naming
# it and its line.

source "$(dirname "$0")/functions.sh"
set -x

[ "$(id -u)" -eq 0 ] || skip "dropping privileges needs the test to run as root"
nobody_uid=$(id -u nobody) || skip "there is no user nobody"
nobody_gid=$(id -g nobody)

# The daemon writes its pid file in $tmp and its catalog in $tmp/state
# after the drop; the TLS files stay root's.
mkdir "$tmp/state"
chown nobody "$tmp" "$tmp/state"
[ "$(stat -c '%U %a' "$pki/server.key")" = "root 600" ] ||
    fail "the server key is not root's with mode 600: $(stat -c '%U %a' "$pki/server.key")"
catalog=$tmp/state/catalog.db
write_conf "user nobody"
start_coordinator

status=$(grep -E '^(Uid|Gid|Groups):' "/proc/$coord_pid/status")
expected="Uid:	$nobody_uid	$nobody_uid	$nobody_uid	$nobody_uid
Gid:	$nobody_gid	$nobody_gid	$nobody_gid	$nobody_gid
Groups:	$(id -G nobody | tr ' ' '\n' | sort -n | tr '\n' ' ')"
assert_eq "$(sed 's/[[:space:]]*$//' <<<"$status")" "$(sed 's/[[:space:]]*$//' <<<"$expected")" \
    "the ids of the running coordinator"
grep -q "running as user nobody (uid $nobody_uid, gid $nobody_gid)$" "$coord_log" ||
    fail "the log does not say which user it runs as"

# It still serves, and its catalog is nobody's.
start_peer storage-a storage-a provider --volume db:1048576
out=$(rpc backup set.create '{"volumes":["storage-a/db"],"label":"as-nobody"}')
assert_eq "$(jget "$out" 'j["result"]["state"] + " " + j["result"]["label"]')" \
    "committed as-nobody" "the set taken by the coordinator running as nobody"
assert_eq "$(stat -c %U "$catalog")" nobody "the owner of the catalog"
stop_peer storage-a
stop_coordinator

# An unknown user stops the start, naming it and its line.
write_conf "user no-such-user-snapvol"
line=$(grep -n '^user ' "$conf" | cut -d: -f1)
status=0
"$COORDINATOR" -n -c "$conf" 2>"$tmp/err" || status=$?
assert_eq "$status" 1 "exit status with an unknown user"
assert_eq "$(cat "$tmp/err")" "$conf:$line: 'user': no such user 'no-such-user-snapvol'" \
    "the error for an unknown user"
