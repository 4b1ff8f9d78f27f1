# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# cases.sh: the measurements of scripts/bench, one function per case,
# sourced after lib.sh.  Each case records its results under its own
# keys (see bench/report.sh for what is read back).
#
# Expects from scripts/bench, besides what lib.sh needs:
#   bench_quick        1 for --quick
#   bench_size         bytes of every export of the workload matrix
#   bench_snaps_many   the "10,000 snapshots" count (1000 in --quick)
#   bench_samples      snapshots timed per snapshot-cost case
#   bench_sc_rounds    rounds of the snapshot-cost cases (see case_snapcost)
#   bench_map_clusters clusters allocated per extent-map memory case
#   bench_cow_cycles   snapshot + first + steady cycles per snapvol run
#
# Order: case_env, case_servers first; case_cow before case_fullread
# (which reads the snapshot it took); the others in any order.
# shellcheck shell=bash

bench_workloads=(rr4k rw4k sr1m sw1m mc4k)
# Servers of the workload matrix, in the order of the table.
bench_matrix=(snapvol file qcow2 cow memory null)
# Snapshot-cost cases (case_snapcost), in the order of the table.
bench_sc_cases=(idle size1g size1t filled snaps1 snaps100 snapsmany vols16 vols128)
declare -A srv_uri=()

bench_ctlsock=$bench_work/ctl.sock

# case_env: the machine, the filesystem, the versions.
case_env ()
{
    local fs
    fs=$(findmnt -T "$bench_work" -no FSTYPE,SOURCE | tr -s ' ')
    res_set env.date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    res_set env.cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    res_set env.cores "$(nproc)"
    res_set env.memory "$(free -g | awk '/^Mem:/ { print $2 " GiB" }')"
    res_set env.fs "$fs"
    res_set env.fs_avail "$(df -h --output=avail "$bench_work" | tail -1 | tr -d ' ')"
    res_set env.kernel "$(uname -r)"
    res_set env.load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
    res_set env.snapvol "$(nbdkit --dump-plugin "$bench_plugin" | sed -n 's/^snapvol_version=//p')"
    res_set env.nbdkit "$(nbdkit --version | head -1)"
    res_set env.qemu "$(qemu-nbd --version | head -1)"
    res_set env.fio "$(fio --version)"
    res_set env.libnbd "$(nbdinfo --version | sed -n 's/^libnbd //p' | head -1)"
}

# case_servers: start every server of the matrix on its own Unix
# socket, each over bench_size bytes written once in full (except the
# cow filter, whose overlay starts empty over the written file, and
# null).
case_servers ()
{
    local raw=$bench_work/raw.img qcow=$bench_work/image.qcow2 s
    for s in "${bench_matrix[@]}"; do
        srv_uri[$s]=$(uri "$bench_work/$s.sock")
    done
    srv_uri[snapvol]=$(uri "$bench_work/snapvol.sock" v)
    srv_uri[rd]=$(uri "$bench_work/snapvol.sock" rd)

    bench_log "starting the servers and writing their exports ($bench_size bytes each)"
    truncate -s "$bench_size" "$raw"
    srv_start file "${srv_uri[file]}" \
        nbdkit -f --exit-with-parent -U "$bench_work/file.sock" file "$raw"
    fill "${srv_uri[file]}" file

    res_cmd cmd.prep.qcow2 qemu-img convert -f raw -O qcow2 -o cluster_size=65536 "$raw" "$qcow"
    qemu-img convert -f raw -O qcow2 -o cluster_size=65536 "$raw" "$qcow"
    qcow2_start

    srv_start snapvol "${srv_uri[snapvol]}" \
        nbdkit -f --exit-with-parent -U "$bench_work/snapvol.sock" "$bench_plugin" \
        dir="$bench_work/pool" control="$bench_ctlsock" \
        volume=v:"$bench_size" volume=rd:"$bench_size"
    fill "${srv_uri[snapvol]}" snapvol
    fill "${srv_uri[rd]}" rd

    cow_start
    srv_start memory "${srv_uri[memory]}" \
        nbdkit -f --exit-with-parent -U "$bench_work/memory.sock" memory "$bench_size"
    fill "${srv_uri[memory]}" memory
    srv_start null "${srv_uri[null]}" \
        nbdkit -f --exit-with-parent -U "$bench_work/null.sock" null "$bench_size"
}

# fill URI NAME: write every byte of the export once, then flush.
fill ()
{
    rm -f "$(fio_run "cmd.fill.$2" fill BENCH_URI="$1" BENCH_SIZE="$bench_size")"
}

