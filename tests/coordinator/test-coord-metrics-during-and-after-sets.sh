#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-metrics-during-and-after-sets.sh: the 'metrics' directive's
# Prometheus endpoint, scraped with curl.  Before any set every counter
# is shown at 0; during a set (held at hold.commit for 1.5 s) it shows
# the set running and its writer frozen; after two committed sets and
# one failed by its writer (each hold.commit answered after 1.5 s), the exact counts, failure causes and
# histogram buckets (cumulative, ending in +Inf).  Other paths are 404,
# other methods 405; a bad or busy address stops the start with a
# message naming it.

source "$(dirname "$0")/functions.sh"
requires curl
set -x

mport=$(free_port)
write_conf "metrics 127.0.0.1 port $mport"
start_coordinator
grep -qF "serving metrics on http://127.0.0.1:$mport/metrics (plain HTTP)" "$coord_log" ||
    fail "the log does not say where the metrics are served"

scrape ()
{
    curl -sS --max-time 10 "http://127.0.0.1:$mport/metrics"
}

# expect FILE LINE...: FILE has each LINE, exactly.
expect ()
{
    local file=$1 line
    shift
    for line in "$@"; do
        grep -qxF -- "$line" "$file" || fail "no line '$line' in $file: $(cat "$file")"
    done
}

scrape >"$tmp/m0.txt"
expect "$tmp/m0.txt" \
    '# HELP snapvol_coordinator_sets_total Snapshot sets (set.create) ended, by result.' \
    '# TYPE snapvol_coordinator_sets_total counter' \
    'snapvol_coordinator_sets_total{result="committed"} 0' \
    'snapvol_coordinator_sets_total{result="failed"} 0' \
    'snapvol_coordinator_set_failures_total{cause="writer"} 0' \
    '# TYPE snapvol_coordinator_hold_seconds histogram' \
    'snapvol_coordinator_hold_seconds_bucket{le="+Inf"} 0' \
    'snapvol_coordinator_hold_seconds_sum 0' \
    'snapvol_coordinator_hold_seconds_count 0' \
    'snapvol_coordinator_sets_running 0' \
    'snapvol_coordinator_providers{state="connected"} 0' \
    'snapvol_coordinator_catalog_sets{state="committed"} 0'
curl -sS -D "$tmp/h0.txt" -o /dev/null "http://127.0.0.1:$mport/metrics"
grep -qixF $'Content-Type: text/plain; version=0.0.4; charset=utf-8\r' "$tmp/h0.txt" ||
    fail "content type: $(cat "$tmp/h0.txt")"

start_peer storage-a storage-a provider --volume db:1048576 --volume logs:1048576 \
    --delay hold.commit:1500
start_peer writer-db writer-db writer --volume storage-a/db
start_peer writer-logs writer-logs writer --volume storage-a/logs \
    --fail 'writer.freeze:-32000:disk busy'

# Set 1, scraped while the provider holds.
rpc backup set.create '{"volumes":["storage-a/db"],"writers":["writer-db"]}' \
    >"$tmp/set1.json" &
set1_pid=$!
wait_for grep -q '"method": *"hold.commit"' "$tmp/storage-a.events"
scrape >"$tmp/m1.txt"
wait "$set1_pid"
expect "$tmp/m1.txt" \
    'snapvol_coordinator_sets_running 1' \
    'snapvol_coordinator_sets_queued 0' \
    'snapvol_coordinator_writers{state="frozen"} 1' \
    'snapvol_coordinator_writers{state="stable"} 1' \
    'snapvol_coordinator_providers{state="connected"} 1' \
    'snapvol_coordinator_sets_total{result="committed"} 0' \
    'snapvol_coordinator_catalog_sets{state="unfinished"} 1'
assert_eq "$(jget "$(cat "$tmp/set1.json")" 'j["result"]["state"]')" committed "set 1"

rpc backup set.create '{"volumes":["storage-a/db"],"writers":["writer-db"]}' >"$tmp/set2.json"
assert_eq "$(jget "$(cat "$tmp/set2.json")" 'j["result"]["state"]')" committed "set 2"
rpc backup set.create '{"volumes":["storage-a/logs"]}' >"$tmp/set3.json"
assert_eq "$(jget "$(cat "$tmp/set3.json")" 'j["error"]["code"]')" -32010 "set 3"

