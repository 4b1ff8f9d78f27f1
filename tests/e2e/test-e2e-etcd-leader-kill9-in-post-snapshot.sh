#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-etcd-leader-kill9-in-post-snapshot.sh: two coordinators on
# etcd, a real provider and two real writers
# (leader-kill-functions.sh); the leader is killed with SIGKILL in the
# post-snapshot phase of a set, while writer-db's post-snapshot hook
# runs (it sleeps 3 s): the writers have thawed, the snapshots are
# pinned, but the set is recorded committed only once that phase ends.
# The new leader finds it thawing, records it failed and deletes its
# snapshots on storage-a when it registers: the writers were told of a
# snapshot the catalog does not keep (docs/coordinator.md, "Snapshot
# sets": a set is committed only once its record is durable).  No hold
# remains.  A new set commits within 8 s of the kill ("failover:
# post-snapshot: N.NN s").

source "$(dirname "$0")/leader-kill-functions.sh"
set -x

lk_start
touch "$tmp/writer-db.slow-post_snapshot"
lk_set_start
poll 10 test -e "$tmp/writer-db.in-post_snapshot"
lk_kill
lk_failover post-snapshot
lk_check thawing
for w in writer-db writer-logs; do
    assert_eq "$(lk_hooks $w "$killed")" "prepare freeze thaw post_snapshot" \
        "hooks of $w for the killed set"
done
lk_stop
