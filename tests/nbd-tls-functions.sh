# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# nbd-tls-functions.sh: X.509 certificates for NBD over TLS, as the
# README's walkthrough makes them, for tests that run nbdkit with
# --tls=require.  Sourced after tests/functions.sh.

# make_nbd_tls DIR [SAN]: a CA, a server certificate for 127.0.0.1, ::1
# and localhost (or for the subjectAltName SAN, such as
# IP:10.77.0.11,IP:10.77.0.12), and a client certificate, laid out as
# nbdkit and libnbd read them (--tls-certificates DIR/server,
# tls-certificates=DIR/client):
#   DIR/server/{ca-cert,server-cert,server-key}.pem
#   DIR/client/{ca-cert,client-cert,client-key}.pem
make_nbd_tls ()
{
    local dir=$1 san=${2:-IP:127.0.0.1,IP:::1,DNS:localhost}
    mkdir -p "$dir/ca" "$dir/server" "$dir/client"
    (
        umask 077
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout "$dir/ca/ca-key.pem" -out "$dir/ca/ca-cert.pem" -days 2 \
            -subj "/O=snapvol-test/CN=NBD test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        _nbd_tls_cert "$dir" server "/O=snapvol-test/CN=localhost" \
            'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName='"$san"'\n'
        _nbd_tls_cert "$dir" client "/O=snapvol-test/CN=nbd-client" \
            'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
    )
    cp "$dir/ca/ca-cert.pem" "$dir/server/ca-cert.pem"
    cp "$dir/ca/ca-cert.pem" "$dir/client/ca-cert.pem"
    [ -s "$dir/client/client-cert.pem" ] || fail "make_nbd_tls: openssl failed"
}

_nbd_tls_cert ()
{
    local dir=$1 who=$2 subject=$3 ext=$4
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$dir/$who/$who-key.pem" -out "$dir/$who/$who.csr" \
        -subj "$subject" 2>/dev/null
    printf '%b' "$ext" >"$dir/$who/$who.ext"
    openssl x509 -req -in "$dir/$who/$who.csr" -CA "$dir/ca/ca-cert.pem" \
        -CAkey "$dir/ca/ca-key.pem" -CAcreateserial -days 2 \
        -out "$dir/$who/$who-cert.pem" -extfile "$dir/$who/$who.ext" 2>/dev/null
    rm -f "$dir/$who/$who.csr" "$dir/$who/$who.ext"
}
