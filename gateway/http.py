"""HTTP plumbing shared by the surfaces: bodies, ids, JSON and error responses, and
the server protocol ``gateway serve`` runs (``HeaderLimitedHttpTools``)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import orjson
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .direct import DirectCycle
from .errors import BadRequest, GatewayError, PayloadTooLarge, RequestTimeout

_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id(headers: Mapping[str, str]) -> str:
    """The client's x-request-id if it is a plain token; else a fresh one.

    A client id with control characters, CR/LF or odd bytes is never echoed into a
    header or a log line: it is replaced, not cleaned up.
    """
    rid = headers.get("x-request-id")
    if rid and _SAFE_ID.fullmatch(rid):
        return rid
    return new_request_id()


# Random bytes for request ids, drawn from the OS 64 ids at a time (one getrandom
# syscall per 64 requests instead of one each); emptied in a forked child, so no two
# processes hand out the same ids.
_ID_BATCH = 64
_id_bytes = bytearray()


def _forget_id_bytes() -> None:
    del _id_bytes[:]


os.register_at_fork(after_in_child=_forget_id_bytes)


def new_request_id() -> str:
    """A random UUID (version 4, RFC 9562) as 32 hex digits, like ``uuid.uuid4().hex``
    at a fraction of its cost (no UUID object, the OS's random bytes fetched in
    batches)."""
    if not _id_bytes:
        _id_bytes[:] = os.urandom(16 * _ID_BATCH)
    b = _id_bytes[-16:]
    del _id_bytes[-16:]
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # the RFC's variant
    return b.hex()


class HeaderMap(Headers):
    """Starlette's ``Headers`` with a dict behind the lookups.

    A proxied request looks up a dozen headers by name, most of them absent (its key,
    policy, request id, cache control, the headers a surface forwards); ``Headers`` scans
    its list for each and, in ``get``, raises and catches a KeyError for each absent one.
    The first value of a repeated header wins, as in ``Headers``; everything else
    (``raw``, ``getlist``, iteration) is ``Headers``'s own.
    """

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        first: dict[str, str] = {}
        for name, value in self._list:
            first.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        self._first = first

    def get(self, key: str, default: Any = None) -> Any:
        return self._first.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return self._first[key.lower()]

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower() in self._first


class ProxiedRequest(Request):
    """The request of a surface's proxy route (``app.GatewayApp``): Starlette's
    ``Request`` with its headers in a ``HeaderMap``. ``whole_body``, when the server
    offers it (``direct.DirectCycle``), gives the whole body at once, or None if it
    must be read from ``receive`` (``read_body``)."""

    def __init__(self, scope: Scope, receive: Receive, send: Send,
                 whole_body: Callable[[], bytes | None] | None = None) -> None:
        super().__init__(scope, receive, send)
        self._header_map = HeaderMap(scope)
        self.whole_body = whole_body

    @property
    def headers(self) -> HeaderMap:
        return self._header_map


class ClientGone(Exception):
    """The client disconnected (while sending its body, or while we waited upstream)."""


T = TypeVar("T")


# The ASGI extension (``scope["extensions"]``) by which the gateway's own server protocol
# (``HeaderLimitedHttpTools``) tells a handler that its client left: its value is a
# function taking a callback (or None to stop) and returning False if the client has
# already gone.
LEAVE_NOTICE = "gateway.leave_notice"


async def _disconnected(request: Request) -> None:
    # Once the body has been read, the server's receive() only returns when the
    # client goes away (``http.disconnect``).
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Await ``work`` (the body must have been read), but if the client disconnects
    first, cancel it and raise ``ClientGone``.

    The server does not cancel a handler whose client left; without this a request
    waiting for a slow upstream would keep the upstream call, its connection and the
    key's concurrency slot until the upstream answered or timed out (``total_s``,
    600 s by default). Cancelling ``work`` runs its own cleanup (the engine closes
    the upstream response), and the caller's ``finally`` releases the slot.
    """
    # ``work`` runs inline in this task (no task of its own, no asyncio.wait: this is on
    # every request). Under the gateway's server the connection's loss cancels this
    # task (``LEAVE_NOTICE``); under another server a watcher task waits for the ASGI
    # ``http.disconnect`` and does the same.
    current = asyncio.current_task()
    assert current is not None
    left = False

    def leave() -> None:
        nonlocal left
        left = True
        current.cancel()

    stop: Callable[[], object]
    notice = request.scope.get("extensions", {}).get(LEAVE_NOTICE)
    if notice is not None:
        if not notice(leave):
            raise ClientGone()

        def stop() -> None:
            notice(None)
    else:
        async def watch() -> None:
            await _disconnected(request)
            leave()

        stop = asyncio.ensure_future(watch()).cancel
    try:
        return await work
    except asyncio.CancelledError:
        if not left:
            raise  # we are being cancelled ourselves (shutdown): not the client's doing
        current.uncancel()  # the leave's cancel is consumed here, nowhere else
        raise ClientGone() from None
    finally:
        stop()


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes:
    """Read the whole body within a size and a time limit.

    Refuses on Content-Length before reading anything; otherwise stops reading as
    soon as the limit is passed, so a 100 MB body never sits in memory.
    """
    cl = request.headers.get("content-length")
    if cl is not None:
        if not cl.isdigit():
            raise BadRequest("Invalid Content-Length header.")
        if int(cl) > max_bytes:
            raise PayloadTooLarge(
                f"Request body of {int(cl)} bytes exceeds the limit of {max_bytes} bytes.",
                headers={"connection": "close"})
    whole = getattr(request, "whole_body", None)
    body = whole() if whole is not None else None
    if body is not None:  # all of it arrived with the head: no receive() round
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"Request body exceeds the limit of {max_bytes} bytes.",
                                  headers={"connection": "close"})
        return body
    chunks: list[bytes] = []
    size = 0
    receive = request.receive  # not request.stream(): an async generator costs more
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] != "http.request":  # http.disconnect
                    raise ClientGone()
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(
                            f"Request body exceeds the limit of {max_bytes} bytes.",
                            headers={"connection": "close"})
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise RequestTimeout(
            f"The request body was not received within {timeout_s:g} s.",
            headers={"connection": "close"}) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class Afterwards(BackgroundTask):
    """A coroutine function awaited after the response is sent: Starlette's
    ``BackgroundTask`` without the inspection of ``func`` it does on every construction
    (it is always a coroutine function here)."""

    def __init__(self, func: Callable[..., Awaitable[Any]], *args: Any) -> None:
        # BackgroundTask types its arguments by ``func``'s ParamSpec.
        self.func, self.is_async = func, True
        self.args, self.kwargs = args, {}  # type: ignore[assignment]


