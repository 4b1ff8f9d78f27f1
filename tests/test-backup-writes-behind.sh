#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-backup-writes-behind.sh: a full backup to a file writes the
# image behind itself (client/copy.c: writeback started at once, waited
# for a few runs later, pages dropped), so at the end at most the last
# runs of each connection are in the page cache, not the whole image:
# a 256 MiB image leaves at most 64 MiB cached (4 connections x 8 runs
# of 1 MiB, with margin), where plain writes leave all 256 MiB.  The
# image is still complete and equal to the export.

source "$(dirname "$0")/functions.sh"
requires_snapvol
source "$(dirname "$0")/backup-functions.sh"
requires fincore
# On tmpfs the page cache is the file: nothing can be dropped.
[ "$(stat -f -c %T "$tmp")" != tmpfs ] || skip "$tmp is on tmpfs"
set -x

start_source 256M
nbdsh -u "$(uri v)" -c '
import random
r = random.Random(7)
for i in range(256):
    h.pwrite(r.randbytes(1 << 20), i << 20)
h.flush()
'
id=$(snap)

backup --quiet v@"$id" "$tmp/w.img"
# Before anything reads the image back into the cache.
cached=$(fincore --bytes --noheadings --output RES "$tmp/w.img")
[ "$cached" -le $(( 64 << 20 )) ] ||
    fail "$cached bytes of the 256 MiB image are in the page cache after the backup"
assert_eq "$(manifest_get "$tmp/w.img" state)" complete "manifest state"
same_as_export "$tmp/w.img" "v@$id"

check_sanitizer_log
