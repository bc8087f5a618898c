"""A surface's proxy ``POST`` served by the connection's protocol: the hot path without
the generic parts of an ASGI cycle.

Every model call is a ``POST`` of a JSON body to one of a few paths, answered by one
JSON body (or a stream). Under uvicorn each goes through the generic ASGI cycle: the
body handed over in ``receive()`` messages under a timeout, the answer in two ``send()``
messages whose every header is checked by two regular expressions, a wrapper holding
the head to write it with the body. ``DirectCycle`` (made by the gateway's protocol,
``http.HeaderLimitedHttpTools``, for an exact ``POST`` to a surface's path) is uvicorn's
``RequestResponseCycle`` with two shortcuts, each taken only in the plain case and
otherwise left to uvicorn's own code:

- ``whole_body``: the request's body, once all of it has arrived (it usually has, in
  the same read as the head), without the ``receive()`` round and its timeout;
- ``answer``: a whole JSON answer (status, headers, body) in one write, its head built
  from the answer's header fields as text (``JSONResponse.head_fields``, as the ASGI
  way encodes them), checked by the same two expressions once over all names and once
  over all values (the same characters refused).

Everything else (streams, ``Expect: 100-continue``, a client that left, paused writing,
pipelining, keep-alive, the drain, the connection guard) is the cycle's and the
protocol's as before. bench/README.md ("Fourth round") has the figures.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

# uvicorn's HEADER_RE and HEADER_VALUE_RE, on text: a name or value with one of these
# characters is refused, as uvicorn refuses it.
_BAD_NAME = re.compile('[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")

# A body this large is written after its head rather than copied into one buffer.
_JOIN_BELOW = 64 * 1024


class DirectCycle(RequestResponseCycle):
    """uvicorn's cycle for one request of a surface's proxy route, with ``whole_body``
    and ``answer`` (module docstring). ``serve`` is the route's handler, given the
    cycle; ``app`` is what the protocol starts (``run_asgi(cycle.app)``), so a failure
    is logged and answered as for any ASGI app. ``transport`` is what the ASGI way
    writes to (the protocol's ``FirstWriteHeld``), ``wire`` the connection itself,
    which ``answer`` writes to in one call."""

    def __init__(self, *, wire: asyncio.Transport,
                 serve: Callable[[DirectCycle], Awaitable[None]], **cycle: Any) -> None:
        super().__init__(**cycle)
        self.wire = wire
        self.serve = serve

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        await self.serve(self)

    def whole_body(self) -> bytes | None:
        """The request's body if all of it is here and none was taken by ``receive``;
        None otherwise (the caller then reads it the ASGI way)."""
        if (self.more_body or self.disconnected or self.response_complete
                or self.waiting_for_100_continue):
            return None
        body, self.body = self.body, bytearray()
        self.message_event.clear()  # as receive() leaves it once it has handed the body
        self.flow.resume_reading()  # as receive() does: a large body may have paused it
        return bytes(body)

    def answer(self, status: int, fields: Sequence[tuple[str, str]], body: bytes) -> bool:
        """Send a whole answer: ``fields`` (its headers, names lowercased, its
        content-length among them: ``JSONResponse.head_fields``), then the body. False,
        with nothing sent, where the ASGI way must do it: a response already started, a
        client gone, writing paused, a status without a body, a framing other than
        this body's content-length, or a header a server would refuse (so it raises
        there as it always did)."""
        if (self.response_started or self.disconnected or self.flow.write_paused
                or not 200 <= status < 600 or status in (204, 304)):
            return False
        names = [k for k, _ in fields]
        values = [v for _, v in fields]
        if ("transfer-encoding" in names or "content-length" not in names
                or values[names.index("content-length")] != str(len(body))
                or _BAD_NAME.search("".join(names)) or _BAD_VALUE.search("".join(values))):
            return False
        close = not self.keep_alive
        if "connection" in names:
            tokens = values[names.index("connection")].split(",")
            if "close" in (t.strip().lower() for t in tokens):
                close, self.keep_alive = False, False  # given: not added again below
        lines = [f"{k}: {v}\r\n" for k, v in fields]
        if close:
            lines.append("connection: close\r\n")
        lines.append("\r\n")
        head = [STATUS_LINE[status]]
        for name, value in self.default_headers:
            head += (name, b": ", value, b"\r\n")
        head.append("".join(lines).encode("latin-1"))
        self.response_started = True
        self.waiting_for_100_continue = False
        if self.access_log:  # uvicorn's line, as its cycle writes it
            scope = self.scope
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope),
                                    scope["method"], get_path_with_query_string(scope),
                                    scope["http_version"], status)
        if len(body) < _JOIN_BELOW:
            head.append(body)
            self.wire.write(b"".join(head))
        else:
            self.wire.writelines((b"".join(head), body))
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.wire.close()
        self.on_response()
        return True
