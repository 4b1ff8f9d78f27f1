#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-export-description-same-in-list-and-open.sh: a client sees the
# same description of an export in the export list (nbdinfo --list) as
# when it opens that one export (nbdinfo URI), for a live volume, a
# snapshot with a label and one without, with the exact text
# docs/design.md gives; and an unknown export is refused with ENOENT
# (NBD_REP_ERR_UNKNOWN) and the server's log says why in the words the
# plugin gave nbdkit (nbdkit 1.32 sends the client only the error
# code; a later nbdkit that passes .open's message on shows it too).

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdinfo jq
set -x

start_snapvol "$tmp/pool" volume=vm1:64M volume=db1:1536K
snap=$(snapshot_create --label nightly vm1)
snap_export=$(jq -r '.snapshots[0].export' <<<"$snap")
plain=$(snapshot_create db1)
plain_export=$(jq -r '.snapshots[0].export' <<<"$plain")

nbdinfo --list --json "$(uri '')" >"$tmp/list.json"

# The creation time shown is the pool's, whatever the clock says: take
# it from the list and check the rest of the text exactly.
listed ()
{
    jq -r --arg n "$1" '.exports[] | select(."export-name" == $n) | .description' \
        "$tmp/list.json"
}
when='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
[[ $(listed vm1) =~ ^"live volume, 64 MiB, 1 snapshot, created "$when$ ]] ||
    fail "vm1 listed as '$(listed vm1)'"
[[ $(listed db1) =~ ^"live volume, 1536 KiB, 1 snapshot, created "$when$ ]] ||
    fail "db1 listed as '$(listed db1)'"
[[ $(listed "$snap_export") =~ ^"snapshot of vm1, 64 MiB, taken "$when", label \"nightly\""$ ]] ||
    fail "$snap_export listed as '$(listed "$snap_export")'"
[[ $(listed "$plain_export") =~ ^"snapshot of db1, 1536 KiB, taken "$when$ ]] ||
    fail "$plain_export listed as '$(listed "$plain_export")'"

for name in vm1 db1 "$snap_export" "$plain_export"; do
    nbdinfo --json "$(uri "$name")" >"$tmp/one.json"
    assert_eq "$(jq -r '.exports[0].description' "$tmp/one.json")" "$(listed "$name")" \
        "the description of $name opened alone"
done

# By set id: the same snapshot, the same description.
set_id=$(jq -r '.set_id' <<<"$snap")
nbdinfo --json "$(uri "vm1@$set_id")" >"$tmp/one.json"
assert_eq "$(jq -r '.exports[0].description' "$tmp/one.json")" "$(listed "$snap_export")" \
    "the description of vm1@$set_id"

# An unknown export: refused as unknown, and the log says why.
if nbdinfo "$(uri nosuch)" >"$tmp/out" 2>"$tmp/err"; then
    fail "export 'nosuch' was served"
fi
cat "$tmp/err"
first=$(head -n 1 "$tmp/err")
case $first in
    "nbdinfo: nbd_opt_go: server replied with error to opt_go request: No such file or directory for export: nosuch") ;;
    *"no export named 'nosuch': there is no volume nosuch"*) ;;
    *) fail "the client's error: $first" ;;
esac
grep -qF "error: no export named 'nosuch': there is no volume nosuch" "$nbdkit_log" ||
    fail "the server's log does not say why 'nosuch' was refused"
stop_snapvol
check_sanitizer_log
