#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-revert-writer-veto-leaves-volumes.sh: a writer whose
# pre_restore hook fails vetoes a set revert: snapvolctl exits 1 with
# the coordinator's -32010 naming the writer and its hook's message,
# both volumes keep every byte they had, no undo snapshot is left on
# either provider, and the other writer, which had stopped, gets
# post_restore with SNAPVOL_REVERTED=0.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:8M

cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
case \$SNAPVOL_EVENT in
pre_restore|post_restore)
    echo "\$SNAPVOL_EVENT \${SNAPVOL_REVERTED:-}" >>'$tmp/writer-db.restore' ;;
esac
EOF
cat >"$tmp/writer-logs.hook" <<EOF
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = pre_restore ]; then
    echo "the application cannot stop now" >&2
    exit 3
fi
EOF
start_writer writer-db storage-a/db
start_writer writer-logs storage-b/logs

head -c 8M /dev/urandom >"$tmp/db.A"
head -c 8M /dev/urandom >"$tmp/logs.A"
nbdcopy "$tmp/db.A" "$(puri storage-a db)"
nbdcopy "$tmp/logs.A" "$(puri storage-b logs)"
s1=$(ctl --json set create storage-a/db storage-b/logs | jq -r .set_id)
head -c 8M /dev/urandom >"$tmp/db.C"
head -c 8M /dev/urandom >"$tmp/logs.C"
nbdcopy "$tmp/db.C" "$(puri storage-a db)"
nbdcopy "$tmp/logs.C" "$(puri storage-b logs)"
poll 10 live_closed storage-a db
poll 10 live_closed storage-b logs

status=0
ctl_admin --json set revert "$s1" >"$tmp/out" 2>"$tmp/err" || status=$?
cat "$tmp/out" "$tmp/err"
assert_eq "$status" 1 "exit status of a vetoed set revert"
assert_eq "$(grep -v '^+' "$tmp/err")" "snapvolctl: set revert: revert to snapshot set $s1 failed, nothing is reverted: writer writer-logs: writer.pre_restore failed: pre_restore hook exited with status 3: the application cannot stop now (error -32603) (snapshot set failed, error -32010)
snapvolctl: set revert:   writer writer-db: restored
snapvolctl: set revert:   writer writer-logs: failed: writer.pre_restore failed: pre_restore hook exited with status 3: the application cannot stop now (error -32603)
snapvolctl: set revert:   provider storage-a: pending
snapvolctl: set revert:   provider storage-b: pending" \
    "the error"

# Every byte as before the revert; no undo snapshot anywhere.
assert_eq "$(uri_md5 "$(puri storage-a db)")" "$(md5sum <"$tmp/db.C" | cut -d' ' -f1)" "storage-a/db"
assert_eq "$(uri_md5 "$(puri storage-b logs)")" "$(md5sum <"$tmp/logs.C" | cut -d' ' -f1)" "storage-b/logs"
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c '[.[] | .set_id]')" "[\"$s1\"]" "snapshots of $p"
done
# writer-db had stopped: it is told nothing was reverted.
assert_eq "$(cat "$tmp/writer-db.restore")" "pre_restore 
post_restore 0" "writer-db's restore hooks"
assert_eq "$(events writer-logs | tail -n 1)" "pre_restore $s1" "writer-logs's last event"
check_logs
