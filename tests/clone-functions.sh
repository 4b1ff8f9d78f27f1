# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# clone-functions.sh: helpers of the clone tests (sourced after
# functions.sh).

# json_error EXPECTED-JSON SNAPVOLCTL-ARGS...: snapvolctl --json must
# exit with status 1, print on stdout one JSON value equal to
# EXPECTED-JSON (compared as parsed) and one line on stderr.
json_error ()
{
    local want=$1 status=0 xtrace=
    shift
    # The trace of set -x must not land in the captured stderr.
    case $- in *x*) xtrace=1; set +x ;; esac
    snapvolctl --json "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
    [ -z "$xtrace" ] || set -x
    cat "$tmp/out" "$tmp/err"
    assert_eq "$status" 1 "exit status of snapvolctl $*"
    python3 - "$tmp/out" "$want" <<'PY' || fail "stdout of snapvolctl $*"
import json, sys
got = json.loads(open(sys.argv[1]).read())
want = json.loads(sys.argv[2])
if got != want:
    sys.exit("got %s\nwant %s" % (json.dumps(got), json.dumps(want)))
PY
    assert_eq "$(wc -l <"$tmp/err")" 1 "lines on stderr of snapvolctl $*"
}

# snap VOLUME: take a snapshot of VOLUME and print its id.
snap ()
{
    snapshot_create "$1" | jq -r '.snapshots[0].id'
}

# wait_flattened NAME: poll volume list (at most 60 s) until NAME is no
# clone any more; fail if its flatten reports an error.
wait_flattened ()
{
    local i v
    for (( i = 0; i < 600; i++ )); do
        v=$(snapvolctl --json volume list "$1" | jq -c '.[0]')
        [ "$(jq -r '.flatten.error // empty' <<<"$v")" = "" ] ||
            fail "flatten of $1 failed: $v"
        [ "$(jq -r 'has("origin")' <<<"$v")" = false ] && return 0
        sleep 0.1
    done
    fail "flatten of $1 did not end within 60 s: $v"
}
