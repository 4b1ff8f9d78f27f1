# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# functions.sh: helpers sourced by the coordinator's integration tests
# (tests/coordinator/test-coord-*.sh), on top of tests/functions.sh
# (requires, skip, fail, cleanup_fn, $tmp, assert_eq).
#
# Each test makes its own PKI with openssl (a CA, the coordinator's
# certificate for IP:127.0.0.1 and DNS:localhost, one client
# certificate per role, one with no role and one from another CA),
# writes a configuration for a random free port on 127.0.0.1, and
# starts the real daemon; the peers are tests/coordinator/peer.py over
# real TLS.
#
# Environment (set by coordinator/Makefile.am, or by hand):
#   abs_top_builddir, abs_top_srcdir, SANITIZE as for tests/functions.sh
#   COORDINATOR       the snapvol-coordinator binary

: "${abs_top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${abs_top_builddir:=$abs_top_srcdir}"
source "$abs_top_srcdir/tests/functions.sh"

: "${COORDINATOR:=$abs_top_builddir/coordinator/snapvol-coordinator}"
PEER_PY=$abs_top_srcdir/tests/coordinator/peer.py

requires openssl timeout
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed"
[ -x "$COORDINATOR" ] || skip "the coordinator is not built: $COORDINATOR"

pki=$tmp/pki
conf=$tmp/coordinator.conf
catalog=$tmp/catalog.db
coord_log=$tmp/coordinator.log
coord_pid=
port=

# With sanitizers, leaks and errors make the daemon fail (checked by
# stop_coordinator and check_coord_log); otherwise glibc checks the heap.
coord_env=(env)
if [ "$SANITIZE" = yes ]; then
    coord_env+=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
elif [ -f "$malloc_debug" ]; then
    coord_env+=(LD_PRELOAD="$malloc_debug" MALLOC_CHECK_=3)
fi

# _cert DIR NAME SUBJECT EXT [CA]: a P-256 key and a certificate for
# SUBJECT signed by CA (default: the test CA), with extensions EXT.
# Keys are made mode 0600 whatever the umask (openssl's mode for a new
# key depends on its version, and an existing file keeps its own): the
# programs refuse a key that group or others can read.
_cert ()
{
    local dir=$1 name=$2 subject=$3 ext=$4 ca=${5:-$pki/ca}
    (umask 077 && openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "$subject" 2>/dev/null)
    chmod 600 "$dir/$name.key"
    printf '%b' "$ext" >"$dir/$name.ext"
    openssl x509 -req -in "$dir/$name.csr" -CA "$ca.crt" -CAkey "$ca.key" \
        -CAcreateserial -days 2 -out "$dir/$name.crt" \
        -extfile "$dir/$name.ext" 2>/dev/null
}

