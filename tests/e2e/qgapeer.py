#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# qgapeer.py: a stand-in for the host side of a qemu guest agent's
# channel, and a small client of a real one, for the --qga tests.
#
#   qgapeer.py serve MODE SOCKET LOG   listen on SOCKET as MODE:
#     agent        answer as qemu-ga does (guest-sync-delimited with
#                  the 0xFF sentinel, guest-fsfreeze-status, -freeze and
#                  -thaw), keeping a frozen/thawed state
#     refuse       as agent, but refuse guest-fsfreeze-freeze
#     silent       accept, read, never answer
#     notagent     greet as an SSH server and answer nothing else
#     slowfreeze:MS  as agent, but answer guest-fsfreeze-freeze after
#                  MS ms (frozen meanwhile); one client at a time, as
#                  qemu's chardev serves them, so a thaw waits for it
#   Each command is appended to LOG as "COMMAND STATE-AFTER".
#   qgapeer.py status SOCKET          print guest-fsfreeze-status's answer
import json
import os
import socket
import sys
import time


def serve(mode, path, log):
    state = "thawed"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(4)
    while True:
        conn, _ = srv.accept()
        if mode == "notagent":
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")
        buf = b""
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            if mode in ("silent", "notagent"):
                continue
            buf += data.replace(b"\xff", b"")
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                cmd = req["execute"]
                prefix = b""
                if cmd == "guest-sync-delimited":
                    ans = {"return": req["arguments"]["id"]}
                    prefix = b"\xff"
                elif cmd == "guest-fsfreeze-status":
                    ans = {"return": state}
                elif cmd == "guest-fsfreeze-freeze" and mode == "refuse":
                    ans = {"error": {"class": "GenericError",
                                     "desc": "failed to freeze /mnt: Device or resource busy"}}
                elif cmd == "guest-fsfreeze-freeze":
                    state = "frozen"
                    if mode.startswith("slowfreeze:"):
                        time.sleep(int(mode.split(":")[1]) / 1000)
                    ans = {"return": 1}
                elif cmd == "guest-fsfreeze-thaw":
                    n = 1 if state == "frozen" else 0
                    state = "thawed"
                    ans = {"return": n}
                else:
                    ans = {"error": {"class": "CommandNotFound",
                                     "desc": "The command %s has not been found" % cmd}}
                with open(log, "a") as f:
                    f.write("%s %s\n" % (cmd, state))
                try:
                    conn.sendall(prefix + json.dumps(ans).encode() + b"\n")
                except OSError:
                    pass
        conn.close()


def status(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(path)
    f = s.makefile("rb")
    s.sendall(b"\xff" + json.dumps({"execute": "guest-sync-delimited",
                                    "arguments": {"id": os.getpid()}}).encode() + b"\n")
    while True:
        line = f.readline()
        if not line:
            sys.exit("qgapeer.py: the agent closed the connection")
        line = line.split(b"\xff")[-1]
        if json.loads(line).get("return") == os.getpid():
            break
    s.sendall(b'{"execute": "guest-fsfreeze-status"}\n')
    print(json.loads(f.readline())["return"])


if sys.argv[1] == "serve":
    serve(sys.argv[2], sys.argv[3], sys.argv[4])
else:
    status(sys.argv[2])
