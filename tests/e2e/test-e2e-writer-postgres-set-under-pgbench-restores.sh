#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-postgres-set-under-pgbench-restores.sh: a snapshot
# set taken with snapvol-writer --postgres while pgbench writes to the
# database restores to a consistent database.
#
# PostgreSQL's data directory is on ext4 on a loop device over
# nbdfuse's file of the snapvol volume storage-a/db.  The writer runs
# pg_backup_start for the pin and pg_backup_stop after it, and keeps
# the backup label.  The snapshot's export, copied to a file and
# loop-mounted, is started as a crashed server (postmaster.pid removed,
# no backup_label: see docs/writers.md): it recovers, the WAL it holds
# starts at or after the backup's checkpoint and has no end-of-backup
# record (the snapshot came before pg_backup_stop, whose record the
# live server's WAL has), every pgbench transaction in it is whole
# (the accounts', tellers' and branches' balances each sum to the
# history's deltas), and pg_amcheck finds nothing wrong.

source "$(dirname "$0")/functions.sh"
set -x

requires nbdfuse losetup mke2fs nbdcopy
[ "$(id -u)" -eq 0 ] || skip "mounting a filesystem needs root"
pg_setup
[ -x "$pgbin/pgbench" ] || skip "pgbench is not installed (Debian package postgresql)"
write_conf
start_coordinator
start_provider storage-a db:256M

# The volume's filesystem at $pgdir/vol, the copy of the snapshot's at
# $pgdir/snapfs.
# The cleanup stops what uses them before it unmounts.
mkdir "$tmp/fuse" "$pgdir/vol" "$pgdir/snapfs" "$tmp/labels"
fuse_pid=
loopdev=
bench_pid=
fs_cleanup ()
{
    [ -z "$bench_pid" ] || kill -TERM -- "-$bench_pid" 2>/dev/null
    pg_stop_all
    _stop_writers
    umount "$pgdir/snapfs" 2>/dev/null
    umount "$pgdir/vol" 2>/dev/null
    [ -z "$loopdev" ] || losetup -d "$loopdev" 2>/dev/null
    umount "$tmp/fuse" 2>/dev/null
    [ -z "$fuse_pid" ] || wait "$fuse_pid" 2>/dev/null
    return 0
}
cleanup_fn fs_cleanup
nbdfuse "$tmp/fuse" "$(puri storage-a db)" &
fuse_pid=$!
poll 10 test -s "$tmp/fuse/nbd"
loopdev=$(losetup -f --show "$tmp/fuse/nbd") || skip "cannot attach a loop device to nbdfuse's file"
mke2fs -q -t ext4 "$loopdev"
mount "$loopdev" "$pgdir/vol" || skip "cannot mount ext4 on a loop device over nbdfuse"

pg_initdb "$pgdir/vol/data"
pg_start live "$pgdir/vol/data" 5432
bench ()
{
    pg_run "$pgbin/pgbench" -h "$pgdir/live" -p 5432 -U postgres "$@" postgres
}
bench -i -s 1 -q >"$tmp/pgbench-init.log" 2>&1 || fail "pgbench -i failed: $(tail -n 3 "$tmp/pgbench-init.log")"
# The load, in a process group of its own that the test ends.
(cd / && exec setsid runuser -u "$pguser" -- "$pgbin/pgbench" -h "$pgdir/live" -p 5432 \
    -U postgres -c 4 -T 120 -n postgres) >"$tmp/pgbench.log" 2>&1 &
bench_pid=$!
history_grew ()
{
    [ "$(pg_sql live "SELECT count(*) >= 100 FROM pgbench_history")" = t ]
}
poll 20 history_grew

start_writer writer-db --postgres "$(pg_conninfo live)" --postgres-label-dir "$tmp/labels" \
    --freeze-timeout 30000 storage-a/db
ctl --json set create storage-a/db >"$tmp/set.json"
assert_eq "$(jq -r .state "$tmp/set.json")" committed "state of the set under pgbench"
set_id=$(jq -r .set_id "$tmp/set.json")
snap=$(jq -r '.snapshots[0].id' "$tmp/set.json")
kill -TERM -- "-$bench_pid"
wait "$bench_pid" 2>/dev/null || :
bench_pid=
kill -0 "${provider_pids[storage-a]}" || fail "storage-a is gone"

