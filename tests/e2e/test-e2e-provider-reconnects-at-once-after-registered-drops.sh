#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-provider-reconnects-at-once-after-registered-drops.sh: the
# provider link's reconnect backoff starts again from its minimum
# (0.5 s, less up to a quarter of jitter) after every connection whose
# registration the coordinator accepted, however short it was.  Six
# times in a row the provider's registered connection is cut: another
# connection with the provider's own certificate registers the same
# name, which makes the coordinator close the older one.  Each time the
# plugin must log "reconnecting in" at most 0.5 s and be registered
# again within 2 s.  (A backoff that kept doubling across such drops
# waited 0.5, 1, 2, 4, 8 and then 16 s.)

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M

registrations ()
{
    grep -c 'registered as provider storage-a ' "$coord_log" || :
}

# enough_registrations N: true once the coordinator has logged N.
enough_registrations ()
{
    [ "$(registrations)" -ge "$1" ]
}

params='{"name":"storage-a","nbd_uri":"nbd://127.0.0.1:1","volumes":[]}'
for round in 1 2 3 4 5 6; do
    before=$(registrations)
    t0=$(now_ms)
    # Registers storage-a with the same certificate and disconnects:
    # the plugin's connection is closed by the coordinator.
    out=$(rpc storage-a provider.register "$params")
    case $out in
    *'"result":'*'"heartbeat_ms":1000'*) ;;
    *) fail "round $round: the replacing registration failed: $out" ;;
    esac
    # Ours, then the plugin's own again.
    poll 5 enough_registrations $(( before + 2 ))
    took=$(( $(now_ms) - t0 ))
    echo "round $round: registered again after $took ms"
    [ "$took" -lt 2000 ] ||
        fail "round $round: the provider took $took ms to register again (at most 2000 expected)"
done

# The delays the plugin announced, one per drop, in order.
grep -o 'reconnecting in [0-9.]* s' "$tmp/storage-a.log" >"$tmp/delays"
cat "$tmp/delays"
assert_eq "$(wc -l <"$tmp/delays")" 6 "drops logged by the plugin"
if grep -v -E '^reconnecting in 0\.[0-5] s$' "$tmp/delays"; then
    fail "a reconnect after a registered connection waited more than 0.5 s"
fi
# And the link is up and serving: set create through it works.
out=$(ctl set create storage-a/db)
case $out in
"Created snapshot set "*" of 1 volume "*) ;;
*) fail "set create after the drops: $out" ;;
esac
check_logs