# qcow2_start: serve the qcow2 image (writeback cache, as nbdkit's file
# plugin uses the page cache; up to 16 connections for multi-conn).
qcow2_start ()
{
    rm -f "$bench_work/qcow2.sock"
    srv_start qcow2 "${srv_uri[qcow2]}" \
        qemu-nbd -t -e 16 -f qcow2 --cache=writeback --aio=threads \
        -k "$bench_work/qcow2.sock" "$bench_work/image.qcow2"
}

# cow_start: serve the raw file through nbdkit's cow filter; the
# overlay (a temporary file in the work directory) starts empty.
cow_start ()
{
    srv_start cow "${srv_uri[cow]}" \
        env TMPDIR="$bench_work" \
        nbdkit -f --exit-with-parent -U "$bench_work/cow.sock" --filter=cow \
        file "$bench_work/raw.img"
}

# warm URI: read the whole export once (nbdcopy to null:), untimed.
# This machine's kernel pages out page cache that has not been touched
# for a second or so (DAMON reclaim), so which server's data is still
# cached when its turn comes would depend on the order of the cells:
# every read measurement starts from a full read instead.
warm ()
{
    res_cmd cmd.warm nbdcopy "$1" null:
    nbdcopy "$1" null:
}

# case_workloads: every workload on every server of the matrix.  The
# runs are interleaved (run 1 of every cell, then run 2, ...) so that
# a burst of load from elsewhere on the machine hits every server alike.
# Before a workload that reads, the export is warmed (see warm).
case_workloads ()
{
    local r wl s json v k
    local -A vals=()
    for (( r = 1; r <= bench_runs; r++ )); do
        bench_log "workload matrix: run $r of $bench_runs"
        for wl in "${bench_workloads[@]}"; do
            for s in "${bench_matrix[@]}"; do
                case $wl in
                    rr4k|sr1m|mc4k) warm "${srv_uri[$s]}" ;;
                esac
                json=$(fio_run "cmd.wl.$s.$wl" "$wl" BENCH_URI="${srv_uri[$s]}" \
                       BENCH_SIZE="$bench_size" BENCH_RUNTIME="$bench_runtime")
                case $wl in
                    *1m) v=$(fio_mibs "$json") ;;
                    *) v=$(fio_iops "$json") ;;
                esac
                rm -f "$json"
                vals[$s.$wl]+="$v "
            done
        done
    done
    for k in "${!vals[@]}"; do
        # shellcheck disable=SC2086
        res_runs "wl.$k" ${vals[$k]}
    done
}

# firstwrites KEY URI SEED: one pass of bench/fio/firstwrites.fio;
# prints "IOS MS": the writes done and fio's run time in milliseconds.
firstwrites ()
{
    local json
    json=$(fio_run "$1" firstwrites BENCH_URI="$2" BENCH_SIZE="$bench_size" \
           BENCH_NIOS="$(( bench_size / 65536 / 8 ))" BENCH_SEED="$3")
    jq -r '[.jobs[0].write.total_ios, .jobs[0].job_runtime] | map(tostring) | join(" ")' "$json"
    rm -f "$json"
}

# iops_of "IOS MS"...: the IOPS of several passes taken together.
iops_of ()
{
    printf '%s\n' "$@" | awk '{ n += $1; ms += $2 }
        END { if (ms > 0) printf "%.1f\n", n * 1000 / ms; else print 0 }'
}

