# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# faultinject.sh: helpers for the test-fault-*.sh scripts, sourced after
# functions.sh.  They preload the fault-injection shim (faultinject.c)
# into nbdkit and switch its faults on and off while nbdkit runs.
#
#   requires_faultinject         skip unless the shim is built and works
#   faults_preload               make start_snapvol preload it (call once,
#                                before start_snapvol)
#   fault_set RULE...            replace the rules (faultinject.c has the
#                                syntax); the next call of the plugin sees
#                                them
#   fault_clear                  no rule: the disk heals, space is back
#   fault_hits                   how many calls have failed so far
#   data_file VOLUME, journal_files VOLUME
#                                the glob patterns of a volume's files

FAULTINJECT_SO=$abs_top_builddir/tests/.libs/faultinject.so
fault_conf=$tmp/faults.conf
fault_log=$tmp/faults.log

# The shim must be built (a check-only library: `make check` builds
# it) and must take effect in a program it is preloaded into: checked
# on dd(1), whose final fdatasync it must fail.
requires_faultinject ()
{
    requires dd
    [ -f "$FAULTINJECT_SO" ] ||
        skip "the fault-injection shim is not built: $FAULTINJECT_SO (run make check)"
    printf 'fdatasync %s EIO\n' "$tmp/faultinject-probe" >"$tmp/faultinject-probe.conf"
    if LD_PRELOAD=$FAULTINJECT_SO SNAPVOL_FAULTINJECT=$tmp/faultinject-probe.conf \
           SNAPVOL_FAULTINJECT_LOG=$tmp/faultinject-probe.log \
           dd if=/dev/zero of="$tmp/faultinject-probe" bs=4k count=1 \
              conv=fdatasync status=none 2>/dev/null; then
        skip "the fault-injection shim does not take effect here"
    fi
    rm -f "$tmp"/faultinject-probe*
}

# Add the shim to nbdkit's environment.  A sanitizer runtime that
# functions.sh preloads must stay first: LD_PRELOAD is extended, never
# replaced.
faults_preload ()
{
    local i found=
    for i in "${!nbdkit_env[@]}"; do
        case ${nbdkit_env[i]} in
        LD_PRELOAD=*)
            nbdkit_env[i]="${nbdkit_env[i]} $FAULTINJECT_SO"
            found=1 ;;
        esac
    done
    [ -n "$found" ] || nbdkit_env+=(LD_PRELOAD="$FAULTINJECT_SO")
    nbdkit_env+=(SNAPVOL_FAULTINJECT="$fault_conf"
                 SNAPVOL_FAULTINJECT_LOG="$fault_log")
    : >"$fault_log"
}

# The rules are written aside and renamed into place, so that the shim
# never reads half a file and always sees a new one (a new inode).
fault_set ()
{
    printf '%s\n' "$@" >"$fault_conf.new"
    mv -f "$fault_conf.new" "$fault_conf"
}

fault_clear ()
{
    fault_set "# no fault"
}

fault_hits ()
{
    wc -l <"$fault_log" | tr -d ' '
}

# data_file VOLUME: the glob of VOLUME's data file.
data_file ()
{
    printf '*/volumes/%s/data' "$1"
}

# journal_files VOLUME: the glob of VOLUME's journal files.
journal_files ()
{
    printf '*/volumes/%s/journal.*' "$1"
}

# nbdsh_py URI: run the Python script on stdin in nbdsh, connected to
# URI as `h`, after a prelude that defines:
#   pattern(seed, off, n)  the n bytes at off of a device filled with
#                          pattern seed: each 4 KiB block starts with its
#                          seed and offset, so misplaced data shows
#   expect_error(name, what, fn, *args)
#                          fn(*args) must fail with errno `name`
#                          ("EIO", "ENOSPC") as libnbd reports it
nbdsh_py ()
{
    nbdsh -u "$1" -c "exec(open('$tmp/prelude.py').read())" -c -
}

cat >"$tmp/prelude.py" <<'PY'
import errno, struct

_fill = {}

def pattern(seed, off, n):
    a = off // 4096 * 4096
    b = (off + n + 4095) // 4096 * 4096
    f = _fill.get(seed)
    if f is None:
        f = _fill[seed] = bytes((seed * 31 + k) % 251 for k in range(4080))
    blocks = b"".join(struct.pack("<QQ", seed, o) + f
                      for o in range(a, b, 4096))
    return blocks[off - a:off - a + n]

def expect_error(name, what, fn, *args):
    try:
        fn(*args)
    except nbd.Error as e:
        assert e.errno in (name, getattr(errno, name)), \
            "%s: failed with %s (%s), expected %s" % (what, e.errno,
                                                       e.string, name)
        return
    raise AssertionError("%s: succeeded, expected %s" % (what, name))
PY
