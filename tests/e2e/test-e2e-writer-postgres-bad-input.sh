#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-postgres-bad-input.sh: snapvol-writer --postgres with
# a server it cannot use fails the set with libpq's or the server's
# reason, shown in `writer list`, and leaves no snapshot and no backup
# in progress.  Cases: a connection string libpq cannot parse (the
# writer does not start: exit status 2); a server nothing listens for;
# a user that may not run pg_backup_start; a server that accepts the
# connection but does not answer (the postmaster is stopped); a
# pg_backup_start that does
# not return within the deadline (the checkpointer is stopped): it is
# cancelled on the server; the server going down between prepare and
# freeze (the prepare hook stops it); the server stopped between two
# sets.  A good set between them commits and keeps its backup label.

source "$(dirname "$0")/functions.sh"
set -x

pg_setup
write_conf
start_coordinator
start_provider storage-a db:8M

# A connection string libpq cannot parse: a usage error at start.
status=0
"$SNAPVOL_WRITER" --coordinator "127.0.0.1:$port" --cert "$pki/writer-db.crt" \
    --key "$pki/writer-db.key" --ca "$pki/ca.crt" --name writer-db \
    --postgres "host=$pgdir/db port" --volume storage-a/db \
    >"$tmp/syntax.out" 2>"$tmp/syntax.err" || status=$?
assert_eq "$status" 2 "exit status of snapvol-writer with a bad --postgres"
assert_eq "$(cat "$tmp/syntax.err")" \
    "snapvol-writer: invalid --postgres 'host=$pgdir/db port': missing \"=\" after \"port\" in connection info string" \
    "the writer's error for a bad --postgres"
status=0
"$SNAPVOL_WRITER" --coordinator "127.0.0.1:$port" --cert "$pki/writer-db.crt" \
    --key "$pki/writer-db.key" --ca "$pki/ca.crt" --name writer-db \
    --postgres "user=postgres" --postgres-label-dir "$tmp/none" \
    >"$tmp/dir.out" 2>"$tmp/dir.err" || status=$?
assert_eq "$status" 2 "exit status of snapvol-writer with a bad --postgres-label-dir"
assert_eq "$(cat "$tmp/dir.err")" \
    "snapvol-writer: invalid --postgres-label-dir '$tmp/none': No such file or directory" \
    "the writer's error for a bad --postgres-label-dir"

# with_writer CONNINFO: (re)start writer-db taking backups there.
mkdir "$tmp/labels"
with_writer ()
{
    stop_writer writer-db
    start_writer writer-db --postgres "$1" --postgres-label-dir "$tmp/labels" \
        --freeze-timeout 3000 storage-a/db
}
# expect_failed_set EVENT REASON: a set fails with writer-db's REASON
# for EVENT, shown in writer list; no snapshot of it is left.
expect_failed_set ()
{
    local event=$1 reason=$2 status=0
    ctl --json set create storage-a/db >"$tmp/set.json" 2>"$tmp/set.err" || status=$?
    cat "$tmp/set.json" "$tmp/set.err"
    assert_eq "$status" 1 "exit status of set create"
    assert_eq "$(jq -r '.reason' "$tmp/set.json")" \
        "writer writer-db: writer.$event failed: $reason (error -32603)" "reason of the failed set"
    assert_eq "$(ctl --json writer list | jq -r '.[] | select(.name == "writer-db") | .last_error')" \
        "writer.$event failed: $reason (error -32603)" "writer-db's last error"
    assert_eq "$(provider_snapshots storage-a |
                 jq -c --arg s "$(jq -r .set_id "$tmp/set.json")" '[.[] | select(.set_id == $s)]')" \
        '[]' "snapshots of the failed set on storage-a"
}
# no_writer_backends: true once the server has no session of
# snapvol-writer.
no_writer_backends ()
{
    [ "$(pg_sql db "SELECT count(*) FROM pg_stat_activity
                    WHERE application_name = 'snapvol-writer'")" = 0 ]
}
cannot_connect="postgres: connect: connection to server on socket \"$pgdir/db/.s.PGSQL.5499\" failed: No such file or directory Is the server running locally and accepting connections on that socket?"

