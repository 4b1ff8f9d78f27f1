#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-revert-bad-input.sh: set revert's errors, exact, and
# nothing reverted by any: a malformed id (refused by snapvolctl), an
# unknown set (-32001), a failed set (-32602), a provider of the set
# not connected (-32009), and a set whose snapshot was deleted on one
# provider: that provider refuses hold.revert (-32001), the other is
# undone, -32010, every byte as before.

source "$(dirname "$0")/functions.sh"
set -x

start_set_then_overwrite

# A failed set: its writer refuses prepare.
cat >"$tmp/writer-db.hook" <<EOF
#!/bin/sh
[ "\$SNAPVOL_EVENT" != prepare ] || exit 4
EOF
start_writer writer-db storage-a/db
ctl --json set create storage-a/db >/dev/null 2>&1 && fail "the failed set committed"
failed=$(ctl --json set list --state failed | jq -r '.[0].set_id')
stop_writer writer-db
ctl_admin writer forget writer-db

# revert_error ARGS...: set revert ARGS must exit 1 with this on stderr.
revert_error ()
{
    local expected=$1 status=0
    shift
    ctl_admin set revert "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    assert_eq "$status" 1 "exit status of set revert $*"
    assert_eq "$(grep '^snapvolctl:' "$tmp/err")" "$expected" "set revert $*"
}
unchanged ()
{
    local p
    for p in storage-a:db storage-b:logs; do
        assert_eq "$(uri_md5 "$(puri "${p%:*}" "${p#*:}")")" "$(md5sum <"$tmp/${p#*:}.C" | cut -d' ' -f1)" \
            "${p%:*} after $1"
        assert_eq "$(provider_snapshots "${p%:*}" | jq -c '[.[] | .set_id]')" "[\"$s1\"]" "snapshots of ${p%:*} after $1"
    done
}

status=0
ctl_admin set revert nope >"$tmp/out" 2>"$tmp/err" || status=$?
assert_eq "$status" 2 "exit status of a malformed id"
assert_eq "$(grep '^snapvolctl:' "$tmp/err")" "snapvolctl: set revert: invalid ID 'nope': expected a snapshot set UUID" "a malformed id"

unknown=0b7d1c32-58a4-4c6e-9f4b-2d1e0c3a9b11
revert_error "snapvolctl: set revert: no snapshot set $unknown (not found, error -32001)" "$unknown"
revert_error "snapvolctl: set revert: snapshot set $failed is failed: only a committed set can be reverted to (invalid params, error -32602)" "$failed"
unchanged "refused sets"

# storage-b's snapshot of the set deleted there.
snap_b=$(provider_snapshots storage-b | jq -r '.[0].id')
pctl storage-b snapshot delete "$snap_b"
revert_error "snapvolctl: set revert: revert to snapshot set $s1 failed, nothing is reverted: provider storage-b: hold.revert failed: volume logs has no snapshot or set $s1; nothing was reverted (error -32001) (snapshot set failed, error -32010)
snapvolctl: set revert:   provider storage-a: undone
snapvolctl: set revert:   provider storage-b: failed: hold.revert failed: volume logs has no snapshot or set $s1; nothing was reverted (error -32001)" "$s1"
for p in storage-a:db storage-b:logs; do
    assert_eq "$(uri_md5 "$(puri "${p%:*}" "${p#*:}")")" "$(md5sum <"$tmp/${p#*:}.C" | cut -d' ' -f1)" \
        "${p%:*} after a revert to a set with a deleted snapshot"
done
assert_eq "$(provider_snapshots storage-a | jq -c '[.[] | .set_id]')" "[\"$s1\"]" "snapshots of storage-a"
assert_eq "$(provider_snapshots storage-b | jq -c '[.[] | .set_id]')" "[]" "snapshots of storage-b"

# A provider of the set gone.
stop_provider storage-b
gone () { ! provider_connected storage-b; }
poll 20 gone
revert_error "snapvolctl: set revert: snapshot set $s1: provider storage-b is not connected; nothing was reverted (not registered, error -32009)" "$s1"
assert_eq "$(uri_md5 "$(puri storage-a db)")" "$(md5sum <"$tmp/db.C" | cut -d' ' -f1)" "storage-a at the end"
check_logs
