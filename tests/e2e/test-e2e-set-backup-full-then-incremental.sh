#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-backup-full-then-incremental.sh: `snapvolctl
# --coordinator ... set backup SET DIR [--since SET]` of a set across
# two providers: a full backup, writes, a second set that also takes a
# new volume, then an incremental backup: each DIR/PROVIDER/VOLUME.img
# equals its snapshot's export (qemu-img compare), the new volume gets
# a full copy and the others only what changed, the set manifest lists
# exactly the set's members with the images' sha256, and the set holds
# are released.

source "$(dirname "$0")/functions.sh"
requires qemu-img
set -x

write_conf
start_coordinator
start_provider storage-a db:8M
start_provider storage-b logs:4M extra:4M

nbd_write "$(puri storage-a db)" 0 "db block 0"
nbd_write "$(puri storage-b logs)" 1048576 "a log line"
ctl --json set create storage-a/db storage-b/logs --writers none --label first >"$tmp/set1.json"
set1=$(jq -r .set_id "$tmp/set1.json")

ctl --json set backup "$set1" "$tmp/bk" >"$tmp/full.json"
for v in storage-a/db storage-b/logs; do
    id=$(jq -r --arg v "${v#*/}" '.snapshots[] | select(.volume == $v) | .id' "$tmp/set1.json")
    qemu-img compare -q -f raw -F raw "$tmp/bk/$v.img" "$(puri "${v%/*}" "${v#*/}@$id")" ||
        fail "$v.img differs from its export in the first set"
done
assert_eq "$(jq -c '[.volumes[] | [.provider, .volume, .mode]]' "$tmp/full.json")" \
    '[["storage-a","db","full"],["storage-b","logs","full"]]' "the full set backup's volumes"
assert_eq "$(jq -r '[.state, .set_id, .label, (.since | tostring)] | join(" ")' "$tmp/bk/snapvol-set.json")" \
    "complete $set1 first null" "the set manifest of the full backup"

nbd_write "$(puri storage-a db)" 4194304 "db after the first set"
nbd_write "$(puri storage-b extra)" 8192 "extra"
ctl --json set create storage-a/db storage-b/logs storage-b/extra --writers none --label second >"$tmp/set2.json"
set2=$(jq -r .set_id "$tmp/set2.json")

ctl --json set backup "$set2" "$tmp/bk" --since "$set1" --connections 2 >"$tmp/incr.json"
for v in storage-a/db storage-b/logs storage-b/extra; do
    id=$(jq -r --arg v "${v#*/}" '.snapshots[] | select(.volume == $v) | .id' "$tmp/set2.json")
    qemu-img compare -q -f raw -F raw "$tmp/bk/$v.img" "$(puri "${v%/*}" "${v#*/}@$id")" ||
        fail "$v.img differs from its export in the second set"
done
assert_eq "$(jq -c '[.volumes[] | [.volume, .mode, .bytes_read]]' "$tmp/incr.json")" \
    '[["db","incremental",4096],["logs","incremental",0],["extra","full",4096]]' \
    "the incremental set backup's volumes"

# The set manifest: exactly the second set's members, each with its
# uuid, snapshot, size, image and the image manifest's sha256.
uuids=$(ctl --json volumes)
want=$(jq -c --argjson u "$uuids" '[.snapshots[] | {provider, volume,
        uuid: (.provider as $p | .volume as $v | $u[] | select(.provider == $p and .volume == $v) | .uuid),
        snapshot: .id}]' "$tmp/set2.json")
assert_eq "$(jq -c '[.volumes[] | {provider, volume, uuid, snapshot}]' "$tmp/bk/snapvol-set.json")" \
    "$want" "the members of the set manifest"
assert_eq "$(jq -c '[.volumes[] | [.image, .size]]' "$tmp/bk/snapvol-set.json")" \
    '[["storage-a/db.img",8388608],["storage-b/logs.img",4194304],["storage-b/extra.img",4194304]]' \
    "the images and sizes of the set manifest"
for v in storage-a/db storage-b/logs storage-b/extra; do
    assert_eq "$(jq -r --arg i "$v.img" '.volumes[] | select(.image == $i) | .sha256' "$tmp/bk/snapvol-set.json")" \
        "$(jq -r .sha256 "$tmp/bk/$v.img.snapvol.json")" "the set manifest's sha256 of $v"
done
assert_eq "$(jq -r '[.state, .set_id, .label, .since] | join(" ")' "$tmp/bk/snapvol-set.json")" \
    "complete $set2 second $set1" "the set manifest of the incremental backup"

# No hold is left on either provider.
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -r '[.[].holds | length] | add')" 0 "holds left on $p"
done

stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
