# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# etcd-functions.sh: a 3-member etcd cluster on 127.0.0.1 for the tests
# of coordinators on etcd ('catalog etcd'), and coordinators that use
# it.  Sourced after tests/coordinator/functions.sh (which gives
# $tmp, $pki, free_port, rpc, fail, skip, cleanup_fn).
#
# The cluster has its own CA (in $tmp/etcd-pki): every member presents
# a certificate for IP:127.0.0.1 to clients and to its peers, and
# requires one signed by that CA from both (client and peer
# certificate authentication).  Ports are free ports, data directories
# are under $tmp/etcd, members are stopped when the test exits.  The
# test is skipped with a reason when /usr/bin/etcd is missing.
#
#   etcd_start_cluster        start members 0, 1, 2; wait until healthy
#   etcd_kill_member N        kill -9 member N
#   etcd_start_member N       start member N again (its data kept)
#   etcd_wait_healthy N...    wait until members N... answer /health
#   etcdctl_test ARGS...      etcdctl (v3) against the whole cluster
#   $etcd_endpoints           https://127.0.0.1:P0,...,P2
#   $etcd_ca $etcd_cert $etcd_key   a client certificate for etcd
#
#   ecoord_conf NAME [EXTRA]  a configuration for coordinator NAME on
#                             its own port with 'catalog etcd'
#   ecoord_start NAME         start coordinator NAME (foreground, -v)
#   ecoord_kill NAME [SIG]    send SIG (default KILL) to NAME
#   ecoord_status NAME        its coordinator.status result (JSON)
#   ecoord_wait_leader NAME...  wait until one of NAME... leads; prints it
#   ${ecoord_port[NAME]} ${ecoord_pid[NAME]} $tmp/NAME.log

[ -x /usr/bin/etcd ] || skip "/usr/bin/etcd is not installed (Debian package etcd-server)"
[ -x /usr/bin/etcdctl ] || skip "/usr/bin/etcdctl is not installed (Debian package etcd-client)"

etcd_pki=$tmp/etcd-pki
etcd_names=(m0 m1 m2)
declare -a etcd_cport etcd_pport etcd_pid
etcd_endpoints=
etcd_ca=$etcd_pki/ca.crt
etcd_cert=$etcd_pki/client.crt
etcd_key=$etcd_pki/client.key
declare -A ecoord_port ecoord_pid

