# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# functions.sh: helpers of the VM tests (tests/vm/test-vm-*.sh), on top
# of tests/e2e/functions.sh (the coordinator, providers, writers) and
# tests/functions.sh (start_snapvol, fail, $tmp, assert_eq).
#
# A test boots Debian's cloud kernel with the initramfs of
# make-image.sh under qemu-system-x86_64, its disk a snapvol volume
# over NBD.  The guest's /init (guest-init) runs the scenario the
# kernel command line names and talks to the test on the serial
# console: lines "SV ..." from the guest, lines written with vm_say to
# it.  Per VM NAME:
#   $tmp/NAME.console  the serial console (everything the guest printed)
#   $tmp/NAME.in       a FIFO: the console's input
#   $tmp/NAME.qemu.log qemu's own messages
#
# Environment:
#   SNAPVOL_VM_IMAGE  where the kernel and initramfs are kept
#                     (default: tests/vm/image in the build tree)
#   SNAPVOL_VM_ACCEL  kvm or tcg; by default KVM is tried once per image
#                     directory (a guest that does not reach /init within
#                     30 s under it means TCG) and the answer kept there

: "${abs_top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$abs_top_srcdir/tests/e2e/functions.sh"

requires qemu-system-x86_64 e2fsck debugfs flock
: "${SNAPVOL_VM_IMAGE:=$abs_top_builddir/tests/vm/image}"
QGAPEER=$abs_top_srcdir/tests/e2e/qgapeer.py

declare -A vm_pids vm_fds

bash "$abs_top_srcdir/tests/vm/make-image.sh" "$SNAPVOL_VM_IMAGE" ||
    fail "cannot make the VM image in $SNAPVOL_VM_IMAGE (see above)"

# _qemu NAME APPEND QEMU-ARGS...: qemu-system-x86_64 in the background
# with the test's kernel, the console on its stdin and stdout.
_qemu ()
{
    local name=$1 append=$2
    shift 2
    rm -f "$tmp/$name.in"
    mkfifo "$tmp/$name.in"
    # Opened read-write, the FIFO neither blocks nor ever reads EOF.
    exec {vm_fds[$name]}<>"$tmp/$name.in"
    qemu-system-x86_64 -accel "$vm_accel" -m 384 -smp 1 -no-reboot \
        -display none -monitor none -serial stdio \
        -kernel "$SNAPVOL_VM_IMAGE/vmlinuz" -initrd "$SNAPVOL_VM_IMAGE/initramfs.img" \
        -append "console=ttyS0 quiet panic=-1 $append" "$@" \
        <&"${vm_fds[$name]}" >"$tmp/$name.console" 2>"$tmp/$name.qemu.log" &
    vm_pids[$name]=$!
}

# The accelerator: KVM only where it boots a guest.
vm_accel=${SNAPVOL_VM_ACCEL:-}
if [ -z "$vm_accel" ]; then
    (
        flock 9
        [ -s "$SNAPVOL_VM_IMAGE/accel" ] && exit 0
        accel=tcg
        if [ -w /dev/kvm ]; then
            vm_accel=kvm
            _qemu probe sv.mode=probe
            for (( i = 0; i < 300; i++ )); do
                grep -aq 'SV probe ok' "$tmp/probe.console" && { accel=kvm; break; }
                kill -0 "${vm_pids[probe]}" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "${vm_pids[probe]}" 2>/dev/null
            wait "${vm_pids[probe]}" 2>/dev/null || :
        fi
        echo "$accel" >"$SNAPVOL_VM_IMAGE/accel"
    ) 9>"$SNAPVOL_VM_IMAGE/.accel-lock"
    vm_accel=$(cat "$SNAPVOL_VM_IMAGE/accel")
fi
echo "$test_name: qemu runs with -accel $vm_accel"

# start_vm NAME DISK-URI KERNEL-ARGS [QEMU-ARGS...]: boot the guest
# with DISK-URI as its virtio disk (discard on) and a user-mode
# network (the guest reaches the host's 127.0.0.1 as 10.0.2.2).
start_vm ()
{
    local name=$1 disk=$2 append=$3
    shift 3
    _qemu "$name" "$append" \
        -drive "file=$disk,format=raw,if=virtio,discard=unmap,cache=none" \
        -netdev user,id=net0 -device virtio-net-pci,netdev=net0,romfile= "$@"
}

# vm_lines NAME: the guest's "SV" lines so far, without the prefix.
vm_lines ()
{
    grep -ao 'SV .*' "$tmp/$1.console" | tr -d '\r' | cut -c4- || :
}

_vm_has ()
{
    local name=$1 re=$2
    if vm_lines "$name" | grep -q '^error '; then
        fail "the guest reported: $(vm_lines "$name" | grep '^error ' | head -n 1)"
    fi
    vm_lines "$name" | grep -Eq "$re" && return 0
    kill -0 "${vm_pids[$name]}" 2>/dev/null ||
        fail "qemu ($name) exited before the guest said /$re/: $(tail -n 5 "$tmp/$name.qemu.log")"
    return 1
}

# vm_wait NAME SECONDS REGEX: wait until the guest says a line matching
# REGEX; fail at once if it reports an error or qemu exits.
vm_wait ()
{
    poll "$2" _vm_has "$1" "$3"
}

# vm_say NAME TEXT: write TEXT as a line on the guest's console.
vm_say ()
{
    printf '%s\n' "$2" >&"${vm_fds[$1]}"
}

# vm_wait_exit NAME SECONDS: wait until the guest powers off.
vm_wait_exit ()
{
    local pid=${vm_pids[$1]} status=0
    timeout "$2" tail -s 0.1 --pid="$pid" -f /dev/null ||
        fail "the guest $1 did not power off within $2 s"
    wait "$pid" || status=$?
    unset "vm_pids[$1]"
    assert_eq "$status" 0 "qemu's exit status ($1)"
}

_vm_cleanup ()
{
    local n
    for n in "${!vm_pids[@]}"; do
        kill -KILL "${vm_pids[$n]}" 2>/dev/null
        wait "${vm_pids[$n]}" 2>/dev/null
    done
    if [ "$test_status" -ne 0 ] && [ "$test_status" -ne 77 ]; then
        for n in "$tmp"/*.console; do
            [ -f "$n" ] || continue
            echo "--- $n (last 60 lines) ---" >&2
            tail -n 60 "$n" >&2
        done
    fi
    return 0
}
cleanup_fn _vm_cleanup

# fsck_replays IMAGE: e2fsck -fy must replay the journal of IMAGE (a
# snapshot of a mounted filesystem) and find it clean after that.
fsck_replays ()
{
    local status=0
    e2fsck -fy "$1" >"$tmp/fsck.out" 2>&1 || status=$?
    cat "$tmp/fsck.out"
    [ "$status" -le 1 ] || fail "e2fsck -fy $1 exited with status $status"
    grep -q 'recovering journal' "$tmp/fsck.out" ||
        fail "e2fsck -fy did not replay a journal on $1"
    e2fsck -fn "$1" >"$tmp/fsck2.out" 2>&1 || fail "e2fsck -fn after the replay: $(cat "$tmp/fsck2.out")"
}

# fs_file IMAGE PATH: the content of PATH in the ext4 image IMAGE.
fs_file ()
{
    debugfs -R "cat $2" "$1" 2>/dev/null
}
