#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-two-providers-two-writers.sh: a snapshot set through the
# coordinator across two nbdkit processes and two writer agents.  Each
# writer sees prepare, freeze, thaw, post_snapshot for the set, in that
# order, and across writers every prepare comes before every freeze and
# every freeze hook has finished before any thaw.  The set is
# application-consistent: the marker each freeze hook writes (and
# flushes) over NBD is in the snapshots, the marker each thaw hook
# writes is not, and the data written before the set is there byte for
# byte.  Each post_snapshot hook gets the snapshot of its volume as
# JSON; the
# snapshot exports are read-only; set list, set show and writer list
# reflect the set (the writers back to stable after post_snapshot).

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:16M
start_provider storage-b logs:16M

# The data before the set: 16 MiB of random bytes on each volume.
for v in storage-a/db storage-b/logs; do
    head -c 16M /dev/urandom >"$tmp/${v#*/}.img"
    nbdcopy "$tmp/${v#*/}.img" "$(puri "${v%/*}" "${v#*/}")"
done

# The hook of each writer: the freeze hook writes "freeze SET_ID NAME"
# at 1 MiB and flushes before answering; the thaw hook overwrites it
# with "thaw ..." and writes the same at 3 MiB.  Every hook logs when
# it ended, and post_snapshot keeps SNAPVOL_SNAPSHOTS.
hook_for ()
{
    local name=$1 uri=$2
    cat >"$tmp/$name.hook" <<EOF
#!/bin/sh
set -e
case \$SNAPVOL_EVENT in
freeze)
    /usr/bin/python3 "\$NBDIO" write '$uri' 1048576 "freeze \$SNAPVOL_SET_ID $name" ;;
thaw)
    /usr/bin/python3 "\$NBDIO" write '$uri' 1048576 "thaw \$SNAPVOL_SET_ID $name"
    /usr/bin/python3 "\$NBDIO" write '$uri' 3145728 "thaw \$SNAPVOL_SET_ID $name" ;;
post_snapshot)
    printf '%s\n' "\$SNAPVOL_SNAPSHOTS" >'$tmp/$name.snapshots' ;;
esac
echo "\$(( \$(date +%s%N) / 1000000 )) \$SNAPVOL_EVENT \$SNAPVOL_SET_ID" >>'$tmp/$name.done'
EOF
}
hook_for writer-db "$(puri storage-a db)"
hook_for writer-logs "$(puri storage-b logs)"
start_writer writer-db storage-a/db
start_writer writer-logs storage-b/logs

ctl --json set create storage-a/db storage-b/logs --label nightly >"$tmp/set.json"
cat "$tmp/set.json"
set_id=$(jq -r .set_id "$tmp/set.json")
assert_eq "$(jq -r '[.state, .label] | join(" ")' "$tmp/set.json")" "committed nightly" \
    "state and label of the set"
assert_eq "$(jq -c '[.participants[] | [.kind, .name, .state, .error]]' "$tmp/set.json")" \
    '[["writer","writer-db","done",null],["writer","writer-logs","done",null],["provider","storage-a","committed",null],["provider","storage-b","committed",null]]' \
    "participants of the set"
assert_eq "$(jq -c '[.snapshots[] | [.provider, .volume, .export == "\(.volume)@\(.id)"]]' "$tmp/set.json")" \
    '[["storage-a","db",true],["storage-b","logs",true]]' "snapshots of the set"

# Each writer saw the whole set, in order, and only this set.
for w in writer-db writer-logs; do
    assert_eq "$(events $w)" "prepare $set_id
freeze $set_id
thaw $set_id
post_snapshot $set_id" "events of $w"
    assert_eq "$(cut -d' ' -f2- "$tmp/$w.done")" "$(events $w)" "hooks run by $w"
done
# Across writers: the last prepare came before the first freeze, and
# the last freeze hook ended before the first thaw came.
last_prepare=$(cat "$tmp"/writer-*.evlog | awk '$2 == "prepare"' | sort -n | tail -1 | cut -d' ' -f1)
first_freeze=$(cat "$tmp"/writer-*.evlog | awk '$2 == "freeze"' | sort -n | head -1 | cut -d' ' -f1)
last_freeze_done=$(cat "$tmp"/writer-*.done | awk '$2 == "freeze"' | sort -n | tail -1 | cut -d' ' -f1)
first_thaw=$(cat "$tmp"/writer-*.evlog | awk '$2 == "thaw"' | sort -n | head -1 | cut -d' ' -f1)
[ "$last_prepare" -le "$first_freeze" ] ||
    fail "a prepare ($last_prepare) came after a freeze ($first_freeze)"
