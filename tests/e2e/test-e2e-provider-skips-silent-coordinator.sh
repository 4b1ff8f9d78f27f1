#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-provider-skips-silent-coordinator.sh: a provider given two
# coordinators, the first an address that accepts TCP connections and
# never answers (a host that died without closing anything, or hangs),
# gives it 3 s (RPCPEER_LIST_CONNECT_TIMEOUT_MS), not the 10 s of a
# single address, before it goes on to the second, the real
# coordinator, and registers there.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_fakecoord silent --silent
coordinator_address=127.0.0.1:${fake_port[silent]},127.0.0.1:$port
start=$(now_ms)
start_provider storage-a db:1M
elapsed=$(( $(now_ms) - start ))
echo "registered after $elapsed ms"
assert_eq "$(fake_events silent accepted | head -n 1)" '{"event":"accepted"}' \
    "the silent address was tried first"
[ "$elapsed" -ge 2900 ] || fail "registered after $elapsed ms: the silent address got less than 3 s"
[ "$elapsed" -lt 8000 ] || fail "registered after $elapsed ms: the silent address got more than 3 s"
stop_provider storage-a
