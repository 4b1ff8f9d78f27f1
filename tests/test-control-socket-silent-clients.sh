#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-control-socket-silent-clients.sh: 32 clients that connect to the
# control socket and never send do not lock others out: with every
# slot taken, a new client takes the slot of the one idle longest, so
# `snapvolctl volume list` answers at once (within 2 s, against an idle
# timeout of 60 s).  Clients that exit have their sockets closed by
# nbdkit at once, without waiting for another connection: nbdkit's
# open descriptors drop back to what they were within 2 s.  (Before,
# the 33rd client got "too many control connections" for as long as
# the 32 stayed, and sockets of clients gone stayed open until the
# next connection.)

source "$(dirname "$0")/functions.sh"
requires_snapvol
set -x

start_snapvol "$tmp/pool" volume=v:1M
pid=$(cat "$pidfile")
fds () { ls "/proc/$pid/fd" | wc -l; }
before=$(fds)

# 32 silent clients, held until $tmp/release exists.
/usr/bin/python3 -c 'import os, socket, sys, time
socks = []
for i in range(32):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    socks.append(s)
open(sys.argv[2], "w").close()
end = time.monotonic() + 60
while not os.path.exists(sys.argv[3]) and time.monotonic() < end:
    time.sleep(0.05)
' "$ctl" "$tmp/held" "$tmp/release" &
silent=$!
cleanup_fn kill "$silent"
for (( i = 0; i < 100; i++ )); do
    [ ! -e "$tmp/held" ] || break
    sleep 0.1
done
[ -e "$tmp/held" ] || fail "the silent clients did not connect"

t0=$(date +%s%N)
out=$(timeout 10 "${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl" volume list 2>&1) ||
    fail "volume list with 32 silent clients: $out"
took=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "volume list took $took ms"
case $out in
*v*) ;;
*) fail "volume list: $out" ;;
esac
[ "$took" -lt 2000 ] || fail "volume list took $took ms with 32 silent clients"

# The silent clients exit: their sockets are closed at once.
touch "$tmp/release"
wait "$silent" || :
for (( i = 0; i < 20; i++ )); do
    [ "$(fds)" -gt "$before" ] || break
    sleep 0.1
done
assert_eq "$(fds)" "$before" "nbdkit's descriptors 2 s after the clients exited"
stop_snapvol
