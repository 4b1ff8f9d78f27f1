# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# slow-set-backup.sh: sourced by the set backup interruption tests
# after functions.sh.  Starts the coordinator, storage-a (db, fast) and
# storage-b (logs, 8 MiB of data) whose registered nbd-uri is a proxy
# that delays every read by 100 ms, one request at a time; takes the
# set $set1 of both, and starts `set backup $set1 $tmp/bk` in the
# background ($backup_pid, its stdout and stderr in $tmp/bk.out and
# $tmp/bk.err), returning once the slow image is being written.

write_conf
start_coordinator
start_provider storage-a db:4M

rm -f "$tmp/slow-b.sock"
nbdkit -f -U "$tmp/slow-b.sock" --exit-with-parent --threads 1 --filter=delay nbd \
    socket="$tmp/storage-b.sock" dynamic-export=true rdelay=100ms >>"$tmp/proxy.log" 2>&1 &
proxy_pid=$!
cleanup_fn kill "$proxy_pid"
provider_nbd_uri[storage-b]="nbd+unix:///?socket=$tmp/slow-b.sock"
start_provider storage-b logs:8M

head -c 8388608 /dev/urandom >"$tmp/random"
nbdcopy "$tmp/random" "$(puri storage-b logs)"
nbd_write "$(puri storage-a db)" 0 "db"
ctl --json set create storage-a/db storage-b/logs --writers none >"$tmp/set1.json"
set1=$(jq -r .set_id "$tmp/set1.json")

"${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "127.0.0.1:$port" --cert "$pki/backup.crt" \
    --key "$pki/backup.key" --ca "$pki/ca.crt" set backup "$set1" "$tmp/bk" \
    --connections 2 >"$tmp/bk.out" 2>"$tmp/bk.err" &
backup_pid=$!

logs_in_progress ()
{
    [ -f "$tmp/bk/storage-b/logs.img.snapvol.json" ] &&
        [ "$(jq -r .state "$tmp/bk/storage-b/logs.img.snapvol.json")" = in-progress ]
}
poll 30 logs_in_progress

# holds_left: the number of holds on both providers.
holds_left ()
{
    echo $(( $(provider_snapshots storage-a | jq '[.[].holds | length] | add') +
             $(provider_snapshots storage-b | jq '[.[].holds | length] | add') ))
}
assert_eq "$(holds_left)" 2 "holds while the set backup runs"
