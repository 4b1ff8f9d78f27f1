#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-plugin-reclaim-step-bad-input.sh: bad values of reclaim-step=
# (the clusters a deletion's background reclaim frees per step) are
# refused at start with an error naming the parameter and the value,
# and the pool is not created.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdkit
set -x

for bad in "reclaim-step=0|reclaim-step=0: must be 1 to 65536 clusters" \
           "reclaim-step=65537|reclaim-step=65537: must be 1 to 65536 clusters" \
           "reclaim-step=8 reclaim-step=16|reclaim-step=16: reclaim-step given twice"; do
    args=${bad%%|*} msg=${bad#*|}
    status=0
    # shellcheck disable=SC2086
    "${nbdkit_env[@]}" nbdkit "$PLUGIN" dir="$tmp/never" $args --run true >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/err"
    [ "$status" -ne 0 ] && [ "$status" -lt 126 ] || fail "$args: exit status $status"
    [ ! -s "$tmp/out" ] || fail "$args: printed on stdout"
    grep -Fxq "nbdkit: error: $msg" "$tmp/err" || fail "$args: no line 'nbdkit: error: $msg'"
    [ ! -e "$tmp/never" ] || fail "$args: the pool was created anyway"
done

# Not a number: nbdkit's parser says so, naming the parameter.
status=0
"${nbdkit_env[@]}" nbdkit "$PLUGIN" dir="$tmp/never" reclaim-step=abc --run true >"$tmp/out" 2>"$tmp/err" || status=$?
cat "$tmp/err"
[ "$status" -ne 0 ] && [ "$status" -lt 126 ] || fail "reclaim-step=abc: exit status $status"
grep -q "reclaim-step" "$tmp/err" || fail "reclaim-step=abc: the error does not name the parameter"
[ ! -e "$tmp/never" ] || fail "reclaim-step=abc: the pool was created anyway"