class JSONResponse(Response):
    """A JSON body already serialised: Starlette's ``Response`` with its head built
    directly (the same headers in the same order: the given ones, then content-length
    and content-type unless given: ``head_fields``). ``given`` keeps the headers as
    given: the direct way (``direct.DirectCycle.answer``) writes the head from the same
    fields as text, so the raw list is only made when the ASGI way asks for it."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int, headers: Mapping[str, str]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.given = headers
        self._raw: list[tuple[bytes, bytes]] | None = None

    def given_only(self) -> bool:
        """The head is still the given headers: its raw list was never made (nor
        changed through it)."""
        return self._raw is None

    def head_fields(self) -> list[tuple[str, str]]:
        """The answer's headers: the given ones (names lowercased), then content-length
        (unless given, or a status without a body) and content-type unless given."""
        fields = [(k.lower(), v) for k, v in self.given.items()]
        names = {k for k, _ in fields}
        status = self.status_code
        if "content-length" not in names and status >= 200 and status not in (204, 304):
            fields.append(("content-length", str(len(self.body))))
        if "content-type" not in names:
            fields.append(("content-type", "application/json"))
        return fields

    @property  # type: ignore[override]
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        if self._raw is None:
            self._raw = [(k.encode("latin-1"), v.encode("latin-1"))
                         for k, v in self.head_fields()]
        return self._raw

    @raw_headers.setter
    def raw_headers(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(orjson.dumps(obj), status, headers or {})


class ErrorDialect:
    """How one API family renders a ``GatewayError``: OpenAI's ``{"error": {...}}`` or
    Anthropic's ``{"type": "error", "error": {...}, "request_id": ...}`` (where an
    overloaded upstream stays 529)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def status(self, err: GatewayError) -> int:
        if self.name == "anthropic" and err.anthropic_status is not None:
            return err.anthropic_status
        return err.status

    def body(self, err: GatewayError, rid: str | None) -> dict[str, Any]:
        if self.name != "anthropic":
            return err.openai_body()
        body = err.anthropic_body()
        if rid is not None:
            body["request_id"] = rid
        return body

    def __repr__(self) -> str:
        return f"ErrorDialect({self.name!r})"


OPENAI_ERRORS = ErrorDialect("openai")
ANTHROPIC_ERRORS = ErrorDialect("anthropic")


