#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-writer-events.sh: snapvol-writer registers with its certificate,
# runs a hook for each call of the coordinator (prepare, freeze, thaw,
# post_snapshot, abort) with the documented environment, logs each
# event in order in its event log, refuses a call when the hook fails
# (the message is the tail of the hook's stderr), and kills a hook that
# outlives its deadline.

source "$(dirname "$0")/peers-functions.sh"
[ -x "$SNAPVOL_WRITER" ] || skip "snapvol-writer is not built"
requires jq
make_certs

hookdir=$tmp/hooks
mkdir -p "$hookdir"
cat >"$hookdir/hook" <<'EOF'
#!/bin/sh
env | grep '^SNAPVOL_' | LC_ALL=C sort >"$HOOKDIR/env.$SNAPVOL_EVENT"
case $SNAPVOL_EVENT in
freeze)
    if [ -e "$HOOKDIR/fail-freeze" ]; then
        echo "flushing tables" >&2
        echo "cannot lock tables: timeout" >&2
        exit 3
    fi ;;
prepare)
    if [ -e "$HOOKDIR/slow-prepare" ]; then
        echo "waiting for the database" >&2
        sleep 31
    fi ;;
esac
exit 0
EOF
chmod +x "$hookdir/hook"

start_fake <<'PY'
import json, uuid

hookdir = tmp + "/hooks"
def env_of(event):
    with open("%s/env.%s" % (hookdir, event)) as f:
        return f.read()
def events():
    with open(tmp + "/events.log") as f:
        return [l.split() for l in f.read().splitlines()]

w = coord.wait_register("writer.register")
assert w.cn == "writer1", w.cn
assert w.params == {"name": "writer1",
                    "volumes": ["provider1/db", "provider1/logs"],
                    "freeze_timeout_ms": 2000}, w.params

# A whole set, in order.
s = str(uuid.uuid4())
assert coord.result(w, "writer.prepare", {"set_id": s, "label": "nightly",
                    "volumes": ["provider1/db", "provider1/logs"]}) == {}
assert coord.result(w, "writer.freeze", {"set_id": s, "window_ms": 60000}) == {}
assert coord.result(w, "writer.thaw", {"set_id": s}) == {}
snaps = [{"provider": "provider1", "volume": "db", "id": str(uuid.uuid4()),
          "export": "db@x", "uri": "nbd://h:10809/db@x", "generation": 3}]
assert coord.result(w, "writer.post_snapshot", {"set_id": s, "snapshots": snaps}) == {}

ev = events()
assert [e[1:] for e in ev] == [["prepare", s], ["freeze", s], ["thaw", s],
                               ["post_snapshot", s]], ev
times = [int(e[0]) for e in ev]
assert times == sorted(times) and abs(times[0] / 1000 - time.time()) < 30, times

assert env_of("prepare") == \
    "SNAPVOL_EVENT=prepare\nSNAPVOL_LABEL=nightly\nSNAPVOL_SET_ID=%s\n" \
    "SNAPVOL_VOLUMES=provider1/db provider1/logs\n" % s, env_of("prepare")
assert env_of("freeze") == \
    "SNAPVOL_EVENT=freeze\nSNAPVOL_SET_ID=%s\nSNAPVOL_WINDOW_MS=60000\n" % s
assert env_of("thaw") == "SNAPVOL_EVENT=thaw\nSNAPVOL_SET_ID=%s\n" % s
assert env_of("post_snapshot") == \
    "SNAPVOL_EVENT=post_snapshot\nSNAPVOL_SET_ID=%s\nSNAPVOL_SNAPSHOTS=%s\n" \
    % (s, json.dumps(snaps, separators=(",", ":"))), env_of("post_snapshot")

# A failing freeze hook refuses the call with its stderr's tail; the
# writer is not frozen, so abort runs the abort hook only.
open(hookdir + "/fail-freeze", "w").close()
s2 = str(uuid.uuid4())
r = coord.call(w, "writer.freeze", {"set_id": s2, "window_ms": 60000})
assert r["error"] == {"code": -32603, "message": "freeze hook exited with "
                      "status 3: flushing tables; cannot lock tables: timeout"}, r
os.unlink(hookdir + "/fail-freeze")
assert coord.result(w, "writer.abort", {"set_id": s2, "reason": "writer writer1 "
                    "refused writer.freeze"}) == {}
assert env_of("abort") == "SNAPVOL_EVENT=abort\nSNAPVOL_REASON=writer writer1 " \
    "refused writer.freeze\nSNAPVOL_SET_ID=%s\n" % s2, env_of("abort")
assert [e[1:] for e in events()[4:]] == [["freeze", s2], ["abort", s2]], events()

# Abort while frozen thaws first.
s3 = str(uuid.uuid4())
assert coord.result(w, "writer.freeze", {"set_id": s3, "window_ms": 60000}) == {}
assert coord.result(w, "writer.abort", {"set_id": s3, "reason": "hold failed"}) == {}
assert [e[1:] for e in events()[6:]] == [["freeze", s3], ["thaw", s3], ["abort", s3]]
assert env_of("thaw") == "SNAPVOL_EVENT=thaw\nSNAPVOL_REASON=the set was aborted: " \
    "hold failed\nSNAPVOL_SET_ID=%s\n" % s3, env_of("thaw")

# A hook still running at its deadline (freeze timeout 2000 ms, less
# the margin to answer in time) is killed, with its children.
open(hookdir + "/slow-prepare", "w").close()
t0 = time.time()
r = coord.call(w, "writer.prepare", {"set_id": s3, "volumes": [], "label": ""})
took = time.time() - t0
assert r["error"] == {"code": -32603, "message": "prepare hook did not finish "
                      "within 1800 ms and was killed: waiting for the database"}, r
assert 1.7 < took < 2.5, took
import subprocess
assert subprocess.run(["pgrep", "-f", "sleep 31"]).returncode == 1, \
    "the hook's child survived"
os.unlink(hookdir + "/slow-prepare")

# Bad calls.
r = coord.call(w, "writer.frob", {"set_id": s})
assert r["error"] == {"code": -32601, "message": "unknown method 'writer.frob'"}, r
r = coord.call(w, "writer.freeze", {"set_id": "nope", "window_ms": 1000})
assert r["error"] == {"code": -32602, "message": "'set_id' must be a UUID"}, r
r = coord.call(w, "writer.freeze", {"set_id": s})
assert r["error"]["code"] == -32602, r
r = coord.call(w, "writer.thaw", {"set_id": s})
assert r == {"jsonrpc": "2.0", "id": r["id"], "result": {}}, r
assert len(events()) == 10, events()
PY

export HOOKDIR=$hookdir
start_writer writer1 --volume provider1/db --volume provider1/logs \
    --freeze-timeout 2000 --prepare "$hookdir/hook" --freeze "$hookdir/hook" \
    --thaw "$hookdir/hook" --post-snapshot "$hookdir/hook" --abort "$hookdir/hook" \
    --event-log "$tmp/events.log"
wait_fake
stop_writer
# Refusals are logged once each.
assert_eq "$(grep -c 'freeze failed: freeze hook exited with status 3' "$tmp/writer.log")" 1 \
    "log lines of the refused freeze"
