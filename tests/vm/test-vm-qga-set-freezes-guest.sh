#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-vm-qga-set-freezes-guest.sh: a coordinated snapshot set of a VM
# whose disk is a snapvol volume, with qemu-guest-agent running in the
# guest and snapvol-writer --qga on its channel.  While the guest
# appends to a file every 0.1 s:
#   - the set commits, the writer doing prepare, freeze, thaw,
#     post_snapshot, with no error in `writer list`;
#   - during the freeze the guest's agent answers "frozen" (asked by a
#     second writer's freeze hook, which holds the set for 1.5 s), and
#     the guest's write in progress then waits: one write takes over a
#     second, and writes after it complete;
#   - after the set the agent answers "thawed";
#   - the snapshot's ext4 is clean with no journal to replay:
#     e2fsck -fn finds nothing, and no recovery is needed.

source "$(dirname "$0")/functions.sh"
set -x

# The freeze window covers both writers' 30 s freeze timeouts.
conf_freeze_window=60s write_conf
start_coordinator
start_provider storage-a vm:128M

start_vm vm "$(puri storage-a vm)" "sv.mode=qga" \
    -device virtio-serial -chardev "socket,id=qga0,path=$tmp/qga.sock,server=on,wait=off" \
    -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0
vm_wait vm 240 '^qga-ready$'
vm_wait vm 60 '^tick 5 '

# Both writers may take 30 s to freeze: a guest under TCG on a busy
# machine can take seconds to sync and freeze its filesystem.
start_writer writer-db --qga "$tmp/qga.sock" --freeze-timeout 30000 storage-a/vm
# writer-logs, on the same volume: its freeze hook waits (up to 25 s)
# until the guest is frozen, records the agent's answer and holds the
# set 1.5 s.
cat >"$tmp/writer-logs.hook" <<HOOK
#!/bin/sh
[ "\$SNAPVOL_EVENT" = freeze ] || exit 0
end=\$((\$(date +%s) + 25))
while :; do
    s=\$(/usr/bin/python3 '$QGAPEER' status '$tmp/qga.sock') || exit 1
    [ "\$s" = frozen ] && break
    [ "\$(date +%s)" -lt "\$end" ] || break
    sleep 0.1
done
echo "\$s \$(date +%s.%N)" >'$tmp/status-during-freeze'
sleep 1.5
HOOK
start_writer writer-logs --freeze-timeout 30000 storage-a/vm

ctl --json set create storage-a/vm >"$tmp/set.json"
cat "$tmp/set.json"
set_id=$(jq -r .set_id "$tmp/set.json")
assert_eq "$(jq -c '[.state, [.participants[] | [.name, .state]]]' "$tmp/set.json")" \
    '["committed",[["writer-db","done"],["writer-logs","done"],["storage-a","committed"]]]' \
    "the set with the guest agent"
assert_eq "$(cut -d' ' -f1 "$tmp/status-during-freeze")" frozen "the agent's status during the freeze"
assert_eq "$(events writer-db)" "prepare $set_id
freeze $set_id
thaw $set_id
post_snapshot $set_id" "events of writer-db"
assert_eq "$(/usr/bin/python3 "$QGAPEER" status "$tmp/qga.sock")" thawed "the agent's status after the set"
assert_eq "$(ctl --json writer list | jq -c '[.[] | [.name, .state, .last_error]]')" \
    '[["writer-db","stable",null],["writer-logs","stable",null]]' "writer list after the set"

# The guest's writes go on after the thaw; one of them waited for it.
last=$(vm_lines vm | sed -n 's/^tick \([0-9]*\) .*/\1/p' | tail -n 1)
vm_wait vm 60 "^tick $(( last + 5 )) "
vm_say vm stop
vm_wait vm 120 '^done$'
vm_wait_exit vm 60
longest=$(vm_lines vm | awk '$1 == "tick" { d = $4 - $3; if (d > m) { m = d; n = $2 } }
                             END { printf "%d %.2f\n", n, m }')
echo "longest write: tick ${longest% *} took ${longest#* } s"
awk -v d="${longest#* }" 'BEGIN { exit !(d >= 1.0) }' ||
    fail "no write of the guest waited for the freeze (longest ${longest#* } s)"
[ "$(vm_lines vm | awk -v n="${longest% *}" '$1 == "tick" && $2 > n' | wc -l)" -ge 3 ] ||
    fail "the guest's writes did not go on after the thaw"

nbdcopy "$(jq -r '.snapshots[0].uri' "$tmp/set.json")" "$tmp/snap.img"
status=0
e2fsck -fn "$tmp/snap.img" >"$tmp/fsck.out" 2>&1 || status=$?
cat "$tmp/fsck.out"
assert_eq "$status" 0 "e2fsck -fn's exit status on the snapshot"
! grep -qi 'journal' "$tmp/fsck.out" || fail "the snapshot's journal needed recovery"
dumpe2fs -h "$tmp/snap.img" 2>/dev/null | grep -i '^Filesystem features' >"$tmp/features"
! grep -q needs_recovery "$tmp/features" || fail "the snapshot needs recovery: $(cat "$tmp/features")"

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_coordinator
check_logs
