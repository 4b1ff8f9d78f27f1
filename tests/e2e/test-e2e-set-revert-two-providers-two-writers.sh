#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-e2e-set-revert-two-providers-two-writers.sh: set revert through
# the coordinator across two nbdkit processes and two writer agents.
# Data A, set S1, data B, set S2, data C; `set revert S1` makes both
# live volumes read back exactly A (every byte), S1 and S2 read back A
# and B, and no undo snapshot is left.  Each writer sees pre_restore
# then post_restore for S1, after its set events: its pre_restore hook
# reads the live volume still holding C, its post_restore hook reads A
# with SNAPVOL_REVERTED=1, so the revert happened between the two
# hooks.  set revert needs the admin role.

source "$(dirname "$0")/functions.sh"
set -x

write_conf
start_coordinator
start_provider storage-a db:16M
start_provider storage-b logs:16M

# write_all LETTER: 16 MiB of fresh random bytes on both volumes, kept
# as $tmp/VOLUME.LETTER.
write_all ()
{
    local v
    for v in storage-a/db storage-b/logs; do
        head -c 16M /dev/urandom >"$tmp/${v#*/}.$1"
        nbdcopy "$tmp/${v#*/}.$1" "$(puri "${v%/*}" "${v#*/}")"
    done
}

# The hooks: pre_restore and post_restore write what the first 64 KiB
# of the live volume hold (md5) and SNAPVOL_REVERTED to NAME.restore,
# then wait until nbdkit has closed their connection.
hook_for ()
{
    local name=$1 provider=$2 volume=$3
    cat >"$tmp/$name.hook" <<EOF
#!/bin/sh
set -e
case \$SNAPVOL_EVENT in
pre_restore|post_restore)
    sum=\$(/usr/bin/python3 "\$NBDIO" read '$(puri "$provider" "$volume")' 0 65536 | md5sum | cut -d' ' -f1)
    echo "\$SNAPVOL_EVENT \$SNAPVOL_SET_ID \$sum \${SNAPVOL_REVERTED:-}" >>'$tmp/$name.restore'
    i=0
    while [ \$i -lt 200 ]; do
        [ "\$('$SNAPVOLCTL' --socket '$tmp/$provider.ctl' --json volume list '$volume' | jq '.[0].open_count')" = 0 ] && exit 0
        sleep 0.05; i=\$((i + 1))
    done
    exit 1 ;;
esac
EOF
}
hook_for writer-db storage-a db
hook_for writer-logs storage-b logs
start_writer writer-db storage-a/db
start_writer writer-logs storage-b/logs

write_all A
s1=$(ctl --json set create storage-a/db storage-b/logs | jq -r .set_id)
write_all B
s2=$(ctl --json set create storage-a/db storage-b/logs | jq -r .set_id)
write_all C
poll 10 live_closed storage-a db
poll 10 live_closed storage-b logs

# A requester may not revert.
ctl --json set revert "$s1" >"$tmp/req.out" 2>"$tmp/req.err" && fail "a requester reverted a set"
grep -qxF 'snapvolctl: set revert: role requester may not call set.revert (forbidden, error -32007)' \
    "$tmp/req.err" || fail "requester: $(cat "$tmp/req.err")"

ctl_admin --json set revert "$s1" >"$tmp/revert.json"
cat "$tmp/revert.json"
assert_eq "$(jq -c '[.set_id == "'"$s1"'", .state, .force, .volumes]' "$tmp/revert.json")" \
    '[true,"reverted",false,["storage-a/db","storage-b/logs"]]' "the answer"
assert_eq "$(jq -c '[.participants[] | [.kind, .name, .state, .error]]' "$tmp/revert.json")" \
    '[["writer","writer-db","restored",null],["writer","writer-logs","restored",null],["provider","storage-a","reverted",null],["provider","storage-b","reverted",null]]' \
    "participants"

# Every byte: the live volumes are A, S1 is A, S2 is B.
for v in storage-a/db storage-b/logs; do
    p=${v%/*} vol=${v#*/}
    a=$(md5sum <"$tmp/$vol.A" | cut -d' ' -f1)
    b=$(md5sum <"$tmp/$vol.B" | cut -d' ' -f1)
    assert_eq "$(uri_md5 "$(puri "$p" "$vol")")" "$a" "live $v after the revert"
    assert_eq "$(uri_md5 "$(puri "$p" "$vol@$s1")")" "$a" "$v@S1"
    assert_eq "$(uri_md5 "$(puri "$p" "$vol@$s2")")" "$b" "$v@S2 (taken after S1)"
    # Only S1 and S2: the undo set is deleted.
    assert_eq "$(provider_snapshots "$p" | jq -c '[.[] | .set_id] | sort')" \
        "$(jq -cn --arg a "$s1" --arg b "$s2" '[$a, $b] | sort')" "snapshots of $p"
done

# The writers: pre_restore then post_restore of S1, after the sets.
for w in writer-db writer-logs; do
    assert_eq "$(events $w | tail -n 2)" "pre_restore $s1
post_restore $s1" "restore events of $w"
    pre=$(event_time $w pre_restore "$s1")
    post=$(event_time $w post_restore "$s1")
    [ "$pre" -le "$post" ] || fail "$w: post_restore ($post) before pre_restore ($pre)"
done
# What each hook read: C before the revert, A after it.
for pair in writer-db:db writer-logs:logs; do
    w=${pair%:*} vol=${pair#*:}
    c=$(head -c 65536 "$tmp/$vol.C" | md5sum | cut -d' ' -f1)
    a=$(head -c 65536 "$tmp/$vol.A" | md5sum | cut -d' ' -f1)
    assert_eq "$(cat "$tmp/$w.restore")" "pre_restore $s1 $c 
post_restore $s1 $a 1" "what the hooks of $w read"
done

# The writers are back to stable; a new set works.
assert_eq "$(ctl --json writer list | jq -c '[.[] | [.name, .state, .last_event]]')" \
    '[["writer-db","stable","post_restore"],["writer-logs","stable","post_restore"]]' "writer list"
ctl --json set create storage-a/db storage-b/logs | jq -e '.state == "committed"' >/dev/null \
    || fail "a set after the revert"
check_logs
