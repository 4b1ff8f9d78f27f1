#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-bad-input.sh: snapvolctl backup refuses each bad input
# with one line naming it, and nothing it left is claimed complete:
# unknown SOURCE or BASE, BASE not older than SOURCE, BASE of another
# volume, a destination smaller than the source or read-only (a
# snapshot export), a manifest of another volume or snapshot, an image
# changed since its backup, an interrupted backup, no NBD URI.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
set -x

start_snapvol "$tmp/pool" volume=v:64M volume=w:64M nbd-uri="nbd+unix:///?socket=$sock"
scribble 1 50
a=$(snap)
scribble 2 20
b=$(snap)
w=$(snapshot_create w | jq -r '.snapshots[0].id')
nosuch=01234567-89ab-cdef-0123-456789abcdef
uuid_v=$(snapvolctl --json volume list | jq -r '.[] | select(.name == "v") | .uuid')
uuid_w=$(snapvolctl --json volume list | jq -r '.[] | select(.name == "w") | .uuid')

expect_fail "invalid SOURCE 'v': expected VOLUME@ID (ID: a snapshot or set UUID)" \
    backup v "$tmp/x.img"
expect_fail "volume v has no snapshot $nosuch" backup v@$nosuch "$tmp/x.img"
expect_fail "no volume named nosuch" backup nosuch@$a "$tmp/x.img"
expect_fail "--since $nosuch: volume v has no snapshot $nosuch" \
    backup --since $nosuch v@$b "$tmp/x.img"
expect_fail "--since $b (generation 2) is not older than $a (generation 1)" \
    backup --since "$b" v@"$a" "$tmp/x.img"
expect_fail "--since $w is a snapshot of volume w, not v" \
    backup --since "$w" v@"$b" "$tmp/x.img"
[ ! -e "$tmp/x.img" ] || fail "a refused backup created its destination"

# Destinations: too small, read-only.
nbdkit -f -U "$tmp/small.sock" --exit-with-parent memory 32M &
cleanup_fn kill $!
wait_for test -S "$tmp/small.sock"
expect_fail "the destination nbd+unix:///?socket=$tmp/small.sock is 33554432 bytes, smaller than the source (67108864 bytes)" \
    backup v@"$a" "nbd+unix:///?socket=$tmp/small.sock"
expect_fail "the destination $(uri "v@$b") is read-only" \
    backup v@"$a" "$(uri "v@$b")"

# Manifests: of another volume, of another snapshot, changed since.
backup --quiet w@"$w" "$tmp/w.img"
expect_fail "the manifest $tmp/w.img.snapvol.json is for volume w (uuid $uuid_w), not v (uuid $uuid_v)" \
    backup --since "$a" v@"$b" "$tmp/w.img"
backup --quiet v@"$b" "$tmp/b.img"
expect_fail "--since $a: $tmp/b.img holds snapshot $b, not $a" \
    backup --since "$a" v@"$b" "$tmp/b.img"
backup --quiet v@"$a" "$tmp/a.img"
touch -d '2001-01-01' "$tmp/a.img"
expect_fail "--since $a: $tmp/a.img was changed after its backup of $a (its size or modification time differs from the manifest's)" \
    backup --since "$a" v@"$b" "$tmp/a.img"
backup --quiet v@"$a" "$tmp/nosums.img"
rm "$tmp/nosums.img.snapvol.sums"
expect_fail "--since $a: $tmp/nosums.img.snapvol.sums is missing or has the wrong size: take a full backup" \
    backup --since "$a" v@"$b" "$tmp/nosums.img"
assert_eq "$(manifest_get "$tmp/nosums.img" state)" complete "manifest after a refused incremental"
expect_fail "--since $a: $tmp/none.img has no manifest ($tmp/none.img.snapvol.json): nothing says it holds $a" \
    backup --since "$a" v@"$b" "$tmp/none.img"
expect_fail "--resume: $tmp/b.img holds a complete backup of $b: there is nothing to resume" \
    backup --resume v@"$b" "$tmp/b.img"

# No NBD URI: a server without nbd-uri=.
stop_snapvol
start_snapvol "$tmp/pool"
expect_fail "no NBD URI for the source: the server at $ctl has no nbd_uri (start it with nbd-uri=URI) and no --nbd URI was given" \
    backup v@"$a" "$tmp/y.img"
[ ! -e "$tmp/y.img" ] || fail "a refused backup created its destination"

check_sanitizer_log
