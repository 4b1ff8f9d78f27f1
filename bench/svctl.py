# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# svctl.py: one connection to a plugin's control socket, for the bench
# scripts written in Python (sv-revertcost, sv-reclaimfio): newline-
# delimited JSON-RPC 2.0 (docs/protocol.md), one call at a time.

import json
import socket
import sys


class Ctl:
    """Calls on the control socket PATH; an error answer ends the
    program with the method and the server's message, prefixed by
    PROG."""

    def __init__(self, path, prog):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.prog = prog
        self.n = 0

    def call(self, method, params):
        self.n += 1
        msg = {"jsonrpc": "2.0", "id": self.n, "method": method,
               "params": params}
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        line = self.f.readline()
        if not line:
            sys.exit("%s: %s: the server closed the control connection"
                     % (self.prog, method))
        r = json.loads(line)
        if "error" in r:
            sys.exit("%s: %s: %s" % (self.prog, method, r["error"]["message"]))
        return r["result"]

    def close(self):
        self.f.close()
        self.s.close()
