#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-etcd-leader-kill9-in-thaw.sh: two coordinators on etcd, a
# real provider and two real writers (leader-kill-functions.sh); the
# leader is killed with SIGKILL in the thawing phase of a set, once
# every provider committed (the snapshots are pinned and the holds
# ended) and while writer-db's thaw hook runs (it sleeps 3 s).  The set
# was not yet recorded committed: the new leader finds it thawing,
# records it failed, and deletes its snapshots on storage-a when it
# registers.  Both writers were thawed; no post-snapshot hook ran for
# the set.  A new set commits within 8 s of the kill ("failover: thaw:
# N.NN s").

source "$(dirname "$0")/leader-kill-functions.sh"
set -x

lk_start
touch "$tmp/writer-db.slow-thaw"
lk_set_start
poll 10 test -e "$tmp/writer-db.in-thaw"
lk_kill
lk_failover thaw
lk_check thawing
for w in writer-db writer-logs; do
    assert_eq "$(lk_hooks $w "$killed")" "prepare freeze thaw" "hooks of $w for the killed set"
done
lk_stop