[ "$last_freeze_done" -le "$first_thaw" ] ||
    fail "a freeze hook ended ($last_freeze_done) after a thaw came ($first_thaw)"

# Application consistency, and the data before the set byte for byte:
# each snapshot is the image written before, plus the freeze marker.
for w in writer-db:storage-a:db writer-logs:storage-b:logs; do
    IFS=: read -r name prov vol <<<"$w"
    snap_uri=$(jq -r --arg v "$vol" '.snapshots[] | select(.volume == $v) | .uri' "$tmp/set.json")
    assert_eq "$snap_uri" "$(puri "$prov" "$vol@$(jq -r --arg v "$vol" \
        '.snapshots[] | select(.volume == $v) | .id' "$tmp/set.json")")" "uri of the snapshot of $vol"
    freeze_marker="freeze $set_id $name"
    thaw_marker="thaw $set_id $name"
    assert_eq "$(nbd_read "$snap_uri" 1048576 ${#freeze_marker})" "$freeze_marker" \
        "the freeze marker in the snapshot of $vol"
    assert_eq "$(nbd_read "$(puri "$prov" "$vol")" 1048576 ${#thaw_marker})" "$thaw_marker" \
        "the thaw marker in the live volume $vol"
    assert_eq "$(nbd_read "$(puri "$prov" "$vol")" 3145728 ${#thaw_marker})" "$thaw_marker" \
        "the second thaw marker in the live volume $vol"
    printf '%s' "$freeze_marker" |
        dd of="$tmp/$vol.img" bs=1 seek=1048576 conv=notrunc status=none
    assert_eq "$(uri_md5 "$snap_uri")" "$(md5 "$tmp/$vol.img")" \
        "content of the snapshot of $vol (data before the set + freeze marker only)"
done

# The post_snapshot hooks got the snapshots of their own volumes.
for w in writer-db:db writer-logs:logs; do
    assert_eq "$(jq -cS . "$tmp/${w%:*}.snapshots")" \
        "$(jq -cS --arg v "${w#*:}" '[.snapshots[] | select(.volume == $v)]' "$tmp/set.json")" \
        "SNAPVOL_SNAPSHOTS of ${w%:*}"
done

# Snapshot exports are read-only: advertised so, and a write fails.
for snap_uri in $(jq -r '.snapshots[].uri' "$tmp/set.json"); do
    nbd_readonly "$snap_uri"
    assert_eq "$(nbd_read "$snap_uri" 0 512 | md5sum | cut -d' ' -f1)" \
        "$(head -c 512 "$tmp/$(jq -r --arg u "$snap_uri" '.snapshots[] | select(.uri == $u) | .volume' "$tmp/set.json").img" | md5sum | cut -d' ' -f1)" \
        "first sector of $snap_uri after the refused write"
done

# The providers have exactly these snapshots, tagged with the set id.
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c --arg s "$set_id" '[.[] | [.id, .set_id == $s]]')" \
        "$(jq -c --arg p "$p" '[.snapshots[] | select(.provider == $p) | [.id, true]]' "$tmp/set.json")" \
        "snapshots on $p"
done

# set list, set show, writer list.
ctl --json set list >"$tmp/list.json"
assert_eq "$(jq -c '[.[] | [.set_id, .state, .label]]' "$tmp/list.json")" \
    "[[\"$set_id\",\"committed\",\"nightly\"]]" "set list"
ctl --json set show "$set_id" >"$tmp/show.json"
assert_eq "$(jq -cS . "$tmp/show.json")" "$(jq -cS . "$tmp/set.json")" "set show"
ctl --json writer list >"$tmp/writers.json"
assert_eq "$(jq -c '[.[] | [.name, .connected, .state, .last_event, .last_error, .volumes]]' "$tmp/writers.json")" \
    '[["writer-db",true,"stable","post_snapshot",null,["storage-a/db"]],["writer-logs",true,"stable","post_snapshot",null,["storage-b/logs"]]]' \
    "writer list"

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
