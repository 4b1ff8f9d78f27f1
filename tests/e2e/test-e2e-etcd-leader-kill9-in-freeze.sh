#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-etcd-leader-kill9-in-freeze.sh: two coordinators on etcd,
# a real provider and two real writers (leader-kill-functions.sh); the
# leader is killed with SIGKILL in the freezing phase of a set, once
# writer-db has answered writer.freeze while writer-logs' freeze hook
# still runs (it sleeps 3 s).  The new leader finds the set freezing,
# records it failed, and nothing of it remains: no snapshot, no hold;
# writer-db thawed when its connection dropped, writer-logs when its
# hook ended.  A new set commits on the new leader within 8 s of the
# kill ("failover: freeze: N.NN s").

source "$(dirname "$0")/leader-kill-functions.sh"
set -x

lk_start
touch "$tmp/writer-logs.slow-freeze"
lk_set_start
# writer-db frozen (its answer logged), writer-logs' freeze hook running.
in_freeze ()
{
    lk_answered writer-db writer.freeze &&
    [ -e "$tmp/writer-logs.in-freeze" ]
}
poll 10 in_freeze
lk_kill
lk_failover freeze
lk_check freezing
for w in writer-db writer-logs; do
    assert_eq "$(lk_hooks $w "$killed")" "prepare freeze thaw" "hooks of $w for the killed set"
done
lk_stop
