#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-writer-library-pkg-config.sh: a program including
# <snapvol/writer.h>, compiled and linked with nothing but
# `pkg-config --cflags --libs snapvol-writer` against a DESTDIR
# install, registers with a real coordinator and sees exactly prepare,
# freeze, thaw and post_snapshot of a set taken of its volume; it stops
# on SIGTERM with status 0.

source "$(dirname "$0")/coordinator/functions.sh"
source "$(dirname "$0")/install-functions.sh"
requires pkg-config cc flock
set -x

install_tree
libdir=$(make_var libdir)
export PKG_CONFIG_SYSROOT_DIR=$destdir
export PKG_CONFIG_PATH=$destdir$libdir/pkgconfig
export PKG_CONFIG_LIBDIR=$destdir$libdir/pkgconfig
flags=$(pkg-config --cflags --libs snapvol-writer | sed "s/ *$//") ||
    fail "pkg-config does not find snapvol-writer in $PKG_CONFIG_PATH"
assert_eq "$flags" "-I$destdir$(make_var includedir) -L$destdir$libdir -lsnapvol-writer" \
    "pkg-config --cflags --libs snapvol-writer"
assert_eq "$(pkg-config --modversion snapvol-writer)" "$(make_var VERSION)" "the version in snapvol-writer.pc"

cc_flags=()
[ "$SANITIZE" != yes ] || cc_flags+=(-fsanitize=address,undefined)
# shellcheck disable=SC2086
cc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Werror "${cc_flags[@]}" \
    -o "$tmp/writer-example" "$abs_top_srcdir/tests/install/writer-example.c" $flags ||
    fail "the example does not build with pkg-config's flags"

write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576

example_env=(env LD_LIBRARY_PATH="$destdir$libdir")
[ "$SANITIZE" != yes ] || example_env+=(ASAN_OPTIONS=detect_leaks=1)
"${example_env[@]}" "$tmp/writer-example" writer-db "127.0.0.1:$port" \
    "$pki/writer-db.crt" "$pki/writer-db.key" "$pki/ca.crt" storage-a/db \
    >"$tmp/example.out" 2>"$tmp/example.err" &
example_pid=$!
cleanup_fn kill "$example_pid"

writer_connected ()
{
    local out
    kill -0 "$example_pid" || fail "the example exited: $(cat "$tmp/example.err")"
    out=$(rpc ops writer.list)
    [ "$(jget "$out" '[w["connected"] for w in j["result"] if w["name"] == "writer-db"]')" = "[true]" ]
}
wait_for writer_connected

out=$(rpc backup set.create '{"volumes":["storage-a/db"],"label":"pkg-config"}')
sid=$(jget "$out" 'j["result"]["set_id"]')
assert_eq "$(jget "$out" 'j["result"]["state"]')" committed "the set's state"
assert_eq "$(jget "$out" '[(p["kind"], p["name"], p["state"]) for p in j["result"]["participants"] if p["kind"] == "writer"]')" \
    '[["writer", "writer-db", "done"]]' "the writer in the set"

events_done ()
{
    [ "$(wc -l <"$tmp/example.out")" -ge 4 ]
}
wait_for events_done
assert_eq "$(cat "$tmp/example.out")" "prepare $sid
freeze $sid
thaw $sid
post_snapshot $sid" "the events the example saw"

kill -TERM "$example_pid"
status=0
wait "$example_pid" || status=$?
assert_eq "$status" 0 "the example's exit status after SIGTERM"
