#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-revert-provider-killed-mid-revert.sh: all or none when a
# provider is killed (SIGKILL) as hold.revert reaches it.  A helper
# started by the writer's pre_restore hook watches storage-b's debug
# log and kills storage-b the moment it logs hold.revert; whether it
# reverted, and whether its answer got out, is up to the race.  Then
# storage-b restarts on its pool and registers; its deleter runs what
# it is owed (revert.undo, or the undo set's deletion).  Once it is
# done, either the coordinator answered "reverted" and both volumes
# read back every byte of the set, or it answered -32010 and both read
# back every byte they had before: never one of each.  Either way no
# undo snapshot is left.

source "$(dirname "$0")/functions.sh"
set -x

SNAPVOL_TEST_VERBOSE=1
start_set_then_overwrite

cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = pre_restore ]; then
    n=\$(grep -c 'provider link: hold.revert' '$tmp/storage-b.log')
    setsid sh -c 'i=0
        while [ \$i -lt 3000 ]; do
            [ \$(grep -c "provider link: hold.revert" "$tmp/storage-b.log") -gt '\$n' ] && break
            sleep 0.005; i=\$((i + 1))
        done
        kill -KILL \$(cat "$tmp/storage-b.pid")
        touch "$tmp/killed"' </dev/null >/dev/null 2>&1 &
fi
EOF
start_writer writer-db storage-a/db

status=0
ctl_admin --json set revert "$s1" >"$tmp/out" 2>"$tmp/err" || status=$?
cat "$tmp/out" "$tmp/err"
poll 20 test -e "$tmp/killed"
case $status in
0) outcome=A; assert_eq "$(jq -r .state "$tmp/out")" reverted "the answer" ;;
1) outcome=C
   assert_eq "$(grep '^snapvolctl:' "$tmp/err")" "snapvolctl: set revert: revert to snapshot set $s1 failed, nothing is reverted: provider storage-b: the connection closed before the answer to hold.revert (snapshot set failed, error -32010)
snapvolctl: set revert:   writer writer-db: restored
snapvolctl: set revert:   provider storage-a: undone
snapvolctl: set revert:   provider storage-b: failed: the connection closed before the answer to hold.revert" \
       "the error" ;;
*) fail "set revert exited with $status" ;;
esac
echo "the revert ended with the volumes at $outcome"

kill9_provider storage-b
start_provider storage-b logs:8M
# The deleter's round at the registration: revert.undo of the undo
# set, or its deletion; done when storage-b has no undo snapshot.
no_undo () { [ "$(provider_snapshots storage-b | jq -c '[.[] | .set_id]')" = "[\"$s1\"]" ]; }
poll 30 no_undo
for p in storage-a:db storage-b:logs; do
    assert_eq "$(uri_md5 "$(puri "${p%:*}" "${p#*:}")")" "$(md5sum <"$tmp/${p#*:}.$outcome" | cut -d' ' -f1)" \
        "${p%:*} once storage-b is back ($outcome)"
    assert_eq "$(provider_snapshots "${p%:*}" | jq -c '[.[] | .set_id]')" "[\"$s1\"]" "snapshots of ${p%:*}"
done
check_logs
