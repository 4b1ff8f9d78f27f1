#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# fakecoord.py: a scripted coordinator for the tests of the peers'
# side of several coordinators (docs/protocol.md, "Several
# coordinators" and "Terms"): real providers (nbdkit with the plugin),
# snapvol-writer and snapvolctl connect to it over real TLS with the
# test CA's server certificate and their client certificates.
#
#   fakecoord.py serve --ca FILE --cert FILE --key FILE --port N
#                      --events FILE [--control SOCKET]
#                      [--follower LEADER|none] [--advertise ADDRESS]
#                      [--term N] [--silent]
#       Listen on 127.0.0.1:N.  Appends one JSON line per event to
#       --events: {"t": seconds, "event": ...} where event is
#       "connected" (with "cn"), "request" (with "method" and
#       "params"), "registered" (with "method"), "answer" (an answer to
#       a call of ours, with "method" and "response"), "disconnected".
#       As a follower (--follower) every request is answered with
#       -32012, naming LEADER as the leader or, with "none", saying
#       that no leader is elected.  Else it plays the leader: it accepts
#       provider.register and writer.register (with "term": N in the
#       result when --term is given), answers ping, and sends the calls
#       written to --control to the peer registered last.  With
#       --silent it only accepts TCP connections ("accepted" events) and
#       never answers, as the address of a host that died in silence.
#   fakecoord.py call SOCKET METHOD [PARAMS-JSON]
#       Send METHOD with PARAMS to the registered peer through the
#       server's control socket and print the peer's response, compact,
#       on one line (or "NO-PEER", "TIMEOUT").

import argparse
import json
import os
import socket
import ssl
import sys
import threading
import time

NOT_LEADER = -32012
CALL_TIMEOUT = 30


def compact(msg):
    return json.dumps(msg, separators=(",", ":"))


class Server:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.answered = threading.Condition(self.lock)
        self.events = open(args.events, "a")
        self.peer = None            # the Peer registered last
        self.responses = {}         # id -> response, for our calls
        self.next_id = 0

    def log(self, event, **kw):
        rec = {"t": time.time(), "event": event}
        rec.update(kw)
        with self.lock:
            self.events.write(json.dumps(rec) + "\n")
            self.events.flush()

    def context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.args.cert, self.args.key)
        ctx.load_verify_locations(self.args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def serve(self):
        ctx = self.context()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.args.port))
        listener.listen(16)
        if self.args.control:
            threading.Thread(target=self.control, daemon=True).start()
        silent = []
        while True:
            raw, _ = listener.accept()
            if self.args.silent:
                silent.append(raw)
                self.log("accepted")
                continue
            threading.Thread(target=self.connection, args=(ctx, raw),
                             daemon=True).start()

    def connection(self, ctx, raw):
        try:
            raw.settimeout(10)
            sock = ctx.wrap_socket(raw, server_side=True)
            sock.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            self.log("tls-error", why=str(e))
            raw.close()
            return
        cert = sock.getpeercert() or {}
        cn = [v for rdn in cert.get("subject", ()) for k, v in rdn
              if k == "commonName"]
        self.log("connected", cn=cn[0] if cn else None)
        peer = Peer(self, sock)
        try:
            peer.run()
        except (EOFError, ConnectionError, ssl.SSLError, OSError) as e:
            self.log("disconnected", why=str(e) or type(e).__name__)
        finally:
            with self.lock:
                if self.peer is peer:
                    self.peer = None
            sock.close()

    def not_leader(self, msg_id):
        adv = self.args.advertise or "127.0.0.1:%d" % self.args.port
        if self.args.follower == "none":
            message = ("coordinator %s is not the leader; no leader is "
                       "elected (the test's follower)" % adv)
            leader = None
        else:
            message = ("coordinator %s is not the leader; the leader is %s"
                       % (adv, self.args.follower))
            leader = self.args.follower
        return {"jsonrpc": "2.0", "id": msg_id,
                "error": {"code": NOT_LEADER, "message": message,
                          "data": {"leader": leader}}}

    def control(self):
        path = self.args.control
        if os.path.exists(path):
            os.unlink(path)
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(4)
        while True:
            c, _ = srv.accept()
            threading.Thread(target=self.control_one, args=(c,),
                             daemon=True).start()

    def control_one(self, c):
        with c, c.makefile("rw") as f:
            req = json.loads(f.readline())
            f.write(self.call(req["method"], req.get("params")) + "\n")
            f.flush()

    def call(self, method, params):
        """Send METHOD to the registered peer; its response, compact."""
        with self.lock:
            peer = self.peer
            self.next_id += 1
            msg_id = self.next_id
        if peer is None:
            return "NO-PEER"
        msg = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            msg["params"] = params
        peer.send(msg)
        end = time.time() + CALL_TIMEOUT
        with self.lock:
            while msg_id not in self.responses:
                left = end - time.time()
                if left <= 0:
                    return "TIMEOUT"
                self.answered.wait(left)
            response = self.responses.pop(msg_id)
        self.log("answer", method=method, response=response)
        return compact(response)


class Peer:
    """One TLS connection of a provider, writer or snapvolctl."""

    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.send_lock = threading.Lock()

    def send(self, msg):
        with self.send_lock:
            self.sock.sendall(compact(msg).encode() + b"\n")

    def run(self):
        buf = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed by the peer")
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    self.take(json.loads(line))

    def take(self, msg):
        srv = self.server
        if "method" not in msg:             # a response to our call
            with srv.lock:
                srv.responses[msg.get("id")] = msg
                srv.answered.notify_all()
            return
        method, msg_id = msg["method"], msg.get("id")
        if method != "ping":
            srv.log("request", method=method, params=msg.get("params"))
        if msg_id is None:
            return
        if srv.args.follower:
            self.send(srv.not_leader(msg_id))
        elif method == "ping":
            self.send({"jsonrpc": "2.0", "id": msg_id,
                       "result": {"time": int(time.time())}})
        elif method in ("provider.register", "writer.register"):
            result = {"heartbeat_ms": 1000}
            if srv.args.term is not None:
                result["term"] = srv.args.term
            self.send({"jsonrpc": "2.0", "id": msg_id, "result": result})
            with srv.lock:
                srv.peer = self
            srv.log("registered", method=method)
        else:
            self.send({"jsonrpc": "2.0", "id": msg_id,
                       "error": {"code": -32601,
                                 "message": "the test's coordinator "
                                 "takes no " + method}})


def call_main(args):
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(CALL_TIMEOUT + 5)
    c.connect(args.socket)
    req = {"method": args.method}
    if args.params is not None:
        req["params"] = json.loads(args.params)
    with c, c.makefile("rw") as f:
        f.write(compact(req) + "\n")
        f.flush()
        print(f.readline().rstrip("\n"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--ca", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--events", required=True)
    s.add_argument("--control")
    s.add_argument("--follower")
    s.add_argument("--advertise")
    s.add_argument("--term", type=int)
    s.add_argument("--silent", action="store_true")
    c = sub.add_parser("call")
    c.add_argument("socket")
    c.add_argument("method")
    c.add_argument("params", nargs="?")
    args = ap.parse_args()
    if args.mode == "serve":
        Server(args).serve()
    else:
        call_main(args)


if __name__ == "__main__":
    sys.exit(main())
