#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-revert-provider-killed-before-revert.sh: a provider
# killed (SIGKILL) between hold.begin and hold.revert: writer-db's
# pre_restore hook stops storage-b (SIGSTOP), so hold.begin reaches it
# but is never answered, and a helper kills it 1 s later.  The revert
# fails (-32010) with nothing reverted: storage-a's hold is released at
# once (a write to it completes), every byte of both volumes is as
# before once storage-b is back, no undo snapshot exists, and the
# writer got post_restore with SNAPVOL_REVERTED=0.

source "$(dirname "$0")/functions.sh"
set -x

start_set_then_overwrite

cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
case \$SNAPVOL_EVENT in
pre_restore)
    '$tmp/stop-process' '$tmp/storage-b.pid' || exit 1
    setsid sh -c 'sleep 1; kill -KILL \$(cat "$tmp/storage-b.pid")' </dev/null >/dev/null 2>&1 &
    echo "pre_restore" >>'$tmp/writer-db.restore' ;;
post_restore)
    echo "post_restore \$SNAPVOL_REVERTED" >>'$tmp/writer-db.restore' ;;
esac
EOF
start_writer writer-db storage-a/db

status=0
ctl_admin --json set revert "$s1" >"$tmp/out" 2>"$tmp/err" || status=$?
cat "$tmp/out" "$tmp/err"
assert_eq "$status" 1 "exit status"
assert_eq "$(grep '^snapvolctl:' "$tmp/err")" "snapvolctl: set revert: revert to snapshot set $s1 failed, nothing is reverted: provider storage-b: the connection closed before the answer to hold.begin (snapshot set failed, error -32010)
snapvolctl: set revert:   writer writer-db: restored
snapvolctl: set revert:   provider storage-a: released
snapvolctl: set revert:   provider storage-b: failed: the connection closed before the answer to hold.begin" \
    "the error"
assert_eq "$(cat "$tmp/writer-db.restore")" "pre_restore
post_restore 0" "the writer's restore hooks"
# storage-a holds nothing: a write completes at once.
timeout 5 /usr/bin/python3 "$NBDIO" write "$(puri storage-a db)" 8388096 "x" || fail "storage-a still held"
printf 'x' | dd of="$tmp/db.C" bs=1 seek=8388096 conv=notrunc 2>/dev/null

kill9_provider storage-b
start_provider storage-b logs:8M
for p in storage-a:db storage-b:logs; do
    assert_eq "$(uri_md5 "$(puri "${p%:*}" "${p#*:}")")" "$(md5sum <"$tmp/${p#*:}.C" | cut -d' ' -f1)" \
        "${p%:*} after the failed revert"
    assert_eq "$(provider_snapshots "${p%:*}" | jq -c '[.[] | .set_id]')" "[\"$s1\"]" "snapshots of ${p%:*}"
done
check_logs
