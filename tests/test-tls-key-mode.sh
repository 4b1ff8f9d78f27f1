#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-tls-key-mode.sh: a private key that group or others can read is
# refused, as ssh refuses one, by each of the four programs that load
# one (snapvol-coordinator, the plugin's provider link, snapvolctl and
# snapvol-writer), with one message naming the file and its mode; keys
# of mode 0600 and 0400 are taken, and the program works with them.

source "$abs_top_srcdir/tests/e2e/functions.sh"
set -x

# key_as WHO MODE: a copy of WHO's certificate and key as WHO-MODE,
# the key with mode MODE; prints the key's path.
key_as ()
{
    cp "$pki/$1.crt" "$pki/$1-$2.crt"
    cp "$pki/$1.key" "$pki/$1-$2.key"
    chmod "$2" "$pki/$1-$2.key"
    echo "$pki/$1-$2.key"
}

# refusal KEY MODE: the message every program gives for KEY.
refusal ()
{
    echo "$1: private key is readable by group or others (mode $2); chmod 600 it"
}

# The coordinator: its configuration check (-n) loads the key.
write_conf
for mode in 0640 0644 0600 0400; do
    key=$(key_as server "$mode")
    sed "s|^key .*|key $key|" "$conf" >"$tmp/conf-$mode"
    status=0
    "${coord_env[@]}" "$COORDINATOR" -n -c "$tmp/conf-$mode" >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/err"
    case $mode in
    0640|0644)
        assert_eq "$status" 1 "exit status of the coordinator with a key of mode $mode"
        assert_eq "$(cat "$tmp/err")" "$tmp/conf-$mode: $(refusal "$key" "$mode")" \
            "the coordinator's message for a key of mode $mode" ;;
    *)
        assert_eq "$status" 0 "exit status of the coordinator with a key of mode $mode"
        assert_eq "$(cat "$tmp/err")" "$tmp/conf-$mode: configuration OK" \
            "the coordinator's check with a key of mode $mode" ;;
    esac
    assert_eq "$(cat "$tmp/out")" "" "the coordinator's stdout"
done

# The others need a coordinator: the real one, with a key of mode 0400.
sed -i "s|^key .*|key $pki/server-0400.key|" "$conf"
start_coordinator

# snapvolctl, as the admin (ops).
for mode in 0640 0644; do
    key=$(key_as ops "$mode")
    status=0
    "${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "127.0.0.1:$port" --cert "$pki/ops-$mode.crt" \
        --key "$key" --ca "$pki/ca.crt" writer list >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/err"
    assert_eq "$status" 1 "exit status of snapvolctl with a key of mode $mode"
    assert_eq "$(cat "$tmp/err")" "snapvolctl: $(refusal "$key" "$mode")" \
        "snapvolctl's message for a key of mode $mode"
    assert_eq "$(cat "$tmp/out")" "" "snapvolctl's stdout with a key of mode $mode"
done
for mode in 0600 0400; do
    key=$(key_as ops "$mode")
    assert_eq "$("${ctl_env[@]}" "$SNAPVOLCTL" --coordinator "127.0.0.1:$port" \
                   --cert "$pki/ops-$mode.crt" --key "$key" --ca "$pki/ca.crt" \
                   --json writer list)" '[]' "snapvolctl's writer list with a key of mode $mode"
done

# The plugin: nbdkit refuses to start, or serves and registers.
for mode in 0640 0644; do
    key=$(key_as storage-a "$mode")
    status=0
    timeout 30 "${nbdkit_env[@]}" nbdkit -f -U "$tmp/bad.sock" "$PLUGIN" dir="$tmp/bad-pool" \
        coordinator="127.0.0.1:$port" tls-certificate="$pki/storage-a-$mode.crt" \
        tls-key="$key" tls-ca="$pki/ca.crt" provider=storage-a \
        nbd-uri="nbd+unix:///?socket=$tmp/bad.sock" >"$tmp/out" 2>&1 || status=$?
    cat "$tmp/out"
    assert_eq "$status" 1 "exit status of nbdkit with a key of mode $mode"
    assert_eq "$(grep -v '^$' "$tmp/out")" \
        "nbdkit: error: coordinator=127.0.0.1:$port: $(refusal "$key" "$mode")" \
        "nbdkit's message for a key of mode $mode"
done
key_as storage-a 0600 >/dev/null
start_provider --cert storage-a-0600 storage-a db:1M
key_as storage-b 0400 >/dev/null
start_provider --cert storage-b-0400 storage-b logs:1M
assert_eq "$(ctl --json provider list | jq -c '[.[] | [.name, .connected]]')" \
    '[["storage-a",true],["storage-b",true]]' "providers with keys of mode 0600 and 0400"
stop_provider storage-a
stop_provider storage-b

# snapvol-writer: exits at once, or registers.
for mode in 0640 0644; do
    key=$(key_as writer-db "$mode")
    status=0
    timeout 30 "${ctl_env[@]}" "$SNAPVOL_WRITER" --coordinator "127.0.0.1:$port" \
        --cert "$pki/writer-db-$mode.crt" --key "$key" --ca "$pki/ca.crt" \
        --name writer-db >"$tmp/out" 2>"$tmp/err" || status=$?
    cat "$tmp/err"
    assert_eq "$status" 1 "exit status of snapvol-writer with a key of mode $mode"
    assert_eq "$(cat "$tmp/err")" "snapvol-writer: $(refusal "$key" "$mode")" \
        "snapvol-writer's message for a key of mode $mode"
done
# One writer per mode, each under its own name, so that the list cannot
# show the first one still connected while the second fails.
declare -A writer_mode=([writer-db]=0600 [writer-logs]=0400)
for name in writer-db writer-logs; do
    mode=${writer_mode[$name]}
    key=$(key_as "$name" "$mode")
    "${ctl_env[@]}" "$SNAPVOL_WRITER" --coordinator "127.0.0.1:$port" \
        --cert "$pki/$name-$mode.crt" --key "$key" --ca "$pki/ca.crt" \
        --name "$name" >>"$tmp/$name.log" 2>&1 &
    writer_pids[$name]=$!
    poll 20 _writer_up "$name"
done
assert_eq "$(ctl --json writer list | jq -c '[.[] | [.name, .connected]] | sort')" \
    '[["writer-db",true],["writer-logs",true]]' "writers with keys of mode 0600 and 0400"
stop_writer writer-db
stop_writer writer-logs

stop_coordinator
