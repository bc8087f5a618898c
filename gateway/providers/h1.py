"""A small HTTP/1.1 client for the upstream calls: one keep-alive pool per provider.

Why not aiohttp here: every proxied request makes one upstream call, and aiohttp
spends ~55 us of CPU on a small POST and its response (its request and response
objects, timers, header multidicts, stream readers); this client spends ~9 us
(``python bench/upstream_bench.py``). It does what the gateway needs and nothing else:

- POST with a body already serialised, to one origin (``http`` or ``https``), over
  keep-alive connections, at most ``limit`` at a time (further requests wait for one);
- the response parsed by ``httptools`` (llhttp, C): status, headers (lower-cased
  names, repeated ones joined with ", "), a body by Content-Length, chunked, or up to
  EOF; ``gzip`` / ``deflate`` decoded should a server send them although the request
  asks for ``identity``;
- a buffered body capped at a size, or a stream read chunk by chunk with back-pressure
  (reading pauses while more than ``HIGH_WATER`` bytes wait for a slow consumer) and an
  idle timeout between chunks;
- one deadline per exchange (``exchange``'s, the wait for a connection included): a
  single timer fails the exchange with ``TimeoutError`` unless the connection is back
  in the pool first;
- a connection goes back to the pool only after a complete response that allows it;
  anything else (an error, a cancelled caller, a stream left early) closes it. An idle
  connection the server closes leaves the pool when it does; one found closed after a
  request was written on it, with not one byte of answer, is retried once on a new
  connection (the server closed it idle and never read the request);
- failures are raised as ``ConnectFailed`` (no connection), ``Disconnected`` (the
  connection ended before the response did), ``BadResponse`` (not HTTP/1.x) and
  ``TimeoutError`` (``errors.py``); ``ProviderClient`` maps them onto the gateway's
  errors. Bodies are decoded by ``encoding.py``.
"""

from __future__ import annotations

import asyncio
import collections
import os
import socket
import ssl
from typing import cast
from urllib.parse import urlsplit

import httptools

from ..idle import while_waiting
from .encoding import decode as _decode
from .errors import (
    BadResponse,
    ConnectFailed,
    ConnectTimeout,
    Disconnected,
    TooLarge,
)
from .errors import HttpClientError as HttpClientError  # the client's catch-all, re-exported

HIGH_WATER = 256 * 1024  # bytes a stream buffers for its consumer before reading pauses
# A hostile or broken upstream's response head: bytes (status line and headers, 1xx
# heads included) and header lines; past either, the response is a BadResponse.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 256


class Origin:
    """Where requests go: scheme, host and port of a base URL, and its TLS context."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = self.port == (443 if self.tls else 80)
        self.host_header = host if default else f"{host}:{self.port}"
        self.ssl: ssl.SSLContext | None = None  # built at the first connection

    def path_of(self, url: str) -> str:
        """The request target of ``url``, which must be on this origin."""
        parts = urlsplit(url)
        path = parts.path or "/"
        return f"{path}?{parts.query}" if parts.query else path


def request_head(origin: Origin, target: str, headers: dict[str, str], length: int) -> bytes:
    return head_prefix(origin, target, headers) + content_length(length)


def head_prefix(origin: Origin, target: str, headers: dict[str, str]) -> bytes:
    """A POST's head up to its ``content-length``: what a client whose headers do not
    change builds once (``ProviderClient``)."""
    lines = [f"POST {target} HTTP/1.1\r\nhost: {origin.host_header}\r\n"]
    for k, v in headers.items():
        if "\r" in v or "\n" in v or "\r" in k or "\n" in k:
            raise ValueError(f"header {k!r} contains a line break")
        lines.append(f"{k}: {v}\r\n")
    return "".join(lines).encode("latin-1")


def content_length(length: int) -> bytes:
    """The head's last line, and its end."""
    return b"content-length: %d\r\n\r\n" % length


