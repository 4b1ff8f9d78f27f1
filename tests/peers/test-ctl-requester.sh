#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-ctl-requester.sh: snapvolctl's coordinator commands (set create,
# set list, set show, set delete, writer list, writer forget, provider
# list, provider forget, volumes)
# against canned answers (ctl-canned.py): the exact requests they send,
# their exact tables and --json output, and their errors: one line per
# coordinator error naming the code, one more per participant of a
# failed set, usage errors, and TLS failures naming the reason.

source "$(dirname "$0")/peers-functions.sh"
[ -x "$SNAPVOLCTL" ] || skip "snapvolctl is not built: $SNAPVOLCTL"
make_certs
export TZ=UTC

start_fake <"$PEERS_SRCDIR/ctl-canned.py"
for (( i = 0; i < 100; i++ )); do [ -s "$tmp/port2" ] && break; sleep 0.1; done
port2=$(cat "$tmp/port2")

SET=0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31
FAILED=7c1d6e2a-4b8f-4e0a-9d3c-5a6b7c8d9e0f

# check STATUS CMD-ARGS...: run snapvolctl as admin; it must exit with
# STATUS, print on stdout what the heredoc `out` holds and on stderr
# what `err` holds (set by expect_out / expect_err before).
out= err=
check ()
{
    local want=$1 status=0
    shift
    "${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "${coordinator:-127.0.0.1:$port}" \
        --cert "$pki/${cert:-admin}.crt" --key "$pki/${cert:-admin}.key" --ca "$pki/ca.crt" \
        "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    echo "+ snapvolctl $* -> $status"
    cat "$tmp/out" "$tmp/err"
    assert_eq "$status" "$want" "exit status of snapvolctl $*"
    diff -u <(printf '%s' "$out") "$tmp/out" || fail "stdout of snapvolctl $*"
    diff -u <(printf '%s' "$err") "$tmp/err" || fail "stderr of snapvolctl $*"
    out= err=
}

out='Created snapshot set 0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31 of 2 volumes, label "nightly" (freeze 120 ms, hold 15 ms, total 340 ms):
PROVIDER  VOLUME  SNAPSHOT                              GENERATION  URI
store1    db      d1e22a0c-3a87-48dc-b613-2cb2bbb10b92           4  nbd://store1:10809/db@d1e22a0c-3a87-48dc-b613-2cb2bbb10b92
store2    logs    1302e89c-5537-4f27-95f0-bf307b6ebe38          12  nbd://store2:10809/logs@1302e89c-5537-4f27-95f0-bf307b6ebe38
'
check 0 set create store1/db --volume store2/logs --writers pg1,pg2 --label nightly \
    --freeze-window 30000 --hold-timeout 5000

out='{"set_id": "0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31", "label": "nightly", "state": "committed", "created": 1767225600, "finished": 1767225601, "snapshots": [{"provider": "store1", "volume": "db", "id": "d1e22a0c-3a87-48dc-b613-2cb2bbb10b92", "export": "db@d1e22a0c-3a87-48dc-b613-2cb2bbb10b92", "uri": "nbd://store1:10809/db@d1e22a0c-3a87-48dc-b613-2cb2bbb10b92", "generation": 4}, {"provider": "store2", "volume": "logs", "id": "1302e89c-5537-4f27-95f0-bf307b6ebe38", "export": "logs@1302e89c-5537-4f27-95f0-bf307b6ebe38", "uri": "nbd://store2:10809/logs@1302e89c-5537-4f27-95f0-bf307b6ebe38", "generation": 12}], "participants": [{"kind": "writer", "name": "pg1", "state": "thawed", "error": null}, {"kind": "provider", "name": "store1", "state": "committed", "error": null}, {"kind": "provider", "name": "store2", "state": "committed", "error": null}], "timings": {"freeze_ms": 120, "hold_ms": 15, "total_ms": 340}}
'
check 0 --json set create --all --writers none

