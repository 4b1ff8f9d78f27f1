#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-etcd-config-errors.sh: the directives of 'catalog etcd'
# (etcd-endpoints, etcd-ca, etcd-certificate, etcd-key, etcd-prefix,
# etcd-lease, advertise): every bad value is reported as FILE:LINE
# naming the directive and the value; the etcd directives need
# 'catalog etcd' and it needs them; 'listen *' needs 'advertise';
# 'user' with a port below 1024 is refused; a good file passes
# --check-config (no etcd is contacted for that).

source "$(dirname "$0")/functions.sh"
set -x

head_lines="certificate $pki/server.crt
key $pki/server.key
ca $pki/ca.crt"

check_errors ()
{
    local file=$1 expected=$2 status=0
    "$COORDINATOR" --check-config -c "$file" >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/err"
    assert_eq "$status" 1 "exit status of --check-config on $file"
    [ ! -s "$tmp/out" ] || fail "printed on stdout: $(cat "$tmp/out")"
    assert_eq "$(cat "$tmp/err")" "$expected" "the errors of $file"
}

# Bad values, each naming its directive and value.
bad=$tmp/bad.conf
cat >"$bad" <<EOF
$head_lines
listen 127.0.0.1 port 10810
catalog etcd
etcd-endpoints http://127.0.0.1:2379,https://127.0.0.1:99999,https://:2379,ftp://x:1
etcd-ca $tmp/no-such-ca.pem
etcd-certificate $pki/backup.crt
etcd-key $pki/backup.key
etcd-prefix snapvol
etcd-prefix /twice
etcd-lease 2500ms
advertise localhost
EOF
check_errors "$bad" "$bad:6: 'etcd-endpoints': 'http://127.0.0.1:2379' is plain http: etcd is reached over TLS only (https://HOST:PORT)
$bad:6: 'etcd-endpoints': invalid URL 'https://127.0.0.1:99999' (https://HOST:PORT)
$bad:6: 'etcd-endpoints': invalid URL 'https://:2379' (https://HOST:PORT)
$bad:6: 'etcd-endpoints': invalid URL 'ftp://x:1' (https://HOST:PORT)
$bad:7: etcd-ca $tmp/no-such-ca.pem: No such file or directory
$bad:10: 'etcd-prefix': invalid prefix 'snapvol' (a '/' and up to 255 printable bytes without blanks, not ending in '/')
$bad:11: 'etcd-prefix' given twice (first on line 10)
$bad:12: 'etcd-lease': 2500ms is not a whole number of seconds (etcd's leases count seconds)
$bad:13: 'advertise': invalid address 'localhost' (HOST:PORT, or [IPV6]:PORT)"

# More bad values: the lease's range, a prefix ending in '/', empty
# URLs, an advertise port out of range; and no listen address to
# advertise by default.
bad2=$tmp/bad2.conf
cat >"$bad2" <<EOF
$head_lines
catalog etcd
etcd-endpoints https://127.0.0.1:2379,,https://127.0.0.1:2380
etcd-ca $pki/ca.crt
etcd-certificate $pki/backup.crt
etcd-key $pki/backup.key
etcd-prefix /snapvol/
etcd-lease 1s
advertise [::1]:0
EOF
check_errors "$bad2" "$bad2:5: 'etcd-endpoints': empty URL in 'https://127.0.0.1:2379,,https://127.0.0.1:2380'
$bad2:9: 'etcd-prefix': invalid prefix '/snapvol/' (a '/' and up to 255 printable bytes without blanks, not ending in '/')
$bad2:10: 'etcd-lease': 1s is out of range (2s to 600s)
$bad2:11: 'advertise': invalid address '[::1]:0' (HOST:PORT, or [IPV6]:PORT)
$bad2: no 'advertise' directive: with 'catalog etcd' and 'listen *' the coordinator cannot tell which address clients should use for it (advertise HOST:PORT)"

# 'catalog etcd' without what it needs.
bare=$tmp/bare.conf
printf '%s\nlisten 127.0.0.1 port 10810\ncatalog etcd\n' "$head_lines" >"$bare"
check_errors "$bare" "$bare: no 'etcd-endpoints' directive: 'catalog etcd' (line 5) needs it
$bare: no 'etcd-ca' directive: 'catalog etcd' (line 5) needs it
$bare: no 'etcd-certificate' directive: 'catalog etcd' (line 5) needs it
$bare: no 'etcd-key' directive: 'catalog etcd' (line 5) needs it"

# The etcd directives with the SQLite catalog.
sqlite=$tmp/sqlite.conf
cat >"$sqlite" <<EOF
$head_lines
catalog $tmp/catalog.db
etcd-endpoints https://127.0.0.1:2379
etcd-lease 5s
advertise 127.0.0.1:10810
EOF
check_errors "$sqlite" "$sqlite:5: 'etcd-endpoints' needs 'catalog etcd'
$sqlite:6: 'etcd-lease' needs 'catalog etcd'
$sqlite:7: 'advertise' needs 'catalog etcd'"

good_etcd="catalog etcd
etcd-endpoints https://127.0.0.1:2379,https://[::1]:2379
etcd-ca $pki/ca.crt
etcd-certificate $pki/backup.crt
etcd-key $pki/backup.key"

# 'user' with a port below 1024: a coordinator that steps down
# re-executes itself as that user and could not bind it again.
me=$(id -un)
priv=$tmp/priv.conf
printf '%s\nlisten 127.0.0.1 port 810\nuser %s\n%s\n' "$head_lines" "$me" "$good_etcd" >"$priv"
if [ "$(id -u)" -ne 0 ]; then
    check_errors "$priv" "$priv:5: 'user $me' with 'catalog etcd' and port 810 (line 4): a coordinator that loses leadership restarts itself as user $me, which cannot bind a port below 1024"
else
    nobody=$(getent passwd nobody | cut -d: -f1)
    [ -n "$nobody" ] || skip "no user 'nobody' to test 'user' with"
    sed -i "s/^user .*/user $nobody/" "$priv"
    check_errors "$priv" "$priv:5: 'user $nobody' with 'catalog etcd' and port 810 (line 4): a coordinator that loses leadership restarts itself as user $nobody, which cannot bind a port below 1024"
fi

# A good file: defaults for prefix, lease and advertise.
good=$tmp/good.conf
printf '%s\nlisten 127.0.0.1 port 10810\n%s\netcd-prefix /snapvol/a-1\netcd-lease 1m\n' \
    "$head_lines" "$good_etcd" >"$good"
status=0
"$COORDINATOR" -n -c "$good" 2>"$tmp/err-good" || status=$?
assert_eq "$status" 0 "--check-config exit status with a good etcd configuration"
assert_eq "$(cat "$tmp/err-good")" "$good: configuration OK" "--check-config output"

# A file named etcd is a SQLite catalog when written ./etcd.
dot=$tmp/dot.conf
printf '%s\nlisten 127.0.0.1 port 10810\ncatalog ./etcd\n' "$head_lines" >"$dot"
status=0
"$COORDINATOR" -n -c "$dot" 2>"$tmp/err-dot" || status=$?
assert_eq "$status" 0 "--check-config exit status with catalog ./etcd"
