#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-docs-markdown-tables.sh: every Markdown table of README.md and
# docs/*.md has as many cells on each row as in its header, so that no
# row loses a cell or runs into the text after the table.
#
# The rules are GitHub's (GFM): a table is a header row followed by a
# delimiter row (|---|---|), and it goes on until a blank line, every
# line until then being a row, whether it starts with "|" or not; a
# leading and a trailing "|" are dropped; cells are split at every "|"
# not escaped as "\|", inside `code` too (GFM splits there as well).
# Fenced code blocks are skipped.  Each bad row is reported as
# FILE:LINE with the counts.

source "$(dirname "$0")/functions.sh"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed"

files=("$abs_top_srcdir/README.md" "$abs_top_srcdir"/docs/*.md)
/usr/bin/python3 - "${files[@]}" <<'PY' || fail "Markdown tables with rows of the wrong width (above)"
import re, sys

DELIM = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")

def cells(line):
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    n, i = 1, 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "|":
            n += 1
        i += 1
    return n

bad = 0
for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8").read().split("\n")
    fence = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s{0,3}(```|~~~)", line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            i += 1
            continue
        if fence or "|" not in line or i + 1 >= len(lines) or \
           not DELIM.match(lines[i + 1]) or "|" not in lines[i + 1]:
            i += 1
            continue
        width = cells(line)
        if cells(lines[i + 1]) != width:
            print("%s:%d: the delimiter row has %d cells, the header %d"
                  % (path, i + 2, cells(lines[i + 1]), width))
            bad += 1
        j = i + 2
        while j < len(lines) and lines[j].strip() != "":
            if cells(lines[j]) != width:
                print("%s:%d: %d cells, the header has %d: %s"
                      % (path, j + 1, cells(lines[j]), width, lines[j][:80]))
                bad += 1
            j += 1
        i = j
print("%d bad rows" % bad)
sys.exit(1 if bad else 0)
PY
