#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-incremental-many-small-reads-in-flight.sh: an incremental
# backup of 300 scattered 4 KiB blocks over one connection keeps more
# than the 8 requests of a full backup's 1 MiB chunks in flight (the
# copy engine's small slots, client/copy.c): the source, seen through
# nbdkit's log filter with each read 20 ms late, has at least 32 reads
# outstanding at once on the connection.  The image then equals the
# export, its digest table equals the SHA-256 of each of its 4 KiB
# blocks computed again, and the manifest's sha256 equals the hash
# list of docs/backup.md computed over the image.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
requires_run nbdkit --filter=log --filter=delay null --dump-plugin
set -x

start_source 64M
scribble 3 40
base=$(snap)
backup --quiet v@"$base" "$tmp/inc.img"

# 300 single blocks 192 KiB apart: 300 ranges that do not merge.
nbdsh -u "$(uri v)" -c '
import random
r = random.Random(11)
for i in range(300):
    h.pwrite(r.randbytes(4096), i * 196608)
h.flush()
'
id=$(snap)

rm -f "$tmp/log.sock"
nbdkit -f -U "$tmp/log.sock" --exit-with-parent --threads 128 \
    --filter=log --filter=delay nbd socket="$sock" export="v@$id" \
    rdelay=20ms logfile="$tmp/reads.log" >>"$tmp/proxy.log" 2>&1 &
cleanup_fn kill "$!"
for (( i = 0; i < 300; i++ )); do
    [ -S "$tmp/log.sock" ] && break
    sleep 0.1
done
[ -S "$tmp/log.sock" ] || fail "the logging proxy did not start"

backup --json --connections 1 --nbd "nbd+unix:///?socket=$tmp/log.sock" \
    --since "$base" v@"$id" "$tmp/inc.img" >"$tmp/inc.json"
assert_eq "$(jq .bytes_read "$tmp/inc.json")" $(( 300 * 4096 )) "bytes read"

# The most reads outstanding at once on one connection: a read is
# outstanding from "Read id=N" to "...Read id=N return".
most=$(awk '
    / connection=[0-9]+ Read id=/ { c = $3; if (++n[c] > m) m = n[c] }
    / connection=[0-9]+ \.\.\.Read id=/ { n[$3]-- }
    END { print m + 0 }' "$tmp/reads.log")
[ "$most" -ge 32 ] ||
    fail "at most $most reads were in flight on the connection, expected at least 32"

same_as_export "$tmp/inc.img" "v@$id"
python3 - "$tmp/inc.img" <<'EOF' || fail "the digest table or the manifest's hash is wrong"
import hashlib, json, sys
img = sys.argv[1]
sums = open(img + ".snapvol.sums", "rb").read()
want = bytearray()
h = hashlib.sha256()
with open(img, "rb") as f:
    for block in iter(lambda: f.read(4096), b""):
        d = hashlib.sha256(block).digest()
        want += d
        h.update(d)
if sums != bytes(want):
    bad = next(i for i in range(0, len(want), 32) if sums[i:i+32] != want[i:i+32])
    sys.exit("digest of block %d differs (table of %d bytes, expected %d)"
             % (bad // 32, len(sums), len(want)))
sha = json.load(open(img + ".snapvol.json"))["sha256"]
if sha != h.hexdigest():
    sys.exit("manifest sha256 %s, image hash list %s" % (sha, h.hexdigest()))
EOF

check_sanitizer_log
