#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-source-max-block-size.sh: a source whose NBD block size
# constraints allow reads of at most 64 KiB (nbdkit's blocksize-policy
# filter, refusing larger requests) is read in requests of that size,
# not of the copy engine's 1 MiB: the backup completes and equals the
# export.  A source that takes less than a 4 KiB block per request is
# refused before anything is written, naming the limit.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
requires_run nbdkit --filter=blocksize-policy null --dump-plugin
set -x

start_source 16M
scribble 5 60
id=$(snap)

# start_policy_proxy MAX: the snapshot's export through the
# blocksize-policy filter, with reads of at most MAX bytes.
start_policy_proxy ()
{
    local i
    rm -f "$tmp/policy.sock"
    nbdkit -f -U "$tmp/policy.sock" --exit-with-parent \
        --filter=blocksize-policy nbd socket="$sock" export="v@$id" \
        blocksize-minimum=1 blocksize-preferred=512 blocksize-maximum="$1" \
        blocksize-error-policy=error >>"$tmp/policy.log" 2>&1 &
    cleanup_fn kill "$!"
    for (( i = 0; i < 300; i++ )); do
        [ -S "$tmp/policy.sock" ] && return 0
        sleep 0.1
    done
    fail "the blocksize-policy proxy did not start"
}
policy_uri="nbd+unix:///?socket=$tmp/policy.sock"

start_policy_proxy 65536
backup --quiet --nbd "$policy_uri" v@"$id" "$tmp/p.img"
assert_eq "$(manifest_get "$tmp/p.img" state)" complete "manifest state"
same_as_export "$tmp/p.img" "v@$id"
backup --quiet v@"$id" "$tmp/direct.img"
assert_eq "$(manifest_get "$tmp/p.img" sha256)" \
    "$(manifest_get "$tmp/direct.img" sha256)" "hash through the proxy"

start_policy_proxy 2048
expect_fail "the source nbd+unix:///v@$id?socket=$tmp/policy.sock takes requests of at most 2048 bytes, less than a block (4096 bytes) ($tmp/small.img is incomplete: done below offset 0; run the same command with --resume to continue)" \
    backup --nbd "$policy_uri" v@"$id" "$tmp/small.img"

check_sanitizer_log
