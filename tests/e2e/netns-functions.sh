# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# netns-functions.sh: helpers of the end-to-end tests that put each
# component on a host of its own (tests/e2e/test-e2e-netns-*.sh), on
# top of tests/e2e/functions.sh.  The hosts are Linux network
# namespaces joined by one bridge; every connection between them is
# TCP over TLS: NBD with nbdkit --tls=require (and client
# certificates), the coordinator with mutual TLS as always.
#
# Topology (names unique to the test run: sv-PID-ROLE):
#
#                      sv-PID-sw: bridge br0
#        +----------+----------+----+-----+-----------+
#  port-c|    port-a|    port-b|    port-w|     port-k|   (veth pairs)
#   sv-PID-c    sv-PID-a    sv-PID-b    sv-PID-w    sv-PID-k
#   coordinator storage-a   storage-b   writers     backup
#   10.77.0.1   10.77.0.11  10.77.0.12  10.77.0.20  10.77.0.30
#
# A test that needs more storage hosts asks for them before ns_setup
# with `ns_storage_hosts N`: hosts s0 .. sN-1 at 10.77.0.100+i on ports
# port-s0 .. of the same switch (at most 100), beside the five above.
#
# Each host's end is eth0 in its namespace; the switch's end is named
# for the host (port-c, port-a, port-b, port-w, port-k, port-s0, ...),
# so `ns_link ROLE down` cuts that host off as a pulled cable would: no
# reset, no FIN, just silence.
#
# The coordinator listens on 10.77.0.1 (its certificate is made for
# that address too); providers serve NBD on port 10809 of their
# address, announce nbds://ADDRESS:10809 to the coordinator and reach
# it over 10.77.0.1; writers and snapvolctl run on their hosts.  The
# control sockets stay Unix sockets under $tmp, which every namespace
# sees (the file system is shared), for the test's checks on a host.
#
# The test is skipped, saying why, where network namespaces, veth
# pairs or bridges cannot be made (not root, no CAP_NET_ADMIN, a
# kernel without them).  At its end, whatever happens, the processes
# are stopped (the cleanups of functions.sh) and the namespaces
# deleted.

source "$(dirname "${BASH_SOURCE[0]}")/functions.sh"
source "$abs_top_srcdir/tests/nbd-tls-functions.sh"

requires ip nsenter nbdinfo
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"

ns_prefix=sv-$$
declare -A ns_addr=([c]=10.77.0.1 [a]=10.77.0.11 [b]=10.77.0.12
                    [w]=10.77.0.20 [k]=10.77.0.30)
# The hosts ns_setup makes, and those of them that serve storage.
declare -a ns_roles=(c a b w k) ns_storage=(a b)
declare -a ns_made=()
nbd_port=10809
nbdtls=$tmp/nbdtls

# ns ROLE: the namespace of host ROLE (sw for the switch).
ns ()
{
    printf '%s-%s' "$ns_prefix" "$1"
}

# on ROLE COMMAND...: run COMMAND on host ROLE.  A program started in
# the background calls nsenter itself, which execs it in the namespace,
# so that $! is the program's pid (ip netns exec forks and waits, and
# so does a shell function run with &).
on ()
{
    local role=$1
    shift
    nsenter --net="/run/netns/$(ns "$role")" "$@"
}

# _ns_cleanup: delete the namespaces.  It runs before the cleanups of
# functions.sh stop the processes (by pid): a namespace whose name is
# deleted lives on until its last process ends.
_ns_cleanup ()
{
    local n
    for n in "${ns_made[@]}"; do
        ip netns del "$n" 2>/dev/null
    done
    return 0
}

# _ns_add NAME: make namespace NAME, skipping the test if this machine
# cannot.
_ns_add ()
{
    ip netns add "$1" 2>"$tmp/netns.err" ||
        skip "cannot make a network namespace: $(cat "$tmp/netns.err")"
    ns_made+=("$1")
    ip -n "$1" link set lo up || fail "ip -n $1 link set lo up failed"
}

