# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# functions.sh: helpers sourced by every integration test (tests/test-*.sh).
#
# A test sources this file, states what it needs with `requires`, then
# starts the plugin with `start_snapvol`.  Everything a test creates
# lives in its own temporary directory $tmp, removed on exit together
# with every server the test started.
#
# Environment (set by tests/Makefile.am, or by hand):
#   abs_top_builddir  the build tree holding plugin/ and client/
#   abs_top_srcdir    the source tree
#   SANITIZE=yes      the plugin was built with ASan/UBSan
#   SNAPVOL_TEST_VERBOSE=1  run nbdkit with -v (debug messages in its log)
#   SNAPVOL_TEST_KEEP=1     keep $tmp after the test, for inspection

set -euo pipefail

# nbdsh and python3-libnbd live in Debian's python3; a python3 from
# pyenv or a venv earlier on PATH has no nbd module.
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH
export LC_ALL=C

: "${abs_top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${abs_top_builddir:=$abs_top_srcdir}"
: "${SANITIZE:=no}"

PLUGIN=$abs_top_builddir/plugin/.libs/nbdkit-snapvol-plugin.so
SNAPVOLCTL=$abs_top_builddir/client/snapvolctl
test_name=$(basename "$0" .sh)

# glibc fills freed and fresh memory with this byte, so code reading
# memory it does not own sees garbage rather than lucky zeroes.
MALLOC_PERTURB_=$(( (RANDOM % 254) + 1 ))
export MALLOC_PERTURB_

# Say why the test cannot run and exit with automake's SKIP status.
skip ()
{
    echo "$test_name: SKIP: $*" >&2
    exit 77
}

# Fail the test with a message.
fail ()
{
    echo "$test_name: FAIL: $*" >&2
    exit 1
}

# requires CMD...: skip the test unless every command is on PATH.
requires ()
{
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
    done
}

# requires_run CMD ARGS...: skip the test unless the command succeeds
# (for features: `requires_run fio --enghelp=nbd`).
requires_run ()
{
    "$@" >/dev/null 2>&1 || skip "'$*' failed"
}

