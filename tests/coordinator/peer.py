#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# peer.py: a scripted peer of snapvol-coordinator for the tests, over
# real TLS with a client certificate (docs/protocol.md, Part 2).
#
#   peer.py [TLS options] provider --name N --nbd-uri URI --volume V:SIZE...
#   peer.py [TLS options] writer --name N --volume P/V... [--freeze-timeout MS]
#       A fake provider or writer: registers, sends ping every half
#       heartbeat, answers the coordinator's calls, and appends one JSON
#       line per event to --events FILE: {"t": seconds, "event": ...}
#       where event is "connected", "registered", "call" (with
#       "method" and "params"), "answer" (with "method", "result" and
#       "error"), "disconnected".  --ready FILE is created
#       once registered.  Behaviours, each naming a method:
#         --stall M          never answer M
#         --fail M:CODE:MSG  answer M with that error
#         --fail-first M:N:CODE:MSG  answer the first N calls of M with
#                            that error, the later ones normally
#         --delay M:MS       answer M after MS milliseconds
#         --delay-first M:N:MS  answer the first N calls of M after MS
#                            milliseconds, the later ones at once
#         --answer M:JSON    answer M with the result JSON, whatever it
#                            is (a result the protocol does not allow)
#         --disconnect-on M  close the connection when M arrives
#         --silent           send no ping
#         --reconnect        after a disconnection, connect again
#         --ports P1,P2...   several coordinators on --host: register
#                            with the leader as a peer does
#                            (docs/protocol.md, "Several coordinators"):
#                            on -32012 "not the leader" go to the port
#                            of the leader it names, or to the next
#                            port when it names none; after a
#                            disconnection (with --reconnect) try the
#                            ports in turn
#   peer.py [TLS options] call METHOD [PARAMS-JSON]
#       A requester: sends one request, prints the answer line.
#   peer.py [TLS options] raw
#       Sends stdin as is, prints every line received until the
#       coordinator closes or --quiet-time seconds pass without input.
#
# TLS options: --ca FILE --cert FILE --key FILE (no --cert: none is
# presented) --port N [--host 127.0.0.1].  Failures to connect print
# "TLS-ERROR: ..." or "CLOSED" and exit 2.

import argparse
import json
import os
import select
import socket
import ssl
import sys
import time
import uuid


def now():
    return time.time()