# ns_storage_hosts N: ns_setup makes N more storage hosts, s0 .. sN-1
# at 10.77.0.100+i (N at most 100).  Call it before ns_setup.
ns_storage_hosts ()
{
    local i
    [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -le 100 ] ||
        fail "ns_storage_hosts: '$1' is not a count of hosts from 0 to 100"
    [ "${#ns_made[@]}" -eq 0 ] || fail "ns_storage_hosts: the hosts are already made"
    for (( i = 0; i < $1; i++ )); do
        ns_addr[s$i]=10.77.0.$(( 100 + i ))
        ns_roles+=("s$i")
        ns_storage+=("s$i")
    done
}

# ns_setup: the switch and the hosts, as drawn above.
ns_setup ()
{
    local sw role
    cleanup_fn _ns_cleanup
    sw=$(ns sw)
    _ns_add "$sw"
    ip -n "$sw" link add br0 type bridge 2>"$tmp/netns.err" ||
        skip "cannot make a bridge in a network namespace: $(cat "$tmp/netns.err")"
    ip -n "$sw" link set br0 up || fail "ns_setup: cannot bring the bridge up"
    for role in "${ns_roles[@]}"; do
        _ns_add "$(ns "$role")"
        ip -n "$sw" link add "port-$role" type veth peer name eth0 netns "$(ns "$role")" \
            2>"$tmp/netns.err" ||
            skip "cannot make a veth pair: $(cat "$tmp/netns.err")"
        ip -n "$sw" link set "port-$role" master br0 up &&
            ip -n "$(ns "$role")" addr add "${ns_addr[$role]}/24" dev eth0 &&
            ip -n "$(ns "$role")" link set eth0 up ||
            fail "ns_setup: cannot plug host $role into the switch"
    done
}

# ns_link ROLE up|down: plug or pull host ROLE's cable (its port on
# the switch).
ns_link ()
{
    ip -n "$(ns sw)" link set "port-$1" "$2" || fail "ip link set port-$1 $2 on the switch failed"
}

# ns_pki: the coordinator's certificate also for 10.77.0.1, and the
# NBD TLS certificates (server for every storage host, client for the
# writer and backup hosts) in $nbdtls.
ns_pki ()
{
    local role san=
    _cert "$pki" server "/O=snapvol-test/CN=coordinator" \
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:${ns_addr[c]}\n"
    for role in "${ns_storage[@]}"; do
        san+=${san:+,}IP:${ns_addr[$role]}
    done
    make_nbd_tls "$nbdtls" "$san"
}

# ns_write_conf [EXTRA-LINES]: write_conf, listening on the coordinator
# host's address.
ns_write_conf ()
{
    write_conf "${1:-}"
    sed -i "s/^listen 127\\.0\\.0\\.1 /listen ${ns_addr[c]} /" "$conf"
    grep -q "^listen ${ns_addr[c]} port $port\$" "$conf" || fail "ns_write_conf: no listen line"
}

# ns_start_coordinator: start_coordinator, on host c.
ns_start_coordinator ()
{
    local -a saved=("${coord_env[@]}")
    coord_env=(nsenter --net="/run/netns/$(ns c)" "${saved[@]}")
    start_coordinator
    coord_env=("${saved[@]}")
}

# snapvolctl against the coordinator from the backup host (ctl, ctl_as
# and everything built on them: provider_connected, writer_connected).
ctl_as ()
{
    local who=$1
    shift
    on k "${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "${ns_addr[c]}:$port" \
        --cert "$pki/$who.crt" --key "$pki/$who.key" --ca "$pki/ca.crt" "$@"
}

# nuri ROLE EXPORT: the NBD URI of EXPORT on storage host ROLE (a, b,
# s0, ...), with the client certificates.
nuri ()
{
    printf 'nbds://%s:%s/%s?tls-certificates=%s' "${ns_addr[$1]}" "$nbd_port" "$2" \
        "$nbdtls/client"
}

