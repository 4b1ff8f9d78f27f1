# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# fakecoord.py: a scripted stand-in for snapvol-coordinator, for the
# tests of its peers (the plugin's provider link, snapvol-writer,
# snapvolctl's requester commands).
#
# It speaks docs/protocol.md Part 2 on the wire: TLS with client
# certificates, one compact JSON text per line, requests both ways on
# one connection.  It has no logic of its own: a test registers
# answers for the methods peers call (canned results or functions),
# waits for registrations, and makes calls on a peer's connection.
#
# The event loop runs in a thread of its own; the methods a test calls
# are synchronous and thread-safe.

import asyncio
import json
import ssl
import threading
import time

LIMIT = 1 << 21


class Closed(Exception):
    """The peer's connection ended before the answer."""


class Peer:
    """One connection accepted from a peer."""

    def __init__(self, coord, reader, writer):
        self.coord = coord
        self.reader = reader
        self.writer = writer
        self.pending = {}
        self.next_id = 0
        self.closed = asyncio.Event()
        self.method = None          # the registration method
        self.params = None          # and its params
        self.requests = []          # every request received: (method, params)
        cert = writer.get_extra_info("peercert") or {}
        self.cn = None
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    self.cn = value
        self.name = None

    async def send(self, msg):
        self.writer.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
        await self.writer.drain()

    async def run(self):
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                msg = json.loads(line)
                if "method" in msg:
                    await self.on_request(msg)
                else:
                    fut = self.pending.pop(msg.get("id"), None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                    else:
                        self.coord.note("stray response", msg)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as e:
            self.coord.note("connection error", repr(e))
        finally:
            self.closed.set()
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(Closed())
            self.pending.clear()
            self.writer.close()
            self.coord.peers.discard(self)

    async def on_request(self, msg):
        method, params = msg["method"], msg.get("params")
        self.requests.append((method, params))
        with self.coord.cond:
            self.coord.requests.append((self.cn, method, params))
        self.coord.note("request", method, params)
        if "id" not in msg:
            return
        answer = self.coord.answer(self, method, params)
        reply = {"jsonrpc": "2.0", "id": msg["id"]}
        reply.update(answer)
        await self.send(reply)

    async def call(self, method, params, timeout):
        self.next_id += 1
        rid = "c-%d" % self.next_id
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        req = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            req["params"] = params
        await self.send(req)
        return await asyncio.wait_for(fut, timeout)


class FakeCoordinator:
    def __init__(self, cert, key, ca, heartbeat_ms=1000, port=0):
        self.heartbeat_ms = heartbeat_ms
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(cert, key)
        self.ctx.load_verify_locations(ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.port = port
        self.peers = set()
        self.events = []            # (time, what, details...)
        self.canned = {}            # method -> {"result": ...} / {"error": ...}
        self.handlers = {}          # method -> fn(peer, params) -> answer
        self.registered = []        # peers, in the order they registered
        self.requests = []          # every request: (peer's CN, method, params)
        self.cond = threading.Condition()
        self.server = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.start()

    # Bookkeeping, from any thread.

    def note(self, *what):
        with self.cond:
            self.events.append((time.time(),) + what)
            self.cond.notify_all()

    def answer(self, peer, method, params):
        if method == "ping":
            return {"result": {"time": int(time.time())}}
        if method in self.handlers:
            return self.handlers[method](peer, params)
        if method in ("provider.register", "writer.register"):
            peer.method, peer.params = method, params
            peer.name = params.get("name") if isinstance(params, dict) else None
            with self.cond:
                self.registered.append(peer)
                self.cond.notify_all()
            return {"result": {"heartbeat_ms": self.heartbeat_ms}}
        if method in self.canned:
            return self.canned[method]
        return {"error": {"code": -32601, "message": "unknown method '%s'" % method}}

    def _sync(self, coro, timeout=None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # Listening.

    async def _accept(self, reader, writer):
        peer = Peer(self, reader, writer)
        self.peers.add(peer)
        self.note("connect", peer.cn)
        await peer.run()
        self.note("disconnect", peer.cn, peer.name)

    async def _start(self):
        self.server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, ssl=self.ctx, limit=LIMIT,
            reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    def start(self):
        """Listen (again, on the same port after stop)."""
        self._sync(self._start())

    async def _stop(self):
        self.server.close()
        await self.server.wait_closed()
        for peer in list(self.peers):
            peer.writer.transport.abort()

    def stop(self):
        """Stop listening and cut every connection, as a crash would."""
        self._sync(self._stop())
        with self.cond:
            self.registered = []

    # What tests use.

    def wait_register(self, method, timeout=20, name=None):
        """The next peer to register with METHOD (and NAME), not yet taken."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for p in self.registered:
                    if p.method == method and (name is None or p.name == name) \
                       and not getattr(p, "taken", False):
                        p.taken = True
                        return p
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError("no %s within %s s" % (method, timeout))
                self.cond.wait(left)

    def call(self, peer, method, params=None, timeout=30):
        """Call METHOD on PEER; the whole response (result or error)."""
        return self._sync(peer.call(method, params, timeout))

    def result(self, peer, method, params=None, timeout=30):
        """Call METHOD on PEER; its result, or an AssertionError."""
        r = self.call(peer, method, params, timeout)
        assert "result" in r, "%s failed: %r" % (method, r)
        return r["result"]

    def kill(self, peer):
        """Cut PEER's connection without a TLS close."""
        self.loop.call_soon_threadsafe(peer.writer.transport.abort)

    def wait_closed(self, peer, timeout=10):
        async def w():
            await asyncio.wait_for(peer.closed.wait(), timeout)
        self._sync(w())

    def close(self):
        try:
            self.stop()
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
