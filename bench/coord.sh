# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# coord.sh: the coordinator case of scripts/bench, sourced after
# lib.sh and cases.sh.  Snapshot sets through snapvol-coordinator over
# mutual TLS on 127.0.0.1, timed by a requester holding one connection
# (bench/sv-coordset): one provider with 0, 10 and 100 no-op writers
# (snapvol-writer without hooks: they answer every call at once), two
# providers with one volume each and no writer, two providers with 16
# volumes and 10 no-op writers, and the scale of issue 19: 8 providers
# with 128 volumes each and 100 no-op writers hosted by one
# bench/sv-writers process, every set taking all 1,024 volumes.
# Records coord.<case> as the JSON of sv-coordset and coord.status.
#
# The scale case runs on separate hosts when it can: as root, with
# network namespaces joined by one bridge (veth pairs), as
# tests/e2e/netns-functions.sh makes them for the tests: the
# coordinator on host c (10.77.0.1), provider storage-sN on host sN
# (10.77.0.100+N), the writers' process on host w (10.77.0.20), the
# requester on host k (10.77.0.30).  Every connection to the
# coordinator then crosses the bridge; the providers still serve NBD on
# Unix sockets under the work directory, which no set uses.  Elsewhere
# (or with scripts/bench --loopback: $bench_loopback) it runs on
# 127.0.0.1 as the other cases do, and records why
# (coord.p8v128w100.topology "hosts" or "loopback", and
# coord.p8v128w100.note).
# shellcheck shell=bash

# The scale case's hosts and their addresses (see above).
declare -A coord_host_addr=([c]=10.77.0.1 [w]=10.77.0.20 [k]=10.77.0.30)
for (( coord_i = 0; coord_i < 8; coord_i++ )); do
    coord_host_addr[s$coord_i]=10.77.0.$(( 100 + coord_i ))
done
unset coord_i
# coord_on_c, coord_on_w, coord_on_k: the command prefixes that run a
# program on the coordinator's, the writers' and the requester's host
# (empty on loopback); coord_addr: the coordinator's address.
coord_on_c=() coord_on_w=() coord_on_k=()
coord_addr=127.0.0.1

case_coordinator ()
{
    [ -x "$bench_build/coordinator/snapvol-coordinator" ] ||
        sv_die "$bench_build/coordinator/snapvol-coordinator is not built"
    coord_measure
}

