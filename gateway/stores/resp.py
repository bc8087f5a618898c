"""A pipelined RESP2 client for one standalone Redis: the rate-limit hot path.

Why not redis-py here: every request checks its limits in Redis, and redis-py's asyncio
client spends ~50 us of CPU per command (connection pool checkout, per-connection
locks, command encoding and parsing in Python); this client spends ~10 us (measured:
``python bench/store_bench.py``). It keeps one connection per store and *pipelines*: a
command is written at the end of the loop iteration it was issued in, together with
every other command issued in that iteration (one syscall for all of them), and its
reply future waits in a FIFO, so 64 requests in flight cost one socket and no pool.
Redis answers a connection's commands in the order sent, which also means a slot
released by one request is released before the next request's acquire on this replica
is run.

Bookkeeping that nobody waits for (a request's settlement and cache write, after its
response is sent) is sent *later* (``execute_later``): it waits in the write buffer for
the next command that someone does wait for, or at most ``LATER_S``, and goes out in
the same write. At low load that halves the round trips per request (the settlement
rides on the next request's admission, and both replies come back in one read); the
order of commands is unchanged.

Replies are parsed by ``hiredis`` (C). Errors are redis-py's exception classes, so
``RedisStore`` handles both clients alike (redis-py still serves Redis Cluster, and any
URL option this client does not know; see ``SUPPORTED_OPTIONS``).

Time limits: connecting (TCP, TLS, AUTH/SELECT) is bounded by ``connect_timeout_s``; a
reply not received within ``read_timeout_s`` of its command being sent aborts the
connection (one timer per connection, not one per command), failing every command in
flight on it with ``ConnectionError``: a hung or half-open server is given up on and a
fresh connection is made by the next command. A caller that stops waiting (cancelled)
leaves its future in the FIFO; its reply is read and dropped.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import hiredis
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

SUPPORTED_OPTIONS = frozenset({
    "db", "username", "password", "client_name", "socket_timeout", "socket_connect_timeout",
    "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data",
    "ssl_ca_path", "ssl_check_hostname", "ssl_password", "ssl_min_version", "ssl_ciphers",
})
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
              "required": ssl.CERT_REQUIRED}
_FALSE = {"0", "false", "no", "off", ""}


# RESP encoding of one command (str, bytes, int and float arguments), in C.
_encode = hiredis.pack_command
# How long a command sent with ``execute_later`` may wait for company.
LATER_S = 0.002


def _reply_error(err: ResponseError) -> Exception:
    msg = str(err)
    if msg.startswith("NOSCRIPT"):
        return NoScriptError(msg)
    if msg.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
        return AuthenticationError(msg)
    return err


class _Conn(asyncio.Protocol):
    """One socket; replies are matched to commands in order."""

    def __init__(self, read_timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.read_timeout_s = read_timeout_s
        self.reader = hiredis.Reader(replyError=ResponseError)
        # (time sent, future) of every command not yet answered, oldest first
        self.pending: collections.deque[tuple[float, asyncio.Future[Any]]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.error: Exception | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []  # commands issued, not yet written
        self._flush_soon = False  # a flush is due at the end of this loop iteration
        self._later: asyncio.TimerHandle | None = None  # the flush of lazy commands

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending = self.pending
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.abort(ConnectionError(f"redis protocol error: {exc}"))
                return
            if reply is False:
                return
            if not pending:
                self.abort(ConnectionError("redis sent a reply nobody asked for"))
                return
            fut = pending.popleft()[1]
            if fut.done():
                continue  # its caller gave up waiting
            if isinstance(reply, ResponseError):
                fut.set_exception(_reply_error(reply))
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None:
            self.error = ConnectionError(
                f"connection to redis lost: {exc}" if exc else "redis closed the connection")
        for timer in (self._timer, self._later):
            if timer is not None:
                timer.cancel()
        self._timer = self._later = None
        while self.pending:
            fut = self.pending.popleft()[1]
            if not fut.done():
                fut.set_exception(self.error)

    def abort(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        if self.transport is not None:
            self.transport.abort()  # connection_lost fails whatever is in flight

    def send(self, payload: bytes, later: bool = False) -> asyncio.Future[Any]:
        """Queue one command; written at the end of this loop iteration, or with
        ``later`` when the next command is or within ``LATER_S``."""
        if self.error is not None or self.transport is None:
            raise self.error or ConnectionError("not connected")
        loop = self.loop
        fut = loop.create_future()
        now = loop.time()
        self.pending.append((now, fut))
        self._out.append(payload)
        if not self._flush_soon:
            if not later:
                self._flush_soon = True
                loop.call_soon(self._flush)
            elif self._later is None:
                self._later = loop.call_at(now + LATER_S, self._flush)
        if self._timer is None:
            self._timer = loop.call_at(now + self.read_timeout_s, self._check_timeout)
        return fut

    def _flush(self) -> None:
        # One write (one syscall) for every command issued in the same loop iteration,
        # and the lazy ones before them: under load the requests of one iteration share
        # a packet.
        self._flush_soon = False
        if self._later is not None:
            self._later.cancel()
            self._later = None
        out, self._out = self._out, []
        if out and self.transport is not None and self.error is None:
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])

    def gives_up_in(self) -> float:
        """Seconds until a command sent now is given up on: the read timer runs from
        the oldest unanswered command, so one queued behind a stuck command fails when
        that one times out, sooner than its own timeout."""
        if not self.pending:
            return self.read_timeout_s
        return max(0.0, self.pending[0][0] + self.read_timeout_s - self.loop.time())

    def _check_timeout(self) -> None:
        self._timer = None
        if not self.pending:
            return
        due = self.pending[0][0] + self.read_timeout_s
        if self.loop.time() >= due:
            self.abort(RedisTimeoutError(
                f"no reply from redis within {self.read_timeout_s:g} s"))
        else:
            self._timer = self.loop.call_at(due, self._check_timeout)


class RespClient:
    """The subset of redis-py's asyncio API that ``RedisStore`` uses, pipelined."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379, *, db: int = 0,
                 username: str | None = None, password: str | None = None,
                 client_name: str | None = None, tls: dict[str, Any] | None = None,
                 connect_timeout_s: float = 0.25, read_timeout_s: float = 0.25) -> None:
        """``tls``: None for plain TCP, else the ``ssl_*`` options (the context is built
        at the first connect, as redis-py does: a bad CA path is a store error, not a
        failed start)."""
        self.host, self.port, self.db = host, port, db
        self.username, self.password, self.client_name = username, password, client_name
        self.tls = tls
        self._ssl: ssl.SSLContext | None = None
        self.connect_timeout_s, self.read_timeout_s = connect_timeout_s, read_timeout_s
        self._conn: _Conn | None = None
        self._connecting: asyncio.Future[_Conn] | None = None
        self._closed = False

    @staticmethod
    def supports(url: str, options: dict[str, Any]) -> bool:
        """Can this client serve ``url`` with ``options``? (else use redis-py)"""
        parts = urlsplit(url)
        names = {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)} | set(options)
        return parts.scheme in ("redis", "rediss") and names <= SUPPORTED_OPTIONS

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RespClient:
        """``redis://[[user]:password@]host[:port][/db][?option=value...]``; ``rediss://``
        for TLS. Options (keyword or query) as redis-py names them."""
        parts = urlsplit(url)
        opts: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
        opts.update(options)
        unknown = set(opts) - SUPPORTED_OPTIONS
        if unknown:
            raise ValueError(f"unsupported redis option(s): {', '.join(sorted(unknown))}")
        db = opts.get("db") or (parts.path.lstrip("/") or "0")
        timeout = float(opts.get("socket_timeout") or 0.25)
        host = parts.hostname or "127.0.0.1"
        return cls(
            host, parts.port or 6379, db=int(db),
            username=opts.get("username") or (unquote(parts.username) if parts.username else None),
            password=opts.get("password") or (unquote(parts.password) if parts.password else None),
            client_name=opts.get("client_name"),
            tls={k: v for k, v in opts.items() if k.startswith("ssl_")}
            if parts.scheme == "rediss" else None,
            connect_timeout_s=float(opts.get("socket_connect_timeout") or timeout),
            read_timeout_s=timeout)

    # -- connection ----------------------------------------------------------------------
    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        if self.tls is not None and self._ssl is None:
            self._ssl = _ssl_context(self.tls)
        async with asyncio.timeout(self.connect_timeout_s):
            _, conn = await loop.create_connection(
                lambda: _Conn(self.read_timeout_s), self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self._ssl is not None else None)
            try:
                hello: list[tuple[Any, ...]] = []
                if self.password is not None:
                    hello.append(("AUTH", self.username, self.password) if self.username
                                 else ("AUTH", self.password))
                if self.db:
                    hello.append(("SELECT", self.db))
                if self.client_name:
                    hello.append(("CLIENT", "SETNAME", self.client_name))
                for fut in [conn.send(_encode(cmd)) for cmd in hello]:
                    await fut
            except BaseException:
                conn.abort(ConnectionError("handshake failed"))
                raise
        return conn

    async def _connection(self) -> _Conn:
        if self._closed:
            raise ConnectionError("client closed")
        # One connect at a time, shared by every command that arrives meanwhile.
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(
                lambda t: t.cancelled() or t.exception())  # retrieved, never "lost"
        try:
            conn = await asyncio.shield(self._connecting)
        except TimeoutError as exc:
            raise RedisTimeoutError(f"connecting to redis timed out after "
                                    f"{self.connect_timeout_s:g} s") from exc
        self._conn = conn
        return conn

    @property
    def connected(self) -> bool:
        """A live connection is open: a command's wait is bounded by the read timeout."""
        conn = self._conn
        return conn is not None and conn.error is None

    async def execute(self, *args: Any) -> Any:
        conn = self._conn
        if conn is None or conn.error is not None:
            conn = await self._connection()
        return await conn.send(_encode(args))

    def gives_up_in(self) -> float:
        """Seconds until a command sent now on the live connection is given up on (at
        most the read timeout; see ``_Conn.gives_up_in``)."""
        conn = self._conn
        if conn is None or conn.error is not None:
            return self.read_timeout_s
        return conn.gives_up_in()

    async def execute_later(self, *args: Any) -> Any:
        """``execute`` for a command nobody is waiting for: written with the next
        command, or within ``LATER_S`` (see the module's docstring)."""
        conn = self._conn
        if conn is None or conn.error is not None:
            conn = await self._connection()
        return await conn.send(_encode(args), later=True)

    # -- the commands RedisStore uses (redis-py's signatures) ----------------------------
    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self.execute("EVALSHA", sha, numkeys, *keys_and_args)

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self.execute("EVAL", script, numkeys, *keys_and_args)

    async def script_load(self, script: str) -> str:
        return (await self.execute("SCRIPT", "LOAD", script)).decode()

    async def zrem(self, name: str, *values: Any) -> int:
        return int(await self.execute("ZREM", name, *values))

    async def get(self, name: str) -> bytes | None:
        value: bytes | None = await self.execute("GET", name)
        return value

    async def set(self, name: str, value: bytes, px: int | None = None) -> bool:
        args: tuple[Any, ...] = ("SET", name, value) if px is None else ("SET", name, value,
                                                                          "PX", px)
        return bool(await self.execute(*args))

    async def ping(self) -> bool:
        return bool(await self.execute("PING") == b"PONG")

    async def aclose(self) -> None:
        self._closed = True
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._conn is not None:
            self._conn.abort(ConnectionError("client closed"))
            self._conn = None


