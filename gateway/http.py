"""HTTP plumbing shared by the surfaces: bodies, ids, JSON and error responses."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
    return uuid.uuid4().hex


class ClientGone(Exception):
    """The client disconnected (while sending its body, or while we waited upstream)."""


T = TypeVar("T")


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
    # every request); a watcher task cancels this one if the client leaves first.
    current = asyncio.current_task()
    assert current is not None
    left = False

    async def watch() -> None:
        nonlocal left
        await _disconnected(request)
        left = True
        current.cancel()

    gone = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not left:
            raise  # we are being cancelled ourselves (shutdown): not the client's doing
        current.uncancel()  # the watcher's cancel is consumed here, nowhere else
        raise ClientGone() from None
    finally:
        gone.cancel()


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
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"Request body exceeds the limit of {max_bytes} bytes.",
                        headers={"connection": "close"})
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"The request body was not received within {timeout_s:g} s.",
            headers={"connection": "close"}) from None
    except ClientDisconnect:
        raise ClientGone() from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, headers=dict(headers or {}),
                    media_type="application/json")


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
        super().on_headers_complete()

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
