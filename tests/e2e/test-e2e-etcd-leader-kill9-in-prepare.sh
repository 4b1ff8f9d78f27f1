#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-etcd-leader-kill9-in-prepare.sh: two coordinators on etcd,
# a real provider and two real writers (leader-kill-functions.sh); the
# leader is killed with SIGKILL in the preparing phase of a set, while
# writer-db's prepare hook runs (it sleeps 3 s).  The new leader finds
# the set preparing, records it failed, and nothing of it remains: no
# snapshot, no hold; no writer was frozen.  A new set commits on the
# new leader within 8 s of the kill ("failover: prepare: N.NN s").

source "$(dirname "$0")/leader-kill-functions.sh"
set -x

lk_start
touch "$tmp/writer-db.slow-prepare"
lk_set_start
poll 10 test -e "$tmp/writer-db.in-prepare"
lk_kill
lk_failover prepare
lk_check preparing
for w in writer-db writer-logs; do
    assert_eq "$(lk_hooks $w "$killed")" "prepare" "hooks of $w for the killed set"
done
lk_stop
