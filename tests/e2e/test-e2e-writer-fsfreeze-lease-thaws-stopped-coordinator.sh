#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-fsfreeze-lease-thaws-stopped-coordinator.sh: a
# coordinator stopped (SIGSTOP) while snapvol-writer --fsfreeze holds a
# filesystem frozen sends neither thaw nor abort; the writer thaws the
# filesystem on its own at the end of the freeze window (3 s), and a
# write waiting on it completes then, not before and not much later.
# Once the coordinator goes on, the set fails and nothing is frozen.
#
# The coordinator is stopped by the freeze hook of a second writer of
# the set, once the first has frozen its filesystem.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M logs:8M
mount_ext4 fs-a
start_appender fs-a

cat >"$tmp/writer-logs.hook" <<HOOK
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = freeze ]; then
    i=0
    while ! grep -q 'fsfreeze: froze $tmp/fs-a\$' '$tmp/writer-db.log' && [ \$i -lt 80 ]; do
        sleep 0.1
        i=\$((i + 1))
    done
    '$tmp/stop-process' '$tmp/coordinator.pid' || exit 1
    touch '$tmp/coordinator-stopped'
fi
exit 0
HOOK
start_writer writer-db --fsfreeze "$tmp/fs-a" storage-a/db
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
poll 20 grep -q 'thawing on our own' "$tmp/writer-db.log"
set_id=$(awk '$2 == "freeze" { print $3; exit }' "$tmp/writer-db.evlog")
freeze_ms=$(event_time writer-db freeze "$set_id")
thaw_ms=$(event_time writer-db thaw "$set_id")
grep -F "set $set_id: thawing on our own: neither writer.thaw nor writer.abort came within the freeze window of 3000 ms" \
    "$tmp/writer-db.log" || fail "writer-db's log does not say why it thawed"
assert_eq "$(grep -oE 'fsfreeze: (froze|thawed) .*' "$tmp/writer-db.log")" "fsfreeze: froze $tmp/fs-a
fsfreeze: thawed $tmp/fs-a" "writer-db's freeze and thaw"

# The thaw came at the window's end, 3 s after the freeze call arrived
# (a little less after the event was logged), with a margin for a
# loaded machine; a write that waited on the frozen filesystem
# completed after the thaw, within the same bounds.
elapsed=$(( thaw_ms - freeze_ms ))
[ "$elapsed" -ge 2500 ] && [ "$elapsed" -le 6000 ] ||
    fail "writer-db thawed $elapsed ms after the freeze, not about 3000"
blocked ()
{
    awk -v f="$freeze_ms" -v t="$thaw_ms" \
        '$1 >= f && $1 < t && $2 >= t && $2 - f <= 6000 && $2 - $1 >= 1500 { n++ }
         END { exit n ? 0 : 1 }' "$tmp/fs-a.appends"
}
poll 10 blocked
thaw_says_not_frozen "$tmp/fs-a"

# The coordinator goes on: the window has passed, the set fails.
kill -CONT "$coord_pid"
status=0
wait "$ctl_pid" || status=$?
cat "$tmp/set.json" "$tmp/set.err"
assert_eq "$status" 1 "exit status of set create"
assert_eq "$(jq -r .state "$tmp/set.json")" failed "state of the set"
assert_eq "$(provider_snapshots storage-a | jq -c .)" '[]' "snapshots on storage-a"
thaw_says_not_frozen "$tmp/fs-a"

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_coordinator
check_logs
