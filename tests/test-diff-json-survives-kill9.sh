#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-diff-json-survives-kill9.sh: snapvolctl diff --json between two
# snapshots, and between a snapshot and the live volume, prints exactly
# the ranges written, zeroed and trimmed between them (64 KiB clusters
# of 4 KiB subclusters), merged across pages; the human output is a
# table and its totals; and after kill -9 of nbdkit following flushed
# writes, the same diffs come back unchanged.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq
set -x

K=1024
start_snapvol "$tmp/pool" volume=v:4M

# Before FROM: data in [0, 256K) and at 1M.
nbdsh -u "$(uri v)" -c - <<'PY'
h.pwrite(b"\x11" * 262144, 0)
h.pwrite(b"\x12" * 65536, 1 << 20)
h.flush()
PY
from=$(snapshot_create v | jq -r '.snapshots[0].id')

# Between FROM and TO: an unaligned write over two subclusters, a
# write crossing a cluster boundary, a write-zeroes of two whole
# subclusters over data, a trim of a whole cluster, and the same bytes
# written again at 1M (reported: the map knows a write, not bytes).
nbdsh -u "$(uri v)" -c - <<'PY'
h.pwrite(b"\x21" * 5000, 4096 + 100)
h.pwrite(b"\x22" * 8192, 65536 - 4096)
h.zero(8192, 131072)
h.trim(65536, 196608)
h.pwrite(b"\x12" * 4096, 1 << 20)
h.flush()
PY
to=$(snapshot_create v | jq -r '.snapshots[0].id')

# After TO (live only): 12 KiB at 3M.
nbdsh -u "$(uri v)" -c - <<'PY'
h.pwrite(b"\x31" * 12288, 3 << 20)
h.flush()
PY

# (nbdsh's zero and trim take the count first, then the offset.)
want_to='[{"offset": 4096, "length": 8192, "kind": "data"}, {"offset": 61440, "length": 8192, "kind": "data"}, {"offset": 131072, "length": 8192, "kind": "zero"}, {"offset": 196608, "length": 65536, "kind": "zero"}, {"offset": 1048576, "length": 4096, "kind": "data"}]'
want_live=${want_to%]}', {"offset": 3145728, "length": 12288, "kind": "data"}]'

check_diffs ()
{
    assert_eq "$(snapvolctl diff --json v "$from" "$to")" "$want_to" "diff --json FROM TO"
    assert_eq "$(snapvolctl --json diff v "$from")" "$want_live" "diff --json FROM (live)"
    assert_eq "$(snapvolctl diff --json v "$to")" '[{"offset": 3145728, "length": 12288, "kind": "data"}]' \
        "diff --json TO (live)"
    snapvolctl diff v "$from" "$to" >"$tmp/human"
    cat "$tmp/human"
    assert_eq "$(head -1 "$tmp/human" | tr -s ' ' | sed 's/^ //')" "OFFSET LENGTH KIND SIZE" "table header"
    assert_eq "$(sed -n 2p "$tmp/human" | tr -s ' ' | sed 's/^ //')" "4096 8192 data 8 KiB" "first row"
    assert_eq "$(tail -1 "$tmp/human")" "5 ranges: 20 KiB data, 72 KiB zero (of 4 MiB)" "totals"
}

check_diffs

# One range per page: the pages, merged, give the same ranges.
python3 - "$ctl" "$from" "$to" "$want_to" <<'PY'
import json, socket, sys
path, frm, to, want = sys.argv[1:]
ranges, cursor, pages = [], 0, 0
while cursor is not None:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    req = {"jsonrpc": "2.0", "id": 1, "method": "snapshot.diff",
           "params": {"volume": "v", "from": frm, "to": to, "cursor": cursor,
                      "max_ranges": 1}}
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        buf += s.recv(65536)
    res = json.loads(buf)["result"]
    assert list(res) == ["volume", "from", "to", "size", "granularity",
                         "ranges", "next"], list(res)
    assert (res["volume"], res["from"], res["to"], res["size"],
            res["granularity"]) == ("v", frm, to, 4 << 20, 4096), res
    assert len(res["ranges"]) <= 1, res
    ranges += res["ranges"]
    cursor = res["next"]
    pages += 1
assert ranges == json.loads(want), ranges
assert pages == 5, pages
print("5 pages of one range")
PY

# kill -9 after the flushed writes: the diffs are the same.
kill9_snapvol
start_snapvol "$tmp/pool"
check_diffs

stop_snapvol
check_sanitizer_log