class Conn(asyncio.Protocol):
    """One connection; one request at a time."""

    __slots__ = (
        "_final_head", "_raw_headers", "buffered", "cap", "chunks", "closed", "done",
        "error", "head", "head_bytes", "headers", "idle_since", "interim", "keep_alive",
        "loop", "parser", "paused", "pool", "reason", "received", "state", "status",
        "timer", "transport", "until_eof", "used", "waiter",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.state = "busy"  # busy | idle | gone (counted by the pool while not gone)
        self.closed = False
        self.used = 0  # requests sent on it
        self.idle_since = 0.0
        # The exchange's deadline (``start``), until the pool has the connection back.
        self.timer: asyncio.TimerHandle | None = None
        self._new_exchange()

    def _new_exchange(self) -> None:
        # A parser per exchange: nothing of a previous response's state carries over.
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        # The heads' (name, value) pairs as they came (1xx heads' too: all count toward
        # MAX_HEADERS), from ``_final_head`` on the final head's, made ``headers``.
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._final_head = 0
        self.head_bytes = 0
        self.head: asyncio.Future[None] | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.received = 0  # bytes of response received (head and body)
        self.cap = 0  # a buffered body's limit (0: streaming, no limit)
        self.done = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.until_eof = False
        self.keep_alive = False
        self.interim = False  # parsing a 1xx response (103 Early Hints...): not the answer

    # -- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.head is None or self.done:
            # Bytes nobody asked for (idle, or after the response): not HTTP we can
            # trust on this connection any more.
            self.close()
            return
        if self.head.done():
            self._feed(data)
            return
        budget = MAX_HEAD_BYTES - self.head_bytes
        if len(data) <= budget:
            self.head_bytes += len(data)
            self._feed(data)
            return
        # No more than the budget of head goes to the parser (it buffers a header
        # until it ends): the head must end within it, the rest is body.
        self.head_bytes = MAX_HEAD_BYTES
        self._feed(data[:budget])
        if not self.head.done():
            self._fail(BadResponse(f"response head over {MAX_HEAD_BYTES} bytes"))
            return
        self._feed(data[budget:])

    def _feed(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"malformed HTTP response: {exc}"))
            return

    def eof_received(self) -> bool | None:
        return None  # close our side as well; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.state == "idle":
            self.pool._drop_idle(self)
        if self.head is None or self.done:
            return
        if self.head.done() and self.until_eof and self.error is None:
            self.done = True  # a body delimited by the end of the connection
            self._wake()
            return
        started = self.received > 0
        self._fail(Disconnected("upstream broke off its response" if started
                                else "upstream closed the connection", started=started))

    # -- httptools callbacks -----------------------------------------------------------
    def on_status(self, reason: bytes) -> None:
        self.reason += reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        raw = self._raw_headers
        if len(raw) <= MAX_HEADERS:  # one past the limit is kept: refused when the head ends
            raw.append((name, value))

    def on_headers_complete(self) -> None:
        raw = self._raw_headers
        if len(raw) > MAX_HEADERS:
            self._fail(BadResponse(f"response head with more than {MAX_HEADERS} headers"))
            return
        self.status = self.parser.get_status_code()
        if self.status < 200:
            self.interim = True  # the final response follows on the same connection
            self._final_head = len(raw)  # a 1xx head's lines count, its headers do not
            return
        self.headers = h = _header_dict(raw[self._final_head:] if self._final_head else raw)
        self.until_eof = ("content-length" not in h
                          and "chunked" not in h.get("transfer-encoding", "").lower()
                          and self.status not in (204, 304) and self.status >= 200)
        head = self.head
        if head is not None and not head.done():
            head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.cap:
            if self.buffered > self.cap:
                self._fail(TooLarge(f"response body over {self.cap} bytes"))
                return
        elif self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        self._wake()

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            self.reason = ""
            return
        self.done = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    # -- the exchange ------------------------------------------------------------------
    def _wake(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.done:  # junk after a complete response: the response stands
            self.close()
            return
        if self.error is None:
            self.error = exc
        head = self.head
        if head is not None and not head.done():
            head.set_exception(exc)
            head.exception()  # retrieved: a caller that left must not log it as lost
        self._wake()
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    def start(self, payload: tuple[bytes, ...], deadline: float | None = None
              ) -> asyncio.Future[None]:
        """Write one request (its parts: head, body); the future is done when the
        response's head is in. At ``deadline`` (loop time), unless the pool has the
        connection back by then, the exchange fails with ``TimeoutError``: one timer
        for the whole exchange, however many waits it takes."""
        if self.closed:
            raise Disconnected("upstream closed the connection", started=False)
        self._new_exchange()
        self.used += 1
        self.head = head = self.loop.create_future()
        if deadline is not None:
            loop = self.loop  # call_later: uvloop's call_at is call_later, one call more
            self.timer = loop.call_later(deadline - loop.time(), self._expire)
        assert self.transport is not None
        self.transport.writelines(payload)  # no copy of a 10 MB body into one buffer
        while_waiting(self.loop)  # the upstream is at work: earlier exchanges' records
        return head

    def _expire(self) -> None:
        self.timer = None
        self._fail(TimeoutError())

    def disarm(self) -> None:
        """The exchange is over: its deadline no longer applies."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def read_body(self, cap: int) -> bytes:
        """The whole body (raises ``TooLarge`` beyond ``cap`` bytes)."""
        self.cap = cap
        if self.buffered > cap:
            raise TooLarge(f"response body over {cap} bytes")
        self._resume()  # paused if more than HIGH_WATER arrived before this call
        while not self.done:
            if self.error is not None:
                raise self.error
            self.waiter = self.loop.create_future()
            await self.waiter
        if self.error is not None:
            raise self.error
        body = b"".join(self.chunks)
        self.chunks.clear()
        return _decode(body, self.headers.get("content-encoding"), cap)

    async def next_chunk(self, idle_s: float | None) -> bytes:
        """What arrived of a streamed body since the last call; b"" at its end. Raises
        ``TimeoutError`` when nothing arrives for ``idle_s``."""
        while not self.chunks:
            if self.error is not None:
                raise self.error
            if self.done:
                return b""
            self.waiter = w = self.loop.create_future()
            timer = (self.loop.call_later(idle_s, _expire, w) if idle_s is not None
                     else None)
            try:
                await w
            finally:
                if timer is not None:
                    timer.cancel()
        data = self.chunks.popleft() if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        self._resume()
        return data

    def _resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    @property
    def reusable(self) -> bool:
        """A complete response, keep-alive, and our request fully written (a server may
        answer before it read all of a large body)."""
        return (self.done and self.keep_alive and self.error is None and not self.closed
                and self.transport is not None and not self.transport.get_write_buffer_size())


def _header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """A head's headers: names lower-cased, a repeated one's values joined with ", " (in
    one join each, so the work stays linear in the head)."""
    h: dict[str, str] = {}
    repeated: dict[str, list[str]] | None = None
    for name, value in raw:
        k = name.decode("latin-1").lower()
        v = value.decode("latin-1")
        first = h.get(k)
        if first is None:
            h[k] = v
        else:
            if repeated is None:
                repeated = {}
            repeated.setdefault(k, [first]).append(v)
    if repeated is not None:
        for k, vs in repeated.items():
            h[k] = ", ".join(vs)
    return h


def _reason(exc: OSError) -> str:
    """"Connection refused", "Name or service not known"...: what went wrong, not
    asyncio's "Connect call failed (address)"; TLS failures as TLS names them."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror) or not exc.errno or exc.errno < 0:
        return exc.strerror or str(exc) or type(exc).__name__
    return os.strerror(exc.errno)


def _expire(w: asyncio.Future[None]) -> None:
    if not w.done():
        w.set_exception(TimeoutError())


class Pool:
    """Keep-alive connections to one origin, at most ``limit`` open at a time."""

    def __init__(self, origin: Origin, *, limit: int, keepalive_s: float,
                 connect_timeout_s: float) -> None:
        self.origin = origin
        self.limit = limit
        self.keepalive_s = keepalive_s
        self.connect_timeout_s = connect_timeout_s
        self.loop = asyncio.get_running_loop()
        self.idle: list[Conn] = []  # most recently used last
        self.count = 0  # connections open or opening (idle + busy)
        self.waiters: collections.deque[asyncio.Future[Conn | None]] = collections.deque()
        self.closed = False

    @property
    def in_use(self) -> int:
        return self.count - len(self.idle)

    async def acquire(self, *, fresh: bool = False) -> Conn:
        """A connection: the most recently used idle one unless ``fresh``, else a new
        one, waiting for a free place when ``limit`` are open."""
        if self.closed:
            raise ConnectFailed("client closed")
        if not fresh:
            c = self.take_idle()
            if c is not None:
                return c
        idle = self.idle
        if fresh and idle and self.count >= self.limit:
            old = idle.pop(0)  # the longest idle gives its place to the new one
            old.state = "gone"
            old.close()
        elif self.count < self.limit:
            self.count += 1
        else:
            fut: asyncio.Future[Conn | None] = self.loop.create_future()
            self.waiters.append(fut)
            try:
                handed = await fut
            except BaseException:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    # Woken just as we left: pass the connection or the place on.
                    got = fut.result()
                    if got is not None:
                        self.release(got, True)
                    else:
                        self._free_place()
                elif fut in self.waiters:
                    self.waiters.remove(fut)
                raise
            if handed is not None:
                return handed
            # None: a place was handed over (still counted), open a connection in it
        try:
            return await self._connect()
        except BaseException:
            self._free_place()
            raise

    def take_idle(self) -> Conn | None:
        """The most recently used idle connection still open and within its keep-alive,
        or None (``acquire`` without the wait)."""
        idle = self.idle
        now = self.loop.time()
        while idle:
            c = idle.pop()
            if c.closed:
                continue  # its connection_lost frees its place
            if now - c.idle_since > self.keepalive_s:
                self._retire(c)
                continue
            c.state = "busy"
            return c
        return None

    async def _connect(self) -> Conn:
        o = self.origin
        if o.tls and o.ssl is None:
            o.ssl = ssl.create_default_context()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await self.loop.create_connection(
                    lambda: Conn(self), o.host, o.port, ssl=o.ssl,
                    server_hostname=o.host if o.ssl is not None else None)
        except TimeoutError:
            raise ConnectTimeout(f"no connection within {self.connect_timeout_s:g} s") from None
        except OSError as exc:
            raise ConnectFailed(_reason(exc)) from None
        return conn

    def release(self, c: Conn, reusable: bool) -> None:
        c.disarm()
        if c.state != "busy":
            return
        if not (reusable and c.reusable and not self.closed):
            self._retire(c)
            return
        if self._hand_over(c):
            return
        now = self.loop.time()
        c.state = "idle"
        c.idle_since = now
        idle = self.idle
        idle.append(c)
        # The least recently used come first: close those past their keep-alive.
        while idle[0] is not c and now - idle[0].idle_since > self.keepalive_s:
            self._retire(idle.pop(0))

    def _drop_idle(self, c: Conn) -> None:
        """An idle connection closed (by the server, or its keep-alive ran out)."""
        if c.state == "idle":
            if c in self.idle:
                self.idle.remove(c)
            self._retire(c)

    def _retire(self, c: Conn) -> None:
        """Close ``c`` and free its place."""
        c.state = "gone"
        c.close()
        self._free_place()

    def _free_place(self) -> None:
        """One connection fewer: its place goes to the first waiter (who opens one in
        it), else the count drops."""
        if not self._hand_over(None):
            self.count -= 1

    def _hand_over(self, c: Conn | None) -> bool:
        """Give the first live waiter ``c`` (None: a place); False if nobody waits."""
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(c)
                return True
        return False

    def close(self) -> None:
        self.closed = True
        for c in self.idle:
            c.state = "gone"
            c.close()
        self.count -= len(self.idle)
        self.idle.clear()
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_exception(ConnectFailed("client closed"))


async def exchange(pool: Pool, payload: tuple[bytes, ...], deadline: float | None = None
                   ) -> Conn:
    """Send ``payload`` on a pooled connection and return it once the response's head
    is in; the caller reads the body and releases the connection. A reused connection
    that ends without one byte of answer is replaced once by a new one.

    ``deadline`` (loop time): the exchange, the wait for a connection included, fails
    with ``TimeoutError`` then, until the connection is released (``Conn.start``).
    """
    fresh = False
    while True:
        c = None if fresh else pool.take_idle()
        if c is None:
            c = await _acquire(pool, fresh, deadline)
        try:
            await c.start(payload, deadline)
            return c
        except Disconnected as exc:
            pool.release(c, False)
            if exc.started or c.used <= 1 or fresh:
                raise
        except BaseException:
            pool.release(c, False)
            raise
        fresh = True


async def _acquire(pool: Pool, fresh: bool, deadline: float | None) -> Conn:
    """A new connection, or a wait for a place (no idle one to take), by ``deadline``."""
    if deadline is None:
        return await pool.acquire(fresh=fresh)
    async with asyncio.timeout_at(deadline):
        return await pool.acquire(fresh=fresh)
