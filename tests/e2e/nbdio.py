#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# nbdio.py: small NBD client operations for the end-to-end tests and
# their writer hooks, over one libnbd connection each:
#
#   nbdio.py write URI OFFSET TEXT   write TEXT at OFFSET, then flush
#   nbdio.py read URI OFFSET LENGTH  print LENGTH bytes from OFFSET
#   nbdio.py readonly URI            check the export is read-only and
#                                    that a write to it fails
#
# A URI may name the TLS certificates of the test with the query
# tls-certificates=DIR (as nbdcopy allows too).

import sys

import nbd


def connect(uri):
    h = nbd.NBD()
    h.set_uri_allow_local_file(True)
    h.connect_uri(uri)
    return h


def main(argv):
    op, uri = argv[1], argv[2]
    h = connect(uri)
    if op == "write":
        h.pwrite(argv[4].encode(), int(argv[3]))
        h.flush()
    elif op == "read":
        sys.stdout.buffer.write(h.pread(int(argv[4]), int(argv[3])))
    elif op == "readonly":
        if not h.is_read_only():
            sys.exit("%s is not advertised read-only" % uri)
        try:
            h.pwrite(b"x" * 512, 0)
        except nbd.Error as e:
            if e.errno not in ("EPERM", "EROFS"):
                sys.exit("%s: write failed with %s, expected EPERM" % (uri, e))
        else:
            sys.exit("%s: a write succeeded" % uri)
    else:
        sys.exit("nbdio.py: unknown operation %s" % op)
    h.shutdown()


if __name__ == "__main__":
    main(sys.argv)
