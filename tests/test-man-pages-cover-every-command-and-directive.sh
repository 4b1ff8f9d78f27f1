#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-man-pages-cover-every-command-and-directive.sh: the manual pages
# cannot fall behind the programs silently.  Each must describe, as an
# =item of its pod:
#   snapvolctl(8)                  every command of `snapvolctl --help`
#                                  (its command table), and every
#                                  option of it and of each command's
#                                  --help;
#   snapvol-coordinator.conf(5)    every directive coordinator/conf.c
#                                  accepts;
#   snapvol-coordinator(8),        every option of their --help;
#   snapvol-writer(8)
#   nbdkit-snapvol-plugin(1)       every parameter of the plugin's help;
#   libsnapvol-writer(3)           every function <snapvol/writer.h>
#                                  declares.
# And every page is built.

source "$(dirname "$0")/functions.sh"
requires_snapvol
requires podchecker

COORDINATOR=$abs_top_builddir/coordinator/snapvol-coordinator
WRITER=$abs_top_builddir/client/snapvol-writer
[ -x "$COORDINATOR" ] || skip "the coordinator is not built: $COORDINATOR"
[ -x "$WRITER" ] || skip "snapvol-writer is not built: $WRITER"

missing=()

# has_item POD TEXT: POD has a line "=item B<TEXT>..." (TEXT followed
# by the end of the B<>, a blank or a space).
has_item ()
{
    local pod=$1 text=$2
    grep -qF -- "=item B<$text>" "$pod" || grep -qF -- "=item B<$text " "$pod"
}

# has_bold POD TEXT: POD names TEXT in bold somewhere (an option
# described inside another item's text).
has_bold ()
{
    grep -qF -- "B<$2>" "$1"
}

expect_item ()
{
    has_item "$1" "$2" || missing+=("$(basename "$1"): no '=item B<$2>'")
}

expect_bold ()
{
    has_bold "$1" "$2" || missing+=("$(basename "$1"): no 'B<$2>'")
}

# The options of a help text: every --word.
options_of ()
{
    grep -oE -- '--[a-z][a-z-]*' | sort -u
}

pods=(
    "$abs_top_srcdir/plugin/nbdkit-snapvol-plugin.pod"
    "$abs_top_srcdir/client/snapvolctl.pod"
    "$abs_top_srcdir/client/snapvol-writer.pod"
    "$abs_top_srcdir/client/libsnapvol-writer.pod"
    "$abs_top_srcdir/coordinator/snapvol-coordinator.pod"
    "$abs_top_srcdir/coordinator/snapvol-coordinator.conf.pod"
)
for pod in "${pods[@]}"; do
    [ -f "$pod" ] || { missing+=("no page $pod"); continue; }
    podchecker "$pod" >/dev/null 2>&1 || missing+=("$(basename "$pod"): podchecker: $(podchecker "$pod" 2>&1 | head -3)")
done
for page in plugin/nbdkit-snapvol-plugin.1 client/snapvolctl.8 \
            client/snapvol-writer.8 client/libsnapvol-writer.3 \
            coordinator/snapvol-coordinator.8 coordinator/snapvol-coordinator.conf.5; do
    [ -s "$abs_top_builddir/$page" ] || missing+=("$page is not built")
done

# snapvolctl: the commands are the lines of --help's "Commands:" list
# indented by two spaces: GROUP [VERB] SYNOPSIS, a verb being a word
# of lower-case letters.
pod=$abs_top_srcdir/client/snapvolctl.pod
"$SNAPVOLCTL" --help >"$tmp/ctl-help"
sed -n '/^Commands:/,/^$/p' "$tmp/ctl-help" | grep -E '^  [a-z]' >"$tmp/commands"
[ "$(wc -l <"$tmp/commands")" -ge 20 ] ||
    fail "snapvolctl --help lists $(wc -l <"$tmp/commands") commands: $(cat "$tmp/commands")"
ncommands=0
while read -r group second _; do
    cmd=$group
    if [[ $second =~ ^[a-z]+$ ]]; then
        cmd="$group $second"
    fi
    ncommands=$((ncommands + 1))
    expect_item "$pod" "$cmd"
    # shellcheck disable=SC2086
    "$SNAPVOLCTL" $cmd --help >"$tmp/cmd-help" 2>&1 || :
    while read -r opt; do
        expect_bold "$pod" "$opt"
    done < <(options_of <"$tmp/cmd-help")
done <"$tmp/commands"
while read -r opt; do
    expect_bold "$pod" "$opt"
done < <(options_of <"$tmp/ctl-help")

# snapvol-coordinator.conf: the directives are the words conf.c
# compares the first word of a line with.
pod=$abs_top_srcdir/coordinator/snapvol-coordinator.conf.pod
grep -oE 'strcmp \(words\[0\], "[a-z-]+"\)' "$abs_top_srcdir/coordinator/conf.c" |
    sed -E 's/.*"([a-z-]+)".*/\1/' | sort -u >"$tmp/directives"
[ "$(wc -l <"$tmp/directives")" -ge 14 ] ||
    fail "found $(wc -l <"$tmp/directives") directives in conf.c: $(cat "$tmp/directives")"
while read -r d; do
    expect_item "$pod" "$d"
done <"$tmp/directives"

# The daemons' and the agent's options.
while read -r opt; do
    expect_bold "$abs_top_srcdir/coordinator/snapvol-coordinator.pod" "$opt"
done < <("$COORDINATOR" --help | options_of)
while read -r opt; do
    expect_bold "$abs_top_srcdir/client/snapvol-writer.pod" "$opt"
done < <("$WRITER" --help | options_of)

# The plugin's parameters, KEY= at the start of a line of its help.
"${nbdkit_env[@]}" nbdkit "$PLUGIN" --help >"$tmp/plugin-help"
grep -oE '^[a-z][a-z-]*=' "$tmp/plugin-help" | sort -u >"$tmp/params"
grep -qx 'dir=' "$tmp/params" || fail "no dir= in the plugin's help: $(cat "$tmp/plugin-help")"
while read -r p; do
    expect_item "$abs_top_srcdir/plugin/nbdkit-snapvol-plugin.pod" "$p"
done <"$tmp/params"

# The library's functions.
grep -oE '^extern [^(]*\b(snapvol_writer_[a-z_]+) \(' "$abs_top_srcdir/client/snapvol-writer.h" |
    grep -oE 'snapvol_writer_[a-z_]+' | sort -u >"$tmp/functions"
[ "$(wc -l <"$tmp/functions")" -ge 10 ] || fail "found $(wc -l <"$tmp/functions") functions"
while read -r f; do
    expect_item "$abs_top_srcdir/client/libsnapvol-writer.pod" "$f"
done <"$tmp/functions"

if [ ${#missing[@]} -gt 0 ]; then
    printf '%s\n' "${missing[@]}" | sort -u >&2
    fail "${#missing[@]} things are missing from the manual pages (above)"
fi
echo "checked $ncommands snapvolctl commands, $(wc -l <"$tmp/directives") directives, $(wc -l <"$tmp/params") plugin parameters, $(wc -l <"$tmp/functions") library functions"
