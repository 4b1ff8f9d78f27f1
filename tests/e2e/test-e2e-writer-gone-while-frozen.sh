#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-gone-while-frozen.sh: a writer that leaves while it
# is frozen and before the providers hold (here stopped with SIGTERM,
# so it thaws its application first and disconnects, as it also does
# when its connection drops) fails the set: its application wrote
# again, so a snapshot taken now would not be consistent.  No snapshot
# is left on either provider, and the other writer is thawed and
# aborted.
#
# The order is forced by the other writer, whose freeze hook answers
# only once the first writer has exited.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:8M

# writer-db: the freeze hook writes a marker at 1 MiB, the thaw hook
# overwrites it; both log when they have ended.
cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
set -e
case \$SNAPVOL_EVENT in
freeze|thaw)
    /usr/bin/python3 "\$NBDIO" write '$(puri storage-a db)' 1048576 "\$SNAPVOL_EVENT marker"
    echo "\$SNAPVOL_EVENT" >>'$tmp/writer-db.done' ;;
esac
EOF
# writer-logs: the freeze hook waits (at most 8 s) for $tmp/db-gone.
cat >"$tmp/writer-logs.hook" <<EOF
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = freeze ]; then
    i=0
    while [ ! -e '$tmp/db-gone' ] && [ \$i -lt 80 ]; do sleep 0.1; i=\$((i + 1)); done
fi
exit 0
EOF
start_writer writer-db --freeze-timeout 10000 storage-a/db
start_writer writer-logs --freeze-timeout 10000 storage-b/logs

ctl --json set create storage-a/db storage-b/logs >"$tmp/set.json" 2>"$tmp/set.err" &
ctl_pid=$!
cleanup_fn kill "$ctl_pid"

# Once writer-db is frozen, stop it: it thaws (its thaw hook overwrites
# the marker) and exits.
db_frozen () { grep -qx freeze "$tmp/writer-db.done" 2>/dev/null; }
poll 10 db_frozen
stop_writer writer-db
assert_eq "$(cat "$tmp/writer-db.done")" "freeze
thaw" "hooks run by writer-db"
assert_eq "$(nbd_read "$(puri storage-a db)" 1048576 11)" "thaw marker" \
    "storage-a/db after writer-db thawed"
poll 10 eval '! writer_connected writer-db'
touch "$tmp/db-gone"

status=0
wait "$ctl_pid" || status=$?
cat "$tmp/set.json" "$tmp/set.err"
set_id=$(jq -r .set_id "$tmp/set.json")
# Whatever the coordinator answered, no snapshot may hold the data
# writer-db wrote after it thawed.
for s in $(jq -r '.snapshots[]? | select(.provider == "storage-a") | .uri' "$tmp/set.json"); do
    [ "$(nbd_read "$s" 1048576 11)" != "thaw marker" ] ||
        fail "the set was committed with a snapshot taken after writer-db thawed"
done
assert_eq "$status" 1 "exit status of set create"
assert_eq "$(jq -r '[.state, .reason] | join(": ")' "$tmp/set.json")" \
    "failed: writer writer-db: disconnected while frozen" "state and reason of the set"
assert_eq "$(jq -c '[.participants[] | [.kind, .name, .state]]' "$tmp/set.json")" \
    '[["writer","writer-db","failed"],["writer","writer-logs","aborted"],["provider","storage-a","deleted"],["provider","storage-b","deleted"]]' \
    "participants of the set"
assert_eq "$(events writer-logs)" "prepare $set_id
freeze $set_id
thaw $set_id
abort $set_id" "events of writer-logs"
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c .)" '[]' "snapshots on $p"
done

stop_writer writer-logs
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
