#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-config-errors.sh: every error of a configuration file is
# reported, each as FILE:LINE: message, and the daemon does not start;
# a valid file passes --check-config; TLS files that do not load, an
# address in use and a catalog in use stop the start with a message
# naming them.

source "$(dirname "$0")/functions.sh"
set -x

bad=$tmp/bad.conf
cat >"$bad" <<EOF
# several mistakes, and lines that are fine
listen 127.0.0.1 port 99999
certificate $tmp/no-such-cert.pem
key $pki/server.key
key $pki/server.key
hold-timeout 10 parsecs
freeze-window 5x
heartbeat 10ms
allow superuser cn "x"
allow admin email "x"
frobnicate yes
allow provider cn "unterminated
catalog $tmp/catalog.db   # a comment after a directive
listen * port 10810
EOF

status=0
"${coord_env[@]}" "$COORDINATOR" -f -c "$bad" >"$tmp/out" 2>"$tmp/err" || status=$?
cat "$tmp/err"
assert_eq "$status" 1 "exit status with a bad configuration"
[ ! -s "$tmp/out" ] || fail "printed on stdout: $(cat "$tmp/out")"
expected="$bad:2: 'listen': invalid port '99999' (1 to 65535)
$bad:3: certificate $tmp/no-such-cert.pem: No such file or directory
$bad:5: 'key' given twice (first on line 4)
$bad:6: 'hold-timeout' takes one argument: a duration such as 10s or 500ms
$bad:7: 'freeze-window': invalid duration '5x' (a number followed by ms, s, m or h)
$bad:8: 'heartbeat': 10ms is out of range (100ms to 600s)
$bad:9: 'allow': unknown role 'superuser' (provider, writer, requester or admin)
$bad:10: 'allow': expected 'cn' or 'subject', not 'email'
$bad:11: unknown directive 'frobnicate'
$bad:12: unterminated quoted string
$bad: no 'ca' directive: the coordinator needs the CA bundle that peers' certificates chain to"
assert_eq "$(cat "$tmp/err")" "$expected" "the errors reported"
[ ! -e "$tmp/catalog.db" ] || fail "a catalog was created from a bad configuration"

# The same with --check-config.
status=0
"$COORDINATOR" --check-config -c "$bad" >/dev/null 2>"$tmp/err2" || status=$?
assert_eq "$status" 1 "--check-config exit status with a bad configuration"
assert_eq "$(cat "$tmp/err2")" "$expected" "--check-config errors"

# A missing file.
status=0
"$COORDINATOR" -n -c "$tmp/nonexistent.conf" 2>"$tmp/err3" || status=$?
assert_eq "$status" 1 "exit status without a configuration file"
assert_eq "$(cat "$tmp/err3")" "$tmp/nonexistent.conf: No such file or directory" \
    "error for a missing configuration file"

# A good file passes, comments and quotes included.
write_conf '# the end
allow admin cn "ops #1"   # a quoted "#" is not a comment'
status=0
"$COORDINATOR" -n -c "$conf" 2>"$tmp/err4" || status=$?
assert_eq "$status" 0 "--check-config exit status with a good configuration"
assert_eq "$(cat "$tmp/err4")" "$conf: configuration OK" "--check-config output"

# A certificate that is not one: the TLS error names the file.
sed "s|^certificate .*|certificate $pki/server.key|" "$conf" >"$tmp/tls.conf"
status=0
"$COORDINATOR" -n -c "$tmp/tls.conf" 2>"$tmp/err5" || status=$?
assert_eq "$status" 1 "exit status with a bad certificate"
grep -q "^$tmp/tls.conf: certificate $pki/server.key: .*no start line" "$tmp/err5" ||
    fail "unexpected message for a bad certificate: $(cat "$tmp/err5")"

# A key that does not match the certificate.
sed "s|^key .*|key $pki/backup.key|" "$conf" >"$tmp/key.conf"
status=0
"$COORDINATOR" -n -c "$tmp/key.conf" 2>"$tmp/err6" || status=$?
assert_eq "$status" 1 "exit status with a key of another certificate"
grep -q "^$tmp/key.conf: key $pki/backup.key: .*key values mismatch$" "$tmp/err6" ||
    fail "unexpected message for a key of another certificate: $(cat "$tmp/err6")"

# The address in use, and the catalog in use, by a running coordinator.
start_coordinator
status=0
timeout 10 "$COORDINATOR" -f -c "$conf" 2>"$tmp/err7" || status=$?
assert_eq "$status" 1 "exit status with the address in use"
assert_eq "$(cat "$tmp/err7")" \
    "snapvol-coordinator: $conf:2: listen 127.0.0.1 port $port: 127.0.0.1:$port: Address already in use" \
    "message for an address in use"

port2=$(free_port)
sed "s|^listen .*|listen 127.0.0.1 port $port2|; s|^pid-file .*||" "$conf" >"$tmp/second.conf"
status=0
timeout 10 "$COORDINATOR" -f -c "$tmp/second.conf" 2>"$tmp/err8" || status=$?
assert_eq "$status" 1 "exit status with the catalog in use"
assert_eq "$(cat "$tmp/err8")" \
    "snapvol-coordinator: catalog $catalog is in use by another process (another coordinator?)" \
    "message for a catalog in use"

# The first one still serves.
out=$(rpc backup ping)
jget "$out" 'j["result"]["time"]' | grep -Eq '^[0-9]+$' || fail "ping: $out"
stop_coordinator