# coord_cert NAME CN [EXT]: a P-256 key and certificate for CN, signed
# by the bench CA, with extensions EXT (default: a client certificate).
coord_cert ()
{
    local pki=$bench_work/pki
    local ext=${3:-'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'}
    (umask 077 && openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/O=snapvol-bench/CN=$2" 2>/dev/null)
    chmod 600 "$pki/$1.key"     # the programs refuse a key others can read
    printf '%b' "$ext" >"$pki/$1.ext"
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
        -CAcreateserial -days 2 -out "$pki/$1.crt" -extfile "$pki/$1.ext" 2>/dev/null ||
        sv_die "openssl could not make the certificate $1"
}

# coord_wait WHAT COUNT: wait until COUNT peers of kind WHAT (provider,
# writer) are connected to the coordinator.
coord_wait ()
{
    local i n=0
    for (( i = 0; i < 600; i++ )); do
        n=$("${coord_on_k[@]}" "$bench_ctl" "${coord_ctl[@]}" --json "$1" list 2>/dev/null |
            jq '[.[] | select(.connected)] | length' 2>/dev/null) || n=0
        [ "${n:-0}" -ge "$2" ] && return 0
        sleep 0.1
    done
    sv_die "only $n of $2 ${1}s registered with the coordinator within 60 s"
}

# coord_writers FROM TO: start the no-op writers bw-FROM..bw-TO, each
# registered for storage-a/v0 with a certificate of its own (the
# coordinator binds a writer certificate to one writer name).
coord_writers ()
{
    local i
    for (( i = $1; i <= $2; i++ )); do
        [ -f "$bench_work/pki/bw-$i.crt" ] || coord_cert "bw-$i" "bw-$i"
        srv_adopt_bg "writer$i" "$bench_build/client/snapvol-writer" \
            --coordinator "127.0.0.1:$coord_port" --cert "$bench_work/pki/bw-$i.crt" \
            --key "$bench_work/pki/bw-$i.key" --ca "$bench_work/pki/ca.crt" \
            --name "bw-$i" --volume storage-a/v0
    done
}

# coordset KEY VOLUMES: time the sets of VOLUMES (comma-separated).
coordset ()
{
    local n=$(( bench_quick ? 30 : 200 ))
    local -a cmd=(python3 "$sv_top/bench/sv-coordset" --port "$coord_port"
                  --ca "$bench_work/pki/ca.crt" --cert "$bench_work/pki/backup.crt"
                  --key "$bench_work/pki/backup.key" --volumes "$2" --samples "$n")
    bench_log "coordinated sets: $1"
    res_cmd "cmd.coord.$1" "${cmd[@]}"
    res_set "coord.$1" "$("${cmd[@]}")"
}

coord_measure ()
{
    local pki=$bench_work/pki p i vols16=''
    local -a vols
    mkdir -p "$pki"
    (umask 077 && openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 2 -subj "/O=snapvol-bench/CN=bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign" 2>/dev/null) ||
        sv_die "openssl could not make the bench CA"
    # For 127.0.0.1, and for host c's address of the scale case.
    coord_cert server coordinator \
        "basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\nsubjectAltName=IP:127.0.0.1,IP:${coord_host_addr[c]}\\n"
    for p in storage-a storage-b backup; do
        coord_cert "$p" "$p"
    done
    coord_port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
    coord_start coordinator "$bench_work/catalog.db"
    for p in storage-a storage-b; do
        vols=()
        for (( i = 0; i < 8; i++ )); do
            vols+=("volume=v$i:1G")
            vols16+=${vols16:+,}$p/v$i
        done
        srv_start "$p" "$(uri "$bench_work/$p.sock" v0)" \
            nbdkit -f --exit-with-parent -U "$bench_work/$p.sock" "$bench_plugin" \
            dir="$bench_work/$p" "${vols[@]}" \
            coordinator="127.0.0.1:$coord_port" tls-certificate="$pki/$p.crt" \
            tls-key="$pki/$p.key" tls-ca="$pki/ca.crt" provider="$p" \
            nbd-uri="nbd+unix:///?socket=$bench_work/$p.sock"
    done
    coord_wait provider 2

    coordset w0 storage-a/v0
    coordset p2w0 storage-a/v0,storage-b/v0
    coord_writers 1 10
    coord_wait writer 10
    coordset w10 storage-a/v0
    coordset p2v16w10 "$vols16"
    coord_writers 11 100
    coord_wait writer 100
    coordset w100 storage-a/v0

    for (( i = 1; i <= 100; i++ )); do
        srv_stop "writer$i"
    done
    srv_stop storage-a
    srv_stop storage-b
    rm -rf "$bench_work/storage-a" "$bench_work/storage-b"
    coord_scale
    srv_stop coordinator
    coord_hosts_down
    res_set coord.status measured
}

# coord_start KEY CATALOG: write the coordinator's configuration
# (listening on $coord_addr:$coord_port, catalog CATALOG) and start it
# with ${coord_on_c[@]}, recording its command as cmd.srv.KEY; wait for
# its pid file; set coord_ctl, snapvolctl's options to reach it.
coord_start ()
{
    local pki=$bench_work/pki i
    rm -f "$bench_work/coordinator.pid"
    printf '%s\n' \
        "listen $coord_addr port $coord_port" \
        "certificate $pki/server.crt" \
        "key $pki/server.key" \
        "ca $pki/ca.crt" \
        "catalog $2" \
        "pid-file $bench_work/coordinator.pid" \
        'allow provider cn "storage-*"' \
        'allow writer cn "bw-*"' \
        "allow requester cn backup" >"$bench_work/coordinator.conf"
    coord_ctl=(--coordinator "$coord_addr:$coord_port" --cert "$pki/backup.crt"
               --key "$pki/backup.key" --ca "$pki/ca.crt")
    res_cmd "cmd.srv.$1" "${coord_on_c[@]}" "$bench_build/coordinator/snapvol-coordinator" -f \
        -c "$bench_work/coordinator.conf"
    srv_adopt_bg coordinator "${coord_on_c[@]}" "$bench_build/coordinator/snapvol-coordinator" -f \
        -c "$bench_work/coordinator.conf"
    for (( i = 0; i < 100; i++ )); do
        [ -s "$bench_work/coordinator.pid" ] && return 0
        sleep 0.1
    done
    cat "$bench_work/coordinator.log" >&2
    sv_die "the coordinator did not write its pid file within 10 s"
}

# coord_ns ROLE: the network namespace of the scale case's host ROLE
# (sw for the switch).
coord_ns ()
{
    printf 'svbench-%s-%s' "$$" "$1"
}

# coord_hosts_up: make the scale case's hosts (see the top of this
# file) and set coord_on_c, coord_on_w, coord_on_k and coord_addr to
# use them.  Returns 1 where it cannot, with what was made deleted and
# the reason in coord_hosts_why.
coord_hosts_up ()
{
    local err=$bench_work/netns.err
    if (( bench_loopback )); then
        coord_hosts_why="asked for with scripts/bench --loopback"
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        coord_hosts_why="the bench does not run as root"
        return 1
    fi
    if ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
        coord_hosts_why="ip or nsenter is not installed"
        return 1
    fi
    if ! ip netns list >/dev/null 2>"$err"; then
        coord_hosts_why="ip netns does not work: $(head -n 1 "$err")"
        return 1
    fi
    if ! coord_hosts_make 2>"$err"; then
        coord_hosts_why="cannot make the hosts: $(grep -v '^$' "$err" | head -n 1)"
        coord_hosts_down
        return 1
    fi
    coord_on_c=(nsenter "--net=/run/netns/$(coord_ns c)")
    coord_on_w=(nsenter "--net=/run/netns/$(coord_ns w)")
    coord_on_k=(nsenter "--net=/run/netns/$(coord_ns k)")
    coord_addr=${coord_host_addr[c]}
}

# coord_hosts_make: the switch (bridge br0) and each host, plugged into
# it by a veth pair: eth0 in the host, port-ROLE on the bridge.  Each
# namespace is recorded in bench_netns as soon as it exists, so that
# bench_cleanup deletes it whatever happens next.  1 at the first
# failure (ip's message on stderr).
coord_hosts_make ()
{
    local sw role host
    sw=$(coord_ns sw)
    ip netns add "$sw" || return 1
    bench_netns+=("$sw")
    ip -n "$sw" link add br0 type bridge && ip -n "$sw" link set br0 up || return 1
    for role in "${!coord_host_addr[@]}"; do
        host=$(coord_ns "$role")
        ip netns add "$host" || return 1
        bench_netns+=("$host")
        ip -n "$host" link set lo up &&
            ip -n "$sw" link add "port-$role" type veth peer name eth0 netns "$host" &&
            ip -n "$sw" link set "port-$role" master br0 up &&
            ip -n "$host" addr add "${coord_host_addr[$role]}/24" dev eth0 &&
            ip -n "$host" link set eth0 up || return 1
    done
}

# coord_hosts_down: delete the hosts (their processes must be stopped)
# and go back to loopback.
coord_hosts_down ()
{
    bench_netns_delete
    coord_on_c=() coord_on_w=() coord_on_k=()
    coord_addr=127.0.0.1
}

# coord_scale: 8 providers (nbdkit processes) of 128 sparse 64 MiB
# volumes each, and the 100 writers bw-1..bw-100 in one sv-writers
# process (their certificates from coord_writers), writer K registered
# for one volume, spread over the providers; every set takes all 1,024
# volumes, so writers "auto" takes all 100.  The writers of the cases
# before are stopped: sv-writers registers the same names again, for
# these volumes.  On separate hosts where it can (see the top of this
# file), with a coordinator of its own on host c (a fresh catalog);
# else on loopback with the coordinator of the cases before.
coord_scale ()
{
    local pki=$bench_work/pki p i k n=$(( bench_quick ? 30 : 100 ))
    local -a vols specs on_s
    [ -x "$bench_build/bench/sv-writers" ] ||
        sv_die "$bench_build/bench/sv-writers is not built"
    if coord_hosts_up; then
        srv_stop coordinator
        coord_start coordinator-hosts "$bench_work/catalog-hosts.db"
        res_set coord.p8v128w100.topology hosts
        bench_log "coordinated sets: p8v128w100 on separate hosts (network namespaces)"
    else
        res_set coord.p8v128w100.topology loopback
        res_set coord.p8v128w100.note "$coord_hosts_why"
        bench_log "coordinated sets: p8v128w100 on loopback: $coord_hosts_why"
    fi
    : >"$bench_work/scale.volumes"
    for (( p = 0; p < 8; p++ )); do
        [ -f "$pki/storage-s$p.crt" ] || coord_cert "storage-s$p" "storage-s$p"
        vols=()
        for (( i = 0; i < 128; i++ )); do
            vols+=("volume=v$i:64M")
            echo "storage-s$p/v$i" >>"$bench_work/scale.volumes"
        done
        on_s=()
        [ "$coord_addr" = 127.0.0.1 ] || on_s=(nsenter "--net=/run/netns/$(coord_ns "s$p")")
        srv_start "storage-s$p" "$(uri "$bench_work/s$p.sock" v0)" \
            "${on_s[@]}" nbdkit -f --exit-with-parent -U "$bench_work/s$p.sock" "$bench_plugin" \
            dir="$bench_work/storage-s$p" "${vols[@]}" \
            coordinator="$coord_addr:$coord_port" tls-certificate="$pki/storage-s$p.crt" \
            tls-key="$pki/storage-s$p.key" tls-ca="$pki/ca.crt" provider="storage-s$p" \
            nbd-uri="nbd+unix:///?socket=$bench_work/s$p.sock"
    done
    coord_wait provider 8
    for (( k = 0; k < 100; k++ )); do
        specs+=("bw-$(( k + 1 ))=storage-s$(( k % 8 ))/v$(( k / 8 ))")
    done
    res_cmd cmd.srv.sv-writers "${coord_on_w[@]}" "$bench_build/bench/sv-writers" \
        --coordinator "$coord_addr:$coord_port" --ca "$pki/ca.crt" --cert-dir "$pki" \
        "bw-1=storage-s0/v0" "..." "bw-100=storage-s3/v12"
    srv_adopt_bg sv-writers "${coord_on_w[@]}" "$bench_build/bench/sv-writers" \
        --coordinator "$coord_addr:$coord_port" --ca "$pki/ca.crt" --cert-dir "$pki" \
        "${specs[@]}"
    coord_wait writer 100

    bench_log "coordinated sets: p8v128w100"
    local -a cmd=("${coord_on_k[@]}" python3 "$sv_top/bench/sv-coordset"
                  --host "$coord_addr" --port "$coord_port"
                  --ca "$pki/ca.crt" --cert "$pki/backup.crt" --key "$pki/backup.key"
                  --volumes-file "$bench_work/scale.volumes" --samples "$n")
    res_cmd cmd.coord.p8v128w100 "${cmd[@]}"
    res_set coord.p8v128w100 "$("${cmd[@]}")"

    srv_stop sv-writers
    for (( p = 0; p < 8; p++ )); do
        srv_stop "storage-s$p"
        rm -rf "$bench_work/storage-s$p"
    done
}
