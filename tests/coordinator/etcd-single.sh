# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# etcd-single.sh: a single-member etcd with client TLS (client
# certificates required) for the tests of the coordinator's etcd client
# and its catalog on etcd (test-etcd-client.sh, test-catalog-etcd.sh).
# Sourced after functions.sh, which makes the PKI ($pki: the CA, the
# server certificate for IP:127.0.0.1, client certificates).
#
# start_etcd_single sets ETCD_TEST_ENDPOINT (https://127.0.0.1:PORT),
# ETCD_TEST_CA, ETCD_TEST_CERT, ETCD_TEST_KEY (exported for the test
# programs), and stops etcd when the test exits.  The test is skipped
# with a reason when /usr/bin/etcd is missing.

[ -x /usr/bin/etcd ] || skip "/usr/bin/etcd is not installed (Debian package etcd-server)"
requires curl

etcd_pid=

_etcd_stop ()
{
    if [ -n "$etcd_pid" ]; then
        kill "$etcd_pid" 2>/dev/null
        wait "$etcd_pid" 2>/dev/null
        etcd_pid=
    fi
}

start_etcd_single ()
{
    local cport pport i
    [ -s "$pki/ca.crt" ] || make_pki
    # etcd's JSON gateway calls etcd's own gRPC service with the
    # server's certificate as its client certificate: it needs both
    # uses.
    _cert "$pki" etcd "/O=snapvol-test/CN=etcd" \
        'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
    [ -s "$pki/etcd.crt" ] || fail "start_etcd_single: openssl failed"
    cport=$(free_port)
    pport=$(free_port)
    mkdir -p "$tmp/etcd"
    chmod 700 "$tmp/etcd"
    /usr/bin/etcd --name solo --data-dir "$tmp/etcd/data" \
        --listen-client-urls "https://127.0.0.1:$cport" \
        --advertise-client-urls "https://127.0.0.1:$cport" \
        --listen-peer-urls "http://127.0.0.1:$pport" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
        --initial-cluster "solo=http://127.0.0.1:$pport" \
        --cert-file "$pki/etcd.crt" --key-file "$pki/etcd.key" \
        --client-cert-auth --trusted-ca-file "$pki/ca.crt" \
        --heartbeat-interval 50 --election-timeout 500 \
        >"$tmp/etcd/etcd.log" 2>&1 &
    etcd_pid=$!
    cleanup_fn _etcd_stop
    export ETCD_TEST_ENDPOINT="https://127.0.0.1:$cport"
    export ETCD_TEST_CA="$pki/ca.crt"
    export ETCD_TEST_CERT="$pki/ops.crt"
    export ETCD_TEST_KEY="$pki/ops.key"
    # Ready when /health answers true (bounded: 30 s).
    for (( i = 0; i < 300; i++ )); do
        if curl -s --max-time 2 --cacert "$ETCD_TEST_CA" \
                --cert "$ETCD_TEST_CERT" --key "$ETCD_TEST_KEY" \
                "$ETCD_TEST_ENDPOINT/health" 2>/dev/null | grep -q '"health":"true"'; then
            return 0
        fi
        kill -0 "$etcd_pid" 2>/dev/null || { cat "$tmp/etcd/etcd.log" >&2; fail "etcd exited at start"; }
        sleep 0.1
    done
    cat "$tmp/etcd/etcd.log" >&2
    fail "etcd did not become healthy within 30 s"
}

# run_etcd_program PROGRAM: run a test program against the started etcd.
run_etcd_program ()
{
    local prog=$1
    [ -x "$prog" ] || fail "not built: $prog"
    "${coord_env[@]}" CMOCKA_MESSAGE_OUTPUT=stdout "$prog"
}
