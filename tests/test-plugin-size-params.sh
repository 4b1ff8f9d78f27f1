#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-plugin-size-params.sh: the plugin's size parameters.  Bad values
# of cluster-size= and prealloc= are refused at start with an error
# naming the parameter and the value; prealloc=0 leaves the data file
# holding exactly the data written, and prealloc=4M reserves 4 MiB
# from the first cluster on and extends the file over it, without
# changing what the volume reads.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdkit nbdsh jq
set -x

for bad in "cluster-size=3K|cluster-size=3K: must be a power of two from 4K to 1M" \
           "cluster-size=abc|cluster-size=abc: invalid size" \
           "cluster-size=64K cluster-size=64K|cluster-size=64K: cluster-size given twice" \
           "prealloc=abc|prealloc=abc: invalid size" \
           "prealloc=2T|prealloc=2T: at most 1T" \
           "prealloc=1M prealloc=0|prealloc=0: prealloc given twice"; do
    args=${bad%%|*} msg=${bad#*|}
    # nbdkit's own size parser adds a line of its own before ours for a
    # value that is no size: ours must be there, naming the parameter.
    status=0
    # shellcheck disable=SC2086
    "${nbdkit_env[@]}" nbdkit "$PLUGIN" dir="$tmp/never" $args --run true >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/err"
    [ "$status" -ne 0 ] && [ "$status" -lt 126 ] || fail "$args: exit status $status"
    [ ! -s "$tmp/out" ] || fail "$args: printed on stdout"
    grep -Fxq "nbdkit: error: $msg" "$tmp/err" || fail "$args: no line 'nbdkit: error: $msg'"
    [ ! -e "$tmp/never" ] || fail "$args: the pool was created anyway"
done

# written_blocks POOL: bytes of the volume's data file on disk.
data_bytes ()
{
    echo $(( $(stat -c '%b * %B' "$1/volumes/v/data") ))
}
data_size ()
{
    stat -c %s "$1/volumes/v/data"
}

for p in 0 4M; do
    pool=$tmp/pool-$p
    start_snapvol "$pool" volume=v:64M prealloc=$p
    # 3 clusters of 64 KiB, one 4 KiB block each, then flushed.
    nbdsh -u "$(uri v)" -c - <<'PY'
for k in range(3):
    h.pwrite(bytes([k + 1]) * 4096, k << 16)
h.flush()
PY
    stop_snapvol
    if [ "$p" = 0 ]; then
        assert_eq "$(data_size "$pool")" $(( (2 << 16) + 4096 )) "prealloc=0: data file size"
        assert_eq "$(data_bytes "$pool")" $(( 3 * 4096 )) "prealloc=0: data file blocks"
    else
        # Reserved from cluster 0 on, and the file extended over it.
        assert_eq "$(data_size "$pool")" $(( 4 << 20 )) "prealloc=4M: data file size"
        [ "$(data_bytes "$pool")" -ge $(( 4 << 20 )) ] ||
            fail "prealloc=4M: only $(data_bytes "$pool") bytes reserved"
    fi
    start_snapvol "$pool"
    nbdsh -u "$(uri v)" -c - <<'PY'
for k in range(3):
    assert h.pread(65536, k << 16) == bytes([k + 1]) * 4096 + bytes(61440), "cluster %d" % k
PY
    stop_snapvol
done
check_sanitizer_log
