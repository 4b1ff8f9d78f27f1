#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-plugin-warns-nbd-without-tls-beyond-loopback.sh: the plugin logs
# one warning at start, naming the address, when nbdkit listens beyond
# loopback (0.0.0.0, ::) without --tls=require (none, or --tls=on), and
# none on 127.0.0.1, ::1, a Unix socket, or with --tls=require.  Runs
# in a network namespace of its own, so the wildcard addresses are
# reachable from nowhere.

if [ "${SNAPVOL_IN_NETNS:-}" != 1 ]; then
    if unshare -n true 2>/dev/null; then
        SNAPVOL_IN_NETNS=1 exec unshare -n "$BASH" "$0" "$@"
    fi
    echo "$(basename "$0" .sh): SKIP: cannot make a network namespace (unshare -n)" >&2
    exit 77
fi

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/nbd-tls-functions.sh"
requires_snapvol
requires nbdinfo ip openssl
set -x

ip link set lo up || skip "cannot bring up lo in the namespace"
make_nbd_tls "$tmp/tls"
client_tls=tls-certificates=$tmp/tls/client

# serve NAME PROBE-URI NBDKIT-OPTIONS...: start nbdkit with the plugin,
# wait until PROBE-URI answers (the plugin's start is over by then),
# stop it; its messages are in $tmp/NAME.log.
serve ()
{
    local name=$1 probe=$2 pid i
    shift 2
    "${nbdkit_env[@]}" nbdkit -f --exit-with-parent "$@" "$PLUGIN" \
        dir="$tmp/pool" volume=a:1M >"$tmp/$name.log" 2>&1 &
    pid=$!
    for (( i = 0; i < 300; i++ )); do
        if nbdinfo --size "$probe" >/dev/null 2>&1; then
            break
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name: nbdkit exited: $(cat "$tmp/$name.log")"
        sleep 0.1
    done
    [ "$i" -lt 300 ] || fail "$name: $probe did not answer within 30 s"
    kill -TERM "$pid"
    wait "$pid" || fail "$name: nbdkit exited with status $?: $(cat "$tmp/$name.log")"
    cat "$tmp/$name.log"
}

warning ()
{
    echo "nbdkit: error: warning: NBD is served on $1, beyond loopback, without --tls=require: anyone who can reach it may read and write every volume, in clear text; start nbdkit with --tls=require and X.509 certificates, or listen on 127.0.0.1 or a Unix socket (nbdkit-snapvol-plugin(1), SECURITY)"
}

serve any4 nbd://127.0.0.1:10809/a -i 0.0.0.0 -p 10809
assert_eq "$(cat "$tmp/any4.log")" "$(warning "0.0.0.0 port 10809")" "nbdkit -i 0.0.0.0"

serve any6 'nbd://[::1]:10809/a' -i :: -p 10809
assert_eq "$(cat "$tmp/any6.log")" "$(warning ":: port 10809")" "nbdkit -i ::"

serve tls-on nbd://127.0.0.1:10810/a -i 0.0.0.0 -p 10810 --tls=on \
    --tls-certificates "$tmp/tls/server"
assert_eq "$(cat "$tmp/tls-on.log")" "$(warning "0.0.0.0 port 10810")" "nbdkit --tls=on"

serve loopback4 nbd://127.0.0.1:10809/a -i 127.0.0.1 -p 10809
assert_eq "$(cat "$tmp/loopback4.log")" "" "nbdkit -i 127.0.0.1"

serve loopback6 'nbd://[::1]:10809/a' -i ::1 -p 10809
assert_eq "$(cat "$tmp/loopback6.log")" "" "nbdkit -i ::1"

serve unix "nbd+unix:///a?socket=$tmp/nbd.sock" -U "$tmp/nbd.sock"
assert_eq "$(cat "$tmp/unix.log")" "" "nbdkit -U"

serve tls-require "nbds://127.0.0.1:10809/a?$client_tls" -i 0.0.0.0 -p 10809 \
    --tls=require --tls-certificates "$tmp/tls/server" --tls-verify-peer
assert_eq "$(cat "$tmp/tls-require.log")" "" "nbdkit --tls=require"

serve tls-require-2 "nbds://127.0.0.1:10809/a?$client_tls" -i 0.0.0.0 -p 10809 \
    --tls require --tls-certificates "$tmp/tls/server"
assert_eq "$(cat "$tmp/tls-require-2.log")" "" "nbdkit --tls require"
