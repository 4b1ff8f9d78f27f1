#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-systemd-units-verify.sh: the installed systemd units
# (snapvol-coordinator.service, an instance of nbdkit-snapvol@.service
# and of snapvol-writer@.service) pass `systemd-analyze verify` without
# a single message, with the programs they start taken from the
# DESTDIR install; they keep their hardening; and every snapvol manual
# page they name in Documentation= is installed.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/install-functions.sh"
requires_snapvol
requires flock
command -v systemd-analyze >/dev/null 2>&1 ||
    skip "systemd-analyze is not installed (Debian package systemd)"
set -x

install_tree
unitdir=$(make_var systemdsystemunitdir)
[ -n "$unitdir" ] || skip "configured --without-systemdsystemunitdir: no units installed"
mandir=$(make_var mandir)

# The units name the installed programs under $prefix: point those at
# the DESTDIR copy, so that verify checks they exist and are
# executable.
mkdir "$tmp/units"
for u in snapvol-coordinator.service nbdkit-snapvol@.service snapvol-writer@.service; do
    [ -s "$destdir$unitdir/$u" ] || fail "not installed: $unitdir/$u"
    sed -E "s#^(Exec[A-Za-z]*=[-@:+!]*)$prefix/#\\1$destdir$prefix/#" \
        "$destdir$unitdir/$u" >"$tmp/units/$u"
done
grep -q "^ExecStart=$destdir$prefix/sbin/snapvol-coordinator " "$tmp/units/snapvol-coordinator.service" ||
    fail "unexpected ExecStart: $(grep ^ExecStart "$tmp/units/snapvol-coordinator.service")"

# Documentation=man:... pages of ours are checked against the install
# below; nbdkit's own pages may be absent, so verify does not look.
status=0
set +x
(cd "$tmp/units" &&
    systemd-analyze verify --man=no ./snapvol-coordinator.service \
        ./nbdkit-snapvol@pool1.service ./snapvol-writer@db1.service) \
    >"$tmp/verify.out" 2>&1 || status=$?
set -x
cat "$tmp/verify.out"
assert_eq "$status" 0 "systemd-analyze verify's exit status"
assert_eq "$(cat "$tmp/verify.out")" "" "systemd-analyze verify's messages"

# The hardening each unit promises.
for u in snapvol-coordinator.service nbdkit-snapvol@.service; do
    for line in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
                PrivateTmp=yes User=snapvol CapabilityBoundingSet= "StateDirectory=snapvol"; do
        grep -q "^$line" "$tmp/units/$u" || fail "$u: no $line"
    done
done
for line in NoNewPrivileges=yes ProtectSystem=full PrivateTmp=yes; do
    grep -q "^$line" "$tmp/units/snapvol-writer@.service" || fail "snapvol-writer@.service: no $line"
done

# Our pages named in Documentation= are installed.
while read -r page; do
    name=${page%(*} sect=${page#*(}
    sect=${sect%)}
    case $name in
        nbdkit-snapvol-plugin|snapvol*|libsnapvol*)
            [ -s "$destdir$mandir/man$sect/$name.$sect" ] ||
                fail "Documentation=man:$page is not installed" ;;
    esac
done < <(grep -ho 'man:[^ ]*' "$tmp/units"/*.service | sed 's/^man://' | sort -u)
