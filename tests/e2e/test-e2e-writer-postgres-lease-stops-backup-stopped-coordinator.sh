#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-postgres-lease-stops-backup-stopped-coordinator.sh:
# a coordinator stopped (SIGSTOP) while snapvol-writer --postgres holds
# a backup in progress sends neither thaw nor abort; at the end of the
# freeze window (3 s) the writer thaws on its own: pg_backup_stop runs,
# the label is kept, and the writer's session is gone from the server,
# so nothing is left in backup mode.  Once the coordinator goes on, the
# set fails.
#
# The coordinator is stopped by the freeze hook of a second writer of
# the set, once the first has started its backup.

source "$(dirname "$0")/functions.sh"
set -x

pg_setup
write_conf
start_coordinator
start_provider storage-a db:8M logs:8M
pg_initdb "$pgdir/data"
pg_start db "$pgdir/data" 5432
mkdir "$tmp/labels"

cat >"$tmp/writer-logs.hook" <<HOOK
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = freeze ]; then
    i=0
    while ! grep -q 'postgres: pg_backup_start for set' '$tmp/writer-db.log' && [ \$i -lt 80 ]; do
        sleep 0.1
        i=\$((i + 1))
    done
    '$tmp/stop-process' '$tmp/coordinator.pid' || exit 1
    touch '$tmp/coordinator-stopped'
fi
exit 0
HOOK
start_writer writer-db --postgres "$(pg_conninfo db)" --postgres-label-dir "$tmp/labels" storage-a/db
start_writer writer-logs storage-a/logs
resume_coordinator ()
{
    [ -z "$coord_pid" ] || kill -CONT "$coord_pid" 2>/dev/null
    return 0
}
cleanup_fn resume_coordinator

ctl --json set create --freeze-window 3000 storage-a/db storage-a/logs \
    >"$tmp/set.json" 2>"$tmp/set.err" &
ctl_pid=$!
cleanup_fn kill "$ctl_pid"

poll 20 test -e "$tmp/coordinator-stopped"
# The backup is in progress: the writer's session holds it.
sessions ()
{
    pg_sql db "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'snapvol-writer'"
}
assert_eq "$(sessions)" 1 "the writer's sessions while frozen"
poll 20 grep -q 'thawing on our own' "$tmp/writer-db.log"
set_id=$(awk '$2 == "freeze" { print $3; exit }' "$tmp/writer-db.evlog")
grep -F "set $set_id: thawing on our own: neither writer.thaw nor writer.abort came within the freeze window of 3000 ms" \
    "$tmp/writer-db.log" || fail "writer-db's log does not say why it thawed"
poll 10 test -f "$tmp/labels/$set_id.backup_label"
assert_eq "$(grep -oE 'postgres: pg_backup_(start|stop) for set [^:]*' "$tmp/writer-db.log")" \
    "postgres: pg_backup_start for set $set_id
postgres: pg_backup_stop for set $set_id" "writer-db's backup calls"
grep -qx "LABEL: snapvol set $set_id" "$tmp/labels/$set_id.backup_label" ||
    fail "the label names another set: $(cat "$tmp/labels/$set_id.backup_label")"
no_sessions () { [ "$(sessions)" = 0 ]; }
poll 10 no_sessions
# The coordinator goes on: the window has passed, the set fails.
kill -CONT "$coord_pid"
status=0
wait "$ctl_pid" || status=$?
cat "$tmp/set.json" "$tmp/set.err"
assert_eq "$status" 1 "exit status of set create"
assert_eq "$(jq -r .state "$tmp/set.json")" failed "state of the set"
assert_eq "$(provider_snapshots storage-a | jq -c .)" '[]' "snapshots on storage-a"

stop_writer writer-db
stop_writer writer-logs
pg_stop db
stop_provider storage-a
stop_coordinator
check_logs
