"""Server-sent events: an incremental parser for upstream streams, the framing of client
streams in the two dialects the surfaces speak, and the response that streams them to a
client (``SSEResponse``).

The parser follows the WHATWG event-stream interpretation
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
lines end in CRLF, LF or CR; ``:`` starts a comment; one space after the field's colon
is dropped; ``data`` lines of one event are joined with ``\\n``; an event is dispatched
at a blank line only if it had a ``data`` field; ``id`` persists across events.

Chunks may split anywhere, also inside a CRLF pair or a multi-byte UTF-8 character.
Work is O(total bytes): each chunk is decoded once and scanned once, and the pieces of
an unfinished line are kept in a list and joined once, when the line ends. A line or
an event larger than ``max_size`` characters (default 16 Mi) raises ``UpstreamBadResponse``,
which bounds the memory one upstream can make us hold; so does invalid UTF-8.
"""

from __future__ import annotations

import asyncio
import codecs
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from .errors import UpstreamBadResponse

DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    # None when the event had no ``event`` field (the spec's default type "message").
    event: str | None = None
    id: str | None = None


class SSEParser:
    __slots__ = (
        "_bom_checked",
        "_data",
        "_data_size",
        "_decoder",
        "_event",
        "_last_id",
        "_max",
        "_pending",
        "_pieces",
        "_provider",
        "_skip_lf",
    )

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE, provider: str = "") -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._max = max_size
        self._provider = provider
        self._pieces: list[str] = []  # the unfinished line, in pieces
        self._pending = 0  # total length of those pieces
        self._skip_lf = False  # the last chunk ended in CR: a leading LF belongs to it
        self._bom_checked = False
        self._event: str | None = None
        self._data: list[str] = []
        self._data_size = 0
        self._last_id: str | None = None

    def feed(self, data: bytes) -> list[SSEEvent]:
        try:
            text = self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise UpstreamBadResponse(
                f"upstream stream is not valid UTF-8: {exc.reason}", provider=self._provider
            ) from None
        return self._feed_text(text)

    def finish(self) -> list[SSEEvent]:
        """End of stream. Raises if it ended inside a UTF-8 character. An event that
        lacks its closing blank line is dropped, as the spec and the openai SDK do, so
        a connection cut mid-event never yields a truncated payload."""
        try:
            self._decoder.decode(b"", True)
        except UnicodeDecodeError as exc:
            raise UpstreamBadResponse(
                f"upstream stream ended inside a UTF-8 character: {exc.reason}",
                provider=self._provider,
            ) from None
        self._pieces.clear()
        self._pending = 0
        self._event = None
        self._data = []
        self._data_size = 0
        return []

    def _feed_text(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if not text:
            return events
        if not self._bom_checked:
            self._bom_checked = True
            if text[0] == "\ufeff":
                text = text[1:]
        start = 0
        if self._skip_lf:
            self._skip_lf = False
            if text[:1] == "\n":
                start = 1
        for match in _EOL.finditer(text, start):
            end = match.start()
            if self._pieces:
                self._pieces.append(text[start:end])
                line = "".join(self._pieces)
                self._pieces.clear()
                self._pending = 0
            else:
                line = text[start:end]
            if len(line) > self._max:
                raise self._too_large("line")
            self._line(line, events)
            start = match.end()
            if match.group() == "\r" and start == len(text):
                self._skip_lf = True
        if start < len(text):
            rest = text[start:]
            self._pending += len(rest)
            if self._pending > self._max:
                raise self._too_large("line")
            self._pieces.append(rest)
        return events

    def _too_large(self, what: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(
            f"upstream stream has an SSE {what} longer than {self._max} characters",
            provider=self._provider,
        )

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent("\n".join(self._data), self._event, self._last_id))
            self._event = None
            self._data = []
            self._data_size = 0
            return
        if line[0] == ":":
            return  # comment (keep-alive)
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data_size += len(value) + 1
            if self._data_size > self._max:
                raise self._too_large("event")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        # "retry" and unknown fields are ignored, as the spec says.


DONE = b"data: [DONE]\n\n"
"""The terminator of an OpenAI chat completion stream."""

# -- framing -----------------------------------------------------------------------
# Stream translators yield events, never bytes; a surface frames them with one of the
# two functions below, once per upstream event (one join, one write).

END = "[DONE]"
"""The event that ends a ``frame_data`` stream (OpenAI's terminator)."""


def frame_data(events: Iterable[Any]) -> bytes:
    """The chat-completions dialect: each event (a JSON object) one ``data:`` line, no
    event names; ``END`` becomes ``data: [DONE]``."""
    out = []
    for ev in events:
        out.append(DONE if ev is END else b"data: " + orjson.dumps(ev) + b"\n\n")
    return b"".join(out)


_NAMES: dict[str, bytes] = {}  # "event: name\ndata: " of the names seen (a few dozen)


def frame_named(events: Sequence[tuple[str, Any]]) -> bytes:
    """The named-event dialect (Anthropic Messages, OpenAI Responses): ``(name, data)``
    as ``event: name`` and ``data: json``. ``data`` already serialised (a ``str``: an
    upstream event relayed as it came) is written as is, a line per line."""
    if len(events) == 1:  # the usual case: one event per upstream event
        return named_event(*events[0])
    return b"".join([named_event(name, data) for name, data in events])


def named_event(name: str, data: Any) -> bytes:
    """One event of ``frame_named`` (a relay frames one event per upstream event)."""
    head = _NAMES.get(name)
    if head is None:
        if "\n" in name or "\r" in name:
            raise ValueError("SSE event names cannot contain line breaks")
        head = b"event: " + name.encode() + b"\ndata: "
        if len(_NAMES) < 256:  # relayed names come from upstream: bounded
            _NAMES[name] = head
    if data.__class__ is str:
        raw = data.encode()
        if b"\n" in raw:
            raw = raw.replace(b"\n", b"\ndata: ")
        return head + raw + b"\n\n"
    return head + orjson.dumps(data) + b"\n\n"


# -- the client side ------------------------------------------------------------
# An SSE response that notices a departed client at once.
#
# Starlette's ``StreamingResponse`` stops listening for ``http.disconnect`` under ASGI
# spec 2.4 and relies on ``send`` failing, which only happens at the next chunk: a
# client that leaves while the upstream is thinking would keep the upstream request
# (and its concurrency slot) alive until then. Here the body runs in a task beside a
# disconnect listener, and whichever ends first cancels the other; the body iterator's
# own ``finally`` blocks close the upstream stream and release the slot.
class SSEResponse:
    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes], headers: Mapping[str, str],
                 status_code: int = 200) -> None:
        self.body = body
        self.status_code = status_code
        raw = [(b"content-type", b"text/event-stream; charset=utf-8"),
               (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]
        raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        body_task = asyncio.ensure_future(self._send_body(send))
        listen_task = asyncio.ensure_future(self._listen(receive))
        try:
            done, _ = await asyncio.wait({body_task, listen_task},
                                         return_when=asyncio.FIRST_COMPLETED)
            if listen_task in done and not body_task.done():
                body_task.cancel()
            await asyncio.gather(body_task, return_exceptions=True)
        finally:
            listen_task.cancel()
            if not body_task.done():
                body_task.cancel()
            # Close the iterator in this task too, so its finally runs even if the
            # body task was cancelled before it first ran.
            aclose = getattr(self.body, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except (RuntimeError, asyncio.CancelledError):
                    pass

    async def _send_body(self, send: Send) -> None:
        try:
            async for chunk in self.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            # The server reports a closed connection by failing send (ASGI 2.4): the
            # client is gone and nothing is left to send.
            pass

    @staticmethod
    async def _listen(receive: Receive) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
