# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# common.sh: what scripts/quickstart and scripts/test share: install the
# Debian packages the build and the tests need, and build the tree.
# Sourced, not run.  Each step does nothing when it is already done, so
# the scripts can be run again and again.

# The source tree: the parent of this file's directory.
sv_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# nbdsh needs Debian's python3 (python3-libnbd), not one from pyenv or
# a virtualenv that may come first on PATH.
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH

sv_packages=(
    build-essential autoconf automake libtool autoconf-archive pkg-config clang libclang-rt-14-dev
    nbdkit nbdkit-plugin-dev libnbd-dev libnbd-bin python3-libnbd nbd-client
    libevent-dev libssl-dev libjansson-dev libsqlite3-dev libcmocka-dev libpq-dev
    libcurl4-openssl-dev etcd-server etcd-client
    qemu-utils fio openssl iproute2 jq curl
    qemu-system-x86 busybox-static cpio e2fsprogs
    postgresql postgresql-client
    libglib2.0-0 libnuma1 liburing2 libudev1
)

sv_say ()
{
    printf '\n==> %s\n' "$*"
}

sv_die ()
{
    printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
    exit 1
}

# Install the packages of sv_packages that are missing, refreshing the
# package lists only then.
sv_install_packages ()
{
    local p missing=()
    for p in "${sv_packages[@]}"; do
        if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        sv_say "All ${#sv_packages[@]} Debian packages are installed"
        return 0
    fi
    sv_say "Installing Debian packages: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || sv_die "installing packages needs root: run $0 as root"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# Regenerate the build system when configure is missing or older than
# configure.ac, or a Makefile.in is missing or older than its Makefile.am.
sv_bootstrap ()
{
    local am need=
    if [ ! -x "$sv_top/configure" ] || [ "$sv_top/configure" -ot "$sv_top/configure.ac" ]; then
        need=1
    else
        while IFS= read -r am; do
            if [ ! -f "${am%.am}.in" ] || [ "${am%.am}.in" -ot "$am" ]; then
                need=1
                break
            fi
        done < <(find "$sv_top" -name Makefile.am -not -path '*/build*/*')
    fi
    if [ -n "$need" ]; then
        sv_say "Generating the build system (autoreconf -fi)"
        (cd "$sv_top" && autoreconf -fi)
    fi
}

# sv_build_dir [--sanitize]: print the directory to build in.  Builds go
# in build/ and build-sanitize/ so that both can exist side by side (an
# Automake tree configured in place cannot also have VPATH builds); a
# tree a developer configured in place is used as it is for the normal
# build.
sv_build_dir ()
{
    if [ "${1:-}" = --sanitize ]; then
        [ ! -f "$sv_top/config.status" ] ||
            sv_die "the source tree is configured in place, so it cannot have a separate sanitizer build: run 'make distclean' in $sv_top first"
        echo "$sv_top/build-sanitize"
    elif [ -f "$sv_top/config.status" ]; then
        echo "$sv_top"
    else
        echo "$sv_top/build"
    fi
}

# sv_build DIR CONFIGURE-OPTIONS...: configure DIR (only if it is not yet
# configured, or with other options, or by an older configure), then make.
sv_build ()
{
    local dir=$1 want have=
    shift
    mkdir -p "$dir"
    want=$(printf '%s\n' "$@")
    if [ -x "$dir/config.status" ]; then
        # config.status quotes the options as a shell would need them.
        have=$(eval "printf '%s\n' $(cd "$dir" && ./config.status --config)")
    fi
    if [ ! -f "$dir/Makefile" ] || [ "$have" != "$want" ] ||
       [ "$dir/config.status" -ot "$sv_top/configure" ]; then
        sv_say "Configuring in $dir: configure $*"
        (cd "$dir" && "$sv_top/configure" "$@")
    fi
    sv_say "Building in $dir"
    make -C "$dir" -j"$(nproc)"
}
