#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-space-fail-keeps-snapshots.sh: the space policy's default action,
# fail.  With a space limit, a write that needs a new cluster past the
# limit fails with ENOSPC at exactly the limit (the message names the
# limit and the bytes held), writes in place, reads, trims and
# snapshots go on, and no snapshot is deleted.  With a free-space
# reserve on a filesystem the test fills (a small tmpfs), writes fail
# once the reserve is reached, the same way; raising the limit or
# dropping the reserve lets them through again without a restart.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh jq mount umount
set -x

[ "$(id -u)" -eq 0 ] || skip "mounting a small tmpfs needs root"
mkdir "$tmp/fs"
mount -t tmpfs -o size=48m,mode=0700 snapvol-test "$tmp/fs" ||
    skip "cannot mount a tmpfs here"
cleanup_fn umount -l "$tmp/fs"

M=$((1 << 20))
start_snapvol "$tmp/fs/pool" volume=v:64M prealloc=0

nbdsh -u "$(uri v)" -c - <<'PY'
b = b"\xa1" * (1 << 20)
for m in range(4):
    h.pwrite(b, m << 20)
h.flush()
PY
s1=$(snapshot_create v --label one | jq -r '.snapshots[0].id')
# Copy-on-write of the 4 MiB: 8 MiB held.
nbdsh -u "$(uri v)" -c - <<'PY'
b = b"\xb2" * (1 << 20)
for m in range(4):
    h.pwrite(b, m << 20)
h.flush()
PY
s2=$(snapshot_create v --label two | jq -r '.snapshots[0].id')

out=$(snapvolctl --json policy set --space-limit 9M)
assert_eq "$(jq -c .space <<<"$out")" \
    "{\"limit\":$((9 * M)),\"reserve\":0,\"on_full\":\"fail\",\"used\":$((8 * M))}" \
    "the space policy"

# One more MiB fits exactly; the next cluster does not.
nbdsh -u "$(uri v)" -c - <<'PY'
import errno
b = b"\xc3" * (1 << 20)
h.pwrite(b, 8 << 20)
def must_fail(what, off):
    try:
        h.pwrite(b, off)
    except nbd.Error as e:
        assert e.errno in ("ENOSPC", errno.ENOSPC), "%s: errno %s (%s)" % (what, e.errno, e.string)
        return
    raise AssertionError("%s succeeded past the space limit" % what)
must_fail("new space past the limit", 9 << 20)
must_fail("copy-on-write over the snapshot", 0)
# In place (the MiB just written, no snapshot reads it), reads, trims.
h.pwrite(b"\xd4" * (1 << 20), 8 << 20)
assert h.pread(1 << 20, 8 << 20) == b"\xd4" * (1 << 20)
assert h.pread(1 << 20, 0) == b"\xb2" * (1 << 20)
h.trim(1 << 20, 8 << 20)
h.flush()
PY
grep -q "pool $tmp/fs/pool: space limit of $((9 * M)) bytes reached ($((9 * M)) bytes held)" \
    "$nbdkit_log" || fail "the write's error does not name the limit"
# A snapshot still works; none was deleted.
s3=$(snapshot_create v --label three | jq -r '.snapshots[0].id')
assert_eq "$(snapvolctl --json snapshot list v | jq -c '[.[] | [.id, .label]]')" \
    "[[\"$s1\",\"one\"],[\"$s2\",\"two\"],[\"$s3\",\"three\"]]" "snapshots under the limit"
assert_eq "$(snapvolctl --json policy events)" "[]" "events of the fail action"

# The reserve: no limit, and the filesystem filled to 4 MiB over it
# (before the reserve is set: the server looks at the filesystem's free
# space when the reserve is set, then at most every 100 ms).
avail=$(( $(df -k --output=avail "$tmp/fs" | tail -1 | tr -d ' ') * 1024 ))
dd if=/dev/zero of="$tmp/fs/filler" bs=64k count=$(( (avail - 20 * M) / 65536 )) status=none
snapvolctl policy set --space-limit 0 --space-reserve 16M >/dev/null
nbdsh -u "$(uri v)" -c - <<'PY'
import errno
b = b"\xe5" * (1 << 20)
failed = None
for m in range(16, 40):
    try:
        h.pwrite(b, m << 20)
    except nbd.Error as e:
        failed = (m, e)
        break
assert failed is not None, "the reserve was never reached"
m, e = failed
assert e.errno in ("ENOSPC", errno.ENOSPC), "errno %s (%s)" % (e.errno, e.string)
assert 16 + 2 <= m <= 16 + 5, "the reserve stopped the write of MiB %d, not near 4 MiB in" % m
PY
grep -q "pool $tmp/fs/pool: free space reserve of $((16 * M)) bytes reached" "$nbdkit_log" ||
    fail "the write's error does not name the reserve"
assert_eq "$(snapvolctl --json snapshot list v | jq -r '[.[].label] | join(",")')" \
    "one,two,three" "snapshots at the reserve"

# Dropping the reserve lets writes through, without a restart.
snapvolctl policy set --space-reserve 0 >/dev/null
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\xf6" * (1 << 20), 40 << 20); h.flush()'
rm -f "$tmp/fs/filler"
stop_snapvol
check_sanitizer_log
