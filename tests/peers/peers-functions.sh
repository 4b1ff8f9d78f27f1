# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# peers-functions.sh: helpers of the coordinator-peer tests
# (tests/peers/test-*.sh), on top of tests/functions.sh: test
# certificates, and a scripted fake coordinator (fakecoord.py) run as a
# background Python scenario.
#
# A scenario is Python read from stdin by start_fake; it runs with
# `coord`, a FakeCoordinator listening on 127.0.0.1 (a random port,
# published in $tmp/port before the scenario starts), and the helpers
# of fakecoord.py.  The shell starts the peers once the port is known,
# then wait_fake collects the scenario's verdict.

source "$(dirname "${BASH_SOURCE[0]}")/../functions.sh"

PEERS_SRCDIR=$abs_top_srcdir/tests/peers
SNAPVOL_WRITER=$abs_top_builddir/client/snapvol-writer
pki=$tmp/pki
port_file=$tmp/port
fake_log=$tmp/fake.log
fake_pid=

requires openssl python3

# issue NAME CN [SAN] [CA]: a key and a certificate NAME.{key,crt} for
# CN, signed by CA (default: the test CA), with subjectAltName SAN.
# Keys are made mode 0600 whatever the umask: the programs refuse a key
# that group or others can read.
issue ()
{
    local name=$1 cn=$2 san=${3:-} ca=${4:-ca}
    local -a ext=()
    [ -z "$san" ] || ext=(-addext "subjectAltName=$san")
    (umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$pki/$name.key" -out "$pki/$name.csr" -subj "/O=snapvol test/CN=$cn" \
        "${ext[@]}" 2>/dev/null)
    chmod 600 "$pki/$name.key"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" \
        -CAcreateserial -days 2 -copy_extensions copy -out "$pki/$name.crt" 2>/dev/null
}

# make_certs: the test PKI in $pki: a CA; the coordinator's certificate
# for 127.0.0.1 and localhost; client certificates provider1, writer1,
# admin; a coordinator certificate for another name (wrongname); and a
# second CA (rogue) with a client certificate of its own (rogue).
make_certs ()
{
    mkdir -p "$pki"
    local c
    for c in ca rogue-ca; do
        (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$pki/$c.key" -out "$pki/$c.crt" -days 2 \
            -subj "/O=snapvol test/CN=$c" 2>/dev/null)
        chmod 600 "$pki/$c.key"
    done
    issue coord coordinator "IP:127.0.0.1,DNS:localhost"
    issue wrongname coordinator "DNS:elsewhere.example"
    issue provider1 provider1
    issue writer1 writer1
    issue admin admin
    issue rogue rogue "" rogue-ca
    [ -s "$pki/rogue.crt" ] || fail "could not make the test certificates"
}

# start_fake [ARGS...]: run the scenario read from stdin with a fake
# coordinator (certificate coord, heartbeat 500 ms unless the scenario
# says otherwise) and wait until it listens: $port is its port.
start_fake ()
{
    cat >"$tmp/scenario.py"
    rm -f "$port_file"
    PYTHONPATH=$PEERS_SRCDIR python3 -u - "$@" >>"$fake_log" 2>&1 <<PY &
import os, sys, traceback
from fakecoord import *
pki = "$pki"
tmp = "$tmp"
coord = FakeCoordinator(pki + "/coord.crt", pki + "/coord.key", pki + "/ca.crt",
                        heartbeat_ms=500)
with open("$port_file.new", "w") as f:
    f.write("%d\n" % coord.port)
os.rename("$port_file.new", "$port_file")
try:
    exec(compile(open("$tmp/scenario.py").read(), "scenario", "exec"))
except Exception:
    traceback.print_exc()
    print("SCENARIO FAILED", flush=True)
    os._exit(1)
print("SCENARIO PASSED", flush=True)
coord.close()
os._exit(0)
PY
    fake_pid=$!
    if [ -z "${_fake_cleanup:-}" ]; then
        cleanup_fn _stop_fake
        _fake_cleanup=1
    fi
    local i
    for (( i = 0; i < 100; i++ )); do
        [ -s "$port_file" ] && { port=$(cat "$port_file"); return 0; }
        kill -0 "$fake_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$fake_log" >&2
    fail "the fake coordinator did not start"
}

# wait_fake: wait for the scenario to end; fail the test if it failed.
wait_fake ()
{
    local status=0
    wait "$fake_pid" || status=$?
    fake_pid=
    cat "$fake_log"
    [ "$status" -eq 0 ] || fail "the scenario failed (status $status)"
}

_stop_fake ()
{
    if [ -n "$fake_pid" ]; then
        kill "$fake_pid" 2>/dev/null
        wait "$fake_pid" 2>/dev/null
    fi
    if [ "$test_status" -ne 0 ] && [ "$test_status" -ne 77 ] && [ -s "$fake_log" ]; then
        echo "--- $fake_log (last 60 lines) ---" >&2
        tail -n 60 "$fake_log" >&2
    fi
    return 0
}

# provider_args NAME: the plugin parameters of a provider link to the
# fake coordinator with certificate NAME.
provider_args ()
{
    echo "coordinator=127.0.0.1:$port tls-certificate=$pki/$1.crt" \
         "tls-key=$pki/$1.key tls-ca=$pki/ca.crt provider=$1" \
         "nbd-uri=nbd+unix:///?socket=$sock"
}

# stop_pid PID: end a background process the test started, if still there.
stop_pid ()
{
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# start_writer NAME [ARGS...]: run snapvol-writer with certificate NAME
# against the fake coordinator, logging to $tmp/writer.log; $writer_pid.
start_writer ()
{
    local name=$1
    shift
    "${ctl_env[@]}" "$SNAPVOL_WRITER" --coordinator "127.0.0.1:$port" \
        --cert "$pki/$name.crt" --key "$pki/$name.key" --ca "$pki/ca.crt" \
        --name "$name" "$@" >>"$tmp/writer.log" 2>&1 &
    writer_pid=$!
    echo "$writer_pid" >"$tmp/writer.pid"
    cleanup_fn stop_pid "$writer_pid"
}

# stop_writer: SIGTERM the writer; it must exit with status 0.
stop_writer ()
{
    local status=0
    kill -TERM "$writer_pid"
    wait "$writer_pid" || status=$?
    cat "$tmp/writer.log"
    assert_eq "$status" 0 "exit status of snapvol-writer after SIGTERM"
    ! grep -E 'AddressSanitizer|runtime error' "$tmp/writer.log" ||
        fail "the sanitizers reported errors"
}
