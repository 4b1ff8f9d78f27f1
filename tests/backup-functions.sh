# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# backup-functions.sh: helpers of the snapvolctl backup tests
# (tests/test-backup-*.sh), sourced after functions.sh.
# shellcheck shell=bash

requires nbdsh nbdcopy qemu-img jq python3

# start_source SIZE: serve volume v of SIZE bytes with nbd-uri= set, so
# that snapvolctl backup finds the exports through pool.info.
start_source ()
{
    start_snapvol "$tmp/pool" volume=v:"$1" nbd-uri="nbd+unix:///?socket=$sock"
}

# snap: snapshot v and print the snapshot's id.
snap ()
{
    snapshot_create v | jq -r '.snapshots[0].id'
}

# scribble SEED COUNT: COUNT random writes to v, seeded by SEED: 4 KiB
# to 256 KiB of random bytes, some zeroes and some trims, then a flush.
scribble ()
{
    nbdsh -u "$(uri v)" -c "
import random
r = random.Random($1)
size = h.get_size()
for i in range($2):
    n = r.choice([4096, 8192, 65536, 262144])
    off = r.randrange(0, size - n) // 4096 * 4096
    k = r.random()
    if k < 0.1:
        h.zero(n, off)
    elif k < 0.2:
        h.trim(n, off)
    else:
        h.pwrite(r.randbytes(n), off)
h.flush()
"
}

# backup ARGS...: snapvolctl backup against the server.
backup ()
{
    snapvolctl backup "$@"
}

# expect_fail MESSAGE CMD ARGS...: CMD must fail with exactly the line
# "snapvolctl: backup: MESSAGE" on stderr and nothing on stdout.
expect_fail ()
{
    local want=$1 status=0 xtrace=
    shift
    case $- in *x*) xtrace=1; set +x ;; esac
    "$@" >"$tmp/fail.out" 2>"$tmp/fail.err" || status=$?
    [ -z "$xtrace" ] || set -x
    [ "$status" -ne 0 ] || fail "'$*' succeeded, expected: $want"
    [ "$status" -lt 126 ] || fail "'$*' exited with status $status (crashed?)"
    [ ! -s "$tmp/fail.out" ] || fail "'$*' printed on stdout: $(cat "$tmp/fail.out")"
    assert_eq "$(cat "$tmp/fail.err")" "snapvolctl: backup: $want" "error of '$*'"
}

# same_as_export FILE EXPORT: FILE holds exactly the export's content.
same_as_export ()
{
    qemu-img compare -q -f raw -F raw "$1" "$(uri "$2")" ||
        fail "$1 differs from the export $2"
}

# manifest_get FILE MEMBER
manifest_get ()
{
    jq -r ".$2" "$1.snapvol.json"
}

# holds_of ID: the tags of the holds on snapshot ID, comma-separated.
holds_of ()
{
    snapvolctl --json snapshot list v |
        jq -r --arg id "$1" '.[] | select(.id == $id) | [.holds[].tag] | join(",")'
}

# start_delay_proxy EXPORT DELAY: serve EXPORT of the server through
# nbdkit's delay filter (each read DELAY late, in the filter's syntax:
# 50ms), one request at a time (--threads 1), on $tmp/proxy.sock,
# whatever export name a client asks for; sets proxy_pid.
start_delay_proxy ()
{
    local i
    rm -f "$tmp/proxy.sock"
    nbdkit -f -U "$tmp/proxy.sock" --exit-with-parent --threads 1 --filter=delay nbd \
        socket="$sock" export="$1" rdelay="$2" >>"$tmp/proxy.log" 2>&1 &
    proxy_pid=$!
    cleanup_fn kill "$proxy_pid"
    for (( i = 0; i < 300; i++ )); do
        [ -S "$tmp/proxy.sock" ] && return 0
        sleep 0.1
    done
    fail "the delay proxy did not start"
}

proxy_uri="nbd+unix:///?socket=$tmp/proxy.sock"

# wait_for CMD...: poll CMD until it succeeds, for at most 30 s.
wait_for ()
{
    local i
    for (( i = 0; i < 300; i++ )); do
        "$@" && return 0
        sleep 0.1
    done
    fail "timed out waiting for: $*"
}

# resume_offset_above IMAGE N: IMAGE's manifest records progress past N.
resume_offset_above ()
{
    [ -f "$1.snapvol.json" ] &&
        [ "$(jq -r '.resume_offset // 0' "$1.snapvol.json")" -gt "$2" ]
}