failed_err='snapvolctl: set create: snapshot set 7c1d6e2a-4b8f-4e0a-9d3c-5a6b7c8d9e0f failed: writer pg1 refused writer.freeze (snapshot set failed, error -32010)
snapvolctl: set create:   writer pg1: failed: freeze hook exited with status 3: cannot lock tables
snapvolctl: set create:   provider store1: released
'
err=$failed_err
check 1 set create --all --label fail
err=$failed_err
out='{"set_id": "7c1d6e2a-4b8f-4e0a-9d3c-5a6b7c8d9e0f", "label": "fail", "state": "failed", "created": 1767229200, "finished": 1767229203, "reason": "writer pg1 refused writer.freeze", "snapshots": [], "participants": [{"kind": "writer", "name": "pg1", "state": "failed", "error": "freeze hook exited with status 3: cannot lock tables"}, {"kind": "provider", "name": "store1", "state": "released", "error": null}], "timings": {"freeze_ms": 2003, "hold_ms": 0, "total_ms": 2010}}
'
check 1 --json set create --all --label fail

out='SET                                   STATE      CREATED              SNAPSHOTS  LABEL
7c1d6e2a-4b8f-4e0a-9d3c-5a6b7c8d9e0f  failed     2026-01-01 01:00:00          0  fail
0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31  committed  2026-01-01 00:00:00          2  nightly
'
check 0 set list
out='SET                                   STATE   CREATED              SNAPSHOTS  LABEL
7c1d6e2a-4b8f-4e0a-9d3c-5a6b7c8d9e0f  failed  2026-01-01 01:00:00          0  fail
'
check 0 set list --state failed

out='Set:       0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31
Label:     nightly
State:     committed
Created:   2026-01-01 00:00:00
Finished:  2026-01-01 00:00:01
Timings:   freeze 120 ms, hold 15 ms, total 340 ms

Snapshots:
PROVIDER  VOLUME  SNAPSHOT                              GENERATION  URI
store1    db      d1e22a0c-3a87-48dc-b613-2cb2bbb10b92           4  nbd://store1:10809/db@d1e22a0c-3a87-48dc-b613-2cb2bbb10b92
store2    logs    1302e89c-5537-4f27-95f0-bf307b6ebe38          12  nbd://store2:10809/logs@1302e89c-5537-4f27-95f0-bf307b6ebe38

Participants:
KIND      NAME    STATE      ERROR
writer    pg1     thawed     -
provider  store1  committed  -
provider  store2  committed  -
'
check 0 set show "$SET"
out='Set:       7c1d6e2a-4b8f-4e0a-9d3c-5a6b7c8d9e0f
Label:     fail
State:     failed
Created:   2026-01-01 01:00:00
Finished:  2026-01-01 01:00:03
Reason:    writer pg1 refused writer.freeze
Timings:   freeze 2003 ms, hold 0 ms, total 2010 ms

Snapshots:
  none

Participants:
KIND      NAME    STATE     ERROR
writer    pg1     failed    freeze hook exited with status 3: cannot lock tables
provider  store1  released  -
'
check 0 set show "$FAILED"
err='snapvolctl: set show: no snapshot set 11111111-2222-4333-8444-555555555555 (not found, error -32001)
'
check 1 set show 11111111-2222-4333-8444-555555555555

out='Deleted snapshot set 0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31: 2 snapshots.
'
check 0 set delete "$SET"
err='snapvolctl: set delete: provider store2 of set 99999999-8888-4777-8666-555555555555 is not connected (not registered, error -32009)
'
check 1 set delete 99999999-8888-4777-8666-555555555555

out='NAME  STATE         CONNECTED  LAST-EVENT     AT                   VOLUMES                 LAST-ERROR
pg1   thawed        yes        post_snapshot  2026-01-01 00:00:01  store1/db, store2/logs  -
web   disconnected  no         -              -                    -                       writer.thaw: no answer within 30000 ms
'
check 0 writer list
out='NAME    CONNECTED  SINCE                LAST-SEEN            VOLUMES  NBD-URI              SUBJECT
store1  yes        2025-12-31 23:50:00  2026-01-01 00:00:01        1  nbd://store1:10809   CN=store1,O=snapvol test
store2  no         -                    2025-12-31 22:26:40        2  nbds://store2:10809  CN=store2,O=snapvol test
'
check 0 provider list
out='Forgot writer web.
'
check 0 writer forget web
out='{}
'
check 0 --json provider forget store2
err='snapvolctl: writer forget: writer pg1 is connected (busy, error -32003)
'
check 1 writer forget pg1
err='snapvolctl: provider forget: no provider named store9 (not found, error -32001)
'
check 1 provider forget store9
out='PROVIDER  VOLUME    SIZE  UUID
store1    db      10 GiB  6f008e70-1215-494f-be69-758f01aefa3d
store2    logs     1 GiB  a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d
'
check 0 volumes
out='[{"provider": "store1", "volume": "db", "size": 10737418240, "uuid": "6f008e70-1215-494f-be69-758f01aefa3d"}, {"provider": "store2", "volume": "logs", "size": 1073741824, "uuid": "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"}]
'
# The coordinator's certificate is for 127.0.0.1 and localhost.
coordinator=localhost:$port check 0 --json volumes