scrape >"$tmp/m2.txt"
cat "$tmp/m2.txt"
expect "$tmp/m2.txt" \
    'snapvol_coordinator_sets_total{result="committed"} 2' \
    'snapvol_coordinator_sets_total{result="failed"} 1' \
    'snapvol_coordinator_sets_total{result="refused"} 0' \
    'snapvol_coordinator_set_failures_total{cause="writer"} 1' \
    'snapvol_coordinator_set_failures_total{cause="provider"} 0' \
    'snapvol_coordinator_set_failures_total{cause="freeze_window"} 0' \
    'snapvol_coordinator_set_failures_total{cause="disconnected"} 0' \
    'snapvol_coordinator_set_failures_total{cause="catalog"} 0' \
    'snapvol_coordinator_reverts_total{result="reverted"} 0' \
    'snapvol_coordinator_set_duration_seconds_count 3' \
    'snapvol_coordinator_set_duration_seconds_bucket{le="+Inf"} 3' \
    'snapvol_coordinator_freeze_window_seconds_count 3' \
    'snapvol_coordinator_hold_seconds_bucket{le="0.01"} 0' \
    'snapvol_coordinator_hold_seconds_bucket{le="1"} 0' \
    'snapvol_coordinator_hold_seconds_bucket{le="600"} 2' \
    'snapvol_coordinator_hold_seconds_bucket{le="+Inf"} 2' \
    'snapvol_coordinator_hold_seconds_count 2' \
    'snapvol_coordinator_sets_running 0' \
    'snapvol_coordinator_writers{state="stable"} 1' \
    'snapvol_coordinator_writers{state="failed"} 1' \
    'snapvol_coordinator_writers{state="frozen"} 0' \
    'snapvol_coordinator_catalog_sets{state="committed"} 2' \
    'snapvol_coordinator_catalog_sets{state="failed"} 1' \
    'snapvol_coordinator_catalog_sets{state="unfinished"} 0' \
    'snapvol_coordinator_catalog_snapshots 2'
# Each hold took at least 1.5 s (hold.commit's delay): 3 s or more.
grep -qxE 'snapvol_coordinator_hold_seconds_sum ([3-9](\.[0-9]+)?|[1-9][0-9]+(\.[0-9]+)?)' "$tmp/m2.txt" ||
    fail "hold sum: $(grep hold_seconds_sum "$tmp/m2.txt")"
grep -qxE 'snapvol_coordinator_catalog_bytes [1-9][0-9]*' "$tmp/m2.txt" || fail "catalog bytes"
# Buckets are cumulative: never smaller than the one before.
awk -F'[ ]' '/_bucket\{/ { split($1, a, "_bucket"); if (a[1] == last && $2 < n) bad = 1; last = a[1]; n = $2 }
    END { exit bad }' "$tmp/m2.txt" || fail "buckets are not cumulative"

# Not /metrics, not GET.
assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/")" 404 "GET /"
assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/metricsx")" 404 "GET /metricsx"
assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$mport/metrics")" 405 "POST /metrics"
stop_coordinator

# Bad addresses stop the start, naming the line and the address.
write_conf "metrics 127.0.0.300 port $mport"
"$COORDINATOR" -n -c "$conf" >"$tmp/bad.out" 2>&1 && fail "a bad metrics address was accepted"
line=$(grep -n '^metrics ' "$conf" | cut -d: -f1)
assert_eq "$(cat "$tmp/bad.out")" "$conf:$line: 'metrics': invalid address '127.0.0.300' (a numeric IPv4 or IPv6 address, such as 127.0.0.1 or ::1)" "bad address"
write_conf "metrics 127.0.0.1 port 0"
"$COORDINATOR" -n -c "$conf" >"$tmp/bad.out" 2>&1 && fail "port 0 was accepted"
assert_eq "$(cat "$tmp/bad.out")" "$conf:$line: 'metrics': invalid port '0' (1 to 65535)" "bad port"

# A busy port: the daemon does not start, and says which.
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); open(sys.argv[2], "w").close(); time.sleep(30)' \
    "$mport" "$tmp/busy.ready" &
busy_pid=$!
wait_for test -e "$tmp/busy.ready"
write_conf "metrics 127.0.0.1 port $mport"
"$COORDINATOR" -f -c "$conf" >"$tmp/busy.out" 2>&1 && fail "the coordinator started on a busy port"
kill "$busy_pid"; wait "$busy_pid" 2>/dev/null || :
grep -qF "$conf:$line: metrics 127.0.0.1 port $mport: Address already in use" "$tmp/busy.out" ||
    fail "busy port: $(cat "$tmp/busy.out")"
