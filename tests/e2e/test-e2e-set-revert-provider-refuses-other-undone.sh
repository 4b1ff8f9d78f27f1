#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-revert-provider-refuses-other-undone.sh: all or none
# when one provider reverts and the other refuses.  An NBD client keeps
# storage-b's live volume open, so storage-b refuses hold.revert
# (-32003, no --force) while storage-a reverts; the coordinator then
# undoes storage-a (revert.undo to the undo set it pinned in the same
# step), and answers -32010.  Both volumes read back every byte they
# had before, no undo snapshot is left, the client connected to
# storage-b read the same bytes throughout, and `set revert --force`
# then reverts both under that client, which reads the set's content.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:8M

for p in storage-a:db storage-b:logs; do
    head -c 8M /dev/urandom >"$tmp/${p#*:}.A"
    nbdcopy "$tmp/${p#*:}.A" "$(puri "${p%:*}" "${p#*:}")"
done
s1=$(ctl --json set create storage-a/db storage-b/logs | jq -r .set_id)
for p in storage-a:db storage-b:logs; do
    head -c 8M /dev/urandom >"$tmp/${p#*:}.C"
    nbdcopy "$tmp/${p#*:}.C" "$(puri "${p%:*}" "${p#*:}")"
done
poll 10 live_closed storage-a db

# The client: one connection to storage-b's live volume, reading the
# first 64 KiB (md5) each time a line arrives on its fifo.
mkfifo "$tmp/client.in"
/usr/bin/python3 -c '
import hashlib, sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
print("connected", flush=True)
for line in open(sys.argv[2]):
    print(hashlib.md5(h.pread(65536, 0)).hexdigest(), flush=True)
' "$(puri storage-b logs)" "$tmp/client.in" >"$tmp/client.out" 2>&1 &
client=$!
exec 7>"$tmp/client.in"
poll 10 grep -q connected "$tmp/client.out"
client_lines_over () { [ "$(wc -l <"$tmp/client.out")" -gt "$1" ]; }
client_read ()
{
    local n
    n=$(wc -l <"$tmp/client.out")
    echo >&7
    poll 10 client_lines_over "$n"
    tail -n 1 "$tmp/client.out"
}
md5_64k () { head -c 65536 "$1" | md5sum | cut -d' ' -f1; }

status=0
ctl_admin --json set revert "$s1" >"$tmp/out" 2>"$tmp/err" || status=$?
cat "$tmp/out" "$tmp/err"
assert_eq "$status" 1 "exit status"
assert_eq "$(grep -v '^+' "$tmp/err")" "snapvolctl: set revert: revert to snapshot set $s1 failed, nothing is reverted: provider storage-b: hold.revert failed: volume logs is open by 1 client: revert refused while clients are connected (force reverts under them; they then read the old content or the new one, never a mix, and must drop their caches); nothing was reverted (error -32003) (snapshot set failed, error -32010)
snapvolctl: set revert:   provider storage-a: undone
snapvolctl: set revert:   provider storage-b: failed: hold.revert failed: volume logs is open by 1 client: revert refused while clients are connected (force reverts under them; they then read the old content or the new one, never a mix, and must drop their caches); nothing was reverted (error -32003)" \
    "the error"

# None: every byte as before, the undo set gone from storage-a.
assert_eq "$(uri_md5 "$(puri storage-a db)")" "$(md5sum <"$tmp/db.C" | cut -d' ' -f1)" "storage-a/db after the undo"
assert_eq "$(uri_md5 "$(puri storage-b logs)")" "$(md5sum <"$tmp/logs.C" | cut -d' ' -f1)" "storage-b/logs"
assert_eq "$(client_read)" "$(md5_64k "$tmp/logs.C")" "what the client of storage-b reads"
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -c '[.[] | .set_id]')" "[\"$s1\"]" "snapshots of $p"
done

# --force: both reverted under the client, which now reads the set.
poll 10 live_closed storage-a db
ctl_admin --json set revert --force "$s1" >"$tmp/forced.json"
assert_eq "$(jq -c '[.state, .force]' "$tmp/forced.json")" '["reverted",true]' "forced revert"
assert_eq "$(client_read)" "$(md5_64k "$tmp/logs.A")" "the client reads the set after --force"
assert_eq "$(uri_md5 "$(puri storage-a db)")" "$(md5sum <"$tmp/db.A" | cut -d' ' -f1)" "storage-a/db forced"
assert_eq "$(uri_md5 "$(puri storage-b logs)")" "$(md5sum <"$tmp/logs.A" | cut -d' ' -f1)" "storage-b/logs forced"
exec 7>&-
wait "$client"
check_logs
