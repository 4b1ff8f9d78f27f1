#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-vm-guest-nbd-client.sh: the guest's own kernel NBD driver,
# with nbd-client, attaches a snapvol volume over the guest's network
# (qemu's user-mode network: the host's 127.0.0.1 is 10.0.2.2 in the
# guest), makes ext4 on it, writes /seq, reads it back and disconnects.
# The test then reads the volume through its own NBD connection: the
# filesystem is clean and /seq holds exactly what the guest wrote.

source "$(dirname "$0")/functions.sh"
set -x

# The guest's boot disk: a plain volume.
start_snapvol "$tmp/pool" volume=boot:64M
# The volume the guest attaches: another server, on TCP.
nport=$(free_port)
"${nbdkit_env[@]}" nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$nport" \
    --pidfile "$tmp/tcp.pid" "$PLUGIN" dir="$tmp/pool2" control="$tmp/ctl2.sock" \
    volume=data:128M >"$tmp/tcp.log" 2>&1 &
tcp_pid=$!
stop_tcp ()
{
    kill -TERM "$tcp_pid" 2>/dev/null
    wait "$tcp_pid" 2>/dev/null
    return 0
}
cleanup_fn stop_tcp
poll 30 test -s "$tmp/tcp.pid"

n=100000
start_vm vm "$(uri boot)" "sv.mode=midwrite sv.max=2 sv.kib=16 sv.nbd=$nport sv.export=data sv.seq=$n"
vm_wait vm 300 '^nbd-done '
vm_wait vm 60 '^done$'
vm_wait_exit vm 60
guest_sum=$(vm_lines vm | sed -n 's/^nbd-done //p')
assert_eq "$guest_sum" "$(seq 1 $n | sha256sum | cut -d' ' -f1)" "SHA-256 of /seq as the guest read it back"

nbdcopy "nbd://127.0.0.1:$nport/data" "$tmp/data.img"
e2fsck -fn "$tmp/data.img" || fail "the filesystem the guest made is not clean"
fs_file "$tmp/data.img" /seq >"$tmp/seq"
seq 1 $n | cmp - "$tmp/seq" || fail "/seq on the volume differs from what the guest wrote"
stop_tcp
stop_snapvol
