#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-clone-bad-input.sh: the errors of snapvolctl volume clone and
# volume flatten, as exact error JSON, each changing nothing: a live
# volume as origin, a clone to an existing name, bad names and ids, a
# snapshot of another volume, a snapshot of another pool's volume, a
# chain past the depth limit (16), flatten of a volume that is no
# clone.

source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/clone-functions.sh"
requires_snapvol
requires jq
set -x

# Another pool, with a volume v and a snapshot.
start_snapvol "$tmp/other" volume=v:1M
other=$(snap v)
stop_snapvol

start_snapvol "$tmp/pool" volume=v:1M volume=w:1M
a=$(snap v)
b=$(snap w)
before=$(snapvolctl --json volume list | jq -c '[.[].name]')

json_error '{"error": {"code": -32602, "message": "clone origin '"'v'"' is a live volume: only a snapshot can be cloned (VOLUME@SNAPSHOT)"}}' \
    volume clone v c
json_error '{"error": {"code": -32002, "message": "volume w already exists"}}' \
    volume clone "v@$a" w
json_error '{"error": {"code": -32602, "message": "invalid volume name '"'.c'"': it starts with '"'.'"'"}}' \
    volume clone "v@$a" .c
json_error '{"error": {"code": -32602, "message": "clone origin '"'v@nope'"': '"'nope'"' is not a snapshot or set id (a UUID)"}}' \
    volume clone v@nope c
json_error '{"error": {"code": -32001, "message": "clone origin x@'"$a"': there is no volume x in this pool"}}' \
    volume clone "x@$a" c
json_error '{"error": {"code": -32602, "message": "clone origin v@'"$b"': snapshot '"$b"' is a snapshot of volume w, not v"}}' \
    volume clone "v@$b" c
json_error '{"error": {"code": -32001, "message": "clone origin v@'"$other"': volume v has no snapshot or set with id '"$other"'"}}' \
    volume clone "v@$other" c
json_error '{"error": {"code": -32602, "message": "volume v is not a clone: nothing to flatten"}}' \
    volume flatten v
json_error '{"error": {"code": -32001, "message": "no volume named nosuch"}}' \
    volume flatten nosuch
assert_eq "$(snapvolctl --json volume list | jq -c '[.[].name]')" "$before" "volumes after the refusals"

# The depth limit: c1 (a clone of v) ... c16; a clone of c16 is refused.
snapvolctl volume clone "v@$a" c1
for i in $(seq 2 16); do
    s=$(snap "c$((i - 1))")
    snapvolctl volume clone "c$((i - 1))@$s" "c$i" >/dev/null
done
s=$(snap c16)
json_error '{"error": {"code": -32602, "message": "clone origin c16@'"$s"': volume c16 is a clone 16 deep; a clone of it would pass the limit of 16 clones in a chain (flatten one of them first)"}}' \
    volume clone "c16@$s" c17
json_error '{"error": {"code": -32002, "message": "volume c1 already exists"}}' \
    volume clone "v@$a" c1
assert_eq "$(snapvolctl --json volume list | jq -r 'map(select(.name == "c17")) | length')" 0 "c17 after the refusal"
stop_snapvol
check_sanitizer_log