class Link:
    """One TLS connection carrying newline-framed JSON."""

    def __init__(self, args):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(args.ca)
        if args.cert:
            ctx.load_cert_chain(args.cert, args.key)
        raw = socket.create_connection((args.host, args.port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname=args.host)
        self.sock.setblocking(False)
        self.buf = b""

    def send_bytes(self, data):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def send(self, msg):
        self.send_bytes(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def read_some(self, timeout):
        """Read what is available within TIMEOUT; returns the complete
        lines, raises EOFError when the peer closed."""
        if self.sock.pending() == 0:
            r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
            if not r:
                return []
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return []
        if not data:
            raise EOFError()
        self.buf += data
        lines = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line.strip():
                lines.append(line)
        return lines

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connect(args):
    try:
        return Link(args)
    except ssl.SSLError as e:
        print("TLS-ERROR: %s" % e, flush=True)
    except (ConnectionError, OSError) as e:
        print("TLS-ERROR: %s" % e, flush=True)
    sys.exit(2)


class Fake:
    """A fake provider or writer."""

    def __init__(self, args):
        self.args = args
        self.ports = [int(x) for x in args.ports.split(",")] if args.ports else []
        self.redirected = False
        self.events = open(args.events, "a") if args.events else None
        self.stall = set(args.stall or [])
        self.disconnect_on = set(args.disconnect_on or [])
        self.fail = {}
        for f in args.fail or []:
            m, code, msg = f.split(":", 2)
            self.fail[m] = (int(code), msg)
        self.fail_first = {}    # method -> [calls left to fail, code, msg]
        for f in args.fail_first or []:
            m, n, code, msg = f.split(":", 3)
            self.fail_first[m] = [int(n), int(code), msg]
        self.answers = {}
        for a in args.answer or []:
            m, result = a.split(":", 1)
            self.answers[m] = json.loads(result)
        self.delay = {}
        for d in args.delay or []:
            m, ms = d.split(":", 1)
            self.delay[m] = int(ms) / 1000.0
        self.delay_first = {}   # method -> [calls left to delay, seconds]
        for d in args.delay_first or []:
            m, n, ms = d.rsplit(":", 2)
            self.delay_first[m] = [int(n), int(ms) / 1000.0]
        # Provider state.
        self.volumes = {}
        for v in args.volume or []:
            if args.mode == "provider":
                name, size = v.split(":", 1)
                self.volumes[name] = {
                    "name": name,
                    "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, args.name + "/" + name)),
                    "size": int(size), "cluster_size": 65536,
                    "subcluster_size": 4096, "generation": 1, "snapshots": 0,
                    "created": 1700000000, "allocated_bytes": 0,
                    "referenced_bytes": 0, "written_bytes": 0,
                    "snapshot_bytes": 0, "open_count": 0, "export": name}
        self.holds = {}         # hold id -> [volumes], while active
        self.hold_sets = {}     # hold id -> the set id it was taken for
        self.sets = {}          # set id -> [snapshot ids]
        self.generation = 1

    def log(self, event, **kw):
        if self.events:
            rec = {"t": now(), "event": event}
            rec.update(kw)
            self.events.write(json.dumps(rec) + "\n")
            self.events.flush()

    # Answers.

    def answer(self, method, params):
        """(result, error) for a call."""
        if method in self.fail:
            code, msg = self.fail[method]
            return None, {"code": code, "message": msg}
        if self.fail_first.get(method, [0])[0] > 0:
            self.fail_first[method][0] -= 1
            _, code, msg = self.fail_first[method]
            return None, {"code": code, "message": msg}
        if method in self.answers:
            return self.answers[method], None
        if self.args.mode == "writer":
            if method in ("writer.prepare", "writer.freeze", "writer.thaw",
                          "writer.post_snapshot", "writer.abort"):
                return {}, None
            return None, {"code": -32601, "message": "unknown method '%s'" % method}
        if method == "volume.list":
            return sorted(self.volumes.values(), key=lambda v: v["name"]), None
        if method == "hold.begin":
            for v in params["volumes"]:
                if v not in self.volumes:
                    return None, {"code": -32001, "message": "no volume named %s" % v}
            hold = str(uuid.uuid4())
            self.holds[hold] = list(params["volumes"])
            self.hold_sets[hold] = params.get("set_id")
            return {"hold_id": hold, "volumes": params["volumes"],
                    "expires_in_ms": params.get("timeout_ms", 10000)}, None
        if method == "hold.commit":
            vols = self.holds.pop(params["hold_id"], None)
            if vols is None:
                return None, {"code": -32001, "message": "no hold %s" % params["hold_id"]}
            snaps = []
            for v in vols:
                sid = str(uuid.uuid4())
                snaps.append({"volume": v, "id": sid, "export": "%s@%s" % (v, sid),
                              "generation": self.generation})
            self.generation += 1
            self.sets[params["set_id"]] = snaps
            return {"set_id": params["set_id"], "snapshots": snaps}, None
        if method == "hold.release":
            if "set_id" in params:
                mine = [h for h in self.holds if self.hold_sets.get(h) == params["set_id"]]
                for h in mine:
                    del self.holds[h]
                return {"released": bool(mine)}, None
            return {"released": self.holds.pop(params["hold_id"], None) is not None}, None
        if method == "snapshot.delete":
            snaps = self.sets.pop(params["id"], None)
            if snaps is None:
                return None, {"code": -32001, "message": "nothing has id %s" % params["id"]}
            return {"id": params["id"], "deleted": len(snaps)}, None
        return None, {"code": -32601, "message": "unknown method '%s'" % method}

    def reply(self, link, msg_id, method, params):
        result, error = self.answer(method, params)
        out = {"jsonrpc": "2.0", "id": msg_id}
        if error is not None:
            out["error"] = error
        else:
            out["result"] = result
        self.log("answer", method=method, result=result, error=error)
        link.send(out)

    # The session.

    def register(self, link):
        a = self.args
        if a.mode == "provider":
            params = {"name": a.name, "nbd_uri": a.nbd_uri,
                      "volumes": sorted(self.volumes.values(), key=lambda v: v["name"]),
                      "version": "test"}
            method = "provider.register"
        else:
            params = {"name": a.name, "volumes": a.volume or []}
            if a.freeze_timeout is not None:
                params["freeze_timeout_ms"] = a.freeze_timeout
            method = "writer.register"
        link.send({"jsonrpc": "2.0", "id": "reg", "method": method, "params": params})

    def not_leader(self, error):
        """With --ports: move to the leader named by a -32012 refusal
        (or the next port).  False when the refusal is something else."""
        if not self.ports or error.get("code") != -32012:
            return False
        leader = (error.get("data") or {}).get("leader")
        if leader:
            self.args.port = int(leader.rsplit(":", 1)[1])
        else:
            self.next_port()
        self.redirected = True
        return True

    def next_port(self):
        i = self.ports.index(self.args.port) if self.args.port in self.ports else -1
        self.args.port = self.ports[(i + 1) % len(self.ports)]

    def session(self):
        link = connect(self.args)
        self.log("connected")
        self.register(link)
        heartbeat = None
        next_ping = None
        timers = []             # (when, id, method, params)
        ping_id = 0
        try:
            while True:
                t = time.monotonic()
                for item in [x for x in timers if x[0] <= t]:
                    timers.remove(item)
                    self.reply(link, item[1], item[2], item[3])
                if next_ping is not None and t >= next_ping and not self.args.silent:
                    ping_id += 1
                    link.send({"jsonrpc": "2.0", "id": "ping-%d" % ping_id, "method": "ping"})
                    next_ping = t + heartbeat / 2
                wake = [0.2]
                if next_ping is not None:
                    wake.append(next_ping - t)
                wake += [x[0] - t for x in timers]
                for line in link.read_some(min(wake)):
                    msg = json.loads(line)
                    if "method" in msg:
                        method, params = msg["method"], msg.get("params", {})
                        self.log("call", method=method, params=params)
                        if method in self.disconnect_on:
                            raise EOFError()
                        if method in self.stall:
                            continue
                        delay = self.delay.get(method)
                        if self.delay_first.get(method, [0])[0] > 0:
                            self.delay_first[method][0] -= 1
                            delay = self.delay_first[method][1]
                        if delay is not None:
                            timers.append((time.monotonic() + delay,
                                           msg["id"], method, params))
                            continue
                        self.reply(link, msg["id"], method, params)
                    elif msg.get("id") == "reg":
                        if "error" in msg:
                            self.log("refused", error=msg["error"])
                            if self.not_leader(msg["error"]):
                                time.sleep(0.1)
                                return True
                            print("REGISTER-ERROR: %s" % json.dumps(msg["error"]), flush=True)
                            return False
                        heartbeat = msg["result"]["heartbeat_ms"] / 1000.0
                        next_ping = time.monotonic() + heartbeat / 2
                        self.log("registered", heartbeat_ms=msg["result"]["heartbeat_ms"])
                        if self.args.ready:
                            open(self.args.ready, "w").close()
                    elif "error" in msg:
                        self.log("error", error=msg["error"])
        except (EOFError, ConnectionError, ssl.SSLError, OSError) as e:
            self.log("disconnected", why=str(e) or type(e).__name__)
        finally:
            link.close()
        return True

    def run(self):
        while True:
            if not self.session():
                sys.exit(1)
            if not self.args.reconnect and not self.ports:
                return
            while True:
                time.sleep(0.2)
                if self.ports and not self.redirected:
                    self.next_port()
                self.redirected = False
                try:
                    socket.create_connection((self.args.host, self.args.port), timeout=1).close()
                    break
                except OSError:
                    continue


def call(args):
    link = connect(args)
    params = json.loads(args.params) if args.params else None
    req = {"jsonrpc": "2.0", "id": 1, "method": args.method}
    if params is not None:
        req["params"] = params
    try:
        link.send(req)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            for line in link.read_some(deadline - time.monotonic()):
                msg = json.loads(line)
                if msg.get("id") in (1, None):
                    print(line.decode(), flush=True)
                    return
        print("TIMEOUT", flush=True)
        sys.exit(3)
    except EOFError:
        print("CLOSED", flush=True)
        sys.exit(2)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        print("TLS-ERROR: %s" % e, flush=True)
        sys.exit(2)


def raw(args):
    link = connect(args)
    data = sys.stdin.buffer.read()
    try:
        link.send_bytes(data)
    except (ConnectionError, ssl.SSLError, OSError) as e:
        print("SEND-ERROR: %s" % e, flush=True)
    last = time.monotonic()
    try:
        while True:
            lines = link.read_some(0.2)
            for line in lines:
                print(line.decode(), flush=True)
            if lines:
                last = time.monotonic()
            elif time.monotonic() - last > args.quiet_time:
                print("OPEN", flush=True)
                return
    except EOFError:
        print("CLOSED", flush=True)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        print("CLOSED: %s" % e, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ca", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    sub = p.add_subparsers(dest="mode", required=True)
    for mode in ("provider", "writer"):
        s = sub.add_parser(mode)
        s.add_argument("--name", required=True)
        s.add_argument("--volume", action="append")
        s.add_argument("--nbd-uri", default="nbd://127.0.0.1:10809")
        s.add_argument("--freeze-timeout", type=int)
        s.add_argument("--events")
        s.add_argument("--ready")
        s.add_argument("--stall", action="append")
        s.add_argument("--fail", action="append")
        s.add_argument("--fail-first", action="append")
        s.add_argument("--delay", action="append")
        s.add_argument("--delay-first", action="append")
        s.add_argument("--answer", action="append")
        s.add_argument("--disconnect-on", action="append")
        s.add_argument("--silent", action="store_true")
        s.add_argument("--reconnect", action="store_true")
        s.add_argument("--ports")
    s = sub.add_parser("call")
    s.add_argument("method")
    s.add_argument("params", nargs="?")
    s.add_argument("--timeout", type=float, default=60)
    s = sub.add_parser("raw")
    s.add_argument("--quiet-time", type=float, default=3)
    args = p.parse_args()
    if args.mode in ("provider", "writer"):
        Fake(args).run()
    elif args.mode == "call":
        call(args)
    else:
        raw(args)


if __name__ == "__main__":
    main()
