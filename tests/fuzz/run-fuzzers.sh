#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# run-fuzzers.sh: run each built libFuzzer target for a while over its
# seed corpus; fail if any finds a crash, a leak, a sanitizer report or
# a hang.  It builds nothing: `make check` and `make fuzz-long` in
# tests/fuzz build the targets first.  docs/fuzzing.md tells the story.
#
# usage: run-fuzzers.sh [TARGET...]   (default: every target)
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 5)
#   FUZZ_JOBS      fuzzing processes per target (default 1; more uses
#                  libFuzzer's fork mode, which keeps going after a crash)
#   FUZZ_BUILDDIR  where the targets were built (default: this directory)
#   FUZZ_SEEDS     the seeds gen-corpus made, SEEDS/TARGET (default:
#                  seeds/ in FUZZ_BUILDDIR; `make check` makes them)
#   FUZZ_CORPUS    the regression inputs kept by hand, CORPUS/TARGET
#                  (default: corpus/ here)
#   FUZZ_WORK      where the inputs found are kept, WORK/TARGET (default:
#                  a temporary directory, removed at the end)
#   FUZZ_CRASHES   where crashing inputs are written (default:
#                  FUZZ_BUILDDIR/crashes)
#   FUZZ_ARGS      more libFuzzer options, e.g. "-only_ascii=1"
#   FUZZ_ENABLED   "no" when configure found no libFuzzer (skip)

set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
seconds=${FUZZ_SECONDS:-5}
jobs=${FUZZ_JOBS:-1}
builddir=${FUZZ_BUILDDIR:-$here}
seeds=${FUZZ_SEEDS:-$builddir/seeds}
corpus=${FUZZ_CORPUS:-$here/corpus}
crashes=${FUZZ_CRASHES:-$builddir/crashes}
all_targets=(fuzz-journal fuzz-checkpoint fuzz-jsonrpc)

skip ()
{
    echo "SKIP: $*"
    exit 77
}

if [ "${FUZZ_ENABLED:-yes}" = no ]; then
    skip "the fuzz targets are not built: configure found no C compiler" \
         "that links -fsanitize=fuzzer (FUZZ_CC=${FUZZ_CC:-clang});" \
         "install clang and libclang-rt-14-dev and run configure again"
fi

case $seconds in
    ''|*[!0-9]*) echo "$0: FUZZ_SECONDS must be a number of seconds" >&2; exit 1 ;;
esac
case $jobs in
    ''|*[!0-9]*|0) echo "$0: FUZZ_JOBS must be a positive number" >&2; exit 1 ;;
esac

if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

missing=()
for t in "${targets[@]}"; do
    [ -x "$builddir/$t" ] || missing+=("$t")
done
if [ ${#missing[@]} -eq ${#targets[@]} ]; then
    skip "no fuzz target is built in $builddir (${missing[*]})"
elif [ ${#missing[@]} -gt 0 ]; then
    echo "$0: not built: ${missing[*]}" >&2
    exit 1
fi

if [ -n "${FUZZ_WORK:-}" ]; then
    work=$FUZZ_WORK
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/snapvol-fuzz.XXXXXX") || exit 1
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$crashes" || exit 1

# Limits: an input is a hang after 30 s; one allocation over 256 MiB
# is a failure (the volumes are a few MiB: metadata that sizes a
# bigger allocation was trusted before it was checked).  The engine
# targets read whole pool images; JSON-RPC messages are short lines.
max_len ()
{
    case $1 in
        fuzz-jsonrpc) echo 16384 ;;
        *) echo 65536 ;;
    esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${targets[@]}"; do
    name=${t#fuzz-}
    mkdir -p "$work/$name" || exit 1
    args=(
        -max_total_time="$seconds"
        -timeout=30
        -rss_limit_mb=4096
        -malloc_limit_mb=256
        -max_len="$(max_len "$t")"
        -print_final_stats=1
        -artifact_prefix="$crashes/$t-"
    )
    [ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
    [ "$jobs" -gt 1 ] && args+=(-fork="$jobs" -ignore_crashes=1)
    # The first directory receives the new inputs; the seeds and the
    # regression inputs are only read.  Without its seeds a target
    # would fuzz from nothing and prove little: that is a failure.
    dirs=("$work/$name")
    if [ ! -d "$seeds/$name" ]; then
        echo "FAIL: no seeds for $t in $seeds/$name (make check makes them)"
        failed+=("$t")
        continue
    fi
    dirs+=("$seeds/$name")
    [ -d "$corpus/$name" ] && dirs+=("$corpus/$name")

    echo "== $t: ${seconds}s over ${dirs[*]}"
    touch "$work/$name.start"
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of options
    "$builddir/$t" "${args[@]}" ${FUZZ_ARGS:-} "${dirs[@]}"
    rc=$?
    # Fork mode records crashes and goes on, so count the inputs kept
    # by this run too (slow-unit-* files are only a warning).
    found=$(find "$crashes" -maxdepth 1 -newer "$work/$name.start" \
                 \( -name "$t-crash-*" -o -name "$t-leak-*" -o \
                    -name "$t-timeout-*" -o -name "$t-oom-*" \) -print)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        echo "FAIL: $t exited with status $rc"
        failed+=("$t")
    fi
    if [ -n "$found" ]; then
        echo "Inputs that failed $t (reproduce: $builddir/$t FILE):"
        echo "$found"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAIL: ${failed[*]} (inputs kept in $crashes; see docs/fuzzing.md)"
    exit 1
fi
echo "PASS: ${targets[*]}, ${seconds}s each"