def _ssl_context(opts: dict[str, Any]) -> ssl.SSLContext:
    """Built as redis-py builds it, so the same options mean the same checks."""
    reqs = opts.get("ssl_cert_reqs", "required")
    if isinstance(reqs, str):
        if reqs.lower() not in _CERT_REQS:
            raise ValueError(f"invalid ssl_cert_reqs {reqs!r}: none, optional or required")
        reqs = _CERT_REQS[reqs.lower()]
    check = opts.get("ssl_check_hostname", True)
    if isinstance(check, str):
        check = check.lower() not in _FALSE
    ctx = ssl.create_default_context()
    ctx.check_hostname = bool(check) and reqs != ssl.CERT_NONE
    ctx.verify_mode = reqs
    if opts.get("ssl_certfile") or opts.get("ssl_keyfile"):
        ctx.load_cert_chain(certfile=opts.get("ssl_certfile") or opts["ssl_keyfile"],
                            keyfile=opts.get("ssl_keyfile"), password=opts.get("ssl_password"))
    if opts.get("ssl_ca_certs") or opts.get("ssl_ca_data") or opts.get("ssl_ca_path"):
        ctx.load_verify_locations(cafile=opts.get("ssl_ca_certs"),
                                  capath=opts.get("ssl_ca_path"),
                                  cadata=opts.get("ssl_ca_data"))
    if opts.get("ssl_min_version") is not None:
        ctx.minimum_version = opts["ssl_min_version"]
    if opts.get("ssl_ciphers"):
        ctx.set_ciphers(opts["ssl_ciphers"])
    return ctx