# The backup around the pin: started at freeze, stopped at thaw, its
# label kept.
assert_eq "$(events writer-db | grep -F "$set_id")" "prepare $set_id
freeze $set_id
thaw $set_id
post_snapshot $set_id" "events of writer-db"
label=$tmp/labels/$set_id.backup_label
[ -f "$label" ] || fail "no backup label for set $set_id in $tmp/labels"
grep -qx "LABEL: snapvol set $set_id" "$label" || fail "the label names another set: $(cat "$label")"
start_lsn=$(sed -n 's/^START WAL LOCATION: \([0-9A-F]*\/[0-9A-F]*\) .*/\1/p' "$label")
[ -n "$start_lsn" ] || fail "the label has no START WAL LOCATION: $(cat "$label")"
assert_eq "$(grep -oE 'postgres: pg_backup_(start|stop) for set [^:]*' "$tmp/writer-db.log")" \
    "postgres: pg_backup_start for set $set_id
postgres: pg_backup_stop for set $set_id" "the writer's backup calls"
grep -qF "postgres: pg_backup_start for set $set_id: the backup starts at $start_lsn" "$tmp/writer-db.log" ||
    fail "the writer did not log the backup's start at $start_lsn"
# The end-of-backup record is in the live server's WAL.
pg_run "$pgbin/pg_waldump" -p "$pgdir/vol/data/pg_wal" -s "$start_lsn" -r XLOG \
    >"$tmp/waldump-live.txt" 2>/dev/null || :   # it fails at the end of the WAL
grep -q "BACKUP_END $start_lsn" "$tmp/waldump-live.txt" ||
    fail "the live server's WAL has no end of the backup started at $start_lsn"

# The snapshot, copied and started as a crashed server.
nbdcopy "$(puri storage-a "db@$snap")" "$tmp/snap.img"
mount -o loop "$tmp/snap.img" "$pgdir/snapfs" || fail "cannot mount the snapshot's copy"
[ -f "$pgdir/snapfs/data/postmaster.pid" ] || fail "the snapshot has no postmaster.pid: it was not taken live"
[ ! -e "$pgdir/snapfs/data/backup_label" ] || fail "the snapshot has a backup_label"
rm "$pgdir/snapfs/data/postmaster.pid"
redo=$(pg_run "$pgbin/pg_controldata" "$pgdir/snapfs/data" |
       sed -n "s/^Latest checkpoint's REDO location: *//p")
lsn_num () { local h=${1%/*} l=${1#*/}; echo $(( (16#$h << 32) + 16#$l )); }
[ "$(lsn_num "$redo")" -ge "$(lsn_num "$start_lsn")" ] ||
    fail "the snapshot's last checkpoint (REDO $redo) is before the backup's start $start_lsn"
pg_run "$pgbin/pg_waldump" -p "$pgdir/snapfs/data/pg_wal" -s "$start_lsn" -r XLOG \
    >"$tmp/waldump-snap.txt" 2>/dev/null || :
! grep -q "BACKUP_END $start_lsn" "$tmp/waldump-snap.txt" ||
    fail "the snapshot's WAL has the end of the backup: it was taken after pg_backup_stop"

pg_start snap "$pgdir/snapfs/data" 5433
grep -q 'database system was interrupted' "$pgdir/snap.log" ||
    fail "the snapshot did not start as a crashed server: $(cat "$pgdir/snap.log")"
grep -q 'redo done at' "$pgdir/snap.log" || fail "the snapshot's server ran no recovery"
history=$(pg_sql snap "SELECT count(*) FROM pgbench_history")
[ "$history" -ge 100 ] || fail "the snapshot holds $history pgbench transactions"
assert_eq "$(pg_sql snap "SELECT (SELECT sum(abalance) FROM pgbench_accounts) =
                                 (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")" t \
    "accounts against history"
assert_eq "$(pg_sql snap "SELECT (SELECT sum(tbalance) FROM pgbench_tellers) =
                                 (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")" t \
    "tellers against history"
assert_eq "$(pg_sql snap "SELECT (SELECT sum(bbalance) FROM pgbench_branches) =
                                 (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")" t \
    "branches against history"
if [ -x "$pgbin/pg_amcheck" ]; then
    pg_run "$pgbin/pg_amcheck" -h "$pgdir/snap" -p 5433 -U postgres --install-missing \
        --heapallindexed postgres >"$tmp/amcheck.log" 2>&1 ||
        fail "pg_amcheck: $(cat "$tmp/amcheck.log")"
fi

pg_stop snap
pg_stop live
stop_writer writer-db
fs_cleanup
stop_provider storage-a
stop_coordinator
check_logs
