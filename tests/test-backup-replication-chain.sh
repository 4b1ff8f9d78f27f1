#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-replication-chain.sh: a volume replicated into a volume
# of a second snapvol server (--dest-socket), in full then 5 times
# incrementally: each replication snapshots the destination with the
# label replica-of:ID, and every destination snapshot equals its source
# snapshot.  --since refuses when the destination's latest snapshot is
# not the replica of BASE.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
set -x

start_source 64M

# The second server.
sock2=$tmp/nbd2.sock ctl2=$tmp/ctl2.sock
"${nbdkit_env[@]}" nbdkit -f -U "$sock2" --exit-with-parent "$PLUGIN" \
    dir="$tmp/pool2" control="$ctl2" volume=r:64M \
    nbd-uri="nbd+unix:///?socket=$sock2" >>"$tmp/nbdkit2.log" 2>&1 &
cleanup_fn kill $!
wait_for _accepts "$ctl2"
ctl2 () { "${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl2" "$@"; }

declare -a src=()
scribble 20 100
src+=("$(snap)")
backup --quiet --dest-socket "$ctl2" v@"${src[0]}" r
for i in 1 2 3 4 5; do
    scribble "$((20 + i))" 30
    src+=("$(snap)")
    backup --quiet --dest-socket "$ctl2" --since "${src[i-1]}" v@"${src[i]}" r
done

# The destination's chain: one replica per source snapshot, in order.
ctl2 --json snapshot list r | jq -r 'sort_by(.generation) | .[] | "\(.id) \(.label)"' >"$tmp/chain"
assert_eq "$(wc -l <"$tmp/chain")" 6 "replica snapshots"
i=0
while read -r rid label; do
    assert_eq "$label" "replica-of:${src[i]}" "label of replica $i"
    qemu-img compare -q -f raw -F raw "$(uri "v@${src[i]}")" \
        "nbd+unix:///r@$rid?socket=$sock2" || fail "replica $i differs from its source"
    i=$((i + 1))
done <"$tmp/chain"

# Not the replica of BASE: refused before anything is written.
scribble 30 10
extra=$(snap)
expect_fail "--since ${src[3]}: the latest snapshot of the destination volume r is $(tail -1 "$tmp/chain" | cut -d' ' -f1) (label \"replica-of:${src[5]}\"), not the replica of ${src[3]}" \
    backup --dest-socket "$ctl2" --since "${src[3]}" v@"$extra" r

check_sanitizer_log
