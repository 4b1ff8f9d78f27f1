#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-etcd-leader-kill9-in-hold.sh: two coordinators on etcd, a
# real provider storage-a, a scripted provider storage-b whose first
# hold.begin answers after 3 s, and two real writers
# (leader-kill-functions.sh); the leader is killed with SIGKILL in the
# holding phase of a set, once storage-a has answered hold.begin (it
# holds db and logs, with the default lease of 10 s) while storage-b's
# answer is still due.  The new leader finds the set holding, records
# it failed, and releases storage-a's hold of it (hold.release by set
# id) when storage-a registers, before the deletion: a new set commits
# within 8 s of the kill ("failover: hold: N.NN s"), where waiting for
# the lease would take 10 s.  No snapshot and no hold of the killed
# set remain; both writers were frozen and thawed when their
# connection dropped.

source "$(dirname "$0")/leader-kill-functions.sh"
set -x

lk_start --delay-first hold.begin:1:3000
lk_set_start
poll 10 lk_answered storage-a hold.begin
lk_kill
lk_failover hold
lk_check holding
grep -q "provider storage-a: released a hold of snapshot set $killed before deleting it" \
    "$tmp/$new.log" || fail "$new did not release storage-a's hold of the killed set"
for w in writer-db writer-logs; do
    assert_eq "$(lk_hooks $w "$killed")" "prepare freeze thaw" "hooks of $w for the killed set"
done
lk_stop
