# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# lib.sh: helpers sourced by scripts/bench: the work directory and its
# cleanup, servers, fio runs, medians, and the results file that
# bench/report.sh turns into docs/performance.md.
#
# Results are lines "KEY<TAB>VALUE" in $bench_results; the exact
# command of every measurement is a line "KEY<TAB>COMMAND" in
# $bench_commands.  Every case records what it measured under its own
# keys, so the report never depends on the order the cases ran in.
#
# Expects from the caller: $bench_build (the build tree), $bench_work
# (an empty directory of its own on the filesystem to measure),
# $bench_runs and $bench_runtime.
# shellcheck shell=bash

# Debian's python3 (python3-libnbd) and the system tools come first.
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH
export LC_ALL=C

bench_plugin=$bench_build/plugin/.libs/nbdkit-snapvol-plugin.so
bench_ctl=$bench_build/client/snapvolctl
bench_bin=$bench_build/bench
bench_results=$bench_work/results.tsv
bench_commands=$bench_work/commands.tsv
: >"$bench_results"
: >"$bench_commands"

# Every server started, as "NAME PID", stopped by bench_cleanup.
declare -A bench_servers=()
# Every network namespace made (bench/coord.sh's hosts), deleted by
# bench_cleanup after the servers are stopped.
declare -a bench_netns=()