def error_response(err: GatewayError, dialect: ErrorDialect,
                   headers: Mapping[str, str] | None = None) -> Response:
    h = dict(headers or {})
    h.update(err.headers)
    status = dialect.status(err)
    if status in (429, 503, 529) and "retry-after" not in h:
        ra = getattr(err, "retry_after", None)
        if ra is not None:
            h["retry-after"] = str(max(1, int(-(-ra // 1))))
    return json_response(dialect.body(err, h.get("x-request-id")), status, h)


MAX_HEADER_BYTES = 64 * 1024


class FirstWriteHeld:
    """A request's transport as its response cycle sees it: the cycle's first write (the
    response head) is held until the cycle writes again (the body of a JSON answer, sent
    right after its head) or the event loop's turn ends, whichever comes first; head
    and body then leave in one ``writelines``: one syscall and one wake-up of the client
    instead of two. Later writes pass straight through; ``close`` sends what is held
    first. A stream's head waits at most for the rest of the turn.
    """

    __slots__ = ("_held", "_loop", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif self._started:
            self._transport.write(data)
        else:
            self._started = True
            self._held = data
            self._loop.call_soon(self._release)

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._transport.write(held)

    def close(self) -> None:
        self._release()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeaderLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head (431 beyond it).

    uvicorn limits the head only with h11 (``h11_max_incomplete_event_size``); with
    httptools a client can send megabytes of headers, all buffered, per connection.
    Here the head (request line and headers, up to the blank line) is measured as it
    arrives, before the parser sees it, and past ``MAX_HEADER_BYTES`` the connection
    gets a 431 and is closed. ``gateway serve`` passes it to uvicorn as
    ``http="gateway.http:HeaderLimitedHttpTools"``.
    """

    max_header_bytes = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # waiting for (the rest of) a request head
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the head so far: its end may straddle reads
        self._lost = False
        self._on_leave: Callable[[], None] | None = None

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            buf = self._tail + data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                size = self._head_bytes + len(data)
                self._head_bytes, self._tail = size, buf[-3:]
            else:
                size = self._head_bytes + end + 4 - len(self._tail)
            if size > self.max_header_bytes:
                self._refuse_head()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._tail = False, 0, b""
        serve = self._direct_route()
        if serve is not None:
            self._start_direct(serve)
            return
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # this request's
            cycle.transport = FirstWriteHeld(self.transport, self.loop)  # type: ignore[assignment]
            extensions: dict[Any, Any] = self.scope.setdefault("extensions", {})
            extensions[LEAVE_NOTICE] = self._notify_leave

    def _direct_route(self) -> Callable[[DirectCycle], Awaitable[None]] | None:
        """The handler of this request if it goes the direct way (``direct.py``): an exact
        ``POST`` to a path the app serves so (``GatewayApp.direct_routes``; no query,
        no escapes, no upgrade, no root path), unless uvicorn's ``limit_concurrency``
        is set (its 503 stays uvicorn's)."""
        routes: dict[bytes, Any] | None = getattr(self.app, "direct_routes", None)
        if not routes or self.root_path or self.limit_concurrency is not None:
            return None
        serve = routes.get(self.url)
        if serve is None or self.parser.get_method() != b"POST" or self.parser.should_upgrade():
            return None
        return serve  # type: ignore[no-any-return]

    def _start_direct(self, serve: Callable[[DirectCycle], Awaitable[None]]) -> None:
        """uvicorn's ``on_headers_complete`` for a direct request: the scope completed,
        a ``DirectCycle`` started, or queued behind a pipelined request still answering."""
        http_version = self.parser.get_http_version()
        scope = self.scope
        scope["method"] = "POST"
        if http_version != "1.1":
            scope["http_version"] = http_version
        scope["path"] = self.url.decode("ascii")
        scope["raw_path"] = self.url
        scope["query_string"] = b""
        scope["extensions"] = cast(Any, {LEAVE_NOTICE: self._notify_leave})
        existing = self.cycle
        self.cycle = cycle = DirectCycle(
            wire=self.transport, serve=serve,
            # A stream's head (sent the ASGI way) leaves with its first event.
            transport=FirstWriteHeld(self.transport, self.loop),
            scope=scope, flow=self.flow, logger=self.logger,
            access_logger=self.access_logger, access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(), expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and self.parser.should_keep_alive(),
            on_response=self.on_response_complete)
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, cycle.app)
        else:
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, cycle.app))

    def _notify_leave(self, callback: Callable[[], None] | None) -> bool:
        """``LEAVE_NOTICE``: call ``callback`` (once) when this connection is lost; None
        stops that. Reading is resumed so a departure is seen (as ASGI's ``receive``
        does while it waits for one). False if the connection is already lost."""
        if self._lost:
            return False
        self._on_leave = callback
        if callback is not None:
            self.flow.resume_reading()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        callback, self._on_leave = self._on_leave, None
        super().connection_lost(exc)
        if callback is not None:
            callback()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request on this connection (pipelined or kept alive) is measured
        # afresh; bytes of it that arrived in the same read as this one's end are not,
        # which bounds what slips through by one read.
        self._in_head = True

    def _refuse_head(self) -> None:
        self._in_head = False
        if self.transport.is_closing():
            return
        msg = b"Request header fields too large."
        self.logger.warning("Request head over %d bytes refused (431).", self.max_header_bytes)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(msg)).encode() + b"\r\nconnection: close\r\n\r\n"
            + msg)
        self.transport.close()