# case_cow: first 4 KiB writes after a snapshot of a fully written
# export, then the same writes again (steady state), on snapvol (a
# snapshot through the control socket), qemu-nbd's qcow2 (an internal
# snapshot, taken with qemu-img while the image is not served) and the
# nbdkit cow filter (a fresh, empty overlay).  A snapvol pass lasts a
# few tens of milliseconds, too short to time alone on a noisy machine:
# each run takes bench_cow_cycles cycles of (snapshot, first pass,
# steady pass) and counts their writes and times together.  Each cycle
# has a seed of its own, so that its first pass lands in clusters the
# earlier cycles mostly left alone, as after a single snapshot (the same
# blocks rewritten between every pair of snapshots would be a different
# case: after 8 of them a copy on write copies the whole cluster, see
# docs/design.md).  The other servers' first passes last long enough
# alone.
case_cow ()
{
    local r c snap
    local -a svf=() svs=() qf=() qs=() cf=() cs=() f s
    res_set cow.nios "$(( bench_size / 65536 / 8 ))"
    res_set cow.cycles "$bench_cow_cycles"
    for (( r = 1; r <= bench_runs; r++ )); do
        bench_log "copy-on-write first writes: run $r of $bench_runs"
        f=() s=()
        for (( c = 1; c <= bench_cow_cycles; c++ )); do
            res_cmd cmd.cow.snapvol.snapshot "$bench_ctl" --socket "$bench_ctlsock" --json snapshot create --label cow v
            snap=$(snapvolctl --json snapshot create --label cow v)
            [ -n "$(res_get cow.export)" ] ||
                res_set cow.export "$(jq -r '.snapshots[0].export' <<<"$snap")"
            f+=("$(firstwrites cmd.cow.snapvol.first "${srv_uri[snapvol]}" "$(( r * 1000 + c ))")")
            s+=("$(firstwrites cmd.cow.snapvol.steady "${srv_uri[snapvol]}" "$(( r * 1000 + c ))")")
        done
        svf+=("$(iops_of "${f[@]}")")
        svs+=("$(iops_of "${s[@]}")")

        srv_stop qcow2
        res_cmd cmd.cow.qcow2.snapshot qemu-img snapshot -c "bench$r" "$bench_work/image.qcow2"
        qemu-img snapshot -c "bench$r" "$bench_work/image.qcow2"
        qcow2_start
        qf+=("$(iops_of "$(firstwrites cmd.cow.qcow2.first "${srv_uri[qcow2]}" "$(( r * 1000 ))")")")
        qs+=("$(iops_of "$(firstwrites cmd.cow.qcow2.steady "${srv_uri[qcow2]}" "$(( r * 1000 ))")")")

        srv_stop cow
        cow_start
        cf+=("$(iops_of "$(firstwrites cmd.cow.cow.first "${srv_uri[cow]}" "$(( r * 1000 ))")")")
        cs+=("$(iops_of "$(firstwrites cmd.cow.cow.steady "${srv_uri[cow]}" "$(( r * 1000 ))")")")
    done
    res_runs cow.snapvol.first "${svf[@]}"
    res_runs cow.snapvol.steady "${svs[@]}"
    res_runs cow.qcow2.first "${qf[@]}"
    res_runs cow.qcow2.steady "${qs[@]}"
    res_runs cow.cow.first "${cf[@]}"
    res_runs cow.cow.steady "${cs[@]}"
    # The filesystem's part: a buffered write into a new page against
    # an overwrite of a cached one, one thread, nothing else running.
    res_cmd cmd.cow.pagefloor "$bench_bin/sv-pagefloor" --dir "$bench_work"
    res_set cow.pagefloor "$("$bench_bin/sv-pagefloor" --dir "$bench_work")"
}

# case_snapreads: random reads of the live volume, then of its oldest
# snapshot, each while another connection writes the live volume at
# random; with 1, 100 and bench_snaps_many snapshots present.  Between
# snapshots, 8 random 4 KiB blocks are written, so that the snapshots
# differ and the map holds many versions.
case_snapreads ()
{
    local count present=0 first='' out r json
    local -a live snap livew snapw
    for count in 1 100 "$bench_snaps_many"; do
        bench_log "snapshot reads during writes: taking snapshots up to $count"
        res_cmd "cmd.rd.make" "$sv_top/bench/sv-snapmany" "$bench_ctlsock" "${srv_uri[rd]}" rd COUNT 8
        out=$("$sv_top/bench/sv-snapmany" "$bench_ctlsock" "${srv_uri[rd]}" rd \
              "$(( count - present ))" 8)
        [ -n "$first" ] || first=$(jq -r .first_export <<<"$out")
        res_set "rd.$count.make_s" "$(jq .seconds <<<"$out")"
        present=$count
        live=() snap=() livew=() snapw=()
        for (( r = 1; r <= bench_runs; r++ )); do
            warm "${srv_uri[rd]}"
            json=$(fio_run cmd.rd.live readwrite BENCH_READ_URI="${srv_uri[rd]}" \
                   BENCH_WRITE_URI="${srv_uri[rd]}" BENCH_SIZE="$bench_size" \
                   BENCH_RUNTIME="$bench_runtime")
            live+=("$(fio_iops "$json" reader)")
            livew+=("$(fio_iops "$json" writer)")
            rm -f "$json"
            warm "$(uri "$bench_work/snapvol.sock" "$first")"
            json=$(fio_run cmd.rd.snap readwrite \
                   BENCH_READ_URI="$(uri "$bench_work/snapvol.sock" "$first")" \
                   BENCH_WRITE_URI="${srv_uri[rd]}" BENCH_SIZE="$bench_size" \
                   BENCH_RUNTIME="$bench_runtime")
            snap+=("$(fio_iops "$json" reader)")
            snapw+=("$(fio_iops "$json" writer)")
            rm -f "$json"
        done
        res_runs "rd.$count.live" "${live[@]}"
        res_runs "rd.$count.snap" "${snap[@]}"
        res_runs "rd.$count.live_w" "${livew[@]}"
        res_runs "rd.$count.snap_w" "${snapw[@]}"
    done
}