_etcd_cert ()
{
    local name=$1 subject=$2 ext=$3
    (umask 077 && openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$etcd_pki/$name.key" -out "$etcd_pki/$name.csr" -subj "$subject" 2>/dev/null)
    chmod 600 "$etcd_pki/$name.key"
    printf '%b' "$ext" >"$etcd_pki/$name.ext"
    openssl x509 -req -in "$etcd_pki/$name.csr" -CA "$etcd_pki/ca.crt" \
        -CAkey "$etcd_pki/ca.key" -CAcreateserial -days 2 \
        -out "$etcd_pki/$name.crt" -extfile "$etcd_pki/$name.ext" 2>/dev/null ||
        fail "openssl: cannot make the etcd certificate $name"
}

# The CA, one certificate per member (server and client use: a member
# dials its peers with it, and its JSON gateway dials its own gRPC
# service), and the coordinators' client certificate.
_etcd_pki ()
{
    local i
    mkdir -p "$etcd_pki"
    (umask 077 && openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$etcd_pki/ca.key" -out "$etcd_pki/ca.crt" -days 2 \
        -subj "/O=snapvol-test/CN=etcd test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null) ||
        fail "openssl: cannot make the etcd CA"
    for i in 0 1 2; do
        _etcd_cert "${etcd_names[i]}" "/O=snapvol-test/CN=etcd-${etcd_names[i]}" \
            'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
    done
    _etcd_cert client "/O=snapvol-test/CN=coordinator" \
        'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
}

_etcd_initial_cluster ()
{
    local i out=
    for i in 0 1 2; do
        out+="${out:+,}${etcd_names[i]}=https://127.0.0.1:${etcd_pport[i]}"
    done
    echo "$out"
}

# _etcd_run N STATE: start member N, in the background.
_etcd_run ()
{
    local i=$1 state=$2 name=${etcd_names[$1]}
    mkdir -p "$tmp/etcd"
    chmod 700 "$tmp/etcd"
    /usr/bin/etcd --name "$name" --data-dir "$tmp/etcd/$name" \
        --listen-client-urls "https://127.0.0.1:${etcd_cport[i]}" \
        --advertise-client-urls "https://127.0.0.1:${etcd_cport[i]}" \
        --listen-peer-urls "https://127.0.0.1:${etcd_pport[i]}" \
        --initial-advertise-peer-urls "https://127.0.0.1:${etcd_pport[i]}" \
        --initial-cluster "$(_etcd_initial_cluster)" \
        --initial-cluster-state "$state" --initial-cluster-token snapvol-test \
        --cert-file "$etcd_pki/$name.crt" --key-file "$etcd_pki/$name.key" \
        --client-cert-auth --trusted-ca-file "$etcd_ca" \
        --peer-cert-file "$etcd_pki/$name.crt" --peer-key-file "$etcd_pki/$name.key" \
        --peer-client-cert-auth --peer-trusted-ca-file "$etcd_ca" \
        --heartbeat-interval 50 --election-timeout 500 \
        >>"$tmp/etcd/$name.log" 2>&1 &
    etcd_pid[i]=$!
}

_etcd_stop_all ()
{
    local i
    for i in 0 1 2; do
        if [ -n "${etcd_pid[i]:-}" ]; then
            kill -KILL "${etcd_pid[i]}" 2>/dev/null
            wait "${etcd_pid[i]}" 2>/dev/null
            etcd_pid[i]=
        fi
    done
    return 0
}

_etcd_health ()
{
    curl -s --max-time 2 --cacert "$etcd_ca" --cert "$etcd_cert" --key "$etcd_key" \
        "https://127.0.0.1:${etcd_cport[$1]}/health" 2>/dev/null | grep -q '"health":"true"'
}

# etcd_wait_healthy N...: bounded, 30 s.
etcd_wait_healthy ()
{
    local i n ok
    for (( n = 0; n < 300; n++ )); do
        ok=1
        for i in "$@"; do
            _etcd_health "$i" || ok=
        done
        [ -z "$ok" ] || return 0
        sleep 0.1
    done
    for i in "$@"; do
        tail -n 20 "$tmp/etcd/${etcd_names[i]}.log" >&2
    done
    fail "etcd members $* did not become healthy within 30 s"
}

etcd_start_cluster ()
{
    local i
    requires curl
    _etcd_pki
    for i in 0 1 2; do
        etcd_cport[i]=$(free_port)
        etcd_pport[i]=$(free_port)
    done
    etcd_endpoints=
    for i in 0 1 2; do
        etcd_endpoints+="${etcd_endpoints:+,}https://127.0.0.1:${etcd_cport[i]}"
    done
    cleanup_fn _etcd_stop_all
    for i in 0 1 2; do
        _etcd_run "$i" new
    done
    etcd_wait_healthy 0 1 2
}

etcd_kill_member ()
{
    [ -n "${etcd_pid[$1]:-}" ] || return 0
    kill -KILL "${etcd_pid[$1]}"
    wait "${etcd_pid[$1]}" 2>/dev/null || :
    etcd_pid[$1]=
}

etcd_start_member ()
{
    [ -z "${etcd_pid[$1]:-}" ] || fail "etcd member $1 is running"
    _etcd_run "$1" existing
}

etcdctl_test ()
{
    ETCDCTL_API=3 /usr/bin/etcdctl --endpoints "$etcd_endpoints" \
        --cacert "$etcd_ca" --cert "$etcd_cert" --key "$etcd_key" \
        --command-timeout 5s "$@"
}

# ecoord_start_two: the 3-member cluster, and coordinators a and b
# configured as ecoord_conf makes them and started on it.
ecoord_start_two ()
{
    etcd_start_cluster
    ecoord_conf a
    ecoord_conf b
    ecoord_start a
    ecoord_start b
}

# ecoord_conf NAME [EXTRA-LINES]: $tmp/NAME.conf, as write_conf's but
# on NAME's own port, with its own pid file and 'catalog etcd'.
ecoord_conf ()
{
    local name=$1
    [ -n "${ecoord_port[$name]:-}" ] || ecoord_port[$name]=$(free_port)
    cat >"$tmp/$name.conf" <<EOF
# written by $test_name for coordinator $name
listen 127.0.0.1 port ${ecoord_port[$name]}
certificate $pki/server.crt
key $pki/server.key
ca $pki/ca.crt
catalog etcd
etcd-endpoints $etcd_endpoints
etcd-ca $etcd_ca
etcd-certificate $etcd_cert
etcd-key $etcd_key
etcd-prefix /snapvol-test
pid-file $tmp/$name.pid
hold-timeout 5s
freeze-window 20s
heartbeat 1s
allow provider cn "storage-*"
allow writer cn "writer-*"
allow requester cn backup
allow admin subject "CN=ops,O=snapvol-test"
${2:-}
EOF
}

_ecoord_cleanup ()
{
    local name
    for name in "${!ecoord_pid[@]}"; do
        [ -n "${ecoord_pid[$name]}" ] || continue
        kill -KILL "${ecoord_pid[$name]}" 2>/dev/null
        kill -CONT "${ecoord_pid[$name]}" 2>/dev/null
        wait "${ecoord_pid[$name]}" 2>/dev/null
        if [ "$test_status" -ne 0 ] && [ "$test_status" -ne 77 ]; then
            echo "--- $tmp/$name.log (last 40 lines) ---" >&2
            tail -n 40 "$tmp/$name.log" >&2
        fi
    done
    return 0
}
cleanup_fn _ecoord_cleanup

# ecoord_start NAME: start coordinator NAME (written by ecoord_conf)
# and wait until it listens (its pid file is written then).
ecoord_start ()
{
    local name=$1 i
    rm -f "$tmp/$name.pid"
    echo "+ $COORDINATOR -f -v -c $tmp/$name.conf" >>"$tmp/$name.log"
    "${coord_env[@]}" "$COORDINATOR" -f -v -c "$tmp/$name.conf" >>"$tmp/$name.log" 2>&1 &
    ecoord_pid[$name]=$!
    for (( i = 0; i < 300; i++ )); do
        kill -0 "${ecoord_pid[$name]}" 2>/dev/null ||
            fail "coordinator $name exited during startup"
        if [ -s "$tmp/$name.pid" ] &&
           [ "$(cat "$tmp/$name.pid")" = "${ecoord_pid[$name]}" ]; then
            return 0
        fi
        sleep 0.05
    done
    fail "coordinator $name did not start within 15 s"
}

ecoord_kill ()
{
    local name=$1 sig=${2:-KILL}
    kill -"$sig" "${ecoord_pid[$name]}"
    if [ "$sig" = KILL ]; then
        wait "${ecoord_pid[$name]}" 2>/dev/null || :
        ecoord_pid[$name]=
    fi
}

# ecoord_call NAME WHO METHOD [PARAMS]: one request to coordinator NAME.
ecoord_call ()
{
    local name=$1
    shift
    port=${ecoord_port[$name]} rpc "$@"
}

# ecoord_status NAME: the result of coordinator.status (or the answer).
ecoord_status ()
{
    local out
    out=$(ecoord_call "$1" backup coordinator.status) || { echo "$out"; return 1; }
    jget "$out" 'j.get("result", j)'
}

# ecoord_role NAME: leader, follower, or "-" when it does not answer.
ecoord_role ()
{
    local s
    s=$(ecoord_status "$1" 2>/dev/null) || { echo -; return 0; }
    jget "$s" 'j.get("role", "-")'
}

# ecoord_wait_leader NAME...: wait (bounded: 20 s) until one of NAME...
# leads; prints its name.
ecoord_wait_leader ()
{
    local name i
    for (( i = 0; i < 100; i++ )); do
        for name in "$@"; do
            if [ "$(ecoord_role "$name")" = leader ]; then
                echo "$name"
                return 0
            fi
        done
        sleep 0.2
    done
    fail "no leader among $* within 20 s"
}

# ecoord_other NAME: the other of coordinators a and b.
ecoord_other ()
{
    if [ "$1" = a ]; then echo b; else echo a; fi
}

# ecoord_provider NAME WHO ARGS...: a fake provider that finds the
# leader among coordinators a and b (peer.py --ports), reconnecting
# when it goes; waits until registered.
ecoord_provider ()
{
    local name=$1 who=$2
    shift 2
    port=${ecoord_port[a]} start_peer "$name" "$who" provider \
        --ports "${ecoord_port[a]},${ecoord_port[b]}" --reconnect "$@"
}

# ecoord_set_create NAME PARAMS: set.create on coordinator NAME; prints
# the answer line.
ecoord_set_create ()
{
    ecoord_call "$1" backup set.create "$2"
}
