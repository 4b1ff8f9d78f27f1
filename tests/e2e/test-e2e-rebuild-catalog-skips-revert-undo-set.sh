#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-rebuild-catalog-skips-revert-undo-set.sh: a revert's undo
# set (label revert-undo), pinned by hold.revert and left on the
# provider (as when its deletion was queued in the catalog that was
# lost), is never rebuilt as a committed set; the set reverted to is,
# and the summary counts the undo snapshot skipped.

source "$(dirname "$0")/rebuild-functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:4M
ctl --json set create storage-a/db --label base >"$tmp/s1.json"
s1=$(jq -r .set_id "$tmp/s1.json")
s1_db=$(jq -r '.snapshots[0].id' "$tmp/s1.json")
poll 10 live_closed storage-a db

# On the control socket, as the coordinator's set.revert does: hold,
# then revert to s1 pinning the undo set.
undo=$(/usr/bin/python3 -c 'import uuid; print(uuid.uuid4())')
/usr/bin/python3 - "$tmp/storage-a.ctl" "$s1" "$undo" >"$tmp/revert.out" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
def call(i, method, params):
    f.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                        "params": params}) + "\n")
    f.flush()
    r = json.loads(f.readline())
    assert "result" in r, r
    return r["result"]
hold = call(1, "hold.begin", {"volumes": ["db"], "timeout_ms": 10000})
res = call(2, "hold.revert", {"hold_id": hold["hold_id"], "set_id": sys.argv[2],
                              "undo_set_id": sys.argv[3]})
print(res["set_id"])
PY
assert_eq "$(cat "$tmp/revert.out")" "$s1" "hold.revert on the control socket"
assert_eq "$(provider_snapshots storage-a | jq -c '[.[] | [.set_id, .label]]')" \
    "[[\"$s1\",\"base\"],[\"$undo\",\"revert-undo\"]]" "the provider's snapshots"

lose_catalog
start_coordinator_rebuilding 4s
poll 30 provider_connected storage-a
wait_rebuilt

assert_eq "$(set_list_view)" \
    "[$(rebuilt_json "$s1" base "$(snap_json storage-a db "$s1_db" 1)")]" \
    "set list after the rebuild"
grep -q "catalog rebuild: done after 4000 ms: 1 provider answered, 1 set found, 1 recorded, 0 already in the catalog, 0 not recorded (catalog errors), 1 revert undo snapshot skipped;" "$coord_log" ||
    fail "the rebuild's summary is not in the log"
assert_eq "$(provider_snapshots storage-a | jq -c '[.[] | .set_id]')" \
    "[\"$s1\",\"$undo\"]" "the rebuild deleted nothing"

stop_provider storage-a
stop_coordinator
check_logs