# snapcost_round KEY ROUND ARG...: one run of sv-snapcost for case KEY
# in a pool of its own, its samples appended to KEY's raw file.
snapcost_round ()
{
    local key=$1 round=$2 dir=$bench_work/sc-$1
    shift 2
    bench_log "snapshot cost: $key, round $round of $bench_sc_rounds"
    # The earlier cases' dirty data (gigabytes) would be written back
    # during this one, and ext4 (data=ordered) makes every journal
    # commit, hence every fdatasync, wait for what it must order.
    sync
    [ "$round" -gt 1 ] ||
        res_cmd "cmd.sc.$key" "$bench_bin/sv-snapcost" --dir "$dir" "$@" \
            --raw "$bench_work/sc-$key.raw"
    "$bench_bin/sv-snapcost" --dir "$dir" "$@" --raw "$bench_work/sc-$key.raw" \
        >"$bench_work/sc-$key.json"
    rm -rf "$dir"
}

# snapcost_dist FILE COLUMN SCALE NAME: the distribution of one column
# of a raw file of sv-snapcost, as it prints one (nearest rank).
snapcost_dist ()
{
    cut -d' ' -f"$2" "$1" | sort -g | awk -v scale="$3" -v name="$4" '
        { v[NR] = $1 }
        function pct(p,   r) {
            r = int(p / 100 * NR + 0.999999)
            if (r < 1) r = 1
            if (r > NR) r = NR
            return NR ? v[r] * scale : 0
        }
        END { printf "{\"%s\": {\"p50\": %.6g, \"p99\": %.6g, \"max\": %.6g, \"n\": %d}}\n",
                     name, pct(50), pct(99), pct(100), NR }'
}

# snapcost_merge KEY: KEY's result: its last run's description with the
# distributions of the samples of all its rounds.
snapcost_merge ()
{
    local raw=$bench_work/sc-$1.raw stall
    stall=$raw
    [ "$(jq .writer_rate "$bench_work/sc-$1.json")" != 0 ] || stall=/dev/null
    jq -c -s add "$bench_work/sc-$1.json" \
        <(snapcost_dist "$raw" 1 1e-6 snapshot_ms) \
        <(snapcost_dist "$raw" 2 1e-3 hold_us) \
        <(snapcost_dist "$stall" 3 1e-3 writer_stall_us)
}

