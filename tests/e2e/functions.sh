# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# functions.sh: helpers of the end-to-end tests (tests/e2e/test-e2e-*.sh),
# on top of tests/coordinator/functions.sh (the PKI, write_conf,
# start_coordinator, kill9_coordinator, wait_for) and tests/functions.sh
# (requires, fail, cleanup_fn, $tmp, assert_eq).
#
# Every component is the real one: snapvol-coordinator, one nbdkit
# process with the plugin per provider, snapvol-writer agents with
# shell hooks, snapvolctl, and NBD clients (libnbd's Python binding,
# which nbdsh is, and nbdcopy).  Nothing listens anywhere but 127.0.0.1
# and Unix sockets under $tmp.
#
# Per provider NAME (started by start_provider):
#   $tmp/NAME/          its pool          $tmp/NAME.sock  its NBD socket
#   $tmp/NAME.ctl       control socket    $tmp/NAME.pid   nbdkit's pid
#   $tmp/NAME.log       nbdkit's log
# Per writer NAME (started by start_writer):
#   $tmp/NAME.hook      its hook for every event, if the test wrote one
#   $tmp/NAME.evlog     the event log     $tmp/NAME.log   the agent's log
#
# Environment (set by tests/e2e/Makefile.am, or by hand): as for
# tests/coordinator/functions.sh.

: "${abs_top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$abs_top_srcdir/tests/coordinator/functions.sh"

SNAPVOL_WRITER=$abs_top_builddir/client/snapvol-writer
requires nbdkit nbdcopy jq setsid
requires_snapvol
[ -x "$SNAPVOL_WRITER" ] || skip "snapvol-writer is not built: $SNAPVOL_WRITER"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || skip "python3-libnbd is not installed"

declare -A provider_pids writer_pids
# provider_nbd_uri[NAME]: the nbd-uri= provider NAME registers, if not
# its own socket (a test putting a proxy in front of it sets it).
declare -A provider_nbd_uri

# ctl ARGS...: snapvolctl against the coordinator, as the requester
# (certificate backup).  ctl_as WHO ARGS...: with WHO's certificate.
ctl ()
{
    ctl_as backup "$@"
}

ctl_as ()
{
    local who=$1
    shift
    "${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "127.0.0.1:$port" \
        --cert "$pki/$who.crt" --key "$pki/$who.key" --ca "$pki/ca.crt" "$@"
}

# ectl ARGS...: ctl against every coordinator of $coordinator_address
# (a list: snapvolctl finds the leader).
ectl ()
{
    "${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "$coordinator_address" \
        --cert "$pki/backup.crt" --key "$pki/backup.key" --ca "$pki/ca.crt" "$@"
}

# provider_control NAME METHOD PARAMS: one request on provider NAME's
# control socket, below snapvolctl; prints the answer's result, or its
# error, as JSON.
provider_control ()
{
    /usr/bin/python3 -c 'import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": sys.argv[2],
                       "params": json.loads(sys.argv[3])}) + "\n").encode())
buf = b""
while not buf.endswith(b"\n"):
    buf += s.recv(65536)
a = json.loads(buf)
print(json.dumps(a["result"] if "result" in a else a.get("error")))' \
        "$tmp/$1.ctl" "$2" "$3"
}

# pctl NAME ARGS...: snapvolctl against provider NAME's control socket.
pctl ()
{
    local name=$1
    shift
    "${ctl_env[@]}" "$SNAPVOLCTL" --socket "$tmp/$name.ctl" "$@"
}

# puri NAME EXPORT: the NBD URI of EXPORT on provider NAME.
puri ()
{
    printf 'nbd+unix:///%s?socket=%s' "$2" "$tmp/$1.sock"
}

# provider_connected NAME: true if the coordinator lists NAME connected.
provider_connected ()
{
    [ "$(ctl --json provider list |
         jq -r --arg n "$1" '.[] | select(.name == $n) | .connected')" = true ]
}

# writer_connected NAME
writer_connected ()
{
    [ "$(ctl --json writer list |
         jq -r --arg n "$1" '.[] | select(.name == $n) | .connected')" = true ]
}

