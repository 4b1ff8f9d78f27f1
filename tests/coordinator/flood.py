#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# flood.py: connection floods against snapvol-coordinator, and a probe
# that times what legitimate peers get done meanwhile.
#
#   flood.py hold --port P --source ADDR[,ADDR...] --count N --seconds S
#       Keeps N plain TCP connections to 127.0.0.1:P open, spread over
#       the source addresses (any of 127.0.0.0/8), sending nothing, and
#       opens a new one for each that the coordinator closes (at most
#       --rate, 3000 by default, per second: the flood shares this
#       machine's CPUs with the coordinator, which a real attacker
#       does not, and the test is of the coordinator's policy), until S
#       seconds have passed or SIGTERM.  --ready FILE is created once
#       the coordinator has closed N of them (the flood is in full
#       swing).  At the end prints
#       "opened O, closed by the coordinator C".
#   flood.py probe --port P --ca F --pki DIR --snapvolctl PATH --rounds R
#       R rounds of: provider.register of provider storage-b (a
#       provider reconnecting: a new TLS connection with storage-b's
#       certificate) and `snapvolctl set create storage-a/db` as the
#       requester backup.  Prints one line per round and then
#       "registrations: S of R succeeded, W within LIMIT s, slowest T s"
#       and "set create: ..." in the same form.

import argparse
import errno
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def hold(args):
    sources = args.source.split(",")
    ep = select.epoll()
    socks = {}
    opened = closed = 0
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__(0, True))

    def open_one(i):
        nonlocal opened
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((sources[i % len(sources)], 0))
        s.setblocking(False)
        r = s.connect_ex(("127.0.0.1", args.port))
        if r not in (0, errno.EINPROGRESS):
            s.close()
            return
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        socks[s.fileno()] = (i, s)
        opened += 1

    for i in range(args.count):
        open_one(i)
    start = time.monotonic()
    end = start + args.seconds
    lost = []
    reopened = 0
    while not stop[0] and time.monotonic() < end:
        # At most --rate reopens per second on average.
        room = int((time.monotonic() - start) * args.rate) - reopened
        for i in lost[:max(room, 0)]:
            open_one(i)
            reopened += 1
        lost = lost[max(room, 0):]
        try:
            events = ep.poll(0.01 if lost else 0.2)
        except InterruptedError:
            continue
        for fd, _ in events:
            i, s = socks.pop(fd)
            ep.unregister(fd)
            s.close()
            closed += 1
            lost.append(i)
            if closed == args.count and args.ready:
                open(args.ready, "w").close()
        # Connections that failed to open are retried on the next turn.
        if len(socks) + len(lost) < args.count:
            have = set(i for i, _ in socks.values()) | set(lost)
            lost.extend(i for i in range(args.count) if i not in have)
    print("opened %d, closed by the coordinator %d" % (opened, closed),
          flush=True)


def tls_call(args, who, method, params):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(args.ca)
    ctx.load_cert_chain(os.path.join(args.pki, who + ".crt"),
                        os.path.join(args.pki, who + ".key"))
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                              "params": params}).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            data = s.recv(65536)
            if not data:
                return "CLOSED"
            buf += data
        return buf.split(b"\n", 1)[0].decode()


def probe(args):
    """R rounds of a registration and a set create.  Prints, per kind,
    "KIND: S of R succeeded, W within LIMIT s, slowest T s"."""
    stats = {"registrations": [0, 0, 0.0], "set create": [0, 0, 0.0]}
    params = {"name": "storage-b", "nbd_uri": "nbd://127.0.0.1:1",
              "volumes": []}
    env = dict(os.environ)

    def count(kind, ok, t):
        st = stats[kind]
        st[0] += ok
        st[1] += ok and t <= args.limit
        st[2] = max(st[2], t)
        return "ok" if ok and t <= args.limit else "SLOW" if ok else "FAILED"

    for r in range(1, args.rounds + 1):
        t0 = time.monotonic()
        try:
            answer = tls_call(args, "storage-b", "provider.register", params)
        except (OSError, ssl.SSLError) as e:
            answer = "ERROR: %s" % e
        t_reg = time.monotonic() - t0
        v_reg = count("registrations", '"heartbeat_ms"' in answer, t_reg)

        t0 = time.monotonic()
        p = subprocess.run([args.snapvolctl, "--coordinator",
                            "127.0.0.1:%d" % args.port,
                            "--cert", os.path.join(args.pki, "backup.crt"),
                            "--key", os.path.join(args.pki, "backup.key"),
                            "--ca", args.ca, "set", "create", "storage-a/db"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, timeout=30)
        t_set = time.monotonic() - t0
        out = p.stdout.decode(errors="replace")
        v_set = count("set create", p.returncode == 0
                      and out.startswith("Created snapshot set "), t_set)
        print("round %d: register %.3f s %s%s; set create %.3f s %s%s" %
              (r, t_reg, v_reg, "" if v_reg == "ok" else ": " + answer[:200],
               t_set, v_set, "" if v_set == "ok" else ": " + out[:200]),
              flush=True)
    for kind, (ok, fast, worst) in stats.items():
        print("%s: %d of %d succeeded, %d within %g s, slowest %.3f s" %
              (kind, ok, args.rounds, fast, args.limit, worst))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("hold")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--source", default="127.0.0.1")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--ready")
    s.add_argument("--rate", type=float, default=3000)
    s = sub.add_parser("probe")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--pki", required=True)
    s.add_argument("--snapvolctl", required=True)
    s.add_argument("--rounds", type=int, default=100)
    s.add_argument("--limit", type=float, default=1.0)
    args = p.parse_args()
    if args.mode == "hold":
        hold(args)
    else:
        probe(args)


if __name__ == "__main__":
    main()
