#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# The engine's files call downward only: every call from one file of
# server/ to a function defined in another goes to a lower layer of
# docs/design.md's map ("Map: the layers").  The calls are read from
# the engine library's symbols (nm): what each object leaves undefined
# and another defines.  A file missing from the table below fails the
# test too: a new file takes its place in the map first.

source "$(dirname "$0")/functions.sh"
requires nm join

lib=$abs_top_builddir/server/.libs/libsvengine.a
[ -f "$lib" ] || fail "$lib is not built"

# The layer of each file, lowest first, as in design.md's map.  A call
# must go to a layer strictly below its caller's.
declare -A layer=(
    [errmsg]=0 [crc32c]=0 [sio]=0 [lockorder]=0
    [ondisk]=1
    [journal]=2 [extmap]=2 [alloc]=2
    [snapidx]=3 [deadidx]=3 [punch]=3 [genpath]=3 [retain]=3 [space]=3 [policyfile]=3
    [volume]=4 [snaphold]=4
    [snap]=5
    [ckpt]=6
    [volopen]=7
    [pool]=8 [inspect]=8
    [poolvol]=9 [poolset]=9 [diff]=9 [poolhold]=9 [check]=9 [clone]=9
    [policy]=10
    [view]=11
)

# "object symbol" lines: what each object defines, what it needs.
nm -A "$lib" > "$tmp/nm"
awk '$(NF-1) ~ /^[TDBR]$/ { split ($1, a, ":"); print $NF, a[2] }' \
    "$tmp/nm" | sort -u > "$tmp/defs"
awk '$(NF-1) == "U" { split ($1, a, ":"); print $NF, a[2] }' \
    "$tmp/nm" | sort -u > "$tmp/uses"
[ -s "$tmp/defs" ] || fail "nm found no symbols in $lib"

# "symbol caller callee" for every call between two files.
join "$tmp/uses" "$tmp/defs" > "$tmp/calls"
[ -s "$tmp/calls" ] || fail "no call between the engine's files was found"

bad=0
for obj in $(awk '{ print $2 } ' "$tmp/defs" | sort -u); do
    f=${obj%.o}
    if [ -z "${layer[$f]+x}" ]; then
        echo "server/$f.c: not in the layer table of $0" >&2
        bad=1
    fi
done
while read -r sym from to; do
    from=${from%.o} to=${to%.o}
    [ -n "${layer[$from]+x}" ] && [ -n "${layer[$to]+x}" ] || continue
    if [ "${layer[$to]}" -ge "${layer[$from]}" ]; then
        echo "server/$from.c (layer ${layer[$from]}) calls $sym in" \
             "server/$to.c (layer ${layer[$to]}): not below it" >&2
        bad=1
    fi
done < "$tmp/calls"
[ "$bad" = 0 ] || fail "calls that do not go down the engine's layers (above)"
echo "$test_name: $(wc -l < "$tmp/calls") calls between the engine's files, all downward"