# poll SECONDS COMMAND...: retry COMMAND every 0.1 s for up to SECONDS.
poll ()
{
    local end=$(( $(date +%s%N) + $1 * 1000000000 ))
    shift
    while :; do
        if "$@"; then return 0; fi
        [ "$(date +%s%N)" -lt "$end" ] || fail "timed out waiting for: $*"
        sleep 0.1
    done
}

# reap_coordinator: the coordinator was killed by someone else (a
# hook): wait for it, as kill9_coordinator does.
reap_coordinator ()
{
    [ -n "$coord_pid" ] || return 0
    kill -KILL "$coord_pid" 2>/dev/null || :
    wait "$coord_pid" || :
    coord_pid=
    rm -f "$tmp/coordinator.pid"
}

# start_provider [--cert WHO] [--no-wait] NAME VOLUME:SIZE...: serve the
# pool $tmp/NAME with nbdkit as provider NAME of the coordinator (with
# certificate WHO, default NAME), and wait until nbdkit serves and the
# coordinator lists it connected (unless --no-wait).  The pool, the
# sockets and the log are kept across restarts.
start_provider ()
{
    local who= wait=1 name i
    while :; do
        case $1 in
        --cert) who=$2; shift 2 ;;
        --no-wait) wait=; shift ;;
        *) break ;;
        esac
    done
    name=$1
    shift
    [ -n "$who" ] || who=$name
    [ -z "${provider_pids[$name]:-}" ] || fail "start_provider: $name is already running"

    local -a args=(dir="$tmp/$name" control="$tmp/$name.ctl"
                   coordinator="${coordinator_address:-127.0.0.1:$port}" tls-certificate="$pki/$who.crt"
                   tls-key="$pki/$who.key" tls-ca="$pki/ca.crt" provider="$name"
                   nbd-uri="${provider_nbd_uri[$name]:-nbd+unix:///?socket=$tmp/$name.sock}")
    for i in "$@"; do args+=(volume="$i"); done
    local -a opts=(-f -U "$tmp/$name.sock" --pidfile "$tmp/$name.pid" --exit-with-parent)
    [ "${SNAPVOL_TEST_VERBOSE:-0}" != 1 ] || opts+=(-v)

    rm -f "$tmp/$name.sock" "$tmp/$name.pid"
    echo "+ nbdkit ${opts[*]} $PLUGIN ${args[*]}" >>"$tmp/$name.log"
    "${nbdkit_env[@]}" nbdkit "${opts[@]}" "$PLUGIN" "${args[@]}" >>"$tmp/$name.log" 2>&1 &
    provider_pids[$name]=$!
    for (( i = 0; i < 300; i++ )); do
        kill -0 "${provider_pids[$name]}" 2>/dev/null || {
            wait "${provider_pids[$name]}" || :
            unset "provider_pids[$name]"
            cat "$tmp/$name.log" >&2
            fail "nbdkit of provider $name exited during startup"
        }
        [ -s "$tmp/$name.pid" ] && [ -S "$tmp/$name.sock" ] && _accepts "$tmp/$name.ctl" && break
        sleep 0.1
    done
    [ "$i" -lt 300 ] || fail "nbdkit of provider $name did not start within 30 s"
    [ -z "$wait" ] || poll 20 provider_connected "$name"
}

# stop_provider NAME: SIGTERM; nbdkit must exit with status 0.
stop_provider ()
{
    local pid=${provider_pids[$1]:-} status=0
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null || :
    kill -TERM "$pid"
    timeout 30 tail -s 0.1 --pid="$pid" -f /dev/null || kill -KILL "$pid"
    wait "$pid" || status=$?
    unset "provider_pids[$1]"
    [ "$status" -eq 0 ] || fail "nbdkit of provider $1 exited with status $status"
}

# kill9_provider NAME: as a crash would.
kill9_provider ()
{
    local pid=${provider_pids[$1]:-}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null || :
    wait "$pid" 2>/dev/null || :
    unset "provider_pids[$1]"
}

