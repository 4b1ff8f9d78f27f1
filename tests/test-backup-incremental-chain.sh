#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-incremental-chain.sh: a full backup then a chain of 5
# incremental ones (--since the previous snapshot) into the same file:
# after each, the file equals the snapshot export and a full backup of
# the same snapshot, byte for byte and by its manifest's hash, and the
# incremental read no more than what changed.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
set -x

start_source 128M
scribble 10 300
prev=$(snap)
backup --quiet v@"$prev" "$tmp/inc.img"
same_as_export "$tmp/inc.img" "v@$prev"

for i in 1 2 3 4 5; do
    scribble "$((10 + i))" 40
    id=$(snap)
    backup --json --since "$prev" v@"$id" "$tmp/inc.img" >"$tmp/inc.json"
    same_as_export "$tmp/inc.img" "v@$id"
    backup --quiet v@"$id" "$tmp/full$i.img"
    cmp "$tmp/inc.img" "$tmp/full$i.img" || fail "incremental $i differs from a full backup"
    assert_eq "$(manifest_get "$tmp/inc.img" sha256)" "$(manifest_get "$tmp/full$i.img" sha256)" \
        "hash after incremental $i"
    assert_eq "$(manifest_get "$tmp/inc.img" snapshot)" "$id" "manifest after incremental $i"
    # At most 40 writes of 256 KiB changed: the incremental reads no more.
    [ "$(jq .bytes_read "$tmp/inc.json")" -le $(( 40 * 262144 )) ] ||
        fail "incremental $i read $(jq .bytes_read "$tmp/inc.json") bytes"
    rm -f "$tmp/full$i.img"*
    prev=$id
done

check_sanitizer_log
