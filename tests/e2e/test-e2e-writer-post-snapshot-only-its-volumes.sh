#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-writer-post-snapshot-only-its-volumes.sh: each writer of a
# set learns only what concerns it, as VSS gives each writer its own
# components.  A set of three volumes on two providers, with writer-db
# registered for storage-a/db and storage-b/data and writer-logs for
# storage-a/logs: writer-db's prepare hook sees exactly its two volumes
# (SNAPVOL_VOLUMES, in set order) and its post_snapshot hook exactly
# their two snapshots (SNAPVOL_SNAPSHOTS, the set's entries, in set
# order); writer-logs sees its one volume and its one snapshot.  A
# third writer, registered only for a volume outside the set, is not
# involved: its hook never runs and the set does not list it.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:1M logs:1M scratch:1M
start_provider storage-b data:1M

# A certificate for the third writer (make_pki has two).
_cert "$pki" writer-scratch "/O=snapvol-test/CN=writer-scratch" \
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
[ -s "$pki/writer-scratch.crt" ] || fail "openssl failed for writer-scratch"

# Every hook keeps what prepare and post_snapshot were given, and logs
# each event it ran for.
for w in writer-db writer-logs writer-scratch; do
    cat >"$tmp/$w.hook" <<EOF
#!/bin/sh
case \$SNAPVOL_EVENT in
prepare) printf '%s\n' "\$SNAPVOL_VOLUMES" >'$tmp/$w.volumes' ;;
post_snapshot) printf '%s\n' "\$SNAPVOL_SNAPSHOTS" >'$tmp/$w.snapshots' ;;
esac
echo "\$SNAPVOL_EVENT" >>'$tmp/$w.events'
EOF
done
start_writer writer-db storage-a/db storage-b/data
start_writer writer-logs storage-a/logs
start_writer writer-scratch storage-a/scratch

ctl --json set create storage-a/db storage-a/logs storage-b/data >"$tmp/set.json"
cat "$tmp/set.json"
assert_eq "$(jq -c '[.state, [.snapshots[] | "\(.provider)/\(.volume)"]]' "$tmp/set.json")" \
    '["committed",["storage-a/db","storage-a/logs","storage-b/data"]]' "the set"
assert_eq "$(jq -c '[.participants[] | select(.kind == "writer") | [.name, .state]]' "$tmp/set.json")" \
    '[["writer-db","done"],["writer-logs","done"]]' "the set's writers"

# post_snapshot runs after the thaw, and the set's answer may come
# before the agent's hook has ended: wait for the last event.
for w in writer-db writer-logs; do
    poll 20 grep -qx post_snapshot "$tmp/$w.events"
done

assert_eq "$(cat "$tmp/writer-db.volumes")" "storage-a/db storage-b/data" \
    "SNAPVOL_VOLUMES of writer-db"
assert_eq "$(cat "$tmp/writer-logs.volumes")" "storage-a/logs" \
    "SNAPVOL_VOLUMES of writer-logs"
assert_eq "$(jq -cS . "$tmp/writer-db.snapshots")" \
    "$(jq -cS '[.snapshots[0], .snapshots[2]]' "$tmp/set.json")" \
    "SNAPVOL_SNAPSHOTS of writer-db"
assert_eq "$(jq -c '[.[] | "\(.provider)/\(.volume)"]' "$tmp/writer-db.snapshots")" \
    '["storage-a/db","storage-b/data"]' "the volumes of writer-db's snapshots"
assert_eq "$(jq -cS . "$tmp/writer-logs.snapshots")" \
    "$(jq -cS '[.snapshots[1]]' "$tmp/set.json")" "SNAPVOL_SNAPSHOTS of writer-logs"

# The writer of a volume outside the set took no part.
assert_eq "$(cat "$tmp/writer-scratch.events" 2>/dev/null)" "" \
    "events of writer-scratch"
assert_eq "$(ctl --json writer list | jq -c '[.[] | [.name, .state, .last_event]]')" \
    '[["writer-db","stable","post_snapshot"],["writer-logs","stable","post_snapshot"],["writer-scratch","stable",null]]' \
    "writer list"