_ca ()
{
    local base=$1 subject=$2
    (umask 077 && openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$base.key" -out "$base.crt" -days 2 -subj "$subject" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null)
    chmod 600 "$base.key"
}

# make_pki: every certificate the tests use, in $pki:
#   ca                  the coordinator's CA
#   server              CN=coordinator, for IP:127.0.0.1 and DNS:localhost
#   storage-a storage-b providers         writer-db writer-logs writers
#   backup              requester          ops     admin
#   nobody              no role            intruder CN=backup from another CA
make_pki ()
{
    local client='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
    local n
    mkdir -p "$pki"
    _ca "$pki/ca" "/O=snapvol-test/CN=snapvol test CA"
    _ca "$pki/other-ca" "/O=elsewhere/CN=another CA"
    _cert "$pki" server "/O=snapvol-test/CN=coordinator" \
        'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
    for n in storage-a storage-b writer-db writer-logs backup ops nobody; do
        _cert "$pki" "$n" "/O=snapvol-test/CN=$n" "$client"
    done
    _cert "$pki" intruder "/O=snapvol-test/CN=backup" "$client" "$pki/other-ca"
    [ -s "$pki/intruder.crt" ] || fail "make_pki: openssl failed"
}

# free_port: a TCP port on 127.0.0.1 nobody listens on, below the
# kernel's ephemeral range (so that no outgoing connection of a test
# running beside this one is given it before the test binds it), and
# not given before in this test (listed in $tmp/ports).
free_port ()
{
    /usr/bin/python3 - "$tmp/ports" <<'PY'
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
try:
    given = set(int(p) for p in open(sys.argv[1]).read().split())
except FileNotFoundError:
    given = set()
for _ in range(1000):
    port = random.randrange(10000, min(lo, 32768))
    if port in given:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    with open(sys.argv[1], "a") as f:
        f.write("%d\n" % port)
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port found below %d" % lo)
PY
}

# write_conf [EXTRA-LINES]: the usual configuration, plus EXTRA-LINES.
# $conf_hold_timeout, $conf_freeze_window and $conf_heartbeat, if set,
# replace the hold-timeout (5s), freeze-window (20s) and heartbeat (1s);
# the first two are also the most a requester may ask for.
write_conf ()
{
    [ -n "$port" ] || port=$(free_port)
    cat >"$conf" <<EOF
# written by $test_name
listen 127.0.0.1 port $port
certificate $pki/server.crt
key $pki/server.key
ca $pki/ca.crt
catalog $catalog
pid-file $tmp/coordinator.pid
hold-timeout ${conf_hold_timeout:-5s}
freeze-window ${conf_freeze_window:-20s}
heartbeat ${conf_heartbeat:-1s}
allow provider cn "storage-*"
allow writer cn "writer-*"
allow requester cn backup
allow admin subject "CN=ops,O=snapvol-test"
${1:-}
EOF
}

_coord_cleanup ()
{
    if [ -n "$coord_pid" ]; then
        kill -KILL "$coord_pid" 2>/dev/null
        wait "$coord_pid" 2>/dev/null
    fi
    if [ "$test_status" -ne 0 ] && [ "$test_status" -ne 77 ] && [ -s "$coord_log" ]; then
        echo "--- $coord_log (last 80 lines) ---" >&2
        tail -n 80 "$coord_log" >&2
    fi
    return 0
}
cleanup_fn _coord_cleanup

# start_coordinator: run the daemon in the foreground on $conf and wait
# until it serves.  With $coord_quiet set, without -v (no debug lines:
# a flood of connections would log two each).
start_coordinator ()
{
    local i verbose=-v
    [ -z "${coord_quiet:-}" ] || verbose=
    [ -z "$coord_pid" ] || fail "start_coordinator: already running"
    echo "+ $COORDINATOR -f $verbose -c $conf" >>"$coord_log"
    "${coord_env[@]}" "$COORDINATOR" -f $verbose -c "$conf" >>"$coord_log" 2>&1 &
    coord_pid=$!
    for (( i = 0; i < 300; i++ )); do
        if ! kill -0 "$coord_pid" 2>/dev/null; then
            wait "$coord_pid" || :
            coord_pid=
            fail "the coordinator exited during startup"
        fi
        if [ -s "$tmp/coordinator.pid" ] &&
           [ "$(cat "$tmp/coordinator.pid")" = "$coord_pid" ]; then
            return 0
        fi
        sleep 0.05
    done
    fail "the coordinator did not start within 15 s"
}

# stop_coordinator: SIGTERM; it must exit with status 0 (with
# sanitizers: without a leak) and remove its pid file.
stop_coordinator ()
{
    local status=0
    [ -n "$coord_pid" ] || return 0
    kill -TERM "$coord_pid"
    timeout 20 tail -s 0.1 --pid="$coord_pid" -f /dev/null || fail "the coordinator did not stop"
    wait "$coord_pid" || status=$?
    coord_pid=
    [ "$status" -eq 0 ] || fail "the coordinator exited with status $status"
    [ ! -e "$tmp/coordinator.pid" ] || fail "the pid file was left behind"
    rm -f "$tmp/coordinator.pid"
    check_coord_log
}

# kill9_coordinator: as a crash would.
kill9_coordinator ()
{
    [ -n "$coord_pid" ] || return 0
    kill -KILL "$coord_pid"
    wait "$coord_pid" || :
    coord_pid=
    rm -f "$tmp/coordinator.pid"
}

check_coord_log ()
{
    if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$coord_log" >&2; then
        fail "the sanitizers reported errors (see above)"
    fi
}

# peer_tls WHO: the TLS options of peer.py for the certificate WHO.
peer_tls ()
{
    echo --ca "$pki/ca.crt" --cert "$pki/$1.crt" --key "$pki/$1.key" --port "$port"
}

# rpc WHO METHOD [PARAMS-JSON]: one request with WHO's certificate;
# prints the answer line.
rpc ()
{
    local who=$1
    shift
    # shellcheck disable=SC2046
    /usr/bin/python3 "$PEER_PY" $(peer_tls "$who") call "$@"
}

# raw_session WHO [QUIET-SECONDS]: send stdin as is, print the lines
# received, then CLOSED or OPEN.
raw_session ()
{
    # shellcheck disable=SC2046
    /usr/bin/python3 "$PEER_PY" $(peer_tls "$1") raw --quiet-time "${2:-2}"
}

# start_peer NAME WHO MODE ARGS...: run a fake provider or writer NAME
# with WHO's certificate in the background; its events go to
# $tmp/NAME.events.  Waits until it has registered.
declare -A peer_pids
start_peer ()
{
    local name=$1 who=$2 mode=$3 i
    shift 3
    rm -f "$tmp/$name.ready"
    # shellcheck disable=SC2046
    /usr/bin/python3 "$PEER_PY" $(peer_tls "$who") "$mode" --name "$name" \
        --events "$tmp/$name.events" --ready "$tmp/$name.ready" "$@" \
        >>"$tmp/$name.out" 2>&1 &
    peer_pids[$name]=$!
    for (( i = 0; i < 200; i++ )); do
        [ ! -e "$tmp/$name.ready" ] || return 0
        kill -0 "${peer_pids[$name]}" 2>/dev/null ||
            fail "peer $name exited: $(cat "$tmp/$name.out")"
        sleep 0.05
    done
    fail "peer $name did not register within 10 s"
}

stop_peer ()
{
    local pid=${peer_pids[$1]:-}
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || :
    wait "$pid" 2>/dev/null || :
    unset "peer_pids[$1]"
}

_peers_cleanup ()
{
    local name
    for name in "${!peer_pids[@]}"; do
        stop_peer "$name"
    done
}
cleanup_fn _peers_cleanup
cleanup_fn stop_flood

# start_fakecoord NAME ARGS...: tests/coordinator/fakecoord.py serving
# with the coordinator's certificate on a free port (in
# fake_port[NAME]), the ARGS given (--follower LEADER|none, --term N,
# --advertise ADDRESS), its events in $tmp/NAME.events and its control
# socket $tmp/NAME.call; waits until it accepts connections.
FAKECOORD_PY=$abs_top_srcdir/tests/coordinator/fakecoord.py
declare -A fake_port
start_fakecoord ()
{
    local name=$1 i
    shift
    fake_port[$name]=$(free_port)
    /usr/bin/python3 "$FAKECOORD_PY" serve --ca "$pki/ca.crt" \
        --cert "$pki/server.crt" --key "$pki/server.key" \
        --port "${fake_port[$name]}" --events "$tmp/$name.events" \
        --control "$tmp/$name.call" "$@" >>"$tmp/$name.out" 2>&1 &
    peer_pids[$name]=$!
    for (( i = 0; i < 200; i++ )); do
        [ ! -S "$tmp/$name.call" ] || return 0
        kill -0 "${peer_pids[$name]}" 2>/dev/null ||
            fail "fake coordinator $name exited: $(cat "$tmp/$name.out")"
        sleep 0.05
    done
    fail "fake coordinator $name did not start within 10 s"
}

# fake_call NAME METHOD [PARAMS-JSON]: call the peer registered with the
# fake coordinator NAME; prints its response line.
fake_call ()
{
    local name=$1
    shift
    /usr/bin/python3 "$FAKECOORD_PY" call "$tmp/$name.call" "$@"
}

# fake_events NAME EVENT: the events EVENT of the fake coordinator NAME,
# as compact JSON lines without their time.
fake_events ()
{
    /usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == sys.argv[2]:
        del e["t"]
        print(json.dumps(e, separators=(",", ":"), sort_keys=True))' "$tmp/$1.events" "$2"
}

# calls NAME: the methods NAME was called with, one per line.
calls ()
{
    /usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "call":
        print(e["method"])' "$tmp/$1.events"
}

# calls_with NAME FILTER: the calls of NAME as "method param-value",
# where FILTER names the parameter to show ("set_id", "id", ...).
calls_with ()
{
    /usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "call":
        print(e["method"], e["params"].get(sys.argv[2], "-"))' "$tmp/$1.events" "$2"
}

# wait_for COMMAND...: retry COMMAND for up to 10 s.
wait_for ()
{
    local i
    for (( i = 0; i < 100; i++ )); do
        if "$@"; then return 0; fi
        sleep 0.1
    done
    fail "timed out waiting for: $*"
}

# jget JSON EXPR: evaluate the Python expression EXPR over j = JSON.
jget ()
{
    /usr/bin/python3 -c 'import json, sys
j = json.loads(sys.argv[1])
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# stop_flood: end the flood.py started as $flood_pid.
flood_pid=
stop_flood ()
{
    [ -n "$flood_pid" ] || return 0
    kill -TERM "$flood_pid" 2>/dev/null || :
    wait "$flood_pid" 2>/dev/null || :
    flood_pid=
}

# start_flood_coordinator: raise the descriptor limit for a flood's
# 2000 sockets (skip the test if it cannot be) and start a quiet
# coordinator (no per-connection debug lines).
start_flood_coordinator ()
{
    ulimit -n 8192 2>/dev/null || skip "cannot raise RLIMIT_NOFILE to 8192"
    coord_quiet=1
    write_conf
    start_coordinator
}

# flood_probe SOURCES: with a provider storage-a registered, hold 2000
# silent TCP connections open from SOURCES (comma-separated addresses
# of 127.0.0.0/8) with tests/coordinator/flood.py, reopening each one
# the coordinator closes, and meanwhile run 100 rounds of a provider
# registration and a `snapvolctl set create` from 127.0.0.1.  Fails
# unless every one of each succeeds, at least 98 of 100 within 1 s and
# none later than 3 s, and storage-a stays connected.  (Without the
# flood protection none succeeds within 1 s; the two rounds of slack
# are for a CPU shared with other tests: a round is a whole snapvolctl
# process and TLS handshake, which a loaded 2-core machine can delay
# past 1 s on its own.)  The flood's summary is in $tmp/flood.out, the
# probe's in $tmp/probe.out.  Start the coordinator with $coord_quiet
# set.
# probe_within KIND: flood_probe's rule for the probe's line of KIND.
probe_within ()
{
    local line
    line=$(grep "^$1: " "$tmp/probe.out") || fail "$1: no summary in the probe's output"
    [[ $line =~ ^"$1: 100 of 100 succeeded, "(9[89]|100)" within 1 s, slowest "([0-2]\.[0-9]+|3\.000)" s"$ ]] ||
        fail "$line: $(grep -E 'FAILED|SLOW' "$tmp/probe.out" | head -5)"
}

flood_probe ()
{
    local flood_py=$abs_top_srcdir/tests/coordinator/flood.py
    local snapvolctl=$abs_top_builddir/client/snapvolctl
    [ -x "$snapvolctl" ] || skip "snapvolctl is not built: $snapvolctl"
    start_peer storage-a storage-a provider --volume db:1048576
    # At a lower priority: a real flood does not run on the coordinator's CPUs.
    nice -n 10 /usr/bin/python3 "$flood_py" hold --port "$port" --source "$1" \
        --count 2000 --seconds 100 --ready "$tmp/flood.ready" >"$tmp/flood.out" 2>&1 &
    flood_pid=$!
    wait_for test -e "$tmp/flood.ready"
    /usr/bin/python3 "$flood_py" probe --port "$port" --ca "$pki/ca.crt" \
        --pki "$pki" --snapvolctl "$snapvolctl" --rounds 100 --limit 1 \
        >"$tmp/probe.out" 2>&1 || fail "the probe failed: $(tail "$tmp/probe.out")"
    stop_flood
    cat "$tmp/flood.out"
    grep -v '^round' "$tmp/probe.out" || :
    probe_within "registrations"
    probe_within "set create"
    grep -Eq '^opened [0-9]+, closed by the coordinator [0-9]{3,}$' "$tmp/flood.out" ||
        fail "flood: $(cat "$tmp/flood.out")"
    ! grep -q '"disconnected"' "$tmp/storage-a.events" || fail "storage-a was disconnected"
}

make_pki
