#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-provider-bad-config.sh: a wrong provider-link configuration
# stops nbdkit at startup with one error naming the parameter; a
# certificate the coordinator does not trust is reported once in the
# log, with OpenSSL's reason, however often the link retries.

source "$(dirname "$0")/peers-functions.sh"
requires_snapvol
make_certs

# refused EXPECTED PARAMS...: nbdkit must refuse to start with exactly
# the error line EXPECTED.
refused ()
{
    local expected=$1 status=0
    shift
    "${nbdkit_env[@]}" nbdkit -f -U "$tmp/bad.sock" "$PLUGIN" dir="$tmp/pool" "$@" \
        >"$tmp/bad.out" 2>&1 || status=$?
    cat "$tmp/bad.out"
    [ "$status" -eq 1 ] || fail "nbdkit $* exited with status $status, expected 1"
    assert_eq "$(grep -v '^$' "$tmp/bad.out")" "nbdkit: error: $expected" "error of $*"
}

c=coordinator=127.0.0.1:10810
crt=tls-certificate=$pki/provider1.crt
key=tls-key=$pki/provider1.key
ca=tls-ca=$pki/ca.crt
uri=nbd-uri=nbd://storage1:10809

refused "coordinator=127.0.0.1:10810 needs tls-certificate=FILE, tls-key=FILE and tls-ca=FILE (missing: tls-certificate tls-key tls-ca): the coordinator link always uses TLS with client certificates" \
    "$c" "$uri"
refused "coordinator=127.0.0.1:10810 needs tls-certificate=FILE, tls-key=FILE and tls-ca=FILE (missing: tls-key): the coordinator link always uses TLS with client certificates" \
    "$c" "$crt" "$ca" "$uri"
refused "tls-ca= is only used with coordinator=HOST:PORT" "$ca"
# nbd-uri= alone is allowed (pool.info reports it), but checked.
refused "nbd-uri=http://storage1/: expected an NBD URI: nbd://HOST:PORT, nbds://HOST:PORT or nbd+unix:///?socket=PATH" \
    nbd-uri=http://storage1/
refused "coordinator=127.0.0.1:10810 needs nbd-uri=URI: how NBD clients reach this server, without an export name (for example nbd://storage1.example.com:10809)" \
    "$c" "$crt" "$key" "$ca"
refused "nbd-uri=http://storage1/: expected an NBD URI: nbd://HOST:PORT, nbds://HOST:PORT or nbd+unix:///?socket=PATH" \
    "$c" "$crt" "$key" "$ca" nbd-uri=http://storage1/
refused "provider=store/1: invalid name: it must be 1 to 64 characters from A-Z a-z 0-9 . _ -, not starting with '.'" \
    "$c" "$crt" "$key" "$ca" "$uri" provider=store/1
refused "coordinator=127.0.0.1:99999: invalid address '127.0.0.1:99999': the port must be a number from 1 to 65535" \
    coordinator=127.0.0.1:99999 "$crt" "$key" "$ca" "$uri"
refused "coordinator=[::1: invalid address '[::1': expected [IPV6]:PORT" \
    "coordinator=[::1" "$crt" "$key" "$ca" "$uri"
refused "coordinator=127.0.0.1:1: coordinator given twice" "$c" coordinator=127.0.0.1:1
refused "tls-certificate=$tmp/nosuch.crt: No such file or directory" \
    "$c" "tls-certificate=$tmp/nosuch.crt" "$key" "$ca" "$uri"
refused "coordinator=127.0.0.1:10810: key $pki/writer1.key: error:05800074:x509 certificate routines::key values mismatch" \
    "$c" "$crt" "tls-key=$pki/writer1.key" "$ca" "$uri"

# A certificate from a CA the coordinator does not trust: the
# coordinator refuses the handshake at every attempt (0.5 s, 1 s, 2 s
# apart), and the log says so once.
start_fake <<'PY'
while not os.path.exists(tmp + "/done"):
    time.sleep(0.05)
assert not coord.registered, "a provider with an untrusted certificate registered"
PY
start_snapvol "$tmp/pool" volume=v:16M "coordinator=127.0.0.1:$port" \
    "tls-certificate=$pki/rogue.crt" "tls-key=$pki/rogue.key" "$ca" "$uri"
sleep 2.5
stop_snapvol
touch "$tmp/done"
wait_fake
errors=$(grep 'error:' "$nbdkit_log" | sed -E 's/[0-9]+\.[0-9] s/N s/')
# (With TLS 1.3 the refusal comes after our side of the handshake; the
# fake coordinator closes without sending the alert.)
assert_eq "$errors" "nbdkit: error: coordinator 127.0.0.1:$port: the connection was closed without an answer to provider.register (was our certificate refused?); retrying in N s, then less often" \
    "errors logged for an untrusted certificate"
check_sanitizer_log