# Nothing listens there.
mkdir "$pgdir/db"
with_writer "host=$pgdir/db port=5499 user=postgres dbname=postgres"
expect_failed_set prepare "$cannot_connect"

pg_initdb "$pgdir/data"
pg_start db "$pgdir/data" 5499

# A user without the right to take a backup.
pg_sql db "CREATE ROLE plain LOGIN"
with_writer "host=$pgdir/db port=5499 user=plain dbname=postgres"
expect_failed_set prepare "postgres: user plain may not run pg_backup_start (grant it EXECUTE on the function, or connect as a superuser)"

# A good one: the set commits, its label is kept.
with_writer "$(pg_conninfo db)"
ctl --json set create storage-a/db >"$tmp/ok.json"
assert_eq "$(jq -r .state "$tmp/ok.json")" committed "state of the good set"
set_id=$(jq -r .set_id "$tmp/ok.json")
grep -qx "LABEL: snapvol set $set_id" "$tmp/labels/$set_id.backup_label" ||
    fail "the backup label of set $set_id is not kept: $(cat "$tmp/labels/$set_id.backup_label")"
grep -q '^START WAL LOCATION: ' "$tmp/labels/$set_id.backup_label" ||
    fail "the backup label has no START WAL LOCATION"
poll 10 no_writer_backends

# The postmaster stopped: the connection is accepted by the kernel,
# and nothing answers it.
pg_run cat "$pgdir/data/postmaster.pid" | head -n 1 >"$tmp/postmaster.pid"
cleanup_fn kill -CONT "$(cat "$tmp/postmaster.pid")"
"$tmp/stop-process" "$tmp/postmaster.pid"
expect_failed_set prepare "postgres: connect: the server did not answer within 2700 ms"
kill -CONT "$(cat "$tmp/postmaster.pid")"

# pg_backup_start waits for a checkpoint that cannot come: it is
# cancelled at the writer's deadline (3000 ms less its 10 % margin).
checkpointer=$(pg_sql db "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
echo "$checkpointer" >"$tmp/checkpointer.pid"
cleanup_fn kill -CONT "$checkpointer"
"$tmp/stop-process" "$tmp/checkpointer.pid"
expect_failed_set freeze "postgres: pg_backup_start did not return within 2700 ms; it is cancelled"
poll 10 grep -q 'ERROR:  canceling statement due to user request' "$pgdir/db.log"
poll 10 no_writer_backends
kill -CONT "$checkpointer"
set_id=$(jq -r .set_id "$tmp/set.json")
assert_eq "$(events writer-db | grep -F "$set_id")" "prepare $set_id
freeze $set_id
abort $set_id" "events of writer-db"
[ ! -e "$tmp/labels/$set_id.backup_label" ] || fail "the failed set has a backup label"

# The server goes down after prepare: the freeze cannot connect.
cat >"$tmp/writer-db.hook" <<HOOK
#!/bin/sh
[ "\$SNAPVOL_EVENT" = prepare ] || exit 0
cd / && runuser -u $pguser -- $pgbin/pg_ctl stop -w -m immediate -D $pgdir/data >/dev/null
HOOK
with_writer "$(pg_conninfo db)"
expect_failed_set freeze "$cannot_connect"
set_id=$(jq -r .set_id "$tmp/set.json")
assert_eq "$(events writer-db | grep -F "$set_id")" "prepare $set_id
freeze $set_id
abort $set_id" "events of writer-db"
rm "$tmp/writer-db.hook"
pg_start db "$pgdir/data" 5499

# The server stopped between two sets.
with_writer "$(pg_conninfo db)"
ctl --json set create storage-a/db >"$tmp/ok.json"
assert_eq "$(jq -r .state "$tmp/ok.json")" committed "state of the set after the restart"
pg_stop db
expect_failed_set prepare "$cannot_connect"

stop_writer writer-db
stop_provider storage-a
stop_coordinator
check_logs