# Usage errors cost no connection.
err="snapvolctl: set show: invalid ID 'nope': expected a snapshot set UUID
"
check 2 set show nope
err='snapvolctl: set create: no volume: give PROVIDER/VOLUME arguments, --volume PROVIDER/VOLUME or --all
'
check 2 set create
err='snapvolctl: set create: give volumes or --all, not both
'
check 2 set create a/b --all
err="snapvolctl: set create: invalid volume 'nope': expected PROVIDER/VOLUME
"
check 2 set create --volume nope
err="snapvolctl: set create: invalid --freeze-window '5': expected milliseconds from 1000 to 600000
"
check 2 set create a/b --freeze-window 5
err="snapvolctl: set create: invalid --writers 'pg1,,x': expected auto, none or a comma-separated list of writer names
"
check 2 set create a/b --writers pg1,,x

# Roles and TLS.
err='snapvolctl: set create: role writer may not call set.create (forbidden, error -32007)
'
cert=writer1 check 1 set create --all
err="snapvolctl: set list: coordinator 127.0.0.1:$port: the connection was closed without an answer to set.list (was our certificate refused?)
"
cert=rogue check 1 set list
err="snapvolctl: coordinator 127.0.0.1:$port2: certificate verify failed: IP address mismatch
"
coordinator=127.0.0.1:$port2 check 1 set list
err='snapvolctl: coordinator 127.0.0.1:1: connect: Connection refused
'
coordinator=127.0.0.1:1 check 1 set list

# Settings from the environment, and their absence.
env -u SNAPVOL_COORDINATOR SNAPVOL_CERT="$pki/admin.crt" SNAPVOL_KEY="$pki/admin.key" \
    SNAPVOL_CA="$pki/ca.crt" "$SNAPVOLCTL" set list >/dev/null 2>"$tmp/err" && fail "no coordinator"
assert_eq "$(cat "$tmp/err")" "snapvolctl: set list: no coordinator: use --coordinator HOST:PORT or set SNAPVOL_COORDINATOR" \
    "error without a coordinator"
SNAPVOL_COORDINATOR=127.0.0.1:$port SNAPVOL_CERT="$pki/admin.crt" SNAPVOL_KEY="$pki/admin.key" \
    SNAPVOL_CA="$pki/ca.crt" "$SNAPVOLCTL" --json volumes >"$tmp/out"
assert_eq "$(jq -r '.[1].volume' "$tmp/out")" logs "volumes with settings from the environment"

touch "$tmp/done"
wait_fake

# What reached the coordinator: exactly these requests.
expected='["admin","set.create",{"volumes":["store1/db","store2/logs"],"writers":["pg1","pg2"],"label":"nightly","freeze_window_ms":30000,"hold_timeout_ms":5000}]
["admin","set.create",{"volumes":"all","writers":"none"}]
["admin","set.create",{"volumes":"all","label":"fail"}]
["admin","set.create",{"volumes":"all","label":"fail"}]
["admin","set.list",{}]
["admin","set.list",{"state":"failed"}]
["admin","set.get",{"set_id":"0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31"}]
["admin","set.get",{"set_id":"7c1d6e2a-4b8f-4e0a-9d3c-5a6b7c8d9e0f"}]
["admin","set.get",{"set_id":"11111111-2222-4333-8444-555555555555"}]
["admin","set.delete",{"set_id":"0f4a3b52-9d5e-4c1a-8b7e-2f6d1c9a8e31"}]
["admin","set.delete",{"set_id":"99999999-8888-4777-8666-555555555555"}]
["admin","writer.list",{}]
["admin","provider.list",{}]
["admin","writer.forget",{"name":"web"}]
["admin","provider.forget",{"name":"store2"}]
["admin","writer.forget",{"name":"pg1"}]
["admin","provider.forget",{"name":"store9"}]
["admin","volume.list",{}]
["admin","volume.list",{}]
["writer1","set.create",{"volumes":"all"}]
["admin","volume.list",{}]'
assert_eq "$(cat "$tmp/requests.json")" "$expected" "requests received by the coordinator"
