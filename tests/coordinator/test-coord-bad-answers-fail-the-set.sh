#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-bad-answers-fail-the-set.sh: an answer that does not
# follow the protocol's result schema (docs/protocol.md, Part 2) is a
# failure, never a success.  A writer answering writer.freeze or
# writer.prepare with something other than an object fails the set
# with a reason that names the writer, the method and the answer; a
# writer that answered freeze is thawed; nothing is held or pinned.  A
# provider answering hold.begin without a string hold id fails the set
# the same way.  A writer answering writer.thaw badly shows failed in
# a set that is still committed (the snapshots are taken).

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator

# run_set WRITER-ARGS PROVIDER-ARGS: start both peers afresh with the
# extra arguments, take a set of storage-a/db, stop them; the answer
# is in $tmp/set.json, the calls in $tmp/*.calls.
run_set ()
{
    rm -f "$tmp/writer-db.events" "$tmp/storage-a.events"
    # shellcheck disable=SC2086
    start_peer storage-a storage-a provider --volume db:1048576 $2
    # shellcheck disable=SC2086
    start_peer writer-db writer-db writer --volume storage-a/db $1
    rpc backup set.create '{"volumes":["storage-a/db"]}' >"$tmp/set.json"
    cat "$tmp/set.json"
    stop_peer writer-db
    stop_peer storage-a
    calls writer-db | tr '\n' ' ' >"$tmp/writer-db.calls"
    calls storage-a | tr '\n' ' ' >"$tmp/storage-a.calls"
}

# failed REASON: the set failed for REASON, with no snapshot.
failed ()
{
    local out
    out=$(cat "$tmp/set.json")
    assert_eq "$(jget "$out" '[j["error"]["code"], j["error"]["data"]["state"], j["error"]["data"]["reason"], j["error"]["data"]["snapshots"]]')" \
        "$(jget "[-32010, \"failed\", $(jget "{\"r\": \"$1\"}" 'json.dumps(j["r"])'), []]" 'j')" \
        "the failed set"
}

# writer.freeze answered 42: failed, thawed, then aborted; no hold.
run_set "--answer writer.freeze:42" ""
failed "writer writer-db: writer.freeze answered with an invalid result: 42 (expected an object)"
assert_eq "$(cat "$tmp/writer-db.calls")" \
    "writer.prepare writer.freeze writer.thaw writer.abort " "calls to the writer (freeze 42)"
assert_eq "$(cat "$tmp/storage-a.calls")" "volume.list snapshot.delete " \
    "calls to the provider (freeze 42)"
assert_eq "$(jget "$(cat "$tmp/set.json")" '[[p["name"], p["state"], p["error"]] for p in j["error"]["data"]["participants"]]')" \
    '[["writer-db", "failed", "writer.freeze answered with an invalid result: 42 (expected an object)"], ["storage-a", "deleted", null]]' \
    "participants (freeze 42)"

# Other shapes that are not an object.
run_set '--answer writer.freeze:"frozen"' ""
failed 'writer writer-db: writer.freeze answered with an invalid result: \"frozen\" (expected an object)'
assert_eq "$(cat "$tmp/writer-db.calls")" \
    "writer.prepare writer.freeze writer.thaw writer.abort " "calls to the writer (freeze string)"
run_set "--answer writer.freeze:null" ""
failed "writer writer-db: writer.freeze answered with an invalid result: null (expected an object)"

# writer.prepare answered []: failed before freezing, so no thaw.
run_set "--answer writer.prepare:[]" ""
failed "writer writer-db: writer.prepare answered with an invalid result: [] (expected an object)"
assert_eq "$(cat "$tmp/writer-db.calls")" "writer.prepare writer.abort " \
    "calls to the writer (prepare [])"
assert_eq "$(cat "$tmp/storage-a.calls")" "volume.list snapshot.delete " \
    "calls to the provider (prepare [])"

# hold.begin answered {} (no hold id) or a hold id of the wrong type:
# the provider may hold, so the hold is released by set id.
for bad in '{}' '{"hold_id":42}'; do
    run_set "" "--answer hold.begin:$bad"
    failed "provider storage-a: hold.begin answered without a hold id"
    assert_eq "$(cat "$tmp/writer-db.calls")" \
        "writer.prepare writer.freeze writer.thaw writer.abort " "calls to the writer (hold.begin $bad)"
    assert_eq "$(cat "$tmp/storage-a.calls")" "volume.list hold.begin hold.release snapshot.delete " \
        "calls to the provider (hold.begin $bad)"
done

# writer.thaw answered 42 after the snapshots were taken: the set is
# committed, and the writer shows failed with the reason.
run_set "--answer writer.thaw:42" ""
out=$(cat "$tmp/set.json")
assert_eq "$(jget "$out" '[j["result"]["state"], [[p["name"], p["state"], p["error"]] for p in j["result"]["participants"]]]')" \
    '["committed", [["writer-db", "failed", "writer.thaw answered with an invalid result: 42 (expected an object)"], ["storage-a", "committed", null]]]' \
    "the set whose thaw was answered 42"
assert_eq "$(jget "$(rpc backup writer.list)" '[[w["name"], w["last_error"]] for w in j["result"]]')" \
    '[["writer-db", "writer.thaw answered with an invalid result: 42 (expected an object)"]]' \
    "the writer's last error"

# Every failed set is recorded failed, with no snapshot (newest first).
assert_eq "$(jget "$(rpc backup set.list)" '[[s["state"], len(s["snapshots"])] for s in j["result"]]')" \
    '[["committed", 1], ["failed", 0], ["failed", 0], ["failed", 0], ["failed", 0], ["failed", 0], ["failed", 0]]' \
    "the sets in the catalog"
stop_coordinator
