#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-writer-freeze-lease.sh: a frozen writer never stays frozen.
# With no writer.thaw within window_ms of writer.freeze, it thaws on its
# own when the window ends (and a late writer.thaw says so); when the
# connection to the coordinator drops while frozen, it thaws at once
# and reconnects; when stopped while frozen, it thaws before exiting.

source "$(dirname "$0")/peers-functions.sh"
[ -x "$SNAPVOL_WRITER" ] || skip "snapvol-writer is not built"
make_certs

hookdir=$tmp/hooks
mkdir -p "$hookdir"
cat >"$hookdir/hook" <<'EOF'
#!/bin/sh
env | grep '^SNAPVOL_' | LC_ALL=C sort >"$HOOKDIR/.env.$$"
mv "$HOOKDIR/.env.$$" "$HOOKDIR/env.$SNAPVOL_EVENT"
EOF
chmod +x "$hookdir/hook"

start_fake <<'PY'
import signal, uuid

hookdir = tmp + "/hooks"
def events():
    try:
        with open(tmp + "/events.log") as f:
            return [l.split() for l in f.read().splitlines()]
    except FileNotFoundError:
        return []
def wait_events(n, timeout):
    deadline = time.time() + timeout
    while len(events()) < n and time.time() < deadline:
        time.sleep(0.01)
    return events()
def thaw_reason():
    """SNAPVOL_REASON of the next thaw hook; forgets it."""
    path = hookdir + "/env.thaw"
    deadline = time.time() + 5
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.01)
    with open(path) as f:
        lines = f.read().splitlines()
    os.unlink(path)
    return [l for l in lines if l.startswith("SNAPVOL_REASON=")]

w = coord.wait_register("writer.register")

# 1. No thaw within the window: the writer thaws when it ends.
s1 = str(uuid.uuid4())
t0 = time.time()
assert coord.result(w, "writer.freeze", {"set_id": s1, "window_ms": 1500}) == {}
ev = wait_events(2, 5)
assert [e[1:] for e in ev] == [["freeze", s1], ["thaw", s1]], ev
waited = int(ev[1][0]) - int(ev[0][0])
assert 1450 <= waited <= 1900, "thawed %d ms after the freeze, window 1500" % waited
reason = thaw_reason()
assert reason == ["SNAPVOL_REASON=neither writer.thaw nor writer.abort "
                  "came within the freeze window of 1500 ms"], reason
r = coord.call(w, "writer.thaw", {"set_id": s1})
assert r["error"] == {"code": -32006, "message": "writer writer1 had already "
                      "thawed on its own: neither writer.thaw nor writer.abort "
                      "came within the freeze window of 1500 ms"}, r
assert len(events()) == 2, "a late writer.thaw thawed again"

# 2. The connection drops while frozen: the writer thaws at once, then
# registers again.
s2 = str(uuid.uuid4())
assert coord.result(w, "writer.freeze", {"set_id": s2, "window_ms": 60000}) == {}
time.sleep(0.3)
assert len(events()) == 3
t_kill = time.time()
coord.kill(w)
ev = wait_events(4, 5)
assert [e[1:] for e in ev[2:]] == [["freeze", s2], ["thaw", s2]], ev
lag = int(ev[3][0]) - t_kill * 1000
assert lag < 500, "thawed %d ms after the connection dropped" % lag
reason = thaw_reason()
assert reason == ["SNAPVOL_REASON=the connection to the coordinator was lost"], reason
w = coord.wait_register("writer.register", timeout=5)
assert time.time() - t_kill < 2, "no reconnection within 2 s"

# 3. Stopped while frozen: thaws before exiting.
s3 = str(uuid.uuid4())
assert coord.result(w, "writer.freeze", {"set_id": s3, "window_ms": 60000}) == {}
with open(tmp + "/writer.pid") as f:
    os.kill(int(f.read()), signal.SIGTERM)
ev = wait_events(6, 5)
assert [e[1:] for e in ev[4:]] == [["freeze", s3], ["thaw", s3]], ev
reason = thaw_reason()
assert reason == ["SNAPVOL_REASON=the writer is stopping"], reason
coord.wait_closed(w)
PY

export HOOKDIR=$hookdir
start_writer writer1 --freeze "$hookdir/hook" --thaw "$hookdir/hook" \
    --event-log "$tmp/events.log"
wait_fake
status=0
wait "$writer_pid" || status=$?
cat "$tmp/writer.log"
assert_eq "$status" 0 "exit status of snapvol-writer stopped while frozen"
assert_eq "$(grep -c 'thawing on our own' "$tmp/writer.log")" 3 "auto-thaw log lines"
