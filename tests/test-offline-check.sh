#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-offline-check.sh: `snapvolctl check` on a pool that is not
# served.  A cleanly stopped pool is clean; a served pool is refused; a
# torn journal tail, a leaked cluster and a corrupt checkpoint are each
# reported in plain words; --repair fixes the first two, says so and
# leaves the third alone; once the checkpoint is restored the pool is
# clean and every export reads what it read before.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires nbdsh nbdcopy jq od dd python3
set -x

pool=$tmp/pool
start_snapvol "$pool" volume=db1:16M volume=db2:8M

fill ()
{
    seed=$2 nbdsh -u "$(uri "$1")" -c - <<'PY'
import os, random
rnd = random.Random(int(os.environ["seed"]))
size = h.get_size()
for _ in range(40):
    n = rnd.choice([4096, 65536, 200000])
    h.pwrite(rnd.randbytes(n), rnd.randrange(0, size - n))
h.flush()
PY
}

fill db1 1
fill db2 2
set_id=$(snapshot_create db1 db2 | jq -r .set_id)
fill db1 3
fill db2 4
exports=(db1 db2 "db1@$set_id" "db2@$set_id")
declare -A before
for e in "${exports[@]}"; do
    before[$e]=$(export_md5 "$e")
done
cs=$(snapvolctl --json volume list | jq '.[] | select(.name == "db1") | .cluster_size')

# check runs on the directory, without the control socket.
check ()
{
    "${ctl_env[@]}" "$SNAPVOLCTL" check "$@"
}

# A served pool is refused: the server holds the pool's lock.
expect_error "in use" check "$pool"
expect_error "in use" check --repair "$pool"

stop_snapvol

# Usage errors exit with 2; a directory that is no pool with 1.
status=0; check >/dev/null 2>&1 || status=$?
assert_eq "$status" 2 "exit status of check without DIR"
status=0; check --frobnicate "$pool" >/dev/null 2>&1 || status=$?
assert_eq "$status" 2 "exit status of check with an unknown option"
status=0; check "$pool" "$pool" >/dev/null 2>&1 || status=$?
assert_eq "$status" 2 "exit status of check with two directories"
expect_error "not a snapvol pool" check "$tmp"

# clean_json: what check --json prints for a clean pool.
clean_json ()
{
    jq -cn --arg pool "$pool" '{pool: $pool,
        volumes: [{name: "db1", problems: [], repaired: []},
                  {name: "db2", problems: [], repaired: []}],
        problems: [], repaired: [], clean: true}'
}

check --json "$pool" >"$tmp/out" || fail "check of a cleanly stopped pool failed"
assert_eq "$(jq -c . "$tmp/out")" "$(clean_json)" "check --json of a clean pool"
check "$pool" >"$tmp/out" || fail "check of a clean pool failed"
assert_eq "$(cat "$tmp/out")" "pool $pool: 2 volumes checked, clean" "check of a clean pool"

# Damage the pool.
vol=$pool/volumes
# A torn tail: garbage after the last record of db1's last journal file.
journal=$(ls "$vol"/db1/journal.* | tail -n 1)
jsize=$(stat -c %s "$journal")
printf 'garbage, not a journal record' >>"$journal"
# A leaked cluster: data in db1's data file beyond every cluster mapped.
leak=$(( ($(stat -c %s "$vol/db1/data") + cs - 1) / cs + 3 ))
printf 'leaked data' | dd of="$vol/db1/data" bs=1 seek=$(( leak * cs )) conv=notrunc status=none
# A flipped byte in the body of db2's checkpoint (its first snapshot).
flip_byte ()
{
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf %03o $(( b ^ 255 )))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
flip_byte "$vol/db2/checkpoint" $(( 4096 + 40 ))
md5_db2_files ()
{
    (cd "$vol/db2" && md5sum *)
}
md5_db2_files >"$tmp/db2.damaged"

