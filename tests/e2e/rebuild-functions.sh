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
