#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-rebuild-catalog-bad-options.sh: --rebuild-catalog and
# --rebuild-wait refuse what makes no sense with one line naming the
# mistake and exit status 1, before reading the configuration (which
# does not even exist here); --help lists both options.

source "$(dirname "$0")/functions.sh"

# refused EXPECTED ARGS...: the coordinator with ARGS exits 1 saying
# exactly EXPECTED on stderr, and nothing on stdout.
refused ()
{
    local expected=$1 status=0
    shift
    "${coord_env[@]}" "$COORDINATOR" -f -c "$tmp/missing.conf" "$@" \
        >"$tmp/out" 2>"$tmp/err" || status=$?
    assert_eq "$status:$(cat "$tmp/out")$(cat "$tmp/err")" "1:$expected" "$*"
}

refused "snapvol-coordinator: --rebuild-wait needs --rebuild-catalog" \
    --rebuild-wait 5s
refused "snapvol-coordinator: --rebuild-catalog cannot be used with --check-config" \
    --rebuild-catalog -n
refused "snapvol-coordinator: --rebuild-wait: invalid duration '5x' (a number followed by ms, s, m or h)" \
    --rebuild-catalog --rebuild-wait 5x
refused "snapvol-coordinator: --rebuild-wait: invalid duration '' (a number followed by ms, s, m or h)" \
    --rebuild-catalog --rebuild-wait ''
refused "snapvol-coordinator: --rebuild-wait: invalid duration '-1s' (a number followed by ms, s, m or h)" \
    --rebuild-catalog --rebuild-wait=-1s
refused "snapvol-coordinator: --rebuild-wait: 99ms is out of range (100ms to 1h)" \
    --rebuild-catalog --rebuild-wait 99ms
refused "snapvol-coordinator: --rebuild-wait: 61m is out of range (100ms to 1h)" \
    --rebuild-catalog --rebuild-wait 61m
refused "snapvol-coordinator: --rebuild-wait: 99999999999999999999 is out of range (100ms to 1h)" \
    --rebuild-catalog --rebuild-wait 99999999999999999999

# Without the option's argument: getopt's message, then the usage.
status=0
"$COORDINATOR" --rebuild-catalog --rebuild-wait >"$tmp/out" 2>"$tmp/err" || status=$?
assert_eq "$status:$(head -n 2 "$tmp/err")" \
    "1:$COORDINATOR: option '--rebuild-wait' requires an argument
usage: snapvol-coordinator [-fnv] [-c FILE] [--rebuild-catalog [--rebuild-wait DURATION]]" \
    "--rebuild-wait without its argument"

"$COORDINATOR" --help >"$tmp/help"
grep -q -- '--rebuild-catalog  record the committed sets the providers hold' "$tmp/help" ||
    fail "--help does not list --rebuild-catalog"
grep -q -- '--rebuild-wait DURATION  how long to ask providers as they register' "$tmp/help" ||
    fail "--help does not list --rebuild-wait"