# client_cert NAME: a client certificate for CN=NAME, $pki/NAME.crt and
# its key, unless $pki has one of that name (make_pki makes those of
# storage-a, storage-b, writer-db, writer-logs, ...).
client_cert ()
{
    [ -f "$pki/$1.crt" ] ||
        _cert "$pki" "$1" "/O=snapvol-test/CN=$1" \
            'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
    [ -s "$pki/$1.crt" ] || fail "client_cert: openssl could not make the certificate of $1"
}

# provider_snapshots NAME: the snapshots on provider NAME, as its control
# socket lists them (JSON).
provider_snapshots ()
{
    pctl "$1" --json snapshot list
}

# start_writer [--no-wait] NAME [OPTION ARG]... [PROVIDER/VOLUME]...:
# run snapvol-writer NAME with its certificate, the options given (such
# as --freeze-timeout MS), the volumes, and $tmp/NAME.hook for every
# event if it exists; wait until the coordinator lists it connected
# (unless --no-wait).  $coordinator_address, if set, replaces the
# coordinator's address (for start_provider too).
start_writer ()
{
    local wait=1
    [ "$1" != --no-wait ] || { wait=; shift; }
    local name=$1 hook
    shift
    local -a args=(--coordinator "${coordinator_address:-127.0.0.1:$port}" --cert "$pki/$name.crt"
                   --key "$pki/$name.key" --ca "$pki/ca.crt" --name "$name"
                   --event-log "$tmp/$name.evlog")
    [ -z "${writer_pids[$name]:-}" ] || fail "start_writer: $name is already running"
    while [ $# -gt 0 ]; do
        case $1 in
        --verbose) args+=("$1"); shift ;;
        --*) args+=("$1" "$2"); shift 2 ;;
        *) args+=(--volume "$1"); shift ;;
        esac
    done
    hook=$tmp/$name.hook
    if [ -f "$hook" ]; then
        chmod +x "$hook"
        args+=(--prepare "$hook" --freeze "$hook" --thaw "$hook"
               --post-snapshot "$hook" --abort "$hook"
               --pre-restore "$hook" --post-restore "$hook")
    fi
    echo "+ $SNAPVOL_WRITER ${args[*]}" >>"$tmp/$name.log"
    "${ctl_env[@]}" "$SNAPVOL_WRITER" "${args[@]}" >>"$tmp/$name.log" 2>&1 &
    writer_pids[$name]=$!
    [ -z "$wait" ] || poll 20 _writer_up "$name"
}

_writer_up ()
{
    kill -0 "${writer_pids[$1]}" 2>/dev/null || {
        cat "$tmp/$1.log" >&2
        fail "writer $1 exited"
    }
    writer_connected "$1"
}

# start_many_writers [--counts] NAME=PROVIDER/VOLUME[,...]...: the
# no-op writers NAME, each with a certificate of its own (made here if
# missing), all in one bench/sv-writers process on libsnapvol-writer
# (--counts: which prints each writer's calls when it stops); wait
# until the coordinator lists that many writers connected.  Its log is
# $tmp/sv-writers.log; stop_writer sv-writers stops it.
SV_WRITERS=$abs_top_builddir/bench/sv-writers
start_many_writers ()
{
    local spec
    local -a opts=()
    [ "${1:-}" != --counts ] || { opts+=("$1"); shift; }
    [ -x "$SV_WRITERS" ] || fail "bench/sv-writers is not built: $SV_WRITERS"
    [ -z "${writer_pids[sv-writers]:-}" ] || fail "start_many_writers: already running"
    for spec in "$@"; do
        client_cert "${spec%%=*}"
    done
    _many_writers_exec --ca "$pki/ca.crt" --cert-dir "$pki" "${opts[@]}" "$@"
    poll 60 _many_writers_up $#
}

# assert_set_all_done FILE N NPROVIDERS NWRITERS: the set object in
# FILE (set N) has every provider committed and every writer done, and
# nothing else.
assert_set_all_done ()
{
    assert_eq "$(jq -c '[.participants[] | [.kind, .state, .error]] | group_by(.) |
                        map([.[0][0], .[0][1], .[0][2], length])' "$1")" \
        "[[\"provider\",\"committed\",null,$3],[\"writer\",\"done\",null,$4]]" \
        "participants of set $2"
}

