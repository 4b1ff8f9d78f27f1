#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-stops-cleanly-as-2000-peers-hang-up.sh: 2000 silent TCP
# connections in their TLS handshake hang up at once (SIGKILL of the
# process holding them) while the coordinator is stopped (SIGSTOP), and
# SIGTERM reaches it before it runs again: it wakes up to the hang-ups
# and the SIGTERM in one turn of its loop, with some hang-ups read but
# not yet delivered.  It exits 0 with nothing leaked under the
# sanitizers (stop_coordinator checks both); before, the TLS state of
# the connections whose hang-up was still queued was never freed.

source "$(dirname "$0")/functions.sh"
set -x

start_flood_coordinator
nice -n 10 /usr/bin/python3 "$abs_top_srcdir/tests/coordinator/flood.py" hold \
    --port "$port" --source "$(seq -s, -f '127.0.0.%g' 2 41)" \
    --count 2000 --seconds 100 --ready "$tmp/flood.ready" >"$tmp/flood.out" 2>&1 &
flood_pid=$!
wait_for test -e "$tmp/flood.ready"
kill -STOP "$coord_pid"
kill -KILL "$flood_pid"
wait "$flood_pid" 2>/dev/null || :
flood_pid=
sleep 1                         # every hang-up has arrived
(sleep 1; kill -CONT "$coord_pid") &
stop_coordinator                # SIGTERM now, while stopped
grep -q 'the coordinator is stopping$' "$coord_log" ||
    fail "no connection was still open at SIGTERM: the test did not test the hang-ups queued"
