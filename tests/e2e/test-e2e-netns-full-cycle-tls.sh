#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-netns-full-cycle-tls.sh: a snapshot set and its backup with
# every component on a host of its own (network namespaces on one
# bridge, see netns-functions.sh), TLS on every link: two storage
# hosts each running nbdkit --tls=require with the plugin (client
# certificates required), the coordinator over mutual TLS, two writers
# on the writer host, snapvolctl on the backup host.  The data is
# written over NBD TLS from the writer host; the set commits with
# every participant done; each writer sees prepare, freeze, thaw,
# post_snapshot; the thaw hooks overwrite part of each volume; `set
# backup` on the backup host pulls both snapshots over NBD TLS, and
# each image's checksum is that of the data written before the set,
# not of the volume after it.  No hold is left on either host.

source "$(dirname "$0")/netns-functions.sh"
set -x

ns_setup
ns_pki
ns_write_conf
ns_start_coordinator
ns_start_provider a storage-a db:8M
ns_start_provider b storage-b logs:8M

# The data before the set, written from the writer host.
for v in a:db b:logs; do
    head -c 8M /dev/urandom >"$tmp/${v#*:}.before"
    on w nbdcopy --flush "$tmp/${v#*:}.before" "$(nuri "${v%:*}" "${v#*:}")" ||
        fail "nbdcopy to ${v#*:} over NBD TLS failed"
done

# The thaw hooks write over the start of their volume: after the
# snapshot, so not in it.
hook_for ()
{
    local name=$1 uri=$2
    cat >"$tmp/$name.hook" <<HOOK
#!/bin/sh
set -e
case \$SNAPVOL_EVENT in
thaw)
    /usr/bin/python3 "\$NBDIO" write '$uri' 0 "thaw \$SNAPVOL_SET_ID $name" ;;
esac
HOOK
}
hook_for writer-db "$(nuri a db)"
hook_for writer-logs "$(nuri b logs)"
ns_start_writer writer-db storage-a/db
ns_start_writer writer-logs storage-b/logs

ctl --json set create storage-a/db storage-b/logs --label netns >"$tmp/set.json"
cat "$tmp/set.json"
set_id=$(jq -r .set_id "$tmp/set.json")
assert_eq "$(jq -r '[.state, .label] | join(" ")' "$tmp/set.json")" "committed netns" \
    "state and label of the set"
assert_eq "$(jq -c '[.participants[] | [.kind, .name, .state, .error]]' "$tmp/set.json")" \
    '[["writer","writer-db","done",null],["writer","writer-logs","done",null],["provider","storage-a","committed",null],["provider","storage-b","committed",null]]' \
    "participants of the set"
for v in a:db b:logs; do
    id=$(jq -r --arg v "${v#*:}" '.snapshots[] | select(.volume == $v) | .id' "$tmp/set.json")
    assert_eq "$(jq -r --arg v "${v#*:}" '.snapshots[] | select(.volume == $v) | .uri' "$tmp/set.json")" \
        "nbds://${ns_addr[${v%:*}]}:$nbd_port/${v#*:}@$id" "uri of the snapshot of ${v#*:}"
done
for w in writer-db writer-logs; do
    assert_eq "$(events $w)" "prepare $set_id
freeze $set_id
thaw $set_id
post_snapshot $set_id" "events of $w"
done

# The live volumes have the thaw markers: they differ from before.
for v in a:db:writer-db b:logs:writer-logs; do
    IFS=: read -r role vol name <<<"$v"
    marker="thaw $set_id $name"
    assert_eq "$(on w /usr/bin/python3 "$NBDIO" read "$(nuri "$role" "$vol")" 0 ${#marker})" \
        "$marker" "the thaw marker in the live volume $vol"
done

# The backup host pulls the set over NBD TLS.
ctl --json set backup "$set_id" "$tmp/bk" --nbd-tls-certificates "$nbdtls/client" >"$tmp/backup.json"
cat "$tmp/backup.json"
assert_eq "$(jq -c '[.volumes[] | [.provider, .volume, .mode]]' "$tmp/backup.json")" \
    '[["storage-a","db","full"],["storage-b","logs","full"]]' "the set backup's volumes"
assert_eq "$(jq -r '[.state, .set_id, .label] | join(" ")' "$tmp/bk/snapvol-set.json")" \
    "complete $set_id netns" "the set manifest"
for v in storage-a/db storage-b/logs; do
    assert_eq "$(md5 "$tmp/bk/$v.img")" "$(md5 "$tmp/${v#*/}.before")" \
        "the backup of $v is the data written before the set"
done

# A plain NBD client is refused: TLS only.
if on k nbdinfo --size "nbd://${ns_addr[a]}:$nbd_port/db" >"$tmp/plain.out" 2>"$tmp/plain.err"; then
    fail "storage-a served NBD without TLS: $(cat "$tmp/plain.out")"
fi
assert_eq "$(grep -v '^+' "$tmp/plain.err")" \
    "nbdinfo: nbd_connect_uri: handshake: server requires TLS encryption first: Operation not supported" \
    "a plain NBD client"

# No hold is left on either host.
for p in storage-a storage-b; do
    assert_eq "$(provider_snapshots $p | jq -r '[.[].holds | length] | add')" 0 "holds left on $p"
done

stop_writer writer-db
stop_writer writer-logs
stop_provider storage-a
stop_provider storage-b
stop_coordinator
check_logs