# assert_writers_stable: every registered writer is connected and
# stable, its last event post_snapshot, without error (after sets that
# all committed).
assert_writers_stable ()
{
    ctl --json writer list >"$tmp/writers.json"
    assert_eq "$(jq -c '[.[] | [.connected, .state, .last_event, .last_error]] | unique' \
        "$tmp/writers.json")" '[[true,"stable","post_snapshot",null]]' "writer list after the sets"
}

# _many_writers_exec ARGS...: bench/sv-writers with ARGS, against the
# coordinator on 127.0.0.1, in the background; its pid in
# writer_pids[sv-writers].  (netns-functions.sh runs it on the writer
# host.)
_many_writers_exec ()
{
    echo "+ $SV_WRITERS $*" >>"$tmp/sv-writers.log"
    "${ctl_env[@]}" "$SV_WRITERS" --coordinator "127.0.0.1:$port" "$@" \
        >>"$tmp/sv-writers.log" 2>&1 &
    writer_pids[sv-writers]=$!
}

_many_writers_up ()
{
    kill -0 "${writer_pids[sv-writers]}" 2>/dev/null || {
        cat "$tmp/sv-writers.log" >&2
        fail "sv-writers exited"
    }
    [ "$(ctl --json writer list | jq '[.[] | select(.connected)] | length')" -ge "$1" ]
}

# stop_writer NAME: SIGTERM; the agent must exit with status 0.
stop_writer ()
{
    local pid=${writer_pids[$1]:-} status=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid"
    timeout 30 tail -s 0.1 --pid="$pid" -f /dev/null || kill -KILL "$pid"
    wait "$pid" || status=$?
    unset "writer_pids[$1]"
    [ "$status" -eq 0 ] || fail "writer $1 exited with status $status"
}

# events NAME: the writer's event log as "EVENT SET_ID" lines.
events ()
{
    [ ! -f "$tmp/$1.evlog" ] || cut -d' ' -f2- "$tmp/$1.evlog"
}

# event_time NAME EVENT SET_ID: when (Unix ms) the writer saw the event.
event_time ()
{
    awk -v e="$2" -v s="$3" '$2 == e && $3 == s { print $1; exit }' "$tmp/$1.evlog"
}

# ctl_admin ARGS...: snapvolctl against the coordinator as the admin
# (certificate ops): set revert.
ctl_admin ()
{
    ctl_as ops "$@"
}

# live_closed NAME VOLUME: true once provider NAME's live VOLUME has no
# NBD connection left (nbdkit closes one a moment after its client).
live_closed ()
{
    [ "$(pctl "$1" --json volume list "$2" | jq '.[0].open_count')" = 0 ]
}

# nbd_write URI OFFSET TEXT: write TEXT at OFFSET and flush.
# nbd_read URI OFFSET LENGTH: print the bytes read.  nbd_readonly URI:
# fail unless the export is read-only and refuses a write.  Each is one
# libnbd connection (nbdio.py, which hooks run too, as $NBDIO).
NBDIO=$abs_top_srcdir/tests/e2e/nbdio.py
export NBDIO

nbd_write ()
{
    /usr/bin/python3 "$NBDIO" write "$@"
}

nbd_read ()
{
    /usr/bin/python3 "$NBDIO" read "$@"
}

nbd_readonly ()
{
    /usr/bin/python3 "$NBDIO" readonly "$@"
}

# uri_md5 URI: the checksum of an export's content, copied with nbdcopy.
uri_md5 ()
{
    nbdcopy "$1" - | md5sum | cut -d' ' -f1
}

# now_ms: the wall clock in milliseconds (as the event logs use).
now_ms ()
{
    echo $(( $(date +%s%N) / 1000000 ))
}

# Scenarios that several tests start from.

# start_set_two_providers: the coordinator, providers storage-a (volume
# db) and storage-b (logs), 4 MiB each, and a set of both volumes (no
# writers registered), its answer in $tmp/set.json.  Sets set_id, and a
# and b to the ids of its snapshots of db and logs.
start_set_two_providers ()
{
    write_conf
    start_coordinator
    start_provider storage-a db:4M
    start_provider storage-b logs:4M
    ctl --json set create storage-a/db storage-b/logs >"$tmp/set.json"
    set_id=$(jq -r .set_id "$tmp/set.json")
    a=$(jq -r '.snapshots[] | select(.volume == "db") | .id' "$tmp/set.json")
    b=$(jq -r '.snapshots[] | select(.volume == "logs") | .id' "$tmp/set.json")
}

