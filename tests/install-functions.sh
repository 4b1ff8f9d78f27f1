# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# install-functions.sh: `make install DESTDIR=...` of the build tree
# into the test's directory, for the tests of what is installed.
# Sourced after tests/functions.sh.

# The make of `make check` passes its flags (-w, the jobserver) in the
# environment; the makes run here are makes of their own.
_make ()
{
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make "$@"
}

# make_var NAME: the value of the variable NAME in the build tree's
# top Makefile (prefix, libdir, ...), fully expanded.
make_var ()
{
    _make -s -C "$abs_top_builddir" --no-print-directory \
        -f Makefile -f - _print_var VAR="$1" <<'MK'
_print_var:
	@echo '$($(VAR))'
MK
}

# install_tree: install the build tree into $tmp/root (as $DESTDIR),
# once per test; sets $destdir and $prefix.  Installs of concurrent
# tests take turns (libtool may relink into the build tree's .libs).
install_tree ()
{
    destdir=$tmp/root
    prefix=$(make_var prefix)
    [ -n "$prefix" ] || fail "cannot read prefix from $abs_top_builddir/Makefile"
    [ -d "$destdir" ] && return 0
    # The lock lives outside the build tree, which make distcheck wants
    # clean after make check.
    local lock
    lock=${TMPDIR:-/tmp}/snapvol-install-$(printf '%s' "$abs_top_builddir" | md5sum | cut -c1-16).lock
    flock "$lock" \
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$abs_top_builddir" install DESTDIR="$destdir" \
        >"$tmp/install.log" 2>&1 ||
        fail "make install DESTDIR=$destdir failed: $(tail -20 "$tmp/install.log")"
}
