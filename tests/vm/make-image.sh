#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# make-image.sh: make the kernel and the initramfs the VM tests boot.
#
#   tests/vm/make-image.sh DIR
#
# Writes DIR/vmlinuz and DIR/initramfs.img, and does nothing when they
# are newer than this script and tests/vm/guest-init.  The kernel is
# Debian's cloud kernel (linux-image-cloud-amd64), fetched with
# `apt-get download` and unpacked with dpkg-deb -x, never installed; the
# initramfs holds busybox (static), mke2fs, e2fsck, nbd-client and
# qemu-ga (unpacked from Debian's qemu-guest-agent package) with the
# shared libraries ldd lists for them, the kernel modules the guest
# needs that the cloud kernel does not build in (virtio_pci,
# virtio_blk, virtio_net, virtio_console, nbd and what they depend on,
# read from each module's .modinfo), and guest-init as /init.
#
# Exits 0 on success; 1 with a message on stderr naming what is
# missing.  Runs under flock, so tests started together build once.

set -euo pipefail
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: make-image.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

die ()
{
    echo "make-image.sh: $*" >&2
    exit 1
}

# The modules /init loads, in this order (each after what it depends
# on); checked against the modules' own dependencies below.
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
         virtio_pci virtio_blk failover net_failover virtio_net
         virtio_console nbd)

up_to_date ()
{
    [ -s "$dir/vmlinuz" ] && [ -s "$dir/initramfs.img" ] &&
        [ "$dir/initramfs.img" -nt "$here/guest-init" ] &&
        [ "$dir/initramfs.img" -nt "$here/make-image.sh" ]
}

# fetch PACKAGE: download PACKAGE's .deb into $dir/debs (once).
fetch ()
{
    local deb
    mkdir -p "$dir/debs"
    deb=$(find "$dir/debs" -name "${1}_*.deb" | head -n 1)
    if [ -z "$deb" ]; then
        # apt's download sandbox user cannot write to a root-owned
        # build tree; the files are checked against the signed lists.
        (cd "$dir/debs" && apt-get -q -o APT::Sandbox::User=root download "$1" >&2) ||
            die "apt-get download $1 failed (run apt-get update?)"
        deb=$(find "$dir/debs" -name "${1}_*.deb" | head -n 1)
    fi
    [ -n "$deb" ] || die "apt-get download $1 left no .deb"
    echo "$deb"
}

# copy_with_libs ROOT FILE...: copy each FILE into ROOT at its own path,
# with every shared library ldd lists for it.
copy_with_libs ()
{
    local root=$1 f lib
    shift
    for f in "$@"; do
        [ -f "$f" ] || die "$f is missing"
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
        while read -r lib; do
            [ -e "$root$lib" ] && continue
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done < <(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | sort -u)
    done
}

build ()
{
    local kpkg kdeb gadeb root kver m f dep
    command -v apt-get >/dev/null || die "apt-get is needed to fetch the kernel"
    for f in /bin/busybox /sbin/mke2fs /sbin/e2fsck /usr/sbin/nbd-client; do
        [ -x "$f" ] || die "$f is missing (Debian packages busybox-static, e2fsprogs, nbd-client)"
    done
    [ "$(ldd /bin/busybox 2>&1 | grep -c 'not a dynamic')" = 1 ] ||
        die "/bin/busybox is not static (install busybox-static)"

    # linux-image-cloud-amd64 only depends on the versioned package.
    kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
           awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
    [ -n "$kpkg" ] || die "apt-cache knows no linux-image-cloud-amd64 (run apt-get update?)"
    kdeb=$(fetch "$kpkg")
    gadeb=$(fetch qemu-guest-agent)

    work=$(mktemp -d "$dir/build.XXXXXX")
    trap 'rm -rf "${work:-}"' EXIT
    dpkg-deb -x "$kdeb" "$work/kernel"
    dpkg-deb -x "$gadeb" "$work/qga"
    kver=$(basename "$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
    [ -n "$kver" ] || die "$kdeb holds no modules"

    root=$work/root
    mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,mnt,mnt2,var/run,modules,etc}
    cp /bin/busybox "$root/bin/busybox"
    copy_with_libs "$root" /sbin/mke2fs /sbin/e2fsck /usr/sbin/nbd-client
    ln -s mke2fs "$root/sbin/mkfs.ext4"
    # qemu-ga from the package, its libraries from this machine (the
    # package's dependencies, which qemu-system-x86 also pulls in).
    mkdir -p "$root/usr/sbin"
    cp "$work/qga/usr/sbin/qemu-ga" "$root/usr/sbin/qemu-ga"
    while read -r f; do
        [ -e "$root$f" ] && continue
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
    done < <(ldd "$work/qga/usr/sbin/qemu-ga" | grep -o '/[^ ]*' | sort -u)
    ldd "$work/qga/usr/sbin/qemu-ga" | grep -q 'not found' &&
        die "qemu-ga needs libraries this machine lacks: $(ldd "$work/qga/usr/sbin/qemu-ga" | grep 'not found' | tr -s ' \n' ' ')"

    # Each module after its dependencies: the order above must hold.
    local -A loaded=()
    for m in "${modules[@]}"; do
        f=$(find "$work/kernel/lib/modules/$kver" -name "$m.ko" | head -n 1)
        [ -n "$f" ] || die "module $m.ko is not in $kdeb"
        for dep in $(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' '); do
            [ -n "${loaded[$dep]:-}" ] || die "module $m needs $dep, which is not loaded before it"
        done
        cp "$f" "$root/modules/$m.ko"
        loaded[$m]=1
    done
    printf '%s\n' "${modules[@]}" >"$root/modules/order"
    cp "$here/guest-init" "$root/init"
    chmod 755 "$root/init"

    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.img"
    cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
    mv "$work/vmlinuz" "$dir/vmlinuz"
    mv "$work/initramfs.img" "$dir/initramfs.img"
    echo "$kver" >"$dir/kernel-version"
}

exec 9>"$dir/.lock"
flock 9
up_to_date || build
