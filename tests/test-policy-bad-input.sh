#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-policy-bad-input.sh: policy.get and policy.set refuse bad input
# with an error naming what is wrong and change nothing: an unknown
# volume, space members with a volume, an unknown on_full, a space limit
# below the data already held (both numbers named), out-of-range rules,
# unknown members; snapvolctl refuses a bad count, duration or size
# before asking; a corrupt or newer policy file stops the pool from
# being served, naming the file.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires jq nbdsh
set -x

# json_error STATUS EXPECTED-JSON SNAPVOLCTL-ARGS...: snapvolctl must
# exit with STATUS and print exactly EXPECTED-JSON on stdout.
json_error ()
{
    local want_status=$1 want=$2 status=0
    shift 2
    "${ctl_env[@]}" "$SNAPVOLCTL" --socket "$ctl" --json "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/out" "$tmp/err"
    assert_eq "$status" "$want_status" "exit status of snapvolctl $*"
    assert_eq "$(jq -c . "$tmp/out")" "$want" "stdout of snapvolctl $*"
    assert_eq "$(wc -l <"$tmp/err")" 1 "lines on stderr of snapvolctl $*"
}

# rpc_error METHOD PARAMS EXPECTED-ERROR: METHOD with PARAMS answers
# exactly EXPECTED-ERROR (the "error" member, compared as JSON).
rpc_error ()
{
    python3 - "$ctl" "$1" "$2" "$3" <<'PY'
import json, socket, sys
path, method, params, want = sys.argv[1:]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(json.dumps({"jsonrpc": "2.0", "id": 7, "method": method,
                      "params": json.loads(params)}).encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    buf += s.recv(65536)
got = json.loads(buf)
assert got.get("error") == json.loads(want), "got %s\nwant %s" % (got, want)
PY
}

start_snapvol "$tmp/pool" volume=v:8M
nbdsh -u "$(uri v)" -c 'h.pwrite(b"\x01" * (4 << 20), 0); h.flush()'
before=$(snapvolctl --json policy get)

json_error 1 '{"error":{"code":-32001,"message":"no volume named nosuch"}}' \
    policy set --volume nosuch --keep-last 1
json_error 1 '{"error":{"code":-32001,"message":"no volume named nosuch"}}' \
    policy get nosuch
json_error 1 "{\"error\":{\"code\":-32602,\"message\":\"'space_limit' cannot be given with 'volume': the space policy is the pool's\"}}" \
    policy set --volume v --space-limit 1G
json_error 1 "{\"error\":{\"code\":-32602,\"message\":\"'on_full' must be \\\"fail\\\" or \\\"delete-oldest\\\", not \\\"sometimes\\\"\"}}" \
    policy set --on-full sometimes
json_error 1 "{\"error\":{\"code\":-32602,\"message\":\"space_limit 1048576 is below the $((4 << 20)) bytes the pool already holds\"}}" \
    policy set --space-limit 1M
json_error 2 "{\"error\":{\"code\":2,\"message\":\"invalid --keep-last '-1': expected a count from 0 to 1000000\"}}" \
    policy set --keep-last -1
json_error 2 "{\"error\":{\"code\":2,\"message\":\"invalid --keep-younger '3x': expected seconds, or a number with s, m, h, d or w, up to 3153600000 s\"}}" \
    policy set --keep-younger 3x
json_error 2 "{\"error\":{\"code\":2,\"message\":\"give at least one of --keep-last, --keep-younger, --keep-daily, --keep-weekly, --space-limit, --space-reserve, --on-full\"}}" \
    policy set --volume v

rpc_error policy.set '{"keep_last": -1}' \
    "{\"code\": -32602, \"message\": \"'keep_last' must be in 0..1000000, not -1\"}"
rpc_error policy.set '{"keep_younger": "1d"}' \
    "{\"code\": -32602, \"message\": \"'keep_younger' must be an integer\"}"
rpc_error policy.set '{"keep_daily": 1, "keep_hourly": 3}' \
    "{\"code\": -32602, \"message\": \"unknown member 'keep_hourly'\"}"
rpc_error policy.set '{"volume": ".v", "keep_last": 1}' \
    "{\"code\": -32602, \"message\": \"'volume': invalid name '.v' (1 to 64 bytes of A-Z a-z 0-9 . _ -, not starting with '.')\"}"
rpc_error policy.set '{"space_reserve": 1.5}' \
    "{\"code\": -32602, \"message\": \"'space_reserve' must be an integer\"}"
rpc_error policy.events '{"since": 1}' \
    "{\"code\": -32602, \"message\": \"unknown member 'since'\"}"

assert_eq "$(snapvolctl --json policy get)" "$before" "the policy after the refusals"
[ ! -e "$tmp/pool/policy" ] || fail "a refused policy.set wrote the policy file"

# A valid policy, then its file damaged: the pool is not served.
snapvolctl policy set --keep-last 3 >/dev/null
stop_snapvol
cp "$tmp/pool/policy" "$tmp/policy.good"

# start_refused WHAT PATTERN: nbdkit must fail to start, saying PATTERN.
start_refused ()
{
    local status=0
    rm -f "$sock"
    timeout 60 "${nbdkit_env[@]}" nbdkit -f -U "$sock" "$PLUGIN" dir="$tmp/pool" \
        control="$ctl" >"$tmp/start.out" 2>&1 || status=$?
    cat "$tmp/start.out"
    [ "$status" -ne 0 ] || fail "nbdkit started with $1"
    [ "$status" -ne 124 ] || fail "nbdkit neither started nor failed within 60 s ($1)"
    grep -qF "$2" "$tmp/start.out" || fail "the startup error for $1 does not say '$2'"
}

# A flipped byte in an entry: the entries' checksum.
printf '\x09' | dd of="$tmp/pool/policy" bs=1 seek=$((512 + 66)) conv=notrunc status=none
start_refused "a damaged entry" "$tmp/pool/policy: policy entries checksum mismatch"
# The offline checker reports it, through the same reader.
status=0
"${ctl_env[@]}" "$SNAPVOLCTL" check "$tmp/pool" >"$tmp/check.out" 2>&1 || status=$?
cat "$tmp/check.out"
assert_eq "$status" 1 "exit status of check with a damaged policy file"
grep -qF "$tmp/pool/policy: policy entries checksum mismatch; not repairable: restore it, or remove it to serve the pool with no retention or space policy" \
    "$tmp/check.out" || fail "check does not report the damaged policy file"
# A flipped byte in the header.
cp "$tmp/policy.good" "$tmp/pool/policy"
printf '\x09' | dd of="$tmp/pool/policy" bs=1 seek=20 conv=notrunc status=none
start_refused "a damaged header" "$tmp/pool/policy: policy file checksum mismatch"
# Cut short.
head -c 600 "$tmp/policy.good" >"$tmp/pool/policy"
start_refused "a short file" "$tmp/pool/policy: policy file is short (88 of 128 bytes of entries)"
# Bytes after the entries.
cp "$tmp/policy.good" "$tmp/pool/policy"
printf 'x' >>"$tmp/pool/policy"
start_refused "a long file" "$tmp/pool/policy: policy file has bytes after its 1 entries"
# A newer version, sealed as such.
cp "$tmp/policy.good" "$tmp/pool/policy"
python3 - "$tmp/pool/policy" <<'PY'
import struct, sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
b[16:20] = struct.pack("<I", 2)
# CRC-32C (Castagnoli) of the location (8 zero bytes) and bytes 4..511.
def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for x in data:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
c = crc32c(bytes(8) + bytes(b[4:512]))
b[0:4] = struct.pack("<I", c)
open(path, "wb").write(b)
PY
start_refused "a newer version" "$tmp/pool/policy: policy file format version 2 is newer than this snapvol supports (1); upgrade snapvol"

# The good file back: served, with its policy.
cp "$tmp/policy.good" "$tmp/pool/policy"
start_snapvol "$tmp/pool"
assert_eq "$(snapvolctl --json policy get | jq -c .retention.keep_last)" 3 "keep_last after the repair"
stop_snapvol
check_sanitizer_log