# ns_start_provider ROLE NAME VOLUME:SIZE...: nbdkit with the plugin on
# storage host ROLE (a, b, s0, ...) as provider NAME, NBD on TLS only,
# client certificates required; wait until it serves and the
# coordinator lists it connected.  Files as for start_provider; the
# provider's certificate for the coordinator is made if $pki has none
# of that name (client_cert).
#
# nbdkit runs one worker thread per connection (--threads 1): with its
# default of several, nbdkit 1.32.5 with GnuTLS 3.7.9 (Debian 12) reads
# a TLS record buffer in one worker's gnutls_record_uncork that another
# worker of the same connection has freed (AddressSanitizer,
# heap-use-after-free in sendmsg, no plugin frame; 3 runs of 4 in the
# sanitizer build during set backup, none in 4 with --threads 1).
ns_start_provider ()
{
    local role=$1 name=$2 i
    shift 2
    [ -z "${provider_pids[$name]:-}" ] || fail "ns_start_provider: $name is already running"
    [ -n "${ns_addr[$role]:-}" ] || fail "ns_start_provider: no host $role"
    client_cert "$name"
    local -a args=(dir="$tmp/$name" control="$tmp/$name.ctl"
                   coordinator="${ns_addr[c]}:$port" tls-certificate="$pki/$name.crt"
                   tls-key="$pki/$name.key" tls-ca="$pki/ca.crt" provider="$name"
                   nbd-uri="nbds://${ns_addr[$role]}:$nbd_port")
    for i in "$@"; do args+=(volume="$i"); done
    local -a opts=(-f -i "${ns_addr[$role]}" -p "$nbd_port" --threads 1 --tls=require
                   --tls-certificates "$nbdtls/server" --tls-verify-peer
                   --pidfile "$tmp/$name.pid" --exit-with-parent)
    [ "${SNAPVOL_TEST_VERBOSE:-0}" != 1 ] || opts+=(-v)

    rm -f "$tmp/$name.pid"
    echo "+ nsenter --net=/run/netns/$(ns "$role") nbdkit ${opts[*]} $PLUGIN ${args[*]}" >>"$tmp/$name.log"
    nsenter --net="/run/netns/$(ns "$role")" "${nbdkit_env[@]}" nbdkit "${opts[@]}" "$PLUGIN" "${args[@]}" \
        >>"$tmp/$name.log" 2>&1 &
    provider_pids[$name]=$!
    for (( i = 0; i < 300; i++ )); do
        kill -0 "${provider_pids[$name]}" 2>/dev/null || {
            wait "${provider_pids[$name]}" || :
            unset "provider_pids[$name]"
            cat "$tmp/$name.log" >&2
            fail "nbdkit of provider $name exited during startup"
        }
        [ -s "$tmp/$name.pid" ] && _accepts "$tmp/$name.ctl" && break
        sleep 0.1
    done
    [ "$i" -lt 300 ] || fail "nbdkit of provider $name did not start within 30 s"
    poll 20 provider_connected "$name"
}

# ns_start_writer NAME [OPTION ARG]... [PROVIDER/VOLUME]...: as
# start_writer, on the writer host.
ns_start_writer ()
{
    local name=$1 hook
    shift
    local -a args=(--coordinator "${ns_addr[c]}:$port" --cert "$pki/$name.crt"
                   --key "$pki/$name.key" --ca "$pki/ca.crt" --name "$name"
                   --event-log "$tmp/$name.evlog")
    [ -z "${writer_pids[$name]:-}" ] || fail "ns_start_writer: $name is already running"
    while [ $# -gt 0 ]; do
        case $1 in
        --*) args+=("$1" "$2"); shift 2 ;;
        *) args+=(--volume "$1"); shift ;;
        esac
    done
    hook=$tmp/$name.hook
    if [ -f "$hook" ]; then
        chmod +x "$hook"
        args+=(--prepare "$hook" --freeze "$hook" --thaw "$hook"
               --post-snapshot "$hook" --abort "$hook")
    fi
    echo "+ nsenter --net=/run/netns/$(ns w) $SNAPVOL_WRITER ${args[*]}" >>"$tmp/$name.log"
    nsenter --net="/run/netns/$(ns w)" "${ctl_env[@]}" "$SNAPVOL_WRITER" "${args[@]}" >>"$tmp/$name.log" 2>&1 &
    writer_pids[$name]=$!
    poll 20 _writer_up "$name"
}

# _many_writers_exec ARGS...: start_many_writers's bench/sv-writers, on
# the writer host, reaching the coordinator over 10.77.0.1.
_many_writers_exec ()
{
    echo "+ nsenter --net=/run/netns/$(ns w) $SV_WRITERS $*" >>"$tmp/sv-writers.log"
    nsenter --net="/run/netns/$(ns w)" "${ctl_env[@]}" "$SV_WRITERS" \
        --coordinator "${ns_addr[c]}:$port" "$@" >>"$tmp/sv-writers.log" 2>&1 &
    writer_pids[sv-writers]=$!
}