bench_log ()
{
    printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# res_set KEY VALUE: record a result (a later value for KEY wins).
res_set ()
{
    printf '%s\t%s\n' "$1" "$2" >>"$bench_results"
}

# res_get KEY: print the value recorded for KEY (empty if none).
res_get ()
{
    awk -F'\t' -v k="$1" '$1 == k { v = $2 } END { print v }' "$bench_results"
}

# res_cmd KEY CMD ARG...: record the exact command of measurement KEY
# (the first one recorded for KEY is kept: runs repeat the same one).
res_cmd ()
{
    local key=$1
    shift
    if ! awk -F'\t' -v k="$key" '$1 == k { f = 1 } END { exit !f }' "$bench_commands"; then
        printf '%s\t%s\n' "$key" "$(printf '%q ' "$@" | sed 's/ $//')" >>"$bench_commands"
    fi
}

# median VALUE...: the median (the mean of the middle two for an even
# count).
median ()
{
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) exit 1
              if (NR % 2) printf "%.6g\n", v[(NR + 1) / 2]
              else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# res_runs KEY VALUE...: record the runs of a measurement and their
# median (KEY) and the runs themselves (KEY.runs).
res_runs ()
{
    local key=$1
    shift
    res_set "$key" "$(median "$@")"
    res_set "$key.runs" "$*"
}

# now: seconds since the epoch, with nanoseconds.
now ()
{
    date +%s.%N
}

# elapsed START: seconds since START (from now), 4 decimals.
elapsed ()
{
    awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.4f\n", b - a }'
}

# uri SOCKET [EXPORT]: the NBD URI of EXPORT on a Unix socket.
uri ()
{
    printf 'nbd+unix:///%s?socket=%s' "${2:-}" "$1"
}

# wait_nbd URI PID LOG: wait until the server PID answers an NBD
# handshake for URI; fail with its log if it exits or takes over 60 s.
wait_nbd ()
{
    local u=$1 pid=$2 log=$3 i
    for (( i = 0; i < 600; i++ )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            sv_die "the server for $u exited during startup"
        fi
        nbdinfo --size "$u" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$log" >&2
    sv_die "the server for $u did not start within 60 s"
}

# srv_start NAME URI CMD ARG...: start a server in the background,
# logging to $bench_work/NAME.log, record its command as cmd.srv.NAME,
# and wait until URI answers.  The server must stay in the foreground.
srv_start ()
{
    local name=$1 u=$2 pid
    shift 2
    [ -z "${bench_servers[$name]:-}" ] || sv_die "server $name is already running"
    res_cmd "cmd.srv.$name" "$@"
    # nbdkit and qemu-nbd leave their socket behind when they exit.
    [ ! -S "${u##*socket=}" ] || rm -f "${u##*socket=}"
    "$@" >>"$bench_work/$name.log" 2>&1 &
    pid=$!
    bench_servers[$name]=$pid
    wait_nbd "$u" "$pid" "$bench_work/$name.log"
}

# srv_adopt_bg NAME CMD ARG...: start a process that is not an NBD
# server (the coordinator, a writer agent) in the background, logging
# to $bench_work/NAME.log, to be stopped with the servers.
srv_adopt_bg ()
{
    local name=$1
    shift
    "$@" >>"$bench_work/$name.log" 2>&1 &
    bench_servers[$name]=$!
}

# srv_adopt NAME PID: stop PID with the other servers (a server
# started by sv-startup, which is not a child of this shell).
srv_adopt ()
{
    bench_servers[$1]=$2
}

# srv_stop NAME [SIGNAL]: stop a server (default SIGTERM; KILL to
# simulate a crash) and wait for it to be gone.
srv_stop ()
{
    local name=$1 sig=${2:-TERM} pid i
    pid=${bench_servers[$name]:-}
    [ -n "$pid" ] || return 0
    kill "-$sig" "$pid" 2>/dev/null || :
    for (( i = 0; i < 300; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || :
        sleep 0.2
    fi
    wait "$pid" 2>/dev/null || :
    unset "bench_servers[$name]"
}

# bench_netns_delete: delete the network namespaces in bench_netns.  A
# namespace whose name is deleted lives on until its last process ends,
# so stop those first.
bench_netns_delete ()
{
    local n
    for n in "${bench_netns[@]}"; do
        ip netns del "$n" 2>/dev/null || bench_log "could not delete network namespace $n"
    done
    bench_netns=()
}

# bench_cleanup: stop every server; delete the network namespaces;
# remove the work directory unless BENCH_KEEP=1.  Installed as the EXIT
# trap by scripts/bench.
bench_cleanup ()
{
    local name
    for name in "${!bench_servers[@]}"; do
        srv_stop "$name"
    done
    bench_netns_delete
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        bench_log "keeping $bench_work"
    else
        rm -rf "$bench_work"
    fi
}

# fio_run KEY JOBFILE [VAR=VALUE]...: run a fio job file from bench/fio
# with the variables in the environment; record the command as KEY and
# print the path of its JSON output.
fio_run ()
{
    local key=$1 job=$sv_top/bench/fio/$2.fio out
    shift 2
    out=$(mktemp "$bench_work/fio.XXXXXX")
    res_cmd "$key" env "$@" fio --output-format=json "$job"
    if ! env "$@" fio --output-format=json --output="$out" "$job" >"$out.err" 2>&1; then
        cat "$out.err" >&2
        sv_die "fio failed: $key"
    fi
    # fio may print notices before the JSON.
    sed -n '/^{/,$p' "$out" >"$out.json"
    rm -f "$out" "$out.err"
    echo "$out.json"
}

# fio_iops JSON [JOB]: read plus write IOPS of a fio result (of job JOB
# alone, by name, if given).  fio_mibs: the same in MiB/s.
fio_iops ()
{
    jq --arg j "${2:-}" '[.jobs[] | select($j == "" or .jobname == $j)
                         | .read.iops + .write.iops] | add' "$1"
}
fio_mibs ()
{
    jq --arg j "${2:-}" '[.jobs[] | select($j == "" or .jobname == $j)
                         | .read.bw_bytes + .write.bw_bytes] | add / 1048576' "$1"
}

# snapvolctl ARG...: the build's snapvolctl on the bench server's
# control socket ($bench_ctlsock).
snapvolctl ()
{
    "$bench_ctl" --socket "$bench_ctlsock" "$@"
}

# bytes SIZE: SIZE with a K/M/G/T suffix (powers of 1024) in bytes.
bytes ()
{
    numfmt --from=iec "$1"
}
