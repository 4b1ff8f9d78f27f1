#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-incremental-lists-snapshots-once.sh: an incremental
# backup to a file from a control socket makes exactly the control
# calls it needs, in order: one snapshot.list for both SOURCE and BASE
# (each costs the server a scan of the volume's extent map), then
# volume.list, pool.info, the two holds, one page of snapshot.diff and
# the two releases.  A proxy in front of the control socket records the
# method of every request.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
set -x

start_source 64M
scribble 1 20
base=$(snap)
backup --quiet v@"$base" "$tmp/img"
scribble 2 20
id=$(snap)

# The proxy: relays each connection to the control socket and appends
# the "method" of each request line to $tmp/methods.
/usr/bin/python3 -c '
import json, os, socket, sys, threading
listen, target, log = sys.argv[1:]
srv = socket.socket(socket.AF_UNIX)
srv.bind(listen)
srv.listen(16)
lock = threading.Lock()
def pump(src, dst, record):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            if record:
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    with lock, open(log, "a") as f:
                        f.write(json.loads(line)["method"] + "\n")
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
def serve(c):
    s = socket.socket(socket.AF_UNIX)
    s.connect(target)
    threading.Thread(target=pump, args=(s, c, False), daemon=True).start()
    pump(c, s, True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$tmp/proxy.sock" "$ctl" "$tmp/methods" &
proxy=$!
cleanup_fn kill "$proxy"
for (( i = 0; i < 100; i++ )); do
    [ -S "$tmp/proxy.sock" ] && break
    sleep 0.1
done
[ -S "$tmp/proxy.sock" ] || fail "the proxy did not start"

"${ctl_env[@]}" "$SNAPVOLCTL" --socket "$tmp/proxy.sock" --json \
    backup --since "$base" v@"$id" "$tmp/img" >"$tmp/inc.json"
same_as_export "$tmp/img" "v@$id"
assert_eq "$(manifest_get "$tmp/img" snapshot)" "$id" "manifest after the incremental"
assert_eq "$(tr '\n' ' ' <"$tmp/methods")" \
    "snapshot.list volume.list pool.info snapshot.hold snapshot.hold snapshot.diff snapshot.release snapshot.release " \
    "control calls of the incremental backup"

check_sanitizer_log
