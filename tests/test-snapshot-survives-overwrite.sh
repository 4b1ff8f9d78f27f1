#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-snapshot-survives-overwrite.sh: a snapshot reads back exactly the
# bytes the volume held when it was taken, whatever is written, trimmed
# or zeroed in the live volume afterwards; the live volume reads the new
# bytes.  Two snapshots in a row each keep their own content.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh nbdcopy jq
set -x

uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

start_snapvol "$tmp/pool" volume=v:64M

# The model of the volume: what every read must return.
truncate -s 64M "$tmp/model.img"

# mutate SEED: apply a deterministic mix of writes (sub-cluster,
# unaligned, cluster-crossing, FUA, into never-written space), trims and
# zeroes to the live volume and to $tmp/model.img alike.
mutate ()
{
    seed=$1 model=$tmp/model.img nbdsh -u "$(uri v)" -c - <<'PY'
import os, random
rnd = random.Random(int(os.environ["seed"]))
path = os.environ["model"]
with open(path, "rb") as f:
    model = bytearray(f.read())
M = 1 << 20
trimmed = []

def write(off, n, flags=0):
    buf = rnd.randbytes(n)
    h.pwrite(buf, off, flags)
    model[off:off + n] = buf

def zero(off, n, flags=0):
    h.zero(n, off, flags)
    model[off:off + n] = bytes(n)

def trim(off, n):
    h.trim(n, off)
    trimmed.append((off, n))

for _ in range(64):
    write(rnd.randrange(0, 16 * M, 4096), 4096)
for _ in range(16):
    write(rnd.randrange(0, 16 * M - 70000), rnd.randrange(1, 70000))
write(5 * M - 700, 70000)
write(8 * M, M, nbd.CMD_FLAG_FUA)
write(rnd.randrange(20, 60) * M + 512, 256 * 1024)
trim(1 * M, M)
trim(2 * M + 4096, 8192)
zero(3 * M, M)
zero(4 * M, M, nbd.CMD_FLAG_NO_HOLE)
zero(6 * M + 1000, 5000)
h.flush()

# After a trim the content is unspecified: take what the volume reads.
for off, n in trimmed:
    model[off:off + n] = h.pread(n, off)
with open(path, "wb") as f:
    f.write(model)
PY
}

# check_snapshot JSON: the exact key sets of `snapshot create --json`
# for one volume, and well-formed values.
check_snapshot_json ()
{
    assert_eq "$(jq -c '[keys, (.snapshots | length), (.snapshots[0] | keys)]' <<<"$1")" \
        '[["set_id","snapshots"],1,["export","generation","id","volume"]]' \
        "snapshot create --json keys"
    local id
    id=$(jq -r '.snapshots[0].id' <<<"$1")
    grep -Eq "$uuid_re" <<<"$id" || fail "bad snapshot id '$id'"
    grep -Eq "$uuid_re" <<<"$(jq -r .set_id <<<"$1")" || fail "bad set id"
    assert_eq "$(jq -r '.snapshots[0].volume' <<<"$1")" v "snapshot volume"
    assert_eq "$(jq -r '.snapshots[0].export' <<<"$1")" "v@$id" "snapshot export"
    assert_eq "$(jq -r '.snapshots[0].generation | type' <<<"$1")" number "generation type"
}

# Initial content: 16 MiB written in pieces of every size.
mutate 1
cp "$tmp/model.img" "$tmp/gen1.img"
assert_eq "$(export_md5 v)" "$(md5 "$tmp/gen1.img")" "live content after the first writes"

snap1=$(snapshot_create v)
echo "$snap1"
check_snapshot_json "$snap1"
exp1=$(jq -r '.snapshots[0].export' <<<"$snap1")
set1=$(jq -r .set_id <<<"$snap1")

mutate 2
cp "$tmp/model.img" "$tmp/gen2.img"
cmp -s "$tmp/gen1.img" "$tmp/gen2.img" && fail "the overwrite changed nothing"
assert_eq "$(export_md5 v)" "$(md5 "$tmp/gen2.img")" "live content after overwrite"
assert_eq "$(export_md5 "$exp1")" "$(md5 "$tmp/gen1.img")" "first snapshot after overwrite"
assert_eq "$(export_md5 "v@$set1")" "$(md5 "$tmp/gen1.img")" "first snapshot by set id"

# A second snapshot, then more changes: each snapshot keeps its bytes.
snap2=$(snapshot_create v)
check_snapshot_json "$snap2"
exp2=$(jq -r '.snapshots[0].export' <<<"$snap2")
[ "$exp2" != "$exp1" ] || fail "two snapshots share the export name $exp1"
gen_a=$(jq -r '.snapshots[0].generation' <<<"$snap1")
gen_b=$(jq -r '.snapshots[0].generation' <<<"$snap2")
[ "$gen_b" -gt "$gen_a" ] || fail "generations did not increase: $gen_a then $gen_b"

mutate 3
assert_eq "$(export_md5 v)" "$(md5 "$tmp/model.img")" "live content after the second overwrite"
assert_eq "$(export_md5 "$exp1")" "$(md5 "$tmp/gen1.img")" "first snapshot at the end"
assert_eq "$(export_md5 "$exp2")" "$(md5 "$tmp/gen2.img")" "second snapshot at the end"

# Small unaligned reads of a snapshot return the same bytes as a whole copy.
img=$tmp/gen1.img nbdsh -u "$(uri "$exp1")" -c - <<'PY'
import os, random
with open(os.environ["img"], "rb") as f:
    ref = f.read()
rnd = random.Random(7)
for _ in range(200):
    off = rnd.randrange(0, len(ref) - 100000)
    n = rnd.randrange(1, 100000)
    assert h.pread(n, off) == ref[off:off + n], "snapshot read at %d+%d differs" % (off, n)
PY

stop_snapvol
check_sanitizer_log
