#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-dbfreeze-two-mounts-in-order.sh: snapvol-writer
# --fsfreeze A --fsfreeze B freezes two loop-mounted ext4 filesystems
# for the pin, A then B, and thaws them in reverse, B then A (its log
# shows the order); a process appending to a file on A waits while A
# is frozen and its write completes after the thaw; the set commits
# and nothing is left frozen.
#
# The freeze is held for a while by a second writer of the set, whose
# freeze hook answers 1.5 s after it saw B frozen: the coordinator
# pins only once every writer is frozen.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M logs:8M
mount_ext4 fs-a
mount_ext4 fs-b
start_appender fs-a

cat >"$tmp/writer-logs.hook" <<HOOK
#!/bin/sh
if [ "\$SNAPVOL_EVENT" = freeze ]; then
    i=0
    while ! grep -q 'fsfreeze: froze $tmp/fs-b\$' '$tmp/writer-db.log' && [ \$i -lt 80 ]; do
        sleep 0.1
        i=\$((i + 1))
    done
    echo \$((\$(date +%s%N) / 1000000)) >'$tmp/frozen-seen'
    sleep 1.5
    echo \$((\$(date +%s%N) / 1000000)) >'$tmp/hook-end'
fi
exit 0
HOOK
start_writer writer-db --fsfreeze "$tmp/fs-a" --fsfreeze "$tmp/fs-b" storage-a/db
start_writer writer-logs storage-a/logs

ctl --json set create storage-a/db storage-a/logs >"$tmp/set.json"
assert_eq "$(jq -r .state "$tmp/set.json")" committed "state of the set"
set_id=$(jq -r .set_id "$tmp/set.json")
[ -s "$tmp/hook-end" ] || fail "the slow writer's freeze hook did not run"
assert_eq "$(grep -oE 'fsfreeze: (froze|thawed) .*' "$tmp/writer-db.log")" "fsfreeze: froze $tmp/fs-a
fsfreeze: froze $tmp/fs-b
fsfreeze: thawed $tmp/fs-b
fsfreeze: thawed $tmp/fs-a" "writer-db's freezes and thaws"
assert_eq "$(events writer-db)" "prepare $set_id
freeze $set_id
thaw $set_id
post_snapshot $set_id" "events of writer-db"

# An append started while A was frozen waited at least 1 s, until
# after the slow hook's end (the thaw came after it), and completed.
hook_end=$(cat "$tmp/hook-end")
blocked ()
{
    awk -v end="$hook_end" '$1 <= end && $2 >= end && $2 - $1 >= 1000 { n++ }
                            END { exit n ? 0 : 1 }' "$tmp/fs-a.appends"
}
poll 10 blocked
read -r start end <<<"$(longest_append fs-a)"
echo "longest append: $start to $end ($(( end - start )) ms); hook end $hook_end"
# Appends go on quickly after the thaw.
n=$(wc -l <"$tmp/fs-a.appends")
poll 10 eval '[ "$(wc -l <"$tmp/fs-a.appends")" -gt $((n + 3)) ]'
thaw_says_not_frozen "$tmp/fs-a"
thaw_says_not_frozen "$tmp/fs-b"

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_coordinator
check_logs