# Each problem on its own line, naming the volume, the file and the
# object; then the summary; exit status 1.
status=0; check "$pool" >"$tmp/out" || status=$?
cat "$tmp/out"
assert_eq "$status" 1 "exit status of check of a damaged pool"
expect_line ()
{
    grep -Eq -- "$1" "$tmp/out" || fail "check output lacks a line matching /$1/"
}
expect_line "^volume db1: $journal: torn tail: the 29 bytes from offset $jsize begin with an incomplete record .*; repairable\$"
expect_line "^volume db1: $vol/db1/data: physical cluster $leak holds 11 bytes of data that no version references \\(leaked\\); repairable\$"
expect_line "^volume db2: checkpoint $vol/db2/checkpoint checksum mismatch; not repairable: restore "
expect_line "^pool $pool: 2 volumes checked, 4 problems found in 2 volumes, 2 repairable with 'snapvolctl check --repair $pool'\$"
assert_eq "$(grep -c '^volume ' "$tmp/out")" 4 "problem lines"

status=0; check --json "$pool" >"$tmp/out.json" || status=$?
assert_eq "$status" 1 "exit status of check --json of a damaged pool"
assert_eq "$(jq -c '[.clean, .problems, .repaired]' "$tmp/out.json")" '[false,[],[]]' "pool-level JSON"
assert_eq "$(jq -c '[.volumes[] | [.name, [.problems[] | [.kind, .repairable]], .repaired]]' "$tmp/out.json")" \
    '[["db1",[["torn-journal-tail",true],["leaked-cluster",true]],[]],["db2",[["checkpoint",false],["not-checked",false]],[]]]' \
    "problems in JSON"
jq -e '.volumes[0].problems[0].message | startswith("volume db1: ")' "$tmp/out.json" >/dev/null ||
    fail "JSON messages name the volume"

# --repair fixes what is safe, says what it changed, leaves db2 alone.
status=0; check --repair "$pool" >"$tmp/out" || status=$?
cat "$tmp/out"
assert_eq "$status" 1 "exit status of check --repair with a problem left"
expect_line "^repaired: volume db1: $journal: cut the torn tail \\(29 bytes from offset $jsize\\)\$"
expect_line "^repaired: volume db1: $vol/db1/data: punched physical cluster $leak \\(leaked\\)\$"
expect_line "^volume db2: checkpoint $vol/db2/checkpoint checksum mismatch; not repairable: "
expect_line "^pool $pool: 2 volumes checked, 2 repairs made, 2 problems remain\$"
md5_db2_files | diff -u "$tmp/db2.damaged" - || fail "--repair changed db2's files"
# The repairs are in the files: no garbage in any journal, no data left
# in the leaked cluster.
for j in "$vol"/db1/journal.*; do
    ! grep -q 'garbage' "$j" || fail "$j still holds the torn tail"
done
python3 - "$vol/db1/data" $(( leak * cs )) <<'PY' || fail "cluster $leak still holds data"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    off = os.lseek(fd, int(sys.argv[2]), os.SEEK_DATA)
except OSError:
    sys.exit(0)                 # no data from there on
sys.exit(1)
PY

# A second check finds only what could not be repaired.
status=0; check --json "$pool" >"$tmp/out.json" || status=$?
assert_eq "$status" 1 "exit status of the check after --repair"
assert_eq "$(jq -c '[.volumes[] | [.name, [.problems[] | .kind]]]' "$tmp/out.json")" \
    '[["db1",[]],["db2",["checkpoint","not-checked"]]]' "problems after --repair"

# The user restores the checkpoint: the pool is clean.
flip_byte "$vol/db2/checkpoint" $(( 4096 + 40 ))
check --json "$pool" >"$tmp/out" || fail "check after the checkpoint was restored failed"
assert_eq "$(jq -c . "$tmp/out")" "$(clean_json)" "check --json after the checkpoint was restored"

# Nothing any export reads changed.
start_snapvol "$pool"
for e in "${exports[@]}"; do
    assert_eq "$(export_md5 "$e")" "${before[$e]}" "content of $e after check --repair"
done
stop_snapvol
check_sanitizer_log
