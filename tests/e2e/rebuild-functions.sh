# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# rebuild-functions.sh: helpers of the tests of
# `snapvol-coordinator --rebuild-catalog` (docs/coordinator.md,
# "Rebuilding the catalog"), on top of functions.sh.

source "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

# start_coordinator_rebuilding WAIT: start_coordinator, with
# --rebuild-catalog --rebuild-wait WAIT.  Sets rebuilds_before to the
# number of rebuilds the log reported done so far (wait_rebuilt).
start_coordinator_rebuilding ()
{
    local real=$COORDINATOR
    cat >"$tmp/coordinator-rebuilding" <<SH
#!/bin/sh
exec "$real" --rebuild-catalog --rebuild-wait $1 "\$@"
SH
    chmod +x "$tmp/coordinator-rebuilding"
    rebuilds_before=$(grep -c 'catalog rebuild: done' "$coord_log" || :)
    COORDINATOR=$tmp/coordinator-rebuilding
    start_coordinator
    COORDINATOR=$real
}

# wait_rebuilt: wait until the rebuild started last reports it is done.
wait_rebuilt ()
{
    poll 60 eval '[ "$(grep -c "catalog rebuild: done" "$coord_log")" -gt "$rebuilds_before" ]'
}

# lose_catalog: stop the coordinator and delete its SQLite catalog, as
# the loss of its disk would.
lose_catalog ()
{
    stop_coordinator
    rm -f "$catalog" "$catalog-wal" "$catalog-shm" "$catalog-journal"
}

# set_list_view: `set list --json` without the times (which are the
# providers' clocks after a rebuild), compact.
set_list_view ()
{
    ctl --json set list | jq -c '[.[] | del(.created, .finished)]'
}

# snap_json NAME VOLUME ID GENERATION: a set's snapshot object, as
# `set list --json` shows it, for provider NAME's socket.
snap_json ()
{
    jq -cn --arg p "$1" --arg v "$2" --arg id "$3" --argjson g "$4" \
        --arg uri "nbd+unix:///$2@$3?socket=$tmp/$1.sock" \
        '{provider: $p, volume: $v, id: $id, export: "\($v)@\($id)", uri: $uri, generation: $g}'
}

# rebuilt_json SET_ID LABEL SNAPSHOT...: a rebuilt set's object as
# set_list_view shows it.
rebuilt_json ()
{
    local id=$1 label=$2
    shift 2
    jq -cn --arg id "$id" --arg l "$label" --argjson s "[$(IFS=,; echo "$*")]" \
        '{set_id: $id, label: $l, state: "committed",
          reason: "rebuilt from the providers'"'"' snapshots (--rebuild-catalog)",
          snapshots: $s}'
}

# take_three_sets: sets "one" (storage-a/db, storage-b/logs), "two"
# (storage-a/web, storage-a/db) and "three 3" (all three volumes), each
# sharing a volume with the one before, so that the volumes'
# generations order them (pin times are seconds).  Sets s1, s2, s3 to
# their ids and sN_VOLUME to the id of set N's snapshot of VOLUME.
take_three_sets ()
{
    ctl --json set create storage-a/db storage-b/logs --label one >"$tmp/s1.json"
    ctl --json set create storage-a/web storage-a/db --label two >"$tmp/s2.json"
    ctl --json set create storage-b/logs storage-a/web storage-a/db --label "three 3" >"$tmp/s3.json"
    for n in 1 2 3; do
        eval "s$n=\$(jq -r .set_id \"\$tmp/s$n.json\")"
        for v in db web logs; do
            eval "s${n}_$v=\$(jq -r --arg v $v '.snapshots[] | select(.volume == \$v) | .id' \"\$tmp/s$n.json\")"
        done
    done
}

# three_sets_rebuilt: what `set list` shows of take_three_sets's sets
# once rebuilt (set_list_view), newest first.
three_sets_rebuilt ()
{
    echo "[$(rebuilt_json "$s3" "three 3" \
                    "$(snap_json storage-a db "$s3_db" 3)" \
                    "$(snap_json storage-a web "$s3_web" 2)" \
                    "$(snap_json storage-b logs "$s3_logs" 2)"),$(
                rebuilt_json "$s2" two \
                    "$(snap_json storage-a db "$s2_db" 2)" \
                    "$(snap_json storage-a web "$s2_web" 1)"),$(
                rebuilt_json "$s1" one \
                    "$(snap_json storage-a db "$s1_db" 1)" \
                    "$(snap_json storage-b logs "$s1_logs" 1)")]"
}
