#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-install-stays-under-prefix.sh: `make install DESTDIR=D` puts
# every file under D/PREFIX: the plugin in LIBDIR/nbdkit/plugins, where
# nbdkit loads it by its path, the programs, the library with
# <snapvol/writer.h> and snapvol-writer.pc, the six manual pages and
# the systemd units; `make uninstall` removes every one of them.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/install-functions.sh"
requires_snapvol
requires flock
set -x

install_tree
libdir=$(make_var libdir)
mandir=$(make_var mandir)
unitdir=$(make_var systemdsystemunitdir)

outside=$(find "$destdir" -type f -o -type l | grep -v "^$destdir$prefix/" || :)
assert_eq "$outside" "" "files installed outside $prefix"

for f in \
    "$libdir/nbdkit/plugins/nbdkit-snapvol-plugin.so" \
    "$(make_var bindir)/snapvolctl" \
    "$(make_var bindir)/snapvol-writer" \
    "$(make_var sbindir)/snapvol-coordinator" \
    "$libdir/libsnapvol-writer.so" \
    "$(make_var includedir)/snapvol/writer.h" \
    "$libdir/pkgconfig/snapvol-writer.pc" \
    "$mandir/man1/nbdkit-snapvol-plugin.1" \
    "$mandir/man3/libsnapvol-writer.3" \
    "$mandir/man5/snapvol-coordinator.conf.5" \
    "$mandir/man8/snapvol-coordinator.8" \
    "$mandir/man8/snapvolctl.8" \
    "$mandir/man8/snapvol-writer.8"; do
    [ -e "$destdir$f" ] || fail "not installed: $f"
done
if [ -n "$unitdir" ]; then
    for u in snapvol-coordinator.service nbdkit-snapvol@.service snapvol-writer@.service; do
        [ -s "$destdir$unitdir/$u" ] || fail "not installed: $unitdir/$u"
    done
fi

# nbdkit loads the installed plugin by its path.
"${nbdkit_env[@]}" nbdkit --dump-plugin "$destdir$libdir/nbdkit/plugins/nbdkit-snapvol-plugin.so" \
    >"$tmp/dump" 2>&1 || fail "nbdkit cannot load the installed plugin: $(cat "$tmp/dump")"
grep -qx "snapvol_version=$(make_var VERSION)" "$tmp/dump" ||
    fail "no snapvol_version in: $(cat "$tmp/dump")"

# The pages are pages: man can format each.
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$destdir$mandir/man8/snapvolctl.8" 2>&1 | grep -q 'snapvolctl - manage snapvol volumes' ||
        fail "man cannot format snapvolctl.8"
fi

flock "${TMPDIR:-/tmp}/snapvol-install-$(printf '%s' "$abs_top_builddir" | md5sum | cut -c1-16).lock" \
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$abs_top_builddir" uninstall DESTDIR="$destdir" >"$tmp/uninstall.log" 2>&1 ||
    fail "make uninstall failed: $(tail "$tmp/uninstall.log")"
left=$(find "$destdir" -type f -o -type l)
assert_eq "$left" "" "files left after make uninstall"
