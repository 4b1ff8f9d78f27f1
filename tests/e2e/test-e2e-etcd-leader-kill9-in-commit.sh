#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-etcd-leader-kill9-in-commit.sh: two coordinators on etcd, a
# real provider storage-a, a scripted provider storage-b whose first
# hold.commit answers after 3 s, and two real writers
# (leader-kill-functions.sh); the leader is killed with SIGKILL in the
# committing phase of a set, once storage-a has answered hold.commit
# (its snapshots of the set are pinned) while storage-b's answer is
# still due.  The new leader finds the set committing, records it
# failed, and deletes storage-a's snapshots of it when storage-a
# registers: the set is committed nowhere.  storage-b's hold of the
# set is released (by set id) before its deletion.  No hold remains; both
# writers were frozen and thawed when their connection dropped.  A new
# set commits within 8 s of the kill ("failover: commit: N.NN s").

source "$(dirname "$0")/leader-kill-functions.sh"
set -x

lk_start --delay-first hold.commit:1:3000
lk_set_start
poll 10 lk_answered storage-a hold.commit
lk_kill
lk_failover commit
lk_check committing
# storage-b held when the leader died (its hold.commit was due), and
# its hold was released before the deletion; storage-a's had ended.
grep -q "provider storage-b: released a hold of snapshot set $killed before deleting it" \
    "$tmp/$new.log" || fail "$new did not release storage-b's hold of the killed set"
assert_eq "$(grep -c "provider storage-a: released a hold of snapshot set" "$tmp/$new.log")" 0 \
    "releases of a hold on storage-a"
for w in writer-db writer-logs; do
    assert_eq "$(lk_hooks $w "$killed")" "prepare freeze thaw" "hooks of $w for the killed set"
done
lk_stop