# provider_holds NAME: provider NAME's snapshots as "ID TAGS" lines.
provider_holds ()
{
    provider_snapshots "$1" | jq -r '.[] | "\(.id) \([.holds[].tag] | join(","))"'
}

# catalog_set_holds SET_ID: the tags of the set's holds the catalog
# records, as a JSON array.
catalog_set_holds ()
{
    ctl --json set list | jq -c --arg id "$1" \
        '[.[] | select(.set_id == $id) | (.holds // [])[].tag]'
}

# start_set_then_overwrite: the coordinator, providers storage-a
# (volume db) and storage-b (logs), 8 MiB each; random content A on
# both, flushed ($tmp/db.A, $tmp/logs.A); a set of it taken with
# writers none, its id in s1; then random content C over both, flushed
# ($tmp/db.C, $tmp/logs.C).  Returns once nbdkit has closed the
# copies' connections, so that a revert finds no client.
start_set_then_overwrite ()
{
    local p
    write_conf
    start_coordinator
    start_provider storage-a db:8M
    start_provider storage-b logs:8M
    for p in storage-a:db storage-b:logs; do
        head -c 8M /dev/urandom >"$tmp/${p#*:}.A"
        nbdcopy --flush "$tmp/${p#*:}.A" "$(puri "${p%:*}" "${p#*:}")"
    done
    s1=$(ctl --json set create storage-a/db storage-b/logs --writers none | jq -r .set_id)
    for p in storage-a:db storage-b:logs; do
        head -c 8M /dev/urandom >"$tmp/${p#*:}.C"
        nbdcopy --flush "$tmp/${p#*:}.C" "$(puri "${p%:*}" "${p#*:}")"
    done
    poll 10 live_closed storage-a db
    poll 10 live_closed storage-b logs
}

# _stop_writers: end every writer still running (a test's cleanup that
# unmounts a filesystem a writer holds open calls it first).
_stop_writers ()
{
    local n pid
    for n in "${!writer_pids[@]}"; do
        pid=${writer_pids[$n]}
        kill -TERM "$pid" 2>/dev/null
        timeout 10 tail -s 0.1 --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "writer_pids[$n]"
    done
    return 0
}

_e2e_cleanup ()
{
    local n pid
    _stop_writers
    for n in "${!provider_pids[@]}"; do
        pid=${provider_pids[$n]}
        kill -CONT "$pid" 2>/dev/null
        kill -TERM "$pid" 2>/dev/null
        timeout 10 tail -s 0.1 --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "$test_status" -ne 0 ] && [ "$test_status" -ne 77 ]; then
        for n in "$tmp"/*.log; do
            [ -s "$n" ] && [ "$n" != "$coord_log" ] || continue
            echo "--- $n (last 40 lines) ---" >&2
            tail -n 40 "$n" >&2
        done
    fi
    return 0
}
cleanup_fn _e2e_cleanup

# check_logs: fail if a sanitizer reported anything in any log of the
# test (nbdkit's, the writers', the coordinator's).
check_logs ()
{
    if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp"/*.log >&2; then
        fail "the sanitizers reported errors (see above)"
    fi
}

# $tmp/stop-process PIDFILE, for hooks: stop the process whose pid
# PIDFILE holds (SIGSTOP) and return once every thread of it is stopped
# (state T in /proc/PID/task/*/stat), or fail after 5 s.  kill(2)
# returns before the signal has reached each thread, and a provider
# that answers one more call after its "stop" would turn a test of a
# silent provider into a test of something else.
cat >"$tmp/stop-process" <<'SCRIPT'
#!/bin/sh
pid=$(cat "$1") && kill -STOP "$pid" || exit 1
i=0
while [ "$i" -lt 500 ]; do
    running=$(awk '{ sub(/^.*\) /, ""); if ($1 != "T" && $1 != "t") n++ }
                   END { print n + 0 }' /proc/"$pid"/task/*/stat 2>/dev/null)
    [ "$running" = 0 ] && exit 0
    sleep 0.01
    i=$((i + 1))
done
echo "stop-process: process $pid did not stop within 5 s" >&2
exit 1
SCRIPT
chmod +x "$tmp/stop-process"

# Filesystems for the writers' --fsfreeze and --postgres tests.
#
# mount_ext4 NAME [SIZE]: a fresh ext4 filesystem in $tmp/NAME.img
# (SIZE for truncate, default 32M), loop-mounted at $tmp/NAME; the test
# is skipped, saying why, where loop mounts are impossible (not root,
# no loop device).  At the test's end, whatever happens, every such
# mount is thawed, the appenders are stopped and it is unmounted.
#
# start_appender NAME: a background loop appending a line to
# $tmp/NAME/appends every 50 ms, and for each append one line
# "START_MS END_MS" to $tmp/NAME.appends (outside the filesystem), so
# that a test sees how long a write waited for a freeze.
declare -a test_mounts=() appender_pids=()

mount_ext4 ()
{
    local name=$1 size=${2:-32M}
    [ "$(id -u)" -eq 0 ] || skip "mounting a filesystem needs root"
    requires mke2fs mount umount fsfreeze truncate
    truncate -s "$size" "$tmp/$name.img"
    mke2fs -q -t ext4 -F "$tmp/$name.img" || fail "mke2fs $tmp/$name.img failed"
    mkdir -p "$tmp/$name"
    [ ${#test_mounts[@]} -gt 0 ] || cleanup_fn _fs_cleanup
    mount -o loop "$tmp/$name.img" "$tmp/$name" 2>"$tmp/$name.mount.err" ||
        skip "cannot loop-mount an ext4 image: $(cat "$tmp/$name.mount.err")"
    test_mounts+=("$tmp/$name")
}

start_appender ()
{
    local name=$1
    (
        while :; do
            start=$(date +%s%N)
            echo "$start" >>"$tmp/$name/appends"
            echo "$(( start / 1000000 )) $(( $(date +%s%N) / 1000000 ))" >>"$tmp/$name.appends"
            sleep 0.05
        done
    ) &
    appender_pids+=($!)
    poll 10 test -s "$tmp/$name.appends"
}

# longest_append NAME: "START_MS END_MS" of the append that took longest.
longest_append ()
{
    awk '{ if ($2 - $1 > best) { best = $2 - $1; line = $0 } } END { print line }' \
        "$tmp/$1.appends"
}

# thaw_says_not_frozen MOUNT: fail unless MOUNT's filesystem is thawed.
# FITHAW on a thawed filesystem fails with EINVAL; on a frozen one it
# thaws, so this is for a test's check that nothing was left frozen.
thaw_says_not_frozen ()
{
    local err
    if err=$(fsfreeze -u "$1" 2>&1); then
        fail "$1 was still frozen"
    fi
    assert_eq "$err" "fsfreeze: $1: unfreeze failed: Invalid argument" "fsfreeze -u $1"
}

_fs_cleanup ()
{
    local m pid i
    for m in "${test_mounts[@]}"; do
        fsfreeze -u "$m" 2>/dev/null
    done
    _stop_writers
    for pid in "${appender_pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for (( i = ${#test_mounts[@]} - 1; i >= 0; i-- )); do
        m=${test_mounts[i]}
        fsfreeze -u "$m" 2>/dev/null
        umount "$m" 2>/dev/null || umount -l "$m"
    done
    return 0
}

# PostgreSQL for the writer's --postgres tests.
#
# pg_setup: skip, saying why, unless PostgreSQL's server programs
# (Debian's postgresql-NN: the newest under /usr/lib/postgresql) can
# run here.  Sets $pgbin, $pguser (the unprivileged user the servers
# run as: PostgreSQL refuses root) and $pgdir (a directory $pguser can
# reach, unlike $tmp, removed at the end; the servers' logs are copied
# to $tmp/pg-NAME.log then).
#
# pg_initdb DATADIR: a new cluster in DATADIR (its parent must exist),
# owned by $pguser, superuser "postgres", trust authentication, Unix
# sockets only.
# pg_start NAME DATADIR PORT: start a server on DATADIR listening on
# the socket $pgdir/NAME/.s.PGSQL.PORT and logging to $pgdir/NAME.log;
# at the end of the test, whatever happens, it is stopped.
# pg_stop NAME: stop it (fast shutdown).  pg_stop_all: every server
# still running, at once (for a test's cleanup that unmounts their
# filesystems).
# pg_sql NAME SQL: run SQL on server NAME, as postgres, printing the
# rows unaligned.
# pg_conninfo NAME: the connection string of server NAME.
declare -A pg_data pg_port

pg_setup ()
{
    [ "$(id -u)" -eq 0 ] || skip "running PostgreSQL as another user needs root"
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$pgbin" ] && [ -x "$pgbin/initdb" ] && [ -x "$pgbin/pg_ctl" ] ||
        skip "PostgreSQL's server is not installed (Debian package postgresql)"
    requires runuser
    pguser=nobody
    id "$pguser" >/dev/null 2>&1 || skip "there is no user $pguser to run PostgreSQL as"
    pgdir=$(mktemp -d /tmp/snapvol-pg.XXXXXX)
    chmod 0755 "$pgdir"
    cleanup_fn _pg_cleanup
}

pg_run ()
{
    (cd / && runuser -u "$pguser" -- "$@")
}

pg_initdb ()
{
    mkdir -p "$1"
    chown "$pguser" "$1"
    chmod 0700 "$1"
    pg_run "$pgbin/initdb" -D "$1" -U postgres --auth=trust --no-sync \
        >"$tmp/initdb.log" 2>&1 || {
        cat "$tmp/initdb.log" >&2
        skip "initdb cannot create a cluster here"
    }
    cat >>"$1/postgresql.conf" <<CONF
listen_addresses = ''
max_connections = 20
shared_buffers = 16MB
checkpoint_timeout = 30min
max_wal_size = 256MB
CONF
    sync -f "$1"
}

pg_start ()
{
    local name=$1 data=$2 port=$3
    mkdir -p "$pgdir/$name"
    chown "$pguser" "$pgdir/$name"
    touch "$pgdir/$name.log"
    chown "$pguser" "$pgdir/$name.log"
    pg_data[$name]=$data
    pg_port[$name]=$port
    pg_run "$pgbin/pg_ctl" start -w -t 60 -D "$data" -l "$pgdir/$name.log" \
        -o "-p $port -c unix_socket_directories=$pgdir/$name" >/dev/null ||
        fail "PostgreSQL $name did not start: $(tail -n 5 "$pgdir/$name.log")"
}

pg_stop ()
{
    [ -n "${pg_data[$1]:-}" ] || return 0
    pg_run "$pgbin/pg_ctl" stop -w -t 60 -m fast -D "${pg_data[$1]}" >/dev/null ||
        pg_run "$pgbin/pg_ctl" stop -w -t 30 -m immediate -D "${pg_data[$1]}" >/dev/null
    unset "pg_data[$1]"
}

pg_stop_all ()
{
    local n
    for n in "${!pg_data[@]}"; do
        pg_run "$pgbin/pg_ctl" stop -w -t 30 -m immediate -D "${pg_data[$n]}" >/dev/null 2>&1
        unset "pg_data[$n]"
    done
    return 0
}

pg_sql ()
{
    pg_run "$pgbin/psql" -X -At -v ON_ERROR_STOP=1 -h "$pgdir/$1" \
        -p "${pg_port[$1]}" -U postgres -d postgres -c "$2"
}

pg_conninfo ()
{
    printf 'host=%s port=%s user=postgres dbname=postgres' "$pgdir/$1" "${pg_port[$1]}"
}

_pg_cleanup ()
{
    local n
    pg_stop_all
    for n in "$pgdir"/*.log; do
        [ -f "$n" ] && cp "$n" "$tmp/pg-$(basename "$n")"
    done
    # A test's cleanup unmounts what it mounted under $pgdir first.
    [ -z "$pgdir" ] || rm -rf --one-file-system "$pgdir"
    return 0
}