# case_snapcost: time to take a snapshot and the write hold, in process
# with a writer issuing 5000 random 4 KiB writes per second, against
# volume size, existing snapshots and volumes in the set; and the sync
# floor of the filesystem.  The cases are compared with one another
# (flat from 1 GiB to 1 TiB, from 1 to 10,000 snapshots) while the
# speed of this machine's disk drifts from minute to minute: so the
# cases run in bench_sc_rounds rounds, each round running every case
# once in an order that rotates, and each case's samples are merged.
case_snapcost ()
{
    local n filled r i key
    local -a keys=("${bench_sc_cases[@]}")
    local -A args
    filled=$(( bench_quick ? 1 << 30 : 8 << 30 ))
    n=$(( bench_samples / bench_sc_rounds ))
    args=(
        [idle]="--size $(bytes 1G) --fill --rate 0 --samples $n"
        [size1g]="--size $(bytes 1G) --samples $n"
        [size1t]="--size $(bytes 1T) --samples $n"
        [filled]="--size $filled --fill --samples $n"
        [snaps1]="--size $(bytes 1G) --existing 1 --samples $n"
        [snaps100]="--size $(bytes 1G) --existing 100 --samples $n"
        [snapsmany]="--size $(bytes 1G) --existing $bench_snaps_many --samples $n"
        [vols16]="--size $(bytes 1G) --volumes 16 --samples $n"
        [vols128]="--size $(bytes 1G) --volumes 128 --samples $(( n / 4 ))"
    )
    sync
    res_cmd cmd.sc.syncfloor "$bench_bin/sv-syncfloor" --dir "$bench_work" --samples 500
    res_set sc.syncfloor "$("$bench_bin/sv-syncfloor" --dir "$bench_work" --samples 500)"
    for key in "${keys[@]}"; do
        rm -f "$bench_work/sc-$key.raw"
    done
    for (( r = 1; r <= bench_sc_rounds; r++ )); do
        for (( i = 0; i < ${#keys[@]}; i++ )); do
            key=${keys[$(( (i + r - 1) % ${#keys[@]} ))]}
            # shellcheck disable=SC2086 # the arguments are words
            snapcost_round "$key" "$r" ${args[$key]}
        done
    done
    for key in "${keys[@]}"; do
        res_set "sc.$key" "$(snapcost_merge "$key")"
    done
}

# mapmem KEY ARG...: one run of sv-mapmem in a pool of its own.
mapmem ()
{
    local key=$1 dir=$bench_work/mm-$1
    shift
    bench_log "extent-map memory: $key"
    res_cmd "cmd.mem.$key" "$bench_bin/sv-mapmem" --dir "$dir" "$@"
    res_set "mem.$key" "$("$bench_bin/sv-mapmem" --dir "$dir" "$@")"
    rm -rf "$dir"
}

# case_memory: memory and metadata per allocated 64 KiB cluster, for a
# sequential run, random clusters over half of a volume, and random
# clusters over 1/64 of a volume (thin and scattered).
case_memory ()
{
    local n=$bench_map_clusters
    mapmem seq --pattern sequential --clusters "$n" --size $(( n * 65536 ))
    mapmem rand --pattern random --clusters "$n" --size $(( n * 2 * 65536 ))
    mapmem sparse --pattern random --clusters "$n" --size $(( n * 64 * 65536 ))
}

# case_diff: a whole paged snapshot.diff between two snapshots of a
# volume of 1,048,576 mapped 4 KiB clusters (random fill) taken 10,000
# random 4 KiB writes apart, and the memory a page of 4096 ranges holds
# (bench/sv-diffcost; 262,144 clusters and 2,500 writes in --quick).
case_diff ()
{
    local dir=$bench_work/diff n=1048576 w=10000
    if (( bench_quick )); then
        n=262144 w=2500
    fi
    bench_log "snapshot diff: $n clusters, $w writes apart"
    res_cmd cmd.diff "$bench_bin/sv-diffcost" --dir "$dir" --clusters "$n" --writes "$w" --runs "$bench_runs"
    res_set diff "$("$bench_bin/sv-diffcost" --dir "$dir" --clusters "$n" --writes "$w" --runs "$bench_runs")"
    rm -rf "$dir"
}

# case_delete: a snapshot's deletion with bench_snaps_many snapshots
# present against one alone, 64 MiB exclusive each, in a 16 GiB volume
# written in full; and 4 KiB random write latency of the live volume
# while a 4 GiB snapshot is reclaimed in the background, against the
# same writes alone (bench/sv-delcost, in process: the data file's
# bytes are dropped, the map, journal and syncs are real; --quick: a
# 4 GiB volume, 1 GiB reclaimed).
case_delete ()
{
    local dir=$bench_work/delete size=$((16 << 30)) rsize=$((4 << 30))
    if (( bench_quick )); then
        size=$((4 << 30)) rsize=$((1 << 30))
    fi
    bench_log "snapshot deletion: $bench_snaps_many snapshots, $size bytes"
    res_cmd cmd.delete "$bench_bin/sv-delcost" --dir "$dir" --size "$size" \
        --snaps "$bench_snaps_many" --reclaim-size "$rsize"
    rm -rf "$dir"
    mkdir -p "$dir"
    res_set delete "$("$bench_bin/sv-delcost" --dir "$dir" --size "$size" \
        --snaps "$bench_snaps_many" --reclaim-size "$rsize")"
    rm -rf "$dir"
}

# case_reclaimnbd: 4 KiB random write latency over NBD (fio through
# nbdkit and the plugin, one write in flight at 5000 a second, every
# block verified after) while a deleted 4 GiB snapshot is reclaimed in
# the background, against the same writes alone, side by side in each
# run (bench/sv-reclaimfio: the p99 of the writes completed in the
# reclaim's window, and in the same window of the run alone; --quick:
# 1 GiB).  Data reaches the page cache and the disk, unlike the
# in-process measure of case_delete.
case_reclaimnbd ()
{
    local size=$((4 << 30)) secs=10 name=rn u
    if (( bench_quick )); then
        size=$((1 << 30)) secs=5
    fi
    u=$(uri "$bench_work/rn.sock" "$name")
    bench_log "reclaim over NBD: $size bytes, $bench_runs runs"
    srv_start rn "$u" \
        nbdkit -f --exit-with-parent -U "$bench_work/rn.sock" "$bench_plugin" \
        dir="$bench_work/rn-pool" control="$bench_work/rn-ctl.sock" \
        volume="$name:$size"
    mkdir -p "$bench_work/rn"
    res_cmd cmd.reclaimnbd python3 "$sv_top/bench/sv-reclaimfio" \
        --socket "$bench_work/rn-ctl.sock" --volume "$name" --uri "$u" \
        --work "$bench_work/rn" --runs "$bench_runs" --seconds "$secs"
    res_set reclaimnbd "$(python3 "$sv_top/bench/sv-reclaimfio" \
        --socket "$bench_work/rn-ctl.sock" --volume "$name" --uri "$u" \
        --work "$bench_work/rn" --runs "$bench_runs" --seconds "$secs")"
    srv_stop rn
    rm -rf "$bench_work/rn-pool" "$bench_work/rn"
}

# startup KEY POOL SIGNAL: time one start of the plugin on POOL until it
# accepts NBD connections, then stop it with SIGNAL.  Prints seconds.
startup ()
{
    local sock=$bench_work/rec.sock t pid
    rm -f "$sock"
    res_cmd "$1" "$bench_bin/sv-startup" "$sock" 600 "$bench_work/rec.pid" -- \
        nbdkit -f -U "$sock" "$bench_plugin" dir="$2" control="$bench_work/rec-ctl.sock"
    t=$("$bench_bin/sv-startup" "$sock" 600 "$bench_work/rec.pid" -- \
        nbdkit -f -U "$sock" "$bench_plugin" dir="$2" control="$bench_work/rec-ctl.sock" \
        2>>"$bench_work/rec.log")
    pid=$(cat "$bench_work/rec.pid")
    srv_adopt rec "$pid"
    srv_stop rec "$3"
    echo "$t"
}

# case_recovery: startup time after kill -9 of a server whose volume
# was written in full, one cluster at a time in random order (the
# journal holds one record per cluster since the last checkpoint, and
# the map a run per cluster: the largest map that many clusters make),
# against a clean restart.  A fully written
# 64 GiB volume of 64 KiB clusters maps 1,048,576 clusters; when the
# disk cannot hold 64 GiB (or in --quick), a volume of 4 KiB clusters
# stands in: recovery work follows the number of mapped clusters, not
# bytes.
case_recovery ()
{
    local pool=$bench_work/rec-pool avail size cs r
    local -a crash=() clean=()
    avail=$(df -B1 --output=avail "$bench_work" | tail -1)
    if (( bench_quick )); then
        size=$(bytes 1G) cs=4096
    elif (( avail > 100 << 30 )); then
        size=$(bytes 64G) cs=65536
    else
        size=$(bytes 4G) cs=4096
    fi
    res_set rec.size "$size"
    res_set rec.cluster_size "$cs"
    res_set rec.clusters "$(( size / cs ))"
    bench_log "recovery: writing a volume of $size bytes in $cs-byte clusters"

    srv_start rec "$(uri "$bench_work/rec.sock" r)" \
        nbdkit -f --exit-with-parent -U "$bench_work/rec.sock" "$bench_plugin" \
        dir="$pool" control="$bench_work/rec-ctl.sock" volume=r:"$size" cluster-size="$cs"
    rm -f "$(fio_run cmd.rec.fill fillrandom BENCH_URI="$(uri "$bench_work/rec.sock" r)" \
             BENCH_SIZE="$size" BENCH_BS="$cs")"
    srv_stop rec KILL
    res_set rec.journal_bytes "$(cat "$pool"/volumes/r/journal.* | wc -c)"
    res_set rec.checkpoint_bytes "$(wc -c <"$pool/volumes/r/checkpoint")"

    for (( r = 1; r <= bench_runs; r++ )); do
        bench_log "recovery: restart after kill -9, run $r of $bench_runs"
        crash+=("$(startup cmd.rec.start "$pool" KILL)")
    done
    # A clean stop writes a checkpoint: later starts replay nothing.
    startup cmd.rec.start "$pool" TERM >/dev/null
    for (( r = 1; r <= bench_runs; r++ )); do
        clean+=("$(startup cmd.rec.start "$pool" TERM)")
    done
    res_runs rec.crash "${crash[@]}"
    res_runs rec.clean "${clean[@]}"
    rm -rf "$pool"
}

# case_fullread: a full read of a snapshot export with nbdcopy (to
# null:), against the same read of the raw file through nbdkit's file
# plugin.
case_fullread ()
{
    local exp r t
    local -a sv=() file=()
    exp=$(res_get cow.export)
    [ -n "$exp" ] || sv_die "case_fullread needs the snapshot taken by case_cow"
    for (( r = 1; r <= bench_runs; r++ )); do
        bench_log "full read with nbdcopy: run $r of $bench_runs"
        warm "$(uri "$bench_work/snapvol.sock" "$exp")"
        res_cmd cmd.copy.snapvol nbdcopy "$(uri "$bench_work/snapvol.sock" "$exp")" null:
        t=$(now)
        nbdcopy "$(uri "$bench_work/snapvol.sock" "$exp")" null:
        sv+=("$(elapsed "$t")")
        warm "${srv_uri[file]}"
        res_cmd cmd.copy.file nbdcopy "${srv_uri[file]}" null:
        t=$(now)
        nbdcopy "${srv_uri[file]}" null:
        file+=("$(elapsed "$t")")
    done
    res_runs copy.snapvol "${sv[@]}"
    res_runs copy.file "${file[@]}"
}

# case_backup: snapvolctl backup of a snapshot of a fully written
# volume (bench_size bytes) to a file, against nbdcopy from the same
# export to a file in the same directory, and against nbdcopy followed
# by `sync FILE` (an fsync of the copy: the durability the backup
# gives before it writes its manifest), run by run; then an
# incremental backup after 1% of the volume changed with random 4 KiB
# writes, against the full backup's time, and its bytes read against
# the bytes changed.  A server of its own (nbd-uri= set, so that
# snapvolctl finds the export through pool.info).
case_backup ()
{
    local dir=$bench_work/backup sock=$bench_work/backup.sock
    local ctlsock=$bench_work/backup-ctl.sock full inc img r t json
    local -a bk=() nc=() ncs=() inc_s=() inc_read=() inc_changed=()
    mkdir -p "$dir"
    srv_start backup "$(uri "$sock" v)" \
        nbdkit -f --exit-with-parent -U "$sock" "$bench_plugin" \
        dir="$dir/pool" control="$ctlsock" volume=v:"$bench_size" \
        nbd-uri="nbd+unix:///?socket=$sock"
    bench_log "backup: writing the volume ($bench_size bytes)"
    fill "$(uri "$sock" v)" backup
    full=$("$bench_ctl" --socket "$ctlsock" --json snapshot create v | jq -r '.snapshots[0].id')
    img=$dir/full.img
    for (( r = 1; r <= bench_runs; r++ )); do
        bench_log "backup: full backup and nbdcopy, run $r of $bench_runs"
        rm -f "$img"* "$dir/nbdcopy.img"
        warm "$(uri "$sock" "v@$full")"
        res_cmd cmd.backup.full "$bench_ctl" --socket "$ctlsock" backup --quiet "v@$full" "$img"
        t=$(now)
        "$bench_ctl" --socket "$ctlsock" backup --quiet "v@$full" "$img"
        bk+=("$(elapsed "$t")")
        rm -f "$dir/nbdcopy.img"
        warm "$(uri "$sock" "v@$full")"
        res_cmd cmd.backup.nbdcopy nbdcopy "$(uri "$sock" "v@$full")" "$dir/nbdcopy.img"
        t=$(now)
        nbdcopy "$(uri "$sock" "v@$full")" "$dir/nbdcopy.img"
        nc+=("$(elapsed "$t")")
        rm -f "$dir/nbdcopy.img"
        warm "$(uri "$sock" "v@$full")"
        res_cmd cmd.backup.nbdcopy_sync sh -c 'nbdcopy "$1" "$2" && sync "$2"' sh \
            "$(uri "$sock" "v@$full")" "$dir/nbdcopy.img"
        t=$(now)
        nbdcopy "$(uri "$sock" "v@$full")" "$dir/nbdcopy.img"
        sync "$dir/nbdcopy.img"
        ncs+=("$(elapsed "$t")")
    done
    rm -f "$dir/nbdcopy.img"
    res_runs backup.full "${bk[@]}"
    res_runs backup.nbdcopy "${nc[@]}"
    res_runs backup.nbdcopy_sync "${ncs[@]}"

    # Each run changes 1% more and backs up incrementally onto the
    # image of the previous snapshot.
    for (( r = 1; r <= bench_runs; r++ )); do
        bench_log "backup: incremental backup after 1% changed, run $r of $bench_runs"
        rm -f "$(fio_run cmd.backup.change change1pct BENCH_URI="$(uri "$sock" v)" \
                 BENCH_SIZE="$bench_size" BENCH_CHANGE=$(( bench_size / 100 )))"
        inc=$("$bench_ctl" --socket "$ctlsock" --json snapshot create v | jq -r '.snapshots[0].id')
        inc_changed+=("$("$bench_ctl" --socket "$ctlsock" --json diff v "$full" "$inc" |
                         jq '[.[].length] | add')")
        res_cmd cmd.backup.inc "$bench_ctl" --socket "$ctlsock" --json backup --since BASE "v@$inc" "$img"
        t=$(now)
        json=$("$bench_ctl" --socket "$ctlsock" --json backup --since "$full" "v@$inc" "$img")
        inc_s+=("$(elapsed "$t")")
        inc_read+=("$(jq .bytes_read <<<"$json")")
        full=$inc
    done
    res_runs backup.inc "${inc_s[@]}"
    res_runs backup.inc_read "${inc_read[@]}"
    res_runs backup.inc_changed "${inc_changed[@]}"
    srv_stop backup
    rm -rf "$dir"
}

# case_revert: volume.revert of a volume written in full
# (bench/sv-revertcost: alone, and after 1000 random 4 KiB writes),
# then 4 KiB random reads of a volume never reverted, on this plugin
# and, with --base-build DIR, on the plugin of DIR (the tree before the
# revert model), interleaved run by run.  The volume is 64 GiB, or the
# most that takes a quarter of the free space, in steps of 1 GiB
# (1 GiB in --quick); the size used is recorded.  (A quarter: the
# machine's disk is shared, and the fill writes every byte.)
case_revert ()
{
    local sock=$bench_work/revert.sock ctl=$bench_work/revert.ctl
    local size avail gib=$(( 1 << 30 )) json r p
    local -A vals=()
    avail=$(df -B1 --output=avail "$bench_work" | tail -1)
    size=$(( 64 * gib ))
    (( size <= avail / 4 )) || size=$(( avail / 4 / gib * gib ))
    (( ! bench_quick )) || size=$gib
    (( size >= gib )) || sv_die "revert: less than 1 GiB of space for the volume"
    res_set revert.size "$size"
    bench_log "revert: a volume of $size bytes, written in full"
    srv_start revert "$(uri "$sock" rv)" \
        nbdkit -f --exit-with-parent -U "$sock" "$bench_plugin" \
        dir="$bench_work/revert" control="$ctl" volume=rv:"$size"
    rm -f "$(fio_run cmd.fill.revert fill BENCH_URI="$(uri "$sock" rv)" BENCH_SIZE="$size")"
    res_cmd cmd.revert python3 "$sv_top/bench/sv-revertcost" --socket "$ctl" \
        --volume rv --uri "$(uri "$sock" rv)" --runs 20 --writes 1000
    res_set revert "$(python3 "$sv_top/bench/sv-revertcost" --socket "$ctl" \
        --volume rv --uri "$(uri "$sock" rv)" --runs 20 --writes 1000)"
    srv_stop revert
    rm -rf "$bench_work/revert"

    # Reads of a volume never reverted: this plugin, and the base's.
    local -A plugins=([now]=$bench_plugin)
    [ -z "$bench_base_build" ] ||
        plugins[base]=$bench_base_build/plugin/.libs/nbdkit-snapvol-plugin.so
    for p in "${!plugins[@]}"; do
        srv_start "rr.$p" "$(uri "$bench_work/rr.$p.sock" v)" \
            nbdkit -f --exit-with-parent -U "$bench_work/rr.$p.sock" "${plugins[$p]}" \
            dir="$bench_work/rr.$p" volume=v:"$bench_size"
        fill "$(uri "$bench_work/rr.$p.sock" v)" "rr.$p"
    done
    for (( r = 1; r <= bench_runs; r++ )); do
        for p in "${!plugins[@]}"; do
            warm "$(uri "$bench_work/rr.$p.sock" v)"
            json=$(fio_run "cmd.rr.$p" rr4k BENCH_URI="$(uri "$bench_work/rr.$p.sock" v)" \
                   BENCH_SIZE="$bench_size" BENCH_RUNTIME="$bench_runtime")
            vals[$p]+="$(fio_iops "$json") "
            rm -f "$json"
        done
    done
    for p in "${!plugins[@]}"; do
        # shellcheck disable=SC2086
        res_runs "revert.rr4k.$p" ${vals[$p]}
        srv_stop "rr.$p"
    done
    [ -z "$bench_base_build" ] ||
        res_set revert.base "$(git -C "$bench_base_build" describe --always 2>/dev/null ||
                               echo "$bench_base_build")"
}

# case_clone: volume clone (and, in turns, plain creation) of a
# snapshot of a fully written 64 GiB volume (bench/sv-clonecost
# --no-data: the map is that of a volume written in full, the data
# file's bytes are dropped, so the disk's size does not scale it), 100
# clones per run (40 in --quick), and the syncs each call asks for.
# The load average is recorded at the start and end of every run: the
# medians move with what else uses the disk, the sync count does not.
case_clone ()
{
    local dir=$bench_work/clone n=100 r json
    local -a ms=() cms=() loads=()
    (( ! bench_quick )) || n=40
    bench_log "clone: $n clones of a fully written 64 GiB volume, $bench_runs runs"
    res_cmd cmd.clone "$bench_bin/sv-clonecost" --dir "$dir" --size $(( 64 << 30 )) \
        --clones "$n" --no-data
    for (( r = 1; r <= bench_runs; r++ )); do
        rm -rf "$dir"
        mkdir -p "$dir"
        loads+=("$(cut -d' ' -f1 /proc/loadavg)")
        json=$("$bench_bin/sv-clonecost" --dir "$dir" --size $(( 64 << 30 )) \
               --clones "$n" --no-data)
        loads+=("$(cut -d' ' -f1 /proc/loadavg)")
        ms+=("$(jq .clone_ms.p50 <<<"$json")")
        cms+=("$(jq .create_ms.p50 <<<"$json")")
        res_set clone "$json"
    done
    res_runs clone.ms "${ms[@]}"
    res_runs clone.create_ms "${cms[@]}"
    res_set clone.load "${loads[*]}"
    rm -rf "$dir"
}