# How nbdkit and snapvolctl are run.  With a sanitizer build, nbdkit
# (not instrumented itself) must load the ASan runtime first for the
# plugin's instrumented code to work.  Otherwise glibc's malloc
# checking catches heap corruption and double frees.
#
# libp11-kit (which nbdkit gets through GnuTLS) is preloaded right
# after the ASan runtime: loaded in the usual order, its constructor
# calls newlocale, whose first malloc runs ASan's late initialisation,
# which calls dlerror and so gettext, which takes and drops glibc's
# locale lock that newlocale holds.  The lock is left broken and
# p11-kit's destructor then waits on it forever: nbdkit hung at every
# exit after printing an error with %m.
nbdkit_env=(env)
ctl_env=(env)
malloc_debug=$(gcc -print-file-name=libc_malloc_debug.so.0 2>/dev/null || :)
p11kit=$(ldconfig -p 2>/dev/null | awk '$1 == "libp11-kit.so.0" && !f { print $NF; f = 1 }' || :)
if [ "$SANITIZE" = yes ]; then
    nbdkit_env+=(LD_PRELOAD="$(gcc -print-file-name=libasan.so)${p11kit:+ $p11kit}"
                 ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
                 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
    ctl_env+=(UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
elif [ -f "$malloc_debug" ]; then
    nbdkit_env+=(LD_PRELOAD="$malloc_debug" MALLOC_CHECK_=3)
    ctl_env+=(LD_PRELOAD="$malloc_debug" MALLOC_CHECK_=3)
fi

# The plugin and snapvolctl must have been built.
requires_snapvol ()
{
    requires nbdkit
    [ -f "$PLUGIN" ] || skip "the plugin is not built: $PLUGIN"
    [ -x "$SNAPVOLCTL" ] || skip "snapvolctl is not built: $SNAPVOLCTL"
    "${nbdkit_env[@]}" nbdkit --dump-plugin "$PLUGIN" >/dev/null ||
        fail "nbdkit cannot load $PLUGIN"
}

# Cleanup handlers, run in reverse order of registration by the EXIT
# trap.  Each handler is one command with its arguments; a handler
# that fails does not stop the others.
_cleanup_cmds=()
cleanup_fn ()
{
    _cleanup_cmds+=("$(printf '%q ' "$@")")
}

# The test's exit status, for handlers that act on failure.
test_status=0
_run_cleanup ()
{
    test_status=$?
    local i
    set +e
    for (( i = ${#_cleanup_cmds[@]} - 1; i >= 0; i-- )); do
        eval "${_cleanup_cmds[i]}"
    done
    exit "$test_status"
}
trap _run_cleanup EXIT
# A signal (a timeout, ^C) must still run the handlers.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Every test works in its own directory.  Unix socket paths are limited
# to 107 bytes, so it goes under $TMPDIR (short) rather than the build tree.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/snapvol-$test_name.XXXXXX")
_remove_tmp ()
{
    if [ "${SNAPVOL_TEST_KEEP:-0}" = 1 ]; then
        echo "$test_name: keeping $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
cleanup_fn _remove_tmp

# The server started by start_snapvol.
sock=$tmp/nbd.sock              # NBD Unix socket
ctl=$tmp/ctl.sock               # the plugin's control socket
pidfile=$tmp/nbdkit.pid
nbdkit_log=$tmp/nbdkit.log
snapvol_pid=

# uri EXPORT: the NBD URI of EXPORT on the server's socket.
uri ()
{
    printf 'nbd+unix:///%s?socket=%s' "$1" "$sock"
}

# snapvolctl ARGS...: run snapvolctl against the server's control socket.
snapvolctl ()
{
    "${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl" "$@"
}

# start_snapvol DIR [PLUGIN-ARGS...]: serve the pool in DIR on $sock
# with the control socket $ctl, and wait until both accept connections.
start_snapvol ()
{
    local dir=$1 i
    shift
    [ -z "$snapvol_pid" ] || fail "start_snapvol: a server is already running"

    local -a opts=(-f -U "$sock" --pidfile "$pidfile" --exit-with-parent)
    [ "${SNAPVOL_TEST_VERBOSE:-0}" != 1 ] || opts+=(-v)

    # A socket left by a server killed with SIGKILL would make nbdkit
    # fail to bind; the control socket is left alone on purpose: the
    # plugin must cope with a stale one after a crash.
    rm -f "$sock" "$pidfile"
    echo "+ nbdkit ${opts[*]} $PLUGIN dir=$dir control=$ctl $*" >>"$nbdkit_log"
    "${nbdkit_env[@]}" nbdkit "${opts[@]}" "$PLUGIN" dir="$dir" control="$ctl" "$@" \
        >>"$nbdkit_log" 2>&1 &
    snapvol_pid=$!
    if [ -z "${_snapvol_cleanup:-}" ]; then
        cleanup_fn _snapvol_cleanup
        _snapvol_cleanup=1
    fi

    for (( i = 0; i < 600; i++ )); do
        if ! kill -0 "$snapvol_pid" 2>/dev/null; then
            wait "$snapvol_pid" || :
            snapvol_pid=
            cat "$nbdkit_log" >&2
            fail "nbdkit exited during startup"
        fi
        # A stale control socket exists before the plugin binds a new
        # one: wait until it accepts a connection.
        if [ -s "$pidfile" ] && [ -S "$sock" ] && _accepts "$ctl"; then
            return 0
        fi
        sleep 0.1
    done
    cat "$nbdkit_log" >&2
    fail "nbdkit did not start within 60 s"
}

# _accepts SOCKET: true if the Unix socket accepts a connection.
_accepts ()
{
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$1" 2>/dev/null
}

# stop_snapvol: stop the server cleanly (SIGTERM) and check it exited
# with status 0.
stop_snapvol ()
{
    local i status=0
    [ -n "$snapvol_pid" ] || return 0
    kill -TERM "$snapvol_pid"
    for (( i = 0; i < 300; i++ )); do
        kill -0 "$snapvol_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$snapvol_pid" 2>/dev/null; then
        kill -KILL "$snapvol_pid"
        wait "$snapvol_pid" || :
        snapvol_pid=
        fail "nbdkit did not exit within 30 s of SIGTERM"
    fi
    wait "$snapvol_pid" || status=$?
    snapvol_pid=
    [ "$status" -eq 0 ] || { cat "$nbdkit_log" >&2; fail "nbdkit exited with status $status"; }
}

# kill9_snapvol: kill the server with SIGKILL, as a crash would.
kill9_snapvol ()
{
    [ -n "$snapvol_pid" ] || return 0
    kill -KILL "$snapvol_pid"
    wait "$snapvol_pid" || :
    snapvol_pid=
}

_snapvol_cleanup ()
{
    if [ -n "$snapvol_pid" ]; then
        kill -TERM "$snapvol_pid" 2>/dev/null
        sleep 0.5
        kill -KILL "$snapvol_pid" 2>/dev/null
        wait "$snapvol_pid" 2>/dev/null
    fi
    # The server's messages explain most failures: show them.
    if [ "$test_status" -ne 0 ] && [ "$test_status" -ne 77 ] && [ -s "$nbdkit_log" ]; then
        echo "--- $nbdkit_log (last 100 lines) ---" >&2
        tail -n 100 "$nbdkit_log" >&2
    fi
    return 0
}

# The ASan runtime reports into the server's log; a report there fails
# the test even if the server survived.
check_sanitizer_log ()
{
    if grep -E 'ERROR: AddressSanitizer|runtime error:' "$nbdkit_log" >&2; then
        fail "the sanitizers reported errors (see above)"
    fi
}

# expect_error REGEX CMD ARGS...: CMD must fail, print nothing on
# stdout, and print exactly one line on stderr matching the extended
# regular expression REGEX (case-insensitive).
expect_error ()
{
    local re=$1 status=0 out err xtrace=
    shift
    out=$tmp/expect_error.out err=$tmp/expect_error.err
    # The trace of set -x must not land in the captured stderr.
    case $- in *x*) xtrace=1; set +x ;; esac
    "$@" >"$out" 2>"$err" || status=$?
    [ -z "$xtrace" ] || set -x
    echo "stderr of '$*': $(cat "$err")"
    [ "$status" -ne 0 ] || fail "'$*' succeeded, expected an error matching /$re/"
    [ "$status" -lt 126 ] || fail "'$*' exited with status $status (crashed?)"
    [ ! -s "$out" ] || fail "'$*' printed on stdout: $(cat "$out")"
    [ "$(wc -l <"$err")" -eq 1 ] || fail "'$*' printed $(wc -l <"$err") lines on stderr, expected one"
    grep -Eiq -- "$re" "$err" || fail "'$*': stderr does not match /$re/"
}

# assert_eq ACTUAL EXPECTED WHAT
assert_eq ()
{
    [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

# md5 FILE: the checksum of a file.
md5 ()
{
    md5sum "$1" | cut -d' ' -f1
}

# export_md5 EXPORT: the checksum of an export's content, copied out
# with nbdcopy.
export_md5 ()
{
    nbdcopy "$(uri "$1")" - | md5sum | cut -d' ' -f1
}

# snapshot_create VOLUME...: take a snapshot set with snapvolctl --json
# and print its JSON result.
snapshot_create ()
{
    snapvolctl --json snapshot create "$@"
}

# mount_small_tmpfs SIZE: mount a tmpfs of SIZE (as mount's size=) on
# $tmp/fs, unmounted at the end; skip unless root and mount can.
mount_small_tmpfs ()
{
    [ "$(id -u)" -eq 0 ] || skip "mounting a small tmpfs needs root"
    mkdir "$tmp/fs"
    mount -t tmpfs -o size="$1",mode=0700 snapvol-test "$tmp/fs" ||
        skip "cannot mount a tmpfs here"
    cleanup_fn umount -l "$tmp/fs"
}

# fill_mib EXPORT BYTE MIB: write MiB 0..MIB-1 of EXPORT with BYTE,
# flushed.
fill_mib ()
{
    nbdsh -u "$(uri "$1")" -c "
b = bytes([$2]) * (1 << 20)
for m in range($3):
    h.pwrite(b, m << 20)
h.flush()
"
}

# fill_filesystem DIR: fill the filesystem of DIR with a file of zeroes
# (DIR/filler) until it is full; dd stops at ENOSPC.
fill_filesystem ()
{
    dd if=/dev/zero of="$1/filler" bs=64k status=none 2>/dev/null || :
}
